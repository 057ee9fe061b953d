//! `JsonlLoader`: JSON Lines files (plain, `.gz`, `.zst`) as Arrow batches.
//!
//! Shards: a compressed file is one shard; a plain file larger than `shard_size_mb` is split at
//! arbitrary byte positions, and a line belongs to the shard in which its first byte lies, so
//! shards partition the records exactly without a pre-scan.
//!
//! The schema is inferred once from the first valid lines of the first files in sorted order, so
//! every worker infers the same one. Decoding feeds a whole batch of lines to Arrow's JSON
//! decoder where the line reader read them (no copy: the reader keeps a batch's lines in place);
//! only when that fails is the batch decoded line by line to find the bad lines, which become
//! rejects (`invalid_json`, `schema_mismatch`) while the good ones are kept in order.

use std::collections::VecDeque;
use std::io::{Seek, SeekFrom};
use std::ops::Range;
use std::sync::{Arc, OnceLock};

use arrow::datatypes::{DataType, Field, FieldRef, Fields, SchemaRef};
use arrow::json::reader::{infer_json_schema_from_iterator, Decoder};
use arrow::json::ReaderBuilder;
use mdf_core::io::{Loader, RecordSource, Reject, ShardSpec, SourceItem};
use mdf_core::{Component, MdfError, OperatorKind, Params, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::codec::{self, Codec, TrackedReader};
use crate::lines::LineReader;
use crate::paths::{expand_paths, PathList};
use crate::provenance::{OutputSchema, SourceName};
use crate::storage::{self, InputFile};

/// File name endings a directory walk picks up.
pub const JSONL_EXTENSIONS: &[&str] = &[
    "jsonl",
    "json",
    "ndjson",
    "jsonl.gz",
    "json.gz",
    "ndjson.gz",
    "jsonl.zst",
    "json.zst",
    "ndjson.zst",
];

/// A rejected line's raw text is kept up to this many characters.
const MAX_REJECT_CHARS: usize = 10_000;

/// A batch ends early once it has passed over this many bytes of blank lines: its lines stay in
/// the line reader's buffer until it is decoded, and blank lines count for no record, so
/// without a bound a run of them would grow the buffer without end.
const MAX_BLANK_BYTES_PER_BATCH: usize = 8 << 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonlLoaderParams {
    /// Input files, directories (searched recursively for `.jsonl`, `.json` and `.ndjson` files,
    /// optionally compressed as `.gz` or `.zst`) or glob patterns: one string or a list.
    /// Required.
    pub paths: PathList,
    /// How many valid JSON lines, taken from the first files in sorted order, the schema is
    /// inferred from. Default: 1000.
    #[serde(default = "default_infer_rows")]
    pub infer_rows: usize,
    /// Uncompressed files larger than this many MiB (fractions allowed) are split into
    /// byte-range shards read in parallel. Default: 128.
    #[serde(default = "default_shard_size_mb")]
    pub shard_size_mb: f64,
    /// The column holding the record id; when the data has no such column, one is generated as
    /// `"{file name}:{byte offset}"`. Default: `"id"`.
    #[serde(default = "default_id_field")]
    pub id_field: String,
}

fn default_infer_rows() -> usize {
    1000
}

fn default_shard_size_mb() -> f64 {
    128.0
}

pub(crate) fn default_id_field() -> String {
    mdf_core::batch::ID.to_owned()
}

impl Params for JsonlLoaderParams {
    fn check(&self) -> std::result::Result<(), String> {
        self.paths.check()?;
        if self.infer_rows == 0 {
            return Err("`infer_rows` must be at least 1".into());
        }
        if !(self.shard_size_mb.is_finite() && self.shard_size_mb > 0.0) {
            return Err("`shard_size_mb` must be a positive number".into());
        }
        check_id_field(&self.id_field)
    }
}

pub(crate) fn check_id_field(id_field: &str) -> std::result::Result<(), String> {
    use mdf_core::io::{SOURCE_FILE_COLUMN, SOURCE_OFFSET_COLUMN};
    if id_field.is_empty() || id_field == SOURCE_FILE_COLUMN || id_field == SOURCE_OFFSET_COLUMN {
        return Err(format!(
            "`id_field` must be a column name other than {SOURCE_FILE_COLUMN} and {SOURCE_OFFSET_COLUMN}"
        ));
    }
    Ok(())
}

/// Reads JSON Lines files; see the module docs.
pub struct JsonlLoader {
    params: JsonlLoaderParams,
    shard_bytes: u64,
    files: OnceLock<Vec<String>>,
    schema: OnceLock<Arc<OutputSchema>>,
}

impl Component for JsonlLoader {
    type Built = dyn Loader;
    type Params = JsonlLoaderParams;
    const NAME: &'static str = "JsonlLoader";
    const KIND: OperatorKind = OperatorKind::Loader;
    const SUMMARY: &'static str =
        "JSON Lines files (plain, .gz, .zst) with an inferred schema; big files split by byte range";

    fn build(params: JsonlLoaderParams) -> Result<Box<dyn Loader>> {
        Ok(Box::new(JsonlLoader::new(params)))
    }
}

impl JsonlLoader {
    pub fn new(params: JsonlLoaderParams) -> Self {
        let shard_bytes = mib_to_bytes(params.shard_size_mb);
        JsonlLoader {
            params,
            shard_bytes,
            files: OnceLock::new(),
            schema: OnceLock::new(),
        }
    }

    /// The schema of every batch: the inferred columns, `_source_file`, `_source_offset` and,
    /// when the data has no `id_field` column, the generated id.
    pub fn schema(&self) -> Result<SchemaRef> {
        Ok(Arc::clone(self.output_schema()?.output()))
    }

    fn files(&self) -> Result<&[String]> {
        if let Some(files) = self.files.get() {
            return Ok(files);
        }
        let files = expand_paths(self.params.paths.as_slice(), JSONL_EXTENSIONS)?;
        Ok(self.files.get_or_init(|| files))
    }

    fn output_schema(&self) -> Result<&Arc<OutputSchema>> {
        if let Some(schema) = self.schema.get() {
            return Ok(schema);
        }
        let fields = infer_fields(self.files()?, self.params.infer_rows)?;
        let schema = Arc::new(OutputSchema::new(&fields, &self.params.id_field));
        Ok(self.schema.get_or_init(|| schema))
    }
}

impl Loader for JsonlLoader {
    fn list_shards(&self) -> Result<Vec<ShardSpec>> {
        let mut shards = Vec::new();
        for path in self.files()? {
            let size = storage::size_of(path)?.ok_or_else(|| {
                MdfError::io(path, std::io::Error::from(std::io::ErrorKind::NotFound))
            })?;
            if Codec::from_path(path) != Codec::None || size <= self.shard_bytes {
                shards.push(ShardSpec::whole_file(path.as_str()));
                continue;
            }
            let mut start = 0;
            while start < size {
                let end = start + self.shard_bytes;
                shards.push(ShardSpec {
                    index: 0,
                    path: path.clone(),
                    start,
                    // The last range reads to the end of the file.
                    end: (end < size).then_some(end),
                    limit: None,
                });
                start = end;
            }
        }
        for (i, shard) in shards.iter_mut().enumerate() {
            shard.index = i;
        }
        Ok(shards)
    }

    fn open(&self, shard: &ShardSpec, batch_size: usize) -> Result<Box<dyn RecordSource>> {
        let schema = Arc::clone(self.output_schema()?);
        let path = shard.path.as_str();
        let codec = Codec::from_path(path);
        let mut file = InputFile::open(path)?;
        let size = file.len();
        let batch_size = batch_size.max(1);
        let mut source = JsonlSource {
            decoder: build_decoder(schema.data(), batch_size)?,
            schema,
            source: SourceName::new(path),
            codec,
            lines: None,
            end: shard.end,
            remaining: shard.limit,
            batch_size,
            probe: None,
            batch: LineBatch::default(),
            pending: VecDeque::new(),
        };
        if size == 0 {
            if shard.start == 0 {
                source.pending.push_back(SourceItem::Reject(reject(
                    path,
                    None,
                    "empty_file",
                    "the file is empty".into(),
                    None,
                )));
            }
            return Ok(Box::new(source));
        }
        if codec != Codec::None && shard.start > 0 {
            return Err(MdfError::internal(format!(
                "{path}: compressed files cannot be split by byte range"
            )));
        }
        // A shard starting at byte `s` owns the lines whose first byte is at or after `s`: read
        // from `s - 1` and drop everything up to the first newline (an empty piece when byte
        // `s - 1` is itself a newline, else the tail of a line the previous shard owns).
        let skip_first = shard.start > 0;
        let first = shard.start.saturating_sub(1);
        if skip_first {
            file.seek(SeekFrom::Start(first))
                .map_err(|e| MdfError::io(path, e))?;
        }
        let mut lines = LineReader::new(codec::decompress(file, codec, path)?, first);
        if skip_first {
            lines.next_line().map_err(|e| MdfError::io(path, e))?;
        }
        source.lines = Some(lines);
        Ok(Box::new(source))
    }
}

/// MiB (maybe fractional) to bytes, at least 1.
pub(crate) fn mib_to_bytes(mib: f64) -> u64 {
    // `as` saturates: NaN → 0, huge → u64::MAX.
    ((mib * (1u64 << 20) as f64) as u64).max(1)
}

/// Infers the data fields from up to `infer_rows` valid JSON object lines.
fn infer_fields(files: &[String], infer_rows: usize) -> Result<Fields> {
    let mut values = Vec::new();
    'files: for path in files {
        let file = InputFile::open(path)?;
        let mut lines = LineReader::new(codec::decompress(file, Codec::from_path(path), path)?, 0);
        loop {
            match lines.next_line() {
                Ok(Some((offset, line))) => {
                    let line = if offset == 0 { strip_bom(line) } else { line };
                    if let Ok(value @ serde_json::Value::Object(_)) = serde_json::from_slice(line) {
                        values.push(value);
                        if values.len() >= infer_rows {
                            break 'files;
                        }
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    if lines.get_ref().raw_failed() {
                        return Err(MdfError::io(path, e));
                    }
                    // A corrupt stream: use what was read; reading the shard reports it.
                    break;
                }
            }
        }
    }
    let schema = infer_json_schema_from_iterator(values.iter().map(Ok))
        .map_err(|e| MdfError::bad_input("JSONL schema inference", e.to_string()))?;
    Ok(schema.fields().iter().map(|f| Arc::new(relax(f))).collect())
}

/// Drops a UTF-8 byte order mark (some exporters start files with one).
fn strip_bom(line: &[u8]) -> &[u8] {
    line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line)
}

