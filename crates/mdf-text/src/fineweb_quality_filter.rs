//! `fineweb_quality_filter`: datatrove 0.10.1's `FineWebQualityFilter` (FineWeb's own heuristics,
//! spec §1.9 in its current form), rule for rule and in datatrove's order:
//!
//! 1. `lines = text.split("\n")` without the lines that are empty after `strip()`; none left →
//!    `empty`.
//! 2. `line_punct_ratio`: the share of lines ending with a stop character (default: datatrove's
//!    `TERMINAL_PUNCTUATION`, 159 characters) is `< line_punct_thr`, unless it is 0 and
//!    `line_punct_exclude_zero`.
//! 3. `short_line_ratio`: the share of lines with `len(line) <= short_line_length` code points is
//!    `> short_line_thr`.
//! 4. `char_dup_ratio`: the code points of repeated lines (each repeat after the first) over
//!    `len(text.replace("\n", ""))` is `> char_duplicates_ratio`.
//! 5. `list_ratio`: `text.count("\n")` over the number of words (spaCy blank-English tokens, as
//!    datatrove's `split_into_words(text, "eng")`) is `> new_line_ratio`.
//!
//! The FineWeb v1 release ran datatrove 0.2, whose comparisons were `<=`/`>=`, kept empty lines
//! and used NLTK words and `. ' " ! ?` as stop characters; that older variant is not this
//! operator.

use std::collections::HashSet;

use arrow::record_batch::RecordBatch;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use mdf_core::{Component, Operator, OperatorKind, Params, Result, Verdicts};

use crate::pystr::strip;
use crate::text_rewrite::text_or_reject;
use crate::words::{self, WordTokenizer};

/// datatrove's `TERMINAL_PUNCTUATION` (datatrove/utils/text.py, 0.10.1), sorted.
pub const TERMINAL_PUNCTUATION: [char; 159] = [
    '!',
    '.',
    '?',
    '\u{589}',
    '\u{61d}',
    '\u{61e}',
    '\u{61f}',
    '\u{6d4}',
    '\u{700}',
    '\u{701}',
    '\u{702}',
    '\u{7f9}',
    '\u{837}',
    '\u{839}',
    '\u{83d}',
    '\u{83e}',
    '\u{964}',
    '\u{965}',
    '\u{104a}',
    '\u{104b}',
    '\u{1362}',
    '\u{1367}',
    '\u{1368}',
    '\u{166e}',
    '\u{1735}',
    '\u{1736}',
    '\u{17d4}',
    '\u{17d5}',
    '\u{17d6}',
    '\u{17d9}',
    '\u{17da}',
    '\u{1803}',
    '\u{1809}',
    '\u{1944}',
    '\u{1945}',
    '\u{1aa8}',
    '\u{1aa9}',
    '\u{1aaa}',
    '\u{1aab}',
    '\u{1b5a}',
    '\u{1b5b}',
    '\u{1b5e}',
    '\u{1b5f}',
    '\u{1b7d}',
    '\u{1b7e}',
    '\u{1c3b}',
    '\u{1c3c}',
    '\u{1c7e}',
    '\u{1c7f}',
    '\u{203c}',
    '\u{203d}',
    '\u{2047}',
    '\u{2048}',
    '\u{2049}',
    '\u{2e2e}',
    '\u{2e3c}',
    '\u{2e53}',
    '\u{2e54}',
    '\u{3002}',
    '\u{a4ff}',
    '\u{a60e}',
    '\u{a60f}',
    '\u{a6f3}',
    '\u{a6f7}',
    '\u{a876}',
    '\u{a877}',
    '\u{a8ce}',
    '\u{a8cf}',
    '\u{a92f}',
    '\u{a9c8}',
    '\u{a9c9}',
    '\u{aa5d}',
    '\u{aa5e}',
    '\u{aa5f}',
    '\u{aaf0}',
    '\u{aaf1}',
    '\u{abeb}',
    '\u{fe52}',
    '\u{fe56}',
    '\u{fe57}',
    '\u{ff01}',
    '\u{ff0e}',
    '\u{ff1f}',
    '\u{ff61}',
    '\u{10a56}',
    '\u{10a57}',
    '\u{10f55}',
    '\u{10f56}',
    '\u{10f57}',
    '\u{10f58}',
    '\u{10f59}',
    '\u{10f86}',
    '\u{10f87}',
    '\u{10f88}',
    '\u{10f89}',
    '\u{11047}',
    '\u{11048}',
    '\u{110be}',
    '\u{110bf}',
    '\u{110c0}',
    '\u{110c1}',
    '\u{11141}',
    '\u{11142}',
    '\u{11143}',
    '\u{111c5}',
    '\u{111c6}',
    '\u{111cd}',
    '\u{111de}',
    '\u{111df}',
    '\u{11238}',
    '\u{11239}',
    '\u{1123b}',
    '\u{1123c}',
    '\u{112a9}',
    '\u{1144b}',
    '\u{1144c}',
    '\u{115c2}',
    '\u{115c3}',
    '\u{115c9}',
    '\u{115ca}',
    '\u{115cb}',
    '\u{115cc}',
    '\u{115cd}',
    '\u{115ce}',
    '\u{115cf}',
    '\u{115d0}',
    '\u{115d1}',
    '\u{115d2}',
    '\u{115d3}',
    '\u{115d4}',
    '\u{115d5}',
    '\u{115d6}',
    '\u{115d7}',
    '\u{11641}',
    '\u{11642}',
    '\u{1173c}',
    '\u{1173d}',
    '\u{1173e}',
    '\u{11944}',
    '\u{11946}',
    '\u{11a42}',
    '\u{11a43}',
    '\u{11a9b}',
    '\u{11a9c}',
    '\u{11c41}',
    '\u{11c42}',
    '\u{11ef7}',
    '\u{11ef8}',
    '\u{11f43}',
    '\u{11f44}',
    '\u{16a6e}',
    '\u{16a6f}',
    '\u{16af5}',
    '\u{16b37}',
    '\u{16b38}',
    '\u{16b44}',
    '\u{16e98}',
    '\u{1bc9f}',
    '\u{1da88}',
];

