//! The conformance vectors replayed through the `SQLite` store give the pure core's answers.
//!
//! Each scenario runs twice on a fresh file: once on one open store, once closing and
//! reopening the file before every step. A manual clock is set to each step's `at`; the store
//! reads it inside its transaction, as it reads the system clock in production.
//!
//! The store mints its own tokens, so a vector's token names are mapped to the tokens the store
//! handed out; a name the store never issued (a guess, a token from an initial record) is sent
//! as it is. Two kinds of step cannot reach a store and are checked at the boundary instead:
//! an `at` outside the safe range (a clock cannot hold it: `UnixMillis::new` refuses it with the
//! same code), and an acquire whose own token name is malformed (the store takes no token on
//! acquire). Everything else goes through the store, and every refusal or error must leave the
//! file's rows unchanged.

mod store_support;

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use leasekit_core::store::{LeaseToken, SqliteStore, StoreError};
use leasekit_core::vectors::{
    subset_difference, EventExpectation, Expectation, OpName, Scenario, Step, VectorFile,
};
use leasekit_core::{LeaseError, LeaseRecord, ResourceKey, SweepOutcome, TokenDigest, UnixMillis};
use serde_json::{Map, Value};
use store_support::{dump, raw, read_record, write_record, TestFile};

fn scenarios() -> Vec<Scenario> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors");
    let mut paths: Vec<_> = fs::read_dir(&dir)
        .expect("core/vectors exists")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    paths
        .iter()
        .flat_map(|path| {
            let text = fs::read_to_string(path).unwrap();
            let file =
                VectorFile::parse(&text).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
            file.scenarios
        })
        .collect()
}

/// What one step did, in the JSON the vectors speak.
struct Done {
    answer: Value,
    events: Vec<Value>,
    changes_allowed: bool,
}

/// Why a step did not produce an answer.
enum NotDone {
    /// Bad input or a refused computation, with its stable code.
    Error(String),
    /// A step a store cannot receive; see the module docs.
    OutsideTheStore(String),
}

impl From<LeaseError> for NotDone {
    fn from(err: LeaseError) -> Self {
        Self::Error(err.code().as_str().to_owned())
    }
}

impl From<StoreError> for NotDone {
    fn from(err: StoreError) -> Self {
        Self::Error(err.code().as_str().to_owned())
    }
}

struct Replay<'a> {
    scenario: &'a Scenario,
    reopen_each_step: bool,
    file: TestFile,
    store: Option<SqliteStore>,
    key: ResourceKey,
    tokens: HashMap<String, LeaseToken>,
    last_sequence: i64,
    outside_the_store: Vec<String>,
}

impl<'a> Replay<'a> {
    fn new(scenario: &'a Scenario, reopen_each_step: bool) -> Self {
        let file = TestFile::new();
        let store = Some(file.open());
        let replay = Self {
            scenario,
            reopen_each_step,
            file,
            store,
            key: ResourceKey::new("project", "conformance").unwrap(),
            tokens: HashMap::new(),
            last_sequence: 0,
            outside_the_store: Vec::new(),
        };
        if let Some(initial) = &scenario.initial {
            let flat = replay.with_digest(initial);
            write_record(&raw(&replay.file.path), &replay.key, &flat);
        }
        replay
    }

    fn fail(&self, step: Option<usize>, what: impl std::fmt::Display) -> String {
        let mode = if self.reopen_each_step {
            "reopening"
        } else {
            "one store"
        };
        let place = step.map_or_else(|| "final".to_owned(), |index| format!("steps[{index}]"));
        format!("{} ({mode}), {place}: {what}", self.scenario.name)
    }

    fn store(&self) -> &SqliteStore {
        self.store.as_ref().expect("the store is open")
    }

    fn reopen(&mut self) {
        self.store = None;
        self.store = Some(self.file.open());
    }

    /// The token text to send for a vector's token name.
    fn token_text(&self, name: &str) -> String {
        self.tokens
            .get(name)
            .map_or_else(|| name.to_owned(), |token| token.expose().to_owned())
    }

    /// A flat record or answer with its `token` name replaced by the digest the store keeps.
    fn with_digest(&self, pattern: &Value) -> Value {
        let Some(fields) = pattern.as_object() else {
            return pattern.clone();
        };
        let mut flat = fields.clone();
        if let Some(Value::String(name)) = flat.remove("token") {
            let digest = TokenDigest::of_token(&self.token_text(&name)).unwrap();
            flat.insert("token_digest".into(), Value::String(digest.to_hex()));
        }
        Value::Object(flat)
    }