/// Makes a field nullable and turns `Null` (only nulls seen while inferring) into `Utf8`, so a
/// later non-null string does not reject every record that carries it.
fn relax(field: &FieldRef) -> Field {
    let data_type = match field.data_type() {
        DataType::Null => DataType::Utf8,
        DataType::List(item) => DataType::List(Arc::new(relax(item))),
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(relax).collect()),
        other => other.clone(),
    };
    field
        .as_ref()
        .clone()
        .with_data_type(data_type)
        .with_nullable(true)
}

fn build_decoder(schema: &SchemaRef, batch_size: usize) -> Result<Decoder> {
    Ok(ReaderBuilder::new(Arc::clone(schema))
        .with_batch_size(batch_size)
        .build_decoder()?)
}

fn reject(
    path: &str,
    offset: Option<u64>,
    reason: &str,
    detail: String,
    line: Option<&[u8]>,
) -> Reject {
    let record = line.map(|line| {
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches('\r');
        let cut = text
            .char_indices()
            .nth(MAX_REJECT_CHARS)
            .map_or(text.len(), |(i, _)| i);
        serde_json::Value::String(text[..cut].to_owned())
    });
    Reject {
        source: path.to_owned(),
        offset,
        operator: None,
        reason: reason.to_owned(),
        detail,
        record,
    }
}

