//! What every runner does around the shard tasks: prepare the run directory (check the
//! fingerprint of an existing run, write the manifest, find the shards still to do), and at the
//! end merge the shards' stats into `_mdf/stats.json`. The local runner and the Ray runner (a
//! Python driver, through `mega_data_factory._native`) call these same functions.

use std::path::{Path, PathBuf};

use mdf_core::stats::ShardStats;
use mdf_core::{MdfError, Result};
use serde::Serialize;

use crate::plan::Plan;
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
    /// Worker threads (local) or shard tasks in flight at most (Ray).
    pub workers: usize,
    pub wall_seconds: f64,
}

/// A run directory ready for shard tasks.
pub struct PreparedRun {
    pub run_dir: RunDir,
    /// Indices (into `plan.shards`) of the shards without a completion marker, in plan order.
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
    Ok(PreparedRun {
        run_dir,
        pending,
        resumed,
    })
}

/// How a run went, for its summary.
pub struct RunFacts {
    pub resumed: usize,
    pub executor: &'static str,
    pub workers: usize,
    pub wall_seconds: f64,
}

/// Merges the stats of every shard of the manifest (all must be complete) and writes
/// `_mdf/stats.json`.
pub fn finalize_run(root: &Path, facts: RunFacts) -> Result<RunSummary> {
    let run_dir = RunDir::new(root);
    let manifest = run_dir.read_manifest()?.ok_or_else(|| {
        MdfError::config(format!("{} holds no run (no manifest)", root.display()))
    })?;
    let missing: Vec<usize> = manifest
        .shards
        .iter()
        .map(|s| s.index)
        .filter(|&i| !run_dir.is_done(i))
        .collect();
    if let Some(first) = missing.first() {
        return Err(MdfError::internal(format!(
            "{} shards of {} are not complete (first: {first}); the run cannot be finalized",
            missing.len(),
            root.display()
        )));
    }
    let summary = RunSummary {
        stats: run_dir.merged_stats(&manifest.shards)?,
        run_dir: run_dir.root().to_path_buf(),
        shards_total: manifest.shards.len(),
        shards_resumed: facts.resumed,
        executor: facts.executor.to_owned(),
        workers: facts.workers,
        wall_seconds: facts.wall_seconds,
    };
    write_json_atomic(&run_dir.stats_path(), &summary)?;
    Ok(summary)
}
