"""The SQLAlchemy adapter: same answers as the Rust store, same file, transactions left to the
caller, guards in the schema, and the authority clock. On SQLite and on PostgreSQL.

A SQLite file moves between the adapter and ``leasekit.LeaseStore`` only while the other side
has it closed: the Rust store links its own SQLite, and two copies of SQLite in one process do
not see each other's locks.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, delete, event, insert, text, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession

from leasekit import (
    InvalidDocument,
    InvalidInterval,
    InvalidOwner,
    InvalidResourceId,
    InvalidScope,
    InvalidToken,
    LeaseError,
    LeaseExpired,
    LeaseHeld,
    LeaseLost,
    LeaseStore,
    ManualClock,
    SchemaTooNew,
    StorageError,
)
from leasekit.results import Lease, SweepReport
from leasekit.rules import Record, token_digest
from leasekit.sqla import (
    AuthorityClock,
    ClockLike,
    LeaseTables,
    SystemClock,
    acquire,
    create_schema,
    define_tables,
    heartbeat,
    history,
    holders,
    open_engine,
    release,
    status,
    sweep,
)
from sqla_support import LeaseDatabase, sqlite_database

pytest_plugins = ["sqla_support"]

MINUTE_MS = 60_000


async def acquire_in(
    database: LeaseDatabase,
    clock: ClockLike | None,
    resource_id: str = "p1",
    *,
    owner: str = "alice",
    session_id: str = "tab-1",
    takeover: bool = False,
) -> Lease:
    async with database.transaction() as session:
        return await acquire(
            session,
            database.tables,
            "project",
            resource_id,
            owner=owner,
            session_id=session_id,
            interval_ms=MINUTE_MS,
            takeover=takeover,
            clock=clock,
        )


# --- the same file as the Rust store ----------------------------------------------------------


def sqlite_schema(path: Path) -> dict[str, Any]:
    """What SQLite says about the lease tables of ``path``: columns, indexes, keys, triggers."""
    with sqlite3.connect(path) as connection:
        described: dict[str, Any] = {
            "user_version": connection.execute("PRAGMA user_version").fetchone()
        }
        for table in ("leases", "lease_events"):
            columns = connection.execute(f"PRAGMA table_info({table})").fetchall()
            described[f"{table} columns"] = [
                (name, kind, notnull if name != "id" else "rowid", pk)
                for _, name, kind, notnull, _, pk in columns
            ]
            indexes = connection.execute(f"PRAGMA index_list({table})").fetchall()
            described[f"{table} indexes"] = sorted(
                (name, unique, origin, partial)
                for _, name, unique, origin, partial in indexes
                if not name.startswith("sqlite_autoindex")
            )
            described[f"{table} foreign keys"] = [
                row[2:5] for row in connection.execute(f"PRAGMA foreign_key_list({table})")
            ]
        described["without rowid"] = connection.execute(
            "SELECT sql LIKE '%WITHOUT ROWID%' FROM sqlite_master WHERE name = 'leases'"
        ).fetchone()
        described["triggers"] = sorted(
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        )
    return described


@pytest.mark.asyncio
async def test_sqlite_tables_are_the_rust_stores_tables(tmp_path: Path) -> None:
    LeaseStore(tmp_path / "rust.db").close()
    async with sqlite_database(tmp_path / "adapter.db"):
        pass

    rust, adapter = sqlite_schema(tmp_path / "rust.db"), sqlite_schema(tmp_path / "adapter.db")

    assert adapter == rust
    assert rust["user_version"] == (1,)
    assert len(rust["triggers"]) == 4


@pytest.mark.asyncio
async def test_a_file_the_adapter_wrote_is_served_by_the_rust_store(
    tmp_path: Path, clock: ManualClock
) -> None:
    path = tmp_path / "shared.db"
    async with sqlite_database(path) as database:
        lease = await acquire_in(database, clock)
    assert lease.token is not None

    with LeaseStore(path, clock=clock) as store:
        clock.advance(1_000)
        renewed = store.heartbeat("project", "p1", lease.token)
        with pytest.raises(LeaseHeld):
            store.acquire("project", "p1", owner="bob", session_id="laptop")
        released = store.release("project", "p1", lease.token)

    assert (renewed.fence, renewed.heartbeat_at_ms) == (1, clock.now_ms)
    assert released.released


@pytest.mark.asyncio
async def test_a_file_the_rust_store_wrote_is_served_by_the_adapter(
    tmp_path: Path, clock: ManualClock
) -> None:
    path = tmp_path / "shared.db"
    with LeaseStore(path, clock=clock) as store:
        lease = store.acquire("project", "p1", owner="alice", session_id="tab-1")
    assert lease.token is not None

    async with sqlite_database(path) as database:
        clock.advance(1_000)
        async with database.transaction() as session:
            renewed = await heartbeat(
                session, database.tables, "project", "p1", lease.token, clock=clock
            )
        async with database.transaction() as session:
            released = await release(
                session, database.tables, "project", "p1", lease.token, clock=clock
            )
        second = await acquire_in(database, clock, owner="bob", session_id="laptop")
        async with database.transaction() as session:
            events = await history(session, database.tables, "project", "p1")

    assert (renewed.fence, released.released, second.fence) == (1, True, 2)
    assert [event.kind for event in events] == ["acquired", "released", "acquired"]
    assert [event.sequence for event in events] == [3, 2, 1]


# --- the same answers as the Rust store -------------------------------------------------------


HOLDER = object()
"""In a step of the comparison below: the token the side's last grant handed out."""


