//! Pipeline configs in the seed's YAML schema. Parsing is one pass over the YAML: the typed
//! params of every operator, loader and writer are deserialized in place (the registry is
//! consulted while parsing), so an unknown key, a wrong type or an unknown operator is reported
//! with file, line and column, a did-you-mean, and the offending line. Nothing runs before the
//! whole config has been resolved.

use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{MdfError, Result};
use crate::operator::OperatorKind;
use crate::registry::{did_you_mean, Catalog, Entry, Registry};

/// Loaders, operators and writers are stored resolved: the registry name and the params with every
/// default filled in. This is what the manifest records and what workers build from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoaderConfig {
    #[serde(rename = "type")]
    pub name: String,
    pub params: serde_json::Value,
    /// Reader parallelism on Ray; the local executor reads shards in its worker threads.
    pub num_workers: Option<usize>,
    pub checkpoint_interval: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OperatorConfig {
    pub name: String,
    pub params: serde_json::Value,
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WriterConfig {
    #[serde(rename = "type")]
    pub name: String,
    pub params: serde_json::Value,
}

/// Resources one stage replica asks for (used by the Ray runner).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    #[serde(default)]
    pub cpu: Option<f64>,
    #[serde(default)]
    pub gpu: Option<f64>,
    /// Memory request in bytes.
    #[serde(default)]
    pub memory: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerConfig {
    #[serde(default)]
    pub min_replicas: Option<u32>,
    #[serde(default)]
    pub max_replicas: Option<u32>,
    /// Legacy: sets both min and max.
    #[serde(default)]
    pub num_replicas: Option<u32>,
    #[serde(default)]
    pub resources: Resources,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageConfig {
    pub name: String,
    #[serde(default)]
    pub operators: Vec<OperatorConfig>,
    #[serde(default)]
    pub worker: WorkerConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Print the per-operator table at the end of a run (`stats.json` is always written).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Write `report.html` into the run directory at the end of the run.
    #[serde(default)]
    pub generate_report: bool,
    /// Sample records kept per operator and drop reason (and of the kept records) for the
    /// report, chosen deterministically; 0 disables sampling. Default 20.
    #[serde(default = "default_debug_samples")]
    pub debug_samples_per_operator: usize,
}

fn default_debug_samples() -> usize {
    20
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            generate_report: false,
            debug_samples_per_operator: default_debug_samples(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectedSamplesConfig {
    /// Also write records dropped by filters (not only bad input) to `_mdf/rejects/`.
    #[serde(default)]
    pub enabled: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutorType {
    #[default]
    Local,
    Ray,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutorConfig {
    #[serde(default, rename = "type")]
    pub executor_type: ExecutorType,
    /// Seed compatibility: `use_ray: true` is the same as `type: ray`.
    #[serde(default)]
    pub use_ray: bool,
    /// Ray cluster address: `auto` (the cluster this machine belongs to), `host:port` (the
    /// head's GCS port), `ray://host:port` (Ray client) or `local` (start a private local
    /// cluster); `ray.init()`'s default when absent.
    #[serde(default, deserialize_with = "ray_address")]
    pub address: Option<String>,
    /// Exact global cap on input records: the first N records in shard order.
    #[serde(default)]
    pub max_samples: Option<u64>,
    /// Records per batch.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Local worker threads (default: all cores). `num_cpus` is accepted as the seed's name.
    #[serde(default, alias = "num_cpus")]
    pub num_workers: Option<usize>,
    #[serde(default)]
    pub metrics: MetricsConfig,
    #[serde(default)]
    pub rejected_samples: RejectedSamplesConfig,
    /// The seed's dedup bucket count: the `num_partitions` of every global (dedup) operator
    /// that does not set its own. Default: none (each operator's default).
    #[serde(default)]
    pub dedup_num_buckets: Option<usize>,
    /// Memory (MiB) one dedup group task may use for its partition's key records. A larger
    /// partition is split on disk into key-disjoint pieces that are grouped one at a time, so the
    /// output does not change. Default 1024.
    #[serde(default = "default_dedup_memory_mb")]
    pub dedup_memory_mb: u64,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            executor_type: ExecutorType::Local,
            use_ray: false,
            address: None,
            max_samples: None,
            batch_size: default_batch_size(),
            num_workers: None,
            metrics: MetricsConfig::default(),
            rejected_samples: RejectedSamplesConfig::default(),
            dedup_num_buckets: None,
            dedup_memory_mb: default_dedup_memory_mb(),
        }
    }
}

/// Checked while the deserializer is on the scalar, so the error carries the value's line.
fn ray_address<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<String>, D::Error> {
    struct Address;
    impl<'de> Visitor<'de> for Address {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a Ray address")
        }
        fn visit_none<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(
            self,
            d: D,
        ) -> std::result::Result<Self::Value, D::Error> {
            d.deserialize_str(self)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Self::Value, E> {
            check_ray_address(v).map_err(E::custom)?;
            Ok(Some(v.to_owned()))
        }
    }
    d.deserialize_option(Address)
}

/// `auto`, `local`, `host:port` or `ray://host:port`.
pub fn check_ray_address(address: &str) -> std::result::Result<(), String> {
    if matches!(address, "auto" | "local") {
        return Ok(());
    }
    let rest = address.strip_prefix("ray://").unwrap_or(address);
    let ok = rest.rsplit_once(':').is_some_and(|(host, port)| {
        !host.is_empty()
            && !host.contains(['/', ' ', '\t'])
            && port.parse::<u16>().is_ok_and(|p| p > 0)
    });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "executor.address `{address}` is not a Ray address: use auto, local, host:port \
             (the head's GCS port, 6379 by default) or ray://host:port"
        ))
    }
}

fn yes() -> bool {
    true
}

pub fn default_batch_size() -> usize {
    1000
}

pub fn default_dedup_memory_mb() -> u64 {
    1024
}

/// A whole pipeline, resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Python modules to import before the config is resolved (they register operators).
    #[serde(default)]
    pub imports: Vec<String>,
    pub data_loader: LoaderConfig,
    pub stages: Vec<StageConfig>,
    pub data_writer: WriterConfig,
    #[serde(default)]
    pub executor: ExecutorConfig,
}

