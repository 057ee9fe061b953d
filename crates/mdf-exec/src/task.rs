//! The per-shard task: read one shard, run the operators over each batch, write the kept rows,
//! reject the bad ones, count everything, commit. Every runner (local threads, Ray tasks) runs
//! this same function, so they write the same run directory.
//!
//! A plan with global operators (dedup) runs its shards once per *segment* (see
//! [`crate::global`]): segment k reads the loader (k = 0) or the rows staged by segment k-1,
//! applies the clusters of global step k-1, runs its map operators, and ends with the keys of
//! global step k (staging its rows under `_mdf/global/`) or, for the last segment, the writer.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, GenericStringArray, OffsetSizeTrait, UInt32Array,
    UInt64Array,
};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{DataType, Field, Float64Type, Schema};
use arrow::record_batch::RecordBatch;
use mdf_core::global::{ClusterColumns, DocId, GlobalOperator, Grouping, KeySink};
use mdf_core::io::{ShardSpec, SourceItem};
use mdf_core::stats::{Histogram, OperatorStats, Reservoir, ShardStats};
use mdf_core::{ErrorClass, MdfError, Operator, Result, Verdicts};
use mdf_dedup::partition::{
    decode_edits, encode_fit_sample, key_file_records, read_shard_clusters, ClusterEntry, Edit,
    KeyFileWriter,
};
use mdf_io::storage;
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::global::{self, build_global, marker, GlobalDir, Phase, SetFileWriter};
use crate::plan::{Plan, PlanStep, PlannedOperator};
use crate::progress::Progress;
use crate::rejects::{sample_json, RejectSink};
use crate::rundir::{write_atomic, write_json_atomic, RunDir};
use crate::staging::{StagedSource, StagedWriter};

/// Runs the operators of one stage on a batch somewhere else (a Ray actor pool that built them
/// once), with the same [`run_stage_batch`] a local worker would run.
pub trait StageService: Send + Sync {
    /// `positions` are the shard row numbers of the batch's rows (empty when sampling is off),
    /// so the pool samples the same rows the local runner would.
    fn process(
        &self,
        stage: &str,
        batch: RecordBatch,
        shard: usize,
        positions: &[u64],
    ) -> Result<StageOutput>;
}

/// What a stage's operators made of one batch: the kept rows, each operator's stats (counts,
/// histograms, samples), the rejects as JSON lines (in the order the local runner writes them),
/// and the shard row numbers of the kept rows.
pub struct StageOutput {
    pub batch: RecordBatch,
    pub operators: Vec<OperatorStats>,
    pub rejects: Vec<String>,
    pub positions: Vec<u64>,
}

/// State a worker builds once and reuses for every shard it runs.
pub struct WorkerState {
    segments: Vec<SegmentOps>,
    /// Every operator of the plan in order (the layout of `ShardStats::operators`).
    all_operators: Vec<(String, String)>,
    verdicts: Verdicts,
    keys: KeySink,
    remote: Option<Arc<dyn StageService>>,
}

/// What one segment runs.
struct SegmentOps {
    /// The global step whose clusters this segment applies first.
    filter: Option<BuiltGlobal>,
    operators: Vec<Link>,
    /// The global step whose keys this segment extracts last.
    keys: Option<BuiltGlobal>,
}

/// One step of a segment's operator chain.
enum Link {
    Local(BuiltOperator),
    /// Consecutive operators of a stage that runs in a stage pool; `stats` are their positions
    /// in the plan's operators.
    Remote {
        stage: String,
        stats: Vec<usize>,
    },
}

struct BuiltOperator {
    /// Position in the plan's operators (index into the stats).
    stat: usize,
    /// `stage/name`, as written in rejects.
    label: String,
    op: Box<dyn Operator>,
    declared: Vec<arrow::datatypes::Field>,
    /// Declared numeric columns (scores, lengths): the stats keep their histograms.
    numeric: Vec<String>,
}

struct BuiltGlobal {
    /// Which global step (0-based).
    step: usize,
    stat: usize,
    label: String,
    op: Box<dyn GlobalOperator>,
}

impl WorkerState {
    /// Builds every operator of the plan here.
    pub fn new(plan: &Plan) -> Result<Self> {
        Self::build(plan, &[], None, None)
    }

    /// Builds the operators of every stage except `remote_stages`, whose batches go to `remote`.
    pub fn with_remote_stages(
        plan: &Plan,
        remote_stages: &[String],
        remote: Option<Arc<dyn StageService>>,
    ) -> Result<Self> {
        if !remote_stages.is_empty() && remote.is_none() {
            return Err(MdfError::internal(
                "stages run remotely but no stage service was given",
            ));
        }
        Self::build(plan, remote_stages, remote, None)
    }

