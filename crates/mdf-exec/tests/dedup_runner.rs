//! Global (dedup) operators end to end: exact and URL dedup keep exactly the first copy by input
//! order, with any worker count, and after an interruption at any phase.

#![allow(clippy::unwrap_used)] // test helpers: a failed set-up step should fail the test loudly

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use std::sync::atomic::{AtomicBool, Ordering};

use arrow::array::{Array, AsArray};
use arrow::record_batch::RecordBatch;
use mdf_core::config::{parse_config, ConfigSource};
use mdf_core::{Component, Operator, OperatorKind, Params, Registry, Verdicts};
use mdf_exec::{builtin_registry, run_local, Plan, ProgressMode, RunOptions};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Files of documents where every 3rd document repeats an earlier text (in another case and
/// spacing) and every 5th an earlier URL. Returns the ids in input order with their text key.
fn write_inputs(dir: &Path, files: usize, per_file: usize) -> Vec<(String, String, String)> {
    std::fs::create_dir_all(dir).unwrap();
    let mut docs = Vec::new();
    for f in 0..files {
        let path = dir.join(format!("in-{f:02}.jsonl"));
        let mut out = std::fs::File::create(path).unwrap();
        for i in 0..per_file {
            let n = f * per_file + i;
            let (text, key) = if n % 3 == 2 {
                let src = (n * 7919) % n.max(1);
                (format!("Doc   NUMBER {src}"), format!("doc number {src}"))
            } else {
                (format!("doc number {n}"), format!("doc number {n}"))
            };
            let url = format!("https://x.org/{}", if n % 5 == 4 { n / 2 } else { n });
            writeln!(out, r#"{{"id": "d{n}", "text": "{text}", "url": "{url}"}}"#).unwrap();
            docs.push((format!("d{n}"), key, url));
        }
    }
    docs
}

fn config(input: &Path, output: &Path, ops: &str) -> String {
    format!(
        "data_loader:\n  type: JsonlLoader\n  params:\n    paths: {}\nstages:\n  - name: s\n    operators:\n{ops}data_writer:\n  type: ParquetDataWriter\n  params:\n    output_path: {}\nexecutor:\n  batch_size: 50\n",
        input.display(),
        output.display()
    )
}

fn plan(registry: &Arc<Registry>, text: String) -> Plan {
    let source = ConfigSource {
        name: "test.yaml".into(),
        text,
    };
    Plan::build(parse_config(&source, &[], registry).unwrap(), registry).unwrap()
}

fn options(workers: usize) -> RunOptions {
    RunOptions {
        workers: Some(workers),
        progress: ProgressMode::Off,
        ..RunOptions::default()
    }
}

/// Ids of the written rows, in file order, with the named extra column if any.
fn kept(dir: &Path) -> Vec<String> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort();
    let mut ids = Vec::new();
    for path in files {
        let file = std::fs::File::open(path).unwrap();
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            let col = batch.column_by_name("id").unwrap();
            let col = col
                .as_string_view_opt()
                .map(|a| {
                    (0..a.len())
                        .map(|i| a.value(i).to_owned())
                        .collect::<Vec<_>>()
                })
                .or_else(|| {
                    col.as_string_opt::<i32>()
                        .map(|a| (0..a.len()).map(|i| a.value(i).to_owned()).collect())
                })
                .unwrap();
            ids.extend(col);
        }
    }
    ids
}

/// The first document of each key, in input order.
fn first_of(docs: &[(String, String)]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    docs.iter()
        .filter(|(_, key)| seen.insert(key.clone()))
        .map(|(id, _)| id.clone())
        .collect()
}

const EXACT: &str = "      - name: text_exact_deduplicator\n        params: {num_partitions: 7}\n";

