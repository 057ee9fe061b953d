//! Global (dedup) operators end to end: exact and URL dedup keep exactly the first copy by input
//! order, with any worker count, and after an interruption at any phase.

#![allow(clippy::unwrap_used)] // test helpers: a failed set-up step should fail the test loudly

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::record_batch::RecordBatch;
use mdf_core::config::{parse_config, ConfigSource};
use mdf_core::xorshift::Xorshift64;
use mdf_core::Registry;
use mdf_exec::{builtin_registry, run_local, Plan, ProgressMode, RunOptions};

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

/// Ids of the written rows, in file order.
fn kept(dir: &Path) -> Vec<String> {
    kept_column(dir, "id")
}

/// The written batches, in file order.
fn kept_batches(dir: &Path) -> Vec<RecordBatch> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort();
    let mut batches = Vec::new();
    for path in files {
        let file = std::fs::File::open(path).unwrap();
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        batches.extend(reader.map(|b| b.unwrap()));
    }
    batches
}

/// Values of string column `name` of the written rows, in file order.
fn kept_column(dir: &Path, name: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for batch in kept_batches(dir) {
        let col = batch.column_by_name(name).unwrap();
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

#[test]
fn a_crash_in_any_segment_resumes_to_the_same_output() {
    let tmp = tempfile::tempdir().unwrap();
    write_inputs(&tmp.path().join("in"), 4, 250);
    let mut registry = builtin_registry();
    registry.register_operator::<common::CrashOnce>();
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
        common::arm("text", "doc number 777");
        let err = run_local(&p, &options(2)).unwrap_err();
        assert!(err.to_string().contains("simulated crash"), "{err}");
        common::disarm();
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

/// The `pieces` a group task's done marker records.
fn group_pieces(out: &Path, partition: usize) -> usize {
    let marker = out.join(format!("_mdf/global/g00/done/group-{partition:06}"));
    let note = std::fs::read_to_string(marker).unwrap();
    let line = note.lines().find(|l| l.starts_with("pieces ")).unwrap();
    line["pieces ".len()..].parse().unwrap()
}

#[test]
fn a_partition_over_the_memory_budget_is_split_on_disk_with_the_same_output() {
    let tmp = tempfile::tempdir().unwrap();
    // 3,000 documents x 14 bands in one partition: about 3 MiB to group in memory.
    write_near_duplicates(&tmp.path().join("in"), 3, 1000);
    let registry = Arc::new(builtin_registry());
    let ops = "      - name: minhash_deduplicator\n        params: {num_partitions: 1}\n";
    let mut outputs = Vec::new();
    for budget_mb in [1024, 1] {
        let out = tmp.path().join(format!("out{budget_mb}"));
        let text = config(&tmp.path().join("in"), &out, ops);
        let text = format!("{text}  dedup_memory_mb: {budget_mb}\n");
        let summary = run_local(&plan(&registry, text), &options(2)).unwrap();
        assert_eq!(summary.stats.input_records, 3000);
        let pieces = group_pieces(&out, 0);
        if budget_mb == 1 {
            assert!(pieces >= 3, "split into {pieces} pieces");
            assert!(
                !out.join("_mdf/global/g00/spill").exists(),
                "pieces left behind"
            );
        } else {
            assert_eq!(pieces, 1);
        }
        outputs.push(kept(&out));
    }
    assert_eq!(outputs[0], outputs[1]);
    let expected: Vec<String> = (0..40).map(|n| format!("d{n}")).collect();
    assert_eq!(outputs[0], expected);
}

/// A distinct pseudo-random 6-letter word per index.
fn word(i: usize) -> String {
    let x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (0..6)
        .map(|k| char::from(b'a' + ((x >> (k * 8 + 16)) % 26) as u8))
        .collect()
}

/// Words of each planted near-duplicate's original replaced by fresh ones (a contiguous block),
/// and the Jaccard similarity of 5-word shingles that gives on 200 words: ≈ 0.3, 0.5, 0.6 (below
/// 0.7), 0.8, 0.9, 1.
const PLANTED_EDITS: [usize; 6] = [101, 61, 45, 17, 6, 0];

/// 120 originals of 200 words and, for each, one variant with `PLANTED_EDITS[i % 6]` words
/// replaced, in a shuffled order over 3 files. Returns (id, text) in input order.
fn write_planted_pairs(dir: &Path) -> Vec<(String, String)> {
    std::fs::create_dir_all(dir).unwrap();
    let mut docs = Vec::new();
    for i in 0..120 {
        let original: Vec<String> = (0..200).map(|w| word(i * 1000 + w)).collect();
        let edits = PLANTED_EDITS[i % 6];
        let at = (i * 7) % (200 - edits);
        let mut variant = original.clone();
        for (w, v) in variant.iter_mut().enumerate().skip(at).take(edits) {
            *v = word(1_000_000 + i * 1000 + w);
        }
        docs.push((format!("o{i}"), original.join(" ")));
        docs.push((format!("v{i}"), variant.join(" ")));
    }
    // A fixed shuffle, so a variant may come before its original.
    let mut order: Vec<usize> = (0..docs.len()).collect();
    order.sort_by_key(|&j| (j as u64 + 11).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40);
    let docs: Vec<(String, String)> = order.into_iter().map(|j| docs[j].clone()).collect();
    for (f, chunk) in docs.chunks(80).enumerate() {
        let mut out = std::fs::File::create(dir.join(format!("in-{f:02}.jsonl"))).unwrap();
        for (id, text) in chunk {
            writeln!(out, r#"{{"id": "{id}", "text": "{text}"}}"#).unwrap();
        }
    }
    docs
}

/// The Jaccard similarity of the sets of 5-word shingles of two texts (computed here from the
/// words, independently of the operator's hashing).
fn shingle_jaccard(a: &str, b: &str) -> f64 {
    let shingles = |t: &str| -> BTreeSet<String> {
        let words: Vec<&str> = t.split_whitespace().collect();
        words.windows(5).map(|w| w.join(" ")).collect()
    };
    let (a, b) = (shingles(a), shingles(b));
    a.intersection(&b).count() as f64 / a.union(&b).count() as f64
}

/// Each clustered document (in input order) mapped to its cluster's keeper, from an annotated
/// output (`remove_duplicates: false`): the keeper is the first row of its `cluster_id`.
fn keepers_of(dir: &Path) -> BTreeMap<String, String> {
    let ids = kept_column(dir, "id");
    let clusters: Vec<u64> = kept_batches(dir)
        .iter()
        .flat_map(|b| {
            let col = b.column_by_name("cluster_id").unwrap();
            col.as_primitive::<arrow::datatypes::UInt64Type>()
                .values()
                .to_vec()
        })
        .collect();
    let mut first: BTreeMap<u64, String> = BTreeMap::new();
    let mut keeper = BTreeMap::new();
    for (id, cluster) in ids.iter().zip(&clusters) {
        match first.get(cluster) {
            Some(k) => {
                keeper.insert(id.clone(), k.clone());
            }
            None => {
                first.insert(*cluster, id.clone());
            }
        }
    }
    keeper
}

#[test]
fn minhash_jaccard_verification_removes_only_pairs_above_the_threshold() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = write_planted_pairs(&tmp.path().join("in"));
    let text: BTreeMap<&str, &str> = docs.iter().map(|(i, t)| (i.as_str(), t.as_str())).collect();
    let pair_jaccard: Vec<f64> = (0..120)
        .map(|i| {
            shingle_jaccard(
                text[format!("o{i}").as_str()],
                text[format!("v{i}").as_str()],
            )
        })
        .collect();
    for (i, &j) in pair_jaccard.iter().enumerate() {
        let level = [0.3, 0.5, 0.6, 0.8, 0.9, 1.0][i % 6];
        assert!(
            (j - level).abs() < 0.03,
            "pair {i}: Jaccard {j}, planted {level}"
        );
    }
    let registry = Arc::new(builtin_registry());
    // A deliberately loose LSH: a pair at Jaccard 0.3 is a candidate with P = 1 − 0.7²⁰ ≈ 0.999.
    let lsh = "num_buckets: 20, hashes_per_bucket: 1";
    let run = |name: &str, params: String, workers: usize| {
        let out = tmp.path().join(name);
        let ops = format!("      - name: minhash_deduplicator\n        params: {{{params}}}\n");
        let p = plan(&registry, config(&tmp.path().join("in"), &out, &ops));
        let summary = run_local(&p, &options(workers)).unwrap();
        (out, summary.stats.operators[0].counters.clone())
    };
    let annotate = "remove_duplicates: false, annotate_clusters: true";
    let (plain_out, plain_counters) =
        run("plain", format!("{lsh}, num_partitions: 4, {annotate}"), 2);
    let (verified_out, verified_counters) = run(
        "verified",
        format!("{lsh}, num_partitions: 4, {annotate}, jaccard_threshold: 0.7"),
        1,
    );
    let joined = |keepers: &BTreeMap<String, String>, i: usize| {
        let (o, v) = (format!("o{i}"), format!("v{i}"));
        keepers.get(&o) == Some(&v) || keepers.get(&v) == Some(&o)
    };
    let (plain, verified) = (keepers_of(&plain_out), keepers_of(&verified_out));
    let low: Vec<usize> = (0..120).filter(|&i| pair_jaccard[i] < 0.7).collect();
    let high: Vec<usize> = (0..120).filter(|&i| pair_jaccard[i] >= 0.8).collect();
    assert_eq!((low.len(), high.len()), (60, 60));
    // Without verification the loose LSH removes pairs far below 0.7 ...
    let low_plain = low.iter().filter(|&&i| joined(&plain, i)).count();
    assert!(
        low_plain >= 55,
        "{low_plain} of 60 low pairs joined without verification"
    );
    // ... with it, no removed document is below 0.7 from its keeper,
    for (doc, keeper) in &verified {
        let j = shingle_jaccard(text[doc.as_str()], text[keeper.as_str()]);
        assert!(j >= 0.7, "{doc} removed for {keeper} at Jaccard {j}");
    }
    assert!(low.iter().all(|&i| !joined(&verified, i)));
    // ... and the pairs at 0.8 and above are removed as often as without it.
    let high_plain: Vec<usize> = high
        .iter()
        .copied()
        .filter(|&i| joined(&plain, i))
        .collect();
    let high_verified: Vec<usize> = high
        .iter()
        .copied()
        .filter(|&i| joined(&verified, i))
        .collect();
    assert_eq!(high_plain, high_verified);
    assert!(
        high_plain.len() >= 58,
        "{} of 60 high pairs",
        high_plain.len()
    );

    // Counters: the plain run verifies nothing; the verified run loaded at least the joined
    // documents, rejected at least one comparison per low pair it saw, and accepted at least one
    // per high pair.
    eprintln!(
        "jaccard verification: low pairs joined without it {low_plain}/60, high pairs joined \
         {}/60, counters {verified_counters:?}",
        high_plain.len()
    );
    assert!(!plain_counters.contains_key("jaccard_pairs_checked"));
    let c = |name: &str| verified_counters[name];
    assert!(c("jaccard_candidate_docs") >= 2 * (low_plain + high_plain.len()) as u64);
    assert!(c("jaccard_candidate_docs") <= 240);
    assert!(c("jaccard_pairs_rejected") >= low_plain as u64);
    assert!(c("jaccard_pairs_checked") - c("jaccard_pairs_rejected") >= high_plain.len() as u64);
    // One record per document: 12 bytes + 8 per distinct shingle (196 per 200-word document).
    assert_eq!(c("jaccard_set_file_bytes"), 240 * (12 + 8 * 196));

    // Removing instead of annotating, with 2 workers and another partition count: the same
    // documents stay (each cluster's keeper and the unclustered), the same counters.
    let (removed_out, removed_counters) = run(
        "removed",
        format!("{lsh}, num_partitions: 7, jaccard_threshold: 0.7"),
        2,
    );
    let expected: Vec<String> = kept_column(&verified_out, "id")
        .into_iter()
        .filter(|id| !verified.contains_key(id))
        .collect();
    assert_eq!(kept(&removed_out), expected);
    assert_eq!(removed_counters, verified_counters);
}

/// A corpus for `bloom_deduplicator`: documents of 1-5 paragraphs drawn from a pool of 40
/// paragraphs (so most repeat an earlier one), fresh paragraphs, short lines (< 13 tokens,
/// never removed) and exact copies of earlier documents. Words are lower-case alphanumerics
/// separated by single spaces, so BFF's UAX #29 tokens are the space-separated words.
fn write_bloom_inputs(dir: &Path, files: usize, per_file: usize) -> Vec<(String, String)> {
    std::fs::create_dir_all(dir).unwrap();
    let mut rng = Xorshift64::new(0x2545_f491_4f6c_dd1d);
    let mut next = move |n: u64| rng.below(n);
    let mut fresh = 0u64;
    let mut paragraph = |len: u64, next: &mut dyn FnMut(u64) -> u64| {
        fresh += 1;
        (0..len)
            .map(|i| format!("w{}x{}", next(5000), (fresh * 31 + i) % 97))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let pool: Vec<String> = (0..40)
        .map(|_| paragraph(15 + next(30), &mut next))
        .collect();
    let mut docs: Vec<(String, String)> = Vec::new();
    for f in 0..files {
        let path = dir.join(format!("in-{f:02}.jsonl"));
        let mut out = std::fs::File::create(path).unwrap();
        for i in 0..per_file {
            let n = f * per_file + i;
            let text = if n > 10 && next(10) == 0 {
                docs[next(docs.len() as u64) as usize].1.clone()
            } else {
                let parts = 1 + next(5);
                (0..parts)
                    .map(|_| match next(4) {
                        0 | 1 => pool[next(40) as usize].clone(),
                        2 => paragraph(14 + next(40), &mut next),
                        _ => format!("short line {}", next(100)),
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            writeln!(
                out,
                "{}",
                serde_json::json!({"id": format!("d{n}"), "text": text})
            )
            .unwrap();
            docs.push((format!("d{n}"), text));
        }
    }
    docs
}

/// The reference: BFF `old_both` with an exact set of n-grams instead of a Bloom filter.
fn bff_reference(docs: &[(String, String)], n: usize, threshold: f64) -> Vec<(String, String)> {
    let mut seen: BTreeSet<Vec<&str>> = BTreeSet::new();
    let mut out = Vec::new();
    for (id, text) in docs {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i));
        starts.push(text.len());
        let (mut contained_all, mut total_all) = (0usize, 0usize);
        let mut kept = String::new();
        for w in starts.windows(2) {
            let paragraph = &text[w[0]..w[1]];
            let words: Vec<&str> = paragraph.split_whitespace().collect();
            let ngrams: Vec<Vec<&str>> = words.windows(n).map(<[&str]>::to_vec).collect();
            let contained = ngrams.iter().filter(|g| seen.contains(*g)).count();
            contained_all += contained;
            total_all += ngrams.len();
            if !ngrams.is_empty() && contained as f64 / ngrams.len() as f64 > threshold {
                continue;
            }
            seen.extend(ngrams);
            kept.push_str(paragraph);
        }
        let whole = total_all > 0 && contained_all as f64 / total_all as f64 > threshold;
        if !whole && !kept.trim().is_empty() {
            out.push((id.clone(), kept));
        }
    }
    out
}

#[test]
fn bloom_dedup_matches_an_exact_bff_simulation_with_any_worker_count() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = write_bloom_inputs(&tmp.path().join("in"), 4, 250);
    let expected = bff_reference(&docs, 13, 0.8);
    let rewritten = expected
        .iter()
        .filter(|(id, text)| docs.iter().any(|(i, t)| i == id && t != text))
        .count();
    assert!(docs.len() - expected.len() > 100, "documents removed whole");
    assert!(rewritten > 100, "documents with paragraphs cut");
    let registry = Arc::new(builtin_registry());
    let ops = "      - name: bloom_deduplicator\n";
    let mut outputs = Vec::new();
    for workers in [1, 2] {
        let out = tmp.path().join(format!("out{workers}"));
        let p = plan(&registry, config(&tmp.path().join("in"), &out, ops));
        let summary = run_local(&p, &options(workers)).unwrap();
        let op = &summary.stats.operators[0];
        assert_eq!(op.records_in, 1000);
        assert_eq!(summary.stats.output_records, op.records_out);
        let removed: u64 = op.dropped.values().sum();
        assert_eq!(op.counters["documents_removed"], removed);
        assert!(op.counters["paragraphs_removed"] > 0);
        let ids = kept(&out);
        let texts = kept_column(&out, "text");
        outputs.push(ids.into_iter().zip(texts).collect::<Vec<_>>());
    }
    assert_eq!(outputs[0], outputs[1], "same output with 1 and 2 workers");
    // The filter is sized for a 1 % false-positive rate per n-gram; a paragraph flips only if
    // more than 80 % of its n-grams are false positives, so the outputs should agree exactly
    // on this corpus. Allow a handful of documents for unlucky collisions.
    let got: BTreeMap<_, _> = outputs[0].iter().cloned().collect();
    let want: BTreeMap<_, _> = expected.iter().cloned().collect();
    let differing = got
        .keys()
        .chain(want.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|id| got.get(*id) != want.get(*id))
        .count();
    eprintln!(
        "bloom: {} of {} documents kept ({} rewritten by the reference), {differing} differ from \
         the exact simulation",
        got.len(),
        docs.len(),
        rewritten
    );
    assert!(
        differing <= 5,
        "{differing} documents differ from the exact simulation"
    );
    // Every later exact copy of a document with n-grams is removed.
    let copies: Vec<&String> = docs
        .iter()
        .enumerate()
        .filter(|(j, (_, t))| {
            t.split('\n').any(|p| p.split_whitespace().count() >= 13)
                && docs[..*j].iter().any(|(_, u)| u == t)
        })
        .map(|(_, (id, _))| id)
        .collect();
    assert!(copies.len() > 50);
    assert!(copies.iter().all(|id| !got.contains_key(*id)));
}
