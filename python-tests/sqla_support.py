"""Fixtures for the SQLAlchemy adapter's tests: each test runs on SQLite and on PostgreSQL.

Test modules load this file with ``pytest_plugins = ["sqla_support"]``. The ``lease_db`` fixture
gives a fresh, empty pair of lease tables: a new SQLite file (``sqlite+aiosqlite``), or a new
schema on the PostgreSQL server named by ``LEASEKIT_TEST_POSTGRES_URL`` (``asyncpg``; start one
with ``scripts/postgres.sh start``, or let ``make test-python`` do it). Without that variable the
PostgreSQL half is skipped on a developer's machine and FAILS under ``CI=true``: CI must never
pass by testing one database only.

The Rust store (``leasekit.LeaseStore``) links its own SQLite: a test that hands a file from one
to the other disposes the engine first, so that two copies of SQLite never have one file open in
this process at once.

The test modules also import its helpers, before pytest loads it as a plugin; it asserts
nothing itself, so it opts out of assertion rewriting: PYTEST_DONT_REWRITE.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import MetaData, make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from leasekit.sqla import LeaseTables, create_schema, define_tables, open_engine

POSTGRES_URL_VARIABLE = "LEASEKIT_TEST_POSTGRES_URL"
DATABASES = ("sqlite", "postgresql")
# Enough connections for every racing session to hold one at once.
POOL = {"pool_size": 24, "max_overflow": 8}


def postgres_url() -> str:
    """The test server's URL; skips the test without one, or fails it under CI."""
    url = os.environ.get(POSTGRES_URL_VARIABLE, "").strip()
    if url:
        return url
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(
            f"CI=true but {POSTGRES_URL_VARIABLE} is not set: the PostgreSQL tests must run "
            "(start a server with scripts/postgres.sh start)"
        )
    pytest.skip(f"set {POSTGRES_URL_VARIABLE} (scripts/postgres.sh start) to run on PostgreSQL")


@dataclass(frozen=True)
class LeaseDatabase:
    """An engine with fresh lease tables on it."""

    dialect: str
    engine: AsyncEngine
    tables: LeaseTables
    sessions: async_sessionmaker[AsyncSession]
    sqlite_path: Path | None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction that commits when the block ends without an error."""
        async with self.sessions() as session, session.begin():
            yield session

    async def rows(self, query: str, **params: object) -> list[tuple[Any, ...]]:
        """Every row of ``query`` with bound ``params``; it may name ``{leases}`` and
        ``{events}``, the tables' full names."""
        statement = text(
            query.format(leases=self.tables.leases.fullname, events=self.tables.events.fullname)
        )
        async with self.engine.connect() as connection:
            return [tuple(row) for row in (await connection.execute(statement, params)).all()]

    async def snapshot(self) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """Both tables in full, to prove an operation changed nothing."""
        leases = await self.rows("SELECT * FROM {leases} ORDER BY scope, resource_id")
        events = await self.rows("SELECT * FROM {events} ORDER BY id")
        return leases, events


@asynccontextmanager
async def sqlite_database(path: Path) -> AsyncIterator[LeaseDatabase]:
    """Fresh lease tables in a new SQLite file at ``path``."""
    engine = open_engine(f"sqlite+aiosqlite:///{path}", **POOL)
    tables = define_tables(MetaData())
    try:
        await create_schema(engine, tables)
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        yield LeaseDatabase("sqlite", engine, tables, sessions, path)
    finally:
        await engine.dispose()


@asynccontextmanager
async def postgres_database(url: str) -> AsyncIterator[LeaseDatabase]:
    """Fresh lease tables in a new schema of the test server, dropped afterwards."""
    schema = f"leasekit_test_{secrets.token_hex(6)}"
    engine = open_engine(url, **POOL)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(f"CREATE SCHEMA {schema}"))
        tables = define_tables(MetaData(schema=schema))
        await create_schema(engine, tables)
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        yield LeaseDatabase("postgresql", engine, tables, sessions, None)
    finally:
        async with engine.begin() as connection:
            await connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        await engine.dispose()


@asynccontextmanager
async def lease_database(dialect: str, tmp_path: Path) -> AsyncIterator[LeaseDatabase]:
    """Fresh lease tables on ``dialect``: ``sqlite`` or ``postgresql``."""
    if dialect == "sqlite":
        async with sqlite_database(tmp_path / "leases.db") as database:
            yield database
    else:
        async with postgres_database(postgres_url()) as database:
            yield database


@pytest_asyncio.fixture(params=DATABASES)
async def lease_db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[LeaseDatabase]:
    """Fresh lease tables, once on SQLite and once on PostgreSQL."""
    async with lease_database(request.param, tmp_path) as database:
        yield database


@asynccontextmanager
async def fresh_database_url(dialect: str, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of a new, empty database for code that opens its own engine (the service): a
    new SQLite file, or a new database on the PostgreSQL test server, dropped afterwards."""
    if dialect == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'service.db'}"
        return

    server_url = make_url(postgres_url())
    name = f"leasekit_test_{secrets.token_hex(6)}"
    engine = open_engine(server_url.render_as_string(hide_password=False))
    admin = engine.execution_options(isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f"CREATE DATABASE {name}"))
        yield server_url.set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        await engine.dispose()
