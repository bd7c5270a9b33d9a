//! Conformance vectors: the lease rules written down as data that every runtime replays.
//!
//! The Rust core decides every lease question, but the Python binding, the database store and the
//! browser worker each reach it through their own API, and each could get a conversion wrong.
//! The JSON files in `core/vectors/` pin, step by step, the answers all of them must give. This
//! module holds the serde types of that format (specified in `core/vectors/README.md`) and the
//! Rust replayer.
//!
//! Besides the expectations a scenario states, [`replay`] checks what every step must keep
//! whatever the scenario says: a refusal changes nothing and emits nothing, an error changes
//! nothing, the fence moves up by at most one and never down, and a reload returns the same
//! record. A fuzzer can therefore replay generated scenarios that state no expectation at all.
//!
//! ```
//! use leasekit_core::vectors::{replay, VectorFile};
//!
//! let file = VectorFile::parse(r#"{"format": 1, "scenarios": [{
//!     "name": "first_grant_gets_fence_one",
//!     "rules": [2],
//!     "description": "A vacant resource is granted with fence 1.",
//!     "steps": [{"at": 1000, "op": "acquire", "owner": "alice", "session_id": "tab-1",
//!                "interval_ms": 30000, "token": "tok-alice-1",
//!                "expect": {"kind": "granted", "lease": {"fence": 1}}}],
//!     "final": {"fence": 1, "state": "held", "owner": "alice", "session_id": "tab-1",
//!               "token": "tok-alice-1", "interval_ms": 30000, "beats": 3,
//!               "acquired_at": 1000, "heartbeat_at": 1000}
//! }]}"#).unwrap();
//! assert!(replay(&file.scenarios[0]).is_ok());
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::LeaseError;
use crate::ident::Holder;
use crate::record::LeaseRecord;
use crate::rules::{self, AcquireRequest, Decision, LeaseEvent};
use crate::terms::{LeaseTerms, DEFAULT_BEATS};
use crate::time::UnixMillis;
use crate::token::TokenDigest;

/// The version of the vector format this replayer reads.
pub const FORMAT: u64 = 1;

/// One vector file: a format version and its scenarios.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VectorFile {
    /// Always [`FORMAT`].
    pub format: u64,
    /// The scenarios, each replayed from its own initial record.
    pub scenarios: Vec<Scenario>,
}

impl VectorFile {
    /// Parses a vector file, refusing unknown fields and any format but [`FORMAT`].
    pub fn parse(text: &str) -> Result<Self, LeaseError> {
        let file: Self =
            serde_json::from_str(text).map_err(|err| LeaseError::document("$", err.to_string()))?;
        if file.format != FORMAT {
            let rule = format!(
                "{} is unknown; this replayer reads format {FORMAT}",
                file.format
            );
            return Err(LeaseError::document("format", rule));
        }
        Ok(file)
    }
}

/// One resource's story: an initial record, steps with their expected answers, a final record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Unique `snake_case` name, a sentence about the behaviour.
    pub name: String,
    /// The numbers of the rules (1 to 12) this scenario exercises.
    pub rules: Vec<u8>,
    /// What the scenario shows, in a sentence or two.
    pub description: String,
    /// The starting record in flat record form; vacant when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial: Option<Value>,
    /// The operations, in order.
    pub steps: Vec<Step>,
    /// The exact record after the last step, in flat record form.
    #[serde(rename = "final", default, skip_serializing_if = "Option::is_none")]
    pub final_record: Option<Value>,
}

/// The operation of a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpName {
    /// [`rules::acquire`].
    Acquire,
    /// [`rules::heartbeat`].
    Heartbeat,
    /// [`rules::release`].
    Release,
    /// [`rules::sweep`].
    Sweep,
    /// [`LeaseRecord::view`]: what anyone may see at `at`.
    Status,
    /// Write the record as JSON and read it back, as a store does.
    Reload,
}

impl OpName {
    /// The `snake_case` name, as written in vectors.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Acquire => "acquire",
            Self::Heartbeat => "heartbeat",
            Self::Release => "release",
            Self::Sweep => "sweep",
            Self::Status => "status",
            Self::Reload => "reload",
        }
    }

    /// The arguments this operation requires, then those it also accepts.
    const fn arguments(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            Self::Acquire => (
                &["owner", "session_id", "interval_ms", "token"],
                &["beats", "takeover", "force"],
            ),
            Self::Heartbeat | Self::Release => (&["token"], &[]),
            Self::Sweep | Self::Status | Self::Reload => (&[], &[]),
        }
    }
}

