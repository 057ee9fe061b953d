//! `image_phash_deduplicator`: near-duplicate image removal across all shards: records whose
//! imagehash-compatible pHash differ in at most `max_distance` bits are one cluster, and only
//! the cluster's first record by input order (lowest shard, then row) is kept. The seed's
//! operator compared hash strings for exact equality only (and its Rust hash was incompatible
//! and never used); `max_distance: 0` gives that behaviour.
//!
//! It runs in the global-operator phases of `mdf_core::global` (see docs/dedup.md): no all-pairs
//! comparison. **keys**: each record's hash is cut into m = max_distance + 1 substrings
//! ([`crate::near_dup::mih_segments`], multi-index hashing) and one key per substring is routed
//! to a partition, with the full hash as payload; two hashes within the distance share at
//! least one key (pigeonhole). **group**: in each partition, records with an equal key are
//! verified pairwise by Hamming distance and the pairs within the distance are emitted.
//! **merge**: pairs sharing a record are joined into clusters (union–find), so clusters are
//! connected components of the "within k" graph, as for MinHash dedup. **filter**: all but the
//! keeper are removed (or annotated).
//!
//! Cost: a key bucket holds the records whose substring has one value, about N / 2^width of
//! them, verified pairwise; keep substrings wide enough for the data size (64-bit hashes with
//! the default k = 4 give 12–13-bit substrings; k = 10 gives 5–6-bit ones and degrades towards
//! all-pairs on large sets).

use arrow::array::AsArray;
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use mdf_core::global::{as_operator, DocId, GlobalOperator, Grouping, KeyRecord, KeySink};
use mdf_core::{Component, Operator, OperatorKind, Params, Result, Verdicts};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_128;

use crate::analysis::{analyze_rows, Analyzer, Need};
use crate::column::default_image_field;
use crate::hashes::{Bits, HashKind};
use crate::image_phash_refiner::check_hash_size;
use crate::image_technical_quality_refiner::{check_max_pixels, default_max_pixels};
use crate::near_dup::{mih_segments, segment_value};

/// Params of `image_phash_deduplicator`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImagePhashDeduplicatorParams {
    /// imagehash's `hash_size` (hash_size² bits). Default: 8 (64 bits; the seed used 16, but
    /// 256-bit hashes see small crops as far apart: measured in docs/image.md).
    #[serde(default = "default_dedup_hash_size")]
    pub hash_size: usize,
    /// Records within this Hamming distance are near duplicates. Default: 4 (no false match
    /// on 32,300 unrelated real-photo pairs; 8–10 also catch 3–5 % crops but make the index
    /// buckets 16–32× larger); 0 = exact hash equality (the seed's behaviour).
    #[serde(default = "default_max_distance")]
    pub max_distance: u32,
    /// Column with precomputed pHash hex strings (e.g. `phash` from `image_phash_refiner` with
    /// the same `hash_size`); when absent the hash is computed from `image_field`.
    /// Default: none.
    #[serde(default)]
    pub hash_field: Option<String>,
    /// Column with the encoded image. Default: `image`.
    #[serde(default = "default_image_field")]
    pub image_field: String,
    /// Decompression-bomb guard (width × height from the header). Default: 89478485.
    #[serde(default = "default_max_pixels")]
    pub max_pixels: u64,
    /// Key partitions (parallel group tasks). Default: 64.
    #[serde(default = "default_partitions")]
    pub num_partitions: usize,
    /// Remove the duplicates; `false` only annotates. Default: true.
    #[serde(default = "yes")]
    pub remove_duplicates: bool,
    /// Add `cluster_id` and `cluster_size` to the rows kept. Default: false.
    #[serde(default)]
    pub annotate_clusters: bool,
}

fn default_dedup_hash_size() -> usize {
    8
}

fn default_max_distance() -> u32 {
    4
}

fn default_partitions() -> usize {
    64
}

fn yes() -> bool {
    true
}

