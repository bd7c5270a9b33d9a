"""Lease operations inside the caller's ``AsyncSession``: read the row, ask the core, write back.

Every function takes the host's session and never commits: the lease change becomes part of the
host's own transaction and is committed (or rolled back) with it. What a lease may do is decided
by the Rust core through :mod:`leasekit.rules`; this module only moves rows.

How a change is written, so that two sessions never both win:

1. On SQLite, take the database's write lock first (a write that touches no row), so that the
   read, the decision and the write happen under the lock, as the Rust store's ``BEGIN
   IMMEDIATE`` does; other writers wait up to the connection's ``busy_timeout``.
2. Read the row (no row is a vacant record with fence 0), then read the authority clock, so the
   decision is never stamped before the row it judges was written.
3. Ask the core. A refusal writes nothing.
4. Write conditionally on what was read: a new row with ``INSERT ... ON CONFLICT DO NOTHING``;
   an existing one with an ``UPDATE`` whose ``WHERE`` repeats the fence, state, token digest,
   heartbeat, threshold and end time that were read. If another session got there first, the
   write touches no row, and the operation reads again and asks the core again, which then
   answers as it would have if the other session had come first: usually "held". A lost race is
   never an integrity error, and it does not abort a PostgreSQL transaction.
5. Append the decision's events; log them once the session commits (nothing is logged for a
   transaction that rolls back).

PostgreSQL must run these at its default isolation level, READ COMMITTED, where a conditional
``UPDATE`` waits for a concurrent one and then re-checks its ``WHERE`` on the committed row; at
REPEATABLE READ or SERIALIZABLE the server refuses the loser with a serialization failure
instead (raised here as :class:`~leasekit.errors.StorageError`).

Errors and answers are those of :class:`leasekit.LeaseStore`: ``LeaseHeld``, ``LeaseLost``,
``LeaseExpired``, ``InvalidInput`` subclasses, and ``StorageError`` for a database failure (its
message is the driver's, never a statement's parameters).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Executable, RowMapping, Table, false, insert, select, tuple_, update
from sqlalchemy import event as sa_event
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from leasekit import rules
from leasekit.errors import (
    InvalidDocument,
    InvalidRecord,
    LeaseExpired,
    LeaseHeld,
    LeaseLost,
    StorageError,
)
from leasekit.results import (
    ExpiredLease,
    Lease,
    LeaseEvent,
    LeaseStatus,
    Release,
    SweepReport,
)
from leasekit.rules import Decision, Record
from leasekit.sqla.clock import ClockLike, now_ms
from leasekit.sqla.tables import LeaseTables
from leasekit.store import LeaseStore, _describe, _holder_status, _lease

__all__ = [
    "DEFAULT_BEATS",
    "DEFAULT_HISTORY_LIMIT",
    "DEFAULT_INTERVAL_MS",
    "MAX_HISTORY_LIMIT",
    "Applied",
    "acquire",
    "decide",
    "heartbeat",
    "history",
    "holders",
    "read_record",
    "release",
    "status",
    "sweep",
]

DEFAULT_INTERVAL_MS = 60_000
DEFAULT_BEATS = 3
DEFAULT_HISTORY_LIMIT = 50
MAX_HISTORY_LIMIT = 1_000
DEFAULT_SWEEP_BATCH = 500

MAX_ATTEMPTS = 100
"""How often one operation reads and decides again after losing a race before it gives up.

