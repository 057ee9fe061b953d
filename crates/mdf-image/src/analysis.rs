//! Decode once per record, whatever the number of image operators in a stage.
//!
//! Operators never hold pixels across calls: each asks an [`Analyzer`] for the *products* it
//! needs (hashes, quality measures), which are small. Every image operator declares its needs
//! when it is built; a worker builds all operators of a pipeline on its own thread before it
//! processes the first batch, so the thread-local stage record knows the union of the needs of
//! all image operators of this worker. The first operator that needs pixels for an image decodes
//! it once and computes the products for *every* declared need; later operators find them in a
//! thread-local cache keyed by the 128-bit xxh3 of the encoded bytes (so a row filter in between,
//! which copies the bytes into a new buffer, does not matter, and exact duplicate images in a
//! batch are decoded once too). The cache holds products only (a few hundred bytes per image)
//! and is cleared when it reaches [`CACHE_ENTRIES`].
//!
//! If an operator runs on a thread where it was not built, it still gets what it asked for (its
//! own needs are always computed); it just may decode again.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use mdf_core::Verdicts;
use xxhash_rust::xxh3::xxh3_128;

use crate::column::for_each_image;

use crate::decode::decode;
use crate::hashes::{hash, Bits, HashKind};
use crate::header::{read_header, Header};
use crate::pil::rgb_to_l;
use crate::quality::{measure_with_colour, rgb_to_l_and_opponent_sums, OpponentSums, Quality};

/// Cached analyses per worker thread before the cache is cleared.
pub const CACHE_ENTRIES: usize = 16_384;

/// A product an operator needs from the decoded pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Need {
    Hash(HashKind, usize),
    Quality,
}

/// Everything known about one encoded image.
#[derive(Debug)]
pub struct Analysis {
    pub header: Header,
    /// The products, or why the pixels could not be decoded (`reason: detail`).
    pub products: Result<Products, String>,
}

#[derive(Debug, Default)]
pub struct Products {
    pub hashes: Vec<(Need, Bits)>,
    pub quality: Option<Quality>,
    computed: BTreeSet<Need>,
}

impl Products {
    pub fn hash(&self, kind: HashKind, size: usize) -> Option<&Bits> {
        let need = Need::Hash(kind, size);
        self.hashes.iter().find(|(n, _)| *n == need).map(|(_, b)| b)
    }
}

#[derive(Default)]
struct Stage {
    declared: BTreeSet<Need>,
    cache: HashMap<(u128, u64), Arc<Analysis>>,
}

