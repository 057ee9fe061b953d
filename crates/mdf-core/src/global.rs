//! Global operators: operators that need the whole dataset (dedup). The planner runs one in
//! phases, each a set of independent tasks that read and write files under the run directory:
//!
//! 1. **keys** (one task per shard): [`GlobalOperator::extract`] emits keys (and optional
//!    payloads) per row; the runtime routes each key to a partition by a stable hash and writes
//!    one file per shard;
//! 2. **fit** and **route** (only for an operator with a [`FitSample`], e.g. k-means partitions
//!    of embeddings): one task fits a model on a sample of the records
//!    ([`GlobalOperator::fit`]), then one task per shard re-keys that shard's records with it
//!    ([`GlobalOperator::route`]), so a record's partition can depend on the whole dataset;
//! 3. **group** (one task per partition): the partition's records, sorted by (key, document),
//!    go to [`GlobalOperator::group`], which reports groups of duplicate documents;
//! 4. **merge** (one task, only for [`Grouping::Connected`]): groups that share a document are
//!    joined (union–find) into clusters;
//! 5. **filter** (one task per shard): every cluster member but the keeper is removed (or only
//!    annotated), then the rest of the pipeline runs.
//!
//! A [`Grouping::Sequential`] operator (Bloom-filter dedup) replaces 2–3 by one **scan** task
//! that visits every document in input order with state carried from document to document
//! ([`GlobalOperator::scan`]) and records an edit per document; its filter phase applies the
//! edits ([`GlobalOperator::apply_edits`]): removing the row or rewriting it.
//!
//! The keeper of a cluster is its member with the lowest [`DocId`]: the first by input order
//! (shard index, then row). It does not depend on worker count or scheduling.

use std::collections::BTreeMap;

use arrow::record_batch::RecordBatch;

use crate::error::{MdfError, Result};
use crate::operator::{Operator, Verdicts};

/// A document's stable identity within one global step: its shard index (high 32 bits) and its
/// ordinal among the rows of that shard that reach the operator (low 32 bits). Ordering by
/// `DocId` is ordering by input order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DocId(pub u64);

impl DocId {
    /// The keeper recorded for a document that a selecting global operator (see
    /// [`GlobalOperator::drops_groups`]) removes: it belongs to no cluster and has no keeper.
    pub const DROPPED: DocId = DocId(u64::MAX);

    pub fn new(shard: usize, row: u64) -> Result<DocId> {
        let shard = u32::try_from(shard)
            .map_err(|_| MdfError::config(format!("shard index {shard} exceeds 2^32")))?;
        let row = u32::try_from(row).map_err(|_| {
            MdfError::config(format!(
                "shard {shard} has more than 2^32 rows; split the input into smaller shards"
            ))
        })?;
        Ok(DocId((u64::from(shard) << 32) | u64::from(row)))
    }

    pub fn shard(self) -> usize {
        (self.0 >> 32) as usize
    }

    pub fn row(self) -> u64 {
        self.0 & 0xffff_ffff
    }
}

/// How the groups that [`GlobalOperator::group`] finds in different partitions relate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// Every document's keys land in one partition, so each group is a whole cluster (exact
    /// dedup: one key per document).
    Disjoint,
    /// A document emits several keys (MinHash bands); groups that share a document are one
    /// cluster, found by a merge phase.
    Connected,
    /// Documents are decided one after another in input order (shard, then row) by one task
    /// that holds state across documents (a Bloom filter), so "first seen" is defined whatever
    /// the worker count. The key phase still runs per shard in parallel (it does the costly
    /// part: tokenising and hashing); its records go to one partition, in document order.
    Sequential,
}

/// Which member of a cluster is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keeper {
    /// The member with the lowest [`DocId`]: the first by input order.
    FirstByInputOrder,
    /// datatrove 0.10.1's MinHash rule: groups are visited in the order of their sort key (the
    /// first record's payload, compared as bytes), each group's members chained pairwise in
    /// document order, joined by union by size (ties keep the first root); the root is kept.
    UnionBySizeRoot,
}

