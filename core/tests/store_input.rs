//! Bad input gets the typed error with its stable code, and the file stays exactly as it was.
//!
//! Names, intervals and beats are validated by the core's types before the store is reached;
//! tokens, history limits, out-of-range results and rows that break the model are caught inside
//! the store, whose transaction then rolls back. Either way no byte of the database or of its
//! write-ahead log changes.

mod store_support;

use leasekit_core::store::{Acquired, SqliteStore, StoreError};
use leasekit_core::{Holder, LeaseTerms, ResourceKey, MAX_SAFE_INTEGER};
use serde_json::json;
use store_support::{dump, file_bytes, holder, key, raw, terms, write_record, TestFile};

/// An acquire from raw text, as a binding or an HTTP handler performs it.
fn acquire_from_text(
    store: &SqliteStore,
    (scope, id, owner, session_id): (&str, &str, &str, &str),
    (interval_ms, beats): (i64, i64),
) -> Result<Acquired, StoreError> {
    let key = ResourceKey::new(scope, id)?;
    let holder = Holder::new(owner, session_id)?;
    let terms = LeaseTerms::new(interval_ms, beats)?;
    store.acquire(&key, &holder, terms, false, false)
}

/// A store with one live lease, one released tombstone and their events.
fn populated() -> (TestFile, SqliteStore) {
    let file = TestFile::new();
    let store = file.open();
    store
        .acquire(
            &key("live"),
            &holder("alice", "tab-1"),
            terms(30_000),
            false,
            false,
        )
        .unwrap();
    let token = store
        .acquire(
            &key("ended"),
            &holder("bob", "tab-1"),
            terms(30_000),
            false,
            false,
        )
        .unwrap()
        .token
        .unwrap();
    store.release(&key("ended"), token.expose()).unwrap();
    (file, store)
}

/// Asserts `result` failed with `code`, and that neither the rows nor the bytes changed.
fn assert_refused_unchanged<T: std::fmt::Debug>(
    file: &TestFile,
    before: &(String, (Vec<u8>, Vec<u8>)),
    result: Result<T, StoreError>,
    code: &str,
) -> StoreError {
    let err = result.expect_err("bad input must be an error");
    assert_eq!(err.code().as_str(), code, "{err}");
    assert_eq!(dump(&file.path), before.0, "rows changed after {err}");
    assert!(
        file_bytes(&file.path) == before.1,
        "bytes changed after {err}"
    );
    err
}

fn snapshot(file: &TestFile) -> (String, (Vec<u8>, Vec<u8>)) {
    (dump(&file.path), file_bytes(&file.path))
}

#[test]
fn bad_ids_owners_sessions_and_intervals_are_refused_and_change_nothing() {
    let (file, store) = populated();
    let before = snapshot(&file);
    let good = ("project", "live", "bob", "tab-2");

    let cases = [
        (
            ("Project", good.1, good.2, good.3),
            (30_000, 3),
            "invalid_scope",
            "scope",
        ),
        (
            (good.0, "-live", good.2, good.3),
            (30_000, 3),
            "invalid_resource_id",
            "id",
        ),
        (
            (good.0, "a/b", good.2, good.3),
            (30_000, 3),
            "invalid_resource_id",
            "id",
        ),
        (
            (good.0, good.1, "", good.3),
            (30_000, 3),
            "invalid_owner",
            "owner",
        ),
        (
            (good.0, good.1, "bo\nb", good.3),
            (30_000, 3),
            "invalid_owner",
            "owner",
        ),
        (
            (good.0, good.1, good.2, "tab 2"),
            (30_000, 3),
            "invalid_session_id",
            "session_id",
        ),
        (good, (0, 3), "invalid_interval", "heartbeat interval"),
        (good, (-30_000, 3), "invalid_interval", "heartbeat interval"),
        (
            good,
            (2_592_000_000, 3),
            "invalid_interval",
            "heartbeat interval",
        ),
        (good, (30_000, 1), "invalid_beats", "beats"),
    ];
    for (names, numbers, code, field) in cases {
        let err = assert_refused_unchanged(
            &file,
            &before,
            acquire_from_text(&store, names, numbers),
            code,
        );
        assert!(err.to_string().starts_with(field), "{err}");
    }
}

