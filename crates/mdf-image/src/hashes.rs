//! Perceptual hashes bit-compatible with the Python `imagehash` package (4.x): `phash`,
//! `dhash` and `average_hash`, computed from a Pillow-compatible `L` image (see [`crate::pil`]).
//! Definitions: image-video-recipes.md §0.5. Hex strings are imagehash's `str(hash)`: bits
//! row-major, first bit most significant, lower-case, zero-padded to ⌈bits/4⌉ digits.

use crate::pil::{resize_l, Filter};

/// Which hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HashKind {
    /// `imagehash.phash(img, hash_size, highfreq_factor=4)`.
    Phash,
    /// `imagehash.dhash(img, hash_size)` (horizontal gradient).
    Dhash,
    /// `imagehash.average_hash(img, hash_size)`.
    Ahash,
}

impl HashKind {
    pub fn name(self) -> &'static str {
        match self {
            HashKind::Phash => "phash",
            HashKind::Dhash => "dhash",
            HashKind::Ahash => "ahash",
        }
    }
}

/// A hash as bits, most significant first, packed into u64 words (the last word left-aligned
/// when the bit count is not a multiple of 64).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Bits {
    pub words: Vec<u64>,
    pub len: usize,
}

impl Bits {
    fn from_bools(bits: impl Iterator<Item = bool>) -> Bits {
        let mut words = Vec::new();
        let mut len = 0;
        for b in bits {
            if len % 64 == 0 {
                words.push(0);
            }
            if b {
                if let Some(last) = words.last_mut() {
                    *last |= 1 << (63 - len % 64);
                }
            }
            len += 1;
        }
        Bits { words, len }
    }

    /// imagehash's hex string.
    pub fn to_hex(&self) -> String {
        let digits = self.len.div_ceil(4);
        // Right-align the bit string into whole hex digits, as Python's int formatting does.
        let pad = digits * 4 - self.len;
        let mut out = String::with_capacity(digits);
        for d in 0..digits {
            let mut v = 0u32;
            for i in 0..4 {
                let pos = (d * 4 + i) as isize - pad as isize;
                v <<= 1;
                if pos >= 0 && self.bit(pos as usize) {
                    v |= 1;
                }
            }
            out.push(char::from_digit(v, 16).unwrap_or('0'));
        }
        out
    }

    /// Parses a hex string of `len` bits (imagehash's `hex_to_hash` layout).
    pub fn from_hex(hex: &str, len: usize) -> Option<Bits> {
        let digits = len.div_ceil(4);
        if hex.len() != digits {
            return None;
        }
        let pad = digits * 4 - len;
        let mut all = Vec::with_capacity(digits * 4);
        for c in hex.chars() {
            let v = c.to_digit(16)?;
            all.extend((0..4).rev().map(|i| v >> i & 1 == 1));
        }
        if all[..pad].iter().any(|&b| b) {
            return None;
        }
        Some(Bits::from_bools(all.into_iter().skip(pad)))
    }

    /// The words as big-endian bytes (a compact payload).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.words.iter().flat_map(|w| w.to_be_bytes()).collect()
    }

    /// Inverse of [`Bits::to_bytes`]; `None` when the byte count does not fit `len`.
    pub fn from_bytes(bytes: &[u8], len: usize) -> Option<Bits> {
        if bytes.len() != len.div_ceil(64) * 8 {
            return None;
        }
        let words = bytes
            .chunks_exact(8)
            .map(|c| c.try_into().map(u64::from_be_bytes))
            .collect::<std::result::Result<Vec<u64>, _>>()
            .ok()?;
        Some(Bits { words, len })
    }

    pub fn bit(&self, i: usize) -> bool {
        self.words[i / 64] >> (63 - i % 64) & 1 == 1
    }

    /// Hamming distance (bits that differ); both must have the same length.
    pub fn hamming(&self, other: &Bits) -> u32 {
        self.words
            .iter()
            .zip(&other.words)
            .map(|(a, b)| (a ^ b).count_ones())
            .sum()
    }
}

/// Computes `kind` with `hash_size` from an `L` image of `w`×`h`.
pub fn hash(kind: HashKind, hash_size: usize, l: &[u8], w: usize, h: usize) -> Bits {
    match kind {
        HashKind::Phash => phash(l, w, h, hash_size),
        HashKind::Dhash => {
            let px = resize_l(l, w, h, hash_size + 1, hash_size, Filter::Lanczos);
            let row = hash_size + 1;
            Bits::from_bools((0..hash_size).flat_map(|y| {
                let px = &px;
                (0..hash_size).map(move |x| px[y * row + x + 1] > px[y * row + x])
            }))
        }
        HashKind::Ahash => {
            let px = resize_l(l, w, h, hash_size, hash_size, Filter::Lanczos);
            let mean = px.iter().map(|&v| f64::from(v)).sum::<f64>() / px.len() as f64;
            Bits::from_bools(px.iter().map(|&v| f64::from(v) > mean))
        }
    }
}

