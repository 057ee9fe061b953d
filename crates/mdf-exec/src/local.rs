//! The local executor (the embedded default): N worker threads take shards from a shared queue
//! in plan order. Each worker builds its operators once, streams a shard batch by batch (memory
//! is bounded by batch size × workers, whatever the input size) and commits it. Completed shards
//! are skipped on a rerun; an I/O failure retries the shard; a panic or bug stops the run with an
//! error, never a crash.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use mdf_core::stats::ShardStats;
use mdf_core::{ErrorClass, MdfError, Result};
use serde::Serialize;

use crate::global::{self, Phase};
use crate::plan::Plan;
use crate::progress::{Progress, ProgressMode, ProgressPlan, Reporter};
use crate::rundir::{write_json_atomic, Manifest, RunDir};
use crate::task::{run_segment, TaskContext, WorkerState};

#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Worker threads; default: `executor.num_workers`, else all cores.
    pub workers: Option<usize>,
    /// Start from scratch instead of resuming.
    pub overwrite: bool,
    pub progress: ProgressMode,
    /// Set to stop the run after the batches in flight (Ctrl-C).
    pub cancel: Arc<AtomicBool>,
    /// Attempts per shard on retryable I/O errors.
    pub attempts: u32,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            workers: None,
            overwrite: false,
            progress: ProgressMode::Auto,
            cancel: Arc::new(AtomicBool::new(false)),
            attempts: 3,
        }
    }
}

/// What a run returns (and writes as `_mdf/stats.json`).
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    #[serde(flatten)]
    pub stats: ShardStats,
    pub run_dir: PathBuf,
    pub shards_total: usize,
    /// Shards found complete from an earlier run and skipped.
    pub shards_resumed: usize,
    pub workers: usize,
    pub wall_seconds: f64,
    /// Wall seconds of each phase run now (plans with global operators have several).
    pub phase_seconds: BTreeMap<String, f64>,
}

pub fn run_local(plan: &Plan, options: &RunOptions) -> Result<RunSummary> {
    let started = Instant::now();
    let run_dir = RunDir::new(plan.writer.output_dir());
    prepare_run_dir(plan, &run_dir, options.overwrite)?;
    let phases = global::phases(plan)?;
    let last = phases.last().copied();
    let final_pending: Vec<usize> = (0..plan.shards.len())
        .filter(|&i| !run_dir.is_done(plan.shards[i].index))
        .collect();
    let resumed = plan.shards.len() - final_pending.len();
    // Every phase's unfinished tasks. Once every shard is committed nothing is left to do,
    // even where the state of earlier phases was cleaned up.
    let mut work = Vec::new();
    if !final_pending.is_empty() {
        for &phase in &phases {
            let pending: Vec<usize> = if Some(phase) == last {
                final_pending.clone()
            } else {
                (0..global::task_count(plan, phase)?)
                    .filter(|&i| {
                        !global::marker(&run_dir, phase, task_key(plan, phase, i)).exists()
                    })
                    .collect()
            };
            work.push((phase, pending));
        }
    }
    let most_tasks = work.iter().map(|(_, p)| p.len()).max().unwrap_or(0);
    let workers = options
        .workers
        .or(plan.config.executor.num_workers)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, most_tasks.max(1));

    let progress = Arc::new(Progress::new(plan.operators().count()));
    let reporter = Reporter::start(
        options.progress,
        progress.clone(),
        progress_plan(plan, &run_dir),
    );
    let ctx = TaskContext {
        plan,
        run_dir: &run_dir,
        cancel: &options.cancel,
        progress: &progress,
    };
    // Worker state (operators, models) is built once per worker and kept across phases.
    let states: Vec<Mutex<Option<WorkerState>>> = (0..workers).map(|_| Mutex::new(None)).collect();
    let mut outcome = Ok(());
    let mut phase_seconds = BTreeMap::new();
    for (phase, pending) in &work {
        if pending.is_empty() {
            continue;
        }
        let phase_started = Instant::now();
        outcome = run_phase(
            &ctx,
            &states,
            *phase,
            Some(*phase) == last,
            pending,
            options,
        );
        phase_seconds.insert(phase.label(), phase_started.elapsed().as_secs_f64());
        if outcome.is_err() {
            break;
        }
    }
    reporter.finish(if outcome.is_err() { "failed" } else { "done" });
    outcome?;
    for k in 0..global::global_operators(plan).len() {
        global::GlobalDir::new(&run_dir, k).clean_up()?;
    }
    let mut stats = run_dir.merged_stats(&plan.shards)?;
    stats.timeline.compact(TIMELINE_MAX_POINTS);
    // Samples go to their own file: stats.json stays small and is what `run()` returns.
    write_json_atomic(&run_dir.samples_path(), &RunSamples::take_from(&mut stats))?;
    let summary = RunSummary {
        stats,
        run_dir: run_dir.root().to_path_buf(),
        shards_total: plan.shards.len(),
        shards_resumed: resumed,
        workers,
        wall_seconds: started.elapsed().as_secs_f64(),
        phase_seconds,
    };
    write_json_atomic(&run_dir.stats_path(), &summary)?;
    Ok(summary)
}

