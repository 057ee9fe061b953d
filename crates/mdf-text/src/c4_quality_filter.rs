//! `c4_quality_filter`: datatrove 0.10.1's `C4QualityFilter` (the C4 line rules of Raffel et al.,
//! as FineWeb runs them), reproduced rule for rule. It works line by line and **rewrites the text**:
//! lines that fail a line rule are removed, and a kept document's text becomes its kept lines
//! joined by `\n`, then stripped. Later operators see the rewritten text.
//!
//! For each line of `text.splitlines()` (or, with `split_paragraph: false`, of datatrove's
//! `split_into_sentences`), in this order: strip it; `words = line.split()`; drop the line if a word
//! is longer than `max_word_length` code points; remove citation markers (`[12]`, `[]`, `[edit]`,
//! `[citation needed]`); drop it if `filter_no_terminal_punct` and it does not end in
//! `. ? ! " '` or ends in `...`; drop it if `len(words) < min_words_per_line` (words counted before
//! the citation removal); on the lower-cased line: `lorem ipsum` drops the **document**
//! (`lorem_ipsum`), `javascript` drops the line; `{` in the line drops the **document**
//! (`curly_bracket`); a policy phrase (`terms of use`, `privacy policy`, `cookie policy`,
//! `uses cookies`, `use of cookies`, `use cookies`) drops the line. A kept line adds its number of
//! sentences (spaCy's English sentencizer, as datatrove ≥ 0.7 uses for `eng`; see
//! [`crate::words`]); the document is dropped as `too_few_sentences` below
//! `min_num_sentences`.
//!
//! Defaults are datatrove's. FineWeb sets `filter_no_terminal_punct: false`. The FineWeb v1 paper
//! era (datatrove 0.2) counted sentences with NLTK Punkt instead of spaCy; that is not reproduced.
//! datatrove's per-line counters (`line-filter-javascript`, ...) are not reported: only document
//! drops are counted in stats.

use std::borrow::Cow;
use std::sync::OnceLock;

use arrow::record_batch::RecordBatch;
use regex::Regex;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use mdf_core::{Component, MdfError, Operator, OperatorKind, Params, Result, Verdicts};

use crate::pystr::{split_whitespace, splitlines, strip};
use crate::text_rewrite::{replace_text, text_or_reject};
use crate::words::{self, WordTokenizer};

/// Params of `c4_quality_filter` (names and defaults of datatrove's `C4QualityFilter`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct C4QualityFilterParams {
    /// Apply the rules to each line of `splitlines()` (true, as C4) or to each sentence, rejoined
    /// with spaces (false). Default: true.
    #[serde(default = "yes")]
    pub split_paragraph: bool,
    /// Remove Wikipedia-style citation markers (`[1]`, `[edit]`, `[citation needed]`). Default:
    /// true.
    #[serde(default = "yes")]
    pub remove_citations: bool,
    /// Remove lines that do not end in terminal punctuation (`. ? ! " '`) or that end in `...`.
    /// Default: true (FineWeb sets false).
    #[serde(default = "yes")]
    pub filter_no_terminal_punct: bool,
    /// Drop documents with fewer sentences (counted over the kept lines); -1 disables. Default: 5.
    #[serde(default = "five")]
    pub min_num_sentences: i64,
    /// Remove lines with fewer whitespace-separated words; -1 disables. Default: 3.
    #[serde(default = "three")]
    pub min_words_per_line: i64,
    /// Remove lines with a word longer than this many code points; -1 disables. Default: 1000.
    #[serde(default = "thousand")]
    pub max_word_length: i64,
    /// Drop documents containing "lorem ipsum" (any case). Default: true.
    #[serde(default = "yes")]
    pub filter_lorem_ipsum: bool,
    /// Remove lines mentioning "javascript" (any case). Default: true.
    #[serde(default = "yes")]
    pub filter_javascript: bool,
    /// Drop documents with a `{` in a line that reached that rule. Default: true.
    #[serde(default = "yes")]
    pub filter_curly_bracket: bool,
    /// Remove lines with a cookie / terms-of-use / privacy-policy phrase. Default: true.
    #[serde(default = "yes")]
    pub filter_policy: bool,
    /// Language of the sentence splitter (datatrove language code). Only languages datatrove
    /// tokenizes with spaCy's English rules are supported (`eng`, `en`, …). Default: `eng`.
    #[serde(default = "eng")]
    pub language: String,
    /// Column holding the text; it is rewritten in place. Default: `text`.
    #[serde(default = "default_text_field")]
    pub text_field: String,
}

fn yes() -> bool {
    true
}
fn five() -> i64 {
    5
}
fn three() -> i64 {
    3
}
fn thousand() -> i64 {
    1000
}
fn eng() -> String {
    "eng".to_owned()
}
fn default_text_field() -> String {
    "text".to_owned()
}

