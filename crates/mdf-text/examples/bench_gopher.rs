//! Throughput of the word tokenizer, the sentencizer and the two Gopher filters on JSON strings
//! (one per line, from the file given as the first argument), single-threaded:
//! `cargo run --release -p mdf-text --example bench_gopher -- texts.jsonl`.
use std::time::Instant;

use mdf_text::words::WordTokenizer;
use mdf_text::{GopherQualityFilter, GopherRepetitionFilter};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: bench_gopher TEXTS.jsonl")?;
    let texts: Vec<String> = std::fs::read_to_string(path)?
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let mb = texts.iter().map(String::len).sum::<usize>() as f64 / 1e6;
    let report = |name: &str, secs: f64, extra: String| {
        println!(
            "{name:<26} {:>7.1} MB/s {:>9.0} docs/s  {extra}",
            mb / secs,
            texts.len() as f64 / secs
        );
    };
    let mut tok = WordTokenizer::new();
    let mut words = Vec::new();
    let t = Instant::now();
    let mut n = 0usize;
    for text in &texts {
        tok.tokenize(text, &mut words);
        n += words.len();
    }
    report("tokenizer", t.elapsed().as_secs_f64(), format!("{n} words"));
    let t = Instant::now();
    let n: usize = texts.iter().map(|s| tok.count_sentences(s)).sum();
    report(
        "sentencizer",
        t.elapsed().as_secs_f64(),
        format!("{n} sentences"),
    );
    let mut rep = GopherRepetitionFilter::new(serde_json::from_str("{}")?);
    let t = Instant::now();
    let dropped = texts.iter().filter(|s| rep.judge(s).is_some()).count();
    report(
        "gopher_repetition_filter",
        t.elapsed().as_secs_f64(),
        format!("{dropped} dropped"),
    );
    let mut qual = GopherQualityFilter::new(serde_json::from_str("{}")?);
    let t = Instant::now();
    let dropped = texts.iter().filter(|s| qual.judge(s).is_some()).count();
    report(
        "gopher_quality_filter",
        t.elapsed().as_secs_f64(),
        format!("{dropped} dropped"),
    );
    Ok(())
}
