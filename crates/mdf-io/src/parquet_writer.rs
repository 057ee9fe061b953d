//! `ParquetDataWriter`: each shard's batches go to `part-{shard:06}-{seq:04}.parquet` files of
//! about `target_file_size_mb`, published atomically. Files are byte-deterministic for the same
//! batches (no timestamps or random ids), so reruns and resumed runs reproduce them exactly.
//! Per-column choices (no compression for media, no dictionary for distinct values) are made
//! from each file's first batch, see `column_properties`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use mdf_core::io::{DataWriter, ShardWriter};
use mdf_core::{Component, MdfError, OperatorKind, Params, Result};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, GzipLevel, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::jsonl_loader::mib_to_bytes;
use crate::output::{
    check_exclude_columns, check_table_name, data_dir, without_columns, ShardFiles,
};
use crate::storage::{self, OutputFile};

/// Parquet page compression.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ParquetCompression {
    #[default]
    Zstd,
    Snappy,
    Gzip,
    /// LZ4 in the raw framing (`LZ4_RAW`), the one current readers expect.
    Lz4,
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ParquetWriterParams {
    /// The run directory; data files are written here (or under `table_name`). Required.
    pub output_path: String,
    /// Compression codec: `zstd`, `snappy`, `gzip`, `lz4` or `none`. Default: `zstd`. Binary
    /// columns whose values are compressed already (JPEG, PNG, WebP, GIF, video, gzip, zstd,
    /// ...) are stored uncompressed and without a dictionary whatever the codec; columns whose
    /// first values are nearly all distinct (ids, URLs, text) are stored without a dictionary.
    #[serde(default)]
    pub compression: ParquetCompression,
    /// Compression level for `zstd` (1 to 22) and `gzip` (0 to 9); other codecs ignore it.
    /// Default: 3.
    #[serde(default = "default_compression_level")]
    pub compression_level: i32,
    /// Maximum rows per row group. Default: 100000.
    #[serde(default = "default_row_group_size")]
    pub row_group_size: usize,
    /// A row group is closed once the data it buffers in memory reaches about this many MiB
    /// (fractions allowed), whatever its row count: rows that hold image bytes are large, and a
    /// writer would otherwise buffer up to a whole file per shard. Default: 128.
    #[serde(default = "default_row_group_max_mb")]
    pub row_group_max_mb: f64,
    /// A file is closed and the shard's next file started once it reaches about this many MiB
    /// (fractions allowed). Default: 256.
    #[serde(default = "default_target_file_size_mb")]
    pub target_file_size_mb: f64,
    /// When set, data files go in `<output_path>/<table_name>/` (as the seed wrote them).
    /// Default: unset (data files directly in `output_path`).
    #[serde(default)]
    pub table_name: Option<String>,
    /// Columns left out of the data files, e.g. `[image]` to write a profiling run's
    /// annotations without the image bytes. A name the records do not have fails the run at
    /// its first batch. Default: none (every column is written).
    #[serde(default)]
    pub exclude_columns: Vec<String>,
}

fn default_compression_level() -> i32 {
    3
}

fn default_row_group_size() -> usize {
    100_000
}

fn default_row_group_max_mb() -> f64 {
    128.0
}

pub(crate) fn default_target_file_size_mb() -> f64 {
    256.0
}

pub(crate) fn check_target_size(mib: f64) -> std::result::Result<(), String> {
    if mib.is_finite() && mib > 0.0 {
        Ok(())
    } else {
        Err("`target_file_size_mb` must be a positive number".into())
    }
}

impl Params for ParquetWriterParams {
    fn check(&self) -> std::result::Result<(), String> {
        if self.output_path.trim().is_empty() {
            return Err("`output_path` must not be empty".into());
        }
        if self.row_group_size == 0 {
            return Err("`row_group_size` must be at least 1".into());
        }
        check_target_size(self.target_file_size_mb)?;
        if !(self.row_group_max_mb.is_finite() && self.row_group_max_mb > 0.0) {
            return Err("`row_group_max_mb` must be a positive number".into());
        }
        check_table_name(self.table_name.as_deref())?;
        check_exclude_columns(&self.exclude_columns)?;
        self.codec().map(|_| ())
    }
}

