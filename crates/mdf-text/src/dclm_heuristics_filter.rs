//! `dclm_heuristics_filter`: the document-level heuristics of DCLM-Baseline's "RW v2" config
//! (`mlfoundations/dclm`, `baselines/baselines_configs/dclm_baseline_refinedweb.yaml`), steps 6
//! and 8–15 of §4.1 of the recipe spec. The URL steps (1–5) are `url_filter`, LID (7) is
//! `language_filter` and the line corrections (16–24) are `refinedweb_line_filter`; in the DCLM
//! config LID runs between step 6 and step 8, so a faithful pipeline runs this operator with
//! `newlines: false` after a separate newline pass, or accepts that LID sees the text before the
//! newline collapse (the collapse does not change what LID sees, since LID deletes `\n`).
//!
//! In order, each step switchable, each drop named after its step:
//! 1. `newlines` (step 6): replace each run of ≥ 3 `\n` with `\n\n` (a text rewrite);
//! 2. `dclm_page_length` (8): keep `min_words` (50) ≤ ft-words ≤ `max_words` (100,000);
//! 3. `dclm_word_length` (9): mean `len` of ws-words (`str.split()`) in [3, 10]; no words → drop;
//! 4. `dclm_symbol_ratio` (10): (`text.count("#")` + `count("...")` + `count(". . .")` +
//!    `count("…")`, non-overlapping) / ws-words > 0.1 → drop (no words → ratio 0);
//! 5. `dclm_bullet_lines` (11): lines = `split("\n")`, stripped, empty ones removed; lines
//!    starting with `●`, `•`, `*` or `-` / lines > 0.9 → drop (no lines → ratio 0);
//! 6. `dclm_ellipsis_lines` (12): same lines ending with `...`, `. . .` or `…` / lines > 0.3;
//! 7. `dclm_alpha_words` (13): ws-words without any `isalpha` character / ws-words > 0.2;
//! 8. `dclm_stop_words` (14): fewer than 2 **occurrences** of lower-cased ws-words (punctuation
//!    kept) in {the, be, to, of, and, that, have, with} → drop;
//! 9. repetition (15), DCLM semantics (not datatrove's): segments are `split("\n")` lines or
//!    `split("\n\n")` paragraphs, stripped, empty ones removed; one segment passes, zero drops
//!    (with the reason of the first enabled segment rule). Every occurrence of an element that
//!    appears more than once counts, its first included: `dclm_dup_line_frac` (0.3),
//!    `dclm_dup_para_frac` (0.3) over the segment count, `dclm_dup_line_char_frac` (0.2),
//!    `dclm_dup_para_char_frac` (0.2) over the summed segment lengths. n-gram rules run on
//!    uniseg words (UAX #29 word bounds, keeping tokens whose first character is alphanumeric)
//!    with the summed word lengths as denominator: `dclm_top_{n}_gram` (2/3/4: 0.20/0.18/0.16)
//!    scores (chars of the most frequent n-gram, the longest one on equal counts) × count, only
//!    when the count is ≥ 2; `dclm_duplicated_{n}_n_grams` (5…10: 0.15…0.10) scores the summed
//!    length of the words covered by any n-gram occurring more than once.
//!
//! Every comparison is a strict `>` against the threshold, except the inclusive ranges of steps
//! 2 and 3. Kept rows carry the rewritten text; dropped rows keep their input text.
//! Known differences: UAX #29 tables are those of the `unicode-segmentation` crate (Unicode 16),
//! while Python's `uniseg` follows its own Unicode version; Python predicates are 3.11's.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use unicode_segmentation::UnicodeSegmentation;

use arrow::record_batch::RecordBatch;
use mdf_core::operator::intern_reason;
use mdf_core::{Component, Operator, OperatorKind, Params, Result, Verdicts};

use crate::dclm_words::count_ft_words;
use crate::pystr;
use crate::text_column::rewrite_text_column;

