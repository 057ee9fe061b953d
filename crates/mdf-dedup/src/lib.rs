//! Dedup for Mega Data Factory: the global operators (exact text, URL, MinHash-LSH, BFF Bloom,
//! semantic embedding dedup) and the phase
//! logic the executor runs for any global operator: on-disk key partitions, grouping, the
//! union–find merge and the cluster files the filter phase reads ([`partition`]). Each operator
//! lives in its own file with its params; [`register`] is the only list of them.

pub mod bff_text;
mod bloom_deduplicator;
pub mod bloom_filter;
mod common;
mod embedding_deduplicator;
pub mod kmeans;
pub mod minhash;
pub mod partition;
mod score_percentile_filter;
mod text_exact_deduplicator;
mod url_deduplicator;

pub use bloom_deduplicator::{
    remove_paragraphs, BloomDeduplicator, BloomDeduplicatorParams, RemoveType,
};
pub use common::DEFAULT_PARTITIONS;
pub use embedding_deduplicator::{EmbeddingDeduplicator, EmbeddingDeduplicatorParams};
pub use score_percentile_filter::{
    datacomp_threshold, ScorePercentileFilter, ScorePercentileFilterParams,
};
pub use text_exact_deduplicator::{
    normalize_into, TextExactDeduplicator, TextExactDeduplicatorParams,
};
pub use url_deduplicator::{normalize_url, UrlDeduplicator, UrlDeduplicatorParams};

/// Registers every dedup operator.
pub fn register(registry: &mut mdf_core::Registry) {
    registry.register_operator::<TextExactDeduplicator>();
    registry.register_operator::<UrlDeduplicator>();
    registry.register_operator::<minhash::MinhashDeduplicator>();
    registry.register_operator::<EmbeddingDeduplicator>();
    registry.register_operator::<BloomDeduplicator>();
    registry.register_operator::<ScorePercentileFilter>();
}
