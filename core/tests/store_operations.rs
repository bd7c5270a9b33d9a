//! The store's operations one at a time: what they answer, what they write, what they keep.

mod store_support;

use std::time::Duration;

use leasekit_core::store::schema::SCHEMA_VERSION;
use leasekit_core::store::{SqliteStore, StoreOptions, Synchronous};
use leasekit_core::{
    AcquireOutcome, EndReason, EventKind, HeartbeatOutcome, LeaseState, ReleaseOutcome, Scope,
};
use store_support::{digest_hex, dump, holder, key, raw, read_record, terms, TestFile, T0};

#[test]
fn a_new_file_runs_in_wal_with_the_backend_pragmas() {
    let file = TestFile::new();
    let settings = file.open().settings().unwrap();

    assert_eq!(settings.journal_mode, "wal");
    assert_eq!(settings.synchronous, Synchronous::Normal);
    assert_eq!(settings.busy_timeout_ms, 5_000);
    assert!(settings.foreign_keys);
    assert_eq!(settings.schema_version, SCHEMA_VERSION);

    let on_disk: String = raw(&file.path)
        .pragma_query_value(None, "journal_mode", |row| row.get(0))
        .unwrap();
    assert_eq!(
        on_disk, "wal",
        "WAL is a property of the file, seen by every process"
    );
}

#[test]
fn durability_and_busy_timeout_are_configurable() {
    let file = TestFile::new();
    let options = StoreOptions {
        synchronous: Synchronous::Full,
        busy_timeout: Duration::from_millis(250),
        ..file.options()
    };
    let settings = SqliteStore::open_with(&file.path, options)
        .unwrap()
        .settings()
        .unwrap();

    assert_eq!(settings.synchronous, Synchronous::Full);
    assert_eq!(settings.busy_timeout_ms, 250);
}

#[test]
fn a_file_written_by_a_newer_leasekit_is_refused_with_schema_too_new() {
    let file = TestFile::new();
    drop(file.open());
    raw(&file.path)
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    let before = dump(&file.path);

    let err = SqliteStore::open_with(&file.path, file.options()).unwrap_err();

    assert_eq!(err.code().as_str(), "schema_too_new");
    let message = err.to_string();
    assert!(
        message.contains(&format!("schema version {}", SCHEMA_VERSION + 1)),
        "{message}"
    );
    assert!(message.contains("leases.db"), "{message}");
    assert_eq!(dump(&file.path), before);
}

#[test]
fn a_version_zero_file_with_other_tables_is_migrated_forward_and_keeps_them() {
    let file = TestFile::new();
    let conn = raw(&file.path);
    conn.execute_batch(
        "CREATE TABLE workspace_locks (deployment_id TEXT PRIMARY KEY, owner TEXT);
         INSERT INTO workspace_locks VALUES ('d-1', 'attempt-7');",
    )
    .unwrap();
    drop(conn);

    let store = file.open();
    let granted = store
        .acquire(
            &key("alpha"),
            &holder("alice", "tab-1"),
            terms(30_000),
            false,
            false,
        )
        .unwrap();

    assert!(matches!(granted.outcome, AcquireOutcome::Granted { .. }));
    let conn = raw(&file.path);
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    let owner: String = conn
        .query_row("SELECT owner FROM workspace_locks", [], |row| row.get(0))
        .unwrap();
    assert_eq!(owner, "attempt-7");
}

#[test]
fn an_in_memory_database_is_refused_because_it_cannot_use_wal() {
    let err = SqliteStore::open(":memory:").unwrap_err();

    assert_eq!(err.code().as_str(), "storage_failure");
    assert!(err.to_string().contains("WAL"), "{err}");
}

#[test]
fn a_grant_survives_closing_and_reopening_the_file() {
    let file = TestFile::new();
    let store = file.open();
    let granted = store
        .acquire(
            &key("alpha"),
            &holder("alice", "tab-1"),
            terms(30_000),
            false,
            false,
        )
        .unwrap();
    let token = granted.token.unwrap();
    drop(store);

    file.set_time(60_000);
    let reopened = file.open();
    let beat = reopened.heartbeat(&key("alpha"), token.expose()).unwrap();

    let HeartbeatOutcome::Renewed { lease } = beat.outcome else {
        panic!("expected renewed, got {:?}", beat.outcome);
    };
    assert_eq!(lease.fence, 1);
    assert_eq!(lease.acquired_at.as_millis(), T0);
    assert_eq!(lease.heartbeat_at.as_millis(), T0 + 60_000);
    assert_eq!(beat.at.as_millis(), T0 + 60_000);
}