    /// Builds only the map operators of `stage` (a stage-pool replica, see [`run_stage_batch`]).
    pub fn for_stage(plan: &Plan, stage: &str) -> Result<Self> {
        let state = Self::build(plan, &[], None, Some(stage))?;
        if state.segments.iter().all(|s| s.operators.is_empty()) {
            return Err(MdfError::config(format!(
                "stage `{stage}` has no enabled operators to run"
            )));
        }
        Ok(state)
    }

    fn build(
        plan: &Plan,
        remote_stages: &[String],
        remote: Option<Arc<dyn StageService>>,
        only_stage: Option<&str>,
    ) -> Result<Self> {
        let mut segments = vec![SegmentOps {
            filter: None,
            operators: Vec::new(),
            keys: None,
        }];
        let mut all_operators = Vec::new();
        let mut step = 0;
        let label = |p: &PlannedOperator| format!("{}/{}", p.stage, p.name);
        for planned in &plan.steps {
            match planned {
                PlanStep::Map(ops) => {
                    for p in ops {
                        let stat = all_operators.len();
                        all_operators.push((p.stage.clone(), p.name.clone()));
                        if only_stage.is_some_and(|s| s != p.stage) {
                            continue;
                        }
                        let segment = segments.last_mut().ok_or_else(no_segment)?;
                        if remote_stages.contains(&p.stage) {
                            match segment.operators.last_mut() {
                                Some(Link::Remote { stage, stats }) if *stage == p.stage => {
                                    stats.push(stat)
                                }
                                _ => segment.operators.push(Link::Remote {
                                    stage: p.stage.clone(),
                                    stats: vec![stat],
                                }),
                            }
                            continue;
                        }
                        let op = p.build()?;
                        let declared = op.output_fields();
                        let numeric = declared
                            .iter()
                            .filter(|f| f.data_type().is_numeric())
                            .map(|f| f.name().clone())
                            .collect();
                        segment.operators.push(Link::Local(BuiltOperator {
                            stat,
                            label: label(p),
                            declared,
                            numeric,
                            op,
                        }));
                    }
                }
                PlanStep::Global(p) => {
                    if remote_stages.contains(&p.stage) {
                        return Err(MdfError::config(format!(
                            "stage `{}` runs as a stage pool and holds the global operator `{}`; \
                             put the global operator in a stage of its own",
                            p.stage, p.name
                        )));
                    }
                    let stat = all_operators.len();
                    all_operators.push((p.stage.clone(), p.name.clone()));
                    if only_stage.is_some() {
                        // A stage-pool replica runs map operators only, in one segment.
                        step += 1;
                        continue;
                    }
                    let built = |p: &PlannedOperator| -> Result<BuiltGlobal> {
                        Ok(BuiltGlobal {
                            step,
                            stat,
                            label: label(p),
                            op: build_global(p)?,
                        })
                    };
                    let keys = built(p)?;
                    let filter = built(p)?;
                    segments.last_mut().ok_or_else(no_segment)?.keys = Some(keys);
                    segments.push(SegmentOps {
                        filter: Some(filter),
                        operators: Vec::new(),
                        keys: None,
                    });
                    step += 1;
                }
            }
        }
        Ok(WorkerState {
            segments,
            all_operators,
            verdicts: Verdicts::default(),
            keys: KeySink::default(),
            remote,
        })
    }

    fn empty_stats(&self) -> ShardStats {
        ShardStats {
            operators: self
                .all_operators
                .iter()
                .map(|(stage, name)| OperatorStats::new(stage, name))
                .collect(),
            ..Default::default()
        }
    }
}

fn no_segment() -> MdfError {
    MdfError::internal("plan without a segment")
}

/// What a shard task needs besides the plan.
pub struct TaskContext<'a> {
    pub plan: &'a Plan,
    pub run_dir: &'a RunDir,
    pub cancel: &'a AtomicBool,
    pub progress: &'a Progress,
}

/// A worker's state, built on its first segment task (group and merge tasks need none) and
/// kept across phases.
#[derive(Default)]
pub struct WorkerSlot {
    state: Option<WorkerState>,
    remote_stages: Vec<String>,
    remote: Option<Arc<dyn StageService>>,
}