thread_local! {
    static STAGE: RefCell<Stage> = RefCell::new(Stage::default());
    /// The grey image of the image being analysed, reused across images: a fresh one is zeroed
    /// (its pages faulted in) for every image before the luma pass overwrites it.
    static LUMA: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// One operator's view of the shared decoder.
#[derive(Debug, Clone)]
pub struct Analyzer {
    needs: BTreeSet<Need>,
    max_pixels: u64,
}

impl Analyzer {
    /// Declares `needs` for this worker thread (call when the operator is built).
    pub fn new(needs: impl IntoIterator<Item = Need>, max_pixels: u64) -> Analyzer {
        let needs: BTreeSet<Need> = needs.into_iter().collect();
        STAGE.with(|s| s.borrow_mut().declared.extend(needs.iter().copied()));
        Analyzer { needs, max_pixels }
    }

    /// The analysis of `bytes`; `Err` when not even the header can be read.
    pub fn analyze(&self, bytes: &[u8]) -> Result<Arc<Analysis>, String> {
        let key = (xxh3_128(bytes), self.max_pixels);
        let (cached, declared) = STAGE.with(|s| {
            let s = s.borrow();
            (s.cache.get(&key).cloned(), s.declared.clone())
        });
        if let Some(a) = &cached {
            let complete = match &a.products {
                Ok(p) => self.needs.is_subset(&p.computed),
                Err(_) => true,
            };
            if complete {
                return Ok(Arc::clone(a));
            }
        }
        let header = read_header(bytes)?;
        let mut wanted = declared;
        wanted.extend(self.needs.iter().copied());
        if let Some(Ok(p)) = cached.as_ref().map(|a| &a.products) {
            wanted.extend(p.computed.iter().copied());
        }
        let products = compute(bytes, &header, self.max_pixels, &wanted);
        let analysis = Arc::new(Analysis { header, products });
        STAGE.with(|s| {
            let mut s = s.borrow_mut();
            if s.cache.len() >= CACHE_ENTRIES {
                s.cache.clear();
            }
            s.cache.insert(key, Arc::clone(&analysis));
        });
        Ok(analysis)
    }
}

/// Analyses the image of every row; rows whose image is missing, unreadable or undecodable
/// are rejected with the reason and get `None`.
pub fn analyze_rows(
    batch: &RecordBatch,
    image_field: &str,
    analyzer: &Analyzer,
    verdicts: &mut Verdicts,
) -> Vec<Option<Arc<Analysis>>> {
    let mut out = vec![None; batch.num_rows()];
    for_each_image(
        batch,
        image_field,
        verdicts,
        |row, bytes, verdicts| match analyzer.analyze(bytes) {
            Ok(a) => match &a.products {
                Ok(_) => out[row] = Some(a),
                Err(reason) => verdicts.reject_row(row, reason.clone()),
            },
            Err(reason) => verdicts.reject_row(row, reason),
        },
    );
    out
}

fn compute(
    bytes: &[u8],
    header: &Header,
    max_pixels: u64,
    wanted: &BTreeSet<Need>,
) -> Result<Products, String> {
    let pixels = decode(bytes, header, max_pixels)?;
    let mut l = LUMA.with(|l| std::mem::take(&mut *l.borrow_mut()));
    let colour = match pixels.channels {
        3 if wanted.contains(&Need::Quality) => rgb_to_l_and_opponent_sums(&pixels.data, &mut l),
        3 => {
            rgb_to_l(&pixels.data, &mut l);
            OpponentSums::default()
        }
        _ => {
            l.clone_from(&pixels.data);
            OpponentSums::default()
        }
    };
    let mut products = Products {
        computed: wanted.clone(),
        ..Products::default()
    };
    for need in wanted {
        match *need {
            Need::Hash(kind, size) => {
                let bits = hash(kind, size, &l, pixels.width, pixels.height);
                products.hashes.push((*need, bits));
            }
            Need::Quality => {
                products.quality = Some(measure_with_colour(
                    header,
                    bytes.len(),
                    &pixels,
                    &l,
                    &colour,
                ));
            }
        }
    }
    LUMA.with(|buffer| *buffer.borrow_mut() = l);
    Ok(products)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::DEFAULT_MAX_PIXELS;
    use crate::testimg;

    #[test]
    fn declared_needs_are_computed_by_the_first_caller() {
        // Runs on its own test thread, so the stage record starts empty.
        std::thread::spawn(|| {
            let phash = Analyzer::new([Need::Hash(HashKind::Phash, 8)], DEFAULT_MAX_PIXELS);
            let quality = Analyzer::new([Need::Quality], DEFAULT_MAX_PIXELS);
            let bytes = testimg::png_rgb(&testimg::photo(40, 40, 1));
            let a = phash.analyze(&bytes).unwrap();
            let p = a.products.as_ref().unwrap();
            assert!(
                p.quality.is_some(),
                "quality computed during the first decode"
            );
            let b = quality.analyze(&bytes).unwrap();
            assert!(
                Arc::ptr_eq(&a, &b),
                "the second operator reuses the analysis"
            );
            // An undeclared need on the same image triggers one more decode that keeps the rest.
            let ahash = Analyzer {
                needs: [Need::Hash(HashKind::Ahash, 8)].into_iter().collect(),
                max_pixels: DEFAULT_MAX_PIXELS,
            };
            let c = ahash.analyze(&bytes).unwrap();
            let p = c.products.as_ref().unwrap();
            assert!(p.hash(HashKind::Ahash, 8).is_some() && p.quality.is_some());
        })
        .join()
        .unwrap();
    }

    #[test]
    fn decode_failures_are_analyses_header_failures_are_errors() {
        let a = Analyzer::new([Need::Quality], 1000);
        let bytes = testimg::png_rgb(&testimg::photo(40, 40, 1));
        let r = a.analyze(&bytes).unwrap();
        assert!(r
            .products
            .as_ref()
            .unwrap_err()
            .starts_with("too_many_pixels"));
        assert!(a.analyze(b"").unwrap_err().starts_with("empty"));
    }
}
