//! [`SqliteStore`]: the lease rules over a `SQLite` file, one immediate transaction per change.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use crate::error::LeaseError;
use crate::ident::{Holder, Owner, ResourceKey, Scope};
use crate::rules::{
    self, AcquireOutcome, AcquireRequest, Decision, EventKind, HeartbeatOutcome, LeaseEvent,
    ReleaseOutcome, SweepOutcome,
};
use crate::store::clock::Clock;
use crate::store::error::StoreError;
use crate::store::options::{StoreOptions, Synchronous, MAX_BUSY_TIMEOUT};
use crate::store::report::{
    Acquired, Answer, ExpiredLease, Holders, PruneReport, Status, SweepReport,
};
use crate::store::rows::{self, SweepCandidate, SweepCursor};
use crate::store::schema;
use crate::store::token::LeaseToken;
use crate::store::HistoryEntry;
use crate::terms::LeaseTerms;
use crate::time::UnixMillis;
use crate::token::TokenDigest;

/// Most events one history call returns.
pub const MAX_HISTORY_LIMIT: u32 = 1_000;

/// A lease store in one `SQLite` file, safe to share between threads and processes.
///
/// Writes go through one connection behind a mutex, each as a `BEGIN IMMEDIATE` transaction;
/// reads (`status`, `history`, `holders`, and the scan of a sweep) use a second, query-only
/// connection, so they never wait for this process's writers and, thanks to WAL, never block
/// another process's.
///
/// ```
/// use leasekit_core::store::SqliteStore;
/// use leasekit_core::{AcquireOutcome, Holder, LeaseTerms, ResourceKey};
///
/// let dir = tempfile::tempdir()?;
/// let store = SqliteStore::open(dir.path().join("leases.db"))?;
///
/// let key = ResourceKey::new("project", "alpha")?;
/// let alice = Holder::new("alice", "tab-1")?;
/// let acquired = store.acquire(&key, &alice, LeaseTerms::with_interval(30_000)?, false, false)?;
/// assert!(matches!(acquired.outcome, AcquireOutcome::Granted { .. }));
///
/// let token = acquired.token.expect("a grant hands out a token");
/// store.heartbeat(&key, token.expose())?;
/// store.release(&key, token.expose())?;
/// assert_eq!(store.status(&key)?.view.fence, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SqliteStore {
    path: PathBuf,
    label: String,
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    clock: Arc<dyn Clock>,
    batch_size: u32,
}

/// The pragmas a store's connections run with, as `SQLite` reports them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionSettings {
    /// `PRAGMA journal_mode`: always `wal`.
    pub journal_mode: String,
    /// `PRAGMA synchronous`.
    pub synchronous: Synchronous,
    /// `PRAGMA busy_timeout` in milliseconds.
    pub busy_timeout_ms: i64,
    /// `PRAGMA foreign_keys`.
    pub foreign_keys: bool,
    /// `PRAGMA user_version`: the schema version.
    pub schema_version: i64,
}

