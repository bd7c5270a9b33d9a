//! Moving records and events between the core's types and the store's rows.
//!
//! Every row read goes back through the core's validating constructors, so a row written by
//! another program (or damaged) is refused as [`StoreError::CorruptRow`] before any rule runs
//! on it.

use rusqlite::types::ToSql;
use rusqlite::{Connection, OptionalExtension, Row};

use crate::error::LeaseError;
use crate::ident::{Holder, Owner, ResourceId, ResourceKey, Scope, SessionId};
use crate::record::{EndReason, Lease, LeaseRecord, LeaseState};
use crate::rules::{EventKind, LeaseEvent};
use crate::store::error::StoreError;
use crate::store::report::{HeldResource, HistoryEntry};
use crate::store::schema::{STATE_HELD, STATE_RELEASED, STATE_VACANT};
use crate::terms::LeaseTerms;
use crate::time::UnixMillis;
use crate::token::TokenDigest;

/// Every event kind, to parse the stored name back.
const EVENT_KINDS: [EventKind; 6] = [
    EventKind::Acquired,
    EventKind::Renewed,
    EventKind::TakenOver,
    EventKind::Forced,
    EventKind::Released,
    EventKind::Expired,
];

const LOAD_SQL: &str = "\
SELECT fence, state, owner, session_id, token_digest, acquired_at, heartbeat_at, interval_ms,
       beats, stale_after_ms, expires_at, end_reason, ended_at
FROM leases WHERE scope = ?1 AND resource_id = ?2";

const UPSERT_SQL: &str = "\
INSERT INTO leases (scope, resource_id, fence, state, owner, session_id, token_digest,
                    acquired_at, heartbeat_at, interval_ms, beats, stale_after_ms, expires_at,
                    end_reason, ended_at)
VALUES (:scope, :resource_id, :fence, :state, :owner, :session_id, :token_digest,
        :acquired_at, :heartbeat_at, :interval_ms, :beats, :stale_after_ms, :expires_at,
        :end_reason, :ended_at)
ON CONFLICT (scope, resource_id) DO UPDATE SET
    fence = excluded.fence, state = excluded.state, owner = excluded.owner,
    session_id = excluded.session_id, token_digest = excluded.token_digest,
    acquired_at = excluded.acquired_at, heartbeat_at = excluded.heartbeat_at,
    interval_ms = excluded.interval_ms, beats = excluded.beats,
    stale_after_ms = excluded.stale_after_ms, expires_at = excluded.expires_at,
    end_reason = excluded.end_reason, ended_at = excluded.ended_at";

const UPDATE_IF_UNCHANGED_SQL: &str = "\
UPDATE leases SET
    fence = :fence, state = :state, owner = :owner, session_id = :session_id,
    token_digest = :token_digest, acquired_at = :acquired_at, heartbeat_at = :heartbeat_at,
    interval_ms = :interval_ms, beats = :beats, stale_after_ms = :stale_after_ms,
    expires_at = :expires_at, end_reason = :end_reason, ended_at = :ended_at
WHERE scope = :scope AND resource_id = :resource_id AND state = 'held'
  AND fence = :read_fence AND token_digest = :read_token_digest
  AND heartbeat_at = :read_heartbeat_at AND stale_after_ms = :read_stale_after_ms";

const INSERT_EVENT_SQL: &str = "\
INSERT INTO lease_events (at, scope, resource_id, kind, owner, session_id, fence, actor)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

const HISTORY_SQL: &str = "\
SELECT id, at, kind, owner, session_id, fence, actor FROM lease_events
WHERE scope = ?1 AND resource_id = ?2 AND id < ?3
ORDER BY id DESC LIMIT ?4";

const HOLDERS_SQL: &str = "\
SELECT resource_id, fence, state, owner, session_id, token_digest, acquired_at, heartbeat_at,
       interval_ms, beats, stale_after_ms, expires_at, end_reason, ended_at
FROM leases WHERE scope = ?1 AND state = 'held'
ORDER BY resource_id";

const PRUNE_CANDIDATES_SQL: &str = "\
SELECT scope, resource_id FROM leases
WHERE state = 'released' AND ended_at < ?1
ORDER BY ended_at LIMIT ?2";