impl ParquetWriterParams {
    fn codec(&self) -> std::result::Result<Compression, String> {
        let level = self.compression_level;
        Ok(match self.compression {
            ParquetCompression::Zstd => {
                Compression::ZSTD(ZstdLevel::try_new(level).map_err(|_| {
                    format!("`compression_level` {level} is not a zstd level (1 to 22)")
                })?)
            }
            ParquetCompression::Gzip => Compression::GZIP(
                u32::try_from(level)
                    .ok()
                    .and_then(|l| GzipLevel::try_new(l).ok())
                    .ok_or_else(|| {
                        format!("`compression_level` {level} is not a gzip level (0 to 9)")
                    })?,
            ),
            ParquetCompression::Snappy => Compression::SNAPPY,
            ParquetCompression::Lz4 => Compression::LZ4_RAW,
            ParquetCompression::None => Compression::UNCOMPRESSED,
        })
    }
}

/// Writes Parquet files; see the module docs.
pub struct ParquetDataWriter {
    output_dir: PathBuf,
    data_dir: PathBuf,
    properties: WriterProperties,
    target_bytes: u64,
    row_group_bytes: u64,
    exclude_columns: Arc<[String]>,
}

impl Component for ParquetDataWriter {
    type Built = dyn DataWriter;
    type Params = ParquetWriterParams;
    const NAME: &'static str = "ParquetDataWriter";
    const KIND: OperatorKind = OperatorKind::Writer;
    const SUMMARY: &'static str =
        "Parquet files per shard (zstd by default), rolled at a target size, published atomically";

    fn build(params: ParquetWriterParams) -> Result<Box<dyn DataWriter>> {
        Ok(Box::new(ParquetDataWriter::new(params)?))
    }
}

impl ParquetDataWriter {
    pub fn new(params: ParquetWriterParams) -> Result<Self> {
        params.check().map_err(MdfError::config)?;
        let compression = params.codec().map_err(MdfError::config)?;
        let properties = WriterProperties::builder()
            .set_compression(compression)
            .set_max_row_group_row_count(Some(params.row_group_size))
            .build();
        storage::probe_output(&params.output_path)?;
        let output_dir = PathBuf::from(&params.output_path);
        Ok(ParquetDataWriter {
            data_dir: data_dir(&output_dir, params.table_name.as_deref()),
            output_dir,
            properties,
            target_bytes: mib_to_bytes(params.target_file_size_mb),
            row_group_bytes: mib_to_bytes(params.row_group_max_mb),
            exclude_columns: params.exclude_columns.into(),
        })
    }
}

impl ParquetDataWriter {
    /// The same writer with its data files in `data_dir` (the Iceberg writer puts them in the
    /// table's `data/` folder).
    pub(crate) fn with_data_dir(mut self, data_dir: PathBuf) -> Self {
        self.data_dir = data_dir;
        self
    }
}

impl DataWriter for ParquetDataWriter {
    fn output_dir(&self) -> &Path {
        &self.output_dir
    }

    fn data_dir(&self) -> PathBuf {
        self.data_dir.clone()
    }

    fn open_shard(&self, shard_index: usize) -> Result<Box<dyn ShardWriter>> {
        Ok(Box::new(ParquetShardWriter {
            files: ShardFiles::open(&self.data_dir, shard_index, ".parquet")?,
            properties: self.properties.clone(),
            target_bytes: self.target_bytes,
            row_group_bytes: self.row_group_bytes,
            row_group_buffered: 0,
            exclude_columns: Arc::clone(&self.exclude_columns),
            schema: None,
            writer: None,
        }))
    }
}

struct ParquetShardWriter {
    files: ShardFiles,
    properties: WriterProperties,
    target_bytes: u64,
    row_group_bytes: u64,
    /// Arrow bytes written into the open row group.
    row_group_buffered: u64,
    exclude_columns: Arc<[String]>,
    /// The first batch's schema; every file of the shard has it.
    schema: Option<SchemaRef>,
    writer: Option<ArrowWriter<OutputFile>>,
}

