//! A port of spaCy's blank-English tokenizer (`spacy.blank("en")`, spaCy 3.8) and of its rule-based
//! `sentencizer`. Since datatrove 0.7, `split_into_words` / `split_into_sentences` for English
//! (`eng`) use exactly these, so the FineWeb-quality word count and the C4 sentence count depend on
//! them.
//!
//! The tokenizer rules (prefix, suffix and infix patterns, URL pattern, the 1,347 special cases and
//! the sentencizer's punctuation) are not retyped: they are dumped from spaCy by
//! `scripts/gen_spacy_en_tokenizer_data.py` into `data/spacy_en_tokenizer.json` and compiled once
//! per process. The algorithm follows `spacy/tokenizer.pyx` line by line: `_tokenize_affixes`,
//! `_split_affixes`, `_attach_tokens`, and the final `_apply_special_cases` pass (a phrase matcher
//! that re-merges special cases the affix rules split apart, e.g. `(D-Minn.)` → `Minn.`). Every
//! token is a slice of the input (special cases are validated to concatenate to their key), so
//! tokenizing allocates nothing per token; each chunk's split is cached per worker, as spaCy does.
//!
//! `data/spacy_en_golden.jsonl` (2,000 seeded tricky strings with spaCy's tokens and sentence
//! counts) checks the port in `en_tokenizer`'s tests. Known limits: the patterns run on
//! `fancy-regex`, whose Unicode tables and `\w`/`\d` differ from Python 3.11's `re` on a few
//! recent code points.
//!
//! Operators use it through [`crate::en_tokenizer::EnTokenizer`], which holds a worker's cache.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::OnceLock;

use fancy_regex::Regex;
use serde::Deserialize;

use crate::pystr::is_space;

const DATA: &str = include_str!("../data/spacy_en_tokenizer.json");

#[derive(Deserialize)]
struct RawData {
    prefix: String,
    suffix: String,
    infix: String,
    url: String,
    punct_chars: Vec<String>,
    rules: HashMap<String, Vec<String>>,
}

/// The compiled English tokenizer; get it with [`SpacyEn::get`].
pub struct SpacyEn {
    prefix: Regex,
    suffix: Regex,
    infix: Regex,
    url: Regex,
    /// Special case → byte lengths of its pieces (the pieces concatenate to the key).
    specials: HashMap<String, Box<[u32]>>,
    punct_chars: HashSet<char>,
    /// `_special_matcher`: the affix tokenization of every special case that the affix rules
    /// would split, indexed by its first token.
    patterns: Vec<Box<[Box<str>]>>,
    pattern_index: HashMap<Box<str>, Vec<u32>>,
    /// Characters that can start a prefix match; a chunk starting with anything else has none.
    non_ascii_punct: regex::Regex,
}

impl std::fmt::Debug for SpacyEn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpacyEn")
            .field("specials", &self.specials.len())
            .finish()
    }
}

fn compile(name: &str, pattern: &str) -> Result<Regex, String> {
    Regex::new(pattern).map_err(|e| format!("spaCy {name} pattern does not compile: {e}"))
}

