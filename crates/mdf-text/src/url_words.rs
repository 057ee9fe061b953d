//! Whole-token word matching for `url_filter`'s weighted mode. A URL is lower-cased and cut into
//! tokens at every character that is not a letter or a digit; a word (which may itself hold
//! several tokens, like `free-money`) matches where its tokens appear in sequence. So `sex` does
//! not match `essex` and `slot` does not match `slots`.

use aho_corasick::AhoCorasick;
use std::collections::HashMap;

/// Lower-cased-input tokens: maximal runs of Unicode letters and digits.
pub fn tokens(lowered: &str) -> impl Iterator<Item = &str> {
    lowered
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
}

/// Words with weights, indexed by their first token; longer words first.
#[derive(Debug, Default)]
pub struct WordWeights {
    by_first: HashMap<String, Vec<(Vec<String>, f64)>>,
}

impl WordWeights {
    /// Later entries override earlier ones for the same word (as `dict.update` in the seed).
    pub fn new(words: &[(String, f64)]) -> Self {
        let mut unique: HashMap<Vec<String>, f64> = HashMap::new();
        for (word, weight) in words {
            let lowered = word.to_lowercase();
            let toks: Vec<String> = tokens(&lowered).map(str::to_owned).collect();
            if !toks.is_empty() {
                unique.insert(toks, *weight);
            }
        }
        let mut by_first: HashMap<String, Vec<(Vec<String>, f64)>> = HashMap::new();
        for (toks, weight) in unique {
            let rest = toks[1..].to_vec();
            by_first
                .entry(toks[0].clone())
                .or_default()
                .push((rest, weight));
        }
        for list in by_first.values_mut() {
            list.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        }
        WordWeights { by_first }
    }

    /// The seed's score over every match (repeats included, leftmost-longest, no overlaps):
    /// `min(1, 0.8·max(w) + min(Σw/3, 0.2))`, 0 without a match.
    pub fn score(&self, url: &str) -> f64 {
        if self.by_first.is_empty() {
            return 0.0;
        }
        let lowered = url.to_lowercase();
        let toks: Vec<&str> = tokens(&lowered).collect();
        let (mut max, mut sum, mut any) = (0.0f64, 0.0f64, false);
        let mut i = 0;
        while i < toks.len() {
            let hit = self.by_first.get(toks[i]).and_then(|cands| {
                cands.iter().find(|(rest, _)| {
                    toks.len() > i + rest.len()
                        && rest.iter().zip(&toks[i + 1..]).all(|(a, b)| a == b)
                })
            });
            match hit {
                Some((rest, w)) => {
                    any = true;
                    max = max.max(*w);
                    sum += w;
                    i += 1 + rest.len();
                }
                None => i += 1,
            }
        }
        if !any {
            return 0.0;
        }
        (0.8 * max + (sum / 3.0).min(0.2)).min(1.0)
    }
}

/// Python `re`'s `IGNORECASE` equivalences beyond lower-casing (`re._compiler._equivalences`,
/// CPython 3.11): each character maps to the first of its class. Applied to text that is already
/// lower-cased, it makes `==` behave like an `IGNORECASE` literal match.
fn re_fold(c: char) -> char {
    match c {
        '\u{131}' => 'i',
        '\u{17f}' => 's',
        '\u{b5}' => '\u{3bc}',
        '\u{345}' | '\u{1fbe}' => '\u{3b9}',
        '\u{1fd3}' => '\u{390}',
        '\u{1fe3}' => '\u{3b0}',
        '\u{3d0}' => '\u{3b2}',
        '\u{3f5}' => '\u{3b5}',
        '\u{3d1}' => '\u{3b8}',
        '\u{3f0}' => '\u{3ba}',
        '\u{3d6}' => '\u{3c0}',
        '\u{3f1}' => '\u{3c1}',
        '\u{3c2}' => '\u{3c3}',
        '\u{3d5}' => '\u{3c6}',
        '\u{1e9b}' => '\u{1e61}',
        '\u{fb06}' => '\u{fb05}',
        c => c,
    }
}

/// A lower-cased text prepared for [`ReWords`]: its `IGNORECASE`-folded form, with the map back to
/// the original byte offsets where folding changed lengths.
pub struct Folded<'a> {
    orig: &'a str,
    folded: std::borrow::Cow<'a, str>,
    /// Original byte offset of each folded byte offset (only when folding changed the text).
    offsets: Option<Vec<usize>>,
}

impl<'a> Folded<'a> {
    pub fn new(orig: &'a str) -> Self {
        if !orig.chars().any(|c| re_fold(c) != c) {
            return Folded {
                orig,
                folded: std::borrow::Cow::Borrowed(orig),
                offsets: None,
            };
        }
        let mut folded = String::with_capacity(orig.len());
        let mut offsets = Vec::with_capacity(orig.len() + 1);
        for (i, c) in orig.char_indices() {
            let f = re_fold(c);
            offsets.extend(std::iter::repeat_n(i, f.len_utf8()));
            folded.push(f);
        }
        offsets.push(orig.len());
        Folded {
            orig,
            folded: std::borrow::Cow::Owned(folded),
            offsets: Some(offsets),
        }
    }

    fn orig_offset(&self, folded_offset: usize) -> usize {
        self.offsets
            .as_ref()
            .map_or(folded_offset, |o| o[folded_offset])
    }

