//! The core's pure rules, callable from Python with an explicit `now`.
//!
//! The `SQLAlchemy` adapter and the conformance tests hold records themselves and need decisions
//! without a store. Each function returns `(outcome, refusal, next, events)`: the outcome in the
//! core's serde JSON form, the refusal code (or `None`), the record to store (or `None` when
//! nothing changed) and the audit events. No rule is written here; the core decides.
//!
//! Arguments are checked in the order the conformance replayer checks them (time first), so a
//! call with several bad arguments reports the same code in every runtime.

use leasekit_core::{
    rules, AcquireRequest, Decision, ErrorCode, Holder, LeaseTerms, Owner, SessionId,
};
use pyo3::prelude::*;
use serde::Serialize;

use crate::convert::{self, digest_arg, flag_arg, int_arg, millis_arg, text_arg};
use crate::errors;
use crate::record::Record;

/// `(outcome, refusal code, next record, events)` as Python values.
pub type DecisionParts<'py> = (
    Bound<'py, PyAny>,
    Option<&'static str>,
    Option<Record>,
    Bound<'py, PyAny>,
);

/// A `Record`, refused as an invalid record when it is anything else.
pub fn record_arg<'a, 'py>(record: &'a Bound<'py, PyAny>) -> PyResult<&'a Bound<'py, Record>> {
    record.cast::<Record>().map_err(|_| {
        convert::wrong_type(
            "record",
            ErrorCode::InvalidRecord,
            "a leasekit.rules.Record",
            record,
        )
    })
}

/// A core decision as Python values.
pub fn decision_parts<T: Serialize>(
    py: Python<'_>,
    decision: Decision<T>,
    refusal: Option<ErrorCode>,
) -> PyResult<DecisionParts<'_>> {
    Ok((
        convert::to_python(py, &decision.outcome)?,
        refusal.map(ErrorCode::as_str),
        decision.next.map(Record::new),
        convert::to_python(py, &decision.events)?,
    ))
}

/// The holder and terms of an acquire, validated by the core.
pub fn holder_arg(owner: &Bound<'_, PyAny>, session_id: &Bound<'_, PyAny>) -> PyResult<Holder> {
    let owner = text_arg("owner", ErrorCode::InvalidOwner, owner)?;
    let session_id = text_arg("session_id", ErrorCode::InvalidSessionId, session_id)?;
    Ok(Holder {
        owner: Owner::new(owner).map_err(errors::to_py)?,
        session_id: SessionId::new(session_id).map_err(errors::to_py)?,
    })
}

/// Interval and beats, validated by the core.
pub fn terms_arg(interval_ms: &Bound<'_, PyAny>, beats: &Bound<'_, PyAny>) -> PyResult<LeaseTerms> {
    let interval_ms = int_arg("interval_ms", ErrorCode::InvalidInterval, interval_ms)?;
    let beats = int_arg("beats", ErrorCode::InvalidBeats, beats)?;
    LeaseTerms::new(interval_ms, beats).map_err(errors::to_py)
}

/// Rules 2 to 5: acquire `record` for `owner`/`session_id` at `now_ms`.
#[pyfunction]
#[pyo3(signature = (
    record, *, owner, session_id, interval_ms, beats, takeover, force, token_digest, now_ms
))]
#[allow(clippy::too_many_arguments)]
pub fn acquire<'py>(
    py: Python<'py>,
    record: &Bound<'py, PyAny>,
    owner: &Bound<'py, PyAny>,
    session_id: &Bound<'py, PyAny>,
    interval_ms: &Bound<'py, PyAny>,
    beats: &Bound<'py, PyAny>,
    takeover: &Bound<'py, PyAny>,
    force: &Bound<'py, PyAny>,
    token_digest: &Bound<'py, PyAny>,
    now_ms: &Bound<'py, PyAny>,
) -> PyResult<DecisionParts<'py>> {
    let now = millis_arg("now", now_ms)?;
    let request = AcquireRequest {
        holder: holder_arg(owner, session_id)?,
        terms: terms_arg(interval_ms, beats)?,
        takeover: flag_arg("takeover", takeover)?,
        force: flag_arg("force", force)?,
        token_digest: digest_arg(token_digest)?,
    };

    let decision =
        rules::acquire(&record_arg(record)?.get().inner, &request, now).map_err(errors::to_py)?;
    let refusal = decision.outcome.refusal();
    decision_parts(py, decision, refusal)
}

/// Rules 6 to 8: heartbeat the lease whose token digests to `token_digest`.
#[pyfunction]
#[pyo3(signature = (record, *, token_digest, now_ms))]
pub fn heartbeat<'py>(
    py: Python<'py>,
    record: &Bound<'py, PyAny>,
    token_digest: &Bound<'py, PyAny>,
    now_ms: &Bound<'py, PyAny>,
) -> PyResult<DecisionParts<'py>> {
    let now = millis_arg("now", now_ms)?;
    let digest = digest_arg(token_digest)?;

    let decision =
        rules::heartbeat(&record_arg(record)?.get().inner, &digest, now).map_err(errors::to_py)?;
    let refusal = decision.outcome.refusal();
    decision_parts(py, decision, refusal)
}

/// Rules 8 and 9: release the lease whose token digests to `token_digest`.
#[pyfunction]
#[pyo3(signature = (record, *, token_digest, now_ms))]
pub fn release<'py>(
    py: Python<'py>,
    record: &Bound<'py, PyAny>,
    token_digest: &Bound<'py, PyAny>,
    now_ms: &Bound<'py, PyAny>,
) -> PyResult<DecisionParts<'py>> {
    let now = millis_arg("now", now_ms)?;
    let digest = digest_arg(token_digest)?;

    let decision =
        rules::release(&record_arg(record)?.get().inner, &digest, now).map_err(errors::to_py)?;
    let refusal = decision.outcome.refusal();
    decision_parts(py, decision, refusal)
}

/// Rule 10: end the lease of `record` as expired if it is stale at `now_ms`.
#[pyfunction]
#[pyo3(signature = (record, *, now_ms))]
pub fn sweep<'py>(
    py: Python<'py>,
    record: &Bound<'py, PyAny>,
    now_ms: &Bound<'py, PyAny>,
) -> PyResult<DecisionParts<'py>> {
    let now = millis_arg("now", now_ms)?;

    let decision = rules::sweep(&record_arg(record)?.get().inner, now).map_err(errors::to_py)?;
    decision_parts(py, decision, None)
}

/// The public view of `record` at `now_ms`, in the core's serde JSON form.
#[pyfunction]
#[pyo3(signature = (record, *, now_ms))]
pub fn view<'py>(
    py: Python<'py>,
    record: &Bound<'py, PyAny>,
    now_ms: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let now = millis_arg("now", now_ms)?;
    convert::to_python(py, &record_arg(record)?.get().inner.view(now))
}
