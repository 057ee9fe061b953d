//! MinHash signatures bit-compatible with datatrove 0.10.1's `MinhashDedupSignature`:
//!
//! 1. `simplify_text` (datatrove `utils/text.py`, default `TextNormConfig`), in its order:
//!    lower-case; each `\p{Nd}+([.,،٫⎖⎗⎘]\p{Nd}+)?` run → `0`; each `PUNCTUATION` character →
//!    space; strip and collapse `\s+` to one space; NFD and drop category Mn; strip.
//! 2. Words from the spaCy-English port ([`mdf_text::words`]) — datatrove's `word_tokenize`
//!    for English; consecutive n-grams joined by single spaces; xxh64 (seed 0) of the UTF-8.
//!    A text with fewer than n words has no shingles and no signature.
//! 3. Permutation parameters from numpy's legacy `RandomState(seed)`: `randint(1, p, size=H)`
//!    for a, then `randint(0, p, size=H)` for b (p = 2⁶¹ − 1), reproduced here (MT19937 and
//!    numpy's masked rejection sampling) and checked against numpy in the tests.
//! 4. `h_i = ((s·a_i + b_i) mod 2⁶⁴) mod p` (the multiply and add wrap at 64 bits, as numpy's
//!    uint64 arithmetic does); 32-bit precision masks with 2³² − 1; `sig_i = min h_i`.
//!
//! Differences: Unicode data of the NFD step is the `unicode-normalization` crate's, the Mn
//! table is Python 3.11's (Unicode 14); characters assigned after Unicode 14 may differ.

use mdf_text::pystr::{is_decimal, is_space};
use mdf_text::words::WordTokenizer;
use unicode_normalization::UnicodeNormalization;
use xxhash_rust::xxh64::xxh64;

use super::tables::{MN, PUNCTUATION};

pub const MERSENNE_PRIME: u64 = (1 << 61) - 1;

/// numpy's legacy MT19937 (`RandomState(seed)` with an integer seed).
struct Mt19937 {
    state: [u32; 624],
    index: usize,
}

impl Mt19937 {
    fn new(seed: u32) -> Self {
        let mut state = [0u32; 624];
        state[0] = seed;
        for i in 1..624 {
            state[i] = 1_812_433_253u32
                .wrapping_mul(state[i - 1] ^ (state[i - 1] >> 30))
                .wrapping_add(i as u32);
        }
        Mt19937 { state, index: 624 }
    }

