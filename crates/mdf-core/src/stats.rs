//! Mergeable run statistics. Each shard writes its own [`ShardStats`]; the run's `stats.json` is
//! their sum, so it is the same whether the shards ran in one process, in many, or across a resume.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Counters of one operator instance (keyed by stage and position, so two instances of the same
/// operator never overwrite each other).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OperatorStats {
    pub stage: String,
    pub name: String,
    #[serde(rename = "in")]
    pub records_in: u64,
    #[serde(rename = "out")]
    pub records_out: u64,
    /// Rows dropped by a rule, per reason code.
    pub dropped: BTreeMap<String, u64>,
    /// Rows rejected as bad input or because the operator failed on them.
    pub errors: u64,
    /// Compute time inside the operator (summed over workers, not wall clock).
    pub seconds: f64,
    /// Distributions of the numeric columns the operator adds (scores, lengths), over every row
    /// it scored (kept and dropped), keyed by column name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub histograms: BTreeMap<String, Histogram>,
    /// A bounded sample of the rows dropped or rejected, per reason.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub samples: BTreeMap<String, Reservoir>,
    /// Other counts an operator reports, by name (e.g. `paragraphs_removed`, `bytes_removed`
    /// of a dedup that rewrites text).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub counters: BTreeMap<String, u64>,
}

impl OperatorStats {
    pub fn new(stage: &str, name: &str) -> Self {
        OperatorStats {
            stage: stage.to_owned(),
            name: name.to_owned(),
            ..Default::default()
        }
    }

    pub fn merge(&mut self, other: &OperatorStats) {
        self.records_in += other.records_in;
        self.records_out += other.records_out;
        for (reason, n) in &other.dropped {
            *self.dropped.entry(reason.clone()).or_default() += n;
        }
        self.errors += other.errors;
        self.seconds += other.seconds;
        merge_maps(&mut self.histograms, &other.histograms, Histogram::merge);
        merge_maps(&mut self.samples, &other.samples, Reservoir::merge);
        for (name, n) in &other.counters {
            *self.counters.entry(name.clone()).or_default() += n;
        }
    }
}

/// Everything one shard (or, merged, one run) counted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShardStats {
    /// Records the loader produced (bad input not included).
    pub input_records: u64,
    /// Records written by the writer.
    pub output_records: u64,
    /// Records or files rejected by the loader, per reason.
    pub input_rejects: BTreeMap<String, u64>,
    /// All rejected records (loader and operators), as written to `rejects/`.
    pub rejected_records: u64,
    pub operators: Vec<OperatorStats>,
    /// Shards counted (1 for a shard; the shard count once merged).
    pub shards: u64,
    /// Time spent reading and decoding input.
    pub read_seconds: f64,
    /// Time spent encoding and writing output.
    pub write_seconds: f64,
    /// Distributions of run-level columns (`input.text_bytes`, `output.text_bytes`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub histograms: BTreeMap<String, Histogram>,
    /// Records over time, for throughput charts.
    #[serde(default, skip_serializing_if = "Timeline::is_empty")]
    pub timeline: Timeline,
    /// A bounded sample of the records written.
    #[serde(default, skip_serializing_if = "Reservoir::is_empty")]
    pub kept_samples: Reservoir,
}

impl ShardStats {
    /// Adds `other` into `self`. Operators are matched by position; both sides come from the
    /// same resolved config.
    pub fn merge(&mut self, other: &ShardStats) {
        self.input_records += other.input_records;
        self.output_records += other.output_records;
        for (reason, n) in &other.input_rejects {
            *self.input_rejects.entry(reason.clone()).or_default() += n;
        }
        self.rejected_records += other.rejected_records;
        if self.operators.is_empty() {
            self.operators = other.operators.clone();
        } else {
            for (mine, theirs) in self.operators.iter_mut().zip(&other.operators) {
                mine.merge(theirs);
            }
        }
        self.shards += other.shards;
        self.read_seconds += other.read_seconds;
        self.write_seconds += other.write_seconds;
        merge_maps(&mut self.histograms, &other.histograms, Histogram::merge);
        self.timeline.merge(&other.timeline);
        self.kept_samples.merge(&other.kept_samples);
    }
}

