//! Differential fuzzing of our HTML tokenizer: `Dom::parse` (byte-scanning tokenizer feeding
//! html5ever's tree builder) must build the same tree as html5ever's own tokenizer on any input,
//! and so must the extractor's parse (`KeptAttributes::ForExtraction`), less the attributes it
//! leaves out.
//!
//! `cargo +nightly fuzz run html_tokenizer -- -max_len=16384`
#![no_main]

use libfuzzer_sys::fuzz_target;
use mdf_html::dom::{Dom, KeptAttributes, ParseBudget};

fuzz_target!(|data: &[u8]| {
    let html = String::from_utf8_lossy(data);
    let budget = ParseBudget {
        max_nodes: 1_000_000,
        max_depth: 1_000_000,
        timeout: None,
    };
    let reference = Dom::parse_with_html5ever_tokenizer(&html, &budget);
    let ours = Dom::parse(&html, &budget).map(|d| d.outline());
    assert_eq!(
        ours,
        reference.as_ref().map(Dom::outline).map_err(Clone::clone),
        "trees differ on {html:?}"
    );
    // The extractor's parse: the same tree less the attributes it does not keep.
    let kept = KeptAttributes::ForExtraction;
    let filtered = Dom::parse_keeping(&html, &budget, kept).map(|d| d.outline());
    let reference_filtered = reference.map(|mut d| {
        d.retain_attributes(kept);
        d.outline()
    });
    assert_eq!(
        filtered, reference_filtered,
        "filtered trees differ on {html:?}"
    );
});
