//! `url_deduplicator`: keeps one document per URL across all shards and workers, as RefinedWeb
//! and Dolma do before content dedup. The key is the URL string; with `normalize` (the default)
//! the scheme and host are lower-cased and the `#fragment` is dropped, since neither changes the
//! page fetched. datatrove 0.10.1 has no URL dedup step; its later `UrlDedup` keeps the copy with
//! the highest user-defined priority, which is not offered here.
//!
//! Keeper: the first copy by input order (lowest shard index, then row).

use arrow::record_batch::RecordBatch;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use mdf_core::global::{as_operator, GlobalOperator, Grouping, KeySink};
use mdf_core::{Component, Operator, OperatorKind, Params, Result, Verdicts};

use crate::common::{check_partitions, default_partitions, for_each_row, scoped_key, yes};

/// Params of `url_deduplicator`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UrlDeduplicatorParams {
    /// Column holding the URL. Default: `url`.
    #[serde(default = "default_url_field")]
    pub url_field: String,
    /// Lower-case the scheme and host and drop the fragment before comparing. Default: true.
    #[serde(default = "yes")]
    pub normalize: bool,
    /// Deduplicate only within groups of rows with the same value of this column. Default: none.
    #[serde(default)]
    pub dedup_scope: Option<String>,
    /// Key partitions (parallel group tasks). Default: 64.
    #[serde(default = "default_partitions")]
    pub num_partitions: usize,
    /// Remove the duplicates; `false` only annotates. Default: true.
    #[serde(default = "yes")]
    pub remove_duplicates: bool,
    /// Add `cluster_id` and `cluster_size` to the rows kept. Default: false.
    #[serde(default)]
    pub annotate_clusters: bool,
}

fn default_url_field() -> String {
    "url".to_owned()
}

impl Params for UrlDeduplicatorParams {
    fn check(&self) -> std::result::Result<(), String> {
        check_partitions(self.num_partitions)
    }
}

pub struct UrlDeduplicator {
    params: UrlDeduplicatorParams,
    buf: String,
}

impl Component for UrlDeduplicator {
    type Built = dyn Operator;
    type Params = UrlDeduplicatorParams;
    const NAME: &'static str = "url_deduplicator";
    const KIND: OperatorKind = OperatorKind::Global;
    const SUMMARY: &'static str =
        "Keep one document per URL (scheme/host case and fragment ignored) across all shards";

    fn build(params: UrlDeduplicatorParams) -> Result<Box<dyn Operator>> {
        Ok(as_operator(UrlDeduplicator {
            params,
            buf: String::new(),
        }))
    }
}

/// `url` with its scheme and host lower-cased and its fragment removed.
pub fn normalize_url(url: &str, out: &mut String) {
    out.clear();
    let url = url.trim();
    let url = url.split_once('#').map_or(url, |(before, _)| before);
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, url),
    };
    let host_end = rest.find(['/', '?']).unwrap_or(rest.len());
    if let Some(s) = scheme {
        out.push_str(&s.to_ascii_lowercase());
        out.push_str("://");
    }
    out.push_str(&rest[..host_end].to_lowercase());
    out.push_str(&rest[host_end..]);
}

impl GlobalOperator for UrlDeduplicator {
    mdf_core::dedup_settings_from_params!(Grouping::Disjoint);

    fn extract(
        &mut self,
        batch: &RecordBatch,
        keys: &mut KeySink,
        verdicts: &mut Verdicts,
    ) -> Result<()> {
        let p = &self.params;
        let buf = &mut self.buf;
        for_each_row(
            batch,
            &p.url_field,
            p.dedup_scope.as_deref(),
            verdicts,
            |row, url, scope| {
                let key = if p.normalize {
                    normalize_url(url, buf);
                    scoped_key(scope, &[buf.as_bytes()])
                } else {
                    scoped_key(scope, &[url.as_bytes()])
                };
                keys.push(row, key, &[]);
            },
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_ignores_host_case_and_fragment_only() {
        let mut out = String::new();
        normalize_url("HTTPS://Example.COM/Path?Q=1#top", &mut out);
        assert_eq!(out, "https://example.com/Path?Q=1");
        normalize_url("example.com/A", &mut out);
        assert_eq!(out, "example.com/A");
    }
}
