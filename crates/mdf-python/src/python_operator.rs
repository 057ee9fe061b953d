//! Operators written in Python. The Python class (see `mega_data_factory.operators`) implements
//! `_mdf_process(batch: pyarrow.RecordBatch) -> (batch | None, keep_mask | None)`; batches cross
//! the boundary zero-copy through the Arrow C data interface. The instance is built inside each
//! worker from the registered class and the params, never pickled from the driver.

use std::sync::Arc;

use arrow::datatypes::{Field, Schema};
use arrow::pyarrow::{FromPyArrow, ToPyArrow};
use arrow::record_batch::RecordBatch;
use mdf_core::operator::intern_reason;
use mdf_core::registry::Entry;
use mdf_core::{MdfError, Operator, OperatorKind, Result, Verdicts};
use pyo3::prelude::*;

/// A registry entry for a Python operator class.
pub struct PythonOperatorEntry {
    pub name: String,
    pub kind: OperatorKind,
    pub summary: String,
    /// `factory(params: dict) -> operator instance`.
    pub factory: Py<PyAny>,
}

impl Entry<dyn Operator> for PythonOperatorEntry {
    fn name(&self) -> &str {
        &self.name
    }
    fn kind(&self) -> OperatorKind {
        self.kind
    }
    fn summary(&self) -> &str {
        &self.summary
    }
    fn params_schema(&self) -> serde_json::Value {
        serde_json::json!({
            "type": "object",
            "description": "keyword arguments of the Python class's constructor"
        })
    }
    fn resolve_params(
        &self,
        de: &mut dyn erased_serde::Deserializer<'_>,
    ) -> std::result::Result<serde_json::Value, erased_serde::Error> {
        use serde::de::Error as _;
        let value: serde_json::Value = erased_serde::deserialize(de)?;
        match value {
            serde_json::Value::Null => Ok(serde_json::Value::Object(Default::default())),
            serde_json::Value::Object(_) => Ok(value),
            other => Err(erased_serde::Error::custom(format!(
                "params of `{}` must be a mapping, got {other}",
                self.name
            ))),
        }
    }
    fn build(&self, params: &serde_json::Value) -> Result<Box<dyn Operator>> {
        Python::attach(|py| {
            let json = py.import("json")?;
            let kwargs = json.call_method1("loads", (params.to_string(),))?;
            let obj = self.factory.bind(py).call1((kwargs,))?;
            let schema = obj.call_method0("_mdf_output_schema")?;
            let declared = if schema.is_none() {
                Vec::new()
            } else {
                Schema::from_pyarrow_bound(&schema)?
                    .fields()
                    .iter()
                    .map(|f| f.as_ref().clone())
                    .collect()
            };
            let reason: String = obj.getattr("drop_reason")?.extract()?;
            Ok::<_, PyErr>(Box::new(PythonOperator {
                label: self.name.clone(),
                obj: obj.unbind(),
                declared,
                reason: intern_reason(&reason),
            }) as Box<dyn Operator>)
        })
        .map_err(|e| MdfError::config(format!("building Python operator `{}`: {e}", self.name)))
    }
}

struct PythonOperator {
    label: String,
    obj: Py<PyAny>,
    declared: Vec<Field>,
    reason: &'static str,
}

impl Operator for PythonOperator {
    fn process(&mut self, batch: RecordBatch, verdicts: &mut Verdicts) -> Result<RecordBatch> {
        Python::attach(|py| -> PyResult<RecordBatch> {
            let result = self
                .obj
                .bind(py)
                .call_method1("_mdf_process", (batch.to_pyarrow(py)?,))?;
            let (new_batch, mask): (Bound<'_, PyAny>, Bound<'_, PyAny>) = result.extract()?;
            let out = if new_batch.is_none() {
                batch.clone()
            } else {
                RecordBatch::from_pyarrow_bound(&new_batch)?
            };
            if !mask.is_none() {
                let keep: Vec<bool> = mask.extract()?;
                if keep.len() != batch.num_rows() {
                    return Err(pyo3::exceptions::PyValueError::new_err(format!(
                        "returned {} keep flags for {} records",
                        keep.len(),
                        batch.num_rows()
                    )));
                }
                for (row, k) in keep.into_iter().enumerate() {
                    if !k {
                        verdicts.drop_row(row, self.reason);
                    }
                }
            }
            Ok(out)
        })
        .map_err(|e| {
            let detail = Python::attach(|py| {
                e.traceback(py)
                    .and_then(|tb| tb.format().ok())
                    .unwrap_or_default()
            });
            MdfError::UserCode(format!(
                "Python operator `{}` raised {e}\n{detail}",
                self.label
            ))
        })
    }

    fn output_fields(&self) -> Vec<Field> {
        self.declared.clone()
    }
}

pub fn entries(
    ops: &Bound<'_, pyo3::types::PyDict>,
) -> PyResult<Vec<Arc<dyn Entry<dyn Operator>>>> {
    let mut out: Vec<Arc<dyn Entry<dyn Operator>>> = Vec::new();
    for (name, spec) in ops.iter() {
        let name: String = name.extract()?;
        let (kind, summary, factory): (String, String, Py<PyAny>) = spec.extract()?;
        let kind = match kind.as_str() {
            "filter" => OperatorKind::Filter,
            "refiner" => OperatorKind::Refiner,
            other => {
                return Err(pyo3::exceptions::PyValueError::new_err(format!(
                    "operator `{name}`: unsupported kind `{other}` (filter or refiner)"
                )))
            }
        };
        out.push(Arc::new(PythonOperatorEntry {
            name,
            kind,
            summary,
            factory,
        }));
    }
    Ok(out)
}
