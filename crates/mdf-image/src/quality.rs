//! Technical quality measures, each with a stated definition and validated by controlled
//! degradations in the tests below:
//!
//! | measure | definition |
//! |---|---|
//! | `jpeg_quality` | the libjpeg quality (1–100) whose scaled standard luminance table is nearest (L1) to the file's luma table |
//! | `blockiness` | (mean \|Δ\| across 8×8 block boundaries − mean \|Δ\| inside blocks) ÷ (mean \|Δ\| inside + 2) (full resolution, both axes; 0 = no blocking) |
//! | `sharpness` | variance of the 4-neighbour Laplacian of the grey image box-downscaled to ≤ 512 px on the long side |
//! | `noise_sigma` | Immerkær's fast noise variance estimator (1996), σ in grey levels, full resolution |
//! | `entropy` | mean over R, G, B of the 256-bin Shannon entropy in bits (the seed's definition, 0–8) |
//! | `colourfulness` | Hasler & Süsstrunk (2003) M = σ_rgyb + 0.3 μ_rgyb on the downscale |
//! | `colour_cast` | mean opponent chroma ÷ its spread, √(μrg²+μyb²) / max(1, √(σrg²+σyb²)) (> 1: a cast) |
//! | `flat_fraction` | fraction of 4×4 blocks of the grey downscale whose range is ≤ 2 levels |
//! | `clipped_fraction` | fraction of downscale pixels with luma ≤ 2 or ≥ 253 |
//! | `compression_ratio` | ideal uncompressed size (w·h·channels) ÷ file size (Z-Image) |
//! | `compression_artifacts` | 0–1: max of (90 − jpeg_quality)/80 and blockiness/1.5, clamped; 0.8 ≈ JPEG quality 26 or strong blocking |

use crate::decode::Pixels;
use crate::header::Header;
use crate::pil::{resize, rgb_to_l, Filter};

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

fn blockiness(l: &[u8], w: usize, h: usize) -> f64 {
    if w < 16 || h < 16 {
        return 0.0;
    }
    let (mut edge, mut n_edge, mut inner, mut n_inner) = (0u64, 0u64, 0u64, 0u64);
    for y in 0..h {
        let row = &l[y * w..(y + 1) * w];
        for x in 1..w {
            let d = u64::from(row[x].abs_diff(row[x - 1]));
            if x % 8 == 0 {
                edge += d;
                n_edge += 1;
            } else {
                inner += d;
                n_inner += 1;
            }
        }
    }
    for y in 1..h {
        let (prev, row) = (&l[(y - 1) * w..y * w], &l[y * w..(y + 1) * w]);
        let s: u64 = row
            .iter()
            .zip(prev)
            .map(|(a, b)| u64::from(a.abs_diff(*b)))
            .sum();
        if y % 8 == 0 {
            edge += s;
            n_edge += w as u64;
        } else {
            inner += s;
            n_inner += w as u64;
        }
    }
    let edge = edge as f64 / n_edge.max(1) as f64;
    let inner = inner as f64 / n_inner.max(1) as f64;
    // The excess step at block boundaries relative to the steps inside blocks; the 2 grey
    // levels keep very smooth images (inner steps < 1 level) from inflating the ratio.
    ((edge - inner) / (inner + 2.0)).max(0.0)
}

