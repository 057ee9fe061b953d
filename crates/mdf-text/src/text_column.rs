//! The text column of the operators that rewrite each kept document line by line (RefinedWeb line
//! filter, DCLM heuristics): rows are rewritten one at a time into a builder of the input column's
//! Arrow layout, so the batch keeps its schema; dropped rows keep their original text.

use std::sync::Arc;

use arrow::array::{ArrayRef, LargeStringBuilder, StringBuilder, StringViewBuilder};
use arrow::record_batch::RecordBatch;

use mdf_core::batch::StrColumn;
use mdf_core::{MdfError, Result, Verdicts};

use crate::text_rewrite::text_or_reject;

/// Builds the rewritten text column in the layout of the input column.
pub(crate) enum TextBuilder {
    Utf8(StringBuilder),
    LargeUtf8(LargeStringBuilder),
    View(StringViewBuilder),
}

impl TextBuilder {
    pub(crate) fn new(col: StrColumn<'_>, rows: usize) -> Self {
        match col {
            StrColumn::Utf8(a) => {
                TextBuilder::Utf8(StringBuilder::with_capacity(rows, a.value_data().len()))
            }
            StrColumn::LargeUtf8(a) => TextBuilder::LargeUtf8(LargeStringBuilder::with_capacity(
                rows,
                a.value_data().len(),
            )),
            StrColumn::View(_) => TextBuilder::View(StringViewBuilder::with_capacity(rows)),
        }
    }

    pub(crate) fn append(&mut self, value: Option<&str>) {
        match self {
            TextBuilder::Utf8(b) => b.append_option(value),
            TextBuilder::LargeUtf8(b) => b.append_option(value),
            TextBuilder::View(b) => b.append_option(value),
        }
    }

    pub(crate) fn finish(self) -> ArrayRef {
        match self {
            TextBuilder::Utf8(mut b) => Arc::new(b.finish()),
            TextBuilder::LargeUtf8(mut b) => Arc::new(b.finish()),
            TextBuilder::View(mut b) => Arc::new(b.finish()),
        }
    }
}

/// Runs `rewrite` on the text of every row and returns `batch` with the text column `field`
/// replaced. `rewrite` either appends the kept (possibly rewritten) text to the builder and
/// returns `Ok`, or returns the drop reason, and then the row keeps its original text. A missing
/// column, a non-string column or a null text rejects the rows (`missing_field` / `wrong_type`).
pub(crate) fn rewrite_text_column(
    batch: RecordBatch,
    field: &str,
    verdicts: &mut Verdicts,
    mut rewrite: impl FnMut(&str, &mut TextBuilder) -> std::result::Result<(), &'static str>,
) -> Result<RecordBatch> {
    let Some(col) = text_or_reject(&batch, field, verdicts) else {
        return Ok(batch);
    };
    let mut column = TextBuilder::new(col, batch.num_rows());
    for row in 0..batch.num_rows() {
        let Some(text) = col.get(row) else {
            verdicts.reject_row(row, format!("missing_field: no `{field}`"));
            column.append(None);
            continue;
        };
        if let Err(reason) = rewrite(text, &mut column) {
            verdicts.drop_row(row, reason);
            column.append(Some(text));
        }
    }
    let idx = batch
        .schema()
        .index_of(field)
        .map_err(|e| MdfError::internal(format!("text column vanished: {e}")))?;
    let mut columns = batch.columns().to_vec();
    columns[idx] = column.finish();
    Ok(RecordBatch::try_new(batch.schema(), columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, Int64Array, LargeStringArray, StringViewArray};

    fn upper_unless_drop(
        text: &str,
        column: &mut TextBuilder,
    ) -> std::result::Result<(), &'static str> {
        if text == "drop" {
            return Err("dropped");
        }
        column.append(Some(&text.to_uppercase()));
        Ok(())
    }

    #[test]
    fn keeps_the_layout_and_the_text_of_dropped_rows() {
        let cols: Vec<ArrayRef> = vec![
            Arc::new(LargeStringArray::from(vec![Some("a"), Some("drop"), None])),
            Arc::new(StringViewArray::from(vec![Some("a"), Some("drop"), None])),
        ];
        for col in cols {
            let dt = col.data_type().clone();
            let batch = RecordBatch::try_from_iter([("text", col)]).expect("batch");
            let mut v = Verdicts::default();
            let out = rewrite_text_column(batch, "text", &mut v, upper_unless_drop).expect("ok");
            assert_eq!(out.column(0).data_type(), &dt);
            let s = arrow::compute::cast(out.column(0), &arrow::datatypes::DataType::Utf8)
                .expect("cast");
            let s = s
                .as_any()
                .downcast_ref::<arrow::array::StringArray>()
                .expect("utf8");
            assert_eq!((s.value(0), s.value(1), s.is_null(2)), ("A", "drop", true));
            assert_eq!(v.dropped(), &[(1, "dropped")]);
            assert_eq!(v.rejected().len(), 1);
        }
    }

    #[test]
    fn missing_or_non_string_columns_reject_every_row() {
        let batch = RecordBatch::try_from_iter([(
            "text",
            Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef,
        )])
        .expect("batch");
        for field in ["text", "other"] {
            let mut v = Verdicts::default();
            let out =
                rewrite_text_column(batch.clone(), field, &mut v, upper_unless_drop).expect("ok");
            assert_eq!(out.num_rows(), 2);
            assert_eq!(v.rejected().len(), 2);
        }
    }
}