Each retry means another session changed the very row in between and committed, so the system
always moves on; one operation retries about once per competitor that wrote before it (a storm
of forced takeovers of one resource is the worst case). The bound only stops an endless loop."""

_logger = logging.getLogger("leasekit.sqla")
_PENDING_EVENTS = "leasekit.sqla.pending_events"
_ROW_COLUMNS = (
    "scope",
    "resource_id",
    "fence",
    "state",
    "owner",
    "session_id",
    "token_digest",
    "acquired_at",
    "heartbeat_at",
    "interval_ms",
    "beats",
    "stale_after_ms",
    "expires_at",
    "end_reason",
    "ended_at",
)
# What a conditional write compares with the row it read: every transition changes one of them.
_READ_GUARD_COLUMNS = (
    "fence",
    "state",
    "token_digest",
    "heartbeat_at",
    "stale_after_ms",
    "ended_at",
)

Rule = Callable[[Record, int], Decision]
"""Asks the core about one record at one instant (UTC milliseconds)."""


@dataclass(frozen=True, slots=True)
class Applied:
    """One decision as the adapter applied it.

    ``at_ms`` is the instant it was judged at, ``read`` the record it judged (after any lost
    race, the last one read) and ``decision`` the core's answer, already written when it
    changed anything.
    """

    at_ms: int
    read: Record
    decision: Decision


@contextmanager
def _storage_errors(operation: str, where: str) -> Iterator[None]:
    """Turns a database failure into StorageError with the driver's message only: statement
    parameters (a token digest among them) stay out of messages and logs."""
    try:
        yield
    except sa_exc.DBAPIError as failure:
        reason = str(failure.orig) if failure.orig is not None else type(failure).__name__
        raise StorageError(f"{operation} {where}: the database failed: {reason}") from failure
    except sa_exc.TimeoutError as failure:
        raise StorageError(f"{operation} {where}: no database connection: {failure}") from failure


def _check_key(scope: object, resource_id: object) -> None:
    """Refuses a bad scope or resource id with the core's own error, before any SQL runs."""
    Record.vacant().to_row(scope, resource_id)


def _dialect_name(session: AsyncSession, tables: LeaseTables) -> str:
    return session.get_bind(clause=tables.leases).dialect.name


def _record(scope: str, resource_id: str, row: RowMapping | None) -> Record:
    """The core's record of a row; a row that breaks the model is a storage failure."""
    if row is None:
        return Record.vacant()
    try:
        return Record.from_row(dict(row))
    except InvalidRecord as broken:
        raise StorageError(
            f"{scope}/{resource_id}: the stored lease row breaks the model: {broken}"
        ) from broken


async def _read_row(
    session: AsyncSession, leases: Table, scope: str, resource_id: str
) -> RowMapping | None:
    statement = select(*(leases.c[name] for name in _ROW_COLUMNS)).where(
        leases.c.scope == scope, leases.c.resource_id == resource_id
    )
    result = await session.execute(statement)
    return result.mappings().one_or_none()


async def read_record(
    session: AsyncSession, tables: LeaseTables, scope: str, resource_id: str
) -> Record:
    """The stored record of a resource (vacant with fence 0 when it has no row)."""
    _check_key(scope, resource_id)
    with _storage_errors("read", f"{scope}/{resource_id}"):
        row = await _read_row(session, tables.leases, scope, resource_id)
    return _record(scope, resource_id, row)


async def _take_write_lock(session: AsyncSession, tables: LeaseTables) -> None:
    """On SQLite, a write that changes nothing takes the database's write lock for the rest of
    the transaction; PostgreSQL locks rows as they are written and needs nothing here."""
    if _dialect_name(session, tables) == "sqlite":
        leases = tables.leases
        await session.execute(update(leases).where(false()).values(fence=leases.c.fence))


def _unchanged(leases: Table, read: RowMapping) -> list[ColumnElement[bool]]:
    conditions = [leases.c.scope == read["scope"], leases.c.resource_id == read["resource_id"]]
    for name in _READ_GUARD_COLUMNS:
        value = read[name]
        column = leases.c[name]
        conditions.append(column.is_(None) if value is None else column == value)
    return conditions