impl SqliteStore {
    /// Opens (or creates) the store at `path` with the default options.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path, StoreOptions::default())
    }

    /// Opens (or creates) the store at `path`, migrating an older schema forward.
    ///
    /// Fails with `schema_too_new` if a newer leasekit wrote the file, and with
    /// `storage_failure` if the file cannot be opened or cannot use WAL (`:memory:` cannot).
    pub fn open_with(path: impl AsRef<Path>, options: StoreOptions) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let label = path.display().to_string();

        let deadline = Instant::now() + options.busy_timeout.min(MAX_BUSY_TIMEOUT);
        let (writer, reader) = retry_while_busy(deadline, || {
            let mut writer = connect(&path, &label, &options)?;
            schema::migrate(&mut writer, &label)?;

            let reader = connect(&path, &label, &options)?;
            reader
                .pragma_update(None, "query_only", true)
                .map_err(StoreError::sqlite("open"))?;
            Ok((writer, reader))
        })?;

        Ok(Self {
            path,
            label,
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            clock: options.clock,
            batch_size: options.batch_size.get(),
        })
    }

    /// The file this store works on.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The store's clock: the instant every answer is judged at.
    #[must_use]
    pub fn now(&self) -> UnixMillis {
        self.clock.now()
    }

    /// Asks for the lease of `key` for `holder` (rules 2 to 5).
    ///
    /// `takeover` lets the holder's owner take a live lease from its own other session;
    /// `force` takes a live lease from another owner (let only administrators set it). The
    /// answer holds a fresh token exactly when the lease is granted or renewed.
    pub fn acquire(
        &self,
        key: &ResourceKey,
        holder: &Holder,
        terms: LeaseTerms,
        takeover: bool,
        force: bool,
    ) -> Result<Acquired, StoreError> {
        let (token, token_digest) = LeaseToken::generate()?;
        let request = AcquireRequest {
            holder: holder.clone(),
            terms,
            takeover,
            force,
            token_digest,
        };

        let (at, decision) = self.write("acquire", |conn, now| {
            let record = rows::load(conn, key)?;
            let decision = rules::acquire(&record, &request, now)?;
            persist(conn, key, &decision)?;
            Ok(decision)
        })?;

        log_events(key, &decision.events);
        let hands_out_token = matches!(
            decision.outcome,
            AcquireOutcome::Granted { .. } | AcquireOutcome::Renewed { .. }
        );
        Ok(Acquired {
            at,
            outcome: decision.outcome,
            token: hands_out_token.then_some(token),
        })
    }

    /// Renews the lease of `key` held with `token` (rules 6 to 8). Adds no event.
    pub fn heartbeat(
        &self,
        key: &ResourceKey,
        token: &str,
    ) -> Result<Answer<HeartbeatOutcome>, StoreError> {
        let digest = TokenDigest::of_token(token)?;

        let (at, decision) = self.write("heartbeat", |conn, now| {
            let record = rows::load(conn, key)?;
            let decision = rules::heartbeat(&record, &digest, now)?;
            persist(conn, key, &decision)?;
            Ok(decision)
        })?;

        Ok(Answer {
            at,
            outcome: decision.outcome,
        })
    }

    /// Releases the lease of `key` held with `token` (rules 8 and 9).
    pub fn release(
        &self,
        key: &ResourceKey,
        token: &str,
    ) -> Result<Answer<ReleaseOutcome>, StoreError> {
        let digest = TokenDigest::of_token(token)?;

        let (at, decision) = self.write("release", |conn, now| {
            let record = rows::load(conn, key)?;
            let decision = rules::release(&record, &digest, now)?;
            persist(conn, key, &decision)?;
            Ok(decision)
        })?;

        log_events(key, &decision.events);
        Ok(Answer {
            at,
            outcome: decision.outcome,
        })
    }

    /// What anyone may see of `key` now. Takes no write lock.
    pub fn status(&self, key: &ResourceKey) -> Result<Status, StoreError> {
        let conn = lock(&self.reader);
        let at = self.clock.now();
        let record = rows::load(&conn, key)?;
        Ok(Status {
            at,
            view: record.view(at),
        })
    }

    /// The newest `limit` events of `key` (1 to 1000), newest first.
    pub fn history(&self, key: &ResourceKey, limit: u32) -> Result<Vec<HistoryEntry>, StoreError> {
        self.history_before(key, i64::MAX, limit)
    }

    /// Like [`SqliteStore::history`], for the events older than sequence number `before`:
    /// pass the last `sequence` of one page to get the next.
    pub fn history_before(
        &self,
        key: &ResourceKey,
        before: i64,
        limit: u32,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        if !(1..=MAX_HISTORY_LIMIT).contains(&limit) {
            let rule = format!("{limit} must be from 1 to {MAX_HISTORY_LIMIT} events");
            return Err(LeaseError::document("limit", rule).into());
        }

        let conn = lock(&self.reader);
        rows::history(&conn, key, before, limit)
    }

    /// Every held resource of `scope`, live or stale (each marked), ordered by id.
    ///
    /// A stale lease stays listed, with `stale: true`, until a sweep or the next acquirer ends
    /// it: it no longer blocks anyone, but its holder may not know yet, so a UI should show it
    /// as stale rather than as free.
    pub fn holders(&self, scope: &Scope) -> Result<Holders, StoreError> {
        let conn = lock(&self.reader);
        let at = self.clock.now();
        let holders = rows::holders(&conn, scope, at)?;
        Ok(Holders {
            at,
            scope: scope.clone(),
            holders,
        })
    }

    /// Ends every lease that is stale now as `expired` (rule 10).
    ///
    /// Works in batches: it reads up to the batch size of rows that were stale when the sweep
    /// began through the expiry index, without the write lock, then ends them in one immediate
    /// transaction, each only if its row is unchanged since it was read (same fence, token
    /// digest, heartbeat and threshold) and the rule still finds it stale at the transaction's
    /// own `now`, which stamps the `expired` events in commit order. A lease renewed or
    /// re-granted in between is left alone and counted in `changed_since_read`. Leases that go
    /// stale while the sweep runs are left to the next one. A failure ends the sweep; batches
    /// committed before it stay.
    pub fn sweep(&self) -> Result<SweepReport, StoreError> {
        let at = self.clock.now();
        let mut report = SweepReport {
            at,
            expired: Vec::new(),
            changed_since_read: 0,
            unreadable: 0,
            batches: 0,
        };

        let mut cursor = SweepCursor::start();
        loop {
            let (candidates, next_cursor) = {
                let conn = lock(&self.reader);
                rows::sweep_candidates(&conn, at, &cursor, self.batch_size)?
            };
            let last_batch = candidates.len() < self.batch_size as usize;
            if candidates.is_empty() {
                break;
            }

            cursor = next_cursor;
            let first_new = report.expired.len();
            self.write("sweep", |conn, now| {
                sweep_batch(conn, now, candidates, &mut report)
            })?;
            report.batches += 1;
            for expired in &report.expired[first_new..] {
                log_expired(expired);
            }
            if last_batch {
                break;
            }
        }
        Ok(report)
    }

    /// Empties every tombstone that ended before `ended_before` down to its fence, and deletes
    /// the events of those resources. The only operation that removes anything.
    ///
    /// Each such row becomes `vacant`: its holder columns are cleared, its scope, id and fence
    /// stay, so the next grant still gets `fence + 1`. Held rows are never touched.
    pub fn prune_tombstones(&self, ended_before: UnixMillis) -> Result<PruneReport, StoreError> {
        let mut report = PruneReport::default();
        loop {
            let (_, (pruned, events_deleted)) = self.write("prune", |conn, _| {
                let tombstones = rows::prune_candidates(conn, ended_before, self.batch_size)?;
                let mut events_deleted = 0;
                for (scope, resource_id) in &tombstones {
                    events_deleted += rows::prune(conn, scope, resource_id)?;
                }
                Ok((tombstones.len() as u64, events_deleted))
            })?;

            report.pruned += pruned;
            report.events_deleted += events_deleted;
            if pruned < u64::from(self.batch_size) {
                break;
            }
        }
        tracing::info!(
            target: "leasekit::store",
            pruned = report.pruned,
            events_deleted = report.events_deleted,
            ended_before = ended_before.as_millis(),
            "tombstones pruned"
        );
        Ok(report)
    }

    /// The pragmas in force on the write connection.
    pub fn settings(&self) -> Result<ConnectionSettings, StoreError> {
        let conn = lock(&self.writer);
        let text = |name: &str| -> rusqlite::Result<String> {
            conn.pragma_query_value(None, name, |row| row.get(0))
        };
        let number = |name: &str| -> rusqlite::Result<i64> {
            conn.pragma_query_value(None, name, |row| row.get(0))
        };
        let read = || -> rusqlite::Result<ConnectionSettings> {
            Ok(ConnectionSettings {
                journal_mode: text("journal_mode")?,
                synchronous: if number("synchronous")? >= 2 {
                    Synchronous::Full
                } else {
                    Synchronous::Normal
                },
                busy_timeout_ms: number("busy_timeout")?,
                foreign_keys: number("foreign_keys")? == 1,
                schema_version: number("user_version")?,
            })
        };
        read().map_err(StoreError::sqlite("read settings"))
    }

    /// Runs `body` in one `BEGIN IMMEDIATE` transaction with the clock read under the lock;
    /// commits if it succeeds and rolls back if it fails.
    fn write<T>(
        &self,
        operation: &'static str,
        body: impl FnOnce(&Connection, UnixMillis) -> Result<T, StoreError>,
    ) -> Result<(UnixMillis, T), StoreError> {
        let mut conn = lock(&self.writer);
        if !conn.is_autocommit() {
            // Only a panic inside an earlier transaction can leave one open; undo it.
            conn.execute_batch("ROLLBACK")
                .map_err(StoreError::sqlite(operation))?;
        }

        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::sqlite(operation))?;
        let now = self.clock.now();
        let value = body(&tx, now)?;

        tx.commit().map_err(StoreError::sqlite(operation))?;
        Ok((now, value))
    }
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.label)
            .field("batch_size", &self.batch_size)
            .finish_non_exhaustive()
    }
}

