//! Writes one shard's rejected records to `_mdf/rejects/NNNNNN.jsonl` (through a temporary file
//! published at shard commit), one JSON object per line with the reason.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use mdf_core::io::{Reject, SOURCE_FILE_COLUMN, SOURCE_OFFSET_COLUMN};
use mdf_core::{MdfError, Result};
use mdf_io::storage::OutputFile;

pub(crate) struct RejectSink {
    tmp: PathBuf,
    path: PathBuf,
    out: Option<BufWriter<OutputFile>>,
    pub(crate) count: u64,
}

impl RejectSink {
    pub(crate) fn new(tmp: PathBuf, path: PathBuf) -> Self {
        RejectSink {
            tmp,
            path,
            out: None,
            count: 0,
        }
    }

    pub(crate) fn push(&mut self, reject: &Reject) -> Result<()> {
        if self.out.is_none() {
            // Written as `self.tmp` (or an unfinished upload) until commit.
            let file = OutputFile::create(&self.path)?;
            self.out = Some(BufWriter::new(file));
        }
        if let Some(out) = self.out.as_mut() {
            serde_json::to_writer(&mut *out, reject)
                .map_err(|e| MdfError::internal(format!("serialising a reject: {e}")))?;
            out.write_all(b"\n")
                .map_err(|e| MdfError::io(&self.tmp, e))?;
        }
        self.count += 1;
        Ok(())
    }

    /// Rejects for rows of a batch: the row itself is kept as JSON, with its provenance.
    pub(crate) fn push_row(
        &mut self,
        batch: &RecordBatch,
        row: usize,
        operator: &str,
        reason: &str,
        detail: &str,
    ) -> Result<()> {
        let record = row_json(batch, row);
        let source = record
            .get(SOURCE_FILE_COLUMN)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_owned();
        let offset = record.get(SOURCE_OFFSET_COLUMN).and_then(|v| v.as_u64());
        self.push(&Reject {
            source,
            offset,
            operator: Some(operator.to_owned()),
            reason: reason.to_owned(),
            detail: detail.to_owned(),
            record: Some(record),
        })
    }

    /// Publishes the file (if anything was rejected).
    pub(crate) fn commit(self) -> Result<()> {
        if let Some(out) = self.out {
            let file = out
                .into_inner()
                .map_err(|e| MdfError::io(&self.tmp, e.into_error()))?;
            file.commit()?;
        }
        Ok(())
    }
}

/// One row as a JSON object. Binary columns are left out (image bytes do not belong in a
/// rejects listing).
fn row_json(batch: &RecordBatch, row: usize) -> serde_json::Value {
    let keep: Vec<usize> = batch
        .schema()
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| {
            !matches!(
                f.data_type(),
                DataType::Binary | DataType::LargeBinary | DataType::BinaryView
            )
        })
        .map(|(i, _)| i)
        .collect();
    let encoded = batch.project(&keep).and_then(|b| {
        let slice = b.slice(row, 1);
        let mut writer = arrow::json::ArrayWriter::new(Vec::new());
        writer.write(&slice)?;
        writer.finish()?;
        Ok(writer.into_inner())
    });
    match encoded
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
    {
        Some(serde_json::Value::Array(mut rows)) if !rows.is_empty() => rows.swap_remove(0),
        _ => serde_json::Value::Null,
    }
}
