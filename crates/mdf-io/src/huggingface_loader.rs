//! `HuggingFaceLoader`: a Hugging Face dataset, one shard per data file, streamed.
//!
//! Reproduces the seed's `HuggingFaceLoader` (`dataset_name`, `split`, `streaming`) and goes
//! further. `dataset_name` is resolved, at plan time, in this order (see `hf_resolve`):
//!
//! 1. a local directory: a `Dataset.save_to_disk` / `DatasetDict.save_to_disk` folder (Arrow
//!    IPC stream files listed in `state.json`), or any folder of `.parquet` / `.arrow` files;
//! 2. the Hugging Face cache (`~/.cache/huggingface/hub/datasets--org--name/snapshots/REV/`);
//! 3. the hub (`HF_ENDPOINT`, default `https://huggingface.co`, token from `HF_TOKEN`): the
//!    hub's Parquet conversion of the split (`/api/datasets/{name}/parquet/{config}/{split}`)
//!    when `revision` is `main` and no `data_files` are given, else the repository's files at
//!    `revision` (`/api/datasets/{name}/tree/{revision}`).
//!
//! Files are read where they are: hub files are streamed with ranged HTTPS reads (the Parquet
//! footer, then the column chunks), never downloaded whole first. Differences from the seed:
//! the seed ignored `split` and read only `.parquet/.arrow/.csv/.jsonl` under `data/` whole into
//! memory; here `split` selects files (as the `datasets` package does), CSV and JSONL are not
//! read (use `JsonlLoader` on such repos), and every record carries `_source_file` and
//! `_source_offset` like the other loaders.