impl SpacyEn {
    /// The process-wide instance (compiled on first use, a few milliseconds).
    pub fn get() -> Result<&'static SpacyEn, String> {
        static CELL: OnceLock<Result<SpacyEn, String>> = OnceLock::new();
        CELL.get_or_init(SpacyEn::load)
            .as_ref()
            .map_err(Clone::clone)
    }

    fn load() -> Result<SpacyEn, String> {
        let raw: RawData =
            serde_json::from_str(DATA).map_err(|e| format!("spaCy tokenizer data: {e}"))?;
        let mut specials = HashMap::with_capacity(raw.rules.len());
        for (orth, pieces) in raw.rules {
            if pieces.concat() != orth || pieces.iter().any(String::is_empty) {
                return Err(format!(
                    "spaCy special case {orth:?} does not split into its pieces"
                ));
            }
            let lens: Box<[u32]> = pieces.iter().map(|p| p.len() as u32).collect();
            specials.insert(orth, lens);
        }
        let mut punct_chars = HashSet::new();
        for p in raw.punct_chars {
            let mut it = p.chars();
            if let (Some(c), None) = (it.next(), it.next()) {
                punct_chars.insert(c);
            }
        }
        let mut en = SpacyEn {
            prefix: compile("prefix", &raw.prefix)?,
            suffix: compile("suffix", &raw.suffix)?,
            infix: compile("infix", &raw.infix)?,
            url: compile("url", &raw.url)?,
            specials,
            punct_chars,
            patterns: Vec::new(),
            pattern_index: HashMap::new(),
            non_ascii_punct: regex::Regex::new(r"^\p{P}+$").map_err(|e| e.to_string())?,
        };
        en.build_special_matcher();
        Ok(en)
    }

    /// `add_special_case`'s matcher patterns: for each special case that a prefix, suffix or
    /// infix would split (or that has a space), its tokenization without special cases.
    fn build_special_matcher(&mut self) {
        let mut keys: Vec<&String> = self.specials.keys().collect();
        keys.sort();
        let mut suffixes = Vec::new();
        let mut patterns = Vec::new();
        for key in keys {
            let splits = self.find_prefix(key) != 0
                || self.infix.find_iter(key).next().is_some()
                || self.find_suffix(key) != 0
                || key.contains(' ');
            if !splits {
                continue;
            }
            let mut toks: Vec<Box<str>> = Vec::new();
            self.tokenize_raw(key, false, &mut suffixes, &mut |r| toks.push(key[r].into()));
            patterns.push(toks.into_boxed_slice());
        }
        for (i, p) in patterns.iter().enumerate() {
            if let Some(first) = p.first() {
                self.pattern_index
                    .entry(first.clone())
                    .or_default()
                    .push(i as u32);
            }
        }
        self.patterns = patterns;
    }

    /// The first pass without cache (`_tokenize_affixes`); `with_specials: false` is how spaCy
    /// tokenizes a special case to build its matcher pattern.
    fn tokenize_raw(
        &self,
        text: &str,
        with_specials: bool,
        suffixes: &mut Vec<Range<usize>>,
        emit: &mut impl FnMut(Range<usize>),
    ) {
        for_each_chunk(text, |r| {
            let base = r.start;
            self.tokenize_span(&text[r], with_specials, suffixes, &mut |t: Range<usize>| {
                emit(base + t.start..base + t.end)
            });
        });
    }

    /// `_apply_special_cases`: finds the matcher patterns in the token sequence `toks`, keeps the
    /// longest non-overlapping ones (spaCy's `_filter_special_spans` order) and re-splits those
    /// whose text is a special case into its pieces. Writes the result to `out`.
    pub(crate) fn apply_special_cases(
        &self,
        text: &str,
        toks: &[Range<usize>],
        scratch: &mut SpecialScratch,
        out: &mut Vec<Range<usize>>,
    ) {
        out.clear();
        let matches = &mut scratch.matches;
        matches.clear();
        for (i, t) in toks.iter().enumerate() {
            let Some(ids) = self.pattern_index.get(&text[t.clone()]) else {
                continue;
            };
            for &id in ids {
                let pat = &self.patterns[id as usize];
                let end = i + pat.len();
                if end <= toks.len()
                    && pat
                        .iter()
                        .zip(&toks[i..end])
                        .all(|(p, r)| **p == text[r.clone()])
                {
                    matches.push((i, end));
                }
            }
        }
        if matches.is_empty() {
            out.extend_from_slice(toks);
            return;
        }
        // Longest first; among equally long ones, the leftmost first.
        matches.sort_by(|a, b| (b.1 - b.0).cmp(&(a.1 - a.0)).then(a.0.cmp(&b.0)));
        matches.dedup();
        let seen = &mut scratch.seen;
        seen.clear();
        seen.resize(toks.len(), false);
        let kept = &mut scratch.kept;
        kept.clear();
        for &(s, e) in matches.iter() {
            if !seen[s] && !seen[e - 1] {
                kept.push((s, e));
            }
            seen[s..e].iter_mut().for_each(|x| *x = true);
        }
        kept.sort_unstable();
        let mut i = 0;
        for &(s, e) in kept.iter() {
            out.extend_from_slice(&toks[i..s]);
            let (lo, hi) = (toks[s].start, toks[e - 1].end);
            match self.specials.get(&text[lo..hi]) {
                Some(lens) => {
                    let mut pos = lo;
                    for &l in lens.iter() {
                        out.push(pos..pos + l as usize);
                        pos += l as usize;
                    }
                }
                None => out.extend_from_slice(&toks[s..e]),
            }
            i = e;
        }
        out.extend_from_slice(&toks[i..]);
    }

    #[inline]
    fn is_special(&self, s: &str) -> bool {
        self.specials.contains_key(s)
    }

    fn find_prefix(&self, s: &str) -> usize {
        match self.prefix.find(s) {
            Ok(Some(m)) => m.end() - m.start(),
            _ => 0,
        }
    }

    fn find_suffix(&self, s: &str) -> usize {
        match self.suffix.find(s) {
            Ok(Some(m)) => m.end() - m.start(),
            _ => 0,
        }
    }

    fn url_match(&self, s: &str) -> bool {
        matches!(self.url.find(s), Ok(Some(m)) if m.start() == 0)
    }

    /// The first pass (`_tokenize_affixes`): calls `emit` with the byte range of every token of
    /// `text`, whitespace tokens included. `cache` memoizes the split of each chunk, as spaCy's
    /// own cache does.
    pub(crate) fn first_pass(
        &self,
        text: &str,
        cache: &mut TokenCache,
        emit: &mut impl FnMut(Range<usize>),
    ) {
        for_each_chunk(text, |r| self.tokenize_chunk(text, r, cache, emit));
    }

    fn tokenize_chunk(
        &self,
        text: &str,
        span: Range<usize>,
        cache: &mut TokenCache,
        emit: &mut impl FnMut(Range<usize>),
    ) {
        let chunk = &text[span.clone()];
        if chunk.bytes().all(|b| b.is_ascii_alphabetic()) && !self.specials.contains_key(chunk) {
            // No prefix, suffix, infix or URL pattern matches a run of ASCII letters (checked
            // against spaCy on 185k strings), so such a chunk is one token.
            emit(span);
            return;
        }
        if let Some(lens) = self.specials.get(chunk).or_else(|| cache.map.get(chunk)) {
            emit_lengths(span.start, lens, emit);
            return;
        }
        let mut pieces = std::mem::take(&mut cache.scratch);
        pieces.clear();
        self.tokenize_span(chunk, true, &mut cache.suffixes, &mut |r: Range<usize>| {
            pieces.push(r.len() as u32)
        });
        emit_lengths(span.start, &pieces, emit);
        if chunk.len() <= TokenCache::MAX_CHUNK_LEN {
            if cache.map.len() >= TokenCache::MAX_ENTRIES {
                cache.map.clear();
            }
            cache.map.insert(chunk.into(), pieces.as_slice().into());
        }
        cache.scratch = pieces;
    }

    fn emit_special(&self, at: usize, s: &str, emit: &mut impl FnMut(Range<usize>)) -> bool {
        let Some(lens) = self.specials.get(s) else {
            return false;
        };
        emit_lengths(at, lens, emit);
        true
    }

    /// `_tokenize` = `_split_affixes` + `_attach_tokens` on one chunk (whitespace-free, or all
    /// whitespace). The tokens it emits cover the chunk in order.
    fn tokenize_span(
        &self,
        text: &str,
        with_specials: bool,
        suffixes: &mut Vec<Range<usize>>,
        emit: &mut impl FnMut(Range<usize>),
    ) {
        let is_special = |s: &str| with_specials && self.is_special(s);
        if with_specials && self.emit_special(0, text, emit) {
            return;
        }
        suffixes.clear();
        // _split_affixes: `cur` is the remaining string; prefixes are emitted at once (they come
        // first in the output), suffixes are stacked and emitted in reverse at the end.
        let (mut lo, mut hi) = (0, text.len());
        let mut last_size = usize::MAX;
        while lo < hi && hi - lo != last_size {
            let s = &text[lo..hi];
            if is_special(s) {
                break;
            }
            last_size = hi - lo;
            let pre_len = self.find_prefix(s);
            if pre_len != 0 {
                let minus_pre = &s[pre_len..];
                if !minus_pre.is_empty() && is_special(minus_pre) {
                    emit(lo..lo + pre_len);
                    lo += pre_len;
                    break;
                }
            }
            let suf_len = self.find_suffix(&s[pre_len..]);
            if suf_len != 0 {
                let minus_suf = &s[..s.len() - suf_len];
                if !minus_suf.is_empty() && is_special(minus_suf) {
                    suffixes.push(hi - suf_len..hi);
                    hi -= suf_len;
                    break;
                }
            }
            if pre_len != 0 && suf_len != 0 && pre_len + suf_len <= s.len() {
                emit(lo..lo + pre_len);
                suffixes.push(hi - suf_len..hi);
                lo += pre_len;
                hi -= suf_len;
            } else if pre_len != 0 {
                emit(lo..lo + pre_len);
                lo += pre_len;
            } else if suf_len != 0 {
                suffixes.push(hi - suf_len..hi);
                hi -= suf_len;
            }
        }
        // _attach_tokens
        if lo < hi {
            let s = &text[lo..hi];
            if with_specials && self.emit_special(lo, s, emit) {
            } else if self.url_match(s) {
                emit(lo..hi);
            } else {
                let mut start = 0usize;
                for m in self.infix.find_iter(s) {
                    let Ok(m) = m else { break };
                    if m.start() == 0 {
                        continue;
                    }
                    if m.start() != start {
                        emit(lo + start..lo + m.start());
                    }
                    if m.start() != m.end() {
                        emit(lo + m.start()..lo + m.end());
                    }
                    start = m.end();
                }
                if start < s.len() {
                    emit(lo + start..hi);
                }
            }
        }
        for r in suffixes.drain(..).rev() {
            emit(r);
        }
    }

    /// spaCy's `Token.is_punct`: every character is in a Unicode punctuation category (P*).
    pub fn is_punct(&self, token: &str) -> bool {
        if token.is_ascii() {
            token.bytes().all(|b| {
                matches!(b, b'!'..=b'#' | b'%'..=b'*' | b','..=b'/' | b':' | b';' | b'?' | b'@'
                    | b'['..=b']' | b'_' | b'{' | b'}')
            })
        } else {
            self.non_ascii_punct.is_match(token)
        }
    }

    pub(crate) fn in_punct_chars(&self, token: &str) -> bool {
        let mut it = token.chars();
        matches!((it.next(), it.next()), (Some(c), None) if self.punct_chars.contains(&c))
    }
}