impl PipelineConfig {
    /// Checks that need the whole config (cross-field rules).
    fn check(&self) -> std::result::Result<(), String> {
        let e = &self.executor;
        if e.batch_size == 0 {
            return Err("executor.batch_size must be at least 1".into());
        }
        if e.num_workers == Some(0) {
            return Err("executor.num_workers must be at least 1".into());
        }
        if e.dedup_memory_mb == 0 {
            return Err("executor.dedup_memory_mb must be at least 1".into());
        }
        let mut names = std::collections::HashSet::new();
        for stage in &self.stages {
            if !names.insert(stage.name.as_str()) {
                return Err(format!("stage name `{}` is used twice", stage.name));
            }
            let w = &stage.worker;
            let min = w.num_replicas.or(w.min_replicas).unwrap_or(1);
            let max = w.num_replicas.or(w.max_replicas).unwrap_or(min);
            if min == 0 || max < min {
                return Err(format!(
                    "stages `{}`.worker: need 1 <= min_replicas <= max_replicas (got {min}, {max})",
                    stage.name
                ));
            }
        }
        Ok(())
    }
}

/// Where config text came from, for error messages.
#[derive(Debug, Clone)]
pub struct ConfigSource {
    pub name: String,
    pub text: String,
}

impl ConfigSource {
    pub fn from_file(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| MdfError::config(format!("cannot read config {}: {e}", path.display())))?;
        Ok(ConfigSource {
            name: path.display().to_string(),
            text,
        })
    }
}

thread_local! {
    static PARSING_WITH: RefCell<Option<Arc<Registry>>> = const { RefCell::new(None) };
}

