//! `gopher_repetition_filter`: MassiveText's repetition rules (Gopher, arXiv 2112.11446,
//! Table A1) exactly as datatrove 0.10.1's `GopherRepetitionFilter` (spec §1.6, current
//! datatrove column): same params, defaults, rule order and drop reasons.
//!
//! - *Paragraphs* are `text.strip()` split on `\n{2,}`; *lines* are `text` split on `\n+` (no
//!   empty lines except a leading/trailing one, as `re.split` gives). For each, every occurrence
//!   after the first of an element counts as a duplicate and adds its length (code points).
//! - *Words* are datatrove's English words ([`crate::words`], spaCy blank English, punctuation
//!   tokens included). `top_{n}_gram`: the most common n-gram (words joined by one space, ties
//!   to the first seen) times its count, over `len(text)`. `duplicated_{n}_n_grams`: the greedy
//!   scan over n-grams concatenated without spaces.
//!
//! Ratios use `len(text)` in code points. An empty text is dropped as `empty`. A threshold of
//! `null` (or 0 for the four line/paragraph fractions, which datatrove tests for truthiness)
//! disables its rule. N-grams are keyed by a polynomial hash and confirmed by comparing
//! the words, so hash collisions cannot change a decision.
//!
//! Known difference from datatrove v0.2.0 (the FineWeb release): that version split lines with
//! `splitlines()` (empty lines count as duplicates) and used NLTK words; this is the current
//! behaviour.

use arrow::record_batch::RecordBatch;
use hashbrown::HashTable;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use mdf_core::operator::intern_reason;
use mdf_core::{Component, Operator, OperatorKind, Params, Result, Verdicts};

use crate::pystr;
use crate::text_rows::{drop_where, recycle};
use crate::words::{self, WordTokenizer};

/// Params of `gopher_repetition_filter` (datatrove's constructor arguments).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GopherRepetitionFilterParams {
    /// Drop when duplicate lines / lines > this. `null` or 0 disables. Default: 0.3.
    #[serde(default = "d_03")]
    pub dup_line_frac: Option<f64>,
    /// Drop when duplicate paragraphs / paragraphs > this. `null` or 0 disables. Default: 0.3.
    #[serde(default = "d_03")]
    pub dup_para_frac: Option<f64>,
    /// Drop when characters in duplicate lines / `len(text)` > this. `null` or 0 disables.
    /// Default: 0.2.
    #[serde(default = "d_02")]
    pub dup_line_char_frac: Option<f64>,
    /// Drop when characters in duplicate paragraphs / `len(text)` > this. `null` or 0 disables.
    /// Default: 0.2.
    #[serde(default = "d_02")]
    pub dup_para_char_frac: Option<f64>,
    /// `[n, fraction]` pairs: drop when the most common word n-gram's characters × its count /
    /// `len(text)` > fraction (reason `top_{n}_gram`). Default: `[[2, 0.2], [3, 0.18], [4, 0.16]]`.
    #[serde(default = "d_top")]
    pub top_n_grams: Vec<(usize, f64)>,
    /// `[n, fraction]` pairs: drop when the characters of repeated word n-grams (greedy scan) /
    /// `len(text)` > fraction (reason `duplicated_{n}_n_grams`). Default: `[[5, 0.15], [6, 0.14],
    /// [7, 0.13], [8, 0.12], [9, 0.11], [10, 0.10]]`.
    #[serde(default = "d_dup")]
    pub dup_n_grams: Vec<(usize, f64)>,
    /// Language of the word tokenizer (datatrove language code). Only languages datatrove
    /// tokenizes with spaCy's English rules are supported (`eng`, `en`, …). Default: `eng`.
    #[serde(default = "d_lang")]
    pub language: String,
    /// Column holding the text. Default: `text`.
    #[serde(default = "d_text")]
    pub text_field: String,
}

