//! Eight threads, 2,000 random operations each, on twenty resources of one file.
//!
//! Four threads share one store (its mutex and its read connection); four open their own, so
//! they meet on `SQLite`'s file lock as separate processes would. The clock is shared and moved
//! forward at random, so leases go stale, get swept, and are taken from stale holders.
//! Afterwards the event log is replayed on its own, and every row must equal what the log
//! says, and the log must match what the threads were told.

mod store_support;

use std::collections::HashMap;
use std::sync::Arc;
use std::thread;

use leasekit_core::store::{LeaseToken, SqliteStore, StoreError};
use leasekit_core::{
    AcquireOutcome, EndReason, EventKind, HeartbeatOutcome, LeaseState, LeaseTerms, ReleaseOutcome,
    ResourceKey, Scope,
};
use proptest::prelude::RngExt;
use proptest::test_runner::{RngAlgorithm, TestRng};
use store_support::{holder, key, raw, read_record, TestFile};

const THREADS: usize = 8;
const OPERATIONS: usize = 2_000;
const RESOURCES: usize = 20;
const OWNERS: [&str; 3] = ["alice", "bob", "carol"];
const SESSIONS: [&str; 2] = ["tab-1", "tab-2"];

/// What the threads were told, to compare with the log.
#[derive(Default, Debug, PartialEq, Eq)]
struct Tally {
    grants: u64,
    renewals: u64,
    releases: u64,
    swept: u64,
}

impl Tally {
    fn add(&mut self, other: &Self) {
        self.grants += other.grants;
        self.renewals += other.renewals;
        self.releases += other.releases;
        self.swept += other.swept;
    }
}

fn resource(index: usize) -> ResourceKey {
    key(&format!("res-{index}"))
}

fn expect_ok<T>(result: Result<T, StoreError>, operation: &str) -> T {
    result.unwrap_or_else(|err| {
        panic!(
            "{operation} failed (busy: {}): {} {err}",
            err.is_busy(),
            err.code()
        )
    })
}

/// One thread's 2,000 operations; tokens it was given are kept per resource and reused,
/// including superseded ones, so lost and expired answers happen too.
fn run_thread(store: &SqliteStore, file_clock: &TestFile, seed: u8) -> Tally {
    let mut rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[seed; 32]);
    let mut tokens: HashMap<usize, Vec<LeaseToken>> = HashMap::new();
    let mut tally = Tally::default();

    for _ in 0..OPERATIONS {
        if rng.random_ratio(1, 3) {
            file_clock
                .clock
                .advance(rng.random_range(0..1_500))
                .unwrap();
        }
        let index = rng.random_range(0..RESOURCES);
        let target = resource(index);
        let roll = rng.random_range(0..100);

        if roll < 35 {
            let who = holder(
                OWNERS[rng.random_range(0..OWNERS.len())],
                SESSIONS[rng.random_range(0..SESSIONS.len())],
            );
            let terms = LeaseTerms::new(1_000, rng.random_range(2..=3)).unwrap();
            let (takeover, force) = (rng.random_ratio(1, 5), rng.random_ratio(1, 10));
            let acquired = expect_ok(
                store.acquire(&target, &who, terms, takeover, force),
                "acquire",
            );
            match &acquired.outcome {
                AcquireOutcome::Granted { .. } => tally.grants += 1,
                AcquireOutcome::Renewed { .. } => tally.renewals += 1,
                AcquireOutcome::Busy { .. } => assert!(acquired.token.is_none()),
            }
            if let Some(token) = acquired.token {
                tokens.entry(index).or_default().push(token);
            }
        } else if roll < 65 {
            if let Some(token) = pick_token(&mut rng, &tokens, index) {
                let beat = expect_ok(store.heartbeat(&target, token.expose()), "heartbeat");
                if let HeartbeatOutcome::Renewed { lease } = beat.outcome {
                    assert_eq!(lease.heartbeat_at, beat.at);
                }
            }
        } else if roll < 80 {
            if let Some(token) = pick_token(&mut rng, &tokens, index) {
                let released = expect_ok(store.release(&target, token.expose()), "release");
                if matches!(released.outcome, ReleaseOutcome::Released { .. }) {
                    tally.releases += 1;
                }
            }
        } else if roll < 88 {
            let status = expect_ok(store.status(&target), "status");
            assert!(status.view.current.is_none() || status.view.fence >= 1);
        } else if roll < 92 {
            let history = expect_ok(store.history(&target, 50), "history");
            assert!(history
                .windows(2)
                .all(|pair| pair[0].sequence > pair[1].sequence));
        } else if roll < 96 {
            let project = Scope::new("project").unwrap();
            let listed = expect_ok(store.holders(&project), "holders");
            assert!(listed.holders.len() <= RESOURCES);
        } else {
            let report = expect_ok(store.sweep(), "sweep");
            tally.swept += report.expired.len() as u64;
        }
    }
    tally
}

