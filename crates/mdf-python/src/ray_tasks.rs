//! The pieces of a run the Ray runner (`mega_data_factory.ray_runner`) drives from Python:
//! `prepare` (plan, validate, run directory, each phase's pending tasks) and `finalize`
//! (stats.json, samples.json) on the driver; `ShardRunner` (a phase's task: a shard's segment, a
//! dedup group partition, a dedup merge) and `StageWorker` (a stage-pool replica) in Ray workers. They call the functions the local runner calls, so both runners write the same run
//! directory. The GIL is released while Rust works.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use arrow::pyarrow::{FromPyArrow, ToPyArrow};
use arrow::record_batch::RecordBatch;
use mdf_core::stats::{OperatorStats, ShardStats};
use mdf_core::{MdfError, Registry, Result};
use mdf_exec::global::Phase;
use mdf_exec::progress::{Progress, Reporter};
use mdf_exec::rundir::RunDir;
use mdf_exec::runner::{progress_plan, shard_bytes};
use mdf_exec::task::{
    run_stage_batch, run_task_with_retries, task_done, StageOutput, StageService, TaskContext,
    WorkerSlot, WorkerState,
};
use mdf_exec::{finalize_run, prepare_run, Plan, RunFacts};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::errors;

fn to_json(value: &impl serde::Serialize) -> PyResult<String> {
    serde_json::to_string(value).map_err(|e| errors::InternalError::new_err(e.to_string()))
}

/// Plans a config and prepares its run directory for tasks. Returns JSON: `run_dir`, `pending`
/// (shard indices still to do), `phases` (in order: `kind` segment/fit/route/group/merge, `k`, `label`,
/// `is_last`, `pending` task numbers), `resumed`, `shards_total`, `fingerprint`, and the
/// resolved `config`.
#[pyfunction]
#[pyo3(signature = (text, name, overrides, overwrite=false, py_ops=None))]
pub fn prepare(
    py: Python<'_>,
    text: String,
    name: String,
    overrides: Vec<String>,
    overwrite: bool,
    py_ops: Option<&Bound<'_, PyDict>>,
) -> PyResult<String> {
    let registry = crate::registry_with(py_ops)?;
    let config = crate::parse(text, name, overrides, &registry)?;
    let result = py.detach(|| {
        let plan = Plan::build(config, &registry)?;
        let prepared = prepare_run(&plan, overwrite)?;
        let pending: Vec<usize> = prepared
            .pending
            .iter()
            .map(|&i| plan.shards[i].index)
            .collect();
        let phases: Vec<serde_json::Value> = prepared
            .work
            .iter()
            .map(|w| {
                let (kind, k) = phase_parts(w.phase);
                serde_json::json!({
                    "kind": kind,
                    "k": k,
                    "label": w.phase.label(),
                    "is_last": w.is_last,
                    "pending": w.pending,
                })
            })
            .collect();
        Ok::<_, MdfError>(serde_json::json!({
            "run_dir": prepared.run_dir.root(),
            "pending": pending,
            "phases": phases,
            "resumed": prepared.resumed,
            "shards_total": plan.shards.len(),
            "fingerprint": plan.fingerprint,
            "config": plan.config,
        }))
    });
    to_json(&result.map_err(errors::to_py)?)
}

fn phase_parts(phase: Phase) -> (&'static str, usize) {
    match phase {
        Phase::Segment(k) => ("segment", k),
        Phase::Group(k) => ("group", k),
        Phase::Merge(k) => ("merge", k),
        Phase::Fit(k) => ("fit", k),
        Phase::Route(k) => ("route", k),
    }
}

fn phase_of(kind: &str, k: usize) -> Result<Phase> {
    match kind {
        "segment" => Ok(Phase::Segment(k)),
        "group" => Ok(Phase::Group(k)),
        "merge" => Ok(Phase::Merge(k)),
        "fit" => Ok(Phase::Fit(k)),
        "route" => Ok(Phase::Route(k)),
        other => Err(MdfError::internal(format!("unknown phase kind `{other}`"))),
    }
}

