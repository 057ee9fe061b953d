//! The horizontal resampling pass of short kernels on grey rows, eight output pixels at a time
//! with AVX2 byte shuffles.
//!
//! The fixed-window pass (`pil::horizontal_rows_fixed`) computes one output pixel at a time:
//! about twenty instructions for the 5-tap box of the analysis downscale, which made that pass
//! 7 % of the image profiling stage. Four consecutive outputs of a short kernel read at most 16
//! consecutive input bytes, so one 16-byte load and, per tap, one `pshufb` put that tap's input
//! of each of the four outputs into its own 32-bit lane, ready for the same 22-bit fixed-point
//! multiply-add as the scalar pass; two such groups fill a 256-bit register. Same arithmetic,
//! same output (checked against the per-tap pass in `pil`'s tests).
#![allow(unsafe_code)]

use crate::pil::PRECISION_BITS;

/// Outputs per 128-bit lane, and lanes per register.
const GROUP: usize = 4;
const PAIR: usize = 2 * GROUP;

/// Shuffles and weights for the leading outputs of a row whose windows fit the 16-byte loads.
#[derive(Debug)]
pub(crate) struct ShufflePlan {
    ksize: usize,
    /// The first input byte of each group of four outputs (two groups per register); the
    /// groups served are a prefix of the row's outputs.
    bases: Vec<usize>,
    /// Per pair of groups and tap: for each output, the offset of its input for that tap in
    /// its group's 16 loaded bytes, in the low byte of its 32-bit lane (0x80 zeroes the rest).
    masks: Vec<[u8; 32]>,
    /// Per pair of groups and tap: each output's weight for that tap.
    weights: Vec<[i32; PAIR]>,
}

impl ShufflePlan {
    /// The plan for windows of `ksize` inputs starting at `starts` with `padded` weights
    /// (`ksize` per output) over rows of `in_size` bytes; `None` when no pair of groups fits.
    pub(crate) fn new(
        in_size: usize,
        ksize: usize,
        starts: &[usize],
        padded: &[i32],
    ) -> Option<ShufflePlan> {
        let mut plan = ShufflePlan {
            ksize,
            bases: Vec::new(),
            masks: Vec::new(),
            weights: Vec::new(),
        };
        for (pair, outputs) in starts.chunks_exact(PAIR).enumerate() {
            let groups = [&outputs[..GROUP], &outputs[GROUP..]];
            // Windows only move right, so each group's last window ends its span.
            let fits = groups
                .iter()
                .all(|g| g[GROUP - 1] + ksize - g[0] <= 16 && g[0] + 16 <= in_size);
            if !fits {
                break;
            }
            for t in 0..ksize {
                let (mut mask, mut weight) = ([0x80u8; 32], [0i32; PAIR]);
                for (j, &start) in outputs.iter().enumerate() {
                    let base = groups[j / GROUP][0];
                    mask[4 * j] = (start - base + t) as u8;
                    weight[j] = padded[(pair * PAIR + j) * ksize + t];
                }
                plan.masks.push(mask);
                plan.weights.push(weight);
            }
            plan.bases.extend(groups.map(|g| g[0]));
        }
        (!plan.bases.is_empty()).then_some(plan)
    }

    /// How many leading outputs of each row the plan computes.
    pub(crate) fn outputs(&self) -> usize {
        GROUP * self.bases.len()
    }

    /// Bytes the plan holds (for the coefficient cache's budget).
    pub(crate) fn bytes(&self) -> usize {
        8 * self.bases.len() + 32 * self.masks.len() + 4 * PAIR * self.weights.len()
    }

    /// Writes the first [`Self::outputs`] outputs of each row of `src` (rows of `w` bytes)
    /// into the rows of `out` (rows of `out_w` bytes); returns how many per row it wrote (0
    /// without AVX2 or when the rows do not match the plan).
    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
    pub(crate) fn run(&self, src: &[u8], w: usize, out: &mut [u8], out_w: usize) -> usize {
        #[cfg(target_arch = "x86_64")]
        {
            let fits = self.bases.last().is_some_and(|&b| b + 16 <= w) && self.outputs() <= out_w;
            if fits && crate::simd::use_avx2() {
                for (line, dst) in src.chunks_exact(w).zip(out.chunks_exact_mut(out_w)) {
                    // SAFETY: the CPU has AVX2; every group's 16-byte load starts at a base
                    // with base + 16 <= w = line.len(), and the stores cover outputs() <=
                    // dst.len().
                    unsafe { self.row_avx2(line, dst) };
                }
                return self.outputs();
            }
        }
        0
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn row_avx2(&self, line: &[u8], dst: &mut [u8]) {
        use std::arch::x86_64::*;
        let half = _mm256_set1_epi32(1 << (PRECISION_BITS - 1));
        // Dwords 0 and 4 (each lane's four packed outputs) to the low 64 bits.
        let gather_lanes = _mm256_setr_epi32(0, 4, 0, 0, 0, 0, 0, 0);
        let k = self.ksize;
        for (pair, bases) in self.bases.chunks_exact(2).enumerate() {
            let lo = _mm_loadu_si128(line.as_ptr().add(bases[0]).cast());
            let hi = _mm_loadu_si128(line.as_ptr().add(bases[1]).cast());
            let px = _mm256_set_m128i(hi, lo);
            let mut acc = half;
            let taps = pair * k..(pair + 1) * k;
            for (mask, weight) in self.masks[taps.clone()].iter().zip(&self.weights[taps]) {
                let mask = _mm256_loadu_si256(mask.as_ptr().cast());
                let weight = _mm256_loadu_si256(weight.as_ptr().cast());
                let inputs = _mm256_shuffle_epi8(px, mask);
                acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(inputs, weight));
            }
            // clip8: the arithmetic shift, then saturation to 0..=255 (i32 -> i16 -> u8).
            let v = _mm256_srai_epi32::<{ PRECISION_BITS as i32 }>(acc);
            let v = _mm256_packs_epi32(v, v);
            let v = _mm256_packus_epi16(v, v);
            let v = _mm256_permutevar8x32_epi32(v, gather_lanes);
            _mm_storel_epi64(
                dst.as_mut_ptr().add(pair * PAIR).cast(),
                _mm256_castsi256_si128(v),
            );
        }
    }
}