/// The lines of one batch: their places in the line reader's buffer (each with its `\n`) and
/// their stream offsets.
#[derive(Default)]
struct LineBatch {
    ranges: Vec<Range<usize>>,
    offsets: Vec<u64>,
}

impl LineBatch {
    fn clear(&mut self) {
        self.ranges.clear();
        self.offsets.clear();
    }

    fn push(&mut self, offset: u64, range: Range<usize>) {
        self.ranges.push(range);
        self.offsets.push(offset);
    }

    fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Line `i` with its trailing `\n`, in `buffer` (the line reader's).
    fn line<'a>(&self, buffer: &'a [u8], i: usize) -> &'a [u8] {
        &buffer[self.ranges[i].clone()]
    }
}

struct JsonlSource {
    schema: Arc<OutputSchema>,
    source: SourceName,
    codec: Codec,
    /// `None` once the shard's lines are exhausted.
    lines: Option<LineReader<TrackedReader>>,
    end: Option<u64>,
    /// Good records still allowed by the shard's limit.
    remaining: Option<u64>,
    batch_size: usize,
    decoder: Decoder,
    /// A one-row decoder that classifies lines when a batch fails.
    probe: Option<Decoder>,
    batch: LineBatch,
    pending: VecDeque<SourceItem>,
}

