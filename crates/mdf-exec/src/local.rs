//! The local executor (the embedded default): N worker threads take shards from a shared queue
//! in plan order. Each worker builds its operators once, streams a shard batch by batch (memory
//! is bounded by batch size × workers, whatever the input size) and commits it. Completed shards
//! are skipped on a rerun; an I/O failure retries the shard; a panic or bug stops the run with an
//! error, never a crash.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use mdf_core::config::ExecutorType;
use mdf_core::{MdfError, Result};

use crate::plan::Plan;
use crate::progress::{Progress, ProgressMode, Reporter};
use crate::runner::{finalize_run, prepare_run, PreparedRun, RunFacts, RunSummary};
use crate::task::{guarded, run_shard_with_retries, TaskContext, WorkerState};

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
    let PreparedRun {
        run_dir,
        pending,
        resumed,
    } = prepare_run(plan, options.overwrite)?;
    let workers = options
        .workers
        .or(exec.num_workers)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, pending.len().max(1));

    let progress = Arc::new(Progress::default());
    let reporter = Reporter::start(
        options.progress,
        progress.clone(),
        plan.shards.len() as u64,
        resumed as u64,
    );
    let ctx = TaskContext {
        plan,
        run_dir: &run_dir,
        cancel: &options.cancel,
        progress: &progress,
    };
    let next = AtomicUsize::new(0);
    let failure: Mutex<Option<MdfError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                if let Err(err) = worker_loop(&ctx, &pending, &next, options.attempts) {
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
    drop(reporter);
    if let Some(err) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(err);
    }
    finalize_run(
        run_dir.root(),
        RunFacts {
            resumed,
            executor: "local",
            workers,
            wall_seconds: started.elapsed().as_secs_f64(),
        },
    )
}

fn worker_loop(
    ctx: &TaskContext<'_>,
    pending: &[usize],
    next: &AtomicUsize,
    attempts: u32,
) -> Result<()> {
    let mut state = guarded(|| WorkerState::new(ctx.plan))?;
    loop {
        if ctx.cancel.load(Ordering::Relaxed) {
            return Err(MdfError::Interrupted);
        }
        let Some(&i) = pending.get(next.fetch_add(1, Ordering::Relaxed)) else {
            return Ok(());
        };
        run_shard_with_retries(ctx, &mut state, &ctx.plan.shards[i], attempts)?;
        ctx.progress.shard_done();
    }
}
