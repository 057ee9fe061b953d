//! Technical quality measures, each with a stated definition and validated by controlled
//! degradations in the tests below:
//!
//! | measure | definition |
//! |---|---|
//! | `jpeg_quality` | the libjpeg quality (1–100) whose scaled standard luminance table is nearest (L1) to the file's luma table |
//! | `blockiness` | (mean \|Δ\| across 8×8 block boundaries − mean \|Δ\| inside blocks) ÷ (mean \|Δ\| inside + 2) (full resolution, both axes; 0 = no blocking) |
//! | `sharpness` | variance of the 4-neighbour Laplacian of the grey image box-downscaled to ≤ 512 px on the long side (vertical pass first) |
//! | `noise_sigma` | Immerkær's fast noise variance estimator (1996), σ in grey levels, full resolution |
//! | `entropy` | mean over R, G, B of the 256-bin Shannon entropy in bits (the seed's definition, 0–8) |
//! | `colourfulness` | Hasler & Süsstrunk (2003) M = σ_rgyb + 0.3 μ_rgyb, full resolution |
//! | `colour_cast` | mean opponent chroma ÷ its spread, √(μrg²+μyb²) / max(1, √(σrg²+σyb²)) (> 1: a cast), full resolution |
//! | `flat_fraction` | fraction of 4×4 blocks of the grey downscale whose range is ≤ 2 levels |
//! | `clipped_fraction` | fraction of downscale pixels with luma ≤ 2 or ≥ 253 |
//! | `compression_ratio` | ideal uncompressed size (w·h·channels) ÷ file size (Z-Image) |
//! | `compression_artifacts` | 0–1: max of (90 − jpeg_quality)/80 and blockiness/1.5, clamped; 0.8 ≈ JPEG quality 26 or strong blocking |

use crate::decode::Pixels;
use crate::header::Header;
use crate::pil::{resize_in_order, Filter, PassOrder};
use crate::simd::avx2_dispatch;

/// The long side of the analysis downscale.
pub const ANALYSIS_SIDE: usize = 512;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Quality {
    pub jpeg_quality: Option<f64>,
    pub blockiness: f64,
    pub sharpness: f64,
    pub noise_sigma: f64,
    pub entropy: f64,
    pub colourfulness: f64,
    pub colour_cast: f64,
    pub flat_fraction: f64,
    pub clipped_fraction: f64,
    pub compression_ratio: f64,
    pub compression_artifacts: f64,
}

/// libjpeg's standard luminance table (natural order), `jcparam.c`.
const STD_LUMA: [u16; 64] = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113,
    92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];

/// Inverts libjpeg's `jpeg_quality_scaling` + table scaling: the quality whose table is nearest.
pub fn jpeg_quality(luma: &[u16; 64]) -> f64 {
    let mut best = (u64::MAX, 0u32);
    for q in 1..=100u32 {
        let scale = if q < 50 { 5000 / q } else { 200 - 2 * q };
        let err: u64 = STD_LUMA
            .iter()
            .zip(luma)
            .map(|(&s, &t)| {
                let v = ((u32::from(s) * scale + 50) / 100).clamp(1, 255);
                u64::from(v.abs_diff(u32::from(t)))
            })
            .sum();
        if err <= best.0 {
            best = (err, q);
        }
    }
    f64::from(best.1)
}

/// Σ |a[i] − b[i]| (rows of equal length).
#[inline(always)]
fn sum_abs_diff(a: &[u8], b: &[u8]) -> u64 {
    // u32 lanes cannot overflow within 2^16 bytes (2^16 · 255 < 2^32).
    a.chunks(1 << 16)
        .zip(b.chunks(1 << 16))
        .map(|(a, b)| {
            u64::from(
                a.iter()
                    .zip(b)
                    .map(|(x, y)| u32::from(x.abs_diff(*y)))
                    .sum::<u32>(),
            )
        })
        .sum()
}

/// The mean absolute step between neighbouring grey pixels across 8×8 block boundaries, in
/// excess of the mean step inside blocks.
fn blockiness(l: &[u8], w: usize, h: usize) -> f64 {
    if w < 16 || h < 16 {
        return 0.0;
    }
    #[cfg(target_arch = "x86_64")]
    let sums = crate::block_steps_avx2::block_step_sums(l, w, h);
    #[cfg(not(target_arch = "x86_64"))]
    let sums = None;
    let (edge, inner) = sums.unwrap_or_else(|| block_step_sums(l, w, h));
    // Horizontal steps at x = 8, 16, … and vertical steps at y = 8, 16, … cross a boundary.
    let (boundary_columns, boundary_rows) = ((w - 1) / 8, (h - 1) / 8);
    let n_edge = (h * boundary_columns + w * boundary_rows) as u64;
    let n_inner = (h * (w - 1) + w * (h - 1)) as u64 - n_edge;
    let edge = edge as f64 / n_edge.max(1) as f64;
    let inner = inner as f64 / n_inner.max(1) as f64;
    // The excess step at block boundaries relative to the steps inside blocks; the 2 grey
    // levels keep very smooth images (inner steps < 1 level) from inflating the ratio.
    ((edge - inner) / (inner + 2.0)).max(0.0)
}

