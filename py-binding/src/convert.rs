//! Conversions between Python values and the core's types.
//!
//! Integers arrive as arbitrary-precision Python ints; one that does not fit an `i64` is refused
//! with the code of the argument's rule instead of a bare `OverflowError`. Structured answers
//! cross as the core's own serde JSON, parsed by Python's `json`, so the Python side sees exactly
//! the shapes the conformance vectors describe.

use leasekit_core::{ErrorCode, TokenDigest, UnixMillis};
use pyo3::exceptions::PyOverflowError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyInt, PyString};
use serde::Serialize;

use crate::errors;

static JSON_LOADS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static JSON_DUMPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// A Python int as an `i64`, refused with `code` naming `field` when it does not fit.
pub fn int_arg(field: &str, code: ErrorCode, value: &Bound<'_, PyAny>) -> PyResult<i64> {
    let py = value.py();
    if !value.is_instance_of::<PyInt>() || value.is_instance_of::<PyBool>() {
        return Err(wrong_type(field, code, "an int", value));
    }
    value.extract::<i64>().map_err(|err| {
        if err.is_instance_of::<PyOverflowError>(py) {
            let message = format!("{field} {value}: does not fit a 64-bit integer");
            errors::raise(py, code, field, &message)
        } else {
            err
        }
    })
}

/// A Python `str`, refused with `code` naming `field` when it is anything else.
pub fn text_arg(field: &str, code: ErrorCode, value: &Bound<'_, PyAny>) -> PyResult<String> {
    match value.cast::<PyString>() {
        Ok(text) => text.to_str().map(str::to_owned).map_err(|_| {
            let message = format!("{field}: must be valid Unicode text (no lone surrogates)");
            errors::raise(value.py(), code, field, &message)
        }),
        Err(_) => Err(wrong_type(field, code, "a str", value)),
    }
}

/// A Python `bool` (not merely a truthy value: `"false"` must not take over a lease).
pub fn flag_arg(field: &str, value: &Bound<'_, PyAny>) -> PyResult<bool> {
    match value.cast::<PyBool>() {
        Ok(flag) => Ok(flag.is_true()),
        Err(_) => Err(wrong_type(
            field,
            ErrorCode::InvalidDocument,
            "a bool",
            value,
        )),
    }
}

pub fn wrong_type(field: &str, code: ErrorCode, expected: &str, value: &Bound<'_, PyAny>) -> PyErr {
    let py = value.py();
    let kind = value
        .get_type()
        .name()
        .map_or_else(|_| "another type".to_owned(), |name| name.to_string());
    let message = format!("{field}: must be {expected}, not {kind}");
    errors::raise(py, code, field, &message)
}

/// A Python int of UTC milliseconds as an instant in the safe range.
pub fn millis_arg(field: &'static str, value: &Bound<'_, PyAny>) -> PyResult<UnixMillis> {
    let ms = int_arg(field, ErrorCode::TimeOutOfRange, value)?;
    UnixMillis::for_field(field, ms).map_err(|err| errors::lease_error(value.py(), &err))
}

/// A token digest: exactly 32 `bytes`.
pub fn digest_arg(value: &Bound<'_, PyAny>) -> PyResult<TokenDigest> {
    let Ok(bytes) = value.cast::<PyBytes>() else {
        return Err(wrong_type(
            "token_digest",
            ErrorCode::InvalidDigest,
            "bytes",
            value,
        ));
    };
    let raw = <[u8; 32]>::try_from(bytes.as_bytes()).map_err(|_| {
        let message = format!(
            "token_digest: must be the 32 bytes of a SHA-256 digest, not {} bytes",
            bytes.as_bytes().len()
        );
        errors::raise(
            value.py(),
            ErrorCode::InvalidDigest,
            "token_digest",
            &message,
        )
    })?;
    Ok(TokenDigest::from_bytes(raw))
}

/// A serde value as the Python object `json.loads` makes of it.
pub fn to_python<'py, T: Serialize>(py: Python<'py>, value: &T) -> PyResult<Bound<'py, PyAny>> {
    let text = serde_json::to_string(value)
        .map_err(|err| errors::raise(py, ErrorCode::InvalidDocument, "$", &err.to_string()))?;
    JSON_LOADS.import(py, "json", "loads")?.call1((text,))
}

/// A Python document (a `str` of JSON, or JSON-compatible values) as JSON text; anything else
/// is refused with `code` naming `field`.
pub fn json_text(field: &str, code: ErrorCode, document: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(text) = document.extract::<String>() {
        return Ok(text);
    }
    let py = document.py();
    JSON_DUMPS
        .import(py, "json", "dumps")?
        .call1((document,))
        .and_then(|text| text.extract::<String>())
        .map_err(|err| {
            let message = format!("{field}: must be JSON text or JSON-compatible values ({err})");
            errors::raise(py, code, field, &message)
        })
}
