//! The phases of global operators (dedup). A plan with G global steps runs as
//!
//! `segment 0 → group 0 [→ merge 0] → segment 1 → … → group G-1 [→ merge G-1] → segment G`
//!
//! - **segment k** (one task per shard, [`crate::task::run_segment`]): reads the shard (the
//!   loader for k = 0, else the rows staged by segment k-1), applies the clusters of global
//!   step k-1 (drop or annotate), runs the map operators, then either extracts the keys of
//!   global step k (key file + staged rows) or, for the last segment, writes the output;
//! - **group k** (one task per partition): reads the partition's section of every shard's key
//!   file, groups duplicates, writes a cluster file (or, for connected groupings, a groups file);
//! - **merge k** (one task, connected groupings only): union–find over all groups files, one
//!   cluster file.
//!
//! Every task is a pure function of (plan, phase, task index) that reads and writes files
//! under `_mdf/global/gKK/` and ends with a done marker, so a task is skipped on resume and any
//! runner (local threads, Ray tasks) can run it. Memory: a segment task holds one shard's keys
//! (28 bytes + payload per key); a group task holds one partition (28 bytes + payload per key,
//! over all shards); a merge task holds about 24 bytes per document that has a duplicate.

use std::path::PathBuf;

use mdf_core::global::{GlobalOperator, Grouping, Keeper};
use mdf_core::{MdfError, Result};
use mdf_dedup::partition::{
    clusters_of_groups, decode_groups, dropped_entries, encode_clusters, encode_groups,
    group_partition, DocUnion, Group, PartitionData,
};

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
}

impl Phase {
    pub fn label(self) -> String {
        match self {
            Phase::Segment(k) => format!("segment {k}"),
            Phase::Group(k) => format!("dedup group {k}"),
            Phase::Merge(k) => format!("dedup merge {k}"),
        }
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
        out.push(Phase::Group(k));
        if build_global(op)?.grouping() == Grouping::Connected {
            out.push(Phase::Merge(k));
        }
    }
    out.push(Phase::Segment(globals.len()));
    Ok(out)
}

/// Number of tasks of a phase.
pub fn task_count(plan: &Plan, phase: Phase) -> Result<usize> {
    Ok(match phase {
        Phase::Segment(_) => plan.shards.len(),
        Phase::Group(k) => partitions(plan, k)?,
        Phase::Merge(_) => 1,
    })
}

fn partitions(plan: &Plan, k: usize) -> Result<usize> {
    let op = global_operators(plan)
        .get(k)
        .copied()
        .ok_or_else(|| MdfError::internal(format!("no global step {k}")))?;
    Ok(build_global(op)?.num_partitions().max(1))
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
        for sub in ["keys", "staged"] {
            let dir = self.root.join(sub);
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(MdfError::io(&dir, e)),
            }
        }
        Ok(())
    }

    pub fn key_file(&self, shard: usize) -> PathBuf {
        self.root.join("keys").join(format!("{shard:06}.bin"))
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

    pub fn cluster_file(&self, index: usize) -> PathBuf {
        self.root.join("clusters").join(format!("{index:04}.bin"))
    }

    /// The cluster files the filter of this step reads.
    pub fn cluster_files(&self, grouping: Grouping, partitions: usize) -> Vec<PathBuf> {
        match grouping {
            Grouping::Disjoint => (0..partitions).map(|p| self.cluster_file(p)).collect(),
            Grouping::Connected => vec![self.cluster_file(0)],
        }
    }

    pub fn done_marker(&self, phase: &str, index: usize) -> PathBuf {
        self.root.join("done").join(format!("{phase}-{index:06}"))
    }
}

/// The done marker of task `index` of `phase`, for phases other than the last segment (whose
/// markers are the run directory's shard markers).
pub fn marker(run_dir: &RunDir, phase: Phase, index: usize) -> PathBuf {
    match phase {
        Phase::Segment(k) => GlobalDir::new(run_dir, k).done_marker("keys", index),
        Phase::Group(k) => GlobalDir::new(run_dir, k).done_marker("group", index),
        Phase::Merge(k) => GlobalDir::new(run_dir, k).done_marker("merge", index),
    }
}

/// Group task `partition` of global step `k`.
pub fn run_group(plan: &Plan, run_dir: &RunDir, k: usize, partition: usize) -> Result<()> {
    let op = global_operators(plan)
        .get(k)
        .copied()
        .ok_or_else(|| MdfError::internal(format!("no global step {k}")))?;
    let mut global = build_global(op)?;
    let dir = GlobalDir::new(run_dir, k);
    let key_files: Vec<PathBuf> = plan.shards.iter().map(|s| dir.key_file(s.index)).collect();
    let data = PartitionData::read(&key_files, partition)?;
    let keep_keys = global.keeper() == Keeper::UnionBySizeRoot;
    let mut groups: Vec<Group> = Vec::new();
    group_partition(global.as_mut(), &data, &mut |docs, key| {
        let key = if keep_keys { key.to_vec() } else { Vec::new() };
        groups.push((docs.to_vec(), key))
    })?;
    drop(data);
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
    }
    write_atomic(&marker(run_dir, Phase::Group(k), partition), b"")
}

/// The merge task of global step `k`.
pub fn run_merge(plan: &Plan, run_dir: &RunDir, k: usize) -> Result<()> {
    let dir = GlobalDir::new(run_dir, k);
    let op = global_operators(plan)
        .get(k)
        .copied()
        .ok_or_else(|| MdfError::internal(format!("no global step {k}")))?;
    let keeper = build_global(op)?.keeper();
    let mut union = DocUnion::default();
    let mut keyed: Vec<Group> = Vec::new();
    for p in 0..partitions(plan, k)? {
        let path = dir.groups_file(p);
        let bytes = std::fs::read(&path).map_err(|e| MdfError::io(&path, e))?;
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