impl RecordSource for JsonlSource {
    fn next_item(&mut self) -> Result<Option<SourceItem>> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Ok(Some(item));
            }
            if self.lines.is_none() {
                return Ok(None);
            }
            self.read_batch()?;
        }
    }
}

impl JsonlSource {
    /// Reads up to one batch of lines and queues its rejects and its batch.
    fn read_batch(&mut self) -> Result<()> {
        let want = match self.remaining {
            Some(r) => r.min(self.batch_size as u64) as usize,
            None => self.batch_size,
        };
        let Some(lines) = self.lines.as_mut() else {
            return Ok(());
        };
        self.batch.clear();
        lines.start_batch();
        let mut done = want == 0;
        let mut corrupt = None;
        let mut blank_bytes = 0;
        while !done && self.batch.len() < want && blank_bytes < MAX_BLANK_BYTES_PER_BATCH {
            match lines.next_line_range() {
                Ok(Some((offset, mut range))) => {
                    if offset == 0 {
                        let first = &lines.buffer()[range.clone()];
                        range.start += first.len() - strip_bom(first).len();
                    }
                    let line = &lines.buffer()[range.clone()];
                    if self.end.is_some_and(|end| offset >= end) {
                        done = true;
                    } else if line.iter().all(u8::is_ascii_whitespace) {
                        blank_bytes += range.len();
                    } else {
                        self.batch.push(offset, range);
                    }
                }
                Ok(None) => done = true,
                Err(e) => {
                    let path = &self.source.path;
                    if self.codec == Codec::None || lines.get_ref().raw_failed() {
                        return Err(MdfError::io(path, e));
                    }
                    let offset = Some(lines.offset());
                    corrupt = Some(reject(path, offset, "corrupt_file", e.to_string(), None));
                    done = true;
                }
            }
        }
        if self.batch.len() > 0 {
            self.decode_batch()?;
        }
        if done {
            self.lines = None;
        }
        if let Some(r) = corrupt {
            self.pending.push_back(SourceItem::Reject(r));
        }
        Ok(())
    }

    fn decode_batch(&mut self) -> Result<()> {
        let buffer = lines_buffer(&self.lines)?;
        // Fast path: the whole batch at once, checking that each line is exactly one record.
        let mut ok = true;
        for i in 0..self.batch.len() {
            let line = self.batch.line(buffer, i);
            ok = matches!(self.decoder.decode(line), Ok(n) if n == line.len())
                && self.decoder.len() == i + 1
                && !self.decoder.has_partial_record();
            if !ok {
                break;
            }
        }
        if ok {
            if let Ok(Some(decoded)) = self.decoder.flush() {
                let columns = decoded.columns().to_vec();
                let batch = self
                    .schema
                    .assemble(columns, &self.source, &self.batch.offsets)?;
                return self.queue_batch(batch);
            }
        }
        // The decoder's state is unknown after a failure.
        self.decoder = build_decoder(self.schema.data(), self.batch_size)?;
        self.decode_line_by_line()
    }

    /// Slow path: rejects the bad lines and decodes the good ones.
    fn decode_line_by_line(&mut self) -> Result<()> {
        let buffer = lines_buffer(&self.lines)?;
        let mut good = Vec::with_capacity(self.batch.len());
        for i in 0..self.batch.len() {
            let line = self.batch.line(buffer, i);
            match classify(&mut self.probe, self.schema.data(), line)? {
                Ok(()) => good.push(i),
                Err((reason, detail)) => {
                    let offset = self.batch.offsets[i];
                    let raw = &line[..line.len() - 1];
                    let r = reject(&self.source.path, Some(offset), reason, detail, Some(raw));
                    self.pending.push_back(SourceItem::Reject(r));
                }
            }
        }
        if good.is_empty() {
            return Ok(());
        }
        for &i in &good {
            self.decoder.decode(self.batch.line(buffer, i))?;
        }
        let decoded = self.decoder.flush()?.ok_or_else(|| {
            MdfError::internal("JSON decoder returned no rows for lines it accepted")
        })?;
        let offsets: Vec<u64> = good.iter().map(|&i| self.batch.offsets[i]).collect();
        let batch = self
            .schema
            .assemble(decoded.columns().to_vec(), &self.source, &offsets)?;
        self.queue_batch(batch)
    }

