//! The per-shard task: read one shard, run the operators over each batch, write the kept rows,
//! reject the bad ones, count everything, commit. Every runner (local threads, Ray tasks) runs
//! this same function, so they write the same run directory.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::BooleanArray;
use arrow::compute::filter_record_batch;
use arrow::record_batch::RecordBatch;
use mdf_core::io::{ShardSpec, SourceItem};
use mdf_core::stats::{OperatorStats, ShardStats};
use mdf_core::{ErrorClass, MdfError, Operator, Result, Verdicts};

use crate::plan::{Plan, PlanStep, PlannedOperator};
use crate::progress::Progress;
use crate::rejects::RejectSink;
use crate::rundir::RunDir;

/// Runs the operators of one stage on a batch somewhere else (a Ray actor pool that built them
/// once), with the same [`run_stage_batch`] a local worker would run.
pub trait StageService: Send + Sync {
    fn process(&self, stage: &str, batch: RecordBatch) -> Result<StageOutput>;
}

/// What a stage's operators made of one batch: the kept rows, each operator's counts, and the
/// rejects as JSON lines (in the order the local runner writes them).
pub struct StageOutput {
    pub batch: RecordBatch,
    pub operators: Vec<OperatorStats>,
    pub rejects: Vec<String>,
}

/// State a worker builds once and reuses for every shard it runs.
pub struct WorkerState {
    chain: Vec<Link>,
    /// Zeroed counters, one per operator of `chain` (a remote link counts its operators).
    counters: Vec<OperatorStats>,
    verdicts: Verdicts,
    remote: Option<Arc<dyn StageService>>,
}

/// One step of a worker's operator chain.
enum Link {
    Local(BuiltOperator),
    /// The stage's `operators` operators run in a stage pool.
    Remote {
        stage: String,
        operators: usize,
    },
}

struct BuiltOperator {
    /// `stage/name`, as written in rejects.
    label: String,
    op: Box<dyn Operator>,
    declared: Vec<arrow::datatypes::Field>,
}

impl WorkerState {
    /// Builds every operator of the plan here.
    pub fn new(plan: &Plan) -> Result<Self> {
        Self::with_remote_stages(plan, &[], None)
    }

    /// Builds the operators of every stage except `remote_stages`, whose batches go to `remote`.
    pub fn with_remote_stages(
        plan: &Plan,
        remote_stages: &[String],
        remote: Option<Arc<dyn StageService>>,
    ) -> Result<Self> {
        let mut chain: Vec<Link> = Vec::new();
        let mut counters = Vec::new();
        for p in map_operators(plan)? {
            counters.push(OperatorStats::new(&p.stage, &p.name));
            if !remote_stages.contains(&p.stage) {
                chain.push(Link::Local(BuiltOperator::build(p)?));
                continue;
            }
            if remote.is_none() {
                return Err(MdfError::internal(format!(
                    "stage `{}` runs remotely but no stage service was given",
                    p.stage
                )));
            }
            match chain.last_mut() {
                Some(Link::Remote { stage, operators }) if *stage == p.stage => *operators += 1,
                _ => chain.push(Link::Remote {
                    stage: p.stage.clone(),
                    operators: 1,
                }),
            }
        }
        Ok(WorkerState {
            chain,
            counters,
            verdicts: Verdicts::default(),
            remote,
        })
    }

    /// Builds only the operators of `stage` (a stage-pool replica).
    pub fn for_stage(plan: &Plan, stage: &str) -> Result<Self> {
        let mut chain = Vec::new();
        let mut counters = Vec::new();
        for p in map_operators(plan)?.filter(|p| p.stage == stage) {
            counters.push(OperatorStats::new(&p.stage, &p.name));
            chain.push(Link::Local(BuiltOperator::build(p)?));
        }
        if chain.is_empty() {
            return Err(MdfError::config(format!(
                "stage `{stage}` has no enabled operators to run"
            )));
        }
        Ok(WorkerState {
            chain,
            counters,
            verdicts: Verdicts::default(),
            remote: None,
        })
    }

    /// Fresh counters for the operators this worker runs (remote ones included), in order.
    fn operator_stats(&self) -> Vec<OperatorStats> {
        self.counters.clone()
    }
}

impl BuiltOperator {
    fn build(p: &PlannedOperator) -> Result<Self> {
        let op = p.build()?;
        Ok(BuiltOperator {
            label: format!("{}/{}", p.stage, p.name),
            declared: op.output_fields(),
            op,
        })
    }
}