/// One operation at one instant, with what it must answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// The caller's `now` in UTC milliseconds (`reload` ignores it).
    pub at: i64,
    /// What to do.
    pub op: OpName,
    /// `acquire`: the owner asking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// `acquire`: the owner's session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// `acquire`: the heartbeat interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_ms: Option<i64>,
    /// `acquire`: missed beats before stale; 3 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beats: Option<i64>,
    /// `acquire`: take over the same owner's other session; false when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub takeover: Option<bool>,
    /// `acquire`: take the lease from another owner; false when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force: Option<bool>,
    /// `acquire`: the new token; `heartbeat` and `release`: the caller's token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The expected answer; unchecked when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Expectation>,
    /// The expected events, in order; unchecked when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<EventExpectation>>,
}

/// What a step must answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Expectation {
    /// Bad input: the error with this stable code, and no change.
    Error(ErrorExpectation),
    /// A subset of the answer's JSON.
    Answer(Value),
}

/// The expectation of an error: `{"error": "<code>"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorExpectation {
    /// The stable code of the error, such as `invalid_interval`.
    pub error: String,
}

/// One expected event: its kind alone, or a subset of its JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EventExpectation {
    /// The event kind, such as `acquired`.
    Kind(String),
    /// A subset of the event's JSON (`kind`, `at`, `owner`, `session_id`, `fence`, `actor`).
    Fields(Map<String, Value>),
}

/// Where a replay differed from a vector, precise enough to find the line to look at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// The scenario's name.
    pub scenario: String,
    /// The index of the step in `steps` (from 0), or `None` for `initial` and `final`.
    pub step: Option<usize>,
    /// The field that differs, as a path (`expect.lease.fence`, `final.heartbeat_at`).
    pub field: String,
    /// What the vector says, as compact JSON or a phrase.
    pub expected: String,
    /// What the replay produced.
    pub actual: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "scenario {}", self.scenario)?;
        if let Some(step) = self.step {
            write!(f, ", steps[{step}]")?;
        }
        write!(
            f,
            ": {}: expected {}, got {}",
            self.field, self.expected, self.actual
        )
    }
}

impl std::error::Error for Mismatch {}

/// Replays every scenario of `file` and returns each one's first mismatch.
#[must_use]
pub fn replay_file(file: &VectorFile) -> Vec<Mismatch> {
    file.scenarios
        .iter()
        .filter_map(|scenario| replay(scenario).err())
        .collect()
}

/// Replays one scenario from its initial record; the first difference is the error.
pub fn replay(scenario: &Scenario) -> Result<(), Mismatch> {
    let mut record = initial_record(scenario)?;
    for (index, step) in scenario.steps.iter().enumerate() {
        let replayer = StepReplay {
            scenario,
            index,
            step,
        };
        record = replayer.run(record)?;
    }

    match &scenario.final_record {
        Some(expected) => check_final(scenario, expected, &record),
        None => Ok(()),
    }
}

/// The answer of one successful step, before it is compared with the vector.
struct Applied {
    answer: Value,
    next: Option<LeaseRecord>,
    events: Vec<LeaseEvent>,
    refused: bool,
}

impl Applied {
    fn of<T: Serialize>(decision: Decision<T>, refused: bool) -> Result<Self, LeaseError> {
        Ok(Self {
            answer: to_json(&decision.outcome)?,
            next: decision.next,
            events: decision.events,
            refused,
        })
    }

    fn answer_only(answer: Value) -> Self {
        Self {
            answer,
            next: None,
            events: Vec::new(),
            refused: false,
        }
    }
}

/// One step of one scenario, replayed against the record before it.
struct StepReplay<'a> {
    scenario: &'a Scenario,
    index: usize,
    step: &'a Step,
}