impl WorkerSlot {
    /// A slot whose state will send the batches of `remote_stages` to `remote`.
    pub fn with_remote_stages(
        remote_stages: Vec<String>,
        remote: Option<Arc<dyn StageService>>,
    ) -> Self {
        WorkerSlot {
            state: None,
            remote_stages,
            remote,
        }
    }

    pub fn get(&mut self, plan: &Plan) -> Result<&mut WorkerState> {
        if self.state.is_none() {
            self.state = Some(WorkerState::with_remote_stages(
                plan,
                &self.remote_stages,
                self.remote.clone(),
            )?);
        }
        self.state
            .as_mut()
            .ok_or_else(|| MdfError::internal("worker state missing"))
    }
}

/// Whether task `task` of `phase` is complete (its done marker exists). Segment tasks are
/// numbered by position in `plan.shards`, group tasks by partition.
pub fn task_done(ctx: &TaskContext<'_>, phase: Phase, task: usize, is_last: bool) -> bool {
    match phase {
        Phase::Segment(_) | Phase::Route(_) => ctx.plan.shards.get(task).is_some_and(|shard| {
            if is_last {
                ctx.run_dir.is_done(shard.index)
            } else {
                global::is_marked(ctx.run_dir, phase, shard.index)
            }
        }),
        Phase::Group(_) | Phase::Merge(_) | Phase::Fit(_) => {
            global::is_marked(ctx.run_dir, phase, task)
        }
    }
}

/// One task of one phase: a segment of a shard (returning its stats), a dedup group partition
/// or a dedup merge (returning `None`).
pub fn run_phase_task(
    ctx: &TaskContext<'_>,
    slot: &mut WorkerSlot,
    phase: Phase,
    task: usize,
) -> Result<Option<ShardStats>> {
    match phase {
        Phase::Segment(k) => {
            let shard = ctx
                .plan
                .shards
                .get(task)
                .ok_or_else(|| MdfError::internal(format!("the run has no shard #{task}")))?;
            let worker = slot.get(ctx.plan)?;
            run_segment(ctx, worker, k, shard).map(Some)
        }
        Phase::Group(k) => global::run_group(ctx.plan, ctx.run_dir, k, task).map(|()| None),
        Phase::Merge(k) => global::run_merge(ctx.plan, ctx.run_dir, k).map(|()| None),
        Phase::Fit(k) => global::run_fit(ctx.plan, ctx.run_dir, k).map(|()| None),
        Phase::Route(k) => {
            let shard = ctx
                .plan
                .shards
                .get(task)
                .ok_or_else(|| MdfError::internal(format!("the run has no shard #{task}")))?;
            global::run_route(ctx.plan, ctx.run_dir, k, shard.index).map(|()| None)
        }
    }
}

/// [`run_phase_task`], retrying retryable I/O errors up to `attempts` times in all; a panic
/// becomes an error. This is the task every runner runs.
pub fn run_task_with_retries(
    ctx: &TaskContext<'_>,
    slot: &mut WorkerSlot,
    phase: Phase,
    task: usize,
    attempts: u32,
) -> Result<Option<ShardStats>> {
    let mut attempt = 1;
    loop {
        match guarded(|| run_phase_task(ctx, slot, phase, task)) {
            Ok(stats) => return Ok(stats),
            Err(err) if err.class() == ErrorClass::RetryableIo && attempt < attempts => {
                eprintln!(
                    "[mdf] {} task {task} attempt {attempt} failed, retrying: {err}",
                    phase.label()
                );
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(200 * u64::from(attempt)));
            }
            Err(err) => return Err(err),
        }
    }
}

/// Runs the whole of one shard of a plan without global operators (its only segment), with
/// retries; see [`run_task_with_retries`].
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

/// Runs the last segment of one shard (for a plan without global operators, the whole shard)
/// to completion and commits it. Returns its stats, merged with those of earlier segments.
pub fn run_shard(
    ctx: &TaskContext<'_>,
    worker: &mut WorkerState,
    shard: &ShardSpec,
) -> Result<ShardStats> {
    let last = worker.segments.len() - 1;
    run_segment(ctx, worker, last, shard)
}

/// Where a segment's rows go.
enum Sink {
    Output(Box<dyn mdf_core::io::ShardWriter>),
    Keys {
        keys: KeyFileWriter,
        /// The documents' sets, for an operator that verifies candidate pairs.
        sets: Option<Box<SetFileWriter>>,
        staged: Box<StagedWriter>,
    },
}

