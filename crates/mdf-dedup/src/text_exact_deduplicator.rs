//! `text_exact_deduplicator`: removes documents whose (normalised) text, optionally with their
//! URL, is identical to an earlier document's, across all shards and workers. It reproduces the
//! seed system's `TextExactDeduplicator` key (optional `url|` prefix, whitespace runs collapsed
//! to one space, lower-cased) with two differences: the key is a 128-bit xxh3 hash (the seed
//! used a hex digest of xxh64, md5 or sha256, and routed it with a per-process random hash,
//! which lost duplicates across workers), and a record without text is rejected
//! (`missing_field`) instead of being keyed by its id or by `""`.
//!
//! Keeper: the first copy by input order (lowest shard index, then row), whatever the worker
//! count. Collision probability of 128-bit keys: about n²/2¹²⁹, 10⁻²³ for 10¹⁰ documents.

use arrow::record_batch::RecordBatch;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use mdf_core::global::{as_operator, GlobalOperator, Grouping, KeySink};
use mdf_core::{Component, Operator, OperatorKind, Params, Result, Verdicts};
use mdf_text::pystr;

use crate::common::{check_partitions, default_partitions, for_each_row, scoped_key, yes};

/// Params of `text_exact_deduplicator`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TextExactDeduplicatorParams {
    /// Column holding the text. Default: `text`.
    #[serde(default = "default_text_field")]
    pub text_field: String,
    /// Collapse each whitespace run to one space and strip the ends before hashing. Default: true.
    #[serde(default = "yes")]
    pub normalize_whitespace: bool,
    /// Lower-case the text before hashing. Default: true.
    #[serde(default = "yes")]
    pub lowercase: bool,
    /// Prefix the key with the URL (`url|text`), so equal texts at different URLs are kept.
    /// Default: false.
    #[serde(default)]
    pub include_url: bool,
    /// Column holding the URL (used when `include_url`). Default: `url`.
    #[serde(default = "default_url_field")]
    pub url_field: String,
    /// Key hash. `auto`, `xxh3_128` and `xxhash` all mean 128-bit xxh3 (the seed's `md5` and
    /// `sha256` are not offered: they are slower and no safer as dedup keys). Default: `auto`.
    #[serde(default = "default_hash")]
    pub hash_algorithm: String,
    /// Deduplicate only within groups of rows with the same value of this column (e.g. the
    /// crawl dump). Default: none (global).
    #[serde(default)]
    pub dedup_scope: Option<String>,
    /// Key partitions (parallel group tasks; memory per task ≈ 28 bytes × documents /
    /// partitions). Default: 64.
    #[serde(default = "default_partitions")]
    pub num_partitions: usize,
    /// Remove the duplicates. `false` keeps every row (use with `annotate_clusters`). Default: true.
    #[serde(default = "yes")]
    pub remove_duplicates: bool,
    /// Add `cluster_id` (UInt64: the keeper's document id) and `cluster_size` (UInt32) to the
    /// rows kept. Default: false.
    #[serde(default)]
    pub annotate_clusters: bool,
}

fn default_text_field() -> String {
    "text".to_owned()
}

fn default_url_field() -> String {
    "url".to_owned()
}

fn default_hash() -> String {
    "auto".to_owned()
}

impl Params for TextExactDeduplicatorParams {
    fn check(&self) -> std::result::Result<(), String> {
        match self.hash_algorithm.as_str() {
            "auto" | "xxh3_128" | "xxhash" => {}
            other => {
                return Err(format!(
                    "hash_algorithm `{other}` is not supported; use `auto` (128-bit xxh3)"
                ))
            }
        }
        check_partitions(self.num_partitions)
    }
}

pub struct TextExactDeduplicator {
    params: TextExactDeduplicatorParams,
    buf: String,
}

impl Component for TextExactDeduplicator {
    type Built = dyn Operator;
    type Params = TextExactDeduplicatorParams;
    const NAME: &'static str = "text_exact_deduplicator";
    const KIND: OperatorKind = OperatorKind::Global;
    const SUMMARY: &'static str =
        "Remove exact duplicate texts (normalised, 128-bit keys) across all shards; keeps the first";

    fn build(params: TextExactDeduplicatorParams) -> Result<Box<dyn Operator>> {
        Ok(as_operator(TextExactDeduplicator {
            params,
            buf: String::new(),
        }))
    }
}

/// Writes the normalised form of `text` into `out` (cleared first).
pub fn normalize_into(text: &str, whitespace: bool, lowercase: bool, out: &mut String) {
    out.clear();
    let push = |piece: &str, out: &mut String| {
        if lowercase {
            if piece.is_ascii() {
                out.extend(piece.bytes().map(|b| b.to_ascii_lowercase() as char));
            } else {
                out.push_str(&piece.to_lowercase());
            }
        } else {
            out.push_str(piece);
        }
    };
    if whitespace {
        for (i, word) in pystr::split_whitespace(text).enumerate() {
            if i > 0 {
                out.push(' ');
            }
            push(word, out);
        }
    } else {
        push(text, out);
    }
}

