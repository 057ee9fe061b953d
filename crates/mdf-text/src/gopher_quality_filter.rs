//! `gopher_quality_filter`: MassiveText's quality heuristics (Gopher, arXiv 2112.11446) exactly
//! as datatrove 0.10.1's `GopherQualityFilter` (spec §1.7, current datatrove column): same params,
//! defaults, rule order and drop reasons.
//!
//! Words are datatrove's English words ([`crate::words`], spaCy blank English; punctuation
//! tokens count in `n_words`). *Non-symbol words* have a character outside datatrove's
//! `PUNCTUATION_SET`. Rules, first match drops: `gopher_short_doc` / `gopher_long_doc` (non-symbol
//! words), `gopher_below_avg_threshold` / `gopher_above_avg_threshold` (mean code points of
//! non-symbol words), `gopher_too_many_hashes` (`#` per word), `gopher_too_many_ellipsis`
//! (`...` and `…` per word), `gopher_too_many_bullets` (lines of `splitlines()` starting with `•`
//! or `-` after `lstrip()`), `gopher_too_many_end_ellipsis` (lines ending with `...` or `…`
//! after `rstrip()`), `gopher_below_alpha_threshold` (words with an alphabetic character), and
//! `gopher_enough_stop_words` (**distinct** stop words present, case-sensitive: datatrove since
//! PR #329; v0.2.0 counted occurrences).
//!
//! A threshold of `null` or 0 disables its rule (datatrove tests them for truthiness). Where
//! datatrove would raise `ZeroDivisionError` (no words, or no lines, with `min_doc_words`
//! disabled) the ratio rules are skipped and the document is kept by them.

use arrow::record_batch::RecordBatch;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use mdf_core::{Component, Operator, OperatorKind, Params, Result, Verdicts};

use crate::gopher_repetition_filter::{d_lang, d_text};
use crate::pystr;
use crate::text_rows::{drop_where, recycle};
use crate::words::{self, tables, WordTokenizer};

/// datatrove's `STOP_WORDS`.
pub const STOP_WORDS: &[&str] = &["the", "be", "to", "of", "and", "that", "have", "with"];

/// Params of `gopher_quality_filter` (datatrove's constructor arguments).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GopherQualityFilterParams {
    /// Drop when there are fewer non-symbol words. `null` or 0 disables. Default: 50.
    #[serde(default = "d_50")]
    pub min_doc_words: Option<u64>,
    /// Drop when there are more non-symbol words. `null` or 0 disables. Default: 100000.
    #[serde(default = "d_100k")]
    pub max_doc_words: Option<u64>,
    /// Drop when the mean length of non-symbol words is below. `null` or 0 disables. Default: 3.
    #[serde(default = "d_3")]
    pub min_avg_word_length: Option<f64>,
    /// Drop when the mean length of non-symbol words is above. `null` or 0 disables. Default: 10.
    #[serde(default = "d_10")]
    pub max_avg_word_length: Option<f64>,
    /// Drop when `#`, or `...` plus `…`, per word is above. `null` or 0 disables. Default: 0.1.
    #[serde(default = "d_01")]
    pub max_symbol_word_ratio: Option<f64>,
    /// Drop when the fraction of lines starting with a bullet (`•`, `-`) is above. `null` or 0
    /// disables. Default: 0.9.
    #[serde(default = "d_09")]
    pub max_bullet_lines_ratio: Option<f64>,
    /// Drop when the fraction of lines ending with an ellipsis is above. `null` or 0 disables.
    /// Default: 0.3.
    #[serde(default = "d_03")]
    pub max_ellipsis_lines_ratio: Option<f64>,
    /// Drop when the fraction of words with an alphabetic character is **below** this (the name
    /// is datatrove's). `null` or 0 disables. Default: 0.8.
    #[serde(default = "d_08")]
    pub max_non_alpha_words_ratio: Option<f64>,
    /// Drop when fewer distinct stop words occur (case-sensitive). `null` or 0 disables.
    /// Default: 2.
    #[serde(default = "d_2")]
    pub min_stop_words: Option<u64>,
    /// The stop words. Default: `null`, datatrove's `["the", "be", "to", "of", "and", "that",
    /// "have", "with"]`.
    #[serde(default)]
    pub stop_words: Option<Vec<String>>,
    /// Language of the word tokenizer (datatrove language code). Only languages datatrove
    /// tokenizes with spaCy's English rules are supported (`eng`, `en`, …). Default: `eng`.
    #[serde(default = "d_lang")]
    pub language: String,
    /// Column holding the text. Default: `text`.
    #[serde(default = "d_text")]
    pub text_field: String,
}

