//! `Store`: the core's `SQLite` lease store, shared across threads, GIL released during I/O.
//!
//! Every operation validates its arguments with the GIL held (they are Python objects), then
//! detaches from the interpreter for the `SQLite` transaction, so other Python threads and an
//! asyncio loop keep running while this one waits for a disk or for another process's lock.
//! Answers cross as the core's serde JSON; the one token an acquire mints crosses as a plain
//! `str` beside it and is never logged or formatted here.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use leasekit_core::store::{
    SqliteStore, StoreError, StoreOptions, Synchronous, MAX_BUSY_TIMEOUT, MAX_HISTORY_LIMIT,
};
use leasekit_core::{ErrorCode, LeaseError, LeaseTerms, ResourceId, ResourceKey, Scope};
use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::clock::ManualClock;
use crate::convert::{self, flag_arg, int_arg, millis_arg, text_arg};
use crate::errors;
use crate::logbridge;
use crate::rules::{holder_arg, terms_arg};

/// One open store file.
#[pyclass(frozen, module = "leasekit._native", name = "Store")]
pub struct Store {
    path: String,
    open: Mutex<Option<Arc<SqliteStore>>>,
}

/// The exception for a store error.
fn store_error(py: Python<'_>, error: &StoreError) -> PyErr {
    match error {
        StoreError::Input(input) => errors::lease_error(py, input),
        other => errors::raise(py, other.code(), "store", &other.to_string()),
    }
}

fn key_arg(scope: &Bound<'_, PyAny>, resource_id: &Bound<'_, PyAny>) -> PyResult<ResourceKey> {
    let scope = text_arg("scope", ErrorCode::InvalidScope, scope)?;
    let resource_id = text_arg("resource_id", ErrorCode::InvalidResourceId, resource_id)?;
    Ok(ResourceKey {
        scope: Scope::new(scope).map_err(errors::to_py)?,
        id: ResourceId::for_field("resource_id", resource_id).map_err(errors::to_py)?,
    })
}

fn synchronous_arg(value: &Bound<'_, PyAny>) -> PyResult<Synchronous> {
    let text = text_arg("synchronous", ErrorCode::InvalidDocument, value)?;
    match text.as_str() {
        "normal" => Ok(Synchronous::Normal),
        "full" => Ok(Synchronous::Full),
        other => {
            let rule = format!("{other:?} must be \"normal\" or \"full\"");
            Err(errors::to_py(LeaseError::document("synchronous", rule)))
        }
    }
}

fn busy_timeout_arg(value: &Bound<'_, PyAny>) -> PyResult<Duration> {
    let ms = int_arg("busy_timeout_ms", ErrorCode::InvalidDocument, value)?;
    let limit = MAX_BUSY_TIMEOUT.as_millis();
    match u64::try_from(ms) {
        Ok(ms) if u128::from(ms) <= limit => Ok(Duration::from_millis(ms)),
        _ => {
            let rule = format!("{ms} must be from 0 to {limit} milliseconds");
            Err(errors::to_py(LeaseError::document("busy_timeout_ms", rule)))
        }
    }
}

fn limit_arg(value: &Bound<'_, PyAny>) -> PyResult<u32> {
    let limit = int_arg("limit", ErrorCode::InvalidDocument, value)?;
    // The store checks the range itself; only a value no u32 holds is refused here.
    u32::try_from(limit).map_err(|_| {
        let rule = format!("{limit} must be from 1 to {MAX_HISTORY_LIMIT} events");
        errors::to_py(LeaseError::document("limit", rule))
    })
}

fn path_arg(path: &Bound<'_, PyAny>) -> PyResult<PathBuf> {
    let fspath = path.py().import("os")?.getattr("fspath")?;
    let text = fspath
        .call1((path,))
        .and_then(|text| Ok(text.cast_into::<PyString>()?))
        .map_err(|_| {
            convert::wrong_type(
                "path",
                ErrorCode::InvalidDocument,
                "a str or an os.PathLike of str",
                path,
            )
        })?;
    let text = text_arg("path", ErrorCode::InvalidDocument, &text)?;
    if text.is_empty() || text.contains('\0') {
        let rule = "must name a file: not empty, no NUL character";
        return Err(errors::to_py(LeaseError::document("path", rule)));
    }
    Ok(PathBuf::from(text))
}

