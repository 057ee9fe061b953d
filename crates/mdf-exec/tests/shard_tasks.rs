//! The pieces the Ray runner drives, run here without Ray: prepare the run directory, rebuild
//! the plan from the manifest (as a Ray worker does), run each shard task with one stage served
//! by a "stage pool" (here an in-process service running `run_stage_batch`), finalize. The run
//! directory must equal the local runner's, byte for byte.

#![allow(clippy::unwrap_used)] // test helpers: a failed set-up step should fail the test loudly

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use arrow::record_batch::RecordBatch;
use mdf_core::config::{parse_config, ConfigSource};
use mdf_core::{Registry, Result};
use mdf_exec::progress::Progress;
use mdf_exec::task::{
    run_shard_with_retries, run_stage_batch, StageOutput, StageService, TaskContext, WorkerState,
};
use mdf_exec::{
    builtin_registry, finalize_run, prepare_run, run_local, Plan, ProgressMode, RunFacts,
    RunOptions,
};

fn write_inputs(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for f in 0..4 {
        let mut file = std::fs::File::create(dir.join(format!("in-{f}.jsonl"))).unwrap();
        for i in 0..250 {
            let n = f * 250 + i;
            if n == 333 {
                writeln!(file, "{{broken").unwrap();
            }
            let text = "word ".repeat(n % 50);
            writeln!(file, r#"{{"id": "d{n}", "text": "{text}"}}"#).unwrap();
        }
    }
}

fn config(input: &Path, output: &Path) -> String {
    format!(
        "data_loader:\n  type: JsonlLoader\n  params:\n    paths: {}\n\
         stages:\n  - name: cpu\n    operators:\n      - name: text_length_filter\n        params: {{min_length: 20}}\n\
         \x20 - name: model\n    operators:\n      - name: text_length_filter\n        params: {{max_length: 180}}\n    worker: {{min_replicas: 1, max_replicas: 2}}\n\
         data_writer:\n  type: ParquetDataWriter\n  params:\n    output_path: {}\n\
         executor:\n  batch_size: 40\n  rejected_samples: {{enabled: true}}\n",
        input.display(),
        output.display()
    )
}

fn build_plan(registry: &Arc<Registry>, text: String) -> Plan {
    let source = ConfigSource {
        name: "test.yaml".into(),
        text,
    };
    Plan::build(parse_config(&source, &[], registry).unwrap(), registry).unwrap()
}

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for sub in [dir.to_path_buf(), dir.join("_mdf/rejects")] {
        for e in std::fs::read_dir(&sub).unwrap().map(|e| e.unwrap()) {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("part-") || name.ends_with(".jsonl") {
                out.insert(name, std::fs::read(e.path()).unwrap());
            }
        }
    }
    out
}

/// A stage pool of one replica, in process.
struct InProcessPool {
    plan: Plan,
    replica: Mutex<WorkerState>,
    calls: Mutex<usize>,
}

impl StageService for InProcessPool {
    fn process(
        &self,
        stage: &str,
        batch: RecordBatch,
        shard: usize,
        positions: &[u64],
    ) -> Result<StageOutput> {
        assert_eq!(stage, "model");
        *self.calls.lock().unwrap() += 1;
        run_stage_batch(
            &mut self.replica.lock().unwrap(),
            &self.plan,
            batch,
            shard,
            positions.to_vec(),
        )
    }
}

#[test]
fn shard_tasks_with_a_stage_pool_write_the_local_runners_run_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    write_inputs(&input);
    let registry = Arc::new(builtin_registry());

    let local_dir = tmp.path().join("local");
    let local = build_plan(&registry, config(&input, &local_dir));
    let options = RunOptions {
        workers: Some(2),
        progress: ProgressMode::Off,
        ..RunOptions::default()
    };
    let local_summary = run_local(&local, &options).unwrap();

    // Driver: plan and prepare. Workers: rebuild the plan from the manifest.
    let task_dir = tmp.path().join("tasks");
    let driver = build_plan(&registry, config(&input, &task_dir));
    let prepared = prepare_run(&driver, false).unwrap();
    assert_eq!(prepared.pending.len(), 4);
    let manifest = prepared.run_dir.read_manifest().unwrap().unwrap();
    let worker_plan = Plan::from_manifest(&manifest, &registry).unwrap();
    assert_eq!(worker_plan.fingerprint, driver.fingerprint);
    let pool = Arc::new(InProcessPool {
        plan: Plan::from_manifest(&manifest, &registry).unwrap(),
        replica: Mutex::new(WorkerState::for_stage(&worker_plan, "model").unwrap()),
        calls: Mutex::new(0),
    });
    let mut state =
        WorkerState::with_remote_stages(&worker_plan, &["model".to_owned()], Some(pool.clone()))
            .unwrap();
    let cancel = AtomicBool::new(false);
    let progress = Progress::default();
    let ctx = TaskContext {
        plan: &worker_plan,
        run_dir: &prepared.run_dir,
        cancel: &cancel,
        progress: &progress,
    };
    // Shards in reverse order: the order tasks finish in must not matter.
    for &i in prepared.pending.iter().rev() {
        run_shard_with_retries(&ctx, &mut state, &worker_plan.shards[i], 3).unwrap();
    }
    assert!(*pool.calls.lock().unwrap() > 4);
    let summary = finalize_run(
        &worker_plan,
        RunFacts {
            resumed: 0,
            executor: "ray",
            workers: 1,
            wall_seconds: 0.0,
            phase_seconds: BTreeMap::new(),
        },
    )
    .unwrap();

    assert_eq!(files(&task_dir), files(&local_dir));
    let counts = |s: &mdf_exec::RunSummary| {
        let ops: Vec<_> = s
            .stats
            .operators
            .iter()
            .map(|o| {
                (
                    o.stage.clone(),
                    o.records_in,
                    o.records_out,
                    o.dropped.clone(),
                    o.histograms.clone(),
                )
            })
            .collect();
        (
            s.stats.input_records,
            s.stats.output_records,
            s.stats.rejected_records,
            ops,
            s.stats.histograms.clone(),
        )
    };
    assert_eq!(counts(&summary), counts(&local_summary));
    assert!(summary.stats.operators[1].dropped.values().sum::<u64>() > 0);
    // The pool's operators sample the same rows as the local runner's (samples.json).
    let samples = |dir: &Path| std::fs::read(dir.join("_mdf/samples.json")).unwrap();
    assert_eq!(samples(&task_dir), samples(&local_dir));
    let parsed: serde_json::Value = serde_json::from_slice(&samples(&task_dir)).unwrap();
    assert_eq!(parsed["operators"][1]["stage"], "model");
    assert!(!parsed["operators"][1]["samples"]
        .as_object()
        .unwrap()
        .is_empty());

    // A prepared run is resumed, not redone; finalize refuses an incomplete run.
    assert!(prepare_run(&driver, false).unwrap().pending.is_empty());
    let fresh = tmp.path().join("fresh");
    let fresh_plan = build_plan(&registry, config(&input, &fresh));
    prepare_run(&fresh_plan, false).unwrap();
    let facts = RunFacts {
        resumed: 0,
        executor: "ray",
        workers: 1,
        wall_seconds: 0.0,
        phase_seconds: BTreeMap::new(),
    };
    assert!(finalize_run(&fresh_plan, facts).is_err());
}
