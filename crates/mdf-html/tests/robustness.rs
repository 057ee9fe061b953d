//! Deterministic random-mutation robustness test of the whole extraction path (decode → budgeted
//! parse → extract), called below `Extractor`'s panic guard so that a panic fails the test. Seeds
//! are small synthetic pages plus, when the shared article set is beside the repo, a few real
//! pages; each iteration applies 1–8 random mutations (byte flips, deletions, duplicated or
//! moved slices, inserted markup fragments and invalid UTF-8, truncation) with a fixed-seed
//! PRNG, so a failure reproduces exactly. `MDF_HTML_MUTATIONS=N` runs N iterations (default 1500).
//! The `cargo fuzz` target `fuzz/fuzz_targets/html_extract.rs` explores the same path with
//! coverage guidance.

mod common;

use common::{mutate, seeds, XorShift};
use mdf_html::decode::decode;
use mdf_html::dom::{Dom, ParseBudget};
use mdf_html::extract::{extract, ExtractOptions};

#[test]
fn random_mutations_never_panic_or_stall() {
    let iterations: usize = std::env::var("MDF_HTML_MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500);
    let seeds = seeds();
    let budget = ParseBudget {
        max_nodes: 200_000,
        max_depth: 512,
        timeout: None,
    };
    let option_sets = [
        ExtractOptions::default(),
        ExtractOptions {
            favor_precision: true,
            include_comments: true,
            include_tables: false,
            newlines_between_blocks: 2,
        },
    ];
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let start = std::time::Instant::now();
    let mut extracted = 0usize;
    for i in 0..iterations {
        let mut page = seeds[i % seeds.len()].clone();
        mutate(&mut rng, &mut page);
        let content_type = ["text/html; charset=utf-8", "text/html; charset=gbk", ""][i % 3];
        let Ok(decoded) = decode(&page, Some(content_type), None) else {
            continue;
        };
        let Ok(dom) = Dom::parse(&decoded.text, &budget) else {
            continue;
        };
        let e = extract(&dom, &option_sets[i % 2]);
        extracted += usize::from(!e.text.is_empty());
    }
    let secs = start.elapsed().as_secs_f64();
    eprintln!("{iterations} mutated pages in {secs:.1} s, {extracted} with text");
    assert!(
        extracted > iterations / 4,
        "mutations should mostly leave text to extract"
    );
}
