//! `image_decontamination_filter`: drops images whose perceptual hash is within Hamming
//! distance `max_distance` of any hash of a reference set (evaluation images), as HoneyBee
//! removes images perceptually identical to evaluation images (image-video-recipes.md §1.7).
//! The reference hashes are read once per worker from a text file (one imagehash hex string per
//! line, `#` comments; `imagehash`'s `str(hash)` or this crate's hash columns) into a
//! multi-index hash ([`crate::near_dup::MihIndex`]), so a lookup costs a few table probes, not
//! a scan of the reference set. The record's hash is computed from the stage's single decode.

use arrow::record_batch::RecordBatch;
use mdf_core::{Component, MdfError, Operator, OperatorKind, Params, Result, Verdicts};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::analysis::{analyze_rows, Analyzer, Need};
use crate::column::default_image_field;
use crate::hashes::Bits;
use crate::image_phash_refiner::{check_hash_size, default_hash_size, HashName};
use crate::image_technical_quality_refiner::{check_max_pixels, default_max_pixels};
use crate::near_dup::MihIndex;

/// Params of `image_decontamination_filter`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageDecontaminationFilterParams {
    /// Text file with the reference hashes, one hex string per line. Required.
    pub reference_hashes: String,
    /// Which hash the file holds: `phash`, `dhash` or `ahash`. Default: `phash`.
    #[serde(default = "default_hash")]
    pub hash: HashName,
    /// imagehash's `hash_size` of the reference hashes. Default: 8.
    #[serde(default = "default_hash_size")]
    pub hash_size: usize,
    /// Drop a record within this Hamming distance of a reference hash. Default: 4 (HoneyBee's
    /// "perceptually identical"; near-duplicate removal uses 10 of 64 bits).
    #[serde(default = "default_max_distance")]
    pub max_distance: u32,
    /// Column with the encoded image. Default: `image`.
    #[serde(default = "default_image_field")]
    pub image_field: String,
    /// Decompression-bomb guard (width × height from the header). Default: 89478485.
    #[serde(default = "default_max_pixels")]
    pub max_pixels: u64,
}

fn default_hash() -> HashName {
    HashName::Phash
}

fn default_max_distance() -> u32 {
    4
}

impl Params for ImageDecontaminationFilterParams {
    fn check(&self) -> std::result::Result<(), String> {
        check_hash_size(self.hash_size)?;
        check_max_pixels(self.max_pixels)?;
        if self.reference_hashes.trim().is_empty() {
            return Err("`reference_hashes` must name a file".into());
        }
        Ok(())
    }
}

/// The drop reason code.
pub const CONTAMINATED: &str = "contaminated";

pub struct ImageDecontaminationFilter {
    params: ImageDecontaminationFilterParams,
    analyzer: Analyzer,
    index: MihIndex,
}

/// Reads a reference file into an index.
pub fn load_reference(path: &str, bits: usize, max_distance: u32) -> Result<MihIndex> {
    let text = std::fs::read_to_string(path).map_err(|e| MdfError::io(path, e))?;
    let mut index = MihIndex::new(bits, max_distance);
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let code = Bits::from_hex(&line.to_ascii_lowercase(), bits).ok_or_else(|| {
            MdfError::config(format!(
                "{path}:{}: `{line}` is not a {bits}-bit hash ({} hex digits)",
                n + 1,
                bits.div_ceil(4)
            ))
        })?;
        index.insert(code);
    }
    Ok(index)
}

impl Component for ImageDecontaminationFilter {
    type Built = dyn Operator;
    type Params = ImageDecontaminationFilterParams;
    const NAME: &'static str = "image_decontamination_filter";
    const KIND: OperatorKind = OperatorKind::Filter;
    const SUMMARY: &'static str =
        "Drop images within a Hamming distance of a reference (evaluation) set's perceptual hashes";

    fn build(params: ImageDecontaminationFilterParams) -> Result<Box<dyn Operator>> {
        let bits = params.hash_size * params.hash_size;
        let index = load_reference(&params.reference_hashes, bits, params.max_distance)?;
        let need = Need::Hash(params.hash.kind(), params.hash_size);
        let analyzer = Analyzer::new([need], params.max_pixels);
        Ok(Box::new(ImageDecontaminationFilter {
            params,
            analyzer,
            index,
        }))
    }
}

impl Operator for ImageDecontaminationFilter {
    fn process(&mut self, batch: RecordBatch, verdicts: &mut Verdicts) -> Result<RecordBatch> {
        let rows = analyze_rows(&batch, &self.params.image_field, &self.analyzer, verdicts);
        let kind = self.params.hash.kind();
        for (row, a) in rows.iter().enumerate() {
            let bits = a
                .as_ref()
                .and_then(|a| a.products.as_ref().ok())
                .and_then(|p| p.hash(kind, self.params.hash_size));
            if bits.is_some_and(|b| !self.index.query(b).is_empty()) {
                verdicts.drop_row(row, CONTAMINATED);
            }
        }
        Ok(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hashes::{hash, HashKind};
    use crate::testimg;
    use arrow::array::{ArrayRef, BinaryArray};
    use std::sync::Arc;

    #[test]
    fn drops_images_near_a_reference_hash_only() {
        let eval_img = testimg::photo(96, 96, 1);
        let other = testimg::photo(96, 96, 2);
        // The reference hash, computed from the lossless original.
        let bytes = testimg::png_rgb(&eval_img);
        let h = crate::header::read_header(&bytes).unwrap();
        let p = crate::decode::decode(&bytes, &h, u64::MAX).unwrap();
        let mut grey = Vec::new();
        crate::pil::rgb_to_l(&p.data, &mut grey);
        let reference = hash(HashKind::Phash, 8, &grey, 96, 96).to_hex();
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("eval.txt");
        std::fs::write(&file, format!("# eval set\n{reference}\n")).unwrap();

        let images = [testimg::jpeg(&eval_img, 60), testimg::png_rgb(&other)];
        let col: Vec<Option<&[u8]>> = images.iter().map(|i| Some(i.as_slice())).collect();
        let batch =
            RecordBatch::try_from_iter([("image", Arc::new(BinaryArray::from(col)) as ArrayRef)])
                .unwrap();
        let params: ImageDecontaminationFilterParams =
            serde_json::from_value(serde_json::json!({ "reference_hashes": file })).unwrap();
        let mut op = ImageDecontaminationFilter::build(params).unwrap();
        let mut v = Verdicts::default();
        op.process(batch, &mut v).unwrap();
        assert_eq!(v.dropped(), &[(0, CONTAMINATED)]);

        std::fs::write(&file, "not-a-hash\n").unwrap();
        let params: ImageDecontaminationFilterParams =
            serde_json::from_value(serde_json::json!({ "reference_hashes": file })).unwrap();
        assert!(matches!(
            ImageDecontaminationFilter::build(params).err(),
            Some(MdfError::Config(_))
        ));
    }
}