    fn next_u32(&mut self) -> u32 {
        if self.index >= 624 {
            for i in 0..624 {
                let y = (self.state[i] & 0x8000_0000) | (self.state[(i + 1) % 624] & 0x7fff_ffff);
                let mut v = self.state[(i + 397) % 624] ^ (y >> 1);
                if y & 1 != 0 {
                    v ^= 0x9908_b0df;
                }
                self.state[i] = v;
            }
            self.index = 0;
        }
        let mut y = self.state[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    fn next_u64(&mut self) -> u64 {
        (u64::from(self.next_u32()) << 32) | u64::from(self.next_u32())
    }

    /// numpy's `randint(low, high, size=n, dtype=uint64)` for ranges wider than 32 bits
    /// (masked rejection sampling, as the legacy `RandomState` does).
    fn randint_u64(&mut self, low: u64, high: u64, n: usize) -> Vec<u64> {
        let rng = high - 1 - low;
        let mask = u64::MAX >> rng.leading_zeros();
        (0..n)
            .map(|_| loop {
                let v = self.next_u64() & mask;
                if v <= rng {
                    break low + v;
                }
            })
            .collect()
    }
}

/// The permutation parameters `(a, b)` of `num_hashes` hash functions.
pub fn permutations(seed: u32, num_hashes: usize) -> (Vec<u64>, Vec<u64>) {
    let mut mt = Mt19937::new(seed);
    let a = mt.randint_u64(1, MERSENNE_PRIME, num_hashes);
    let b = mt.randint_u64(0, MERSENNE_PRIME, num_hashes);
    (a, b)
}

fn is_punctuation(c: char) -> bool {
    PUNCTUATION.binary_search(&(c as u32)).is_ok()
}

fn is_mn(c: char) -> bool {
    let cp = c as u32;
    MN.binary_search_by(|&(lo, hi)| {
        if hi < cp {
            std::cmp::Ordering::Less
        } else if lo > cp {
            std::cmp::Ordering::Greater
        } else {
            std::cmp::Ordering::Equal
        }
    })
    .is_ok()
}

const DECIMAL_SEPARATORS: [char; 7] = ['.', ',', '،', '٫', '⎖', '⎗', '⎘'];

/// datatrove 0.10.1's `simplify_text` with the default config, into `out`.
pub fn simplify_text(text: &str, scratch: &mut String, out: &mut String) {
    // Lower-case, then numbers → "0" (the number pattern sees lower-cased text, as in datatrove).
    let lower = text.to_lowercase();
    scratch.clear();
    let chars: Vec<char> = lower.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if is_decimal(chars[i]) {
            while i < chars.len() && is_decimal(chars[i]) {
                i += 1;
            }
            if i + 1 < chars.len()
                && DECIMAL_SEPARATORS.contains(&chars[i])
                && is_decimal(chars[i + 1])
            {
                i += 1;
                while i < chars.len() && is_decimal(chars[i]) {
                    i += 1;
                }
            }
            scratch.push('0');
        } else {
            // Punctuation → space.
            scratch.push(if is_punctuation(chars[i]) {
                ' '
            } else {
                chars[i]
            });
            i += 1;
        }
    }
    // Strip, collapse whitespace runs, NFD, drop Mn, strip.
    let mut collapsed = String::with_capacity(scratch.len());
    for (n, word) in scratch
        .split(is_space)
        .filter(|w| !w.is_empty())
        .enumerate()
    {
        if n > 0 {
            collapsed.push(' ');
        }
        collapsed.push_str(word);
    }
    out.clear();
    if collapsed.is_ascii() {
        out.push_str(&collapsed);
    } else {
        out.extend(collapsed.nfd().filter(|&c| !is_mn(c)));
        let trimmed = out.trim_matches(is_space);
        if trimmed.len() != out.len() {
            *out = trimmed.to_owned();
        }
    }
}

/// Computes signatures; one per worker (it keeps its buffers).
pub struct Signer {
    n_grams: usize,
    /// Shingles are windows of `n_grams` characters instead of words.
    char_shingles: bool,
    char_starts: Vec<usize>,
    a: Vec<u64>,
    b: Vec<u64>,
    mask: u64,
    tokenizer: WordTokenizer,
    scratch: String,
    simplified: String,
    joined: String,
}

impl Signer {
    pub fn new(n_grams: usize, num_hashes: usize, seed: u32, precision_32: bool) -> Self {
        let (a, b) = permutations(seed, num_hashes);
        Signer {
            n_grams,
            char_shingles: false,
            char_starts: Vec::new(),
            a,
            b,
            mask: if precision_32 {
                u64::from(u32::MAX)
            } else {
                u64::MAX
            },
            tokenizer: WordTokenizer::new(),
            scratch: String::new(),
            simplified: String::new(),
            joined: String::new(),
        }
    }

    /// Shingles of `n_grams` characters of the simplified text (spaces included) instead of
    /// words: for text without word boundaries or near-duplicates within words.
    pub fn with_char_shingles(mut self) -> Self {
        self.char_shingles = true;
        self
    }

    /// The shingle hashes of `text` (empty when it has fewer than n words, or characters).
    pub fn shingles(&mut self, text: &str, out: &mut Vec<u64>) {
        out.clear();
        simplify_text(text, &mut self.scratch, &mut self.simplified);
        if self.char_shingles {
            self.char_shingles_of_simplified(out);
            return;
        }
        let mut words = Vec::new();
        self.tokenizer.tokenize(&self.simplified, &mut words);
        if words.len() < self.n_grams {
            return;
        }
        for window in words.windows(self.n_grams) {
            self.joined.clear();
            for (i, w) in window.iter().enumerate() {
                if i > 0 {
                    self.joined.push(' ');
                }
                self.joined.push_str(w);
            }
            out.push(xxh64(self.joined.as_bytes(), 0));
        }
    }

