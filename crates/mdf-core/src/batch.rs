//! Helpers over Arrow record batches: typed access to the core columns (`id`, `text`, `url`) and
//! to any string column an operator reads, whatever Arrow string layout it arrived in.

use arrow::array::{Array, AsArray, LargeStringArray, StringArray, StringViewArray};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;

/// Core column names.
pub const ID: &str = "id";
pub const TEXT: &str = "text";
pub const URL: &str = "url";

/// A string column in any of Arrow's three layouts.
#[derive(Debug, Clone, Copy)]
pub enum StrColumn<'a> {
    Utf8(&'a StringArray),
    LargeUtf8(&'a LargeStringArray),
    View(&'a StringViewArray),
}

impl<'a> StrColumn<'a> {
    /// The value at `row`, `None` when null.
    #[inline]
    pub fn get(&self, row: usize) -> Option<&'a str> {
        match self {
            StrColumn::Utf8(a) => a.is_valid(row).then(|| a.value(row)),
            StrColumn::LargeUtf8(a) => a.is_valid(row).then(|| a.value(row)),
            StrColumn::View(a) => a.is_valid(row).then(|| a.value(row)),
        }
    }
}

/// What a lookup of a string column found.
#[derive(Debug)]
pub enum StrLookup<'a> {
    Found(StrColumn<'a>),
    Missing,
    /// The column exists with another type.
    WrongType(DataType),
}

pub fn str_column<'a>(batch: &'a RecordBatch, name: &str) -> StrLookup<'a> {
    let Some(col) = batch.column_by_name(name) else {
        return StrLookup::Missing;
    };
    match col.data_type() {
        DataType::Utf8 => StrLookup::Found(StrColumn::Utf8(col.as_string::<i32>())),
        DataType::LargeUtf8 => StrLookup::Found(StrColumn::LargeUtf8(col.as_string::<i64>())),
        DataType::Utf8View => StrLookup::Found(StrColumn::View(col.as_string_view())),
        DataType::Null => StrLookup::Missing,
        other => StrLookup::WrongType(other.clone()),
    }
}

/// Returns `batch` with `columns` set: a column of the same name is replaced (in place of the
/// old one's position it moves to the end), others are appended; the new fields are nullable.
pub fn set_columns(
    batch: RecordBatch,
    columns: Vec<(&str, arrow::array::ArrayRef)>,
) -> crate::Result<RecordBatch> {
    use std::sync::Arc;
    let schema = batch.schema();
    let mut fields: Vec<arrow::datatypes::FieldRef> = Vec::new();
    let mut arrays = Vec::new();
    for (i, f) in schema.fields().iter().enumerate() {
        if columns.iter().all(|(name, _)| name != f.name()) {
            fields.push(Arc::clone(f));
            arrays.push(Arc::clone(batch.column(i)));
        }
    }
    for (name, array) in columns {
        fields.push(Arc::new(arrow::datatypes::Field::new(
            name,
            array.data_type().clone(),
            true,
        )));
        arrays.push(array);
    }
    let schema = Arc::new(arrow::datatypes::Schema::new_with_metadata(
        fields,
        schema.metadata().clone(),
    ));
    let options =
        arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    Ok(RecordBatch::try_new_with_options(schema, arrays, &options)?)
}