/// Parses and resolves a config, applying `--set dotted.key=value` overrides first.
pub fn parse_config(
    source: &ConfigSource,
    overrides: &[String],
    registry: &Arc<Registry>,
) -> Result<PipelineConfig> {
    let mut value: serde_norway::Value = serde_norway::from_str(&source.text)
        .map_err(|e| yaml_error(&source.name, &source.text, &e))?;
    for o in overrides {
        apply_override(&mut value, o)?;
    }
    let buckets = apply_dedup_num_buckets(&mut value, registry);
    let (name, text) = if overrides.is_empty() && !buckets {
        (source.name.clone(), source.text.clone())
    } else {
        let text = serde_norway::to_string(&value)
            .map_err(|e| MdfError::internal(format!("re-serialising config: {e}")))?;
        let what = if overrides.is_empty() {
            "executor.dedup_num_buckets"
        } else {
            "--set overrides"
        };
        (format!("{} (after {what})", source.name), text)
    };
    let config: PipelineConfig = PARSING_WITH.with(|slot| {
        *slot.borrow_mut() = Some(registry.clone());
        let parsed = serde_norway::from_str(&text);
        *slot.borrow_mut() = None;
        parsed.map_err(|e| yaml_error(&name, &text, &e))
    })?;
    config
        .check()
        .map_err(|msg| MdfError::config(format!("{name}: {msg}")))?;
    Ok(config)
}

/// The seed's `executor.dedup_num_buckets: N` becomes `num_partitions: N` in the params of every
/// global operator that takes `num_partitions` and does not set it. Returns whether any was set.
/// A value that is not a positive integer is left for the typed parse to report.
fn apply_dedup_num_buckets(value: &mut serde_norway::Value, registry: &Registry) -> bool {
    use serde_norway::Value;
    let Some(n) = value
        .get("executor")
        .and_then(|e| e.get("dedup_num_buckets"))
        .and_then(Value::as_u64)
        .filter(|n| *n >= 1)
    else {
        return false;
    };
    let Some(Value::Sequence(stages)) = value.get_mut("stages") else {
        return false;
    };
    let mut changed = false;
    for stage in stages.iter_mut() {
        let Some(Value::Sequence(ops)) = stage.get_mut("operators") else {
            continue;
        };
        for op in ops.iter_mut() {
            let Some(entry) = op
                .get("name")
                .and_then(Value::as_str)
                .and_then(|name| registry.operators.get(name))
            else {
                continue;
            };
            let takes_partitions = entry
                .params_schema()
                .pointer("/properties/num_partitions")
                .is_some();
            let Value::Mapping(map) = op else { continue };
            if entry.kind() != OperatorKind::Global || !takes_partitions {
                continue;
            }
            let params = map
                .entry(Value::String("params".into()))
                .or_insert(Value::Null);
            if params.is_null() {
                *params = Value::Mapping(Default::default());
            }
            if let Value::Mapping(p) = params {
                let key = Value::String("num_partitions".into());
                if !p.contains_key(&key) {
                    p.insert(key, Value::Number(n.into()));
                    changed = true;
                }
            }
        }
    }
    changed
}

/// The `imports` list of a config, read before the registry is complete.
pub fn config_imports(source: &ConfigSource) -> Result<Vec<String>> {
    let value: serde_norway::Value = serde_norway::from_str(&source.text)
        .map_err(|e| yaml_error(&source.name, &source.text, &e))?;
    let Some(imports) = value.get("imports") else {
        return Ok(Vec::new());
    };
    serde_norway::from_value(imports.clone())
        .map_err(|e| MdfError::config(format!("{}: imports: {e}", source.name)))
}

/// Which executor a config asks for (`executor.type`, or the seed's `use_ray`) and its
/// `executor.address`, read before the registry is complete so that the front end can pick the
/// runner. Wrong values are reported, with their line, by the full parse that follows.
pub fn config_executor(
    source: &ConfigSource,
    overrides: &[String],
) -> Result<(ExecutorType, Option<String>)> {
    let mut value: serde_norway::Value = serde_norway::from_str(&source.text)
        .map_err(|e| yaml_error(&source.name, &source.text, &e))?;
    for o in overrides {
        apply_override(&mut value, o)?;
    }
    let Some(exec) = value.get("executor") else {
        return Ok((ExecutorType::Local, None));
    };
    let kind = exec
        .get("type")
        .and_then(|v| serde_norway::from_value::<ExecutorType>(v.clone()).ok())
        .unwrap_or_default();
    let use_ray = exec.get("use_ray").and_then(|v| v.as_bool()) == Some(true);
    let address = exec
        .get("address")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    let kind = if use_ray { ExecutorType::Ray } else { kind };
    Ok((kind, address))
}

