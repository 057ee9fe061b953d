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
