//! The phases of global operators (dedup). A plan with G global steps runs as
//!
//! `segment 0 → group 0 [→ merge 0] → segment 1 → … → group G-1 [→ merge G-1] → segment G`
//!
//! - **segment k** (one task per shard, [`crate::task::run_segment`]): reads the shard (the
//!   loader for k = 0, else the rows staged by segment k-1), applies the clusters of global
//!   step k-1 (drop or annotate), runs the map operators, then either extracts the keys of
//!   global step k (key file + staged rows) or, for the last segment, writes the output;
//! - **fit k** (one task, operators with a fit sample only): merges the per-shard samples that
//!   segment k wrote and fits the operator's model (k-means centroids) on them;
//! - **route k** (one task per shard, after fit k): re-keys the shard's key file with the model
//!   (e.g. a record's nearest centroid), so the group phase sees whole model partitions;
//! - **group k** (one task per partition): reads the partition's section of every shard's key
//!   file, groups duplicates, writes a cluster file (or, for connected groupings, a groups file);
//! - **merge k** (one task, connected groupings only): union–find over all groups files, one
//!   cluster file. For an operator that verifies candidate pairs
//!   ([`GlobalOperator::jaccard_threshold`]), segment k also writes one set file per shard, and
//!   the merge first collects the documents of groups (the candidates), streams the set files
//!   keeping only the candidates' sets, then joins only the pairs that pass (see
//!   [`union_verified_group`]); its counters go to `merge.json` and, at finalize, to the
//!   operator's `counters` in `stats.json`.
//!
//! A sequential operator (Bloom-filter dedup) has one group task, the **scan**: it reads the
//! shards' key files one after another in shard order, hands each document's records to the
//! operator in input order, and writes one edits file per shard. Memory: the operator's state
//! (the Bloom filter) plus one shard's key file.
//!
//! Every task is a pure function of (plan, phase, task index) that reads and writes files
//! under `_mdf/global/gKK/` and ends with a done marker, so a task is skipped on resume and any
//! runner (local threads, Ray tasks) can run it. Memory: a segment task holds one shard's keys
//! (28 bytes + payload per key); a group task holds one partition (28 bytes + payload per key,
//! over all shards, plus a 48-byte parsed record each), or, when that is over
//! `executor.dedup_memory_mb`, splits the partition by key into pieces on disk and holds one
//! piece at a time (its done marker records the estimate and the piece count); a merge task
//! holds about 24 bytes per document that has a duplicate (with verification, also each
//! candidate's set: 12 bytes + 8 per hash; the set files are streamed).

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use mdf_core::global::{DocId, GlobalOperator, Grouping, Keeper, KeyRecord};
use mdf_core::{MdfError, Result};
use mdf_dedup::partition::{
    clusters_of_groups, decode_groups, dropped_entries, encode_clusters, encode_edits,
    encode_fit_sample, encode_groups, encode_set_record, fit_sample_of, group_memory,
    group_partition, key_file_records, partition_bytes, split_partition, union_verified_group,
    CandidateSets, DocUnion, Edit, Group, KeyFileWriter, PartitionData, VerifyCounts,
};
use mdf_io::storage::{self, OutputFile};

use crate::plan::{Plan, PlanStep, PlannedOperator};
use crate::rundir::{write_atomic, RunDir};

/// One phase of a run; its tasks can run in any order and in parallel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Per shard: input → (filter of global k-1) → map operators → keys of global k or output.
    Segment(usize),
    /// Per partition of global step k.
    Group(usize),
    /// One task: joins the groups of global step k into clusters.
    Merge(usize),
    /// One task: fits the model of global step k on the sample of its records.
    Fit(usize),
    /// Per shard: re-keys the shard's records of global step k with the fitted model.
    Route(usize),
}

impl Phase {
    pub fn label(self) -> String {
        match self {
            Phase::Segment(k) => format!("segment {k}"),
            Phase::Group(k) => format!("dedup group {k}"),
            Phase::Merge(k) => format!("dedup merge {k}"),
            Phase::Fit(k) => format!("dedup fit {k}"),
            Phase::Route(k) => format!("dedup route {k}"),
        }
    }

