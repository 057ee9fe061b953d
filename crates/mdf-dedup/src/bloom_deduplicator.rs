//! `bloom_deduplicator`: BFF-style n-gram containment dedup against a Bloom filter
//! (`allenai/bff` as DCLM runs it: `dedup/bff --remove-type old-both`, 13-grams, threshold 0.8,
//! FP rate 0.01). Paragraphs (BFF's `\n` windows, see [`crate::bff_text`]) are checked in input
//! order; a paragraph whose n-grams are more than `filtering_threshold` already in the filter is
//! removed, otherwise its n-grams are inserted (removed paragraphs insert nothing), and with
//! `old_both` a document whose n-grams overall are more than the threshold contained is removed
//! whole. Removed paragraphs are cut out of the text column; documents left whitespace-only are
//! removed.
//!
//! Order and determinism: "first seen" is input order (shard index, row, paragraph), whatever
//! the worker count. The key phase (tokenising and hashing, the costly part) runs per shard in
//! parallel; one scan task then walks the documents in that order against one Bloom filter
//! ([`mdf_core::global::Grouping::Sequential`]), and the filter phase applies its edits per
//! shard in parallel. Memory of the scan: the filter (sized from `expected_ngram_count` and
//! `fp_rate`, capped by `max_filter_bytes`) plus one shard's n-gram hashes (8 bytes each).
//!
//! Differences from BFF: stable hashes (xxh3, fixed seeds) instead of `ahash` with random seeds
//! per run; k probes by double hashing instead of k hashers; files in a fixed order instead of
//! BFF's shuffled parallel order (so which copy survives is defined); `expected_ngram_count`
//! defaults to the number of n-grams the key phase produced (BFF requires it); no 90 %-of-RAM
//! cap but `max_filter_bytes`. `naive_both` does what BFF's comment says (document check, then
//! paragraph check) without BFF's side effect of inserting the document's n-grams before the
//! paragraph check, which makes BFF remove every paragraph of ≥ n tokens of a unique document.
//! BFF's `both` and `substring` modes and `--annotate` are not offered.

use std::borrow::Cow;
use std::collections::BTreeMap;

use arrow::record_batch::RecordBatch;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use mdf_core::global::{as_operator, DocId, GlobalOperator, Grouping, KeySink};
use mdf_core::{Component, MdfError, Operator, OperatorKind, Params, Result, Verdicts};
use mdf_text::text_rewrite::{replace_text, text_or_reject};

use crate::bff_text::{exact_hash, paragraph_bounds, NgramHasher};
use crate::bloom_filter::{BloomFilter, BloomSizing};
use crate::common::for_each_row;

/// What counts as a duplicate and what is removed (BFF's `--remove-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RemoveType {
    /// Remove each paragraph whose n-grams are more than the threshold contained.
    Paragraph,
    /// One unit per document: remove the document when its n-grams are more than the threshold
    /// contained (n-grams may span paragraphs).
    Document,
    /// DCLM's mode: paragraph removal, and the whole document when the paragraphs' n-grams
    /// together are more than the threshold contained.
    #[serde(alias = "old-both")]
    OldBoth,
    /// The document check first (no insertion); if the document stays, the paragraph check.
    #[serde(alias = "naive-both")]
    NaiveBoth,
    /// The whole raw text as one element: remove exact repeats of an earlier text.
    Exact,
}

/// Params of `bloom_deduplicator`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BloomDeduplicatorParams {
    /// Column holding the text. Default: `text`.
    #[serde(default = "default_text_field")]
    pub text_field: String,
    /// Tokens per n-gram (BFF's `max_ngram_size`). Default: 13 (DCLM).
    #[serde(default = "default_ngram")]
    pub ngram_size: usize,
    /// A unit with fewer than `ngram_size` tokens but at least this many is one n-gram of all its
    /// tokens; with fewer it is always kept and inserts nothing (BFF's `min_ngram_size`).
    /// Default: 13 (DCLM).
    #[serde(default = "default_ngram")]
    pub min_ngram_size: usize,
    /// A unit is a duplicate when (n-grams already in the filter) / (n-grams) is strictly
    /// greater than this. Default: 0.8 (DCLM).
    #[serde(default = "default_threshold")]
    pub filtering_threshold: f64,
    /// `paragraph`, `document`, `old_both`, `naive_both` or `exact` (BFF's names; `old-both`
    /// also accepted). Default: `old_both` (DCLM).
    #[serde(default = "default_remove_type")]
    pub remove_type: RemoveType,
    /// Target false-positive rate per n-gram lookup after `expected_ngram_count` insertions.
    /// Default: 0.01 (DCLM).
    #[serde(default = "default_fp_rate")]
    pub fp_rate: f64,
    /// n-grams the filter is sized for. Default: the number the key phase produced (an upper
    /// bound on the insertions).
    #[serde(default)]
    pub expected_ngram_count: Option<u64>,
    /// Filter size in bytes, instead of sizing it from `fp_rate`. Default: none.
    #[serde(default)]
    pub filter_size_bytes: Option<u64>,
    /// Upper bound on the filter's memory; a larger computed size is cut to this (with a
    /// warning and a higher FP rate, as BFF caps at 90 % of RAM). Default: 8 GiB.
    #[serde(default = "default_max_filter")]
    pub max_filter_bytes: u64,
}

