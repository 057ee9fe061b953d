//! Test images generated in code (no binary fixtures): photo-like RGB content and encoders.
#![allow(clippy::unwrap_used)]

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::{ExtendedColorType, ImageEncoder, RgbImage};

/// Deterministic xorshift generator.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit().max(1e-12), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// A photo-like image: a smooth two-colour gradient, soft discs and edges, fine texture.
pub fn photo(w: u32, h: u32, seed: u64) -> RgbImage {
    let mut rng = Rng::new(seed);
    let c0: [f64; 3] = [rng.unit() * 255.0, rng.unit() * 255.0, rng.unit() * 255.0];
    let c1: [f64; 3] = [rng.unit() * 255.0, rng.unit() * 255.0, rng.unit() * 255.0];
    let discs: Vec<(f64, f64, f64, [f64; 3])> = (0..6)
        .map(|_| {
            (
                rng.unit() * f64::from(w),
                rng.unit() * f64::from(h),
                (0.05 + rng.unit() * 0.3) * f64::from(w.min(h)),
                [rng.unit() * 255.0, rng.unit() * 255.0, rng.unit() * 255.0],
            )
        })
        .collect();
    let (fx, fy) = (0.05 + rng.unit() * 0.3, 0.05 + rng.unit() * 0.3);
    RgbImage::from_fn(w, h, |x, y| {
        let (xf, yf) = (f64::from(x), f64::from(y));
        let t = (xf / f64::from(w.max(2) - 1) + yf / f64::from(h.max(2) - 1)) / 2.0;
        let mut c = [0f64; 3];
        for i in 0..3 {
            c[i] = c0[i] * (1.0 - t) + c1[i] * t;
        }
        for (cx, cy, r, col) in &discs {
            let d = ((xf - cx).powi(2) + (yf - cy).powi(2)).sqrt();
            let a = (1.0 - (d - r) / 2.0).clamp(0.0, 1.0);
            for i in 0..3 {
                c[i] = c[i] * (1.0 - a) + col[i] * a;
            }
        }
        let tex = 12.0 * (xf * fx).sin() * (yf * fy).cos();
        image::Rgb(c.map(|v| (v + tex).clamp(0.0, 255.0) as u8))
    })
}

pub fn jpeg(img: &RgbImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(img)
        .unwrap();
    out
}

fn png(data: &[u8], w: u32, h: u32, t: ExtendedColorType) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(data, w, h, t)
        .unwrap();
    out
}

pub fn png_rgb(img: &RgbImage) -> Vec<u8> {
    png(
        img.as_raw(),
        img.width(),
        img.height(),
        ExtendedColorType::Rgb8,
    )
}

pub fn png_gray(img: &RgbImage) -> Vec<u8> {
    let g = image::DynamicImage::ImageRgb8(img.clone()).to_luma8();
    png(g.as_raw(), img.width(), img.height(), ExtendedColorType::L8)
}

pub fn png_rgba(img: &RgbImage) -> Vec<u8> {
    let a = image::DynamicImage::ImageRgb8(img.clone()).to_rgba8();
    png(
        a.as_raw(),
        img.width(),
        img.height(),
        ExtendedColorType::Rgba8,
    )
}

pub fn gif(img: &RgbImage) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img.clone())
        .write_to(&mut out, image::ImageFormat::Gif)
        .unwrap();
    out.into_inner()
}

pub fn webp_lossless(img: &RgbImage) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img.clone())
        .write_to(&mut out, image::ImageFormat::WebP)
        .unwrap();
    out.into_inner()
}

/// A PNG signature + IHDR claiming `w`×`h` RGB, and one tiny IDAT (a decompression bomb's head).
pub fn png_header_only(w: u32, h: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    out.extend_from_slice(&13u32.to_be_bytes());
    out.extend_from_slice(b"IHDR");
    out.extend_from_slice(&w.to_be_bytes());
    out.extend_from_slice(&h.to_be_bytes());
    out.extend_from_slice(&[8, 2, 0, 0, 0]);
    out.extend_from_slice(&[0, 0, 0, 0]); // CRC (not checked by the header reader)
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(b"IDAT");
    out.extend_from_slice(&[0, 0, 0, 0]);
    out
}

/// Inserts an APP1 Exif segment with the given orientation right after SOI.
pub fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut tiff = b"MM\0\x2a".to_vec();
    tiff.extend_from_slice(&8u32.to_be_bytes());
    tiff.extend_from_slice(&1u16.to_be_bytes());
    tiff.extend_from_slice(&0x0112u16.to_be_bytes());
    tiff.extend_from_slice(&3u16.to_be_bytes());
    tiff.extend_from_slice(&1u32.to_be_bytes());
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0]);
    tiff.extend_from_slice(&0u32.to_be_bytes());
    let mut seg = b"Exif\0\0".to_vec();
    seg.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((seg.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&seg);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// Gaussian blur of an RGB image (separable, sigma in pixels).
pub fn blur(img: &RgbImage, sigma: f64) -> RgbImage {
    if sigma <= 0.0 {
        return img.clone();
    }
    let r = (3.0 * sigma).ceil() as i64;
    let k: Vec<f64> = (-r..=r)
        .map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp())
        .collect();
    let s: f64 = k.iter().sum();
    let (w, h) = (i64::from(img.width()), i64::from(img.height()));
    let pass = |src: &RgbImage, horizontal: bool| {
        RgbImage::from_fn(img.width(), img.height(), |x, y| {
            let mut acc = [0f64; 3];
            for (j, kv) in k.iter().enumerate() {
                let d = j as i64 - r;
                let (sx, sy) = if horizontal {
                    ((i64::from(x) + d).clamp(0, w - 1), i64::from(y))
                } else {
                    (i64::from(x), (i64::from(y) + d).clamp(0, h - 1))
                };
                let p = src.get_pixel(sx as u32, sy as u32);
                for c in 0..3 {
                    acc[c] += kv * f64::from(p[c]);
                }
            }
            image::Rgb(acc.map(|v| (v / s).round().clamp(0.0, 255.0) as u8))
        })
    };
    pass(&pass(img, true), false)
}

/// Adds Gaussian noise of standard deviation `sigma` (grey levels) to every channel.
pub fn add_noise(img: &RgbImage, sigma: f64, seed: u64) -> RgbImage {
    let mut rng = Rng::new(seed);
    let mut out = img.clone();
    for p in out.pixels_mut() {
        let n = rng.normal() * sigma;
        for c in 0..3 {
            p[c] = (f64::from(p[c]) + n).round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}