    /// `re`'s `\b` at a folded offset, decided on the original characters (`\w` = `isalnum()`
    /// or `_`; the ends of the text count as non-word).
    fn boundary(&self, folded_offset: usize) -> bool {
        let at = self.orig_offset(folded_offset);
        let before = self.orig[..at].chars().next_back();
        let after = self.orig[at..].chars().next();
        before.is_some_and(crate::pystr::is_word_char)
            != after.is_some_and(crate::pystr::is_word_char)
    }
}

/// A word list matched like a Python `re` alternation of the escaped words with `IGNORECASE`
/// (DCLM's `url_substring_filter` through `retrie`), via Aho-Corasick.
pub struct ReWords {
    ac: Option<AhoCorasick>,
}

impl ReWords {
    /// Words are lower-cased (`str.lower()`) and folded; empty ones are skipped.
    pub fn new<'w>(words: impl IntoIterator<Item = &'w str>) -> Result<Self, String> {
        let mut list: Vec<String> = words
            .into_iter()
            .map(|w| w.to_lowercase().chars().map(re_fold).collect::<String>())
            .filter(|w| !w.is_empty())
            .collect();
        list.sort();
        list.dedup();
        if list.is_empty() {
            return Ok(ReWords { ac: None });
        }
        let ac = AhoCorasick::new(&list).map_err(|e| e.to_string())?;
        Ok(ReWords { ac: Some(ac) })
    }

    pub fn is_empty(&self) -> bool {
        self.ac.is_none()
    }

    /// Some word occurs anywhere (`pattern.search` without `\b`).
    pub fn any_substring(&self, text: &Folded<'_>) -> bool {
        self.ac
            .as_ref()
            .is_some_and(|ac| ac.is_match(text.folded.as_ref()))
    }

    /// Every whole-word occurrence (`\b` on both sides), overlapping ones included.
    fn whole_words<'s>(
        &'s self,
        text: &'s Folded<'_>,
    ) -> impl Iterator<Item = (usize, usize)> + 's {
        self.ac
            .iter()
            .flat_map(move |ac| ac.find_overlapping_iter(text.folded.as_ref()))
            .map(|m| (m.start(), m.end()))
            .filter(move |&(s, e)| text.boundary(s) && text.boundary(e))
    }

    /// Some word occurs as a whole word (`\b(?:…)\b` finds a match).
    pub fn any_whole_word(&self, text: &Folded<'_>) -> bool {
        self.whole_words(text).next().is_some()
    }

    /// `len(set(pattern.findall(text)))` for `\b(?:…)\b`: matches scanned left to right without
    /// overlap, the longest word winning at a position; distinct as matched (original) text.
    pub fn distinct_whole_words(&self, text: &Folded<'_>) -> usize {
        let mut hits: Vec<(usize, usize)> = self.whole_words(text).collect();
        hits.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        let mut seen: Vec<&str> = Vec::new();
        let mut next = 0;
        for (s, e) in hits {
            if s < next {
                continue;
            }
            next = e;
            let matched = &text.orig[text.orig_offset(s)..text.orig_offset(e)];
            if !seen.contains(&matched) {
                seen.push(matched);
            }
        }
        seen.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ww(words: &[(&str, f64)]) -> WordWeights {
        let v: Vec<(String, f64)> = words.iter().map(|(w, x)| (w.to_string(), *x)).collect();
        WordWeights::new(&v)
    }

    #[test]
    fn words_match_whole_tokens_only() {
        let w = ww(&[("sex", 0.8), ("free-money", 0.8), ("slot", 0.6)]);
        assert_eq!(w.score("https://www.essex.ac.uk/sussex"), 0.0);
        assert_eq!(w.score("https://casino.com/slots"), 0.0);
        // 0.8 · 0.8 + min(0.8 / 3, 0.2)
        assert!((w.score("https://x.com/SEX/page") - 0.84).abs() < 1e-12);
        assert!(w.score("https://x.com/free_money-now") > 0.5);
        assert_eq!(w.score("https://x.com/free/other/money"), 0.0);
    }

    #[test]
    fn repeats_add_up_and_score_is_capped() {
        let w = ww(&[("porn", 1.0), ("hack", 0.5)]);
        assert_eq!(w.score("porn.porn/porn"), 1.0);
        let s = w.score("a.com/hack/hack");
        assert!((s - (0.4 + (1.0f64 / 3.0).min(0.2))).abs() < 1e-12);
    }

    #[test]
    fn re_words_follow_python_re_ignorecase_and_word_boundaries() {
        let w = ReWords::new(["Sex", "s&m", "sexy", "ab", "abc"]).expect("build");
        let t = |s: &'static str| Folded::new(s);
        assert!(w.any_substring(&t("essex")));
        assert!(!w.any_whole_word(&t("essex")));
        assert!(
            w.any_whole_word(&t("a/ſex/b")),
            "ſ matches s under IGNORECASE"
        );
        assert!(w.any_whole_word(&t("x-s&m-y")));
        assert!(!w.any_whole_word(&t("xs&m")));
        assert!(
            w.any_whole_word(&t("sex\u{300}")),
            "a combining mark is not \\w"
        );
        assert!(!w.any_whole_word(&t("sex_")));
        assert_eq!(w.distinct_whole_words(&t("sex/sex/sexy")), 2);
        assert_eq!(
            w.distinct_whole_words(&t("sex/ſex")),
            2,
            "distinct as matched text"
        );
        assert_eq!(w.distinct_whole_words(&t("abc ab")), 2);
        let i = ReWords::new(["tit"]).expect("build");
        assert!(i.any_whole_word(&t("tıt")));
        assert!(ReWords::new(["", ""]).expect("build").is_empty());
    }
}