/// Immerkær (1996): σ = √(π/2) / (6 (W−2)(H−2)) · Σ |I ∗ N|, N = [1 −2 1; −2 4 −2; 1 −2 1].
fn noise_sigma(l: &[u8], w: usize, h: usize) -> f64 {
    if w < 3 || h < 3 {
        return 0.0;
    }
    let mut sum = 0u64;
    for y in 1..h - 1 {
        let (a, b, c) = (
            &l[(y - 1) * w..y * w],
            &l[y * w..(y + 1) * w],
            &l[(y + 1) * w..(y + 2) * w],
        );
        for x in 1..w - 1 {
            let v = i32::from(a[x - 1]) - 2 * i32::from(a[x]) + i32::from(a[x + 1])
                - 2 * i32::from(b[x - 1])
                + 4 * i32::from(b[x])
                - 2 * i32::from(b[x + 1])
                + i32::from(c[x - 1])
                - 2 * i32::from(c[x])
                + i32::from(c[x + 1]);
            sum += u64::from(v.unsigned_abs());
        }
    }
    (std::f64::consts::PI / 2.0).sqrt() * sum as f64 / (6.0 * ((w - 2) * (h - 2)) as f64)
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

fn channel_entropy(p: &Pixels) -> f64 {
    let mut hists = vec![[0u64; 256]; p.channels];
    for px in p.data.chunks_exact(p.channels) {
        for (c, &v) in px.iter().enumerate() {
            hists[c][usize::from(v)] += 1;
        }
    }
    let n = (p.width * p.height) as u64;
    hists.iter().map(|h| entropy_bits(h, n)).sum::<f64>() / p.channels as f64
}

fn laplacian_variance(g: &[u8], w: usize, h: usize) -> f64 {
    if w < 3 || h < 3 {
        return 0.0;
    }
    let (mut s, mut s2, mut n) = (0f64, 0f64, 0f64);
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let i = y * w + x;
            let v = 4 * i32::from(g[i])
                - i32::from(g[i - 1])
                - i32::from(g[i + 1])
                - i32::from(g[i - w])
                - i32::from(g[i + w]);
            let v = f64::from(v);
            s += v;
            s2 += v * v;
            n += 1.0;
        }
    }
    let mean = s / n;
    s2 / n - mean * mean
}

/// Computes every measure. `l` is the full-resolution grey image of `p` (Pillow `L`).
pub fn measure(header: &Header, file_size: usize, p: &Pixels, l: &[u8]) -> Quality {
    let (w, h) = (p.width, p.height);
    let jpeg_quality = header.luma_quant_table().map(jpeg_quality);
    let blockiness = blockiness(l, w, h);
    let noise_sigma = noise_sigma(l, w, h);
    let entropy = channel_entropy(p);

    // The analysis downscale (box filter = area average), RGB and grey.
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
    let small = resize(&p.data, p.channels, w, h, dw, dh, Filter::Box);
    let grey = if p.channels == 3 {
        let mut g = Vec::new();
        rgb_to_l(&small, &mut g);
        g
    } else {
        small.clone()
    };
    let sharpness = laplacian_variance(&grey, dw, dh);

    let (mut srg, mut syb, mut srg2, mut syb2) = (0f64, 0f64, 0f64, 0f64);
    if p.channels == 3 {
        for px in small.chunks_exact(3) {
            let (r, g, b) = (f64::from(px[0]), f64::from(px[1]), f64::from(px[2]));
            let rg = r - g;
            let yb = 0.5 * (r + g) - b;
            srg += rg;
            syb += yb;
            srg2 += rg * rg;
            syb2 += yb * yb;
        }
    }
    let n = (dw * dh) as f64;
    let (mrg, myb) = (srg / n, syb / n);
    let var_rg = (srg2 / n - mrg * mrg).max(0.0);
    let var_yb = (syb2 / n - myb * myb).max(0.0);
    let spread = (var_rg + var_yb).sqrt();
    let mean_chroma = (mrg * mrg + myb * myb).sqrt();
    let colourfulness = spread + 0.3 * mean_chroma;
    let colour_cast = mean_chroma / spread.max(1.0);

    let (mut flat, mut blocks) = (0usize, 0usize);
    for by in (0..dh.saturating_sub(3)).step_by(4) {
        for bx in (0..dw.saturating_sub(3)).step_by(4) {
            let (mut lo, mut hi) = (255u8, 0u8);
            for y in by..by + 4 {
                for &v in &grey[y * dw + bx..y * dw + bx + 4] {
                    lo = lo.min(v);
                    hi = hi.max(v);
                }
            }
            blocks += 1;
            flat += usize::from(hi - lo <= 2);
        }
    }
    let clipped = grey.iter().filter(|&&v| v <= 2 || v >= 253).count();

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
