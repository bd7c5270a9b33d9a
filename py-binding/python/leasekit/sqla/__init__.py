"""leasekit inside a SQLAlchemy app: the lease tables on the host's ``MetaData``, lease
operations in the host's ``AsyncSession``, and a lease backend for the service's routes.

A backend that already talks to its database through async SQLAlchemy keeps its engine, its
sessions and its migrations; leasekit adds two tables and makes every lease decision in the
Rust core (through :mod:`leasekit.rules`). Python here only reads rows, asks the core, and
writes the answer back conditionally, so two sessions (or two app instances on one PostgreSQL
server) never both win a lease; the loser gets the ordinary :class:`~leasekit.LeaseHeld`.

::

    from leasekit.sqla import define_tables, acquire

    lease_tables = define_tables(Base.metadata)  # Alembic now sees leases and lease_events

    async with sessions() as session, session.begin():
        lease = await acquire(session, lease_tables, "project", "p1",
                              owner="alice", session_id="tab-1", interval_ms=60_000)

Runs on PostgreSQL (driver ``asyncpg``, isolation READ COMMITTED; decisions use the server's
clock) and on SQLite (driver ``aiosqlite``; the process's clock). Needs the ``sqlalchemy`` extra:
``pip install "leasekit[sqlalchemy]"``. A SQLite file written here is one the Rust store
(:class:`leasekit.LeaseStore`) can open, and the other way round, but not both in one process at
once: each links its own SQLite, and two copies of SQLite in one process do not see each other's
file locks.
"""

from leasekit.sqla.backend import (
    SQLITE_PRAGMAS,
    SUPPORTED_DRIVERS,
    SqlLeaseBackend,
    check_database_url,
    create_schema,
    open_engine,
)
from leasekit.sqla.clock import AuthorityClock, Clock, ClockLike, SystemClock
from leasekit.sqla.leases import (
    DEFAULT_BEATS,
    DEFAULT_HISTORY_LIMIT,
    DEFAULT_INTERVAL_MS,
    MAX_HISTORY_LIMIT,
    Applied,
    acquire,
    decide,
    heartbeat,
    history,
    holders,
    read_record,
    release,
    status,
    sweep,
)
from leasekit.sqla.tables import SCHEMA_VERSION, LeaseTables, define_tables

__all__ = [
    "DEFAULT_BEATS",
    "DEFAULT_HISTORY_LIMIT",
    "DEFAULT_INTERVAL_MS",
    "MAX_HISTORY_LIMIT",
    "SCHEMA_VERSION",
    "SQLITE_PRAGMAS",
    "SUPPORTED_DRIVERS",
    "Applied",
    "AuthorityClock",
    "Clock",
    "ClockLike",
    "LeaseTables",
    "SqlLeaseBackend",
    "SystemClock",
    "acquire",
    "check_database_url",
    "create_schema",
    "decide",
    "define_tables",
    "heartbeat",
    "history",
    "holders",
    "open_engine",
    "read_record",
    "release",
    "status",
    "sweep",
]
