//! The plan: which shards, which operators in which order, and where a global operator (dedup)
//! splits the run into phases. Building a plan builds every component once, so a bad path or a
//! bad param fails here, before any shard runs.

use std::sync::Arc;

use mdf_core::config::{parse_config, ConfigSource, PipelineConfig};
use mdf_core::io::{DataWriter, Loader, ShardSpec, LOADER_STAGE};
use mdf_core::registry::Entry;
use mdf_core::{MdfError, Operator, OperatorKind, Registry, Result};
use serde::Serialize;
use xxhash_rust::xxh3::xxh3_128;

use crate::rundir::Manifest;

/// One enabled operator of the config, in pipeline order.
#[derive(Clone)]
pub struct PlannedOperator {
    pub stage: String,
    pub name: String,
    pub kind: OperatorKind,
    pub params: serde_json::Value,
    entry: Arc<dyn Entry<dyn Operator>>,
}

impl PlannedOperator {
    /// Builds a fresh instance (each worker builds its own).
    pub fn build(&self) -> Result<Box<dyn Operator>> {
        self.entry.build(&self.params)
    }
}

/// Steps of a run. Map steps run shard by shard; a global step needs all shards of the step
/// before it (keys per shard → partitions → grouping → filter pass).
pub enum PlanStep {
    Map(Vec<PlannedOperator>),
    Global(PlannedOperator),
}

pub struct Plan {
    pub config: PipelineConfig,
    pub shards: Vec<ShardSpec>,
    pub steps: Vec<PlanStep>,
    pub loader: Box<dyn Loader>,
    pub writer: Box<dyn DataWriter>,
    /// Identifies what the run computes (config + shards, not the worker count): a run
    /// directory may only be resumed by a plan with the same fingerprint.
    pub fingerprint: String,
}

impl Plan {
    pub fn build(config: PipelineConfig, registry: &Registry) -> Result<Plan> {
        let exec = &config.executor;
        let loader = lookup(&registry.loaders, "loader", &config.data_loader.name)?
            .build(&config.data_loader.params)?;
        let writer = lookup(&registry.writers, "writer", &config.data_writer.name)?
            .build(&config.data_writer.params)?;
        let steps = plan_steps(&config, loader.as_ref(), registry, true)?;
        let mut shards = loader.list_shards()?;
        for (i, shard) in shards.iter_mut().enumerate() {
            shard.index = i;
        }
        if let Some(max) = exec.max_samples {
            shards = cap_shards(loader.as_ref(), shards, max)?;
        }
        let fingerprint = fingerprint(&config, &shards)?;
        Ok(Plan {
            config,
            shards,
            steps,
            loader,
            writer,
            fingerprint,
        })
    }

    /// The plan of a prepared run directory, rebuilt where a task runs (a Ray worker): the
    /// resolved config and the shard list come from the manifest, so nothing is listed or
    /// validated again and no operator is built until a worker needs it. The fingerprint is
    /// checked, so a worker never writes into a run of another config.
    pub fn from_manifest(manifest: &Manifest, registry: &Arc<Registry>) -> Result<Plan> {
        let source = ConfigSource {
            name: "_mdf/manifest.json".to_owned(),
            text: manifest.config.to_string(),
        };
        let config = parse_config(&source, &[], registry)?;
        let loader = lookup(&registry.loaders, "loader", &config.data_loader.name)?
            .build(&config.data_loader.params)?;
        let writer = lookup(&registry.writers, "writer", &config.data_writer.name)?
            .build(&config.data_writer.params)?;
        let steps = plan_steps(&config, loader.as_ref(), registry, false)?;
        let shards = manifest.shards.clone();
        let fingerprint = fingerprint(&config, &shards)?;
        if fingerprint != manifest.fingerprint {
            return Err(MdfError::internal(format!(
                "the manifest's config does not reproduce its fingerprint ({} vs {}); was it \
                 written by another mdf version ({})?",
                fingerprint, manifest.fingerprint, manifest.mdf_version
            )));
        }
        Ok(Plan {
            config,
            shards,
            steps,
            loader,
            writer,
            fingerprint,
        })
    }