impl Params for C4QualityFilterParams {
    fn check(&self) -> std::result::Result<(), String> {
        words::check_language(&self.language)?;
        for (name, v) in [
            ("min_num_sentences", self.min_num_sentences),
            ("min_words_per_line", self.min_words_per_line),
            ("max_word_length", self.max_word_length),
        ] {
            if v < -1 {
                return Err(format!(
                    "{name} must be -1 (disabled) or at least 0, not {v}"
                ));
            }
        }
        Ok(())
    }
}

/// Drop reason codes (datatrove's).
pub const LOREM_IPSUM: &str = "lorem_ipsum";
pub const CURLY_BRACKET: &str = "curly_bracket";
pub const TOO_FEW_SENTENCES: &str = "too_few_sentences";

const POLICY_SUBSTRINGS: [&str; 6] = [
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
];

fn citation_regex() -> std::result::Result<&'static Regex, String> {
    static RE: OnceLock<std::result::Result<Regex, String>> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"\[\d*]|\[edit]|\[citation needed]").map_err(|e| e.to_string()))
        .as_ref()
        .map_err(Clone::clone)
}

pub struct C4QualityFilter {
    params: C4QualityFilterParams,
    tok: WordTokenizer,
    citation: &'static Regex,
    /// Reused lower-case copy of the current line.
    lower: String,
}

impl Component for C4QualityFilter {
    type Built = dyn Operator;
    type Params = C4QualityFilterParams;
    const NAME: &'static str = "c4_quality_filter";
    const KIND: OperatorKind = OperatorKind::Filter;
    const SUMMARY: &'static str =
        "C4 line rules (datatrove C4QualityFilter): removes bad lines, rewrites the text, drops \
         documents with lorem ipsum, curly brackets or too few sentences";

    fn build(params: C4QualityFilterParams) -> Result<Box<dyn Operator>> {
        let citation = citation_regex().map_err(MdfError::internal)?;
        Ok(Box::new(C4QualityFilter {
            params,
            tok: WordTokenizer::new(),
            citation,
            lower: String::new(),
        }))
    }
}

