//! The local executor end to end on real files: determinism across worker counts, resume after
//! an interrupted shard, and panics turned into errors.

#![allow(clippy::unwrap_used)] // test helpers: a failed set-up step should fail the test loudly

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use mdf_core::config::{parse_config, ConfigSource};
use mdf_core::{Component, MdfError, Operator, OperatorKind, Params, Registry, Verdicts};
use mdf_exec::{builtin_registry, run_local, Plan, ProgressMode, RunOptions};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

fn write_inputs(dir: &Path, files: usize, per_file: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for f in 0..files {
        let path = dir.join(format!("in-{f:02}.jsonl.gz"));
        let file = std::fs::File::create(path).unwrap();
        let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        for i in 0..per_file {
            let n = f * per_file + i;
            let text = "word ".repeat(n % 40);
            writeln!(gz, r#"{{"id": "d{n}", "text": "{text}"}}"#).unwrap();
        }
        gz.finish().unwrap();
    }
}

fn config_text(input: &Path, output: &Path, extra_op: &str) -> String {
    format!(
        "data_loader:\n  type: JsonlLoader\n  params:\n    paths: {}\nstages:\n  - name: s\n    operators:\n{extra_op}      - name: text_length_filter\n        params: {{min_length: 20}}\ndata_writer:\n  type: ParquetDataWriter\n  params:\n    output_path: {}\nexecutor:\n  batch_size: 64\n",
        input.display(),
        output.display()
    )
}

fn plan(registry: &Arc<Registry>, text: String) -> Plan {
    let source = ConfigSource {
        name: "test.yaml".into(),
        text,
    };
    let config = parse_config(&source, &[], registry).unwrap();
    Plan::build(config, registry).unwrap()
}

fn options(workers: usize) -> RunOptions {
    RunOptions {
        workers: Some(workers),
        progress: ProgressMode::Off,
        ..RunOptions::default()
    }
}

fn data_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().starts_with("part-"))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn output_is_identical_across_worker_counts() {
    let tmp = tempfile::tempdir().unwrap();
    write_inputs(&tmp.path().join("in"), 5, 300);
    let registry = Arc::new(builtin_registry());
    let (mut outputs, mut samples, mut histograms) = (Vec::new(), Vec::new(), Vec::new());
    for workers in [1, 3] {
        let out = tmp.path().join(format!("out{workers}"));
        let p = plan(&registry, config_text(&tmp.path().join("in"), &out, ""));
        let summary = run_local(&p, &options(workers)).unwrap();
        assert_eq!(summary.stats.input_records, 1500);
        assert_eq!(summary.workers, workers);
        outputs.push(data_files(&out));
        samples.push(std::fs::read_to_string(out.join("_mdf/samples.json")).unwrap());
        histograms.push(summary.stats.histograms.clone());
        let progress: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("_mdf/progress.json")).unwrap())
                .unwrap();
        assert_eq!(progress["state"], "done");
        assert_eq!(progress["records_in"], 1500);
    }
    assert_eq!(outputs[0].len(), 5);
    assert_eq!(outputs[0], outputs[1]);
    // The report's samples and histograms do not depend on the worker count either.
    assert_eq!(samples[0], samples[1]);
    assert!(samples[0].contains("too_short"));
    assert_eq!(histograms[0], histograms[1]);
    assert_eq!(histograms[0]["input.text_bytes"].count, 1500);
}

#[test]
fn an_interrupted_shard_is_cleared_and_redone() {
    let tmp = tempfile::tempdir().unwrap();
    write_inputs(&tmp.path().join("in"), 4, 200);
    let out = tmp.path().join("out");
    let registry = Arc::new(builtin_registry());
    let p = plan(&registry, config_text(&tmp.path().join("in"), &out, ""));
    let first = run_local(&p, &options(2)).unwrap();
    let reference = data_files(&out);
    let reference_samples = std::fs::read_to_string(out.join("_mdf/samples.json")).unwrap();

    // What a crash in the middle of shard 2 leaves: no marker, a stale published file of a
    // previous attempt, and a half-written temporary file.
    std::fs::remove_file(out.join("_mdf/done/000002")).unwrap();
    std::fs::write(out.join("part-000002-0007.parquet"), b"stale").unwrap();
    std::fs::write(out.join(".part-000002-0000.parquet.tmp"), b"half").unwrap();

    let resumed = run_local(&p, &options(2)).unwrap();
    assert_eq!(resumed.shards_resumed, 3);
    assert_eq!(data_files(&out), reference);
    assert_eq!(
        std::fs::read_to_string(out.join("_mdf/samples.json")).unwrap(),
        reference_samples
    );
    assert!(!out.join(".part-000002-0000.parquet.tmp").exists());
    assert_eq!(resumed.stats.input_records, first.stats.input_records);
    assert_eq!(resumed.stats.output_records, first.stats.output_records);
    assert_eq!(
        resumed.stats.operators[0].dropped,
        first.stats.operators[0].dropped
    );
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct NoParams {}
impl Params for NoParams {}

struct Panics;
impl Operator for Panics {
    fn process(&mut self, _: RecordBatch, _: &mut Verdicts) -> mdf_core::Result<RecordBatch> {
        panic!("operator bug")
    }
}
impl Component for Panics {
    type Built = dyn Operator;
    type Params = NoParams;
    const NAME: &'static str = "panics";
    const KIND: OperatorKind = OperatorKind::Filter;
    const SUMMARY: &'static str = "test";
    fn build(_: NoParams) -> mdf_core::Result<Box<dyn Operator>> {
        Ok(Box::new(Panics))
    }
}

#[test]
fn a_panicking_operator_fails_the_run_with_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    write_inputs(&tmp.path().join("in"), 2, 10);
    let mut registry = builtin_registry();
    registry.register_operator::<Panics>();
    let registry = Arc::new(registry);
    let out = tmp.path().join("out");
    let op = "      - name: panics\n";
    let p = plan(&registry, config_text(&tmp.path().join("in"), &out, op));
    match run_local(&p, &options(2)) {
        Err(MdfError::Internal(msg)) => assert!(msg.contains("operator bug"), "{msg}"),
        other => panic!("expected an internal error, got {other:?}"),
    }
    assert!(!out.join("_mdf/done/000000").exists());
}

#[test]
fn a_cancelled_run_stops_with_interrupted() {
    let tmp = tempfile::tempdir().unwrap();
    write_inputs(&tmp.path().join("in"), 2, 10);
    let registry = Arc::new(builtin_registry());
    let p = plan(
        &registry,
        config_text(&tmp.path().join("in"), &tmp.path().join("out"), ""),
    );
    let opts = options(1);
    opts.cancel.store(true, Ordering::Relaxed);
    assert!(matches!(run_local(&p, &opts), Err(MdfError::Interrupted)));
}
