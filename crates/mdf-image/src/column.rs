//! The image column: encoded bytes in any Arrow binary layout, or a Hugging Face `Image` struct
//! (`{bytes, path}`), as the seed's operators read `record["image"]["bytes"]`.

use arrow::array::{Array, AsArray, BinaryArray, BinaryViewArray, LargeBinaryArray, StructArray};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use mdf_core::Verdicts;

/// Default name of the image column.
pub fn default_image_field() -> String {
    "image".to_owned()
}

#[derive(Debug, Clone, Copy)]
pub enum ImageColumn<'a> {
    Binary(&'a BinaryArray),
    LargeBinary(&'a LargeBinaryArray),
    View(&'a BinaryViewArray),
    /// A struct with a `bytes` child; `usize` = the child index.
    Struct(&'a StructArray, usize),
}

impl<'a> ImageColumn<'a> {
    /// The encoded bytes at `row`, `None` when null.
    pub fn get(&self, row: usize) -> Option<&'a [u8]> {
        match *self {
            ImageColumn::Binary(a) => a.is_valid(row).then(|| a.value(row)),
            ImageColumn::LargeBinary(a) => a.is_valid(row).then(|| a.value(row)),
            ImageColumn::View(a) => a.is_valid(row).then(|| a.value(row)),
            ImageColumn::Struct(s, child) => {
                if s.is_null(row) {
                    return None;
                }
                let inner = binary(s.column(child).as_ref())?;
                inner.get(row)
            }
        }
    }
}

fn binary(col: &dyn Array) -> Option<ImageColumn<'_>> {
    match col.data_type() {
        DataType::Binary => Some(ImageColumn::Binary(col.as_binary::<i32>())),
        DataType::LargeBinary => Some(ImageColumn::LargeBinary(col.as_binary::<i64>())),
        DataType::BinaryView => Some(ImageColumn::View(col.as_binary_view())),
        _ => None,
    }
}

/// Finds the image column or says why not (`missing_field: ...` / `wrong_type: ...`).
pub fn image_column<'a>(batch: &'a RecordBatch, name: &str) -> Result<ImageColumn<'a>, String> {
    let Some(col) = batch.column_by_name(name) else {
        return Err(format!("missing_field: no `{name}` column"));
    };
    if let Some(c) = binary(col.as_ref()) {
        return Ok(c);
    }
    if let DataType::Struct(fields) = col.data_type() {
        if let Some((i, _)) = fields.find("bytes") {
            let s = col.as_struct();
            if binary(s.column(i).as_ref()).is_some() {
                return Ok(ImageColumn::Struct(s, i));
            }
        }
    }
    Err(format!(
        "wrong_type: `{name}` is {}, not binary or a struct with binary `bytes`",
        col.data_type()
    ))
}

/// Calls `f(row, bytes)` for every row with image bytes; rows without are rejected
/// (`missing_field`), as is every row when the column is absent or has the wrong type.
pub fn for_each_image<'a>(
    batch: &'a RecordBatch,
    name: &str,
    verdicts: &mut Verdicts,
    mut f: impl FnMut(usize, &'a [u8], &mut Verdicts),
) {
    match image_column(batch, name) {
        Ok(col) => {
            for row in 0..batch.num_rows() {
                match col.get(row) {
                    Some(bytes) => f(row, bytes, verdicts),
                    None => verdicts.reject_row(row, format!("missing_field: `{name}` is null")),
                }
            }
        }
        Err(reason) => {
            for row in 0..batch.num_rows() {
                verdicts.reject_row(row, reason.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, BinaryBuilder, StringArray};
    use arrow::datatypes::{Field, Fields};
    use std::sync::Arc;

    #[test]
    fn reads_plain_binary_and_hf_image_structs() {
        let mut b = BinaryBuilder::new();
        b.append_value(b"abc");
        b.append_null();
        let bytes: ArrayRef = Arc::new(b.finish());
        let paths: ArrayRef = Arc::new(StringArray::from(vec![Some("a.jpg"), None]));
        let s = StructArray::new(
            Fields::from(vec![
                Field::new("bytes", DataType::Binary, true),
                Field::new("path", DataType::Utf8, true),
            ]),
            vec![Arc::clone(&bytes), paths],
            None,
        );
        let batch = RecordBatch::try_from_iter([
            ("image", Arc::new(s) as ArrayRef),
            ("raw", bytes),
            (
                "text",
                Arc::new(StringArray::from(vec!["x", "y"])) as ArrayRef,
            ),
        ])
        .unwrap();
        for name in ["image", "raw"] {
            let c = image_column(&batch, name).unwrap();
            assert_eq!(c.get(0), Some(&b"abc"[..]));
            assert_eq!(c.get(1), None);
        }
        assert!(image_column(&batch, "text")
            .unwrap_err()
            .starts_with("wrong_type"));
        let mut v = Verdicts::default();
        let mut seen = Vec::new();
        for_each_image(&batch, "image", &mut v, |row, _, _| seen.push(row));
        assert_eq!(seen, [0]);
        assert_eq!(v.rejected().len(), 1);
    }
}