#[test]
fn acquire_hands_out_a_token_only_when_it_grants_or_renews() {
    let file = TestFile::new();
    let store = file.open();
    let alpha = key("alpha");
    let alice = holder("alice", "tab-1");

    let granted = store
        .acquire(&alpha, &alice, terms(30_000), false, false)
        .unwrap();
    let first = granted.token.expect("a grant hands out a token");

    let busy = store
        .acquire(
            &alpha,
            &holder("bob", "laptop"),
            terms(30_000),
            false,
            false,
        )
        .unwrap();
    assert!(matches!(
        busy.outcome,
        AcquireOutcome::Busy {
            same_owner: false,
            ..
        }
    ));
    assert!(busy.token.is_none(), "a refusal hands out nothing");

    file.set_time(1_000);
    let renewed = store
        .acquire(&alpha, &alice, terms(30_000), false, false)
        .unwrap();
    assert!(matches!(renewed.outcome, AcquireOutcome::Renewed { ref lease } if lease.fence == 1));
    let second = renewed.token.expect("a renewal hands out a fresh token");
    assert_ne!(first.expose(), second.expose());

    let old = store.heartbeat(&alpha, first.expose()).unwrap();
    assert!(
        matches!(old.outcome, HeartbeatOutcome::Lost { .. }),
        "{old:?}"
    );
    let new = store.heartbeat(&alpha, second.expose()).unwrap();
    assert!(
        matches!(new.outcome, HeartbeatOutcome::Renewed { .. }),
        "{new:?}"
    );
}

#[test]
fn heartbeats_move_the_row_but_add_no_event() {
    let file = TestFile::new();
    let store = file.open();
    let alpha = key("alpha");
    let token = store
        .acquire(
            &alpha,
            &holder("alice", "tab-1"),
            terms(1_000),
            false,
            false,
        )
        .unwrap()
        .token
        .unwrap();

    for second in 1..=60 {
        file.set_time(second * 1_000);
        let beat = store.heartbeat(&alpha, token.expose()).unwrap();
        assert!(matches!(beat.outcome, HeartbeatOutcome::Renewed { .. }));
    }

    let history = store.history(&alpha, 1_000).unwrap();
    assert_eq!(history.len(), 1, "only the grant: {history:?}");
    let record = read_record(&raw(&file.path), &alpha);
    let lease = record.held().unwrap();
    assert_eq!(lease.heartbeat_at().as_millis(), T0 + 60_000);
    assert_eq!(
        lease.expires_at().as_millis(),
        T0 + 63_000,
        "last beat plus threshold"
    );
}

#[test]
fn a_grant_on_a_stale_lease_logs_expired_then_acquired_by_the_new_holder() {
    let file = TestFile::new();
    let store = file.open();
    let alpha = key("alpha");
    store
        .acquire(
            &alpha,
            &holder("alice", "tab-1"),
            terms(1_000),
            false,
            false,
        )
        .unwrap();

    file.set_time(3_001);
    let granted = store
        .acquire(&alpha, &holder("bob", "laptop"), terms(1_000), false, false)
        .unwrap();

    let AcquireOutcome::Granted { lease, previous } = granted.outcome else {
        panic!("expected a grant");
    };
    assert_eq!(lease.fence, 2);
    let previous = previous.unwrap();
    assert_eq!((previous.fence, previous.ended), (1, EndReason::Expired));

    let history = store.history(&alpha, 10).unwrap();
    let kinds: Vec<_> = history.iter().map(|entry| entry.event.kind).collect();
    assert_eq!(
        kinds,
        [EventKind::Acquired, EventKind::Expired, EventKind::Acquired]
    );
    let expired = &history[1].event;
    assert_eq!(expired.holder.owner.as_str(), "alice");
    assert_eq!(
        expired.actor.as_ref().map(leasekit_core::Owner::as_str),
        Some("bob")
    );
}

#[test]
fn history_is_newest_first_bounded_and_pages_by_sequence() {
    let file = TestFile::new();
    let store = file.open();
    let alpha = key("alpha");
    for round in 0..5 {
        file.set_time(round * 10);
        let token = store
            .acquire(
                &alpha,
                &holder("alice", "tab-1"),
                terms(30_000),
                false,
                false,
            )
            .unwrap()
            .token
            .unwrap();
        file.set_time(round * 10 + 5);
        store.release(&alpha, token.expose()).unwrap();
    }

    let newest = store.history(&alpha, 3).unwrap();
    assert_eq!(newest.len(), 3);
    assert!(newest
        .windows(2)
        .all(|pair| pair[0].sequence > pair[1].sequence));
    assert_eq!(newest[0].event.kind, EventKind::Released);
    assert_eq!(newest[0].event.fence, 5);
    assert_eq!(newest[0].event.at.as_millis(), T0 + 45);

    let older = store
        .history_before(&alpha, newest[2].sequence, 1_000)
        .unwrap();
    assert_eq!(older.len(), 7, "ten events in all");
    assert!(older[0].sequence < newest[2].sequence);
    assert_eq!(older.last().unwrap().event.kind, EventKind::Acquired);
    assert_eq!(older.last().unwrap().event.fence, 1);

    for bad in [0, 1_001, u32::MAX] {
        let err = store.history(&alpha, bad).unwrap_err();
        assert_eq!(err.code().as_str(), "invalid_document");
        assert!(err.to_string().starts_with("limit: "), "{err}");
    }
}