/// Params of `fineweb_quality_filter` (names and defaults of datatrove's `FineWebQualityFilter`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FineWebQualityFilterParams {
    /// Drop when the share of lines ending with a stop character is below this. Default: 0.12.
    #[serde(default = "d_line_punct_thr")]
    pub line_punct_thr: f64,
    /// Do not apply the line-punctuation rule when no line at all ends with a stop character.
    /// Default: false.
    #[serde(default)]
    pub line_punct_exclude_zero: bool,
    /// Strings a line may end with to count as punctuated. Default: none, meaning datatrove's
    /// `TERMINAL_PUNCTUATION` (159 sentence-final characters of many scripts).
    #[serde(default)]
    pub stop_chars: Option<Vec<String>>,
    /// Drop when the share of short lines is above this. Default: 0.67.
    #[serde(default = "d_short_line_thr")]
    pub short_line_thr: f64,
    /// A line is short when it has at most this many code points. Default: 30.
    #[serde(default = "d_short_line_length")]
    pub short_line_length: u64,
    /// Drop when the characters of duplicated lines over all non-newline characters is above
    /// this. Default: 0.01.
    #[serde(default = "d_char_duplicates_ratio")]
    pub char_duplicates_ratio: f64,
    /// Drop when newlines per word is above this. Default: 0.3.
    #[serde(default = "d_new_line_ratio")]
    pub new_line_ratio: f64,
    /// Language of the word tokenizer (datatrove language code). Only languages datatrove
    /// tokenizes with spaCy's English rules are supported (`eng`, `en`, …). Default: `eng`.
    #[serde(default = "d_language")]
    pub language: String,
    /// Column holding the text. Default: `text`.
    #[serde(default = "d_text_field")]
    pub text_field: String,
}

fn d_line_punct_thr() -> f64 {
    0.12
}
fn d_short_line_thr() -> f64 {
    0.67
}
fn d_short_line_length() -> u64 {
    30
}
fn d_char_duplicates_ratio() -> f64 {
    0.01
}
fn d_new_line_ratio() -> f64 {
    0.3
}
fn d_language() -> String {
    "eng".to_owned()
}
fn d_text_field() -> String {
    "text".to_owned()
}

impl Params for FineWebQualityFilterParams {
    fn check(&self) -> std::result::Result<(), String> {
        words::check_language(&self.language)
    }
}

/// Drop reason codes (datatrove's).
pub const EMPTY: &str = "empty";
pub const LINE_PUNCT_RATIO: &str = "line_punct_ratio";
pub const SHORT_LINE_RATIO: &str = "short_line_ratio";
pub const CHAR_DUP_RATIO: &str = "char_dup_ratio";
pub const LIST_RATIO: &str = "list_ratio";

pub struct FineWebQualityFilter {
    params: FineWebQualityFilterParams,
    tok: WordTokenizer,
}