async def _write_if_unchanged(
    session: AsyncSession,
    tables: LeaseTables,
    read: RowMapping | None,
    next_row: dict[str, Any],
) -> bool:
    """Writes ``next_row`` if the row is still as read; answers whether it did."""
    leases = tables.leases
    if read is None:
        dialect = _dialect_name(session, tables)
        inserting: Executable
        if dialect == "postgresql":
            inserting = postgresql.insert(leases).values(next_row).on_conflict_do_nothing()
        elif dialect == "sqlite":
            inserting = sqlite.insert(leases).values(next_row).on_conflict_do_nothing()
        else:
            raise NotImplementedError(f"leasekit.sqla runs on postgresql and sqlite, not {dialect}")
        result = await session.execute(inserting)
    else:
        changes = {
            name: value for name, value in next_row.items() if name not in ("scope", "resource_id")
        }
        result = await session.execute(
            update(leases).where(*_unchanged(leases, read)).values(changes)
        )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def _append_events(
    session: AsyncSession,
    tables: LeaseTables,
    scope: str,
    resource_id: str,
    events: list[dict[str, Any]],
) -> None:
    if not events:
        return
    rows = [
        {
            "at": lease_event["at"],
            "scope": scope,
            "resource_id": resource_id,
            "kind": lease_event["kind"],
            "owner": lease_event["owner"],
            "session_id": lease_event["session_id"],
            "fence": lease_event["fence"],
            "actor": lease_event.get("actor"),
        }
        for lease_event in events
    ]
    await session.execute(insert(tables.events), rows)


def _log_after_commit(
    session: AsyncSession, scope: str, resource_id: str, events: list[dict[str, Any]]
) -> None:
    """Queues the events to be logged when the session commits; a rollback drops them."""
    if not events:
        return
    sync_session = session.sync_session
    pending: list[tuple[str, str, list[dict[str, Any]]]] = sync_session.info.setdefault(
        _PENDING_EVENTS, []
    )
    pending.append((scope, resource_id, events))
    if not sa_event.contains(sync_session, "after_commit", _log_committed):
        sa_event.listen(sync_session, "after_commit", _log_committed)
        sa_event.listen(sync_session, "after_rollback", _drop_uncommitted)


def _log_committed(session: Session) -> None:
    for scope, resource_id, events in session.info.pop(_PENDING_EVENTS, []):
        rules.log_events(scope, resource_id, events, target=_logger)


def _drop_uncommitted(session: Session) -> None:
    session.info.pop(_PENDING_EVENTS, None)


async def decide(
    session: AsyncSession,
    tables: LeaseTables,
    scope: str,
    resource_id: str,
    rule: Rule,
    *,
    clock: ClockLike | None = None,
    operation: str = "decide",
) -> Applied:
    """Applies one rule of the core to one resource in ``session``, as the module docs describe.

    The building block of every write here; call it directly to get the core's decision as a
    value (refusals included) instead of a result or an exception. ``rule`` may run more than
    once if other sessions change the row meanwhile; it must only ask the core.
    """
    _check_key(scope, resource_id)
    where = f"{scope}/{resource_id}"
    with _storage_errors(operation, where):
        await _take_write_lock(session, tables)
        for _ in range(MAX_ATTEMPTS):
            read = await _read_row(session, tables.leases, scope, resource_id)
            at_ms = await now_ms(session, clock)
            record = _record(scope, resource_id, read)
            decision = rule(record, at_ms)
            if decision.next is None:
                return Applied(at_ms, record, decision)

            next_row = decision.next.to_row(scope, resource_id)
            if await _write_if_unchanged(session, tables, read, next_row):
                await _append_events(session, tables, scope, resource_id, decision.events)
                _log_after_commit(session, scope, resource_id, decision.events)
                return Applied(at_ms, record, decision)
    raise StorageError(
        f"{operation} {where}: the row changed under {MAX_ATTEMPTS} attempts in a row; "
        "too many concurrent writers on one resource"
    )