/// Cleans up the dedup state, merges the shards' stats of a complete run into
/// `_mdf/stats.json` (samples into `_mdf/samples.json`); returns the stats as JSON.
#[pyfunction]
#[pyo3(signature = (run_dir, resumed, workers, wall_seconds, executor="ray", phase_seconds=BTreeMap::new(), py_ops=None))]
#[allow(clippy::too_many_arguments)]
pub fn finalize(
    py: Python<'_>,
    run_dir: PathBuf,
    resumed: usize,
    workers: usize,
    wall_seconds: f64,
    executor: &str,
    phase_seconds: BTreeMap<String, f64>,
    py_ops: Option<&Bound<'_, PyDict>>,
) -> PyResult<String> {
    let executor = match executor {
        "ray" => "ray",
        "local" => "local",
        other => {
            return Err(errors::ConfigError::new_err(format!(
                "executor must be ray or local, got `{other}`"
            )))
        }
    };
    let registry = crate::registry_with(py_ops)?;
    let summary = py
        .detach(|| {
            let (plan, _) = plan_of(&run_dir, &registry)?;
            finalize_run(
                &plan,
                RunFacts {
                    resumed,
                    executor,
                    workers,
                    wall_seconds,
                    phase_seconds,
                },
            )
        })
        .map_err(errors::to_py)?;
    to_json(&summary)
}

/// Live progress of a Ray run on the driver: the local runner's reporter (the terminal bar or log
/// lines, and `_mdf/progress.json` with its ETA), fed with each shard's stats when the shard's
/// last task finishes.
#[pyclass(module = "mega_data_factory._native")]
pub struct RunProgress {
    progress: Arc<Progress>,
    shard_bytes: Vec<u64>,
    reporter: Mutex<Option<Reporter>>,
}

#[pymethods]
impl RunProgress {
    #[new]
    #[pyo3(signature = (run_dir, mode="auto", py_ops=None))]
    fn new(
        py: Python<'_>,
        run_dir: PathBuf,
        mode: &str,
        py_ops: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let mode = crate::progress_mode(mode)?;
        let registry = crate::registry_with(py_ops)?;
        let (plan, dir) = py
            .detach(|| plan_of(&run_dir, &registry))
            .map_err(errors::to_py)?;
        let progress = Arc::new(Progress::new(plan.operators().count()));
        let reporter = Reporter::start(mode, progress.clone(), progress_plan(&plan, &dir));
        Ok(RunProgress {
            progress,
            shard_bytes: plan.shards.iter().map(shard_bytes).collect(),
            reporter: Mutex::new(Some(reporter)),
        })
    }

    /// Counts shard `task` (its position in the plan) as done, with its stats as `run_task`
    /// returned them for the shard's last segment.
    fn shard_done(&self, task: usize, stats: &str) -> PyResult<()> {
        let stats: ShardStats = serde_json::from_str(stats)
            .map_err(|e| errors::InternalError::new_err(format!("shard stats: {e}")))?;
        let outs: Vec<u64> = stats.operators.iter().map(|o| o.records_out).collect();
        self.progress.add_input(stats.input_records);
        self.progress.add_output(stats.output_records);
        self.progress.add_operator_outputs(&outs);
        let bytes = self.shard_bytes.get(task).copied().unwrap_or(0);
        self.progress.shard_done(bytes);
        Ok(())
    }

    /// Stops the reporter and leaves `progress.json` with `state` `done` or `failed`.
    fn finish(&self, state: &str) -> PyResult<()> {
        let state = match state {
            "done" => "done",
            "failed" => "failed",
            other => {
                return Err(errors::InternalError::new_err(format!(
                    "progress state must be done or failed, got `{other}`"
                )))
            }
        };
        let reporter = self
            .reporter
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(reporter) = reporter {
            reporter.finish(state);
        }
        Ok(())
    }
}