/// Mostly the newest token this thread got for the resource, sometimes an older one.
fn pick_token<'a>(
    rng: &mut TestRng,
    tokens: &'a HashMap<usize, Vec<LeaseToken>>,
    index: usize,
) -> Option<&'a LeaseToken> {
    let held = tokens.get(&index)?;
    if rng.random_ratio(1, 4) {
        held.get(rng.random_range(0..held.len()))
    } else {
        held.last()
    }
}

/// One resource as the log alone tells it.
#[derive(Clone, Debug, Default)]
struct Replayed {
    fence: u64,
    held: Option<(String, String, i64)>,
    ended: Option<(String, String, EndReason, i64)>,
}

/// One row of `lease_events`.
struct Logged {
    id: i64,
    at: i64,
    resource: String,
    kind: String,
    owner: String,
    session: String,
    fence: u64,
    actor: Option<String>,
}

impl Replayed {
    fn is_held_by(&self, event: &Logged) -> bool {
        self.held.as_ref().is_some_and(|(owner, session, _)| {
            (owner, session) == (&event.owner, &event.session) && self.fence == event.fence
        })
    }

    /// Applies one event after checking it is allowed from the current state.
    fn apply(&mut self, event: &Logged) -> EventKind {
        let id = event.id;
        match event.kind.as_str() {
            "acquired" | "taken_over" | "forced" => {
                assert_eq!(
                    event.fence,
                    self.fence + 1,
                    "event {id}: a grant takes the next fence"
                );
                let previous = self.held.as_ref();
                let allowed = match event.kind.as_str() {
                    "acquired" => previous.is_none(),
                    "taken_over" => previous.is_some_and(|(owner, session, _)| {
                        *owner == event.owner && *session != event.session
                    }),
                    _ => previous.is_some_and(|(owner, _, _)| *owner != event.owner),
                };
                assert!(allowed, "event {id}: {} from {previous:?}", event.kind);
                self.fence = event.fence;
                self.held = Some((event.owner.clone(), event.session.clone(), event.at));
                self.ended = None;
                EventKind::Acquired
            }
            "renewed" => {
                assert!(
                    self.is_held_by(event),
                    "event {id}: renewal of another lease"
                );
                EventKind::Renewed
            }
            "released" | "expired" => {
                assert!(self.is_held_by(event), "event {id}: ends another lease");
                let (reason, kind) = if event.kind == "released" {
                    (EndReason::Released, EventKind::Released)
                } else {
                    (EndReason::Expired, EventKind::Expired)
                };
                self.held = None;
                let holder = (event.owner.clone(), event.session.clone());
                self.ended = Some((holder.0, holder.1, reason, event.at));
                kind
            }
            other => panic!("event {id}: unknown kind {other}"),
        }
    }
}

fn read_log(file: &TestFile) -> Vec<Logged> {
    let conn = raw(&file.path);
    let mut statement = conn
        .prepare(
            "SELECT id, at, resource_id, kind, owner, session_id, fence, actor
             FROM lease_events ORDER BY id",
        )
        .unwrap();
    let rows = statement.query_map([], |row| {
        Ok(Logged {
            id: row.get(0)?,
            at: row.get(1)?,
            resource: row.get(2)?,
            kind: row.get(3)?,
            owner: row.get(4)?,
            session: row.get(5)?,
            fence: row.get::<_, i64>(6)? as u64,
            actor: row.get(7)?,
        })
    });
    rows.unwrap().collect::<Result<_, _>>().unwrap()
}