/// What the rules make of one document.
#[derive(Debug, PartialEq)]
pub enum C4Outcome {
    Keep(String),
    Drop(&'static str),
}

impl C4QualityFilter {
    /// Applies the rules to one text.
    pub fn judge(&mut self, text: &str) -> C4Outcome {
        let p = &self.params;
        let mut out = String::with_capacity(text.len());
        let mut num_sentences: i64 = 0;
        let mut n_kept = 0usize;
        let sep = if p.split_paragraph { "\n" } else { " " };
        let sentences;
        let mut line_iter: Box<dyn Iterator<Item = &str>> = if p.split_paragraph {
            Box::new(splitlines(text))
        } else {
            sentences = self.tok.split_into_sentences(text);
            Box::new(sentences.iter().copied())
        };
        for raw in &mut line_iter {
            let line = strip(raw);
            let mut n_words: i64 = 0;
            let mut too_long = false;
            for w in split_whitespace(line) {
                n_words += 1;
                if p.max_word_length != -1
                    && w.len() as i64 > p.max_word_length
                    && w.chars().count() as i64 > p.max_word_length
                {
                    too_long = true;
                    break;
                }
            }
            if too_long {
                continue;
            }
            let line: Cow<'_, str> = if p.remove_citations && line.contains('[') {
                self.citation.replace_all(line, "")
            } else {
                Cow::Borrowed(line)
            };
            if p.filter_no_terminal_punct
                && (!line.ends_with(['.', '?', '!', '"', '\'']) || line.ends_with("..."))
            {
                continue;
            }
            if n_words < p.min_words_per_line {
                continue;
            }
            self.lower.clear();
            if line.is_ascii() {
                self.lower.push_str(&line);
                self.lower.make_ascii_lowercase();
            } else {
                self.lower.extend(line.chars().flat_map(char::to_lowercase));
            }
            let lower = self.lower.as_str();
            if p.filter_lorem_ipsum && lower.contains("lorem ipsum") {
                return C4Outcome::Drop(LOREM_IPSUM);
            }
            if p.filter_javascript && lower.contains("javascript") {
                continue;
            }
            if p.filter_curly_bracket && line.contains('{') {
                return C4Outcome::Drop(CURLY_BRACKET);
            }
            if p.filter_policy && POLICY_SUBSTRINGS.iter().any(|s| lower.contains(s)) {
                continue;
            }
            if p.min_num_sentences != -1 {
                num_sentences += if p.split_paragraph {
                    self.tok.count_sentences(&line) as i64
                } else {
                    1
                };
            }
            if n_kept > 0 {
                out.push_str(sep);
            }
            out.push_str(&line);
            n_kept += 1;
        }
        if num_sentences < p.min_num_sentences {
            return C4Outcome::Drop(TOO_FEW_SENTENCES);
        }
        let stripped = strip(&out);
        if stripped.len() != out.len() {
            out = stripped.to_owned();
        }
        C4Outcome::Keep(out)
    }
}

impl Operator for C4QualityFilter {
    fn process(&mut self, batch: RecordBatch, verdicts: &mut Verdicts) -> Result<RecordBatch> {
        let field = self.params.text_field.clone();
        let Some(col) = text_or_reject(&batch, &field, verdicts) else {
            return Ok(batch);
        };
        let mut values: Vec<Option<Cow<'_, str>>> = Vec::with_capacity(batch.num_rows());
        for row in 0..batch.num_rows() {
            match col.get(row) {
                Some(text) => match self.judge(text) {
                    C4Outcome::Keep(new) => values.push(Some(Cow::Owned(new))),
                    C4Outcome::Drop(reason) => {
                        verdicts.drop_row(row, reason);
                        values.push(Some(Cow::Borrowed(text)));
                    }
                },
                None => {
                    verdicts.reject_row(row, format!("missing_field: `{field}` is null"));
                    values.push(None);
                }
            }
        }
        replace_text(&batch, &field, col, &values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray, StringArray};
    use std::sync::Arc;

    fn fineweb() -> C4QualityFilter {
        let mut p: C4QualityFilterParams = serde_json::from_str("{}").expect("defaults");
        p.filter_no_terminal_punct = false;
        C4QualityFilter {
            params: p,
            tok: WordTokenizer::new(),
            citation: citation_regex().expect("regex"),
            lower: String::new(),
        }
    }

    // Expected outputs checked against datatrove 0.10.1's C4QualityFilter(filter_no_terminal_punct=False).
    #[test]
    fn rewrites_lines_like_datatrove() {
        let mut f = fineweb();
        let text = "Menu\nThis is the first sentence. And a second one here.[1]\n\
                    Please enable JavaScript to view.\nWe use cookies on this site ok.\n\
                    Third sentence is here. Fourth one follows! Fifth, at last?\n";
        assert_eq!(
            f.judge(text),
            C4Outcome::Keep(
                "This is the first sentence. And a second one here.\n\
                 Third sentence is here. Fourth one follows! Fifth, at last?"
                    .into()
            )
        );
        assert_eq!(
            f.judge("One two three four. Five six seven."),
            C4Outcome::Drop(TOO_FEW_SENTENCES)
        );
        assert_eq!(
            f.judge("Lorem Ipsum dolor sit amet.\nmore"),
            C4Outcome::Drop(LOREM_IPSUM)
        );
        assert_eq!(f.judge("a b c { d\n"), C4Outcome::Drop(CURLY_BRACKET));
        // A line with fewer than 3 words is removed before the bracket rule sees it.
        assert_eq!(f.judge("a {\n"), C4Outcome::Drop(TOO_FEW_SENTENCES));
    }

    #[test]
    fn terminal_punct_rule_when_enabled() {
        let mut f = fineweb();
        f.params.filter_no_terminal_punct = true;
        f.params.min_num_sentences = 1;
        assert_eq!(
            f.judge("no punct at the end\nHas an end, ok.\nTrailing dots here..."),
            C4Outcome::Keep("Has an end, ok.".into())
        );
    }

    #[test]
    fn rewrites_the_column_and_rejects_nulls() {
        let mut f = fineweb();
        f.params.min_num_sentences = 1;
        let arr = StringArray::from(vec![
            Some("x\nKeep this line please."),
            None,
            Some("a {b c"),
        ]);
        let batch = RecordBatch::try_from_iter([("text", Arc::new(arr) as _)]).expect("batch");
        let mut v = Verdicts::default();
        let out = f.process(batch, &mut v).expect("process");
        let col = out.column(0).as_string::<i32>();
        assert_eq!(col.value(0), "Keep this line please.");
        assert!(col.is_null(1));
        assert_eq!(v.dropped(), &[(2, CURLY_BRACKET)]);
        assert_eq!(v.rejected().len(), 1);
    }

    #[test]
    fn params_are_checked() {
        let p: C4QualityFilterParams =
            serde_json::from_str(r#"{"language": "fra"}"#).expect("parse");
        assert!(p.check().is_err());
        let p: C4QualityFilterParams =
            serde_json::from_str(r#"{"min_num_sentences": -2}"#).expect("parse");
        assert!(p.check().is_err());
    }
}
