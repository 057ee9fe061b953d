//! Core of Mega Data Factory: the batch model, operator traits, the registry, configs, errors and
//! stats. Everything else (IO, operators, executors, the Python binding) builds on these types.

pub mod batch;
pub mod config;
pub mod error;
pub mod global;
pub mod io;
pub mod operator;
pub mod registry;
pub mod stats;
pub mod xorshift;

pub use error::{ErrorClass, MdfError, Result};
pub use operator::{Operator, OperatorKind, Verdicts};
pub use registry::{Component, Params, Registry};

/// The engine version recorded in run manifests.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