/// Runs segment `segment` of one shard and commits it.
pub fn run_segment(
    ctx: &TaskContext<'_>,
    worker: &mut WorkerState,
    segment: usize,
    shard: &ShardSpec,
) -> Result<ShardStats> {
    let plan = ctx.plan;
    let last = segment + 1 == worker.segments.len();
    let data_dir = plan.writer.data_dir();
    let (rejects_tmp, rejects_final) = if last {
        ctx.run_dir.clear_shard(shard.index, &data_dir)?;
        (
            ctx.run_dir.rejects_tmp_path(shard.index),
            ctx.run_dir.rejects_path(shard.index),
        )
    } else {
        let dir = ctx.run_dir.rejects_dir();
        let published = dir.join(format!("{:06}.g{segment:02}.jsonl", shard.index));
        // An earlier attempt may have published rejects without finishing the segment.
        storage::remove_file_if_exists(&published)?;
        (
            dir.join(format!(".{:06}.g{segment:02}.jsonl.tmp", shard.index)),
            published,
        )
    };
    let mut stats = worker.empty_stats();
    let mut rejects = RejectSink::new(rejects_tmp, rejects_final);
    let keep_filtered = plan.config.executor.rejected_samples.enabled;
    let sample_capacity = plan.config.executor.metrics.debug_samples_per_operator;
    stats.kept_samples = Reservoir::new(sample_capacity);
    let mut sampler = Sampler {
        shard: shard.index as u64,
        next_row: 0,
        capacity: sample_capacity,
        positions: Vec::new(),
    };
    let mut counts = vec![0u64; worker.all_operators.len() + 1];
    let WorkerState {
        segments,
        verdicts,
        keys: sink_keys,
        remote,
        ..
    } = worker;
    let seg = &mut segments[segment];

    let mut sink = match &seg.keys {
        None => Sink::Output(plan.writer.open_shard(shard.index)?),
        Some(g) => {
            let dir = GlobalDir::new(ctx.run_dir, g.step);
            Sink::Keys {
                keys: KeyFileWriter::new(g.op.num_partitions()),
                sets: match g.op.jaccard_threshold() {
                    Some(_) => Some(Box::new(SetFileWriter::create(&dir.set_file(shard.index))?)),
                    None => None,
                },
                staged: Box::new(StagedWriter::new(dir.staged_file(shard.index))),
            }
        }
    };
    let mut clusters = match &seg.filter {
        None => None,
        Some(g) => Some(ClusterCursor::load(ctx, g, shard.index)?),
    };
    let mut source: Box<dyn mdf_core::io::RecordSource> = match &seg.filter {
        None => plan.loader.open(shard, plan.config.executor.batch_size)?,
        Some(g) => Box::new(StagedSource::open(
            &GlobalDir::new(ctx.run_dir, g.step).staged_file(shard.index),
            plan.config.executor.batch_size,
        )?),
    };
    let mut next_row = 0u64;
    loop {
        if ctx.cancel.load(Ordering::Relaxed) {
            return Err(MdfError::Interrupted);
        }
        let started = Instant::now();
        let item = source.next_item()?;
        stats.read_seconds += started.elapsed().as_secs_f64();
        let mut batch = match item {
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
        counts.fill(0);
        if let (Some(g), Some(cursor)) = (seg.filter.as_mut(), clusters.as_mut()) {
            batch = cursor.apply(g, batch, verdicts, &mut stats, &mut rejects, keep_filtered)?;
            counts[g.stat + 1] = batch.num_rows() as u64;
        } else {
            stats.input_records += batch.num_rows() as u64;
            ctx.progress.add_input(batch.num_rows() as u64);
            add_text_lengths(&mut stats.histograms, "input.text_bytes", &batch);
            counts[0] = batch.num_rows() as u64;
        }
        sampler.start_batch(batch.num_rows());
        let batch = apply_operators(
            &mut seg.operators,
            remote.as_ref(),
            verdicts,
            &mut stats,
            &mut rejects,
            keep_filtered,
            &mut sampler,
            &mut counts,
            batch,
        )?;
        ctx.progress.add_operator_outputs(&counts[1..]);
        stats.timeline.add(unix_seconds(), &counts);
        match &mut sink {
            Sink::Output(writer) => {
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
            Sink::Keys { keys, sets, staged } => {
                let Some(g) = seg.keys.as_mut() else {
                    return Err(no_segment());
                };
                let kept = extract_keys(
                    g,
                    batch,
                    shard.index,
                    &mut next_row,
                    sink_keys,
                    keys,
                    sets.as_deref_mut(),
                    verdicts,
                    &mut stats,
                    &mut rejects,
                )?;
                let started = Instant::now();
                staged.write(&kept)?;
                stats.write_seconds += started.elapsed().as_secs_f64();
            }
        }
    }
    stats.rejected_records = rejects.count;
    match sink {
        Sink::Output(writer) => {
            let started = Instant::now();
            writer.finish()?;
            stats.write_seconds += started.elapsed().as_secs_f64();
            stats.shards = 1;
            rejects.commit()?;
            // The shard's stats are those of all its segments.
            for earlier in 0..segment {
                let path = GlobalDir::new(ctx.run_dir, earlier).stats_file(shard.index);
                stats.merge(&read_stats(&path)?);
            }
            ctx.run_dir.commit_shard(shard.index, &stats)?;
        }
        Sink::Keys { keys, sets, staged } => {
            let Some(g) = &seg.keys else {
                return Err(no_segment());
            };
            let dir = GlobalDir::new(ctx.run_dir, g.step);
            let started = Instant::now();
            staged.finish()?;
            if let Some(sets) = sets {
                sets.finish()?;
            }
            let keys = keys.finish();
            if let Some(sample) = g.op.fit_sample() {
                // The shard's part of the fit sample: its lowest-ranked records.
                let records = key_file_records(&keys)?;
                write_atomic(
                    &dir.sample_file(shard.index),
                    &encode_fit_sample(records, sample),
                )?;
            }
            write_atomic(&dir.key_file(shard.index), &keys)?;
            stats.write_seconds += started.elapsed().as_secs_f64();
            rejects.commit()?;
            write_json_atomic(&dir.stats_file(shard.index), &stats)?;
            write_atomic(
                &marker(ctx.run_dir, Phase::Segment(segment), shard.index),
                b"",
            )?;
        }
    }
    Ok(stats)
}

fn read_stats(path: &Path) -> Result<ShardStats> {
    let bytes = storage::read(path)?;
    serde_json::from_slice(&bytes)
        .map_err(|e| MdfError::internal(format!("{}: {e}", path.display())))
}

/// Extracts the keys of `batch`'s rows, rejects the rows that cannot be keyed, numbers the
/// others (their [`DocId`]s) and returns them for staging.
#[allow(clippy::too_many_arguments)]
fn extract_keys(
    g: &mut BuiltGlobal,
    batch: RecordBatch,
    shard: usize,
    next_row: &mut u64,
    sink: &mut KeySink,
    keys: &mut KeyFileWriter,
    sets: Option<&mut SetFileWriter>,
    verdicts: &mut Verdicts,
    stats: &mut ShardStats,
    rejects: &mut RejectSink,
) -> Result<RecordBatch> {
    let rows = batch.num_rows();
    if rows == 0 {
        return Ok(batch);
    }
    let op_stats = &mut stats.operators[g.stat];
    op_stats.records_in += rows as u64;
    sink.clear();
    verdicts.clear();
    let started = Instant::now();
    let result = g.op.extract(&batch, sink, verdicts);
    op_stats.seconds += started.elapsed().as_secs_f64();
    if let Err(err) = result {
        if matches!(err, MdfError::Interrupted) {
            return Err(err);
        }
        let detail = err.to_string();
        for row in 0..rows {
            rejects.push_row(&batch, row, &g.label, "operator_error", &detail)?;
        }
        op_stats.errors += rows as u64;
        return Ok(batch.slice(0, 0));
    }
    let keep = apply_verdicts(verdicts, op_stats, rejects, &g.label, &batch, true, None)?;
    // Row ordinals among the rows kept.
    let mut ordinal = vec![0u64; rows];
    let mut n = *next_row;
    for (row, k) in keep.iter().enumerate() {
        ordinal[row] = n;
        n += u64::from(*k);
    }
    let started = Instant::now();
    for i in 0..sink.len() {
        let row = sink.rows[i] as usize;
        if keep.get(row).copied().unwrap_or(false) {
            keys.push(
                sink.keys[i],
                DocId::new(shard, ordinal[row])?,
                sink.payload(i),
            );
        }
    }
    if let Some(sets) = sets {
        for (row, set) in sink.sets() {
            if keep.get(row).copied().unwrap_or(false) {
                sets.push(DocId::new(shard, ordinal[row])?, set)?;
            }
        }
    }
    stats.operators[g.stat].seconds += started.elapsed().as_secs_f64();
    *next_row = n;
    if keep.iter().all(|k| *k) {
        Ok(batch)
    } else {
        Ok(filter_record_batch(&batch, &BooleanArray::from(keep))?)
    }
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
        DataType::Utf8 => add_string_lengths(histogram, column.as_string::<i32>()),
        DataType::LargeUtf8 => add_string_lengths(histogram, column.as_string::<i64>()),
        _ => {}
    }
}

fn add_string_lengths<O: OffsetSizeTrait>(
    histogram: &mut Histogram,
    strings: &GenericStringArray<O>,
) {
    histogram.add_all(
        (0..strings.len())
            .map(|i| (!strings.is_null(i)).then(|| strings.value_length(i).as_usize() as f64)),
    );
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
        histogram.add_all((0..values.len()).map(|i| (!values.is_null(i)).then(|| values.value(i))));
    }
}