fn default_text_field() -> String {
    "text".to_owned()
}

fn default_ngram() -> usize {
    13
}

fn default_threshold() -> f64 {
    0.8
}

fn default_remove_type() -> RemoveType {
    RemoveType::OldBoth
}

fn default_fp_rate() -> f64 {
    0.01
}

fn default_max_filter() -> u64 {
    8 << 30
}

impl Params for BloomDeduplicatorParams {
    fn check(&self) -> std::result::Result<(), String> {
        if self.ngram_size == 0 {
            return Err("ngram_size must be at least 1".into());
        }
        if !(1..=self.ngram_size).contains(&self.min_ngram_size) {
            return Err(format!(
                "min_ngram_size must be in 1..=ngram_size ({}), got {}",
                self.ngram_size, self.min_ngram_size
            ));
        }
        if !(0.0..=1.0).contains(&self.filtering_threshold) {
            return Err(format!(
                "filtering_threshold must be in [0, 1], got {}",
                self.filtering_threshold
            ));
        }
        if !(self.fp_rate > 0.0 && self.fp_rate < 1.0) {
            return Err(format!("fp_rate must be in (0, 1), got {}", self.fp_rate));
        }
        if self.max_filter_bytes < 8 || self.filter_size_bytes.is_some_and(|b| b < 8) {
            return Err("filter sizes must be at least 8 bytes".into());
        }
        Ok(())
    }
}

/// Edit kinds (first byte of an edit).
const EDIT_REMOVE_DOCUMENT: u8 = 0;
/// Followed by the removed paragraph indices, u32 little-endian, ascending.
const EDIT_REMOVE_PARAGRAPHS: u8 = 1;

pub struct BloomDeduplicator {
    params: BloomDeduplicatorParams,
    hasher: NgramHasher,
    bounds: Vec<usize>,
    hashes: Vec<u64>,
    counts: Vec<u32>,
    scan: Option<Scan>,
}

/// The scan's state: the filter and what it saw.
struct Scan {
    filter: BloomFilter,
    sizing: BloomSizing,
    documents: u64,
    ngrams: u64,
    contained: u64,
    inserted: u64,
    documents_removed: u64,
    paragraphs_removed: u64,
}

impl Component for BloomDeduplicator {
    type Built = dyn Operator;
    type Params = BloomDeduplicatorParams;
    const NAME: &'static str = "bloom_deduplicator";
    const KIND: OperatorKind = OperatorKind::Global;
    const SUMMARY: &'static str =
        "BFF/DCLM n-gram Bloom-filter dedup: remove repeated paragraphs and documents; first seen kept";

    fn build(params: BloomDeduplicatorParams) -> Result<Box<dyn Operator>> {
        Ok(as_operator(BloomDeduplicator {
            params,
            hasher: NgramHasher::default(),
            bounds: Vec::new(),
            hashes: Vec::new(),
            counts: Vec::new(),
            scan: None,
        }))
    }
}

/// A document's units as the key phase encodes them: `units u32 · n-gram count u32 per unit ·
/// hashes u64`.
struct Units<'a> {
    counts: &'a [u8],
    hashes: &'a [u8],
}

