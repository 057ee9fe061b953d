//! `refinedweb_line_filter`: RefinedWeb's line-wise corrections (Penedo et al. 2023, §G.2 of
//! arXiv 2306.01116) as executed by DCLM's "RW v2" reimplementation
//! (`mlfoundations/dclm`, `baselines/baselines_configs/dclm_baseline_refinedweb.yaml`, steps
//! `word_counter_enricher` … `word_removal_ratio_filter`; steps 16–24 of §4.1 of the recipe spec).
//!
//! In order, each step switchable:
//! 1. count the ft-words of the text (fastText tokens starting with an alphanumeric character);
//! 2. lines are `split("\n")`; remove lines whose upper-case characters / `len(line)` >
//!    `max_uppercase_ratio` (0.5); empty lines kept; then strip the text;
//! 3. remove lines whose `isdigit` characters / `len(line)` > `max_numeric_ratio` (0.999999); strip;
//! 4. remove social-counter lines: the lower-cased line fully matches
//!    `^\W*\d(?:,|\.|\d)*(?:K|k|M|m|B|b)?\s+(?:likes|shares|…|followers)\W*$`; strip;
//! 5. remove non-empty lines with fewer than `min_line_words` (2) ws-words; **no** strip;
//! 6. in lines of ≤ `boilerplate_max_words` (10) ws-words, delete (case-insensitively) the
//!    regex `\s?(?:items in cart)` anywhere, `\s?(?:read more...)$` at the end and
//!    `^(?:sign-in)\s?` at the start, one rule after the other, each followed by a strip; a line
//!    is removed only when it becomes empty or all-whitespace. ⚠ As in DCLM the banlist entries
//!    are lower-cased regexes, so the unescaped `...` matches any three characters;
//! 7. the document is dropped as soon as a step leaves an empty text
//!    (`rw_empty_after_corrections`);
//! 8. drop if the count of step 1 is 0 (`rw_no_words`) or if (before − after) / before >
//!    `max_removed_ratio` (0.05) ft-words (`rw_word_removal_ratio`).
//!
//! Kept rows carry the corrected text in the text column (dropped rows keep their input text).
//! All predicates follow Python 3.11 (`isupper`, `isdigit`, `isalnum`, `isspace`, `re`'s `\w`,
//! `\d`, `\s`, `re.IGNORECASE`), see [`crate::pystr`]. Known differences: the boilerplate
//! rules run on Rust's `regex` engine, so a custom rule must use syntax both engines read alike
//! (the defaults do; `\s` and the letter `i` are translated to Python's classes); Unicode
//! tables are Python 3.11's (Unicode 14), the DCLM runs may have used another Python.

use std::borrow::Cow;

use arrow::record_batch::RecordBatch;
use regex::Regex;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use mdf_core::{Component, MdfError, Operator, OperatorKind, Params, Result, Verdicts};

use crate::dclm_words::count_ft_words;
use crate::pystr;
use crate::text_column::rewrite_text_column;

/// Where a boilerplate rule matches in a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BoilerplateLocation {
    /// Anywhere: `\s?(?:pattern)`, every occurrence.
    Any,
    /// At the start: `^(?:pattern)\s?`.
    Prefix,
    /// At the end: `\s?(?:pattern)$`.
    Suffix,
}

/// One boilerplate rule (one DCLM `substring_line_modifier` step).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BoilerplateRule {
    /// The pattern, a regex as in DCLM (lower-cased, matched case-insensitively; `.` is a
    /// wildcard). No default: required.
    pub pattern: String,
    /// Where it matches. No default: required.
    pub location: BoilerplateLocation,
}

