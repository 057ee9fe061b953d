//! `IcebergDataWriter`: the run's records as a real Apache Iceberg table.
//!
//! The engine writes Parquet data files per shard (exactly as `ParquetDataWriter`, atomically
//! and resumably) into the table's own `data/` folder,
//! `<table_path>/<namespace>.db/<table_name>/data/`. When the run completes, the Python front
//! (`mega_data_factory.iceberg`, called by `mdf.run` and `mdf run`) commits them through a
//! pyiceberg SQL catalog (SQLite by default, `<table_path>/catalog.db`): one snapshot per run,
//! `append` or `overwrite`. A resumed or repeated run adds only files the table does not
//! reference yet, so no data file is ever committed twice.
//!
//! The seed's `IcebergDataWriter` (`table_path`, `table_name="image_profiles"`,
//! `namespace="default"`, `catalog_type="filesystem"`, `schema`) wrote plain Parquet and never
//! committed (its catalog type does not exist in pyiceberg); here `catalog_type` `filesystem`
//! and `sql` both mean the SQL catalog, and the table schema comes from the data.

use std::path::{Path, PathBuf};

use mdf_core::io::{DataWriter, ShardWriter};
use mdf_core::{Component, MdfError, OperatorKind, Params, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::parquet_writer::{ParquetCompression, ParquetDataWriter, ParquetWriterParams};
use crate::storage;

/// The catalog that records the table's snapshots.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CatalogType {
    /// A pyiceberg SQL catalog (SQLite unless `catalog_uri` names another database).
    #[default]
    Sql,
    /// The seed's value; the same SQLite catalog inside `table_path`.
    Filesystem,
}

/// What a commit does to rows already in the table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum IcebergMode {
    /// Add this run's files to the table.
    #[default]
    Append,
    /// Replace the table's rows with this run's files (in one transaction).
    Overwrite,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IcebergWriterParams {
    /// The run directory (`_mdf/` state) and, by default, the warehouse and the SQLite catalog.
    /// A local path. Required.
    pub table_path: String,
    /// The table's name. Default: `image_profiles` (the seed's).
    #[serde(default = "default_table_name")]
    pub table_name: String,
    /// The table's namespace (created when missing). Default: `default`.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// `sql` or the seed's `filesystem` (both a SQL catalog). Default: `sql`.
    #[serde(default)]
    pub catalog_type: CatalogType,
    /// Name of the catalog inside its database (readers must use the same). Default: `mdf`.
    #[serde(default = "default_catalog_name")]
    pub catalog_name: String,
    /// SQLAlchemy URI of the catalog database. Default: `sqlite:///<table_path>/catalog.db`.
    #[serde(default)]
    pub catalog_uri: Option<String>,
    /// Warehouse location of new tables. Default: `table_path`.
    #[serde(default)]
    pub warehouse: Option<String>,
    /// `append` or `overwrite`. Default: `append`.
    #[serde(default)]
    pub mode: IcebergMode,
    /// Parquet compression of the data files, as in `ParquetDataWriter`. Default: `zstd`.
    #[serde(default)]
    pub compression: ParquetCompression,
    /// Seed parameter, not supported: the table schema is taken from the data. Default: unset.
    #[serde(default)]
    pub schema: Option<serde_json::Value>,
}

fn default_table_name() -> String {
    "image_profiles".into()
}
fn default_namespace() -> String {
    "default".into()
}
fn default_catalog_name() -> String {
    "mdf".into()
}

fn plain_name(what: &str, name: &str) -> std::result::Result<(), String> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{what}` must be letters, digits, `_` or `-`, got `{name}`"
        ))
    }
}

impl Params for IcebergWriterParams {
    fn check(&self) -> std::result::Result<(), String> {
        if self.table_path.trim().is_empty() {
            return Err("`table_path` must not be empty".into());
        }
        if storage::is_remote(&self.table_path) {
            return Err(
                "`table_path` must be a local directory (remote Iceberg warehouses are not \
                 supported yet; set `warehouse` and `catalog_uri` for the table's location)"
                    .into(),
            );
        }
        plain_name("table_name", &self.table_name)?;
        plain_name("namespace", &self.namespace)?;
        plain_name("catalog_name", &self.catalog_name)?;
        if self.schema.as_ref().is_some_and(|s| !s.is_null()) {
            return Err(
                "`schema` is not supported: the Iceberg table schema is taken from the data".into(),
            );
        }
        Ok(())
    }
}

/// Writes the Parquet data files of an Iceberg table; see the module docs.
pub struct IcebergDataWriter {
    parquet: ParquetDataWriter,
}

impl Component for IcebergDataWriter {
    type Built = dyn DataWriter;
    type Params = IcebergWriterParams;
    const NAME: &'static str = "IcebergDataWriter";
    const KIND: OperatorKind = OperatorKind::Writer;
    const SUMMARY: &'static str =
        "An Apache Iceberg table: Parquet data files per shard, one pyiceberg commit per run";

    fn build(params: IcebergWriterParams) -> Result<Box<dyn DataWriter>> {
        Ok(Box::new(IcebergDataWriter::new(params)?))
    }
}

impl IcebergDataWriter {
    pub fn new(params: IcebergWriterParams) -> Result<Self> {
        params.check().map_err(MdfError::config)?;
        let data_dir = Path::new(&params.table_path)
            .join(format!("{}.db", params.namespace))
            .join(&params.table_name)
            .join("data");
        let parquet = ParquetDataWriter::new(ParquetWriterParams {
            output_path: params.table_path.clone(),
            compression: params.compression,
            compression_level: 3,
            row_group_size: 100_000,
            row_group_max_mb: 128.0,
            target_file_size_mb: 256.0,
            table_name: None,
            exclude_columns: Vec::new(),
        })?
        .with_data_dir(data_dir);
        Ok(IcebergDataWriter { parquet })
    }
}

impl DataWriter for IcebergDataWriter {
    fn output_dir(&self) -> &Path {
        self.parquet.output_dir()
    }

    fn data_dir(&self) -> PathBuf {
        self.parquet.data_dir()
    }

    fn open_shard(&self, shard_index: usize) -> Result<Box<dyn ShardWriter>> {
        self.parquet.open_shard(shard_index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_files_go_in_the_table_folder_and_params_are_checked() {
        let p: IcebergWriterParams =
            serde_json::from_value(serde_json::json!({ "table_path": "/tmp/t" })).unwrap();
        assert_eq!(
            (p.table_name.as_str(), p.namespace.as_str()),
            ("image_profiles", "default")
        );
        let w = IcebergDataWriter::new(p.clone()).unwrap();
        assert_eq!(w.output_dir(), Path::new("/tmp/t"));
        assert_eq!(
            w.data_dir(),
            Path::new("/tmp/t/default.db/image_profiles/data")
        );
        let seed: IcebergWriterParams = serde_json::from_value(serde_json::json!({
            "table_path": "t", "catalog_type": "filesystem", "schema": null
        }))
        .unwrap();
        assert!(seed.check().is_ok());
        for bad in [
            serde_json::json!({ "table_path": "s3://b/t" }),
            serde_json::json!({ "table_path": "t", "table_name": "a.b" }),
            serde_json::json!({ "table_path": "t", "schema": {"a": "int"} }),
        ] {
            let p: IcebergWriterParams = serde_json::from_value(bad).unwrap();
            assert!(p.check().is_err());
        }
    }
}