/// Runs `open` again while it fails on a lock, until `deadline`.
///
/// Switching a new file to WAL needs an exclusive lock that `SQLite` does not wait for through
/// the busy handler, so processes opening a new file at once can see `SQLITE_BUSY` here even
/// with a busy timeout. Opening changes nothing that a retry would repeat wrongly.
fn retry_while_busy<T>(
    deadline: Instant,
    mut open: impl FnMut() -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let mut pause = Duration::from_millis(1);
    loop {
        match open() {
            Err(err) if err.is_busy() && Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            result => return result,
        }
    }
}

/// Opens one connection with the store's pragmas.
fn connect(path: &Path, label: &str, options: &StoreOptions) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(StoreError::sqlite("open"))?;
    conn.busy_timeout(options.busy_timeout.min(MAX_BUSY_TIMEOUT))
        .map_err(StoreError::sqlite("open"))?;

    let journal_mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(StoreError::sqlite("open"))?;
    if !journal_mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Unusable {
            path: label.to_owned(),
            rule: format!("journal_mode stays {journal_mode}; the store needs a file with WAL"),
        });
    }

    conn.pragma_update(None, "synchronous", options.synchronous.as_str())
        .and_then(|()| conn.pragma_update(None, "foreign_keys", true))
        .map_err(StoreError::sqlite("open"))?;
    Ok(conn)
}