/// The operators of the plan's map steps, in order; a global operator is refused.
fn map_operators(plan: &Plan) -> Result<impl Iterator<Item = &PlannedOperator>> {
    for step in &plan.steps {
        if let PlanStep::Global(p) = step {
            return Err(MdfError::config(format!(
                "operator `{}` is a global (dedup) operator; the phase runtime for global \
                 operators is not available yet",
                p.name
            )));
        }
    }
    Ok(plan.operators())
}

/// What a shard task needs besides the plan.
pub struct TaskContext<'a> {
    pub plan: &'a Plan,
    pub run_dir: &'a RunDir,
    pub cancel: &'a AtomicBool,
    pub progress: &'a Progress,
}

/// Runs one shard to completion and commits it, retrying retryable I/O errors up to `attempts`
/// times in all. A panic becomes an error. This is the task every runner runs.
pub fn run_shard_with_retries(
    ctx: &TaskContext<'_>,
    worker: &mut WorkerState,
    shard: &ShardSpec,
    attempts: u32,
) -> Result<ShardStats> {
    let mut attempt = 1;
    loop {
        match guarded(|| run_shard(ctx, worker, shard)) {
            Ok(stats) => return Ok(stats),
            Err(err) if err.class() == ErrorClass::RetryableIo && attempt < attempts => {
                eprintln!(
                    "[mdf] shard {} attempt {attempt} failed, retrying: {err}",
                    shard.index
                );
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(200 * u64::from(attempt)));
            }
            Err(err) => return Err(err),
        }
    }
}

/// Turns a panic into an error, so a bug in one operator never takes the process down.
pub fn guarded<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let msg = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        Err(MdfError::internal(format!("panic: {msg}")))
    })
}

/// Runs one shard to completion and commits it. Returns its stats.
pub fn run_shard(
    ctx: &TaskContext<'_>,
    worker: &mut WorkerState,
    shard: &ShardSpec,
) -> Result<ShardStats> {
    let plan = ctx.plan;
    let data_dir = plan.writer.data_dir();
    ctx.run_dir.clear_shard(shard.index, &data_dir)?;
    let mut stats = ShardStats {
        shards: 1,
        operators: worker.operator_stats(),
        ..Default::default()
    };
    let mut rejects = RejectSink::new(
        ctx.run_dir.rejects_tmp_path(shard.index),
        ctx.run_dir.rejects_path(shard.index),
    );
    let keep_filtered = plan.config.executor.rejected_samples.enabled;
    let mut writer = plan.writer.open_shard(shard.index)?;
    let mut source = plan.loader.open(shard, plan.config.executor.batch_size)?;
    loop {
        if ctx.cancel.load(Ordering::Relaxed) {
            return Err(MdfError::Interrupted);
        }
        let started = Instant::now();
        let item = source.next_item()?;
        stats.read_seconds += started.elapsed().as_secs_f64();
        let batch = match item {
            None => break,
            Some(SourceItem::Reject(reject)) => {
                *stats
                    .input_rejects
                    .entry(reject.reason.clone())
                    .or_default() += 1;
                rejects.push(&reject)?;
                continue;
            }
            Some(SourceItem::Batch(batch)) => batch,
        };
        stats.input_records += batch.num_rows() as u64;
        ctx.progress.add_input(batch.num_rows() as u64);
        let batch = apply_operators(
            worker,
            &mut stats.operators,
            &mut rejects,
            keep_filtered,
            batch,
        )?;
        if batch.num_rows() > 0 {
            let started = Instant::now();
            writer.write(&batch)?;
            stats.write_seconds += started.elapsed().as_secs_f64();
            stats.output_records += batch.num_rows() as u64;
            ctx.progress.add_output(batch.num_rows() as u64);
        }
    }
    let started = Instant::now();
    writer.finish()?;
    stats.write_seconds += started.elapsed().as_secs_f64();
    stats.rejected_records = rejects.count;
    rejects.commit()?;
    ctx.run_dir.commit_shard(shard.index, &stats)?;
    Ok(stats)
}

/// Runs a stage-pool replica's operators (built by [`WorkerState::for_stage`]) over one batch:
/// the same chain step as a local worker runs, with its counts and rejects handed back.
pub fn run_stage_batch(
    worker: &mut WorkerState,
    plan: &Plan,
    batch: RecordBatch,
) -> Result<StageOutput> {
    let mut operators = worker.operator_stats();
    let mut rejects = RejectSink::in_memory();
    let keep_filtered = plan.config.executor.rejected_samples.enabled;
    let batch =
        guarded(|| apply_operators(worker, &mut operators, &mut rejects, keep_filtered, batch))?;
    Ok(StageOutput {
        batch,
        operators,
        rejects: rejects.into_lines(),
    })
}