class Outcome:
    """An answer or a refusal, without the token, so two stores can be compared."""

    @staticmethod
    def of_result(result: object) -> object:
        if isinstance(result, Lease):
            return dataclasses.replace(result, token=None)
        return result

    @staticmethod
    def of_error(error: LeaseError) -> object:
        return (type(error).__name__, str(error), dict(vars(error)))


@pytest.mark.asyncio
async def test_answers_and_refusals_equal_the_rust_stores_step_by_step(
    lease_db: LeaseDatabase, tmp_path: Path, clock: ManualClock
) -> None:
    tables = lease_db.tables

    async def in_session(operation: Callable[[AsyncSession], Awaitable[object]]) -> object:
        async with lease_db.transaction() as session:
            return await operation(session)

    def adapter_step(name: str, *args: object, **kwargs: object) -> Callable[[], Awaitable[object]]:
        operations: dict[str, Callable[..., Awaitable[object]]] = {
            "acquire": acquire,
            "heartbeat": heartbeat,
            "release": release,
            "status": status,
            "history": history,
            "sweep": sweep,
        }
        function = operations[name]

        async def run() -> object:
            return await in_session(
                lambda session: function(session, tables, *args, **kwargs, **clock_of(name))
            )

        return run

    def clock_of(name: str) -> dict[str, ManualClock]:
        return {} if name == "history" else {"clock": clock}

    store = LeaseStore(tmp_path / "rust.db", clock=clock)
    holder_tokens: dict[str, str] = {}

    async def both(name: str, *args: object, advance_ms: int = 0, **kwargs: object) -> None:
        """Runs one step on both stores; ``HOLDER`` stands for the token each side last got."""
        clock.advance(advance_ms)
        answers = []
        for side in ("rust", "adapter"):
            own_args = [holder_tokens.get(side) if arg is HOLDER else arg for arg in args]
            try:
                if side == "rust":
                    result = await asyncio.to_thread(getattr(store, name), *own_args, **kwargs)
                else:
                    result = await adapter_step(name, *own_args, **kwargs)()
            except LeaseError as error:
                answers.append(Outcome.of_error(error))
                continue
            if isinstance(result, Lease) and result.token is not None:
                holder_tokens[side] = result.token
            answers.append(Outcome.of_result(result))
        assert answers[0] == answers[1], f"{name}{args}"

    with store:
        await both("acquire", "project", "p1", owner="alice", session_id="tab-1")
        await both("acquire", "project", "p1", owner="bob", session_id="laptop", advance_ms=1)
        await both("acquire", "project", "p1", owner="alice", session_id="tab-2")
        await both("status", "project", "p1", advance_ms=10)
        await both("heartbeat", "project", "p1", HOLDER, advance_ms=MINUTE_MS)
        await both("acquire", "project", "p1", owner="alice", session_id="tab-2", takeover=True)
        await both("acquire", "project", "p1", owner="root", session_id="cli", force=True)
        await both("release", "project", "p1", HOLDER, advance_ms=5)
        await both("release", "project", "p1", HOLDER)
        await both("acquire", "project", "p1", owner="bob", session_id="laptop")
        await both("sweep", advance_ms=4 * MINUTE_MS)
        await both("heartbeat", "project", "p1", HOLDER)
        await both("acquire", "project", "p1", owner="carol", session_id="pad", advance_ms=1)
        await both("history", "project", "p1", 3)
        await both("heartbeat", "project", "p1", "not-the-token")
        await both("release", "project", "p1", "not-the-token")
        await both("status", "project", "p2")
        await both("history", "project", "p1", 0)
        await both("acquire", "Project", "p1", owner="bob", session_id="laptop")
        await both("acquire", "project", "p1", owner="bob", session_id="laptop", interval_ms=10)


