//! The run directory. Inside the writer's `output_path`: the data files, and `_mdf/` with
//!
//! - `manifest.json`: resolved config, engine version, plan fingerprint, shard list;
//! - `shards/NNNNNN.json`: per-shard stats; `done/NNNNNN`: completion markers (written last);
//! - `rejects/NNNNNN.jsonl`: records and files rejected, with their reason;
//! - `stats.json`: the merged stats of every completed shard (counts, histograms, timeline);
//! - `samples.json`: a bounded, deterministic sample of kept and removed records, for the report;
//! - `progress.json`: live progress, rewritten every second during a run.
//!
//! A shard commits in this order: data files (each renamed into place), rejects, stats, marker.
//! A shard without a marker is cleared (all its files) and redone, so a run killed at any point
//! and resumed gives exactly the output of an uninterrupted run.
//!
//! The run directory lives wherever `output_path` points: a local directory or an object-store
//! prefix (`s3://bucket/run`). Every file goes through `mdf_io::storage`, whose writes are
//! atomic in both (temporary file + rename, or one PUT / a completed multipart upload).

use std::path::{Path, PathBuf};

use mdf_core::io::{shard_file_prefix, ShardSpec};
use mdf_core::stats::ShardStats;
use mdf_core::{MdfError, Result};
use mdf_io::storage;
use serde::{Deserialize, Serialize};

pub const META_DIR: &str = "_mdf";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub mdf_version: String,
    pub fingerprint: String,
    pub config: serde_json::Value,
    pub shards: Vec<ShardSpec>,
}

#[derive(Debug, Clone)]
pub struct RunDir {
    root: PathBuf,
    meta: PathBuf,
}

impl RunDir {
    pub fn new(root: &Path) -> Self {
        RunDir {
            root: root.to_path_buf(),
            meta: root.join(META_DIR),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `_mdf/`: engine state.
    pub fn meta_dir(&self) -> &Path {
        &self.meta
    }

    pub fn manifest_path(&self) -> PathBuf {
        self.meta.join("manifest.json")
    }

    pub fn stats_path(&self) -> PathBuf {
        self.meta.join("stats.json")
    }

    /// Sampled records (kept and removed) for the report.
    pub fn samples_path(&self) -> PathBuf {
        self.meta.join("samples.json")
    }

    /// Live progress, rewritten every second while a run is going.
    pub fn progress_path(&self) -> PathBuf {
        self.meta.join("progress.json")
    }

    fn shard_stats_path(&self, index: usize) -> PathBuf {
        self.meta.join("shards").join(format!("{index:06}.json"))
    }

    fn done_path(&self, index: usize) -> PathBuf {
        self.meta.join("done").join(format!("{index:06}"))
    }

    pub fn rejects_dir(&self) -> PathBuf {
        self.meta.join("rejects")
    }

    pub fn rejects_path(&self, index: usize) -> PathBuf {
        self.rejects_dir().join(format!("{index:06}.jsonl"))
    }

    pub fn rejects_tmp_path(&self, index: usize) -> PathBuf {
        self.rejects_dir().join(format!(".{index:06}.jsonl.tmp"))
    }

    pub fn create(&self) -> Result<()> {
        for sub in ["shards", "done", "rejects"] {
            storage::create_dir_all(&self.meta.join(sub))?;
        }
        Ok(())
    }

    pub fn read_manifest(&self) -> Result<Option<Manifest>> {
        let path = self.manifest_path();
        match storage::read_opt(&path)? {
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                MdfError::config(format!("{} is not a valid manifest: {e}", path.display()))
            }),
            None => Ok(None),
        }
    }

    /// True when shard `index` committed. A marker that cannot be checked counts as absent
    /// (the shard is redone, which is always safe).
    pub fn is_done(&self, index: usize) -> bool {
        storage::exists(&self.done_path(index)).unwrap_or(false)
    }

    /// Removes everything an unfinished attempt at shard `index` may have left.
    pub fn clear_shard(&self, index: usize, data_dir: &Path) -> Result<()> {
        let prefix = shard_file_prefix(index);
        for name in storage::list_file_names_with_prefix(data_dir, &prefix)? {
            storage::remove_file_if_exists(&data_dir.join(name))?;
        }
        for path in [
            self.rejects_path(index),
            self.rejects_tmp_path(index),
            self.shard_stats_path(index),
            tmp_sibling(&self.shard_stats_path(index)),
            tmp_sibling(&self.done_path(index)),
        ] {
            remove_file_if_exists(&path)?;
        }
        Ok(())
    }

    /// Publishes the shard's stats, then its marker.
    pub fn commit_shard(&self, index: usize, stats: &ShardStats) -> Result<()> {
        write_json_atomic(&self.shard_stats_path(index), stats)?;
        write_atomic(&self.done_path(index), b"")
    }

    pub fn shard_stats(&self, index: usize) -> Result<ShardStats> {
        let path = self.shard_stats_path(index);
        let bytes = storage::read(&path)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| MdfError::internal(format!("{}: {e}", path.display())))
    }

    /// Sum of the stats of every completed shard, in shard order.
    pub fn merged_stats(&self, shards: &[ShardSpec]) -> Result<ShardStats> {
        let mut total = ShardStats::default();
        for shard in shards.iter().filter(|s| self.is_done(s.index)) {
            total.merge(&self.shard_stats(shard.index)?);
        }
        Ok(total)
    }

    /// `--overwrite`: removes the engine state, every shard data file and the previous run's
    /// `report.html` (nothing else), so no file from the old run can pass for the new one's.
    pub fn wipe(&self, data_dir: &Path) -> Result<()> {
        for name in storage::list_file_names_with_prefix(data_dir, "part-")? {
            storage::remove_file_if_exists(&data_dir.join(name))?;
        }
        storage::remove_file_if_exists(&data_dir.join("report.html"))?;
        storage::remove_dir_all(&self.meta)
    }
}

fn remove_file_if_exists(path: &Path) -> Result<()> {
    storage::remove_file_if_exists(path)
}

/// The temporary file `write_atomic` writes before renaming it to `path`.
fn tmp_sibling(path: &Path) -> PathBuf {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    dir.join(format!(".{name}.tmp"))
}

/// Writes `bytes` atomically (a temporary sibling renamed into place, or one object PUT).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    storage::write_atomic(path, bytes)
}

pub fn write_json_atomic(path: &Path, value: &impl Serialize) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| MdfError::internal(format!("serialising {}: {e}", path.display())))?;
    write_atomic(path, &bytes)
}