/// Applies `a.b.0.c=value` (the value is parsed as YAML, so `10`, `true`, `[a, b]` are typed).
pub fn apply_override(root: &mut serde_norway::Value, assignment: &str) -> Result<()> {
    use serde_norway::Value;
    let (path, raw) = assignment.split_once('=').ok_or_else(|| {
        MdfError::config(format!(
            "--set expects dotted.key=value, got `{assignment}`"
        ))
    })?;
    let new: Value = serde_norway::from_str(raw)
        .map_err(|e| MdfError::config(format!("--set {path}: cannot parse `{raw}`: {e}")))?;
    let mut node = root;
    for part in path.split('.') {
        if part.is_empty() {
            return Err(MdfError::config(format!("--set: empty key in `{path}`")));
        }
        node = match node {
            Value::Sequence(items) => {
                let idx: usize = part.parse().map_err(|_| {
                    MdfError::config(format!("--set {path}: `{part}` must be a list index"))
                })?;
                items.get_mut(idx).ok_or_else(|| {
                    MdfError::config(format!("--set {path}: index {idx} is out of range"))
                })?
            }
            Value::Mapping(map) => map
                .entry(Value::String(part.to_owned()))
                .or_insert(Value::Null),
            other => {
                *other = Value::Mapping(Default::default());
                match other {
                    Value::Mapping(map) => map
                        .entry(Value::String(part.to_owned()))
                        .or_insert(Value::Null),
                    _ => return Err(MdfError::internal("mapping just created")),
                }
            }
        };
    }
    *node = new;
    Ok(())
}

/// `file:line:col: message (did you mean …?)` followed by the line and a caret.
fn yaml_error(name: &str, text: &str, err: &serde_norway::Error) -> MdfError {
    let (msg, location) = tidy_serde_message(&err.to_string());
    let location = location.or_else(|| err.location().map(|l| (l.line(), l.column())));
    let msg = add_did_you_mean(&msg);
    let Some((line, column)) = location else {
        return MdfError::config(format!("{name}: {msg}"));
    };
    let line_text = text.lines().nth(line.saturating_sub(1)).unwrap_or("");
    let caret = " ".repeat(column.saturating_sub(1));
    MdfError::config(format!(
        "{name}:{line}:{column}: {msg}\n  {line_text}\n  {caret}^"
    ))
}

/// An error raised inside nested params is wrapped once per enclosing map, each wrap adding its
/// path and location. Keep the innermost location and the most specific path.
fn tidy_serde_message(msg: &str) -> (String, Option<(usize, usize)>) {
    const AT: &str = " at line ";
    let mut rest = msg;
    let mut text = String::new();
    let mut first: Option<(usize, usize)> = None;
    while let Some(i) = rest.find(AT) {
        let after = &rest[i + AT.len()..];
        let parsed = after.split_once(" column ").and_then(|(l, tail)| {
            let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
            Some((
                l.parse().ok()?,
                tail[..digits].parse().ok()?,
                &tail[digits..],
            ))
        });
        match parsed {
            Some((line, col, tail)) => {
                text.push_str(&rest[..i]);
                first.get_or_insert((line, col));
                rest = tail;
            }
            None => {
                text.push_str(&rest[..i + AT.len()]);
                rest = after;
            }
        }
    }
    text.push_str(rest);
    let is_path = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_[].".contains(&b))
    };
    let mut parts: Vec<&str> = text.split(": ").collect();
    while parts.len() > 2 && is_path(parts[0]) && is_path(parts[1]) {
        parts.remove(0);
    }
    (parts.join(": "), first)
}