/// (Σ |steps| across block boundaries, Σ the others) between horizontal and vertical
/// neighbours; the AVX2 kernel's results exactly. Not dispatched: where AVX2 is there, the
/// kernel runs instead.
fn block_step_sums(l: &[u8], w: usize, h: usize) -> (u64, u64) {
    let (mut edge, mut inner) = (0u64, 0u64);
    for row in l.chunks_exact(w).take(h) {
        let all = sum_abs_diff(&row[1..], &row[..w - 1]);
        let at_edges: u64 = (8..w)
            .step_by(8)
            .map(|x| u64::from(row[x].abs_diff(row[x - 1])))
            .sum();
        edge += at_edges;
        inner += all - at_edges;
    }
    for y in 1..h {
        let s = sum_abs_diff(&l[y * w..(y + 1) * w], &l[(y - 1) * w..y * w]);
        if y % 8 == 0 {
            edge += s;
        } else {
            inner += s;
        }
    }
    (edge, inner)
}

/// `out[x] = row[x] − 2·row[x+1] + row[x+2]`: the 1-D [1 −2 1] filter, in [−510, 510].
#[inline(always)]
fn second_difference(row: &[u8], out: &mut [i16]) {
    for (((o, &a), &b), &c) in out.iter_mut().zip(row).zip(&row[1..]).zip(&row[2..]) {
        *o = i16::from(a) - 2 * i16::from(b) + i16::from(c);
    }
}

avx2_dispatch! {
    /// Immerkær (1996): σ = √(π/2) / (6 (W−2)(H−2)) · Σ |I ∗ N|, N = [1 −2 1; −2 4 −2; 1 −2 1].
    /// N is separable (the outer product of [1 −2 1] with itself), so each row is filtered once
    /// horizontally and the three filtered rows combined: |v| ≤ 2040 fits i16.
    fn noise_sigma(l: &[u8], w: usize, h: usize) -> f64 {
        if w < 3 || h < 3 {
            return 0.0;
        }
        let mut rows = [vec![0i16; w - 2], vec![0i16; w - 2], vec![0i16; w - 2]];
        second_difference(&l[..w], &mut rows[0]);
        second_difference(&l[w..2 * w], &mut rows[1]);
        let mut sum = 0u64;
        for y in 1..h - 1 {
            let (a, b, c) = (y - 1, y, y + 1);
            second_difference(&l[c * w..(c + 1) * w], &mut rows[c % 3]);
            let (ra, rb, rc) = (&rows[a % 3], &rows[b % 3], &rows[c % 3]);
            // u32 lanes: 2^16 values of at most 2040 stay below 2^32.
            for ((ra, rb), rc) in ra.chunks(1 << 16).zip(rb.chunks(1 << 16)).zip(rc.chunks(1 << 16)) {
                sum += u64::from(
                    ra.iter()
                        .zip(rb)
                        .zip(rc)
                        .map(|((&a, &b), &c)| u32::from((a - 2 * b + c).unsigned_abs()))
                        .sum::<u32>(),
                );
            }
        }
        (std::f64::consts::PI / 2.0).sqrt() * sum as f64 / (6.0 * ((w - 2) * (h - 2)) as f64)
    }
}