impl StepReplay<'_> {
    fn mismatch(
        &self,
        field: &str,
        expected: impl Into<String>,
        actual: impl Into<String>,
    ) -> Mismatch {
        Mismatch {
            scenario: self.scenario.name.clone(),
            step: Some(self.index),
            field: field.to_owned(),
            expected: expected.into(),
            actual: actual.into(),
        }
    }

    fn run(&self, record: LeaseRecord) -> Result<LeaseRecord, Mismatch> {
        self.check_arguments()?;

        match apply(&record, self.step) {
            Err(error) => {
                self.check_error(&error)?;
                Ok(record)
            }
            Ok(applied) => {
                self.check_invariants(&record, &applied)?;
                self.check_answer(&applied.answer)?;
                self.check_events(&applied.events)?;
                Ok(applied.next.unwrap_or(record))
            }
        }
    }

    fn check_arguments(&self) -> Result<(), Mismatch> {
        let step = self.step;
        let present = [
            ("owner", step.owner.is_some()),
            ("session_id", step.session_id.is_some()),
            ("interval_ms", step.interval_ms.is_some()),
            ("beats", step.beats.is_some()),
            ("takeover", step.takeover.is_some()),
            ("force", step.force.is_some()),
            ("token", step.token.is_some()),
        ];
        let (required, optional) = step.op.arguments();
        let op = step.op.as_str();
        for (name, is_present) in present {
            if is_present && !required.contains(&name) && !optional.contains(&name) {
                return Err(self.mismatch(name, format!("no {name} for {op}"), "one"));
            }
            if !is_present && required.contains(&name) {
                return Err(self.mismatch(name, format!("{name} for {op}"), "none"));
            }
        }
        Ok(())
    }

    fn check_error(&self, error: &LeaseError) -> Result<(), Mismatch> {
        let code = error.code().as_str();
        match &self.step.expect {
            Some(Expectation::Error(expected)) if expected.error != code => {
                Err(self.mismatch("expect.error", &expected.error, format!("{code} ({error})")))
            }
            Some(Expectation::Answer(pattern)) => Err(self.mismatch(
                "expect",
                compact(pattern),
                format!("error {code} ({error})"),
            )),
            _ => match self.step.events.as_deref() {
                Some(events) if !events.is_empty() => Err(self.mismatch(
                    "events",
                    format!("{} events", events.len()),
                    format!("error {code}, which emits none"),
                )),
                _ => Ok(()),
            },
        }
    }

    fn check_invariants(&self, before: &LeaseRecord, applied: &Applied) -> Result<(), Mismatch> {
        let changed = applied.next.is_some() || !applied.events.is_empty();
        if applied.refused && changed {
            return Err(self.mismatch(
                "invariant.refusal_changes_nothing",
                "no next record and no events",
                format!("{} events, next {:?}", applied.events.len(), applied.next),
            ));
        }

        let Some(next) = &applied.next else {
            return Ok(());
        };
        let (old, new) = (before.fence(), next.fence());
        if new < old || new > old + 1 {
            return Err(self.mismatch(
                "invariant.fence_moves_up_by_at_most_one",
                format!("{old} or {}", old + 1),
                new.to_string(),
            ));
        }
        if self.step.op == OpName::Reload && next != before {
            return Err(self.mismatch(
                "invariant.reload_keeps_the_record",
                format!("{before:?}"),
                format!("{next:?}"),
            ));
        }
        Ok(())
    }

    fn check_answer(&self, answer: &Value) -> Result<(), Mismatch> {
        let pattern = match &self.step.expect {
            None => return Ok(()),
            Some(Expectation::Error(expected)) => {
                return Err(self.mismatch("expect.error", &expected.error, compact(answer)));
            }
            Some(Expectation::Answer(pattern)) if self.step.op == OpName::Reload => {
                with_token_digest(pattern).map_err(|rule| self.mismatch("expect", rule, "-"))?
            }
            Some(Expectation::Answer(pattern)) => pattern.clone(),
        };

        match subset_difference(&pattern, answer, "expect") {
            Some(difference) => {
                Err(self.mismatch(&difference.path, difference.expected, difference.actual))
            }
            None => Ok(()),
        }
    }

    fn check_events(&self, events: &[LeaseEvent]) -> Result<(), Mismatch> {
        let Some(expected) = &self.step.events else {
            return Ok(());
        };
        let actual: Vec<Value> = events
            .iter()
            .map(to_json)
            .collect::<Result<_, _>>()
            .map_err(|err| self.mismatch("events", "serialisable events", err.to_string()))?;
        if expected.len() != actual.len() {
            let kinds: Vec<&Value> = actual.iter().map(|event| &event["kind"]).collect();
            return Err(self.mismatch(
                "events",
                format!("{} events", expected.len()),
                format!("{} events {}", actual.len(), compact(&kinds)),
            ));
        }

        for (position, (want, got)) in expected.iter().zip(&actual).enumerate() {
            let pattern = match want {
                EventExpectation::Kind(kind) => Value::from_iter([("kind", kind.as_str())]),
                EventExpectation::Fields(fields) => Value::Object(fields.clone()),
            };
            let path = format!("events[{position}]");
            if let Some(difference) = subset_difference(&pattern, got, &path) {
                return Err(self.mismatch(
                    &difference.path,
                    difference.expected,
                    difference.actual,
                ));
            }
        }
        Ok(())
    }
}

