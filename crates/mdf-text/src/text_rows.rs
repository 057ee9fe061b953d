//! Row iteration shared by text filters: calls a judge on every row's text and rejects rows whose
//! text column is missing, null or not a string (`missing_field` / `wrong_type`).

use arrow::record_batch::RecordBatch;
use mdf_core::Verdicts;

use crate::text_rewrite::text_or_reject;

/// Calls `judge(row, text, verdicts)` for every row with a string in `field`.
pub(crate) fn for_each_text(
    batch: &RecordBatch,
    field: &str,
    verdicts: &mut Verdicts,
    mut judge: impl FnMut(usize, &str, &mut Verdicts),
) {
    let Some(text) = text_or_reject(batch, field, verdicts) else {
        return;
    };
    for row in 0..batch.num_rows() {
        match text.get(row) {
            Some(s) => judge(row, s, verdicts),
            None => verdicts.reject_row(row, format!("missing_field: no `{field}`")),
        }
    }
}

/// Drops every row for which `judge` returns a reason (the shape of every document-level filter).
pub(crate) fn drop_where(
    batch: &RecordBatch,
    field: &str,
    verdicts: &mut Verdicts,
    mut judge: impl FnMut(&str) -> Option<&'static str>,
) {
    for_each_text(batch, field, verdicts, |row, text, v| {
        if let Some(reason) = judge(text) {
            v.drop_row(row, reason);
        }
    });
}

/// Reuses a word buffer's allocation for another lifetime (an empty `Vec` collected in place).
pub(crate) fn recycle<'b>(mut v: Vec<&str>) -> Vec<&'b str> {
    v.clear();
    v.into_iter().map(|_| "").collect()
}
