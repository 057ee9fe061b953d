//! `image_quality_filter`: keeps images by size, aspect ratio and technical quality, with
//! presets. `preset: seed` (the default) reproduces the seed's `ImageQualityFilter` thresholds
//! (width ≥ 256, height ≥ 256, compression artifacts ≤ 0.8, entropy ≥ 3.0); `datacomp_basic` is
//! the image half of DataComp's basic filter (`baselines/apply_filter.py`: min(width, height)
//! ≥ 200 and max/min side ≤ 3.0; its caption rules — fastText `en`, > 2 words, > 5 characters —
//! are text operators of the same config); `none` starts from no thresholds. A threshold set
//! explicitly overrides the preset's.
//!
//! Differences from the seed: a missing quality column is a rejected record with a reason (the
//! seed silently counted it as 0, so without the quality refiner every record was dropped), and
//! the seed's documented-but-missing aspect-ratio and maximum-size rules exist.
//! Width and height come from `width_field`/`height_field` when the batch has them (the
//! metadata refiner's columns, or DataComp's `original_width`), else from the image header.
//! Sizes are as stored (EXIF orientation is not applied); the min-side and aspect rules do not
//! depend on it.

use arrow::array::AsArray;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type};
use arrow::record_batch::RecordBatch;
use mdf_core::{Component, Operator, OperatorKind, Params, Result, Verdicts};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::column::{default_image_field, image_column};
use crate::header::read_header;

/// Named threshold sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum QualityPreset {
    /// The seed system's defaults: min 256×256, artifacts ≤ 0.8, entropy ≥ 3.0.
    #[default]
    Seed,
    /// DataComp basic (image part): min side ≥ 200, max/min side ≤ 3.0.
    DatacompBasic,
    /// No thresholds besides the ones given.
    None,
}

/// Params of `image_quality_filter`. Unset thresholds take the preset's value.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageQualityFilterParams {
    /// Threshold set to start from: `seed`, `datacomp_basic` or `none`. Default: `seed`.
    #[serde(default)]
    pub preset: QualityPreset,
    /// Minimum width in pixels. Default: the preset's (seed: 256).
    #[serde(default)]
    pub min_width: Option<u32>,
    /// Minimum height in pixels. Default: the preset's (seed: 256).
    #[serde(default)]
    pub min_height: Option<u32>,
    /// Maximum width in pixels. Default: none.
    #[serde(default)]
    pub max_width: Option<u32>,
    /// Maximum height in pixels. Default: none.
    #[serde(default)]
    pub max_height: Option<u32>,
    /// Minimum of width and height. Default: the preset's (datacomp_basic: 200).
    #[serde(default)]
    pub min_side: Option<u32>,
    /// Maximum of max(w, h) / min(w, h) (≥ 1; 5.0 = the seed docs' w/h range 0.2–5).
    /// Default: the preset's (datacomp_basic: 3.0).
    #[serde(default)]
    pub max_aspect_ratio: Option<f64>,
    /// Maximum `image_compression_artifacts` (0–1). Default: the preset's (seed: 0.8).
    #[serde(default)]
    pub max_compression_artifacts: Option<f64>,
    /// Minimum `image_information_entropy` (bits, 0–8). Default: the preset's (seed: 3.0).
    #[serde(default)]
    pub min_information_entropy: Option<f64>,
    /// Minimum `image_sharpness` (variance of Laplacian). Default: none.
    #[serde(default)]
    pub min_sharpness: Option<f64>,
    /// Maximum `image_noise_sigma` (grey levels). Default: none.
    #[serde(default)]
    pub max_noise_sigma: Option<f64>,
    /// Minimum `image_jpeg_quality` (1–100; non-JPEG images pass). Default: none.
    #[serde(default)]
    pub min_jpeg_quality: Option<f64>,
    /// Column with the encoded image (for sizes when no width/height column). Default: `image`.
    #[serde(default = "default_image_field")]
    pub image_field: String,
    /// Width column, used when present. Default: `image_width`.
    #[serde(default = "default_width_field")]
    pub width_field: String,
    /// Height column, used when present. Default: `image_height`.
    #[serde(default = "default_height_field")]
    pub height_field: String,
}

