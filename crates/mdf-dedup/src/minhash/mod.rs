//! `minhash_deduplicator`: near-duplicate removal by MinHash-LSH, as FineWeb's stage B
//! (datatrove 0.10.1 `MinhashDedupSignature` → `MinhashDedupBuckets` → `MinhashDedupCluster` →
//! `MinhashDedupFilter`). Signatures are bit-identical to datatrove's ([`signature`]); two
//! documents are candidates when all `hashes_per_bucket` values of at least one of the
//! `num_buckets` bands are equal, so P(candidate) = 1 − (1 − s^r)^b at Jaccard s. Candidates are
//! joined into connected components (union–find in the merge phase) and every member but the
//! keeper is removed.
//!
//! Differences from datatrove: the keeper is the member with the lowest (shard, row) — the first
//! by input order — where datatrove keeps the union–find root, which depends on pair order;
//! bands are compared by a 128-bit hash of (scope, band index, band values) instead of the
//! values themselves (a false match needs a 128-bit collision); `dedup_scope` runs one
//! independent dedup per value of a column (FineWeb deduplicates per dump) in one run.
//!
//! `jaccard_threshold` (off by default, as in datatrove) verifies candidates, as text-dedup's
//! and NeMo Curator's false-positive check do: the key phase also stores each document's set of
//! shingle hashes, and the merge phase joins a candidate pair only when the two sets' Jaccard
//! similarity reaches the threshold (see `union_verified_group` in [`crate::partition`]).

mod signature;
#[rustfmt::skip]
mod tables;

use arrow::record_batch::RecordBatch;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use mdf_core::global::{as_operator, GlobalOperator, Grouping, Keeper, KeySink};
use mdf_core::{Component, Operator, OperatorKind, Params, Result, Verdicts};

use crate::common::{check_partitions, default_partitions, for_each_row, yes};
pub use signature::{permutations, simplify_text, Signer, MERSENNE_PRIME};

/// Params of `minhash_deduplicator`. Defaults are FineWeb's (datatrove's `MinhashConfig`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MinhashDeduplicatorParams {
    /// Column holding the text. Default: `text`.
    #[serde(default = "default_text_field")]
    pub text_field: String,
    /// Words (or characters, see `shingle_unit`) per shingle. Default: 5.
    #[serde(default = "default_n_grams")]
    pub n_grams: usize,
    /// `word` (datatrove, FineWeb: word n-grams of the simplified text) or `char` (n-grams of
    /// characters of the simplified text, spaces included: for languages written without
    /// spaces, or to catch edits inside words; use a larger `n_grams`, e.g. 20). Default: `word`.
    #[serde(default = "default_shingle_unit")]
    pub shingle_unit: String,
    /// Bands (b). Default: 14.
    #[serde(default = "default_buckets")]
    pub num_buckets: usize,
    /// Hashes per band (r). Default: 8.
    #[serde(default = "default_hashes_per_bucket")]
    pub hashes_per_bucket: usize,
    /// Seed of the permutation parameters (numpy `RandomState`). Default: 1.
    #[serde(default = "default_seed")]
    pub seed: u32,
    /// Hash precision, 64 or 32 bits. Default: 64.
    #[serde(default = "default_precision")]
    pub precision: u32,
    /// Deduplicate only within groups of rows with the same value of this column (FineWeb:
    /// the crawl dump). Default: none (global).
    #[serde(default)]
    pub dedup_scope: Option<String>,
    /// Band-key partitions (parallel group tasks). Default: 64.
    #[serde(default = "default_partitions")]
    pub num_partitions: usize,
    /// Remove the duplicates; `false` only annotates. Default: true.
    #[serde(default = "yes")]
    pub remove_duplicates: bool,
    /// Add `cluster_id` and `cluster_size` to the rows kept. Default: false.
    #[serde(default)]
    pub annotate_clusters: bool,
    /// Which member of a cluster is kept: `first` (the first by input order) or `datatrove`
    /// (datatrove 0.10.1's union–find root: bands and signatures visited in sorted order, union
    /// by size; costs 36 more bytes per key). Default: `first`.
    #[serde(default = "default_keeper")]
    pub keeper: String,
    /// Language of the word tokenizer (datatrove's `language`). Default: `en`.
    #[serde(default = "default_language")]
    pub language: String,
    /// Verify candidate pairs: join two documents only when the Jaccard similarity of their
    /// shingle sets is at least this, in (0, 1]; removes LSH false positives at the cost of a
    /// set file (12 bytes + 8 per distinct shingle per document) and a merge phase that holds
    /// the candidates' sets. Not with `keeper: datatrove`. Default: none (no verification).
    #[serde(default)]
    pub jaccard_threshold: Option<f64>,
}

fn default_text_field() -> String {
    "text".to_owned()
}
fn default_n_grams() -> usize {
    5
}
fn default_shingle_unit() -> String {
    "word".to_owned()
}
fn default_buckets() -> usize {
    14
}
fn default_hashes_per_bucket() -> usize {
    8
}
fn default_seed() -> u32 {
    1
}
fn default_precision() -> u32 {
    64
}
fn default_keeper() -> String {
    "first".to_owned()
}
fn default_language() -> String {
    "en".to_owned()
}

