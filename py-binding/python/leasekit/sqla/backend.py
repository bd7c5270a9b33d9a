"""A lease backend for the service's routes over a SQLAlchemy ``async_sessionmaker``.

The routes of :mod:`leasekit.service` talk to a backend with the methods of
:class:`leasekit.AsyncLeaseStore`. :class:`SqlLeaseBackend` offers the same methods over the
adapter's functions, one transaction per call that it commits itself, so the service (or a host
app's router) can keep its leases in the host's PostgreSQL server or SQLite file:
``leasekit serve --database-url postgresql+asyncpg://...``.

It also gathers what a process needs to open such a database on its own: :func:`open_engine`
(SQLAlchemy's async engine, with the pragmas the backend and the Rust store use on SQLite) and
:func:`create_schema`.

One SQLite file may be served by this backend or by :class:`leasekit.LeaseStore`: same tables,
same meaning. But never by both in one process at the same time: the Rust store links its own
copy of SQLite, and two copies of SQLite in one process do not see each other's POSIX locks.
Separate processes, or the same process one after the other, are fine.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import MetaData, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from leasekit.errors import StorageError
from leasekit.results import Lease, LeaseEvent, LeaseStatus, Release, SweepReport
from leasekit.sqla import leases
from leasekit.sqla.clock import ClockLike
from leasekit.sqla.tables import LeaseTables, define_tables

__all__ = [
    "SQLITE_PRAGMAS",
    "SUPPORTED_DRIVERS",
    "SqlLeaseBackend",
    "check_database_url",
    "create_schema",
    "open_engine",
]

SUPPORTED_DRIVERS = (("postgresql", "asyncpg"), ("sqlite", "aiosqlite"))
"""The databases and async drivers the adapter is built and tested for."""

SQLITE_PRAGMAS = (
    ("journal_mode", "WAL"),
    ("foreign_keys", "ON"),
    ("synchronous", "NORMAL"),
    ("busy_timeout", "5000"),
)
"""Set on every new SQLite connection: what the backend and the Rust store both use."""


def _set_sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    try:
        for name, value in SQLITE_PRAGMAS:
            cursor.execute(f"PRAGMA {name} = {value}")
    finally:
        cursor.close()


def check_database_url(url: str) -> None:
    """Raises ValueError, naming the problem, for a URL the backend cannot serve: not a URL,
    another database or a synchronous driver, or a driver that is not installed. The message
    never repeats a password."""
    try:
        parsed = make_url(url)
    except sa_exc.ArgumentError:
        raise ValueError(
            "not a SQLAlchemy database URL (expected postgresql+asyncpg://USER@HOST/DB or "
            "sqlite+aiosqlite:///PATH)"
        ) from None
    database, driver = parsed.get_backend_name(), parsed.get_driver_name()
    if (database, driver) not in SUPPORTED_DRIVERS:
        supported = " or ".join(f"{name}+{dbapi}" for name, dbapi in SUPPORTED_DRIVERS)
        raise ValueError(f"{database}+{driver} is not supported; use {supported}")
    try:
        parsed.get_dialect().import_dbapi()
    except ImportError:
        raise ValueError(
            f"the {driver} driver is not installed: pip install 'leasekit[sqlalchemy]'"
        ) from None


def open_engine(url: str, **options: object) -> AsyncEngine:
    """SQLAlchemy's ``create_async_engine(url, **options)``; on SQLite every new connection gets
    :data:`SQLITE_PRAGMAS` (WAL, foreign keys, a 5 s busy timeout)."""
    engine = create_async_engine(url, **options)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _set_sqlite_pragmas)
    return engine


async def create_schema(bind: AsyncEngine | AsyncConnection, tables: LeaseTables) -> None:
    """Creates the lease tables, indexes and triggers where they are missing (in its own
    transaction when given an engine). Refuses a SQLite file of a newer schema version."""
    if isinstance(bind, AsyncEngine):
        async with bind.begin() as connection:
            await connection.run_sync(tables.create)
    else:
        await bind.run_sync(tables.create)


@asynccontextmanager
async def _transaction(
    sessions: async_sessionmaker[AsyncSession], operation: str
) -> AsyncIterator[AsyncSession]:
    """One session and transaction, committed when the block ends without an exception.

    A failure of the commit itself is a StorageError like any other database failure.
    """
    try:
        async with sessions() as session, session.begin():
            yield session
    except sa_exc.DBAPIError as failure:
        reason = str(failure.orig) if failure.orig is not None else type(failure).__name__
        raise StorageError(f"{operation}: the database failed: {reason}") from failure


class SqlLeaseBackend:
    """The methods of :class:`leasekit.AsyncLeaseStore` over SQLAlchemy, one committed
    transaction per call.

    Give it the host's ``async_sessionmaker`` and the :class:`LeaseTables` on the host's
    ``MetaData``; or let :meth:`open` make an engine from a URL, which :meth:`close` then
    disposes. ``clock`` replaces the authority clock (tests).
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        tables: LeaseTables,
        *,
        clock: ClockLike | None = None,
        owned_engine: AsyncEngine | None = None,
    ) -> None:
        self._sessions = sessions
        self.tables = tables
        self._clock = clock
        self._owned_engine = owned_engine

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        clock: ClockLike | None = None,
        create: bool = True,
        **engine_options: object,
    ) -> SqlLeaseBackend:
        """Opens the database at ``url`` (``postgresql+asyncpg://...`` or
        ``sqlite+aiosqlite:///path``) on tables of its own ``MetaData``, creating them unless
        ``create`` is false. A URL it cannot serve raises ValueError (see
        :func:`check_database_url`); a database that cannot be reached, StorageError."""
        check_database_url(url)
        engine = open_engine(url, **engine_options)
        tables = define_tables(MetaData())
        try:
            if create:
                await create_schema(engine, tables)
        except sa_exc.DBAPIError as failure:
            await engine.dispose()
            where = engine.url.render_as_string(hide_password=True)
            raise StorageError(f"open {where}: the database failed: {failure.orig}") from failure
        except BaseException:
            await engine.dispose()
            raise
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        return cls(sessions, tables, clock=clock, owned_engine=engine)

    async def acquire(
        self,
        scope: str,
        resource_id: str,
        *,
        owner: str,
        session_id: str,
        interval_ms: int = leases.DEFAULT_INTERVAL_MS,
        beats: int = leases.DEFAULT_BEATS,
        takeover: bool = False,
        force: bool = False,
    ) -> Lease:
        """See :meth:`leasekit.LeaseStore.acquire`."""
        async with _transaction(self._sessions, "acquire") as session:
            return await leases.acquire(
                session,
                self.tables,
                scope,
                resource_id,
                owner=owner,
                session_id=session_id,
                interval_ms=interval_ms,
                beats=beats,
                takeover=takeover,
                force=force,
                clock=self._clock,
            )

    async def heartbeat(self, scope: str, resource_id: str, token: str) -> Lease:
        """See :meth:`leasekit.LeaseStore.heartbeat`."""
        async with _transaction(self._sessions, "heartbeat") as session:
            return await leases.heartbeat(
                session, self.tables, scope, resource_id, token, clock=self._clock
            )

    async def release(self, scope: str, resource_id: str, token: str) -> Release:
        """See :meth:`leasekit.LeaseStore.release`."""
        async with _transaction(self._sessions, "release") as session:
            return await leases.release(
                session, self.tables, scope, resource_id, token, clock=self._clock
            )

    async def status(self, scope: str, resource_id: str) -> LeaseStatus:
        """See :meth:`leasekit.LeaseStore.status`."""
        async with _transaction(self._sessions, "status") as session:
            return await leases.status(session, self.tables, scope, resource_id, clock=self._clock)

    async def history(
        self,
        scope: str,
        resource_id: str,
        limit: int = leases.DEFAULT_HISTORY_LIMIT,
        *,
        before: int | None = None,
    ) -> list[LeaseEvent]:
        """See :meth:`leasekit.LeaseStore.history`."""
        async with _transaction(self._sessions, "history") as session:
            return await leases.history(
                session, self.tables, scope, resource_id, limit, before=before
            )

    async def holders(self, scope: str) -> list[LeaseStatus]:
        """See :meth:`leasekit.LeaseStore.holders`."""
        async with _transaction(self._sessions, "holders") as session:
            return await leases.holders(session, self.tables, scope, clock=self._clock)

    async def sweep(self) -> SweepReport:
        """See :meth:`leasekit.LeaseStore.sweep`."""
        async with _transaction(self._sessions, "sweep") as session:
            return await leases.sweep(session, self.tables, clock=self._clock)

    async def close(self) -> None:
        """Disposes the engine :meth:`open` made; a host's own engine is left to the host."""
        if self._owned_engine is not None:
            await self._owned_engine.dispose()

    def __repr__(self) -> str:
        where = "host sessions" if self._owned_engine is None else repr(self._owned_engine.url)
        return f"SqlLeaseBackend({where})"
