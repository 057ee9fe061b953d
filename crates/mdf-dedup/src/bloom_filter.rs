//! The Bloom filter of `bloom_deduplicator`, sized as BFF sizes it: for `n` expected elements and
//! a false-positive target `p`, the smallest byte size whose false-positive rate
//! `(1 − (1 − 1/m)^(k·n))^k` with `k = ⌈(m/n)·ln 2⌉` hash functions is at most `p` (binary search,
//! as BFF's `compute_bloom_size`; `m` = bits).
//!
//! Differences from BFF: elements are 64-bit stable hashes (xxh3, fixed seeds; BFF hashes the
//! tokens with `ahash` under random seeds per run), and the `k` bit positions are derived from
//! that one hash by double hashing (`h1 + i·h2`, Kirsch–Mitzenmacher) instead of `k` independent
//! hashers; both are deterministic across runs and machines. The filter is a plain `Vec<u64>`
//! owned by the single scan task, so no atomics.

use mdf_core::{MdfError, Result};

/// Filter size and hash count for a workload.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BloomSizing {
    /// Filter size in bytes (a multiple of 8).
    pub bytes: u64,
    /// Number of hash functions.
    pub hashes: u32,
    /// Expected elements the size was computed for.
    pub expected: u64,
    /// False-positive rate after `expected` insertions.
    pub fp_rate: f64,
}

/// BFF's optimal hash count: `⌈(m/n)·ln 2⌉`, at least 1.
pub fn optimal_hashes(bytes: u64, expected: u64) -> u32 {
    let bits = bytes as f64 * 8.0;
    let k = (bits / expected.max(1) as f64 * std::f64::consts::LN_2).ceil();
    k.clamp(1.0, 64.0) as u32
}

/// `(1 − (1 − 1/m)^(k·n))^k`, computed in log space so it stays exact for huge `m`.
pub fn false_positive_rate(bytes: u64, expected: u64, hashes: u32) -> f64 {
    let bits = bytes as f64 * 8.0;
    if bits < 1.0 {
        return 1.0;
    }
    let k = f64::from(hashes);
    let empty = (k * expected as f64 * (-1.0 / bits).ln_1p()).exp();
    (1.0 - empty).powf(k)
}

impl BloomSizing {
    /// The smallest filter (in 8-byte words) with at most `fp_rate` false positives after
    /// `expected` insertions, using the optimal hash count for each size.
    pub fn for_rate(expected: u64, fp_rate: f64) -> Result<Self> {
        if !(fp_rate > 0.0 && fp_rate < 1.0) {
            return Err(MdfError::config(format!(
                "fp_rate must be in (0, 1), got {fp_rate}"
            )));
        }
        let expected = expected.max(1);
        let fits = |words: u64| {
            let bytes = words * 8;
            false_positive_rate(bytes, expected, optimal_hashes(bytes, expected)) <= fp_rate
        };
        // Upper bound: twice the closed-form optimum, grown until it fits.
        let optimum = -(expected as f64) * fp_rate.ln() / (std::f64::consts::LN_2.powi(2)) / 64.0;
        let mut hi = (optimum * 2.0).ceil().max(1.0) as u64;
        while !fits(hi) {
            hi = hi
                .checked_mul(2)
                .ok_or_else(|| MdfError::config("Bloom filter size overflows"))?;
        }
        let mut lo = 0u64; // does not fit
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if fits(mid) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        Ok(Self::for_size(hi * 8, expected))
    }

    /// A filter of `bytes` (rounded down to whole 8-byte words, at least one) for `expected`
    /// elements.
    pub fn for_size(bytes: u64, expected: u64) -> Self {
        let bytes = (bytes / 8).max(1) * 8;
        let expected = expected.max(1);
        let hashes = optimal_hashes(bytes, expected);
        BloomSizing {
            bytes,
            hashes,
            expected,
            fp_rate: false_positive_rate(bytes, expected, hashes),
        }
    }
}

/// A Bloom filter over 64-bit element hashes.
pub struct BloomFilter {
    words: Vec<u64>,
    bits: u64,
    hashes: u32,
}

/// A second, independent-looking hash of `h` for double hashing (splitmix64 finaliser), odd so
/// the probe sequence never stalls.
#[inline]
fn second_hash(h: u64) -> u64 {
    let mut z = h.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) | 1
}

