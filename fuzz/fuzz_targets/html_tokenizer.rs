//! Differential fuzzing of our HTML tokenizer: `Dom::parse` (byte-scanning tokenizer feeding
//! html5ever's tree builder) must build the same tree as html5ever's own tokenizer on any input.
//!
//! `cargo +nightly fuzz run html_tokenizer -- -max_len=16384`
#![no_main]

use libfuzzer_sys::fuzz_target;
use mdf_html::dom::{Dom, ParseBudget};

fuzz_target!(|data: &[u8]| {
    let html = String::from_utf8_lossy(data);
    let budget = ParseBudget {
        max_nodes: 1_000_000,
        max_depth: 1_000_000,
        timeout: None,
    };
    let ours = Dom::parse(&html, &budget).map(|d| d.outline());
    let reference = Dom::parse_with_html5ever_tokenizer(&html, &budget).map(|d| d.outline());
    assert_eq!(ours, reference, "trees differ on {html:?}");
});