fn d_03() -> Option<f64> {
    Some(0.3)
}
fn d_02() -> Option<f64> {
    Some(0.2)
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
pub(crate) fn d_lang() -> String {
    "eng".to_owned()
}
pub(crate) fn d_text() -> String {
    "text".to_owned()
}

impl Params for GopherRepetitionFilterParams {
    fn check(&self) -> std::result::Result<(), String> {
        words::check_language(&self.language)?;
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

/// Drop reason codes (datatrove's); the n-gram ones are `top_{n}_gram` and
/// `duplicated_{n}_n_grams`.
pub const EMPTY: &str = "empty";
pub const DUP_PARA_FRAC: &str = "dup_para_frac";
pub const DUP_PARA_CHAR_FRAC: &str = "dup_para_char_frac";
pub const DUP_LINE_FRAC: &str = "dup_line_frac";
pub const DUP_LINE_CHAR_FRAC: &str = "dup_line_char_frac";

pub struct GopherRepetitionFilter {
    params: GopherRepetitionFilterParams,
    top: Vec<(usize, f64, &'static str)>,
    dup: Vec<(usize, f64, &'static str)>,
    tok: WordTokenizer,
    scratch: Scratch,
    words: Vec<&'static str>,
}

impl Component for GopherRepetitionFilter {
    type Built = dyn Operator;
    type Params = GopherRepetitionFilterParams;
    const NAME: &'static str = "gopher_repetition_filter";
    const KIND: OperatorKind = OperatorKind::Filter;
    const SUMMARY: &'static str =
        "Gopher repetition rules (duplicate lines, paragraphs and n-grams), as datatrove 0.10.1";

    fn build(params: GopherRepetitionFilterParams) -> Result<Box<dyn Operator>> {
        Ok(Box::new(GopherRepetitionFilter::new(params)))
    }
}

impl GopherRepetitionFilter {
    pub fn new(params: GopherRepetitionFilterParams) -> Self {
        let top = params
            .top_n_grams
            .iter()
            .map(|&(n, f)| (n, f, intern_reason(&format!("top_{n}_gram"))))
            .collect();
        let dup = params
            .dup_n_grams
            .iter()
            .map(|&(n, f)| (n, f, intern_reason(&format!("duplicated_{n}_n_grams"))))
            .collect();
        GopherRepetitionFilter {
            params,
            top,
            dup,
            tok: WordTokenizer::new(),
            scratch: Scratch::default(),
            words: Vec::new(),
        }
    }
}

/// `x` is set and truthy (Python `if x and ...`).
#[inline]
fn on(x: Option<f64>) -> Option<f64> {
    x.filter(|&v| v != 0.0)
}

impl GopherRepetitionFilter {
    /// The drop reason for `text`, or `None` to keep it.
    pub fn judge(&mut self, text: &str) -> Option<&'static str> {
        let mut words = recycle(std::mem::take(&mut self.words));
        let verdict = self.judge_with(text, &mut words);
        self.words = recycle(words);
        verdict
    }

    fn judge_with<'t>(&mut self, text: &'t str, words: &mut Vec<&'t str>) -> Option<&'static str> {
        if text.is_empty() {
            return Some(EMPTY);
        }
        let p = &self.params;
        let s = &mut self.scratch;
        let len = pystr::len(text) as f64;

        paragraphs(pystr::strip(text), &mut s.ranges);
        let base = pystr::strip(text).as_ptr() as usize - text.as_ptr() as usize;
        s.ranges.iter_mut().for_each(|r| {
            r.0 += base;
            r.1 += base;
        });
        let (dups, dup_chars) = s.find_duplicates(text);
        let n = s.ranges.len() as f64;
        if on(p.dup_para_frac).is_some_and(|f| dups as f64 / n > f) {
            return Some(DUP_PARA_FRAC);
        }
        if on(p.dup_para_char_frac).is_some_and(|f| dup_chars as f64 / len > f) {
            return Some(DUP_PARA_CHAR_FRAC);
        }

        lines(text, &mut s.ranges);
        let (dups, dup_chars) = s.find_duplicates(text);
        let n = s.ranges.len() as f64;
        if on(p.dup_line_frac).is_some_and(|f| dups as f64 / n > f) {
            return Some(DUP_LINE_FRAC);
        }
        if on(p.dup_line_char_frac).is_some_and(|f| dup_chars as f64 / len > f) {
            return Some(DUP_LINE_CHAR_FRAC);
        }

        if self.top.is_empty() && self.dup.is_empty() {
            return None;
        }
        self.tok.tokenize(text, words);
        s.prepare_words(words);
        for &(n, frac, reason) in &self.top {
            if words.len() < n {
                continue;
            }
            if s.top_ngram_chars(words, n) as f64 / len > frac {
                return Some(reason);
            }
        }
        for &(n, frac, reason) in &self.dup {
            if s.repeated_ngram_chars(words, n) as f64 / len > frac {
                return Some(reason);
            }
        }
        None
    }
}

impl Operator for GopherRepetitionFilter {
    fn process(&mut self, batch: RecordBatch, verdicts: &mut Verdicts) -> Result<RecordBatch> {
        let field = self.params.text_field.clone();
        drop_where(&batch, &field, verdicts, |text| self.judge(text));
        Ok(batch)
    }
}

/// `re.split(r"\n{2,}", s)` as byte ranges.
fn paragraphs(s: &str, out: &mut Vec<(usize, usize)>) {
    split_newline_runs(s, 2, out);
}

/// `re.split("\n+", s)` as byte ranges.
fn lines(s: &str, out: &mut Vec<(usize, usize)>) {
    split_newline_runs(s, 1, out);
}

fn split_newline_runs(s: &str, min_run: usize, out: &mut Vec<(usize, usize)>) {
    out.clear();
    let b = s.as_bytes();
    let mut start = 0usize;
    let mut i = 0usize;
    while let Some(off) = memchr_nl(&b[i..]) {
        let a = i + off;
        let mut e = a;
        while e < b.len() && b[e] == b'\n' {
            e += 1;
        }
        if e - a >= min_run {
            out.push((start, a));
            start = e;
        }
        i = e;
    }
    out.push((start, b.len()));
}

#[inline]
fn memchr_nl(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

/// Odd base of the polynomial n-gram hash (arithmetic wraps mod 2^64). The hash only spreads
/// n-grams over the table: every hit is confirmed by comparing the words, so a collision costs
/// a comparison, never a wrong decision.
const BASE: u64 = 0x9e37_79b9_7f4a_7c15;

#[inline]
fn wmul(a: u64, b: u64) -> u64 {
    a.wrapping_mul(b)
}

#[inline]
fn wadd(a: u64, b: u64) -> u64 {
    a.wrapping_add(b)
}

#[inline]
fn wsub(a: u64, b: u64) -> u64 {
    a.wrapping_sub(b)
}

/// Final mix (splitmix64), so the table sees well-spread low and high bits.
#[inline]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// B^-1 mod 2^64 (B is odd, so it has an inverse; Newton's iteration doubles the correct bits).
const BASE_INV: u64 = {
    let mut x = BASE;
    let mut k = 0;
    while k < 6 {
        x = x.wrapping_mul(2u64.wrapping_sub(BASE.wrapping_mul(x)));
        k += 1;
    }
    x
};

/// Prefix hashes of the concatenated words, at word boundaries.
#[derive(Default)]
struct Concat {
    prefix: Vec<u64>,
    pow: Vec<u64>,
    inv: Vec<u64>,
}

impl Concat {
    /// Hash of words[i..i+n] concatenated: P[i+n] - P[i] * B^(bytes of the n-gram).
    #[inline]
    fn hash(&self, i: usize, n: usize) -> u64 {
        let pow_len = wmul(self.pow[i + n], self.inv[i]);
        mix(wsub(self.prefix[i + n], wmul(self.prefix[i], pow_len)))
    }
}

/// Buffers reused from document to document.
#[derive(Default)]
struct Scratch {
    ranges: Vec<(usize, usize)>,
    seen: HashTable<u32>,
    /// Per word: code points, hash of the word; at index i, over the concatenation of
    /// words[..i]: its code points, its polynomial hash, B^bytes and B^-bytes (per word, not
    /// per byte, so a huge document does not grow a huge buffer).
    chars: Vec<u32>,
    char_prefix: Vec<u64>,
    word_hash: Vec<u64>,
    concat: Concat,
    counts: HashTable<(u32, u32)>,
    grams: HashTable<u32>,
}

impl Scratch {
    /// datatrove's `find_duplicates` over `self.ranges` of `text`: (duplicates, their chars).
    fn find_duplicates(&mut self, text: &str) -> (usize, usize) {
        self.seen.clear();
        let (mut dups, mut chars) = (0, 0);
        let ranges = &self.ranges;
        for (i, &(a, b)) in ranges.iter().enumerate() {
            let s = &text[a..b];
            let h = xxh3_64(s.as_bytes());
            let found = self
                .seen
                .find(h, |&j| {
                    let (c, d) = ranges[j as usize];
                    &text[c..d] == s
                })
                .is_some();
            if found {
                dups += 1;
                chars += pystr::len(s);
            } else {
                self.seen.insert_unique(h, i as u32, |&j| {
                    let (c, d) = ranges[j as usize];
                    xxh3_64(&text.as_bytes()[c..d])
                });
            }
        }
        (dups, chars)
    }

    fn prepare_words(&mut self, words: &[&str]) {
        self.chars.clear();
        self.char_prefix.clear();
        self.word_hash.clear();
        let c = &mut self.concat;
        c.prefix.clear();
        c.pow.clear();
        c.inv.clear();
        c.prefix.push(0);
        c.pow.push(1);
        c.inv.push(1);
        self.char_prefix.push(0);
        let (mut cp, mut h, mut pw, mut inv) = (0u64, 0u64, 1u64, 1u64);
        for w in words {
            let n_chars = pystr::len(w) as u32;
            self.chars.push(n_chars);
            cp += n_chars as u64;
            self.char_prefix.push(cp);
            self.word_hash.push(xxh3_64(w.as_bytes()));
            for &byte in w.as_bytes() {
                h = wadd(wmul(h, BASE), byte as u64 + 1);
                pw = wmul(pw, BASE);
                inv = wmul(inv, BASE_INV);
            }
            self.concat.prefix.push(h);
            self.concat.pow.push(pw);
            self.concat.inv.push(inv);
        }
    }

    /// Hash of the word sequence words[i..i+n] (for n-grams joined with spaces).
    #[inline]
    fn seq_hash(&self, i: usize, n: usize) -> u64 {
        seq_hash_of(&self.word_hash, i, n)
    }

    /// Hash of the concatenation of words[i..i+n] (for n-grams joined without spaces).
    #[inline]
    fn concat_hash(&self, i: usize, n: usize) -> u64 {
        self.concat.hash(i, n)
    }

    /// `len(top) * count` for the most common n-gram (datatrove's `find_top_duplicate`).
    fn top_ngram_chars(&mut self, words: &[&str], n: usize) -> u64 {
        self.counts.clear();
        let total = words.len() + 1 - n;
        let mut best: Option<(u32, u32)> = None; // (first index, count)
        for i in 0..total {
            let h = self.seq_hash(i, n);
            let same = |&(j, _): &(u32, u32)| words[j as usize..j as usize + n] == words[i..i + n];
            let entry = match self.counts.find_mut(h, same) {
                Some(e) => {
                    e.1 += 1;
                    *e
                }
                None => {
                    self.counts.insert_unique(h, (i as u32, 1), |&(j, _)| {
                        seq_hash_of(&self.word_hash, j as usize, n)
                    });
                    (i as u32, 1)
                }
            };
            best = match best {
                Some(b) if b.1 > entry.1 || (b.1 == entry.1 && b.0 <= entry.0) => Some(b),
                _ => Some(entry),
            };
        }
        match best {
            Some((first, count)) => {
                let first = first as usize;
                let chars = self.char_prefix[first + n] - self.char_prefix[first] + (n as u64 - 1);
                chars * count as u64
            }
            None => 0,
        }
    }

    /// datatrove's `find_all_duplicate`: characters of n-grams (joined without spaces) seen
    /// before, skipping n words after each repeat.
    fn repeated_ngram_chars(&mut self, words: &[&str], n: usize) -> u64 {
        self.grams.clear();
        let mut repeated = 0u64;
        let mut i = 0usize;
        while i + n <= words.len() {
            let h = self.concat_hash(i, n);
            let found = self
                .grams
                .find(h, |&j| {
                    concat_eq(&words[j as usize..j as usize + n], &words[i..i + n])
                })
                .is_some();
            if found {
                repeated += self.char_prefix[i + n] - self.char_prefix[i];
                i += n;
            } else {
                let concat = &self.concat;
                self.grams
                    .insert_unique(h, i as u32, |&j| concat.hash(j as usize, n));
                i += 1;
            }
        }
        repeated
    }
}

fn seq_hash_of(word_hash: &[u64], i: usize, n: usize) -> u64 {
    mix(word_hash[i..i + n]
        .iter()
        .fold(n as u64, |acc, &w| wadd(wmul(acc, BASE), w)))
}

/// Do two word sequences concatenate to the same string?
fn concat_eq(a: &[&str], b: &[&str]) -> bool {
    let mut ai = a.iter().flat_map(|w| w.bytes());
    let mut bi = b.iter().flat_map(|w| w.bytes());
    loop {
        match (ai.next(), bi.next()) {
            (None, None) => return true,
            (x, y) if x == y => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn built() -> GopherRepetitionFilter {
        GopherRepetitionFilter::new(serde_json::from_str("{}").expect("defaults"))
    }

    #[test]
    fn splits_like_re_split() {
        let mut r = Vec::new();
        lines("\na\n\nb\n", &mut r);
        assert_eq!(r, [(0, 0), (1, 2), (4, 5), (6, 6)]);
        paragraphs("a\nb\n\n\nc", &mut r);
        assert_eq!(r, [(0, 3), (6, 7)]);
    }

    #[test]
    fn rules_fire_in_datatrove_order() {
        let mut f = built();
        assert_eq!(f.judge(""), Some(EMPTY));
        assert_eq!(
            f.judge("same para\n\nsame para\n\nother"),
            Some(DUP_PARA_FRAC)
        );
        assert_eq!(f.judge("a\nb\nb\nb\nc"), Some(DUP_LINE_FRAC));
        let varied = "The quick brown fox jumps over the lazy dog while a curious cat watches \
                      from the old wooden fence near the river bank at dawn.";
        assert_eq!(f.judge(varied), None);
        let rep = "alpha beta gamma delta epsilon ".repeat(5);
        assert!(f.judge(&rep).is_some());
    }

    #[test]
    fn base_inverse() {
        assert_eq!(BASE.wrapping_mul(BASE_INV), 1);
    }

    #[test]
    fn concatenated_ngrams_compare_by_text() {
        let mut s = Scratch::default();
        let words = ["ab", "c", "x", "a", "bc", "x"];
        s.prepare_words(&words);
        assert_eq!(s.concat_hash(0, 2), s.concat_hash(3, 2));
        assert!(concat_eq(&words[0..2], &words[3..5]));
        // "abc" then "x" twice: the 2-gram "abc"+"x"... greedy scan with n = 3
        assert_eq!(s.repeated_ngram_chars(&words, 3), 4);
    }
}