const PRUNE_ROW_SQL: &str = "\
UPDATE leases SET state = 'vacant', owner = NULL, session_id = NULL, token_digest = NULL,
    acquired_at = NULL, heartbeat_at = NULL, interval_ms = NULL, beats = NULL,
    stale_after_ms = NULL, expires_at = NULL, end_reason = NULL, ended_at = NULL
WHERE scope = ?1 AND resource_id = ?2 AND state = 'released'";

const PRUNE_EVENTS_SQL: &str = "DELETE FROM lease_events WHERE scope = ?1 AND resource_id = ?2";

/// The record of `key`, or a vacant one if the resource was never leased.
pub(crate) fn load(conn: &Connection, key: &ResourceKey) -> Result<LeaseRecord, StoreError> {
    let stored = conn
        .prepare_cached(LOAD_SQL)
        .and_then(|mut statement| {
            statement
                .query_row([key.scope.as_str(), key.id.as_str()], |row| {
                    StoredRow::read(row, 0)
                })
                .optional()
        })
        .map_err(StoreError::sqlite("read lease"))?;
    match stored {
        Some(stored) => stored.into_record().map_err(|source| corrupt(key, source)),
        None => Ok(LeaseRecord::vacant()),
    }
}

/// Writes `record` as the row of `key`, creating it on the first grant.
pub(crate) fn store(
    conn: &Connection,
    key: &ResourceKey,
    record: &LeaseRecord,
) -> Result<(), StoreError> {
    let values = RowValues::of(record);
    let (scope, resource_id) = (key.scope.as_str(), key.id.as_str());
    let mut params = values.params();
    params.extend([
        (":scope", &scope as &dyn ToSql),
        (":resource_id", &resource_id),
    ]);
    conn.prepare_cached(UPSERT_SQL)
        .and_then(|mut statement| statement.execute(params.as_slice()))
        .map_err(StoreError::sqlite("write lease"))?;
    Ok(())
}

/// Writes `next` over the row of `key` only if that row still holds the lease read as `read`;
/// answers whether it did.
pub(crate) fn store_if_unchanged(
    conn: &Connection,
    key: &ResourceKey,
    read: &Lease,
    read_fence: u64,
    next: &LeaseRecord,
) -> Result<bool, StoreError> {
    let values = RowValues::of(next);
    let (scope, resource_id) = (key.scope.as_str(), key.id.as_str());
    let read_fence = read_fence as i64;
    let read_digest = read.token_digest().as_bytes().as_slice();
    let read_heartbeat = read.heartbeat_at().as_millis();
    let read_stale_after = read.terms().stale_after_ms();
    let mut params = values.params();
    params.extend([
        (":scope", &scope as &dyn ToSql),
        (":resource_id", &resource_id),
        (":read_fence", &read_fence),
        (":read_token_digest", &read_digest),
        (":read_heartbeat_at", &read_heartbeat),
        (":read_stale_after_ms", &read_stale_after),
    ]);
    let changed = conn
        .prepare_cached(UPDATE_IF_UNCHANGED_SQL)
        .and_then(|mut statement| statement.execute(params.as_slice()))
        .map_err(StoreError::sqlite("sweep lease"))?;
    Ok(changed == 1)
}

/// Appends `events` of `key` to the audit log, in order.
pub(crate) fn append_events(
    conn: &Connection,
    key: &ResourceKey,
    events: &[LeaseEvent],
) -> Result<(), StoreError> {
    let mut statement = conn
        .prepare_cached(INSERT_EVENT_SQL)
        .map_err(StoreError::sqlite("append event"))?;
    for event in events {
        statement
            .execute((
                event.at.as_millis(),
                key.scope.as_str(),
                key.id.as_str(),
                event.kind.as_str(),
                event.holder.owner.as_str(),
                event.holder.session_id.as_str(),
                event.fence as i64,
                event.actor.as_ref().map(Owner::as_str),
            ))
            .map_err(StoreError::sqlite("append event"))?;
    }
    Ok(())
}

/// Where a sweep stands in the expiry index: the last row it has seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SweepCursor {
    expires_at: i64,
    scope: String,
    resource_id: String,
}

impl SweepCursor {
    /// Before every row.
    pub(crate) const fn start() -> Self {
        Self {
            expires_at: i64::MIN,
            scope: String::new(),
            resource_id: String::new(),
        }
    }
}

/// A held row that the sweep query found stale, with its record if it is readable.
pub(crate) struct SweepCandidate {
    pub(crate) key: Result<ResourceKey, String>,
    pub(crate) record: Result<LeaseRecord, LeaseError>,
}

