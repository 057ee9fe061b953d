//! `ParquetLoader`: Parquet files as Arrow batches, one shard per file, streamed row group by
//! row group. Each shard yields its own file's schema (files of one dataset may differ), plus
//! `_source_file`, `_source_offset` (the row index in the file) and a generated id when the
//! file has no id column. A file that cannot be decoded is a reject, not an error: what was read
//! before the damage is kept.

use std::collections::VecDeque;

use arrow::datatypes::Fields;
use arrow::record_batch::RecordBatchReader;
use mdf_core::io::{Loader, RecordSource, Reject, ShardSpec, SourceItem};
use mdf_core::{Component, OperatorKind, Params, Result};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::jsonl_loader::{check_id_field, default_id_field};
use crate::paths::{expand_paths, PathList};
use crate::provenance::{OutputSchema, SourceName};
use crate::storage::InputFile;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ParquetLoaderParams {
    /// Input files, directories (searched recursively for `.parquet` files) or glob patterns:
    /// one string or a list. Required.
    pub paths: PathList,
    /// Read only these top-level columns (they keep the file's column order). Default: all
    /// columns.
    #[serde(default)]
    pub columns: Option<Vec<String>>,
    /// The column holding the record id; when the file has no such column, one is generated as
    /// `"{file name}:{row index}"`. Default: `"id"`.
    #[serde(default = "default_id_field")]
    pub id_field: String,
}

impl Params for ParquetLoaderParams {
    fn check(&self) -> std::result::Result<(), String> {
        self.paths.check()?;
        if self.columns.as_ref().is_some_and(Vec::is_empty) {
            return Err("`columns` must list at least one column (omit it to read all)".into());
        }
        check_id_field(&self.id_field)
    }
}

/// Reads Parquet files; see the module docs.
pub struct ParquetLoader {
    params: ParquetLoaderParams,
}

impl Component for ParquetLoader {
    type Built = dyn Loader;
    type Params = ParquetLoaderParams;
    const NAME: &'static str = "ParquetLoader";
    const KIND: OperatorKind = OperatorKind::Loader;
    const SUMMARY: &'static str =
        "Parquet files, one shard per file, with optional column projection";

    fn build(params: ParquetLoaderParams) -> Result<Box<dyn Loader>> {
        Ok(Box::new(ParquetLoader::new(params)))
    }
}

/// A file opened for reading, or the reject that says why it cannot be.
enum Opened {
    Reader(ParquetRecordBatchReaderBuilder<InputFile>),
    Reject(Reject),
}

impl ParquetLoader {
    pub fn new(params: ParquetLoaderParams) -> Self {
        ParquetLoader { params }
    }

    fn open_file(&self, path: &str) -> Result<Opened> {
        let file = InputFile::open(path)?;
        let size = file.len();
        if size == 0 {
            return Ok(Opened::Reject(reject(
                path,
                None,
                "empty_file",
                "the file is empty".into(),
            )));
        }
        let builder = match ParquetRecordBatchReaderBuilder::try_new(file) {
            Ok(b) => b,
            Err(e) => {
                return Ok(Opened::Reject(reject(
                    path,
                    None,
                    "corrupt_file",
                    e.to_string(),
                )))
            }
        };
        let Some(columns) = &self.params.columns else {
            return Ok(Opened::Reader(builder));
        };
        let fields = builder.schema().fields();
        let mut roots = Vec::with_capacity(columns.len());
        for name in columns {
            match fields.find(name) {
                Some((i, _)) => roots.push(i),
                None => {
                    let detail = format!("no column `{name}`; the file has {}", names(fields));
                    return Ok(Opened::Reject(reject(path, None, "missing_column", detail)));
                }
            }
        }
        let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
        Ok(Opened::Reader(builder.with_projection(mask)))
    }
}

impl Loader for ParquetLoader {
    fn list_shards(&self) -> Result<Vec<ShardSpec>> {
        let files = expand_paths(self.params.paths.as_slice(), &["parquet"])?;
        Ok(files
            .into_iter()
            .enumerate()
            .map(|(index, path)| ShardSpec {
                index,
                ..ShardSpec::whole_file(path)
            })
            .collect())
    }

