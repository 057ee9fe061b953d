//! Hot pixel loops compiled twice: for the x86-64 baseline the wheel must run on (SSE2), and for
//! AVX2, picked at run time when the CPU has it. The loops are plain Rust written so that LLVM
//! vectorises them; AVX2 doubles the vector width and adds the 32-bit multiply (`vpmulld`) that
//! SSE2 lacks, which is what the fixed-point resampling and the 3×3 filters need. Results are
//! identical on both paths: the loops are integer arithmetic, and float code is never contracted
//! into FMA (Rust does not do that unasked).

/// Defines a function whose body is compiled for the baseline and for AVX2; calls dispatch on
/// `is_x86_feature_detected!("avx2")` (a cached load after the first call).
macro_rules! avx2_dispatch {
    (
        $(#[$attr:meta])*
        $vis:vis fn $name:ident $(< $(const $cn:ident : $ct:ty),* >)?
            ( $($arg:ident : $ty:ty),* $(,)? ) $(-> $ret:ty)? $body:block
    ) => {
        $(#[$attr])*
        #[allow(unsafe_code)]
        $vis fn $name $(< $(const $cn : $ct),* >)? ( $($arg : $ty),* ) $(-> $ret)? {
            #[inline(always)]
            fn portable $(< $(const $cn : $ct),* >)? ( $($arg : $ty),* ) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2")]
                fn avx2 $(< $(const $cn : $ct),* >)? ( $($arg : $ty),* ) $(-> $ret)? {
                    portable $(::< $($cn),* >)? ( $($arg),* )
                }
                if $crate::simd::use_avx2() {
                    // SAFETY: `avx2` is only a target-feature build of `portable`; the CPU was
                    // just checked to support AVX2.
                    return unsafe { avx2 $(::< $($cn),* >)? ( $($arg),* ) };
                }
            }
            portable $(::< $($cn),* >)? ( $($arg),* )
        }
    };
}

pub(crate) use avx2_dispatch;

/// Tests set this to run the baseline build of every dispatched loop on an AVX2 machine (the
/// two must agree exactly; a test that races with it gets the same results either way).
#[cfg(test)]
pub(crate) static PORTABLE_ONLY: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn use_avx2() -> bool {
    #[cfg(test)]
    if PORTABLE_ONLY.load(std::sync::atomic::Ordering::Relaxed) {
        return false;
    }
    std::arch::is_x86_feature_detected!("avx2")
}