/// Params of `refinedweb_line_filter`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RefinedwebLineFilterParams {
    /// Column holding the text (rewritten in place). Default: `text`.
    #[serde(default = "default_text_field")]
    pub text_field: String,
    /// Remove mostly upper-case lines. Default: true.
    #[serde(default = "yes")]
    pub uppercase_lines: bool,
    /// A line is removed when upper-case characters / `len(line)` exceeds this. Default: 0.5.
    #[serde(default = "default_max_uppercase_ratio")]
    pub max_uppercase_ratio: f64,
    /// Remove numeric lines. Default: true.
    #[serde(default = "yes")]
    pub numeric_lines: bool,
    /// A line is removed when `isdigit` characters / `len(line)` exceeds this. Default: 0.999999.
    #[serde(default = "default_max_numeric_ratio")]
    pub max_numeric_ratio: f64,
    /// Remove social-counter lines ("1.2k likes"). Default: true.
    #[serde(default = "yes")]
    pub counter_lines: bool,
    /// Remove non-empty lines with fewer than `min_line_words` ws-words. Default: true.
    #[serde(default = "yes")]
    pub short_lines: bool,
    /// Minimum ws-words (`str.split()`) of a kept non-empty line. Default: 2.
    #[serde(default = "default_min_line_words")]
    pub min_line_words: usize,
    /// Apply `boilerplate_rules`. Default: true.
    #[serde(default = "yes")]
    pub boilerplate_lines: bool,
    /// Boilerplate rules apply only to lines of at most this many ws-words. Default: 10.
    #[serde(default = "default_boilerplate_max_words")]
    pub boilerplate_max_words: usize,
    /// Boilerplate rules, applied in order. Default: `items in cart` (any), `Read more...`
    /// (suffix), `Sign-in` (prefix), as in DCLM's RW-v2 config.
    #[serde(default = "default_boilerplate_rules")]
    pub boilerplate_rules: Vec<BoilerplateRule>,
    /// Drop documents that lost too many ft-words to the corrections. Default: true.
    #[serde(default = "yes")]
    pub word_removal_ratio: bool,
    /// Largest allowed (before − after) / before ft-word ratio. Default: 0.05.
    #[serde(default = "default_max_removed_ratio")]
    pub max_removed_ratio: f64,
}

fn default_text_field() -> String {
    "text".to_owned()
}
fn yes() -> bool {
    true
}
fn default_max_uppercase_ratio() -> f64 {
    0.5
}
fn default_max_numeric_ratio() -> f64 {
    0.999999
}
fn default_min_line_words() -> usize {
    2
}
fn default_boilerplate_max_words() -> usize {
    10
}
fn default_max_removed_ratio() -> f64 {
    0.05
}
fn default_boilerplate_rules() -> Vec<BoilerplateRule> {
    vec![
        BoilerplateRule {
            pattern: "items in cart".into(),
            location: BoilerplateLocation::Any,
        },
        BoilerplateRule {
            pattern: "Read more...".into(),
            location: BoilerplateLocation::Suffix,
        },
        BoilerplateRule {
            pattern: "Sign-in".into(),
            location: BoilerplateLocation::Prefix,
        },
    ]
}

impl Default for RefinedwebLineFilterParams {
    fn default() -> Self {
        RefinedwebLineFilterParams {
            text_field: default_text_field(),
            uppercase_lines: true,
            max_uppercase_ratio: default_max_uppercase_ratio(),
            numeric_lines: true,
            max_numeric_ratio: default_max_numeric_ratio(),
            counter_lines: true,
            short_lines: true,
            min_line_words: default_min_line_words(),
            boilerplate_lines: true,
            boilerplate_max_words: default_boilerplate_max_words(),
            boilerplate_rules: default_boilerplate_rules(),
            word_removal_ratio: true,
            max_removed_ratio: default_max_removed_ratio(),
        }
    }
}

impl Params for RefinedwebLineFilterParams {
    fn check(&self) -> std::result::Result<(), String> {
        for (name, v) in [
            ("max_uppercase_ratio", self.max_uppercase_ratio),
            ("max_numeric_ratio", self.max_numeric_ratio),
            ("max_removed_ratio", self.max_removed_ratio),
        ] {
            if !v.is_finite() {
                return Err(format!("{name} must be a finite number, got {v}"));
            }
        }
        for rule in &self.boilerplate_rules {
            compile_rule(rule)?;
        }
        Ok(())
    }
}

/// Python's `\s` (str patterns), which also holds U+001C..U+001F, unlike Rust's `\s`.
const PY_SPACE: &str = r"[\s\x1C-\x1F]";

