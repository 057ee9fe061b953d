//! Model input pixels: encoded images → `N×S×S×3` RGB `u8` (NHWC) at a vision model's
//! resolution, decoded and resized in parallel threads (the Python model operators call this with
//! the GIL released, so preprocessing overlaps the previous batch's inference).
//!
//! Two fits, each the Hugging Face image processor's (PIL-based, "slow") pipeline:
//! - [`Fit::ShortSideCrop`] — `CLIPImageProcessor` / OpenAI CLIP: resize the short side to `S`
//!   (long side `int(S · long / short)`), BICUBIC, then centre crop `S×S` with the offset
//!   `(len − S) // 2` (HF's `center_crop`; torchvision's `CenterCrop`, used by OpenAI's own
//!   `clip.load` preprocessing, rounds half to even instead: the two differ by one pixel column
//!   when the excess is odd, like `3`).
//! - [`Fit::Squash`] — `SiglipImageProcessor`: resize to `S×S` ignoring the aspect ratio, BICUBIC.
//!
//! (BILINEAR instead of BICUBIC where a model's processor config asks for it.)
//!
//! The resize is Pillow's bit for bit ([`crate::pil`]), and grey images are expanded to RGB as
//! `convert("RGB")` does, so on PNG input the pixels equal the HF processor's before rescaling.
//! JPEG goes through zune-jpeg rather than libjpeg-turbo: decoded samples may differ by a few
//! levels. EXIF orientation is not applied (HF processors given `Image.open(...)` do not either).
//! Rescaling to `[0, 1]` and the mean/std normalisation happen on the model's device in torch.

use std::num::NonZeroUsize;

use crate::column::ImageColumn;
use crate::decode::{decode, Pixels};
use crate::header::read_header;
use crate::pil::{resize, Filter};

/// How an image is brought to `S×S`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// Short side to `S` keeping the aspect ratio, then a centre `S×S` crop (CLIP).
    ShortSideCrop,
    /// Both sides to `S`, aspect ratio ignored (SigLIP).
    Squash,
}

impl Fit {
    /// `clip` or `squash`.
    pub fn parse(name: &str) -> Option<Fit> {
        match name {
            "clip" | "short_side_crop" => Some(Fit::ShortSideCrop),
            "squash" | "siglip" => Some(Fit::Squash),
            _ => None,
        }
    }
}

/// A model's input geometry.
#[derive(Debug, Clone, Copy)]
pub struct ModelInput {
    /// Output side `S` in pixels.
    pub size: usize,
    pub fit: Fit,
    /// The resampling filter: BICUBIC for CLIP and SigLIP; some processors ask for BILINEAR
    /// (`resample: 2` in `preprocessor_config.json`).
    pub filter: Filter,
    /// Decode budget (pixels of the source image), and the budget of the intermediate resized
    /// image of [`Fit::ShortSideCrop`] (a 1×5000 strip would otherwise become 224×1,120,000).
    pub max_pixels: u64,
}

impl ModelInput {
    /// Bytes per output image (`S·S·3`).
    pub fn image_len(&self) -> usize {
        self.size * self.size * 3
    }

    /// Decodes `bytes` and writes `S×S×3` RGB into `out` (`image_len()` bytes). The error text
    /// starts with a reason code (`undecodable`, `too_many_pixels`, …).
    pub fn prepare_into(&self, bytes: &[u8], out: &mut [u8]) -> Result<(), String> {
        let header = read_header(bytes)?;
        let pixels = decode(bytes, &header, self.max_pixels)?;
        let rgb = to_rgb(pixels);
        let (w, h, s) = (rgb.width, rgb.height, self.size);
        if w == 0 || h == 0 {
            return Err(format!("undecodable: {w}x{h} image"));
        }
        match self.fit {
            Fit::Squash => out.copy_from_slice(&resize(&rgb.data, 3, w, h, s, s, self.filter)),
            Fit::ShortSideCrop => {
                let (short, long) = if w <= h { (w, h) } else { (h, w) };
                // HF `get_resize_output_image_size`: int(size * long / short), in f64.
                let new_long = ((s * long) as f64 / short as f64) as usize;
                let (nw, nh) = if w <= h { (s, new_long) } else { (new_long, s) };
                if (nw as u64) * (nh as u64) > self.max_pixels {
                    return Err(format!(
                        "too_many_pixels: a {w}x{h} image resizes to {nw}x{nh} before the crop \
                         (aspect ratio too extreme for the budget of {} pixels)",
                        self.max_pixels
                    ));
                }
                let resized = resize(&rgb.data, 3, w, h, nw, nh, self.filter);
                let (top, left) = ((nh - s) / 2, (nw - s) / 2);
                for (y, dst) in out.chunks_exact_mut(s * 3).enumerate() {
                    let start = ((top + y) * nw + left) * 3;
                    dst.copy_from_slice(&resized[start..start + s * 3]);
                }
            }
        }
        Ok(())
    }
}