async def acquire(
    session: AsyncSession,
    tables: LeaseTables,
    scope: str,
    resource_id: str,
    *,
    owner: str,
    session_id: str,
    interval_ms: int = DEFAULT_INTERVAL_MS,
    beats: int = DEFAULT_BEATS,
    takeover: bool = False,
    force: bool = False,
    clock: ClockLike | None = None,
) -> Lease:
    """Acquires the resource for ``owner``'s ``session_id``, or raises LeaseHeld.

    The semantics of :meth:`leasekit.LeaseStore.acquire`: a free, released or stale resource is
    granted with the next fence; the same session renews its own live lease with a fresh
    token; ``takeover`` takes a live lease from the same owner's other session; ``force`` takes
    one from another owner. The answer's ``token`` is the secret; only its digest is stored.
    """
    token, token_digest = rules.new_token()

    def rule(record: Record, at_ms: int) -> Decision:
        return rules.acquire(
            record,
            owner=owner,
            session_id=session_id,
            interval_ms=interval_ms,
            beats=beats,
            takeover=takeover,
            force=force,
            token_digest=token_digest,
            now=at_ms,
        )

    applied = await decide(
        session, tables, scope, resource_id, rule, clock=clock, operation="acquire"
    )
    outcome = applied.decision.outcome
    if outcome["kind"] == "busy":
        holder = _holder_status(scope, resource_id, outcome["holder"], applied.at_ms)
        same = " (your own other session; pass takeover=True)" if outcome["same_owner"] else ""
        raise LeaseHeld(_describe(holder) + same, holder=holder, same_owner=outcome["same_owner"])
    return _lease(
        scope,
        resource_id,
        outcome["lease"],
        applied.at_ms,
        renewed=outcome["kind"] == "renewed",
        previous=outcome.get("previous"),
        token=token,
    )


def _view_status(scope: str, resource_id: str, record: Record, at_ms: int) -> LeaseStatus:
    return LeaseStatus.from_view(scope, resource_id, rules.view(record, at_ms), at_ms)


async def heartbeat(
    session: AsyncSession,
    tables: LeaseTables,
    scope: str,
    resource_id: str,
    token: str,
    *,
    clock: ClockLike | None = None,
) -> Lease:
    """Renews the live lease held with ``token``; raises LeaseExpired or LeaseLost otherwise.

    As :meth:`leasekit.LeaseStore.heartbeat`: a stale lease is not revived, and a refusal
    changes nothing. The answer holds no token.
    """
    token_digest = rules.token_digest(token)
    applied = await decide(
        session,
        tables,
        scope,
        resource_id,
        lambda record, at_ms: rules.heartbeat(record, token_digest, at_ms),
        clock=clock,
        operation="heartbeat",
    )
    outcome, at_ms = applied.decision.outcome, applied.at_ms
    if outcome["kind"] == "renewed":
        return _lease(scope, resource_id, outcome["lease"], at_ms, renewed=True)
    if outcome["kind"] == "expired":
        lease = _lease(scope, resource_id, outcome["lease"], at_ms, renewed=False)
        raise LeaseExpired(
            f"{scope}/{resource_id}: the lease of {lease.owner} (fence {lease.fence}) went "
            f"stale after {lease.expires_at}; acquire again",
            lease=lease,
        )
    current = (
        _view_status(scope, resource_id, applied.read, at_ms)
        if outcome["current"] is None
        else _holder_status(scope, resource_id, outcome["current"], at_ms)
    )
    raise LeaseLost(LeaseStore._lost_message(current), current=current)


async def release(
    session: AsyncSession,
    tables: LeaseTables,
    scope: str,
    resource_id: str,
    token: str,
    *,
    clock: ClockLike | None = None,
) -> Release:
    """Releases the lease held with ``token``, live or stale; never raises for a stale token.

    As :meth:`leasekit.LeaseStore.release`: ``released=False`` with the reason
    (``already_released`` or ``superseded``) when the token is no longer current.
    """
    token_digest = rules.token_digest(token)
    applied = await decide(
        session,
        tables,
        scope,
        resource_id,
        lambda record, at_ms: rules.release(record, token_digest, at_ms),
        clock=clock,
        operation="release",
    )
    outcome = applied.decision.outcome
    if outcome["kind"] == "released":
        return Release(
            scope=scope,
            resource_id=resource_id,
            released=True,
            reason=None,
            fence=outcome["lease"]["fence"],
        )
    if outcome["kind"] == "already_released":
        return Release(
            scope=scope,
            resource_id=resource_id,
            released=False,
            reason="already_released",
            fence=outcome["fence"],
            ended=outcome["reason"],
        )
    return Release(
        scope=scope,
        resource_id=resource_id,
        released=False,
        reason="superseded",
        fence=applied.read.fence,
    )


