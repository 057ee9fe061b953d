//! Reads JSON strings (one per line) on stdin and prints each one's words as a JSON list:
//! the tool the tokenizer's differential tests against spaCy use.
use std::io::{BufRead, Write};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut tok = mdf_text::words::WordTokenizer::new();
    let stdin = std::io::stdin();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for line in stdin.lock().lines() {
        let text: String = serde_json::from_str(&line?)?;
        let mut words = Vec::new();
        tok.tokenize(&text, &mut words);
        serde_json::to_writer(&mut out, &words)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}
