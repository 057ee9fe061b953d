//! `embedding_deduplicator`: semantic near-duplicate removal on an embedding column, after
//! SemDedup (Abbas et al. 2023, arXiv 2303.09540) as NeMo Curator runs it: the embeddings are
//! partitioned by k-means, and within each k-means cluster every pair with cosine similarity
//! ≥ 1 − `eps` is a duplicate pair. Duplicate pairs are joined into connected components and
//! each component keeps its first record by input order (lowest shard, then row), like the
//! other dedup operators, whatever the worker count.
//!
//! Phases (docs/dedup.md): **keys** (per shard) validates and L2-normalises each embedding,
//! carries it as the record's payload and keeps the shard's lowest-ranked records as its
//! sample; **fit** (one task) fits spherical k-means ([`crate::kmeans`]: seeded k-means++,
//! a fixed iteration count) on the `sample_size` records with the smallest xxh3 of their
//! document id under `seed`; **route** (per shard) keys each record by its nearest centroid;
//! **group** (per partition) compares all pairs within each k-means cluster and emits the
//! components; **filter** removes all but each component's keeper.
//!
//! Differences from SemDedup / NeMo Curator: k-means is fitted on a deterministic sample, not
//! on every embedding (routing still uses every embedding); the keeper is the first record by
//! input order, not the one farthest from (`hard`) or closest to (`easy`) the centroid; and
//! duplicates are connected components (a chain a~b~c removes b and c even when a and c are
//! further apart), where SemDedup removes each record with a similar earlier one in its order,
//! so it keeps b in a~c, b~c, a≁b when b precedes c. Pairs split across k-means clusters are
//! never compared, as in SemDedup.
//!
//! Cost: a cluster of m records costs m²/2 dot products of the embedding dimension (pairs
//! already joined are skipped), so the group phase costs about N² · d / (2k) multiply-adds for
//! balanced clusters; choose `num_clusters` so that N / k stays in the low thousands.

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Float32Type};
use arrow::record_batch::RecordBatch;
use mdf_core::global::{
    as_operator, DocId, FitSample, GlobalOperator, Grouping, KeyRecord, KeySink,
};
use mdf_core::{Component, MdfError, Operator, OperatorKind, Params, Result, Verdicts};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_128;

use crate::common::{check_partitions, default_partitions, yes};
use crate::kmeans::{self, dot, dot4, extend_f32s, normalize, Centroids};

/// Params of `embedding_deduplicator`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingDeduplicatorParams {
    /// Column of embeddings: a fixed-size (or, with `dimension`, variable) list of floats, as
    /// `image_clip_embedding_refiner` writes. Re-normalised to unit length here. Default:
    /// `clip_embedding`.
    #[serde(default = "default_embedding_field")]
    pub embedding_field: String,
    /// Expected embedding dimension; rows of another length are rejected (`bad_embedding`).
    /// Default: none (the column's fixed list size).
    #[serde(default)]
    pub dimension: Option<usize>,
    /// k-means clusters (the unit of all-pairs comparison). Default: 100.
    #[serde(default = "default_num_clusters")]
    pub num_clusters: usize,
    /// Pairs with cosine similarity ≥ 1 − eps are duplicates (SemDedup's ε; NeMo Curator and
    /// cosmos-curate default to 0.01, i.e. similarity ≥ 0.99). Default: 0.01.
    #[serde(default = "default_eps")]
    pub eps: f64,
    /// Records k-means is fitted on (the lowest xxh3 ranks of their document ids under
    /// `seed`); faiss suggests 39–256 per cluster. Default: 10000.
    #[serde(default = "default_sample_size")]
    pub sample_size: usize,
    /// Lloyd iterations after k-means++ (fewer when no assignment changes). Default: 20.
    #[serde(default = "default_iterations")]
    pub kmeans_iterations: usize,
    /// Seed of the sample and of the k-means++ draws. Default: 42.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Partitions the k-means clusters are spread over (parallel group tasks). Default: 64.
    #[serde(default = "default_partitions")]
    pub num_partitions: usize,
    /// Remove the duplicates; `false` only annotates. Default: true.
    #[serde(default = "yes")]
    pub remove_duplicates: bool,
    /// Add `cluster_id` (UInt64: the keeper's document id) and `cluster_size` (UInt32: the
    /// duplicate group's size, not the k-means cluster's) to the rows kept. Default: false.
    #[serde(default)]
    pub annotate_clusters: bool,
}

