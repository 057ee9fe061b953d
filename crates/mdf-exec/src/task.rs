//! The per-shard task: read one shard, run the operators over each batch, write the kept rows,
//! reject the bad ones, count everything, commit. Every runner (local threads, Ray tasks) runs
//! this same function, so they write the same run directory.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use arrow::array::{Array, AsArray, BooleanArray};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{DataType, Float64Type};
use arrow::record_batch::RecordBatch;
use mdf_core::io::{ShardSpec, SourceItem};
use mdf_core::stats::{Histogram, OperatorStats, Reservoir, ShardStats};
use mdf_core::{MdfError, Operator, Result, Verdicts};
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::plan::{Plan, PlanStep};
use crate::progress::Progress;
use crate::rejects::{sample_json, RejectSink};
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
    /// Declared numeric columns (scores, lengths): the stats keep their histograms.
    numeric: Vec<String>,
}

impl WorkerState {
    pub fn new(plan: &Plan) -> Result<Self> {
        let mut operators = Vec::new();
        for step in &plan.steps {
            match step {
                PlanStep::Map(ops) => {
                    for p in ops {
                        let op = p.build()?;
                        let declared = op.output_fields();
                        let numeric = declared
                            .iter()
                            .filter(|f| f.data_type().is_numeric())
                            .map(|f| f.name().clone())
                            .collect();
                        operators.push(BuiltOperator {
                            stage: p.stage.clone(),
                            name: p.name.clone(),
                            label: format!("{}/{}", p.stage, p.name),
                            declared,
                            numeric,
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
    let sample_capacity = plan.config.executor.metrics.debug_samples_per_operator;
    stats.kept_samples = Reservoir::new(sample_capacity);
    let mut sampler = Sampler {
        shard: shard.index as u64,
        next_row: 0,
        capacity: sample_capacity,
        positions: Vec::new(),
    };
    let mut counts = vec![0u64; worker.operators.len() + 1];
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
        add_text_lengths(&mut stats.histograms, "input.text_bytes", &batch);
        sampler.start_batch(batch.num_rows());
        counts.fill(0);
        counts[0] = batch.num_rows() as u64;
        let batch = apply_operators(
            worker,
            &mut stats,
            &mut rejects,
            keep_filtered,
            &mut sampler,
            &mut counts,
            batch,
        )?;
        ctx.progress.add_operator_outputs(&counts[1..]);
        stats.timeline.add(unix_seconds(), &counts);
        add_text_lengths(&mut stats.histograms, "output.text_bytes", &batch);
        sampler.sample_rows(&mut stats.kept_samples, &batch, 0..batch.num_rows());
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

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Chooses sample records by a stable hash of their position in the shard (shard index, row
/// number), so the samples do not depend on worker count or scheduling.
struct Sampler {
    shard: u64,
    /// Input rows of the shard before the current batch.
    next_row: u64,
    capacity: usize,
    /// Shard row number of each row still in the current batch (empty when sampling is off).
    positions: Vec<u64>,
}

impl Sampler {
    fn start_batch(&mut self, rows: usize) {
        self.positions.clear();
        if self.capacity > 0 {
            self.positions
                .extend(self.next_row..self.next_row + rows as u64);
        }
        self.next_row += rows as u64;
    }

    fn key(&self, row: usize) -> Option<u64> {
        let position = self.positions.get(row)?;
        Some(xxh3_64_with_seed(&position.to_le_bytes(), self.shard))
    }

    /// Offers one row of `batch` to `reservoir`, building its JSON only if it is kept.
    fn sample_row(&self, reservoir: &mut Reservoir, batch: &RecordBatch, row: usize) {
        if let Some(key) = self.key(row) {
            if reservoir.offer(key) {
                reservoir.insert(key, sample_json(batch, row));
            }
        }
    }

    fn sample_rows(
        &self,
        reservoir: &mut Reservoir,
        batch: &RecordBatch,
        rows: std::ops::Range<usize>,
    ) {
        if self.capacity > 0 {
            for row in rows {
                self.sample_row(reservoir, batch, row);
            }
        }
    }

    /// Offers a dropped or rejected row to the reservoir of its reason.
    fn sample_reason(
        &self,
        samples: &mut BTreeMap<String, Reservoir>,
        reason: &str,
        batch: &RecordBatch,
        row: usize,
    ) {
        if self.capacity == 0 {
            return;
        }
        if !samples.contains_key(reason) {
            samples.insert(reason.to_owned(), Reservoir::new(self.capacity));
        }
        if let Some(reservoir) = samples.get_mut(reason) {
            self.sample_row(reservoir, batch, row);
        }
    }

    fn retain(&mut self, keep: &[bool]) {
        if !self.positions.is_empty() {
            let mut flags = keep.iter();
            self.positions
                .retain(|_| flags.next().copied().unwrap_or(false));
        }
    }
}

/// Byte length of each value of the `text` column, when there is one.
fn add_text_lengths(histograms: &mut BTreeMap<String, Histogram>, key: &str, batch: &RecordBatch) {
    let Some(column) = batch.column_by_name("text") else {
        return;
    };
    if batch.num_rows() == 0 {
        return;
    }
    let histogram = histograms.entry(key.to_owned()).or_default();
    match column.data_type() {
        DataType::Utf8 => {
            let strings = column.as_string::<i32>();
            for i in 0..strings.len() {
                histogram.add((!strings.is_null(i)).then(|| strings.value_length(i) as f64));
            }
        }
        DataType::LargeUtf8 => {
            let strings = column.as_string::<i64>();
            for i in 0..strings.len() {
                histogram.add((!strings.is_null(i)).then(|| strings.value_length(i) as f64));
            }
        }
        _ => {}
    }
}

/// Adds the values of each declared numeric column of `out` to the operator's histograms.
fn add_numeric_columns(op_stats: &mut OperatorStats, numeric: &[String], out: &RecordBatch) {
    for name in numeric {
        let Some(column) = out.column_by_name(name) else {
            continue;
        };
        let Ok(values) = arrow::compute::cast(column, &DataType::Float64) else {
            continue;
        };
        let values = values.as_primitive::<Float64Type>();
        let histogram = op_stats.histograms.entry(name.clone()).or_default();
        for i in 0..values.len() {
            histogram.add((!values.is_null(i)).then(|| values.value(i)));
        }
    }
}

/// Runs the operator chain over one batch, removing dropped and rejected rows as it goes.
/// `counts[i + 1]` receives the rows operator `i` let through.
fn apply_operators(
    worker: &mut WorkerState,
    stats: &mut ShardStats,
    rejects: &mut RejectSink,
    keep_filtered: bool,
    sampler: &mut Sampler,
    counts: &mut [u64],
    mut batch: RecordBatch,
) -> Result<RecordBatch> {
    let verdicts = &mut worker.verdicts;
    for (i, (built, op_stats)) in worker
        .operators
        .iter_mut()
        .zip(stats.operators.iter_mut())
        .enumerate()
    {
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
                    sampler.sample_reason(&mut op_stats.samples, "operator_error", &batch, row);
                }
                op_stats.errors += rows as u64;
                return Ok(batch.slice(0, 0));
            }
        };
        if !built.numeric.is_empty() {
            add_numeric_columns(op_stats, &built.numeric, &out);
        }
        if verdicts.is_empty() {
            op_stats.records_out += rows as u64;
            counts[i + 1] = rows as u64;
            batch = out;
            continue;
        }
        let mut keep = vec![true; rows];
        for &(row, reason) in verdicts.dropped() {
            let row = row as usize;
            if std::mem::replace(&mut keep[row], false) {
                *op_stats.dropped.entry(reason.to_owned()).or_default() += 1;
                sampler.sample_reason(&mut op_stats.samples, reason, &out, row);
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
                sampler.sample_reason(&mut op_stats.samples, reason, &out, row);
            }
        }
        let kept = keep.iter().filter(|k| **k).count();
        op_stats.records_out += kept as u64;
        counts[i + 1] = kept as u64;
        sampler.retain(&keep);
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