    /// Whether the phase has one task per shard (keyed by shard index) rather than per
    /// partition or a single task.
    pub fn per_shard(self) -> bool {
        matches!(self, Phase::Segment(_) | Phase::Route(_))
    }
}

/// The global operators of a plan, in order.
pub fn global_operators(plan: &Plan) -> Vec<&PlannedOperator> {
    plan.steps
        .iter()
        .filter_map(|s| match s {
            PlanStep::Global(op) => Some(op),
            PlanStep::Map(_) => None,
        })
        .collect()
}

/// Builds the phase logic of a planned global operator.
pub fn build_global(op: &PlannedOperator) -> Result<Box<dyn GlobalOperator>> {
    op.build()?.into_global().ok_or_else(|| {
        MdfError::internal(format!(
            "operator `{}` is registered as global but has no phase logic",
            op.name
        ))
    })
}

/// Every phase of the plan, in the order they must run.
pub fn phases(plan: &Plan) -> Result<Vec<Phase>> {
    let globals = global_operators(plan);
    let mut out = Vec::new();
    for (k, op) in globals.iter().enumerate() {
        out.push(Phase::Segment(k));
        let global = build_global(op)?;
        if global.fit_sample().is_some() {
            out.push(Phase::Fit(k));
            out.push(Phase::Route(k));
        }
        out.push(Phase::Group(k));
        if global.grouping() == Grouping::Connected {
            out.push(Phase::Merge(k));
        }
    }
    out.push(Phase::Segment(globals.len()));
    Ok(out)
}

/// Number of tasks of a phase.
pub fn task_count(plan: &Plan, phase: Phase) -> Result<usize> {
    Ok(match phase {
        Phase::Segment(_) | Phase::Route(_) => plan.shards.len(),
        Phase::Group(k) => {
            let global = build_global(global_step(plan, k)?)?;
            match global.grouping() {
                Grouping::Sequential => 1,
                _ => global.num_partitions().max(1),
            }
        }
        Phase::Merge(_) | Phase::Fit(_) => 1,
    })
}

fn partitions(plan: &Plan, k: usize) -> Result<usize> {
    Ok(build_global(global_step(plan, k)?)?.num_partitions().max(1))
}

/// Where global step `k` keeps its files.
#[derive(Debug, Clone)]
pub struct GlobalDir {
    root: PathBuf,
}

impl GlobalDir {
    pub fn new(run_dir: &RunDir, k: usize) -> Self {
        GlobalDir {
            root: run_dir.meta_dir().join("global").join(format!("g{k:02}")),
        }
    }

    /// Removes the bulky state (keys, staged rows) once every shard of the run is committed;
    /// the cluster files stay for inspection.
    pub fn clean_up(&self) -> Result<()> {
        for sub in ["keys", "staged", "samples", "routed", "sets", "spill"] {
            storage::remove_dir_all(&self.root.join(sub))?;
        }
        Ok(())
    }

    pub fn key_file(&self, shard: usize) -> PathBuf {
        self.root.join("keys").join(format!("{shard:06}.bin"))
    }

    /// A shard's set file ([`GlobalOperator::jaccard_threshold`]).
    pub fn set_file(&self, shard: usize) -> PathBuf {
        self.root.join("sets").join(format!("{shard:06}.bin"))
    }

    /// A shard's sample for the fit phase (a key file of one partition).
    pub fn sample_file(&self, shard: usize) -> PathBuf {
        self.root.join("samples").join(format!("{shard:06}.bin"))
    }

    /// A shard's key file re-keyed by the route phase.
    pub fn routed_key_file(&self, shard: usize) -> PathBuf {
        self.root.join("routed").join(format!("{shard:06}.bin"))
    }

    /// The fitted model (fit phase).
    pub fn model_file(&self) -> PathBuf {
        self.root.join("model.bin")
    }

    pub fn staged_file(&self, shard: usize) -> PathBuf {
        self.root.join("staged").join(format!("{shard:06}.parquet"))
    }

    pub fn stats_file(&self, shard: usize) -> PathBuf {
        self.root.join("stats").join(format!("{shard:06}.json"))
    }

    pub fn groups_file(&self, partition: usize) -> PathBuf {
        self.root.join("groups").join(format!("{partition:04}.bin"))
    }