#[test]
fn malformed_tokens_are_refused_by_heartbeat_and_release_and_never_quoted() {
    let (file, store) = populated();
    let before = snapshot(&file);
    let long = "t".repeat(257);

    for token in ["", "has space", "tab\there", "ü-token", long.as_str()] {
        for result in [
            store.heartbeat(&key("live"), token).map(|_| ()),
            store.release(&key("live"), token).map(|_| ()),
        ] {
            let err = assert_refused_unchanged(&file, &before, result, "invalid_token");
            assert!(
                token.is_empty() || !err.to_string().contains(token),
                "{err}"
            );
        }
    }
}

#[test]
fn history_limits_outside_one_to_a_thousand_are_refused() {
    let (file, store) = populated();
    let before = snapshot(&file);

    for limit in [0, 1_001] {
        let err = assert_refused_unchanged(
            &file,
            &before,
            store.history(&key("live"), limit),
            "invalid_document",
        );
        assert!(err.to_string().contains(&limit.to_string()), "{err}");
    }
}

#[test]
fn a_grant_past_the_largest_safe_fence_is_refused_and_rolled_back() {
    let (file, store) = populated();
    let worn = key("worn");
    let flat = json!({
        "fence": MAX_SAFE_INTEGER, "state": "released", "owner": "alice", "session_id": "s",
        "token_digest": store_support::digest_hex("old-token"), "interval_ms": 30_000,
        "beats": 3, "acquired_at": 0, "heartbeat_at": 0, "end_reason": "released", "ended_at": 1
    });
    write_record(&raw(&file.path), &worn, &flat);
    let before = snapshot(&file);

    let result = store.acquire(&worn, &holder("bob", "s"), terms(30_000), false, false);

    assert_refused_unchanged(&file, &before, result, "fence_out_of_range");
}

#[test]
fn an_expiry_beyond_the_safe_time_range_is_refused_and_rolled_back() {
    let (file, store) = populated();
    let last_instant = chrono::DateTime::<chrono::Utc>::MAX_UTC.timestamp_millis();
    file.clock.set(store_support::at(last_instant - 1_000));
    let before = snapshot(&file);

    let result = store.acquire(
        &key("late"),
        &holder("bob", "s"),
        terms(1_000),
        false,
        false,
    );

    let err = assert_refused_unchanged(&file, &before, result, "time_out_of_range");
    assert!(err.to_string().starts_with("expires_at"), "{err}");
}

#[test]
fn a_stored_row_that_breaks_the_model_is_refused_as_invalid_record_and_left_alone() {
    let (file, store) = populated();
    let damaged = key("damaged");
    let flat = json!({
        "fence": 3, "state": "held", "owner": "eve\u{7}", "session_id": "s",
        "token_digest": store_support::digest_hex("eve-token"), "interval_ms": 1_000,
        "beats": 3, "acquired_at": 0, "heartbeat_at": 0
    });
    write_record(&raw(&file.path), &damaged, &flat);
    file.set_time(60_000);
    let before = snapshot(&file);

    let acquired = store.acquire(&damaged, &holder("bob", "s"), terms(1_000), false, true);
    let err = assert_refused_unchanged(&file, &before, acquired, "invalid_record");
    assert!(
        err.to_string()
            .starts_with("stored lease project/damaged: owner"),
        "{err}"
    );
    let beat = store.heartbeat(&damaged, "eve-token");
    assert_refused_unchanged(&file, &before, beat, "invalid_record");
    assert_refused_unchanged(&file, &before, store.status(&damaged), "invalid_record");

    let report = store.sweep().unwrap();
    assert_eq!(report.unreadable, 1, "the sweep skips the damaged row");
    assert!(report.expired.is_empty(), "and ends no other: {report:?}");
    assert_eq!(dump(&file.path), before.0);
}