impl GlobalOperator for TextExactDeduplicator {
    mdf_core::dedup_settings_from_params!(Grouping::Disjoint);

    fn extract(
        &mut self,
        batch: &RecordBatch,
        keys: &mut KeySink,
        verdicts: &mut Verdicts,
    ) -> Result<()> {
        let p = &self.params;
        let urls = if p.include_url {
            // Rows without a URL are rejected by the URL pass and skipped in the text pass.
            let mut urls = vec![None; batch.num_rows()];
            for_each_row(batch, &p.url_field, None, verdicts, |row, url, _| {
                urls[row] = Some(url.to_owned());
            });
            Some(urls)
        } else {
            None
        };
        let buf = &mut self.buf;
        for_each_row(
            batch,
            &p.text_field,
            p.dedup_scope.as_deref(),
            verdicts,
            |row, text, scope| {
                normalize_into(text, p.normalize_whitespace, p.lowercase, buf);
                let key = match &urls {
                    None => scoped_key(scope, &[buf.as_bytes()]),
                    Some(urls) => match &urls[row] {
                        Some(url) => scoped_key(scope, &[url.as_bytes(), b"|", buf.as_bytes()]),
                        None => return,
                    },
                };
                keys.push(row, key, &[]);
            },
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Arc;

    use arrow::array::StringArray;
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn op(json: serde_json::Value) -> Box<dyn GlobalOperator> {
        let params: TextExactDeduplicatorParams = serde_json::from_value(json).unwrap();
        params.check().unwrap();
        TextExactDeduplicator::build(params)
            .unwrap()
            .into_global()
            .unwrap()
    }

    fn keys_of(op: &mut dyn GlobalOperator, texts: &[Option<&str>], urls: &[&str]) -> KeySink {
        let schema = Schema::new(vec![
            Field::new("text", DataType::Utf8, true),
            Field::new("url", DataType::Utf8, true),
        ]);
        let batch = RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(StringArray::from(texts.to_vec())),
                Arc::new(StringArray::from(urls.to_vec())),
            ],
        )
        .unwrap();
        let mut sink = KeySink::default();
        let mut verdicts = Verdicts::default();
        op.extract(&batch, &mut sink, &mut verdicts).unwrap();
        assert!(verdicts.dropped().is_empty());
        sink
    }

    #[test]
    fn normalisation_makes_whitespace_and_case_variants_equal() {
        let mut dedup = op(serde_json::json!({}));
        let texts = [
            Some("Hello  World\n"),
            Some(" hello world"),
            Some("Hello World!"),
        ];
        let sink = keys_of(dedup.as_mut(), &texts, &["a", "b", "c"]);
        assert_eq!(sink.keys[0], sink.keys[1]);
        assert_ne!(sink.keys[0], sink.keys[2]);

        let mut strict = op(serde_json::json!({"normalize_whitespace": false, "lowercase": false}));
        let sink = keys_of(strict.as_mut(), &texts, &["a", "b", "c"]);
        assert_ne!(sink.keys[0], sink.keys[1]);
    }

    #[test]
    fn include_url_separates_equal_texts_at_other_urls() {
        let mut dedup = op(serde_json::json!({"include_url": true}));
        let sink = keys_of(
            dedup.as_mut(),
            &[Some("x"), Some("x"), Some("x")],
            &["a", "b", "a"],
        );
        assert_ne!(sink.keys[0], sink.keys[1]);
        assert_eq!(sink.keys[0], sink.keys[2]);
    }

    #[test]
    fn rows_without_text_are_rejected_not_keyed() {
        let mut dedup = op(serde_json::json!({}));
        let schema = Schema::new(vec![Field::new("text", DataType::Utf8, true)]);
        let batch = RecordBatch::try_new(
            Arc::new(schema),
            vec![Arc::new(StringArray::from(vec![None, Some("a"), None]))],
        )
        .unwrap();
        let mut sink = KeySink::default();
        let mut verdicts = Verdicts::default();
        dedup.extract(&batch, &mut sink, &mut verdicts).unwrap();
        assert_eq!(sink.rows, [1]);
        assert_eq!(verdicts.rejected().len(), 2);
        assert!(verdicts.rejected()[0].1.starts_with("missing_field"));
    }

    #[test]
    fn unsupported_hash_is_a_config_error() {
        let params: TextExactDeduplicatorParams =
            serde_json::from_value(serde_json::json!({"hash_algorithm": "md5"})).unwrap();
        assert!(params.check().unwrap_err().contains("md5"));
    }
}
