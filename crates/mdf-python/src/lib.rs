//! `mega_data_factory._native`: the only PyO3 crate. It exposes config validation, runs, and
//! component listings; Python operators registered in `OperatorRegistry` are passed in as a
//! dict `{name: (kind, summary, factory)}` and become registry entries here. The GIL is
//! released while the engine runs; Ctrl-C stops the run after the batches in flight.

mod errors;
mod model_input;
mod python_operator;
mod ray_tasks;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use mdf_core::config::{
    config_executor, config_imports, parse_config, ConfigSource, ExecutorType, PipelineConfig,
};
use mdf_core::{MdfError, Registry};
use mdf_exec::{run_local, Plan, ProgressMode, RunOptions};
use pyo3::prelude::*;
use pyo3::types::PyDict;

pub(crate) fn registry_with(py_ops: Option<&Bound<'_, PyDict>>) -> PyResult<Arc<Registry>> {
    let mut registry = mdf_exec::builtin_registry();
    if let Some(ops) = py_ops {
        for entry in python_operator::entries(ops)? {
            if registry.operators.get(entry.name()).is_some() {
                return Err(errors::ConfigError::new_err(format!(
                    "operator `{}` is already registered by the engine; choose another name",
                    entry.name()
                )));
            }
            registry.operators.insert(entry);
        }
    }
    Ok(Arc::new(registry))
}

fn source(text: String, name: String) -> ConfigSource {
    ConfigSource { name, text }
}

pub(crate) fn parse(
    text: String,
    name: String,
    overrides: Vec<String>,
    registry: &Arc<Registry>,
) -> PyResult<PipelineConfig> {
    parse_config(&source(text, name), &overrides, registry).map_err(errors::to_py)
}

fn to_json_string(value: &impl serde::Serialize) -> PyResult<String> {
    serde_json::to_string(value).map_err(|e| errors::InternalError::new_err(e.to_string()))
}

/// The `imports:` list of a config (modules that register Python operators).
#[pyfunction]
fn imports_of(text: String, name: String) -> PyResult<Vec<String>> {
    config_imports(&source(text, name)).map_err(errors::to_py)
}

/// `(type, address)` of a config's executor (`local` or `ray`), read before the full parse so
/// the front end can pick the runner.
#[pyfunction]
fn executor_of(
    text: String,
    name: String,
    overrides: Vec<String>,
) -> PyResult<(String, Option<String>)> {
    let (kind, address) =
        config_executor(&source(text, name), &overrides).map_err(errors::to_py)?;
    let kind = match kind {
        ExecutorType::Local => "local",
        ExecutorType::Ray => "ray",
    };
    Ok((kind.to_owned(), address))
}

/// Parses, resolves and plans a config without running it. Returns JSON: the resolved config
/// and the shard count.
#[pyfunction]
#[pyo3(signature = (text, name, overrides, py_ops=None))]
fn validate(
    py: Python<'_>,
    text: String,
    name: String,
    overrides: Vec<String>,
    py_ops: Option<&Bound<'_, PyDict>>,
) -> PyResult<String> {
    let registry = registry_with(py_ops)?;
    let config = parse(text, name, overrides, &registry)?;
    let plan = py
        .detach(|| Plan::build(config, &registry))
        .map_err(errors::to_py)?;
    to_json_string(&serde_json::json!({
        "config": plan.config,
        "shards": plan.shards.len(),
        "fingerprint": plan.fingerprint,
    }))
}

/// Runs a config on the local executor. Returns the run summary (stats.json) as JSON.
/// `auto` (a bar on a terminal, log lines otherwise), `log` or `off`.
pub(crate) fn progress_mode(mode: &str) -> PyResult<ProgressMode> {
    match mode {
        "auto" => Ok(ProgressMode::Auto),
        "log" => Ok(ProgressMode::Log),
        "off" => Ok(ProgressMode::Off),
        other => Err(errors::ConfigError::new_err(format!(
            "progress must be auto, log or off, got `{other}`"
        ))),
    }
}

#[pyfunction]
#[pyo3(signature = (text, name, overrides, workers=None, overwrite=false, progress="auto", py_ops=None))]
#[allow(clippy::too_many_arguments)]
fn run(
    py: Python<'_>,
    text: String,
    name: String,
    overrides: Vec<String>,
    workers: Option<usize>,
    overwrite: bool,
    progress: &str,
    py_ops: Option<&Bound<'_, PyDict>>,
) -> PyResult<String> {
    let registry = registry_with(py_ops)?;
    let config = parse(text, name, overrides, &registry)?;
    let progress = progress_mode(progress)?;
    let options = RunOptions {
        workers,
        overwrite,
        progress,
        ..RunOptions::default()
    };
    let cancel = options.cancel.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        let result = Plan::build(config, &registry).and_then(|plan| run_local(&plan, &options));
        let _ = tx.send(result);
    });
    // Wait without the GIL, waking up to let Python deliver Ctrl-C.
    let mut rx = rx;
    let result = loop {
        let (back, received) = py.detach(move || {
            let r = rx.recv_timeout(Duration::from_millis(100));
            (rx, r)
        });
        rx = back;
        match received {
            Ok(result) => break result,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if py.check_signals().is_err() {
                    cancel.store(true, Ordering::Relaxed);
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                break Err(MdfError::internal("the run thread ended without a result"))
            }
        }
    };
    let _ = py.detach(|| worker.join());
    let summary = result.map_err(errors::to_py)?;
    to_json_string(&summary)
}