/// Validates the step's inputs (time first) and applies its operation; an `Err` is bad input.
fn apply(record: &LeaseRecord, step: &Step) -> Result<Applied, LeaseError> {
    let now = || UnixMillis::new(step.at);
    match step.op {
        OpName::Acquire => {
            let now = now()?;
            let decision = rules::acquire(record, &acquire_request(step)?, now)?;
            let refused = decision.outcome.refusal().is_some();
            Applied::of(decision, refused)
        }
        OpName::Heartbeat => {
            let now = now()?;
            let decision = rules::heartbeat(record, &step_token(step)?, now)?;
            let refused = decision.outcome.refusal().is_some();
            Applied::of(decision, refused)
        }
        OpName::Release => {
            let now = now()?;
            let decision = rules::release(record, &step_token(step)?, now)?;
            let refused = decision.outcome.refusal().is_some();
            Applied::of(decision, refused)
        }
        OpName::Sweep => Applied::of(rules::sweep(record, now()?)?, false),
        OpName::Status => Ok(Applied::answer_only(to_json(&record.view(now()?))?)),
        OpName::Reload => reload(record),
    }
}

fn acquire_request(step: &Step) -> Result<AcquireRequest, LeaseError> {
    Ok(AcquireRequest {
        holder: step.holder()?,
        terms: step.terms()?,
        takeover: step.takeover.unwrap_or(false),
        force: step.force.unwrap_or(false),
        token_digest: step_token(step)?,
    })
}

impl Step {
    /// The holder an `acquire` step names; a missing owner or session is refused by the core
    /// like an empty one.
    pub fn holder(&self) -> Result<Holder, LeaseError> {
        Holder::new(
            self.owner.as_deref().unwrap_or_default(),
            self.session_id.as_deref().unwrap_or_default(),
        )
    }

    /// The terms an `acquire` step asks for; `beats` defaults to the backend's three.
    pub fn terms(&self) -> Result<LeaseTerms, LeaseError> {
        LeaseTerms::new(
            self.interval_ms.unwrap_or_default(),
            self.beats.unwrap_or(DEFAULT_BEATS),
        )
    }
}

fn step_token(step: &Step) -> Result<TokenDigest, LeaseError> {
    TokenDigest::of_token(step.token.as_deref().unwrap_or_default())
}

/// Writes the record as JSON text, as a store would, and reads it back through the validating
/// constructor.
fn reload(record: &LeaseRecord) -> Result<Applied, LeaseError> {
    let unreadable = |err: serde_json::Error| LeaseError::document("$", err.to_string());
    let stored = serde_json::to_string(record).map_err(unreadable)?;
    let reloaded: LeaseRecord = serde_json::from_str(&stored).map_err(unreadable)?;
    Ok(Applied {
        answer: serde_json::from_str(&stored).map_err(unreadable)?,
        next: Some(reloaded),
        events: Vec::new(),
        refused: false,
    })
}

fn to_json<T: Serialize>(value: &T) -> Result<Value, LeaseError> {
    serde_json::to_value(value).map_err(|err| LeaseError::document("$", err.to_string()))
}

fn compact(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|err| format!("<unprintable: {err}>"))
}

fn initial_record(scenario: &Scenario) -> Result<LeaseRecord, Mismatch> {
    let fail = |actual: String| Mismatch {
        scenario: scenario.name.clone(),
        step: None,
        field: "initial".to_owned(),
        expected: "a valid record in flat form".to_owned(),
        actual,
    };
    let Some(initial) = &scenario.initial else {
        return Ok(LeaseRecord::vacant());
    };

    let flat = with_token_digest(initial).map_err(fail)?;
    serde_json::from_value(flat).map_err(|err| fail(err.to_string()))
}

