//! JPEG decoding through libjpeg-turbo's decoder (the C library vendored and statically built
//! by `mozjpeg-sys`: mozjpeg changes only the encoder), configured as Pillow configures it, so
//! that the pixels are the ones `Image.open(f).load()` gives: the `islow` integer IDCT, fancy
//! (triangle-filter) chroma upsampling, libjpeg's fixed-point YCbCr → RGB, grey JPEGs as `L`,
//! CMYK/YCCK as Pillow's inverted ("Adobe convention") CMYK converted with Pillow's
//! `cmyk2rgb`. zune-jpeg (the `image` crate's decoder, used when the `libjpeg` feature is off)
//! differs by ±1 level in some pixels, which flips perceptual-hash bits near the median.
//!
//! Errors: libjpeg reports fatal errors through `error_exit`, which must not return; ours
//! unwinds back to [`decode`] with `resume_unwind` (no panic hook runs, nothing is printed),
//! where `catch_unwind` turns it into an `Err` and the decompressor is destroyed. Warnings
//! (corrupt but recoverable data) are ignored as Pillow ignores them, except premature end of
//! data: Pillow refuses a truncated JPEG ("image file is truncated"), and so do we.
//!
//! This is the crate's only FFI code (its other `unsafe` code is SIMD: `grey_shuffle`'s
//! intrinsics and `simd`'s target-feature calls): calls into libjpeg with a struct that lives in
//! a `Box` (libjpeg keeps pointers into it) and output rows that point into one `Vec`.
#![allow(unsafe_code)]

use std::os::raw::{c_int, c_ulong};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use mozjpeg_sys::{
    jpeg_common_struct, jpeg_create_decompress, jpeg_decompress_struct, jpeg_destroy_decompress,
    jpeg_error_mgr, jpeg_finish_decompress, jpeg_mem_src, jpeg_read_header, jpeg_read_scanlines,
    jpeg_start_decompress, jpeg_std_error, JSAMPROW_MUT, J_COLOR_SPACE, J_DCT_METHOD,
};

use crate::decode::Pixels;
use crate::jpeg_entropy::{Declined, FastEntropy};

/// libjpeg's `JWRN_JPEG_EOF` ("Premature end of JPEG file").
const WARNING_PREMATURE_EOF: c_int = mozjpeg_sys::JWRN_JPEG_EOF as c_int;

/// The payload our `error_exit` unwinds with.
struct LibjpegError(String);

/// The decompressor and its error manager; boxed because libjpeg keeps `cinfo.err` pointing
/// at `err`. Dropping it destroys the decompressor (safe on a zeroed or half-built one).
struct Decompressor {
    cinfo: jpeg_decompress_struct,
    err: jpeg_error_mgr,
}

impl Drop for Decompressor {
    fn drop(&mut self) {
        // SAFETY: `cinfo` was zeroed and then at most created by jpeg_create_decompress;
        // jpeg_destroy only frees what its memory manager allocated. It cannot error_exit.
        unsafe { jpeg_destroy_decompress(&mut self.cinfo) }
    }
}