    /// The encoded groups a group task wrote for `partition`.
    fn read_groups(&self, partition: usize) -> Result<Vec<u8>> {
        storage::read(&self.groups_file(partition))
    }

    /// Where a group task over its memory budget splits its partition: beside the run's state,
    /// or, when the run directory is an object store, a local temporary directory (removed
    /// when dropped): the pieces are scratch files of one task.
    pub fn spill_dir(&self, partition: usize) -> Result<SpillDir> {
        if storage::is_remote(&self.root.to_string_lossy()) {
            let dir = tempfile::Builder::new()
                .prefix("mdf-spill-")
                .tempdir()
                .map_err(|e| MdfError::io(std::env::temp_dir(), e))?;
            return Ok(SpillDir::Temporary(dir));
        }
        Ok(SpillDir::InRunDir(
            self.root.join("spill").join(format!("{partition:06}")),
        ))
    }

    /// The edits of one shard ([`Grouping::Sequential`]).
    pub fn edits_file(&self, shard: usize) -> PathBuf {
        self.root.join("edits").join(format!("{shard:06}.bin"))
    }

    /// The summary of the sequential scan ([`GlobalOperator::scan_report`]).
    pub fn scan_report_file(&self) -> PathBuf {
        self.root.join("scan.json")
    }

    /// The merge phase's counters (name → count), added to the operator's stats at finalize.
    pub fn merge_report_file(&self) -> PathBuf {
        self.root.join("merge.json")
    }

    pub fn cluster_file(&self, index: usize) -> PathBuf {
        self.root.join("clusters").join(format!("{index:04}.bin"))
    }

    /// The cluster files the filter of this step reads.
    pub fn cluster_files(&self, grouping: Grouping, partitions: usize) -> Vec<PathBuf> {
        match grouping {
            Grouping::Disjoint => (0..partitions).map(|p| self.cluster_file(p)).collect(),
            Grouping::Connected => vec![self.cluster_file(0)],
            Grouping::Sequential => Vec::new(),
        }
    }

    pub fn done_marker(&self, phase: &str, index: usize) -> PathBuf {
        self.root.join("done").join(format!("{phase}-{index:06}"))
    }
}

/// A group task's scratch directory for the pieces of a split partition.
pub enum SpillDir {
    InRunDir(PathBuf),
    Temporary(tempfile::TempDir),
}

impl SpillDir {
    pub fn path(&self) -> &Path {
        match self {
            SpillDir::InRunDir(p) => p,
            SpillDir::Temporary(d) => d.path(),
        }
    }
}

/// The done marker of task `index` of `phase`, for phases other than the last segment (whose
/// markers are the run directory's shard markers).
pub fn marker(run_dir: &RunDir, phase: Phase, index: usize) -> PathBuf {
    match phase {
        Phase::Segment(k) => GlobalDir::new(run_dir, k).done_marker("keys", index),
        Phase::Group(k) => GlobalDir::new(run_dir, k).done_marker("group", index),
        Phase::Merge(k) => GlobalDir::new(run_dir, k).done_marker("merge", index),
        Phase::Fit(k) => GlobalDir::new(run_dir, k).done_marker("fit", index),
        Phase::Route(k) => GlobalDir::new(run_dir, k).done_marker("route", index),
    }
}

/// Whether task `index` of `phase` left its done marker. A marker that cannot be checked (an
/// object store that fails to answer) counts as absent: the task runs again, which is safe.
pub fn is_marked(run_dir: &RunDir, phase: Phase, index: usize) -> bool {
    storage::exists(&marker(run_dir, phase, index)).unwrap_or(false)
}

/// At most this many on-disk pieces per partition (open files of one group task).
const MAX_PIECES: usize = 512;