/// `convert("RGB")`: grey samples replicated into three channels.
fn to_rgb(p: Pixels) -> Pixels {
    if p.channels == 3 {
        return p;
    }
    let data = p.data.iter().flat_map(|&v| [v, v, v]).collect();
    Pixels {
        channels: 3,
        data,
        ..p
    }
}

/// The prepared images of a batch: the pixels of the rows that worked, in row order.
#[derive(Debug, Default)]
pub struct Prepared {
    /// `rows.len() × S × S × 3` bytes.
    pub pixels: Vec<u8>,
    /// Rows whose image is in `pixels`, ascending.
    pub rows: Vec<usize>,
    /// Rows that failed, with the reason (`missing_field: …`, `undecodable: …`).
    pub errors: Vec<(usize, String)>,
}

/// Prepares `rows` rows of `column` on up to `threads` threads (0 = all cores).
pub fn prepare_column(
    column: &ImageColumn<'_>,
    rows: usize,
    field: &str,
    input: &ModelInput,
    threads: usize,
) -> Prepared {
    let len = input.image_len();
    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
    } else {
        threads
    }
    .clamp(1, rows.max(1));
    let per_thread = rows.div_ceil(threads).max(1);
    let mut pixels = vec![0u8; rows * len];
    let mut outcome: Vec<Result<(), String>> = vec![Ok(()); rows];
    let prepare = |first: usize, slots: &mut [u8], results: &mut [Result<(), String>]| {
        for (i, (slot, result)) in slots.chunks_exact_mut(len).zip(results).enumerate() {
            let row = first + i;
            *result = match column.get(row) {
                Some(bytes) => input.prepare_into(bytes, slot),
                None => Err(format!("missing_field: `{field}` is null")),
            };
        }
    };
    if threads == 1 {
        prepare(0, &mut pixels, &mut outcome);
    } else {
        std::thread::scope(|scope| {
            for (k, (slots, results)) in pixels
                .chunks_mut(per_thread * len)
                .zip(outcome.chunks_mut(per_thread))
                .enumerate()
            {
                let prepare = &prepare;
                scope.spawn(move || prepare(k * per_thread, slots, results));
            }
        });
    }
    // Compact: move the images that worked to the front, in row order.
    let mut out = Prepared::default();
    for (row, result) in outcome.into_iter().enumerate() {
        match result {
            Ok(()) => {
                let at = out.rows.len();
                if at != row {
                    pixels.copy_within(row * len..(row + 1) * len, at * len);
                }
                out.rows.push(row);
            }
            Err(reason) => out.errors.push((row, reason)),
        }
    }
    pixels.truncate(out.rows.len() * len);
    out.pixels = pixels;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testimg;
    use arrow::array::BinaryArray;

    fn input(size: usize, fit: Fit) -> ModelInput {
        ModelInput {
            size,
            fit,
            filter: Filter::Bicubic,
            max_pixels: crate::decode::DEFAULT_MAX_PIXELS,
        }
    }

    /// The crop takes the middle of the resized image: a wide image with a bright centre band
    /// keeps the band, the dark sides are cut.
    #[test]
    fn short_side_crop_keeps_the_centre() {
        let mut img = image::RgbImage::new(300, 100);
        for (x, _, p) in img.enumerate_pixels_mut() {
            *p = if (100..200).contains(&x) {
                image::Rgb([250, 250, 250])
            } else {
                image::Rgb([5, 5, 5])
            };
        }
        let png = testimg::png_rgb(&img);
        let mut out = vec![0u8; input(32, Fit::ShortSideCrop).image_len()];
        input(32, Fit::ShortSideCrop)
            .prepare_into(&png, &mut out)
            .unwrap();
        // Resized to 96x32, crop columns 32..64 = source columns 100..200 exactly; the bicubic
        // kernel (3 source pixels wide per side at this scale) lets the dark sides into the
        // outermost column only.
        for row in out.chunks_exact(32 * 3) {
            assert!(row[3..29 * 3].iter().all(|&v| v >= 240), "{:?}", &row[..12]);
        }
        let mut squashed = vec![0u8; input(32, Fit::Squash).image_len()];
        input(32, Fit::Squash)
            .prepare_into(&png, &mut squashed)
            .unwrap();
        assert!(
            squashed[..3].iter().all(|&v| v < 20),
            "squash keeps the dark left side"
        );
    }

    #[test]
    fn grey_images_become_rgb_and_sizes_are_exact() {
        let photo = testimg::photo(61, 47, 3);
        for bytes in [testimg::png_gray(&photo), testimg::jpeg(&photo, 90)] {
            for fit in [Fit::ShortSideCrop, Fit::Squash] {
                let mut out = vec![0u8; input(24, fit).image_len()];
                input(24, fit).prepare_into(&bytes, &mut out).unwrap();
                assert!(out.iter().any(|&v| v != 0));
            }
        }
        let grey = testimg::png_gray(&photo);
        let mut out = vec![0u8; input(24, Fit::Squash).image_len()];
        input(24, Fit::Squash)
            .prepare_into(&grey, &mut out)
            .unwrap();
        assert!(out.chunks_exact(3).all(|p| p[0] == p[1] && p[1] == p[2]));
    }

    /// Rows in order, failures reported per row, the same result on one thread or many.
    #[test]
    fn batch_compacts_good_rows_and_reports_bad_ones() {
        let a = testimg::png_rgb(&testimg::photo(40, 30, 1));
        let b = testimg::jpeg(&testimg::photo(30, 50, 2), 85);
        let corrupt = b"\x89PNG\r\n\x1a\nnot really".to_vec();
        let values: Vec<Option<&[u8]>> = vec![Some(&a), Some(&corrupt), None, Some(&b), Some(&a)];
        let array = BinaryArray::from(values);
        let column = ImageColumn::Binary(&array);
        let geometry = input(16, Fit::ShortSideCrop);
        let one = prepare_column(&column, 5, "image", &geometry, 1);
        let many = prepare_column(&column, 5, "image", &geometry, 4);
        assert_eq!(one.rows, [0, 3, 4]);
        assert_eq!(one.errors.len(), 2);
        assert_eq!(one.errors[0].0, 1);
        assert_eq!(one.errors[1].0, 2);
        assert!(one.errors[1].1.starts_with("missing_field"));
        assert_eq!(one.pixels.len(), 3 * geometry.image_len());
        assert_eq!(one.pixels, many.pixels);
        assert_eq!(one.rows, many.rows);
        let len = geometry.image_len();
        assert_eq!(
            one.pixels[..len],
            one.pixels[2 * len..],
            "rows 0 and 4 are the same image"
        );
    }

    #[test]
    fn extreme_aspect_ratios_are_rejected_not_allocated() {
        let strip = testimg::png_rgb(&testimg::photo(1, 4000, 5));
        let small_budget = ModelInput {
            max_pixels: 100_000,
            ..input(224, Fit::ShortSideCrop)
        };
        let mut out = vec![0u8; small_budget.image_len()];
        let err = small_budget.prepare_into(&strip, &mut out).unwrap_err();
        assert!(err.starts_with("too_many_pixels"), "{err}");
    }
}