async def status(
    session: AsyncSession,
    tables: LeaseTables,
    scope: str,
    resource_id: str,
    *,
    clock: ClockLike | None = None,
) -> LeaseStatus:
    """What anyone may see of the resource now: never a token. Writes nothing."""
    _check_key(scope, resource_id)
    with _storage_errors("status", f"{scope}/{resource_id}"):
        read = await _read_row(session, tables.leases, scope, resource_id)
        at_ms = await now_ms(session, clock)
    return _view_status(scope, resource_id, _record(scope, resource_id, read), at_ms)


def _check_history_page(limit: object, before: object) -> None:
    """The store's bounds on a history page (not a lease rule): 1 to 1000 events."""
    if not isinstance(limit, int) or isinstance(limit, bool):
        raise InvalidDocument(
            f"limit: must be an integer, not {type(limit).__name__}", field="limit"
        )
    if not 1 <= limit <= MAX_HISTORY_LIMIT:
        raise InvalidDocument(
            f"limit: {limit} must be from 1 to {MAX_HISTORY_LIMIT} events", field="limit"
        )
    if before is not None and (not isinstance(before, int) or isinstance(before, bool)):
        raise InvalidDocument(
            f"before: must be an event sequence number, not {type(before).__name__}",
            field="before",
        )


async def history(
    session: AsyncSession,
    tables: LeaseTables,
    scope: str,
    resource_id: str,
    limit: int = DEFAULT_HISTORY_LIMIT,
    *,
    before: int | None = None,
) -> list[LeaseEvent]:
    """The resource's transitions, newest first, at most ``limit`` (1 to 1000).

    ``before`` is the ``sequence`` of the last event of a page: pass it to read the next.
    """
    _check_key(scope, resource_id)
    _check_history_page(limit, before)
    events = tables.events
    statement = (
        select(events)
        .where(events.c.scope == scope, events.c.resource_id == resource_id)
        .order_by(events.c.id.desc())
        .limit(limit)
    )
    if before is not None:
        statement = statement.where(events.c.id < before)
    with _storage_errors("history", f"{scope}/{resource_id}"):
        rows = (await session.execute(statement)).mappings().all()
    return [
        LeaseEvent(
            sequence=row["id"],
            scope=scope,
            resource_id=resource_id,
            kind=row["kind"],
            at_ms=row["at"],
            owner=row["owner"],
            session_id=row["session_id"],
            fence=row["fence"],
            actor=row["actor"],
        )
        for row in rows
    ]


async def holders(
    session: AsyncSession, tables: LeaseTables, scope: str, *, clock: ClockLike | None = None
) -> list[LeaseStatus]:
    """Every held resource of ``scope``, live or stale (see ``stale``), ordered by id."""
    Record.vacant().to_row(scope, "x")
    leases = tables.leases
    statement = (
        select(*(leases.c[name] for name in _ROW_COLUMNS))
        .where(leases.c.scope == scope, leases.c.state == "held")
        .order_by(leases.c.resource_id)
    )
    with _storage_errors("holders", scope):
        rows = (await session.execute(statement)).mappings().all()
        at_ms = await now_ms(session, clock)
    return [
        _view_status(scope, row["resource_id"], _record(scope, row["resource_id"], row), at_ms)
        for row in rows
    ]


