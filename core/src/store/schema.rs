//! The tables of the `SQLite` store, their version, and the migrations between versions.
//!
//! The DDL here is the contract with every other writer of the same file (the `SQLAlchemy`
//! adapter, an operator's tool): the module docs of [`crate::store`] explain each column. The
//! constraints and triggers restate the model's invariants in SQL, so a faulty writer is stopped
//! by `SQLite` itself rather than by the next reader.

use rusqlite::{Connection, TransactionBehavior};

use crate::store::error::StoreError;

/// The schema version this build writes and reads, kept in `PRAGMA user_version`.
pub const SCHEMA_VERSION: i64 = 1;

/// `leases.state` of a resource whose tombstone was pruned: only the fence is left.
pub const STATE_VACANT: &str = "vacant";
/// `leases.state` of a resource with a current lease, live or stale.
pub const STATE_HELD: &str = "held";
/// `leases.state` of a resource whose last lease ended (released, expired, taken over, forced).
pub const STATE_RELEASED: &str = "released";

/// Version 1: the `leases` and `lease_events` tables, their indexes and guard triggers.
pub const SCHEMA_V1: &str = r"
CREATE TABLE leases (
    scope          TEXT    NOT NULL,
    resource_id    TEXT    NOT NULL,
    fence          INTEGER NOT NULL,
    state          TEXT    NOT NULL,
    owner          TEXT,
    session_id     TEXT,
    token_digest   BLOB,
    acquired_at    INTEGER,
    heartbeat_at   INTEGER,
    interval_ms    INTEGER,
    beats          INTEGER,
    stale_after_ms INTEGER,
    expires_at     INTEGER,
    end_reason     TEXT,
    ended_at       INTEGER,
    PRIMARY KEY (scope, resource_id),
    CHECK (typeof(scope) = 'text' AND typeof(resource_id) = 'text'),
    CHECK (typeof(fence) = 'integer' AND fence BETWEEN 0 AND 9007199254740991),
    CHECK (state IN ('vacant', 'held', 'released')),
    CHECK (CASE state
        WHEN 'vacant' THEN coalesce(owner, session_id, token_digest, acquired_at, heartbeat_at,
            interval_ms, beats, stale_after_ms, expires_at, end_reason, ended_at) IS NULL
        ELSE fence >= 1
            AND typeof(owner) = 'text' AND typeof(session_id) = 'text'
            AND typeof(token_digest) = 'blob' AND length(token_digest) = 32
            AND typeof(acquired_at) = 'integer' AND typeof(heartbeat_at) = 'integer'
            AND typeof(interval_ms) = 'integer' AND typeof(beats) = 'integer'
            AND stale_after_ms = interval_ms * beats
            AND expires_at = heartbeat_at + stale_after_ms
        END),
    CHECK (CASE state
        WHEN 'released' THEN end_reason IS NOT NULL AND ended_at IS NOT NULL
        ELSE end_reason IS NULL AND ended_at IS NULL
        END),
    CHECK (end_reason IS NULL OR end_reason IN ('released', 'expired', 'taken_over', 'forced')),
    CHECK (ended_at IS NULL OR typeof(ended_at) = 'integer')
) WITHOUT ROWID;

CREATE INDEX leases_held_by_expiry ON leases (expires_at, scope, resource_id)
    WHERE state = 'held';
CREATE INDEX leases_released_by_end ON leases (ended_at)
    WHERE state = 'released';

CREATE TABLE lease_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL CHECK (typeof(at) = 'integer'),
    scope       TEXT    NOT NULL,
    resource_id TEXT    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN
        ('acquired', 'renewed', 'taken_over', 'forced', 'released', 'expired')),
    owner       TEXT    NOT NULL,
    session_id  TEXT    NOT NULL,
    fence       INTEGER NOT NULL CHECK (typeof(fence) = 'integer' AND fence >= 1),
    actor       TEXT,
    FOREIGN KEY (scope, resource_id) REFERENCES leases (scope, resource_id)
);