impl Store {
    /// The open store, or a `StorageError` once closed.
    fn get(&self, py: Python<'_>) -> PyResult<Arc<SqliteStore>> {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.clone().ok_or_else(|| {
            let message = format!("lease store {}: closed", self.path);
            errors::raise(py, ErrorCode::StorageFailure, "store", &message)
        })
    }

    /// Runs `operation` on the open store with the GIL released.
    fn run<T, F>(&self, py: Python<'_>, operation: F) -> PyResult<T>
    where
        T: Send,
        F: FnOnce(&SqliteStore) -> Result<T, StoreError> + Send,
    {
        let store = self.get(py)?;
        let (result, logged) = py.detach(|| logbridge::capture(|| operation(&store)));
        logbridge::forward_all(py, logged);
        result.map_err(|err| store_error(py, &err))
    }
}

#[pymethods]
impl Store {
    #[new]
    #[pyo3(signature = (path, *, synchronous, busy_timeout_ms, clock = None))]
    fn new(
        py: Python<'_>,
        path: &Bound<'_, PyAny>,
        synchronous: &Bound<'_, PyAny>,
        busy_timeout_ms: &Bound<'_, PyAny>,
        clock: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let path = path_arg(path)?;
        let mut options = StoreOptions {
            synchronous: synchronous_arg(synchronous)?,
            busy_timeout: busy_timeout_arg(busy_timeout_ms)?,
            ..StoreOptions::default()
        };
        if let Some(clock) = clock.filter(|clock| !clock.is_none()) {
            let clock = clock.cast::<ManualClock>().map_err(|_| {
                convert::wrong_type("clock", ErrorCode::InvalidDocument, "a ManualClock", clock)
            })?;
            options.clock = clock.get().shared.clone();
        }

        let label = path.display().to_string();
        let opened = py
            .detach(|| SqliteStore::open_with(&path, options))
            .map_err(|err| store_error(py, &err))?;
        Ok(Self {
            path: label,
            open: Mutex::new(Some(Arc::new(opened))),
        })
    }

    /// The file this store works on.
    #[getter]
    fn path(&self) -> &str {
        &self.path
    }