fn default_embedding_field() -> String {
    "clip_embedding".to_owned()
}

fn default_num_clusters() -> usize {
    100
}

fn default_eps() -> f64 {
    0.01
}

fn default_sample_size() -> usize {
    10_000
}

fn default_iterations() -> usize {
    20
}

fn default_seed() -> u64 {
    42
}

impl Params for EmbeddingDeduplicatorParams {
    fn check(&self) -> std::result::Result<(), String> {
        if !(1..=1_000_000).contains(&self.num_clusters) {
            return Err(format!(
                "num_clusters must be in 1..=1000000, got {}",
                self.num_clusters
            ));
        }
        if !(self.eps.is_finite() && (0.0..1.0).contains(&self.eps)) {
            return Err(format!(
                "eps must be in [0, 1) (duplicates have cosine similarity ≥ 1 − eps), got {}",
                self.eps
            ));
        }
        if self.sample_size < self.num_clusters || self.sample_size > 10_000_000 {
            return Err(format!(
                "sample_size must be in num_clusters..=10000000 ({}..), got {}",
                self.num_clusters, self.sample_size
            ));
        }
        if !(1..=1000).contains(&self.kmeans_iterations) {
            return Err(format!(
                "kmeans_iterations must be in 1..=1000, got {}",
                self.kmeans_iterations
            ));
        }
        if self.dimension == Some(0) {
            return Err("dimension must be positive".to_owned());
        }
        check_partitions(self.num_partitions)
    }
}

pub struct EmbeddingDeduplicator {
    params: EmbeddingDeduplicatorParams,
    /// 1 − eps, compared in f32 like the dot products.
    min_similarity: f32,
    buf: Vec<f32>,
}

impl Component for EmbeddingDeduplicator {
    type Built = dyn Operator;
    type Params = EmbeddingDeduplicatorParams;
    const NAME: &'static str = "embedding_deduplicator";
    const KIND: OperatorKind = OperatorKind::Global;
    const SUMMARY: &'static str =
        "Remove semantic near-duplicates (SemDedup: k-means, cosine ≥ 1 − eps within a cluster)";

    fn build(params: EmbeddingDeduplicatorParams) -> Result<Box<dyn Operator>> {
        Ok(as_operator(EmbeddingDeduplicator::new(params)))
    }
}

/// An embedding column: values as f32 and each row's (start, length) in them, `None` if null.
struct EmbeddingColumn {
    values: ArrayRef,
    rows: Vec<Option<(usize, usize)>>,
    /// The fixed list size, for fixed-size lists.
    fixed: Option<usize>,
}

impl EmbeddingColumn {
    fn of(batch: &RecordBatch, field: &str) -> std::result::Result<Self, String> {
        let col = batch
            .column_by_name(field)
            .ok_or_else(|| format!("missing_field: no `{field}`"))?;
        let n = col.len();
        let valid = |i: usize| col.is_valid(i);
        let (child, rows, fixed) = match col.data_type() {
            DataType::FixedSizeList(_, size) => {
                let l = col.as_fixed_size_list();
                let size = *size as usize;
                let rows = (0..n)
                    .map(|i| valid(i).then(|| (l.value_offset_at(i), size)))
                    .collect();
                (l.values().clone(), rows, Some(size))
            }
            DataType::List(_) => {
                let l = col.as_list::<i32>();
                let o = l.value_offsets();
                let rows = (0..n)
                    .map(|i| valid(i).then(|| (o[i] as usize, (o[i + 1] - o[i]) as usize)))
                    .collect();
                (l.values().clone(), rows, None)
            }
            DataType::LargeList(_) => {
                let l = col.as_list::<i64>();
                let o = l.value_offsets();
                let rows = (0..n)
                    .map(|i| valid(i).then(|| (o[i] as usize, (o[i + 1] - o[i]) as usize)))
                    .collect();
                (l.values().clone(), rows, None)
            }
            t => {
                return Err(format!(
                    "wrong_type: `{field}` is {t}, not a list of floats"
                ))
            }
        };
        if !matches!(
            child.data_type(),
            DataType::Float16 | DataType::Float32 | DataType::Float64
        ) {
            return Err(format!(
                "wrong_type: `{field}` is a list of {}, not of floats",
                child.data_type()
            ));
        }
        let values = arrow::compute::cast(&child, &DataType::Float32)
            .map_err(|e| format!("wrong_type: `{field}`: {e}"))?;
        Ok(EmbeddingColumn {
            values,
            rows,
            fixed,
        })
    }
}