/// Writes what a decision changed: the record if any, then its events.
fn persist<T>(
    conn: &Connection,
    key: &ResourceKey,
    decision: &Decision<T>,
) -> Result<(), StoreError> {
    if let Some(next) = &decision.next {
        rows::store(conn, key, next)?;
    }
    rows::append_events(conn, key, &decision.events)
}

/// Ends the candidates of one batch that are stale at `now` and unchanged since they were read.
fn sweep_batch(
    conn: &Connection,
    now: UnixMillis,
    candidates: Vec<SweepCandidate>,
    report: &mut SweepReport,
) -> Result<(), StoreError> {
    for candidate in candidates {
        let (key, record) = match (candidate.key, candidate.record) {
            (Ok(key), Ok(record)) => (key, record),
            (Ok(key), Err(source)) => {
                skip_unreadable(&key.to_string(), &source.to_string(), report);
                continue;
            }
            (Err(raw_key), _) => {
                skip_unreadable(&raw_key, "scope or resource_id breaks the model", report);
                continue;
            }
        };

        let decision = rules::sweep(&record, now)?;
        let (Some(next), Some(read), SweepOutcome::Expired { lease }) =
            (&decision.next, record.held(), &decision.outcome)
        else {
            continue;
        };
        if !rows::store_if_unchanged(conn, &key, read, record.fence(), next)? {
            report.changed_since_read += 1;
            continue;
        }

        rows::append_events(conn, &key, &decision.events)?;
        report.expired.push(ExpiredLease {
            key,
            lease: lease.clone(),
            ended_at: now,
        });
    }
    Ok(())
}

fn skip_unreadable(key: &str, reason: &str, report: &mut SweepReport) {
    report.unreadable += 1;
    tracing::warn!(target: "leasekit::store", key, reason, "sweep skipped an unreadable row");
}