/// Records an operator's verdicts (stats, rejects) and returns the keep mask.
fn apply_verdicts(
    verdicts: &Verdicts,
    op_stats: &mut OperatorStats,
    rejects: &mut RejectSink,
    label: &str,
    out: &RecordBatch,
    keep_filtered: bool,
    sampler: Option<&Sampler>,
) -> Result<Vec<bool>> {
    let mut keep = vec![true; out.num_rows()];
    for &(row, reason) in verdicts.dropped() {
        let row = row as usize;
        if std::mem::replace(&mut keep[row], false) {
            *op_stats.dropped.entry(reason.to_owned()).or_default() += 1;
            if let Some(sampler) = sampler {
                sampler.sample_reason(&mut op_stats.samples, reason, out, row);
            }
            if keep_filtered {
                rejects.push_row(out, row, label, reason, "dropped by filter")?;
            }
        }
    }
    for (row, message) in verdicts.rejected() {
        let row = *row as usize;
        if std::mem::replace(&mut keep[row], false) {
            op_stats.errors += 1;
            let reason = message.split(':').next().unwrap_or("bad_record");
            rejects.push_row(out, row, label, reason, message)?;
            if let Some(sampler) = sampler {
                sampler.sample_reason(&mut op_stats.samples, reason, out, row);
            }
        }
    }
    Ok(keep)
}

