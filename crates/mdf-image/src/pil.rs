//! Pillow-compatible pixel arithmetic, reproduced operation for operation so that perceptual
//! hashes match the Python `imagehash` package bit for bit:
//!
//! - `convert("L")`: ITU-R 601-2 luma in Pillow's 16-bit fixed point,
//!   `(R·19595 + G·38470 + B·7471 + 0x8000) >> 16` (`rgb2l` in `libImaging/Convert.c`).
//! - `resize(..., LANCZOS)` (and BOX/BILINEAR): `libImaging/Resample.c` of Pillow 13: per
//!   output pixel coefficients computed in f64 (`precompute_coeffs`), normalised to 22-bit fixed
//!   point, two separable passes (order as Pillow picks it, see [`resize`]), each rounding and
//!   clamping to u8. BICUBIC (Pillow's `a = -0.5` kernel) is the filter CLIP/SigLIP image
//!   processors resize with ([`crate::model_input`]).

use std::cell::RefCell;
use std::collections::HashMap;
use std::f64::consts::PI;
use std::rc::Rc;

use crate::grey_shuffle::ShufflePlan;
use crate::simd::avx2_dispatch;

/// Resampling filters of Pillow, with their support.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Filter {
    Box,
    Bilinear,
    Bicubic,
    Lanczos,
}

impl Filter {
    fn support(self) -> f64 {
        match self {
            Filter::Box => 0.5,
            Filter::Bilinear => 1.0,
            Filter::Bicubic => 2.0,
            Filter::Lanczos => 3.0,
        }
    }

    fn weight(self, x: f64) -> f64 {
        match self {
            Filter::Box => {
                if x > -0.5 && x <= 0.5 {
                    1.0
                } else {
                    0.0
                }
            }
            Filter::Bilinear => {
                let x = x.abs();
                if x < 1.0 {
                    1.0 - x
                } else {
                    0.0
                }
            }
            Filter::Bicubic => {
                // `bicubic_filter` of Pillow's Resample.c, a = -0.5.
                const A: f64 = -0.5;
                let x = x.abs();
                if x < 1.0 {
                    ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
                } else if x < 2.0 {
                    (((x - 5.0) * x + 8.0) * x - 4.0) * A
                } else {
                    0.0
                }
            }
            Filter::Lanczos => {
                if (-3.0..3.0).contains(&x) {
                    sinc(x) * sinc(x / 3.0)
                } else {
                    0.0
                }
            }
        }
    }
}

fn sinc(x: f64) -> f64 {
    if x == 0.0 {
        1.0
    } else {
        let x = x * PI;
        x.sin() / x
    }
}

/// Pillow's `rgb2l`: interleaved RGB → luma. Every byte of `out` is written, so a buffer reused
/// across images is only resized, not zeroed again.
pub fn rgb_to_l(rgb: &[u8], out: &mut Vec<u8>) {
    out.resize(rgb.len() / 3, 0);
    rgb_to_l_into(rgb, out);
}

/// Pillow's `L` of one RGB pixel (ITU-R 601-2 luma in its 16-bit fixed point).
#[inline(always)]
pub(crate) fn luma(p: &[u8]) -> u8 {
    ((u32::from(p[0]) * 19595 + u32::from(p[1]) * 38470 + u32::from(p[2]) * 7471 + 0x8000) >> 16)
        as u8
}

avx2_dispatch! {
    fn rgb_to_l_into(rgb: &[u8], out: &mut [u8]) {
        for (d, p) in out.iter_mut().zip(rgb.chunks_exact(3)) {
            *d = luma(p);
        }
    }
}

pub(crate) const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Fixed-point coefficients of one axis: for each output pixel, the first input pixel and the
/// weights (`ksize` per output pixel, zero-padded).
struct Coeffs {
    ksize: usize,
    /// `(first input index, number of taps)` per output pixel.
    bounds: Vec<(usize, usize)>,
    weights: Vec<i32>,
    /// The same weights as windows of exactly `ksize` inputs starting at `padded_starts`
    /// (empty when the input is shorter than `ksize` or the kernel has no fixed-window pass).
    padded_starts: Vec<usize>,
    padded: Vec<i32>,
    /// The vectorised form of the fixed-window pass for grey rows, where the windows fit it.
    shuffle: Option<ShufflePlan>,
}

