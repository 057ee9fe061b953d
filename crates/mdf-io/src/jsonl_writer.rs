//! `JsonlDataWriter`: each shard's batches as JSON Lines in `part-{shard:06}-{seq:04}.jsonl`
//! (`.gz`/`.zst` when compressed) files of about `target_file_size_mb`, published atomically.
//! Null values are omitted from the objects. Output is byte-deterministic (the gzip header has
//! no timestamp or file name).

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::json::LineDelimitedWriter;
use arrow::record_batch::RecordBatch;
use mdf_core::io::{DataWriter, ShardWriter};
use mdf_core::{Component, MdfError, OperatorKind, Params, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::codec::{Codec, Encoder};
use crate::jsonl_loader::mib_to_bytes;
use crate::output::{
    check_exclude_columns, check_table_name, data_dir, without_columns, CountingWriter, ShardFiles,
};
use crate::parquet_writer::{check_target_size, default_target_file_size_mb};
use crate::storage::{self, OutputFile};

/// Compression of the JSONL files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum JsonlCompression {
    #[default]
    None,
    Gzip,
    Zstd,
}

impl JsonlCompression {
    fn codec(self) -> Codec {
        match self {
            JsonlCompression::None => Codec::None,
            JsonlCompression::Gzip => Codec::Gzip,
            JsonlCompression::Zstd => Codec::Zstd,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonlWriterParams {
    /// The run directory; data files are written here (or under `table_name`). Required.
    pub output_path: String,
    /// `none`, `gzip` (level 6) or `zstd` (level 3). Default: `none`.
    #[serde(default)]
    pub compression: JsonlCompression,
    /// A file is closed and the shard's next file started once it reaches about this many MiB
    /// (compressed bytes, fractions allowed). Default: 256.
    #[serde(default = "default_target_file_size_mb")]
    pub target_file_size_mb: f64,
    /// When set, data files go in `<output_path>/<table_name>/`. Default: unset (data files
    /// directly in `output_path`).
    #[serde(default)]
    pub table_name: Option<String>,
    /// Columns left out of the data files, e.g. `[image]` to write a profiling run's
    /// annotations without the image bytes. A name the records do not have fails the run at
    /// its first batch. Default: none (every column is written).
    #[serde(default)]
    pub exclude_columns: Vec<String>,
}

impl Params for JsonlWriterParams {
    fn check(&self) -> std::result::Result<(), String> {
        if self.output_path.trim().is_empty() {
            return Err("`output_path` must not be empty".into());
        }
        check_target_size(self.target_file_size_mb)?;
        check_table_name(self.table_name.as_deref())?;
        check_exclude_columns(&self.exclude_columns)
    }
}

/// Writes JSON Lines files; see the module docs.
pub struct JsonlDataWriter {
    output_dir: PathBuf,
    data_dir: PathBuf,
    codec: Codec,
    target_bytes: u64,
    exclude_columns: Arc<[String]>,
}

impl Component for JsonlDataWriter {
    type Built = dyn DataWriter;
    type Params = JsonlWriterParams;
    const NAME: &'static str = "JsonlDataWriter";
    const KIND: OperatorKind = OperatorKind::Writer;
    const SUMMARY: &'static str =
        "JSON Lines files per shard (plain, gzip or zstd), rolled at a target size, published atomically";

    fn build(params: JsonlWriterParams) -> Result<Box<dyn DataWriter>> {
        Ok(Box::new(JsonlDataWriter::new(params)?))
    }
}

impl JsonlDataWriter {
    pub fn new(params: JsonlWriterParams) -> Result<Self> {
        params.check().map_err(MdfError::config)?;
        storage::probe_output(&params.output_path)?;
        let output_dir = PathBuf::from(&params.output_path);
        Ok(JsonlDataWriter {
            data_dir: data_dir(&output_dir, params.table_name.as_deref()),
            output_dir,
            codec: params.compression.codec(),
            target_bytes: mib_to_bytes(params.target_file_size_mb),
            exclude_columns: params.exclude_columns.into(),
        })
    }
}

impl DataWriter for JsonlDataWriter {
    fn output_dir(&self) -> &Path {
        &self.output_dir
    }

    fn data_dir(&self) -> PathBuf {
        self.data_dir.clone()
    }

    fn open_shard(&self, shard_index: usize) -> Result<Box<dyn ShardWriter>> {
        let extension = format!(".jsonl{}", self.codec.suffix());
        Ok(Box::new(JsonlShardWriter {
            files: ShardFiles::open(&self.data_dir, shard_index, &extension)?,
            codec: self.codec,
            target_bytes: self.target_bytes,
            exclude_columns: Arc::clone(&self.exclude_columns),
            writer: None,
        }))
    }
}

type Sink = LineDelimitedWriter<Encoder<CountingWriter<BufWriter<OutputFile>>>>;

struct JsonlShardWriter {
    files: ShardFiles,
    codec: Codec,
    target_bytes: u64,
    exclude_columns: Arc<[String]>,
    writer: Option<Sink>,
}

impl ShardWriter for JsonlShardWriter {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let batch = &without_columns(batch, &self.exclude_columns)?;
        let writer = match &mut self.writer {
            Some(w) => w,
            None => {
                let file = self.files.create()?;
                let counting = CountingWriter::new(BufWriter::with_capacity(1 << 20, file));
                let encoder = Encoder::new(counting, self.codec)
                    .map_err(|e| MdfError::io(self.files.current_path(), e))?;
                self.writer.insert(LineDelimitedWriter::new(encoder))
            }
        };
        writer.write(batch)?;
        if written_bytes(writer) >= self.target_bytes {
            self.close_file()?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<Vec<String>> {
        self.close_file()?;
        Ok(self.files.finish())
    }
}

fn written_bytes(writer: &Sink) -> u64 {
    match writer.get_ref() {
        Encoder::Plain(w) => w.count(),
        Encoder::Gzip(w) => w.get_ref().count(),
        Encoder::Zstd(w) => w.get_ref().count(),
    }
}

impl JsonlShardWriter {
    fn close_file(&mut self) -> Result<()> {
        let Some(mut writer) = self.writer.take() else {
            return Ok(());
        };
        writer.finish()?;
        let path = self.files.current_path().to_path_buf();
        let mut buffered = writer
            .into_inner()
            .finish()
            .map_err(|e| MdfError::io(&path, e))?
            .into_inner();
        buffered.flush().map_err(|e| MdfError::io(&path, e))?;
        let file = buffered
            .into_inner()
            .map_err(|e| MdfError::io(&path, e.into_error()))?;
        self.files.publish(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jsonl_loader::{JsonlLoader, JsonlLoaderParams};
    use crate::paths::PathList;
    use arrow::array::{Array, ArrayRef, AsArray, Int64Array, StringArray};
    use arrow::datatypes::Int64Type;
    use mdf_core::io::{Loader, SourceItem};
    use std::fs;
    use std::sync::Arc;

    fn batch(start: i64, n: i64) -> RecordBatch {
        let n_col: ArrayRef = Arc::new(Int64Array::from_iter(
            (start..start + n).map(|i| (i % 3 != 0).then_some(i)),
        ));
        let text: ArrayRef = Arc::new(StringArray::from_iter_values(
            (start..start + n).map(|i| format!("doc \"{i}\"\nline two é")),
        ));
        RecordBatch::try_from_iter([("text", text), ("n", n_col)]).unwrap()
    }

    fn writer(out: &Path, compression: &str) -> JsonlDataWriter {
        let p: JsonlWriterParams = serde_json::from_value(
            serde_json::json!({ "output_path": out, "compression": compression }),
        )
        .unwrap();
        JsonlDataWriter::new(p).unwrap()
    }

    #[test]
    fn round_trips_through_the_loader() {
        for compression in ["none", "gzip", "zstd"] {
            let tmp = tempfile::tempdir().unwrap();
            let mut writer = writer(tmp.path(), compression);
            writer.target_bytes = 2000;
            let mut shard = writer.open_shard(5).unwrap();
            // Enough data that the compressors emit blocks (zstd buffers up to 128 KiB).
            for i in 0..10 {
                shard.write(&batch(i * 1000, 1000)).unwrap();
            }
            let files = shard.finish().unwrap();
            assert!(files.len() > 1, "{compression}: {files:?}");
            let suffix = Codec::from_path(&files[0]).suffix();
            assert!(files[0].starts_with("part-000005-0000.jsonl"));
            assert_eq!(files[0], format!("part-000005-0000.jsonl{suffix}"));
            let mut on_disk: Vec<_> = fs::read_dir(tmp.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            on_disk.sort();
            assert_eq!(on_disk, files, "no temporary files left");

            let loader = JsonlLoader::new(JsonlLoaderParams {
                paths: PathList::One(tmp.path().to_str().unwrap().to_owned()),
                infer_rows: 1000,
                shard_size_mb: 128.0,
                id_field: "id".into(),
            });
            let (mut texts, mut ns) = (Vec::new(), Vec::new());
            for spec in loader.list_shards().unwrap() {
                let mut source = loader.open(&spec, 64).unwrap();
                while let Some(item) = source.next_item().unwrap() {
                    let SourceItem::Batch(b) = item else {
                        panic!("{item:?}")
                    };
                    let t = b.column_by_name("text").unwrap().as_string::<i32>();
                    let n = b.column_by_name("n").unwrap().as_primitive::<Int64Type>();
                    for i in 0..b.num_rows() {
                        texts.push(t.value(i).to_owned());
                        ns.push(n.is_valid(i).then(|| n.value(i)));
                    }
                }
            }
            let want: Vec<_> = (0..10_000)
                .map(|i| format!("doc \"{i}\"\nline two é"))
                .collect();
            assert_eq!(texts, want, "{compression}");
            assert_eq!(
                ns,
                (0..10_000)
                    .map(|i| (i % 3 != 0).then_some(i))
                    .collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn exclude_columns_leaves_them_out() {
        let tmp = tempfile::tempdir().unwrap();
        let p: JsonlWriterParams = serde_json::from_value(
            serde_json::json!({ "output_path": tmp.path(), "exclude_columns": ["text"] }),
        )
        .unwrap();
        let writer = JsonlDataWriter::new(p).unwrap();
        let mut shard = writer.open_shard(0).unwrap();
        shard.write(&batch(0, 3)).unwrap();
        let files = shard.finish().unwrap();
        let written = fs::read_to_string(tmp.path().join(&files[0])).unwrap();
        assert_eq!(written, "{}\n{\"n\":1}\n{\"n\":2}\n");
    }

    #[test]
    fn output_is_byte_deterministic() {
        let tmp = tempfile::tempdir().unwrap();
        let mut contents = Vec::new();
        for run in ["a", "b"] {
            let writer = writer(&tmp.path().join(run), "gzip");
            let mut shard = writer.open_shard(0).unwrap();
            shard.write(&batch(0, 50)).unwrap();
            let files = shard.finish().unwrap();
            contents.push(fs::read(writer.data_dir().join(&files[0])).unwrap());
        }
        assert_eq!(contents[0], contents[1]);
    }

    #[test]
    fn table_name_nests_the_data_and_empty_shards_write_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let p: JsonlWriterParams = serde_json::from_value(
            serde_json::json!({ "output_path": tmp.path(), "table_name": "docs" }),
        )
        .unwrap();
        assert_eq!(p.target_file_size_mb, 256.0);
        let writer = JsonlDataWriter::new(p).unwrap();
        assert_eq!(writer.output_dir(), tmp.path());
        assert_eq!(writer.data_dir(), tmp.path().join("docs"));
        let shard = writer.open_shard(0).unwrap();
        assert!(shard.finish().unwrap().is_empty());
        let mut shard = writer.open_shard(1).unwrap();
        shard.write(&batch(0, 2)).unwrap();
        assert_eq!(shard.finish().unwrap(), ["part-000001-0000.jsonl"]);
        assert!(tmp.path().join("docs/part-000001-0000.jsonl").exists());
        assert!(serde_json::from_value::<JsonlWriterParams>(
            serde_json::json!({ "output_path": "o", "compression": "lz4" })
        )
        .is_err());
    }
}