/// Translates a DCLM banlist entry to the Rust regex of one rule: lower-cased as DCLM does,
/// `\s` widened to Python's set, and the letter `i` widened to the four code points Python's
/// `re.IGNORECASE` matches with it (Rust's simple case folding lacks `İ` and `ı`; it already
/// matches `K` with `k` and `ſ` with `s`, as Python does).
fn translate(pattern: &str) -> String {
    let lowered = pattern.to_lowercase();
    let mut out = String::with_capacity(lowered.len() + 16);
    let mut chars = lowered.chars();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('s') if !in_class => out.push_str(PY_SPACE),
                Some('s') => out.push_str(r"\s\x1C-\x1F"),
                Some(e) => {
                    out.push('\\');
                    out.push(e);
                }
                None => out.push('\\'),
            },
            '[' if !in_class => {
                in_class = true;
                out.push(c);
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            'i' if !in_class => out.push_str("[i\u{130}\u{131}]"),
            'i' => out.push_str("i\u{130}\u{131}"),
            _ => out.push(c),
        }
    }
    out
}

fn compile_rule(rule: &BoilerplateRule) -> std::result::Result<Regex, String> {
    let p = translate(&rule.pattern);
    let full = match rule.location {
        BoilerplateLocation::Any => format!("(?i){PY_SPACE}?(?:{p})"),
        BoilerplateLocation::Prefix => format!("(?i)^(?:{p}){PY_SPACE}?"),
        BoilerplateLocation::Suffix => format!("(?i){PY_SPACE}?(?:{p})$"),
    };
    Regex::new(&full).map_err(|e| format!("boilerplate pattern `{}`: {e}", rule.pattern))
}

/// Drop reason codes.
pub const EMPTY_AFTER_CORRECTIONS: &str = "rw_empty_after_corrections";
pub const NO_WORDS: &str = "rw_no_words";
pub const WORD_REMOVAL_RATIO: &str = "rw_word_removal_ratio";

const COUNTER_WORDS: [&str; 12] = [
    "likes",
    "shares",
    "comments",
    "retweets",
    "reposts",
    "quotes",
    "bookmarks",
    "upvotes",
    "downvotes",
    "downloads",
    "views",
    "followers",
];

/// Whether `line.lower()` fully matches DCLM's counter regex
/// `^\W*\d(?:,|\.|\d)*(?:K|k|M|m|B|b)?\s+(?:likes|…|followers)\W*$` (Python `re`). The regex
/// never needs to backtrack (`\d` ⊂ `\w`, no word is a prefix of another), so it runs as a
/// scan over the lower-cased characters.
fn is_counter_line(line: &str) -> bool {
    // Quick reject: every counter word holds an 's' (none lower-cases to it but 'S').
    if !line.bytes().any(|b| b == b's' || b == b'S') {
        return false;
    }
    let mut it = line.chars().flat_map(char::to_lowercase).peekable();
    // \W*
    while it.next_if(|&c| !pystr::is_word_char(c)).is_some() {}
    // \d
    if it.next_if(|&c| pystr::is_decimal(c)).is_none() {
        return false;
    }
    // (?:,|\.|\d)*
    while it
        .next_if(|&c| c == ',' || c == '.' || pystr::is_decimal(c))
        .is_some()
    {}
    // (?:K|k|M|m|B|b)? on the lower-cased line (the Kelvin sign U+212A lower-cases to `k`)
    it.next_if(|&c| matches!(c, 'k' | 'm' | 'b'));
    // \s+
    if it.next_if(|&c| pystr::is_space(c)).is_none() {
        return false;
    }
    while it.next_if(|&c| pystr::is_space(c)).is_some() {}
    // the word
    let mut word = String::with_capacity(10);
    while let Some(c) = it.next_if(|c| c.is_ascii_lowercase()) {
        word.push(c);
        if word.len() > 9 {
            break;
        }
    }
    // The letters read must be exactly one listed word: a longer run of letters would leave a
    // word character before `\W*$`.
    if !COUNTER_WORDS.contains(&word.as_str()) {
        return false;
    }
    // \W*$
    it.all(|c| !pystr::is_word_char(c))
}