/// serde says "unknown field `x`, expected one of `a`, `b`": add the closest candidate.
fn add_did_you_mean(msg: &str) -> String {
    let marker = ["unknown field `", "unknown variant `"]
        .iter()
        .find_map(|m| msg.find(m).map(|i| i + m.len()));
    let Some(start) = marker else {
        return msg.to_owned();
    };
    let rest = &msg[start..];
    let Some(end) = rest.find('`') else {
        return msg.to_owned();
    };
    let unknown = &rest[..end];
    let candidates: Vec<&str> = rest[end + 1..].split('`').skip(1).step_by(2).collect();
    match did_you_mean(unknown, candidates) {
        Some(best) => format!("{msg} (did you mean `{best}`?)"),
        None => msg.to_owned(),
    }
}

/// Resolves the params of the registry entry `entry`, in place in the YAML stream.
struct ParamsSeed<'a, T: ?Sized>(&'a Arc<dyn Entry<T>>);

impl<'de, T: ?Sized> DeserializeSeed<'de> for ParamsSeed<'_, T> {
    type Value = serde_json::Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Self::Value, D::Error> {
        let mut erased = <dyn erased_serde::Deserializer>::erase(d);
        self.0
            .resolve_params(&mut erased)
            .map_err(de::Error::custom)
    }
}

/// The part every component map shares: its name key and `params`, resolved with the registry.
struct ComponentFields {
    name: String,
    params: serde_json::Value,
}

/// Reads a component map (`{type|name, params, <extras>}`), calling `extra` for other known keys.
fn visit_component<'de, A, T>(
    mut map: A,
    catalog: fn(&Registry) -> &Catalog<T>,
    family: &'static str,
    name_key: &'static str,
    extras: &'static [&'static str],
    mut extra: impl FnMut(&str, &mut A) -> std::result::Result<(), A::Error>,
) -> std::result::Result<ComponentFields, A::Error>
where
    A: MapAccess<'de>,
    T: ?Sized,
{
    let registry = PARSING_WITH
        .with(|slot| slot.borrow().clone())
        .ok_or_else(|| de::Error::custom("config parsed without a registry"))?;
    let cat = catalog(&registry);
    let mut entry: Option<Arc<dyn Entry<T>>> = None;
    let mut params: Option<serde_json::Value> = None;
    let mut early_params: Option<serde_norway::Value> = None;
    let mut expected: Vec<&'static str> = vec![name_key, "params"];
    expected.extend_from_slice(extras);
    while let Some(key) = map.next_key::<String>()? {
        match key.as_str() {
            k if k == name_key => {
                let name: String = map.next_value()?;
                entry = Some(
                    cat.lookup(family, &name)
                        .map_err(de::Error::custom)?
                        .clone(),
                );
            }
            "params" => match &entry {
                Some(e) => params = Some(map.next_value_seed(ParamsSeed(e))?),
                // `params` before the name: keep the raw value and resolve it at the end.
                None => early_params = Some(map.next_value()?),
            },
            k if extras.contains(&k) => extra(k, &mut map)?,
            other => return Err(de::Error::unknown_field(other, leak_list(&expected))),
        }
    }
    let entry = entry.ok_or_else(|| de::Error::missing_field(name_key))?;
    let params = match (params, early_params) {
        (Some(p), _) => p,
        (None, Some(raw)) => ParamsSeed(&entry)
            .deserialize(raw)
            .map_err(|e| de::Error::custom(e.to_string()))?,
        (None, None) => ParamsSeed(&entry)
            .deserialize(serde_norway::Value::Mapping(Default::default()))
            .map_err(|e| de::Error::custom(e.to_string()))?,
    };
    Ok(ComponentFields {
        name: entry.name().to_owned(),
        params,
    })
}

fn leak_list(items: &[&'static str]) -> &'static [&'static str] {
    // serde's unknown_field wants a static list; the lists are tiny and built a few times per parse.
    Box::leak(items.to_vec().into_boxed_slice())
}

/// Implements `Deserialize` for a component config through [`visit_component`].
macro_rules! component_deserialize {
    ($ty:ident, $expecting:literal, |$map:ident| $body:block) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_map<A: MapAccess<'de>>(
                        self,
                        $map: A,
                    ) -> std::result::Result<$ty, A::Error> {
                        $body
                    }
                }
                d.deserialize_map(V)
            }
        }
    };
}