impl EmbeddingDeduplicator {
    fn new(params: EmbeddingDeduplicatorParams) -> Self {
        EmbeddingDeduplicator {
            min_similarity: (1.0 - params.eps) as f32,
            params,
            buf: Vec::new(),
        }
    }

    /// Calls `f(row, unit embedding)` for every row with a valid embedding; rejects the others.
    fn for_each_embedding(
        &mut self,
        batch: &RecordBatch,
        verdicts: &mut Verdicts,
        mut f: impl FnMut(usize, &[f32]),
    ) {
        let field = &self.params.embedding_field;
        let column = EmbeddingColumn::of(batch, field).and_then(|c| {
            match self.params.dimension.or(c.fixed) {
                Some(dim) => Ok((c, dim)),
                None => Err(format!(
                    "wrong_type: `{field}` is a variable-length list; set `dimension`"
                )),
            }
        });
        let (column, dim) = match column {
            Ok(c) => c,
            Err(reason) => {
                for row in 0..batch.num_rows() {
                    verdicts.reject_row(row, reason.clone());
                }
                return;
            }
        };
        let values = column.values.as_primitive::<Float32Type>();
        for (row, span) in column.rows.iter().enumerate() {
            let Some((start, len)) = *span else {
                verdicts.reject_row(row, format!("missing_field: `{field}` is null"));
                continue;
            };
            if len != dim {
                verdicts.reject_row(
                    row,
                    format!("bad_embedding: `{field}` has dimension {len}, expected {dim}"),
                );
                continue;
            }
            if values.null_count() > 0 && (start..start + len).any(|i| values.is_null(i)) {
                verdicts.reject_row(row, format!("bad_embedding: `{field}` has a null element"));
                continue;
            }
            self.buf.clear();
            self.buf
                .extend_from_slice(&values.values()[start..start + len]);
            if !normalize(&mut self.buf) {
                verdicts.reject_row(
                    row,
                    format!("bad_embedding: `{field}` is a zero vector or not finite"),
                );
                continue;
            }
            f(row, &self.buf);
        }
    }

    /// The record key of k-means cluster `c`: a hash, so clusters spread over partitions.
    fn cluster_key(c: usize) -> u128 {
        xxh3_128(&(c as u64).to_le_bytes())
    }

    /// Emits the components of "cosine ≥ 1 − eps" among one cluster's members (sorted by doc).
    fn group_cluster(
        &self,
        docs: &[DocId],
        vectors: &[f32],
        dim: usize,
        emit: &mut dyn FnMut(&[DocId], &[u8]),
    ) {
        let m = docs.len();
        let row = |i: usize| &vectors[i * dim..(i + 1) * dim];
        let mut parent: Vec<usize> = (0..m).collect();
        fn root(parent: &mut [usize], mut i: usize) -> usize {
            while parent[i] != i {
                parent[i] = parent[parent[i]];
                i = parent[i];
            }
            i
        }
        // Pairs already joined need no comparison (the components are the same); the others
        // are compared four at a time.
        let mut candidates = Vec::with_capacity(4);
        for i in 0..m {
            let mut j = i + 1;
            while j < m {
                candidates.clear();
                let ri = root(&mut parent, i);
                while j < m && candidates.len() < 4 {
                    if root(&mut parent, j) != ri {
                        candidates.push(j);
                    }
                    j += 1;
                }
                let mut sims = [0f32; 4];
                if let [a, b, c, d] = candidates[..] {
                    sims = dot4(row(i), [row(a), row(b), row(c), row(d)]);
                } else {
                    for (s, &c) in sims.iter_mut().zip(&candidates) {
                        *s = dot(row(i), row(c));
                    }
                }
                for (&c, &s) in candidates.iter().zip(&sims) {
                    if s >= self.min_similarity {
                        let (ri, rc) = (root(&mut parent, i), root(&mut parent, c));
                        parent[ri.max(rc)] = ri.min(rc);
                    }
                }
            }
        }
        let mut components: Vec<Vec<DocId>> = vec![Vec::new(); m];
        for (i, &doc) in docs.iter().enumerate() {
            components[root(&mut parent, i)].push(doc);
        }
        for component in components.iter().filter(|c| c.len() > 1) {
            emit(component, &[]);
        }
    }
}

