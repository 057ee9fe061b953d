//! `image_visual_degradations_refiner`: the seed's degradation columns (`img_vd_color_cast`,
//! `img_vd_blurriness`, `img_vd_watermark`, `img_vd_noise`, `img_vd_overall_quality`; 0–1,
//! higher = worse, overall higher = better) from hand-crafted detectors instead of the seed's
//! learned CNN, whose shipped checkpoint is an LFS pointer (so the seed wrote nulls). Each score
//! is a fixed monotone map of a measure from [`crate::quality`], computed on the stage's single
//! decode:
//!
//! - colour cast = clamp01((colour_cast − 0.5) / 1.5) (opponent-chroma mean ÷ spread);
//! - blurriness = clamp01(1 − log10(1 + sharpness) / 3) (variance of Laplacian 999 → 0);
//! - noise = clamp01(noise_sigma / 15) (Immerkær σ in grey levels);
//! - watermark = null: there is no hand-crafted watermark detector worth the name;
//! - overall = 1 − (0.2·cc + 0.3·blur + 0.25·noise) / 0.75 — the seed's weights with the
//!   watermark term left out and the rest renormalised.
//!
//! A learned model (`model_path`) is not supported yet and is a config error.

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
use crate::image_technical_quality_refiner::{check_max_pixels, default_max_pixels};
use crate::quality::Quality;

/// Params of `image_visual_degradations_refiner`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageVisualDegradationsRefinerParams {
    /// Column with the encoded image. Default: `image`.
    #[serde(default = "default_image_field")]
    pub image_field: String,
    /// The seed's learned degradation model. Not supported: must be left unset. Default: none.
    #[serde(default)]
    pub model_path: Option<String>,
    /// Decompression-bomb guard (width × height from the header). Default: 89478485.
    #[serde(default = "default_max_pixels")]
    pub max_pixels: u64,
}

impl Params for ImageVisualDegradationsRefinerParams {
    fn check(&self) -> std::result::Result<(), String> {
        if self.model_path.is_some() {
            return Err(
                "`model_path`: learned degradation models are not supported yet; \
                        leave it unset to use the hand-crafted detectors"
                    .into(),
            );
        }
        check_max_pixels(self.max_pixels)
    }
}

pub struct ImageVisualDegradationsRefiner {
    params: ImageVisualDegradationsRefinerParams,
    analyzer: Analyzer,
}

impl Component for ImageVisualDegradationsRefiner {
    type Built = dyn Operator;
    type Params = ImageVisualDegradationsRefinerParams;
    const NAME: &'static str = "image_visual_degradations_refiner";
    const KIND: OperatorKind = OperatorKind::Refiner;
    const SUMMARY: &'static str =
        "Colour cast, blur and noise degradation scores (0-1) from hand-crafted detectors";

    fn build(params: ImageVisualDegradationsRefinerParams) -> Result<Box<dyn Operator>> {
        let analyzer = Analyzer::new([Need::Quality], params.max_pixels);
        Ok(Box::new(ImageVisualDegradationsRefiner {
            params,
            analyzer,
        }))
    }
}

/// The degradation scores of one image: (colour cast, blurriness, noise, overall).
pub fn degradations(q: &Quality) -> [f64; 4] {
    let cc = ((q.colour_cast - 0.5) / 1.5).clamp(0.0, 1.0);
    let blur = (1.0 - (1.0 + q.sharpness.max(0.0)).log10() / 3.0).clamp(0.0, 1.0);
    let noise = (q.noise_sigma / 15.0).clamp(0.0, 1.0);
    let overall = 1.0 - (0.2 * cc + 0.3 * blur + 0.25 * noise) / 0.75;
    [cc, blur, noise, overall]
}

const COLUMNS: [&str; 5] = [
    "img_vd_color_cast",
    "img_vd_blurriness",
    "img_vd_noise",
    "img_vd_overall_quality",
    "img_vd_watermark",
];

impl Operator for ImageVisualDegradationsRefiner {
    fn process(&mut self, batch: RecordBatch, verdicts: &mut Verdicts) -> Result<RecordBatch> {
        let rows = analyze_rows(&batch, &self.params.image_field, &self.analyzer, verdicts);
        let scores: Vec<Option<[f64; 4]>> = rows
            .iter()
            .map(|a| {
                let q = a.as_ref()?.products.as_ref().ok()?.quality.as_ref()?;
                Some(degradations(q))
            })
            .collect();
        let mut columns: Vec<(&str, ArrayRef)> = (0..4)
            .map(|i| {
                let mut b = Float64Builder::with_capacity(scores.len());
                for s in &scores {
                    b.append_option(s.map(|s| s[i]));
                }
                (COLUMNS[i], Arc::new(b.finish()) as ArrayRef)
            })
            .collect();
        let mut wm = Float64Builder::with_capacity(scores.len());
        wm.append_nulls(scores.len());
        columns.push((COLUMNS[4], Arc::new(wm.finish())));
        set_columns(batch, columns)
    }

    fn output_fields(&self) -> Vec<Field> {
        COLUMNS
            .iter()
            .map(|name| Field::new(*name, DataType::Float64, true))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testimg;
    use arrow::array::{AsArray, BinaryArray};
    use arrow::datatypes::Float64Type;

    #[test]
    fn blur_and_noise_raise_their_scores_and_lower_overall() {
        let img = testimg::photo(128, 96, 3);
        let images = [
            testimg::png_rgb(&img),
            testimg::png_rgb(&testimg::blur(&img, 3.0)),
            testimg::png_rgb(&testimg::add_noise(&img, 12.0, 1)),
        ];
        let col: Vec<Option<&[u8]>> = images.iter().map(|i| Some(i.as_slice())).collect();
        let batch =
            RecordBatch::try_from_iter([("image", Arc::new(BinaryArray::from(col)) as ArrayRef)])
                .unwrap();
        let mut op = ImageVisualDegradationsRefiner::build(ImageVisualDegradationsRefinerParams {
            image_field: "image".into(),
            model_path: None,
            max_pixels: default_max_pixels(),
        })
        .unwrap();
        let mut v = Verdicts::default();
        let out = op.process(batch, &mut v).unwrap();
        let get = |name: &str, i: usize| {
            out.column_by_name(name)
                .unwrap()
                .as_primitive::<Float64Type>()
                .value(i)
        };
        assert!(get("img_vd_blurriness", 1) > get("img_vd_blurriness", 0));
        assert!(get("img_vd_noise", 2) > get("img_vd_noise", 0));
        assert!(get("img_vd_overall_quality", 1) < get("img_vd_overall_quality", 0));
        assert!(get("img_vd_overall_quality", 2) < get("img_vd_overall_quality", 0));
        assert!(out.column_by_name("img_vd_watermark").unwrap().is_null(0));
    }
}