/// Names of the annotation columns a global operator can add to the rows it keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterColumns {
    /// `UInt64`: the [`DocId`] of the cluster's keeper (the row's own id when it has no duplicate).
    pub id: String,
    /// `UInt32`: the number of documents in the cluster (1 when unique).
    pub size: String,
}

impl ClusterColumns {
    /// The standard `cluster_id` / `cluster_size` columns, when `annotate` asks for them (the
    /// `annotate_clusters` param every dedup operator has).
    pub fn when(annotate: bool) -> Option<Self> {
        annotate.then(|| ClusterColumns {
            id: "cluster_id".to_owned(),
            size: "cluster_size".to_owned(),
        })
    }
}

/// The sample a model is fitted on before routing ([`GlobalOperator::fit_sample`]): the
/// `size` records with the smallest xxh3-64 of their [`DocId`] under `seed`, a choice that
/// does not depend on worker count or scheduling (like the stats reservoirs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FitSample {
    pub size: usize,
    pub seed: u64,
}

/// The keys one batch emits: per row, zero or more `(key, payload)` records; and, for an
/// operator that verifies candidate pairs ([`GlobalOperator::jaccard_threshold`]), per row at
/// most one set of hashes ([`KeySink::push_set`]).
#[derive(Debug, Default)]
pub struct KeySink {
    pub rows: Vec<u32>,
    pub keys: Vec<u128>,
    /// End offset of each record's payload in `payload`.
    pub payload_ends: Vec<u32>,
    pub payload: Vec<u8>,
    /// The row of each set, in the order pushed.
    set_rows: Vec<u32>,
    /// End offset of each set in `set_values`.
    set_ends: Vec<usize>,
    set_values: Vec<u64>,
}

impl KeySink {
    pub fn push(&mut self, row: usize, key: u128, payload: &[u8]) {
        self.rows.push(row as u32);
        self.keys.push(key);
        self.payload.extend_from_slice(payload);
        self.payload_ends.push(self.payload.len() as u32);
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn clear(&mut self) {
        self.rows.clear();
        self.keys.clear();
        self.payload_ends.clear();
        self.payload.clear();
        self.set_rows.clear();
        self.set_ends.clear();
        self.set_values.clear();
    }

    /// Records row `row`'s set for pair verification: sorted, unique hashes (the shingles a
    /// similarity is measured on). Push sets in ascending row order, at most one per row, and
    /// only for rows that also push keys.
    pub fn push_set(&mut self, row: usize, set: &[u64]) {
        self.set_rows.push(row as u32);
        self.set_values.extend_from_slice(set);
        self.set_ends.push(self.set_values.len());
    }

    /// The sets pushed, as `(row, set)`, in the order pushed.
    pub fn sets(&self) -> impl Iterator<Item = (usize, &[u64])> + '_ {
        self.set_rows.iter().enumerate().map(|(i, &row)| {
            let start = if i == 0 { 0 } else { self.set_ends[i - 1] };
            (row as usize, &self.set_values[start..self.set_ends[i]])
        })
    }

    /// The payload of record `i`.
    pub fn payload(&self, i: usize) -> &[u8] {
        let start = if i == 0 {
            0
        } else {
            self.payload_ends[i - 1] as usize
        };
        &self.payload[start..self.payload_ends[i] as usize]
    }
}

/// One record of a partition, as [`GlobalOperator::group`] sees it.
#[derive(Debug, Clone, Copy)]
pub struct KeyRecord<'a> {
    pub key: u128,
    pub doc: DocId,
    pub payload: &'a [u8],
}

/// The [`GlobalOperator`] settings of a dedup operator whose `params` field has the usual
/// `num_partitions`, `remove_duplicates` and `annotate_clusters`: expands, inside its
/// `impl GlobalOperator`, to `num_partitions`, `grouping` (the given [`Grouping`]),
/// `remove_duplicates` and `cluster_columns`.
#[macro_export]
macro_rules! dedup_settings_from_params {
    ($grouping:expr) => {
        fn num_partitions(&self) -> usize {
            self.params.num_partitions
        }

        fn grouping(&self) -> $crate::global::Grouping {
            $grouping
        }

        fn remove_duplicates(&self) -> bool {
            self.params.remove_duplicates
        }

        fn cluster_columns(&self) -> Option<$crate::global::ClusterColumns> {
            $crate::global::ClusterColumns::when(self.params.annotate_clusters)
        }
    };
}

