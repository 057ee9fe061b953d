//! Operator traits. A map operator sees one Arrow batch at a time and returns a batch with the
//! same rows (columns may be added or rewritten); it marks rows to drop, with a reason code, in
//! [`Verdicts`]. Filters, refiners and annotators are all map operators; what differs is what they
//! declare (see [`OperatorKind`]). Global operators (dedup) are planned in phases by the executor.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use arrow::datatypes::Field;
use arrow::record_batch::RecordBatch;

use crate::error::Result;

/// What kind of thing a registry entry builds, as shown by `mdf ops list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OperatorKind {
    /// Keeps or drops rows, with a reason code per dropped row.
    Filter,
    /// Adds or rewrites columns; may also drop rows it cannot process (as rejects).
    Refiner,
    /// Needs to see the whole dataset (dedup). The planner splits the run at such an operator into
    /// phases: keys per shard → partitions on disk → grouping per partition → filter pass.
    Global,
    Loader,
    Writer,
}

impl OperatorKind {
    pub fn label(self) -> &'static str {
        match self {
            OperatorKind::Filter => "filter",
            OperatorKind::Refiner => "refiner",
            OperatorKind::Global => "global",
            OperatorKind::Loader => "loader",
            OperatorKind::Writer => "writer",
        }
    }
}

/// Per-row outcome of one operator call. Rows not mentioned are kept.
#[derive(Debug, Default)]
pub struct Verdicts {
    dropped: Vec<(u32, &'static str)>,
    rejected: Vec<(u32, String)>,
}

impl Verdicts {
    /// Drop `row` because a rule fired; `reason` is a stable code (e.g. `too_short`).
    pub fn drop_row(&mut self, row: usize, reason: &'static str) {
        self.dropped.push((row as u32, reason));
    }

    /// Reject `row` as bad input (e.g. the text field is missing); it goes to `rejects/`.
    pub fn reject_row(&mut self, row: usize, message: impl Into<String>) {
        self.rejected.push((row as u32, message.into()));
    }

    pub fn dropped(&self) -> &[(u32, &'static str)] {
        &self.dropped
    }

    pub fn rejected(&self) -> &[(u32, String)] {
        &self.rejected
    }

    pub fn is_empty(&self) -> bool {
        self.dropped.is_empty() && self.rejected.is_empty()
    }

    pub fn clear(&mut self) {
        self.dropped.clear();
        self.rejected.clear();
    }
}

/// A map operator: one instance per worker, built inside the worker, so it may hold state
/// (models, buffers) that is built once.
pub trait Operator: Send {
    /// Process one batch. The returned batch must have the same number of rows as `batch`.
    /// Row-level problems go to `verdicts`; an `Err` means the whole batch failed (its rows are
    /// rejected with the error and counted in the operator's `errors`).
    fn process(&mut self, batch: RecordBatch, verdicts: &mut Verdicts) -> Result<RecordBatch>;

    /// The annotation columns this operator adds, with their types. The executor checks every
    /// returned batch against them, so a column's type never drifts between batches.
    fn output_fields(&self) -> Vec<Field> {
        Vec::new()
    }

    /// A global operator (registry kind `Global`) hands back its phase logic here; see
    /// [`crate::global`]. Map operators keep the default.
    fn into_global(self: Box<Self>) -> Option<Box<dyn crate::global::GlobalOperator>> {
        None
    }
}

/// Turns a reason code built at run time (e.g. by a Python operator) into a `&'static str`.
/// Reason codes are few, so the interned set stays small.
pub fn intern_reason(reason: &str) -> &'static str {
    static SET: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let set = SET.get_or_init(|| Mutex::new(HashSet::new()));
    let mut guard = match set.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    if let Some(existing) = guard.get(reason) {
        return existing;
    }
    let leaked: &'static str = Box::leak(reason.to_owned().into_boxed_str());
    guard.insert(leaked);
    leaked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interned_reasons_are_shared() {
        let a = intern_reason("too_long");
        let b = intern_reason(&String::from("too_long"));
        assert!(std::ptr::eq(a, b));
    }
}
