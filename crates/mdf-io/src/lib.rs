//! Loaders and writers of Mega Data Factory: JSONL and Parquet in, Parquet and JSONL out.
//!
//! Loaders list shards (a file, or a byte range of a big plain JSONL file) and stream one shard
//! as Arrow batches plus rejects for unreadable records; writers publish one shard's output
//! atomically under names derived from the shard index. Everything is registered by
//! [`register`].

// Tests unwrap freely; the library build (also checked by `clippy --all-targets`) may not.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod codec;
mod hf_resolve;
pub mod huggingface_loader;
pub mod iceberg_writer;
pub mod jsonl_loader;
pub mod jsonl_writer;
mod lines;
mod output;
pub mod parquet_loader;
pub mod parquet_writer;
pub mod paths;
mod provenance;
pub mod storage;
mod storage_io;
pub mod webdataset_writer;

pub use codec::{open_decompressed, Codec};
pub use huggingface_loader::{HuggingFaceLoader, HuggingFaceLoaderParams};
pub use iceberg_writer::{IcebergDataWriter, IcebergWriterParams};
pub use jsonl_loader::{JsonlLoader, JsonlLoaderParams};
pub use jsonl_writer::{JsonlDataWriter, JsonlWriterParams};
pub use parquet_loader::{ParquetLoader, ParquetLoaderParams};
pub use parquet_writer::{ParquetDataWriter, ParquetWriterParams};
pub use paths::{expand_paths, PathList};
pub use webdataset_writer::{WebDatasetWriter, WebDatasetWriterParams};

/// Registers every loader and writer of this crate.
pub fn register(registry: &mut mdf_core::Registry) {
    registry.register_loader::<JsonlLoader>();
    registry.register_loader::<ParquetLoader>();
    registry.register_loader::<HuggingFaceLoader>();
    registry.register_writer::<ParquetDataWriter>();
    registry.register_writer::<JsonlDataWriter>();
    registry.register_writer::<WebDatasetWriter>();
    registry.register_writer::<IcebergDataWriter>();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_every_component_with_documented_params() {
        let mut registry = mdf_core::Registry::default();
        register(&mut registry);
        let loaders: Vec<_> = registry.loaders.names().collect();
        assert_eq!(
            loaders,
            ["HuggingFaceLoader", "JsonlLoader", "ParquetLoader"]
        );
        let writers: Vec<_> = registry.writers.names().collect();
        assert_eq!(
            writers,
            [
                "IcebergDataWriter",
                "JsonlDataWriter",
                "ParquetDataWriter",
                "WebDatasetWriter"
            ]
        );

        let entry = registry.loaders.get("JsonlLoader").unwrap();
        let schema = entry.params_schema().to_string();
        assert!(
            schema.contains("infer_rows") && schema.contains("Default: 1000"),
            "{schema}"
        );
        let resolved = serde_json::json!({ "paths": "data/", "infer_rows": 1000,
            "shard_size_mb": 128.0, "id_field": "id" });
        assert!(entry.build(&resolved).is_ok());

        let entry = registry.writers.get("ParquetDataWriter").unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let writer = entry
            .build(&serde_json::json!({ "output_path": tmp.path() }))
            .unwrap();
        assert_eq!(writer.output_dir(), tmp.path());
    }
}