/// Lanczos coefficient tables per (input size, output size), kept per thread up to this many
/// bytes of weights: the tables of a 1280 -> 32 pHash resize cost 15,000 `sin` calls (31 KB),
/// and a stage sees images of hundreds of sizes (16 MiB holds about 800 pHash tables). The
/// other filters' tables cost no more to compute than to look up.
const COEFF_CACHE_BYTES: usize = 16 << 20;

type CoeffKey = (usize, usize, Filter);

thread_local! {
    static COEFFS: RefCell<(HashMap<CoeffKey, Rc<Coeffs>>, usize)> =
        RefCell::new((HashMap::new(), 0));
}

fn coeffs(in_size: usize, out_size: usize, filter: Filter) -> Rc<Coeffs> {
    if filter != Filter::Lanczos {
        return Rc::new(precompute_coeffs(in_size, out_size, filter));
    }
    let key = (in_size, out_size, filter);
    if let Some(c) = COEFFS.with(|m| m.borrow().0.get(&key).cloned()) {
        return c;
    }
    let c = Rc::new(precompute_coeffs(in_size, out_size, filter));
    let bytes =
        4 * (c.weights.len() + c.padded.len()) + c.shuffle.as_ref().map_or(0, |p| p.bytes());
    COEFFS.with(|m| {
        let (map, held) = &mut *m.borrow_mut();
        if *held + bytes > COEFF_CACHE_BYTES {
            map.clear();
            *held = 0;
        }
        map.insert(key, Rc::clone(&c));
        *held += bytes;
    });
    c
}

fn precompute_coeffs(in_size: usize, out_size: usize, filter: Filter) -> Coeffs {
    let (in0, in1) = (0.0f64, in_size as f32 as f64);
    let scale = (in1 - in0) / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = filter.support() * filterscale;
    let ksize = support.ceil() as usize * 2 + 1;
    let mut bounds = Vec::with_capacity(out_size);
    let mut weights = vec![0i32; out_size * ksize];
    let mut k = vec![0f64; ksize];
    for xx in 0..out_size {
        let center = in0 + (xx as f64 + 0.5) * scale;
        let ss = 1.0 / filterscale;
        // Pillow truncates towards zero after adding 0.5 (a C cast).
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
        let taps = xmax.saturating_sub(xmin);
        let mut ww = 0.0;
        for (x, kx) in k.iter_mut().enumerate().take(taps) {
            let w = filter.weight((x as f64 + xmin as f64 - center + 0.5) * ss);
            *kx = w;
            ww += w;
        }
        let row = &mut weights[xx * ksize..(xx + 1) * ksize];
        for (x, kx) in k.iter().enumerate().take(taps) {
            let v = if ww != 0.0 { kx / ww } else { *kx };
            let fixed = v * f64::from(1u32 << PRECISION_BITS);
            row[x] = if v < 0.0 {
                (-0.5 + fixed) as i32
            } else {
                (0.5 + fixed) as i32
            };
        }
        bounds.push((xmin, taps));
    }
    let (padded_starts, padded) = pad_windows(in_size, ksize, &bounds, &weights);
    let shuffle = if padded.is_empty() {
        None
    } else {
        ShufflePlan::new(in_size, ksize, &padded_starts, &padded)
    };
    Coeffs {
        ksize,
        bounds,
        weights,
        padded_starts,
        padded,
        shuffle,
    }
}

/// Moves each output's window so that it holds exactly `ksize` inputs inside the image and
/// shifts its weights to match (zeros elsewhere).
fn pad_windows(
    in_size: usize,
    ksize: usize,
    bounds: &[(usize, usize)],
    weights: &[i32],
) -> (Vec<usize>, Vec<i32>) {
    // Only the short kernels have a fixed-window pass (`horizontal_pass`).
    if in_size < ksize || !FIXED_KSIZES.contains(&ksize) {
        return (Vec::new(), Vec::new());
    }
    let mut starts = Vec::with_capacity(bounds.len());
    let mut padded = vec![0i32; weights.len()];
    for (xx, &(xmin, taps)) in bounds.iter().enumerate() {
        let start = xmin.min(in_size - ksize);
        let shift = xmin - start;
        padded[xx * ksize + shift..xx * ksize + shift + taps]
            .copy_from_slice(&weights[xx * ksize..xx * ksize + taps]);
        starts.push(start);
    }
    (starts, padded)
}