@pytest.mark.asyncio
async def test_heartbeat_and_release_answer_as_the_rust_store_for_the_holder(
    lease_db: LeaseDatabase, tmp_path: Path, clock: ManualClock
) -> None:
    with LeaseStore(tmp_path / "rust.db", clock=clock) as store:
        rust_lease = store.acquire(
            "project", "p1", owner="alice", session_id="tab-1", interval_ms=MINUTE_MS
        )
        ours = await acquire_in(lease_db, clock)
        assert rust_lease.token is not None
        assert ours.token is not None
        tables = lease_db.tables

        clock.advance(MINUTE_MS)
        async with lease_db.transaction() as session:
            beat = await heartbeat(session, tables, "project", "p1", ours.token, clock=clock)
        assert beat == store.heartbeat("project", "p1", rust_lease.token)

        clock.advance(3 * MINUTE_MS + 1)
        with pytest.raises(LeaseExpired) as rust_expired:
            store.heartbeat("project", "p1", rust_lease.token)
        with pytest.raises(LeaseExpired) as our_expired:
            async with lease_db.transaction() as session:
                await heartbeat(session, tables, "project", "p1", ours.token, clock=clock)
        assert str(our_expired.value) == str(rust_expired.value)
        assert our_expired.value.lease == rust_expired.value.lease

        async with lease_db.transaction() as session:
            released = await release(session, tables, "project", "p1", ours.token, clock=clock)
        assert released == store.release("project", "p1", rust_lease.token)
        with pytest.raises(LeaseLost) as rust_lost:
            store.heartbeat("project", "p1", rust_lease.token)
        with pytest.raises(LeaseLost) as our_lost:
            async with lease_db.transaction() as session:
                await heartbeat(session, tables, "project", "p1", ours.token, clock=clock)
        assert our_lost.value.current == rust_lost.value.current
        assert str(our_lost.value) == str(rust_lost.value)


# --- transactions belong to the caller --------------------------------------------------------