/// Runs a stage-pool replica's operators (built by [`WorkerState::for_stage`]) over one batch of
/// shard `shard` whose rows sit at `positions`: the same chain step a local worker runs, with
/// its stats, rejects and the kept rows' positions handed back.
pub fn run_stage_batch(
    worker: &mut WorkerState,
    plan: &Plan,
    batch: RecordBatch,
    shard: usize,
    positions: Vec<u64>,
) -> Result<StageOutput> {
    let mut stats = worker.empty_stats();
    let mut rejects = RejectSink::in_memory();
    let keep_filtered = plan.config.executor.rejected_samples.enabled;
    let capacity = plan.config.executor.metrics.debug_samples_per_operator;
    let mut sampler = Sampler {
        shard: shard as u64,
        next_row: 0,
        capacity,
        positions: if capacity > 0 { positions } else { Vec::new() },
    };
    let mut counts = vec![0u64; worker.all_operators.len() + 1];
    let WorkerState {
        segments, verdicts, ..
    } = worker;
    let operators = &mut segments.first_mut().ok_or_else(no_segment)?.operators;
    let batch = guarded(|| {
        apply_operators(
            operators,
            None,
            verdicts,
            &mut stats,
            &mut rejects,
            keep_filtered,
            &mut sampler,
            &mut counts,
            batch,
        )
    })?;
    let mine: Vec<OperatorStats> = operators
        .iter()
        .filter_map(|link| match link {
            Link::Local(built) => stats.operators.get(built.stat).cloned(),
            Link::Remote { .. } => None,
        })
        .collect();
    Ok(StageOutput {
        batch,
        operators: mine,
        rejects: rejects.into_lines(),
        positions: sampler.positions,
    })
}

