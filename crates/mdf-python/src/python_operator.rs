//! Operators written in Python. The Python class (see `mega_data_factory.operators`) implements
//! `_mdf_process(batch: pyarrow.RecordBatch) -> (batch | None, keep_mask | None[, rejects])`,
//! `rejects` being `[(row, "reason: detail"), …]` for rows with bad input (counted and written to
//! `_mdf/rejects/` like a Rust operator's); batches cross the boundary zero-copy through the Arrow
//! C data interface. The instance is built inside each worker from the registered class and the
//! params, never pickled from the driver. A `mega_data_factory.ConfigError` raised while
//! processing means the operator cannot run here at all (weights missing, no CUDA): it stops the
//! run instead of rejecting every batch.

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
    /// The params' JSON schema, where the class documents it (`_mdf_params_schema`).
    pub params_schema: Option<serde_json::Value>,
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
        if let Some(schema) = &self.params_schema {
            return schema.clone();
        }
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
            let (new_batch, mask, rejects): (
                Bound<'_, PyAny>,
                Bound<'_, PyAny>,
                Option<Bound<'_, PyAny>>,
            ) = match result.len()? {
                2 => {
                    let (b, m) = result.extract()?;
                    (b, m, None)
                }
                _ => {
                    let (b, m, r) = result.extract()?;
                    (b, m, Some(r))
                }
            };
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
            if let Some(rejects) = rejects.filter(|r| !r.is_none()) {
                let rejects: Vec<(usize, String)> = rejects.extract()?;
                for (row, message) in rejects {
                    if row >= batch.num_rows() {
                        return Err(pyo3::exceptions::PyValueError::new_err(format!(
                            "rejected row {row} of a batch of {} records",
                            batch.num_rows()
                        )));
                    }
                    verdicts.reject_row(row, message);
                }
            }
            Ok(out)
        })
        .map_err(|e| {
            let fatal = Python::attach(|py| e.is_instance_of::<crate::errors::ConfigError>(py));
            if fatal {
                return MdfError::config(format!("operator `{}`: {}", self.label, e));
            }
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
        let (kind, summary, factory, schema): (String, String, Py<PyAny>, Option<String>) =
            if spec.len()? == 3 {
                let (k, s, f) = spec.extract()?;
                (k, s, f, None)
            } else {
                spec.extract()?
            };
        let params_schema = match schema {
            Some(text) => Some(serde_json::from_str(&text).map_err(|e| {
                pyo3::exceptions::PyValueError::new_err(format!(
                    "operator `{name}`: params schema is not JSON: {e}"
                ))
            })?),
            None => None,
        };
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
            params_schema,
        }));
    }
    Ok(out)
}