    fn char_shingles_of_simplified(&mut self, out: &mut Vec<u64>) {
        let text = self.simplified.as_str();
        self.char_starts.clear();
        self.char_starts.extend(text.char_indices().map(|(i, _)| i));
        self.char_starts.push(text.len());
        let n = self.n_grams;
        if self.char_starts.len() <= n {
            return;
        }
        for w in self.char_starts.windows(n + 1) {
            out.push(xxh64(&text.as_bytes()[w[0]..w[n]], 0));
        }
    }

    /// The signature of a set of shingle hashes, into `sig` (one value per hash function).
    pub fn signature(&self, shingles: &[u64], sig: &mut Vec<u64>) {
        sig.clear();
        sig.resize(self.a.len(), u64::MAX);
        for &s in shingles {
            for ((m, &a), &b) in sig.iter_mut().zip(&self.a).zip(&self.b) {
                let h = (s.wrapping_mul(a).wrapping_add(b) % MERSENNE_PRIME) & self.mask;
                if h < *m {
                    *m = h;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn char_shingles_are_character_windows_of_the_simplified_text() {
        let mut signer = Signer::new(3, 4, 1, false).with_char_shingles();
        let mut out = Vec::new();
        signer.shingles("Ab, cé!", &mut out);
        // simplified: "ab ce" (lower case, punctuation removed, accents stripped)
        let expected: Vec<u64> = ["ab ", "b c", " ce"]
            .iter()
            .map(|s| xxh64(s.as_bytes(), 0))
            .collect();
        assert_eq!(out, expected);
        signer.shingles("ab", &mut out);
        assert!(out.is_empty(), "fewer characters than n: no shingle");
    }

    #[test]
    fn permutations_match_numpy_random_state_1() {
        // np.random.RandomState(1): randint(1, p, size=112), then randint(0, p, size=112).
        let (a, b) = permutations(1, 112);
        assert_eq!(
            a[..3],
            [775169054918279404, 1758426461858698313, 2109959069025162]
        );
        assert_eq!(a[111], 223865076026037746);
        assert_eq!(
            b[..3],
            [
                1062448801025099917,
                1324811268927594100,
                1217488311597731462
            ]
        );
        assert_eq!(b[111], 1097409548522419201);
    }

    /// `data/minhash_golden.jsonl`: texts with datatrove 0.10.1's signatures (5-grams, 112
    /// hashes, seed 1, xxhash), written by `tests/parity/test_minhash.py`'s corpus generator.
    #[test]
    fn signatures_equal_datatrove_golden_file() {
        let golden = include_str!("../../data/minhash_golden.jsonl");
        let mut signer = Signer::new(5, 112, 1, false);
        let (mut shingles, mut sig) = (Vec::new(), Vec::new());
        let mut checked = 0;
        for line in golden.lines() {
            let rec: serde_json::Value = serde_json::from_str(line).expect("json");
            let text = rec["text"].as_str().expect("text");
            let expected: Vec<u64> = rec["signature"]
                .as_array()
                .expect("signature")
                .iter()
                .map(|v| v.as_str().and_then(|s| s.parse().ok()).expect("u64"))
                .collect();
            signer.shingles(text, &mut shingles);
            if shingles.is_empty() {
                sig.clear();
            } else {
                signer.signature(&shingles, &mut sig);
            }
            assert_eq!(sig, expected, "{text:?}");
            checked += 1;
        }
        assert_eq!(checked, 50);
    }

    #[test]
    fn simplify_text_follows_datatrove() {
        let (mut scratch, mut out) = (String::new(), String::new());
        simplify_text(
            "  Héllo, WORLD!  It's 3.14 or 42\tapples… ",
            &mut scratch,
            &mut out,
        );
        assert_eq!(out, "hello world it s 0 or 0 apples");
    }
}