/// Runs the operator chain over one batch, removing dropped and rejected rows as it goes.
/// `counts[stat + 1]` receives the rows the operator at plan position `stat` let through.
#[allow(clippy::too_many_arguments)]
fn apply_operators(
    operators: &mut [Link],
    remote: Option<&Arc<dyn StageService>>,
    verdicts: &mut Verdicts,
    stats: &mut ShardStats,
    rejects: &mut RejectSink,
    keep_filtered: bool,
    sampler: &mut Sampler,
    counts: &mut [u64],
    mut batch: RecordBatch,
) -> Result<RecordBatch> {
    for link in operators.iter_mut() {
        if batch.num_rows() == 0 {
            break;
        }
        let built = match link {
            Link::Local(built) => built,
            Link::Remote { stage, stats: at } => {
                let service = remote
                    .ok_or_else(|| MdfError::internal("a remote stage without a stage service"))?;
                let out =
                    service.process(stage, batch, sampler.shard as usize, &sampler.positions)?;
                if out.operators.len() != at.len() {
                    return Err(MdfError::internal(format!(
                        "stage `{stage}` returned stats of {} operators, expected {}",
                        out.operators.len(),
                        at.len()
                    )));
                }
                for (&stat, theirs) in at.iter().zip(&out.operators) {
                    let mine = stats.operators.get_mut(stat).ok_or_else(|| {
                        MdfError::internal("operator stats out of step with the plan")
                    })?;
                    mine.merge(theirs);
                    counts[stat + 1] = theirs.records_out;
                }
                for line in &out.rejects {
                    rejects.push_line(line)?;
                }
                if sampler.capacity > 0 {
                    sampler.positions = out.positions;
                }
                batch = out.batch;
                continue;
            }
        };
        let op_stats = &mut stats.operators[built.stat];
        let rows = batch.num_rows();
        op_stats.records_in += rows as u64;
        verdicts.clear();
        let started = Instant::now();
        let result = built.op.process(batch.clone(), verdicts);
        op_stats.seconds += started.elapsed().as_secs_f64();
        let out = match result.and_then(|out| check_output(built, rows, out)) {
            Ok(out) => out,
            Err(MdfError::Interrupted) => return Err(MdfError::Interrupted),
            // The operator cannot run here at all (model weights missing, no CUDA): stop the run
            // rather than reject every batch.
            Err(err @ MdfError::Config(_)) => return Err(err),
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
            counts[built.stat + 1] = rows as u64;
            batch = out;
            continue;
        }
        let keep = apply_verdicts(
            verdicts,
            op_stats,
            rejects,
            &built.label,
            &out,
            keep_filtered,
            Some(sampler),
        )?;
        let kept = keep.iter().filter(|k| **k).count();
        op_stats.records_out += kept as u64;
        counts[built.stat + 1] = kept as u64;
        sampler.retain(&keep);
        batch = filter_record_batch(&out, &BooleanArray::from(keep))?;
    }
    Ok(batch)
}

/// The cluster entries (or, for a sequential operator, the edits) of one shard for a global
/// step, applied row by row in the filter phase.
struct ClusterCursor {
    entries: Vec<ClusterEntry>,
    next_entry: usize,
    /// Sequential operators: the shard's edits, sorted by document.
    edits: Option<Vec<Edit>>,
    next_edit: usize,
    next_row: u64,
    shard: usize,
    remove: bool,
    columns: Option<ClusterColumns>,
}

impl ClusterCursor {
    fn load(ctx: &TaskContext<'_>, g: &BuiltGlobal, shard: usize) -> Result<Self> {
        let dir = GlobalDir::new(ctx.run_dir, g.step);
        let mut entries = Vec::new();
        for path in dir.cluster_files(g.op.grouping(), g.op.num_partitions().max(1)) {
            entries.extend(read_shard_clusters(&path, shard)?);
        }
        entries.sort_unstable();
        let edits = match g.op.grouping() {
            Grouping::Sequential => Some(decode_edits(&storage::read(&dir.edits_file(shard))?)?),
            Grouping::Disjoint | Grouping::Connected => None,
        };
        Ok(ClusterCursor {
            entries,
            next_entry: 0,
            edits,
            next_edit: 0,
            next_row: 0,
            shard,
            remove: g.op.remove_duplicates(),
            columns: g.op.cluster_columns(),
        })
    }