/// The plan of a prepared run directory, rebuilt in a worker from its manifest.
fn plan_of(run_dir: &std::path::Path, registry: &Arc<Registry>) -> Result<(Plan, RunDir)> {
    let dir = RunDir::new(run_dir);
    let manifest = dir.read_manifest()?.ok_or_else(|| {
        MdfError::config(format!(
            "{} holds no prepared run (no _mdf/manifest.json); is it on storage every Ray \
             node shares?",
            run_dir.display()
        ))
    })?;
    let plan = Plan::from_manifest(&manifest, registry)?;
    Ok((plan, dir))
}

/// Runs the tasks of one prepared run. A Ray worker keeps one per run and reuses it, so the
/// operators are built once per worker process, not once per shard.
#[pyclass(module = "mega_data_factory._native")]
pub struct ShardRunner {
    plan: Plan,
    run_dir: RunDir,
    slot: Mutex<WorkerSlot>,
}

#[pymethods]
impl ShardRunner {
    /// `remote(stage, batch) -> (batch, operator_stats_json, reject_lines)` runs the stages in
    /// `remote_stages` (stage pools); every other stage runs here.
    #[new]
    #[pyo3(signature = (run_dir, py_ops=None, remote_stages=Vec::new(), remote=None))]
    fn new(
        py: Python<'_>,
        run_dir: PathBuf,
        py_ops: Option<&Bound<'_, PyDict>>,
        remote_stages: Vec<String>,
        remote: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        mdf_exec::allocator::tune_for_batches();
        let registry = crate::registry_with(py_ops)?;
        let (plan, run_dir) = py
            .detach(|| plan_of(&run_dir, &registry))
            .map_err(errors::to_py)?;
        let remote = remote.map(|func| Arc::new(PyStageService { func }) as Arc<dyn StageService>);
        Ok(ShardRunner {
            plan,
            run_dir,
            slot: Mutex::new(WorkerSlot::with_remote_stages(remote_stages, remote)),
        })
    }

    /// Runs task `task` of a phase (`kind` segment/fit/route/group/merge, global step `k`; a segment
    /// task's number is the shard's position in the plan, a group task's its partition) and
    /// marks it done. A task whose done marker exists is not run again (a retried or resumed
    /// task is a no-op). Returns JSON: the shard's stats for a task of the last segment, else
    /// `{"phase", "task"}`; `"skipped": true` when it was already done.
    #[pyo3(signature = (kind, k, task, is_last, attempts=3))]
    fn run_task(
        &self,
        py: Python<'_>,
        kind: &str,
        k: usize,
        task: usize,
        is_last: bool,
        attempts: u32,
    ) -> PyResult<String> {
        let result = py.detach(|| -> Result<serde_json::Value> {
            let phase = phase_of(kind, k)?;
            let cancel = std::sync::atomic::AtomicBool::new(false);
            let progress = Progress::default();
            let ctx = TaskContext {
                plan: &self.plan,
                run_dir: &self.run_dir,
                cancel: &cancel,
                progress: &progress,
            };
            let done = task_done(&ctx, phase, task, is_last);
            if done && is_last {
                let shard =
                    self.plan.shards.get(task).ok_or_else(|| {
                        MdfError::internal(format!("the run has no shard #{task}"))
                    })?;
                let mut stats = serde_json::to_value(self.run_dir.shard_stats(shard.index)?)
                    .map_err(|e| MdfError::internal(e.to_string()))?;
                stats["skipped"] = serde_json::Value::Bool(true);
                return Ok(stats);
            }
            if done {
                return Ok(serde_json::json!({
                    "phase": phase.label(), "task": task, "skipped": true
                }));
            }
            let mut slot = self.slot.lock().unwrap_or_else(|p| p.into_inner());
            let stats = run_task_with_retries(&ctx, &mut slot, phase, task, attempts)?;
            match stats {
                Some(stats) if is_last => {
                    serde_json::to_value(stats).map_err(|e| MdfError::internal(e.to_string()))
                }
                _ => Ok(serde_json::json!({ "phase": phase.label(), "task": task })),
            }
        });
        to_json(&result.map_err(errors::to_py)?)
    }