/// Params of `dclm_heuristics_filter`. A ratio threshold of `null` disables its step.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DclmHeuristicsFilterParams {
    /// Column holding the text (rewritten in place). Default: `text`.
    #[serde(default = "d_text")]
    pub text_field: String,
    /// Step 6: replace runs of ≥ 3 `\n` with `\n\n`. Default: true.
    #[serde(default = "yes")]
    pub newlines: bool,
    /// Step 8: check the ft-word count. Default: true.
    #[serde(default = "yes")]
    pub page_length: bool,
    /// Fewest ft-words kept (inclusive). Default: 50.
    #[serde(default = "d_min_words")]
    pub min_words: usize,
    /// Most ft-words kept (inclusive). Default: 100000.
    #[serde(default = "d_max_words")]
    pub max_words: usize,
    /// Step 9: check the mean ws-word length. Default: true.
    #[serde(default = "yes")]
    pub word_length: bool,
    /// Smallest mean ws-word length kept (inclusive). Default: 3.
    #[serde(default = "d_min_word_len")]
    pub min_mean_word_length: f64,
    /// Largest mean ws-word length kept (inclusive). Default: 10.
    #[serde(default = "d_max_word_len")]
    pub max_mean_word_length: f64,
    /// Step 10: drop when (`#` + ellipses) / ws-words > this. Default: 0.1.
    #[serde(default = "d_01")]
    pub max_symbol_ratio: Option<f64>,
    /// Step 11: drop when bullet-start lines / lines > this. Default: 0.9.
    #[serde(default = "d_09")]
    pub max_bullet_lines_ratio: Option<f64>,
    /// Step 12: drop when ellipsis-end lines / lines > this. Default: 0.3.
    #[serde(default = "d_03")]
    pub max_ellipsis_lines_ratio: Option<f64>,
    /// Step 13: drop when ws-words without a letter / ws-words > this. Default: 0.2.
    #[serde(default = "d_02")]
    pub max_non_alpha_words_ratio: Option<f64>,
    /// Step 14: fewest stop-word occurrences kept; `null` disables. Default: 2.
    #[serde(default = "d_min_stop")]
    pub min_stop_words: Option<usize>,
    /// Step 14: the stop words (compared with lower-cased ws-words). Default: the, be, to, of,
    /// and, that, have, with.
    #[serde(default = "d_stop")]
    pub stop_words: Vec<String>,
    /// Step 15: duplicate lines / lines. Default: 0.3.
    #[serde(default = "d_03")]
    pub dup_line_frac: Option<f64>,
    /// Step 15: duplicate paragraphs / paragraphs. Default: 0.3.
    #[serde(default = "d_03")]
    pub dup_para_frac: Option<f64>,
    /// Step 15: characters of duplicate lines / characters of lines. Default: 0.2.
    #[serde(default = "d_02")]
    pub dup_line_char_frac: Option<f64>,
    /// Step 15: characters of duplicate paragraphs / characters of paragraphs. Default: 0.2.
    #[serde(default = "d_02")]
    pub dup_para_char_frac: Option<f64>,
    /// Step 15: `[n, fraction]` pairs for the most frequent uniseg n-gram. Default:
    /// `[[2, 0.2], [3, 0.18], [4, 0.16]]`.
    #[serde(default = "d_top")]
    pub top_n_grams: Vec<(usize, f64)>,
    /// Step 15: `[n, fraction]` pairs for words covered by repeated uniseg n-grams. Default:
    /// `[[5, 0.15], [6, 0.14], [7, 0.13], [8, 0.12], [9, 0.11], [10, 0.10]]`.
    #[serde(default = "d_dup")]
    pub dup_n_grams: Vec<(usize, f64)>,
}

