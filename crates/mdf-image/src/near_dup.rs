//! Near-duplicate removal over perceptual hashes, as pure library code: a multi-index hash
//! (MIH, Norouzi et al. 2012) answers "which codes are within Hamming distance k" without
//! comparing all pairs, and [`dedup`] picks a deterministic keeper per near-duplicate group.
//!
//! MIH: the b-bit code is cut into m ≥ k + 1 disjoint substrings; two codes within distance k
//! agree exactly on at least one substring (pigeonhole), so a query looks up each of its
//! substrings in a hash table and verifies the candidates with a full popcount. With random-ish
//! 64-bit pHashes and k = 10 (11 substrings of 5–6 bits) the candidate lists are short; for
//! larger k per bit the tables degrade towards a linear scan, still correct.
//!
//! Grouping is greedy in keeper order: records are visited from the best keeper candidate
//! (caller's rank: e.g. most pixels first, then smallest id) to the worst; a record within k of
//! an already kept record is a duplicate *of that record*, otherwise it is kept. Unlike
//! single-linkage union-find this never chains: every removed record is within k of a kept one.
//! The result depends only on the set of (hash, rank) pairs, not on shard or arrival order.

use std::collections::HashMap;

use crate::hashes::Bits;

/// A multi-index hash over codes of one length.
#[derive(Debug)]
pub struct MihIndex {
    len: usize,
    max_distance: u32,
    /// (first bit, width) of each substring.
    segments: Vec<(usize, usize)>,
    tables: Vec<HashMap<u64, Vec<u32>>>,
    codes: Vec<Bits>,
}

/// The value of bits `[start, start + width)` of `bits` (width ≤ 64).
pub fn segment_value(bits: &Bits, start: usize, width: usize) -> u64 {
    let mut v = 0u64;
    for i in start..start + width {
        v = v << 1 | u64::from(bits.bit(i));
    }
    v
}

/// The MIH substrings of a `len`-bit code for radius `max_distance`: (first bit, width) of
/// m = max(k + 1, ⌈len/64⌉) disjoint, near-equal substrings. Two codes within the radius agree
/// on at least one of them.
pub fn mih_segments(len: usize, max_distance: u32) -> Vec<(usize, usize)> {
    let m = (max_distance as usize + 1)
        .max(len.div_ceil(64))
        .min(len.max(1));
    let (base, extra) = (len / m, len % m);
    let mut segments = Vec::with_capacity(m);
    let mut start = 0;
    for i in 0..m {
        let width = base + usize::from(i < extra);
        segments.push((start, width));
        start += width;
    }
    segments
}

impl MihIndex {
    /// An index for `len`-bit codes answering radius-`max_distance` queries.
    pub fn new(len: usize, max_distance: u32) -> MihIndex {
        let segments = mih_segments(len, max_distance);
        let m = segments.len();
        MihIndex {
            len,
            max_distance,
            tables: vec![HashMap::new(); m],
            segments,
            codes: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.codes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// Adds a code; returns its id (insertion order). The code must have the index's length.
    pub fn insert(&mut self, code: Bits) -> u32 {
        debug_assert_eq!(code.len, self.len);
        let id = self.codes.len() as u32;
        for (table, &(start, width)) in self.tables.iter_mut().zip(&self.segments) {
            table
                .entry(segment_value(&code, start, width))
                .or_default()
                .push(id);
        }
        self.codes.push(code);
        id
    }

    /// The ids of indexed codes within the radius of `code`, with their distance, by id.
    pub fn query(&self, code: &Bits) -> Vec<(u32, u32)> {
        let mut found: Vec<(u32, u32)> = Vec::new();
        for (table, &(start, width)) in self.tables.iter().zip(&self.segments) {
            if let Some(ids) = table.get(&segment_value(code, start, width)) {
                for &id in ids {
                    let d = self.codes[id as usize].hamming(code);
                    if d <= self.max_distance {
                        found.push((id, d));
                    }
                }
            }
        }
        found.sort_unstable();
        found.dedup();
        found
    }
}

/// What happens to one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Keep,
    /// A near duplicate of the record at this position of the input, at this distance.
    DuplicateOf(usize, u32),
}

/// Greedy near-duplicate removal. `items[i] = (hash, rank)`: lower rank = better keeper
/// (ties broken by position). Returns one decision per item, in input order.
pub fn dedup<R: Ord>(items: &[(Bits, R)], max_distance: u32) -> Vec<Decision> {
    let mut decisions = vec![Decision::Keep; items.len()];
    let Some(len) = items.first().map(|(b, _)| b.len) else {
        return decisions;
    };
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| items[a].1.cmp(&items[b].1).then(a.cmp(&b)));
    let mut index = MihIndex::new(len, max_distance);
    let mut kept_pos: Vec<usize> = Vec::new();
    for i in order {
        let hits = index.query(&items[i].0);
        // The nearest kept record; ties go to the better-ranked (earlier kept) one.
        match hits.iter().min_by_key(|(id, d)| (*d, *id)) {
            Some(&(id, d)) => decisions[i] = Decision::DuplicateOf(kept_pos[id as usize], d),
            None => {
                index.insert(items[i].0.clone());
                kept_pos.push(i);
            }
        }
    }
    decisions
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testimg::Rng;

