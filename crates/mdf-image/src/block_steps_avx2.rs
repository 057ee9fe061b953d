//! The AVX2 kernel of the blockiness measure: sums of absolute steps between neighbouring grey
//! pixels, split into steps that cross an 8×8 block boundary and the others.
//!
//! Why by hand: the compiler widens the bytes to 32-bit lanes for the sums and takes the
//! boundary columns one pixel at a time (half of the measure's time). Here `vpsadbw` sums 32
//! absolute differences per instruction, and the boundary steps are the same differences
//! masked to every eighth byte. Integer sums, so the results are the scalar code's exactly.
#![allow(unsafe_code)]

use std::arch::x86_64::*;

/// (Σ steps across block boundaries, Σ the other steps) of the `w`×`h` grey image `l`: the
/// horizontal steps between columns x − 1 and x (across a boundary when x is a multiple of 8)
/// and the vertical steps between rows y − 1 and y (likewise for y); `None` on a CPU without
/// AVX2.
pub(crate) fn block_step_sums(l: &[u8], w: usize, h: usize) -> Option<(u64, u64)> {
    if !crate::simd::use_avx2() {
        return None;
    }
    // SAFETY: the CPU supports AVX2.
    Some(unsafe { block_step_sums_avx2(l, w, h) })
}

/// Bytes per step of the horizontal loop; the loads reach one byte further.
const STEP: usize = 32;

#[target_feature(enable = "avx2")]
unsafe fn block_step_sums_avx2(l: &[u8], w: usize, h: usize) -> (u64, u64) {
    // Byte 7 of every 8: with steps that start at a multiple of 8, the step into column x sits
    // at byte x − 1 of the difference vector, so these are the steps into x = 8, 16, 24, 32.
    let boundary = _mm256_set1_epi64x(0xFF00_0000_0000_0000_u64 as i64);
    let zero = _mm256_setzero_si256();
    let (mut all, mut at_boundary) = (zero, zero);
    let (mut edge, mut inner) = (0u64, 0u64);
    let mut prev: Option<&[u8]> = None;
    for (y, row) in l.chunks_exact(w).take(h).enumerate() {
        let p = row.as_ptr();
        let mut x0 = 0;
        // In bounds: the loads read bytes x0 .. x0 + STEP + 1 <= w.
        while x0 + STEP < w {
            let left = _mm256_loadu_si256(p.add(x0).cast());
            let right = _mm256_loadu_si256(p.add(x0 + 1).cast());
            all = _mm256_add_epi64(all, _mm256_sad_epu8(right, left));
            let steps =
                _mm256_or_si256(_mm256_subs_epu8(right, left), _mm256_subs_epu8(left, right));
            at_boundary = _mm256_add_epi64(
                at_boundary,
                _mm256_sad_epu8(_mm256_and_si256(steps, boundary), zero),
            );
            x0 += STEP;
        }
        for x in x0 + 1..w {
            let step = u64::from(row[x].abs_diff(row[x - 1]));
            if x % 8 == 0 {
                edge += step;
            } else {
                inner += step;
            }
        }
        if let Some(above) = prev {
            let step = sum_abs_diff(row, above);
            if y % 8 == 0 {
                edge += step;
            } else {
                inner += step;
            }
        }
        prev = Some(row);
    }
    let (all, at_boundary) = (lane_sum(all), lane_sum(at_boundary));
    (edge + at_boundary, inner + all - at_boundary)
}

/// Σ |a[i] − b[i]| of two rows of equal length.
#[target_feature(enable = "avx2")]
unsafe fn sum_abs_diff(a: &[u8], b: &[u8]) -> u64 {
    let n = a.len().min(b.len());
    let mut acc = _mm256_setzero_si256();
    let mut x = 0;
    while x + STEP <= n {
        let va = _mm256_loadu_si256(a.as_ptr().add(x).cast());
        let vb = _mm256_loadu_si256(b.as_ptr().add(x).cast());
        acc = _mm256_add_epi64(acc, _mm256_sad_epu8(va, vb));
        x += STEP;
    }
    let tail: u64 = a[x..n]
        .iter()
        .zip(&b[x..n])
        .map(|(&p, &q)| u64::from(p.abs_diff(q)))
        .sum();
    lane_sum(acc) + tail
}

/// The sum of the four 64-bit lanes of `v`.
#[inline(always)]
unsafe fn lane_sum(v: __m256i) -> u64 {
    let mut lanes = [0u64; 4];
    _mm256_storeu_si256(lanes.as_mut_ptr().cast(), v);
    lanes.iter().sum()
}