component_deserialize!(
    LoaderConfig,
    "a loader: {type, params, num_workers}",
    |map| {
        let (mut num_workers, mut checkpoint_interval) = (None, None);
        let fields = visit_component(
            map,
            |r| &r.loaders,
            "loader",
            "type",
            &["num_workers", "checkpoint_interval"],
            |key, map| {
                if key == "num_workers" {
                    num_workers = map.next_value()?;
                } else {
                    checkpoint_interval = map.next_value()?;
                }
                Ok(())
            },
        )?;
        Ok(LoaderConfig {
            name: fields.name,
            params: fields.params,
            num_workers,
            checkpoint_interval,
        })
    }
);

component_deserialize!(
    OperatorConfig,
    "an operator: {name, params, enabled}",
    |map| {
        let mut enabled = true;
        let fields = visit_component(
            map,
            |r| &r.operators,
            "operator",
            "name",
            &["enabled"],
            |_, map| {
                enabled = map.next_value()?;
                Ok(())
            },
        )?;
        Ok(OperatorConfig {
            name: fields.name,
            params: fields.params,
            enabled,
        })
    }
);

component_deserialize!(WriterConfig, "a writer: {type, params}", |map| {
    let fields = visit_component(map, |r| &r.writers, "writer", "type", &[], |_, _| Ok(()))?;
    Ok(WriterConfig {
        name: fields.name,
        params: fields.params,
    })
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{DataWriter, Loader};
    use crate::operator::{Operator, OperatorKind, Verdicts};
    use crate::registry::{Component, Params};
    use arrow::record_batch::RecordBatch;
    use schemars::JsonSchema;

    #[derive(Debug, Serialize, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct LenParams {
        #[serde(default)]
        min_length: u64,
        #[serde(default)]
        max_length: Option<u64>,
    }
    impl Params for LenParams {
        fn check(&self) -> std::result::Result<(), String> {
            match self.max_length {
                Some(max) if max < self.min_length => Err("max_length < min_length".into()),
                _ => Ok(()),
            }
        }
    }
    struct Noop;
    impl Operator for Noop {
        fn process(&mut self, b: RecordBatch, _: &mut Verdicts) -> Result<RecordBatch> {
            Ok(b)
        }
    }
    struct LenOp;
    impl Component for LenOp {
        type Built = dyn Operator;
        type Params = LenParams;
        const NAME: &'static str = "text_length_filter";
        const KIND: OperatorKind = OperatorKind::Filter;
        const SUMMARY: &'static str = "test";
        fn build(_: LenParams) -> Result<Box<dyn Operator>> {
            Ok(Box::new(Noop))
        }
    }
    #[derive(Debug, Serialize, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct PathParams {
        output_path: String,
    }
    impl Params for PathParams {}
    struct L;
    impl Component for L {
        type Built = dyn Loader;
        type Params = PathParams;
        const NAME: &'static str = "JsonlLoader";
        const KIND: OperatorKind = OperatorKind::Loader;
        const SUMMARY: &'static str = "test";
        fn build(_: PathParams) -> Result<Box<dyn Loader>> {
            Err(MdfError::internal("not built in tests"))
        }
    }
    struct W;
    impl Component for W {
        type Built = dyn DataWriter;
        type Params = PathParams;
        const NAME: &'static str = "ParquetDataWriter";
        const KIND: OperatorKind = OperatorKind::Writer;
        const SUMMARY: &'static str = "test";
        fn build(_: PathParams) -> Result<Box<dyn DataWriter>> {
            Err(MdfError::internal("not built in tests"))
        }
    }

    fn registry() -> Arc<Registry> {
        let mut r = Registry::default();
        r.register_operator::<LenOp>();
        r.register_loader::<L>();
        r.register_writer::<W>();
        Arc::new(r)
    }

    const GOOD: &str = "\
data_loader:
  type: JsonlLoader
  params:
    output_path: in