async def sweep(
    session: AsyncSession,
    tables: LeaseTables,
    *,
    scope: str | None = None,
    resource_id: str | None = None,
    clock: ClockLike | None = None,
    batch_size: int = DEFAULT_SWEEP_BATCH,
) -> SweepReport:
    """Ends every lease that is stale now as ``expired``, one ``expired`` event each.

    ``scope`` (and ``resource_id``) narrow it to one kind of resource (or one resource). Rows
    are read through the expiry index ``batch_size`` at a time; each is ended only if the core
    finds it stale and it is unchanged since it was read: a lease renewed or re-granted in
    between is left alone and counted in ``changed_since_read``. A row that breaks the model is
    skipped, counted in ``unreadable`` and logged by key.
    """
    if scope is not None:
        Record.vacant().to_row(scope, resource_id if resource_id is not None else "x")
    elif resource_id is not None:
        raise InvalidDocument("resource_id: a sweep of one resource needs its scope", field="scope")

    leases = tables.leases
    with _storage_errors("sweep", scope or "all scopes"):
        await _take_write_lock(session, tables)
        at_ms = await now_ms(session, clock)
        report = _SweepTally()
        cursor: tuple[int, str, str] | None = None
        while True:
            statement = (
                select(*(leases.c[name] for name in _ROW_COLUMNS))
                .where(leases.c.state == "held", leases.c.expires_at < at_ms)
                .order_by(leases.c.expires_at, leases.c.scope, leases.c.resource_id)
                .limit(batch_size)
            )
            if scope is not None:
                statement = statement.where(leases.c.scope == scope)
            if resource_id is not None:
                statement = statement.where(leases.c.resource_id == resource_id)
            if cursor is not None:
                position = tuple_(leases.c.expires_at, leases.c.scope, leases.c.resource_id)
                statement = statement.where(position > tuple_(*cursor))
            rows = (await session.execute(statement)).mappings().all()
            if not rows:
                break
            report.batches += 1
            for row in rows:
                await _sweep_row(session, tables, row, at_ms, report)
            if len(rows) < batch_size:
                break
            last = rows[-1]
            cursor = (last["expires_at"], last["scope"], last["resource_id"])

    return SweepReport(
        at_ms=at_ms,
        expired=tuple(report.expired),
        changed_since_read=report.changed_since_read,
        unreadable=report.unreadable,
        batches=report.batches,
    )


@dataclass
class _SweepTally:
    """What a sweep has done so far."""

    expired: list[ExpiredLease] = field(default_factory=list)
    changed_since_read: int = 0
    unreadable: int = 0
    batches: int = 0


async def _sweep_row(
    session: AsyncSession,
    tables: LeaseTables,
    row: RowMapping,
    at_ms: int,
    report: _SweepTally,
) -> None:
    scope, resource_id = row["scope"], row["resource_id"]
    try:
        record = Record.from_row(dict(row))
    except InvalidRecord as broken:
        report.unreadable += 1
        _logger.warning(
            "sweep skipped an unreadable row %s/%s: %s",
            scope,
            resource_id,
            broken,
            extra={"scope": scope, "resource_id": resource_id},
        )
        return

    decision = rules.sweep(record, at_ms)
    if decision.next is None or decision.outcome["kind"] != "expired":
        return
    next_row = decision.next.to_row(scope, resource_id)
    if not await _write_if_unchanged(session, tables, row, next_row):
        report.changed_since_read += 1
        return

    await _append_events(session, tables, scope, resource_id, decision.events)
    _log_after_commit(session, scope, resource_id, decision.events)
    lease = decision.outcome["lease"]
    report.expired.append(
        ExpiredLease(
            scope=scope,
            resource_id=resource_id,
            owner=lease["owner"],
            session_id=lease["session_id"],
            fence=lease["fence"],
            acquired_at_ms=lease["acquired_at"],
            heartbeat_at_ms=lease["heartbeat_at"],
            expires_at_ms=lease["expires_at"],
            interval_ms=lease["interval_ms"],
            stale_after_ms=lease["stale_after_ms"],
        )
    )
