//! What the dedup operators share: the params every one of them has (partitions, scope,
//! annotation), row iteration over a key column with an optional scope column, and scoped
//! 128-bit keys.

use arrow::record_batch::RecordBatch;
use mdf_core::batch::{str_column, StrColumn, StrLookup};
use mdf_core::Verdicts;
use xxhash_rust::xxh3::Xxh3;

/// Default number of key partitions (group tasks).
pub const DEFAULT_PARTITIONS: usize = 64;

pub(crate) fn default_partitions() -> usize {
    DEFAULT_PARTITIONS
}

pub(crate) fn yes() -> bool {
    true
}

pub(crate) fn check_partitions(n: usize) -> Result<(), String> {
    if (1..=65_536).contains(&n) {
        Ok(())
    } else {
        Err(format!("num_partitions must be in 1..=65536, got {n}"))
    }
}

/// A string column, or the reason every row of the batch is rejected.
fn column<'a>(batch: &'a RecordBatch, field: &str) -> Result<StrColumn<'a>, String> {
    match str_column(batch, field) {
        StrLookup::Found(c) => Ok(c),
        StrLookup::Missing => Err(format!("missing_field: no `{field}`")),
        StrLookup::WrongType(t) => Err(format!("wrong_type: `{field}` is {t}, not a string")),
    }
}

/// Calls `f(row, value, scope)` for every row whose `field` is a string. Rows without one are
/// rejected (`missing_field` / `wrong_type`): they cannot be keyed, and giving them all one key
/// would make them duplicates of each other. A null scope is the empty scope.
pub(crate) fn for_each_row(
    batch: &RecordBatch,
    field: &str,
    scope_field: Option<&str>,
    verdicts: &mut Verdicts,
    mut f: impl FnMut(usize, &str, &str),
) {
    let columns = column(batch, field).and_then(|values| {
        let scope = scope_field.map(|s| column(batch, s)).transpose()?;
        Ok((values, scope))
    });
    let (values, scope) = match columns {
        Ok(c) => c,
        Err(reason) => {
            for row in 0..batch.num_rows() {
                verdicts.reject_row(row, reason.clone());
            }
            return;
        }
    };
    for row in 0..batch.num_rows() {
        match values.get(row) {
            Some(v) => f(row, v, scope.and_then(|s| s.get(row)).unwrap_or("")),
            None => verdicts.reject_row(row, format!("missing_field: `{field}` is null")),
        }
    }
}

/// A 128-bit key of `parts` within `scope`: xxh3-128 of the scope's length, the scope and the
/// parts, so keys of different scopes never collide by construction.
pub(crate) fn scoped_key(scope: &str, parts: &[&[u8]]) -> u128 {
    let mut h = Xxh3::new();
    h.update(&(scope.len() as u64).to_le_bytes());
    h.update(scope.as_bytes());
    for part in parts {
        h.update(part);
    }
    h.digest128()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_separate_equal_content() {
        let a = scoped_key("CC-2023-06", &[b"same text"]);
        assert_eq!(a, scoped_key("CC-2023-06", &[b"same text"]));
        assert_ne!(a, scoped_key("CC-2023-14", &[b"same text"]));
        // The scope's length is hashed, so moving bytes between scope and content changes the key.
        assert_ne!(scoped_key("ab", &[b"c"]), scoped_key("a", &[b"bc"]));
        assert_eq!(
            scoped_key("", &[b"ab", b"c"]),
            scoped_key("", &[b"a", b"bc"])
        );
    }
}