fn merge_maps<V: Clone>(
    mine: &mut BTreeMap<String, V>,
    theirs: &BTreeMap<String, V>,
    merge: impl Fn(&mut V, &V),
) {
    for (key, value) in theirs {
        match mine.get_mut(key) {
            Some(existing) => merge(existing, value),
            None => {
                mine.insert(key.clone(), value.clone());
            }
        }
    }
}

/// Mantissa bits kept in a histogram bin key: 2^4 = 16 bins per power of two, so a bin is at
/// most 1/16 of its lower bound wide (6.25% relative resolution) at any scale.
const HISTOGRAM_MANTISSA_BITS: u32 = 4;
const HISTOGRAM_SHIFT: u32 = 52 - HISTOGRAM_MANTISSA_BITS;

/// A histogram with fixed log-scale bins (the top bits of the IEEE-754 double), so histograms of
/// different shards merge exactly by adding counts, whatever the data or the order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// Finite values counted.
    pub count: u64,
    /// Null and NaN values (not in the bins).
    pub nulls: u64,
    pub sum: f64,
    /// +inf while empty (JSON null, read back as +inf).
    #[serde(deserialize_with = "f64_or_inf::<true, _>")]
    pub min: f64,
    /// -inf while empty (JSON null, read back as -inf).
    #[serde(deserialize_with = "f64_or_inf::<false, _>")]
    pub max: f64,
    /// Bin key → count; [`Histogram::bin_bounds`] gives a key's `[lo, hi)`.
    pub bins: BTreeMap<i64, u64>,
}

/// JSON has no infinities (serde_json writes them as null): an empty histogram's bounds come
/// back from null as the infinity they were.
fn f64_or_inf<'de, const POSITIVE: bool, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<f64, D::Error> {
    let value: Option<f64> = Deserialize::deserialize(deserializer)?;
    Ok(value.unwrap_or(if POSITIVE {
        f64::INFINITY
    } else {
        f64::NEG_INFINITY
    }))
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            count: 0,
            nulls: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            bins: BTreeMap::new(),
        }
    }
}

impl Histogram {
    pub fn add(&mut self, value: Option<f64>) {
        if let Some(key) = self.count_value(value) {
            *self.bins.entry(key).or_default() += 1;
        }
    }

    /// Adds every value of a column: what [`Histogram::add`] gives value by value, with one map
    /// update per distinct bin instead of one per value (a run's text lengths go through here).
    pub fn add_all(&mut self, values: impl IntoIterator<Item = Option<f64>>) {
        let mut keys = Vec::new();
        for value in values {
            keys.extend(self.count_value(value));
        }
        keys.sort_unstable();
        for run in keys.chunk_by(|a, b| a == b) {
            *self.bins.entry(run[0]).or_default() += run.len() as u64;
        }
    }

    /// Counts `value` in everything but the bins and returns its bin key (`None` for a null or
    /// a NaN/infinity, counted in `nulls`).
    fn count_value(&mut self, value: Option<f64>) -> Option<i64> {
        match value {
            Some(x) if x.is_finite() => {
                self.count += 1;
                self.sum += x;
                self.min = self.min.min(x);
                self.max = self.max.max(x);
                Some(Self::bin_key(x))
            }
            _ => {
                self.nulls += 1;
                None
            }
        }
    }

    /// The bin of a finite value: non-negative keys for `x >= 0`, mirrored negative keys below.
    pub fn bin_key(x: f64) -> i64 {
        let magnitude = (x.abs().to_bits() >> HISTOGRAM_SHIFT) as i64;
        if x < 0.0 {
            -magnitude - 1
        } else {
            magnitude
        }
    }

    /// `[lo, hi)` of a bin (for negative keys, `(lo, hi]`).
    pub fn bin_bounds(key: i64) -> (f64, f64) {
        let edge = |m: i64| f64::from_bits((m as u64) << HISTOGRAM_SHIFT);
        if key >= 0 {
            (edge(key), edge(key + 1))
        } else {
            let m = -(key + 1);
            (-edge(m + 1), -edge(m))
        }
    }

    pub fn merge(&mut self, other: &Histogram) {
        self.count += other.count;
        self.nulls += other.nulls;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        for (key, n) in &other.bins {
            *self.bins.entry(*key).or_default() += n;
        }
    }
}

/// One sampled record with its sampling key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Stable hash of the record's position (shard, row); the reservoir keeps the smallest.
    pub key: u64,
    pub record: serde_json::Value,
}