impl Params for ImagePhashDeduplicatorParams {
    fn check(&self) -> std::result::Result<(), String> {
        check_hash_size(self.hash_size)?;
        check_max_pixels(self.max_pixels)?;
        let bits = (self.hash_size * self.hash_size) as u32;
        if self.max_distance >= bits / 2 {
            return Err(format!(
                "max_distance {} is at least half of the {bits} hash bits: unrelated images would match",
                self.max_distance
            ));
        }
        if !(1..=65_536).contains(&self.num_partitions) {
            return Err(format!(
                "num_partitions must be in 1..=65536, got {}",
                self.num_partitions
            ));
        }
        Ok(())
    }
}

pub struct ImagePhashDeduplicator {
    params: ImagePhashDeduplicatorParams,
    analyzer: Option<Analyzer>,
    segments: Vec<(usize, usize)>,
    bits: usize,
}

impl Component for ImagePhashDeduplicator {
    type Built = dyn Operator;
    type Params = ImagePhashDeduplicatorParams;
    const NAME: &'static str = "image_phash_deduplicator";
    const KIND: OperatorKind = OperatorKind::Global;
    const SUMMARY: &'static str =
        "Remove near-duplicate images (pHash within max_distance bits) across all shards";

    fn build(params: ImagePhashDeduplicatorParams) -> Result<Box<dyn Operator>> {
        let bits = params.hash_size * params.hash_size;
        let analyzer = params.hash_field.is_none().then(|| {
            Analyzer::new(
                [Need::Hash(HashKind::Phash, params.hash_size)],
                params.max_pixels,
            )
        });
        Ok(as_operator(ImagePhashDeduplicator {
            segments: mih_segments(bits, params.max_distance),
            bits,
            analyzer,
            params,
        }))
    }
}

impl ImagePhashDeduplicator {
    /// The hash of every row (None = rejected).
    fn hashes(&self, batch: &RecordBatch, verdicts: &mut Verdicts) -> Vec<Option<Bits>> {
        let n = batch.num_rows();
        if let Some(analyzer) = &self.analyzer {
            return analyze_rows(batch, &self.params.image_field, analyzer, verdicts)
                .into_iter()
                .map(|a| {
                    let p = a?
                        .products
                        .as_ref()
                        .ok()?
                        .hash(HashKind::Phash, self.params.hash_size)?
                        .clone();
                    Some(p)
                })
                .collect();
        }
        let field = self.params.hash_field.as_deref().unwrap_or_default();
        let col = match batch.column_by_name(field) {
            Some(c) if matches!(c.data_type(), DataType::Utf8) => c.as_string::<i32>(),
            Some(c) => {
                let t = c.data_type().clone();
                (0..n).for_each(|row| {
                    verdicts.reject_row(row, format!("wrong_type: `{field}` is {t}, not a string"))
                });
                return vec![None; n];
            }
            None => {
                (0..n).for_each(|row| {
                    verdicts.reject_row(row, format!("missing_field: no `{field}` column"))
                });
                return vec![None; n];
            }
        };
        (0..n)
            .map(|row| {
                let hex = arrow::array::Array::is_valid(col, row).then(|| col.value(row));
                let bits = hex.and_then(|h| Bits::from_hex(&h.to_ascii_lowercase(), self.bits));
                if bits.is_none() {
                    verdicts.reject_row(
                        row,
                        format!(
                            "bad_hash: `{field}` is not a {}-bit hex hash: {:?}",
                            self.bits, hex
                        ),
                    );
                }
                bits
            })
            .collect()
    }
}

impl GlobalOperator for ImagePhashDeduplicator {
    mdf_core::dedup_settings_from_params!(Grouping::Connected);

    fn extract(
        &mut self,
        batch: &RecordBatch,
        keys: &mut KeySink,
        verdicts: &mut Verdicts,
    ) -> Result<()> {
        let hashes = self.hashes(batch, verdicts);
        let mut buf = [0u8; 10];
        for (row, bits) in hashes.iter().enumerate() {
            let Some(bits) = bits else { continue };
            let payload = bits.to_bytes();
            for (i, &(start, width)) in self.segments.iter().enumerate() {
                // Key = (substring index, substring value).
                buf[..2].copy_from_slice(&(i as u16).to_le_bytes());
                buf[2..].copy_from_slice(&segment_value(bits, start, width).to_le_bytes());
                keys.push(row, xxh3_128(&buf), &payload);
            }
        }
        Ok(())
    }