    fn random_bits(rng: &mut Rng, len: usize) -> Bits {
        let hex: String = (0..len / 4)
            .map(|_| char::from_digit((rng.next() % 16) as u32, 16).unwrap())
            .collect();
        Bits::from_hex(&hex, len).unwrap()
    }

    fn flip(b: &Bits, positions: &[usize]) -> Bits {
        let mut out = b.clone();
        for &p in positions {
            out.words[p / 64] ^= 1 << (63 - p % 64);
        }
        out
    }

    #[test]
    fn mih_finds_exactly_the_codes_within_radius() {
        let mut rng = Rng::new(7);
        for (len, k) in [(64usize, 10u32), (256, 24), (64, 0)] {
            let codes: Vec<Bits> = (0..400).map(|_| random_bits(&mut rng, len)).collect();
            let mut index = MihIndex::new(len, k);
            for c in &codes {
                index.insert(c.clone());
            }
            for q in 0..50 {
                // Perturb a stored code by 0..=k+2 bits and compare with brute force.
                let n = (rng.next() % u64::from(k + 3)) as usize;
                let pos: Vec<usize> = (0..n).map(|_| (rng.next() % len as u64) as usize).collect();
                let query = flip(&codes[q], &pos);
                let brute: Vec<(u32, u32)> = codes
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (i as u32, c.hamming(&query)))
                    .filter(|(_, d)| *d <= k)
                    .collect();
                assert_eq!(index.query(&query), brute, "len {len} k {k}");
            }
        }
    }

    #[test]
    fn dedup_keeps_the_best_ranked_and_does_not_chain() {
        let mut rng = Rng::new(3);
        let a = random_bits(&mut rng, 64);
        let a1 = flip(&a, &[1, 2, 3]); // 3 from a
        let a2 = flip(&a1, &[10, 11, 12]); // 3 from a1, 6 from a
        let other = random_bits(&mut rng, 64);
        // Ranks: a1 is the best keeper.
        let items = vec![(a.clone(), 2), (a1.clone(), 1), (a2.clone(), 3), (other, 0)];
        let d = dedup(&items, 4);
        assert_eq!(
            d,
            [
                Decision::DuplicateOf(1, 3),
                Decision::Keep,
                Decision::DuplicateOf(1, 3),
                Decision::Keep
            ]
        );
        // With `a` best-ranked, a2 (6 away from a) is kept: no chaining through a1.
        let items = vec![(a, 0), (a1, 1), (a2, 2)];
        assert_eq!(
            dedup(&items, 4),
            [Decision::Keep, Decision::DuplicateOf(0, 3), Decision::Keep]
        );
    }

    #[test]
    fn dedup_does_not_depend_on_input_order() {
        let mut rng = Rng::new(5);
        let base: Vec<Bits> = (0..50).map(|_| random_bits(&mut rng, 64)).collect();
        let mut items: Vec<(Bits, u64)> = Vec::new();
        for (i, b) in base.iter().enumerate() {
            items.push((b.clone(), i as u64 * 10));
            items.push((flip(b, &[i % 64, (i * 7) % 64]), i as u64 * 10 + 1));
        }
        let kept = |items: &[(Bits, u64)]| {
            let mut k: Vec<u64> = dedup(items, 6)
                .iter()
                .zip(items)
                .filter(|(d, _)| **d == Decision::Keep)
                .map(|(_, (_, r))| *r)
                .collect();
            k.sort();
            k
        };
        let forward = kept(&items);
        items.reverse();
        assert_eq!(kept(&items), forward);
        assert_eq!(forward.len(), 50);
    }
}
