//! A record as a row of the store's `leases` table, for writers that share the `SQLite` schema.
//!
//! The `SQLAlchemy` adapter reads and writes the same columns as the Rust store
//! (`leasekit_core::store`), so one file can be served by either. Columns follow that schema
//! exactly: the lease fields, the token's 32-byte digest, and the two derived columns
//! `stale_after_ms` and `expires_at`, which must agree with the others. Every row is checked
//! by the core on the way in; a row that breaks the model is refused as `invalid_record`.

use leasekit_core::{ErrorCode, LeaseRecord, LeaseState, ResourceId, Scope, TokenDigest};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyDict, PyInt, PyMemoryView, PyString};
use serde_json::{Map, Value};

use crate::errors;
use crate::record::Record;

/// The columns of `leases`, in schema order.
pub const COLUMNS: [&str; 15] = [
    "scope",
    "resource_id",
    "fence",
    "state",
    "owner",
    "session_id",
    "token_digest",
    "acquired_at",
    "heartbeat_at",
    "interval_ms",
    "beats",
    "stale_after_ms",
    "expires_at",
    "end_reason",
    "ended_at",
];

/// Columns copied into the record's flat JSON form as they are.
const PLAIN_COLUMNS: [&str; 10] = [
    "fence",
    "state",
    "owner",
    "session_id",
    "acquired_at",
    "heartbeat_at",
    "interval_ms",
    "beats",
    "end_reason",
    "ended_at",
];

fn invalid(py: Python<'_>, rule: &str) -> PyErr {
    errors::raise(
        py,
        ErrorCode::InvalidRecord,
        "row",
        &format!("leases row: {rule}"),
    )
}

/// One column value as JSON: `None`, an int, a str, or the digest's bytes as hex.
fn column_value(column: &str, value: &Bound<'_, PyAny>) -> PyResult<Value> {
    let py = value.py();
    if value.is_none() {
        return Ok(Value::Null);
    }
    if value.is_instance_of::<PyInt>() && !value.is_instance_of::<PyBool>() {
        let number = value.extract::<i64>().map_err(|_| {
            invalid(
                py,
                &format!("{column} {value} does not fit a 64-bit integer"),
            )
        })?;
        return Ok(Value::from(number));
    }
    if let Ok(text) = value.cast::<PyString>() {
        return Ok(Value::from(text.to_str()?));
    }
    // Drivers hand BLOB and bytea columns back as bytes, bytearray or memoryview.
    let buffer = if value.is_instance_of::<PyByteArray>() || value.is_instance_of::<PyMemoryView>()
    {
        Some(
            py.get_type::<PyBytes>()
                .call1((value,))?
                .cast_into::<PyBytes>()?,
        )
    } else {
        value.cast::<PyBytes>().ok().cloned()
    };
    if let Some(bytes) = buffer {
        let digest = <[u8; 32]>::try_from(bytes.as_bytes())
            .map_err(|_| invalid(py, &format!("{column} must be 32 bytes")))?;
        return Ok(Value::from(TokenDigest::from_bytes(digest).to_hex()));
    }
    let kind = value.get_type().name()?;
    Err(invalid(
        py,
        &format!("{column} must be None, int, str or bytes, not {kind}"),
    ))
}

