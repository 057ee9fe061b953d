//! A run whose input and output are in an object store (the in-memory store behind `memory://`
//! URLs, which goes through the same storage facade as S3/GCS/Azure): the run directory lives in
//! the store, and resume works from its markers.

#![allow(clippy::unwrap_used)] // test helpers: a failed set-up step should fail the test loudly

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use mdf_core::config::{parse_config, ConfigSource};
use mdf_exec::{builtin_registry, run_local, Plan, ProgressMode, RunOptions};
use mdf_io::storage;

fn plan(input: &str, output: &str) -> Plan {
    let registry = Arc::new(builtin_registry());
    let text = format!(
        "data_loader:\n  type: JsonlLoader\n  params:\n    paths: {input}\n    shard_size_mb: 0.01\nstages:\n  - name: s\n    operators:\n      - name: text_length_filter\n        params: {{min_length: 20}}\ndata_writer:\n  type: ParquetDataWriter\n  params:\n    output_path: {output}\nexecutor:\n  batch_size: 64\n"
    );
    let source = ConfigSource {
        name: "test.yaml".into(),
        text,
    };
    Plan::build(parse_config(&source, &[], &registry).unwrap(), &registry).unwrap()
}

fn options() -> RunOptions {
    RunOptions {
        workers: Some(2),
        progress: ProgressMode::Off,
        ..RunOptions::default()
    }
}

#[test]
fn a_run_in_an_object_store_matches_local_disk_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let mut plain = Vec::new();
    for n in 0..600 {
        let text = "word ".repeat(n % 40);
        writeln!(plain, r#"{{"id": "d{n}", "text": "{text}"}}"#).unwrap();
    }
    std::fs::create_dir_all(tmp.path().join("in")).unwrap();
    std::fs::write(tmp.path().join("in/a.jsonl"), &plain).unwrap();
    storage::write_atomic(Path::new("memory://e2e/in/a.jsonl"), &plain).unwrap();

    let local = run_local(
        &plan(
            tmp.path().join("in").to_str().unwrap(),
            tmp.path().join("out").to_str().unwrap(),
        ),
        &options(),
    )
    .unwrap();
    let remote_plan = plan("memory://e2e/in/", "memory://e2e/out");
    let remote = run_local(&remote_plan, &options()).unwrap();
    assert!(remote.shards_total > 2, "byte-range shards over the store");
    assert_eq!(remote.shards_total, local.shards_total);
    assert_eq!(remote.stats.output_records, local.stats.output_records);

    let names = storage::list_file_names(Path::new("memory://e2e/out")).unwrap();
    let local_names = storage::list_file_names(&tmp.path().join("out")).unwrap();
    assert_eq!(names, local_names);
    let done = storage::list_file_names(Path::new("memory://e2e/out/_mdf/done")).unwrap();
    assert_eq!(done.len(), remote.shards_total);
    assert!(storage::exists(Path::new("memory://e2e/out/_mdf/stats.json")).unwrap());

    // Every shard done: a rerun resumes all of them. Without one marker: that shard is redone.
    let again = run_local(&remote_plan, &options()).unwrap();
    assert_eq!(again.shards_resumed, again.shards_total);
    storage::remove_file_if_exists(Path::new("memory://e2e/out/_mdf/done/000001")).unwrap();
    let redo = run_local(&remote_plan, &options()).unwrap();
    assert_eq!(redo.shards_resumed, redo.shards_total - 1);
    assert_eq!(redo.stats.output_records, local.stats.output_records);
    assert_eq!(
        storage::list_file_names(Path::new("memory://e2e/out")).unwrap(),
        local_names
    );
}