impl ShardWriter for ParquetShardWriter {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let batch = self.conform(&without_columns(batch, &self.exclude_columns)?)?;
        let writer = match &mut self.writer {
            Some(w) => w,
            None => {
                let file = self.files.create()?;
                let properties = column_properties(&self.properties, &batch);
                let w = ArrowWriter::try_new(file, batch.schema(), Some(properties))
                    .map_err(|e| parquet_error(self.files.current_path(), e))?;
                self.writer.insert(w)
            }
        };
        writer
            .write(&batch)
            .map_err(|e| parquet_error(self.files.current_path(), e))?;
        let size = writer.bytes_written() + writer.in_progress_size();
        if size as u64 >= self.target_bytes {
            self.close_file()?;
        } else {
            // The writer's own size estimates lag behind large binary values, so count the
            // Arrow bytes handed to this row group. Deterministic: the same batches give the
            // same row groups whatever the worker count.
            self.row_group_buffered += batch.get_array_memory_size() as u64;
            if self.row_group_buffered >= self.row_group_bytes {
                self.row_group_buffered = 0;
                writer
                    .flush()
                    .map_err(|e| parquet_error(self.files.current_path(), e))?;
            }
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<Vec<String>> {
        self.close_file()?;
        Ok(self.files.finish())
    }
}

impl ParquetShardWriter {
    /// The batch with the shard's schema; a batch whose columns differ is a bug upstream.
    fn conform(&mut self, batch: &RecordBatch) -> Result<RecordBatch> {
        let Some(schema) = &self.schema else {
            self.schema = Some(batch.schema());
            return Ok(batch.clone());
        };
        if Arc::ptr_eq(schema, batch.schema_ref()) || schema.as_ref() == batch.schema_ref().as_ref()
        {
            return Ok(batch.clone());
        }
        let same_columns = schema.fields().len() == batch.num_columns()
            && schema
                .fields()
                .iter()
                .zip(batch.schema_ref().fields())
                .all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type());
        if !same_columns {
            return Err(MdfError::internal(format!(
                "a batch for the Parquet writer has columns {} but the shard's file has {}",
                describe(batch.schema_ref()),
                describe(schema)
            )));
        }
        // Only nullability or metadata differ: relabel (fails if a non-null column has nulls).
        RecordBatch::try_new(Arc::clone(schema), batch.columns().to_vec()).map_err(|e| {
            MdfError::internal(format!(
                "a batch does not fit the shard's Parquet schema: {e}"
            ))
        })
    }

    fn close_file(&mut self) -> Result<()> {
        self.row_group_buffered = 0;
        if let Some(writer) = self.writer.take() {
            let file = writer
                .into_inner()
                .map_err(|e| parquet_error(self.files.current_path(), e))?;
            self.files.publish(file)?;
        }
        Ok(())
    }
}

/// The writer's properties, adjusted per column from the file's first batch (so the same
/// batches give the same bytes):
/// * binary columns that hold already-compressed media (JPEG, PNG, video, gzip, ...) are stored
///   uncompressed and without a dictionary: compressing them again costs CPU (3.5 % of an image
///   profiling run) and gains nothing;
/// * columns whose values are (nearly) all distinct get no dictionary, see [`dictionary_pays`].
fn column_properties(base: &WriterProperties, batch: &RecordBatch) -> WriterProperties {
    let mut builder = base.clone().into_builder();
    for (field, column) in batch.schema_ref().fields().iter().zip(batch.columns()) {
        if holds_compressed_media(column.as_ref()) {
            let path = ColumnPath::from(field.name().as_str());
            builder = builder
                .set_column_compression(path.clone(), Compression::UNCOMPRESSED)
                .set_column_dictionary_enabled(path, false);
        } else {
            for path in columns_without_dictionary(field.name(), column.as_ref()) {
                builder = builder.set_column_dictionary_enabled(path, false);
            }
        }
    }
    builder.build()
}

/// The leaf columns under `name` (the column itself, or the fields of a struct, at any depth)
/// for which a dictionary does not pay.
fn columns_without_dictionary(name: &str, column: &dyn Array) -> Vec<ColumnPath> {
    let mut out = Vec::new();
    collect_columns_without_dictionary(&mut vec![name.to_owned()], column, &mut out);
    out
}

fn collect_columns_without_dictionary(
    path: &mut Vec<String>,
    column: &dyn Array,
    out: &mut Vec<ColumnPath>,
) {
    if let Some(fields) = column.as_struct_opt() {
        for (field, child) in fields.fields().iter().zip(fields.columns()) {
            path.push(field.name().clone());
            collect_columns_without_dictionary(path, child.as_ref(), out);
            path.pop();
        }
    } else if dictionary_pays(column) == Some(false) {
        out.push(ColumnPath::new(path.clone()));
    }
}

