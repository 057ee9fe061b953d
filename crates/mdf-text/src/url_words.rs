//! Whole-token word matching for `url_filter`'s weighted mode. A URL is lower-cased and cut into
//! tokens at every character that is not a letter or a digit; a word (which may itself hold
//! several tokens, like `free-money`) matches where its tokens appear in sequence. So `sex` does
//! not match `essex` and `slot` does not match `slots`.

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
}