fn d_50() -> Option<u64> {
    Some(50)
}
fn d_100k() -> Option<u64> {
    Some(100_000)
}
fn d_3() -> Option<f64> {
    Some(3.0)
}
fn d_10() -> Option<f64> {
    Some(10.0)
}
fn d_01() -> Option<f64> {
    Some(0.1)
}
fn d_09() -> Option<f64> {
    Some(0.9)
}
fn d_03() -> Option<f64> {
    Some(0.3)
}
fn d_08() -> Option<f64> {
    Some(0.8)
}
fn d_2() -> Option<u64> {
    Some(2)
}

impl Params for GopherQualityFilterParams {
    fn check(&self) -> std::result::Result<(), String> {
        words::check_language(&self.language)
    }
}

/// Drop reason codes (datatrove's).
pub const SHORT_DOC: &str = "gopher_short_doc";
pub const LONG_DOC: &str = "gopher_long_doc";
pub const BELOW_AVG: &str = "gopher_below_avg_threshold";
pub const ABOVE_AVG: &str = "gopher_above_avg_threshold";
pub const TOO_MANY_HASHES: &str = "gopher_too_many_hashes";
pub const TOO_MANY_ELLIPSIS: &str = "gopher_too_many_ellipsis";
pub const TOO_MANY_BULLETS: &str = "gopher_too_many_bullets";
pub const TOO_MANY_END_ELLIPSIS: &str = "gopher_too_many_end_ellipsis";
pub const BELOW_ALPHA: &str = "gopher_below_alpha_threshold";
pub const STOP_WORDS_REASON: &str = "gopher_enough_stop_words";

pub struct GopherQualityFilter {
    params: GopherQualityFilterParams,
    stop_words: Vec<String>,
    found: Vec<bool>,
    tok: WordTokenizer,
    words: Vec<&'static str>,
}

impl Component for GopherQualityFilter {
    type Built = dyn Operator;
    type Params = GopherQualityFilterParams;
    const NAME: &'static str = "gopher_quality_filter";
    const KIND: OperatorKind = OperatorKind::Filter;
    const SUMMARY: &'static str =
        "Gopher quality rules (word counts and lengths, symbols, bullets, stop words), as datatrove 0.10.1";

    fn build(params: GopherQualityFilterParams) -> Result<Box<dyn Operator>> {
        Ok(Box::new(GopherQualityFilter::new(params)))
    }
}

#[inline]
fn on_f(x: Option<f64>) -> Option<f64> {
    x.filter(|&v| v != 0.0)
}

#[inline]
fn on_u(x: Option<u64>) -> Option<u64> {
    x.filter(|&v| v != 0)
}

/// Is `c` in datatrove's `PUNCTUATION_SET`?
#[inline]
fn is_punct(c: char) -> bool {
    if c.is_ascii() {
        // 0-8, 11-31, 127 and the 32 ASCII punctuation marks
        let b = c as u8;
        b <= 8 || (11..=31).contains(&b) || b == 127 || c.is_ascii_punctuation()
    } else {
        pystr::in_ranges(tables::DATATROVE_PUNCTUATION, c)
    }
}

impl GopherQualityFilter {
    pub fn new(params: GopherQualityFilterParams) -> Self {
        let mut stop_words: Vec<String> = match &params.stop_words {
            Some(list) => list.clone(),
            None => STOP_WORDS.iter().map(|s| (*s).to_owned()).collect(),
        };
        stop_words.sort();
        stop_words.dedup();
        GopherQualityFilter {
            found: vec![false; stop_words.len()],
            stop_words,
            params,
            tok: WordTokenizer::new(),
            words: Vec::new(),
        }
    }