    /// Drops the duplicates of `batch` (every cluster member but its keeper) and adds the
    /// annotation columns.
    fn apply(
        &mut self,
        g: &mut BuiltGlobal,
        batch: RecordBatch,
        verdicts: &mut Verdicts,
        stats: &mut ShardStats,
        rejects: &mut RejectSink,
        keep_filtered: bool,
    ) -> Result<RecordBatch> {
        if self.edits.is_some() {
            return self.apply_edits(g, batch, verdicts, stats, rejects, keep_filtered);
        }
        let rows = batch.num_rows();
        let op_stats = &mut stats.operators[g.stat];
        let mut keep = vec![true; rows];
        let mut cluster_ids = Vec::with_capacity(if self.columns.is_some() { rows } else { 0 });
        let mut sizes = Vec::with_capacity(cluster_ids.capacity());
        for (row, keep_row) in keep.iter_mut().enumerate() {
            let doc = DocId::new(self.shard, self.next_row + row as u64)?;
            let entry = match self.entries.get(self.next_entry) {
                Some(e) if e.doc == doc => {
                    self.next_entry += 1;
                    Some(*e)
                }
                _ => None,
            };
            let (keeper, size) = entry.map_or((doc, 1), |e| (e.keeper, e.size));
            if keeper == DocId::DROPPED {
                // Removed by a selecting operator (e.g. below a dataset-wide percentile).
                let reason = g.op.drops_groups().unwrap_or("filtered");
                *keep_row = false;
                *op_stats.dropped.entry(reason.to_owned()).or_default() += 1;
                if keep_filtered {
                    let detail = format!("{reason} (one of {size} rows removed by {})", g.label);
                    rejects.push_row(&batch, row, &g.label, reason, &detail)?;
                }
            } else if self.remove && keeper != doc {
                *keep_row = false;
                *op_stats.dropped.entry("duplicate".to_owned()).or_default() += 1;
                if keep_filtered {
                    let detail = format!(
                        "duplicate of shard {} row {} (cluster of {size})",
                        keeper.shard(),
                        keeper.row()
                    );
                    rejects.push_row(&batch, row, &g.label, "duplicate", &detail)?;
                }
            }
            if self.columns.is_some() {
                cluster_ids.push(keeper.0);
                sizes.push(size);
            }
        }
        self.next_row += rows as u64;
        let kept = keep.iter().filter(|k| **k).count();
        op_stats.records_out += kept as u64;
        let batch = match &self.columns {
            None => batch,
            Some(names) => with_columns(
                batch,
                &[
                    (
                        &names.id,
                        DataType::UInt64,
                        std::sync::Arc::new(UInt64Array::from(cluster_ids)) as ArrayRef,
                    ),
                    (
                        &names.size,
                        DataType::UInt32,
                        std::sync::Arc::new(UInt32Array::from(sizes)),
                    ),
                ],
            )?,
        };
        if kept == rows {
            Ok(batch)
        } else {
            Ok(filter_record_batch(&batch, &BooleanArray::from(keep))?)
        }
    }
}

impl ClusterCursor {
    /// The sequential operator's edits of `batch`'s rows: removals and rewrites.
    fn apply_edits(
        &mut self,
        g: &mut BuiltGlobal,
        batch: RecordBatch,
        verdicts: &mut Verdicts,
        stats: &mut ShardStats,
        rejects: &mut RejectSink,
        keep_filtered: bool,
    ) -> Result<RecordBatch> {
        let rows = batch.num_rows();
        let first = self.next_row;
        self.next_row += rows as u64;
        let all = self.edits.as_deref().unwrap_or_default();
        let start = self.next_edit;
        let end = start
            + all[start..]
                .iter()
                .take_while(|(doc, _)| doc.row() < first + rows as u64)
                .count();
        self.next_edit = end;
        let op_stats = &mut stats.operators[g.stat];
        if start == end {
            op_stats.records_out += rows as u64;
            return Ok(batch);
        }
        let mine: Vec<(usize, &[u8])> = all[start..end]
            .iter()
            .map(|(doc, edit)| ((doc.row() - first) as usize, edit.as_slice()))
            .collect();
        verdicts.clear();
        let out =
            g.op.apply_edits(batch, &mine, verdicts, &mut op_stats.counters)?;
        if out.num_rows() != rows {
            return Err(MdfError::internal(format!(
                "`{}` returned {} rows for a batch of {rows}",
                g.label,
                out.num_rows()
            )));
        }
        let keep = apply_verdicts(
            verdicts,
            op_stats,
            rejects,
            &g.label,
            &out,
            keep_filtered,
            None,
        )?;
        let kept = keep.iter().filter(|k| **k).count();
        op_stats.records_out += kept as u64;
        if kept == rows {
            Ok(out)
        } else {
            Ok(filter_record_batch(&out, &BooleanArray::from(keep))?)
        }
    }
}

/// `batch` with the given columns added (or replaced).
fn with_columns(
    batch: RecordBatch,
    columns: &[(&String, DataType, ArrayRef)],
) -> Result<RecordBatch> {
    let schema = batch.schema();
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    let mut arrays = batch.columns().to_vec();
    for (name, data_type, array) in columns {
        let field = Field::new(name.as_str(), data_type.clone(), false);
        match fields.iter().position(|f| f.name() == name.as_str()) {
            Some(i) => {
                fields[i] = field;
                arrays[i] = array.clone();
            }
            None => {
                fields.push(field);
                arrays.push(array.clone());
            }
        }
    }
    Ok(RecordBatch::try_new(
        std::sync::Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone())),
        arrays,
    )?)
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
