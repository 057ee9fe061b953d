//! The columns every loader appends: `_source_file`, `_source_offset` and, when the input has no
//! id column, a generated `"{file_name}:{offset}"` id. Input columns with the provenance names
//! (for example when reading back a previous run's output) are replaced, so provenance always
//! points at the file actually read.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, StringBuilder, UInt64Array};
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use mdf_core::io::{SOURCE_FILE_COLUMN, SOURCE_OFFSET_COLUMN};
use mdf_core::{MdfError, Result};

/// The output schema of a loader for one input schema.
#[derive(Debug)]
pub(crate) struct OutputSchema {
    /// Indices of the input columns that are kept (all but the provenance names).
    keep: Vec<usize>,
    /// The kept input fields.
    data: SchemaRef,
    /// `data` + provenance (+ generated id).
    output: SchemaRef,
    generate_id: bool,
}

impl OutputSchema {
    pub fn new(input: &Fields, id_field: &str) -> OutputSchema {
        let keep: Vec<usize> = input
            .iter()
            .enumerate()
            .filter(|(_, f)| !is_provenance(f.name()))
            .map(|(i, _)| i)
            .collect();
        let data_fields: Vec<_> = keep.iter().map(|&i| Arc::clone(&input[i])).collect();
        let generate_id = !data_fields.iter().any(|f| f.name() == id_field);
        let mut out = data_fields.clone();
        out.push(Arc::new(Field::new(
            SOURCE_FILE_COLUMN,
            DataType::Utf8,
            false,
        )));
        out.push(Arc::new(Field::new(
            SOURCE_OFFSET_COLUMN,
            DataType::UInt64,
            false,
        )));
        if generate_id {
            out.push(Arc::new(Field::new(id_field, DataType::Utf8, false)));
        }
        OutputSchema {
            keep,
            data: Arc::new(Schema::new(data_fields)),
            output: Arc::new(Schema::new(out)),
            generate_id,
        }
    }

    /// The kept input columns, as a schema (what a JSON decoder should produce).
    pub fn data(&self) -> &SchemaRef {
        &self.data
    }

    pub fn output(&self) -> &SchemaRef {
        &self.output
    }

    /// The kept columns of an input batch whose schema is the `input` this was built from.
    pub fn kept_columns(&self, batch: &RecordBatch) -> Vec<ArrayRef> {
        self.keep
            .iter()
            .map(|&i| Arc::clone(batch.column(i)))
            .collect()
    }

    /// Appends the provenance columns to `data` (the kept columns, one row per offset).
    pub fn assemble(
        &self,
        mut data: Vec<ArrayRef>,
        source: &SourceName,
        offsets: &[u64],
    ) -> Result<RecordBatch> {
        let n = offsets.len();
        let mut files = StringBuilder::with_capacity(n, n * source.path.len());
        for _ in 0..n {
            files.append_value(&source.path);
        }
        data.push(Arc::new(files.finish()));
        data.push(Arc::new(UInt64Array::from_iter_values(
            offsets.iter().copied(),
        )));
        if self.generate_id {
            let mut ids = StringBuilder::with_capacity(n, n * (source.file_name.len() + 8));
            for &off in offsets {
                write!(ids, "{}:{off}", source.file_name)
                    .map_err(|e| MdfError::internal(format!("formatting an id: {e}")))?;
                ids.append_value("");
            }
            data.push(Arc::new(ids.finish()));
        }
        Ok(RecordBatch::try_new(Arc::clone(&self.output), data)?)
    }
}

/// The path recorded in `_source_file` and the file name used in generated ids.
#[derive(Debug, Clone)]
pub(crate) struct SourceName {
    pub path: String,
    pub file_name: String,
}

impl SourceName {
    pub fn new(path: &str) -> SourceName {
        let file_name = Path::new(path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.to_owned());
        SourceName {
            path: path.to_owned(),
            file_name,
        }
    }
}

fn is_provenance(name: &str) -> bool {
    name == SOURCE_FILE_COLUMN || name == SOURCE_OFFSET_COLUMN
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{AsArray, Int64Array};
    use arrow::datatypes::UInt64Type;

    #[test]
    fn replaces_provenance_and_generates_ids() {
        let input = Fields::from(vec![
            Field::new("a", DataType::Int64, true),
            Field::new(SOURCE_FILE_COLUMN, DataType::Utf8, true),
        ]);
        let out = OutputSchema::new(&input, "id");
        let names: Vec<_> = out
            .output()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, ["a", SOURCE_FILE_COLUMN, SOURCE_OFFSET_COLUMN, "id"]);

        let src = SourceName::new("/d/x.jsonl");
        let a: ArrayRef = Arc::new(Int64Array::from(vec![1, 2]));
        let batch = out.assemble(vec![a], &src, &[0, 17]).unwrap();
        assert_eq!(batch.column(1).as_string::<i32>().value(1), "/d/x.jsonl");
        assert_eq!(batch.column(2).as_primitive::<UInt64Type>().value(1), 17);
        assert_eq!(batch.column(3).as_string::<i32>().value(1), "x.jsonl:17");

        let with_id = Fields::from(vec![Field::new("id", DataType::Utf8, true)]);
        assert_eq!(OutputSchema::new(&with_id, "id").output().fields().len(), 3);
    }
}
