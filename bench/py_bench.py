"""Python-side measurements: the extension's call overhead and the stores' throughput.

Item 2 of issue 8 times one heartbeat decision through :mod:`leasekit.rules` against the
backend's stale check in plain Python. Item 3 times acquire-heartbeat-release cycles and
heartbeats per second through :class:`leasekit.LeaseStore` (threads sharing one store) and
through the plain SQLAlchemy lock module of :mod:`baseline_locks` (asyncio tasks sharing one
engine, as the backend's one worker does). Each caller works on its own resource, so no caller
is ever refused; what is measured is the cost of the machinery, not contention for a lease.
"""

from __future__ import annotations

import asyncio
import threading
import time
import timeit
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import baseline_locks
import leasekit
from leasekit import _native, rules

INTERVAL_S = 30
GRANTED_AT = datetime(2027, 1, 15, 9, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Rate:
    """Operations per second over a timed window, and the operations that failed in it."""

    per_s: float
    failures: int = 0


def _expect(condition: bool, failure: str) -> None:
    """Stops the run when a benchmarked call did not do what it is timed for."""
    if not condition:
        raise RuntimeError(f"benchmark precondition failed: {failure}")


def per_call_ns(statement: Callable[[], object], repeats: int) -> float:
    """The fastest of ``repeats`` timeit runs, in nanoseconds per call."""
    timer = timeit.Timer(statement)
    number, _ = timer.autorange()
    best = min(timer.repeat(repeat=repeats, number=number))
    return best / number * 1e9


def call_overhead(repeats: int) -> dict[str, float]:
    """Nanoseconds per heartbeat decision: through the extension, and in plain Python."""
    token, digest = rules.new_token()
    granted = rules.acquire(
        rules.Record.vacant(),
        owner="alice",
        session_id="tab-1",
        interval_ms=INTERVAL_S * 1000,
        token_digest=digest,
        now=GRANTED_AT,
    )
    record = granted.next
    if record is None:
        raise RuntimeError("benchmark precondition failed: a vacant record is granted")
    now = GRANTED_AT + timedelta(seconds=INTERVAL_S)
    now_ms = int(now.timestamp() * 1000)
    decided = rules.heartbeat(record, digest, now_ms)
    _expect(decided.kind == "renewed", f"a live lease's heartbeat renews, got {decided.kind}")
    del token

    heartbeat_at = GRANTED_AT
    interval_s = INTERVAL_S

    def plain_check() -> bool:
        return now - heartbeat_at > timedelta(seconds=3 * interval_s)

    _expect(plain_check() is False, "the lease is live 30 s after the grant")
    return {
        "leasekit_ns": per_call_ns(lambda: rules.heartbeat(record, digest, now_ms), repeats),
        "native_ns": per_call_ns(
            lambda: _native.heartbeat(record, token_digest=digest, now_ms=now_ms), repeats
        ),
        "leasekit_datetime_ns": per_call_ns(lambda: rules.heartbeat(record, digest, now), repeats),
        "plain_ns": per_call_ns(plain_check, repeats),
    }


def _threads(callers: int, seconds: float, work: Callable[[int], None]) -> Rate:
    """Runs ``work(caller)`` in a loop on ``callers`` threads for ``seconds``."""
    done = [0] * callers
    failures = [0] * callers
    deadline = time.perf_counter() + seconds

    def loop(caller: int) -> None:
        while time.perf_counter() < deadline:
            try:
                work(caller)
            except leasekit.StorageError:
                failures[caller] += 1
            else:
                done[caller] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=loop, args=(caller,)) for caller in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Rate(sum(done) / (time.perf_counter() - started), sum(failures))


def leasekit_store(path: Path, callers: int, seconds: float) -> dict[str, Rate]:
    """Cycles and heartbeats per second through ``leasekit.LeaseStore`` from ``callers``."""
    with leasekit.LeaseStore(path) as store:

        def cycle(caller: int) -> None:
            lease = store.acquire(
                "bench", f"cycle-{caller}", owner="bench", session_id=f"s{caller}"
            )
            if lease.token is None:
                raise RuntimeError("benchmark precondition failed: a grant carries its token")
            store.heartbeat("bench", f"cycle-{caller}", lease.token)
            store.release("bench", f"cycle-{caller}", lease.token)

        tokens = []
        for caller in range(callers):
            lease = store.acquire("bench", f"beat-{caller}", owner="bench", session_id="s")
            if lease.token is None:
                raise RuntimeError("benchmark precondition failed: a grant carries its token")
            tokens.append(lease.token)

        def beat(caller: int) -> None:
            store.heartbeat("bench", f"beat-{caller}", tokens[caller])

        rates = {
            "cycles": _threads(callers, seconds, cycle),
            "heartbeats": _threads(callers, seconds, beat),
        }
        for caller, token in enumerate(tokens):
            store.release("bench", f"beat-{caller}", token)
    return rates


async def _tasks(callers: int, seconds: float, work: Callable[[int], Awaitable[None]]) -> Rate:
    """Runs ``await work(caller)`` in a loop on ``callers`` asyncio tasks for ``seconds``."""
    done = [0] * callers
    failures = [0] * callers
    deadline = time.perf_counter() + seconds

    async def loop(caller: int) -> None:
        while time.perf_counter() < deadline:
            try:
                await work(caller)
            except DBAPIError:
                failures[caller] += 1
            else:
                done[caller] += 1

    started = time.perf_counter()
    await asyncio.gather(*(loop(caller) for caller in range(callers)))
    return Rate(sum(done) / (time.perf_counter() - started), sum(failures))


async def _baseline(path: Path, callers: int, seconds: float) -> dict[str, Rate]:
    engine = baseline_locks.open_engine(str(path))
    await baseline_locks.create_tables(engine)
    sessions = async_sessionmaker(engine, expire_on_commit=False, class_=AsyncSession)

    async def cycle(caller: int) -> None:
        deployment = f"cycle-{caller}"
        async with sessions() as session, session.begin():
            await baseline_locks.acquire_lock(
                session, deployment_id=deployment, owner="bench", interval_s=INTERVAL_S
            )
        async with sessions() as session, session.begin():
            beating = await baseline_locks.heartbeat(
                session, deployment_id=deployment, owner="bench"
            )
        async with sessions() as session, session.begin():
            released = await baseline_locks.release_lock(
                session, deployment_id=deployment, owner="bench"
            )
        _expect(beating, "the owner's heartbeat is accepted")
        _expect(released, "the owner's release is accepted")

    for caller in range(callers):
        async with sessions() as session, session.begin():
            await baseline_locks.acquire_lock(
                session, deployment_id=f"beat-{caller}", owner="bench", interval_s=INTERVAL_S
            )

    async def beat(caller: int) -> None:
        async with sessions() as session, session.begin():
            beating = await baseline_locks.heartbeat(
                session, deployment_id=f"beat-{caller}", owner="bench"
            )
        _expect(beating, "the owner's heartbeat is accepted")

    try:
        return {
            "cycles": await _tasks(callers, seconds, cycle),
            "heartbeats": await _tasks(callers, seconds, beat),
        }
    finally:
        await engine.dispose()


def baseline_store(path: Path, callers: int, seconds: float) -> dict[str, Rate]:
    """Cycles and heartbeats per second through the plain SQLAlchemy module from ``callers``."""
    return asyncio.run(_baseline(path, callers, seconds))