fn entropy_bits(hist: &[u64; 256], n: u64) -> f64 {
    let n = n.max(1) as f64;
    hist.iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

avx2_dispatch! {
    /// Per-channel 256-bin histograms of interleaved pixels. Two sets of counters (even and odd
    /// pixels) halve the chains of increments to the same counter that a flat area makes.
    fn channel_histograms<const C: usize>(data: &[u8]) -> Vec<[u64; 256]> {
        let mut total = vec![[0u64; 256]; C];
        // u32 counters cannot overflow within 2^24 pixels.
        for part in data.chunks(C << 24) {
            let mut counts = [[[0u32; 256]; C]; 2];
            let mut pairs = part.chunks_exact(2 * C);
            for px in &mut pairs {
                for c in 0..C {
                    counts[0][c][usize::from(px[c])] += 1;
                    counts[1][c][usize::from(px[C + c])] += 1;
                }
            }
            for px in pairs.remainder().chunks_exact(C) {
                for c in 0..C {
                    counts[0][c][usize::from(px[c])] += 1;
                }
            }
            for (c, t) in total.iter_mut().enumerate() {
                for (v, t) in t.iter_mut().enumerate() {
                    *t += u64::from(counts[0][c][v]) + u64::from(counts[1][c][v]);
                }
            }
        }
        total
    }
}

/// The R, G and B histograms of interleaved RGB; see [`rgb_histograms_with`]. The joint table
/// (256 KiB) is kept per thread and left zeroed after each use: a fresh one per image cost a
/// zeroing and, once the allocator had handed its pages back, page faults.
fn rgb_histograms(data: &[u8]) -> Vec<[u64; 256]> {
    thread_local! {
        static RG: std::cell::RefCell<Vec<u32>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    RG.with(|rg| match rg.try_borrow_mut() {
        Ok(mut rg) => {
            rg.resize(1 << 16, 0);
            rgb_histograms_with(data, &mut rg)
        }
        // Not reentrant; a nested call (none today) would take a table of its own.
        Err(_) => rgb_histograms_with(data, &mut vec![0; 1 << 16]),
    })
}

avx2_dispatch! {
    /// The R, G and B histograms of interleaved RGB from a joint (R, G) table and a B
    /// histogram: two counter increments per pixel instead of three. The increments are the
    /// cost (the loop runs at the core's store throughput): the quality measures take 4-5 %
    /// less time on photos, 11 % on flat images and 4 % on colour noise than with
    /// [`channel_histograms`], whose results this equals. `rg` (2^16 counters) comes zeroed
    /// and is left zeroed.
    fn rgb_histograms_with(data: &[u8], rg: &mut [u32]) -> Vec<[u64; 256]> {
        let mut total = [[0u64; 256]; 3];
        // u32 counters cannot overflow within 2^24 pixels.
        for part in data.chunks(3 << 24) {
            // Two B histograms (even and odd pixels), as in `channel_histograms`: shorter
            // chains of increments to one counter in flat areas.
            let mut b = [[0u32; 256]; 2];
            let mut pairs = part.chunks_exact(6);
            for px in &mut pairs {
                rg[usize::from(px[0]) << 8 | usize::from(px[1])] += 1;
                b[0][usize::from(px[2])] += 1;
                rg[usize::from(px[3]) << 8 | usize::from(px[4])] += 1;
                b[1][usize::from(px[5])] += 1;
            }
            for px in pairs.remainder().chunks_exact(3) {
                rg[usize::from(px[0]) << 8 | usize::from(px[1])] += 1;
                b[0][usize::from(px[2])] += 1;
            }
            let [r_hist, g_hist, b_hist] = &mut total;
            for (row, r_total) in rg.chunks_exact_mut(256).zip(r_hist.iter_mut()) {
                *r_total += row.iter().map(|&c| u64::from(c)).sum::<u64>();
                for (g_total, c) in g_hist.iter_mut().zip(row) {
                    *g_total += u64::from(std::mem::take(c));
                }
            }
            for ((b_total, &even), &odd) in b_hist.iter_mut().zip(&b[0]).zip(&b[1]) {
                *b_total += u64::from(even) + u64::from(odd);
            }
        }
        total.to_vec()
    }
}

/// Mean over the channels of their 256-bin entropy (bits).
fn channel_entropy(p: &Pixels) -> f64 {
    let hists = match p.channels {
        1 => channel_histograms::<1>(&p.data),
        2 => channel_histograms::<2>(&p.data),
        3 => rgb_histograms(&p.data),
        _ => channel_histograms::<4>(&p.data),
    };
    let n = (p.width * p.height) as u64;
    hists.iter().map(|h| entropy_bits(h, n)).sum::<f64>() / p.channels as f64
}

avx2_dispatch! {
    fn laplacian_variance(g: &[u8], w: usize, h: usize) -> f64 {
        if w < 3 || h < 3 {
            return 0.0;
        }
        // Integer sums: exact (the f64 sums they replace were exact too, below 2^53). The
        // filter's values (|v| ≤ 1020) are taken in 16-bit lanes and their sums and squares in
        // 32-bit ones over at most 2,048 columns (2,048 · 1020² < 2^31), then widened.
        let (mut s, mut s2) = (0i64, 0i64);
        for y in 1..h - 1 {
            let (a, b, c) = (&g[(y - 1) * w..y * w], &g[y * w..(y + 1) * w], &g[(y + 1) * w..(y + 2) * w]);
            for x0 in (1..w - 1).step_by(2048) {
                let x1 = (x0 + 2048).min(w - 1);
                let (rs, rs2) = a[x0..x1]
                    .iter()
                    .zip(&c[x0..x1])
                    .zip(b[x0 - 1..x1 + 1].windows(3))
                    .map(|((&up, &down), m)| {
                        4 * i16::from(m[1])
                            - i16::from(up)
                            - i16::from(down)
                            - i16::from(m[0])
                            - i16::from(m[2])
                    })
                    .fold((0i32, 0i32), |(s, s2), v| {
                        (s + i32::from(v), s2 + i32::from(v) * i32::from(v))
                    });
                s += i64::from(rs);
                s2 += i64::from(rs2);
            }
        }
        let n = ((w - 2) * (h - 2)) as f64;
        let mean = s as f64 / n;
        s2 as f64 / n - mean * mean
    }
}

/// Opponent-colour sums of interleaved RGB: Σ rg, Σ 2·yb, Σ rg², Σ (2·yb)² with rg = R − G and
/// yb = (R + G)/2 − B (integers, exact). The colourfulness and colour cast inputs of
/// [`measure_with_colour`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct OpponentSums {
    rg: i64,
    yb2: i64,
    rg_sq: i64,
    yb2_sq: i64,
}

/// Pixels per block of i32 partial sums (8,192 · 510² < 2^31).
const OPPONENT_BLOCK: usize = 8192;

impl OpponentSums {
    /// Adds one pixel's terms to i32 partial sums `[rg, yb2, rg², yb2²]`.
    #[inline(always)]
    fn add_pixel(partial: &mut [i32; 4], px: &[u8]) {
        let (r, g, b) = (i32::from(px[0]), i32::from(px[1]), i32::from(px[2]));
        let d = r - g;
        let e = r + g - 2 * b;
        partial[0] += d;
        partial[1] += e;
        partial[2] += d * d;
        partial[3] += e * e;
    }

    fn add_block(&mut self, partial: [i32; 4]) {
        self.rg += i64::from(partial[0]);
        self.yb2 += i64::from(partial[1]);
        self.rg_sq += i64::from(partial[2]);
        self.yb2_sq += i64::from(partial[3]);
    }
}

avx2_dispatch! {
    /// Opponent sums of interleaved RGB.
    fn opponent_sums(rgb: &[u8]) -> OpponentSums {
        let mut s = OpponentSums::default();
        for block in rgb.chunks(3 * OPPONENT_BLOCK) {
            let mut partial = [0i32; 4];
            for px in block.chunks_exact(3) {
                OpponentSums::add_pixel(&mut partial, px);
            }
            s.add_block(partial);
        }
        s
    }
}

/// Pillow's `L` of interleaved RGB into `luma` and the opponent sums, in one pass: the two
/// share the loads and the de-interleaving. The AVX2 kernel takes all but the last few pixels
/// where the CPU has it.
fn luma_and_opponent_sums(rgb: &[u8], luma: &mut [u8]) -> OpponentSums {
    #[cfg(target_arch = "x86_64")]
    if let Some((done, [rg, yb2, rg_sq, yb2_sq])) =
        crate::luma_opponent_avx2::luma_and_opponent_sums(rgb, luma)
    {
        let rest = luma_and_opponent_sums_scalar(&rgb[3 * done..], &mut luma[done..]);
        return OpponentSums {
            rg: rg + rest.rg,
            yb2: yb2 + rest.yb2,
            rg_sq: rg_sq + rest.rg_sq,
            yb2_sq: yb2_sq + rest.yb2_sq,
        };
    }
    luma_and_opponent_sums_scalar(rgb, luma)
}

/// [`luma_and_opponent_sums`] a pixel at a time (the compiler vectorises it). Not dispatched:
/// where AVX2 is there, the kernel leaves it at most 15 pixels.
fn luma_and_opponent_sums_scalar(rgb: &[u8], luma: &mut [u8]) -> OpponentSums {
    let mut s = OpponentSums::default();
    for (block, l) in rgb
        .chunks(3 * OPPONENT_BLOCK)
        .zip(luma.chunks_mut(OPPONENT_BLOCK))
    {
        let mut partial = [0i32; 4];
        for (px, v) in block.chunks_exact(3).zip(l) {
            *v = crate::pil::luma(px);
            OpponentSums::add_pixel(&mut partial, px);
        }
        s.add_block(partial);
    }
    s
}

/// The grey image (Pillow `L`, as [`crate::pil::rgb_to_l`]) of interleaved RGB into `luma`, and
/// the opponent sums [`measure_with_colour`] takes, in one pass over the pixels. Every byte of
/// `luma` is written, so a buffer reused across images is only resized, not zeroed again.
pub fn rgb_to_l_and_opponent_sums(rgb: &[u8], luma: &mut Vec<u8>) -> OpponentSums {
    luma.resize(rgb.len() / 3, 0);
    luma_and_opponent_sums(rgb, luma)
}

avx2_dispatch! {
    /// (flat 4×4 blocks, 4×4 blocks, clipped pixels) of a grey image: a block is flat when its
    /// range is at most 2 levels, a pixel clipped at ≤ 2 or ≥ 253. Column minima and maxima of
    /// each band of 4 rows are taken row-wide first (vectorised), then per 4 columns.
    fn flat_and_clipped(grey: &[u8], w: usize, h: usize) -> (usize, usize, usize) {
        let (mut flat, mut blocks) = (0usize, 0usize);
        let (mut lo, mut hi) = (vec![0u8; w], vec![0u8; w]);
        for band in grey.chunks_exact(4 * w).take(h / 4) {
            lo.copy_from_slice(&band[..w]);
            hi.copy_from_slice(&band[..w]);
            for row in band.chunks_exact(w).skip(1) {
                for ((l, hh), &v) in lo.iter_mut().zip(hi.iter_mut()).zip(row) {
                    *l = (*l).min(v);
                    *hh = (*hh).max(v);
                }
            }
            for (l, hh) in lo.chunks_exact(4).zip(hi.chunks_exact(4)) {
                let min = l.iter().copied().fold(u8::MAX, u8::min);
                let max = hh.iter().copied().fold(0, u8::max);
                blocks += 1;
                flat += usize::from(max - min <= 2);
            }
        }
        let clipped = grey.iter().map(|&v| usize::from(!(3..=252).contains(&v))).sum();
        (flat, blocks, clipped)
    }
}

/// Computes every measure. `l` is the full-resolution grey image of `p` (Pillow `L`).
pub fn measure(header: &Header, file_size: usize, p: &Pixels, l: &[u8]) -> Quality {
    let colour = if p.channels == 3 {
        opponent_sums(&p.data)
    } else {
        OpponentSums::default()
    };
    measure_with_colour(header, file_size, p, l, &colour)
}

/// [`measure`] with the opponent sums of `p` already taken (by [`rgb_to_l_and_opponent_sums`];
/// the default for a grey image).
pub fn measure_with_colour(
    header: &Header,
    file_size: usize,
    p: &Pixels,
    l: &[u8],
    colour: &OpponentSums,
) -> Quality {
    let (w, h) = (p.width, p.height);
    let jpeg_quality = header.luma_quant_table().map(jpeg_quality);
    let blockiness = blockiness(l, w, h);
    let noise_sigma = noise_sigma(l, w, h);
    let entropy = channel_entropy(p);

    // The analysis downscale of the grey image (box filter: an area average).
    let long = w.max(h);
    let (dw, dh) = if long > ANALYSIS_SIDE {
        let s = ANALYSIS_SIDE as f64 / long as f64;
        (
            ((w as f64 * s).round() as usize).max(1),
            ((h as f64 * s).round() as usize).max(1),
        )
    } else {
        (w, h)
    };
    // Vertical pass first: 2-3x cheaper than Pillow's order here, and the measures need a
    // well-defined area average, not Pillow's exact rounding.
    let grey = resize_in_order(
        l,
        1,
        (w, h),
        (dw, dh),
        Filter::Box,
        PassOrder::VerticalFirst,
    );
    let sharpness = laplacian_variance(&grey, dw, dh);

    // yb = yb2 / 2: halving and quartering are exact in f64.
    let (srg, syb, srg2, syb2) = (
        colour.rg as f64,
        colour.yb2 as f64 / 2.0,
        colour.rg_sq as f64,
        colour.yb2_sq as f64 / 4.0,
    );
    let n = (w * h) as f64;
    let (mrg, myb) = (srg / n, syb / n);
    let var_rg = (srg2 / n - mrg * mrg).max(0.0);
    let var_yb = (syb2 / n - myb * myb).max(0.0);
    let spread = (var_rg + var_yb).sqrt();
    let mean_chroma = (mrg * mrg + myb * myb).sqrt();
    let colourfulness = spread + 0.3 * mean_chroma;
    let colour_cast = mean_chroma / spread.max(1.0);

    let (flat, blocks, clipped) = flat_and_clipped(&grey, dw, dh);

    let channels = match header.mode {
        "L" | "P" | "1" | "I;16" => 1,
        "LA" => 2,
        "RGBA" | "CMYK" => 4,
        _ => 3,
    };
    let compression_ratio = (w * h * channels) as f64 / file_size.max(1) as f64;
    let from_quality = jpeg_quality.map_or(0.0, |q| (90.0 - q) / 80.0);
    let compression_artifacts = from_quality.max(blockiness / 1.5).clamp(0.0, 1.0);
    Quality {
        jpeg_quality,
        blockiness,
        sharpness,
        noise_sigma,
        entropy,
        colourfulness,
        colour_cast,
        flat_fraction: flat as f64 / blocks.max(1) as f64,
        clipped_fraction: clipped as f64 / grey.len().max(1) as f64,
        compression_ratio,
        compression_artifacts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{decode, DEFAULT_MAX_PIXELS};
    use crate::header::read_header;
    use crate::pil::rgb_to_l;
    use crate::testimg;

    fn quality_of(bytes: &[u8]) -> Quality {
        let h = read_header(bytes).unwrap();
        let p = decode(bytes, &h, DEFAULT_MAX_PIXELS).unwrap();
        let mut l = Vec::new();
        if p.channels == 3 {
            rgb_to_l(&p.data, &mut l);
        } else {
            l = p.data.clone();
        }
        measure(&h, bytes.len(), &p, &l)
    }

    /// The measures as first written: one pixel at a time, straight from their definitions.
    mod reference {
        pub fn blockiness(l: &[u8], w: usize, h: usize) -> f64 {
            if w < 16 || h < 16 {
                return 0.0;
            }
            let (mut edge, mut n_edge, mut inner, mut n_inner) = (0u64, 0u64, 0u64, 0u64);
            for y in 0..h {
                for x in 1..w {
                    let d = u64::from(l[y * w + x].abs_diff(l[y * w + x - 1]));
                    if x % 8 == 0 {
                        (edge, n_edge) = (edge + d, n_edge + 1);
                    } else {
                        (inner, n_inner) = (inner + d, n_inner + 1);
                    }
                }
            }
            for y in 1..h {
                for x in 0..w {
                    let d = u64::from(l[y * w + x].abs_diff(l[(y - 1) * w + x]));
                    if y % 8 == 0 {
                        (edge, n_edge) = (edge + d, n_edge + 1);
                    } else {
                        (inner, n_inner) = (inner + d, n_inner + 1);
                    }
                }
            }
            let edge = edge as f64 / n_edge.max(1) as f64;
            let inner = inner as f64 / n_inner.max(1) as f64;
            ((edge - inner) / (inner + 2.0)).max(0.0)
        }

        pub fn noise_sigma(l: &[u8], w: usize, h: usize) -> f64 {
            if w < 3 || h < 3 {
                return 0.0;
            }
            const N: [i32; 9] = [1, -2, 1, -2, 4, -2, 1, -2, 1];
            let mut sum = 0u64;
            for y in 1..h - 1 {
                for x in 1..w - 1 {
                    let mut v = 0i32;
                    for (i, k) in N.iter().enumerate() {
                        v += k * i32::from(l[(y + i / 3 - 1) * w + x + i % 3 - 1]);
                    }
                    sum += u64::from(v.unsigned_abs());
                }
            }
            (std::f64::consts::PI / 2.0).sqrt() * sum as f64 / (6.0 * ((w - 2) * (h - 2)) as f64)
        }

        pub fn flat_and_clipped(g: &[u8], w: usize, h: usize) -> (usize, usize, usize) {
            let (mut flat, mut blocks) = (0, 0);
            for by in (0..h.saturating_sub(3)).step_by(4) {
                for bx in (0..w.saturating_sub(3)).step_by(4) {
                    let block = (by..by + 4).flat_map(|y| &g[y * w + bx..y * w + bx + 4]);
                    let (lo, hi) = block.fold((255u8, 0u8), |(lo, hi), &v| (lo.min(v), hi.max(v)));
                    blocks += 1;
                    flat += usize::from(hi - lo <= 2);
                }
            }
            (
                flat,
                blocks,
                g.iter().filter(|&&v| v <= 2 || v >= 253).count(),
            )
        }

        pub fn laplacian_variance(g: &[u8], w: usize, h: usize) -> f64 {
            if w < 3 || h < 3 {
                return 0.0;
            }
            let (mut s, mut s2, mut n) = (0f64, 0f64, 0f64);
            for y in 1..h - 1 {
                for x in 1..w - 1 {
                    let i = y * w + x;
                    let v = f64::from(
                        4 * i32::from(g[i])
                            - i32::from(g[i - 1])
                            - i32::from(g[i + 1])
                            - i32::from(g[i - w])
                            - i32::from(g[i + w]),
                    );
                    (s, s2, n) = (s + v, s2 + v * v, n + 1.0);
                }
            }
            s2 / n - (s / n) * (s / n)
        }
    }

    /// Grey images of awkward sizes (below and around the 8×8 and 4×4 grids, odd widths) with
    /// smooth areas, edges, noise and clipped pixels.
    fn awkward_greys() -> Vec<(Vec<u8>, usize, usize)> {
        [
            (1, 1),
            (2, 5),
            (3, 3),
            (15, 40),
            (16, 16),
            (17, 23),
            (33, 17),
            (34, 16),
            (64, 48),
            (65, 24),
            (203, 97),
        ]
        .into_iter()
        .map(|(w, h)| {
            let img = testimg::add_noise(&testimg::photo(w as u32, h as u32, 7), 6.0, 3);
            let mut l = Vec::new();
            rgb_to_l(img.as_raw(), &mut l);
            for (i, v) in l.iter_mut().enumerate() {
                if i % 29 == 0 {
                    *v = if i % 2 == 0 { 0 } else { 255 };
                }
            }
            (l, w, h)
        })
        .collect()
    }

    #[test]
    fn row_wise_measures_equal_their_pixel_by_pixel_definitions() {
        for (l, w, h) in awkward_greys() {
            macro_rules! same_as_reference {
                ($($measure:ident),*) => {$(
                    assert_eq!(
                        $measure(&l, w, h),
                        reference::$measure(&l, w, h),
                        "{} {w}x{h}",
                        stringify!($measure)
                    );
                )*};
            }
            same_as_reference!(
                blockiness,
                noise_sigma,
                flat_and_clipped,
                laplacian_variance
            );
        }
    }

    #[test]
    fn rgb_histograms_equal_per_channel_counts() {
        // A flat image: every pixel in one (R, G) counter.
        let flat = vec![77u8; 3 * 400 * 500];
        assert_eq!(
            rgb_histograms(&flat),
            channel_histograms::<3>(&flat),
            "flat"
        );
        assert_eq!(rgb_histograms(&flat)[0][77], 200_000, "flat");
        for (w, h, noise) in [(1, 1, 0.0), (3, 5, 9.0), (203, 97, 6.0), (640, 480, 40.0)] {
            let img = testimg::add_noise(&testimg::photo(w, h, 5), noise, 1);
            let rgb = img.as_raw();
            assert_eq!(rgb_histograms(rgb), channel_histograms::<3>(rgb), "{w}x{h}");
            let mut by_hand = vec![[0u64; 256]; 3];
            for px in rgb.chunks_exact(3) {
                for (c, &v) in px.iter().enumerate() {
                    by_hand[c][usize::from(v)] += 1;
                }
            }
            assert_eq!(rgb_histograms(rgb), by_hand, "{w}x{h}");
        }
    }

    #[test]
    fn the_fused_luma_pass_equals_luma_and_opponent_sums_apart() {
        // 203 × 97 spans three blocks of partial sums, the last one short. The buffers are
        // reused from image to image, as the analyser reuses its own: leftovers of a larger
        // or smaller earlier image must not show.
        let (mut fused_l, mut l) = (vec![0xA5; 99_999], vec![0x5A; 3]);
        for (w, h) in [(1, 1), (203, 97), (7, 3), (203, 97)] {
            let img = testimg::add_noise(&testimg::photo(w, h, 9), 20.0, 2);
            let sums = rgb_to_l_and_opponent_sums(img.as_raw(), &mut fused_l);
            rgb_to_l(img.as_raw(), &mut l);
            assert_eq!(fused_l, l, "{w}x{h}");
            let by_pixel: Vec<u8> = img.as_raw().chunks_exact(3).map(crate::pil::luma).collect();
            assert_eq!(l, by_pixel, "{w}x{h}");
            assert_eq!(sums, opponent_sums(img.as_raw()), "{w}x{h}");
            assert_ne!(sums, OpponentSums::default(), "{w}x{h}");
        }
    }

    #[test]
    fn the_luma_pass_is_exact_at_the_extremes_and_across_blocks() {
        // Uniform bytes (every extreme of R − G and R + G − 2B), saturated pixels, and more
        // pixels than two blocks of partial sums, ending off a whole step.
        let mut rng = testimg::Rng::new(5);
        let noise: Vec<u8> = (0..3 * (2 * 8192 + 16 * 7 + 5))
            .map(|_| rng.next() as u8)
            .collect();
        let extremes: Vec<u8> = [[255, 255, 0], [0, 0, 255], [255, 0, 0], [0, 255, 255]]
            .iter()
            .cycle()
            .take(9000)
            .flatten()
            .copied()
            .collect();
        for rgb in [noise, extremes, vec![255; 3 * 8192 * 3], vec![0; 3 * 33]] {
            let mut l = Vec::new();
            let sums = rgb_to_l_and_opponent_sums(&rgb, &mut l);
            let by_pixel: Vec<u8> = rgb.chunks_exact(3).map(crate::pil::luma).collect();
            assert!(l == by_pixel, "{} pixels", by_pixel.len());
            let (mut d, mut e) = ([0i64; 2], [0i64; 2]);
            for px in rgb.chunks_exact(3) {
                let (r, g, b) = (i64::from(px[0]), i64::from(px[1]), i64::from(px[2]));
                d[0] += r - g;
                d[1] += (r - g) * (r - g);
                e[0] += r + g - 2 * b;
                e[1] += (r + g - 2 * b) * (r + g - 2 * b);
            }
            let expected = OpponentSums {
                rg: d[0],
                yb2: e[0],
                rg_sq: d[1],
                yb2_sq: e[1],
            };
            assert_eq!(sums, expected, "{} pixels", by_pixel.len());
        }
    }

    #[test]
    fn baseline_and_avx2_builds_give_identical_results() {
        use crate::hashes::{hash, HashKind};
        use std::sync::atomic::Ordering;
        let run = || {
            let bytes = testimg::jpeg(&testimg::photo(301, 203, 4), 60);
            let h = read_header(&bytes).unwrap();
            let p = decode(&bytes, &h, DEFAULT_MAX_PIXELS).unwrap();
            let mut l = Vec::new();
            rgb_to_l(&p.data, &mut l);
            let ph = hash(HashKind::Phash, 8, &l, p.width, p.height);
            (format!("{:?}", measure(&h, bytes.len(), &p, &l)), ph)
        };
        let fast = run();
        crate::simd::PORTABLE_ONLY.store(true, Ordering::Relaxed);
        let portable = run();
        crate::simd::PORTABLE_ONLY.store(false, Ordering::Relaxed);
        assert_eq!(fast, portable);
    }

    #[test]
    fn jpeg_quality_estimate_is_within_5_of_the_encoder_setting() {
        let img = testimg::photo(128, 96, 11);
        for q in (10..=95).step_by(5) {
            let est = quality_of(&testimg::jpeg(&img, q as u8))
                .jpeg_quality
                .unwrap();
            assert!((est - f64::from(q)).abs() <= 5.0, "q={q} estimated {est}");
        }
        assert_eq!(quality_of(&testimg::png_rgb(&img)).jpeg_quality, None);
    }

    #[test]
    fn blockiness_and_artifacts_grow_as_jpeg_quality_falls() {
        for seed in [1, 2, 3] {
            let img = testimg::photo(256, 192, seed);
            let qs = [95u8, 75, 50, 30, 10];
            let m: Vec<Quality> = qs
                .iter()
                .map(|&q| quality_of(&testimg::jpeg(&img, q)))
                .collect();
            for pair in m.windows(2) {
                assert!(
                    pair[1].blockiness > pair[0].blockiness,
                    "seed {seed}: {:?}",
                    m.iter().map(|q| q.blockiness).collect::<Vec<_>>()
                );
                assert!(pair[1].compression_artifacts >= pair[0].compression_artifacts);
            }
            assert!(m[0].compression_artifacts < 0.1, "{:?}", m[0]);
            assert!(m[4].compression_artifacts > 0.8, "{:?}", m[4]);
        }
    }

    #[test]
    fn sharpness_falls_monotonically_with_blur() {
        let img = testimg::photo(256, 192, 5);
        let s: Vec<f64> = [0.0, 0.5, 1.0, 2.0, 3.0, 4.0]
            .iter()
            .map(|&sigma| quality_of(&testimg::png_rgb(&testimg::blur(&img, sigma))).sharpness)
            .collect();
        assert!(s.windows(2).all(|p| p[1] < p[0]), "{s:?}");
    }

    #[test]
    fn noise_estimate_tracks_added_noise() {
        let img = testimg::blur(&testimg::photo(256, 192, 6), 1.5);
        let mut last = -1.0;
        for sigma in [0.0, 2.0, 5.0, 10.0, 20.0] {
            let q = quality_of(&testimg::png_rgb(&testimg::add_noise(&img, sigma, 9)));
            assert!(q.noise_sigma > last, "sigma {sigma}: {}", q.noise_sigma);
            if sigma >= 5.0 {
                // Noise added to R, G, B alike passes unchanged into luma.
                let rel = (q.noise_sigma - sigma).abs() / sigma;
                assert!(rel < 0.25, "sigma {sigma}: estimated {}", q.noise_sigma);
            }
            last = q.noise_sigma;
        }
    }

    #[test]
    fn colour_measures_separate_grey_colourful_and_cast_images() {
        let grey = image::RgbImage::from_fn(64, 64, |x, y| {
            let v = ((x * 4 + y) % 256) as u8;
            image::Rgb([v, v, v])
        });
        let q = quality_of(&testimg::png_rgb(&grey));
        assert!(q.colourfulness < 1.0 && q.colour_cast < 0.1, "{q:?}");
        let cast = image::RgbImage::from_fn(64, 64, |x, y| {
            let v = ((x * 2 + y) % 128) as u8;
            image::Rgb([v / 2 + 20, v / 2 + 40, v / 2 + 140])
        });
        let q2 = quality_of(&testimg::png_rgb(&cast));
        assert!(q2.colour_cast > 1.0, "{q2:?}");
        let q3 = quality_of(&testimg::png_rgb(&testimg::photo(64, 64, 3)));
        assert!(q3.colourfulness > q.colourfulness);
        // A flat image: all blocks flat, entropy 0.
        let flat = image::RgbImage::from_pixel(64, 64, image::Rgb([255, 255, 255]));
        let q4 = quality_of(&testimg::png_rgb(&flat));
        assert_eq!(
            (q4.flat_fraction, q4.clipped_fraction, q4.entropy),
            (1.0, 1.0, 0.0)
        );
    }
}