/// [`dictionary_pays`] judges a column on its first values up to this many bytes (PLAIN size; a
/// quarter of the page parquet-mr judges on: hashing the sample is a cost per file) ...
const DICTIONARY_SAMPLE_BYTES: usize = 256 << 10;
/// ... or, when the first batch holds less, on all its values if they are at least this many;
/// below it the writer's default (a dictionary, dropped when it outgrows its page) stays.
const DICTIONARY_SAMPLE_MIN: usize = 64;

/// Whether dictionary encoding would make this column smaller, judged on its (first batch's)
/// values the way parquet-mr judges a column's first page: the distinct values once plus a
/// bit-packed index per value must take fewer bytes than the plain values. `None` for types it
/// does not judge (nested, boolean) and for samples too small to judge.
///
/// The `parquet` crate always starts a column chunk with a dictionary and gives it up only when
/// it outgrows its page (1 MiB): for ids, URLs, offsets and document text that is every value
/// hashed and interned up to there for no saving (each is still stored once, plus an index).
fn dictionary_pays(column: &dyn Array) -> Option<bool> {
    match column.data_type() {
        DataType::Utf8 => smaller_with_dictionary(column.as_string::<i32>().iter().map(bytes), 4),
        DataType::LargeUtf8 => {
            smaller_with_dictionary(column.as_string::<i64>().iter().map(bytes), 4)
        }
        DataType::Utf8View => smaller_with_dictionary(column.as_string_view().iter().map(bytes), 4),
        DataType::Binary => smaller_with_dictionary(column.as_binary::<i32>().iter(), 4),
        DataType::LargeBinary => smaller_with_dictionary(column.as_binary::<i64>().iter(), 4),
        DataType::BinaryView => smaller_with_dictionary(column.as_binary_view().iter(), 4),
        DataType::FixedSizeBinary(_) => {
            smaller_with_dictionary(column.as_fixed_size_binary().iter(), 0)
        }
        t => {
            let width = t.primitive_width()?;
            let data = column.to_data();
            let start = data.offset() * width;
            let values = data
                .buffers()
                .first()?
                .as_slice()
                .get(start..start + data.len() * width)?
                .chunks_exact(width)
                .enumerate()
                .map(|(i, v)| column.is_valid(i).then_some(v));
            smaller_with_dictionary(values, 0)
        }
    }
}

fn bytes(s: Option<&str>) -> Option<&[u8]> {
    s.map(str::as_bytes)
}

/// [`dictionary_pays`] over a column's values (`None` for nulls, which take no value space);
/// PLAIN stores each value with a `length_prefix` of 4 bytes (byte arrays) or 0 (fixed width).
fn smaller_with_dictionary<'a>(
    values: impl Iterator<Item = Option<&'a [u8]>>,
    length_prefix: usize,
) -> Option<bool> {
    let (mut count, mut plain) = (0, 0);
    let mut distinct: HashSet<&[u8]> = HashSet::new();
    let mut dictionary = 0;
    for value in values.flatten() {
        count += 1;
        plain += value.len() + length_prefix;
        if distinct.insert(value) {
            dictionary += value.len() + length_prefix;
        }
        if plain >= DICTIONARY_SAMPLE_BYTES {
            break;
        }
    }
    if count < DICTIONARY_SAMPLE_MIN && plain < DICTIONARY_SAMPLE_BYTES {
        return None;
    }
    let index_bits = (usize::BITS - distinct.len().leading_zeros()) as usize;
    Some(dictionary + (count * index_bits).div_ceil(8) < plain)
}

/// Values sampled per column to decide whether it holds compressed media.
const MEDIA_SAMPLE: usize = 32;

/// Whether a binary column's first non-empty values all start like a compressed format.
fn holds_compressed_media(column: &dyn Array) -> bool {
    let sampled: Vec<&[u8]> = match column.data_type() {
        DataType::Binary => sample_values(column.as_binary::<i32>().iter()),
        DataType::LargeBinary => sample_values(column.as_binary::<i64>().iter()),
        DataType::BinaryView => sample_values(column.as_binary_view().iter()),
        _ => return false,
    };
    !sampled.is_empty() && sampled.iter().all(|v| is_compressed_format(v))
}

fn sample_values<'a>(values: impl Iterator<Item = Option<&'a [u8]>>) -> Vec<&'a [u8]> {
    values
        .flatten()
        .filter(|v| !v.is_empty())
        .take(MEDIA_SAMPLE)
        .collect()
}

