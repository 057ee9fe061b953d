//! The batch layout of the image loaders: `id`, `image` (encoded bytes, Binary), `text` (the
//! caption, nullable), `json` (raw per-sample JSON, nullable), then the provenance columns
//! `_source_file` and `_source_offset` every loader adds.

use std::sync::Arc;

use arrow::array::{ArrayRef, BinaryBuilder, StringBuilder, UInt64Builder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use mdf_core::io::{Reject, SOURCE_FILE_COLUMN, SOURCE_OFFSET_COLUMN};
use mdf_core::Result;

/// One image-text record.
#[derive(Debug, Default)]
pub struct ImageRecord {
    pub id: String,
    pub image: Vec<u8>,
    pub text: Option<String>,
    pub json: Option<String>,
    pub offset: u64,
}

pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("image", DataType::Binary, false),
        Field::new("text", DataType::Utf8, true),
        Field::new("json", DataType::Utf8, true),
        Field::new(SOURCE_FILE_COLUMN, DataType::Utf8, false),
        Field::new(SOURCE_OFFSET_COLUMN, DataType::UInt64, false),
    ]))
}

/// Builds one batch from records read from `source`.
pub fn to_batch(records: &[ImageRecord], source: &str) -> Result<RecordBatch> {
    let n = records.len();
    let mut id = StringBuilder::new();
    let mut image = BinaryBuilder::with_capacity(n, records.iter().map(|r| r.image.len()).sum());
    let (mut text, mut json) = (StringBuilder::new(), StringBuilder::new());
    let mut file = StringBuilder::new();
    let mut offset = UInt64Builder::with_capacity(n);
    for r in records {
        id.append_value(&r.id);
        image.append_value(&r.image);
        text.append_option(r.text.as_deref());
        json.append_option(r.json.as_deref());
        file.append_value(source);
        offset.append_value(r.offset);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(id.finish()),
        Arc::new(image.finish()),
        Arc::new(text.finish()),
        Arc::new(json.finish()),
        Arc::new(file.finish()),
        Arc::new(offset.finish()),
    ];
    Ok(RecordBatch::try_new(schema(), columns)?)
}

pub fn reject(source: &str, offset: Option<u64>, message: &str, id: Option<&str>) -> Reject {
    let (reason, detail) = message.split_once(": ").unwrap_or((message, ""));
    Reject {
        source: source.to_owned(),
        offset,
        operator: None,
        reason: reason.to_owned(),
        detail: detail.to_owned(),
        record: id.map(|id| serde_json::json!({ "id": id })),
    }
}

/// Lower-cased extensions, without dots.
pub fn default_image_extensions() -> Vec<String> {
    ["jpg", "jpeg", "png", "webp", "gif"]
        .map(String::from)
        .to_vec()
}

pub fn check_extensions(exts: &[String]) -> std::result::Result<(), String> {
    if exts.is_empty() {
        return Err("`image_extensions` must list at least one extension".into());
    }
    if exts
        .iter()
        .any(|e| e.is_empty() || e.starts_with('.') || e.to_lowercase() != *e)
    {
        return Err(
            "`image_extensions` are lower-case and without the dot (`jpg`, not `.JPG`)".into(),
        );
    }
    Ok(())
}
