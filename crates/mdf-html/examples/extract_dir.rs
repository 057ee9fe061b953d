//! Extracts every `*.html` / `*.html.gz` page of a directory with `html_extractor`'s defaults
//! (or `--favor-precision`) and writes `{page_id: {"articleBody": text}}` as JSON, the input of
//! `shared/tools/score_extraction.py`. Also prints pages/s on one core (parse + extract; reading
//! and gunzip excluded), which is what `benchmarks/bench_extraction.py` reports too.
//!
//! `cargo run --release -p mdf-html --example extract_dir -- DIR OUT.json [--favor-precision] [--repeat N]`

use std::io::Read;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let dir = args
        .get(1)
        .ok_or("usage: extract_dir DIR OUT.json [--favor-precision]")?;
    let out = args
        .get(2)
        .ok_or("usage: extract_dir DIR OUT.json [--favor-precision]")?;
    let favor = args.iter().any(|a| a == "--favor-precision");
    let repeat: usize = args
        .iter()
        .position(|a| a == "--repeat")
        .and_then(|i| args.get(i + 1))
        .map_or(Ok(1), |s| s.parse())?;
    let mut params: mdf_html::HtmlExtractorParams = serde_json::from_str("{}")?;
    params.favor_precision = favor;
    let extractor = mdf_html::Extractor::from_params(&params);
    let mut pages = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let path = e.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let Some(id) = name
            .strip_suffix(".html.gz")
            .or_else(|| name.strip_suffix(".html"))
        else {
            continue;
        };
        let raw = std::fs::read(&path)?;
        let body = if name.ends_with(".gz") {
            let mut v = Vec::new();
            flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut v)?;
            v
        } else {
            raw
        };
        pages.push((id.to_owned(), body));
    }
    if args.iter().any(|a| a == "--parse-only") {
        // Where the time goes: decoding + html5ever tree building alone.
        let start = Instant::now();
        let mut nodes = 0usize;
        for _ in 0..repeat {
            for (_, body) in &pages {
                if let Ok(d) = mdf_html::decode::decode(body, None, None) {
                    if let Ok(dom) = mdf_html::dom::Dom::parse_keeping(
                        &d.text,
                        &extractor.budget,
                        mdf_html::dom::KeptAttributes::ForExtraction,
                    ) {
                        nodes += dom.nodes.len();
                    }
                }
            }
        }
        let secs = start.elapsed().as_secs_f64();
        eprintln!(
            "parse only: {:.1} pages/s ({nodes} nodes)",
            (pages.len() * repeat) as f64 / secs
        );
    }
    let start = Instant::now();
    let mut result = serde_json::Map::new();
    for _ in 0..repeat {
        for (id, body) in &pages {
            let text = match extractor.extract_bytes(body, None, None) {
                Ok(e) => e.text,
                Err(err) => {
                    eprintln!("{id}: {err}");
                    String::new()
                }
            };
            result.insert(id.clone(), serde_json::json!({ "articleBody": text }));
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let n = pages.len() * repeat;
    let bytes: usize = pages.iter().map(|(_, b)| b.len()).sum::<usize>() * repeat;
    eprintln!(
        "{n} pages in {secs:.3} s: {:.1} pages/s, {:.1} MB/s on one core",
        n as f64 / secs,
        bytes as f64 / secs / 1e6
    );
    std::fs::write(out, serde_json::to_string(&result)?)?;
    Ok(())
}
