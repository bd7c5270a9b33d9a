//! The store's `tracing` events, forwarded to Python's `logging`.
//!
//! The `SQLite` store logs each committed transition (and skipped rows, and prunes) through
//! `tracing`, with structured fields and never a token. Python operators read the standard
//! `logging` module instead, so this layer hands every event whose target starts with
//! `leasekit` to `leasekit._log._from_native`, which logs it on the `leasekit` logger with the
//! fields in `extra`. The store decides what is a transition; nothing is inferred here.
//!
//! Store calls run detached from the interpreter. Rather than re-attaching for each event in
//! the middle of a call (one more wait for the GIL per transition, which an asyncio loop feels),
//! [`capture`] collects the events a call emits on its thread, and [`forward_all`] logs them
//! once the call has re-attached, before its answer reaches Python.

use std::cell::RefCell;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

static FROM_NATIVE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

thread_local! {
    /// The events emitted on this thread during [`capture`], or `None` outside it.
    static CAPTURED: RefCell<Option<Vec<Captured>>> = const { RefCell::new(None) };
}

/// One `tracing` event, kept until it can be logged.
pub struct Captured {
    level: Level,
    target: &'static str,
    fields: Fields,
}

/// Runs `body`, collecting the `tracing` events it emits on this thread instead of logging them.
pub fn capture<T>(body: impl FnOnce() -> T) -> (T, Vec<Captured>) {
    let outer = CAPTURED.with(|slot| slot.replace(Some(Vec::new())));
    let value = body();
    let captured = CAPTURED
        .with(|slot| slot.replace(outer))
        .unwrap_or_default();
    (value, captured)
}

/// Logs captured events in the order they were emitted.
pub fn forward_all(py: Python<'_>, captured: Vec<Captured>) {
    for event in captured {
        if let Err(err) = forward(py, event.level, event.target, &event.fields) {
            err.write_unraisable(py, None);
        }
    }
}

/// Installs the bridge as this module's global `tracing` subscriber (once; later calls and a
/// subscriber installed by someone else leave things as they are).
pub fn install() {
    let subscriber = tracing_subscriber::registry().with(PythonLogging);
    // Only this extension module's copy of `tracing` sees it, so nobody else can have set one;
    // if a second initialisation finds it set, the first bridge keeps working.
    let _ = tracing::subscriber::set_global_default(subscriber);
}

struct PythonLogging;

impl<S: Subscriber> Layer<S> for PythonLogging {
    fn on_event(&self, event: &Event<'_>, _context: Context<'_, S>) {
        let metadata = event.metadata();
        if !metadata.target().starts_with("leasekit") {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let captured = Captured {
            level: *metadata.level(),
            target: metadata.target(),
            fields,
        };

        let uncaptured = CAPTURED.with(|slot| match slot.borrow_mut().as_mut() {
            Some(events) => {
                events.push(captured);
                None
            }
            None => Some(captured),
        });
        // Outside a capture (no store call of ours emits there), log at once; during
        // interpreter shutdown there is nobody left to log to.
        if let Some(event) = uncaptured {
            let _ = Python::try_attach(|py| forward_all(py, vec![event]));
        }
    }
}

/// A recorded field value.
enum FieldValue {
    Text(String),
    Signed(i64),
    Unsigned(u64),
    Flag(bool),
}

#[derive(Default)]
struct Fields {
    message: String,
    values: Vec<(&'static str, FieldValue)>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.values
            .push((field.name(), FieldValue::Text(value.to_owned())));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.values.push((field.name(), FieldValue::Signed(value)));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.values
            .push((field.name(), FieldValue::Unsigned(value)));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.values.push((field.name(), FieldValue::Flag(value)));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}");
        if field.name() == "message" {
            self.message = text;
        } else {
            self.values.push((field.name(), FieldValue::Text(text)));
        }
    }
}

/// Python's numeric level for a `tracing` level.
const fn python_level(level: Level) -> u8 {
    match level {
        Level::ERROR => 40,
        Level::WARN => 30,
        Level::INFO => 20,
        Level::DEBUG => 10,
        Level::TRACE => 5,
    }
}

fn forward(py: Python<'_>, level: Level, target: &str, fields: &Fields) -> PyResult<()> {
    let values = PyDict::new(py);
    for (name, value) in &fields.values {
        match value {
            FieldValue::Text(text) => values.set_item(name, text)?,
            FieldValue::Signed(number) => values.set_item(name, number)?,
            FieldValue::Unsigned(number) => values.set_item(name, number)?,
            FieldValue::Flag(flag) => values.set_item(name, flag)?,
        }
    }
    let log = FROM_NATIVE.import(py, "leasekit._log", "_from_native")?;
    log.call1((python_level(level), target, &fields.message, values))?;
    Ok(())
}