/// Locks a connection. A panic under the lock cannot leave a half-done write behind (the
/// open transaction rolls back as it unwinds), so a poisoned lock is safe to take over.
fn lock(connection: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    connection.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Logs committed transitions for operators; never a token.
fn log_events(key: &ResourceKey, events: &[LeaseEvent]) {
    for event in events {
        let actor = event.actor.as_ref().map(Owner::as_str);
        let fields = (
            key.scope.as_str(),
            key.id.as_str(),
            event.holder.owner.as_str(),
            event.holder.session_id.as_str(),
        );
        if event.kind == EventKind::Renewed {
            tracing::debug!(
                target: "leasekit::store",
                scope = fields.0, id = fields.1, owner = fields.2, session_id = fields.3,
                fence = event.fence, actor, "lease renewed"
            );
        } else {
            tracing::info!(
                target: "leasekit::store",
                kind = event.kind.as_str(),
                scope = fields.0, id = fields.1, owner = fields.2, session_id = fields.3,
                fence = event.fence, actor, "lease transition"
            );
        }
    }
}

fn log_expired(expired: &ExpiredLease) {
    tracing::info!(
        target: "leasekit::store",
        kind = "expired",
        scope = expired.key.scope.as_str(),
        id = expired.key.id.as_str(),
        owner = expired.lease.owner.as_str(),
        session_id = expired.lease.session_id.as_str(),
        fence = expired.lease.fence,
        "lease transition"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::LeaseState;

    fn at(ms: i64) -> UnixMillis {
        UnixMillis::new(ms).unwrap()
    }

    fn grant(conn: &Connection, key: &ResourceKey, owner: &str, now: UnixMillis) {
        let request = AcquireRequest {
            holder: Holder::new(owner, "s").unwrap(),
            terms: LeaseTerms::with_interval(1_000).unwrap(),
            takeover: false,
            force: false,
            token_digest: TokenDigest::of_token(&format!("{owner}-token")).unwrap(),
        };
        let record = rows::load(conn, key).unwrap();
        let decision = rules::acquire(&record, &request, now).unwrap();
        assert!(decision.next.is_some());
        persist(conn, key, &decision).unwrap();
    }

    fn migrated() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        schema::migrate(&mut conn, ":memory:").unwrap();
        conn
    }

    fn empty_report() -> SweepReport {
        SweepReport {
            at: at(0),
            expired: Vec::new(),
            changed_since_read: 0,
            unreadable: 0,
            batches: 0,
        }
    }

    #[test]
    fn the_store_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<SqliteStore>();
    }

    #[test]
    fn a_sweep_leaves_a_lease_regranted_after_the_sweep_read_it() {
        let conn = migrated();
        let key = ResourceKey::new("project", "alpha").unwrap();
        grant(&conn, &key, "alice", at(0));
        let (candidates, _) =
            rows::sweep_candidates(&conn, at(5_000), &SweepCursor::start(), 10).unwrap();
        assert_eq!(candidates.len(), 1, "alice's lease is stale at 5 s");

        grant(&conn, &key, "bob", at(5_000));
        let regranted = rows::load(&conn, &key).unwrap();
        let mut report = empty_report();
        sweep_batch(&conn, at(5_000), candidates, &mut report).unwrap();

        assert_eq!(report.changed_since_read, 1);
        assert!(report.expired.is_empty());
        assert_eq!(rows::load(&conn, &key).unwrap(), regranted);
        let bob = regranted.held().unwrap();
        assert_eq!((regranted.fence(), bob.holder().owner.as_str()), (2, "bob"));
    }

    #[test]
    fn a_sweep_ends_an_unchanged_stale_lease_at_its_own_transaction_time() {
        let conn = migrated();
        let key = ResourceKey::new("project", "alpha").unwrap();
        grant(&conn, &key, "alice", at(0));
        let (candidates, _) =
            rows::sweep_candidates(&conn, at(5_000), &SweepCursor::start(), 10).unwrap();

        let mut report = empty_report();
        sweep_batch(&conn, at(6_000), candidates, &mut report).unwrap();

        assert_eq!(report.expired.len(), 1);
        assert_eq!(report.expired[0].ended_at, at(6_000));
        let ended = rows::load(&conn, &key).unwrap();
        let LeaseState::Ended {
            reason, ended_at, ..
        } = ended.state()
        else {
            panic!("expected a tombstone, got {ended:?}");
        };
        assert_eq!((*reason, *ended_at), (crate::EndReason::Expired, at(6_000)));
    }
}