use mdf_core::io::{Loader, RecordSource, ShardSpec};
use mdf_core::{Component, MdfError, OperatorKind, Params, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::io::BufReader;
use std::sync::OnceLock;

use crate::hf_resolve::{resolve_files, DatasetRef};
use crate::jsonl_loader::{check_id_field, default_id_field};
use crate::parquet_loader::{reject, ParquetLoader, ParquetLoaderParams, ParquetSource};
use crate::paths::PathList;
use crate::provenance::{OutputSchema, SourceName};
use crate::storage::InputFile;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HuggingFaceLoaderParams {
    /// A hub dataset id (`org/name`), a local folder of `.parquet` / `.arrow` files, or a
    /// `save_to_disk` folder. Required.
    pub dataset_name: String,
    /// The split to read. Default: `train`.
    #[serde(default = "default_split")]
    pub split: String,
    /// Accepted for seed configs. Reading always streams (hub files are read with ranged
    /// requests, never downloaded whole), whatever the value. Default: true.
    #[serde(default = "default_streaming")]
    pub streaming: bool,
    /// The dataset config (subset) for the hub's Parquet conversion, or a folder name that
    /// selects files. Default: unset (`default`).
    #[serde(default)]
    pub config_name: Option<String>,
    /// Branch, tag or commit of the hub repository (and of the cache snapshot). Default: `main`.
    #[serde(default = "default_revision")]
    pub revision: String,
    /// Glob patterns, relative to the dataset root, of the files to read instead of the split's
    /// files (e.g. `data/train-0000*.parquet`). Default: unset.
    #[serde(default)]
    pub data_files: Option<PathList>,
    /// Read only these top-level columns. Default: all columns.
    #[serde(default)]
    pub columns: Option<Vec<String>>,
    /// The column holding the record id; generated as `"{file name}:{row}"` when absent.
    /// Default: `"id"`.
    #[serde(default = "default_id_field")]
    pub id_field: String,
}

fn default_split() -> String {
    "train".into()
}

fn default_streaming() -> bool {
    true
}

fn default_revision() -> String {
    "main".into()
}

impl Params for HuggingFaceLoaderParams {
    fn check(&self) -> std::result::Result<(), String> {
        if self.dataset_name.trim().is_empty() {
            return Err("`dataset_name` must not be empty".into());
        }
        if self.split.trim().is_empty() || self.split.contains('/') {
            return Err(format!(
                "`split` must be a split name, got `{}`",
                self.split
            ));
        }
        if self.revision.trim().is_empty() {
            return Err("`revision` must not be empty".into());
        }
        if let Some(files) = &self.data_files {
            files.check()?;
        }
        if self.columns.as_ref().is_some_and(Vec::is_empty) {
            return Err("`columns` must list at least one column (omit it to read all)".into());
        }
        check_id_field(&self.id_field)
    }
}

/// Reads a Hugging Face dataset; see the module docs.
pub struct HuggingFaceLoader {
    params: HuggingFaceLoaderParams,
    /// Reads the Parquet files (same projection, ids and rejects as `ParquetLoader`).
    parquet: ParquetLoader,
    files: OnceLock<Vec<String>>,
}

impl Component for HuggingFaceLoader {
    type Built = dyn Loader;
    type Params = HuggingFaceLoaderParams;
    const NAME: &'static str = "HuggingFaceLoader";
    const KIND: OperatorKind = OperatorKind::Loader;
    const SUMMARY: &'static str =
        "A Hugging Face dataset (hub, cache, save_to_disk or local folder), \
         one shard per Parquet/Arrow file, streamed with ranged reads";

    fn build(params: HuggingFaceLoaderParams) -> Result<Box<dyn Loader>> {
        params.check().map_err(MdfError::config)?;
        Ok(Box::new(HuggingFaceLoader::new(params)))
    }
}

impl HuggingFaceLoader {
    pub fn new(params: HuggingFaceLoaderParams) -> Self {
        let parquet = ParquetLoader::new(ParquetLoaderParams {
            paths: PathList::Many(Vec::new()),
            columns: params.columns.clone(),
            id_field: params.id_field.clone(),
        });
        HuggingFaceLoader {
            params,
            parquet,
            files: OnceLock::new(),
        }
    }

    /// The resolved data files (resolved once).
    pub fn files(&self) -> Result<&[String]> {
        if let Some(files) = self.files.get() {
            return Ok(files);
        }
        let p = &self.params;
        let files = resolve_files(&DatasetRef {
            name: &p.dataset_name,
            split: &p.split,
            config: p.config_name.as_deref(),
            revision: &p.revision,
            data_files: p.data_files.as_ref().map(PathList::as_slice),
        })?;
        Ok(self.files.get_or_init(|| files))
    }

    fn open_arrow(&self, shard: &ShardSpec, batch_size: usize) -> Result<Box<dyn RecordSource>> {
        let path = shard.path.as_str();
        let mut source = ParquetSource {
            reader: None,
            schema: OutputSchema::new(&Default::default(), &self.params.id_field),
            source: SourceName::new(path),
            next_row: 0,
            remaining: shard.limit,
            pending: VecDeque::new(),
        };
        let file = BufReader::with_capacity(1 << 20, InputFile::open(path)?);
        let opened = arrow::ipc::reader::StreamReader::try_new(file, None).and_then(|reader| {
            let projection = match &self.params.columns {
                None => None,
                Some(columns) => {
                    let schema = reader.schema();
                    let indices: std::result::Result<Vec<usize>, _> =
                        columns.iter().map(|name| schema.index_of(name)).collect();
                    Some(indices?)
                }
            };
            Rebatch::new(reader, batch_size.max(1), projection)
        });
        match opened {
            Ok(reader) => {
                source.schema = OutputSchema::new(reader.schema.fields(), &self.params.id_field);
                source.reader = Some(Box::new(reader));
            }
            Err(e) => {
                let r = reject(path, None, "corrupt_file", e.to_string());
                source
                    .pending
                    .push_back(mdf_core::io::SourceItem::Reject(r));
            }
        }
        Ok(Box::new(source))
    }
}

fn is_arrow(path: &str) -> bool {
    path.to_ascii_lowercase().ends_with(".arrow")
}

impl Loader for HuggingFaceLoader {
    fn list_shards(&self) -> Result<Vec<ShardSpec>> {
        Ok(self
            .files()?
            .iter()
            .enumerate()
            .map(|(index, path)| ShardSpec {
                index,
                ..ShardSpec::whole_file(path.as_str())
            })
            .collect())
    }

    fn open(&self, shard: &ShardSpec, batch_size: usize) -> Result<Box<dyn RecordSource>> {
        if is_arrow(&shard.path) {
            self.open_arrow(shard, batch_size)
        } else {
            self.parquet.open(shard, batch_size)
        }
    }

    fn count_records(&self, shard: &ShardSpec, up_to: u64) -> Result<u64> {
        if is_arrow(&shard.path) {
            let mut source = self.open(shard, 8192)?;
            let mut n = 0u64;
            while n < up_to {
                match source.next_item()? {
                    Some(mdf_core::io::SourceItem::Batch(b)) => n += b.num_rows() as u64,
                    Some(_) => {}
                    None => break,
                }
            }
            Ok(n.min(up_to))
        } else {
            self.parquet.count_records(shard, up_to)
        }
    }
}

/// Arrow IPC files store record batches of whatever size they were written with (1000 rows in
/// `datasets`); this re-slices them to the engine's batch size and projects `columns`.
struct Rebatch<R> {
    inner: R,
    batch_size: usize,
    projection: Option<Vec<usize>>,
    schema: arrow::datatypes::SchemaRef,
    current: Option<arrow::record_batch::RecordBatch>,
    offset: usize,
}

impl<R: arrow::record_batch::RecordBatchReader> Rebatch<R> {
    fn new(
        inner: R,
        batch_size: usize,
        projection: Option<Vec<usize>>,
    ) -> std::result::Result<Self, arrow::error::ArrowError> {
        let schema = match &projection {
            Some(indices) => std::sync::Arc::new(inner.schema().project(indices)?),
            None => inner.schema(),
        };
        Ok(Rebatch {
            inner,
            batch_size,
            projection,
            schema,
            current: None,
            offset: 0,
        })
    }
}

impl<R: arrow::record_batch::RecordBatchReader> Iterator for Rebatch<R> {
    type Item = std::result::Result<arrow::record_batch::RecordBatch, arrow::error::ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(batch) = &self.current {
                if self.offset < batch.num_rows() {
                    let n = self.batch_size.min(batch.num_rows() - self.offset);
                    let out = batch.slice(self.offset, n);
                    self.offset += n;
                    return Some(Ok(out));
                }
            }
            let batch = match (self.inner.next()?, &self.projection) {
                (Ok(batch), Some(indices)) => batch.project(indices),
                (other, _) => other,
            };
            match batch {
                Ok(batch) => {
                    self.current = Some(batch);
                    self.offset = 0;
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

impl<R: arrow::record_batch::RecordBatchReader> arrow::record_batch::RecordBatchReader
    for Rebatch<R>
{
    fn schema(&self) -> arrow::datatypes::SchemaRef {
        self.schema.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, AsArray, Int64Array, StringArray};
    use arrow::datatypes::Int64Type;
    use arrow::record_batch::RecordBatch;
    use mdf_core::io::SourceItem;
    use std::sync::Arc;

    fn batch(start: i64, n: i64) -> RecordBatch {
        let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(start..start + n));
        let text: ArrayRef = Arc::new(StringArray::from_iter_values(
            (start..start + n).map(|i| format!("t{i}")),
        ));
        RecordBatch::try_from_iter([("n", ids), ("text", text)]).unwrap()
    }

    fn params(name: &str) -> HuggingFaceLoaderParams {
        serde_json::from_value(serde_json::json!({ "dataset_name": name })).unwrap()
    }

    fn read_all(loader: &HuggingFaceLoader) -> Vec<i64> {
        let mut out = Vec::new();
        for shard in loader.list_shards().unwrap() {
            let mut src = loader.open(&shard, 7).unwrap();
            while let Some(item) = src.next_item().unwrap() {
                let SourceItem::Batch(b) = item else {
                    panic!("{item:?}")
                };
                assert!(b.num_rows() <= 7);
                assert!(b.column_by_name("_source_file").is_some());
                let n = b.column_by_name("n").unwrap().as_primitive::<Int64Type>();
                out.extend(n.values().iter().copied());
            }
        }
        out
    }

    #[test]
    fn reads_a_save_to_disk_folder_of_arrow_stream_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("saved");
        std::fs::create_dir_all(&dir).unwrap();
        for (i, name) in ["data-00000-of-00002.arrow", "data-00001-of-00002.arrow"]
            .iter()
            .enumerate()
        {
            let file = std::fs::File::create(dir.join(name)).unwrap();
            let b = batch(i as i64 * 20, 20);
            let mut w = arrow::ipc::writer::StreamWriter::try_new(file, &b.schema()).unwrap();
            w.write(&b).unwrap();
            w.finish().unwrap();
        }
        std::fs::write(
            dir.join("state.json"),
            r#"{"_data_files": [{"filename": "data-00000-of-00002.arrow"},
                {"filename": "data-00001-of-00002.arrow"}], "_split": "train"}"#,
        )
        .unwrap();
        std::fs::write(dir.join("dataset_info.json"), "{}").unwrap();
        let loader = HuggingFaceLoader::new(params(dir.to_str().unwrap()));
        assert_eq!(read_all(&loader), (0..40).collect::<Vec<_>>());
        let shard = &loader.list_shards().unwrap()[1];
        assert_eq!(loader.count_records(shard, 5).unwrap(), 5);
    }

    #[test]
    fn a_missing_local_or_hub_dataset_is_a_config_error() {
        let p = params("/no/such/dir/at/all");
        let err = HuggingFaceLoader::new(p).list_shards().unwrap_err();
        assert!(matches!(err, MdfError::Config(_)), "{err}");
        assert!(HuggingFaceLoaderParams {
            split: "a/b".into(),
            ..params("x")
        }
        .check()
        .is_err());
    }
}