#[test]
fn answers_never_contain_the_token_or_its_digest() {
    let file = TestFile::new();
    let store = file.open();
    let alpha = key("alpha");
    let acquired = store
        .acquire(
            &alpha,
            &holder("alice", "tab-1"),
            terms(1_000),
            false,
            false,
        )
        .unwrap();
    let token = acquired.token.clone().unwrap();
    let secret = token.expose().to_owned();
    let digest = digest_hex(&secret);

    let mut shown = vec![
        format!("{acquired:?}"),
        serde_json::to_string(&acquired.outcome).unwrap(),
        serde_json::to_string(&store.heartbeat(&alpha, &secret).unwrap()).unwrap(),
        serde_json::to_string(&store.status(&alpha).unwrap()).unwrap(),
        serde_json::to_string(&store.holders(&Scope::new("project").unwrap()).unwrap()).unwrap(),
    ];
    file.set_time(10_000);
    shown.push(serde_json::to_string(&store.sweep().unwrap()).unwrap());
    shown.push(serde_json::to_string(&store.release(&alpha, &secret).unwrap()).unwrap());
    shown.push(serde_json::to_string(&store.history(&alpha, 10).unwrap()).unwrap());
    shown.push(format!("{:?}", store.history(&alpha, 10).unwrap()));

    for text in &shown {
        assert!(!text.contains(&secret), "token in {text}");
        assert!(!text.contains(&digest), "digest in {text}");
    }
    assert!(
        shown.iter().any(|text| text.contains("alice")),
        "the answers were checked"
    );

    drop(store);
    let (main, log) = store_support::file_bytes(&file.path);
    let stored = [main, log].concat();
    let contains = |needle: &[u8]| stored.windows(needle.len()).any(|window| window == needle);
    assert!(!contains(secret.as_bytes()), "the token is never stored");
    assert!(contains(&hex::decode(&digest).unwrap()), "its digest is");
}

#[test]
fn holders_lists_live_and_stale_leases_of_one_scope_in_id_order() {
    let file = TestFile::new();
    let store = file.open();
    store
        .acquire(
            &key("b-stale"),
            &holder("bob", "s"),
            terms(1_000),
            false,
            false,
        )
        .unwrap();
    file.set_time(5_000);
    store
        .acquire(
            &key("a-live"),
            &holder("alice", "s"),
            terms(30_000),
            false,
            false,
        )
        .unwrap();
    let released = store
        .acquire(
            &key("c-released"),
            &holder("carol", "s"),
            terms(30_000),
            false,
            false,
        )
        .unwrap();
    store
        .release(&key("c-released"), released.token.unwrap().expose())
        .unwrap();
    let deployment = leasekit_core::ResourceKey::new("deployment", "d-1").unwrap();
    store
        .acquire(
            &deployment,
            &holder("attempt-1", "s"),
            terms(30_000),
            false,
            false,
        )
        .unwrap();

    let listed = store.holders(&Scope::new("project").unwrap()).unwrap();

    let seen: Vec<(&str, bool)> = listed
        .holders
        .iter()
        .map(|held| (held.id.as_str(), held.lease.stale))
        .collect();
    assert_eq!(seen, [("a-live", false), ("b-stale", true)]);
    assert_eq!(listed.at.as_millis(), T0 + 5_000);
    assert_eq!(listed.holders[1].lease.owner.as_str(), "bob");
}

#[test]
fn release_twice_answers_already_released_and_writes_nothing() {
    let file = TestFile::new();
    let store = file.open();
    let alpha = key("alpha");
    let token = store
        .acquire(
            &alpha,
            &holder("alice", "tab-1"),
            terms(30_000),
            false,
            false,
        )
        .unwrap()
        .token
        .unwrap();
    let first = store.release(&alpha, token.expose()).unwrap();
    assert!(matches!(first.outcome, ReleaseOutcome::Released { .. }));
    let after_first = dump(&file.path);

    file.set_time(1_000);
    let second = store.release(&alpha, token.expose()).unwrap();

    assert_eq!(
        second.outcome,
        ReleaseOutcome::AlreadyReleased {
            fence: 1,
            reason: EndReason::Released
        }
    );
    assert_eq!(dump(&file.path), after_first);
}