    fn open(&self, shard: &ShardSpec, batch_size: usize) -> Result<Box<dyn RecordSource>> {
        let path = shard.path.as_str();
        let mut source = ParquetSource {
            reader: None,
            schema: OutputSchema::new(&Fields::empty(), &self.params.id_field),
            source: SourceName::new(path),
            next_row: 0,
            remaining: shard.limit,
            pending: VecDeque::new(),
        };
        let mut builder = match self.open_file(path)? {
            Opened::Reader(b) => b.with_batch_size(batch_size.max(1)),
            Opened::Reject(r) => {
                source.pending.push_back(SourceItem::Reject(r));
                return Ok(Box::new(source));
            }
        };
        if let Some(limit) = shard.limit {
            builder = builder.with_limit(usize::try_from(limit).unwrap_or(usize::MAX));
        }
        match builder.build() {
            Ok(reader) => {
                source.schema = OutputSchema::new(reader.schema().fields(), &self.params.id_field);
                source.reader = Some(Box::new(reader));
            }
            Err(e) => {
                let r = reject(path, None, "corrupt_file", e.to_string());
                source.pending.push_back(SourceItem::Reject(r));
            }
        }
        Ok(Box::new(source))
    }

    /// Reads the row count from the footer instead of decoding the file.
    fn count_records(&self, shard: &ShardSpec, up_to: u64) -> Result<u64> {
        Ok(match self.open_file(&shard.path)? {
            Opened::Reader(b) => {
                let rows = u64::try_from(b.metadata().file_metadata().num_rows()).unwrap_or(0);
                rows.min(up_to).min(shard.limit.unwrap_or(u64::MAX))
            }
            Opened::Reject(_) => 0,
        })
    }
}

fn names(fields: &Fields) -> String {
    let names: Vec<&str> = fields.iter().map(|f| f.name().as_str()).collect();
    names.join(", ")
}

pub(crate) fn reject(path: &str, offset: Option<u64>, reason: &str, detail: String) -> Reject {
    Reject {
        source: path.to_owned(),
        offset,
        operator: None,
        reason: reason.to_owned(),
        detail,
        record: None,
    }
}

/// Batches of one file (Parquet here; the Hugging Face loader also streams Arrow IPC files
/// through it) with provenance columns, a record limit and a reject when decoding fails.
pub(crate) struct ParquetSource {
    /// `None` once the file is exhausted or failed.
    pub reader: Option<Box<dyn RecordBatchReader + Send>>,
    pub schema: OutputSchema,
    pub source: SourceName,
    /// Row index in the file of the next row.
    pub next_row: u64,
    pub remaining: Option<u64>,
    pub pending: VecDeque<SourceItem>,
}