/// A bounded, deterministic sample: the `capacity` records with the smallest keys. Keys hash
/// the record's position in the input, so the sample is the same whatever the worker count or
/// the order shards finish in, and merging two reservoirs gives the reservoir of the union.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reservoir {
    pub capacity: usize,
    /// Records offered (sampled or not).
    pub seen: u64,
    /// Sorted by key, at most `capacity`.
    pub items: Vec<Sample>,
}

impl Reservoir {
    pub fn new(capacity: usize) -> Self {
        Reservoir {
            capacity,
            ..Default::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.seen == 0
    }

    /// Counts an offered record and says whether a record with `key` would be kept, so the
    /// caller builds the record (costly) only then.
    pub fn offer(&mut self, key: u64) -> bool {
        self.seen += 1;
        self.items.len() < self.capacity || self.items.last().is_some_and(|s| key < s.key)
    }

    /// Keeps the record if its key is among the `capacity` smallest.
    pub fn insert(&mut self, key: u64, record: serde_json::Value) {
        let at = self.items.partition_point(|s| s.key <= key);
        if at < self.capacity {
            self.items.insert(at, Sample { key, record });
            self.items.truncate(self.capacity);
        }
    }

    pub fn merge(&mut self, other: &Reservoir) {
        self.capacity = self.capacity.max(other.capacity);
        self.seen += other.seen;
        for sample in &other.items {
            self.insert(sample.key, sample.record.clone());
        }
    }
}

/// Records processed over time in fixed wall-clock buckets: bucket start (Unix seconds) →
/// `[records read, records out of operator 1, ..., records out of operator n]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    pub bucket_seconds: u64,
    pub points: BTreeMap<u64, Vec<u64>>,
}

impl Default for Timeline {
    fn default() -> Self {
        Timeline {
            bucket_seconds: 1,
            points: BTreeMap::new(),
        }
    }
}

impl Timeline {
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Adds `counts` to the bucket holding Unix time `at_seconds`.
    pub fn add(&mut self, at_seconds: u64, counts: &[u64]) {
        let bucket = at_seconds - at_seconds % self.bucket_seconds.max(1);
        add_counts(self.points.entry(bucket).or_default(), counts);
    }

    pub fn merge(&mut self, other: &Timeline) {
        if other.bucket_seconds > self.bucket_seconds {
            self.coarsen_to(other.bucket_seconds);
        }
        for (&at, counts) in &other.points {
            self.add(at, counts);
        }
    }

    /// Widens the buckets (doubling) until there are at most `max_points`; long runs keep a
    /// readable, small timeline.
    pub fn compact(&mut self, max_points: usize) {
        let (Some(first), Some(last)) = (self.points.keys().next(), self.points.keys().last())
        else {
            return;
        };
        let span = last - first + 1;
        let mut width = self.bucket_seconds.max(1);
        while span / width > max_points as u64 {
            width *= 2;
        }
        self.coarsen_to(width);
    }

    fn coarsen_to(&mut self, width: u64) {
        if width <= self.bucket_seconds {
            return;
        }
        let old = std::mem::take(&mut self.points);
        self.bucket_seconds = width;
        for (at, counts) in old {
            self.add(at, &counts);
        }
    }
}

