//! The local executor (the embedded default): N worker threads take shards from a shared queue
//! in plan order. Each worker builds its operators once, streams a shard batch by batch (memory
//! is bounded by batch size × workers, whatever the input size) and commits it. Completed shards
//! are skipped on a rerun; an I/O failure retries the shard; a panic or bug stops the run with an
//! error, never a crash. A plan with global operators runs phase after phase, with a barrier
//! between them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use mdf_core::config::ExecutorType;
use mdf_core::{MdfError, Result};

use crate::global::Phase;
use crate::plan::Plan;
use crate::progress::{Progress, ProgressMode, Reporter};
use crate::runner::{
    finalize_run, prepare_run, progress_plan, shard_bytes, PreparedRun, RunFacts, RunSummary,
};
use crate::task::{run_task_with_retries, TaskContext, WorkerSlot};

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

pub fn run_local(plan: &Plan, options: &RunOptions) -> Result<RunSummary> {
    let started = Instant::now();
    let exec = &plan.config.executor;
    if exec.executor_type == ExecutorType::Ray || exec.use_ray {
        return Err(MdfError::config(
            "executor.type is ray: run it with `mdf run` or mega_data_factory.run (the Ray \
             runner is a Python driver), or set executor.type: local",
        ));
    }
    crate::allocator::tune_for_batches();
    let PreparedRun {
        run_dir,
        work,
        resumed,
        ..
    } = prepare_run(plan, options.overwrite)?;
    let most_tasks = work.iter().map(|w| w.pending.len()).max().unwrap_or(0);
    let workers = options
        .workers
        .or(exec.num_workers)
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
    let slots: Vec<Mutex<WorkerSlot>> = (0..workers)
        .map(|_| Mutex::new(WorkerSlot::default()))
        .collect();
    let mut outcome = Ok(());
    let mut phase_seconds = BTreeMap::new();
    for w in &work {
        if w.pending.is_empty() {
            continue;
        }
        let phase_started = Instant::now();
        outcome = run_phase(&ctx, &slots, w.phase, w.is_last, &w.pending, options);
        phase_seconds.insert(w.phase.label(), phase_started.elapsed().as_secs_f64());
        if outcome.is_err() {
            break;
        }
    }
    reporter.finish(if outcome.is_err() { "failed" } else { "done" });
    outcome?;
    finalize_run(
        plan,
        RunFacts {
            resumed,
            executor: "local",
            workers,
            wall_seconds: started.elapsed().as_secs_f64(),
            phase_seconds,
        },
    )
}

/// Runs the pending tasks of one phase on the worker threads; the first root-cause error wins.
fn run_phase(
    ctx: &TaskContext<'_>,
    slots: &[Mutex<WorkerSlot>],
    phase: Phase,
    is_last: bool,
    pending: &[usize],
    options: &RunOptions,
) -> Result<()> {
    let next = AtomicUsize::new(0);
    let failure: Mutex<Option<MdfError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for slot in slots.iter().take(pending.len()) {
            let (next, failure) = (&next, &failure);
            scope.spawn(move || {
                let mut guard = slot.lock().unwrap_or_else(|p| p.into_inner());
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

fn worker_loop(
    ctx: &TaskContext<'_>,
    slot: &mut WorkerSlot,
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
        run_task_with_retries(ctx, slot, phase, i, attempts)?;
        if is_last {
            ctx.progress.shard_done(shard_bytes(&ctx.plan.shards[i]));
        }
    }
}
