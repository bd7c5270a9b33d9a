//! `ManualClock`: the store's injectable clock, so Python tests control `now`.
//!
//! A store reads `now` inside its write transaction and callers never pass it; tests (and the
//! service's tests) still need to move time to see a lease go stale. This is the core store's
//! own [`leasekit_core::store::ManualClock`], shared with every store opened with it.

use std::sync::Arc;

use leasekit_core::store::{Clock, ManualClock as CoreManualClock};
use leasekit_core::ErrorCode;
use pyo3::prelude::*;

use crate::convert::{int_arg, millis_arg};
use crate::errors;

/// A clock that moves only when told to.
#[pyclass(frozen, module = "leasekit._native", name = "ManualClock")]
pub struct ManualClock {
    pub(crate) shared: Arc<CoreManualClock>,
}

#[pymethods]
impl ManualClock {
    #[new]
    fn new(now_ms: &Bound<'_, PyAny>) -> PyResult<Self> {
        let start = millis_arg("now", now_ms)?;
        Ok(Self {
            shared: Arc::new(CoreManualClock::new(start)),
        })
    }

    /// Moves the clock to `now_ms`, forwards or backwards.
    fn set(&self, now_ms: &Bound<'_, PyAny>) -> PyResult<()> {
        self.shared.set(millis_arg("now", now_ms)?);
        Ok(())
    }

    /// Moves the clock by `delta_ms` (negative steps back); answers the new instant.
    fn advance(&self, delta_ms: &Bound<'_, PyAny>) -> PyResult<i64> {
        let delta = int_arg("delta_ms", ErrorCode::TimeOutOfRange, delta_ms)?;
        let moved = self
            .shared
            .advance(delta)
            .map_err(|err| errors::lease_error(delta_ms.py(), &err))?;
        Ok(moved.as_millis())
    }

    /// The clock's instant in UTC milliseconds.
    #[getter]
    fn now_ms(&self) -> i64 {
        self.shared.now().as_millis()
    }

    fn __repr__(&self) -> String {
        format!("ManualClock(now_ms={})", self.now_ms())
    }
}