impl Component for FineWebQualityFilter {
    type Built = dyn Operator;
    type Params = FineWebQualityFilterParams;
    const NAME: &'static str = "fineweb_quality_filter";
    const KIND: OperatorKind = OperatorKind::Filter;
    const SUMMARY: &'static str = "FineWeb's line heuristics (datatrove FineWebQualityFilter):          punctuated lines, short lines, duplicated-line characters, newlines per word";

    fn build(params: FineWebQualityFilterParams) -> Result<Box<dyn Operator>> {
        Ok(Box::new(FineWebQualityFilter {
            params,
            tok: WordTokenizer::new(),
        }))
    }
}

impl FineWebQualityFilter {
    fn ends_with_stop(&self, line: &str) -> bool {
        match &self.params.stop_chars {
            Some(stops) => stops.iter().any(|s| line.ends_with(s.as_str())),
            None => line
                .chars()
                .next_back()
                .is_some_and(|c| TERMINAL_PUNCTUATION.binary_search(&c).is_ok()),
        }
    }

    /// The drop reason for one text, or `None` to keep it.
    pub fn judge(&mut self, text: &str) -> Option<&'static str> {
        let p = &self.params;
        let lines: Vec<&str> = text.split('\n').filter(|l| !strip(l).is_empty()).collect();
        if lines.is_empty() {
            return Some(EMPTY);
        }
        let n = lines.len() as f64;
        let punct = lines.iter().filter(|l| self.ends_with_stop(l)).count() as f64;
        let ratio = punct / n;
        if ratio < p.line_punct_thr && !(ratio == 0.0 && p.line_punct_exclude_zero) {
            return Some(LINE_PUNCT_RATIO);
        }
        let short = lines
            .iter()
            .filter(|l| l.chars().count() as u64 <= p.short_line_length)
            .count() as f64;
        if short / n > p.short_line_thr {
            return Some(SHORT_LINE_RATIO);
        }
        let mut seen: HashSet<&str> = HashSet::with_capacity(lines.len());
        let mut dup_chars = 0usize;
        for l in &lines {
            if !seen.insert(l) {
                dup_chars += l.chars().count();
            }
        }
        let newlines = text.bytes().filter(|&b| b == b'\n').count();
        let non_newline_chars = text.chars().count() - newlines;
        if dup_chars as f64 / non_newline_chars as f64 > p.char_duplicates_ratio {
            return Some(CHAR_DUP_RATIO);
        }
        let words = self.tok.count_words(text);
        if newlines as f64 / words as f64 > p.new_line_ratio {
            return Some(LIST_RATIO);
        }
        None
    }
}

impl Operator for FineWebQualityFilter {
    fn process(&mut self, batch: RecordBatch, verdicts: &mut Verdicts) -> Result<RecordBatch> {
        let field = self.params.text_field.clone();
        let Some(col) = text_or_reject(&batch, &field, verdicts) else {
            return Ok(batch);
        };
        for row in 0..batch.num_rows() {
            match col.get(row) {
                Some(text) => {
                    if let Some(reason) = self.judge(text) {
                        verdicts.drop_row(row, reason);
                    }
                }
                None => verdicts.reject_row(row, format!("missing_field: `{field}` is null")),
            }
        }
        Ok(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(json: &str) -> FineWebQualityFilter {
        let params: FineWebQualityFilterParams = serde_json::from_str(json).expect("params");
        FineWebQualityFilter {
            params,
            tok: WordTokenizer::new(),
        }
    }

    // Expected reasons checked against datatrove 0.10.1's FineWebQualityFilter().
    #[test]
    fn rules_fire_in_datatrove_order() {
        let mut f = filter("{}");
        assert_eq!(f.judge(" \n\n"), Some(EMPTY));
        assert_eq!(
            f.judge("no stop here\nnor here\nnor there"),
            Some(LINE_PUNCT_RATIO)
        );
        assert_eq!(
            f.judge("Short.\nTiny.\nSmall.\nA long line that has more than thirty characters."),
            Some(SHORT_LINE_RATIO)
        );
        let long = "This sentence is long enough to not count as a short line at all.";
        assert_eq!(f.judge(&format!("{long}\n{long}")), Some(CHAR_DUP_RATIO));
        assert_eq!(
            f.judge("The first line is long enough, and ends well.\nA second line, also long, that ends well.\n\n\n\n\n\n\n"),
            Some(LIST_RATIO)
        );
        assert_eq!(f.judge("The first line is long enough, and ends well.\nA second line, also long, that ends well."), None);
        let mut f = filter(r#"{"line_punct_exclude_zero": true}"#);
        assert_eq!(
            f.judge("no stop here at all, but a long line\nnor here, also a long line to pass"),
            None
        );
    }
}