impl RecordSource for ParquetSource {
    fn next_item(&mut self) -> Result<Option<SourceItem>> {
        if let Some(item) = self.pending.pop_front() {
            return Ok(Some(item));
        }
        let Some(reader) = self.reader.as_mut() else {
            return Ok(None);
        };
        if self.remaining == Some(0) {
            self.reader = None;
            return Ok(None);
        }
        match reader.next() {
            None => {
                self.reader = None;
                Ok(None)
            }
            Some(Err(e)) => {
                self.reader = None;
                let r = reject(
                    &self.source.path,
                    Some(self.next_row),
                    "corrupt_file",
                    e.to_string(),
                );
                Ok(Some(SourceItem::Reject(r)))
            }
            Some(Ok(mut batch)) => {
                if let Some(remaining) = self.remaining.as_mut() {
                    let n = (batch.num_rows() as u64).min(*remaining);
                    batch = batch.slice(0, n as usize);
                    *remaining -= n;
                }
                let n = batch.num_rows() as u64;
                let offsets: Vec<u64> = (self.next_row..self.next_row + n).collect();
                self.next_row += n;
                let columns = self.schema.kept_columns(&batch);
                let batch = self.schema.assemble(columns, &self.source, &offsets)?;
                Ok(Some(SourceItem::Batch(batch)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parquet_writer::{ParquetDataWriter, ParquetWriterParams};
    use arrow::array::{ArrayRef, AsArray, Int64Array, StringArray};
    use arrow::datatypes::{Int64Type, UInt64Type};
    use arrow::record_batch::RecordBatch;
    use mdf_core::io::DataWriter;
    use std::fs;
    use std::path::Path;
    use std::sync::Arc;

    fn batch(start: i64, n: i64) -> RecordBatch {
        let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(start..start + n));
        let text: ArrayRef = Arc::new(StringArray::from_iter_values(
            (start..start + n).map(|i| format!("text {i}")),
        ));
        RecordBatch::try_from_iter([("n", ids), ("text", text)]).unwrap()
    }

    /// Writes `batches` with the Parquet writer (small row groups) and returns the file path.
    fn write(dir: &Path, batches: &[RecordBatch]) -> String {
        let mut p: ParquetWriterParams =
            serde_json::from_value(serde_json::json!({ "output_path": dir })).unwrap();
        p.row_group_size = 10;
        let writer = ParquetDataWriter::new(p).unwrap();
        let mut shard = writer.open_shard(0).unwrap();
        for b in batches {
            shard.write(b).unwrap();
        }
        let files = shard.finish().unwrap();
        dir.join(&files[0]).to_str().unwrap().to_owned()
    }

    fn loader(paths: &[&str], columns: Option<Vec<&str>>) -> ParquetLoader {
        ParquetLoader::new(ParquetLoaderParams {
            paths: PathList::Many(paths.iter().map(|p| p.to_string()).collect()),
            columns: columns.map(|c| c.into_iter().map(str::to_owned).collect()),
            id_field: "id".into(),
        })
    }

    fn read(
        loader: &ParquetLoader,
        shard: &ShardSpec,
        batch_size: usize,
    ) -> (Vec<RecordBatch>, Vec<Reject>) {
        let mut source = loader.open(shard, batch_size).unwrap();
        let (mut batches, mut rejects) = (Vec::new(), Vec::new());
        while let Some(item) = source.next_item().unwrap() {
            match item {
                SourceItem::Batch(b) => batches.push(b),
                SourceItem::Reject(r) => rejects.push(r),
            }
        }
        (batches, rejects)
    }

    fn column_i64(batches: &[RecordBatch], name: &str) -> Vec<i64> {
        batches
            .iter()
            .flat_map(|b| {
                b.column_by_name(name)
                    .unwrap()
                    .as_primitive::<Int64Type>()
                    .values()
                    .to_vec()
            })
            .collect()
    }

    #[test]
    fn reads_writer_output_with_provenance_projection_and_limit() {
        let tmp = tempfile::tempdir().unwrap();
        let path = write(tmp.path(), &[batch(0, 25), batch(25, 20)]);
        let loader = loader(&[tmp.path().to_str().unwrap()], None);
        let shards = loader.list_shards().unwrap();
        assert_eq!(shards, vec![ShardSpec::whole_file(path.as_str())]);

        let (batches, rejects) = read(&loader, &shards[0], 8);
        assert!(rejects.is_empty());
        assert_eq!(column_i64(&batches, "n"), (0..45).collect::<Vec<_>>());
        let last = batches.last().unwrap();
        let off = last
            .column_by_name("_source_offset")
            .unwrap()
            .as_primitive::<UInt64Type>();
        assert_eq!(off.value(last.num_rows() - 1), 44);
        let id = last.column_by_name("id").unwrap().as_string::<i32>();
        assert_eq!(id.value(last.num_rows() - 1), "part-000000-0000.parquet:44");
        let file = last
            .column_by_name("_source_file")
            .unwrap()
            .as_string::<i32>();
        assert_eq!(file.value(0), path);

        let projected = super::tests::loader(&[&path], Some(vec!["text"]));
        let mut spec = shards[0].clone();
        spec.limit = Some(13);
        let (batches, _) = read(&projected, &spec, 5);
        let schema = batches[0].schema();
        let names: Vec<_> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["text", "_source_file", "_source_offset", "id"]);
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 13);
        assert_eq!(projected.count_records(&spec, 100).unwrap(), 13);
        assert_eq!(loader.count_records(&shards[0], 100).unwrap(), 45);

        let missing = super::tests::loader(&[&path], Some(vec!["nope"]));
        let (batches, rejects) = read(&missing, &shards[0], 5);
        assert!(batches.is_empty());
        assert_eq!(rejects[0].reason, "missing_column");
    }

    #[test]
    fn rereading_output_replaces_provenance() {
        let tmp = tempfile::tempdir().unwrap();
        let first = write(&tmp.path().join("a"), &[batch(0, 5)]);
        let loader1 = loader(&[&first], None);
        let (batches, _) = read(&loader1, &ShardSpec::whole_file(first.as_str()), 100);
        let second = write(&tmp.path().join("b"), &batches);
        let loader2 = loader(&[&second], None);
        let (batches, _) = read(&loader2, &ShardSpec::whole_file(second.as_str()), 100);
        let schema = batches[0].schema();
        let names: Vec<_> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        // The id written by the first read is kept; provenance points at the second file.
        assert_eq!(names, ["n", "text", "id", "_source_file", "_source_offset"]);
        let file = batches[0]
            .column_by_name("_source_file")
            .unwrap()
            .as_string::<i32>();
        assert_eq!(file.value(0), second);
    }

    #[test]
    fn bad_files_are_rejects() {
        let tmp = tempfile::tempdir().unwrap();
        let empty = tmp.path().join("empty.parquet");
        let garbage = tmp.path().join("garbage.parquet");
        fs::write(&empty, b"").unwrap();
        fs::write(&garbage, b"PAR1 this is not a parquet file at all PAR1").unwrap();
        let good = write(&tmp.path().join("good"), &[batch(0, 100)]);
        let truncated = tmp.path().join("truncated.parquet");
        let bytes = fs::read(&good).unwrap();
        fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();

        // Corrupt the pages of row group 5 in place, keeping the footer: decoding fails
        // mid-file, after the 50 rows of row groups 0 to 4.
        let damaged = tmp.path().join("damaged.parquet");
        let meta = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&good).unwrap())
            .unwrap()
            .metadata()
            .clone();
        let (start, len) = meta.row_group(5).column(0).byte_range();
        let mut bytes = bytes.clone();
        for b in &mut bytes[start as usize..(start + len) as usize] {
            *b = 0xFF;
        }
        fs::write(&damaged, &bytes).unwrap();

        let loader = loader(&[tmp.path().to_str().unwrap()], None);
        let reason = |p: &Path| {
            let (_, rejects) = read(&loader, &ShardSpec::whole_file(p.to_str().unwrap()), 10);
            rejects.iter().map(|r| r.reason.clone()).collect::<Vec<_>>()
        };
        assert_eq!(reason(&empty), ["empty_file"]);
        assert_eq!(reason(&garbage), ["corrupt_file"]);
        assert_eq!(reason(&truncated), ["corrupt_file"]);
        let (batches, rejects) = read(
            &loader,
            &ShardSpec::whole_file(damaged.to_str().unwrap()),
            10,
        );
        assert_eq!(
            rejects.len(),
            1,
            "{rejects:?} after {} batches",
            batches.len()
        );
        assert_eq!(rejects[0].reason, "corrupt_file");
        let read_rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        assert_eq!(read_rows, 50);
        assert_eq!(rejects[0].offset, Some(read_rows as u64));
        assert_eq!(
            column_i64(&batches, "n"),
            (0..read_rows as i64).collect::<Vec<_>>()
        );

        let gone = ShardSpec::whole_file(tmp.path().join("gone.parquet").to_str().unwrap());
        assert!(matches!(
            loader.open(&gone, 10).err().unwrap(),
            mdf_core::MdfError::Io { .. }
        ));
    }

    #[test]
    fn params_are_checked() {
        let p: ParquetLoaderParams =
            serde_json::from_value(serde_json::json!({ "paths": ["a"] })).unwrap();
        assert_eq!((p.columns.as_ref(), p.id_field.as_str()), (None, "id"));
        assert!(p.check().is_ok());
        let p: ParquetLoaderParams =
            serde_json::from_value(serde_json::json!({ "paths": "a", "columns": [] })).unwrap();
        assert!(p.check().is_err());
        assert!(serde_json::from_value::<ParquetLoaderParams>(
            serde_json::json!({ "paths": "a", "x": 1 })
        )
        .is_err());
    }
}
