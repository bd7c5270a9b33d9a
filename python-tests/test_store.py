"""The SQLite store from Python: grants, refusals, heartbeats, releases, views and upkeep."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from conftest import START, snapshot
from leasekit import (
    LeaseExpired,
    LeaseHeld,
    LeaseLost,
    LeaseStore,
    ManualClock,
    SchemaTooNew,
    StorageError,
)

SECOND = 1_000
START_MS = int(START.timestamp() * 1000)


def take(store: LeaseStore, owner: str = "alice", session: str = "tab-1", **options: bool) -> str:
    lease = store.acquire(
        "project", "apollo", owner=owner, session_id=session, interval_ms=30 * SECOND, **options
    )
    assert lease.token is not None
    return lease.token


def test_first_grant_gets_fence_one_with_aware_utc_times_and_a_token(store: LeaseStore) -> None:
    lease = store.acquire(
        "project", "apollo", owner="alice", session_id="tab-1", interval_ms=30_000
    )

    assert (lease.scope, lease.resource_id, lease.owner, lease.session_id) == (
        "project",
        "apollo",
        "alice",
        "tab-1",
    )
    assert lease.fence == 1
    assert not lease.renewed
    assert lease.previous is None
    assert lease.acquired_at == lease.heartbeat_at == lease.server_time == START
    assert lease.expires_at == START + timedelta(seconds=90)
    assert lease.expires_at.tzinfo is UTC
    assert lease.expires_at_ms == START_MS + 90_000
    assert (lease.interval_ms, lease.stale_after_ms) == (30_000, 90_000)
    assert lease.token is not None
    assert len(lease.token) >= 22


def test_the_same_session_acquiring_again_renews_with_a_fresh_token_and_the_same_fence(
    store: LeaseStore, clock: ManualClock
) -> None:
    first = take(store)
    clock.advance(10 * SECOND)

    again = store.acquire(
        "project", "apollo", owner="alice", session_id="tab-1", interval_ms=30_000
    )

    assert again.renewed
    assert again.fence == 1
    assert again.token not in {None, first}
    assert again.acquired_at == START
    assert again.heartbeat_at == START + timedelta(seconds=10)
    with pytest.raises(LeaseLost):
        store.heartbeat("project", "apollo", first)


def test_another_owner_is_refused_with_the_public_view_of_the_holder(
    store: LeaseStore, clock: ManualClock
) -> None:
    take(store)
    clock.advance(5 * SECOND)
    before = store.status("project", "apollo")

    with pytest.raises(LeaseHeld) as refused:
        store.acquire("project", "apollo", owner="bob", session_id="laptop")

    holder = refused.value.holder
    assert refused.value.code == "lease_held"
    assert not refused.value.same_owner
    assert (holder.owner, holder.session_id, holder.fence) == ("alice", "tab-1", 1)
    assert holder.live
    assert holder.server_time == START + timedelta(seconds=5)
    assert holder.expires_at == START + timedelta(seconds=90)
    assert "alice" in str(refused.value)
    assert store.status("project", "apollo") == before


def test_a_second_tab_is_refused_as_same_owner_then_takes_over_and_the_first_tab_is_lost(
    store: LeaseStore,
) -> None:
    first_tab = take(store)

    with pytest.raises(LeaseHeld) as refused:
        take(store, session="tab-2")
    assert refused.value.same_owner

    second_tab = store.acquire(
        "project", "apollo", owner="alice", session_id="tab-2", takeover=True
    )
    assert second_tab.fence == 2
    assert second_tab.previous is not None
    assert (second_tab.previous.session_id, second_tab.previous.ended) == ("tab-1", "taken_over")

    with pytest.raises(LeaseLost) as lost:
        store.heartbeat("project", "apollo", first_tab)
    assert lost.value.current.session_id == "tab-2"
    assert lost.value.current.fence == 2
    assert store.status("project", "apollo").session_id == "tab-2"


def test_force_takes_another_owners_live_lease_and_names_it_forced(store: LeaseStore) -> None:
    take(store)

    forced = store.acquire("project", "apollo", owner="admin", session_id="console", force=True)

    assert forced.fence == 2
    assert forced.previous is not None
    assert (forced.previous.owner, forced.previous.ended) == ("alice", "forced")


def test_heartbeats_move_the_expiry_to_the_last_beat_plus_the_threshold_never_more(
    store: LeaseStore, clock: ManualClock
) -> None:
    token = take(store)

    for _ in range(60):
        clock.advance(SECOND)
        beaten = store.heartbeat("project", "apollo", token)

    assert beaten.renewed
    assert beaten.token is None
    assert beaten.heartbeat_at == START + timedelta(seconds=60)
    assert beaten.expires_at == START + timedelta(seconds=150)
    assert store.history("project", "apollo")[0].kind == "acquired"


def test_a_stale_lease_is_not_revived_by_its_heartbeat_and_the_sweep_ends_it(
    store: LeaseStore, clock: ManualClock
) -> None:
    token = take(store)
    clock.advance(90 * SECOND)
    assert store.heartbeat("project", "apollo", token).expires_at == START + timedelta(seconds=180)
    clock.advance(90 * SECOND + 1)

    with pytest.raises(LeaseExpired) as expired:
        store.heartbeat("project", "apollo", token)
    assert expired.value.lease.fence == 1
    assert expired.value.lease.token is None
    status = store.status("project", "apollo")
    assert status.held
    assert status.stale
    assert not status.live

    report = store.sweep()
    assert [(ended.resource_id, ended.fence) for ended in report.expired] == [("apollo", 1)]
    assert report.at == START + timedelta(seconds=180, milliseconds=1)
    with pytest.raises(LeaseExpired):
        store.heartbeat("project", "apollo", token)
    after = store.status("project", "apollo")
    assert not after.held
    assert after.last_ended is not None
    assert after.last_ended.reason == "expired"


def test_release_is_safe_to_repeat_and_a_stale_token_never_raises(store: LeaseStore) -> None:
    first = take(store)

    released = store.release("project", "apollo", first)
    assert (released.released, released.reason, released.fence) == (True, None, 1)

    again = store.release("project", "apollo", first)
    assert (again.released, again.reason, again.fence, again.ended) == (
        False,
        "already_released",
        1,
        "released",
    )

    take(store, owner="bob", session="laptop")
    late = store.release("project", "apollo", first)
    assert (late.released, late.reason, late.fence) == (False, "superseded", 2)
    stranger = store.release("project", "apollo", "never-issued-token")
    assert (stranger.released, stranger.reason, stranger.fence) == (False, "superseded", 2)
    assert store.status("project", "apollo").owner == "bob"


def test_a_late_release_after_expiry_and_reacquire_does_not_free_the_new_holder(
    store: LeaseStore, clock: ManualClock
) -> None:
    old = take(store)
    clock.advance(91 * SECOND)
    take(store, owner="bob", session="laptop")

    late = store.release("project", "apollo", old)

    assert not late.released
    assert store.status("project", "apollo").owner == "bob"


def test_status_of_a_resource_never_leased_is_free_with_fence_zero(store: LeaseStore) -> None:
    status = store.status("project", "never")

    assert (status.held, status.stale, status.live, status.fence) == (False, False, False, 0)
    assert status.owner is None
    assert status.expires_at is None
    assert status.last_ended is None
    assert status.server_time == START


def test_status_after_release_names_the_last_holder_and_how_it_ended(
    store: LeaseStore, clock: ManualClock
) -> None:
    store.release("project", "apollo", take(store))
    clock.advance(SECOND)

    status = store.status("project", "apollo")

    assert not status.held
    assert status.fence == 1
    assert status.last_ended is not None
    assert (status.last_ended.owner, status.last_ended.reason) == ("alice", "released")
    assert status.last_ended.ended_at == START


def test_history_is_newest_first_with_sequence_numbers_for_paging(
    store: LeaseStore, clock: ManualClock
) -> None:
    token = take(store)
    clock.advance(SECOND)
    store.acquire("project", "apollo", owner="alice", session_id="tab-2", takeover=True)
    clock.advance(181 * SECOND)
    store.sweep()

    events = store.history("project", "apollo")
    assert [event.kind for event in events] == ["expired", "taken_over", "acquired"]
    assert [event.fence for event in events] == [2, 2, 1]
    assert events[0].actor is None
    assert events[1].actor == "alice"
    assert events[2].at == START
    sequences = [event.sequence for event in events]
    assert sequences == sorted(sequences, reverse=True)

    page = store.history("project", "apollo", limit=1, before=events[0].sequence)
    assert page == [events[1]]
    with pytest.raises(LeaseLost):
        store.heartbeat("project", "apollo", token)


def test_holders_lists_live_and_stale_leases_of_one_scope_by_id(
    store: LeaseStore, clock: ManualClock
) -> None:
    store.acquire("project", "beta", owner="bob", session_id="b", interval_ms=1_000)
    store.acquire("project", "alpha", owner="alice", session_id="a", interval_ms=60_000)
    store.acquire("deployment", "d1", owner="runner", session_id="attempt-1")
    clock.advance(10 * SECOND)

    holders = store.holders("project")

    assert [(held.resource_id, held.owner, held.stale) for held in holders] == [
        ("alpha", "alice", False),
        ("beta", "bob", True),
    ]
    assert all(held.held and held.server_time == clock.now for held in holders)


def test_pruning_empties_old_tombstones_but_the_fence_never_goes_back(
    store: LeaseStore, clock: ManualClock
) -> None:
    store.release("project", "apollo", take(store))
    store.release("project", "apollo", take(store))
    clock.advance(SECOND)

    report = store.prune_tombstones(clock.now)

    assert (report.pruned, report.events_deleted) == (1, 4)
    assert store.history("project", "apollo") == []
    assert store.status("project", "apollo").fence == 2
    assert store.acquire("project", "apollo", owner="bob", session_id="b").fence == 3


def test_the_fence_survives_closing_and_reopening_the_file(
    db_path: Path, clock: ManualClock
) -> None:
    with LeaseStore(db_path, clock=clock) as first:
        first.release("project", "apollo", take(first))

    with LeaseStore(db_path, clock=clock) as second:
        assert second.status("project", "apollo").fence == 1
        assert take(second) != ""
        assert second.status("project", "apollo").fence == 2


def test_the_store_runs_in_wal_mode_with_the_requested_durability(db_path: Path) -> None:
    with LeaseStore(db_path, synchronous="full", busy_timeout_ms=1234) as store:
        settings = store.settings()

    assert settings == {
        "journal_mode": "wal",
        "synchronous": "full",
        "busy_timeout_ms": 1234,
        "foreign_keys": True,
        "schema_version": 1,
    }


def test_a_closed_store_refuses_every_call_with_a_storage_error(store: LeaseStore) -> None:
    store.close()

    assert store.closed
    with pytest.raises(StorageError, match="closed") as refused:
        store.status("project", "apollo")
    assert refused.value.code == "storage_failure"
    store.close()


def test_a_file_written_by_a_newer_leasekit_is_refused(db_path: Path) -> None:
    LeaseStore(db_path).close()
    connection = sqlite3.connect(db_path)
    connection.execute("PRAGMA user_version = 99")
    connection.close()

    with pytest.raises(SchemaTooNew) as refused:
        LeaseStore(db_path)

    assert refused.value.code == "schema_too_new"
    assert isinstance(refused.value, StorageError)
    assert "99" in str(refused.value)


def test_a_manual_clock_takes_aware_datetimes_timedeltas_and_steps_back(db_path: Path) -> None:
    clock = ManualClock(datetime(2024, 1, 1, 12, tzinfo=UTC))
    with LeaseStore(db_path, clock=clock) as store:
        clock.advance(timedelta(minutes=1))
        assert store.now() == datetime(2024, 1, 1, 12, 1, tzinfo=UTC)
        lease = store.acquire("project", "p", owner="a", session_id="s", interval_ms=1_000)

        clock.advance(-60_000)
        assert store.status("project", "p").live
        assert store.heartbeat("project", "p", str(lease.token)).heartbeat_at == clock.now


def test_refusals_change_nothing_in_the_file(db_path: Path, clock: ManualClock) -> None:
    with LeaseStore(db_path, clock=clock) as store:
        token = take(store)
    before = snapshot(db_path)

    with LeaseStore(db_path, clock=clock) as store:
        with pytest.raises(LeaseHeld):
            take(store, owner="bob")
        with pytest.raises(LeaseLost):
            store.heartbeat("project", "apollo", "some-other-token")
        store.release("project", "apollo", "some-other-token")

    assert snapshot(db_path) == before
    with LeaseStore(db_path, clock=clock) as store:
        assert store.heartbeat("project", "apollo", token).fence == 1