#[inline]
fn clip8(acc: i32) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Pillow's `Image.resize((out_w, out_h), filter)` of a single-channel (`L`) image.
pub fn resize_l(src: &[u8], w: usize, h: usize, out_w: usize, out_h: usize, f: Filter) -> Vec<u8> {
    resize(src, 1, w, h, out_w, out_h, f)
}

/// Pillow's resize of an interleaved image with `channels` (1–4) 8-bit channels.
///
/// Pass order (Pillow ≥ 12's `ImagingResampleInner`): the vertical pass runs first when the
/// height shrinks by more than twice as many pixels as the width, else the horizontal pass runs
/// first. The order changes rounding, so it matters for bit-exact hashes.
pub fn resize(
    src: &[u8],
    channels: usize,
    w: usize,
    h: usize,
    out_w: usize,
    out_h: usize,
    f: Filter,
) -> Vec<u8> {
    let shrink_h = h as i64 - out_h as i64;
    let shrink_w = w as i64 - out_w as i64;
    let order = if shrink_h > 0 && shrink_h > shrink_w * 2 {
        PassOrder::VerticalFirst
    } else {
        PassOrder::HorizontalFirst
    };
    resize_in_order(src, channels, (w, h), (out_w, out_h), f, order)
}

/// Which separable pass runs first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassOrder {
    HorizontalFirst,
    VerticalFirst,
}

/// Pillow's resampling arithmetic with the pass order fixed by the caller instead of picked by
/// Pillow's rule. The order changes rounding (by a level here and there), so only [`resize`]
/// matches Pillow bit for bit; vertical first is much cheaper when both axes shrink, because the
/// vertical pass runs over whole rows (vectorised) and the per-pixel horizontal pass then sees
/// only the output rows.
pub fn resize_in_order(
    src: &[u8],
    channels: usize,
    (w, h): (usize, usize),
    (out_w, out_h): (usize, usize),
    f: Filter,
    order: PassOrder,
) -> Vec<u8> {
    match channels {
        1 => resize_n::<1>(src, w, h, out_w, out_h, f, order),
        2 => resize_n::<2>(src, w, h, out_w, out_h, f, order),
        3 => resize_n::<3>(src, w, h, out_w, out_h, f, order),
        _ => resize_n::<4>(src, w, h, out_w, out_h, f, order),
    }
}

/// Pillow accumulates in a C `int`; with 22-bit weights and 8-bit samples the sum stays far
/// below 2^31 (Σ|w| < 1.3·2^22 for Lanczos), so i32 is exact.
///
/// With the horizontal pass first, it runs over only the rows the vertical pass reads.
fn resize_n<const C: usize>(
    src: &[u8],
    w: usize,
    h: usize,
    out_w: usize,
    out_h: usize,
    f: Filter,
    order: PassOrder,
) -> Vec<u8> {
    if (w, h) == (out_w, out_h) || w == 0 || h == 0 || out_w == 0 || out_h == 0 {
        return src.to_vec();
    }
    let need_h = out_w != w;
    let need_v = out_h != h;
    if order == PassOrder::HorizontalFirst {
        let vert = coeffs(h, out_h, f);
        // Rows of the source the vertical pass reads.
        let (y_first, y_last) = if need_v {
            let (first, _) = vert.bounds[0];
            let (lmin, ltaps) = vert.bounds[out_h - 1];
            (first, lmin + ltaps)
        } else {
            (0, h)
        };
        let rows = &src[y_first * w * C..y_last * w * C];
        let temp = if need_h {
            horizontal_pass::<C>(rows, w, y_last - y_first, &coeffs(w, out_w, f))
        } else {
            rows.to_vec()
        };
        if !need_v {
            return temp;
        }
        let tw = if need_h { out_w } else { w };
        vertical_pass::<C>(&temp, tw, &vert, y_first)
    } else {
        let vert = coeffs(h, out_h, f);
        let temp = vertical_pass::<C>(src, w, &vert, 0);
        if !need_h {
            return temp;
        }
        horizontal_pass::<C>(&temp, w, out_h, &coeffs(w, out_w, f))
    }
}