/// Group task `partition` of global step `k`.
pub fn run_group(plan: &Plan, run_dir: &RunDir, k: usize, partition: usize) -> Result<()> {
    let op = global_step(plan, k)?;
    let mut global = build_global(op)?;
    let dir = GlobalDir::new(run_dir, k);
    let routed = global.fit_sample().is_some();
    let key_files: Vec<PathBuf> = plan
        .shards
        .iter()
        .map(|s| {
            if routed {
                dir.routed_key_file(s.index)
            } else {
                dir.key_file(s.index)
            }
        })
        .collect();
    if global.grouping() == Grouping::Sequential {
        run_scan(plan, &dir, global.as_mut())?;
        return write_atomic(&marker(run_dir, Phase::Group(k), partition), b"");
    }
    let keep_keys = global.keeper() == Keeper::UnionBySizeRoot;
    let mut groups: Vec<Group> = Vec::new();
    let mut emit = |docs: &[DocId], key: &[u8]| {
        let key = if keep_keys { key.to_vec() } else { Vec::new() };
        groups.push((docs.to_vec(), key))
    };
    let budget = plan.config.executor.dedup_memory_mb.saturating_mul(1 << 20);
    let need = group_memory(partition_bytes(&key_files, partition)?);
    let mut pieces = 1;
    if need > budget && global.groups_by_key() {
        // Over budget: split the partition by key on disk and group the pieces one at a time.
        // Groups never span pieces, and every later step sorts what it reads, so the output
        // is the same as in memory.
        pieces = usize::try_from(need.div_ceil(budget)).map_or(MAX_PIECES, |n| n.min(MAX_PIECES));
        let scratch = dir.spill_dir(partition)?;
        let spill = scratch.path();
        storage::remove_dir_all(spill)?; // pieces of an attempt that died
        for piece in split_partition(&key_files, partition, pieces, spill)? {
            let data = PartitionData::read_piece(&piece)?;
            group_partition(global.as_mut(), &data, &mut emit)?;
        }
        storage::remove_dir_all(spill)?;
    } else {
        let data = PartitionData::read(&key_files, partition)?;
        group_partition(global.as_mut(), &data, &mut emit)?;
    }
    match global.grouping() {
        Grouping::Disjoint => {
            let groups = groups.into_iter().map(|(docs, _)| docs);
            let entries = if global.drops_groups().is_some() {
                dropped_entries(groups)
            } else {
                clusters_of_groups(groups)
            };
            write_atomic(
                &dir.cluster_file(partition),
                &encode_clusters(&entries, plan.shards.len()),
            )?;
        }
        Grouping::Connected => {
            write_atomic(&dir.groups_file(partition), &encode_groups(&groups))?;
        }
        Grouping::Sequential => {
            return Err(MdfError::internal("a sequential operator has no groups"));
        }
    }
    // The marker says how the partition was grouped, for whoever sizes the next run.
    let note = format!("estimated_bytes {need}\nbudget_bytes {budget}\npieces {pieces}\n");
    write_atomic(
        &marker(run_dir, Phase::Group(k), partition),
        note.as_bytes(),
    )
}

/// The scan of a sequential global step: every shard's key file in shard order, each
/// document's records in input order, one edits file per shard.
fn run_scan(plan: &Plan, dir: &GlobalDir, global: &mut dyn GlobalOperator) -> Result<()> {
    if global.num_partitions() != 1 {
        return Err(MdfError::internal(
            "a sequential global operator must route its keys to one partition",
        ));
    }
    let mut shards: Vec<usize> = plan.shards.iter().map(|s| s.index).collect();
    shards.sort_unstable();
    let mut key_bytes = 0u64;
    for &shard in &shards {
        let path = dir.key_file(shard);
        key_bytes += storage::size_of(&path.to_string_lossy())?.unwrap_or(0);
    }
    global.scan_start(key_bytes)?;
    for &shard in &shards {
        let data = PartitionData::read(&[dir.key_file(shard)], 0)?;
        let mut payloads: Vec<&[u8]> = Vec::new();
        let records = data.records_in_document_order()?;
        let mut edits: Vec<Edit> = Vec::new();
        for document in records.chunk_by(|a, b| a.doc == b.doc) {
            payloads.clear();
            payloads.extend(document.iter().map(|r| r.payload));
            let doc = document[0].doc;
            if let Some(edit) = global.scan(doc, &payloads)? {
                edits.push((doc, edit));
            }
        }
        write_atomic(&dir.edits_file(shard), &encode_edits(&edits))?;
    }
    if let Some(report) = global.scan_report() {
        write_atomic(&dir.scan_report_file(), report.as_bytes())?;
    }
    Ok(())
}

