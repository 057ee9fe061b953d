//! Fuzzes the whole HTML path of `html_extractor`: charset decoding of arbitrary bytes, the
//! budgeted html5ever parse and main-content extraction, with the option set picked by the first
//! byte. Calls below `Extractor`'s panic guard, so any panic is a finding.
//!
//! `cargo +nightly fuzz run html_extract -- -max_len=65536`
#![no_main]

use libfuzzer_sys::fuzz_target;
use mdf_html::decode::decode;
use mdf_html::dom::{Dom, KeptAttributes, ParseBudget};
use mdf_html::extract::{extract, ExtractOptions};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, body)) = data.split_first() else {
        return;
    };
    let content_type = match flags % 4 {
        0 => None,
        1 => Some("text/html; charset=utf-8"),
        2 => Some("text/html; charset=shift_jis"),
        _ => Some("text/html; charset=windows-1252"),
    };
    let Ok(decoded) = decode(body, content_type, Some(b"jp")) else {
        return;
    };
    let budget = ParseBudget {
        max_nodes: 100_000,
        max_depth: 256,
        timeout: None,
    };
    // The extractor's own parse: only the attributes it reads.
    let Ok(dom) = Dom::parse_keeping(&decoded.text, &budget, KeptAttributes::ForExtraction) else {
        return;
    };
    let options = ExtractOptions {
        favor_precision: flags & 4 != 0,
        include_comments: flags & 8 != 0,
        include_tables: flags & 16 == 0,
        newlines_between_blocks: 1 + usize::from(flags & 32 != 0),
    };
    let _ = extract(&dom, &options);
});
