//! A run whose input and output are in an object store (the in-memory store behind `memory://`
//! URLs, which goes through the same storage facade as S3/GCS/Azure): the run directory lives in
//! the store, dedup state included, and resume works from its markers.

#![allow(clippy::unwrap_used)] // test helpers: a failed set-up step should fail the test loudly

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use mdf_core::config::{parse_config, ConfigSource};
use mdf_exec::{builtin_registry, run_local, Plan, ProgressMode, RunOptions};
use mdf_io::storage;

fn plan(input: &str, output: &str) -> Plan {
    plan_with(
        input,
        output,
        "      - name: text_length_filter\n        params: {min_length: 20}\n",
        "ParquetDataWriter",
        "",
    )
}

fn plan_with(input: &str, output: &str, ops: &str, writer: &str, executor: &str) -> Plan {
    let registry = Arc::new(builtin_registry());
    let text = format!(
        "data_loader:\n  type: JsonlLoader\n  params:\n    paths: {input}\n    shard_size_mb: 0.01\nstages:\n  - name: s\n    operators:\n{ops}data_writer:\n  type: {writer}\n  params:\n    output_path: {output}\nexecutor:\n  batch_size: 64\n{executor}"
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
    let progress = storage::read_opt(Path::new("memory://e2e/out/_mdf/progress.json")).unwrap();
    let progress: serde_json::Value = serde_json::from_slice(&progress.unwrap()).unwrap();
    assert_eq!(progress["state"], "done");
    // Nothing went to a local path that merely looks like the URL.
    assert!(!Path::new("memory:").exists());

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

/// The ids in a run's JSONL output files (local or in the store), sorted.
fn kept_ids(out: &Path) -> Vec<String> {
    let mut ids = Vec::new();
    for name in storage::list_file_names(out).unwrap() {
        if !name.starts_with("part-") {
            continue;
        }
        let bytes = storage::read_opt(&out.join(&name)).unwrap().unwrap();
        for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let row: serde_json::Value = serde_json::from_slice(line).unwrap();
            ids.push(row["id"].as_str().unwrap().to_owned());
        }
    }
    ids.sort();
    ids
}

#[test]
fn dedup_state_in_an_object_store_gives_the_local_output_and_resumes() {
    // Exact copies, near copies (one word of 60 changed) and unique documents over several
    // shards; exact, MinHash (verified, split by a 1 MiB budget) and Bloom dedup in one run.
    let word = |i: usize| format!("w{}", (i * 7919) % 100_003);
    let mut plain = Vec::new();
    for n in 0..3000 {
        let base = n % 2000;
        let mut words: Vec<String> = (0..60).map(|k| word(base * 60 + k)).collect();
        if n >= 2000 && n % 2 == 0 {
            words[n % 60] = format!("changed{n}");
        }
        writeln!(
            plain,
            r#"{{"id": "d{n:04}", "text": "{}"}}"#,
            words.join(" ")
        )
        .unwrap();
    }
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("in")).unwrap();
    std::fs::write(tmp.path().join("in/a.jsonl"), &plain).unwrap();
    storage::write_atomic(Path::new("memory://dedup/in/a.jsonl"), &plain).unwrap();
    let ops = "      - name: text_exact_deduplicator\n      - name: minhash_deduplicator\n        params: {num_partitions: 1, jaccard_threshold: 0.7}\n      - name: bloom_deduplicator\n";
    let executor = "  dedup_memory_mb: 1\n";
    let local_out = tmp.path().join("out");
    let local = run_local(
        &plan_with(
            tmp.path().join("in").to_str().unwrap(),
            local_out.to_str().unwrap(),
            ops,
            "JsonlDataWriter",
            executor,
        ),
        &options(),
    )
    .unwrap();
    let remote_plan = plan_with(
        "memory://dedup/in/",
        "memory://dedup/out",
        ops,
        "JsonlDataWriter",
        executor,
    );
    let remote = run_local(&remote_plan, &options()).unwrap();
    let out = Path::new("memory://dedup/out");
    assert!(remote.shards_total > 2);
    assert!(local.stats.output_records < 2000, "duplicates were removed");
    assert_eq!(kept_ids(out), kept_ids(&local_out));
    let dropped = |s: &mdf_exec::RunSummary| -> Vec<_> {
        s.stats
            .operators
            .iter()
            .map(|o| o.dropped.clone())
            .collect()
    };
    assert_eq!(dropped(&remote), dropped(&local));

    // The MinHash partition was split into local scratch pieces, none left in the store.
    let marker = storage::read_opt(Path::new(
        "memory://dedup/out/_mdf/global/g01/done/group-000000",
    ))
    .unwrap()
    .unwrap();
    let note = String::from_utf8(marker).unwrap();
    let pieces: usize = note
        .lines()
        .find_map(|l| l.strip_prefix("pieces "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(pieces >= 2, "split into {pieces} piece(s)");
    assert!(
        storage::list_recursive("memory://dedup/out/_mdf/global/g01/spill")
            .unwrap()
            .is_empty()
    );

    // Every task done: a rerun resumes everything and gives the same output.
    let again = run_local(&remote_plan, &options()).unwrap();
    assert_eq!(again.shards_resumed, again.shards_total);
    assert_eq!(kept_ids(out), kept_ids(&local_out));
}