impl Params for MinhashDeduplicatorParams {
    fn check(&self) -> std::result::Result<(), String> {
        if self.n_grams == 0 || self.num_buckets == 0 || self.hashes_per_bucket == 0 {
            return Err("n_grams, num_buckets and hashes_per_bucket must be at least 1".into());
        }
        if self.num_buckets * self.hashes_per_bucket > 100_000 {
            return Err("num_buckets × hashes_per_bucket must be at most 100000".into());
        }
        if !matches!(self.precision, 32 | 64) {
            return Err(format!(
                "precision must be 32 or 64, got {}",
                self.precision
            ));
        }
        if !matches!(self.shingle_unit.as_str(), "word" | "char") {
            return Err(format!(
                "shingle_unit must be `word` or `char`, got `{}`",
                self.shingle_unit
            ));
        }
        if !matches!(self.keeper.as_str(), "first" | "datatrove") {
            return Err(format!(
                "keeper must be `first` or `datatrove`, got `{}`",
                self.keeper
            ));
        }
        if let Some(t) = self.jaccard_threshold {
            if !(t > 0.0 && t <= 1.0) {
                return Err(format!("jaccard_threshold must be in (0, 1], got {t}"));
            }
            if self.keeper == "datatrove" {
                return Err(
                    "jaccard_threshold needs keeper `first`: datatrove verifies no pairs".into(),
                );
            }
        }
        mdf_text::words::check_language(&self.language)?;
        check_partitions(self.num_partitions)
    }
}

/// The probability that a pair at Jaccard `s` becomes a candidate: 1 − (1 − s^r)^b.
pub fn candidate_probability(s: f64, bands: usize, rows: usize) -> f64 {
    1.0 - (1.0 - s.powi(rows as i32)).powi(bands as i32)
}

pub struct MinhashDeduplicator {
    params: MinhashDeduplicatorParams,
    signer: Signer,
    shingles: Vec<u64>,
    sig: Vec<u64>,
    band: Vec<u8>,
    /// The distinct shingles of a document (for `jaccard_threshold`).
    set: Vec<u64>,
}

impl Component for MinhashDeduplicator {
    type Built = dyn Operator;
    type Params = MinhashDeduplicatorParams;
    const NAME: &'static str = "minhash_deduplicator";
    const KIND: OperatorKind = OperatorKind::Global;
    const SUMMARY: &'static str =
        "Remove near-duplicates by MinHash-LSH (datatrove-compatible signatures), keeping the first";

    fn build(params: MinhashDeduplicatorParams) -> Result<Box<dyn Operator>> {
        Ok(as_operator(MinhashDeduplicator::new(params)))
    }
}

impl MinhashDeduplicator {
    fn new(params: MinhashDeduplicatorParams) -> Self {
        let signer = Signer::new(
            params.n_grams,
            params.num_buckets * params.hashes_per_bucket,
            params.seed,
            params.precision == 32,
        );
        let signer = if params.shingle_unit == "char" {
            signer.with_char_shingles()
        } else {
            signer
        };
        MinhashDeduplicator {
            params,
            signer,
            shingles: Vec::new(),
            sig: Vec::new(),
            band: Vec::new(),
            set: Vec::new(),
        }
    }

    /// The signature of `text` (empty when it has too few words), as datatrove computes it.
    pub fn signature_of(&mut self, text: &str) -> Vec<u64> {
        self.signer.shingles(text, &mut self.shingles);
        if self.shingles.is_empty() {
            return Vec::new();
        }
        self.signer.signature(&self.shingles, &mut self.sig);
        self.sig.clone()
    }
}

impl GlobalOperator for MinhashDeduplicator {
    mdf_core::dedup_settings_from_params!(Grouping::Connected);

    fn keeper(&self) -> Keeper {
        if self.params.keeper == "datatrove" {
            Keeper::UnionBySizeRoot
        } else {
            Keeper::FirstByInputOrder
        }
    }

    fn jaccard_threshold(&self) -> Option<f64> {
        self.params.jaccard_threshold
    }

