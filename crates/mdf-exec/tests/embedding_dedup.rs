//! `embedding_deduplicator` end to end through a YAML config over Parquet files with an
//! embedding column: planted near-duplicate pairs at known cosine similarities, spread over
//! shards. Every planted pair above the threshold whose two records fall into the same k-means
//! cluster loses its later record; no pair below the threshold loses one; the kept ids are the
//! same with 1 and 2 workers and after a crash and resume.

#![allow(clippy::unwrap_used)] // test helpers: a failed set-up step should fail the test loudly

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, FixedSizeListArray, StringArray};
use arrow::datatypes::Float32Type;
use arrow::record_batch::RecordBatch;
use mdf_core::config::{parse_config, ConfigSource};
use mdf_dedup::kmeans::{normalize, Centroids};
use mdf_exec::{builtin_registry, run_local, Plan, ProgressMode, RunOptions};

const DIM: usize = 48;
const EPS: f64 = 0.02;

/// A stable stream of numbers in [-1, 1).
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    fn unit(&mut self) -> Vec<f32> {
        let mut v: Vec<f32> = (0..DIM).map(|_| self.next()).collect();
        assert!(normalize(&mut v));
        v
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// A unit vector at cosine exactly `cos` from unit `u`.
fn at_cosine(u: &[f32], cos: f32, noise: &mut Noise) -> Vec<f32> {
    let mut w = noise.unit();
    let along = dot(&w, u);
    w.iter_mut().zip(u).for_each(|(x, y)| *x -= along * y);
    assert!(normalize(&mut w));
    let sin = (1.0 - cos * cos).sqrt();
    u.iter().zip(&w).map(|(a, b)| cos * a + sin * b).collect()
}

/// A planted pair: the record ids and the cosine similarity between them.
struct Pair {
    first: usize,
    second: usize,
    cos: f32,
}

/// Writes `files` Parquet files; returns every record's embedding (by id) and the planted
/// pairs. Records are unrelated random vectors except the planted pairs, whose second record
/// sits in a later file.
fn write_inputs(dir: &Path, files: usize, per_file: usize) -> (Vec<Vec<f32>>, Vec<Pair>) {
    std::fs::create_dir_all(dir).unwrap();
    let n = files * per_file;
    let mut noise = Noise(11);
    let mut vectors: Vec<Vec<f32>> = (0..n).map(|_| noise.unit()).collect();
    // Above the threshold (0.98): 0.999, 0.99, 0.985; below: 0.975, 0.95, 0.90.
    let levels = [0.999f32, 0.99, 0.985, 0.975, 0.95, 0.90];
    let mut pairs = Vec::new();
    for (i, first) in (0..n / 3).step_by(2).enumerate() {
        // Distinct records in the second half (7 is coprime with the half's size).
        let second = n / 2 + (i * 7) % (n / 2);
        let cos = levels[i % levels.len()];
        vectors[second] = at_cosine(&vectors[first], cos, &mut noise);
        pairs.push(Pair { first, second, cos });
    }
    for f in 0..files {
        let ids: Vec<String> = (f * per_file..(f + 1) * per_file)
            .map(|i| format!("r{i:05}"))
            .collect();
        let list = FixedSizeListArray::from_iter_primitive::<Float32Type, _, _>(
            (f * per_file..(f + 1) * per_file)
                .map(|i| Some(vectors[i].iter().copied().map(Some).collect::<Vec<_>>())),
            DIM as i32,
        );
        let batch = RecordBatch::try_from_iter([
            ("id", Arc::new(StringArray::from(ids)) as ArrayRef),
            ("clip_embedding", Arc::new(list) as ArrayRef),
        ])
        .unwrap();
        let file = std::fs::File::create(dir.join(format!("in-{f:02}.parquet"))).unwrap();
        let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
    }
    (vectors, pairs)
}

fn plan(input: &Path, output: &Path, params: &str) -> Plan {
    plan_with(input, output, params, "", "")
}

/// A plan with extra operator lines before and after the dedup.
fn plan_with(input: &Path, output: &Path, params: &str, before: &str, after: &str) -> Plan {
    let mut registry = builtin_registry();
    registry.register_operator::<common::CrashOnce>();
    let registry = Arc::new(registry);
    let text = format!(
        "data_loader:\n  type: ParquetLoader\n  params:\n    paths: {}\nstages:\n  - name: s\n    operators:\n{before}      - name: embedding_deduplicator\n        params: {{{params}}}\n{after}data_writer:\n  type: ParquetDataWriter\n  params:\n    output_path: {}\nexecutor:\n  batch_size: 100\n",
        input.display(),
        output.display()
    );
    let source = ConfigSource {
        name: "test.yaml".into(),
        text,
    };
    Plan::build(parse_config(&source, &[], &registry).unwrap(), &registry).unwrap()
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
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort();
    let mut ids = Vec::new();
    for path in files {
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            std::fs::File::open(path).unwrap(),
        )
        .unwrap()
        .build()
        .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            let col = batch.column_by_name("id").unwrap();
            match col.as_string_view_opt() {
                Some(a) => ids.extend((0..a.len()).map(|i| a.value(i).to_owned())),
                None => {
                    let a = col.as_string::<i32>();
                    ids.extend((0..a.len()).map(|i| a.value(i).to_owned()));
                }
            }
        }
    }
    ids
}