fn d_text() -> String {
    "text".to_owned()
}
fn yes() -> bool {
    true
}
fn d_min_words() -> usize {
    50
}
fn d_max_words() -> usize {
    100_000
}
fn d_min_word_len() -> f64 {
    3.0
}
fn d_max_word_len() -> f64 {
    10.0
}
fn d_01() -> Option<f64> {
    Some(0.1)
}
fn d_02() -> Option<f64> {
    Some(0.2)
}
fn d_03() -> Option<f64> {
    Some(0.3)
}
fn d_09() -> Option<f64> {
    Some(0.9)
}
fn d_min_stop() -> Option<usize> {
    Some(2)
}
fn d_stop() -> Vec<String> {
    ["the", "be", "to", "of", "and", "that", "have", "with"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
}
fn d_top() -> Vec<(usize, f64)> {
    vec![(2, 0.2), (3, 0.18), (4, 0.16)]
}
fn d_dup() -> Vec<(usize, f64)> {
    vec![
        (5, 0.15),
        (6, 0.14),
        (7, 0.13),
        (8, 0.12),
        (9, 0.11),
        (10, 0.10),
    ]
}

impl Default for DclmHeuristicsFilterParams {
    fn default() -> Self {
        DclmHeuristicsFilterParams {
            text_field: d_text(),
            newlines: true,
            page_length: true,
            min_words: d_min_words(),
            max_words: d_max_words(),
            word_length: true,
            min_mean_word_length: d_min_word_len(),
            max_mean_word_length: d_max_word_len(),
            max_symbol_ratio: d_01(),
            max_bullet_lines_ratio: d_09(),
            max_ellipsis_lines_ratio: d_03(),
            max_non_alpha_words_ratio: d_02(),
            min_stop_words: d_min_stop(),
            stop_words: d_stop(),
            dup_line_frac: d_03(),
            dup_para_frac: d_03(),
            dup_line_char_frac: d_02(),
            dup_para_char_frac: d_02(),
            top_n_grams: d_top(),
            dup_n_grams: d_dup(),
        }
    }
}

impl Params for DclmHeuristicsFilterParams {
    fn check(&self) -> std::result::Result<(), String> {
        if self.min_words > self.max_words {
            return Err(format!(
                "min_words ({}) must not exceed max_words ({})",
                self.min_words, self.max_words
            ));
        }
        if !self.min_mean_word_length.is_finite() || !self.max_mean_word_length.is_finite() {
            return Err("mean word lengths must be finite numbers".to_owned());
        }
        if self.min_mean_word_length > self.max_mean_word_length {
            return Err(format!(
                "min_mean_word_length ({}) must not exceed max_mean_word_length ({})",
                self.min_mean_word_length, self.max_mean_word_length
            ));
        }
        for (name, v) in [
            ("max_symbol_ratio", self.max_symbol_ratio),
            ("max_bullet_lines_ratio", self.max_bullet_lines_ratio),
            ("max_ellipsis_lines_ratio", self.max_ellipsis_lines_ratio),
            ("max_non_alpha_words_ratio", self.max_non_alpha_words_ratio),
            ("dup_line_frac", self.dup_line_frac),
            ("dup_para_frac", self.dup_para_frac),
            ("dup_line_char_frac", self.dup_line_char_frac),
            ("dup_para_char_frac", self.dup_para_char_frac),
        ] {
            if let Some(v) = v {
                if !v.is_finite() {
                    return Err(format!("{name} must be a finite number, got {v}"));
                }
            }
        }
        for (name, list) in [
            ("top_n_grams", &self.top_n_grams),
            ("dup_n_grams", &self.dup_n_grams),
        ] {
            if let Some((n, _)) = list.iter().find(|(n, _)| *n == 0) {
                return Err(format!("{name}: n must be at least 1, got {n}"));
            }
        }
        Ok(())
    }
}

/// Drop reason codes; the n-gram ones are `dclm_top_{n}_gram` and `dclm_duplicated_{n}_n_grams`.
pub const PAGE_LENGTH: &str = "dclm_page_length";
pub const WORD_LENGTH: &str = "dclm_word_length";
pub const SYMBOL_RATIO: &str = "dclm_symbol_ratio";
pub const BULLET_LINES: &str = "dclm_bullet_lines";
pub const ELLIPSIS_LINES: &str = "dclm_ellipsis_lines";
pub const ALPHA_WORDS: &str = "dclm_alpha_words";
pub const STOP_WORDS: &str = "dclm_stop_words";
pub const DUP_LINE_FRAC: &str = "dclm_dup_line_frac";
pub const DUP_PARA_FRAC: &str = "dclm_dup_para_frac";
pub const DUP_LINE_CHAR_FRAC: &str = "dclm_dup_line_char_frac";
pub const DUP_PARA_CHAR_FRAC: &str = "dclm_dup_para_char_frac";

pub struct DclmHeuristicsFilter {
    params: DclmHeuristicsFilterParams,
    top: Vec<(usize, f64, &'static str)>,
    dup: Vec<(usize, f64, &'static str)>,
}

impl Component for DclmHeuristicsFilter {
    type Built = dyn Operator;
    type Params = DclmHeuristicsFilterParams;
    const NAME: &'static str = "dclm_heuristics_filter";
    const KIND: OperatorKind = OperatorKind::Filter;
    const SUMMARY: &'static str = "DCLM-Baseline RW-v2 document heuristics: newline collapse, \
         page and word length, symbol, bullet, ellipsis, alphabetic and stop-word rules, and \
         DCLM's line/paragraph/n-gram repetition rules";

    fn build(params: DclmHeuristicsFilterParams) -> Result<Box<dyn Operator>> {
        Ok(Box::new(DclmHeuristicsFilter::new(params)))
    }
}

/// Outcome for one document.
#[derive(Debug, PartialEq, Eq)]
pub enum Judgement<'t> {
    /// Keep, with this (possibly rewritten) text.
    Keep(std::borrow::Cow<'t, str>),
    /// Drop, with this reason code.
    Drop(&'static str),
}

/// Step 6: `re.sub(r"\n{3,}", "\n\n", text)`.
fn collapse_newlines(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains("\n\n\n") {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut run = 0usize;
    for c in text.chars() {
        if c == '\n' {
            run += 1;
            continue;
        }
        push_newlines(&mut out, run);
        run = 0;
        out.push(c);
    }
    push_newlines(&mut out, run);
    std::borrow::Cow::Owned(out)
}

fn push_newlines(out: &mut String, run: usize) {
    for _ in 0..run.min(2) {
        out.push('\n');
    }
}

/// Python's `s.count(sub)`: non-overlapping occurrences (`sub` non-empty).
fn py_count(s: &str, sub: &str) -> usize {
    s.matches(sub).count()
}

/// `ratio > max` with a zero denominator reading as ratio 0.
fn over(num: usize, den: usize, max: Option<f64>) -> bool {
    match max {
        Some(max) if den > 0 => num as f64 / den as f64 > max,
        Some(max) => 0.0 > max,
        None => false,
    }
}

/// Segments of DCLM's repetition rules: split on `sep`, stripped, empty ones removed.
fn segments<'t>(text: &'t str, sep: &str) -> Vec<&'t str> {
    text.split(sep)
        .map(pystr::strip)
        .filter(|s| !s.is_empty())
        .collect()
}

/// (count of segments whose value occurs more than once, their summed `len`, total `len`).
fn dup_stats(segs: &[&str]) -> (usize, usize, usize) {
    let mut counts: HashMap<&str, usize> = HashMap::with_capacity(segs.len());
    for s in segs {
        *counts.entry(s).or_insert(0) += 1;
    }
    let mut dup = 0;
    let mut dup_chars = 0;
    let mut total_chars = 0;
    for s in segs {
        let len = pystr::len(s);
        total_chars += len;
        if counts.get(s).copied().unwrap_or(0) > 1 {
            dup += 1;
            dup_chars += len;
        }
    }
    (dup, dup_chars, total_chars)
}

/// uniseg words: UAX #29 word bounds whose first character is Python-alphanumeric.
pub(crate) fn uniseg_words(text: &str) -> Vec<&str> {
    text.split_word_bounds()
        .filter(|w| w.chars().next().is_some_and(pystr::is_alnum))
        .collect()
}

impl DclmHeuristicsFilter {
    pub fn new(params: DclmHeuristicsFilterParams) -> Self {
        let top = params
            .top_n_grams
            .iter()
            .map(|&(n, f)| (n, f, intern_reason(&format!("dclm_top_{n}_gram"))))
            .collect();
        let dup = params
            .dup_n_grams
            .iter()
            .map(|&(n, f)| (n, f, intern_reason(&format!("dclm_duplicated_{n}_n_grams"))))
            .collect();
        DclmHeuristicsFilter { params, top, dup }
    }

    /// Runs every step on one document.
    pub fn judge<'t>(&self, text: &'t str) -> Judgement<'t> {
        let text = if self.params.newlines {
            collapse_newlines(text)
        } else {
            std::borrow::Cow::Borrowed(text)
        };
        match self.reason(&text) {
            Some(r) => Judgement::Drop(r),
            None => Judgement::Keep(text),
        }
    }

    /// Steps 8–15 on the rewritten text; the drop reason, if any.
    fn reason(&self, text: &str) -> Option<&'static str> {
        let p = &self.params;
        if p.page_length {
            let n = count_ft_words(text);
            if n < p.min_words || n > p.max_words {
                return Some(PAGE_LENGTH);
            }
        }
        let ws: Vec<&str> = text
            .split(pystr::is_space)
            .filter(|w| !w.is_empty())
            .collect();
        if p.word_length {
            if ws.is_empty() {
                return Some(WORD_LENGTH);
            }
            let chars: usize = ws.iter().map(|w| pystr::len(w)).sum();
            let mean = chars as f64 / ws.len() as f64;
            if !(p.min_mean_word_length <= mean && mean <= p.max_mean_word_length) {
                return Some(WORD_LENGTH);
            }
        }
        if p.max_symbol_ratio.is_some() {
            let symbols = py_count(text, "#")
                + py_count(text, "...")
                + py_count(text, ". . .")
                + py_count(text, "\u{2026}");
            if over(symbols, ws.len(), p.max_symbol_ratio) {
                return Some(SYMBOL_RATIO);
            }
        }
        if p.max_bullet_lines_ratio.is_some() || p.max_ellipsis_lines_ratio.is_some() {
            let lines = segments(text, "\n");
            if p.max_bullet_lines_ratio.is_some() {
                let bullets = lines
                    .iter()
                    .filter(|l| l.starts_with(['\u{25cf}', '\u{2022}', '*', '-']))
                    .count();
                if over(bullets, lines.len(), p.max_bullet_lines_ratio) {
                    return Some(BULLET_LINES);
                }
            }
            if p.max_ellipsis_lines_ratio.is_some() {
                let ell = lines
                    .iter()
                    .filter(|l| {
                        l.ends_with("...") || l.ends_with(". . .") || l.ends_with('\u{2026}')
                    })
                    .count();
                if over(ell, lines.len(), p.max_ellipsis_lines_ratio) {
                    return Some(ELLIPSIS_LINES);
                }
            }
        }
        if p.max_non_alpha_words_ratio.is_some() {
            let non_alpha = ws
                .iter()
                .filter(|w| !w.chars().any(pystr::is_alpha))
                .count();
            if over(non_alpha, ws.len(), p.max_non_alpha_words_ratio) {
                return Some(ALPHA_WORDS);
            }
        }
        if let Some(min) = p.min_stop_words {
            let hits = ws.iter().filter(|w| self.is_stop_word(w)).count();
            if hits < min {
                return Some(STOP_WORDS);
            }
        }
        self.repetition(text)
    }

    /// `w.lower()` is a stop word.
    fn is_stop_word(&self, w: &str) -> bool {
        // `lower()` never shortens a word (in code points), so longer words cannot match.
        let max = self
            .params
            .stop_words
            .iter()
            .map(|s| s.chars().count())
            .max()
            .unwrap_or(0);
        if w.chars().count() > max {
            return false;
        }
        let lower = w.to_lowercase();
        self.params.stop_words.contains(&lower)
    }

    fn repetition(&self, text: &str) -> Option<&'static str> {
        let p = &self.params;
        for (sep, frac, frac_reason, chars, chars_reason) in [
            (
                "\n",
                p.dup_line_frac,
                DUP_LINE_FRAC,
                None,
                DUP_LINE_CHAR_FRAC,
            ),
            (
                "\n\n",
                p.dup_para_frac,
                DUP_PARA_FRAC,
                None,
                DUP_PARA_CHAR_FRAC,
            ),
            (
                "\n",
                None,
                DUP_LINE_FRAC,
                p.dup_line_char_frac,
                DUP_LINE_CHAR_FRAC,
            ),
            (
                "\n\n",
                None,
                DUP_PARA_FRAC,
                p.dup_para_char_frac,
                DUP_PARA_CHAR_FRAC,
            ),
        ] {
            if frac.is_none() && chars.is_none() {
                continue;
            }
            let segs = segments(text, sep);
            let reason = if frac.is_some() {
                frac_reason
            } else {
                chars_reason
            };
            match segs.len() {
                0 => return Some(reason),
                1 => continue,
                _ => {}
            }
            let (dup, dup_chars, total_chars) = dup_stats(&segs);
            if over(dup, segs.len(), frac) || over(dup_chars, total_chars, chars) {
                return Some(reason);
            }
        }
        if self.top.is_empty() && self.dup.is_empty() {
            return None;
        }
        let words = uniseg_words(text);
        let lens: Vec<usize> = words.iter().map(|w| pystr::len(w)).collect();
        let total: usize = lens.iter().sum();
        if total == 0 {
            return None;
        }
        for &(n, max, reason) in &self.top {
            if words.len() < n {
                continue;
            }
            let mut counts: HashMap<&[&str], (usize, usize)> = HashMap::new();
            for i in 0..=words.len() - n {
                let e = counts.entry(&words[i..i + n]).or_insert((0, i));
                e.0 += 1;
            }
            let mut best: Option<(usize, usize)> = None; // (count, chars)
            for &(count, first) in counts.values() {
                let chars: usize = lens[first..first + n].iter().sum();
                if best.is_none_or(|b| (count, chars) > b) {
                    best = Some((count, chars));
                }
            }
            if let Some((count, chars)) = best {
                if count >= 2 && (chars * count) as f64 / total as f64 > max {
                    return Some(reason);
                }
            }
        }
        for &(n, max, reason) in &self.dup {
            if words.len() < n {
                continue;
            }
            let mut counts: HashMap<&[&str], usize> = HashMap::new();
            for i in 0..=words.len() - n {
                *counts.entry(&words[i..i + n]).or_insert(0) += 1;
            }
            let mut marked = vec![false; words.len()];
            for i in 0..=words.len() - n {
                if counts.get(&words[i..i + n]).copied().unwrap_or(0) > 1 {
                    marked[i..i + n].iter_mut().for_each(|m| *m = true);
                }
            }
            let dup_chars: usize = lens
                .iter()
                .zip(&marked)
                .filter(|(_, m)| **m)
                .map(|(l, _)| l)
                .sum();
            if dup_chars as f64 / total as f64 > max {
                return Some(reason);
            }
        }
        None
    }
}

impl Operator for DclmHeuristicsFilter {
    fn process(&mut self, batch: RecordBatch, verdicts: &mut Verdicts) -> Result<RecordBatch> {
        let field = self.params.text_field.clone();
        rewrite_text_column(batch, &field, verdicts, |text, column| {
            match self.judge(text) {
                Judgement::Keep(t) => {
                    column.append(Some(&t));
                    Ok(())
                }
                Judgement::Drop(reason) => Err(reason),
            }
        })
    }
}

#[cfg(test)]
#[path = "dclm_heuristics_filter_tests.rs"]
mod tests;
