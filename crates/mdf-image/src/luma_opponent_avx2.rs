//! The AVX2 kernel of the analyser's first pass over the decoded RGB: Pillow's `L` of every
//! pixel and the opponent-colour sums, 16 pixels at a time.
//!
//! Why by hand: the compiler's vectorisation of the stride-3 loop takes 8 pixels per step in
//! 32-bit lanes. Here the pixels are de-interleaved with byte shuffles, and both results are
//! taken in 16-bit lanes with `pmaddwd`: the luma as 19595·R + 5703·G + 32767·G + 7471·B
//! (38470 does not fit a signed 16-bit weight, so G's weight is split over two pairs), the
//! opponent squares as pairwise products. Every sum is exact, so the results are the scalar
//! code's bit for bit (tests compare the two).
#![allow(unsafe_code)]

use std::arch::x86_64::*;

/// Pixels per step.
pub(crate) const STEP: usize = 16;

/// Pixels per block of 32-bit partial sums: per lane and step the largest term is a pair of
/// (2·yb)² ≤ 2 · 510², and 8,192 / 16 steps of it stay below 2^31.
const BLOCK: usize = 8192;

/// `pshufb` masks that gather channel `channel` of 16 interleaved pixels from the three
/// 16-byte thirds of their 48 bytes (`0x80`: a zero byte, filled from another third).
const fn gather_masks(channel: usize) -> [[u8; 16]; 3] {
    let mut masks = [[0x80u8; 16]; 3];
    let mut i = 0;
    while i < 16 {
        let byte = 3 * i + channel;
        masks[byte / 16][i] = (byte % 16) as u8;
        i += 1;
    }
    masks
}

const MASKS: [[[u8; 16]; 3]; 3] = [gather_masks(0), gather_masks(1), gather_masks(2)];

/// One channel of 16 pixels from the thirds `thirds`, widened to 16-bit lanes.
#[inline(always)]
unsafe fn channel(thirds: [__m128i; 3], masks: &[[u8; 16]; 3]) -> __m256i {
    let mut bytes = _mm_setzero_si128();
    for (third, mask) in thirds.into_iter().zip(masks) {
        let mask = _mm_loadu_si128(mask.as_ptr().cast());
        bytes = _mm_or_si128(bytes, _mm_shuffle_epi8(third, mask));
    }
    _mm256_cvtepu8_epi16(bytes)
}

/// The sum of the eight 32-bit lanes of `v`, widened.
#[inline(always)]
unsafe fn lane_sum(v: __m256i) -> i64 {
    let mut lanes = [0i32; 8];
    _mm256_storeu_si256(lanes.as_mut_ptr().cast(), v);
    lanes.iter().map(|&x| i64::from(x)).sum()
}

/// Writes Pillow's `L` of the first `STEP · n` pixels of `rgb` (interleaved RGB) into `luma`,
/// `n` as large as both allow, and returns the pixels done and their opponent sums
/// `[Σ (R − G), Σ (R + G − 2B), Σ (R − G)², Σ (R + G − 2B)²]`; `None` on a CPU without AVX2.
pub(crate) fn luma_and_opponent_sums(rgb: &[u8], luma: &mut [u8]) -> Option<(usize, [i64; 4])> {
    if !crate::simd::use_avx2() {
        return None;
    }
    // SAFETY: the CPU supports AVX2.
    Some(unsafe { luma_and_opponent_sums_avx2(rgb, luma) })
}

#[target_feature(enable = "avx2")]
unsafe fn luma_and_opponent_sums_avx2(rgb: &[u8], luma: &mut [u8]) -> (usize, [i64; 4]) {
    let pixels = (rgb.len() / 3).min(luma.len()) / STEP * STEP;
    let weights_rg = _mm256_set1_epi32(5703 << 16 | 19595);
    let weights_bg = _mm256_set1_epi32(32767 << 16 | 7471);
    let half = _mm256_set1_epi32(1 << 15);
    let ones = _mm256_set1_epi16(1);
    let mut sums = [0i64; 4];
    for start in (0..pixels).step_by(BLOCK) {
        let end = (start + BLOCK).min(pixels);
        let mut acc = [_mm256_setzero_si256(); 4];
        for at in (start..end).step_by(STEP) {
            // In bounds: `at + STEP <= pixels`, which fits both slices.
            let src = rgb.as_ptr().add(3 * at);
            let thirds = [
                _mm_loadu_si128(src.cast()),
                _mm_loadu_si128(src.add(16).cast()),
                _mm_loadu_si128(src.add(32).cast()),
            ];
            let r = channel(thirds, &MASKS[0]);
            let g = channel(thirds, &MASKS[1]);
            let b = channel(thirds, &MASKS[2]);
            // L = (19595 R + 38470 G + 7471 B + 2^15) >> 16, on (R, G) and (B, G) pairs.
            let l32 = |rg: __m256i, bg: __m256i| {
                let sum = _mm256_add_epi32(
                    _mm256_madd_epi16(rg, weights_rg),
                    _mm256_madd_epi16(bg, weights_bg),
                );
                _mm256_srli_epi32::<16>(_mm256_add_epi32(sum, half))
            };
            let lo = l32(_mm256_unpacklo_epi16(r, g), _mm256_unpacklo_epi16(b, g));
            let hi = l32(_mm256_unpackhi_epi16(r, g), _mm256_unpackhi_epi16(b, g));
            // The unpacks and packs work within 128-bit lanes and undo each other; the last
            // permute joins the two lanes' 8 bytes.
            let l16 = _mm256_packus_epi32(lo, hi);
            let l8 = _mm256_permute4x64_epi64::<0b1000>(_mm256_packus_epi16(l16, l16));
            _mm_storeu_si128(luma.as_mut_ptr().add(at).cast(), _mm256_castsi256_si128(l8));
            let d = _mm256_sub_epi16(r, g);
            let e = _mm256_sub_epi16(_mm256_add_epi16(r, g), _mm256_add_epi16(b, b));
            acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(d, ones));
            acc[1] = _mm256_add_epi32(acc[1], _mm256_madd_epi16(e, ones));
            acc[2] = _mm256_add_epi32(acc[2], _mm256_madd_epi16(d, d));
            acc[3] = _mm256_add_epi32(acc[3], _mm256_madd_epi16(e, e));
        }
        for (sum, acc) in sums.iter_mut().zip(acc) {
            *sum += lane_sum(acc);
        }
    }
    (pixels, sums)
}
