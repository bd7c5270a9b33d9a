//! Sweeping a large table: exactly the stale leases end, found through the expiry index.
//!
//! The cost of a sweep must follow the number of stale leases, not the size of the table. That
//! is a property of the query plan, so the plan is what is asserted; timing is left to
//! benchmarks.

mod store_support;

use std::collections::BTreeSet;

use leasekit_core::store::schema::SWEEP_CANDIDATES_SQL;
use leasekit_core::store::{SqliteStore, StoreOptions};
use leasekit_core::ResourceKey;
use store_support::{holder, key, raw, read_record, terms, TestFile, T0};

const TOTAL: i64 = 100_000;
const STALE: usize = 1_000;

/// Inserts live leases `bulk-0 .. bulk-{count - 1}` in one statement, as another writer of the
/// documented schema would. Their expiries spread over the next hour; the first ones expire
/// exactly at `sweep_at`, the last instant they are still live.
fn insert_live_leases(file: &TestFile, count: i64, sweep_at: i64) {
    let conn = raw(&file.path);
    let stale_after_ms = 90_000;
    conn.execute(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?1)
         INSERT INTO leases (scope, resource_id, fence, state, owner, session_id, token_digest,
                             acquired_at, heartbeat_at, interval_ms, beats, stale_after_ms,
                             expires_at)
         SELECT 'project', 'bulk-' || i, 1 + i % 7, 'held', 'owner-' || (i % 50), 'tab-1',
                randomblob(32), ?2 - ?3 + (i % 3600) * 1000, ?2 - ?3 + (i % 3600) * 1000,
                30000, 3, ?3, ?2 + (i % 3600) * 1000
         FROM n",
        (count, sweep_at, stale_after_ms),
    )
    .expect("bulk insert");
}

#[test]
fn sweep_over_a_hundred_thousand_leases_ends_exactly_the_thousand_stale_ones() {
    let file = TestFile::new();
    let options = StoreOptions {
        batch_size: std::num::NonZeroU32::new(128).unwrap(),
        ..file.options()
    };
    let store = SqliteStore::open_with(&file.path, options).unwrap();

    // 1,000 leases granted at T0 with a 1 s interval: stale from T0 + 3001 ms on.
    let stale_keys: BTreeSet<ResourceKey> = (0..STALE).map(|n| key(&format!("old-{n}"))).collect();
    for stale_key in &stale_keys {
        let granted = store
            .acquire(
                stale_key,
                &holder("alice", "tab-1"),
                terms(1_000),
                false,
                false,
            )
            .unwrap();
        assert!(granted.token.is_some());
    }

    // The other 99,000 are live at the sweep, some at their very last live millisecond.
    let sweep_at = T0 + 10_000;
    insert_live_leases(&file, TOTAL - STALE as i64, sweep_at);
    file.set_time(10_000);

    let report = store.sweep().unwrap();

    let ended: BTreeSet<ResourceKey> = report.expired.iter().map(|e| e.key.clone()).collect();
    assert_eq!(ended, stale_keys);
    assert_eq!(report.expired.len(), STALE, "each stale lease ended once");
    assert_eq!(report.changed_since_read, 0);
    assert_eq!(report.unreadable, 0);
    assert_eq!(report.batches, (STALE as u64).div_ceil(128));

    let conn = raw(&file.path);
    let counts: (i64, i64, i64) = conn
        .query_row(
            "SELECT count(*), sum(state = 'held'),
                    sum(state = 'released' AND end_reason = 'expired')
             FROM leases",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .unwrap();
    assert_eq!(counts, (TOTAL, TOTAL - STALE as i64, STALE as i64));

    let sweeper_events: i64 = conn
        .query_row(
            "SELECT count(*) FROM lease_events WHERE kind = 'expired' AND actor IS NULL",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(sweeper_events, STALE as i64);

    let boundary = read_record(&conn, &key("bulk-0"));
    assert_eq!(
        boundary.held().map(|lease| lease.expires_at().as_millis()),
        Some(sweep_at),
        "a lease at its last live millisecond is not swept"
    );

    let again = store.sweep().unwrap();
    assert!(again.expired.is_empty(), "a second sweep finds nothing");
}

#[test]
fn the_sweep_query_searches_the_partial_expiry_index_instead_of_scanning() {
    let file = TestFile::new();
    let _store = file.open();
    insert_live_leases(&file, 2_000, T0);
    let conn = raw(&file.path);
    conn.execute_batch("ANALYZE").unwrap();

    let mut explain = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {SWEEP_CANDIDATES_SQL}"))
        .unwrap();
    let plan: Vec<String> = explain
        .query_map((T0, i64::MIN, "", "", 500), |row| row.get(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();

    assert_eq!(plan.len(), 1, "{plan:?}");
    assert!(
        plan[0].starts_with("SEARCH leases USING INDEX leases_held_by_expiry"),
        "{plan:?}"
    );
    assert!(plan[0].contains("expires_at<?"), "{plan:?}");
    assert!(!plan.iter().any(|step| step.contains("SCAN")), "{plan:?}");
    assert!(
        !plan.iter().any(|step| step.contains("TEMP B-TREE")),
        "the index order serves ORDER BY: {plan:?}"
    );
}