fn default_width_field() -> String {
    "image_width".into()
}

fn default_height_field() -> String {
    "image_height".into()
}

impl Params for ImageQualityFilterParams {
    fn check(&self) -> std::result::Result<(), String> {
        if self.max_aspect_ratio.is_some_and(|r| r.is_nan() || r < 1.0) {
            return Err("`max_aspect_ratio` is max(w, h) / min(w, h) and must be ≥ 1".into());
        }
        if let (Some(a), Some(b)) = (self.min_width, self.max_width) {
            if b < a {
                return Err(format!("max_width ({b}) is smaller than min_width ({a})"));
            }
        }
        if let (Some(a), Some(b)) = (self.min_height, self.max_height) {
            if b < a {
                return Err(format!("max_height ({b}) is smaller than min_height ({a})"));
            }
        }
        Ok(())
    }
}

/// Drop reason codes.
pub const TOO_SMALL: &str = "too_small";
pub const TOO_LARGE: &str = "too_large";
pub const ASPECT_RATIO: &str = "aspect_ratio";
pub const COMPRESSION_ARTIFACTS: &str = "compression_artifacts";
pub const LOW_ENTROPY: &str = "low_entropy";
pub const BLURRY: &str = "blurry";
pub const NOISY: &str = "noisy";
pub const LOW_JPEG_QUALITY: &str = "low_jpeg_quality";

pub struct ImageQualityFilter {
    p: ImageQualityFilterParams,
    /// (column, threshold, is a minimum, drop reason, nulls pass)
    score_rules: Vec<(&'static str, f64, bool, &'static str, bool)>,
}

impl Component for ImageQualityFilter {
    type Built = dyn Operator;
    type Params = ImageQualityFilterParams;
    const NAME: &'static str = "image_quality_filter";
    const KIND: OperatorKind = OperatorKind::Filter;
    const SUMMARY: &'static str =
        "Keep images by size, aspect ratio and quality thresholds (presets: seed, datacomp_basic)";

    fn build(mut p: ImageQualityFilterParams) -> Result<Box<dyn Operator>> {
        match p.preset {
            QualityPreset::Seed => {
                p.min_width.get_or_insert(256);
                p.min_height.get_or_insert(256);
                p.max_compression_artifacts.get_or_insert(0.8);
                p.min_information_entropy.get_or_insert(3.0);
            }
            QualityPreset::DatacompBasic => {
                p.min_side.get_or_insert(200);
                p.max_aspect_ratio.get_or_insert(3.0);
            }
            QualityPreset::None => {}
        }
        let mut score_rules = Vec::new();
        let rules = [
            (
                "image_compression_artifacts",
                p.max_compression_artifacts,
                false,
                COMPRESSION_ARTIFACTS,
                false,
            ),
            (
                "image_information_entropy",
                p.min_information_entropy,
                true,
                LOW_ENTROPY,
                false,
            ),
            ("image_sharpness", p.min_sharpness, true, BLURRY, false),
            ("image_noise_sigma", p.max_noise_sigma, false, NOISY, false),
            (
                "image_jpeg_quality",
                p.min_jpeg_quality,
                true,
                LOW_JPEG_QUALITY,
                true,
            ),
        ];
        for (col, t, min, reason, nulls_pass) in rules {
            if let Some(t) = t {
                score_rules.push((col, t, min, reason, nulls_pass));
            }
        }
        Ok(Box::new(ImageQualityFilter { p, score_rules }))
    }
}