/// Kernel sizes with a fixed-window horizontal pass.
const FIXED_KSIZES: [usize; 3] = [3, 5, 7];

/// Resamples each of `rows` rows of width `w` to the coefficients' output width.
fn horizontal_pass<const C: usize>(src: &[u8], w: usize, rows: usize, horiz: &Coeffs) -> Vec<u8> {
    let out_w = horiz.bounds.len();
    let mut out = vec![0u8; rows * out_w * C];
    let done = match &horiz.shuffle {
        Some(plan) if C == 1 => plan.run(src, w, &mut out, out_w),
        _ => 0,
    };
    match (!horiz.padded.is_empty(), horiz.ksize) {
        (true, 3) => horizontal_rows_fixed::<C, 3>(src, w, horiz, done, &mut out),
        (true, 5) => horizontal_rows_fixed::<C, 5>(src, w, horiz, done, &mut out),
        (true, 7) => horizontal_rows_fixed::<C, 7>(src, w, horiz, done, &mut out),
        _ => horizontal_rows::<C>(src, w, horiz, &mut out),
    }
    out
}

avx2_dispatch! {
    fn horizontal_rows<const C: usize>(src: &[u8], w: usize, horiz: &Coeffs, out: &mut [u8]) {
        let out_w = horiz.bounds.len();
        let half: i32 = 1 << (PRECISION_BITS - 1);
        let (mut src, mut out) = (src, out);
        if C == 1 {
            // Four rows at a time: each weight is loaded once for four products (the pHash
            // resize's long Lanczos kernels are bound by loads).
            let quads = src.len() / (4 * w);
            let (head, tail) = src.split_at(quads * 4 * w);
            let (out_head, out_tail) = out.split_at_mut(quads * 4 * out_w);
            for (lines, dst) in head.chunks_exact(4 * w).zip(out_head.chunks_exact_mut(4 * out_w)) {
                let (l0, l1, l2, l3) =
                    (&lines[..w], &lines[w..2 * w], &lines[2 * w..3 * w], &lines[3 * w..]);
                for (xx, &(xmin, taps)) in horiz.bounds.iter().enumerate() {
                    let k = &horiz.weights[xx * horiz.ksize..xx * horiz.ksize + taps];
                    let r = xmin..xmin + taps;
                    let (p0, p1, p2, p3) = (&l0[r.clone()], &l1[r.clone()], &l2[r.clone()], &l3[r]);
                    let mut acc = [half; 4];
                    for ((((&kx, &a), &b), &c), &d) in k.iter().zip(p0).zip(p1).zip(p2).zip(p3) {
                        acc[0] += i32::from(a) * kx;
                        acc[1] += i32::from(b) * kx;
                        acc[2] += i32::from(c) * kx;
                        acc[3] += i32::from(d) * kx;
                    }
                    for (row, a) in acc.iter().enumerate() {
                        dst[row * out_w + xx] = clip8(*a);
                    }
                }
            }
            (src, out) = (tail, out_tail);
        }
        for (line, dst) in src.chunks_exact(w * C).zip(out.chunks_exact_mut(out_w * C)) {
            for (xx, (&(xmin, taps), d)) in horiz.bounds.iter().zip(dst.chunks_exact_mut(C)).enumerate() {
                let k = &horiz.weights[xx * horiz.ksize..xx * horiz.ksize + taps];
                let px = &line[xmin * C..(xmin + taps) * C];
                if C == 1 {
                    // A dot product: vectorises (widening loads, 32-bit multiplies).
                    let acc = half
                        + px.iter().zip(k).map(|(&p, &kx)| i32::from(p) * kx).sum::<i32>();
                    d[0] = clip8(acc);
                } else {
                    let mut acc = [half; C];
                    for (p, &kx) in px.chunks_exact(C).zip(k) {
                        for c in 0..C {
                            acc[c] += i32::from(p[c]) * kx;
                        }
                    }
                    for c in 0..C {
                        d[c] = clip8(acc[c]);
                    }
                }
            }
        }
    }
}