/// Segment tasks are keyed by shard index, group tasks by partition.
fn task_key(plan: &Plan, phase: Phase, task: usize) -> usize {
    match phase {
        Phase::Segment(_) => plan.shards[task].index,
        Phase::Group(_) | Phase::Merge(_) => task,
    }
}

/// Runs the pending tasks of one phase on the worker threads; the first root-cause error wins.
fn run_phase(
    ctx: &TaskContext<'_>,
    states: &[Mutex<Option<WorkerState>>],
    phase: Phase,
    is_last: bool,
    pending: &[usize],
    options: &RunOptions,
) -> Result<()> {
    let next = AtomicUsize::new(0);
    let failure: Mutex<Option<MdfError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for state in states.iter().take(pending.len()) {
            let (next, failure) = (&next, &failure);
            scope.spawn(move || {
                let mut guard = state.lock().unwrap_or_else(|p| p.into_inner());
                let result = worker_loop(
                    ctx,
                    &mut guard,
                    phase,
                    is_last,
                    pending,
                    next,
                    options.attempts,
                );
                if let Err(err) = result {
                    options.cancel.store(true, Ordering::Relaxed);
                    let mut slot = failure.lock().unwrap_or_else(|p| p.into_inner());
                    // Keep the root cause, not the Interrupted errors it triggers in other workers.
                    if slot
                        .as_ref()
                        .is_none_or(|e| matches!(e, MdfError::Interrupted))
                    {
                        *slot = Some(err);
                    }
                }
            });
        }
    });
    match failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(err) => Err(err),
        None => Ok(()),
    }
}

/// Throughput charts need no more points than this; longer runs get wider time buckets.
const TIMELINE_MAX_POINTS: usize = 600;

/// `_mdf/samples.json`: the sampled records, kept and removed, for the report.
#[derive(Debug, Serialize)]
struct RunSamples {
    kept: mdf_core::stats::Reservoir,
    operators: Vec<OperatorSamples>,
}

#[derive(Debug, Serialize)]
struct OperatorSamples {
    stage: String,
    name: String,
    /// Reason → sample of the rows dropped or rejected for it.
    samples: std::collections::BTreeMap<String, mdf_core::stats::Reservoir>,
}

impl RunSamples {
    fn take_from(stats: &mut ShardStats) -> Self {
        RunSamples {
            kept: std::mem::take(&mut stats.kept_samples),
            operators: stats
                .operators
                .iter_mut()
                .map(|op| OperatorSamples {
                    stage: op.stage.clone(),
                    name: op.name.clone(),
                    samples: std::mem::take(&mut op.samples),
                })
                .collect(),
        }
    }
}

/// Input bytes of a shard: its byte range, or the whole file's size (0 when unknown).
fn shard_bytes(shard: &mdf_core::io::ShardSpec) -> u64 {
    match shard.end {
        Some(end) => end.saturating_sub(shard.start),
        None => std::fs::metadata(&shard.path).map_or(0, |m| m.len()),
    }
}