    fn queue_batch(&mut self, batch: arrow::record_batch::RecordBatch) -> Result<()> {
        if let Some(r) = self.remaining.as_mut() {
            *r = r.saturating_sub(batch.num_rows() as u64);
        }
        self.pending.push_back(SourceItem::Batch(batch));
        Ok(())
    }
}

/// The buffer a batch's line ranges point into (the shard's line reader is kept until its last
/// batch is decoded).
fn lines_buffer(lines: &Option<LineReader<TrackedReader>>) -> Result<&[u8]> {
    lines
        .as_ref()
        .map(LineReader::buffer)
        .ok_or_else(|| MdfError::internal("a JSONL batch outlived its line reader"))
}

/// Decodes one line (with its `\n`) alone: `Ok(())` when it is a record of the schema, else the
/// reject reason and detail.
fn classify(
    probe: &mut Option<Decoder>,
    schema: &SchemaRef,
    line: &[u8],
) -> Result<std::result::Result<(), (&'static str, String)>> {
    let decoder = match probe {
        Some(d) => d,
        None => probe.insert(build_decoder(schema, 1)?),
    };
    let verdict = match decoder.decode(line) {
        Err(e) => Err(("invalid_json", e.to_string())),
        Ok(n) if n < line.len() => Err((
            "invalid_json",
            "unexpected content after the first JSON value on the line".to_owned(),
        )),
        Ok(_) if decoder.has_partial_record() => {
            Err(("invalid_json", "incomplete JSON value".to_owned()))
        }
        Ok(_) => match decoder.flush() {
            Ok(_) => Ok(()),
            Err(e) => Err(("schema_mismatch", e.to_string())),
        },
    };
    if verdict.is_err() {
        *probe = None;
    }
    Ok(verdict)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Int64Type, UInt64Type};
    use arrow::record_batch::RecordBatch;
    use std::fs;
    use std::path::Path;

    fn loader(paths: &[&Path]) -> JsonlLoader {
        JsonlLoader::new(JsonlLoaderParams {
            paths: PathList::Many(
                paths
                    .iter()
                    .map(|p| p.to_str().unwrap().to_owned())
                    .collect(),
            ),
            infer_rows: 1000,
            shard_size_mb: 128.0,
            id_field: "id".into(),
        })
    }

    fn read(
        loader: &JsonlLoader,
        shard: &ShardSpec,
        batch_size: usize,
    ) -> (Vec<RecordBatch>, Vec<Reject>) {
        let mut source = loader.open(shard, batch_size).unwrap();
        let (mut batches, mut rejects) = (Vec::new(), Vec::new());
        while let Some(item) = source.next_item().unwrap() {
            match item {
                SourceItem::Batch(b) => {
                    assert!(b.num_rows() <= batch_size);
                    batches.push(b)
                }
                SourceItem::Reject(r) => rejects.push(r),
            }
        }
        (batches, rejects)
    }

    /// `(offset, text)` of every row.
    fn rows(batches: &[RecordBatch]) -> Vec<(u64, String)> {
        let mut out = Vec::new();
        for b in batches {
            let off = b
                .column_by_name("_source_offset")
                .unwrap()
                .as_primitive::<UInt64Type>();
            let text = b.column_by_name("text").unwrap().as_string::<i32>();
            for i in 0..b.num_rows() {
                out.push((off.value(i), text.value(i).to_owned()));
            }
        }
        out
    }

    fn shard(path: &Path) -> ShardSpec {
        ShardSpec::whole_file(path.to_str().unwrap())
    }

    #[test]
    fn reads_every_codec_with_provenance_and_generated_ids() {
        let tmp = tempfile::tempdir().unwrap();
        let data =
            "{\"text\":\"a\",\"n\":1}\n\n  \n{\"text\":\"b\",\"n\":null}\n{\"text\":\"c\",\"n\":3}";
        for name in ["x.jsonl", "x.jsonl.gz", "x.ndjson.zst"] {
            let path = tmp.path().join(name);
            codec::write_compressed(&path, data.as_bytes()).unwrap();
            let loader = loader(&[&path]);
            let shards = loader.list_shards().unwrap();
            assert_eq!(shards, vec![shard(&path)]);
            let (batches, rejects) = read(&loader, &shards[0], 2);
            assert!(rejects.is_empty(), "{rejects:?}");
            assert_eq!(batches.len(), 2);
            assert_eq!(
                rows(&batches),
                vec![(0, "a".into()), (23, "b".into()), (45, "c".into())]
            );
            let b = &batches[0];
            assert_eq!(b.schema(), loader.schema().unwrap());
            let n = b.column_by_name("n").unwrap().as_primitive::<Int64Type>();
            assert_eq!(n.value(0), 1);
            assert!(batches[0].column_by_name("n").unwrap().is_null(1));
            let file = b.column_by_name("_source_file").unwrap().as_string::<i32>();
            assert_eq!(file.value(0), path.to_str().unwrap());
            let ids = batches[1].column_by_name("id").unwrap().as_string::<i32>();
            assert_eq!(ids.value(0), format!("{name}:45"));
        }
    }

    #[test]
    fn keeps_an_existing_id_column() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("x.jsonl");
        fs::write(&path, "{\"id\":\"doc-1\",\"text\":\"a\"}\n").unwrap();
        let loader = loader(&[&path]);
        let (batches, _) = read(&loader, &shard(&path), 10);
        let schema = batches[0].schema();
        let names: Vec<_> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["id", "text", "_source_file", "_source_offset"]);
        assert_eq!(batches[0].column(0).as_string::<i32>().value(0), "doc-1");
    }

    #[test]
    fn byte_range_shards_partition_the_records() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("x.jsonl");
        let mut data = String::new();
        for i in 0..300 {
            let pad = "x".repeat(i * 7 % 53);
            data.push_str(&format!("{{\"text\":\"{i}{pad}\"}}\n"));
            if i % 17 == 0 {
                data.push('\n');
            }
        }
        data.push_str("{\"text\":\"last\"}"); // no trailing newline
        fs::write(&path, &data).unwrap();
        let loader = loader(&[&path]);
        let (whole, _) = read(&loader, &shard(&path), 64);
        let want = rows(&whole);
        assert_eq!(want.len(), 301);

        let size = data.len() as u64;
        for step in [1u64, 2, 3, 7, 20, 31, 64, 1000, size - 1] {
            let mut got = Vec::new();
            let mut start = 0;
            while start < size {
                let end = start + step;
                let spec = ShardSpec {
                    index: 0,
                    path: path.to_str().unwrap().to_owned(),
                    start,
                    end: (end < size).then_some(end),
                    limit: None,
                };
                let (batches, rejects) = read(&loader, &spec, 16);
                assert!(rejects.is_empty(), "step {step}: {rejects:?}");
                got.extend(rows(&batches));
                start = end;
            }
            assert_eq!(got, want, "step {step}");
        }

        // list_shards splits by the configured size.
        let mut split = super::tests::loader(&[&path]);
        split.shard_bytes = 1000;
        let shards = split.list_shards().unwrap();
        assert_eq!(shards.len() as u64, size.div_ceil(1000));
        assert!(shards.iter().enumerate().all(|(i, s)| s.index == i));
        assert_eq!(shards.last().unwrap().end, None);
        let got: Vec<_> = shards
            .iter()
            .flat_map(|s| rows(&read(&split, s, 50).0))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn bad_lines_become_rejects_and_good_lines_are_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("x.jsonl");
        let lines = [
            "{\"text\":\"a\",\"n\":1}",
            "this is not json",
            "{\"text\":\"b\",\"n\":2}",
            "{\"text\":\"c\",\"n\":\"three\"}",
            "{\"text\":\"d\"} {\"text\":\"e\"}",
            "{\"text\":\"f\",",
            "[1, 2]",
            "{\"text\":\"g\",\"n\":7}",
        ];
        fs::write(&path, lines.join("\n")).unwrap();
        let mut offsets = vec![0u64];
        for l in &lines {
            offsets.push(offsets.last().unwrap() + l.len() as u64 + 1);
        }
        let mut params = loader(&[&path]).params;
        params.infer_rows = 1;
        let loader = JsonlLoader::new(params);
        let mut source = loader.open(&shard(&path), 100).unwrap();
        let mut items = Vec::new();
        while let Some(item) = source.next_item().unwrap() {
            items.push(item);
        }
        let (rejects, batches): (Vec<_>, Vec<_>) = items
            .into_iter()
            .partition(|i| matches!(i, SourceItem::Reject(_)));
        let rejects: Vec<Reject> = rejects
            .into_iter()
            .map(|i| match i {
                SourceItem::Reject(r) => r,
                SourceItem::Batch(_) => unreachable!(),
            })
            .collect();
        let got: Vec<_> = rejects
            .iter()
            .map(|r| (r.reason.as_str(), r.offset.unwrap()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("invalid_json", offsets[1]),
                ("schema_mismatch", offsets[3]),
                ("invalid_json", offsets[4]),
                ("invalid_json", offsets[5]),
                ("schema_mismatch", offsets[6]),
            ]
        );
        assert_eq!(
            rejects[0].record,
            Some(serde_json::json!("this is not json"))
        );
        assert_eq!(rejects[0].source, path.to_str().unwrap());
        assert!(!rejects[1].detail.is_empty());
        let batches: Vec<_> = batches
            .into_iter()
            .map(|i| match i {
                SourceItem::Batch(b) => b,
                SourceItem::Reject(_) => unreachable!(),
            })
            .collect();
        assert_eq!(
            rows(&batches),
            vec![
                (offsets[0], "a".into()),
                (offsets[2], "b".into()),
                (offsets[7], "g".into())
            ]
        );
    }

    #[test]
    fn a_long_run_of_blank_lines_ends_a_batch_early_and_loses_nothing() {
        // The lines of a batch stay in the reader's buffer until it is decoded; blank lines
        // count for no record, so 20 MiB of them end the batch instead of growing the buffer.
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("blank.jsonl");
        let blank = " \n".repeat(10 << 20);
        let data = format!("{{\"text\":\"a\"}}\n{blank}{{\"text\":\"b\"}}\n{{\"text\":\"c\"}}\n");
        fs::write(&path, data).unwrap();
        let loader = loader(&[&path]);
        let (batches, rejects) = read(&loader, &shard(&path), 10);
        assert!(rejects.is_empty(), "{rejects:?}");
        let sizes: Vec<usize> = batches.iter().map(RecordBatch::num_rows).collect();
        assert_eq!(
            sizes,
            vec![1, 2],
            "two batches: the blank run ended the first"
        );
        let texts: Vec<String> = rows(&batches).into_iter().map(|(_, t)| t).collect();
        assert_eq!(texts, ["a", "b", "c"]);
    }

    #[test]
    fn a_byte_order_mark_is_ignored() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("bom.jsonl");
        fs::write(&path, b"\xEF\xBB\xBF{\"text\":\"a\"}\n{\"text\":\"b\"}\n").unwrap();
        let loader = loader(&[&path]);
        let (batches, rejects) = read(&loader, &shard(&path), 10);
        assert!(rejects.is_empty(), "{rejects:?}");
        assert_eq!(rows(&batches), vec![(0, "a".into()), (16, "b".into())]);
    }

    #[test]
    fn long_reject_records_are_truncated() {
        let r = reject(
            "f",
            Some(0),
            "invalid_json",
            String::new(),
            Some("é".repeat(20_000).as_bytes()),
        );
        let serde_json::Value::String(s) = r.record.unwrap() else {
            panic!()
        };
        assert_eq!(s.chars().count(), MAX_REJECT_CHARS);
    }

    #[test]
    fn truncated_compressed_files_yield_a_prefix_then_corrupt_file() {
        let tmp = tempfile::tempdir().unwrap();
        // Big and varied enough that zstd emits several blocks before the cut.
        let data: String = (0..40_000u64)
            .map(|i| {
                let noise = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 20;
                format!("{{\"text\":\"record number {i} {noise:x}\"}}\n")
            })
            .collect();
        for name in ["x.jsonl.gz", "x.jsonl.zst"] {
            let path = tmp.path().join(name);
            codec::write_compressed(&path, data.as_bytes()).unwrap();
            let bytes = fs::read(&path).unwrap();
            fs::write(&path, &bytes[..bytes.len() * 3 / 4]).unwrap();
            let loader = loader(&[&path]);
            let (batches, rejects) = read(&loader, &shard(&path), 100);
            let got = rows(&batches);
            assert!(
                !got.is_empty() && got.len() < 40_000,
                "{name}: {}",
                got.len()
            );
            for (i, (_, text)) in got.iter().enumerate() {
                assert!(text.starts_with(&format!("record number {i} ")), "{name}");
            }
            assert_eq!(rejects.len(), 1, "{name}: {rejects:?}");
            assert_eq!(rejects[0].reason, "corrupt_file");
            assert!(rejects[0].offset.unwrap() >= got.last().unwrap().0);
        }
    }

    #[test]
    fn empty_and_missing_files() {
        let tmp = tempfile::tempdir().unwrap();
        let empty = tmp.path().join("empty.jsonl");
        let good = tmp.path().join("good.jsonl");
        fs::write(&empty, "").unwrap();
        fs::write(&good, "{\"text\":\"a\"}\n").unwrap();
        let loader = loader(&[&empty, &good]);
        let (batches, rejects) = read(&loader, &shard(&empty), 10);
        assert!(batches.is_empty());
        assert_eq!(rejects.len(), 1);
        assert_eq!(rejects[0].reason, "empty_file");

        let missing = ShardSpec::whole_file(tmp.path().join("gone.jsonl").to_str().unwrap());
        let err = loader.open(&missing, 10).err().unwrap();
        assert!(matches!(err, MdfError::Io { .. }), "{err}");
    }

    #[test]
    fn limit_counts_good_records() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("x.jsonl");
        let data: String = (0..20)
            .map(|i| {
                if i == 2 {
                    "garbage\n".to_owned()
                } else {
                    format!("{{\"text\":\"{i}\"}}\n")
                }
            })
            .collect();
        fs::write(&path, data).unwrap();
        let loader = loader(&[&path]);
        let mut spec = shard(&path);
        spec.limit = Some(5);
        let (batches, rejects) = read(&loader, &spec, 2);
        let texts: Vec<_> = rows(&batches).into_iter().map(|(_, t)| t).collect();
        assert_eq!(texts, ["0", "1", "3", "4", "5"]);
        assert_eq!(rejects.len(), 1);
        assert_eq!(loader.count_records(&shard(&path), 100).unwrap(), 19);
        assert_eq!(loader.count_records(&shard(&path), 7).unwrap(), 7);
    }

    #[test]
    fn shards_are_sorted_and_compressed_files_are_never_split() {
        let tmp = tempfile::tempdir().unwrap();
        let big = "{\"text\":\"0123456789\"}\n".repeat(200);
        for name in ["b.jsonl.gz", "a.jsonl", "c.jsonl.zst"] {
            codec::write_compressed(&tmp.path().join(name), big.as_bytes()).unwrap();
        }
        let mut loader = loader(&[tmp.path()]);
        loader.shard_bytes = 1024;
        let shards = loader.list_shards().unwrap();
        let names: Vec<_> = shards
            .iter()
            .map(|s| Path::new(&s.path).file_name().unwrap().to_str().unwrap())
            .collect();
        let a_shards = big.len().div_ceil(1024);
        assert_eq!(names.len(), a_shards + 2);
        assert!(names[..a_shards].iter().all(|n| *n == "a.jsonl"));
        assert_eq!(&names[a_shards..], ["b.jsonl.gz", "c.jsonl.zst"]);

        let nothing = loader_for_pattern(&format!("{}/*.ndjson", tmp.path().display()));
        assert!(matches!(nothing.list_shards(), Err(MdfError::Config(_))));
    }

    fn loader_for_pattern(pattern: &str) -> JsonlLoader {
        JsonlLoader::new(JsonlLoaderParams {
            paths: PathList::One(pattern.to_owned()),
            infer_rows: 1000,
            shard_size_mb: 128.0,
            id_field: "id".into(),
        })
    }

    #[test]
    fn schema_inference_skips_bad_lines_and_relaxes_nulls() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("x.jsonl");
        fs::write(
            &path,
            "not json\n{\"text\":\"a\",\"lic\":null}\n{\"text\":\"b\",\"lic\":\"mit\"}\n",
        )
        .unwrap();
        let schema = loader(&[&path]).schema().unwrap();
        assert_eq!(
            schema.field_with_name("lic").unwrap().data_type(),
            &DataType::Utf8
        );
        assert!(schema.field_with_name("text").unwrap().is_nullable());
    }

    #[test]
    fn params_have_defaults_and_reject_unknown_keys() {
        let p: JsonlLoaderParams = serde_json::from_str(r#"{"paths": "data/"}"#).unwrap();
        assert_eq!(
            (p.infer_rows, p.shard_size_mb, p.id_field.as_str()),
            (1000, 128.0, "id")
        );
        assert!(p.check().is_ok());
        let small: JsonlLoaderParams =
            serde_json::from_str(r#"{"paths": "d", "shard_size_mb": 0.1}"#).unwrap();
        assert_eq!(JsonlLoader::new(small).shard_bytes, 104_857);
        assert!(
            serde_json::from_str::<JsonlLoaderParams>(r#"{"paths": "d", "bogus": 1}"#).is_err()
        );
        let bad: JsonlLoaderParams =
            serde_json::from_str(r#"{"paths": [], "infer_rows": 0}"#).unwrap();
        assert!(bad.check().is_err());
    }
}