avx2_dispatch! {
    /// The horizontal pass with every output reading exactly `K` = `ksize` input pixels (the
    /// weights zero-padded, the window moved left at the right edge): fixed trip counts that
    /// the compiler unrolls, for short kernels, where the loop overhead of [`horizontal_rows`]
    /// costs more than the multiplies. The first `done` outputs of each row are already written
    /// (by the [`ShufflePlan`]).
    fn horizontal_rows_fixed<const C: usize, const K: usize>(
        src: &[u8],
        w: usize,
        horiz: &Coeffs,
        done: usize,
        out: &mut [u8],
    ) {
        let half: i32 = 1 << (PRECISION_BITS - 1);
        let out_w = horiz.bounds.len();
        for (line, dst) in src.chunks_exact(w * C).zip(out.chunks_exact_mut(out_w * C)) {
            for ((&start, k), d) in horiz
                .padded_starts
                .iter()
                .zip(horiz.padded.chunks_exact(K))
                .zip(dst.chunks_exact_mut(C))
                .skip(done)
            {
                let px = &line[start * C..(start + K) * C];
                let mut acc = [half; C];
                for t in 0..K {
                    for c in 0..C {
                        acc[c] += i32::from(px[t * C + c]) * k[t];
                    }
                }
                for c in 0..C {
                    d[c] = clip8(acc[c]);
                }
            }
        }
    }
}

/// Resamples columns of an image of width `w` to the coefficients' output height; the
/// coefficients' row indices are shifted down by `row_offset` (the first row `src` holds).
fn vertical_pass<const C: usize>(
    src: &[u8],
    w: usize,
    vert: &Coeffs,
    row_offset: usize,
) -> Vec<u8> {
    let mut out = vec![0u8; vert.bounds.len() * w * C];
    vertical_rows(src, w * C, vert, row_offset, &mut out);
    out
}