impl<'a> Units<'a> {
    fn decode(payload: &'a [u8]) -> Result<Self> {
        let bad = || MdfError::internal("bloom_deduplicator: malformed key payload");
        let units = u32::from_le_bytes(
            payload
                .get(..4)
                .ok_or_else(bad)?
                .try_into()
                .map_err(|_| bad())?,
        ) as usize;
        let counts = payload.get(4..4 + 4 * units).ok_or_else(bad)?;
        let hashes = &payload[4 + 4 * units..];
        let total: usize = counts
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as usize)
            .sum();
        if hashes.len() != 8 * total {
            return Err(bad());
        }
        Ok(Units { counts, hashes })
    }

    /// Each unit's n-gram hashes, in order.
    fn iter(&self) -> impl Iterator<Item = Vec<u64>> + 'a {
        let mut rest = self.hashes;
        self.counts.chunks_exact(4).map(move |c| {
            let n = u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as usize;
            let (mine, tail) = rest.split_at(8 * n);
            rest = tail;
            mine.chunks_exact(8)
                .map(|h| u64::from_le_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]]))
                .collect()
        })
    }
}

impl Scan {
    /// (contained, total) n-grams of a unit, all looked up before any is inserted (BFF).
    fn lookup(&mut self, unit: &[u64]) -> (usize, usize) {
        let contained = unit.iter().filter(|&&h| self.filter.contains(h)).count();
        self.ngrams += unit.len() as u64;
        self.contained += contained as u64;
        (contained, unit.len())
    }

    fn insert(&mut self, unit: &[u64]) {
        for &h in unit {
            self.filter.insert(h);
        }
        self.inserted += unit.len() as u64;
    }
}

/// BFF's test: `contained / total > threshold`; a unit without n-grams (0/0) never is.
fn is_duplicate(contained: usize, total: usize, threshold: f64) -> bool {
    total > 0 && contained as f64 / total as f64 > threshold
}

impl BloomDeduplicator {
    /// The paragraph pass (BFF's `process_line` per paragraph): returns the removed unit
    /// indices (offset by `first_index`) and the (contained, total) n-grams over all units.
    fn paragraph_pass(
        scan: &mut Scan,
        units: impl Iterator<Item = Vec<u64>>,
        threshold: f64,
        removed: &mut Vec<u32>,
    ) -> (usize, usize) {
        let (mut all_contained, mut all_total) = (0, 0);
        for (i, unit) in units.enumerate() {
            let (contained, total) = scan.lookup(&unit);
            all_contained += contained;
            all_total += total;
            if is_duplicate(contained, total, threshold) {
                removed.push(i as u32);
            } else {
                scan.insert(&unit);
            }
        }
        (all_contained, all_total)
    }

    /// The units of one text for the scan, into `self.counts` / `self.hashes`.
    fn encode_units(&mut self, text: &str) -> Vec<u8> {
        let p = &self.params;
        self.counts.clear();
        self.hashes.clear();
        let whole = matches!(p.remove_type, RemoveType::Document | RemoveType::NaiveBoth);
        let paragraphs = matches!(
            p.remove_type,
            RemoveType::Paragraph | RemoveType::OldBoth | RemoveType::NaiveBoth
        );
        if p.remove_type == RemoveType::Exact {
            self.hashes.push(exact_hash(text));
            self.counts.push(1);
        }
        if whole {
            let n = self
                .hasher
                .hash_unit(text, p.ngram_size, p.min_ngram_size, &mut self.hashes);
            self.counts.push(n as u32);
        }
        if paragraphs {
            paragraph_bounds(text, &mut self.bounds);
            for w in self.bounds.windows(2) {
                let n = self.hasher.hash_unit(
                    &text[w[0]..w[1]],
                    p.ngram_size,
                    p.min_ngram_size,
                    &mut self.hashes,
                );
                self.counts.push(n as u32);
            }
        }
        if self.hashes.is_empty() {
            return Vec::new();
        }
        let mut payload = Vec::with_capacity(4 + 4 * self.counts.len() + 8 * self.hashes.len());
        payload.extend_from_slice(&(self.counts.len() as u32).to_le_bytes());
        for c in &self.counts {
            payload.extend_from_slice(&c.to_le_bytes());
        }
        for h in &self.hashes {
            payload.extend_from_slice(&h.to_le_bytes());
        }
        payload
    }
}

/// Cuts the paragraphs at `removed` (ascending indices of BFF's `\n` windows) out of `text`.
pub fn remove_paragraphs(text: &str, removed: &[u32], bounds: &mut Vec<usize>) -> String {
    paragraph_bounds(text, bounds);
    let mut out = String::with_capacity(text.len());
    let mut next = removed.iter().peekable();
    for (i, w) in bounds.windows(2).enumerate() {
        if next.peek().is_some_and(|&&r| r as usize == i) {
            next.next();
        } else {
            out.push_str(&text[w[0]..w[1]]);
        }
    }
    out
}

