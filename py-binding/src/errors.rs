//! Core errors as the exception classes of `leasekit.errors`.
//!
//! The classes live in Python so that they can carry rich attributes and be subclassed by a
//! host application; this module builds them through `leasekit.errors._from_native`, imported
//! once and cached. Every error names the argument at fault, and none ever quotes a token.

use leasekit_core::{ErrorCode, LeaseError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

static FROM_NATIVE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The exception for `code`, naming `field`, with `message`.
///
/// A message that does not mention the argument by its Python name (the core says "heartbeat
/// interval" for `interval_ms`) is prefixed with it, so every message names what to fix.
pub fn raise(py: Python<'_>, code: ErrorCode, field: &str, message: &str) -> PyErr {
    let message = if message.contains(field) {
        message.to_owned()
    } else {
        format!("{field}: {message}")
    };
    let built = FROM_NATIVE
        .import(py, "leasekit.errors", "_from_native")
        .and_then(|factory| factory.call1((code.as_str(), field, message)));
    match built {
        Ok(exception) => PyErr::from_value(exception),
        Err(import_failure) => import_failure,
    }
}

/// The exception for a core error.
pub fn lease_error(py: Python<'_>, error: &LeaseError) -> PyErr {
    raise(py, error.code(), field_of(error), &error.to_string())
}

/// The same, for `map_err` in code that holds no `Python` token.
#[allow(clippy::needless_pass_by_value)] // shaped to be passed to `map_err` as it is
pub fn to_py(error: LeaseError) -> PyErr {
    Python::attach(|py| lease_error(py, &error))
}

/// The Python argument a core error is about.
fn field_of(error: &LeaseError) -> &str {
    match error {
        LeaseError::InvalidScope { .. } => "scope",
        LeaseError::InvalidResourceId { field, .. } | LeaseError::TimeOutOfRange { field, .. } => {
            field
        }
        LeaseError::InvalidOwner { .. } => "owner",
        LeaseError::InvalidSessionId { .. } => "session_id",
        LeaseError::InvalidToken => "token",
        LeaseError::InvalidDigest => "token_digest",
        LeaseError::InvalidInterval { .. } => "interval_ms",
        LeaseError::InvalidBeats { .. } => "beats",
        LeaseError::InvalidMargin { .. } => "margin_ms",
        LeaseError::InvalidSample { .. } => "sample",
        LeaseError::FenceOutOfRange { .. } => "fence",
        LeaseError::InvalidRecord { .. } => "record",
        LeaseError::InvalidDocument { field, .. } => field,
    }
}