avx2_dispatch! {
    fn vertical_rows(src: &[u8], stride: usize, vert: &Coeffs, row_offset: usize, out: &mut [u8]) {
        let half: i32 = 1 << (PRECISION_BITS - 1);
        let mut acc = vec![0i32; stride];
        for (yy, (&(ymin, taps), dst)) in vert.bounds.iter().zip(out.chunks_exact_mut(stride)).enumerate() {
            let k = &vert.weights[yy * vert.ksize..yy * vert.ksize + taps];
            let ymin = ymin - row_offset;
            acc.fill(half);
            for (y, &ky) in k.iter().enumerate() {
                let row = &src[(ymin + y) * stride..(ymin + y + 1) * stride];
                for (a, &v) in acc.iter_mut().zip(row) {
                    *a += i32::from(v) * ky;
                }
            }
            for (d, &a) in dst.iter_mut().zip(&acc) {
                *d = clip8(a);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luma_uses_pillow_fixed_point() {
        let mut out = Vec::new();
        rgb_to_l(
            &[255, 255, 255, 0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255],
            &mut out,
        );
        // Pillow: L of pure red is 76, green 150, blue 29.
        assert_eq!(out, [255, 0, 76, 150, 29]);
    }

    #[test]
    fn resize_keeps_constant_images_constant() {
        let src = vec![200u8; 97 * 61];
        for f in [
            Filter::Box,
            Filter::Bilinear,
            Filter::Bicubic,
            Filter::Lanczos,
        ] {
            let out = resize_l(&src, 97, 61, 32, 32, f);
            assert!(out.iter().all(|&v| v == 200), "{f:?}");
        }
    }

    /// One golden case: ((width, height, out width, out height), sum, first 12 pixels).
    type GoldenCase = ((usize, usize, usize, usize), u64, [u8; 12]);

    /// Resizes the test pattern of each case with `filter` and compares with Pillow's output.
    fn assert_golden(cases: &[GoldenCase], filter: Filter) {
        for &((w, h, ow, oh), sum, first) in cases {
            let src = crate::hashes::tests::pattern(w, h);
            let out = resize_l(&src, w, h, ow, oh, filter);
            let got: u64 = out.iter().map(|&v| u64::from(v)).sum();
            assert_eq!(got, sum, "{filter:?} {w}x{h}");
            assert_eq!(out[..12], first, "{filter:?} {w}x{h}");
        }
    }

    /// Golden values from Pillow 13.0 `Image.fromarray(pattern, "L").resize(size, LANCZOS)`:
    /// (sum, first 12 pixels). 20x60 -> 9x8 runs the vertical pass first, 60x20 the horizontal.
    #[test]
    fn lanczos_matches_pillow_in_both_pass_orders() {
        let cases: [GoldenCase; 3] = [
            (
                (20, 60, 9, 8),
                9069,
                [113, 128, 131, 119, 136, 145, 142, 110, 145, 150, 127, 129],
            ),
            (
                (60, 20, 9, 8),
                9043,
                [114, 128, 128, 119, 116, 133, 125, 124, 118, 135, 130, 138],
            ),
            (
                (33, 47, 32, 32),
                128157,
                [23, 64, 128, 151, 89, 150, 151, 52, 120, 116, 67, 125],
            ),
        ];
        assert_golden(&cases, Filter::Lanczos);
    }

    /// Golden values from Pillow 13.0 `Image.fromarray(pattern, "L").resize(size, BICUBIC)`,
    /// downscaling in both pass orders and upscaling (what CLIP preprocessing does to small
    /// images).
    #[test]
    fn bicubic_matches_pillow() {
        let cases: [GoldenCase; 4] = [
            (
                (20, 60, 9, 8),
                9075,
                [114, 128, 132, 120, 133, 143, 144, 112, 143, 147, 129, 128],
            ),
            (
                (60, 20, 9, 8),
                9038,
                [116, 127, 128, 119, 117, 131, 126, 124, 118, 134, 130, 136],
            ),
            (
                (33, 47, 32, 32),
                128158,
                [27, 67, 120, 151, 97, 146, 156, 53, 108, 119, 81, 131],
            ),
            (
                (30, 20, 45, 30),
                168141,
                [0, 9, 36, 61, 85, 112, 149, 177, 203, 240, 112, 0],
            ),
        ];
        assert_golden(&cases, Filter::Bicubic);
    }

    /// The fixed-window pass (zero-padded weights, window moved in at the right edge) must give
    /// exactly what the per-tap pass gives, for every kernel size it serves, down- and upscaling.
    #[test]
    fn fixed_window_pass_equals_the_per_tap_pass() {
        use std::collections::BTreeSet;
        let cases = [
            (1280, 512, Filter::Box),
            (1000, 512, Filter::Box),
            (640, 512, Filter::Box),
            (1801, 512, Filter::Box),
            (2500, 512, Filter::Box),
            (97, 40, Filter::Bilinear),
            (61, 60, Filter::Bilinear),
            (50, 31, Filter::Bicubic),
            (7, 224, Filter::Bicubic),
            (40, 33, Filter::Lanczos),
            (5, 9, Filter::Bicubic),
        ];
        let (mut fixed_sizes, mut sizes) = (BTreeSet::new(), BTreeSet::new());
        for (w, out_w, f) in cases {
            let c = precompute_coeffs(w, out_w, f);
            sizes.insert(c.ksize);
            // The analysis downscale of images up to ~1800 px is served (almost) entirely by
            // the shuffle form, whose output the comparison below checks; wider boxes are not.
            if f == Filter::Box {
                let served = c.shuffle.as_ref().map_or(0, ShufflePlan::outputs);
                assert_eq!(
                    served >= out_w - 16,
                    w <= 1801,
                    "w={w}: {served} of {out_w}"
                );
            }
            if !c.padded.is_empty() {
                fixed_sizes.insert(c.ksize);
            }
            let rows = 3;
            let src = crate::hashes::tests::pattern(w * 4, rows);
            fn both<const C: usize>(src: &[u8], w: usize, rows: usize, c: &Coeffs) {
                let src = &src[..w * C * rows];
                let mut per_tap = vec![0u8; rows * c.bounds.len() * C];
                horizontal_rows::<C>(src, w, c, &mut per_tap);
                assert_eq!(
                    horizontal_pass::<C>(src, w, rows, c),
                    per_tap,
                    "C={C} w={w}"
                );
            }
            let src: Vec<u8> = src.iter().map(|&v| v.wrapping_mul(3)).collect();
            both::<1>(&src, w, rows, &c);
            both::<2>(&src, w, rows, &c);
            both::<3>(&src, w, rows, &c);
            both::<4>(&src, w, rows, &c);
        }
        // The cases cover every kernel size the fixed pass serves, and a larger one it does not.
        assert_eq!(fixed_sizes, BTreeSet::from(FIXED_KSIZES));
        assert!(sizes.contains(&9), "{sizes:?}");
    }

    #[test]
    fn grey_rows_taken_four_at_a_time_equal_one_at_a_time() {
        let (w, out_w) = (203, 32);
        let c = precompute_coeffs(w, out_w, Filter::Lanczos);
        let src: Vec<u8> = crate::hashes::tests::pattern(w, 11)
            .iter()
            .map(|&v| v.wrapping_mul(7))
            .collect();
        for rows in 0..=11 {
            let mut out = vec![0u8; rows * out_w];
            horizontal_rows::<1>(&src[..rows * w], w, &c, &mut out);
            let mut want = Vec::new();
            for line in src[..rows * w].chunks_exact(w) {
                for (xx, &(xmin, taps)) in c.bounds.iter().enumerate() {
                    let k = &c.weights[xx * c.ksize..xx * c.ksize + taps];
                    let acc = (1 << (PRECISION_BITS - 1))
                        + (0..taps)
                            .map(|t| i32::from(line[xmin + t]) * k[t])
                            .sum::<i32>();
                    want.push(clip8(acc));
                }
            }
            assert_eq!(out, want, "{rows} rows");
        }
    }

    #[test]
    fn cached_lanczos_tables_equal_fresh_ones_and_stay_within_budget() {
        let same = |a: &Coeffs, b: &Coeffs| {
            assert_eq!(
                (a.ksize, &a.bounds, &a.weights, &a.padded_starts, &a.padded),
                (b.ksize, &b.bounds, &b.weights, &b.padded_starts, &b.padded)
            );
        };
        for round in 0..2 {
            // About 19 MiB of tables: the cache is emptied at least once per round.
            for w in (400..8000).step_by(41) {
                let c = coeffs(w, 32, Filter::Lanczos);
                same(&c, &precompute_coeffs(w, 32, Filter::Lanczos));
                let held = COEFFS.with(|m| m.borrow().1);
                assert!(
                    held <= COEFF_CACHE_BYTES,
                    "round {round}: {held} bytes held"
                );
            }
        }
        let a = coeffs(640, 32, Filter::Lanczos);
        assert!(Rc::ptr_eq(&a, &coeffs(640, 32, Filter::Lanczos)), "a hit");
    }

    #[test]
    fn vertical_first_differs_from_pillow_order_by_rounding_only() {
        let (w, h) = (300, 200);
        let src = crate::hashes::tests::pattern(w * 3, h);
        let pillow = resize(&src, 3, w, h, 120, 80, Filter::Box);
        let vertical = resize_in_order(
            &src,
            3,
            (w, h),
            (120, 80),
            Filter::Box,
            PassOrder::VerticalFirst,
        );
        let max_diff = pillow
            .iter()
            .zip(&vertical)
            .map(|(a, b)| a.abs_diff(*b))
            .max();
        assert!(max_diff <= Some(1), "{max_diff:?}");
        assert_ne!(pillow, vertical, "the order is really different");
    }

    #[test]
    fn box_downscale_by_two_is_the_block_mean() {
        // 4x2 -> 2x1: means of 2x2 blocks (rounded half up).
        let src = [0u8, 10, 100, 101, 20, 30, 102, 104];
        assert_eq!(resize_l(&src, 4, 2, 2, 1, Filter::Box), [15, 102]);
    }
}
