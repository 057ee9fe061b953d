//! Live progress: a bar on a terminal (shards done, records/s), plain log lines otherwise.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProgressMode {
    /// A bar when stderr is a terminal, log lines every 10 s otherwise.
    #[default]
    Auto,
    /// Log lines only.
    Log,
    Off,
}

/// Counters the workers bump; a reporter thread reads them.
#[derive(Debug, Default)]
pub struct Progress {
    records_in: AtomicU64,
    records_out: AtomicU64,
    shards_done: AtomicU64,
}

impl Progress {
    pub fn add_input(&self, n: u64) {
        self.records_in.fetch_add(n, Ordering::Relaxed);
    }
    pub fn add_output(&self, n: u64) {
        self.records_out.fetch_add(n, Ordering::Relaxed);
    }
    pub fn shard_done(&self) {
        self.shards_done.fetch_add(1, Ordering::Relaxed);
    }
    fn snapshot(&self) -> (u64, u64, u64) {
        (
            self.records_in.load(Ordering::Relaxed),
            self.records_out.load(Ordering::Relaxed),
            self.shards_done.load(Ordering::Relaxed),
        )
    }
}

/// Runs the reporter until dropped.
pub struct Reporter {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Reporter {
    pub fn start(
        mode: ProgressMode,
        progress: Arc<Progress>,
        total_shards: u64,
        skipped: u64,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let handle = match mode {
            ProgressMode::Off => None,
            _ => {
                let bar = mode == ProgressMode::Auto && std::io::stderr().is_terminal();
                let stop = stop.clone();
                Some(std::thread::spawn(move || {
                    report_loop(bar, &progress, total_shards, skipped, &stop)
                }))
            }
        };
        Reporter { stop, handle }
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn report_loop(bar: bool, progress: &Progress, total: u64, skipped: u64, stop: &AtomicBool) {
    let started = Instant::now();
    let line = |done: u64, rin: u64, rout: u64| {
        let secs = started.elapsed().as_secs_f64().max(1e-9);
        format!(
            "shards {}/{total} | {rin} records in, {rout} out | {:.0} records/s",
            done + skipped,
            rin as f64 / secs
        )
    };
    if bar {
        let pb = indicatif::ProgressBar::new(total);
        pb.set_style(
            indicatif::ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        pb.set_position(skipped);
        while !stop.load(Ordering::Relaxed) {
            let (rin, rout, done) = progress.snapshot();
            pb.set_position(done + skipped);
            pb.set_message(line(done, rin, rout));
            std::thread::sleep(Duration::from_millis(200));
        }
        pb.finish_and_clear();
    } else {
        let mut last = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
            if last.elapsed() >= Duration::from_secs(10) {
                last = Instant::now();
                let (rin, rout, done) = progress.snapshot();
                eprintln!("[mdf] {}", line(done, rin, rout));
            }
        }
    }
}
