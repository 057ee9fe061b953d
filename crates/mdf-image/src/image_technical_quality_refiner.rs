//! `image_technical_quality_refiner`: technical quality measures from one decode (shared with
//! the other image operators of the stage, see [`crate::analysis`]). Keeps the seed's two
//! columns — `image_compression_artifacts` (0–1) and `image_information_entropy` (0–8, the
//! seed's mean RGB channel entropy) — but the artifact score is calibrated: the seed's could
//! never reach its own 0.8 threshold (it measured inside 8×8 blocks and mixed in bytes per
//! pixel). Ours is the larger of the JPEG quality deficit and the 8×8 blockiness, so 0.8 means
//! JPEG quality ≈ 26 or strong blocking. The other measures and their definitions are listed in
//! [`crate::quality`]; each is validated in tests by controlled degradations.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Builder};
use arrow::datatypes::{DataType, Field};
use arrow::record_batch::RecordBatch;
use mdf_core::batch::set_columns;
use mdf_core::{Component, Operator, OperatorKind, Params, Result, Verdicts};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::analysis::{analyze_rows, Analyzer, Need};
use crate::column::default_image_field;
use crate::decode::DEFAULT_MAX_PIXELS;
use crate::quality::Quality;

/// Params of `image_technical_quality_refiner`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageTechnicalQualityRefinerParams {
    /// Column with the encoded image. Default: `image`.
    #[serde(default = "default_image_field")]
    pub image_field: String,
    /// Images with more pixels (width × height, from the header) are rejected as
    /// `too_many_pixels` before decoding (decompression-bomb guard). Default: 89478485
    /// (Pillow's `MAX_IMAGE_PIXELS`).
    #[serde(default = "default_max_pixels")]
    pub max_pixels: u64,
}

pub(crate) fn default_max_pixels() -> u64 {
    DEFAULT_MAX_PIXELS
}

pub(crate) fn check_max_pixels(max_pixels: u64) -> std::result::Result<(), String> {
    if max_pixels == 0 {
        return Err("`max_pixels` must be positive".into());
    }
    Ok(())
}

impl Params for ImageTechnicalQualityRefinerParams {
    fn check(&self) -> std::result::Result<(), String> {
        check_max_pixels(self.max_pixels)
    }
}

pub struct ImageTechnicalQualityRefiner {
    params: ImageTechnicalQualityRefinerParams,
    analyzer: Analyzer,
}

impl Component for ImageTechnicalQualityRefiner {
    type Built = dyn Operator;
    type Params = ImageTechnicalQualityRefinerParams;
    const NAME: &'static str = "image_technical_quality_refiner";
    const KIND: OperatorKind = OperatorKind::Refiner;
    const SUMMARY: &'static str = "JPEG quality, blockiness, sharpness, noise, entropy, \
         colourfulness, colour cast, flat/clipped fractions and a calibrated artifact score";

    fn build(params: ImageTechnicalQualityRefinerParams) -> Result<Box<dyn Operator>> {
        let analyzer = Analyzer::new([Need::Quality], params.max_pixels);
        Ok(Box::new(ImageTechnicalQualityRefiner { params, analyzer }))
    }
}

type Getter = fn(&Quality) -> Option<f64>;

/// Output columns and how each is read from the measures.
const COLUMNS: [(&str, Getter); 11] = [
    ("image_compression_artifacts", |q| {
        Some(q.compression_artifacts)
    }),
    ("image_information_entropy", |q| Some(q.entropy)),
    ("image_jpeg_quality", |q| q.jpeg_quality),
    ("image_blockiness", |q| Some(q.blockiness)),
    ("image_sharpness", |q| Some(q.sharpness)),
    ("image_noise_sigma", |q| Some(q.noise_sigma)),
    ("image_colourfulness", |q| Some(q.colourfulness)),
    ("image_colour_cast", |q| Some(q.colour_cast)),
    ("image_flat_fraction", |q| Some(q.flat_fraction)),
    ("image_clipped_fraction", |q| Some(q.clipped_fraction)),
    ("image_compression_ratio", |q| Some(q.compression_ratio)),
];

impl Operator for ImageTechnicalQualityRefiner {
    fn process(&mut self, batch: RecordBatch, verdicts: &mut Verdicts) -> Result<RecordBatch> {
        let rows = analyze_rows(&batch, &self.params.image_field, &self.analyzer, verdicts);
        let quality: Vec<Option<&Quality>> = rows
            .iter()
            .map(|a| {
                a.as_ref()
                    .and_then(|a| a.products.as_ref().ok())
                    .and_then(|p| p.quality.as_ref())
            })
            .collect();
        let columns = COLUMNS
            .iter()
            .map(|(name, get)| {
                let mut b = Float64Builder::with_capacity(quality.len());
                for q in &quality {
                    b.append_option(q.and_then(get));
                }
                (*name, Arc::new(b.finish()) as ArrayRef)
            })
            .collect();
        set_columns(batch, columns)
    }

    fn output_fields(&self) -> Vec<Field> {
        COLUMNS
            .iter()
            .map(|(name, _)| Field::new(*name, DataType::Float64, true))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testimg;
    use arrow::array::{Array, AsArray, BinaryArray};
    use arrow::datatypes::Float64Type;

    #[test]
    fn writes_measures_and_rejects_bombs_and_broken_files() {
        let img = testimg::photo(64, 48, 2);
        let good = testimg::jpeg(&img, 30);
        let bomb = testimg::png_header_only(30000, 30000);
        let png = testimg::png_rgb(&img);
        let broken = &png[..png.len() - 40];
        let images: Vec<Option<&[u8]>> = vec![Some(&good), Some(&bomb), Some(broken)];
        let batch = RecordBatch::try_from_iter([(
            "image",
            Arc::new(BinaryArray::from(images)) as ArrayRef,
        )])
        .unwrap();
        let mut op = ImageTechnicalQualityRefiner::build(ImageTechnicalQualityRefinerParams {
            image_field: "image".into(),
            max_pixels: DEFAULT_MAX_PIXELS,
        })
        .unwrap();
        let mut v = Verdicts::default();
        let out = op.process(batch, &mut v).unwrap();
        let q = out.column_by_name("image_jpeg_quality").unwrap();
        let q = q.as_primitive::<Float64Type>();
        assert!((q.value(0) - 30.0).abs() <= 5.0);
        assert!(q.is_null(1) && q.is_null(2));
        let reasons: Vec<&str> = v
            .rejected()
            .iter()
            .map(|(_, m)| m.split(':').next().unwrap())
            .collect();
        assert_eq!(reasons, ["too_many_pixels", "undecodable"]);
    }
}
