//! What every runner does around the tasks: prepare the run directory (check the fingerprint of
//! an existing run, write the manifest, find each phase's unfinished tasks), and at the end
//! clean up the global operators' state, merge the shards' stats into `_mdf/stats.json` and the
//! samples into `_mdf/samples.json`. The local runner and the Ray runner (a Python driver,
//! through `mega_data_factory._native`) call these same functions.

use std::collections::BTreeMap;
use std::path::PathBuf;

use mdf_core::stats::{Reservoir, ShardStats};
use mdf_core::{MdfError, OperatorKind, Result};
use serde::Serialize;

use crate::global::{self, Phase};
use crate::plan::Plan;
use crate::progress::ProgressPlan;
use crate::rundir::{write_json_atomic, Manifest, RunDir};

/// What a run returns (and writes as `_mdf/stats.json`).
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    #[serde(flatten)]
    pub stats: ShardStats,
    pub run_dir: PathBuf,
    pub shards_total: usize,
    /// Shards found complete from an earlier run and skipped.
    pub shards_resumed: usize,
    /// `local` or `ray`.
    pub executor: String,
    /// Worker threads (local) or tasks in flight at most (Ray).
    pub workers: usize,
    pub wall_seconds: f64,
    /// Wall seconds of each phase run now (plans with global operators have several).
    pub phase_seconds: BTreeMap<String, f64>,
}

/// One phase and its unfinished tasks.
#[derive(Debug, Clone)]
pub struct PhaseWork {
    pub phase: Phase,
    /// The phase that writes the output (the last segment): its tasks commit shards.
    pub is_last: bool,
    /// Task numbers: positions in `plan.shards` for segment phases, partitions for group
    /// phases, 0 for a merge.
    pub pending: Vec<usize>,
}

/// A run directory ready for tasks.
pub struct PreparedRun {
    pub run_dir: RunDir,
    /// Every phase in order with its unfinished tasks; empty once every shard is committed
    /// (even where the state of earlier phases was cleaned up).
    pub work: Vec<PhaseWork>,
    /// Positions (in `plan.shards`) of the shards without a completion marker, in plan order.
    pub pending: Vec<usize>,
    /// Shards already complete.
    pub resumed: usize,
}

/// Creates (or, with `overwrite`, recreates) the run directory and writes the manifest. An
/// existing run of another config is refused; an existing run of this config is resumed.
pub fn prepare_run(plan: &Plan, overwrite: bool) -> Result<PreparedRun> {
    let run_dir = RunDir::new(plan.writer.output_dir());
    if overwrite {
        run_dir.wipe(&plan.writer.data_dir())?;
    } else if let Some(existing) = run_dir.read_manifest()? {
        if existing.fingerprint != plan.fingerprint {
            return Err(MdfError::config(format!(
                "{} holds a run of a different config or input (fingerprint {} vs {}); \
                 pass --overwrite to replace it, or choose another output_path",
                run_dir.root().display(),
                existing.fingerprint,
                plan.fingerprint
            )));
        }
    }
    run_dir.create()?;
    let config = serde_json::to_value(&plan.config)
        .map_err(|e| MdfError::internal(format!("serialising config: {e}")))?;
    write_json_atomic(
        &run_dir.manifest_path(),
        &Manifest {
            mdf_version: mdf_core::VERSION.to_owned(),
            fingerprint: plan.fingerprint.clone(),
            config,
            shards: plan.shards.clone(),
        },
    )?;
    let pending: Vec<usize> = (0..plan.shards.len())
        .filter(|&i| !run_dir.is_done(plan.shards[i].index))
        .collect();
    let resumed = plan.shards.len() - pending.len();
    let phases = global::phases(plan)?;
    let last = phases.last().copied();
    let mut work = Vec::new();
    if !pending.is_empty() {
        for &phase in &phases {
            let is_last = Some(phase) == last;
            let tasks: Vec<usize> = if is_last {
                pending.clone()
            } else {
                (0..global::task_count(plan, phase)?)
                    .filter(|&i| !global::is_marked(&run_dir, phase, task_key(plan, phase, i)))
                    .collect()
            };
            work.push(PhaseWork {
                phase,
                is_last,
                pending: tasks,
            });
        }
    }
    Ok(PreparedRun {
        run_dir,
        work,
        pending,
        resumed,
    })
}

/// Segment and route tasks are keyed by shard index, group tasks by partition.
fn task_key(plan: &Plan, phase: Phase, task: usize) -> usize {
    if phase.per_shard() {
        plan.shards[task].index
    } else {
        task
    }
}

/// How a run went, for its summary.
pub struct RunFacts {
    pub resumed: usize,
    pub executor: &'static str,
    pub workers: usize,
    pub wall_seconds: f64,
    pub phase_seconds: BTreeMap<String, f64>,
}