/// Probe `i` of `h`: `h + i·step` mapped onto `[0, bits)` by multiply-shift (always `< bits`).
#[inline]
fn probe(h: u64, step: u64, i: u64, bits: u64) -> u64 {
    let x = h.wrapping_add(i.wrapping_mul(step));
    ((u128::from(x) * u128::from(bits)) >> 64) as u64
}

impl BloomFilter {
    /// An empty filter of the given sizing. Allocates `sizing.bytes`.
    pub fn new(sizing: &BloomSizing) -> Result<Self> {
        let words = usize::try_from(sizing.bytes / 8)
            .map_err(|_| MdfError::config("Bloom filter larger than the address space"))?;
        let mut storage = Vec::new();
        storage.try_reserve_exact(words).map_err(|_| {
            MdfError::config(format!(
                "cannot allocate a Bloom filter of {} bytes; lower expected_ngram_count, raise \
                 fp_rate or set max_filter_bytes",
                sizing.bytes
            ))
        })?;
        storage.resize(words, 0);
        Ok(BloomFilter {
            words: storage,
            bits: words as u64 * 64,
            hashes: sizing.hashes.max(1),
        })
    }

    pub fn contains(&self, h: u64) -> bool {
        let step = second_hash(h);
        (0..u64::from(self.hashes)).all(|i| {
            let bit = probe(h, step, i, self.bits);
            self.words[(bit / 64) as usize] & (1u64 << (bit % 64)) != 0
        })
    }

    pub fn insert(&mut self, h: u64) {
        let step = second_hash(h);
        for i in 0..u64::from(self.hashes) {
            let bit = probe(h, step, i, self.bits);
            self.words[(bit / 64) as usize] |= 1u64 << (bit % 64);
        }
    }

    /// Fraction of bits set.
    pub fn fill_ratio(&self) -> f64 {
        let set: u64 = self.words.iter().map(|w| u64::from(w.count_ones())).sum();
        set as f64 / self.bits as f64
    }

    pub fn bytes(&self) -> u64 {
        self.bits / 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizing_matches_the_closed_form_and_bff_hash_count() {
        // n = 10^6 at 1 %: the optimum is −n·ln p / ln²2 ≈ 9.585 bits per element, k = 7.
        let s = BloomSizing::for_rate(1_000_000, 0.01).expect("sizing");
        let bits_per_element = s.bytes as f64 * 8.0 / 1e6;
        assert!((9.5..9.8).contains(&bits_per_element), "{bits_per_element}");
        assert_eq!(s.hashes, 7);
        assert!(s.fp_rate <= 0.01 && s.fp_rate > 0.0095, "{}", s.fp_rate);
        // The next smaller size misses the target: the search found the minimum.
        let smaller = s.bytes - 8;
        assert!(false_positive_rate(smaller, 1_000_000, optimal_hashes(smaller, 1_000_000)) > 0.01);
        // Dolma's paragraph dedup rate, 10^-6: about 28.8 bits per element, k = 20.
        let strict = BloomSizing::for_rate(1_000_000, 1e-6).expect("sizing");
        assert_eq!(strict.hashes, 20);
        assert!((strict.bytes as f64 * 8.0 / 1e6 - 28.76).abs() < 0.2);
        assert!(BloomSizing::for_rate(10, 0.0).is_err());
    }

    #[test]
    fn measured_false_positives_follow_the_sizing() {
        let n = 200_000u64;
        let sizing = BloomSizing::for_rate(n, 0.01).expect("sizing");
        let mut filter = BloomFilter::new(&sizing).expect("filter");
        let h = |i: u64| xxhash_rust::xxh3::xxh3_64(&i.to_le_bytes());
        for i in 0..n {
            filter.insert(h(i));
        }
        assert!((0..n).all(|i| filter.contains(h(i))), "no false negatives");
        let trials = 200_000u64;
        let fp = (n..n + trials).filter(|&i| filter.contains(h(i))).count() as f64 / trials as f64;
        // 0.01 ± 5σ (σ ≈ 0.00022).
        assert!((fp - sizing.fp_rate).abs() < 0.0012, "measured {fp}");
        assert!((filter.fill_ratio() - 0.5).abs() < 0.02);
    }
}
