//! Pillow-compatible pixel arithmetic, reproduced operation for operation so that perceptual
//! hashes match the Python `imagehash` package bit for bit:
//!
//! - `convert("L")`: ITU-R 601-2 luma in Pillow's 16-bit fixed point,
//!   `(R·19595 + G·38470 + B·7471 + 0x8000) >> 16` (`rgb2l` in `libImaging/Convert.c`).
//! - `resize(..., LANCZOS)` (and BOX/BILINEAR): `libImaging/Resample.c`: per output pixel
//!   coefficients computed in f64 (`precompute_coeffs`), normalised to 22-bit fixed point, a
//!   horizontal pass over the rows the vertical pass needs, then a vertical pass, each rounding
//!   and clamping to u8.

use std::f64::consts::PI;

/// Resampling filters of Pillow, with their support.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    Box,
    Bilinear,
    Lanczos,
}

impl Filter {
    fn support(self) -> f64 {
        match self {
            Filter::Box => 0.5,
            Filter::Bilinear => 1.0,
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

/// Pillow's `rgb2l`: interleaved RGB → luma.
pub fn rgb_to_l(rgb: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.extend(rgb.chunks_exact(3).map(|p| {
        ((u32::from(p[0]) * 19595 + u32::from(p[1]) * 38470 + u32::from(p[2]) * 7471 + 0x8000)
            >> 16) as u8
    }));
}

const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Fixed-point coefficients of one axis: for each output pixel, the first input pixel and the
/// weights (`ksize` per output pixel, zero-padded).
struct Coeffs {
    ksize: usize,
    /// `(first input index, number of taps)` per output pixel.
    bounds: Vec<(usize, usize)>,
    weights: Vec<i32>,
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
    Coeffs {
        ksize,
        bounds,
        weights,
    }
}

#[inline]
fn clip8(acc: i64) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Pillow's `Image.resize((out_w, out_h), filter)` of a single-channel (`L`) image.
pub fn resize_l(src: &[u8], w: usize, h: usize, out_w: usize, out_h: usize, f: Filter) -> Vec<u8> {
    resize(src, 1, w, h, out_w, out_h, f)
}

/// Pillow's resize of an interleaved image with `channels` 8-bit channels.
pub fn resize(
    src: &[u8],
    channels: usize,
    w: usize,
    h: usize,
    out_w: usize,
    out_h: usize,
    f: Filter,
) -> Vec<u8> {
    if (w, h) == (out_w, out_h) || w == 0 || h == 0 || out_w == 0 || out_h == 0 {
        return src.to_vec();
    }
    let horiz = precompute_coeffs(w, out_w, f);
    let vert = precompute_coeffs(h, out_h, f);
    let need_h = out_w != w;
    let need_v = out_h != h;
    // Rows of the source the vertical pass reads.
    let (y_first, y_last) = if need_v {
        let (first, _) = vert.bounds[0];
        let (lmin, ltaps) = vert.bounds[out_h - 1];
        (first, lmin + ltaps)
    } else {
        (0, h)
    };
    let temp: std::borrow::Cow<'_, [u8]> = if need_h {
        let rows = y_last - y_first;
        let mut out = vec![0u8; rows * out_w * channels];
        for y in 0..rows {
            let line = &src[(y + y_first) * w * channels..(y + y_first + 1) * w * channels];
            let dst = &mut out[y * out_w * channels..(y + 1) * out_w * channels];
            for (xx, &(xmin, taps)) in horiz.bounds.iter().enumerate() {
                let k = &horiz.weights[xx * horiz.ksize..xx * horiz.ksize + taps];
                for c in 0..channels {
                    let mut acc: i64 = 1 << (PRECISION_BITS - 1);
                    for (x, &kx) in k.iter().enumerate() {
                        acc += i64::from(line[(xmin + x) * channels + c]) * i64::from(kx);
                    }
                    dst[xx * channels + c] = clip8(acc);
                }
            }
        }
        std::borrow::Cow::Owned(out)
    } else {
        std::borrow::Cow::Borrowed(&src[y_first * w * channels..y_last * w * channels])
    };
    if !need_v {
        return temp.into_owned();
    }
    let tw = if need_h { out_w } else { w };
    let stride = tw * channels;
    let mut out = vec![0u8; out_h * stride];
    for (yy, &(ymin, taps)) in vert.bounds.iter().enumerate() {
        let k = &vert.weights[yy * vert.ksize..yy * vert.ksize + taps];
        let ymin = ymin - y_first;
        let dst = &mut out[yy * stride..(yy + 1) * stride];
        for (i, d) in dst.iter_mut().enumerate() {
            let mut acc: i64 = 1 << (PRECISION_BITS - 1);
            for (y, &ky) in k.iter().enumerate() {
                acc += i64::from(temp[(ymin + y) * stride + i]) * i64::from(ky);
            }
            *d = clip8(acc);
        }
    }
    out
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
        for f in [Filter::Box, Filter::Bilinear, Filter::Lanczos] {
            let out = resize_l(&src, 97, 61, 32, 32, f);
            assert!(out.iter().all(|&v| v == 200), "{f:?}");
        }
    }

    #[test]
    fn box_downscale_by_two_is_the_block_mean() {
        // 4x2 -> 2x1: means of 2x2 blocks (rounded half up).
        let src = [0u8, 10, 100, 101, 20, 30, 102, 104];
        assert_eq!(resize_l(&src, 4, 2, 2, 1, Filter::Box), [15, 102]);
    }
}
