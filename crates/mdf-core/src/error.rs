//! One error type for the whole engine, with variants grouped by what the caller does about them:
//! a config error stops the run before any work, bad input is counted and rejected while the run
//! goes on, I/O may be retried, and a bug aborts with a message asking for a report.

use std::path::PathBuf;

/// What a caller should do with an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Fix the config or the command line; nothing has run.
    Config,
    /// One record or one input file is bad: count it, write it to `rejects/`, go on.
    BadInput,
    /// Storage or network failed: the shard can be retried.
    RetryableIo,
    /// Code supplied by the user (a Python operator) raised.
    UserCode,
    /// An invariant of the engine broke: a bug.
    Internal,
    /// The user stopped the run (Ctrl-C); completed shards stay committed.
    Interrupted,
}

#[derive(Debug, thiserror::Error)]
pub enum MdfError {
    #[error("{0}")]
    Config(String),
    #[error("bad input in {source_name}: {reason}")]
    BadInput { source_name: String, reason: String },
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    UserCode(String),
    #[error("internal error (please report it): {0}")]
    Internal(String),
    #[error("interrupted; completed shards are kept and a rerun resumes")]
    Interrupted,
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
}

impl MdfError {
    pub fn class(&self) -> ErrorClass {
        match self {
            MdfError::Config(_) => ErrorClass::Config,
            MdfError::BadInput { .. } => ErrorClass::BadInput,
            MdfError::Io { .. } => ErrorClass::RetryableIo,
            MdfError::UserCode(_) => ErrorClass::UserCode,
            MdfError::Internal(_) | MdfError::Arrow(_) => ErrorClass::Internal,
            MdfError::Interrupted => ErrorClass::Interrupted,
        }
    }

    pub fn config(msg: impl Into<String>) -> Self {
        MdfError::Config(msg.into())
    }

    pub fn internal(msg: impl Into<String>) -> Self {
        MdfError::Internal(msg.into())
    }

    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        MdfError::Io {
            path: path.into(),
            source,
        }
    }

    /// An I/O error saying that the file or object does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, MdfError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }

    pub fn bad_input(source_name: impl Into<String>, reason: impl Into<String>) -> Self {
        MdfError::BadInput {
            source_name: source_name.into(),
            reason: reason.into(),
        }
    }
}

pub type Result<T, E = MdfError> = std::result::Result<T, E>;