@pytest.mark.asyncio
async def test_nothing_is_stored_or_logged_until_the_caller_commits(
    lease_db: LeaseDatabase, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="leasekit")
    async with lease_db.sessions() as session:
        await session.begin()
        lease = await acquire(
            session,
            lease_db.tables,
            "project",
            "p1",
            owner="alice",
            session_id="tab-1",
            clock=clock,
        )
        assert session.in_transaction()
        assert caplog.records == []
        await session.rollback()
    assert await lease_db.snapshot() == ([], [])

    async with lease_db.sessions() as session:
        await session.begin()
        lease = await acquire(
            session,
            lease_db.tables,
            "project",
            "p1",
            owner="alice",
            session_id="tab-1",
            clock=clock,
        )
        assert caplog.records == []
        await session.commit()

    (record,) = caplog.records
    assert record.name == "leasekit.sqla"
    assert record.getMessage().startswith('lease acquired: project/p1 owner="alice"')
    fields = vars(record)
    assert (fields["event"], fields["owner"], fields["fence"]) == ("acquired", "alice", 1)
    assert lease.token is not None
    assert lease.token not in caplog.text
    assert all(lease.token not in repr(value) for value in fields.values())


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("arguments", "error", "field"),
    [
        ({"scope": "Project"}, InvalidScope, "scope"),
        ({"resource_id": "no/slash"}, InvalidResourceId, "resource_id"),
        ({"resource_id": None}, InvalidResourceId, "resource_id"),
        ({"owner": ""}, InvalidOwner, "owner"),
        ({"owner": None}, InvalidOwner, "owner"),
        ({"interval_ms": 999}, InvalidInterval, "interval_ms"),
        ({"interval_ms": "60000"}, InvalidInterval, "interval_ms"),
        ({"takeover": "yes"}, InvalidDocument, "takeover"),
    ],
)
async def test_bad_acquire_arguments_name_the_field_and_change_nothing(
    lease_db: LeaseDatabase,
    clock: ManualClock,
    arguments: dict[str, Any],
    error: type[Exception],
    field: str,
) -> None:
    await acquire_in(lease_db, clock, resource_id="held")
    stored = await lease_db.snapshot()
    call: dict[str, Any] = {"scope": "project", "resource_id": "p1", "owner": "bob"} | arguments

    with pytest.raises(error) as raised:
        async with lease_db.transaction() as session:
            await acquire(
                session,
                lease_db.tables,
                call.pop("scope"),
                call.pop("resource_id"),
                session_id="tab-1",
                clock=clock,
                **call,
            )

    assert getattr(raised.value, "field", None) == field
    assert await lease_db.snapshot() == stored


@pytest.mark.asyncio
async def test_bad_tokens_limits_and_pages_are_refused_by_name(
    lease_db: LeaseDatabase, clock: ManualClock
) -> None:
    tables = lease_db.tables
    async with lease_db.transaction() as session:
        with pytest.raises(InvalidToken) as bad_token:
            await heartbeat(session, tables, "project", "p1", "has space", clock=clock)
        with pytest.raises(InvalidDocument) as bad_limit:
            await history(session, tables, "project", "p1", 1001)
        with pytest.raises(InvalidDocument) as bad_type:
            await history(session, tables, "project", "p1", True)
        with pytest.raises(InvalidDocument) as bad_before:
            await history(session, tables, "project", "p1", before="7")  # type: ignore[arg-type]

    assert bad_token.value.field == "token"
    assert "has space" not in str(bad_token.value)
    assert (bad_limit.value.field, bad_type.value.field, bad_before.value.field) == (
        "limit",
        "limit",
        "before",
    )
    assert "limit: 1001 must be from 1 to 1000" in str(bad_limit.value)


# --- reads -----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_history_pages_newest_first(lease_db: LeaseDatabase, clock: ManualClock) -> None:
    for session_number in range(5):
        clock.advance(1)
        await acquire_in(lease_db, clock, session_id=f"tab-{session_number}", takeover=True)

    async with lease_db.transaction() as session:
        first = await history(session, lease_db.tables, "project", "p1", 2)
        second = await history(
            session, lease_db.tables, "project", "p1", 2, before=first[-1].sequence
        )
        everything = await history(session, lease_db.tables, "project", "p1", 1000)

    assert [event.session_id for event in first] == ["tab-4", "tab-3"]
    assert [event.session_id for event in second] == ["tab-2", "tab-1"]
    assert [event.kind for event in everything] == ["taken_over"] * 4 + ["acquired"]
    assert [event.fence for event in everything] == [5, 4, 3, 2, 1]