    /// Runs shard `index` (its last segment; a plan without global operators has only that)
    /// and commits it; returns its stats as JSON (`"skipped": true` when it was complete).
    #[pyo3(signature = (index, attempts=3))]
    fn run(&self, py: Python<'_>, index: usize, attempts: u32) -> PyResult<String> {
        let position = self
            .plan
            .shards
            .iter()
            .position(|s| s.index == index)
            .ok_or_else(|| {
                errors::InternalError::new_err(format!("the run has no shard {index}"))
            })?;
        let last = mdf_exec::global::global_operators(&self.plan).len();
        self.run_task(py, "segment", last, position, true, attempts)
    }
}

/// A stage-pool replica: builds the operators of one stage once (a model loads here) and runs
/// them on the batches shard tasks send.
#[pyclass(module = "mega_data_factory._native")]
pub struct StageWorker {
    plan: Plan,
    state: Mutex<WorkerState>,
}

#[pymethods]
impl StageWorker {
    #[new]
    #[pyo3(signature = (run_dir, stage, py_ops=None))]
    fn new(
        py: Python<'_>,
        run_dir: PathBuf,
        stage: String,
        py_ops: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        mdf_exec::allocator::tune_for_batches();
        let registry = crate::registry_with(py_ops)?;
        let (plan, _) = py
            .detach(|| plan_of(&run_dir, &registry))
            .map_err(errors::to_py)?;
        // Python operators are built with the GIL held by their entries (`Python::attach`).
        let state = py
            .detach(|| WorkerState::for_stage(&plan, &stage))
            .map_err(errors::to_py)?;
        Ok(StageWorker {
            plan,
            state: Mutex::new(state),
        })
    }

    /// `(batch, operator_stats_json, reject_lines, positions)` for one batch of shard `shard`
    /// whose rows sit at `positions` in it (empty when sampling is off): the operators' stats
    /// carry their histograms and samples, `positions` those of the kept rows.
    #[pyo3(signature = (batch, shard=0, positions=Vec::new()))]
    fn process<'py>(
        &self,
        py: Python<'py>,
        batch: &Bound<'py, PyAny>,
        shard: usize,
        positions: Vec<u64>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let batch = RecordBatch::from_pyarrow_bound(batch)?;
        let out = py
            .detach(|| {
                let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
                run_stage_batch(&mut state, &self.plan, batch, shard, positions)
            })
            .map_err(errors::to_py)?;
        let stats = to_json(&out.operators)?;
        (out.batch.to_pyarrow(py)?, stats, out.rejects, out.positions).into_pyobject(py)
    }
}

/// Sends a stage's batches to a Python callable (the Ray runner's pool client).
struct PyStageService {
    func: Py<PyAny>,
}

impl StageService for PyStageService {
    fn process(
        &self,
        stage: &str,
        batch: RecordBatch,
        shard: usize,
        positions: &[u64],
    ) -> Result<StageOutput> {
        Python::attach(|py| -> PyResult<StageOutput> {
            let result = self.func.bind(py).call1((
                stage,
                batch.to_pyarrow(py)?,
                shard,
                positions.to_vec(),
            ))?;
            let (out, stats, rejects, positions): (
                Bound<'_, PyAny>,
                String,
                Vec<String>,
                Vec<u64>,
            ) = result.extract()?;
            let operators: Vec<OperatorStats> = serde_json::from_str(&stats).map_err(|e| {
                pyo3::exceptions::PyValueError::new_err(format!("operator stats: {e}"))
            })?;
            Ok(StageOutput {
                batch: RecordBatch::from_pyarrow_bound(&out)?,
                operators,
                rejects,
                positions,
            })
        })
        .map_err(|e| {
            // Retryable: the shard is redone (by this task's next attempt or by Ray's retry),
            // and the pool replaces a replica that died.
            MdfError::Io {
                path: PathBuf::from(format!("stage pool `{stage}`")),
                source: std::io::Error::other(e.to_string()),
            }
        })
    }
}
