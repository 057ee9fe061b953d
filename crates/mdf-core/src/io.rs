//! Loader and writer traits. The shard is the unit of work, retry and resume: a loader lists
//! shards (a file, or a byte range of one) and opens one shard as a stream of Arrow batches; a
//! writer writes one shard's output to files whose names derive from the shard index only, so
//! a rerun replaces exactly what an interrupted run left behind.

use std::path::Path;

use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// Provenance columns every loader adds: the input file and the record's position in it.
pub const SOURCE_FILE_COLUMN: &str = "_source_file";
/// Byte offset of the record in the uncompressed stream (JSONL) or row index (Parquet).
pub const SOURCE_OFFSET_COLUMN: &str = "_source_offset";

/// One unit of work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardSpec {
    /// Position in the plan; names the shard's output files and markers.
    pub index: usize,
    /// The input file.
    pub path: String,
    /// Byte range `[start, end)` of the file for splittable inputs; records that *start* in the
    /// range belong to the shard.
    #[serde(default)]
    pub start: u64,
    #[serde(default)]
    pub end: Option<u64>,
    /// At most this many records are read (set by the planner for `max_samples`).
    #[serde(default)]
    pub limit: Option<u64>,
}

impl ShardSpec {
    pub fn whole_file(path: impl Into<String>) -> Self {
        ShardSpec {
            index: 0,
            path: path.into(),
            start: 0,
            end: None,
            limit: None,
        }
    }
}

/// A record (or a whole input file) that could not be read, with the reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reject {
    pub source: String,
    /// Byte offset (JSONL) or row index (Parquet) of the bad record, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// Operator that rejected the record (`stage/operator`); absent for loader rejects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// Stable reason code, e.g. `invalid_json`, `truncated_file`, `missing_field`.
    pub reason: String,
    /// Human-readable detail.
    pub detail: String,
    /// The record as far as it could be read: raw text for unparsable input, JSON otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<serde_json::Value>,
}

/// What a shard's stream yields.
#[derive(Debug)]
pub enum SourceItem {
    Batch(RecordBatch),
    Reject(Reject),
}

/// A stream over one shard. `Err` means the shard cannot go on for a reason worth a retry (I/O);
/// corrupt data is reported as [`SourceItem::Reject`] and the stream continues or ends cleanly.
pub trait RecordSource: Send {
    fn next_item(&mut self) -> Result<Option<SourceItem>>;
}

/// An operator a loader asks the planner to run first; see [`Loader::leading_operators`].
#[derive(Debug, Clone, PartialEq)]
pub struct LeadingOperator {
    /// Registry name, e.g. `html_extractor`.
    pub name: String,
    pub params: serde_json::Value,
}

/// The stage name under which the planner runs a loader's [`LeadingOperator`]s.
pub const LOADER_STAGE: &str = "data_loader";

pub trait Loader: Send + Sync {
    /// Lists the shards in a deterministic order (indices are assigned by the planner).
    fn list_shards(&self) -> Result<Vec<ShardSpec>>;

    /// Opens one shard as a stream of batches of at most `batch_size` records.
    fn open(&self, shard: &ShardSpec, batch_size: usize) -> Result<Box<dyn RecordSource>>;

    /// Counts the shard's records, stopping once `up_to` are seen (used to plan `max_samples`).
    fn count_records(&self, shard: &ShardSpec, up_to: u64) -> Result<u64> {
        let mut source = self.open(shard, 8192)?;
        let mut n = 0u64;
        while n < up_to {
            match source.next_item()? {
                Some(SourceItem::Batch(b)) => n += b.num_rows() as u64,
                Some(SourceItem::Reject(_)) => {}
                None => break,
            }
        }
        Ok(n.min(up_to))
    }

    /// Operators the loader's records go through before the config's first stage, as
    /// (registry name, params). They are planned like configured operators (validated before
    /// work, counted in the stats under the stage `data_loader`): e.g. `CommonCrawlLoader`
    /// extracts the text of HTML pages, as the seed's loader did inside itself.
    fn leading_operators(&self) -> Vec<LeadingOperator> {
        Vec::new()
    }
}

pub trait ShardWriter: Send {
    fn write(&mut self, batch: &RecordBatch) -> Result<()>;
    /// Flushes and atomically publishes the shard's files; returns their names.
    fn finish(self: Box<Self>) -> Result<Vec<String>>;
}

pub trait DataWriter: Send + Sync {
    /// The run directory: data files go here, engine state under `_mdf/`.
    fn output_dir(&self) -> &Path;
    /// Where the data files go (the run directory, or a table folder inside it).
    fn data_dir(&self) -> std::path::PathBuf {
        self.output_dir().to_path_buf()
    }
    fn open_shard(&self, shard_index: usize) -> Result<Box<dyn ShardWriter>>;
}

/// Every file a writer makes for shard `index` starts with this prefix (published files) or
/// with `.` + this prefix (files still being written).
pub fn shard_file_prefix(index: usize) -> String {
    format!("part-{index:06}-")
}