#[test]
fn exact_dedup_keeps_the_first_copy_with_any_worker_count() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = write_inputs(&tmp.path().join("in"), 4, 300);
    let expected = first_of(
        &docs
            .iter()
            .map(|(id, key, _)| (id.clone(), key.clone()))
            .collect::<Vec<_>>(),
    );
    assert!(
        expected.len() < docs.len() * 3 / 4,
        "the corpus has duplicates"
    );
    let registry = Arc::new(builtin_registry());
    let mut outputs = Vec::new();
    for workers in [1, 2] {
        let out = tmp.path().join(format!("out{workers}"));
        let p = plan(&registry, config(&tmp.path().join("in"), &out, EXACT));
        let summary = run_local(&p, &options(workers)).unwrap();
        assert_eq!(summary.stats.input_records, 1200);
        assert_eq!(summary.stats.output_records as usize, expected.len());
        let op = &summary.stats.operators[0];
        assert_eq!(op.records_in, 1200);
        assert_eq!(op.dropped["duplicate"] as usize, 1200 - expected.len());
        outputs.push(kept(&out));
    }
    assert_eq!(outputs[0], expected);
    assert_eq!(outputs[0], outputs[1]);
}

#[test]
fn url_dedup_then_exact_dedup_chain_in_one_run() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = write_inputs(&tmp.path().join("in"), 3, 200);
    let by_url = first_of(
        &docs
            .iter()
            .map(|(id, _, url)| (id.clone(), url.clone()))
            .collect::<Vec<_>>(),
    );
    let keys: BTreeMap<&str, &str> = docs
        .iter()
        .map(|(id, k, _)| (id.as_str(), k.as_str()))
        .collect();
    let expected = first_of(
        &by_url
            .iter()
            .map(|id| (id.clone(), keys[id.as_str()].to_owned()))
            .collect::<Vec<_>>(),
    );
    let ops = format!("      - name: url_deduplicator\n      - name: text_length_filter\n        params: {{min_length: 1}}\n{EXACT}");
    let registry = Arc::new(builtin_registry());
    let out = tmp.path().join("out");
    let p = plan(&registry, config(&tmp.path().join("in"), &out, &ops));
    let summary = run_local(&p, &options(2)).unwrap();
    assert_eq!(kept(&out), expected);
    assert_eq!(summary.stats.operators.len(), 3);
    assert_eq!(
        summary.stats.operators[0].dropped["duplicate"] as usize,
        docs.len() - by_url.len()
    );
}

/// Panics on the text `doc number 777` while armed: a crash in the middle of a phase.
static ARMED: AtomicBool = AtomicBool::new(false);

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct NoParams {}
impl Params for NoParams {}

struct CrashOnce;
impl Operator for CrashOnce {
    fn process(&mut self, batch: RecordBatch, _: &mut Verdicts) -> mdf_core::Result<RecordBatch> {
        let text = batch.column_by_name("text").unwrap();
        let hit = (0..text.len()).any(|i| {
            text.as_string_view_opt()
                .map(|a| a.value(i))
                .or_else(|| text.as_string_opt::<i32>().map(|a| a.value(i)))
                == Some("doc number 777")
        });
        if hit && ARMED.load(Ordering::SeqCst) {
            panic!("simulated crash");
        }
        Ok(batch)
    }
}
impl Component for CrashOnce {
    type Built = dyn Operator;
    type Params = NoParams;
    const NAME: &'static str = "crash_once";
    const KIND: OperatorKind = OperatorKind::Filter;
    const SUMMARY: &'static str = "test";
    fn build(_: NoParams) -> mdf_core::Result<Box<dyn Operator>> {
        Ok(Box::new(CrashOnce))
    }
}