/// Magic numbers of formats that are compressed already: images, audio/video containers and
/// general-purpose compressors.
fn is_compressed_format(b: &[u8]) -> bool {
    const PREFIXES: &[&[u8]] = &[
        b"\xFF\xD8\xFF",                   // JPEG
        b"\x89PNG\r\n\x1A\n",              // PNG
        b"GIF87a",                         // GIF
        b"GIF89a",                         //
        b"\xFF\x0A",                       // JPEG XL codestream
        b"\x00\x00\x00\x0CJXL \r\n\x87\n", // JPEG XL container
        b"\x1A\x45\xDF\xA3",               // Matroska / WebM
        b"OggS",                           // Ogg
        b"fLaC",                           // FLAC
        b"ID3",                            // MP3 with ID3 tag
        b"\x1F\x8B",                       // gzip
        b"\x28\xB5\x2F\xFD",               // zstd
        b"BZh",                            // bzip2
        b"\xFD7zXZ\x00",                   // xz
        b"PK\x03\x04",                     // zip (also docx, epub, ...)
    ];
    let riff_media = b.len() >= 12 && &b[..4] == b"RIFF" && matches!(&b[8..12], b"WEBP" | b"AVI ");
    // MP4, MOV, HEIF/AVIF: an ISO base media `ftyp` box first.
    let iso_media = b.len() >= 8 && &b[4..8] == b"ftyp";
    riff_media || iso_media || PREFIXES.iter().any(|p| b.starts_with(p))
}

fn describe(schema: &SchemaRef) -> String {
    let cols: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| format!("{}: {}", f.name(), f.data_type()))
        .collect();
    format!("[{}]", cols.join(", "))
}