fn progress_plan(plan: &Plan, run_dir: &RunDir) -> ProgressPlan {
    let mut stages: Vec<(String, std::ops::Range<usize>)> = Vec::new();
    for (i, op) in plan.operators().enumerate() {
        match stages.last_mut() {
            Some((name, range)) if *name == op.stage => range.end = i + 1,
            _ => stages.push((op.stage.clone(), i..i + 1)),
        }
    }
    let mut total_bytes = 0;
    let mut skipped_bytes = 0;
    let mut skipped_shards = 0;
    for shard in &plan.shards {
        let bytes = shard_bytes(shard);
        total_bytes += bytes;
        if run_dir.is_done(shard.index) {
            skipped_bytes += bytes;
            skipped_shards += 1;
        }
    }
    ProgressPlan {
        total_shards: plan.shards.len() as u64,
        skipped_shards,
        skipped_bytes,
        total_bytes,
        total_records: plan.config.executor.max_samples,
        stages,
        file: Some(run_dir.progress_path()),
    }
}

fn prepare_run_dir(plan: &Plan, run_dir: &RunDir, overwrite: bool) -> Result<()> {
    if overwrite {
        run_dir.wipe(&plan.writer.data_dir())?;
    } else if let Some(existing) = run_dir.read_manifest()? {
        if existing.fingerprint != plan.fingerprint {
            return Err(MdfError::config(format!(
                "{} holds a run of a different config or input (fingerprint {} vs {}); \
                 pass --overwrite to replace it, or choose another output_path",
                run_dir.root().display(),
                existing.fingerprint,
                plan.fingerprint
            )));
        }
    }
    run_dir.create()?;
    let config = serde_json::to_value(&plan.config)
        .map_err(|e| MdfError::internal(format!("serialising config: {e}")))?;
    write_json_atomic(
        &run_dir.manifest_path(),
        &Manifest {
            mdf_version: mdf_core::VERSION.to_owned(),
            fingerprint: plan.fingerprint.clone(),
            config,
            shards: plan.shards.clone(),
        },
    )
}

fn worker_loop(
    ctx: &TaskContext<'_>,
    state: &mut Option<WorkerState>,
    phase: Phase,
    is_last: bool,
    pending: &[usize],
    next: &AtomicUsize,
    attempts: u32,
) -> Result<()> {
    loop {
        if ctx.cancel.load(Ordering::Relaxed) {
            return Err(MdfError::Interrupted);
        }
        let Some(&i) = pending.get(next.fetch_add(1, Ordering::Relaxed)) else {
            return Ok(());
        };
        let mut attempt = 1;
        loop {
            let result = guarded(|| run_task(ctx, state, phase, i));
            match result {
                Ok(()) => break,
                Err(err) if err.class() == ErrorClass::RetryableIo && attempt < attempts => {
                    eprintln!(
                        "[mdf] {} task {i} attempt {attempt} failed, retrying: {err}",
                        phase.label()
                    );
                    attempt += 1;
                    std::thread::sleep(std::time::Duration::from_millis(200 * u64::from(attempt)));
                }
                Err(err) => return Err(err),
            }
        }
        if is_last {
            ctx.progress.shard_done(shard_bytes(&ctx.plan.shards[i]));
        }
    }
}

/// One task of one phase.
fn run_task(
    ctx: &TaskContext<'_>,
    state: &mut Option<WorkerState>,
    phase: Phase,
    task: usize,
) -> Result<()> {
    match phase {
        Phase::Segment(k) => {
            if state.is_none() {
                *state = Some(WorkerState::new(ctx.plan)?);
            }
            let Some(worker) = state.as_mut() else {
                return Err(MdfError::internal("worker state missing"));
            };
            run_segment(ctx, worker, k, &ctx.plan.shards[task]).map(|_| ())
        }
        Phase::Group(k) => global::run_group(ctx.plan, ctx.run_dir, k, task),
        Phase::Merge(k) => global::run_merge(ctx.plan, ctx.run_dir, k),
    }
}

/// Turns a panic into an error, so a bug in one operator never takes the process down.
fn guarded<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let msg = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        Err(MdfError::internal(format!("panic: {msg}")))
    })
}
