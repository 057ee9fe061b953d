//! Process-wide tuning of glibc's allocator for batch processing.
//!
//! A worker allocates and frees buffers of megabytes per batch (decompressed Parquet pages,
//! column chunks, decoded images, output pages). glibc serves those above its mmap threshold
//! (dynamic, 128 KiB to 32 MiB) with fresh `mmap`s and hands freed heap tops above 128 KiB back
//! to the kernel, so every batch page-faults its buffers in again and the kernel zeroes them:
//! 8 % of the CPU time of the image profiling benchmark went to system time. Serving
//! everything up to 64 MiB from the heap, growing it 64 MiB at a time and keeping up to 256
//! MiB of freed heap top cuts that system time by 60 % (`docs/image.md`). The resident memory
//! stays near the run's peak, which a batch job reaches in its first batches anyway.
//!
//! Only glibc; elsewhere (musl, macOS) nothing changes.
#![allow(unsafe_code)]

use std::sync::OnceLock;

/// Largest allocation served from the heap: above a Parquet column chunk of common row-group
/// sizes (the image benchmark's are 59 MB; 32 MiB left those to `mmap`, 5 % more system time).
pub const MMAP_THRESHOLD: usize = 64 << 20;
/// Freed memory at the top of a heap kept for reuse instead of returned to the kernel.
pub const TRIM_THRESHOLD: usize = 256 << 20;
/// Extra room requested whenever a heap grows.
pub const TOP_PAD: usize = 64 << 20;

/// Applies the settings once per process (the local executor at the start of a run, a Ray
/// worker when its runner is built). Returns whether glibc accepted all three.
pub fn tune_for_batches() -> bool {
    static ACCEPTED: OnceLock<bool> = OnceLock::new();
    *ACCEPTED.get_or_init(apply)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn apply() -> bool {
    let settings = [
        (libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD),
        (libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD),
        (libc::M_TOP_PAD, TOP_PAD),
    ];
    settings.iter().all(|&(param, value)| {
        let value = libc::c_int::try_from(value).unwrap_or(libc::c_int::MAX);
        // SAFETY: mallopt only changes allocator parameters; it is thread-safe (it takes the
        // arena locks) and returns 0 for a value it refuses.
        unsafe { libc::mallopt(param, value) == 1 }
    })
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn apply() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn buffers_below_the_threshold_come_from_the_heap() {
        assert!(tune_for_batches(), "glibc refused a setting");
        assert!(tune_for_batches(), "a second call reports the same");
        // glibc's own default would mmap a 48 MiB buffer (its dynamic threshold stops at 32
        // MiB); tuned, the mmapped total does not grow by it.
        // SAFETY: mallinfo2 only reads allocator counters.
        let mapped = || unsafe { libc::mallinfo2() }.hblkhd;
        let before = mapped();
        let buffer: Vec<u8> = Vec::with_capacity(48 << 20);
        let grown = mapped().saturating_sub(before);
        drop(buffer);
        assert!(grown < 48 << 20, "the 48 MiB buffer was mmapped");
    }
}