/// Parquet write failures are storage failures here (the schema was checked before): retryable.
fn parquet_error(path: &Path, e: parquet::errors::ParquetError) -> MdfError {
    MdfError::io(path, std::io::Error::other(e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, Int64Array, StringArray};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use std::fs;

    fn params(out: &Path) -> ParquetWriterParams {
        serde_json::from_value(serde_json::json!({ "output_path": out })).unwrap()
    }

    fn batch(start: i64, n: i64) -> RecordBatch {
        let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(start..start + n));
        let text: ArrayRef = Arc::new(StringArray::from_iter_values(
            (start..start + n).map(|i| format!("document number {i} with some text")),
        ));
        RecordBatch::try_from_iter([("n", ids), ("text", text)]).unwrap()
    }

    fn read_dir_sorted(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    fn file_metadata(path: &Path) -> Arc<parquet::file::metadata::ParquetMetaData> {
        let file = fs::File::open(path).unwrap();
        Arc::clone(
            ParquetRecordBatchReaderBuilder::try_new(file)
                .unwrap()
                .metadata(),
        )
    }

    fn read_back(path: &Path) -> Vec<RecordBatch> {
        ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap())
            .unwrap()
            .build()
            .unwrap()
            .collect::<std::result::Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn round_trips_and_publishes_atomically() {
        let tmp = tempfile::tempdir().unwrap();
        let writer = ParquetDataWriter::build(params(tmp.path())).unwrap();
        assert_eq!(writer.output_dir(), tmp.path());
        let mut shard = writer.open_shard(3).unwrap();
        shard.write(&batch(0, 10)).unwrap();
        shard.write(&batch(10, 0)).unwrap();
        shard.write(&batch(10, 5)).unwrap();
        assert_eq!(
            read_dir_sorted(tmp.path()),
            [".part-000003-0000.parquet.tmp"]
        );
        let files = shard.finish().unwrap();
        assert_eq!(files, ["part-000003-0000.parquet"]);
        assert_eq!(read_dir_sorted(tmp.path()), files);

        let back = read_back(&tmp.path().join(&files[0]));
        let back = arrow::compute::concat_batches(&back[0].schema(), &back).unwrap();
        let want =
            arrow::compute::concat_batches(&batch(0, 1).schema(), &[batch(0, 10), batch(10, 5)])
                .unwrap();
        assert_eq!(back, want);
    }

    #[test]
    fn exclude_columns_leaves_them_out_and_a_misspelt_one_fails() {
        let tmp = tempfile::tempdir().unwrap();
        let with = |exclude: serde_json::Value| {
            serde_json::from_value::<ParquetWriterParams>(
                serde_json::json!({ "output_path": tmp.path(), "exclude_columns": exclude }),
            )
            .unwrap()
        };
        let writer = ParquetDataWriter::build(with(serde_json::json!(["text"]))).unwrap();
        let mut shard = writer.open_shard(0).unwrap();
        shard.write(&batch(0, 10)).unwrap();
        let files = shard.finish().unwrap();
        let back = read_back(&tmp.path().join(&files[0]));
        assert_eq!(back[0].schema().fields().len(), 1);
        assert_eq!(back[0].column(0), batch(0, 10).column(0));

        let writer = ParquetDataWriter::build(with(serde_json::json!(["txet"]))).unwrap();
        let err = writer
            .open_shard(1)
            .unwrap()
            .write(&batch(0, 3))
            .unwrap_err();
        assert_eq!(err.class(), mdf_core::ErrorClass::Config);
        let msg = err.to_string();
        assert!(msg.contains("`txet`") && msg.contains("n, text"), "{msg}");

        for bad in [serde_json::json!(["n", "n"]), serde_json::json!([""])] {
            let err = ParquetDataWriter::build(with(bad.clone())).err().unwrap();
            assert!(err.to_string().contains("exclude_columns"), "{bad}: {err}");
        }
    }

    #[test]
    fn rolls_over_and_is_byte_deterministic() {
        let tmp = tempfile::tempdir().unwrap();
        let mut written = Vec::new();
        for run in ["a", "b"] {
            let mut p = params(&tmp.path().join(run));
            p.row_group_size = 50;
            p.table_name = Some("docs".into());
            let mut writer = ParquetDataWriter::new(p).unwrap();
            writer.target_bytes = 4096;
            let mut shard = writer.open_shard(0).unwrap();
            for i in 0..20 {
                shard.write(&batch(i * 100, 100)).unwrap();
            }
            let files = shard.finish().unwrap();
            assert!(files.len() > 2, "{files:?}");
            assert_eq!(
                read_dir_sorted(&writer.data_dir()),
                files,
                "no temporary files left"
            );
            let mut rows = 0;
            let mut bytes = Vec::new();
            for f in &files {
                rows += read_back(&writer.data_dir().join(f))
                    .iter()
                    .map(|b| b.num_rows())
                    .sum::<usize>();
                bytes.push(fs::read(writer.data_dir().join(f)).unwrap());
            }
            assert_eq!(rows, 2000);
            written.push((files, bytes));
        }
        assert_eq!(written[0], written[1]);
    }

    #[test]
    fn large_rows_close_row_groups_by_bytes_not_rows() {
        use arrow::array::BinaryArray;
        let tmp = tempfile::tempdir().unwrap();
        let mut p = params(tmp.path());
        p.row_group_max_mb = 1.0;
        p.compression = ParquetCompression::None;
        let writer = ParquetDataWriter::new(p).unwrap();
        let mut shard = writer.open_shard(0).unwrap();
        // 40 batches of 4 "images" of 100 KB: 16 MB, far under the 100,000-row limit.
        for b in 0..40u8 {
            let blobs: Vec<Vec<u8>> = (0..4u8).map(|i| vec![b ^ i; 100_000]).collect();
            let col: ArrayRef = Arc::new(BinaryArray::from_iter_values(blobs.iter()));
            shard
                .write(&RecordBatch::try_from_iter([("image", col)]).unwrap())
                .unwrap();
        }
        let files = shard.finish().unwrap();
        let meta = file_metadata(&tmp.path().join(&files[0]));
        let groups = meta.row_groups();
        // Each row group closes at about 1 MiB buffered: about 16 of them, none over ~1 MiB
        // plus one batch.
        assert!(groups.len() >= 10, "{} row groups", groups.len());
        let rows: i64 = groups.iter().map(|g| g.num_rows()).sum();
        assert_eq!(rows, 160);
        for g in groups {
            assert!(g.total_byte_size() < 1_600_000, "{}", g.total_byte_size());
        }
    }

    #[test]
    fn compressed_media_columns_are_stored_uncompressed() {
        use arrow::array::BinaryArray;
        use parquet::basic::Encoding;
        let tmp = tempfile::tempdir().unwrap();
        let writer = ParquetDataWriter::new(params(tmp.path())).unwrap();
        let mut shard = writer.open_shard(0).unwrap();
        let jpeg = |i: u8| [&b"\xFF\xD8\xFF\xE0"[..], &[i; 3000]].concat();
        let images: ArrayRef = Arc::new(BinaryArray::from_iter(
            (0..20u8).map(|i| (i != 3).then(|| jpeg(i))),
        ));
        let webp = [&b"RIFF\x00\x00\x00\x00WEBPVP8 "[..], &[7; 3000]].concat();
        let mixed: ArrayRef = Arc::new(BinaryArray::from_iter_values((0..20u8).map(|i| {
            if i == 5 {
                b"plain bytes".to_vec()
            } else {
                webp.clone()
            }
        })));
        let raw: ArrayRef = Arc::new(BinaryArray::from_iter_values((0..20u8).map(|i| [i; 3000])));
        let text: ArrayRef = Arc::new(StringArray::from_iter_values(
            (0..20).map(|_| "x".repeat(3000)),
        ));
        let b = RecordBatch::try_from_iter([
            ("image", images),
            ("mixed", mixed),
            ("raw", raw),
            ("text", text),
        ])
        .unwrap();
        shard.write(&b).unwrap();
        let files = shard.finish().unwrap();
        let path = tmp.path().join(&files[0]);
        let meta = file_metadata(&path);
        let column = |i: usize| meta.row_group(0).column(i).clone();
        assert_eq!(column(0).compression(), Compression::UNCOMPRESSED);
        assert!(
            !column(0).encodings().any(|e| e == Encoding::RLE_DICTIONARY),
            "no dictionary for media"
        );
        for i in 1..4 {
            assert!(
                matches!(column(i).compression(), Compression::ZSTD(_)),
                "column {i}: {:?}",
                column(i).compression()
            );
        }
        assert_eq!(read_back(&path)[0], b, "the values read back unchanged");
    }

    /// Whether each leaf column of the file's first row group is dictionary-encoded.
    fn dictionary_columns(path: &Path) -> Vec<(String, bool)> {
        use parquet::basic::Encoding;
        file_metadata(path)
            .row_group(0)
            .columns()
            .iter()
            .map(|c| {
                let dictionary = c.encodings().any(|e| e == Encoding::RLE_DICTIONARY);
                (c.column_path().string(), dictionary)
            })
            .collect()
    }

    #[test]
    fn columns_of_distinct_values_get_no_dictionary() {
        use arrow::array::{StructArray, UInt64Array};
        let tmp = tempfile::tempdir().unwrap();
        let writer = ParquetDataWriter::new(params(tmp.path())).unwrap();
        let rows = 500u64;
        let strings = |f: &dyn Fn(u64) -> String| -> ArrayRef {
            Arc::new(StringArray::from_iter_values((0..rows).map(f)))
        };
        let offsets: ArrayRef = Arc::new(UInt64Array::from_iter_values((0..rows).map(|i| i * 977)));
        let few_offsets: ArrayRef =
            Arc::new(UInt64Array::from_iter_values((0..rows).map(|i| i % 3)));
        let metadata: ArrayRef = Arc::new(StructArray::from(vec![
            (
                Arc::new(arrow::datatypes::Field::new("url", DataType::Utf8, false)),
                strings(&|i| format!("https://example.org/page/{i}")),
            ),
            (
                Arc::new(arrow::datatypes::Field::new("dump", DataType::Utf8, false)),
                strings(&|_| "CC-MAIN-2024-51".into()),
            ),
        ]));
        let b = RecordBatch::try_from_iter([
            ("id", strings(&|i| format!("doc-{i:08}"))),
            ("text", strings(&|i| format!("document {i} ").repeat(20))),
            // Half the values repeat: a dictionary of 250 values plus 500 indices is smaller.
            ("half", strings(&|i| format!("value number {}", i / 2))),
            (
                "language",
                strings(&|i| ["en", "de", "fr"][i as usize % 3].into()),
            ),
            ("offset", offsets),
            ("bucket", few_offsets),
            ("metadata", metadata),
        ])
        .unwrap();
        let mut shard = writer.open_shard(0).unwrap();
        shard.write(&b).unwrap();
        let files = shard.finish().unwrap();
        let path = tmp.path().join(&files[0]);
        let expected = [
            ("id", false),
            ("text", false),
            ("half", true),
            ("language", true),
            ("offset", false),
            ("bucket", true),
            ("metadata.url", false),
            ("metadata.dump", true),
        ];
        let expected: Vec<(String, bool)> =
            expected.iter().map(|(n, d)| (n.to_string(), *d)).collect();
        assert_eq!(dictionary_columns(&path), expected);
        assert_eq!(read_back(&path)[0], b, "the values read back unchanged");

        // Too few values to judge: the writer's default (a dictionary) stays.
        let tmp = tempfile::tempdir().unwrap();
        let writer = ParquetDataWriter::new(params(tmp.path())).unwrap();
        let mut shard = writer.open_shard(0).unwrap();
        shard.write(&b.slice(0, 10)).unwrap();
        let files = shard.finish().unwrap();
        let few = dictionary_columns(&tmp.path().join(&files[0]));
        assert!(few.iter().all(|(_, dictionary)| *dictionary), "{few:?}");

        // Few values, but a page's worth of bytes: judged (distinct: no dictionary).
        let tmp = tempfile::tempdir().unwrap();
        let writer = ParquetDataWriter::new(params(tmp.path())).unwrap();
        let mut shard = writer.open_shard(0).unwrap();
        let big: ArrayRef = Arc::new(StringArray::from_iter_values(
            (0..10).map(|i| format!("{i}").repeat(100_000)),
        ));
        shard
            .write(&RecordBatch::try_from_iter([("text", big)]).unwrap())
            .unwrap();
        let files = shard.finish().unwrap();
        let big = dictionary_columns(&tmp.path().join(&files[0]));
        assert_eq!(big, vec![("text".to_string(), false)]);
    }

    #[test]
    fn no_rows_no_file_and_schema_changes_are_bugs() {
        let tmp = tempfile::tempdir().unwrap();
        let writer = ParquetDataWriter::new(params(tmp.path())).unwrap();
        let shard = writer.open_shard(1).unwrap();
        assert!(shard.finish().unwrap().is_empty());
        assert!(read_dir_sorted(tmp.path()).is_empty());

        let mut shard = writer.open_shard(2).unwrap();
        shard.write(&batch(0, 3)).unwrap();
        let other: ArrayRef = Arc::new(StringArray::from(vec!["x"]));
        let other = RecordBatch::try_from_iter([("n", other)]).unwrap();
        let err = shard.write(&other).unwrap_err();
        assert!(matches!(err, MdfError::Internal(_)), "{err}");
        drop(shard);
        assert!(
            read_dir_sorted(tmp.path()).is_empty(),
            "a failed shard leaves nothing"
        );
    }

    #[test]
    fn every_codec_writes_readable_files() {
        for codec in ["zstd", "snappy", "gzip", "lz4", "none"] {
            let tmp = tempfile::tempdir().unwrap();
            let p: ParquetWriterParams = serde_json::from_value(serde_json::json!({
                "output_path": tmp.path(), "compression": codec
            }))
            .unwrap();
            assert!(p.check().is_ok(), "{codec}");
            let writer = ParquetDataWriter::new(p).unwrap();
            let mut shard = writer.open_shard(0).unwrap();
            shard.write(&batch(0, 7)).unwrap();
            let files = shard.finish().unwrap();
            assert_eq!(
                read_back(&tmp.path().join(&files[0]))[0].num_rows(),
                7,
                "{codec}"
            );
        }
    }

    #[test]
    fn params_are_checked() {
        let p: ParquetWriterParams =
            serde_json::from_value(serde_json::json!({ "output_path": "out" })).unwrap();
        assert_eq!(p.compression, ParquetCompression::Zstd);
        assert_eq!(
            (p.compression_level, p.row_group_size, p.target_file_size_mb),
            (3, 100_000, 256.0)
        );
        assert!(p.check().is_ok());
        let bad = |v: serde_json::Value| {
            serde_json::from_value::<ParquetWriterParams>(v).map(|p| p.check())
        };
        assert!(bad(serde_json::json!({ "output_path": "o", "extra": 1 })).is_err());
        assert!(bad(serde_json::json!({ "output_path": "o", "compression": "brotli" })).is_err());
        assert!(
            bad(serde_json::json!({ "output_path": "o", "compression_level": 40 }))
                .unwrap()
                .is_err()
        );
        assert!(bad(serde_json::json!({ "output_path": "o", "compression": "gzip", "compression_level": 12 }))
            .unwrap()
            .is_err());
        assert!(
            bad(serde_json::json!({ "output_path": "o", "table_name": "../x" }))
                .unwrap()
                .is_err()
        );
    }
}