/// Replays the whole log in commit order, checking each transition is allowed from the state
/// before it, and answers each resource's final state and the number of each kind of event
/// (split by whether an owner or the sweeper caused it).
fn replay_log(file: &TestFile) -> (HashMap<String, Replayed>, HashMap<(EventKind, bool), u64>) {
    let mut resources: HashMap<String, Replayed> = HashMap::new();
    let mut counts: HashMap<(EventKind, bool), u64> = HashMap::new();
    let mut last_at = i64::MIN;
    let mut ended_by_acquirer: Option<(String, i64, String)> = None;

    for event in read_log(file) {
        let id = event.id;
        assert!(
            event.at >= last_at,
            "event {id} is stamped before an earlier commit"
        );
        last_at = event.at;
        if let Some((resource, at, acquirer)) = ended_by_acquirer.take() {
            let follows = (&event.resource, event.at, &event.owner) == (&resource, at, &acquirer);
            assert!(
                follows && event.kind == "acquired",
                "event {id}: an expiry by an acquirer is followed by that acquirer's grant"
            );
        }

        let kind = resources
            .entry(event.resource.clone())
            .or_default()
            .apply(&event);
        if let (EventKind::Expired, Some(acquirer)) = (kind, &event.actor) {
            ended_by_acquirer = Some((event.resource.clone(), event.at, acquirer.clone()));
        }
        *counts.entry((kind, event.actor.is_some())).or_default() += 1;
    }
    assert!(
        ended_by_acquirer.is_none(),
        "the log ends with an unfinished grant"
    );
    (resources, counts)
}

#[test]
fn eight_threads_of_random_operations_keep_rows_and_log_in_agreement() {
    let file = Arc::new(TestFile::new());
    let shared = Arc::new(file.open());

    let handles: Vec<_> = (0..THREADS)
        .map(|thread_index| {
            let file = Arc::clone(&file);
            let shared = Arc::clone(&shared);
            thread::spawn(move || {
                let seed = thread_index as u8 + 1;
                if thread_index < THREADS / 2 {
                    run_thread(&shared, &file, seed)
                } else {
                    run_thread(&file.open(), &file, seed)
                }
            })
        })
        .collect();
    let mut told = Tally::default();
    for handle in handles {
        told.add(&handle.join().expect("no thread failed"));
    }

    let (replayed, counts) = replay_log(&file);
    let count = |kind, by_actor| counts.get(&(kind, by_actor)).copied().unwrap_or(0);
    let in_log = Tally {
        grants: count(EventKind::Acquired, true),
        renewals: count(EventKind::Renewed, true),
        releases: count(EventKind::Released, true),
        swept: count(EventKind::Expired, false),
    };
    assert_eq!(
        in_log, told,
        "every answer the threads got is in the log, and nothing else"
    );
    assert!(
        told.grants > 100 && told.releases > 0 && told.swept > 0,
        "{told:?}"
    );
    assert!(
        count(EventKind::Expired, true) > 0,
        "some grants ended a stale lease"
    );

    let conn = raw(&file.path);
    for index in 0..RESOURCES {
        let target = resource(index);
        let stored = read_record(&conn, &target);
        let from_log = replayed
            .get(target.id.as_str())
            .cloned()
            .unwrap_or_default();
        assert_eq!(stored.fence(), from_log.fence, "{target}");
        match (stored.state(), &from_log.held, &from_log.ended) {
            (LeaseState::Vacant, None, None) => assert_eq!(from_log.fence, 0),
            (LeaseState::Held(lease), Some((owner, session, acquired_at)), None) => {
                assert_eq!(lease.holder().owner.as_str(), owner, "{target}");
                assert_eq!(lease.holder().session_id.as_str(), session, "{target}");
                assert_eq!(lease.acquired_at().as_millis(), *acquired_at, "{target}");
            }
            (
                LeaseState::Ended {
                    lease,
                    reason,
                    ended_at,
                },
                None,
                Some((owner, session, logged_reason, logged_at)),
            ) => {
                assert_eq!(lease.holder().owner.as_str(), owner, "{target}");
                assert_eq!(lease.holder().session_id.as_str(), session, "{target}");
                assert_eq!(reason, logged_reason, "{target}");
                assert_eq!(ended_at.as_millis(), *logged_at, "{target}");
            }
            (state, held, ended) => {
                panic!("{target}: stored {state:?}, log says held {held:?} ended {ended:?}")
            }
        }
    }

    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
}