@pytest.mark.asyncio
async def test_holders_lists_live_and_stale_leases_of_one_scope(
    lease_db: LeaseDatabase, clock: ManualClock
) -> None:
    await acquire_in(lease_db, clock, resource_id="b")
    clock.advance(4 * MINUTE_MS)
    await acquire_in(lease_db, clock, resource_id="a")
    lease = await acquire_in(lease_db, clock, resource_id="c")
    assert lease.token is not None
    async with lease_db.transaction() as session:
        await release(session, lease_db.tables, "project", "c", lease.token, clock=clock)
        held = await holders(session, lease_db.tables, "project", clock=clock)
        other_scope = await holders(session, lease_db.tables, "deployment", clock=clock)

    assert [(view.resource_id, view.stale) for view in held] == [("a", False), ("b", True)]
    assert other_scope == []


# --- sweeps ----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_sweep_ends_only_stale_leases_in_batches(
    lease_db: LeaseDatabase, clock: ManualClock
) -> None:
    for number in range(5):
        await acquire_in(lease_db, clock, resource_id=f"old-{number}")
    clock.advance(3 * MINUTE_MS + 1)
    await acquire_in(lease_db, clock, resource_id="fresh")

    async with lease_db.transaction() as session:
        report = await sweep(session, lease_db.tables, clock=clock, batch_size=2)
    async with lease_db.transaction() as session:
        again = await sweep(session, lease_db.tables, clock=clock)

    assert sorted(ended.resource_id for ended in report.expired) == [f"old-{n}" for n in range(5)]
    assert (report.batches, report.changed_since_read, report.unreadable) == (3, 0, 0)
    assert again.expired == ()
    async with lease_db.transaction() as session:
        assert (await status(session, lease_db.tables, "project", "fresh", clock=clock)).live


@pytest.mark.asyncio
async def test_sweep_leaves_a_lease_renewed_after_it_read_it(
    lease_db: LeaseDatabase, clock: ManualClock
) -> None:
    """The holder's heartbeat is written but not committed when the sweep reads the row."""
    if lease_db.dialect == "sqlite":
        pytest.skip("on SQLite the sweep holds the write lock, so a renewal cannot slip in")
    lease = await acquire_in(lease_db, clock)
    assert lease.token is not None
    late_clock = ManualClock(clock.now_ms + 3 * MINUTE_MS + 1)
    clock.advance(3 * MINUTE_MS)

    async with lease_db.sessions() as holder:
        await holder.begin()
        await heartbeat(holder, lease_db.tables, "project", "p1", lease.token, clock=clock)

        async def sweep_now() -> SweepReport:
            async with lease_db.transaction() as session:
                return await sweep(session, lease_db.tables, clock=late_clock)

        sweeping = asyncio.create_task(sweep_now())
        await wait_until_a_session_waits_for_a_row_lock(lease_db)
        await holder.commit()
        report = await sweeping

    assert report.expired == ()
    assert report.changed_since_read == 1
    async with lease_db.transaction() as session:
        view = await status(session, lease_db.tables, "project", "p1", clock=clock)
    assert view.live


async def wait_until_a_session_waits_for_a_row_lock(database: LeaseDatabase) -> None:
    query = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
    for _ in range(1000):
        if (await database.rows(query))[0][0] > 0:
            return
        await asyncio.sleep(0.01)
    pytest.fail("the sweep never waited for the holder's row lock")