    /// All planned operators in order.
    pub fn operators(&self) -> impl Iterator<Item = &PlannedOperator> {
        self.steps.iter().flat_map(|s| match s {
            PlanStep::Map(ops) => ops.as_slice(),
            PlanStep::Global(op) => std::slice::from_ref(op),
        })
    }
}

fn lookup<'a, T: ?Sized>(
    catalog: &'a mdf_core::registry::Catalog<T>,
    family: &str,
    name: &str,
) -> Result<&'a Arc<dyn Entry<T>>> {
    catalog.lookup(family, name).map_err(MdfError::config)
}

/// `validate` builds each operator once, so that a bad param or a missing model fails before any
/// work (the driver does it; workers rebuilding a plan from the manifest do not). The loader's
/// leading operators come first, in the stage [`LOADER_STAGE`].
fn plan_steps(
    config: &PipelineConfig,
    loader: &dyn Loader,
    registry: &Registry,
    validate: bool,
) -> Result<Vec<PlanStep>> {
    let leading = loader.leading_operators();
    let configured = config.stages.iter().flat_map(|stage| {
        stage
            .operators
            .iter()
            .filter(|o| o.enabled)
            .map(|op| (stage.name.as_str(), op.name.as_str(), &op.params))
    });
    let operators = leading
        .iter()
        .map(|op| (LOADER_STAGE, op.name.as_str(), &op.params))
        .chain(configured);
    let mut steps = Vec::new();
    let mut current = Vec::new();
    for (stage, name, params) in operators {
        let entry = lookup(&registry.operators, "operator", name)?.clone();
        if validate {
            entry.build(params).map_err(|e| match e {
                MdfError::Config(msg) => {
                    MdfError::config(format!("stage `{stage}`, operator `{name}`: {msg}"))
                }
                other => other,
            })?;
        }
        let planned = PlannedOperator {
            stage: stage.to_owned(),
            name: name.to_owned(),
            kind: entry.kind(),
            params: params.clone(),
            entry,
        };
        if planned.kind == OperatorKind::Global {
            steps.push(PlanStep::Map(std::mem::take(&mut current)));
            steps.push(PlanStep::Global(planned));
        } else {
            current.push(planned);
        }
    }
    steps.push(PlanStep::Map(current));
    Ok(steps)
}

/// `max_samples` is an exact global cap: the first N records in shard order. Shards are
/// counted in order until N is reached; later shards are left out.
fn cap_shards(loader: &dyn Loader, shards: Vec<ShardSpec>, max: u64) -> Result<Vec<ShardSpec>> {
    let mut remaining = max;
    let mut kept = Vec::new();
    for mut shard in shards {
        if remaining == 0 {
            break;
        }
        let n = loader.count_records(&shard, remaining)?;
        if n == remaining {
            shard.limit = Some(n);
        }
        remaining -= n;
        kept.push(shard);
    }
    Ok(kept)
}

fn fingerprint(config: &PipelineConfig, shards: &[ShardSpec]) -> Result<String> {
    #[derive(Serialize)]
    struct Identity<'a> {
        config: &'a PipelineConfig,
        shards: &'a [ShardSpec],
    }
    let mut config = config.clone();
    // Worker counts, reporting, the executor and memory budgets do not change the output: a run started
    // locally may be resumed on Ray and the other way round.
    config.executor.num_workers = None;
    config.executor.executor_type = Default::default();
    config.executor.use_ray = false;
    config.executor.address = None;
    config.executor.metrics = Default::default();
    config.executor.dedup_memory_mb = mdf_core::config::default_dedup_memory_mb();
    config.data_loader.num_workers = None;
    let bytes = serde_json::to_vec(&Identity {
        config: &config,
        shards,
    })
    .map_err(|e| MdfError::internal(format!("fingerprint: {e}")))?;
    Ok(format!("{:032x}", xxh3_128(&bytes)))
}
