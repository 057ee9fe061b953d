//! Safe decoding: the header is read first and the pixel budget checked before any pixel buffer
//! is allocated (decompression bombs are rejected from 30 bytes of PNG header, not after 2.7 GB
//! of allocation); the decoder also runs under `image::Limits` in case a header lies. JPEG goes
//! through libjpeg-turbo's decoder set up as Pillow sets it ([`crate::libjpeg`], the default
//! `libjpeg` feature: the same pixels as Pillow, so hashes match imagehash), or zune-jpeg (via
//! `image`) without that feature; PNG/GIF/WebP go through their pure-Rust decoders; GIF and
//! animated WebP/PNG give their first frame.
//!
//! Pixels come out as 8-bit `L` or `RGB`, the way Pillow would present them to
//! `convert("L")` / `convert("RGB")`: alpha is dropped (not composited), palettes are expanded,
//! 16-bit RGB keeps its high byte. EXIF orientation is *not* applied here (imagehash does not
//! apply it); [`Pixels::oriented`] applies it for measures where the viewing direction matters.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, ImageReader, Limits};

use crate::header::{Format, Header};

/// Pillow's `Image.MAX_IMAGE_PIXELS` (above it Pillow warns; we refuse).
pub const DEFAULT_MAX_PIXELS: u64 = 89_478_485;

/// Decoded 8-bit pixels.
#[derive(Debug, Clone)]
pub struct Pixels {
    pub width: usize,
    pub height: usize,
    /// 1 (`L`) or 3 (`RGB`), interleaved.
    pub channels: usize,
    pub data: Vec<u8>,
}

impl Pixels {
    /// The pixels rotated/flipped as the EXIF orientation says (1 = as stored).
    pub fn oriented(&self, orientation: u8) -> Pixels {
        if orientation <= 1 || orientation > 8 {
            return self.clone();
        }
        let (w, h, c) = (self.width, self.height, self.channels);
        let swap = orientation >= 5;
        let (ow, oh) = if swap { (h, w) } else { (w, h) };
        let mut data = vec![0u8; self.data.len()];
        for y in 0..oh {
            for x in 0..ow {
                // Source coordinates of output (x, y), per the EXIF definitions.
                let (sx, sy) = match orientation {
                    2 => (w - 1 - x, y),
                    3 => (w - 1 - x, h - 1 - y),
                    4 => (x, h - 1 - y),
                    5 => (y, x),
                    6 => (y, h - 1 - x),
                    7 => (w - 1 - y, h - 1 - x),
                    _ => (w - 1 - y, x),
                };
                let (s, d) = ((sy * w + sx) * c, (y * ow + x) * c);
                data[d..d + c].copy_from_slice(&self.data[s..s + c]);
            }
        }
        Pixels {
            width: ow,
            height: oh,
            channels: c,
            data,
        }
    }
}

/// Decodes `bytes` (whose header is `header`) within `max_pixels`. The error text starts with
/// a reason code (`too_many_pixels`, `undecodable`).
pub fn decode(bytes: &[u8], header: &Header, max_pixels: u64) -> Result<Pixels, String> {
    let pixels = u64::from(header.width) * u64::from(header.height);
    if pixels > max_pixels {
        return Err(format!(
            "too_many_pixels: {}x{} = {pixels} pixels exceeds the budget of {max_pixels}",
            header.width, header.height
        ));
    }
    let format = match header.format {
        #[cfg(feature = "libjpeg")]
        Format::Jpeg => return crate::libjpeg::decode(bytes, max_pixels),
        #[cfg(not(feature = "libjpeg"))]
        Format::Jpeg => ImageFormat::Jpeg,
        Format::Png => ImageFormat::Png,
        Format::Gif => ImageFormat::Gif,
        Format::Webp => ImageFormat::WebP,
    };
    let mut limits = Limits::default();
    limits.max_image_width = Some(header.width);
    limits.max_image_height = Some(header.height);
    // RGBA at 16 bits per channel is the largest buffer a decoder may ask for, plus slack.
    limits.max_alloc = Some(pixels * 8 + (1 << 20));
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(limits);
    let image = reader
        .decode()
        .map_err(|e| format!("undecodable: {} {e}", header.format.name()))?;
    Ok(to_pixels(image))
}

