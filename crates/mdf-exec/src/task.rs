//! The per-shard task: read one shard, run the operators over each batch, write the kept rows,
//! reject the bad ones, count everything, commit. Every runner (local threads, Ray tasks) runs
//! this same function, so they write the same run directory.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use arrow::array::BooleanArray;
use arrow::compute::filter_record_batch;
use arrow::record_batch::RecordBatch;
use mdf_core::io::{ShardSpec, SourceItem};
use mdf_core::stats::{OperatorStats, ShardStats};
use mdf_core::{MdfError, Operator, Result, Verdicts};

use crate::plan::{Plan, PlanStep};
use crate::progress::Progress;
use crate::rejects::RejectSink;
use crate::rundir::RunDir;

/// State a worker builds once and reuses for every shard it runs.
pub struct WorkerState {
    operators: Vec<BuiltOperator>,
    verdicts: Verdicts,
}

struct BuiltOperator {
    stage: String,
    name: String,
    /// `stage/name`, as written in rejects.
    label: String,
    op: Box<dyn Operator>,
    declared: Vec<arrow::datatypes::Field>,
}

impl WorkerState {
    pub fn new(plan: &Plan) -> Result<Self> {
        let mut operators = Vec::new();
        for step in &plan.steps {
            match step {
                PlanStep::Map(ops) => {
                    for p in ops {
                        let op = p.build()?;
                        operators.push(BuiltOperator {
                            stage: p.stage.clone(),
                            name: p.name.clone(),
                            label: format!("{}/{}", p.stage, p.name),
                            declared: op.output_fields(),
                            op,
                        });
                    }
                }
                PlanStep::Global(p) => {
                    return Err(MdfError::config(format!(
                        "operator `{}` is a global (dedup) operator; the phase runtime for global \
                         operators is not available yet",
                        p.name
                    )))
                }
            }
        }
        Ok(WorkerState {
            operators,
            verdicts: Verdicts::default(),
        })
    }
}

/// What a shard task needs besides the plan.
pub struct TaskContext<'a> {
    pub plan: &'a Plan,
    pub run_dir: &'a RunDir,
    pub cancel: &'a AtomicBool,
    pub progress: &'a Progress,
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
        operators: worker
            .operators
            .iter()
            .map(|o| OperatorStats::new(&o.stage, &o.name))
            .collect(),
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
        let batch = apply_operators(worker, &mut stats, &mut rejects, keep_filtered, batch)?;
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

/// Runs the operator chain over one batch, removing dropped and rejected rows as it goes.
fn apply_operators(
    worker: &mut WorkerState,
    stats: &mut ShardStats,
    rejects: &mut RejectSink,
    keep_filtered: bool,
    mut batch: RecordBatch,
) -> Result<RecordBatch> {
    let verdicts = &mut worker.verdicts;
    for (built, op_stats) in worker.operators.iter_mut().zip(stats.operators.iter_mut()) {
        let rows = batch.num_rows();
        if rows == 0 {
            break;
        }
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