/// The phase logic of a global operator. One instance per worker, like a map operator.
pub trait GlobalOperator: Send {
    /// Number of partitions the keys are routed to (group tasks; memory per task is about
    /// total key bytes / partitions).
    fn num_partitions(&self) -> usize;

    fn grouping(&self) -> Grouping;

    /// `false`: keep every row and only annotate clusters.
    fn remove_duplicates(&self) -> bool {
        true
    }

    fn keeper(&self) -> Keeper {
        Keeper::FirstByInputOrder
    }

    /// `Some(reason)` for an operator that selects rather than deduplicates: every document of
    /// every group that [`GlobalOperator::group`] emits is dropped with `reason` (no keeper),
    /// e.g. the rows below a dataset-wide percentile. Only with [`Grouping::Disjoint`].
    /// Default: `None` (groups are clusters of duplicates).
    fn drops_groups(&self) -> Option<&'static str> {
        None
    }

    /// Whether [`GlobalOperator::group`] relates only records with equal keys, so that a group
    /// task over its memory budget may split its partition by key and group the pieces one at a
    /// time. `false` for an operator that needs the whole partition at once (a dataset-wide
    /// percentile). Default: `true`.
    fn groups_by_key(&self) -> bool {
        true
    }

    /// Annotation columns to add in the filter phase, if any.
    fn cluster_columns(&self) -> Option<ClusterColumns> {
        None
    }

    /// `Some`: the keys [`GlobalOperator::extract`] emits are provisional; a fit phase fits a
    /// model on this sample of the records ([`GlobalOperator::fit`]) and a route phase re-keys
    /// every record with it ([`GlobalOperator::route`]) before the group phase.
    fn fit_sample(&self) -> Option<FitSample> {
        None
    }

    /// Fits the model on the sampled records (sorted by document) and returns it serialised;
    /// called once, in the fit phase, for operators with a [`FitSample`].
    fn fit(&mut self, _sample: &[KeyRecord<'_>]) -> Result<Vec<u8>> {
        Err(MdfError::internal("this global operator fits no model"))
    }

    /// Pushes the final key of each of `records` (one shard's, in file order) under `model`
    /// (from [`GlobalOperator::fit`]) onto `keys`; called in the route phase.
    fn route(
        &mut self,
        _model: &[u8],
        _records: &[KeyRecord<'_>],
        _keys: &mut Vec<u128>,
    ) -> Result<()> {
        Err(MdfError::internal(
            "this global operator routes by no model",
        ))
    }

    /// `Some(t)` ([`Grouping::Connected`] with [`Keeper::FirstByInputOrder`] only): the groups
    /// are candidates to verify. [`GlobalOperator::extract`] also pushes each keyed row's set
    /// ([`KeySink::push_set`]), the key phase writes them to a set file per shard, and the merge
    /// phase joins a candidate pair only when the Jaccard similarity of the two sets is at least
    /// `t`. Default: `None` (every group is joined as is; no set is stored).
    fn jaccard_threshold(&self) -> Option<f64> {
        None
    }

    /// Emits the keys of every row of `batch` (row indices are the batch's). Rows it cannot key
    /// (missing text) are rejected through `verdicts` and never reach the later phases.
    fn extract(
        &mut self,
        batch: &RecordBatch,
        keys: &mut KeySink,
        verdicts: &mut Verdicts,
    ) -> Result<()>;

    /// Finds the groups of duplicates among one partition's records, sorted by (key, doc), and
    /// calls `emit` with each group's documents (ascending) and its sort key (for
    /// [`Keeper::UnionBySizeRoot`]). The default: records with equal keys are one group, sorted
    /// by the first record's payload.
    fn group(
        &mut self,
        records: &[KeyRecord<'_>],
        emit: &mut dyn FnMut(&[DocId], &[u8]),
    ) -> Result<()> {
        let mut docs = Vec::new();
        for run in records.chunk_by(|a, b| a.key == b.key) {
            if run.len() > 1 {
                docs.clear();
                docs.extend(run.iter().map(|r| r.doc));
                docs.dedup();
                if docs.len() > 1 {
                    emit(&docs, run[0].payload);
                }
            }
        }
        Ok(())
    }

    /// [`Grouping::Sequential`]: called once before the scan with the total size in bytes of
    /// the key files of all shards (an upper bound on what the scan will see, to size its
    /// state). Default: nothing to prepare.
    fn scan_start(&mut self, _key_bytes: u64) -> Result<()> {
        Ok(())
    }

    /// [`Grouping::Sequential`]: one document's record payloads, in the order `extract` emitted
    /// them, called in input order. Returns the document's edit (bytes that
    /// [`GlobalOperator::apply_edits`] understands) or `None` to keep it unchanged.
    fn scan(&mut self, _doc: DocId, _payloads: &[&[u8]]) -> Result<Option<Vec<u8>>> {
        Err(MdfError::internal(
            "this global operator does not scan documents sequentially",
        ))
    }

    /// [`Grouping::Sequential`]: a JSON summary of the scan (e.g. the filter's size and false
    /// positive rate), kept in the run directory. Default: none.
    fn scan_report(&self) -> Option<String> {
        None
    }

    /// [`Grouping::Sequential`], filter phase: applies `edits` (row of `batch`, edit bytes from
    /// [`GlobalOperator::scan`], ascending rows) to `batch`: rows to remove go to `verdicts`,
    /// rewritten rows come back in the returned batch (same rows, same schema). `counters`
    /// receives what was removed (paragraphs, bytes) for the run's stats.
    fn apply_edits(
        &mut self,
        _batch: RecordBatch,
        _edits: &[(usize, &[u8])],
        _verdicts: &mut Verdicts,
        _counters: &mut BTreeMap<String, u64>,
    ) -> Result<RecordBatch> {
        Err(MdfError::internal(
            "this global operator has no edits to apply",
        ))
    }
}

/// Wraps a global operator as a registry [`Operator`] (the registry holds one kind of entry);
/// the executor takes it back out with [`Operator::into_global`].
pub fn as_operator(op: impl GlobalOperator + 'static) -> Box<dyn Operator> {
    Box::new(GlobalAdapter(Box::new(op)))
}

struct GlobalAdapter(Box<dyn GlobalOperator>);

impl Operator for GlobalAdapter {
    fn process(&mut self, _batch: RecordBatch, _verdicts: &mut Verdicts) -> Result<RecordBatch> {
        Err(MdfError::internal(
            "a global operator runs in phases planned by the executor, not batch by batch",
        ))
    }

    fn into_global(self: Box<Self>) -> Option<Box<dyn GlobalOperator>> {
        Some(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_ids_order_by_shard_then_row() {
        let a = DocId::new(1, 5).expect("a");
        let b = DocId::new(2, 0).expect("b");
        assert!(a < b);
        assert_eq!((b.shard(), b.row()), (2, 0));
        assert!(DocId::new(0, 1 << 33).is_err());
    }

    #[test]
    fn key_sink_keeps_payloads_apart() {
        let mut sink = KeySink::default();
        sink.push(0, 1, b"ab");
        sink.push(3, 2, b"");
        sink.push(4, 3, b"c");
        assert_eq!(sink.payload(0), b"ab");
        assert_eq!(sink.payload(1), b"");
        assert_eq!(sink.payload(2), b"c");
        assert_eq!(sink.sets().count(), 0);
        sink.push_set(0, &[1, 5]);
        sink.push_set(4, &[]);
        sink.push_set(6, &[2]);
        let sets: Vec<(usize, Vec<u64>)> = sink.sets().map(|(r, s)| (r, s.to_vec())).collect();
        assert_eq!(sets, [(0, vec![1, 5]), (4, vec![]), (6, vec![2])]);
        sink.clear();
        assert_eq!(sink.sets().count(), 0);
    }
}