fn to_pixels(image: DynamicImage) -> Pixels {
    let (width, height) = (image.width() as usize, image.height() as usize);
    let (channels, data) = match image {
        DynamicImage::ImageLuma8(b) => (1, b.into_raw()),
        DynamicImage::ImageLumaA8(b) => (1, b.into_raw().chunks_exact(2).map(|p| p[0]).collect()),
        // Pillow opens 16-bit grey PNGs as `I;16` and `convert("L")` clamps values to 255.
        DynamicImage::ImageLuma16(b) => {
            (1, b.into_raw().iter().map(|&v| v.min(255) as u8).collect())
        }
        DynamicImage::ImageLumaA16(b) => (
            1,
            b.into_raw()
                .chunks_exact(2)
                .map(|p| p[0].min(255) as u8)
                .collect(),
        ),
        DynamicImage::ImageRgb8(b) => (3, b.into_raw()),
        DynamicImage::ImageRgba8(b) => (
            3,
            b.into_raw()
                .chunks_exact(4)
                .flat_map(|p| [p[0], p[1], p[2]])
                .collect(),
        ),
        DynamicImage::ImageRgb16(b) => (3, b.into_raw().iter().map(|&v| (v >> 8) as u8).collect()),
        DynamicImage::ImageRgba16(b) => (
            3,
            b.into_raw()
                .chunks_exact(4)
                .flat_map(|p| [(p[0] >> 8) as u8, (p[1] >> 8) as u8, (p[2] >> 8) as u8])
                .collect(),
        ),
        other => (3, other.to_rgb8().into_raw()),
    };
    Pixels {
        width,
        height,
        channels,
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::read_header;
    use crate::testimg;

    #[test]
    fn decodes_every_codec_to_the_right_size() {
        let rgb = testimg::photo(33, 21, 4);
        for bytes in [
            testimg::jpeg(&rgb, 90),
            testimg::png_rgb(&rgb),
            testimg::png_gray(&rgb),
            testimg::png_rgba(&rgb),
            testimg::gif(&rgb),
            testimg::webp_lossless(&rgb),
        ] {
            let h = read_header(&bytes).unwrap();
            let p = decode(&bytes, &h, DEFAULT_MAX_PIXELS).unwrap();
            assert_eq!((p.width, p.height), (33, 21));
            assert_eq!(p.data.len(), 33 * 21 * p.channels);
        }
    }

    #[test]
    fn bombs_and_truncation_are_refused_with_reasons() {
        let bomb = testimg::png_header_only(30000, 30000);
        let h = read_header(&bomb).unwrap();
        let err = decode(&bomb, &h, DEFAULT_MAX_PIXELS).unwrap_err();
        assert!(err.starts_with("too_many_pixels"), "{err}");

        let jpeg = testimg::jpeg(&testimg::photo(64, 64, 5), 90);
        let cut = &jpeg[..jpeg.len() / 2];
        let h = read_header(cut).unwrap();
        // A truncated JPEG either fails or decodes with grey fill; it must never panic.
        if let Err(e) = decode(cut, &h, DEFAULT_MAX_PIXELS) {
            assert!(e.starts_with("undecodable"), "{e}");
        }
        let png = testimg::png_rgb(&testimg::photo(64, 64, 5));
        let cut = &png[..png.len() / 2];
        let h = read_header(cut).unwrap();
        assert!(decode(cut, &h, DEFAULT_MAX_PIXELS)
            .unwrap_err()
            .starts_with("undecodable"));
    }

    #[test]
    fn orientation_rotates_and_flips() {
        // 2x1 image: pixel values 1, 2.
        let p = Pixels {
            width: 2,
            height: 1,
            channels: 1,
            data: vec![1, 2],
        };
        assert_eq!(p.oriented(2).data, [2, 1]);
        let r = p.oriented(6); // rotate 90° clockwise for display
        assert_eq!((r.width, r.height, r.data.clone()), (1, 2, vec![1, 2]));
        let r = p.oriented(8); // rotate 90° counter-clockwise
        assert_eq!((r.width, r.height, r.data), (1, 2, vec![2, 1]));
    }
}