    fn extract(
        &mut self,
        batch: &RecordBatch,
        keys: &mut KeySink,
        verdicts: &mut Verdicts,
    ) -> Result<()> {
        let Self {
            params,
            signer,
            shingles,
            sig,
            band,
            set,
        } = self;
        let verify = params.jaccard_threshold.is_some();
        let r = params.hashes_per_bucket;
        // datatrove's order of groups: band, then signature values (big-endian bytes sort as
        // the numbers do).
        let sort_key = params.keeper == "datatrove";
        let mut payload = Vec::new();
        for_each_row(
            batch,
            &params.text_field,
            params.dedup_scope.as_deref(),
            verdicts,
            |row, text, scope| {
                signer.shingles(text, shingles);
                if shingles.is_empty() {
                    return; // too few words: no signature, never removed (as datatrove)
                }
                signer.signature(shingles, sig);
                for (b, values) in sig.chunks_exact(r).enumerate() {
                    band.clear();
                    band.extend_from_slice(&(b as u32).to_le_bytes());
                    for v in values {
                        band.extend_from_slice(&v.to_le_bytes());
                    }
                    payload.clear();
                    if sort_key {
                        payload.extend_from_slice(&(b as u32).to_be_bytes());
                        for v in values {
                            payload.extend_from_slice(&v.to_be_bytes());
                        }
                    }
                    keys.push(row, crate::common::scoped_key(scope, &[band]), &payload);
                }
                if verify {
                    set.clear();
                    set.extend_from_slice(shingles);
                    set.sort_unstable();
                    set.dedup();
                    keys.push_set(row, set);
                }
            },
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn s_curve_of_fineweb() {
        let p = |s| candidate_probability(s, 14, 8);
        assert!((p(0.8) - 0.924).abs() < 0.001);
        assert!((p(0.7) - 0.56).abs() < 0.01);
    }

    #[test]
    fn near_duplicates_share_a_band_and_short_texts_have_no_signature() {
        let params: MinhashDeduplicatorParams =
            serde_json::from_value(serde_json::json!({})).unwrap();
        params.check().unwrap();
        let mut op = MinhashDeduplicator::new(params);
        let base: String = (0..400u32)
            .map(|i| {
                let c = |k: u32| char::from(b'a' + ((i * 7 + k * 3) % 26) as u8);
                format!("{}{}{} ", c(0), c(i % 5), c(i % 11))
            })
            .collect();
        let a = op.signature_of(&base);
        let b = op.signature_of(&format!("{base} extra"));
        assert_eq!(a.len(), 112);
        let same = a.iter().zip(&b).filter(|(x, y)| x == y).count();
        assert!(same > 100, "{same}");
        assert!(op.signature_of("too few words here").is_empty());
    }

    #[test]
    fn char_shingles_match_near_duplicates_written_without_spaces() {
        let params: MinhashDeduplicatorParams =
            serde_json::from_value(serde_json::json!({"shingle_unit": "char", "n_grams": 5}))
                .unwrap();
        params.check().unwrap();
        let mut op = MinhashDeduplicator::new(params);
        let base: String = (0..300u32)
            .map(|i| char::from_u32(0x4e00 + (i * 37 + i / 7) % 500).unwrap())
            .collect();
        let edited = base.replacen(&base[..3], "\u{4e01}", 1);
        let (a, b) = (op.signature_of(&base), op.signature_of(&edited));
        assert_eq!(a.len(), 112);
        let same = a.iter().zip(&b).filter(|(x, y)| x == y).count();
        assert!(same > 100, "{same} of 112 hashes agree");
        // As words, the whole text is one token: no 5-word shingle, so no signature at all.
        let word_params: MinhashDeduplicatorParams =
            serde_json::from_value(serde_json::json!({})).unwrap();
        assert!(MinhashDeduplicator::new(word_params)
            .signature_of(&base)
            .is_empty());
        let bad: MinhashDeduplicatorParams =
            serde_json::from_value(serde_json::json!({"shingle_unit": "byte"})).unwrap();
        assert!(bad.check().is_err());
    }

    #[test]
    fn jaccard_threshold_is_checked_and_pushes_distinct_shingles() {
        let params = |v: serde_json::Value| -> MinhashDeduplicatorParams {
            serde_json::from_value(v).unwrap()
        };
        for bad in [0.0, -0.5, 1.5, f64::NAN] {
            let mut p = params(serde_json::json!({}));
            p.jaccard_threshold = Some(bad);
            assert!(p.check().is_err(), "{bad}");
        }
        let datatrove =
            params(serde_json::json!({"jaccard_threshold": 0.7, "keeper": "datatrove"}));
        assert!(datatrove.check().unwrap_err().contains("keeper"));
        let ok = params(serde_json::json!({"jaccard_threshold": 1.0, "n_grams": 2}));
        ok.check().unwrap();
        let mut op = MinhashDeduplicator::new(ok);
        assert_eq!(op.jaccard_threshold(), Some(1.0));
        let batch = RecordBatch::try_from_iter([(
            "text",
            std::sync::Arc::new(arrow::array::StringArray::from(vec![
                "a b a b a b c",
                "one",
                "x y z",
            ])) as arrow::array::ArrayRef,
        )])
        .unwrap();
        let mut sink = KeySink::default();
        op.extract(&batch, &mut sink, &mut Verdicts::default())
            .unwrap();
        let sets: Vec<(usize, usize)> = sink.sets().map(|(row, s)| (row, s.len())).collect();
        // "a b", "b a", "b c" (the repeats once); "one" has no bigram and no set.
        assert_eq!(sets, [(0, 3), (2, 2)]);
        assert!(sink.sets().all(|(_, s)| s.windows(2).all(|w| w[0] < w[1])));
        let off = MinhashDeduplicator::new(params(serde_json::json!({"n_grams": 2})));
        let mut off = off;
        let mut sink = KeySink::default();
        off.extract(&batch, &mut sink, &mut Verdicts::default())
            .unwrap();
        assert_eq!(sink.sets().count(), 0, "no sets without verification");
        assert!(!sink.is_empty());
    }
}