fn dimension_error(field: &str, what: &str) -> MdfError {
    MdfError::config(format!(
        "embeddings of `{field}` have different dimensions ({what}); set `dimension` to reject \
         the odd ones"
    ))
}

impl GlobalOperator for EmbeddingDeduplicator {
    // A record has one key (its k-means cluster), so each cluster's components are whole.
    mdf_core::dedup_settings_from_params!(Grouping::Disjoint);

    fn fit_sample(&self) -> Option<FitSample> {
        Some(FitSample {
            size: self.params.sample_size,
            seed: self.params.seed,
        })
    }

    fn extract(
        &mut self,
        batch: &RecordBatch,
        keys: &mut KeySink,
        verdicts: &mut Verdicts,
    ) -> Result<()> {
        let mut payload = Vec::new();
        self.for_each_embedding(batch, verdicts, |row, v| {
            payload.clear();
            for x in v {
                payload.extend_from_slice(&x.to_le_bytes());
            }
            // Provisional key: the route phase re-keys every record by its nearest centroid.
            keys.push(row, 0, &payload);
        });
        Ok(())
    }

    fn fit(&mut self, sample: &[KeyRecord<'_>]) -> Result<Vec<u8>> {
        let field = &self.params.embedding_field;
        let dim = sample.first().map_or(0, |r| r.payload.len() / 4);
        let mut points = Vec::with_capacity(sample.len() * dim);
        for r in sample {
            if r.payload.len() != 4 * dim {
                return Err(dimension_error(
                    field,
                    &format!("{dim} and {}", r.payload.len() / 4),
                ));
            }
            extend_f32s(r.payload, &mut points);
        }
        let p = &self.params;
        Ok(kmeans::fit(&points, dim, p.num_clusters, p.kmeans_iterations, p.seed).to_bytes())
    }

    fn route(
        &mut self,
        model: &[u8],
        records: &[KeyRecord<'_>],
        keys: &mut Vec<u128>,
    ) -> Result<()> {
        let centroids = Centroids::from_bytes(model)
            .ok_or_else(|| MdfError::internal("corrupt k-means model file"))?;
        if centroids.is_empty() && !records.is_empty() {
            return Err(MdfError::internal("records to route but no centroids"));
        }
        for r in records {
            if r.payload.len() != 4 * centroids.dim {
                return Err(dimension_error(
                    &self.params.embedding_field,
                    &format!("{} and {}", centroids.dim, r.payload.len() / 4),
                ));
            }
            self.buf.clear();
            extend_f32s(r.payload, &mut self.buf);
            keys.push(Self::cluster_key(centroids.nearest(&self.buf)));
        }
        Ok(())
    }

    fn group(
        &mut self,
        records: &[KeyRecord<'_>],
        emit: &mut dyn FnMut(&[DocId], &[u8]),
    ) -> Result<()> {
        let mut docs = Vec::new();
        let mut vectors = Vec::new();
        for cluster in records.chunk_by(|a, b| a.key == b.key) {
            if cluster.len() < 2 {
                continue;
            }
            let dim = cluster[0].payload.len() / 4;
            docs.clear();
            vectors.clear();
            for r in cluster {
                if r.payload.len() != 4 * dim {
                    return Err(dimension_error(
                        &self.params.embedding_field,
                        "in one cluster",
                    ));
                }
                docs.push(r.doc);
                extend_f32s(r.payload, &mut vectors);
            }
            self.group_cluster(&docs, &vectors, dim, emit);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Arc;

    use arrow::array::{FixedSizeListArray, Float32Array, ListArray};

    use super::*;

    fn op(json: serde_json::Value) -> EmbeddingDeduplicator {
        let params: EmbeddingDeduplicatorParams = serde_json::from_value(json).unwrap();
        params.check().unwrap();
        EmbeddingDeduplicator::new(params)
    }

    fn batch(rows: Vec<Option<Vec<f32>>>, dim: i32) -> RecordBatch {
        let list = FixedSizeListArray::from_iter_primitive::<Float32Type, _, _>(
            rows.into_iter()
                .map(|r| r.map(|v| v.into_iter().map(Some).collect::<Vec<_>>())),
            dim,
        );
        RecordBatch::try_from_iter([("clip_embedding", Arc::new(list) as ArrayRef)]).unwrap()
    }

    /// Runs extract, fit (on every record), route and group over one batch as shard 0; returns
    /// the groups and the rejected rows with their reasons.
    fn dedup(
        op: &mut EmbeddingDeduplicator,
        batch: &RecordBatch,
    ) -> (Vec<Vec<u64>>, Vec<(u32, String)>) {
        let mut keys = KeySink::default();
        let mut verdicts = Verdicts::default();
        op.extract(batch, &mut keys, &mut verdicts).unwrap();
        let records: Vec<KeyRecord<'_>> = (0..keys.len())
            .map(|i| KeyRecord {
                key: keys.keys[i],
                doc: DocId::new(0, u64::from(keys.rows[i])).unwrap(),
                payload: keys.payload(i),
            })
            .collect();
        let model = op.fit(&records).unwrap();
        let mut routed = Vec::new();
        op.route(&model, &records, &mut routed).unwrap();
        let mut records: Vec<KeyRecord<'_>> = records
            .iter()
            .zip(routed)
            .map(|(r, key)| KeyRecord { key, ..*r })
            .collect();
        records.sort_by_key(|r| (r.key, r.doc));
        let mut groups = Vec::new();
        op.group(&records, &mut |docs, _| {
            groups.push(docs.iter().map(|d| d.row()).collect())
        })
        .unwrap();
        groups.sort();
        (groups, verdicts.rejected().to_vec())
    }

    /// A unit vector at cosine `cos` from the unit vector e_a, leaning towards e_b.
    fn at_cosine(dim: usize, a: usize, b: usize, cos: f32) -> Vec<f32> {
        let mut v = vec![0.0; dim];
        v[a] = cos;
        v[b] = (1.0 - cos * cos).sqrt();
        v
    }

    #[test]
    fn pairs_at_or_above_one_minus_eps_are_duplicates_and_below_are_not() {
        let mut dedup_op =
            op(serde_json::json!({"num_clusters": 1, "sample_size": 10, "eps": 0.05}));
        let rows = vec![
            Some(at_cosine(8, 0, 1, 1.0)),
            Some(at_cosine(8, 0, 1, 0.97)), // 0.97 from row 0: duplicate
            Some(at_cosine(8, 2, 3, 1.0)),
            Some(at_cosine(8, 2, 3, 0.93)), // 0.93 from row 2: kept
            // A chain: rows 4~5 and 5~6 are duplicates, 4 and 6 are not, one component.
            Some(at_cosine(8, 4, 5, 1.0)),
            Some(at_cosine(8, 4, 5, 0.975)),
            Some(at_cosine(8, 4, 5, 0.90)),
        ];
        let (groups, rejected) = dedup(&mut dedup_op, &batch(rows, 8));
        assert!(rejected.is_empty());
        assert_eq!(groups, vec![vec![0, 1], vec![4, 5, 6]]);
    }

    #[test]
    fn embeddings_are_renormalised_and_bad_ones_rejected() {
        let mut dedup_op = op(serde_json::json!({"num_clusters": 2, "sample_size": 10}));
        let rows = vec![
            Some(vec![2.0, 0.0, 0.0]),
            None,
            Some(vec![0.0, 0.0, 0.0]),
            Some(vec![f32::NAN, 1.0, 0.0]),
            Some(vec![0.5, 0.0, 0.0]), // equal to row 0 once normalised
            Some(vec![0.0, 1.0, 0.0]),
        ];
        let (groups, rejected) = dedup(&mut dedup_op, &batch(rows, 3));
        assert_eq!(groups, vec![vec![0, 4]]);
        let reasons: Vec<_> = rejected.iter().map(|(r, m)| (*r, m.as_str())).collect();
        assert_eq!(reasons[0], (1, "missing_field: `clip_embedding` is null"));
        assert_eq!(reasons[1].0, 2);
        assert!(reasons[1].1.starts_with("bad_embedding"));
        assert_eq!(reasons[2].0, 3);
    }

    #[test]
    fn wrong_dimensions_and_types_are_rejected_per_row() {
        let mut dedup_op =
            op(serde_json::json!({"dimension": 2, "num_clusters": 1, "sample_size": 1}));
        let list = ListArray::from_iter_primitive::<Float32Type, _, _>(vec![
            Some(vec![Some(1.0), Some(0.0)]),
            Some(vec![Some(1.0), Some(0.0), Some(0.0)]),
            Some(vec![Some(1.0), None]),
            Some(vec![Some(1.0), Some(0.0)]),
        ]);
        let b =
            RecordBatch::try_from_iter([("clip_embedding", Arc::new(list) as ArrayRef)]).unwrap();
        let (groups, rejected) = dedup(&mut dedup_op, &b);
        assert_eq!(groups, vec![vec![0, 3]]);
        assert_eq!(rejected.len(), 2);
        assert!(rejected[0].1.contains("dimension 3, expected 2"));
        assert!(rejected[1].1.contains("null element"));

        // A variable-length list without `dimension`, a string column, no column at all.
        let mut plain = op(serde_json::json!({}));
        let mut verdicts = Verdicts::default();
        plain
            .extract(&b, &mut KeySink::default(), &mut verdicts)
            .unwrap();
        assert_eq!(verdicts.rejected().len(), 4);
        assert!(verdicts.rejected()[0].1.contains("set `dimension`"));
        let text = RecordBatch::try_from_iter([(
            "clip_embedding",
            Arc::new(arrow::array::StringArray::from(vec!["x"])) as ArrayRef,
        )])
        .unwrap();
        let mut verdicts = Verdicts::default();
        plain
            .extract(&text, &mut KeySink::default(), &mut verdicts)
            .unwrap();
        assert!(verdicts.rejected()[0].1.starts_with("wrong_type"));
        let other = RecordBatch::try_from_iter([(
            "other",
            Arc::new(Float32Array::from(vec![1.0])) as ArrayRef,
        )])
        .unwrap();
        let mut verdicts = Verdicts::default();
        plain
            .extract(&other, &mut KeySink::default(), &mut verdicts)
            .unwrap();
        assert!(verdicts.rejected()[0].1.starts_with("missing_field"));
    }

    #[test]
    fn bad_params_are_config_errors() {
        for bad in [
            serde_json::json!({"eps": 1.0}),
            serde_json::json!({"eps": -0.1}),
            serde_json::json!({"num_clusters": 0}),
            serde_json::json!({"num_clusters": 500, "sample_size": 100}),
            serde_json::json!({"kmeans_iterations": 0}),
            serde_json::json!({"dimension": 0}),
            serde_json::json!({"num_partitions": 0}),
        ] {
            let p: EmbeddingDeduplicatorParams = serde_json::from_value(bad.clone()).unwrap();
            assert!(p.check().is_err(), "{bad}");
        }
        assert!(serde_json::from_value::<EmbeddingDeduplicatorParams>(
            serde_json::json!({"threshold": 0.9})
        )
        .is_err());
    }

    #[test]
    fn mixed_dimensions_across_shards_fail_the_fit() {
        let mut dedup_op = op(serde_json::json!({"num_clusters": 1, "sample_size": 2}));
        let a = [0u8; 8];
        let b = [0u8; 12];
        let sample = [
            KeyRecord {
                key: 0,
                doc: DocId(0),
                payload: &a,
            },
            KeyRecord {
                key: 0,
                doc: DocId(1),
                payload: &b,
            },
        ];
        let err = dedup_op.fit(&sample).unwrap_err();
        assert!(err.to_string().contains("different dimensions"));
    }
}