/// What the line rules measure, counted in one pass over the line's characters.
#[derive(Debug, Clone, Copy)]
struct LineStats {
    /// `len(line)`, in code points.
    len: usize,
    /// Characters with `isupper()`.
    upper: usize,
    /// Characters with `isdigit()`.
    digits: usize,
    /// `len(line.split())`.
    ws_words: usize,
}

impl LineStats {
    fn of(line: &str) -> Self {
        let mut st = LineStats {
            len: 0,
            upper: 0,
            digits: 0,
            ws_words: 0,
        };
        let mut in_word = false;
        for c in line.chars() {
            st.len += 1;
            if c.is_ascii() {
                st.upper += usize::from(c.is_ascii_uppercase());
                st.digits += usize::from(c.is_ascii_digit());
            } else {
                st.upper += usize::from(pystr::is_upper(c));
                st.digits += usize::from(pystr::is_digit(c));
            }
            if pystr::is_space(c) {
                in_word = false;
            } else if !in_word {
                in_word = true;
                st.ws_words += 1;
            }
        }
        st
    }

    /// Upper-case characters / `len(line)` > max (empty lines are kept).
    fn too_upper(&self, max: f64) -> bool {
        self.len > 0 && self.upper as f64 / self.len as f64 > max
    }

    /// `isdigit` characters / `len(line)` > max (empty lines are kept).
    fn too_numeric(&self, max: f64) -> bool {
        self.len > 0 && self.digits as f64 / self.len as f64 > max
    }
}

/// A line of the text being corrected, with its statistics kept current.
struct Line<'a> {
    text: Cow<'a, str>,
    stats: LineStats,
}

impl<'a> Line<'a> {
    fn new(text: Cow<'a, str>) -> Self {
        let stats = LineStats::of(&text);
        Line { text, stats }
    }

    /// Applies a trim; recounts only when it removed something.
    fn trim(&mut self, f: impl Fn(&str) -> &str) {
        let before = self.text.len();
        match &mut self.text {
            Cow::Borrowed(s) => *s = f(s),
            Cow::Owned(s) => {
                let t = f(s);
                if t.len() != s.len() {
                    self.text = Cow::Owned(t.to_owned());
                }
            }
        }
        if self.text.len() != before {
            self.stats = LineStats::of(&self.text);
        }
    }
}

/// The lines of the text being corrected; the text is `lines.join("\n")`.
type Lines<'a> = Vec<Line<'a>>;

fn is_empty_doc(lines: &Lines<'_>) -> bool {
    lines.is_empty() || (lines.len() == 1 && lines[0].text.is_empty())
}

/// `"\n".join(lines).strip()` expressed on the lines; returns false when the text is empty.
fn strip_doc(lines: &mut Lines<'_>) -> bool {
    // A line is all whitespace (or empty) exactly when it has no ws-word.
    let Some(first) = lines.iter().position(|l| l.stats.ws_words > 0) else {
        lines.clear();
        return false;
    };
    lines.drain(..first);
    let last = lines
        .iter()
        .rposition(|l| l.stats.ws_words > 0)
        .unwrap_or(0);
    lines.truncate(last + 1);
    lines[0].trim(|s| s.trim_start_matches(pystr::is_space));
    let n = lines.len() - 1;
    lines[n].trim(|s| s.trim_end_matches(pystr::is_space));
    true
}

pub struct RefinedwebLineFilter {
    params: RefinedwebLineFilterParams,
    rules: Vec<Regex>,
    out: String,
}

impl Component for RefinedwebLineFilter {
    type Built = dyn Operator;
    type Params = RefinedwebLineFilterParams;
    const NAME: &'static str = "refinedweb_line_filter";
    const KIND: OperatorKind = OperatorKind::Filter;
    const SUMMARY: &'static str = "RefinedWeb line-wise corrections as in DCLM RW-v2 (upper-case, \
         numeric, counter, short and boilerplate lines); rewrites the text and drops documents \
         that lose more than 5% of their words";

    fn build(params: RefinedwebLineFilterParams) -> Result<Box<dyn Operator>> {
        Ok(Box::new(RefinedwebLineFilter::new(params)?))
    }
}