fn count(counters: &mut BTreeMap<String, u64>, name: &str, n: u64) {
    *counters.entry(name.to_owned()).or_default() += n;
}

impl GlobalOperator for BloomDeduplicator {
    fn num_partitions(&self) -> usize {
        1
    }

    fn grouping(&self) -> Grouping {
        Grouping::Sequential
    }

    fn extract(
        &mut self,
        batch: &RecordBatch,
        keys: &mut KeySink,
        verdicts: &mut Verdicts,
    ) -> Result<()> {
        let field = self.params.text_field.clone();
        let mut payloads: Vec<(usize, Vec<u8>)> = Vec::new();
        for_each_row(batch, &field, None, verdicts, |row, text, _| {
            payloads.push((row, self.encode_units(text)));
        });
        for (row, payload) in payloads {
            if !payload.is_empty() {
                keys.push(row, 0, &payload);
            }
        }
        Ok(())
    }

    fn scan_start(&mut self, key_bytes: u64) -> Result<()> {
        let p = &self.params;
        // Every n-gram costs 8 bytes of key file, so this bounds the insertions.
        let expected = p.expected_ngram_count.unwrap_or(key_bytes / 8).max(1);
        let mut sizing = match p.filter_size_bytes {
            Some(bytes) => BloomSizing::for_size(bytes, expected),
            None => BloomSizing::for_rate(expected, p.fp_rate)?,
        };
        if sizing.bytes > p.max_filter_bytes {
            let capped = BloomSizing::for_size(p.max_filter_bytes, expected);
            eprintln!(
                "[mdf] bloom_deduplicator: a filter of {} bytes would meet fp_rate {} for {expected} \
                 n-grams; capped at max_filter_bytes = {} (expected FP rate {:.3e})",
                sizing.bytes, p.fp_rate, capped.bytes, capped.fp_rate
            );
            sizing = capped;
        }
        self.scan = Some(Scan {
            filter: BloomFilter::new(&sizing)?,
            sizing,
            documents: 0,
            ngrams: 0,
            contained: 0,
            inserted: 0,
            documents_removed: 0,
            paragraphs_removed: 0,
        });
        Ok(())
    }

    fn scan(&mut self, _doc: DocId, payloads: &[&[u8]]) -> Result<Option<Vec<u8>>> {
        let threshold = self.params.filtering_threshold;
        let remove_type = self.params.remove_type;
        let scan = self
            .scan
            .as_mut()
            .ok_or_else(|| MdfError::internal("bloom_deduplicator: scan before scan_start"))?;
        let mut removed = Vec::new();
        let mut remove_document = false;
        for payload in payloads {
            let units = Units::decode(payload)?;
            scan.documents += 1;
            match remove_type {
                RemoveType::Paragraph => {
                    Self::paragraph_pass(scan, units.iter(), threshold, &mut removed);
                }
                RemoveType::OldBoth => {
                    let (contained, total) =
                        Self::paragraph_pass(scan, units.iter(), threshold, &mut removed);
                    remove_document = is_duplicate(contained, total, threshold);
                }
                RemoveType::Document | RemoveType::Exact | RemoveType::NaiveBoth => {
                    let mut all = units.iter();
                    let whole = all.next().unwrap_or_default();
                    let (contained, total) = scan.lookup(&whole);
                    if is_duplicate(contained, total, threshold) {
                        remove_document = true;
                    } else if remove_type == RemoveType::NaiveBoth {
                        Self::paragraph_pass(scan, all, threshold, &mut removed);
                    } else {
                        scan.insert(&whole);
                    }
                }
            }
        }
        if remove_document {
            scan.documents_removed += 1;
            return Ok(Some(vec![EDIT_REMOVE_DOCUMENT]));
        }
        if removed.is_empty() {
            return Ok(None);
        }
        scan.paragraphs_removed += removed.len() as u64;
        let mut edit = Vec::with_capacity(1 + 4 * removed.len());
        edit.push(EDIT_REMOVE_PARAGRAPHS);
        for i in removed {
            edit.extend_from_slice(&i.to_le_bytes());
        }
        Ok(Some(edit))
    }

