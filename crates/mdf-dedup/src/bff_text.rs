//! BFF's view of a text (`allenai/bff`, as vendored in DCLM `dedup/bff`): paragraphs are the
//! byte windows between consecutive `\n` positions (`[0, n₁), [n₁, n₂), …, [n_last, len)`, so
//! every paragraph after the first starts with its `\n`); tokens are the Unicode word-boundary
//! segments (UAX #29) that contain a non-whitespace character, punctuation included; a unit's
//! n-grams are its sliding windows of `ngram_size` tokens, or, when it has none but at least
//! `min_ngram_size` tokens, one n-gram of all its tokens.
//!
//! An n-gram's hash is a stable xxh3 of its tokens' xxh3 hashes (BFF hashes the token strings
//! with seeded `ahash`); each token is hashed once, not once per window.

use unicode_segmentation::UnicodeSegmentation;
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

/// Seed of the n-gram hash (any fixed value; changing it changes which n-grams collide).
const NGRAM_SEED: u64 = 0x6266_665f_6e67_7261;
/// Seed of the whole-text hash of `remove_type: exact`.
const EXACT_SEED: u64 = 0x6266_665f_6578_6163;

/// The paragraph boundaries of `text` into `out` (cleared first): `0`, every `\n` position,
/// `text.len()`. Paragraph `i` is `text[out[i]..out[i + 1]]`.
pub fn paragraph_bounds(text: &str, out: &mut Vec<usize>) {
    out.clear();
    out.push(0);
    out.extend(text.match_indices('\n').map(|(i, _)| i));
    out.push(text.len());
}

/// BFF's tokens: word-boundary segments with at least one non-whitespace character.
pub fn tokens(text: &str) -> impl Iterator<Item = &str> {
    text.split_word_bounds()
        .filter(|w| w.chars().any(|c| !c.is_whitespace()))
}

/// The stable hash of a whole text (`remove_type: exact`; BFF hashes the raw text).
pub fn exact_hash(text: &str) -> u64 {
    xxh3_64_with_seed(text.as_bytes(), EXACT_SEED)
}

/// Reusable buffers for n-gram hashing.
#[derive(Debug, Default)]
pub struct NgramHasher {
    /// The unit's token hashes, little-endian, back to back.
    token_bytes: Vec<u8>,
}

impl NgramHasher {
    /// Appends the hashes of `unit`'s n-grams to `out`; returns how many.
    pub fn hash_unit(
        &mut self,
        unit: &str,
        ngram_size: usize,
        min_ngram_size: usize,
        out: &mut Vec<u64>,
    ) -> usize {
        self.token_bytes.clear();
        for token in tokens(unit) {
            self.token_bytes
                .extend_from_slice(&xxh3_64(token.as_bytes()).to_le_bytes());
        }
        let count = self.token_bytes.len() / 8;
        if count >= ngram_size {
            let windows = count - ngram_size + 1;
            out.extend((0..windows).map(|i| {
                xxh3_64_with_seed(&self.token_bytes[8 * i..8 * (i + ngram_size)], NGRAM_SEED)
            }));
            windows
        } else if count >= min_ngram_size && count > 0 {
            out.push(xxh3_64_with_seed(&self.token_bytes, NGRAM_SEED));
            1
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_keep_their_leading_newline() {
        let text = "ab\ncd\n\nef";
        let mut bounds = Vec::new();
        paragraph_bounds(text, &mut bounds);
        let paragraphs: Vec<&str> = bounds.windows(2).map(|w| &text[w[0]..w[1]]).collect();
        assert_eq!(paragraphs, ["ab", "\ncd", "\n", "\nef"]);
        paragraph_bounds("", &mut bounds);
        assert_eq!(bounds, [0, 0]);
    }

    #[test]
    fn tokens_are_uax29_words_and_punctuation_without_whitespace() {
        let got: Vec<&str> = tokens("Hello, world!  It's 3.14 —\tok\n").collect();
        assert_eq!(got, ["Hello", ",", "world", "!", "It's", "3.14", "—", "ok"]);
        assert_eq!(tokens("  \n\t ").count(), 0);
    }

    #[test]
    fn ngrams_follow_bffs_window_and_short_unit_rules() {
        let mut hasher = NgramHasher::default();
        let mut out = Vec::new();
        let words = "a b c d e";
        // 5 tokens, n = 3: 3 windows.
        assert_eq!(hasher.hash_unit(words, 3, 3, &mut out), 3);
        // Windows are position independent: "b c d" here equals "b c d" elsewhere.
        let mut other = Vec::new();
        hasher.hash_unit("x b c d", 3, 3, &mut other);
        assert_eq!(out[1], other[1]);
        assert_ne!(out[0], other[0]);
        // Fewer tokens than n but at least min: one n-gram of all tokens.
        out.clear();
        assert_eq!(hasher.hash_unit(words, 13, 5, &mut out), 1);
        // Fewer than min: nothing (the unit is always kept and inserts nothing).
        out.clear();
        assert_eq!(hasher.hash_unit(words, 13, 13, &mut out), 0);
        assert!(out.is_empty());
        // Whitespace does not matter, token boundaries do.
        let (mut a, mut b) = (Vec::new(), Vec::new());
        hasher.hash_unit("one  two\tthree", 3, 3, &mut a);
        hasher.hash_unit("\none two three", 3, 3, &mut b);
        assert_eq!(a, b);
    }
}