#[test]
fn prune_empties_old_tombstones_and_keeps_their_fence() {
    let file = TestFile::new();
    let store = file.open();
    let (old, recent, held) = (key("old"), key("recent"), key("held"));
    for _ in 0..3 {
        let token = store
            .acquire(&old, &holder("alice", "s"), terms(1_000), false, false)
            .unwrap()
            .token
            .unwrap();
        store.release(&old, token.expose()).unwrap();
    }
    store
        .acquire(&held, &holder("carol", "s"), terms(1_000), false, false)
        .unwrap();
    file.set_time(100_000);
    let token = store
        .acquire(&recent, &holder("bob", "s"), terms(1_000), false, false)
        .unwrap()
        .token
        .unwrap();
    store.release(&recent, token.expose()).unwrap();
    let last_sequence = store.history(&recent, 1).unwrap()[0].sequence;

    let report = store
        .prune_tombstones(store_support::at(T0 + 50_000))
        .unwrap();

    assert_eq!((report.pruned, report.events_deleted), (1, 6));
    let conn = raw(&file.path);
    let pruned = read_record(&conn, &old);
    assert_eq!((pruned.fence(), pruned.state()), (3, &LeaseState::Vacant));
    assert!(store.history(&old, 10).unwrap().is_empty());
    assert_eq!(store.status(&old).unwrap().view.fence, 3);
    assert_eq!(
        store.history(&recent, 10).unwrap().len(),
        2,
        "recent tombstone kept"
    );
    assert!(
        read_record(&conn, &held).held().is_some(),
        "a stale held lease is never pruned"
    );

    let regranted = store
        .acquire(&old, &holder("dave", "s"), terms(1_000), false, false)
        .unwrap();
    let AcquireOutcome::Granted { lease, previous } = regranted.outcome else {
        panic!("expected a grant");
    };
    assert_eq!(lease.fence, 4, "the fence continues after a prune");
    assert!(previous.is_none(), "the pruned holder is forgotten");
    let history = store.history(&old, 10).unwrap();
    assert_eq!(history.len(), 1);
    assert!(
        history[0].sequence > last_sequence,
        "event ids are never reused"
    );
}

#[test]
fn the_schema_itself_refuses_writes_that_break_the_model() {
    let file = TestFile::new();
    let store = file.open();
    let token = store
        .acquire(
            &key("alpha"),
            &holder("alice", "s"),
            terms(30_000),
            false,
            false,
        )
        .unwrap()
        .token
        .unwrap();
    store.release(&key("alpha"), token.expose()).unwrap();
    store
        .acquire(
            &key("beta"),
            &holder("bob", "s"),
            terms(30_000),
            false,
            false,
        )
        .unwrap();
    let before = dump(&file.path);
    let conn = raw(&file.path);

    let refused = [
        (
            "DELETE FROM leases WHERE resource_id = 'alpha'",
            "never deleted",
        ),
        (
            "UPDATE leases SET fence = 0 WHERE resource_id = 'alpha'",
            "never goes back",
        ),
        ("UPDATE lease_events SET owner = 'mallory'", "append-only"),
        ("DELETE FROM lease_events", "deleted only by pruning"),
        (
            "UPDATE leases SET token_digest = x'00' WHERE resource_id = 'beta'",
            "CHECK",
        ),
        (
            "UPDATE leases SET expires_at = expires_at + 1 WHERE resource_id = 'beta'",
            "CHECK",
        ),
        (
            "UPDATE leases SET state = 'taken' WHERE resource_id = 'beta'",
            "CHECK",
        ),
        (
            "UPDATE leases SET end_reason = 'expired' WHERE resource_id = 'beta'",
            "CHECK",
        ),
        (
            "UPDATE leases SET state = 'vacant' WHERE resource_id = 'beta'",
            "CHECK",
        ),
        (
            "INSERT INTO lease_events (at, scope, resource_id, kind, owner, session_id, fence)
             VALUES (1, 'project', 'nowhere', 'acquired', 'x', 'y', 1)",
            "FOREIGN KEY",
        ),
    ];
    conn.pragma_update(None, "foreign_keys", true).unwrap();
    for (sql, reason) in refused {
        let err = match conn.execute(sql, []) {
            Ok(changed) => panic!("{sql}: accepted, {changed} rows changed"),
            Err(err) => err.to_string(),
        };
        assert!(err.contains(reason), "{sql}: {err}");
    }
    assert_eq!(dump(&file.path), before);
}