    /// The drop reason for `text`, or `None` to keep it.
    pub fn judge(&mut self, text: &str) -> Option<&'static str> {
        let mut words = recycle(std::mem::take(&mut self.words));
        self.tok.tokenize(text, &mut words);
        let verdict = self.judge_words(text, &words);
        self.words = recycle(words);
        verdict
    }

    fn judge_words(&mut self, text: &str, words: &[&str]) -> Option<&'static str> {
        let p = &self.params;
        let n_words = words.len();
        let (mut n_ns, mut ns_chars, mut alpha_words) = (0u64, 0u64, 0u64);
        self.found.iter_mut().for_each(|f| *f = false);
        let max_stop = self.stop_words.iter().map(String::len).max().unwrap_or(0);
        for w in words {
            let (non_punct, alpha, chars) = if w.is_ascii() {
                let (mut np, mut al) = (false, false);
                for &b in w.as_bytes() {
                    np |= !is_punct(b as char);
                    al |= b.is_ascii_alphabetic();
                }
                (np, al, w.len() as u64)
            } else {
                let (mut np, mut al, mut n) = (false, false, 0u64);
                for c in w.chars() {
                    n += 1;
                    np |= !is_punct(c);
                    al |= pystr::is_alpha(c);
                }
                (np, al, n)
            };
            if non_punct {
                n_ns += 1;
                ns_chars += chars;
            }
            alpha_words += alpha as u64;
            if w.len() <= max_stop {
                if let Ok(i) = self.stop_words.binary_search_by(|s| s.as_str().cmp(w)) {
                    self.found[i] = true;
                }
            }
        }

        if on_u(p.min_doc_words).is_some_and(|m| n_ns < m) {
            return Some(SHORT_DOC);
        }
        if on_u(p.max_doc_words).is_some_and(|m| n_ns > m) {
            return Some(LONG_DOC);
        }
        // np.mean of an empty list is nan: both comparisons are false
        let avg = ns_chars as f64 / n_ns as f64;
        if on_f(p.min_avg_word_length).is_some_and(|m| avg < m) {
            return Some(BELOW_AVG);
        }
        if on_f(p.max_avg_word_length).is_some_and(|m| avg > m) {
            return Some(ABOVE_AVG);
        }
        if n_words > 0 {
            let nw = n_words as f64;
            if let Some(r) = on_f(p.max_symbol_word_ratio) {
                let hashes = text.bytes().filter(|&b| b == b'#').count() as f64;
                if hashes / nw > r {
                    return Some(TOO_MANY_HASHES);
                }
                let ellipsis = (text.matches("...").count() + text.matches('…').count()) as f64;
                if ellipsis / nw > r {
                    return Some(TOO_MANY_ELLIPSIS);
                }
            }
        }
        let (bullet_on, ellipsis_on) = (
            on_f(p.max_bullet_lines_ratio),
            on_f(p.max_ellipsis_lines_ratio),
        );
        if bullet_on.is_some() || ellipsis_on.is_some() {
            let (mut lines, mut bullets, mut ellipses) = (0u64, 0u64, 0u64);
            for line in pystr::splitlines(text) {
                lines += 1;
                let l = pystr::lstrip(line);
                bullets += (l.starts_with('•') || l.starts_with('-')) as u64;
                let r = pystr::rstrip(line);
                ellipses += (r.ends_with("...") || r.ends_with('…')) as u64;
            }
            if lines > 0 {
                let nl = lines as f64;
                if bullet_on.is_some_and(|m| bullets as f64 / nl > m) {
                    return Some(TOO_MANY_BULLETS);
                }
                if ellipsis_on.is_some_and(|m| ellipses as f64 / nl > m) {
                    return Some(TOO_MANY_END_ELLIPSIS);
                }
            }
        }
        if n_words > 0
            && on_f(p.max_non_alpha_words_ratio)
                .is_some_and(|m| (alpha_words as f64 / n_words as f64) < m)
        {
            return Some(BELOW_ALPHA);
        }
        if on_u(p.min_stop_words)
            .is_some_and(|m| (self.found.iter().filter(|&&f| f).count() as u64) < m)
        {
            return Some(STOP_WORDS_REASON);
        }
        None
    }
}

impl Operator for GopherQualityFilter {
    fn process(&mut self, batch: RecordBatch, verdicts: &mut Verdicts) -> Result<RecordBatch> {
        let field = self.params.text_field.clone();
        drop_where(&batch, &field, verdicts, |text| self.judge(text));
        Ok(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(json: &str) -> GopherQualityFilter {
        GopherQualityFilter::new(serde_json::from_str(json).expect("params"))
    }

    #[test]
    fn punctuation_set_matches_datatrove() {
        for c in "!/—”:％１〈&(、━\\【#%「」，】；+^]~“《„';’{|∶´[=-`*．（–？！：$～«〉,><》)?）。…@_.\"}►»".chars() {
            assert!(is_punct(c), "{c:?}");
        }
        for c in ['\0', '\x08', '\x0b', '\x1f', '\x7f', '\u{9f}', '।', '?'] {
            assert!(is_punct(c), "{c:?}");
        }
        for c in ['a', '\t', '\n', ' ', '\u{a0}', '0', 'é'] {
            assert!(!is_punct(c), "{c:?}");
        }
    }

    #[test]
    fn rules() {
        let mut f = filter("{}");
        assert_eq!(f.judge("too short"), Some(SHORT_DOC));
        let good =
            "The cat sat on the mat and looked at the birds that flew with the wind. ".repeat(5);
        assert_eq!(f.judge(&good), None);
        let hashes = format!("{good} {}", "#tag ".repeat(20));
        assert_eq!(f.judge(&hashes), Some(TOO_MANY_HASHES));
        let bullets = good
            .split(". ")
            .map(|s| format!("- {s}"))
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(f.judge(&bullets), Some(TOO_MANY_BULLETS));
        let no_stop = good
            .replace("the ", "every ")
            .replace("and ", "or ")
            .replace("that ", "which ")
            .replace("The", "Every");
        assert_eq!(f.judge(&no_stop), Some(STOP_WORDS_REASON));
        let mut off = filter(r#"{"min_doc_words": null, "min_stop_words": 0}"#);
        assert_eq!(off.judge(""), None);
        assert_eq!(off.judge("..."), Some(TOO_MANY_ELLIPSIS));
    }
}
