//! A port of spaCy's blank-English tokenizer (`spacy.blank("en")`, spaCy 3.8) and of its rule-based
//! `sentencizer`. Since datatrove 0.7, `split_into_words` / `split_into_sentences` for English
//! (`eng`) use exactly these, so the FineWeb-quality word count and the C4 sentence count depend on
//! them.
//!
//! The tokenizer rules (prefix, suffix and infix patterns, URL pattern, the 1,347 special cases and
//! the sentencizer's punctuation) are not retyped: they are dumped from spaCy by
//! `scripts/gen_spacy_en_tokenizer_data.py` into `data/spacy_en_tokenizer.json` and compiled once
//! per process. The algorithm follows `spacy/tokenizer.pyx` (`_tokenize_affixes`,
//! `_split_affixes`, `_attach_tokens`) line by line. Every token is a slice of the input (special
//! cases are validated to concatenate to their key), so tokenizing allocates nothing per token.
//!
//! Known difference: spaCy's final `_apply_special_cases` pass (a phrase matcher that re-merges
//! special cases the affix rules split apart, e.g. `:)` glued to other punctuation) is not ported;
//! it changes token counts only around emoticon-like punctuation runs.
//!
//! At merge time this module and a shared `words.rs` (datatrove-compatible word tokenizer) should
//! be unified: [`split_into_words`] is datatrove's `split_into_words(text, "eng")`.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::OnceLock;

use fancy_regex::Regex;
use serde::Deserialize;