/// Every component as JSON `[{name, kind, summary}]`.
#[pyfunction]
#[pyo3(signature = (py_ops=None))]
fn list_components(py_ops: Option<&Bound<'_, PyDict>>) -> PyResult<String> {
    let registry = registry_with(py_ops)?;
    let mut rows = Vec::new();
    macro_rules! add {
        ($catalog:expr) => {
            for e in $catalog.entries() {
                rows.push(serde_json::json!({
                    "name": e.name(), "kind": e.kind().label(), "summary": e.summary()
                }));
            }
        };
    }
    add!(registry.loaders);
    add!(registry.operators);
    add!(registry.writers);
    to_json_string(&rows)
}

/// One component as JSON `{name, kind, summary, params_schema}`.
#[pyfunction]
#[pyo3(signature = (name, py_ops=None))]
fn describe(name: &str, py_ops: Option<&Bound<'_, PyDict>>) -> PyResult<String> {
    let registry = registry_with(py_ops)?;
    macro_rules! find {
        ($catalog:expr) => {
            if let Some(e) = $catalog.get(name) {
                return to_json_string(&serde_json::json!({
                    "name": e.name(), "kind": e.kind().label(), "summary": e.summary(),
                    "params_schema": e.params_schema(),
                }));
            }
        };
    }
    find!(registry.loaders);
    find!(registry.operators);
    find!(registry.writers);
    let all: Vec<&str> = registry
        .loaders
        .names()
        .chain(registry.operators.names())
        .chain(registry.writers.names())
        .collect();
    let hint = mdf_core::registry::did_you_mean(name, all.iter().copied())
        .map(|b| format!(" (did you mean `{b}`?)"))
        .unwrap_or_default();
    Err(errors::ConfigError::new_err(format!(
        "unknown component `{name}`{hint}; `mdf ops list` shows them all"
    )))
}

/// MinHash signatures of `texts` as `minhash_deduplicator` computes them (an empty list for a
/// text with too few words); for parity checks against datatrove.
#[pyfunction]
fn minhash_signatures(
    py: Python<'_>,
    texts: Vec<String>,
    n_grams: usize,
    num_hashes: usize,
    seed: u32,
) -> Vec<Vec<u64>> {
    py.detach(|| {
        let mut signer = mdf_dedup::minhash::Signer::new(n_grams, num_hashes, seed, false);
        let (mut shingles, mut sig) = (Vec::new(), Vec::new());
        texts
            .iter()
            .map(|t| {
                signer.shingles(t, &mut shingles);
                if shingles.is_empty() {
                    return Vec::new();
                }
                signer.signature(&shingles, &mut sig);
                sig.clone()
            })
            .collect()
    })
}

/// Extracts one HTML page as `html_extractor` would (`mdf extract`). `params_json` holds
/// `html_extractor` params (JSON object; defaults for what it leaves out). Returns a dict with
/// `text`, `title`, `author`, `date_published`, `html_lang`; a page the operator would reject
/// raises `DataError` with the reject reason.
#[pyfunction]
#[pyo3(signature = (html, content_type=None, url=None, params_json=None))]
fn extract_html<'py>(
    py: Python<'py>,
    html: &[u8],
    content_type: Option<String>,
    url: Option<String>,
    params_json: Option<&str>,
) -> PyResult<Bound<'py, PyDict>> {
    let params: mdf_html::HtmlExtractorParams =
        serde_json::from_str(params_json.unwrap_or("{}"))
            .map_err(|e| errors::ConfigError::new_err(format!("html_extractor params: {e}")))?;
    mdf_core::Params::check(&params)
        .map_err(|e| errors::ConfigError::new_err(format!("html_extractor params: {e}")))?;
    let extractor = mdf_html::Extractor::from_params(&params);
    // `html` borrows an immutable `bytes` object that the caller keeps alive for the whole call,
    // so it can be read without the GIL (no copy of the page).
    let result =
        py.detach(|| extractor.extract_bytes(html, content_type.as_deref(), url.as_deref()));
    let e = result.map_err(|err| errors::DataError::new_err(err.to_string()))?;
    let out = PyDict::new(py);
    out.set_item("text", e.text)?;
    out.set_item("title", e.title)?;
    out.set_item("author", e.author)?;
    out.set_item("date_published", e.date)?;
    out.set_item("html_lang", e.lang)?;
    Ok(out)
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", mdf_core::VERSION)?;
    m.add_function(wrap_pyfunction!(imports_of, m)?)?;
    m.add_function(wrap_pyfunction!(executor_of, m)?)?;
    m.add_function(wrap_pyfunction!(ray_tasks::prepare, m)?)?;
    m.add_function(wrap_pyfunction!(ray_tasks::finalize, m)?)?;
    m.add_class::<ray_tasks::RunProgress>()?;
    m.add_class::<ray_tasks::ShardRunner>()?;
    m.add_class::<ray_tasks::StageWorker>()?;
    m.add_function(wrap_pyfunction!(validate, m)?)?;
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_function(wrap_pyfunction!(list_components, m)?)?;
    m.add_function(wrap_pyfunction!(describe, m)?)?;
    m.add_function(wrap_pyfunction!(minhash_signatures, m)?)?;
    m.add_function(wrap_pyfunction!(extract_html, m)?)?;
    m.add_function(wrap_pyfunction!(model_input::preprocess_images, m)?)?;
    errors::add_to_module(m)
}
