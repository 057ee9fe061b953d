//! `image_metadata_refiner`: width, height, file size, format, mode, animation and EXIF
//! orientation from the header alone (no pixel decoding). Reproduces the seed's
//! `ImageMetadataRefiner` columns (`image_width`, `image_height`, `image_file_size_bytes`,
//! `image_format` with Pillow's format names) and adds `image_mode`, `image_is_animated` and
//! `image_exif_orientation`. Where the seed wrote `"ERROR"` and 0×0 for an unreadable image, the
//! record is rejected with the reason (`empty`, `truncated`, `unsupported_format`, `bad_header`).

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanBuilder, Int32Builder, Int64Builder, StringBuilder};
use arrow::datatypes::{DataType, Field};
use arrow::record_batch::RecordBatch;
use mdf_core::batch::set_columns;
use mdf_core::{Component, Operator, OperatorKind, Params, Result, Verdicts};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::column::{default_image_field, for_each_image};
use crate::header::{read_header, Header};

/// Params of `image_metadata_refiner`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageMetadataRefinerParams {
    /// Column with the encoded image (binary, or a struct with a binary `bytes` field).
    /// Default: `image`.
    #[serde(default = "default_image_field")]
    pub image_field: String,
}

impl Params for ImageMetadataRefinerParams {}

pub struct ImageMetadataRefiner {
    params: ImageMetadataRefinerParams,
}

impl Component for ImageMetadataRefiner {
    type Built = dyn Operator;
    type Params = ImageMetadataRefinerParams;
    const NAME: &'static str = "image_metadata_refiner";
    const KIND: OperatorKind = OperatorKind::Refiner;
    const SUMMARY: &'static str =
        "Image width, height, file size, format, mode, animation and EXIF orientation (header only)";

    fn build(params: ImageMetadataRefinerParams) -> Result<Box<dyn Operator>> {
        Ok(Box::new(ImageMetadataRefiner { params }))
    }
}

const COLUMNS: [(&str, DataType); 7] = [
    ("image_width", DataType::Int32),
    ("image_height", DataType::Int32),
    ("image_file_size_bytes", DataType::Int64),
    ("image_format", DataType::Utf8),
    ("image_mode", DataType::Utf8),
    ("image_is_animated", DataType::Boolean),
    ("image_exif_orientation", DataType::Int32),
];

impl Operator for ImageMetadataRefiner {
    fn process(&mut self, batch: RecordBatch, verdicts: &mut Verdicts) -> Result<RecordBatch> {
        let n = batch.num_rows();
        // Per row: the header (None when unreadable) and the file size; None when no bytes.
        let mut rows: Vec<Option<(Option<Header>, usize)>> = vec![None; n];
        for_each_image(
            &batch,
            &self.params.image_field,
            verdicts,
            |row, bytes, verdicts| {
                let header = read_header(bytes)
                    .map_err(|reason| verdicts.reject_row(row, reason))
                    .ok();
                rows[row] = Some((header, bytes.len()));
            },
        );
        let (mut w, mut h) = (
            Int32Builder::with_capacity(n),
            Int32Builder::with_capacity(n),
        );
        let mut size = Int64Builder::with_capacity(n);
        let (mut format, mut mode) = (StringBuilder::new(), StringBuilder::new());
        let mut animated = BooleanBuilder::with_capacity(n);
        let mut orientation = Int32Builder::with_capacity(n);
        for row in &rows {
            let header = row.as_ref().and_then(|(hd, _)| hd.as_ref());
            size.append_option(row.as_ref().map(|(_, len)| *len as i64));
            w.append_option(header.map(|hd| i32::try_from(hd.width).unwrap_or(i32::MAX)));
            h.append_option(header.map(|hd| i32::try_from(hd.height).unwrap_or(i32::MAX)));
            format.append_option(header.map(|hd| hd.format.name()));
            mode.append_option(header.map(|hd| hd.mode));
            animated.append_option(header.map(|hd| hd.animated));
            orientation.append_option(header.and_then(|hd| hd.orientation.map(i32::from)));
        }
        let arrays: [ArrayRef; 7] = [
            Arc::new(w.finish()),
            Arc::new(h.finish()),
            Arc::new(size.finish()),
            Arc::new(format.finish()),
            Arc::new(mode.finish()),
            Arc::new(animated.finish()),
            Arc::new(orientation.finish()),
        ];
        set_columns(
            batch,
            COLUMNS.iter().map(|(name, _)| *name).zip(arrays).collect(),
        )
    }

    fn output_fields(&self) -> Vec<Field> {
        COLUMNS
            .iter()
            .map(|(name, t)| Field::new(*name, t.clone(), true))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testimg;
    use arrow::array::{AsArray, BinaryArray};
    use arrow::datatypes::{Int32Type, Int64Type};

    #[test]
    fn writes_header_columns_and_rejects_unreadable_images() {
        let img = testimg::photo(50, 20, 1);
        let jpeg = testimg::with_exif_orientation(&testimg::jpeg(&img, 80), 6);
        let png = testimg::png_rgba(&img);
        let images: Vec<Option<&[u8]>> = vec![Some(&jpeg), Some(b""), None, Some(&png)];
        let batch = RecordBatch::try_from_iter([(
            "image",
            Arc::new(BinaryArray::from(images)) as ArrayRef,
        )])
        .unwrap();
        let mut op = ImageMetadataRefiner::build(ImageMetadataRefinerParams {
            image_field: "image".into(),
        })
        .unwrap();
        let mut v = Verdicts::default();
        let out = op.process(batch, &mut v).unwrap();
        assert_eq!(out.num_rows(), 4);
        let col = |name: &str| out.column_by_name(name).unwrap().clone();
        let w = col("image_width");
        assert_eq!(w.as_primitive::<Int32Type>().value(0), 50);
        assert_eq!(col("image_height").as_primitive::<Int32Type>().value(3), 20);
        assert_eq!(
            col("image_file_size_bytes")
                .as_primitive::<Int64Type>()
                .value(0),
            jpeg.len() as i64
        );
        assert_eq!(col("image_format").as_string::<i32>().value(0), "JPEG");
        assert_eq!(col("image_mode").as_string::<i32>().value(3), "RGBA");
        assert_eq!(
            col("image_exif_orientation")
                .as_primitive::<Int32Type>()
                .value(0),
            6
        );
        assert!(col("image_exif_orientation").is_null(3));
        let rejected: Vec<(u32, &str)> = v
            .rejected()
            .iter()
            .map(|(r, m)| (*r, m.split(':').next().unwrap()))
            .collect();
        assert_eq!(rejected, [(1, "empty"), (2, "missing_field")]);
    }
}