@pytest.mark.asyncio
async def test_a_row_that_breaks_the_model_is_a_storage_error_and_skipped_by_sweeps(
    lease_db: LeaseDatabase, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    row = Record.vacant().to_row("project", "broken") | {
        "fence": 1,
        "state": "held",
        "owner": "",
        "session_id": "s",
        "token_digest": token_digest("t"),
        "acquired_at": 0,
        "heartbeat_at": 0,
        "interval_ms": 1000,
        "beats": 3,
        "stale_after_ms": 3000,
        "expires_at": 3000,
    }
    async with lease_db.transaction() as session:
        await session.execute(insert(lease_db.tables.leases).values(row))

    with pytest.raises(StorageError, match="project/broken: the stored lease row breaks the model"):
        await acquire_in(lease_db, clock, resource_id="broken")
    async with lease_db.transaction() as session:
        report = await sweep(session, lease_db.tables, clock=clock)

    assert (report.unreadable, report.expired) == (1, ())
    assert "sweep skipped an unreadable row project/broken" in caplog.text


# --- the schema guards itself ----------------------------------------------------------------


@pytest.mark.asyncio
async def test_the_schema_refuses_deleting_a_lease_lowering_a_fence_or_editing_history(
    lease_db: LeaseDatabase, clock: ManualClock
) -> None:
    await acquire_in(lease_db, clock)
    stored = await lease_db.snapshot()
    leases, events = lease_db.tables.leases, lease_db.tables.events

    for statement, message in (
        (delete(leases), "leases rows are never deleted"),
        (update(leases).values(fence=0), "leases.fence never goes back"),
        (update(events).values(owner="mallory"), "lease_events is append-only"),
        (delete(events), "deleted only by pruning a vacant resource"),
        (update(leases).values(owner=None), "holder_is_whole"),
        (update(leases).values(state="gone"), "state_is_known"),
    ):
        with pytest.raises(sa_exc.DBAPIError, match=message):
            async with lease_db.transaction() as session:
                await session.execute(statement)

    assert await lease_db.snapshot() == stored


@pytest.mark.asyncio
async def test_sqlite_refuses_text_in_an_integer_column(tmp_path: Path) -> None:
    async with sqlite_database(tmp_path / "typed.db") as database:
        with pytest.raises(sa_exc.IntegrityError, match="sqlite_types"):
            async with database.transaction() as session:
                await session.execute(
                    text(
                        "INSERT INTO leases (scope, resource_id, fence, state) "
                        "VALUES (X'70', 'p1', 0, 'vacant')"
                    )
                )


@pytest.mark.asyncio
async def test_a_sqlite_file_of_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA user_version = 2")
    engine = open_engine(f"sqlite+aiosqlite:///{path}")
    try:
        with pytest.raises(SchemaTooNew, match="version 2"):
            await create_schema(engine, define_tables(MetaData()))
    finally:
        await engine.dispose()


@pytest.mark.asyncio
async def test_creating_the_schema_twice_changes_nothing_and_honours_naming_conventions(
    lease_db: LeaseDatabase, clock: ManualClock
) -> None:
    await acquire_in(lease_db, clock)
    stored = await lease_db.snapshot()

    await create_schema(lease_db.engine, lease_db.tables)

    assert await lease_db.snapshot() == stored
    conventions = {
        "ix": "ix_%(column_0_label)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
    strict = define_tables(MetaData(naming_convention=conventions))
    names = {constraint.name for constraint in strict.leases.constraints}
    assert {"ck_leases_fence_in_range", "ck_leases_holder_is_whole", "leases_pkey"} <= names


@pytest.mark.asyncio
async def test_a_database_without_the_tables_is_a_storage_error_without_parameters(
    tmp_path: Path, clock: ManualClock
) -> None:
    engine = open_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    tables = define_tables(MetaData())
    try:
        async with engine.connect() as connection:
            session = AsyncSession(bind=connection)
            with pytest.raises(StorageError) as failed:
                await heartbeat(session, tables, "project", "p1", "tok-alice", clock=clock)
            await session.close()
    finally:
        await engine.dispose()

    assert "no such table" in str(failed.value)
    assert "heartbeat project/p1" in str(failed.value)
    assert repr(token_digest("tok-alice")) not in str(failed.value)


@pytest.mark.asyncio
async def test_drop_removes_the_tables_and_their_trigger_functions(
    lease_db: LeaseDatabase,
) -> None:
    async with lease_db.engine.begin() as connection:
        await connection.run_sync(lease_db.tables.drop)

    remaining = await lease_db.rows(
        "SELECT count(*) FROM sqlite_master WHERE name LIKE 'lease%'"
        if lease_db.dialect == "sqlite"
        else "SELECT count(*) FROM pg_proc WHERE proname LIKE 'leasekit_%'"
        " AND pronamespace = CAST(:schema AS regnamespace)",
        schema=lease_db.tables.metadata.schema,
    )
    assert remaining == [(0,)]


# --- whose clock ------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_the_authority_clock_is_the_servers_on_postgresql_and_the_process_on_sqlite(
    lease_db: LeaseDatabase,
) -> None:
    statements: list[str] = []

    def record_statement(connection: object, cursor: object, statement: str, *rest: object) -> None:
        statements.append(statement)

    event.listen(lease_db.engine.sync_engine, "before_cursor_execute", record_statement)
    try:
        before = await server_or_process_now(lease_db)
        lease = await acquire_in(lease_db, None)
        after = await server_or_process_now(lease_db)
    finally:
        event.remove(lease_db.engine.sync_engine, "before_cursor_execute", record_statement)

    assert before <= lease.server_time_ms <= after
    assert lease.acquired_at_ms == lease.server_time_ms
    asked_the_server = any("clock_timestamp()" in statement for statement in statements)
    assert asked_the_server is (lease_db.dialect == "postgresql")


async def server_or_process_now(database: LeaseDatabase) -> int:
    if database.dialect == "postgresql":
        query = "SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint"
        return int((await database.rows(query))[0][0])
    return time.time_ns() // 1_000_000


@pytest.mark.asyncio
async def test_the_clocks_read_what_they_promise(lease_db: LeaseDatabase) -> None:
    async with lease_db.transaction() as session:
        before = time.time_ns() // 1_000_000
        process = await SystemClock().now_ms(session)
        authority = await AuthorityClock().now_ms(session)
        after = time.time_ns() // 1_000_000

    assert before <= process <= after
    if lease_db.dialect == "sqlite":
        assert before <= authority <= after
    assert repr(AuthorityClock()) == "AuthorityClock()"


@pytest.mark.asyncio
async def test_a_clock_reading_outside_the_safe_range_is_refused(
    lease_db: LeaseDatabase,
) -> None:
    class BrokenClock:
        async def now_ms(self, session: AsyncSession) -> int:
            return 10**16

    with pytest.raises(LeaseError) as refused:
        async with lease_db.transaction() as session:
            await status(session, lease_db.tables, "project", "p1", clock=BrokenClock())

    assert refused.value.code == "time_out_of_range"


def test_tables_land_on_the_callers_metadata() -> None:
    metadata = MetaData()
    tables = define_tables(metadata)

    assert isinstance(tables, LeaseTables)
    assert tables.metadata is metadata
    assert set(metadata.tables) == {"leases", "lease_events"}
    assert [column.name for column in tables.leases.primary_key] == ["scope", "resource_id"]


def test_defining_the_tables_twice_on_one_metadata_answers_the_same_tables() -> None:
    metadata = MetaData()

    first = define_tables(metadata)
    again = define_tables(metadata)

    assert again is first
    assert sorted(metadata.tables) == ["lease_events", "leases"]


def test_a_metadata_with_a_foreign_leases_table_is_refused_by_name() -> None:
    metadata = MetaData()
    Table("leases", metadata, Column("id", Integer, primary_key=True))

    with pytest.raises(ValueError, match="already holds table"):
        define_tables(metadata)