use crate::pystr::is_py_space;

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
        Ok(SpacyEn {
            prefix: compile("prefix", &raw.prefix)?,
            suffix: compile("suffix", &raw.suffix)?,
            infix: compile("infix", &raw.infix)?,
            url: compile("url", &raw.url)?,
            specials,
            punct_chars,
            non_ascii_punct: regex::Regex::new(r"^\p{P}+$").map_err(|e| e.to_string())?,
        })
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

    /// Calls `emit` with the byte range of every token of `text`, whitespace tokens included
    /// (spaCy makes a token of every whitespace run except a single `' '` after a word).
    pub fn tokenize(&self, text: &str, emit: &mut impl FnMut(Range<usize>)) {
        let mut suffixes: Vec<Range<usize>> = Vec::new();
        let mut chars = text.char_indices();
        let Some((_, first)) = chars.next() else {
            return;
        };
        let mut in_ws = is_py_space(first);
        let mut start = 0usize;
        for (i, c) in text.char_indices() {
            if is_py_space(c) != in_ws {
                if start < i {
                    self.tokenize_span(text, start..i, &mut suffixes, emit);
                }
                start = if c == ' ' { i + 1 } else { i };
                in_ws = !in_ws;
            }
        }
        if start < text.len() {
            self.tokenize_span(text, start..text.len(), &mut suffixes, emit);
        }
    }

    fn emit_special(&self, at: usize, s: &str, emit: &mut impl FnMut(Range<usize>)) -> bool {
        let Some(lens) = self.specials.get(s) else {
            return false;
        };
        let mut pos = at;
        for &l in lens.iter() {
            emit(pos..pos + l as usize);
            pos += l as usize;
        }
        true
    }

    /// `_tokenize` = `_split_affixes` + `_attach_tokens` on one whitespace-free (or all-space) span.
    fn tokenize_span(
        &self,
        text: &str,
        span: Range<usize>,
        suffixes: &mut Vec<Range<usize>>,
        emit: &mut impl FnMut(Range<usize>),
    ) {
        if self.emit_special(span.start, &text[span.clone()], emit) {
            return;
        }
        suffixes.clear();
        // _split_affixes: `cur` is the remaining string; prefixes are emitted at once (they come
        // first in the output), suffixes are stacked and emitted in reverse at the end.
        let (mut lo, mut hi) = (span.start, span.end);
        let mut last_size = usize::MAX;
        while lo < hi && hi - lo != last_size {
            let s = &text[lo..hi];
            if self.is_special(s) {
                break;
            }
            last_size = hi - lo;
            let pre_len = self.find_prefix(s);
            if pre_len != 0 {
                let minus_pre = &s[pre_len..];
                if !minus_pre.is_empty() && self.is_special(minus_pre) {
                    emit(lo..lo + pre_len);
                    lo += pre_len;
                    break;
                }
            }
            let suf_len = self.find_suffix(&s[pre_len..]);
            if suf_len != 0 {
                let minus_suf = &s[..s.len() - suf_len];
                if !minus_suf.is_empty() && self.is_special(minus_suf) {
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
            if self.emit_special(lo, s, emit) {
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

    fn in_punct_chars(&self, token: &str) -> bool {
        let mut it = token.chars();
        matches!((it.next(), it.next()), (Some(c), None) if self.punct_chars.contains(&c))
    }

    /// The sentencizer over `text`: calls `emit` with the byte range of every sentence, from its
    /// first token's start to its last token's end (as spaCy's `Span.start_char/end_char`).
    pub fn sentences(&self, text: &str, emit: &mut impl FnMut(Range<usize>)) {
        let mut sent: Option<Range<usize>> = None;
        let mut seen_period = false;
        self.tokenize(text, &mut |r: Range<usize>| {
            let tok = &text[r.clone()];
            let in_punct_chars = self.in_punct_chars(tok);
            match sent.as_mut() {
                None => sent = Some(r.clone()),
                Some(cur) => {
                    if seen_period && !in_punct_chars && !self.is_punct(tok) {
                        emit(cur.clone());
                        *cur = r.clone();
                        seen_period = false;
                    } else {
                        cur.end = r.end;
                    }
                }
            }
            // The first token can set `seen_period` too.
            if in_punct_chars {
                seen_period = true;
            }
        });
        if let Some(cur) = sent {
            emit(cur);
        }
    }
}

/// datatrove's `split_into_words(text, "eng")`: spaCy tokens, stripped, empty ones dropped.
#[allow(dead_code)] // the list form of `count_words`; kept for unification with a shared words.rs
pub fn split_into_words<'a>(en: &SpacyEn, text: &'a str) -> Vec<&'a str> {
    let mut out = Vec::new();
    en.tokenize(text, &mut |r| {
        let t = crate::pystr::py_strip(&text[r]);
        if !t.is_empty() {
            out.push(t);
        }
    });
    out
}

/// `len(split_into_words(text, "eng"))` without building the list.
pub fn count_words(en: &SpacyEn, text: &str) -> usize {
    let mut n = 0usize;
    en.tokenize(text, &mut |r| {
        if !text[r].chars().all(is_py_space) {
            n += 1;
        }
    });
    n
}

/// `len(split_into_sentences(text, "eng"))`. datatrove cuts the text at each sentence's end, so an
/// empty text still gives one (empty) part.
pub fn count_sentences(en: &SpacyEn, text: &str) -> usize {
    let mut n = 0usize;
    en.sentences(text, &mut |_| n += 1);
    n.max(1)
}

/// datatrove's `split_into_sentences(text, "eng")`: the text cut at every sentence end, so the
/// whitespace between two sentences starts the next part and the parts concatenate to `text`.
pub fn split_into_sentences<'a>(en: &SpacyEn, text: &'a str) -> Vec<&'a str> {
    let mut ends = Vec::new();
    en.sentences(text, &mut |r| ends.push(r.end));
    ends.pop();
    let mut out = Vec::with_capacity(ends.len() + 1);
    let mut start = 0;
    for e in ends {
        out.push(&text[start..e]);
        start = e;
    }
    out.push(&text[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(text: &str) -> Vec<&str> {
        let en = SpacyEn::get().expect("spacy data");
        let mut v = Vec::new();
        en.tokenize(text, &mut |r| v.push(&text[r]));
        v
    }

    // Expected values produced with spaCy 3.8.18: [t.text for t in spacy.blank("en")(text)].
    #[test]
    fn tokens_match_spacy() {
        assert_eq!(
            toks("Hello, world! Don't stop."),
            ["Hello", ",", "world", "!", "Do", "n't", "stop", "."]
        );
        assert_eq!(
            toks("Mr. Smith's U.S. car"),
            ["Mr.", "Smith", "'s", "U.S.", "car"]
        );
        assert_eq!(toks("a  b\nc"), ["a", " ", "b", "\n", "c"]);
        assert_eq!(
            toks("(see https://example.com/x?y=1)."),
            ["(", "see", "https://example.com/x?y=1", ")", "."]
        );
        assert_eq!(
            toks("well-known 3.5% $10"),
            ["well", "-", "known", "3.5", "%", "$", "10"]
        );
        assert_eq!(toks("end.Next"), ["end", ".", "Next"]);
    }

    #[test]
    fn sentences_match_spacy() {
        let en = SpacyEn::get().expect("spacy data");
        let t = "Hello world. This is Mr. Smith. Plan A. Next 3. go";
        assert_eq!(
            split_into_sentences(en, t),
            [
                "Hello world.",
                " This is Mr. Smith.",
                " Plan A. Next 3.",
                " go"
            ]
        );
        assert_eq!(count_sentences(en, ""), 1);
        assert_eq!(count_sentences(en, "Wait... what? Yes!"), 2);
        assert_eq!(count_words(en, "Wait...  what?\n"), 4);
    }
}