/// `imagehash.phash`: resize to (4·hash_size)², unnormalised DCT-II along columns then rows
/// (scipy.fftpack.dct), keep the top-left hash_size² block, bit = value > median.
fn phash(l: &[u8], w: usize, h: usize, hash_size: usize) -> Bits {
    let n = hash_size * 4;
    let px = resize_l(l, w, h, n, n, Filter::Lanczos);
    let cos: Vec<f64> = (0..hash_size)
        .flat_map(|k| {
            (0..n).map(move |i| {
                (std::f64::consts::PI * k as f64 * (2 * i + 1) as f64 / (2 * n) as f64).cos()
            })
        })
        .collect();
    // Along axis 0: cols[k][x] = 2 Σ_y px[y][x] cos(π k (2y+1) / 2n), for k < hash_size.
    let mut cols = vec![0f64; hash_size * n];
    for k in 0..hash_size {
        let c = &cos[k * n..(k + 1) * n];
        for x in 0..n {
            let s: f64 = (0..n).map(|y| f64::from(px[y * n + x]) * c[y]).sum();
            cols[k * n + x] = 2.0 * s;
        }
    }
    let mut low = Vec::with_capacity(hash_size * hash_size);
    for k in 0..hash_size {
        let row = &cols[k * n..(k + 1) * n];
        for j in 0..hash_size {
            let c = &cos[j * n..(j + 1) * n];
            let s: f64 = row.iter().zip(c).map(|(a, b)| a * b).sum();
            low.push(2.0 * s);
        }
    }
    let mut sorted = low.clone();
    sorted.sort_by(f64::total_cmp);
    let m = sorted.len();
    let median = if m % 2 == 0 {
        (sorted[m / 2 - 1] + sorted[m / 2]) / 2.0
    } else {
        sorted[m / 2]
    };
    Bits::from_bools(low.into_iter().map(|v| v > median))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_is_msb_first() {
        let b =
            Bits::from_bools([true, false, false, false, false, false, false, true].into_iter());
        assert_eq!(b.to_hex(), "81");
        assert_eq!(Bits::from_hex("81", 8), Some(b.clone()));
        let long = Bits::from_bools((0..256).map(|i| i % 3 == 0));
        assert_eq!(Bits::from_hex(&long.to_hex(), 256), Some(long.clone()));
        assert_eq!(long.hamming(&long), 0);
        assert!(Bits::from_hex("zz", 8).is_none());
        assert!(Bits::from_hex("8", 8).is_none());
    }

    #[test]
    fn hamming_counts_differing_bits() {
        let a = Bits::from_hex("ffff0000ffff0000", 64).unwrap();
        let b = Bits::from_hex("ffff0000ffff0003", 64).unwrap();
        assert_eq!(a.hamming(&b), 2);
    }

    /// A deterministic test pattern (reproduced in Python to make the golden values).
    pub(crate) fn pattern(w: usize, h: usize) -> Vec<u8> {
        (0..h)
            .flat_map(|y| (0..w).map(move |x| ((x * 37 + y * 91 + (x * y) % 23 * 7) % 256) as u8))
            .collect()
    }

    /// Golden values from imagehash 4.3.2 on Pillow 13.0 (`Image.fromarray(pattern, "L")`).
    #[test]
    fn golden_hashes_match_imagehash() {
        let cases = [
            (
                (20, 60),
                "eabbb5c796094a24",
                "ca6a338db1b4c71492d209f44ad7242e65fcd3cbb05b7aa54aad2d1a2f3e8364",
                "d95ab391ae61abb4",
                "6dab595970b8c9de",
            ),
            (
                (60, 20),
                "9bf015f74cb46a82",
                "8b5ef0d9154cf7f14c7ea4e76a1982aa5f9124269bc55d3188d51523b6ce5525",
                "885c95b669494eaa",
                "64ee6d5bbca12710",
            ),
            (
                (97, 41),
                "9e49e48e1a1ba4e7",
                "9e61493be4168ece1a211bf9b4fae77e33c50ba97d1a98ceb72e23204159a526",
                "a6c2ac5928656c26",
                "92faf70c8c373697",
            ),
        ];
        for ((w, h), p8, p16, d8, a8) in cases {
            let l = pattern(w, h);
            assert_eq!(hash(HashKind::Phash, 8, &l, w, h).to_hex(), p8, "{w}x{h}");
            assert_eq!(hash(HashKind::Phash, 16, &l, w, h).to_hex(), p16, "{w}x{h}");
            assert_eq!(hash(HashKind::Dhash, 8, &l, w, h).to_hex(), d8, "{w}x{h}");
            assert_eq!(hash(HashKind::Ahash, 8, &l, w, h).to_hex(), a8, "{w}x{h}");
        }
    }

    #[test]
    fn dhash_of_a_left_to_right_ramp_is_all_ones() {
        let (w, h) = (90, 40);
        let l: Vec<u8> = (0..w * h)
            .map(|i| ((i % w) * 255 / (w - 1)) as u8)
            .collect();
        let d = hash(HashKind::Dhash, 8, &l, w, h);
        assert_eq!(d.to_hex(), "ffffffffffffffff");
        let a = hash(HashKind::Ahash, 8, &l, w, h);
        // Right half brighter than the mean: 0x0f per row.
        assert_eq!(a.to_hex(), "0f0f0f0f0f0f0f0f");
    }
}
