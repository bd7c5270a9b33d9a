//! `Record`: one resource's stored lease state, validated by the core on the way in.
//!
//! The `SQLAlchemy` adapter keeps records in its own tables and asks the core for decisions, so a
//! record must cross into Python and back without losing a field or admitting an invalid one.
//! It is immutable; a decision hands back a new one.

use leasekit_core::{EndReason, ErrorCode, LeaseRecord, LeaseState, ResourceId, Scope};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::convert::{self, text_arg};
use crate::errors;
use crate::row;

/// One resource's lease state: its last fence and its current or last lease.
#[pyclass(frozen, eq, module = "leasekit._native", name = "Record")]
#[derive(Clone, PartialEq, Eq)]
pub struct Record {
    pub(crate) inner: LeaseRecord,
}

impl Record {
    pub(crate) fn new(inner: LeaseRecord) -> Self {
        Self { inner }
    }

    fn lease(&self) -> Option<&leasekit_core::Lease> {
        match self.inner.state() {
            LeaseState::Vacant => None,
            LeaseState::Held(lease) | LeaseState::Ended { lease, .. } => Some(lease),
        }
    }

    fn ended(&self) -> Option<(EndReason, i64)> {
        match self.inner.state() {
            LeaseState::Ended {
                reason, ended_at, ..
            } => Some((*reason, ended_at.as_millis())),
            _ => None,
        }
    }
}

#[pymethods]
impl Record {
    /// A resource never leased: fence 0.
    #[staticmethod]
    fn vacant() -> Self {
        Self::new(LeaseRecord::vacant())
    }

    /// Parses the flat JSON form (a `str`, or the `dict` that `to_json` returns).
    #[staticmethod]
    fn from_json(document: &Bound<'_, PyAny>) -> PyResult<Self> {
        let text = convert::json_text("record", ErrorCode::InvalidRecord, document)?;
        serde_json::from_str::<LeaseRecord>(&text)
            .map(Self::new)
            .map_err(|err| {
                let message = format!("record: {err}");
                errors::raise(document.py(), ErrorCode::InvalidRecord, "record", &message)
            })
    }

    /// Builds a record from a row of the store's `leases` table (a mapping of column names).
    #[staticmethod]
    fn from_row(row: &Bound<'_, PyAny>) -> PyResult<Self> {
        row::record_from_row(row)
    }

    /// The row of the store's `leases` table for this record of `scope`/`resource_id`.
    fn to_row<'py>(
        &self,
        py: Python<'py>,
        scope: &Bound<'py, PyAny>,
        resource_id: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let scope = text_arg("scope", ErrorCode::InvalidScope, scope)?;
        let resource_id = text_arg("resource_id", ErrorCode::InvalidResourceId, resource_id)?;
        let scope = Scope::new(scope).map_err(errors::to_py)?;
        let resource_id =
            ResourceId::for_field("resource_id", resource_id).map_err(errors::to_py)?;
        row::row_from_record(py, &self.inner, &scope, &resource_id)
    }

    /// The flat JSON form as a `dict`.
    fn to_json<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        convert::to_python(py, &self.inner)
    }

    /// The last fence handed out (0 if never leased).
    #[getter]
    fn fence(&self) -> u64 {
        self.inner.fence()
    }

    /// `"vacant"`, `"held"` or `"released"` (an ended lease, whatever ended it).
    #[getter]
    fn state(&self) -> &'static str {
        match self.inner.state() {
            LeaseState::Vacant => "vacant",
            LeaseState::Held(_) => "held",
            LeaseState::Ended { .. } => "released",
        }
    }

    /// The current or last holder's owner.
    #[getter]
    fn owner(&self) -> Option<String> {
        self.lease().map(|lease| lease.holder().owner.to_string())
    }

    /// The current or last holder's session.
    #[getter]
    fn session_id(&self) -> Option<String> {
        self.lease()
            .map(|lease| lease.holder().session_id.to_string())
    }

    /// The SHA-256 digest of the current or last lease's token (32 bytes).
    #[getter]
    fn token_digest<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.lease()
            .map(|lease| PyBytes::new(py, lease.token_digest().as_bytes()))
    }

    /// The heartbeat interval in milliseconds.
    #[getter]
    fn interval_ms(&self) -> Option<i64> {
        self.lease().map(|lease| lease.terms().interval_ms())
    }

    /// Missed beats before the lease is stale.
    #[getter]
    fn beats(&self) -> Option<i64> {
        self.lease().map(|lease| lease.terms().beats())
    }

    /// `beats × interval_ms`.
    #[getter]
    fn stale_after_ms(&self) -> Option<i64> {
        self.lease().map(|lease| lease.terms().stale_after_ms())
    }

    /// When the current or last holder was granted the lease.
    #[getter]
    fn acquired_at_ms(&self) -> Option<i64> {
        self.lease().map(|lease| lease.acquired_at().as_millis())
    }

    /// The last heartbeat of the current or last lease.
    #[getter]
    fn heartbeat_at_ms(&self) -> Option<i64> {
        self.lease().map(|lease| lease.heartbeat_at().as_millis())
    }

    /// `heartbeat_at_ms + stale_after_ms`: the last instant the lease is live.
    #[getter]
    fn expires_at_ms(&self) -> Option<i64> {
        self.lease().map(|lease| lease.expires_at().as_millis())
    }

    /// Why the last lease ended, when the record is released.
    #[getter]
    fn end_reason(&self) -> Option<&'static str> {
        self.ended().map(|(reason, _)| reason.as_str())
    }

    /// When the last lease ended, when the record is released.
    #[getter]
    fn ended_at_ms(&self) -> Option<i64> {
        self.ended().map(|(_, ended_at)| ended_at)
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, (String,))> {
        let text = serde_json::to_string(&slf.get().inner).map_err(|err| {
            errors::raise(
                slf.py(),
                ErrorCode::InvalidRecord,
                "record",
                &err.to_string(),
            )
        })?;
        Ok((slf.get_type().getattr("from_json")?, (text,)))
    }

    fn __repr__(&self) -> String {
        let mut parts = vec![
            format!("state={:?}", self.state()),
            format!("fence={}", self.fence()),
        ];
        if let Some(lease) = self.lease() {
            parts.push(format!("owner={:?}", lease.holder().owner.as_str()));
            parts.push(format!(
                "session_id={:?}",
                lease.holder().session_id.as_str()
            ));
            parts.push(format!(
                "heartbeat_at_ms={}",
                lease.heartbeat_at().as_millis()
            ));
        }
        if let Some((reason, _)) = self.ended() {
            parts.push(format!("end_reason={:?}", reason.as_str()));
        }
        format!("Record({})", parts.join(", "))
    }
}