/// Checks a row's keys and names, then builds the record from its columns.
pub fn record_from_row(row: &Bound<'_, PyAny>) -> PyResult<Record> {
    let py = row.py();
    let row = match row.cast::<PyDict>() {
        Ok(dict) => dict.clone(),
        Err(_) => py
            .get_type::<PyDict>()
            .call1((row,))
            .and_then(|dict| Ok(dict.cast_into::<PyDict>()?))
            .map_err(|_| invalid(py, "must be a mapping of column names to values"))?,
    };
    for key in row.keys() {
        let name = key.extract::<String>().unwrap_or_default();
        if !COLUMNS.contains(&name.as_str()) {
            return Err(invalid(py, &format!("unknown column {key}")));
        }
    }

    let mut columns = Map::new();
    for column in COLUMNS {
        let value = row
            .get_item(column)?
            .ok_or_else(|| invalid(py, &format!("column {column} is missing")))?;
        columns.insert(column.to_owned(), column_value(column, &value)?);
    }
    check_key(py, &columns)?;

    let mut doc = Map::new();
    for column in PLAIN_COLUMNS {
        let value = columns[column].clone();
        if !value.is_null() {
            doc.insert(column.to_owned(), value);
        }
    }
    if let Some(digest) = columns["token_digest"].as_str() {
        doc.insert("token_digest".to_owned(), Value::from(digest));
    }
    let record: LeaseRecord =
        serde_json::from_value(Value::Object(doc)).map_err(|err| invalid(py, &err.to_string()))?;

    check_derived(py, &record, &columns)?;
    Ok(Record::new(record))
}

fn check_key(py: Python<'_>, columns: &Map<String, Value>) -> PyResult<()> {
    let text = |column: &str| columns[column].as_str().map(str::to_owned);
    let scope = text("scope").ok_or_else(|| invalid(py, "scope must be a str"))?;
    let resource_id =
        text("resource_id").ok_or_else(|| invalid(py, "resource_id must be a str"))?;
    Scope::new(scope).map_err(|err| errors::lease_error(py, &err))?;
    ResourceId::for_field("resource_id", resource_id)
        .map_err(|err| errors::lease_error(py, &err))?;
    Ok(())
}

/// `stale_after_ms` and `expires_at` are stored for the sweep index; they must match the lease.
fn check_derived(
    py: Python<'_>,
    record: &LeaseRecord,
    columns: &Map<String, Value>,
) -> PyResult<()> {
    let expected = derived(record);
    for (column, value) in [("stale_after_ms", expected.0), ("expires_at", expected.1)] {
        let stored = columns[column].as_i64();
        if stored != value {
            let rule = format!("{column} is {stored:?} but the lease's terms give {value:?}");
            return Err(invalid(py, &rule));
        }
    }
    Ok(())
}

fn derived(record: &LeaseRecord) -> (Option<i64>, Option<i64>) {
    let lease = match record.state() {
        LeaseState::Vacant => None,
        LeaseState::Held(lease) | LeaseState::Ended { lease, .. } => Some(lease),
    };
    (
        lease.map(|lease| lease.terms().stale_after_ms()),
        lease.map(|lease| lease.expires_at().as_millis()),
    )
}

/// The row of `record` for the resource `scope`/`resource_id`, keyed by column in schema order.
pub fn row_from_record<'py>(
    py: Python<'py>,
    record: &LeaseRecord,
    scope: &Scope,
    resource_id: &ResourceId,
) -> PyResult<Bound<'py, PyDict>> {
    let record_json = serde_json::to_value(record).map_err(|err| invalid(py, &err.to_string()))?;
    let lease = match record.state() {
        LeaseState::Vacant => None,
        LeaseState::Held(lease) | LeaseState::Ended { lease, .. } => Some(lease),
    };
    let (stale_after_ms, expires_at) = derived(record);

    let row = PyDict::new(py);
    for column in COLUMNS {
        match column {
            "scope" => row.set_item(column, scope.as_str())?,
            "resource_id" => row.set_item(column, resource_id.as_str())?,
            "token_digest" => row.set_item(
                column,
                lease.map(|lease| PyBytes::new(py, lease.token_digest().as_bytes())),
            )?,
            "stale_after_ms" => row.set_item(column, stale_after_ms)?,
            "expires_at" => row.set_item(column, expires_at)?,
            plain => match record_json.get(plain) {
                Some(Value::Number(number)) => row.set_item(column, number.as_i64())?,
                Some(Value::String(text)) => row.set_item(column, text)?,
                _ => row.set_item(column, py.None())?,
            },
        }
    }
    Ok(row)
}