    fn scan_report(&self) -> Option<String> {
        let scan = self.scan.as_ref()?;
        let report = serde_json::json!({
            "filter_bytes": scan.sizing.bytes,
            "hash_functions": scan.sizing.hashes,
            "expected_ngrams": scan.sizing.expected,
            "expected_fp_rate": scan.sizing.fp_rate,
            "documents_scanned": scan.documents,
            "ngrams_looked_up": scan.ngrams,
            "ngrams_contained": scan.contained,
            "ngrams_inserted": scan.inserted,
            "filter_fill_ratio": scan.filter.fill_ratio(),
            "documents_removed": scan.documents_removed,
            "paragraphs_removed": scan.paragraphs_removed,
        });
        Some(report.to_string())
    }

    fn apply_edits(
        &mut self,
        batch: RecordBatch,
        edits: &[(usize, &[u8])],
        verdicts: &mut Verdicts,
        counters: &mut BTreeMap<String, u64>,
    ) -> Result<RecordBatch> {
        let field = self.params.text_field.clone();
        let Some(column) = text_or_reject(&batch, &field, verdicts) else {
            return Ok(batch);
        };
        let mut values: Vec<Option<Cow<'_, str>>> = (0..batch.num_rows())
            .map(|r| column.get(r).map(Cow::Borrowed))
            .collect();
        let mut rewritten = false;
        for &(row, edit) in edits {
            let Some(text) = column.get(row) else {
                continue;
            };
            match edit.split_first() {
                Some((&EDIT_REMOVE_DOCUMENT, _)) => {
                    verdicts.drop_row(row, "duplicate_document");
                    count(counters, "documents_removed", 1);
                    count(counters, "bytes_removed", text.len() as u64);
                }
                Some((&EDIT_REMOVE_PARAGRAPHS, indices)) => {
                    let removed: Vec<u32> = indices
                        .chunks_exact(4)
                        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        .collect();
                    let kept = remove_paragraphs(text, &removed, &mut self.bounds);
                    count(counters, "paragraphs_removed", removed.len() as u64);
                    if kept.trim().is_empty() {
                        // BFF does not write a document left whitespace-only.
                        verdicts.drop_row(row, "duplicate_paragraphs");
                        count(counters, "documents_removed", 1);
                        count(counters, "bytes_removed", text.len() as u64);
                    } else {
                        count(counters, "bytes_removed", (text.len() - kept.len()) as u64);
                        values[row] = Some(Cow::Owned(kept));
                        rewritten = true;
                    }
                }
                _ => return Err(MdfError::internal("bloom_deduplicator: malformed edit")),
            }
        }
        if rewritten {
            replace_text(&batch, &field, column, &values)
        } else {
            Ok(batch)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Arc;

    use arrow::array::{AsArray, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn op(json: serde_json::Value) -> Box<dyn GlobalOperator> {
        let params: BloomDeduplicatorParams = serde_json::from_value(json).unwrap();
        params.check().unwrap();
        BloomDeduplicator::build(params)
            .unwrap()
            .into_global()
            .unwrap()
    }

    fn batch(texts: &[&str]) -> RecordBatch {
        let schema = Schema::new(vec![Field::new("text", DataType::Utf8, true)]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![Arc::new(StringArray::from(texts.to_vec()))],
        )
        .unwrap()
    }

    /// Runs key phase, scan and filter over one batch: the kept texts and the counters.
    fn run(json: serde_json::Value, texts: &[&str]) -> (Vec<String>, BTreeMap<String, u64>) {
        let mut dedup = op(json);
        let input = batch(texts);
        let mut sink = KeySink::default();
        let mut verdicts = Verdicts::default();
        dedup.extract(&input, &mut sink, &mut verdicts).unwrap();
        dedup.scan_start(1 << 16).unwrap();
        let mut edits = Vec::new();
        for i in 0..sink.len() {
            let row = sink.rows[i] as usize;
            let doc = DocId::new(0, row as u64).unwrap();
            if let Some(e) = dedup.scan(doc, &[sink.payload(i)]).unwrap() {
                edits.push((row, e));
            }
        }
        let edits: Vec<(usize, &[u8])> = edits.iter().map(|(r, e)| (*r, e.as_slice())).collect();
        let mut counters = BTreeMap::new();
        let out = dedup
            .apply_edits(input, &edits, &mut verdicts, &mut counters)
            .unwrap();
        let dropped: Vec<usize> = verdicts
            .dropped()
            .iter()
            .map(|(r, _)| *r as usize)
            .collect();
        let col = out.column(0).as_string::<i32>();
        let kept = (0..out.num_rows())
            .filter(|r| !dropped.contains(r))
            .map(|r| col.value(r).to_owned())
            .collect();
        (kept, counters)
    }

    fn words(seed: usize, n: usize) -> String {
        (0..n)
            .map(|i| format!("w{}", (seed * 7919 + i * 104_729) % 1_000_003))
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn repeated_paragraphs_are_cut_and_repeated_documents_removed() {
        let (a, b, c) = (words(1, 30), words(2, 30), words(3, 30));
        let first = format!("{a}\n{b}");
        let second = format!("{c}\n{a}\nshort line");
        let third = format!("{b}\n{a}");
        let (kept, counters) = run(serde_json::json!({}), &[&first, &second, &third]);
        // The second document loses its repeated paragraph (with its leading newline it is
        // `\n{a}`); the short line (< 13 tokens) is always kept; the third is all repeats.
        assert_eq!(kept, [first.clone(), format!("{c}\nshort line")]);
        // Paragraphs cut out of kept documents (the third was removed whole).
        assert_eq!(counters["paragraphs_removed"], 1);
        assert_eq!(counters["documents_removed"], 1);
        assert_eq!(
            counters["bytes_removed"],
            (a.len() + 1 + third.len()) as u64
        );
    }

    #[test]
    fn old_both_removes_a_document_mostly_made_of_earlier_ngrams() {
        // The second document repeats the first (78 of its 86 n-grams) and adds a new paragraph:
        // `paragraph` keeps the new paragraph, `old_both` removes the whole document.
        let a = words(5, 90);
        let tail = words(6, 20);
        let doc2 = format!("{a}\n{tail}");
        let (kept, _) = run(serde_json::json!({}), &[&a, &doc2]);
        assert_eq!(kept, std::slice::from_ref(&a));
        let (kept, _) = run(
            serde_json::json!({"remove_type": "paragraph"}),
            &[&a, &doc2],
        );
        assert_eq!(kept, [a.clone(), format!("\n{tail}")]);
        // `document`: one unit of 110 tokens whose n-grams cross the newline: 78 of 98 are
        // contained (0.796), so the threshold decides.
        let (kept, _) = run(serde_json::json!({"remove_type": "document"}), &[&a, &doc2]);
        assert_eq!(kept.len(), 2);
        let (kept, _) = run(
            serde_json::json!({"remove_type": "document", "filtering_threshold": 0.79}),
            &[&a, &doc2],
        );
        assert_eq!(kept, std::slice::from_ref(&a));
    }

    #[test]
    fn exact_mode_removes_only_identical_texts() {
        let (kept, _) = run(
            serde_json::json!({"remove_type": "exact"}),
            &["same text", "same text", "same text!", "x"],
        );
        assert_eq!(kept, ["same text", "same text!", "x"]);
    }

    #[test]
    fn removed_paragraphs_insert_nothing_but_kept_ones_repeat_within_a_document() {
        let a = words(8, 20);
        // Within one document the second copy of a paragraph is removed (BFF inserts after each
        // paragraph).
        let doc = format!("{a}\n{a}");
        let (kept, _) = run(serde_json::json!({"remove_type": "paragraph"}), &[&doc]);
        assert_eq!(kept, std::slice::from_ref(&a));
    }

    #[test]
    fn paragraph_removal_rewrites_exact_byte_windows() {
        let mut bounds = Vec::new();
        assert_eq!(remove_paragraphs("p0\np1\np2", &[1], &mut bounds), "p0\np2");
        assert_eq!(
            remove_paragraphs("p0\np1\np2", &[0], &mut bounds),
            "\np1\np2"
        );
        assert_eq!(remove_paragraphs("p0\n\np2", &[0, 2], &mut bounds), "\n");
    }

    #[test]
    fn bad_params_are_config_errors() {
        for bad in [
            serde_json::json!({"min_ngram_size": 14}),
            serde_json::json!({"filtering_threshold": 1.5}),
            serde_json::json!({"fp_rate": 0.0}),
        ] {
            let params: BloomDeduplicatorParams = serde_json::from_value(bad).unwrap();
            assert!(params.check().is_err());
        }
        assert!(serde_json::from_value::<BloomDeduplicatorParams>(
            serde_json::json!({"remove_type": "substring"})
        )
        .is_err());
        let p: BloomDeduplicatorParams =
            serde_json::from_value(serde_json::json!({"remove_type": "old-both"})).unwrap();
        assert_eq!(p.remove_type, RemoveType::OldBoth);
    }
}
