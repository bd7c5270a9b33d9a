"""The drop-in lock module: the backend's own lock cases, its two faults fixed, on both databases.

The cases are the backend's, rewritten against :class:`leasekit.locks.DeploymentLocks`: each
call runs in a session of its own that the test commits, as the backend's request handlers and
deploy runner do. The two fixed faults get their own tests: a concurrent acquirer loses with
``LockHeldError`` (never an integrity error), and a heartbeat on a stale lock answers False
without reviving it.
"""

from __future__ import annotations

import asyncio
import pickle
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from leasekit import InvalidInterval, InvalidOwner, InvalidResourceId, LeaseStatus, ManualClock
from leasekit.locks import DeploymentLock, DeploymentLocks, LockHeldError, lock_held_error_class
from leasekit.sqla import history, read_record, status
from sqla_support import LeaseDatabase

pytest_plugins = ["sqla_support"]

START = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
INTERVAL_S = 30


class Range42LikeError(Exception):
    """An error base shaped like the backend's: keyword-only, with class-level defaults."""

    status: int = 400
    error: str = "error"
    code: str = "ERROR"

    def __init__(
        self,
        *,
        error: str | None = None,
        code: str | None = None,
        status: int | None = None,
        message: str = "",
        details: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(message or error or code or "error")
        if error is not None:
            self.error = error
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.message = message or self.error
        self.details = details or []
        self.base_initialised = True


class PositionalError(Exception):
    """An error base whose constructor takes only a message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.seen_message = message


class Locks:
    """The drop-in on one database, each call in a committed session of its own."""

    def __init__(
        self,
        database: LeaseDatabase,
        clock: ManualClock,
        error_base: type[Exception] | None = None,
    ) -> None:
        self.database = database
        self.module = DeploymentLocks(database.tables, clock=clock, error_base=error_base)

    async def acquire(
        self, deployment_id: str, owner: str, interval_s: int = INTERVAL_S
    ) -> DeploymentLock:
        async with self.database.transaction() as session:
            return await self.module.acquire_lock(
                session, deployment_id=deployment_id, owner=owner, interval_s=interval_s
            )

    async def release(self, deployment_id: str, owner: str) -> bool:
        async with self.database.transaction() as session:
            return await self.module.release_lock(session, deployment_id=deployment_id, owner=owner)

    async def heartbeat(self, deployment_id: str, owner: str) -> bool:
        async with self.database.transaction() as session:
            return await self.module.heartbeat(session, deployment_id=deployment_id, owner=owner)

    async def cleanup(self, deployment_id: str | None = None) -> int:
        async with self.database.transaction() as session:
            return await self.module.cleanup_stale_locks(session, deployment_id=deployment_id)

    async def view(self, deployment_id: str) -> LeaseStatus:
        async with self.database.transaction() as session:
            return await status(
                session, self.database.tables, "deployment", deployment_id, clock=self.module.clock
            )

    async def events(self, deployment_id: str) -> list[str]:
        async with self.database.transaction() as session:
            found = await history(session, self.database.tables, "deployment", deployment_id)
        return [event.kind for event in reversed(found)]


@pytest.fixture
def locks(lease_db: LeaseDatabase, clock: ManualClock) -> Locks:
    return Locks(lease_db, clock)


@pytest.mark.asyncio
async def test_acquire_returns_the_lock_row_with_a_fence(locks: Locks) -> None:
    row = await locks.acquire("dep-1", "attempt-1")

    assert isinstance(row, DeploymentLock)
    assert (row.deployment_id, row.owner, row.fence) == ("dep-1", "attempt-1", 1)
    assert row.acquired_at == row.heartbeat_at == START
    assert row.acquired_at.tzinfo is not None
    assert row.heartbeat_interval_s == INTERVAL_S
    assert row.expires_at == START + timedelta(seconds=3 * INTERVAL_S)


@pytest.mark.asyncio
async def test_second_acquire_is_refused_even_for_the_same_owner(locks: Locks) -> None:
    await locks.acquire("dep-1", "attempt-1")

    with pytest.raises(LockHeldError) as other:
        await locks.acquire("dep-1", "attempt-2")
    with pytest.raises(LockHeldError) as same:
        await locks.acquire("dep-1", "attempt-1")

    for refusal in (other.value, same.value):
        assert refusal.status == 409
        assert refusal.error == "deployment_locked"
        assert refusal.code == "DEPLOYMENT_LOCKED"
        reason = "held by attempt-1 since 2024-03-01T09:00:00.000Z"
        assert refusal.details == [{"field": "deployment_id", "reason": reason}]
        assert refusal.detail == {"field": "deployment_id", "reason": reason}
        assert refusal.message == f"deployment dep-1 is locked: {reason}"
        assert (refusal.owner, refusal.fence, refusal.since) == ("attempt-1", 1, START)
    assert (await locks.view("dep-1")).owner == "attempt-1"
    assert await locks.events("dep-1") == ["acquired"]


@pytest.mark.asyncio
async def test_a_stale_lock_is_cleaned_up_once_and_then_acquirable(
    locks: Locks, clock: ManualClock
) -> None:
    await locks.acquire("dep-1", "attempt-1")
    await locks.acquire("dep-2", "attempt-2")
    clock.advance(timedelta(seconds=3 * INTERVAL_S))
    await locks.heartbeat("dep-2", "attempt-2")
    assert await locks.cleanup() == 0, "exactly three intervals is not yet stale"

    clock.advance(1)
    assert await locks.cleanup() == 1
    assert await locks.cleanup() == 0

    row = await locks.acquire("dep-1", "attempt-3")
    assert (row.owner, row.fence) == ("attempt-3", 2)
    assert await locks.events("dep-1") == ["acquired", "expired", "acquired"]
    assert (await locks.view("dep-2")).live


@pytest.mark.asyncio
async def test_cleanup_of_one_deployment_leaves_the_others(
    locks: Locks, clock: ManualClock
) -> None:
    await locks.acquire("dep-1", "attempt-1")
    await locks.acquire("dep-2", "attempt-2")
    clock.advance(timedelta(minutes=5))

    assert await locks.cleanup(deployment_id="dep-2") == 1

    assert (await locks.view("dep-1")).held
    assert not (await locks.view("dep-2")).held


@pytest.mark.asyncio
async def test_acquire_evicts_a_stale_predecessor_in_the_same_transaction(
    locks: Locks, clock: ManualClock
) -> None:
    await locks.acquire("dep-1", "attempt-1")
    clock.advance(timedelta(seconds=3 * INTERVAL_S) + timedelta(milliseconds=1))

    row = await locks.acquire("dep-1", "attempt-2")

    assert (row.owner, row.fence) == ("attempt-2", 2)
    assert await locks.events("dep-1") == ["acquired", "expired", "acquired"]
    assert await locks.heartbeat("dep-1", "attempt-1") is False


@pytest.mark.asyncio
async def test_release_only_by_the_owner(locks: Locks) -> None:
    await locks.acquire("dep-1", "attempt-1")

    assert await locks.release("dep-1", "attempt-2") is False
    assert (await locks.view("dep-1")).owner == "attempt-1"

    assert await locks.release("dep-1", "attempt-1") is True
    assert await locks.release("dep-1", "attempt-1") is False
    assert await locks.release("dep-404", "attempt-1") is False
    assert not (await locks.view("dep-1")).held
    assert await locks.events("dep-1") == ["acquired", "released"]


@pytest.mark.asyncio
async def test_release_of_an_own_stale_lock_succeeds(locks: Locks, clock: ManualClock) -> None:
    await locks.acquire("dep-1", "attempt-1")
    clock.advance(timedelta(hours=1))

    assert await locks.release("dep-1", "attempt-1") is True
    assert (await locks.acquire("dep-1", "attempt-2")).fence == 2


@pytest.mark.asyncio
async def test_heartbeat_updates_the_time_and_refuses_a_wrong_owner(
    locks: Locks, lease_db: LeaseDatabase, clock: ManualClock
) -> None:
    await locks.acquire("dep-1", "attempt-1")
    clock.advance(timedelta(seconds=INTERVAL_S))

    assert await locks.heartbeat("dep-1", "attempt-2") is False
    assert (await locks.view("dep-1")).heartbeat_at == START

    assert await locks.heartbeat("dep-1", "attempt-1") is True
    assert (await locks.view("dep-1")).heartbeat_at == START + timedelta(seconds=INTERVAL_S)
    assert await locks.heartbeat("dep-404", "attempt-1") is False
    assert await locks.events("dep-1") == ["acquired"], "heartbeats are not transitions"


@pytest.mark.asyncio
async def test_fixed_fault_heartbeat_on_a_stale_lock_is_false_and_does_not_revive_it(
    locks: Locks, lease_db: LeaseDatabase, clock: ManualClock
) -> None:
    await locks.acquire("dep-1", "attempt-1")
    clock.advance(timedelta(seconds=3 * INTERVAL_S + 1))
    stored = await lease_db.snapshot()

    assert await locks.heartbeat("dep-1", "attempt-1") is False

    assert await lease_db.snapshot() == stored
    assert (await locks.view("dep-1")).stale
    assert (await locks.acquire("dep-1", "attempt-2")).fence == 2


@pytest.mark.asyncio
async def test_fixed_fault_a_concurrent_acquirer_loses_with_lock_held_error(
    lease_db: LeaseDatabase, clock: ManualClock
) -> None:
    """B reads the deployment as free, then A acquires; B's write must lose cleanly.

    On PostgreSQL, B is held after its read while A commits, so B writes onto a row it did not
    see. On SQLite, B holds the write lock while it decides, so A waits for it and reads B's
    lock: the lock serialises them instead, and A is the one refused.
    """
    b_has_read = asyncio.Event()
    b_may_go_on = asyncio.Event()

    class PausingClock:
        async def now_ms(self, session: AsyncSession) -> int:
            b_has_read.set()
            await b_may_go_on.wait()
            return clock.now_ms

    first = DeploymentLocks(lease_db.tables, clock=clock)
    paused = DeploymentLocks(lease_db.tables, clock=PausingClock())

    async def acquire(module: DeploymentLocks, owner: str) -> DeploymentLock:
        async with lease_db.transaction() as session:
            return await module.acquire_lock(
                session, deployment_id="dep-1", owner=owner, interval_s=INTERVAL_S
            )

    b = asyncio.create_task(acquire(paused, "attempt-b"))
    await b_has_read.wait()
    a = asyncio.create_task(acquire(first, "attempt-a"))
    if lease_db.dialect == "postgresql":
        await a
        b_may_go_on.set()
        winner, loser, expected_owner = a, b, "attempt-a"
    else:
        await asyncio.sleep(0.05)  # let A reach SQLite's lock before B commits
        b_may_go_on.set()
        winner, loser, expected_owner = b, a, "attempt-b"
    results = await asyncio.gather(a, b, return_exceptions=True)

    assert (await winner).owner == expected_owner
    failure = results[0] if loser is a else results[1]
    assert isinstance(failure, LockHeldError), repr(failure)
    assert failure.owner == expected_owner
    async with lease_db.transaction() as session:
        record = await read_record(session, lease_db.tables, "deployment", "dep-1")
    assert (record.owner, record.fence) == (expected_owner, 1)


@pytest.mark.asyncio
async def test_twenty_concurrent_acquirers_get_one_lock_and_nineteen_lock_held_errors(
    lease_db: LeaseDatabase, clock: ManualClock
) -> None:
    module = DeploymentLocks(lease_db.tables, clock=clock)

    async def acquire(owner: str) -> DeploymentLock:
        async with lease_db.transaction() as session:
            return await module.acquire_lock(
                session, deployment_id="dep-1", owner=owner, interval_s=INTERVAL_S
            )

    results = await asyncio.gather(
        *(acquire(f"attempt-{number}") for number in range(20)), return_exceptions=True
    )

    granted = [result for result in results if isinstance(result, DeploymentLock)]
    refused = [result for result in results if isinstance(result, LockHeldError)]
    assert len(granted) == 1, results
    assert len(refused) == 19, [result for result in results if result not in refused]
    assert {refusal.owner for refusal in refused} == {granted[0].owner}
    assert (await Locks(lease_db, clock).events("dep-1")) == ["acquired"]


@pytest.mark.asyncio
async def test_nothing_is_stored_until_the_caller_commits(
    lease_db: LeaseDatabase, clock: ManualClock
) -> None:
    module = DeploymentLocks(lease_db.tables, clock=clock)
    async with lease_db.sessions() as session:
        await session.begin()
        await module.acquire_lock(session, deployment_id="dep-1", owner="a-1", interval_s=30)
        await session.rollback()

    assert await lease_db.snapshot() == ([], [])


@pytest.mark.asyncio
async def test_bad_arguments_name_the_drop_in_field_and_store_nothing(locks: Locks) -> None:
    with pytest.raises(InvalidResourceId) as bad_id:
        await locks.acquire("no/slashes", "attempt-1")
    with pytest.raises(InvalidInterval) as bad_interval:
        await locks.acquire("dep-1", "attempt-1", interval_s=0)
    with pytest.raises(InvalidInterval) as not_a_number:
        await locks.acquire("dep-1", "attempt-1", interval_s="30")  # type: ignore[arg-type]
    with pytest.raises(InvalidOwner) as bad_owner:
        await locks.acquire("dep-1", "")

    assert bad_id.value.field == "deployment_id"
    assert "deployment_id" in str(bad_id.value)
    assert bad_interval.value.field == not_a_number.value.field == "interval_s"
    assert str(bad_interval.value).startswith("interval_s 0")
    assert bad_owner.value.field == "owner"
    assert await locks.database.snapshot() == ([], [])


@pytest.mark.asyncio
async def test_each_acquire_is_its_own_session_and_stores_only_a_digest(
    locks: Locks, lease_db: LeaseDatabase
) -> None:
    first = await locks.acquire("dep-1", "attempt-1")
    await locks.release("dep-1", "attempt-1")
    second = await locks.acquire("dep-1", "attempt-1")

    assert first.session_id != second.session_id
    rows = await lease_db.rows("SELECT token_digest, session_id FROM {leases}")
    ((digest, session_id),) = rows
    assert isinstance(digest, bytes)
    assert len(digest) == 32
    assert session_id == second.session_id


@pytest.mark.asyncio
async def test_error_base_makes_lock_held_error_a_subclass_of_the_host_error(
    lease_db: LeaseDatabase, clock: ManualClock
) -> None:
    locks = Locks(lease_db, clock, error_base=Range42LikeError)
    await locks.acquire("dep-1", "attempt-1")

    with pytest.raises(Range42LikeError) as caught:
        await locks.acquire("dep-1", "attempt-2")

    refusal = caught.value
    assert isinstance(refusal, LockHeldError)
    assert isinstance(refusal, locks.module.LockHeldError)
    assert getattr(refusal, "base_initialised", False)
    assert (refusal.status, refusal.error, refusal.code) == (
        409,
        "deployment_locked",
        "DEPLOYMENT_LOCKED",
    )
    assert refusal.details[0]["reason"].startswith("held by attempt-1 since ")
    assert str(refusal) == refusal.message


def test_a_base_taking_only_a_message_gets_the_message() -> None:
    error_class = lock_held_error_class(PositionalError)

    refusal = error_class(deployment_id="dep-1", owner="attempt-1", since=START, fence=3)

    assert isinstance(refusal, PositionalError)
    assert refusal.seen_message == refusal.message
    assert refusal.message.startswith("deployment dep-1 is locked: held by attempt-1 since ")
    assert lock_held_error_class(error_class) is error_class


def test_lock_held_error_survives_pickling() -> None:
    refusal = LockHeldError(deployment_id="dep-1", owner="attempt-1", since=START, fence=3)

    copy = pickle.loads(pickle.dumps(refusal))

    assert (copy.owner, copy.fence, copy.since, copy.details) == (
        "attempt-1",
        3,
        START,
        refusal.details,
    )


@pytest.mark.asyncio
@pytest.mark.parametrize("owner", [None, "", 42, b"attempt-1", "x" * 200, "a\nb"])
async def test_release_and_heartbeat_refuse_a_malformed_owner_as_acquire_does(
    locks: Locks, lease_db: LeaseDatabase, owner: object
) -> None:
    await locks.acquire("dep-1", "attempt-1")
    stored = await lease_db.snapshot()

    for call in (locks.release, locks.heartbeat):
        with pytest.raises(InvalidOwner) as refused:
            await call("dep-1", owner)  # type: ignore[arg-type]
        assert refused.value.field == "owner"

    assert await lease_db.snapshot() == stored