/// Throughput charts need no more points than this; longer runs get wider time buckets.
const TIMELINE_MAX_POINTS: usize = 600;

/// Cleans up the global operators' state, merges the stats of every shard of the plan (all must
/// be complete), writes `_mdf/samples.json` and `_mdf/stats.json`.
pub fn finalize_run(plan: &Plan, facts: RunFacts) -> Result<RunSummary> {
    let run_dir = RunDir::new(plan.writer.output_dir());
    let missing: Vec<usize> = plan
        .shards
        .iter()
        .map(|s| s.index)
        .filter(|&i| !run_dir.is_done(i))
        .collect();
    if let Some(first) = missing.first() {
        return Err(MdfError::internal(format!(
            "{} shards of {} are not complete (first: {first}); the run cannot be finalized",
            missing.len(),
            run_dir.root().display()
        )));
    }
    for k in 0..global::global_operators(plan).len() {
        global::GlobalDir::new(&run_dir, k).clean_up()?;
    }
    let mut stats = run_dir.merged_stats(&plan.shards)?;
    add_merge_counters(plan, &run_dir, &mut stats)?;
    stats.timeline.compact(TIMELINE_MAX_POINTS);
    // Samples go to their own file: stats.json stays small and is what `run()` returns.
    write_json_atomic(&run_dir.samples_path(), &RunSamples::take_from(&mut stats))?;
    let summary = RunSummary {
        stats,
        run_dir: run_dir.root().to_path_buf(),
        shards_total: plan.shards.len(),
        shards_resumed: facts.resumed,
        executor: facts.executor.to_owned(),
        workers: facts.workers,
        wall_seconds: facts.wall_seconds,
        phase_seconds: facts.phase_seconds,
    };
    write_json_atomic(&run_dir.stats_path(), &summary)?;
    Ok(summary)
}

/// Adds the counters of each global step's merge phase (run once, not per shard, so they are
/// in no shard's stats) to that operator's stats.
fn add_merge_counters(plan: &Plan, run_dir: &RunDir, stats: &mut ShardStats) -> Result<()> {
    let globals = plan
        .operators()
        .enumerate()
        .filter(|(_, op)| op.kind == OperatorKind::Global);
    for (k, (position, _)) in globals.enumerate() {
        let counters = global::merge_counters(run_dir, k)?;
        if let Some(op) = stats.operators.get_mut(position) {
            for (name, n) in counters {
                *op.counters.entry(name).or_default() += n;
            }
        }
    }
    Ok(())
}

/// `_mdf/samples.json`: the sampled records, kept and removed, for the report.
#[derive(Debug, Serialize)]
struct RunSamples {
    kept: Reservoir,
    operators: Vec<OperatorSamples>,
}

#[derive(Debug, Serialize)]
struct OperatorSamples {
    stage: String,
    name: String,
    /// Reason → sample of the rows dropped or rejected for it.
    samples: BTreeMap<String, Reservoir>,
}

impl RunSamples {
    fn take_from(stats: &mut ShardStats) -> Self {
        RunSamples {
            kept: std::mem::take(&mut stats.kept_samples),
            operators: stats
                .operators
                .iter_mut()
                .map(|op| OperatorSamples {
                    stage: op.stage.clone(),
                    name: op.name.clone(),
                    samples: std::mem::take(&mut op.samples),
                })
                .collect(),
        }
    }
}

/// Input bytes of a shard: its byte range, or the whole file's size (0 when unknown).
pub fn shard_bytes(shard: &mdf_core::io::ShardSpec) -> u64 {
    match shard.end {
        Some(end) => end.saturating_sub(shard.start),
        None => std::fs::metadata(&shard.path).map_or(0, |m| m.len()),
    }
}

/// What the progress reporter (and `_mdf/progress.json`) needs to know about the run.
pub fn progress_plan(plan: &Plan, run_dir: &RunDir) -> ProgressPlan {
    let mut stages: Vec<(String, std::ops::Range<usize>)> = Vec::new();
    for (i, op) in plan.operators().enumerate() {
        match stages.last_mut() {
            Some((name, range)) if *name == op.stage => range.end = i + 1,
            _ => stages.push((op.stage.clone(), i..i + 1)),
        }
    }
    let mut total_bytes = 0;
    let mut skipped_bytes = 0;
    let mut skipped_shards = 0;
    for shard in &plan.shards {
        let bytes = shard_bytes(shard);
        total_bytes += bytes;
        if run_dir.is_done(shard.index) {
            skipped_bytes += bytes;
            skipped_shards += 1;
        }
    }
    ProgressPlan {
        total_shards: plan.shards.len() as u64,
        skipped_shards,
        skipped_bytes,
        total_bytes,
        total_records: plan.config.executor.max_samples,
        stages,
        file: Some(run_dir.progress_path()),
    }
}
