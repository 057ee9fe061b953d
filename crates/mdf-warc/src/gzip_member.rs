//! One gzip member inflated whole with libdeflate.
//!
//! CommonCrawl writes one gzip member per record (tens of KiB), so most members fit in memory
//! at once, and a whole-buffer inflater can skip the bookkeeping a streaming one pays for.
//! libdeflate does that, about 1.2× faster than zlib-rs's streaming inflate on these members
//! (`benchmarks/bench_warc.py`), and checks the member's header, CRC-32 and size itself.
//!
//! The reader only tries this fast path: when a member does not end inside the bytes it has
//! (or is damaged, or inflates to more than the caller allows), it falls back to the
//! streaming inflate, which reports the precise reason.
//!
//! This is the crate's only `unsafe` code: FFI calls into libdeflate over buffers owned here.
#![allow(unsafe_code)]

use libdeflate_sys::{
    libdeflate_alloc_decompressor, libdeflate_decompressor, libdeflate_free_decompressor,
    libdeflate_gzip_decompress_ex, libdeflate_result_LIBDEFLATE_INSUFFICIENT_SPACE,
    libdeflate_result_LIBDEFLATE_SUCCESS,
};

/// What [`MemberInflater::inflate`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MemberInflate {
    /// The member was whole and valid: it took `consumed` input bytes (header and trailer
    /// included); its data is in the output vector.
    Done { consumed: usize },
    /// The member inflates to more than the output limit.
    OutputFull,
    /// The member is damaged, or does not end within the input given.
    NotWhole,
}

/// A libdeflate decompressor (it holds no state between calls, only tables).
pub(crate) struct MemberInflater {
    ptr: *mut libdeflate_decompressor,
}

// SAFETY: a libdeflate decompressor has no thread affinity; `&mut self` serialises its use.
unsafe impl Send for MemberInflater {}

impl std::fmt::Debug for MemberInflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemberInflater")
    }
}

impl MemberInflater {
    /// `None` when libdeflate cannot allocate its decompressor (out of memory).
    pub(crate) fn new() -> Option<Self> {
        // SAFETY: no arguments; a null return is handled.
        let ptr = unsafe { libdeflate_alloc_decompressor() };
        (!ptr.is_null()).then_some(MemberInflater { ptr })
    }

    /// Inflates the gzip member at the start of `input` into `out` (cleared first), writing at
    /// most `max_out` bytes. On anything but [`MemberInflate::Done`] `out` is left empty.
    pub(crate) fn inflate(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        max_out: usize,
    ) -> MemberInflate {
        out.clear();
        out.reserve(max_out);
        let mut consumed = 0usize;
        let mut produced = 0usize;
        // SAFETY: `ptr` is a live decompressor; `input` is readable for its length; `out` has
        // capacity for `max_out` bytes, which libdeflate writes at most; the two out-pointers
        // are valid `usize`s.
        let result = unsafe {
            libdeflate_gzip_decompress_ex(
                self.ptr,
                input.as_ptr().cast(),
                input.len(),
                out.as_mut_ptr().cast(),
                max_out,
                &mut consumed,
                &mut produced,
            )
        };
        if result == libdeflate_result_LIBDEFLATE_SUCCESS && produced <= max_out {
            // SAFETY: on success libdeflate has initialised the first `produced` bytes.
            unsafe { out.set_len(produced) };
            MemberInflate::Done { consumed }
        } else if result == libdeflate_result_LIBDEFLATE_INSUFFICIENT_SPACE {
            MemberInflate::OutputFull
        } else {
            MemberInflate::NotWhole
        }
    }
}

impl Drop for MemberInflater {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `libdeflate_alloc_decompressor` and is freed once.
        unsafe { libdeflate_free_decompressor(self.ptr) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(data).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn inflates_one_member_and_says_where_it_ends() {
        let text = b"WARC/1.0\r\nContent-Length: 0\r\n\r\n\r\n\r\n".repeat(50);
        let mut input = gzip(&text);
        let len = input.len();
        input.extend(gzip(b"the next member"));
        let mut inflater = MemberInflater::new().unwrap();
        let mut out = Vec::new();
        let r = inflater.inflate(&input, &mut out, 1 << 20);
        assert_eq!(r, MemberInflate::Done { consumed: len });
        assert_eq!(out, text);
    }

    #[test]
    fn a_member_cut_short_or_damaged_is_not_whole() {
        let text: Vec<u8> = (0..20_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let member = gzip(&text);
        let mut inflater = MemberInflater::new().unwrap();
        let mut out = Vec::new();
        for cut in [member.len() - 1, member.len() - 8, member.len() / 2, 5] {
            assert_eq!(
                inflater.inflate(&member[..cut], &mut out, 1 << 20),
                MemberInflate::NotWhole,
                "cut at {cut}"
            );
            assert!(out.is_empty());
        }
        // A flipped CRC-32 byte in the trailer.
        let mut bad = member.clone();
        let crc_at = bad.len() - 8;
        bad[crc_at] ^= 1;
        assert_eq!(
            inflater.inflate(&bad, &mut out, 1 << 20),
            MemberInflate::NotWhole
        );
    }

    #[test]
    fn output_over_the_limit_is_reported() {
        let text = vec![b'a'; 100_000];
        let member = gzip(&text);
        let mut inflater = MemberInflater::new().unwrap();
        let mut out = Vec::new();
        assert_eq!(
            inflater.inflate(&member, &mut out, 99_999),
            MemberInflate::OutputFull
        );
        assert!(out.is_empty());
        assert_eq!(
            inflater.inflate(&member, &mut out, 100_000),
            MemberInflate::Done {
                consumed: member.len()
            }
        );
        assert_eq!(out, text);
    }
}