    fn run(mut self) -> Result<Vec<String>, String> {
        for (index, step) in self.scenario.steps.iter().enumerate() {
            if self.reopen_each_step {
                self.reopen();
            }
            self.step(index, step)?;
        }

        if let Some(expected) = &self.scenario.final_record {
            let flat = self.with_digest(expected);
            let expected: LeaseRecord = serde_json::from_value(flat.clone())
                .map_err(|err| self.fail(None, format!("bad final record {flat}: {err}")))?;
            let actual = read_record(&raw(&self.file.path), &self.key);
            if actual != expected {
                return Err(self.fail(None, format!("expected {expected:?}, stored {actual:?}")));
            }
        }
        Ok(self.outside_the_store)
    }

    fn step(&mut self, index: usize, step: &Step) -> Result<(), String> {
        let before = dump(&self.file.path);
        let result = self.apply(step);
        let unchanged = dump(&self.file.path) == before;

        match (result, &step.expect) {
            (Err(NotDone::OutsideTheStore(why)), _) => {
                self.outside_the_store
                    .push(format!("{}: {why}", self.scenario.name));
                Ok(())
            }
            (Err(NotDone::Error(code)), expect) => {
                if !unchanged {
                    return Err(self.fail(Some(index), format!("error {code} changed the file")));
                }
                match expect {
                    Some(Expectation::Error(wanted)) if wanted.error != code => Err(self.fail(
                        Some(index),
                        format!("expected error {}, got {code}", wanted.error),
                    )),
                    Some(Expectation::Answer(pattern)) => {
                        Err(self.fail(Some(index), format!("expected {pattern}, got error {code}")))
                    }
                    _ => Ok(()),
                }
            }
            (Ok(done), expect) => {
                if !done.changes_allowed && !unchanged {
                    return Err(self.fail(Some(index), "a refusal changed the file"));
                }
                self.check_answer(index, step, expect.as_ref(), &done.answer)?;
                self.check_events(index, step, &done.events)
            }
        }
    }

    fn check_answer(
        &self,
        index: usize,
        step: &Step,
        expect: Option<&Expectation>,
        answer: &Value,
    ) -> Result<(), String> {
        match expect {
            None => Ok(()),
            Some(Expectation::Error(wanted)) => Err(self.fail(
                Some(index),
                format!("expected error {}, got {answer}", wanted.error),
            )),
            Some(Expectation::Answer(pattern)) => {
                let pattern = if step.op == OpName::Reload {
                    self.with_digest(pattern)
                } else {
                    pattern.clone()
                };
                match difference(&pattern, answer, "expect") {
                    Some(diff) => Err(self.fail(Some(index), diff)),
                    None => Ok(()),
                }
            }
        }
    }

    fn check_events(&self, index: usize, step: &Step, events: &[Value]) -> Result<(), String> {
        let Some(expected) = &step.events else {
            return Ok(());
        };
        if expected.len() != events.len() {
            let got = Value::Array(events.to_vec());
            return Err(self.fail(
                Some(index),
                format!("expected {} events, got {got}", expected.len()),
            ));
        }
        for (position, (want, got)) in expected.iter().zip(events).enumerate() {
            let pattern = match want {
                EventExpectation::Kind(kind) => Value::Object(Map::from_iter([(
                    "kind".into(),
                    Value::from(kind.as_str()),
                )])),
                EventExpectation::Fields(fields) => Value::Object(fields.clone()),
            };
            if let Some(diff) = difference(&pattern, got, &format!("events[{position}]")) {
                return Err(self.fail(Some(index), diff));
            }
        }
        Ok(())
    }

