//! Writes one shard's rejected records to `_mdf/rejects/NNNNNN.jsonl` (through a temporary file
//! published at shard commit), one JSON object per line with the reason.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use arrow::array::{Array, AsArray};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use mdf_core::io::{Reject, SOURCE_FILE_COLUMN, SOURCE_OFFSET_COLUMN};
use mdf_core::{MdfError, Result};
use mdf_io::storage::OutputFile;

pub(crate) struct RejectSink {
    target: Target,
    pub(crate) count: u64,
}

enum Target {
    /// A shard's rejects file, created on the first reject (written as `tmp`, or an unfinished
    /// upload, until commit).
    File {
        tmp: PathBuf,
        path: PathBuf,
        out: Option<Box<BufWriter<OutputFile>>>,
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
            Target::File { tmp, path, out } => {
                if out.is_none() {
                    *out = Some(Box::new(BufWriter::new(OutputFile::create(&*path)?)));
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
            out: Some(out),
            ..
        } = self.target
        {
            let file = (*out)
                .into_inner()
                .map_err(|e| MdfError::io(&tmp, e.into_error()))?;
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
        .filter(|(_, f)| !is_binary(f.data_type()))
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

fn is_binary(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView
    )
}

/// Strings in a sampled record are cut to this many bytes: samples are for looking at, and a
/// report must stay small however long the documents are.
const SAMPLE_MAX_STRING_BYTES: usize = 4096;
/// Binary values (images) up to this size are kept in a sample, base64-encoded.
const SAMPLE_MAX_BINARY_BYTES: usize = 64 * 1024;

/// One row as a JSON object for the report's samples: long strings are cut, and binary columns
/// become `{"bytes": n, "base64": ...}` (the data only when it is small enough to show).
pub(crate) fn sample_json(batch: &RecordBatch, row: usize) -> serde_json::Value {
    use base64::Engine as _;
    use serde_json::Value;
    let mut record = row_json(batch, row);
    let Value::Object(fields) = &mut record else {
        return record;
    };
    for value in fields.values_mut() {
        if let Value::String(text) = value {
            if text.len() > SAMPLE_MAX_STRING_BYTES {
                let mut end = SAMPLE_MAX_STRING_BYTES;
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                let cut = text.len() - end;
                text.truncate(end);
                text.push_str(&format!(" […{cut} more bytes]"));
            }
        }
    }
    let schema = batch.schema();
    for (i, field) in schema.fields().iter().enumerate() {
        if !is_binary(field.data_type()) {
            continue;
        }
        let column = batch.column(i);
        let bytes: Option<&[u8]> = if column.is_null(row) {
            None
        } else {
            match field.data_type() {
                DataType::Binary => Some(column.as_binary::<i32>().value(row)),
                DataType::LargeBinary => Some(column.as_binary::<i64>().value(row)),
                DataType::BinaryView => Some(column.as_binary_view().value(row)),
                _ => None,
            }
        };
        let value = match bytes {
            None => Value::Null,
            Some(b) if b.len() <= SAMPLE_MAX_BINARY_BYTES => serde_json::json!({
                "bytes": b.len(),
                "base64": base64::engine::general_purpose::STANDARD.encode(b),
            }),
            Some(b) => serde_json::json!({ "bytes": b.len() }),
        };
        fields.insert(field.name().clone(), value);
    }
    record
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{BinaryArray, StringArray};
    use arrow::datatypes::{Field, Schema};

    use super::*;

    #[test]
    fn sample_json_cuts_long_text_and_encodes_small_binary() {
        let long = "é".repeat(3000);
        let big = vec![7u8; SAMPLE_MAX_BINARY_BYTES + 1];
        let schema = Schema::new(vec![
            Field::new("text", DataType::Utf8, false),
            Field::new("image", DataType::Binary, true),
        ]);
        let batch = RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(StringArray::from(vec![long.as_str(), "short"])),
                Arc::new(BinaryArray::from(vec![
                    Some(b"\x89PNG".as_slice()),
                    Some(&big),
                ])),
            ],
        )
        .unwrap();
        let first = sample_json(&batch, 0);
        let text = first["text"].as_str().unwrap();
        assert!(text.starts_with("éé") && text.ends_with("more bytes]"));
        assert!(text.len() < SAMPLE_MAX_STRING_BYTES + 40);
        assert_eq!(first["image"]["base64"], "iVBORw==");
        let second = sample_json(&batch, 1);
        assert_eq!(second["text"], "short");
        assert_eq!(second["image"]["bytes"], SAMPLE_MAX_BINARY_BYTES + 1);
        assert!(second["image"].get("base64").is_none());
    }
}