/// Up to `limit` held rows past `after` whose `expires_at` lies before `now`, and the cursor
/// after the last of them.
pub(crate) fn sweep_candidates(
    conn: &Connection,
    now: UnixMillis,
    after: &SweepCursor,
    limit: u32,
) -> Result<(Vec<SweepCandidate>, SweepCursor), StoreError> {
    let mut statement = conn
        .prepare_cached(crate::store::schema::SWEEP_CANDIDATES_SQL)
        .map_err(StoreError::sqlite("find stale leases"))?;
    let params = (
        now.as_millis(),
        after.expires_at,
        after.scope.as_str(),
        after.resource_id.as_str(),
        limit,
    );
    let mut rows = statement
        .query(params)
        .map_err(StoreError::sqlite("find stale leases"))?;

    let mut candidates = Vec::new();
    let mut cursor = after.clone();
    while let Some(row) = rows
        .next()
        .map_err(StoreError::sqlite("find stale leases"))?
    {
        let (candidate, seen) =
            sweep_candidate(row).map_err(StoreError::sqlite("find stale leases"))?;
        candidates.push(candidate);
        cursor = seen;
    }
    Ok((candidates, cursor))
}

fn sweep_candidate(row: &Row<'_>) -> rusqlite::Result<(SweepCandidate, SweepCursor)> {
    let scope: String = row.get(0)?;
    let resource_id: String = row.get(1)?;
    let stored = StoredRow::read(row, 2)?;
    let cursor = SweepCursor {
        expires_at: stored.expires_at.unwrap_or(i64::MIN),
        scope: scope.clone(),
        resource_id: resource_id.clone(),
    };
    let raw_key = format!("{scope}/{resource_id}");
    let key = ResourceKey::new(&scope, &resource_id).map_err(|_| raw_key);
    let candidate = SweepCandidate {
        key,
        record: stored.into_record(),
    };
    Ok((candidate, cursor))
}

/// Events of `key` with a sequence number below `before`, newest first, at most `limit`.
pub(crate) fn history(
    conn: &Connection,
    key: &ResourceKey,
    before: i64,
    limit: u32,
) -> Result<Vec<HistoryEntry>, StoreError> {
    let mut statement = conn
        .prepare_cached(HISTORY_SQL)
        .map_err(StoreError::sqlite("read history"))?;
    let params = (key.scope.as_str(), key.id.as_str(), before, limit);
    let stored = statement
        .query_map(params, StoredEvent::read)
        .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
        .map_err(StoreError::sqlite("read history"))?;
    stored
        .into_iter()
        .map(|event| event.into_entry().map_err(|source| corrupt(key, source)))
        .collect()
}

/// Every held row of `scope` (live or stale), ordered by id, with its view at `now`.
pub(crate) fn holders(
    conn: &Connection,
    scope: &Scope,
    now: UnixMillis,
) -> Result<Vec<HeldResource>, StoreError> {
    let mut statement = conn
        .prepare_cached(HOLDERS_SQL)
        .map_err(StoreError::sqlite("list holders"))?;
    let stored = statement
        .query_map([scope.as_str()], |row| {
            Ok((row.get::<_, String>(0)?, StoredRow::read(row, 1)?))
        })
        .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
        .map_err(StoreError::sqlite("list holders"))?;

    let mut held = Vec::with_capacity(stored.len());
    for (id, row) in stored {
        let raw_key = format!("{scope}/{id}");
        let record = row.into_record().map_err(|source| StoreError::CorruptRow {
            key: raw_key.clone(),
            source,
        })?;
        let id = ResourceId::new(id).map_err(|source| StoreError::CorruptRow {
            key: raw_key,
            source,
        })?;
        if let Some(lease) = record.held() {
            let lease = lease.view(record.fence(), now);
            held.push(HeldResource { id, lease });
        }
    }
    Ok(held)
}