stages:
  - name: basic
    operators:
      - name: text_length_filter
        params:
          min_length: 10
data_writer:
  type: ParquetDataWriter
  params:
    output_path: out
executor:
  batch_size: 500
";

    fn parse(text: &str, overrides: &[&str]) -> Result<PipelineConfig> {
        let src = ConfigSource {
            name: "pipe.yaml".into(),
            text: text.into(),
        };
        let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        parse_config(&src, &o, &registry())
    }

    fn err(text: &str) -> String {
        match parse(text, &[]) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("config should not parse"),
        }
    }

    #[test]
    fn resolves_params_with_defaults() {
        let c = parse(GOOD, &[]).expect("valid");
        let op = &c.stages[0].operators[0];
        assert_eq!(op.params["min_length"], 10);
        assert!(op.params["max_length"].is_null());
        assert!(op.enabled);
        assert_eq!(c.executor.batch_size, 500);
    }

    #[test]
    fn typo_in_params_points_at_line_with_suggestion() {
        let msg = err(&GOOD.replace("min_length: 10", "min_lenght: 10"));
        assert!(msg.starts_with("pipe.yaml:10:"), "{msg}");
        assert!(msg.contains("unknown field `min_lenght`"), "{msg}");
        assert!(msg.contains("did you mean `min_length`"), "{msg}");
    }

    #[test]
    fn wrong_type_and_unknown_operator_are_located() {
        let msg = err(&GOOD.replace("min_length: 10", "min_length: ten"));
        assert!(msg.starts_with("pipe.yaml:10:"), "{msg}");
        let msg = err(&GOOD.replace("name: text_length_filter", "name: text_lenght_filter"));
        assert!(msg.starts_with("pipe.yaml:8:"), "{msg}");
        assert!(msg.contains("did you mean `text_length_filter`"), "{msg}");
        let msg = err(&GOOD.replace("batch_size", "batch_sise"));
        assert!(msg.starts_with("pipe.yaml:16:"), "{msg}");
        assert!(msg.contains("did you mean `batch_size`"), "{msg}");
    }

    #[test]
    fn params_check_runs_at_parse_time() {
        let msg = err(&GOOD.replace("min_length: 10", "min_length: 10\n          max_length: 5"));
        assert!(msg.contains("max_length < min_length"), "{msg}");
        assert!(msg.starts_with("pipe.yaml:"), "{msg}");
    }

    #[test]
    fn overrides_apply_before_validation() {
        let c = parse(
            GOOD,
            &[
                "executor.batch_size=7",
                "stages.0.operators.0.params.max_length=99",
            ],
        )
        .expect("valid");
        assert_eq!(c.executor.batch_size, 7);
        assert_eq!(c.stages[0].operators[0].params["max_length"], 99);
        assert!(parse(GOOD, &["stages.3.name=x"]).is_err());
    }

    #[test]
    fn bad_ray_address_is_located() {
        let msg = err(&GOOD.replace("batch_size: 500", "batch_size: 500\n  address: head-node"));
        assert!(msg.starts_with("pipe.yaml:17:"), "{msg}");
        assert!(msg.contains("not a Ray address"), "{msg}");
        for good in ["auto", "local", "10.0.0.1:6379", "ray://head:10001"] {
            let text = GOOD.replace("batch_size: 500", &format!("type: ray\n  address: {good}"));
            let c = parse(&text, &[]).expect("valid address");
            assert_eq!(c.executor.address.as_deref(), Some(good));
            assert_eq!(c.executor.executor_type, ExecutorType::Ray);
        }
    }

    #[test]
    fn resolved_config_round_trips() {
        let c = parse(GOOD, &[]).expect("valid");
        let json = serde_json::to_string(&c).expect("serialise");
        let src = ConfigSource {
            name: "manifest".into(),
            text: json,
        };
        let again = parse_config(&src, &[], &registry()).expect("reparse");
        assert_eq!(c, again);
    }
}