/// Runs the operator chain over one batch, removing dropped and rejected rows as it goes.
/// `stats` has one entry per operator of the chain, remote ones included.
fn apply_operators(
    worker: &mut WorkerState,
    stats: &mut [OperatorStats],
    rejects: &mut RejectSink,
    keep_filtered: bool,
    mut batch: RecordBatch,
) -> Result<RecordBatch> {
    let verdicts = &mut worker.verdicts;
    let mut stat_at = 0;
    for link in worker.chain.iter_mut() {
        if batch.num_rows() == 0 {
            break;
        }
        let built = match link {
            Link::Local(built) => built,
            Link::Remote { stage, operators } => {
                let service = worker
                    .remote
                    .as_ref()
                    .ok_or_else(|| MdfError::internal("a remote stage without a stage service"))?;
                let out = service.process(stage, batch)?;
                let slots = stats
                    .get_mut(stat_at..stat_at + *operators)
                    .filter(|s| s.len() == out.operators.len())
                    .ok_or_else(|| {
                        MdfError::internal(format!(
                            "stage `{stage}` returned counts for {} operators, expected {operators}",
                            out.operators.len()
                        ))
                    })?;
                for (mine, theirs) in slots.iter_mut().zip(&out.operators) {
                    mine.merge(theirs);
                }
                for line in &out.rejects {
                    rejects.push_line(line)?;
                }
                stat_at += *operators;
                batch = out.batch;
                continue;
            }
        };
        let op_stats = stats
            .get_mut(stat_at)
            .ok_or_else(|| MdfError::internal("operator counters out of step with the chain"))?;
        stat_at += 1;
        let rows = batch.num_rows();
        op_stats.records_in += rows as u64;
        verdicts.clear();
        let started = Instant::now();
        let result = built.op.process(batch.clone(), verdicts);
        op_stats.seconds += started.elapsed().as_secs_f64();
        let out = match result.and_then(|out| check_output(built, rows, out)) {
            Ok(out) => out,
            Err(MdfError::Interrupted) => return Err(MdfError::Interrupted),
            Err(err) => {
                // The whole batch failed: every row is rejected with the error; the run goes on.
                let detail = err.to_string();
                for row in 0..rows {
                    rejects.push_row(&batch, row, &built.label, "operator_error", &detail)?;
                }
                op_stats.errors += rows as u64;
                return Ok(batch.slice(0, 0));
            }
        };
        if verdicts.is_empty() {
            op_stats.records_out += rows as u64;
            batch = out;
            continue;
        }
        let mut keep = vec![true; rows];
        for &(row, reason) in verdicts.dropped() {
            let row = row as usize;
            if std::mem::replace(&mut keep[row], false) {
                *op_stats.dropped.entry(reason.to_owned()).or_default() += 1;
                if keep_filtered {
                    rejects.push_row(&out, row, &built.label, reason, "dropped by filter")?;
                }
            }
        }
        for (row, message) in verdicts.rejected() {
            let row = *row as usize;
            if std::mem::replace(&mut keep[row], false) {
                op_stats.errors += 1;
                let reason = message.split(':').next().unwrap_or("bad_record");
                rejects.push_row(&out, row, &built.label, reason, message)?;
            }
        }
        let kept = keep.iter().filter(|k| **k).count();
        op_stats.records_out += kept as u64;
        batch = filter_record_batch(&out, &BooleanArray::from(keep))?;
    }
    Ok(batch)
}

/// An operator must return its rows and the columns it declared, with the declared types.
fn check_output(built: &BuiltOperator, rows: usize, out: RecordBatch) -> Result<RecordBatch> {
    if out.num_rows() != rows {
        return Err(MdfError::UserCode(format!(
            "operator `{}` returned {} rows for a batch of {rows}",
            built.label,
            out.num_rows()
        )));
    }
    for field in &built.declared {
        match out.schema().field_with_name(field.name()) {
            Ok(f) if f.data_type() == field.data_type() => {}
            Ok(f) => {
                return Err(MdfError::UserCode(format!(
                    "operator `{}` declared column `{}` as {} but produced {}",
                    built.label,
                    field.name(),
                    field.data_type(),
                    f.data_type()
                )))
            }
            Err(_) => {
                return Err(MdfError::UserCode(format!(
                    "operator `{}` declared column `{}` but did not produce it",
                    built.label,
                    field.name()
                )))
            }
        }
    }
    Ok(out)
}