CREATE INDEX lease_events_by_resource ON lease_events (scope, resource_id, id);

CREATE TRIGGER leases_are_never_deleted BEFORE DELETE ON leases
BEGIN
    SELECT RAISE(ABORT, 'leases rows are never deleted: the fence must survive');
END;

CREATE TRIGGER leases_fence_never_goes_back BEFORE UPDATE OF fence ON leases
    WHEN NEW.fence < OLD.fence
BEGIN
    SELECT RAISE(ABORT, 'leases.fence never goes back');
END;

CREATE TRIGGER lease_events_are_append_only BEFORE UPDATE ON lease_events
BEGIN
    SELECT RAISE(ABORT, 'lease_events is append-only');
END;

CREATE TRIGGER lease_events_are_deleted_only_by_pruning BEFORE DELETE ON lease_events
    WHEN (SELECT state FROM leases
          WHERE scope = OLD.scope AND resource_id = OLD.resource_id) IS NOT 'vacant'
BEGIN
    SELECT RAISE(ABORT, 'lease_events rows are deleted only by pruning a vacant resource');
END;
";

/// The query a sweep runs to find stale leases, one batch at a time.
///
/// Parameters: `?1` the sweep's `now`; `?2, ?3, ?4` the `(expires_at, scope, resource_id)` of
/// the last row of the previous batch (a cursor, so every batch moves on); `?5` the batch size.
/// It reads the partial index `leases_held_by_expiry`, so its cost follows the number of stale
/// leases, not the size of the table.
pub const SWEEP_CANDIDATES_SQL: &str = "\
SELECT scope, resource_id, fence, state, owner, session_id, token_digest, acquired_at,
       heartbeat_at, interval_ms, beats, stale_after_ms, expires_at, end_reason, ended_at
FROM leases
WHERE state = 'held' AND expires_at < ?1
  AND (expires_at, scope, resource_id) > (?2, ?3, ?4)
ORDER BY expires_at, scope, resource_id
LIMIT ?5";

/// `MIGRATIONS[n]` takes a file from version `n` to version `n + 1`.
const MIGRATIONS: &[&str] = &[SCHEMA_V1];

/// Brings the file to [`SCHEMA_VERSION`], or refuses one written by a newer leasekit.
///
/// Several processes may open a new file at once: the version is read again inside an
/// immediate transaction, so exactly one of them runs each migration.
pub(crate) fn migrate(conn: &mut Connection, path: &str) -> Result<(), StoreError> {
    if check_version(conn, path)? == SCHEMA_VERSION {
        return Ok(());
    }

    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(StoreError::sqlite("migrate"))?;
    let found = check_version(&tx, path)?;
    for step in &MIGRATIONS[found as usize..] {
        tx.execute_batch(step)
            .map_err(StoreError::sqlite("migrate"))?;
    }

    tx.pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(StoreError::sqlite("migrate"))?;
    tx.commit().map_err(StoreError::sqlite("migrate"))
}

/// Reads `PRAGMA user_version` and refuses a version this build cannot read.
fn check_version(conn: &Connection, path: &str) -> Result<i64, StoreError> {
    let found: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(StoreError::sqlite("read user_version"))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            path: path.to_owned(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    if found < 0 {
        return Err(StoreError::Unusable {
            path: path.to_owned(),
            rule: format!("user_version {found} is not a leasekit schema version"),
        });
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn there_is_one_migration_per_version() {
        assert_eq!(MIGRATIONS.len() as i64, SCHEMA_VERSION);
    }

    #[test]
    fn a_new_database_migrates_to_the_current_version_once() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, ":memory:").unwrap();
        migrate(&mut conn, ":memory:").unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
    }

    #[test]
    fn a_newer_file_is_refused_with_schema_too_new() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let err = migrate(&mut conn, "leases.db").unwrap_err();
        assert_eq!(err.code().as_str(), "schema_too_new");
        assert!(err.to_string().contains("leases.db"), "{err}");
    }
}
