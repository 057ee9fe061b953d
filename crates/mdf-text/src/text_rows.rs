//! Row iteration shared by text filters: calls a judge on every row's text and rejects rows whose
//! text column is missing, null or not a string (`missing_field` / `wrong_type`).

use arrow::record_batch::RecordBatch;
use mdf_core::batch::{str_column, StrLookup};
use mdf_core::Verdicts;

/// Calls `judge(row, text, verdicts)` for every row with a string in `field`.
pub(crate) fn for_each_text(
    batch: &RecordBatch,
    field: &str,
    verdicts: &mut Verdicts,
    mut judge: impl FnMut(usize, &str, &mut Verdicts),
) {
    match str_column(batch, field) {
        StrLookup::Found(text) => {
            for row in 0..batch.num_rows() {
                match text.get(row) {
                    Some(s) => judge(row, s, verdicts),
                    None => verdicts.reject_row(row, format!("missing_field: no `{field}`")),
                }
            }
        }
        StrLookup::Missing => {
            for row in 0..batch.num_rows() {
                verdicts.reject_row(row, format!("missing_field: no `{field}`"));
            }
        }
        StrLookup::WrongType(t) => {
            for row in 0..batch.num_rows() {
                verdicts.reject_row(row, format!("wrong_type: `{field}` is {t}, not a string"));
            }
        }
    }
}

/// Reuses a word buffer's allocation for another lifetime (an empty `Vec` collected in place).
pub(crate) fn recycle<'b>(mut v: Vec<&str>) -> Vec<&'b str> {
    v.clear();
    v.into_iter().map(|_| "").collect()
}