/// The merge task of global step `k`.
pub fn run_merge(plan: &Plan, run_dir: &RunDir, k: usize) -> Result<()> {
    let dir = GlobalDir::new(run_dir, k);
    let op = global_step(plan, k)?;
    let global = build_global(op)?;
    let keeper = global.keeper();
    if let Some(threshold) = global.jaccard_threshold() {
        if keeper != Keeper::FirstByInputOrder {
            return Err(MdfError::config(format!(
                "`{}`: pair verification needs the first-by-input-order keeper",
                op.name
            )));
        }
        let (union, counts) = verified_union(plan, &dir, k, threshold)?;
        write_merge_report(&dir, &counts)?;
        write_atomic(
            &dir.cluster_file(0),
            &encode_clusters(&union.into_clusters(), plan.shards.len()),
        )?;
        return write_atomic(&marker(run_dir, Phase::Merge(k), 0), b"");
    }
    let mut union = DocUnion::default();
    let mut keyed: Vec<Group> = Vec::new();
    for p in 0..partitions(plan, k)? {
        let bytes = dir.read_groups(p)?;
        match keeper {
            Keeper::FirstByInputOrder => union.add_encoded(&bytes)?,
            Keeper::UnionBySizeRoot => keyed.extend(decode_groups(&bytes)?),
        }
    }
    let entries = match keeper {
        Keeper::FirstByInputOrder => union.into_clusters(),
        Keeper::UnionBySizeRoot => {
            // datatrove's order: groups by sort key, members chained pairwise in doc order.
            keyed.sort_unstable_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)));
            for (docs, _) in &keyed {
                for pair in docs.windows(2) {
                    union.union_by_size(pair[0], pair[1]);
                }
            }
            union.into_root_clusters()
        }
    };
    write_atomic(
        &dir.cluster_file(0),
        &encode_clusters(&entries, plan.shards.len()),
    )?;
    write_atomic(&marker(run_dir, Phase::Merge(k), 0), b"")
}

