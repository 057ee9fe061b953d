//! Rows staged between segments of a plan with global operators: what segment k keeps of a
//! shard, read back by segment k+1 once the global step has found the duplicates. Parquet with
//! LZ4, written atomically (a temporary file renamed, or an upload completed) when the shard's
//! segment commits, in the run directory wherever it is (`mdf_io::storage`). A shard with no
//! rows stages no file.

use std::path::{Path, PathBuf};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use mdf_core::io::{RecordSource, SourceItem};
use mdf_core::{MdfError, Result};
use mdf_io::storage::{self, InputFile, OutputFile};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

fn staging_error(path: &Path, e: impl std::fmt::Display) -> MdfError {
    MdfError::io(path, std::io::Error::other(e.to_string()))
}

pub(crate) struct StagedWriter {
    path: PathBuf,
    writer: Option<ArrowWriter<OutputFile>>,
    schema: Option<SchemaRef>,
}

impl StagedWriter {
    pub(crate) fn new(path: PathBuf) -> Self {
        StagedWriter {
            path,
            writer: None,
            schema: None,
        }
    }

    pub(crate) fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if self.writer.is_none() {
            let file = OutputFile::create(&self.path)?;
            let props = WriterProperties::builder()
                .set_compression(Compression::LZ4_RAW)
                .build();
            let writer = ArrowWriter::try_new(file, batch.schema(), Some(props))
                .map_err(|e| staging_error(&self.path, e))?;
            self.writer = Some(writer);
            self.schema = Some(batch.schema());
        }
        let batch = match &self.schema {
            Some(schema) if schema.as_ref() != batch.schema_ref().as_ref() => {
                RecordBatch::try_new(schema.clone(), batch.columns().to_vec()).map_err(|e| {
                    MdfError::internal(format!(
                        "a batch does not fit the schema of the shard's staged rows: {e}"
                    ))
                })?
            }
            _ => batch.clone(),
        };
        if let Some(w) = self.writer.as_mut() {
            w.write(&batch).map_err(|e| staging_error(&self.path, e))?;
        }
        Ok(())
    }

    /// Publishes the staged file (or removes a stale one when there were no rows).
    pub(crate) fn finish(self) -> Result<()> {
        match self.writer {
            Some(w) => w
                .into_inner()
                .map_err(|e| staging_error(&self.path, e))?
                .commit(),
            None => storage::remove_file_if_exists(&self.path),
        }
    }
}

/// Reads a shard's staged rows back in order.
pub(crate) struct StagedSource {
    path: PathBuf,
    reader: Option<ParquetRecordBatchReader>,
}

impl StagedSource {
    pub(crate) fn open(path: &Path, batch_size: usize) -> Result<Self> {
        let reader = match InputFile::open_opt(&path.to_string_lossy())? {
            Some(file) => Some(
                ParquetRecordBatchReaderBuilder::try_new(file)
                    .and_then(|b| b.with_batch_size(batch_size.max(1)).build())
                    .map_err(|e| staging_error(path, e))?,
            ),
            None => None,
        };
        Ok(StagedSource {
            path: path.to_path_buf(),
            reader,
        })
    }
}

impl RecordSource for StagedSource {
    fn next_item(&mut self) -> Result<Option<SourceItem>> {
        let Some(reader) = self.reader.as_mut() else {
            return Ok(None);
        };
        match reader.next() {
            None => Ok(None),
            Some(Ok(batch)) => Ok(Some(SourceItem::Batch(batch))),
            Some(Err(e)) => Err(staging_error(&self.path, e)),
        }
    }
}
