//! Writes one shard's rejected records to `_mdf/rejects/NNNNNN.jsonl` (through a temporary file
//! published at shard commit), one JSON object per line with the reason.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use mdf_core::io::{Reject, SOURCE_FILE_COLUMN, SOURCE_OFFSET_COLUMN};
use mdf_core::{MdfError, Result};

pub(crate) struct RejectSink {
    target: Target,
    pub(crate) count: u64,
}

enum Target {
    /// A shard's rejects file, created on the first reject.
    File {
        tmp: PathBuf,
        path: PathBuf,
        out: Option<BufWriter<File>>,
    },
    /// Lines kept for the shard task that sent the batch (a stage-pool replica).
    Memory(Vec<String>),
}

impl RejectSink {
    pub(crate) fn new(tmp: PathBuf, path: PathBuf) -> Self {
        RejectSink {
            target: Target::File {
                tmp,
                path,
                out: None,
            },
            count: 0,
        }
    }

    pub(crate) fn in_memory() -> Self {
        RejectSink {
            target: Target::Memory(Vec::new()),
            count: 0,
        }
    }

    pub(crate) fn push(&mut self, reject: &Reject) -> Result<()> {
        let line = serde_json::to_string(reject)
            .map_err(|e| MdfError::internal(format!("serialising a reject: {e}")))?;
        self.push_line(&line)
    }

    /// Adds one reject already serialised as a JSON line (without the newline).
    pub(crate) fn push_line(&mut self, line: &str) -> Result<()> {
        match &mut self.target {
            Target::Memory(lines) => lines.push(line.to_owned()),
            Target::File { tmp, out, .. } => {
                if out.is_none() {
                    let file = File::create(&*tmp).map_err(|e| MdfError::io(&*tmp, e))?;
                    *out = Some(BufWriter::new(file));
                }
                if let Some(out) = out.as_mut() {
                    out.write_all(line.as_bytes())
                        .and_then(|()| out.write_all(b"\n"))
                        .map_err(|e| MdfError::io(&*tmp, e))?;
                }
            }
        }
        self.count += 1;
        Ok(())
    }

    /// The lines of an in-memory sink (empty for a file sink).
    pub(crate) fn into_lines(self) -> Vec<String> {
        match self.target {
            Target::Memory(lines) => lines,
            Target::File { .. } => Vec::new(),
        }
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
        if let Target::File {
            tmp,
            path,
            out: Some(out),
        } = self.target
        {
            let file = out
                .into_inner()
                .map_err(|e| MdfError::io(&tmp, e.into_error()))?;
            file.sync_all().map_err(|e| MdfError::io(&tmp, e))?;
            std::fs::rename(&tmp, &path).map_err(|e| MdfError::io(&path, e))?;
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
