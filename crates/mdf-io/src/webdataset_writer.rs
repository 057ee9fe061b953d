//! `WebDatasetWriter`: records as [WebDataset](https://github.com/webdataset/webdataset) tar
//! shards. Each record is one sample: `{key}.{jpg|png|webp|gif|bin}` (the image bytes),
//! `{key}.txt` (the caption) and `{key}.json` (every other non-binary column), consecutive in
//! the tar as WebDataset readers expect. A tar is closed once it holds `max_samples_per_shard`
//! samples or would pass `max_shard_bytes`, so shards stay size-bounded.
//!
//! Files are named `part-{shard:06}-{seq:04}.tar` (the engine's per-shard prefix, so resume and
//! `--overwrite` treat them like every other writer's files) and published atomically; tar
//! headers carry no timestamps or owners, so output is byte-deterministic.

use std::io::Write;
use std::path::{Path, PathBuf};

use arrow::array::{Array, ArrayRef, AsArray, StructArray};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use mdf_core::io::{DataWriter, ShardWriter};
use mdf_core::{Component, MdfError, OperatorKind, Params, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::output::ShardFiles;
use crate::storage::{self, OutputFile};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebDatasetWriterParams {
    /// The run directory; the tar shards are written here. Required.
    pub output_path: String,
    /// Column with the image: binary, or a Hugging Face image struct with a `bytes` field.
    /// Default: `image`.
    #[serde(default = "default_image_column")]
    pub image_column: String,
    /// Column with the caption, written as `{key}.txt` when present and not null.
    /// Default: `caption`.
    #[serde(default = "default_caption_column")]
    pub caption_column: String,
    /// Column whose value names the sample (`.` and `/` become `_`); rows without one are
    /// named `{shard:06}{row:09}`. Default: `id`.
    #[serde(default = "default_key_column")]
    pub key_column: String,
    /// A tar is closed before it would pass this many bytes (a single larger sample still
    /// gets a tar of its own). Default: 1000000000.
    #[serde(default = "default_max_shard_bytes")]
    pub max_shard_bytes: u64,
    /// A tar is closed once it holds this many samples. Default: 10000.
    #[serde(default = "default_max_samples_per_shard")]
    pub max_samples_per_shard: u64,
}

fn default_image_column() -> String {
    "image".into()
}
fn default_caption_column() -> String {
    "caption".into()
}
fn default_key_column() -> String {
    "id".into()
}
fn default_max_shard_bytes() -> u64 {
    1_000_000_000
}
fn default_max_samples_per_shard() -> u64 {
    10_000
}

impl Params for WebDatasetWriterParams {
    fn check(&self) -> std::result::Result<(), String> {
        if self.output_path.trim().is_empty() {
            return Err("`output_path` must not be empty".into());
        }
        if self.max_shard_bytes < 10 * 1024 {
            return Err("`max_shard_bytes` must be at least 10240".into());
        }
        if self.max_samples_per_shard == 0 {
            return Err("`max_samples_per_shard` must be at least 1".into());
        }
        Ok(())
    }
}

/// Writes WebDataset tar shards; see the module docs.
pub struct WebDatasetWriter {
    params: WebDatasetWriterParams,
    output_dir: PathBuf,
}

impl Component for WebDatasetWriter {
    type Built = dyn DataWriter;
    type Params = WebDatasetWriterParams;
    const NAME: &'static str = "WebDatasetWriter";
    const KIND: OperatorKind = OperatorKind::Writer;
    const SUMMARY: &'static str =
        "WebDataset tar shards (image + caption .txt + .json per sample), size-bounded, atomic";

    fn build(params: WebDatasetWriterParams) -> Result<Box<dyn DataWriter>> {
        Ok(Box::new(WebDatasetWriter::new(params)?))
    }
}

impl WebDatasetWriter {
    pub fn new(params: WebDatasetWriterParams) -> Result<Self> {
        params.check().map_err(MdfError::config)?;
        storage::probe_output(&params.output_path)?;
        Ok(WebDatasetWriter {
            output_dir: PathBuf::from(&params.output_path),
            params,
        })
    }
}

impl DataWriter for WebDatasetWriter {
    fn output_dir(&self) -> &Path {
        &self.output_dir
    }

    fn open_shard(&self, shard_index: usize) -> Result<Box<dyn ShardWriter>> {
        Ok(Box::new(TarShardWriter {
            files: ShardFiles::open(&self.output_dir, shard_index, ".tar")?,
            params: self.params.clone(),
            shard_index,
            row: 0,
            tar: None,
        }))
    }
}

struct OpenTar {
    out: OutputFile,
    bytes: u64,
    samples: u64,
}

struct TarShardWriter {
    files: ShardFiles,
    params: WebDatasetWriterParams,
    shard_index: usize,
    /// Rows seen in the shard (names samples without a key).
    row: u64,
    tar: Option<OpenTar>,
}

/// One tar member: 512-byte header plus the data padded to 512 bytes.
fn member_size(len: usize) -> u64 {
    512 + (len as u64).div_ceil(512) * 512
}

impl ShardWriter for TarShardWriter {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let image = batch
            .column_by_name(&self.params.image_column)
            .map(image_bytes)
            .transpose()?;
        let caption = batch
            .column_by_name(&self.params.caption_column)
            .filter(|c| {
                matches!(
                    c.data_type(),
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                )
            });
        let keys = batch.column_by_name(&self.params.key_column);
        let json_rows = other_columns_json(batch, &self.params)?;
        for (row, json_row) in json_rows.iter().enumerate() {
            let key = keys
                .and_then(|k| value_text(k, row))
                .map(|k| k.replace(['.', '/', '\\'], "_"))
                .filter(|k| !k.is_empty())
                .unwrap_or_else(|| format!("{:06}{:09}", self.shard_index, self.row));
            self.row += 1;
            let mut members: Vec<(String, Vec<u8>)> = Vec::with_capacity(3);
            if let Some(Some(bytes)) = image.as_ref().map(|img| img.get(row)) {
                members.push((format!("{key}.{}", image_extension(bytes)), bytes.to_vec()));
            }
            if let Some(text) = caption.and_then(|c| value_text(c, row)) {
                members.push((format!("{key}.txt"), text.into_bytes()));
            }
            let json = serde_json::to_vec(json_row)
                .map_err(|e| MdfError::internal(format!("serialising a sample: {e}")))?;
            members.push((format!("{key}.json"), json));
            self.append_sample(&members)?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<Vec<String>> {
        self.close_tar()?;
        Ok(self.files.finish())
    }
}

impl TarShardWriter {
    fn append_sample(&mut self, members: &[(String, Vec<u8>)]) -> Result<()> {
        let size: u64 = members.iter().map(|(_, d)| member_size(d.len())).sum();
        if let Some(tar) = &self.tar {
            // Room for the sample and the two zero blocks that end a tar.
            if tar.samples >= self.params.max_samples_per_shard
                || tar.bytes + size + 1024 > self.params.max_shard_bytes
            {
                self.close_tar()?;
            }
        }
        let tar = match &mut self.tar {
            Some(t) => t,
            None => self.tar.insert(OpenTar {
                out: self.files.create()?,
                bytes: 0,
                samples: 0,
            }),
        };
        for (name, data) in members {
            let header = tar_header(name, data.len())?;
            let pad = (512 - data.len() % 512) % 512;
            let path = self.files.current_path().to_path_buf();
            tar.out
                .write_all(&header)
                .and_then(|()| tar.out.write_all(data))
                .and_then(|()| tar.out.write_all(&[0u8; 512][..pad]))
                .map_err(|e| MdfError::io(path, e))?;
        }
        tar.bytes += size;
        tar.samples += 1;
        Ok(())
    }

    fn close_tar(&mut self) -> Result<()> {
        let Some(mut tar) = self.tar.take() else {
            return Ok(());
        };
        let path = self.files.current_path().to_path_buf();
        tar.out
            .write_all(&[0u8; 1024])
            .map_err(|e| MdfError::io(path, e))?;
        self.files.publish(tar.out)
    }
}

/// A ustar header with fixed mode, owner and time (byte-deterministic output).
fn tar_header(name: &str, size: usize) -> Result<[u8; 512]> {
    let mut header = tar::Header::new_ustar();
    header
        .set_path(name)
        .map_err(|e| MdfError::internal(format!("tar member name `{name}`: {e}")))?;
    header.set_size(size as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    let mut out = [0u8; 512];
    out.copy_from_slice(header.as_bytes());
    Ok(out)
}

/// Sniffs the image format from its first bytes.
fn image_extension(bytes: &[u8]) -> &'static str {
    match bytes {
        [0xFF, 0xD8, 0xFF, ..] => "jpg",
        [0x89, b'P', b'N', b'G', ..] => "png",
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => "webp",
        [b'G', b'I', b'F', b'8', ..] => "gif",
        _ => "bin",
    }
}

/// Row accessor over a binary column or a Hugging Face image struct (`{bytes, path}`).
struct ImageBytes {
    array: ArrayRef,
}

impl ImageBytes {
    fn get(&self, row: usize) -> Option<&[u8]> {
        if self.array.is_null(row) {
            return None;
        }
        match self.array.data_type() {
            DataType::Binary => Some(self.array.as_binary::<i32>().value(row)),
            DataType::LargeBinary => Some(self.array.as_binary::<i64>().value(row)),
            DataType::BinaryView => Some(self.array.as_binary_view().value(row)),
            _ => None,
        }
    }
}

fn image_bytes(column: &ArrayRef) -> Result<ImageBytes> {
    let array = match column.data_type() {
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => column.clone(),
        DataType::Struct(_) => {
            let s: &StructArray = column.as_struct();
            let bytes = s.column_by_name("bytes").cloned().ok_or_else(|| {
                MdfError::config("WebDatasetWriter: the image struct column has no `bytes` field")
            })?;
            // A null struct row also hides its bytes.
            match s.nulls() {
                Some(nulls) => {
                    let merged = arrow::buffer::NullBuffer::union(
                        Some(nulls),
                        bytes.logical_nulls().as_ref(),
                    );
                    arrow::array::make_array(bytes.to_data().into_builder().nulls(merged).build()?)
                }
                None => bytes,
            }
        }
        other => {
            return Err(MdfError::config(format!(
                "WebDatasetWriter: the image column must be binary or an image struct, not {other}"
            )))
        }
    };
    Ok(ImageBytes { array })
}

fn value_text(column: &ArrayRef, row: usize) -> Option<String> {
    if column.is_null(row) {
        return None;
    }
    let formatter = arrow::util::display::ArrayFormatter::try_new(
        column.as_ref(),
        &arrow::util::display::FormatOptions::default(),
    )
    .ok()?;
    Some(formatter.value(row).to_string())
}

/// Each row's other columns (not the image, not the caption, not binary) as a JSON object.
fn other_columns_json(
    batch: &RecordBatch,
    params: &WebDatasetWriterParams,
) -> Result<Vec<serde_json::Value>> {
    let keep: Vec<usize> = batch
        .schema()
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| {
            f.name() != &params.image_column
                && f.name() != &params.caption_column
                && !matches!(
                    f.data_type(),
                    DataType::Binary | DataType::LargeBinary | DataType::BinaryView
                )
        })
        .map(|(i, _)| i)
        .collect();
    let projected = batch.project(&keep)?;
    if projected.num_columns() == 0 {
        return Ok(vec![serde_json::json!({}); batch.num_rows()]);
    }
    let mut writer = arrow::json::ArrayWriter::new(Vec::new());
    writer.write(&projected)?;
    writer.finish()?;
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&writer.into_inner())
        .map_err(|e| MdfError::internal(format!("re-reading sample JSON: {e}")))?;
    if rows.len() != batch.num_rows() {
        return Err(MdfError::internal(
            "sample JSON row count differs from the batch",
        ));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{BinaryArray, StringArray};
    use std::sync::Arc;

    fn batch(n: usize, image_len: usize) -> RecordBatch {
        let mut jpeg = vec![0xFF, 0xD8, 0xFF];
        jpeg.resize(image_len, 7);
        let images: ArrayRef = Arc::new(BinaryArray::from_iter(
            (0..n).map(|i| (i % 5 != 4).then_some(jpeg.as_slice())),
        ));
        let captions: ArrayRef = Arc::new(StringArray::from_iter_values(
            (0..n).map(|i| format!("a cat {i}")),
        ));
        let ids: ArrayRef = Arc::new(StringArray::from_iter_values(
            (0..n).map(|i| format!("s.{i}")),
        ));
        RecordBatch::try_from_iter([("id", ids), ("image", images), ("caption", captions)]).unwrap()
    }

    fn writer(dir: &Path, max_bytes: u64, max_samples: u64) -> WebDatasetWriter {
        WebDatasetWriter::new(
            serde_json::from_value(serde_json::json!({
                "output_path": dir, "max_shard_bytes": max_bytes,
                "max_samples_per_shard": max_samples
            }))
            .unwrap(),
        )
        .unwrap()
    }

    fn members(path: &Path) -> Vec<(String, Vec<u8>)> {
        let mut archive = tar::Archive::new(std::fs::File::open(path).unwrap());
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let name = e.path().unwrap().to_string_lossy().into_owned();
                let mut data = Vec::new();
                std::io::Read::read_to_end(&mut e, &mut data).unwrap();
                (name, data)
            })
            .collect()
    }

    #[test]
    fn writes_bounded_deterministic_tars_that_read_back() {
        let tmp = tempfile::tempdir().unwrap();
        let mut all = Vec::new();
        for run in ["a", "b"] {
            let w = writer(&tmp.path().join(run), 20_000, 7);
            let mut shard = w.open_shard(2).unwrap();
            shard.write(&batch(30, 3000)).unwrap();
            let files = shard.finish().unwrap();
            assert!(files.len() >= 5, "{files:?}");
            assert!(files[0] == "part-000002-0000.tar");
            let mut samples = Vec::new();
            for f in &files {
                let path = tmp.path().join(run).join(f);
                assert!(std::fs::metadata(&path).unwrap().len() <= 20_000);
                let m = members(&path);
                samples.extend(m.clone());
                all.push(std::fs::read(&path).unwrap());
            }
            assert_eq!(samples[0].0, "s_0.jpg");
            assert_eq!(samples[1], ("s_0.txt".into(), b"a cat 0".to_vec()));
            assert_eq!(samples[2].0, "s_0.json");
            let json: serde_json::Value = serde_json::from_slice(&samples[2].1).unwrap();
            assert_eq!(json, serde_json::json!({"id": "s.0"}));
            // Row 4 has no image: its sample is .txt + .json only.
            assert!(samples.iter().any(|(n, _)| n == "s_4.txt"));
            assert!(!samples.iter().any(|(n, _)| n.starts_with("s_4.jpg")));
            assert_eq!(
                samples.iter().filter(|(n, _)| n.ends_with(".json")).count(),
                30
            );
        }
        let half = all.len() / 2;
        assert_eq!(all[..half], all[half..], "byte-deterministic");
    }
}