    fn apply(&mut self, step: &Step) -> Result<Done, NotDone> {
        if step.op == OpName::Reload {
            return Ok(self.reload());
        }

        let now = UnixMillis::new(step.at)?;
        self.file.clock.set(now);
        let (answer, changes_allowed) = match step.op {
            OpName::Acquire => self.acquire(step)?,
            OpName::Heartbeat => {
                let token = self.token_text(step.token.as_deref().unwrap_or_default());
                let beat = self.store().heartbeat(&self.key, &token)?;
                (to_json(&beat.outcome), beat.outcome.refusal().is_none())
            }
            OpName::Release => {
                let token = self.token_text(step.token.as_deref().unwrap_or_default());
                let released = self.store().release(&self.key, &token)?;
                (
                    to_json(&released.outcome),
                    released.outcome.refusal().is_none(),
                )
            }
            OpName::Sweep => {
                let report = self.store().sweep()?;
                let outcome = report
                    .expired
                    .into_iter()
                    .find(|expired| expired.key == self.key)
                    .map_or(SweepOutcome::Untouched, |expired| SweepOutcome::Expired {
                        lease: expired.lease,
                    });
                (to_json(&outcome), true)
            }
            OpName::Status => (to_json(&self.store().status(&self.key)?.view), false),
            OpName::Reload => unreachable!("handled above"),
        };
        let events = self.new_events()?;
        Ok(Done {
            answer,
            events,
            changes_allowed,
        })
    }

    fn acquire(&mut self, step: &Step) -> Result<(Value, bool), NotDone> {
        let holder = step.holder()?;
        let terms = step.terms()?;
        let name = step.token.clone().unwrap_or_default();
        if let Err(err) = TokenDigest::of_token(&name) {
            let why = format!("acquire with malformed token name ({})", err.code());
            return Err(NotDone::OutsideTheStore(why));
        }

        let acquired = self.store().acquire(
            &self.key,
            &holder,
            terms,
            step.takeover.unwrap_or(false),
            step.force.unwrap_or(false),
        )?;
        let granted = acquired.outcome.refusal().is_none();
        assert_eq!(
            granted,
            acquired.token.is_some(),
            "a token exactly on a grant"
        );
        if let Some(token) = acquired.token {
            self.tokens.insert(name, token);
        }
        Ok((to_json(&acquired.outcome), granted))
    }

    fn reload(&mut self) -> Done {
        self.reopen();
        let record = read_record(&raw(&self.file.path), &self.key);
        Done {
            answer: to_json(&record),
            events: Vec::new(),
            changes_allowed: false,
        }
    }

    /// The events appended since the last step, oldest first.
    fn new_events(&mut self) -> Result<Vec<Value>, NotDone> {
        let mut entries = self.store().history(&self.key, 1_000)?;
        entries.retain(|entry| entry.sequence > self.last_sequence);
        entries.reverse();
        if let Some(last) = entries.last() {
            self.last_sequence = last.sequence;
        }
        Ok(entries.iter().map(|entry| to_json(&entry.event)).collect())
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("answers serialise")
}

/// Where `actual` fails to contain `expected`, by the vector format's matching rules.
fn difference(expected: &Value, actual: &Value, path: &str) -> Option<String> {
    subset_difference(expected, actual, path).map(|diff| {
        format!(
            "{}: expected {}, got {}",
            diff.path, diff.expected, diff.actual
        )
    })
}

#[test]
fn every_vector_replayed_through_the_store_gives_the_cores_answers() {
    let scenarios = scenarios();
    assert!(scenarios.len() >= 40, "only {} scenarios", scenarios.len());

    let mut failures = Vec::new();
    let mut outside_the_store = Vec::new();
    for scenario in &scenarios {
        for reopen_each_step in [false, true] {
            match Replay::new(scenario, reopen_each_step).run() {
                Ok(skipped) => outside_the_store.extend(skipped),
                Err(failure) => failures.push(failure),
            }
        }
    }

    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let steps: usize = scenarios.iter().map(|scenario| scenario.steps.len()).sum();
    assert!(
        outside_the_store.len() * 10 < steps,
        "most steps must reach the store: {outside_the_store:#?}"
    );
}

#[test]
fn the_replay_reports_a_wrong_expectation() {
    let mut scenario = scenarios()
        .into_iter()
        .find(|scenario| scenario.steps.iter().any(|step| step.op == OpName::Acquire))
        .expect("a scenario with an acquire");
    let step = scenario
        .steps
        .iter_mut()
        .find(|step| step.op == OpName::Acquire)
        .unwrap();
    step.expect = Some(Expectation::Answer(
        serde_json::json!({"kind": "no_such_outcome"}),
    ));

    let failure = Replay::new(&scenario, false).run().unwrap_err();

    assert!(failure.contains("expect.kind"), "{failure}");
}
