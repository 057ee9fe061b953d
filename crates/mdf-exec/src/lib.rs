//! Planner and local executor. A config becomes a [`Plan`] (shards × operators, global steps
//! split out); the [`local`] runner runs the per-shard task ([`task::run_shard`]) on N worker
//! threads and keeps the run directory ([`rundir`]) that makes runs resumable. The Ray runner
//! (Python) drives the same [`runner`] and [`task`] functions through `mega_data_factory._native`.

pub mod allocator;
pub mod global;
pub mod local;
pub mod plan;
pub mod progress;
mod rejects;
pub mod rundir;
pub mod runner;
mod staging;
pub mod task;

use std::sync::Arc;

use mdf_core::Registry;

pub use local::{run_local, RunOptions};
pub use plan::Plan;
pub use progress::ProgressMode;
pub use runner::{finalize_run, prepare_run, PreparedRun, RunFacts, RunSummary};

/// A registry holding every built-in operator, loader and writer.
pub fn builtin_registry() -> Registry {
    let mut registry = Registry::default();
    mdf_io::register(&mut registry);
    mdf_text::register(&mut registry);
    mdf_image::register(&mut registry);
    mdf_dedup::register(&mut registry);
    mdf_html::register(&mut registry);
    mdf_warc::register(&mut registry);
    registry
}

/// Convenience for callers that do not add their own components.
pub fn shared_builtin_registry() -> Arc<Registry> {
    Arc::new(builtin_registry())
}
