//! The datatrove-facing English tokenizer: `split_into_words(text, "eng")` and
//! `split_into_sentences(text, "eng")` of datatrove 0.10.1, i.e. spaCy's blank-English tokenizer
//! (ported in [`crate::spacy_en`]) and its rule-based `sentencizer`. An [`EnTokenizer`] holds one
//! worker's chunk cache and buffers, so operators keep one per instance.
//!
//! At merge time this module and a shared `words.rs` (datatrove-compatible word tokenizer) should
//! be unified: [`EnTokenizer::split_into_words`] is datatrove's `split_into_words(text, "eng")`.

use std::ops::Range;

use crate::pystr::is_space;
use crate::spacy_en::{SpacyEn, SpecialScratch, TokenCache};

/// The English tokenizer with a worker's cache and buffers: what operators hold.
#[derive(Debug)]
pub struct EnTokenizer {
    en: &'static SpacyEn,
    cache: TokenCache,
    first_pass: Vec<Range<usize>>,
    tokens: Vec<Range<usize>>,
    scratch: SpecialScratch,
}

impl EnTokenizer {
    pub fn new() -> Result<EnTokenizer, String> {
        Ok(EnTokenizer {
            en: SpacyEn::get()?,
            cache: TokenCache::default(),
            first_pass: Vec::new(),
            tokens: Vec::new(),
            scratch: SpecialScratch::default(),
        })
    }

    /// Byte ranges of spaCy's tokens (`[t for t in nlp.tokenizer(text)]`), whitespace tokens
    /// included.
    pub fn tokens(&mut self, text: &str) -> &[Range<usize>] {
        let mut first = std::mem::take(&mut self.first_pass);
        first.clear();
        self.en
            .first_pass(text, &mut self.cache, &mut |r| first.push(r));
        self.en
            .apply_special_cases(text, &first, &mut self.scratch, &mut self.tokens);
        self.first_pass = first;
        &self.tokens
    }

    /// Calls `emit` with the byte range of every token.
    pub fn tokenize(&mut self, text: &str, emit: &mut impl FnMut(Range<usize>)) {
        for r in self.tokens(text) {
            emit(r.clone());
        }
    }

    /// The sentencizer over `text`: calls `emit` with the byte range of every sentence, from its
    /// first token's start to its last token's end (as spaCy's `Span.start_char/end_char`).
    pub fn sentences(&mut self, text: &str, emit: &mut impl FnMut(Range<usize>)) {
        let en = self.en;
        let mut sent: Option<Range<usize>> = None;
        let mut seen_period = false;
        for r in self.tokens(text) {
            let r = r.clone();
            let tok = &text[r.clone()];
            let in_punct_chars = en.in_punct_chars(tok);
            match sent.as_mut() {
                None => sent = Some(r.clone()),
                Some(cur) => {
                    if seen_period && !in_punct_chars && !en.is_punct(tok) {
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
        }
        if let Some(cur) = sent {
            emit(cur);
        }
    }

    /// datatrove's `split_into_words(text, "eng")`: spaCy tokens, stripped, empty ones dropped.
    #[allow(dead_code)] // the list form of `count_words`, for unification with a shared words.rs
    pub fn split_into_words<'a>(&mut self, text: &'a str) -> Vec<&'a str> {
        let mut out = Vec::new();
        self.tokenize(text, &mut |r| {
            let t = crate::pystr::strip(&text[r]);
            if !t.is_empty() {
                out.push(t);
            }
        });
        out
    }

    /// `len(split_into_words(text, "eng"))` without building the list.
    pub fn count_words(&mut self, text: &str) -> usize {
        let mut n = 0usize;
        self.tokenize(text, &mut |r| {
            if !text[r].chars().all(is_space) {
                n += 1;
            }
        });
        n
    }

    /// `len(split_into_sentences(text, "eng"))`. datatrove cuts the text at each sentence's end,
    /// so an empty text still gives one (empty) part.
    pub fn count_sentences(&mut self, text: &str) -> usize {
        let mut n = 0usize;
        self.sentences(text, &mut |_| n += 1);
        n.max(1)
    }

    /// datatrove's `split_into_sentences(text, "eng")`: the text cut at every sentence end, so
    /// the whitespace between two sentences starts the next part and the parts concatenate to
    /// `text`.
    pub fn split_into_sentences<'a>(&mut self, text: &'a str) -> Vec<&'a str> {
        let mut ends = Vec::new();
        self.sentences(text, &mut |r| ends.push(r.end));
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    fn toks(text: &str) -> Vec<&str> {
        let mut en = EnTokenizer::new().expect("spacy data");
        let mut v = Vec::new();
        en.tokenize(text, &mut |r| v.push(&text[r]));
        // The second pass comes from the cache and must agree.
        let mut again = Vec::new();
        en.tokenize(text, &mut |r| again.push(&text[r]));
        assert_eq!(v, again);
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
        // The special-case pass re-merges abbreviations the affix rules split.
        assert_eq!(
            toks("Omar (D-Minn.), the"),
            ["Omar", "(", "D", "-", "Minn.", ")", ",", "the"]
        );
        assert_eq!(
            toks("ok:) fine (Jan.) x"),
            ["ok", ":)", "fine", "(", "Jan.", ")", "x"]
        );
        assert_eq!(
            toks("C++. and a.m.) or (e.g."),
            ["C++", ".", "and", "a.m.", ")", "or", "(", "e.g."]
        );
        assert_eq!(toks("Minn ."), ["Minn", "."]);
    }

    /// 2,000 seeded strings of tricky pieces (abbreviations, contractions, URLs, emoticons,
    /// numbers with units, quotes, CJK, odd whitespace) with spaCy's tokens and sentence count,
    /// written by scripts/gen_spacy_en_tokenizer_data.py.
    #[test]
    fn golden_strings_match_spacy() {
        #[derive(Deserialize)]
        struct Golden {
            text: String,
            tokens: Vec<String>,
            sents: usize,
        }
        let mut en = EnTokenizer::new().expect("spacy data");
        let mut bad = Vec::new();
        let mut n = 0;
        for line in include_str!("../data/spacy_en_golden.jsonl").lines() {
            let g: Golden = serde_json::from_str(line).expect("golden line");
            let ours: Vec<String> = en
                .tokens(&g.text)
                .iter()
                .map(|r| g.text[r.clone()].to_owned())
                .collect();
            let mut sents = 0;
            en.sentences(&g.text, &mut |_| sents += 1);
            if ours != g.tokens || sents != g.sents {
                bad.push(format!(
                    "{:?}\n  ours   {ours:?} {sents}\n  spaCy  {:?} {}",
                    g.text, g.tokens, g.sents
                ));
            }
            n += 1;
        }
        assert!(n >= 2000);
        assert!(
            bad.is_empty(),
            "{} of {n} differ:\n{}",
            bad.len(),
            bad[..bad.len().min(10)].join("\n")
        );
    }

    #[test]
    fn sentences_match_spacy() {
        let mut en = EnTokenizer::new().expect("spacy data");
        let t = "Hello world. This is Mr. Smith. Plan A. Next 3. go";
        assert_eq!(
            en.split_into_sentences(t),
            [
                "Hello world.",
                " This is Mr. Smith.",
                " Plan A. Next 3.",
                " go"
            ]
        );
        assert_eq!(en.count_sentences(""), 1);
        assert_eq!(en.count_sentences("Wait... what? Yes!"), 2);
        assert_eq!(en.count_words("Wait...  what?\n"), 4);
    }
}
