//! Live progress: a bar on a terminal (shards done, records/s, ETA, per-stage rates), plain log
//! lines otherwise, and `_mdf/progress.json`, rewritten atomically every second (every 10 s in
//! an object store) for machines.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mdf_io::storage;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProgressMode {
    /// A bar when stderr is a terminal, log lines every 10 s otherwise.
    #[default]
    Auto,
    /// Log lines only.
    Log,
    /// Nothing on the terminal (`progress.json` is still written).
    Off,
}

/// Counters the workers bump; a reporter thread reads them.
#[derive(Debug, Default)]
pub struct Progress {
    records_in: AtomicU64,
    records_out: AtomicU64,
    shards_done: AtomicU64,
    /// Input bytes of the shards done in this session.
    bytes_done: AtomicU64,
    /// Rows each operator let through.
    operator_out: Vec<AtomicU64>,
}

impl Progress {
    pub fn new(operators: usize) -> Self {
        Progress {
            operator_out: (0..operators).map(|_| AtomicU64::new(0)).collect(),
            ..Default::default()
        }
    }
    pub fn add_input(&self, n: u64) {
        self.records_in.fetch_add(n, Ordering::Relaxed);
    }
    pub fn add_output(&self, n: u64) {
        self.records_out.fetch_add(n, Ordering::Relaxed);
    }
    /// `counts[i]`: rows operator `i` let through in one batch.
    pub fn add_operator_outputs(&self, counts: &[u64]) {
        for (slot, n) in self.operator_out.iter().zip(counts) {
            slot.fetch_add(*n, Ordering::Relaxed);
        }
    }
    pub fn shard_done(&self, input_bytes: u64) {
        self.shards_done.fetch_add(1, Ordering::Relaxed);
        self.bytes_done.fetch_add(input_bytes, Ordering::Relaxed);
    }
}

/// What the reporter knows before the run starts.
#[derive(Debug, Clone, Default)]
pub struct ProgressPlan {
    pub total_shards: u64,
    /// Shards already complete (resumed), and their input bytes.
    pub skipped_shards: u64,
    pub skipped_bytes: u64,
    /// Input bytes of all shards (0 when unknown).
    pub total_bytes: u64,
    /// Input records, when known in advance (`max_samples`).
    pub total_records: Option<u64>,
    /// Stage names with the range of their operators, in order.
    pub stages: Vec<(String, std::ops::Range<usize>)>,
    /// Where to write `progress.json`.
    pub file: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
struct StageProgress<'a> {
    name: &'a str,
    records_in: u64,
    records_out: u64,
    records_per_second: f64,
}

/// The content of `progress.json`.
#[derive(Debug, Serialize)]
struct Snapshot<'a> {
    state: &'a str,
    updated_unix: f64,
    elapsed_seconds: f64,
    shards_total: u64,
    shards_done: u64,
    records_in: u64,
    records_out: u64,
    records_per_second: f64,
    /// Estimated seconds left; null until it can be estimated.
    eta_seconds: Option<f64>,
    stages: Vec<StageProgress<'a>>,
}

fn snapshot<'a>(
    plan: &'a ProgressPlan,
    progress: &Progress,
    elapsed: f64,
    state: &'a str,
) -> Snapshot<'a> {
    let records_in = progress.records_in.load(Ordering::Relaxed);
    let done = progress.shards_done.load(Ordering::Relaxed);
    let bytes_done = progress.bytes_done.load(Ordering::Relaxed);
    let secs = elapsed.max(1e-9);
    let rate = records_in as f64 / secs;
    let eta_seconds = match plan.total_records {
        Some(total) if rate > 0.0 => Some(total.saturating_sub(records_in) as f64 / rate),
        _ if bytes_done > 0 && plan.total_bytes > 0 => {
            let left = plan
                .total_bytes
                .saturating_sub(plan.skipped_bytes + bytes_done);
            Some(secs * left as f64 / bytes_done as f64)
        }
        _ => None,
    };
    let operator_out: Vec<u64> = progress
        .operator_out
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .collect();
    let stages = plan
        .stages
        .iter()
        .map(|(name, ops)| {
            let before = |i: usize| {
                if i == 0 {
                    records_in
                } else {
                    operator_out.get(i - 1).copied().unwrap_or(0)
                }
            };
            let stage_in = before(ops.start);
            StageProgress {
                name,
                records_in: stage_in,
                records_out: before(ops.end),
                records_per_second: stage_in as f64 / secs,
            }
        })
        .collect();
    Snapshot {
        state,
        updated_unix: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64()),
        elapsed_seconds: elapsed,
        shards_total: plan.total_shards,
        shards_done: done + plan.skipped_shards,
        records_in,
        records_out: progress.records_out.load(Ordering::Relaxed),
        records_per_second: rate,
        eta_seconds,
        stages,
    }
}