/// The text of libjpeg's current message.
fn message(cinfo: &mut jpeg_common_struct) -> String {
    let buf = [0u8; 80];
    // SAFETY: `err` points at our live error manager; format_message writes a NUL-terminated
    // string of at most JMSG_LENGTH_MAX (80) bytes into `buf`.
    unsafe {
        if let Some(format) = (*cinfo.err).format_message {
            format(cinfo, &buf);
        }
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

unsafe extern "C-unwind" fn error_exit(cinfo: &mut jpeg_common_struct) {
    let text = message(cinfo);
    resume_unwind(Box::new(LibjpegError(text)))
}

unsafe extern "C-unwind" fn emit_message(cinfo: &mut jpeg_common_struct, level: c_int) {
    // level −1 = warning; ≥ 0 = trace messages (off).
    // SAFETY: `err` points at our live error manager.
    if level < 0 && unsafe { (*cinfo.err).msg_code } == WARNING_PREMATURE_EOF {
        resume_unwind(Box::new(LibjpegError(
            "truncated: premature end of JPEG data".into(),
        )))
    }
}

unsafe extern "C-unwind" fn output_message(_cinfo: &mut jpeg_common_struct) {}

/// Decodes a JPEG to 8-bit `L` (grey JPEGs) or `RGB` pixels, as Pillow does. The caller has
/// checked the pixel budget from our header parser; libjpeg's own reading of the frame header
/// is checked against `max_pixels` again before any pixel buffer exists (libjpeg's buffers are
/// bounded by the image size). The error text starts with a reason code (`too_many_pixels`,
/// `undecodable`).
pub fn decode(bytes: &[u8], max_pixels: u64) -> Result<Pixels, String> {
    match attempt(bytes, max_pixels, true) {
        Ok(result) => result,
        // The scan was not one the fast entropy decoder handles cleanly: libjpeg's own decoder
        // decides what to make of it.
        Err(Declined) => attempt(bytes, max_pixels, false)
            .unwrap_or_else(|Declined| Err("undecodable: JPEG libjpeg failed".into())),
    }
}

#[cfg(test)]
thread_local! {
    /// (scans the fast entropy decoder finished, scans it declined) on this thread.
    pub(crate) static FAST_SCANS: std::cell::Cell<(u32, u32)> = const { std::cell::Cell::new((0, 0)) };
}

/// One decode, with the fast entropy decoder where the scan allows it (`fast`).
pub(crate) fn attempt(
    bytes: &[u8],
    max_pixels: u64,
    fast: bool,
) -> Result<Result<Pixels, String>, Declined> {
    // SAFETY: all-zero is a valid "not yet created" state for these C structs (null pointers,
    // None callbacks, zero numbers); jpeg_create_decompress initialises them.
    let mut d: Box<Decompressor> = Box::new(unsafe { std::mem::zeroed() });
    let outcome = catch_unwind(AssertUnwindSafe(|| run(&mut d, bytes, max_pixels, fast)));
    drop(d);
    match outcome {
        Ok(result) => Ok(result),
        Err(payload) if payload.is::<Declined>() => {
            #[cfg(test)]
            FAST_SCANS.with(|c| c.set((c.get().0, c.get().1 + 1)));
            Err(Declined)
        }
        Err(payload) => {
            let text = match payload.downcast::<LibjpegError>() {
                Ok(e) => e.0,
                Err(_) => "libjpeg failed".into(),
            };
            Ok(Err(format!("undecodable: JPEG {text}")))
        }
    }
}

fn run(d: &mut Decompressor, bytes: &[u8], max_pixels: u64, fast: bool) -> Result<Pixels, String> {
    let len = c_ulong::try_from(bytes.len()).map_err(|_| "undecodable: JPEG too large")?;
    // SAFETY: `d` is boxed (stable address) and outlives every call; `bytes` outlives the
    // decompression (the source is only read before `run` returns); each output row pointer
    // points at `width * components` bytes inside `data`'s capacity, which libjpeg fills
    // exactly.
    unsafe {
        d.cinfo.common.err = jpeg_std_error(&mut d.err);
        d.err.error_exit = Some(error_exit);
        d.err.emit_message = Some(emit_message);
        d.err.output_message = Some(output_message);
        jpeg_create_decompress(&mut d.cinfo);
        jpeg_mem_src(&mut d.cinfo, bytes.as_ptr(), len);
        jpeg_read_header(&mut d.cinfo, 1);
        let (w, h) = (d.cinfo.image_width, d.cinfo.image_height);
        if u64::from(w) * u64::from(h) > max_pixels {
            return Err(format!(
                "too_many_pixels: {w}x{h} exceeds the budget of {max_pixels} pixels"
            ));
        }

        // Pillow's choices (JpegDecode.c outside draft mode): the default islow IDCT and
        // fancy upsampling; L for grey, RGB for YCbCr/RGB, CMYK for CMYK/YCCK.
        let cmyk = matches!(
            d.cinfo.jpeg_color_space,
            J_COLOR_SPACE::JCS_CMYK | J_COLOR_SPACE::JCS_YCCK
        );
        d.cinfo.out_color_space = match d.cinfo.jpeg_color_space {
            J_COLOR_SPACE::JCS_GRAYSCALE => J_COLOR_SPACE::JCS_GRAYSCALE,
            _ if cmyk => J_COLOR_SPACE::JCS_CMYK,
            _ => J_COLOR_SPACE::JCS_RGB,
        };
        d.cinfo.dct_method = J_DCT_METHOD::JDCT_ISLOW;
        d.cinfo.do_fancy_upsampling = 1;
        jpeg_start_decompress(&mut d.cinfo);
        // Lives (unmoved) until the decompression is finished: libjpeg calls into it.
        let mut entropy = if fast {
            FastEntropy::for_scan(&mut d.cinfo, bytes)
        } else {
            None
        };
        if let Some(e) = entropy.as_mut() {
            e.install(&mut d.cinfo);
        }

        let width = d.cinfo.output_width as usize;
        let height = d.cinfo.output_height as usize;
        let components = d.cinfo.output_components as usize;
        let stride = width * components;
        // Not zeroed first (that was 2% of a profiling run): libjpeg writes every byte of each
        // row it returns, and the length is set only once all `height` rows are written.
        let mut data: Vec<u8> = Vec::with_capacity(stride * height);
        let mut rows: Vec<JSAMPROW_MUT> = data.spare_capacity_mut()[..stride * height]
            .chunks_exact_mut(stride.max(1))
            .map(|r| r.as_mut_ptr().cast::<u8>())
            .collect();
        while (d.cinfo.output_scanline as usize) < height {
            let next = d.cinfo.output_scanline as usize;
            let want = (height - next) as u32;
            if jpeg_read_scanlines(&mut d.cinfo, rows[next..].as_mut_ptr(), want) == 0 {
                return Err("undecodable: JPEG decoder made no progress".into());
            }
        }
        data.set_len(stride * height);
        jpeg_finish_decompress(&mut d.cinfo);
        #[cfg(test)]
        if entropy.is_some() {
            FAST_SCANS.with(|c| c.set((c.get().0 + 1, c.get().1)));
        }
        drop(entropy);

        let (channels, data) = if cmyk {
            (3, cmyk_to_rgb(&data))
        } else {
            (components, data)
        };
        Ok(Pixels {
            width,
            height,
            channels,
            data,
        })
    }
}

/// Pillow's CMYK JPEG (stored inverted, rawmode `CMYK;I`) then `convert("RGB")` (`cmyk2rgb`
/// in Convert.c): with nk = 255 − k, each channel is nk − nk·c / 255 in Pillow's rounding.
fn cmyk_to_rgb(stored: &[u8]) -> Vec<u8> {
    let muldiv255 = |a: u32, b: u32| {
        let t = a * b + 128;
        ((t >> 8) + t) >> 8
    };
    stored
        .chunks_exact(4)
        .flat_map(|p| {
            let [c, m, y, k] = [255 - p[0], 255 - p[1], 255 - p[2], 255 - p[3]].map(u32::from);
            let nk = 255 - k;
            [c, m, y].map(|v| (nk - muldiv255(v, nk)) as u8)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{decode as decode_any, DEFAULT_MAX_PIXELS};
    use crate::header::read_header;
    use crate::testimg;

    fn testdata(name: &str) -> Vec<u8> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/pillow/");
        std::fs::read(format!("{path}{name}")).unwrap()
    }

    /// Pillow's own decode of each JPEG, stored as a PNG beside it (testdata/pillow/README.md).
    #[test]
    fn pixels_equal_pillows() {
        for (name, channels) in [
            ("ycc420", 3),
            ("ycc422", 3),
            ("ycc444_progressive", 3),
            ("grey", 1),
            ("cmyk", 3),
        ] {
            let ours = decode(&testdata(&format!("{name}.jpg")), DEFAULT_MAX_PIXELS).unwrap();
            let png = testdata(&format!("{name}.png"));
            let pillow = decode_any(&png, &read_header(&png).unwrap(), DEFAULT_MAX_PIXELS).unwrap();
            assert_eq!((ours.width, ours.height), (37, 29), "{name}");
            assert_eq!(ours.channels, channels, "{name}");
            assert_eq!(pillow.channels, channels, "{name}");
            assert!(
                ours.data == pillow.data,
                "{name}: pixels differ from Pillow's"
            );
        }
    }

    #[test]
    fn damaged_input_is_an_error_not_a_crash() {
        let jpeg = testimg::jpeg(&testimg::photo(64, 48, 3), 90);
        for cut in [0, 2, 100, jpeg.len() / 2, jpeg.len() - 2] {
            let err = decode(&jpeg[..cut], DEFAULT_MAX_PIXELS).unwrap_err();
            assert!(err.starts_with("undecodable: JPEG"), "{cut}: {err}");
        }
        assert!(decode(&jpeg[..jpeg.len() / 2], DEFAULT_MAX_PIXELS)
            .unwrap_err()
            .contains("truncated"));
        let mut garbled = jpeg.clone();
        for b in garbled.iter_mut().skip(400).step_by(7) {
            *b = b.wrapping_mul(31);
        }
        // Garbled entropy-coded data either decodes (libjpeg resynchronises, as for Pillow) or
        // is refused; it never crashes.
        if let Err(e) = decode(&garbled, DEFAULT_MAX_PIXELS) {
            assert!(e.starts_with("undecodable"), "{e}");
        }
        let err = decode(&jpeg, 64 * 47).unwrap_err();
        assert!(err.starts_with("too_many_pixels"), "{err}");
        // The decoder is reusable after errors (nothing leaks into later calls).
        assert_eq!(
            decode(&jpeg, DEFAULT_MAX_PIXELS).unwrap().data.len(),
            64 * 48 * 3
        );
    }
}
