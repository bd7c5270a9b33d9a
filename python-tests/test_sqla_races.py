"""Concurrent sessions racing for one resource through the SQLAlchemy adapter.

Twenty sessions, each with its own connection, split over two engines as two app instances
would be, ask for the same lease at once. Exactly one wins; every other gets the ordinary
``LeaseHeld`` (never an integrity error, never a storage error), and the tables hold one grant.
On PostgreSQL the losers really do write after reading a free resource and are turned back by
the conditional write; on SQLite the write lock queues them.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from leasekit import Lease, LeaseHeld, ManualClock
from leasekit.sqla import acquire, heartbeat, history, open_engine, read_record, sweep
from sqla_support import POOL, LeaseDatabase

pytest_plugins = ["sqla_support"]

RACERS = 20
MINUTE_MS = 60_000


@pytest_asyncio.fixture
async def second_instance(
    lease_db: LeaseDatabase,
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions of another engine on the same database, as a second app instance has."""
    engine = open_engine(lease_db.engine.url.render_as_string(hide_password=False), **POOL)
    try:
        yield async_sessionmaker(engine, expire_on_commit=False)
    finally:
        await engine.dispose()


async def race(
    lease_db: LeaseDatabase,
    instances: list[async_sessionmaker[AsyncSession]],
    clock: ManualClock,
    **options: bool,
) -> list[Lease | BaseException]:
    start = asyncio.Event()

    async def one(number: int) -> Lease:
        sessions = instances[number % len(instances)]
        async with sessions() as session, session.begin():
            await start.wait()
            return await acquire(
                session,
                lease_db.tables,
                "project",
                "p1",
                owner=f"user-{number}",
                session_id=f"tab-{number}",
                interval_ms=MINUTE_MS,
                clock=clock,
                **options,
            )

    racers = [asyncio.create_task(one(number)) for number in range(RACERS)]
    await asyncio.sleep(0)
    start.set()
    return await asyncio.gather(*racers, return_exceptions=True)


def outcomes(results: list[Lease | BaseException]) -> Counter[str]:
    return Counter(type(result).__name__ for result in results)


@pytest.mark.asyncio
async def test_twenty_sessions_racing_for_a_free_resource_get_one_grant(
    lease_db: LeaseDatabase,
    second_instance: async_sessionmaker[AsyncSession],
    clock: ManualClock,
) -> None:
    results = await race(lease_db, [lease_db.sessions, second_instance], clock)

    assert outcomes(results) == Counter({"Lease": 1, "LeaseHeld": RACERS - 1}), results
    (winner,) = [result for result in results if isinstance(result, Lease)]
    assert winner.fence == 1
    for refusal in results:
        if isinstance(refusal, LeaseHeld):
            assert refusal.holder.owner == winner.owner
            assert refusal.same_owner is False
    async with lease_db.transaction() as session:
        record = await read_record(session, lease_db.tables, "project", "p1")
        events = await history(session, lease_db.tables, "project", "p1")
    assert (record.owner, record.fence) == (winner.owner, 1)
    assert [(event.kind, event.owner) for event in events] == [("acquired", winner.owner)]


@pytest.mark.asyncio
async def test_twenty_sessions_racing_for_a_stale_lease_expire_it_once(
    lease_db: LeaseDatabase,
    second_instance: async_sessionmaker[AsyncSession],
    clock: ManualClock,
) -> None:
    async with lease_db.transaction() as session:
        await acquire(
            session, lease_db.tables, "project", "p1", owner="gone", session_id="old", clock=clock
        )
    clock.advance(3 * MINUTE_MS + 1)

    results = await race(lease_db, [lease_db.sessions, second_instance], clock)

    assert outcomes(results) == Counter({"Lease": 1, "LeaseHeld": RACERS - 1}), results
    (winner,) = [result for result in results if isinstance(result, Lease)]
    assert winner.fence == 2
    assert winner.previous is not None
    assert (winner.previous.owner, winner.previous.ended) == ("gone", "expired")
    async with lease_db.transaction() as session:
        events = await history(session, lease_db.tables, "project", "p1")
    assert [event.kind for event in events] == ["acquired", "expired", "acquired"]


@pytest.mark.asyncio
async def test_twenty_forcing_sessions_each_take_the_lease_in_turn_with_rising_fences(
    lease_db: LeaseDatabase,
    second_instance: async_sessionmaker[AsyncSession],
    clock: ManualClock,
) -> None:
    results = await race(lease_db, [lease_db.sessions, second_instance], clock, force=True)

    leases = [result for result in results if isinstance(result, Lease)]
    assert len(leases) == RACERS, results
    assert sorted(lease.fence for lease in leases) == list(range(1, RACERS + 1))
    async with lease_db.transaction() as session:
        record = await read_record(session, lease_db.tables, "project", "p1")
        events = await history(session, lease_db.tables, "project", "p1", 100)
    assert record.fence == RACERS
    assert Counter(event.kind for event in events) == Counter({"forced": 19, "acquired": 1})


@pytest.mark.asyncio
async def test_heartbeats_racing_a_sweep_never_revive_or_lose_a_live_lease(
    lease_db: LeaseDatabase,
    second_instance: async_sessionmaker[AsyncSession],
    clock: ManualClock,
) -> None:
    async with lease_db.transaction() as session:
        lease = await acquire(
            session, lease_db.tables, "project", "p1", owner="alice", session_id="tab", clock=clock
        )
    assert lease.token is not None
    token = lease.token
    clock.advance(MINUTE_MS)

    async def beat(sessions: async_sessionmaker[AsyncSession]) -> Lease:
        async with sessions() as session, session.begin():
            return await heartbeat(session, lease_db.tables, "project", "p1", token, clock=clock)

    async def sweep_once(sessions: async_sessionmaker[AsyncSession]) -> int:
        async with sessions() as session, session.begin():
            return len((await sweep(session, lease_db.tables, clock=clock)).expired)

    instances = [lease_db.sessions, second_instance]
    beats = [beat(instances[number % 2]) for number in range(10)]
    sweeps = [sweep_once(instances[number % 2]) for number in range(10)]
    results = await asyncio.gather(*beats, *sweeps, return_exceptions=True)

    assert all(not isinstance(result, BaseException) for result in results), results
    assert sum(result for result in results if isinstance(result, int)) == 0
    async with lease_db.transaction() as session:
        record = await read_record(session, lease_db.tables, "project", "p1")
    assert (record.state, record.fence, record.heartbeat_at_ms) == ("held", 1, clock.now_ms)