/// Emits consecutive tokens of the given byte lengths from `start`.
fn emit_lengths(start: usize, lens: &[u32], emit: &mut impl FnMut(Range<usize>)) {
    let mut pos = start;
    for &l in lens {
        emit(pos..pos + l as usize);
        pos += l as usize;
    }
}

/// The chunks of `_tokenize_affixes`: runs of non-space characters and runs of whitespace,
/// except that the single `' '` right after a non-space run belongs to no chunk (spaCy makes a
/// token of every other whitespace run).
fn for_each_chunk(text: &str, mut f: impl FnMut(Range<usize>)) {
    let mut in_ws = match text.chars().next() {
        Some(c) => is_space(c),
        None => return,
    };
    let mut start = 0usize;
    for (i, c) in text.char_indices() {
        if is_space(c) != in_ws {
            if start < i {
                f(start..i);
            }
            start = if c == ' ' { i + 1 } else { i };
            in_ws = !in_ws;
        }
    }
    if start < text.len() {
        f(start..text.len());
    }
}

/// Reused buffers of [`SpacyEn::apply_special_cases`].
#[derive(Debug, Default)]
pub(crate) struct SpecialScratch {
    matches: Vec<(usize, usize)>,
    kept: Vec<(usize, usize)>,
    seen: Vec<bool>,
}

/// Per-worker memo of chunk → token lengths (spaCy keeps the same cache per tokenizer).
#[derive(Debug, Default)]
pub struct TokenCache {
    map: HashMap<Box<str>, Box<[u32]>>,
    scratch: Vec<u32>,
    suffixes: Vec<Range<usize>>,
}

impl TokenCache {
    /// Past this many chunks the cache starts over, which bounds its memory.
    const MAX_ENTRIES: usize = 50_000;
    /// Longer chunks (URLs, blobs) are rarely seen twice and are not cached.
    const MAX_CHUNK_LEN: usize = 64;
}