fn float_column(batch: &RecordBatch, name: &str) -> Option<Result<Vec<Option<f64>>>> {
    let col = batch.column_by_name(name)?;
    Some(
        cast(col, &DataType::Float64)
            .map(|c| c.as_primitive::<Float64Type>().iter().collect())
            .map_err(Into::into),
    )
}

impl ImageQualityFilter {
    /// Width and height per row (None = rejected).
    fn sizes(
        &self,
        batch: &RecordBatch,
        verdicts: &mut Verdicts,
    ) -> Result<Vec<Option<(f64, f64)>>> {
        let n = batch.num_rows();
        let (wf, hf) = (&self.p.width_field, &self.p.height_field);
        if let (Some(w), Some(h)) = (float_column(batch, wf), float_column(batch, hf)) {
            let (w, h) = (w?, h?);
            return Ok((0..n)
                .map(|row| match (w[row], h[row]) {
                    (Some(w), Some(h)) => Some((w, h)),
                    _ => {
                        verdicts.reject_row(row, format!("missing_field: `{wf}`/`{hf}` is null"));
                        None
                    }
                })
                .collect());
        }
        let col = match image_column(batch, &self.p.image_field) {
            Ok(c) => c,
            Err(reason) => {
                for row in 0..n {
                    verdicts.reject_row(row, format!("{reason} (and no `{wf}`/`{hf}` columns)"));
                }
                return Ok(vec![None; n]);
            }
        };
        Ok((0..n)
            .map(|row| match col.get(row).map(read_header) {
                Some(Ok(h)) => Some((f64::from(h.width), f64::from(h.height))),
                Some(Err(reason)) => {
                    verdicts.reject_row(row, reason);
                    None
                }
                None => {
                    verdicts.reject_row(
                        row,
                        format!("missing_field: `{}` is null", self.p.image_field),
                    );
                    None
                }
            })
            .collect())
    }

    fn size_verdict(&self, w: f64, h: f64) -> Option<&'static str> {
        let p = &self.p;
        let below = |v: f64, t: Option<u32>| t.is_some_and(|t| v < f64::from(t));
        let above = |v: f64, t: Option<u32>| t.is_some_and(|t| v > f64::from(t));
        if below(w, p.min_width) || below(h, p.min_height) || below(w.min(h), p.min_side) {
            return Some(TOO_SMALL);
        }
        if above(w, p.max_width) || above(h, p.max_height) {
            return Some(TOO_LARGE);
        }
        if let Some(r) = p.max_aspect_ratio {
            if w.min(h) <= 0.0 || w.max(h) / w.min(h) > r {
                return Some(ASPECT_RATIO);
            }
        }
        None
    }
}