    /// Whether `close` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none()
    }

    /// The store clock's instant in UTC milliseconds.
    fn now_ms(&self, py: Python<'_>) -> PyResult<i64> {
        Ok(self.get(py)?.now().as_millis())
    }

    /// Rules 2 to 5. Answers `(at_ms, outcome, token)`; `token` is set on a grant or renewal.
    #[pyo3(signature = (
        scope, resource_id, *, owner, session_id, interval_ms, beats, takeover, force
    ))]
    #[allow(clippy::too_many_arguments)]
    fn acquire<'py>(
        &self,
        py: Python<'py>,
        scope: &Bound<'py, PyAny>,
        resource_id: &Bound<'py, PyAny>,
        owner: &Bound<'py, PyAny>,
        session_id: &Bound<'py, PyAny>,
        interval_ms: &Bound<'py, PyAny>,
        beats: &Bound<'py, PyAny>,
        takeover: &Bound<'py, PyAny>,
        force: &Bound<'py, PyAny>,
    ) -> PyResult<(i64, Bound<'py, PyAny>, Option<String>)> {
        let key = key_arg(scope, resource_id)?;
        let holder = holder_arg(owner, session_id)?;
        let terms: LeaseTerms = terms_arg(interval_ms, beats)?;
        let takeover = flag_arg("takeover", takeover)?;
        let force = flag_arg("force", force)?;

        let acquired = self.run(py, |store| {
            store.acquire(&key, &holder, terms, takeover, force)
        })?;
        let outcome = convert::to_python(py, &acquired.outcome)?;
        let token = acquired
            .token
            .map(leasekit_core::store::LeaseToken::into_exposed);
        Ok((acquired.at.as_millis(), outcome, token))
    }

    /// Rules 6 to 8. Answers `{"at", "outcome"}`.
    fn heartbeat<'py>(
        &self,
        py: Python<'py>,
        scope: &Bound<'py, PyAny>,
        resource_id: &Bound<'py, PyAny>,
        token: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let key = key_arg(scope, resource_id)?;
        let token = text_arg("token", ErrorCode::InvalidToken, token)?;

        let answer = self.run(py, |store| store.heartbeat(&key, &token))?;
        convert::to_python(py, &answer)
    }

    /// Rules 8 and 9. Answers `{"at", "outcome"}`.
    fn release<'py>(
        &self,
        py: Python<'py>,
        scope: &Bound<'py, PyAny>,
        resource_id: &Bound<'py, PyAny>,
        token: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let key = key_arg(scope, resource_id)?;
        let token = text_arg("token", ErrorCode::InvalidToken, token)?;

        let answer = self.run(py, |store| store.release(&key, &token))?;
        convert::to_python(py, &answer)
    }

    /// The public view. Answers `{"at", "view"}`.
    fn status<'py>(
        &self,
        py: Python<'py>,
        scope: &Bound<'py, PyAny>,
        resource_id: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let key = key_arg(scope, resource_id)?;

        let status = self.run(py, |store| store.status(&key))?;
        convert::to_python(py, &status)
    }

    /// Events of one resource, newest first; `before` pages by sequence number.
    #[pyo3(signature = (scope, resource_id, *, limit, before = None))]
    fn history<'py>(
        &self,
        py: Python<'py>,
        scope: &Bound<'py, PyAny>,
        resource_id: &Bound<'py, PyAny>,
        limit: &Bound<'py, PyAny>,
        before: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let key = key_arg(scope, resource_id)?;
        let limit = limit_arg(limit)?;
        let before = match before.filter(|before| !before.is_none()) {
            Some(before) => int_arg("before", ErrorCode::InvalidDocument, before)?,
            None => i64::MAX,
        };

        let entries = self.run(py, |store| store.history_before(&key, before, limit))?;
        convert::to_python(py, &entries)
    }

    /// Held resources of one scope. Answers `{"at", "scope", "holders"}`.
    fn holders<'py>(
        &self,
        py: Python<'py>,
        scope: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let scope = text_arg("scope", ErrorCode::InvalidScope, scope)?;
        let scope = Scope::new(scope).map_err(errors::to_py)?;

        let holders = self.run(py, |store| store.holders(&scope))?;
        convert::to_python(py, &holders)
    }

    /// Rule 10 over the whole file. Answers the sweep report.
    fn sweep<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let report = self.run(py, SqliteStore::sweep)?;
        convert::to_python(py, &report)
    }

    /// Empties tombstones that ended before `ended_before_ms`. Answers the prune report.
    fn prune_tombstones<'py>(
        &self,
        py: Python<'py>,
        ended_before_ms: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let ended_before = millis_arg("ended_before", ended_before_ms)?;

        let report = self.run(py, |store| store.prune_tombstones(ended_before))?;
        convert::to_python(py, &report)
    }

    /// The pragmas in force. Answers a dict.
    fn settings<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let settings = self.run(py, SqliteStore::settings)?;
        let view = serde_json::json!({
            "journal_mode": settings.journal_mode,
            "synchronous": match settings.synchronous {
                Synchronous::Normal => "normal",
                Synchronous::Full => "full",
            },
            "busy_timeout_ms": settings.busy_timeout_ms,
            "foreign_keys": settings.foreign_keys,
            "schema_version": settings.schema_version,
        });
        convert::to_python(py, &view)
    }

    /// Closes the store. Operations already running finish first; later ones fail.
    fn close(&self) {
        let closing = self
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(closing);
    }

    fn __repr__(&self) -> String {
        let state = if self.closed() { "closed" } else { "open" };
        format!("Store(path={:?}, {state})", self.path)
    }
}