    fn group(
        &mut self,
        records: &[KeyRecord<'_>],
        emit: &mut dyn FnMut(&[DocId], &[u8]),
    ) -> Result<()> {
        let mut bucket: Vec<(DocId, Bits)> = Vec::new();
        for run in records.chunk_by(|a, b| a.key == b.key) {
            if run.len() < 2 {
                continue;
            }
            bucket.clear();
            bucket.extend(
                run.iter()
                    .filter_map(|r| Some((r.doc, Bits::from_bytes(r.payload, self.bits)?))),
            );
            for (i, (a, ha)) in bucket.iter().enumerate() {
                for (b, hb) in &bucket[i + 1..] {
                    if a != b && ha.hamming(hb) <= self.params.max_distance {
                        let pair = if a < b { [*a, *b] } else { [*b, *a] };
                        emit(&pair, &[]);
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, StringArray};
    use std::sync::Arc;

    fn dedup(hashes: Vec<Option<&str>>, k: u32) -> (Vec<Vec<DocId>>, Vec<usize>) {
        let params: ImagePhashDeduplicatorParams = serde_json::from_value(serde_json::json!({
            "hash_size": 8, "max_distance": k, "hash_field": "phash"
        }))
        .unwrap();
        params.check().unwrap();
        let mut op = ImagePhashDeduplicator {
            segments: mih_segments(64, k),
            bits: 64,
            analyzer: None,
            params,
        };
        let batch = RecordBatch::try_from_iter([(
            "phash",
            Arc::new(StringArray::from(hashes)) as ArrayRef,
        )])
        .unwrap();
        let mut keys = KeySink::default();
        let mut v = Verdicts::default();
        op.extract(&batch, &mut keys, &mut v).unwrap();
        let rejected = v.rejected().iter().map(|(r, _)| *r as usize).collect();
        // One partition, sorted by (key, doc), as the runtime hands it over.
        let mut recs: Vec<KeyRecord<'_>> = (0..keys.len())
            .map(|i| KeyRecord {
                key: keys.keys[i],
                doc: DocId::new(0, u64::from(keys.rows[i])).unwrap(),
                payload: keys.payload(i),
            })
            .collect();
        recs.sort_by_key(|r| (r.key, r.doc));
        let mut groups = Vec::new();
        op.group(&recs, &mut |docs, _| groups.push(docs.to_vec()))
            .unwrap();
        groups.sort();
        groups.dedup();
        (groups, rejected)
    }

    #[test]
    fn pairs_within_the_distance_are_grouped_without_all_pairs() {
        let (groups, rejected) = dedup(
            vec![
                Some("ffff0000ffff0000"),
                Some("ffff0000ffff0003"), // 2 bits from row 0
                Some("0f0f0f0f0f0f0f0f"), // unrelated
                Some("not a hash"),
                None,
                Some("FFFF0000FFFF0000"), // equal to row 0 (upper case)
            ],
            3,
        );
        let d = |r| DocId::new(0, r).unwrap();
        assert_eq!(
            groups,
            vec![vec![d(0), d(1)], vec![d(0), d(5)], vec![d(1), d(5)]]
        );
        assert_eq!(rejected, [3, 4]);
        // Exact mode: only equal hashes.
        let (groups, _) = dedup(
            vec![
                Some("ffff0000ffff0000"),
                Some("ffff0000ffff0001"),
                Some("ffff0000ffff0000"),
            ],
            0,
        );
        assert_eq!(groups, vec![vec![d(0), d(2)]]);
    }

    #[test]
    fn a_distance_of_half_the_bits_is_a_config_error() {
        let p: ImagePhashDeduplicatorParams =
            serde_json::from_value(serde_json::json!({ "hash_size": 8, "max_distance": 32 }))
                .unwrap();
        assert!(p.check().is_err());
    }
}
