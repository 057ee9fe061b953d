//! The registry: every operator, loader and writer by its config name. An entry knows its typed
//! params (validated while the YAML is parsed, so errors carry the line), the JSON schema of those
//! params (for `mdf ops describe`) and how to build an instance inside a worker.
//!
//! A Rust component is one [`Component`] impl plus one `register` line. Python operators register
//! dynamic entries through the binding crate.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{MdfError, Result};
use crate::io::{DataWriter, Loader};
use crate::operator::{Operator, OperatorKind};

/// Typed params of a component. `check` runs right after parsing, so a bad value is reported at
/// its line in the config.
pub trait Params: DeserializeOwned + Serialize + JsonSchema + Send + Sync + 'static {
    fn check(&self) -> std::result::Result<(), String> {
        Ok(())
    }
}

/// A statically typed component (operator, loader or writer).
pub trait Component: 'static {
    /// What it builds: `dyn Operator`, `dyn Loader` or `dyn DataWriter`.
    type Built: ?Sized;
    type Params: Params;
    /// The config name (`text_length_filter`, `JsonlLoader`).
    const NAME: &'static str;
    const KIND: OperatorKind;
    /// One line for `mdf ops list`.
    const SUMMARY: &'static str;
    fn build(params: Self::Params) -> Result<Box<Self::Built>>;
}

/// The type-erased view of a registry entry.
pub trait Entry<T: ?Sized>: Send + Sync {
    fn name(&self) -> &str;
    fn kind(&self) -> OperatorKind;
    fn summary(&self) -> &str;
    /// JSON schema of the params (with docs and defaults).
    fn params_schema(&self) -> serde_json::Value;
    /// Parses and checks params, returning them resolved (defaults filled in) as JSON.
    fn resolve_params(
        &self,
        de: &mut dyn erased_serde::Deserializer<'_>,
    ) -> std::result::Result<serde_json::Value, erased_serde::Error>;
    /// Builds an instance from resolved params (called once per worker).
    fn build(&self, params: &serde_json::Value) -> Result<Box<T>>;
}

struct StaticEntry<C>(std::marker::PhantomData<fn() -> C>);

impl<C: Component> Entry<C::Built> for StaticEntry<C> {
    fn name(&self) -> &str {
        C::NAME
    }
    fn kind(&self) -> OperatorKind {
        C::KIND
    }
    fn summary(&self) -> &str {
        C::SUMMARY
    }
    fn params_schema(&self) -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(C::Params)).unwrap_or_default()
    }
    fn resolve_params(
        &self,
        de: &mut dyn erased_serde::Deserializer<'_>,
    ) -> std::result::Result<serde_json::Value, erased_serde::Error> {
        use serde::de::Error as _;
        let params: C::Params = erased_serde::deserialize(de)?;
        params.check().map_err(erased_serde::Error::custom)?;
        serde_json::to_value(&params).map_err(erased_serde::Error::custom)
    }
    fn build(&self, params: &serde_json::Value) -> Result<Box<C::Built>> {
        let typed: C::Params = serde_json::from_value(params.clone())
            .map_err(|e| MdfError::config(format!("{}: invalid params: {e}", C::NAME)))?;
        C::build(typed)
    }
}

/// All entries of one family, by name.
pub struct Catalog<T: ?Sized> {
    entries: BTreeMap<String, Arc<dyn Entry<T>>>,
}

impl<T: ?Sized> Default for Catalog<T> {
    fn default() -> Self {
        Catalog {
            entries: BTreeMap::new(),
        }
    }
}

impl<T: ?Sized> Catalog<T> {
    pub fn insert(&mut self, entry: Arc<dyn Entry<T>>) {
        self.entries.insert(entry.name().to_owned(), entry);
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn Entry<T>>> {
        self.entries.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    pub fn entries(&self) -> impl Iterator<Item = &Arc<dyn Entry<T>>> {
        self.entries.values()
    }

    /// The entry, or an error listing the known names with a did-you-mean.
    pub fn lookup(
        &self,
        family: &str,
        name: &str,
    ) -> std::result::Result<&Arc<dyn Entry<T>>, String> {
        self.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.names().collect();
            let mut msg = format!("unknown {family} `{name}`");
            if let Some(best) = did_you_mean(name, known.iter().copied()) {
                msg.push_str(&format!(" (did you mean `{best}`?)"));
            }
            msg.push_str(&format!("; known: {}", known.join(", ")));
            msg
        })
    }
}

/// Every component the engine knows.
#[derive(Default)]
pub struct Registry {
    pub operators: Catalog<dyn Operator>,
    pub loaders: Catalog<dyn Loader>,
    pub writers: Catalog<dyn DataWriter>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("operators", &self.operators.names().collect::<Vec<_>>())
            .field("loaders", &self.loaders.names().collect::<Vec<_>>())
            .field("writers", &self.writers.names().collect::<Vec<_>>())
            .finish()
    }
}

impl Registry {
    pub fn register_operator<C: Component<Built = dyn Operator>>(&mut self) {
        self.operators
            .insert(Arc::new(StaticEntry::<C>(Default::default())));
    }

    pub fn register_loader<C: Component<Built = dyn Loader>>(&mut self) {
        self.loaders
            .insert(Arc::new(StaticEntry::<C>(Default::default())));
    }

    pub fn register_writer<C: Component<Built = dyn DataWriter>>(&mut self) {
        self.writers
            .insert(Arc::new(StaticEntry::<C>(Default::default())));
    }
}

/// The closest known name to `name`, if it is close enough to be a typo.
pub fn did_you_mean<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    known
        .into_iter()
        .map(|k| {
            (
                strsim::jaro_winkler(&name.to_lowercase(), &k.to_lowercase()),
                k,
            )
        })
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_you_mean_finds_typos_only() {
        let known = ["min_length", "max_length", "text_field"];
        assert_eq!(did_you_mean("min_lenght", known), Some("min_length"));
        assert_eq!(did_you_mean("text_feild", known), Some("text_field"));
        assert_eq!(did_you_mean("colour", known), None);
    }
}
