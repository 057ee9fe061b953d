//! The Python exception hierarchy. Every engine error maps to one class by what the caller does
//! about it; panics are caught before they reach Python.

use mdf_core::{ErrorClass, MdfError};
use pyo3::exceptions::{PyException, PyKeyboardInterrupt};
use pyo3::prelude::*;

pyo3::create_exception!(
    _native,
    MdfBaseError,
    PyException,
    "Base class of every mdf error."
);
pyo3::create_exception!(
    _native,
    ConfigError,
    MdfBaseError,
    "The config or command line is invalid; nothing ran."
);
pyo3::create_exception!(
    _native,
    DataError,
    MdfBaseError,
    "Input data could not be read."
);
pyo3::create_exception!(
    _native,
    StorageError,
    MdfBaseError,
    "Storage or network I/O failed (retryable)."
);
pyo3::create_exception!(
    _native,
    OperatorError,
    MdfBaseError,
    "A user-supplied operator failed."
);
pyo3::create_exception!(
    _native,
    InternalError,
    MdfBaseError,
    "An engine invariant broke (a bug: please report it)."
);

pub fn to_py(err: MdfError) -> PyErr {
    let msg = err.to_string();
    match err.class() {
        ErrorClass::Config => ConfigError::new_err(msg),
        ErrorClass::BadInput => DataError::new_err(msg),
        ErrorClass::RetryableIo => StorageError::new_err(msg),
        ErrorClass::UserCode => OperatorError::new_err(msg),
        ErrorClass::Internal => InternalError::new_err(msg),
        ErrorClass::Interrupted => PyKeyboardInterrupt::new_err(msg),
    }
}

pub fn add_to_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("MdfBaseError", py.get_type::<MdfBaseError>())?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    m.add("DataError", py.get_type::<DataError>())?;
    m.add("StorageError", py.get_type::<StorageError>())?;
    m.add("OperatorError", py.get_type::<OperatorError>())?;
    m.add("InternalError", py.get_type::<InternalError>())?;
    Ok(())
}