impl Operator for ImageQualityFilter {
    fn process(&mut self, batch: RecordBatch, verdicts: &mut Verdicts) -> Result<RecordBatch> {
        let n = batch.num_rows();
        let sizes = self.sizes(&batch, verdicts)?;
        let mut decided = vec![false; n];
        for (row, size) in sizes.iter().enumerate() {
            match size {
                None => decided[row] = true,
                Some((w, h)) => {
                    if let Some(reason) = self.size_verdict(*w, *h) {
                        verdicts.drop_row(row, reason);
                        decided[row] = true;
                    }
                }
            }
        }
        for &(name, threshold, is_min, reason, nulls_pass) in &self.score_rules {
            let Some(values) = float_column(&batch, name) else {
                for (row, done) in decided.iter_mut().enumerate() {
                    if !*done {
                        verdicts.reject_row(
                            row,
                            format!("missing_field: no `{name}` column (run image_technical_quality_refiner before this filter)"),
                        );
                        *done = true;
                    }
                }
                continue;
            };
            for (row, v) in values?.into_iter().enumerate() {
                if decided[row] {
                    continue;
                }
                match v {
                    None if nulls_pass => {}
                    None => {
                        verdicts.reject_row(row, format!("missing_field: `{name}` is null"));
                        decided[row] = true;
                    }
                    Some(v) => {
                        if (is_min && v < threshold) || (!is_min && v > threshold) {
                            verdicts.drop_row(row, reason);
                            decided[row] = true;
                        }
                    }
                }
            }
        }
        Ok(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, Float64Array, Int32Array};
    use std::sync::Arc;

    fn params(preset: QualityPreset) -> ImageQualityFilterParams {
        serde_json::from_value(serde_json::json!({ "preset": preset })).unwrap()
    }

    fn run(p: ImageQualityFilterParams, batch: RecordBatch) -> Verdicts {
        let mut op = ImageQualityFilter::build(p).unwrap();
        let mut v = Verdicts::default();
        op.process(batch, &mut v).unwrap();
        v
    }

    fn sizes(w: Vec<i32>, h: Vec<i32>) -> RecordBatch {
        RecordBatch::try_from_iter([
            ("original_width", Arc::new(Int32Array::from(w)) as ArrayRef),
            ("original_height", Arc::new(Int32Array::from(h)) as ArrayRef),
        ])
        .unwrap()
    }

    #[test]
    fn datacomp_basic_keeps_min_side_200_and_aspect_at_most_3() {
        let mut p = params(QualityPreset::DatacompBasic);
        p.width_field = "original_width".into();
        p.height_field = "original_height".into();
        let b = sizes(vec![200, 199, 600, 601, 300], vec![200, 500, 200, 200, 900]);
        let v = run(p, b);
        assert_eq!(v.dropped(), &[(1, TOO_SMALL), (3, ASPECT_RATIO)]);
        assert!(v.rejected().is_empty());
    }

    #[test]
    fn seed_preset_needs_quality_columns_and_applies_them() {
        let b = RecordBatch::try_from_iter([
            (
                "image_width",
                Arc::new(Int32Array::from(vec![300, 300, 300, 100])) as ArrayRef,
            ),
            (
                "image_height",
                Arc::new(Int32Array::from(vec![300, 300, 300, 300])) as ArrayRef,
            ),
            (
                "image_compression_artifacts",
                Arc::new(Float64Array::from(vec![0.1, 0.9, 0.1, 0.1])) as ArrayRef,
            ),
            (
                "image_information_entropy",
                Arc::new(Float64Array::from(vec![5.0, 5.0, 2.0, 5.0])) as ArrayRef,
            ),
        ])
        .unwrap();
        let v = run(params(QualityPreset::Seed), b);
        let mut d = v.dropped().to_vec();
        d.sort();
        assert_eq!(
            d,
            [(1, COMPRESSION_ARTIFACTS), (2, LOW_ENTROPY), (3, TOO_SMALL)]
        );

        let only_sizes = sizes(vec![300], vec![300]);
        let mut p = params(QualityPreset::Seed);
        p.width_field = "original_width".into();
        p.height_field = "original_height".into();
        let v = run(p, only_sizes);
        assert!(
            v.rejected()[0].1.starts_with("missing_field"),
            "{:?}",
            v.rejected()
        );
    }

    #[test]
    fn sizes_fall_back_to_the_image_header() {
        let img = crate::testimg::photo(300, 100, 1);
        let bytes = crate::testimg::png_rgb(&img);
        let b = RecordBatch::try_from_iter([(
            "image",
            Arc::new(arrow::array::BinaryArray::from(vec![Some(
                bytes.as_slice(),
            )])) as ArrayRef,
        )])
        .unwrap();
        let v = run(params(QualityPreset::DatacompBasic), b);
        assert_eq!(v.dropped(), &[(0, TOO_SMALL)]);
    }

    #[test]
    fn bad_thresholds_are_config_errors() {
        let mut p = params(QualityPreset::None);
        p.max_aspect_ratio = Some(0.5);
        assert!(p.check().is_err());
        p.max_aspect_ratio = None;
        p.min_width = Some(10);
        p.max_width = Some(5);
        assert!(p.check().is_err());
    }
}