const PARAMS: &str =
    "eps: 0.02, num_clusters: 6, sample_size: 300, seed: 3, num_partitions: 4, annotate_clusters: true";

#[test]
fn planted_near_duplicates_above_the_threshold_are_removed_and_below_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let (vectors, pairs) = write_inputs(&input, 4, 300);
    let n = vectors.len();
    let mut outputs = Vec::new();
    for workers in [1, 2] {
        let out = tmp.path().join(format!("out{workers}"));
        let summary = run_local(&plan(&input, &out, PARAMS), &options(workers)).unwrap();
        assert_eq!(summary.stats.input_records as usize, n);
        assert!(out.join("_mdf/global/g00/model.bin").exists());
        assert!(!out.join("_mdf/global/g00/routed").exists());
        outputs.push(kept(&out));
    }
    assert_eq!(outputs[0], outputs[1], "same kept ids with 1 and 2 workers");

    // Which k-means cluster each record fell into, from the model the run fitted.
    let model = std::fs::read(tmp.path().join("out1/_mdf/global/g00/model.bin")).unwrap();
    let centroids = Centroids::from_bytes(&model).unwrap();
    assert_eq!(centroids.len(), 6);
    let threshold = (1.0 - EPS) as f32;
    let kept: BTreeSet<&str> = outputs[0].iter().map(String::as_str).collect();
    let id = |i: usize| format!("r{i:05}");
    let mut expected_removed = BTreeSet::new();
    let (mut above, mut split) = (0, 0);
    for p in &pairs {
        if p.cos < threshold {
            continue;
        }
        above += 1;
        if centroids.nearest(&vectors[p.first]) == centroids.nearest(&vectors[p.second]) {
            expected_removed.insert(id(p.second));
        } else {
            split += 1;
        }
    }
    let removed: BTreeSet<String> = (0..n)
        .map(id)
        .filter(|i| !kept.contains(i.as_str()))
        .collect();
    assert_eq!(removed, expected_removed);
    for p in &pairs {
        assert!(kept.contains(id(p.first).as_str()), "the first copy stays");
    }
    let below = pairs.iter().filter(|p| p.cos < threshold).count();
    eprintln!(
        "planted pairs above the threshold: {above}, removed {} (recall {:.3}; {split} split \
         across k-means clusters); below: {below}, removed 0",
        expected_removed.len(),
        expected_removed.len() as f64 / above as f64
    );
    // Most pairs at cosine ≥ 0.985 land in one cluster of 6.
    assert!(expected_removed.len() * 10 >= above * 8, "recall below 0.8");
}

#[test]
fn a_wrong_dimension_is_a_counted_reject() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    write_inputs(&input, 3, 40);
    let out = tmp.path().join("out");
    let summary = run_local(
        &plan(
            &input,
            &out,
            "dimension: 47, num_clusters: 2, sample_size: 10",
        ),
        &options(2),
    )
    .unwrap();
    assert_eq!(summary.stats.output_records, 0);
    assert_eq!(summary.stats.operators[0].errors, 120);
    assert_eq!(summary.stats.rejected_records, 120);
}

#[test]
fn a_crash_before_or_after_the_fit_resumes_to_the_same_output() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    write_inputs(&input, 3, 120);
    let reference = tmp.path().join("reference");
    run_local(&plan(&input, &reference, PARAMS), &options(2)).unwrap();
    let crash = "      - name: crash_once\n";
    // Before the dedup the crash hits the keys phase; after it, the last segment, once the
    // fit, route and group phases are done (their markers must be honoured on resume).
    for (i, (before, after)) in [(crash, ""), ("", crash)].into_iter().enumerate() {
        let out = tmp.path().join(format!("out{i}"));
        let p = plan_with(&input, &out, PARAMS, before, after);
        common::arm("id", "r00077");
        let err = run_local(&p, &options(2)).unwrap_err();
        assert!(err.to_string().contains("simulated crash"), "{err}");
        common::disarm();
        if i == 1 {
            assert!(out.join("_mdf/global/g00/done/fit-000000").exists());
        }
        run_local(&p, &options(1)).unwrap();
        assert_eq!(kept(&out), kept(&reference), "crash {i}");
        assert!(!out.join("_mdf/global/g00/samples").exists());
    }
}
