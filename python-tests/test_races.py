"""Threads, processes and asyncio tasks racing on one file never see two live holders."""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import threading
from pathlib import Path

import pytest

from conftest import write_lock_held_by_another_process
from leasekit import AsyncLeaseStore, LeaseHeld, LeaseLost, LeaseStore, StorageError
from race_worker import RESOURCE, contend

THREADS = 8
THREAD_ROUNDS = 60
PROCESSES = 4
PROCESS_ROUNDS = 50
TASKS = 200
TICK_S = 0.005
MAX_LOOP_STALL_S = 0.05


def assert_grants_alternate_with_releases(store: LeaseStore, grants: int) -> None:
    """The audit log of the contested resource reads acquired f, released f, acquired f + 1, ...

    Every holder released before the next grant, so any overlap of two live holders would show
    as two grants in a row; and the fences must count up by one from 1.
    """
    events = store.history(*RESOURCE, limit=1_000)
    events.reverse()
    assert len(events) == 2 * grants
    for index, event in enumerate(events):
        fence = index // 2 + 1
        expected = "acquired" if index % 2 == 0 else "released"
        assert (event.kind, event.fence) == (expected, fence), events[max(0, index - 2) : index + 1]
    sequences = [event.sequence for event in events]
    assert sequences == sorted(sequences)


def test_threads_racing_for_one_resource_never_hold_it_together(db_path: Path) -> None:
    store = LeaseStore(db_path, busy_timeout_ms=30_000)
    registry_lock = threading.Lock()
    holding: set[str] = set()
    overlaps: list[tuple[str, set[str]]] = []
    granted: list[int] = []

    def contender(owner: str) -> None:
        wins = 0
        while wins < THREAD_ROUNDS:
            try:
                lease = store.acquire(*RESOURCE, owner=owner, session_id="thread")
            except LeaseHeld:
                continue
            with registry_lock:
                # Registered only after the grant, removed before the release: an overlap here
                # means the store granted while another holder had not released yet.
                if holding:
                    overlaps.append((owner, set(holding)))
                holding.add(owner)
                granted.append(lease.fence)
            with registry_lock:
                holding.discard(owner)
            assert lease.token is not None
            assert store.release(*RESOURCE, lease.token).released
            wins += 1

    threads = [threading.Thread(target=contender, args=(f"owner-{n}",)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert overlaps == []
    assert sorted(granted) == list(range(1, THREADS * THREAD_ROUNDS + 1))
    assert_grants_alternate_with_releases(store, THREADS * THREAD_ROUNDS)
    store.close()


def test_processes_racing_for_one_resource_get_strictly_increasing_unique_fences(
    db_path: Path,
) -> None:
    LeaseStore(db_path).close()
    context = multiprocessing.get_context("spawn")
    owners = [f"process-{n}" for n in range(PROCESSES)]

    with context.Pool(PROCESSES) as pool:
        results = pool.starmap(contend, [(str(db_path), owner, PROCESS_ROUNDS) for owner in owners])

    for fences in results:
        assert len(fences) == PROCESS_ROUNDS
        assert fences == sorted(set(fences)), "each process sees its fences strictly increase"
    everyone = sorted(fence for fences in results for fence in fences)
    assert everyone == list(range(1, PROCESSES * PROCESS_ROUNDS + 1))
    with LeaseStore(db_path) as store:
        assert_grants_alternate_with_releases(store, PROCESSES * PROCESS_ROUNDS)


async def ticker(stop: asyncio.Event, stalls: list[float]) -> None:
    """Sleeps in short ticks and records how late each wake-up came."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        started = loop.time()
        await asyncio.sleep(TICK_S)
        stalls.append(loop.time() - started - TICK_S)


async def busy_client(store: AsyncLeaseStore, number: int, fences: dict[str, list[int]]) -> int:
    """Acquires one of twenty resources, heartbeats, reads it, and releases; answers grants."""
    rng = random.Random(number)
    resource = f"r{number % 20}"
    owner = f"user-{number}"
    grants = 0
    refused_by: list[str] = []
    for _ in range(5):
        try:
            lease = await store.acquire("project", resource, owner=owner, session_id="task")
        except LeaseHeld as refusal:
            refused_by.append(str(refusal.holder.owner))
            await asyncio.sleep(rng.random() / 1000)
            continue
        grants += 1
        fences.setdefault(resource, []).append(lease.fence)
        assert lease.token is not None
        try:
            await store.heartbeat("project", resource, lease.token)
        except LeaseLost:  # pragma: no cover - nobody forces or takes over in this test
            raise AssertionError("a lease was lost without force or takeover") from None
        status = await store.status("project", resource)
        assert (status.owner, status.fence) == (owner, lease.fence)
        released = await store.release("project", resource, lease.token)
        assert released.released
    assert owner not in refused_by, "nobody is refused by their own lease"
    return grants


def test_two_hundred_tasks_never_block_the_event_loop(db_path: Path) -> None:
    async def scenario() -> tuple[list[float], int, dict[str, list[int]]]:
        stalls: list[float] = []
        fences: dict[str, list[int]] = {}
        stop = asyncio.Event()
        async with await AsyncLeaseStore.open(db_path, busy_timeout_ms=30_000) as store:
            watch = asyncio.create_task(ticker(stop, stalls))
            await asyncio.sleep(TICK_S * 2)
            grants = await asyncio.gather(
                *(busy_client(store, number, fences) for number in range(TASKS))
            )
            stop.set()
            await watch
            for resource, granted in fences.items():
                history = await store.history("project", resource, limit=1_000)
                assert sorted(granted) == list(range(1, len(granted) + 1))
                assert len(history) == 2 * len(granted)
        return stalls, sum(grants), fences

    stalls, grants, _ = asyncio.run(scenario())

    assert grants >= 20, "every resource was granted at least once"
    assert len(stalls) > 10, "the ticker ran while the tasks worked"
    assert max(stalls) < MAX_LOOP_STALL_S, f"the loop stalled {max(stalls) * 1000:.1f} ms"


def test_a_store_file_locked_by_another_process_fails_after_the_busy_timeout(
    db_path: Path,
) -> None:
    with LeaseStore(db_path, busy_timeout_ms=100) as store:
        with write_lock_held_by_another_process(db_path):
            with pytest.raises(StorageError) as refused:
                store.acquire(*RESOURCE, owner="alice", session_id="s")
            assert store.status(*RESOURCE).fence == 0

        assert refused.value.code == "storage_failure"
        assert "locked" in str(refused.value)
        assert store.acquire(*RESOURCE, owner="alice", session_id="s").fence == 1
