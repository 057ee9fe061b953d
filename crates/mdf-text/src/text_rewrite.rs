//! Shared plumbing of the operators that rewrite the text column (C4 quality filter, PII
//! formatter): read the column in any Arrow string layout, and put the rewritten values back in the
//! same layout, so the batch keeps its schema.

use std::borrow::Cow;
use std::sync::Arc;

use arrow::array::{ArrayRef, LargeStringArray, StringArray, StringViewArray};
use arrow::record_batch::RecordBatch;

use mdf_core::batch::{str_column, StrColumn, StrLookup};
use mdf_core::{MdfError, Result, Verdicts};

/// The text column, or every row rejected (missing column / wrong type) and `None` returned.
pub fn text_or_reject<'a>(
    batch: &'a RecordBatch,
    field: &str,
    verdicts: &mut Verdicts,
) -> Option<StrColumn<'a>> {
    match str_column(batch, field) {
        StrLookup::Found(col) => Some(col),
        StrLookup::Missing => {
            for row in 0..batch.num_rows() {
                verdicts.reject_row(row, format!("missing_field: no `{field}`"));
            }
            None
        }
        StrLookup::WrongType(t) => {
            for row in 0..batch.num_rows() {
                verdicts.reject_row(row, format!("wrong_type: `{field}` is {t}, not a string"));
            }
            None
        }
    }
}

/// Returns `batch` with column `field` replaced by `values` (one per row), in the layout of `col`.
pub fn replace_text(
    batch: &RecordBatch,
    field: &str,
    col: StrColumn<'_>,
    values: &[Option<Cow<'_, str>>],
) -> Result<RecordBatch> {
    let idx = batch
        .schema()
        .index_of(field)
        .map_err(|e| MdfError::internal(format!("text column vanished: {e}")))?;
    let iter = values.iter().map(|v| v.as_deref());
    let array: ArrayRef = match col {
        StrColumn::Utf8(_) => Arc::new(StringArray::from_iter(iter)),
        StrColumn::LargeUtf8(_) => Arc::new(LargeStringArray::from_iter(iter)),
        StrColumn::View(_) => Arc::new(StringViewArray::from_iter(iter)),
    };
    let mut columns = batch.columns().to_vec();
    columns[idx] = array;
    Ok(RecordBatch::try_new(batch.schema(), columns)?)
}