/// The union of the verified pairs of global step `k`: the groups files are read twice, once
/// for the candidates (documents in a group), once to verify the groups against the
/// candidates' sets, streamed from the shards' set files; memory ∝ candidates, not documents.
fn verified_union(
    plan: &Plan,
    dir: &GlobalDir,
    k: usize,
    threshold: f64,
) -> Result<(DocUnion, VerifyCounts)> {
    let partitions = partitions(plan, k)?;
    let groups_of = |p: usize| -> Result<Vec<Group>> { decode_groups(&dir.read_groups(p)?) };
    let mut candidates: Vec<DocId> = Vec::new();
    for p in 0..partitions {
        for (docs, _) in groups_of(p)? {
            if docs.len() > 1 {
                candidates.extend(docs);
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
    }
    let mut sets = CandidateSets::new(candidates);
    let mut set_file_bytes = 0;
    for shard in &plan.shards {
        let path = dir.set_file(shard.index);
        set_file_bytes += sets.read_set_file(&path)?;
    }
    let mut union = DocUnion::default();
    let mut counts = VerifyCounts::default();
    for p in 0..partitions {
        for (mut docs, _) in groups_of(p)? {
            docs.sort_unstable();
            docs.dedup();
            union_verified_group(&docs, &sets, threshold, &mut union, &mut counts)?;
        }
    }
    counts.candidate_docs = sets.len() as u64;
    counts.set_file_bytes = set_file_bytes;
    Ok((union, counts))
}

fn write_merge_report(dir: &GlobalDir, counts: &VerifyCounts) -> Result<()> {
    let counters = BTreeMap::from([
        ("jaccard_candidate_docs".to_owned(), counts.candidate_docs),
        ("jaccard_pairs_checked".to_owned(), counts.pairs_checked),
        ("jaccard_pairs_rejected".to_owned(), counts.pairs_rejected),
        ("jaccard_set_file_bytes".to_owned(), counts.set_file_bytes),
    ]);
    crate::rundir::write_json_atomic(&dir.merge_report_file(), &counters)
}

/// The counters of global step `k`'s merge phase (empty when it wrote none), for the run's stats.
pub fn merge_counters(run_dir: &RunDir, k: usize) -> Result<BTreeMap<String, u64>> {
    let path = GlobalDir::new(run_dir, k).merge_report_file();
    match storage::read_opt(&path)? {
        None => Ok(BTreeMap::new()),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| MdfError::internal(format!("{}: {e}", path.display()))),
    }
}

/// Streams one shard's set file (format in [`mdf_dedup::partition`]): written under a temporary
/// name (or as an unfinished upload) and published by [`SetFileWriter::finish`], inside the key
/// task, before its done marker.
pub struct SetFileWriter {
    out: BufWriter<OutputFile>,
    path: PathBuf,
    record: Vec<u8>,
    last: Option<DocId>,
}

impl SetFileWriter {
    pub fn create(path: &Path) -> Result<Self> {
        Ok(SetFileWriter {
            out: BufWriter::with_capacity(1 << 20, OutputFile::create(path)?),
            path: path.to_path_buf(),
            record: Vec::new(),
            last: None,
        })
    }

    /// Appends document `doc`'s set; documents must come in ascending order.
    pub fn push(&mut self, doc: DocId, set: &[u64]) -> Result<()> {
        if self.last.is_some_and(|last| last >= doc) {
            return Err(MdfError::internal(format!(
                "{}: sets out of document order (push sets in row order, once per row)",
                self.path.display()
            )));
        }
        self.last = Some(doc);
        self.record.clear();
        encode_set_record(doc, set, &mut self.record);
        self.out
            .write_all(&self.record)
            .map_err(|e| MdfError::io(&self.path, e))
    }

    pub fn finish(self) -> Result<()> {
        let out = self
            .out
            .into_inner()
            .map_err(|e| MdfError::io(&self.path, e.into_error()))?;
        out.commit()
    }
}

fn global_step(plan: &Plan, k: usize) -> Result<&PlannedOperator> {
    global_operators(plan)
        .get(k)
        .copied()
        .ok_or_else(|| MdfError::internal(format!("no global step {k}")))
}

/// The fit task of global step `k`: the sample of the whole step is the sample of the
/// shards' samples (each the shard's lowest-ranked records), so it is the same whatever the
/// worker count.
pub fn run_fit(plan: &Plan, run_dir: &RunDir, k: usize) -> Result<()> {
    let mut global = build_global(global_step(plan, k)?)?;
    let sample = global
        .fit_sample()
        .ok_or_else(|| MdfError::internal(format!("global step {k} fits no model")))?;
    let dir = GlobalDir::new(run_dir, k);
    // The running sample, merged with one shard's sample at a time, so memory stays about
    // twice the sample rather than the sum of the shards' samples.
    let mut kept = KeyFileWriter::new(1).finish();
    for shard in &plan.shards {
        let Some(bytes) = storage::read_opt(&dir.sample_file(shard.index))? else {
            continue;
        };
        let mut records = key_file_records(&kept)?;
        records.extend(key_file_records(&bytes)?);
        kept = encode_fit_sample(records, sample);
    }
    let records: Vec<KeyRecord<'_>> = key_file_records(&kept)?;
    let model = global.fit(&fit_sample_of(records, sample))?;
    write_atomic(&dir.model_file(), &model)?;
    write_atomic(&marker(run_dir, Phase::Fit(k), 0), b"")
}

/// The route task of global step `k` for the shard with index `shard`: its key file re-keyed
/// by the fitted model, routed to partitions by the new keys.
pub fn run_route(plan: &Plan, run_dir: &RunDir, k: usize, shard: usize) -> Result<()> {
    let mut global = build_global(global_step(plan, k)?)?;
    let dir = GlobalDir::new(run_dir, k);
    let model = storage::read(&dir.model_file())?;
    let mut out = KeyFileWriter::new(global.num_partitions());
    if let Some(bytes) = storage::read_opt(&dir.key_file(shard))? {
        let records = key_file_records(&bytes)?;
        let mut keys = Vec::with_capacity(records.len());
        global.route(&model, &records, &mut keys)?;
        if keys.len() != records.len() {
            return Err(MdfError::internal(format!(
                "route gave {} keys for {} records",
                keys.len(),
                records.len()
            )));
        }
        for (record, key) in records.iter().zip(keys) {
            out.push(key, record.doc, record.payload);
        }
    }
    write_atomic(&dir.routed_key_file(shard), &out.finish())?;
    write_atomic(&marker(run_dir, Phase::Route(k), shard), b"")
}
