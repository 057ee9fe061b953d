//! `image_phash_refiner`: perceptual hash columns bit-compatible with the Python `imagehash`
//! package — `phash` (`imagehash.phash`), `dhash` (`imagehash.dhash`) and `ahash`
//! (`imagehash.average_hash`) — as imagehash's hex strings (`str(hash)`), computed from the
//! stage's single decode. Not a seed operator: the seed computed pHash inside its deduplicator
//! (and its Rust path was dead code with an incompatible hash). Definition and compatibility
//! notes: image-video-recipes.md §0.5 and [`crate::hashes`]; the parity test against imagehash
//! is `tests/parity/test_image_hash_parity.py`.

use std::sync::Arc;

use arrow::array::{ArrayRef, StringBuilder};
use arrow::datatypes::{DataType, Field};
use arrow::record_batch::RecordBatch;
use mdf_core::batch::set_columns;
use mdf_core::{Component, Operator, OperatorKind, Params, Result, Verdicts};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::analysis::{analyze_rows, Analyzer, Need};
use crate::column::default_image_field;
use crate::hashes::HashKind;
use crate::image_technical_quality_refiner::{check_max_pixels, default_max_pixels};

/// A hash to compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HashName {
    /// DCT hash (`imagehash.phash`, highfreq_factor 4).
    Phash,
    /// Horizontal difference hash (`imagehash.dhash`).
    Dhash,
    /// Mean hash (`imagehash.average_hash`).
    Ahash,
}

impl HashName {
    pub(crate) fn kind(self) -> HashKind {
        match self {
            HashName::Phash => HashKind::Phash,
            HashName::Dhash => HashKind::Dhash,
            HashName::Ahash => HashKind::Ahash,
        }
    }
}

/// Params of `image_phash_refiner`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImagePhashRefinerParams {
    /// Column with the encoded image. Default: `image`.
    #[serde(default = "default_image_field")]
    pub image_field: String,
    /// Hashes to compute; each is written to a column of its name (`phash`, `dhash`, `ahash`).
    /// Default: `[phash]`.
    #[serde(default = "default_hashes")]
    pub hashes: Vec<HashName>,
    /// imagehash's `hash_size`: the hash has hash_size² bits. Default: 8 (64 bits, 16 hex digits).
    #[serde(default = "default_hash_size")]
    pub hash_size: usize,
    /// Decompression-bomb guard (width × height from the header). Default: 89478485.
    #[serde(default = "default_max_pixels")]
    pub max_pixels: u64,
}

fn default_hashes() -> Vec<HashName> {
    vec![HashName::Phash]
}

pub(crate) fn default_hash_size() -> usize {
    8
}

pub(crate) fn check_hash_size(hash_size: usize) -> std::result::Result<(), String> {
    if !(2..=64).contains(&hash_size) {
        return Err(format!("`hash_size` must be in 2..=64, got {hash_size}"));
    }
    Ok(())
}

impl Params for ImagePhashRefinerParams {
    fn check(&self) -> std::result::Result<(), String> {
        if self.hashes.is_empty() {
            return Err("`hashes` must name at least one of phash, dhash, ahash".into());
        }
        check_hash_size(self.hash_size)?;
        check_max_pixels(self.max_pixels)
    }
}

pub struct ImagePhashRefiner {
    params: ImagePhashRefinerParams,
    analyzer: Analyzer,
}

impl Component for ImagePhashRefiner {
    type Built = dyn Operator;
    type Params = ImagePhashRefinerParams;
    const NAME: &'static str = "image_phash_refiner";
    const KIND: OperatorKind = OperatorKind::Refiner;
    const SUMMARY: &'static str =
        "imagehash-compatible pHash / dHash / aHash hex columns (one decode per image)";

    fn build(params: ImagePhashRefinerParams) -> Result<Box<dyn Operator>> {
        let needs = params
            .hashes
            .iter()
            .map(|h| Need::Hash(h.kind(), params.hash_size));
        let analyzer = Analyzer::new(needs, params.max_pixels);
        Ok(Box::new(ImagePhashRefiner { params, analyzer }))
    }
}

impl Operator for ImagePhashRefiner {
    fn process(&mut self, batch: RecordBatch, verdicts: &mut Verdicts) -> Result<RecordBatch> {
        let rows = analyze_rows(&batch, &self.params.image_field, &self.analyzer, verdicts);
        let columns = self
            .params
            .hashes
            .iter()
            .map(|h| {
                let kind = h.kind();
                let mut b = StringBuilder::with_capacity(rows.len(), rows.len() * 16);
                for a in &rows {
                    let bits = a
                        .as_ref()
                        .and_then(|a| a.products.as_ref().ok())
                        .and_then(|p| p.hash(kind, self.params.hash_size));
                    b.append_option(bits.map(|b| b.to_hex()));
                }
                (kind.name(), Arc::new(b.finish()) as ArrayRef)
            })
            .collect();
        set_columns(batch, columns)
    }

    fn output_fields(&self) -> Vec<Field> {
        self.params
            .hashes
            .iter()
            .map(|h| Field::new(h.kind().name(), DataType::Utf8, true))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testimg;
    use arrow::array::{AsArray, BinaryArray};

    #[test]
    fn hashes_of_a_reencoded_image_are_close_and_unrelated_ones_far() {
        let a = testimg::photo(120, 90, 1);
        let b = testimg::photo(120, 90, 2);
        let images = [
            testimg::png_rgb(&a),
            testimg::jpeg(&a, 70),
            testimg::png_rgb(&b),
        ];
        let col: Vec<Option<&[u8]>> = images.iter().map(|i| Some(i.as_slice())).collect();
        let batch =
            RecordBatch::try_from_iter([("image", Arc::new(BinaryArray::from(col)) as ArrayRef)])
                .unwrap();
        let mut op = ImagePhashRefiner::build(ImagePhashRefinerParams {
            image_field: "image".into(),
            hashes: vec![HashName::Phash, HashName::Dhash, HashName::Ahash],
            hash_size: 8,
            max_pixels: default_max_pixels(),
        })
        .unwrap();
        let mut v = Verdicts::default();
        let out = op.process(batch, &mut v).unwrap();
        assert!(v.is_empty());
        for name in ["phash", "dhash", "ahash"] {
            let c = out.column_by_name(name).unwrap().as_string::<i32>().clone();
            let bits = |i: usize| crate::hashes::Bits::from_hex(c.value(i), 64).unwrap();
            assert_eq!(c.value(0).len(), 16);
            assert!(bits(0).hamming(&bits(1)) <= 4, "{name}: re-encode");
            assert!(bits(0).hamming(&bits(2)) > 10, "{name}: unrelated");
        }
    }
}