/// Up to `limit` tombstones that ended before `ended_before`, oldest first.
pub(crate) fn prune_candidates(
    conn: &Connection,
    ended_before: UnixMillis,
    limit: u32,
) -> Result<Vec<(String, String)>, StoreError> {
    let mut statement = conn
        .prepare_cached(PRUNE_CANDIDATES_SQL)
        .map_err(StoreError::sqlite("find tombstones"))?;
    statement
        .query_map((ended_before.as_millis(), limit), |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .and_then(Iterator::collect)
        .map_err(StoreError::sqlite("find tombstones"))
}

/// Empties one tombstone down to its fence and deletes its events; answers how many events.
pub(crate) fn prune(conn: &Connection, scope: &str, resource_id: &str) -> Result<u64, StoreError> {
    let emptied = conn
        .prepare_cached(PRUNE_ROW_SQL)
        .and_then(|mut statement| statement.execute([scope, resource_id]))
        .map_err(StoreError::sqlite("prune tombstone"))?;
    if emptied == 0 {
        return Ok(0);
    }

    let deleted = conn
        .prepare_cached(PRUNE_EVENTS_SQL)
        .and_then(|mut statement| statement.execute([scope, resource_id]))
        .map_err(StoreError::sqlite("prune events"))?;
    Ok(deleted as u64)
}

fn corrupt(key: &ResourceKey, source: LeaseError) -> StoreError {
    StoreError::CorruptRow {
        key: key.to_string(),
        source,
    }
}

/// The columns of a `leases` row after its key, as `SQLite` hands them back.
struct StoredRow {
    fence: i64,
    state: String,
    owner: Option<String>,
    session_id: Option<String>,
    token_digest: Option<Vec<u8>>,
    acquired_at: Option<i64>,
    heartbeat_at: Option<i64>,
    interval_ms: Option<i64>,
    beats: Option<i64>,
    stale_after_ms: Option<i64>,
    expires_at: Option<i64>,
    end_reason: Option<String>,
    ended_at: Option<i64>,
}

impl StoredRow {
    /// Reads the thirteen record columns starting at column `first`.
    fn read(row: &Row<'_>, first: usize) -> rusqlite::Result<Self> {
        Ok(Self {
            fence: row.get(first)?,
            state: row.get(first + 1)?,
            owner: row.get(first + 2)?,
            session_id: row.get(first + 3)?,
            token_digest: row.get(first + 4)?,
            acquired_at: row.get(first + 5)?,
            heartbeat_at: row.get(first + 6)?,
            interval_ms: row.get(first + 7)?,
            beats: row.get(first + 8)?,
            stale_after_ms: row.get(first + 9)?,
            expires_at: row.get(first + 10)?,
            end_reason: row.get(first + 11)?,
            ended_at: row.get(first + 12)?,
        })
    }

    fn into_record(self) -> Result<LeaseRecord, LeaseError> {
        let fence = u64::try_from(self.fence).map_err(|_| LeaseError::FenceOutOfRange {
            value: self.fence.to_string(),
        })?;
        let state = match self.state.as_str() {
            STATE_VACANT => LeaseState::Vacant,
            STATE_HELD => LeaseState::Held(self.lease()?),
            STATE_RELEASED => LeaseState::Ended {
                lease: self.lease()?,
                reason: EndReason::parse(required(self.end_reason.as_deref(), "end_reason")?)?,
                ended_at: UnixMillis::for_field("ended_at", required(self.ended_at, "ended_at")?)?,
            },
            other => {
                return Err(LeaseError::record(format!(
                    "state {other:?} must be vacant, held or released"
                )))
            }
        };
        LeaseRecord::new(fence, state)
    }

    fn lease(&self) -> Result<Lease, LeaseError> {
        let holder = Holder {
            owner: Owner::new(required(self.owner.clone(), "owner")?)?,
            session_id: SessionId::new(required(self.session_id.clone(), "session_id")?)?,
        };
        let digest_bytes = required(self.token_digest.as_deref(), "token_digest")?;
        let digest = <[u8; 32]>::try_from(digest_bytes).map_err(|_| LeaseError::InvalidDigest)?;
        let terms = LeaseTerms::new(
            required(self.interval_ms, "interval_ms")?,
            required(self.beats, "beats")?,
        )?;
        let lease = Lease::new(
            holder,
            TokenDigest::from_bytes(digest),
            terms,
            UnixMillis::for_field("acquired_at", required(self.acquired_at, "acquired_at")?)?,
            UnixMillis::for_field("heartbeat_at", required(self.heartbeat_at, "heartbeat_at")?)?,
        )?;

        let derived_agree = self.stale_after_ms == Some(terms.stale_after_ms())
            && self.expires_at == Some(lease.expires_at().as_millis());
        if !derived_agree {
            return Err(LeaseError::record(
                "stale_after_ms must be interval_ms * beats and expires_at must be \
                 heartbeat_at + stale_after_ms",
            ));
        }
        Ok(lease)
    }
}

fn required<T>(value: Option<T>, column: &str) -> Result<T, LeaseError> {
    value.ok_or_else(|| LeaseError::record(format!("{column} is required for this state")))
}

/// The column values of a record, borrowed for binding.
struct RowValues<'a> {
    fence: i64,
    state: &'static str,
    owner: Option<&'a str>,
    session_id: Option<&'a str>,
    token_digest: Option<&'a [u8]>,
    acquired_at: Option<i64>,
    heartbeat_at: Option<i64>,
    interval_ms: Option<i64>,
    beats: Option<i64>,
    stale_after_ms: Option<i64>,
    expires_at: Option<i64>,
    end_reason: Option<&'static str>,
    ended_at: Option<i64>,
}