/// Outcome for one document.
#[cfg(test)]
#[derive(Debug, PartialEq, Eq)]
pub enum Correction {
    /// Keep, with this corrected text.
    Keep(String),
    /// Drop, with this reason code.
    Drop(&'static str),
}

impl RefinedwebLineFilter {
    pub fn new(params: RefinedwebLineFilterParams) -> Result<Self> {
        let rules = params
            .boilerplate_rules
            .iter()
            .map(compile_rule)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(MdfError::config)?;
        Ok(RefinedwebLineFilter {
            params,
            rules,
            out: String::new(),
        })
    }

    /// Runs the corrections on `text`; on keep, the corrected text is left in `out`.
    fn correct_into(&self, text: &str, out: &mut String) -> std::result::Result<(), &'static str> {
        let p = &self.params;
        let before = if p.word_removal_ratio {
            count_ft_words(text)
        } else {
            0
        };
        let mut lines: Lines<'_> = text
            .split('\n')
            .map(|l| Line::new(Cow::Borrowed(l)))
            .collect();
        let step = |lines: &mut Lines<'_>, remove: &dyn Fn(&Line<'_>) -> bool| {
            lines.retain(|l| !remove(l));
            strip_doc(lines)
        };
        if p.uppercase_lines && !step(&mut lines, &|l| l.stats.too_upper(p.max_uppercase_ratio)) {
            return Err(EMPTY_AFTER_CORRECTIONS);
        }
        if p.numeric_lines && !step(&mut lines, &|l| l.stats.too_numeric(p.max_numeric_ratio)) {
            return Err(EMPTY_AFTER_CORRECTIONS);
        }
        if p.counter_lines && !step(&mut lines, &|l| is_counter_line(&l.text)) {
            return Err(EMPTY_AFTER_CORRECTIONS);
        }
        if p.short_lines {
            lines.retain(|l| l.text.is_empty() || l.stats.ws_words >= p.min_line_words);
            if is_empty_doc(&lines) {
                return Err(EMPTY_AFTER_CORRECTIONS);
            }
        }
        if p.boilerplate_lines {
            for re in &self.rules {
                lines.retain_mut(|line| {
                    if line.stats.ws_words > p.boilerplate_max_words {
                        return true;
                    }
                    let Cow::Owned(modified) = re.replace_all(&line.text, "") else {
                        return true;
                    };
                    if !line.text.is_empty() && (modified.is_empty() || pystr::isspace(&modified)) {
                        return false;
                    }
                    *line = Line::new(Cow::Owned(modified));
                    true
                });
                if !strip_doc(&mut lines) {
                    return Err(EMPTY_AFTER_CORRECTIONS);
                }
            }
        }
        out.clear();
        for (i, l) in lines.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out.push_str(&l.text);
        }
        if out.is_empty() {
            return Err(EMPTY_AFTER_CORRECTIONS);
        }
        if p.word_removal_ratio {
            if before == 0 {
                return Err(NO_WORDS);
            }
            let after = count_ft_words(out);
            let removed = (before as f64 - after as f64) / before as f64;
            if removed > p.max_removed_ratio {
                return Err(WORD_REMOVAL_RATIO);
            }
        }
        Ok(())
    }

    /// Corrects one document (for tests).
    #[cfg(test)]
    pub fn correct(&self, text: &str) -> Correction {
        let mut out = String::new();
        match self.correct_into(text, &mut out) {
            Ok(()) => Correction::Keep(out),
            Err(reason) => Correction::Drop(reason),
        }
    }
}

impl Operator for RefinedwebLineFilter {
    fn process(&mut self, batch: RecordBatch, verdicts: &mut Verdicts) -> Result<RecordBatch> {
        let field = self.params.text_field.clone();
        let mut out = std::mem::take(&mut self.out);
        let this = &*self;
        let batch = rewrite_text_column(batch, &field, verdicts, |text, column| {
            this.correct_into(text, &mut out)
                .map(|()| column.append(Some(&out)))
        });
        self.out = out;
        batch
    }
}

#[cfg(test)]
#[path = "refinedweb_line_filter_tests.rs"]
mod tests;
