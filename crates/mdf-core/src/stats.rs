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
}