fn check_final(
    scenario: &Scenario,
    expected: &Value,
    record: &LeaseRecord,
) -> Result<(), Mismatch> {
    let fail = |field: String, expected: String, actual: String| Mismatch {
        scenario: scenario.name.clone(),
        step: None,
        field,
        expected,
        actual,
    };
    let expected =
        with_token_digest(expected).map_err(|rule| fail("final".into(), rule, "-".into()))?;
    let actual =
        to_json(record).map_err(|err| fail("final".into(), "-".into(), err.to_string()))?;
    let (Some(want), Some(got)) = (expected.as_object(), actual.as_object()) else {
        return Err(fail("final".into(), compact(&expected), compact(&actual)));
    };

    let mut fields: Vec<&String> = want.keys().chain(got.keys()).collect();
    fields.sort();
    fields.dedup();
    for field in fields {
        let (want_value, got_value) = (want.get(field), got.get(field));
        if want_value != got_value {
            let show = |value: Option<&Value>| value.map_or_else(|| "absent".to_owned(), compact);
            return Err(fail(
                format!("final.{field}"),
                show(want_value),
                show(got_value),
            ));
        }
    }
    Ok(())
}

/// Replaces the `token` shorthand of a flat record by the `token_digest` it stands for.
///
/// The error names what the vector got wrong: not an object, both fields given, a bad token.
///
/// ```
/// use leasekit_core::vectors::with_token_digest;
/// use serde_json::json;
///
/// let flat = with_token_digest(&json!({"fence": 1, "token": "abc"})).unwrap();
/// let digest = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
/// assert_eq!(flat, json!({"fence": 1, "token_digest": digest}));
/// ```
pub fn with_token_digest(record: &Value) -> Result<Value, String> {
    let Some(fields) = record.as_object() else {
        return Err("a record as a JSON object".to_owned());
    };
    let Some(token) = fields.get("token") else {
        return Ok(record.clone());
    };
    if fields.contains_key("token_digest") {
        return Err("token or token_digest, not both".to_owned());
    }

    let token = token.as_str().ok_or("token as a string")?;
    let digest = TokenDigest::of_token(token).map_err(|err| err.to_string())?;
    let mut flat = fields.clone();
    flat.remove("token");
    flat.insert("token_digest".to_owned(), Value::String(digest.to_hex()));
    Ok(Value::Object(flat))
}

/// The fields of `object`, its `kind` first: a wrong kind explains every other difference.
fn kind_first(object: &Map<String, Value>) -> impl Iterator<Item = (&String, &Value)> {
    let kind = object.get_key_value("kind");
    kind.into_iter()
        .chain(object.iter().filter(|(key, _)| key.as_str() != "kind"))
}

/// The first place where an answer does not contain the pattern it was matched against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// Where, as a path from the root given to [`subset_difference`] (`expect.lease.fence`).
    pub path: String,
    /// The pattern's value there, as compact JSON.
    pub expected: String,
    /// The answer's value there, as compact JSON, or `absent`.
    pub actual: String,
}

/// Where `actual` fails to contain `expected`, by the matching rules of the vector format:
/// objects match when each expected key matches (`kind` checked first); arrays element by
/// element with equal length; anything else by equality.
///
/// ```
/// use leasekit_core::vectors::subset_difference;
/// use serde_json::json;
///
/// let answer = json!({"kind": "granted", "lease": {"fence": 2, "stale": false}});
/// assert!(subset_difference(&json!({"lease": {"fence": 2}}), &answer, "expect").is_none());
/// let wrong = subset_difference(&json!({"lease": {"fence": 3}}), &answer, "expect").unwrap();
/// assert_eq!((wrong.path.as_str(), wrong.actual.as_str()), ("expect.lease.fence", "2"));
/// ```
#[must_use]
pub fn subset_difference(expected: &Value, actual: &Value, path: &str) -> Option<Difference> {
    let differ = || Difference {
        path: path.to_owned(),
        expected: compact(expected),
        actual: compact(actual),
    };
    match (expected, actual) {
        (Value::Object(want), Value::Object(got)) => kind_first(want).find_map(|(key, value)| {
            let inner = format!("{path}.{key}");
            match got.get(key) {
                Some(found) => subset_difference(value, found, &inner),
                None => Some(Difference {
                    path: inner,
                    expected: compact(value),
                    actual: "absent".to_owned(),
                }),
            }
        }),
        (Value::Array(want), Value::Array(got)) if want.len() == got.len() => want
            .iter()
            .zip(got)
            .enumerate()
            .find_map(|(index, (value, found))| {
                subset_difference(value, found, &format!("{path}[{index}]"))
            }),
        _ if expected == actual => None,
        _ => Some(differ()),
    }
}