fn add_counts(into: &mut Vec<u64>, counts: &[u64]) {
    if into.len() < counts.len() {
        into.resize(counts.len(), 0);
    }
    for (slot, n) in into.iter_mut().zip(counts) {
        *slot += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: u64) -> ShardStats {
        let mut op = OperatorStats::new("s", "f");
        op.records_in = n;
        op.records_out = n / 2;
        op.dropped.insert("too_short".into(), n - n / 2);
        ShardStats {
            input_records: n,
            output_records: n / 2,
            operators: vec![op],
            shards: 1,
            ..Default::default()
        }
    }

    #[test]
    fn a_histogram_of_only_nulls_survives_a_json_round_trip() {
        let mut stats = sample(4);
        let mut empty = Histogram::default();
        empty.add(None);
        stats
            .histograms
            .insert("input.text_bytes".into(), empty.clone());
        let json = serde_json::to_string(&stats).unwrap();
        let back: ShardStats = serde_json::from_str(&json).unwrap();
        assert_eq!(back.histograms["input.text_bytes"], empty);
    }

    #[test]
    fn merge_is_associative_and_sums_counts() {
        let (a, b, c) = (sample(10), sample(7), sample(3));
        let mut left = a.clone();
        left.merge(&b);
        left.merge(&c);
        let mut bc = b.clone();
        bc.merge(&c);
        let mut right = a.clone();
        right.merge(&bc);
        assert_eq!(left, right);
        assert_eq!(left.input_records, 20);
        assert_eq!(left.operators[0].dropped["too_short"], 5 + 4 + 2);
        assert_eq!(left.shards, 3);
    }

    #[test]
    fn histogram_bins_hold_their_values_and_merge_exactly() {
        let values = [
            0.0, 1e-9, 0.03, 0.5, 0.93, 0.999, 1.0, 17.0, 12345.0, -0.25, -3.0,
        ];
        for &x in &values {
            let (lo, hi) = Histogram::bin_bounds(Histogram::bin_key(x));
            assert!(lo <= x && x <= hi && lo < hi, "{x} not in [{lo}, {hi})");
            if x >= 0.0 {
                assert!(x < hi && (x == 0.0 || (hi - lo) / lo <= 1.0 / 16.0 + 1e-12));
            }
        }
        let mut whole = Histogram::default();
        let (mut a, mut b) = (Histogram::default(), Histogram::default());
        for (i, &x) in values.iter().enumerate() {
            whole.add(Some(x));
            if i % 2 == 0 {
                a.add(Some(x))
            } else {
                b.add(Some(x))
            }
        }
        a.add(None);
        a.add(Some(f64::NAN));
        a.merge(&b);
        assert_eq!(a.bins, whole.bins);
        assert_eq!((a.count, a.nulls, a.min, a.max), (11, 2, -3.0, 12345.0));
    }

    #[test]
    fn adding_a_column_at_once_gives_the_histogram_of_adding_value_by_value() {
        let mut rng = crate::xorshift::Xorshift64::new(7);
        let values: Vec<Option<f64>> = (0..2000)
            .map(|i| match i % 97 {
                0 => None,
                1 => Some(f64::NAN),
                2 => Some(f64::INFINITY),
                // Repeats, zeros, fractions and negatives beside lengths up to 50k.
                3 => Some(-(rng.below(1000) as f64) / 7.0),
                4 => Some(0.0),
                _ => Some(rng.below(50_000) as f64),
            })
            .collect();
        let mut one_by_one = Histogram::default();
        for &value in &values {
            one_by_one.add(value);
        }
        let mut at_once = Histogram::default();
        at_once.add_all(values[..1000].iter().copied());
        at_once.add_all(values[1000..].iter().copied());
        assert_eq!(at_once, one_by_one);
        // i % 97 in {0, 1, 2}: 21 of each in 0..2000.
        assert_eq!(at_once.nulls, 63);
        assert!(at_once.bins.len() > 100, "{} bins", at_once.bins.len());
    }

    #[test]
    fn reservoir_keeps_smallest_keys_whatever_the_split() {
        let record = |k: u64| serde_json::json!({ "id": k });
        let keys: Vec<u64> = (0..200u64)
            .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .collect();
        let fill = |keys: &[u64]| {
            let mut r = Reservoir::new(5);
            for &k in keys {
                if r.offer(k) {
                    r.insert(k, record(k));
                }
            }
            r
        };
        let whole = fill(&keys);
        let mut parts = fill(&keys[120..]);
        parts.merge(&fill(&keys[..40]));
        parts.merge(&fill(&keys[40..120]));
        assert_eq!(whole.items, parts.items);
        assert_eq!(parts.seen, 200);
        let mut smallest = keys.clone();
        smallest.sort_unstable();
        let got: Vec<u64> = whole.items.iter().map(|s| s.key).collect();
        assert_eq!(got, smallest[..5]);
    }

    #[test]
    fn timeline_compacts_and_merges_by_bucket() {
        let mut a = Timeline::default();
        for t in 1000..1100 {
            a.add(t, &[2, 1]);
        }
        let mut b = Timeline::default();
        b.add(1050, &[4, 4]);
        a.merge(&b);
        a.compact(10);
        assert_eq!(a.bucket_seconds, 16);
        assert!(a.points.len() <= 10);
        let total: u64 = a.points.values().map(|c| c[0]).sum();
        assert_eq!(total, 204);
    }
}
