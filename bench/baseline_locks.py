"""The backend's deployment lock module as it is today, in plain async SQLAlchemy: the baseline.

leasekit's benchmarks compare the Rust store with what the range42 backend runs now, so this
module does what its lock functions do (see /work/shared/CONTEXT.md), with nothing of leasekit:
a ``workspace_locks`` row per deployment, ``acquire_lock`` that evicts a stale row in the same
transaction and refuses a live one (even for the same owner), ``release_lock`` and ``heartbeat``
that answer ``False`` for a lock that is absent or another owner's, and ``cleanup_stale_locks``.
Every function takes an ``AsyncSession`` and leaves the commit to the caller. The engine sets
the backend's pragmas on every new connection (WAL, ``synchronous=NORMAL``,
``busy_timeout=5000``, ``foreign_keys=ON``).

It keeps the backend's two known faults on purpose, since a faithful baseline pays the same
costs: concurrent acquirers can meet an integrity error, and ``heartbeat`` does not check
staleness.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, Integer, String, delete, event, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

STALE_BEATS = 3
"""Missed heartbeat intervals after which a lock is stale."""

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=5000",
    "PRAGMA foreign_keys=ON",
)


class Base(DeclarativeBase):
    """The baseline's own metadata."""


class WorkspaceLock(Base):
    """One deployment's lock row, as the backend stores it."""

    __tablename__ = "workspace_locks"

    deployment_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    acquired_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    heartbeat_interval_s: Mapped[int] = mapped_column(Integer, default=30)


class LockHeldError(Exception):
    """A live lock holds the deployment (the backend answers 409 ``deployment_locked``)."""

    def __init__(self, deployment_id: str, owner: str, since: datetime) -> None:
        super().__init__(f"{deployment_id}: held by {owner} since {since.isoformat()}")
        self.deployment_id = deployment_id
        self.owner = owner
        self.since = since


def _now() -> datetime:
    return datetime.now(UTC)


def _as_utc(instant: datetime) -> datetime:
    """SQLite hands datetimes back naive; they mean UTC."""
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)


def is_stale(lock: WorkspaceLock, now: datetime) -> bool:
    """The backend's stale rule: strictly more than three intervals since the last heartbeat."""
    return now - _as_utc(lock.heartbeat_at) > timedelta(
        seconds=STALE_BEATS * lock.heartbeat_interval_s
    )


def _set_pragmas(connection: Any, _record: object) -> None:  # noqa: ANN401 (DBAPI connection)
    cursor = connection.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


def open_engine(path: str) -> AsyncEngine:
    """An aiosqlite engine on ``path`` with the backend's pragmas on every new connection."""
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    event.listen(engine.sync_engine, "connect", _set_pragmas)
    return engine


async def create_tables(engine: AsyncEngine) -> None:
    """Creates ``workspace_locks`` if it is missing."""
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)


async def acquire_lock(
    session: AsyncSession, *, deployment_id: str, owner: str, interval_s: int
) -> WorkspaceLock:
    """Takes the deployment's lock, evicting a stale one; raises LockHeldError on a live one."""
    now = _now()
    current = await session.get(WorkspaceLock, deployment_id)
    if current is not None:
        if not is_stale(current, now):
            raise LockHeldError(deployment_id, current.owner, _as_utc(current.acquired_at))
        await session.delete(current)
        await session.flush()

    lock = WorkspaceLock(
        deployment_id=deployment_id,
        owner=owner,
        acquired_at=now,
        heartbeat_at=now,
        heartbeat_interval_s=interval_s,
    )
    session.add(lock)
    await session.flush()
    return lock


async def release_lock(session: AsyncSession, *, deployment_id: str, owner: str) -> bool:
    """Deletes the lock if ``owner`` holds it; False when it is absent or another owner's."""
    current = await session.get(WorkspaceLock, deployment_id)
    if current is None or current.owner != owner:
        return False
    await session.delete(current)
    await session.flush()
    return True


async def heartbeat(session: AsyncSession, *, deployment_id: str, owner: str) -> bool:
    """Sets ``heartbeat_at = now`` if ``owner`` holds the lock (stale or not, as today)."""
    current = await session.get(WorkspaceLock, deployment_id)
    if current is None or current.owner != owner:
        return False
    current.heartbeat_at = _now()
    await session.flush()
    return True


async def cleanup_stale_locks(session: AsyncSession, *, deployment_id: str | None = None) -> int:
    """Deletes the stale locks (of one deployment, or all); returns how many."""
    query = select(WorkspaceLock)
    if deployment_id is not None:
        query = query.where(WorkspaceLock.deployment_id == deployment_id)
    now = _now()
    stale = [lock.deployment_id for lock in (await session.scalars(query)) if is_stale(lock, now)]
    if stale:
        await session.execute(delete(WorkspaceLock).where(WorkspaceLock.deployment_id.in_(stale)))
    return len(stale)
