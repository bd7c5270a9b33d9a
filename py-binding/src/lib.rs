//! `leasekit._native`: the Rust core and its `SQLite` store, exposed to Python.
//!
//! This module is private. The package `leasekit` wraps it in a typed, idiomatic API (immutable
//! results with aware datetimes, exceptions for refusals, logging of transitions); the stub
//! `_native.pyi` documents what it offers. Every lease decision is the core's: nothing here
//! re-implements a rule.

mod clock;
mod convert;
mod errors;
mod logbridge;
mod record;
mod row;
mod rules;
mod store;

use pyo3::prelude::*;

/// The native half of leasekit.
#[pymodule]
mod _native {
    use leasekit_core::store::LeaseToken;
    use leasekit_core::{ErrorCode, Owner, TokenDigest, ALL_CODES};
    use pyo3::prelude::*;
    use pyo3::types::PyBytes;

    use crate::convert::text_arg;
    use crate::errors;

    #[pymodule_export]
    use crate::clock::ManualClock;

    #[pymodule_export]
    use crate::record::Record;

    #[pymodule_export]
    use crate::store::Store;

    #[pymodule_export]
    use crate::rules::{acquire, heartbeat, release, sweep, view};

    /// The pattern every resource id must match, for API documents; the core enforces it.
    #[pymodule_export]
    const RESOURCE_ID_PATTERN: &str = leasekit_core::RESOURCE_ID_PATTERN;

    /// The package version, from Cargo.
    #[pymodule_export]
    #[allow(non_upper_case_globals)]
    const __version__: &str = env!("CARGO_PKG_VERSION");

    #[pymodule_init]
    fn init() {
        crate::logbridge::install();
    }

    /// A fresh lease token from the operating system's CSPRNG and its SHA-256 digest.
    #[pyfunction]
    fn new_token(py: Python<'_>) -> PyResult<(String, Bound<'_, PyBytes>)> {
        let (token, digest) = LeaseToken::generate()
            .map_err(|err| errors::raise(py, err.code(), "token", &err.to_string()))?;
        Ok((token.into_exposed(), PyBytes::new(py, digest.as_bytes())))
    }

    /// Every stable error code of the core, in its declaration order.
    #[pyfunction]
    fn error_codes() -> Vec<&'static str> {
        ALL_CODES.iter().map(|code| code.as_str()).collect()
    }

    /// Checks an owner by the core's rule (1 to 128 printable characters), for callers that
    /// accept principals before any lease operation (a service's principals file).
    #[pyfunction]
    fn check_owner(owner: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = owner.py();
        let owner = text_arg("owner", ErrorCode::InvalidOwner, owner)?;
        Owner::new(owner)
            .map(|_| ())
            .map_err(|err| errors::lease_error(py, &err))
    }

    /// The SHA-256 digest (32 bytes) of a lease token, as the core computes it.
    #[pyfunction]
    fn token_digest<'py>(token: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
        let py = token.py();
        let token = text_arg("token", ErrorCode::InvalidToken, token)?;
        let digest = TokenDigest::of_token(&token).map_err(|err| errors::lease_error(py, &err))?;
        Ok(PyBytes::new(py, digest.as_bytes()))
    }
}