impl<'a> RowValues<'a> {
    fn of(record: &'a LeaseRecord) -> Self {
        let (state, lease, end) = match record.state() {
            LeaseState::Vacant => (STATE_VACANT, None, None),
            LeaseState::Held(lease) => (STATE_HELD, Some(lease), None),
            LeaseState::Ended {
                lease,
                reason,
                ended_at,
            } => (STATE_RELEASED, Some(lease), Some((*reason, *ended_at))),
        };
        Self {
            fence: record.fence() as i64,
            state,
            owner: lease.map(|lease| lease.holder().owner.as_str()),
            session_id: lease.map(|lease| lease.holder().session_id.as_str()),
            token_digest: lease.map(|lease| lease.token_digest().as_bytes().as_slice()),
            acquired_at: lease.map(|lease| lease.acquired_at().as_millis()),
            heartbeat_at: lease.map(|lease| lease.heartbeat_at().as_millis()),
            interval_ms: lease.map(|lease| lease.terms().interval_ms()),
            beats: lease.map(|lease| lease.terms().beats()),
            stale_after_ms: lease.map(|lease| lease.terms().stale_after_ms()),
            expires_at: lease.map(|lease| lease.expires_at().as_millis()),
            end_reason: end.map(|(reason, _)| reason.as_str()),
            ended_at: end.map(|(_, ended_at)| ended_at.as_millis()),
        }
    }

    fn params(&self) -> Vec<(&'static str, &dyn ToSql)> {
        vec![
            (":fence", &self.fence),
            (":state", &self.state),
            (":owner", &self.owner),
            (":session_id", &self.session_id),
            (":token_digest", &self.token_digest),
            (":acquired_at", &self.acquired_at),
            (":heartbeat_at", &self.heartbeat_at),
            (":interval_ms", &self.interval_ms),
            (":beats", &self.beats),
            (":stale_after_ms", &self.stale_after_ms),
            (":expires_at", &self.expires_at),
            (":end_reason", &self.end_reason),
            (":ended_at", &self.ended_at),
        ]
    }
}

/// One `lease_events` row as `SQLite` hands it back.
struct StoredEvent {
    sequence: i64,
    at: i64,
    kind: String,
    owner: String,
    session_id: String,
    fence: i64,
    actor: Option<String>,
}

impl StoredEvent {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            sequence: row.get(0)?,
            at: row.get(1)?,
            kind: row.get(2)?,
            owner: row.get(3)?,
            session_id: row.get(4)?,
            fence: row.get(5)?,
            actor: row.get(6)?,
        })
    }

    fn into_entry(self) -> Result<HistoryEntry, LeaseError> {
        let kind = EVENT_KINDS
            .into_iter()
            .find(|kind| kind.as_str() == self.kind)
            .ok_or_else(|| LeaseError::record(format!("event kind {:?} is unknown", self.kind)))?;
        let fence = u64::try_from(self.fence).map_err(|_| LeaseError::FenceOutOfRange {
            value: self.fence.to_string(),
        })?;
        let event = LeaseEvent {
            kind,
            at: UnixMillis::for_field("at", self.at)?,
            holder: Holder {
                owner: Owner::new(self.owner)?,
                session_id: SessionId::new(self.session_id)?,
            },
            fence,
            actor: self.actor.map(Owner::new).transpose()?,
        };
        Ok(HistoryEntry {
            sequence: self.sequence,
            event,
        })
    }
}