fn format_duration(seconds: f64) -> String {
    let s = seconds.round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

fn progress_line(snap: &Snapshot<'_>) -> String {
    let mut line = format!(
        "shards {}/{} | {} records in, {} out | {:.0} records/s",
        snap.shards_done,
        snap.shards_total,
        snap.records_in,
        snap.records_out,
        snap.records_per_second
    );
    if let Some(eta) = snap.eta_seconds {
        line.push_str(&format!(" | ETA {}", format_duration(eta)));
    }
    for stage in &snap.stages {
        let pass = if stage.records_in > 0 {
            100.0 * stage.records_out as f64 / stage.records_in as f64
        } else {
            100.0
        };
        line.push_str(&format!(
            " | {}: {:.0}/s {pass:.0}% kept",
            stage.name, stage.records_per_second
        ));
    }
    line
}

fn write_snapshot(path: &Path, snap: &Snapshot<'_>) {
    // Best effort: a progress file that cannot be written must not stop the run.
    let Ok(bytes) = serde_json::to_vec_pretty(snap) else {
        return;
    };
    if storage::is_remote(&path.to_string_lossy()) {
        let _ = storage::write_atomic(path, &bytes);
        return;
    }
    let tmp = path.with_extension("json.tmp");
    if std::fs::write(&tmp, bytes).is_ok() {
        let _ = std::fs::rename(&tmp, path);
    }
}

/// How often `progress.json` is rewritten: every second on a filesystem, every 10 seconds in an
/// object store (one PUT each).
fn snapshot_interval(path: &Path) -> Duration {
    if storage::is_remote(&path.to_string_lossy()) {
        Duration::from_secs(10)
    } else {
        Duration::from_secs(1)
    }
}

/// Runs the reporter until [`Reporter::finish`] or drop.
pub struct Reporter {
    stop: Arc<AtomicBool>,
    final_state: Arc<Mutex<&'static str>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Reporter {
    pub fn start(mode: ProgressMode, progress: Arc<Progress>, plan: ProgressPlan) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let final_state = Arc::new(Mutex::new("stopped"));
        let bar = mode == ProgressMode::Auto && std::io::stderr().is_terminal();
        let handle = {
            let stop = stop.clone();
            let final_state = final_state.clone();
            Some(std::thread::spawn(move || {
                report_loop(mode, bar, &progress, &plan, &stop, &final_state)
            }))
        };
        Reporter {
            stop,
            final_state,
            handle,
        }
    }

    /// Stops the reporter; `progress.json` is left with `state` ("done" or "failed").
    pub fn finish(mut self, state: &'static str) {
        *self.final_state.lock().unwrap_or_else(|p| p.into_inner()) = state;
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

fn report_loop(
    mode: ProgressMode,
    bar: bool,
    progress: &Progress,
    plan: &ProgressPlan,
    stop: &AtomicBool,
    final_state: &Mutex<&'static str>,
) {
    let started = Instant::now();
    let pb = bar.then(|| {
        let pb = indicatif::ProgressBar::new(plan.total_shards);
        pb.set_style(
            indicatif::ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        pb.set_position(plan.skipped_shards);
        pb
    });
    let mut last_log = Instant::now();
    let mut last_file: Option<Instant> = None;
    let file_every = plan.file.as_deref().map(snapshot_interval);
    while !stop.load(Ordering::Relaxed) {
        let elapsed = started.elapsed().as_secs_f64();
        if let Some(pb) = &pb {
            let snap = snapshot(plan, progress, elapsed, "running");
            pb.set_position(snap.shards_done);
            pb.set_message(progress_line(&snap));
        } else if mode != ProgressMode::Off && last_log.elapsed() >= Duration::from_secs(10) {
            last_log = Instant::now();
            let snap = snapshot(plan, progress, elapsed, "running");
            eprintln!("[mdf] {}", progress_line(&snap));
        }
        if let (Some(path), Some(every)) = (&plan.file, file_every) {
            if last_file.is_none_or(|t| t.elapsed() >= every) {
                last_file = Some(Instant::now());
                write_snapshot(path, &snapshot(plan, progress, elapsed, "running"));
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    if let Some(path) = &plan.file {
        let state = *final_state.lock().unwrap_or_else(|p| p.into_inner());
        let elapsed = started.elapsed().as_secs_f64();
        write_snapshot(path, &snapshot(plan, progress, elapsed, state));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_counts_stages_and_estimates_time_left() {
        let progress = Progress::new(3);
        progress.add_input(1000);
        progress.add_operator_outputs(&[800, 600, 500]);
        progress.shard_done(250);
        let plan = ProgressPlan {
            total_shards: 4,
            total_bytes: 1000,
            stages: vec![("a".into(), 0..2), ("b".into(), 2..3)],
            ..Default::default()
        };
        let known = ProgressPlan {
            total_records: Some(3000),
            ..plan.clone()
        };
        assert_eq!(
            snapshot(&known, &progress, 10.0, "running").eta_seconds,
            Some(20.0)
        );
        let snap = snapshot(&plan, &progress, 10.0, "running");
        assert_eq!(snap.stages[0].records_in, 1000);
        assert_eq!(snap.stages[0].records_out, 600);
        assert_eq!(snap.stages[1].records_in, 600);
        assert_eq!(snap.stages[1].records_out, 500);
        // A quarter of the bytes took 10 s: 30 s left.
        assert_eq!(snap.eta_seconds, Some(30.0));
        assert!(progress_line(&snap).contains("ETA 30s"));
    }
}