#[test]
fn a_crash_in_any_segment_resumes_to_the_same_output() {
    let tmp = tempfile::tempdir().unwrap();
    write_inputs(&tmp.path().join("in"), 4, 250);
    let mut registry = builtin_registry();
    registry.register_operator::<CrashOnce>();
    let registry = Arc::new(registry);
    let crash = "      - name: crash_once\n";
    let reference = {
        let out = tmp.path().join("reference");
        let ops = format!("{EXACT}{crash}");
        run_local(
            &plan(&registry, config(&tmp.path().join("in"), &out, &ops)),
            &options(2),
        )
        .unwrap();
        kept(&out)
    };
    // The crash hits the key phase (before the dedup) or the final segment (after it).
    for (i, ops) in [format!("{crash}{EXACT}"), format!("{EXACT}{crash}")]
        .iter()
        .enumerate()
    {
        let out = tmp.path().join(format!("out{i}"));
        let p = plan(&registry, config(&tmp.path().join("in"), &out, ops));
        ARMED.store(true, Ordering::SeqCst);
        let err = run_local(&p, &options(2)).unwrap_err();
        assert!(err.to_string().contains("simulated crash"), "{err}");
        ARMED.store(false, Ordering::SeqCst);
        let resumed = run_local(&p, &options(1)).unwrap();
        assert_eq!(kept(&out), reference, "crash in segment {i}");
        assert_eq!(resumed.stats.input_records, 1000);
        assert!(!out.join("_mdf/global/g00/staged").exists());
    }
}

#[test]
fn annotate_only_keeps_every_row_with_its_cluster() {
    let tmp = tempfile::tempdir().unwrap();
    write_inputs(&tmp.path().join("in"), 2, 60);
    let registry = Arc::new(builtin_registry());
    let out = tmp.path().join("out");
    let ops = "      - name: text_exact_deduplicator\n        params: {remove_duplicates: false, annotate_clusters: true}\n";
    let p = plan(&registry, config(&tmp.path().join("in"), &out, ops));
    let summary = run_local(&p, &options(2)).unwrap();
    assert_eq!(summary.stats.output_records, 120);
    let file = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "parquet"))
        .unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(file).unwrap(),
    )
    .unwrap()
    .build()
    .unwrap();
    let batch = reader.into_iter().next().unwrap().unwrap();
    let sizes = batch
        .column_by_name("cluster_size")
        .unwrap()
        .as_primitive::<arrow::datatypes::UInt32Type>();
    assert!(sizes.values().iter().any(|&s| s > 1));
    assert!(sizes.values().iter().all(|&s| s >= 1));
}

/// Near-duplicate documents (one word changed in 200) spread over shards.
fn write_near_duplicates(dir: &Path, files: usize, per_file: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let word = |i: usize| -> String {
        // Distinct pseudo-random 6-letter words.
        let x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (0..6)
            .map(|k| char::from(b'a' + ((x >> (k * 8 + 16)) % 26) as u8))
            .collect()
    };
    for f in 0..files {
        let mut out = std::fs::File::create(dir.join(format!("in-{f:02}.jsonl"))).unwrap();
        for i in 0..per_file {
            let n = f * per_file + i;
            let base = n % 40; // 40 distinct originals, each repeated with one edit
            let text: Vec<String> = (0..200)
                .map(|w| {
                    if w == n % 200 {
                        "edited".to_owned()
                    } else {
                        word(base * 1000 + w)
                    }
                })
                .collect();
            writeln!(out, r#"{{"id": "d{n}", "text": "{}"}}"#, text.join(" ")).unwrap();
        }
    }
}

#[test]
fn minhash_dedup_keeps_one_per_cluster_with_any_worker_count() {
    let tmp = tempfile::tempdir().unwrap();
    write_near_duplicates(&tmp.path().join("in"), 3, 60);
    let registry = Arc::new(builtin_registry());
    let ops = "      - name: minhash_deduplicator\n        params: {num_partitions: 5}\n";
    let mut outputs = Vec::new();
    for workers in [1, 2] {
        let out = tmp.path().join(format!("out{workers}"));
        let p = plan(&registry, config(&tmp.path().join("in"), &out, ops));
        let summary = run_local(&p, &options(workers)).unwrap();
        assert_eq!(summary.stats.input_records, 180);
        outputs.push(kept(&out));
    }
    assert_eq!(outputs[0], outputs[1]);
    // Each original's copies differ by one word in 200 (Jaccard ≈ 0.95): one per cluster stays,
    // the first by input order.
    let expected: Vec<String> = (0..40).map(|n| format!("d{n}")).collect();
    assert_eq!(outputs[0], expected);
}
