"""The pure rules from Python: records in and out, decisions, tokens and digests."""

from __future__ import annotations

import hashlib
import logging
import pickle
from datetime import UTC, datetime, timedelta, timezone
from types import MappingProxyType

import pytest

from leasekit import rules
from leasekit.rules import Record

NOW = 1_700_000_000_000
ALICE = rules.token_digest("tok-alice-1")
BOB = rules.token_digest("tok-bob-1")


def granted(record: Record | None = None, *, owner: str = "alice", at: int = NOW) -> Record:
    decision = rules.acquire(
        record or Record.vacant(),
        owner=owner,
        session_id="tab-1",
        interval_ms=30_000,
        token_digest=ALICE if owner == "alice" else BOB,
        now=at,
    )
    assert decision.next is not None
    return decision.next


def test_the_token_digest_is_sha256_of_the_token_bytes() -> None:
    assert rules.token_digest("abc") == hashlib.sha256(b"abc").digest()


def test_new_tokens_are_unique_url_safe_secrets_with_their_digest() -> None:
    tokens = [rules.new_token() for _ in range(50)]

    assert len({token for token, _ in tokens}) == 50
    for token, digest in tokens:
        assert len(token) == 43
        assert token.replace("-", "").replace("_", "").isalnum()
        assert digest == rules.token_digest(token)


def test_a_grant_is_a_decision_with_the_next_record_and_its_events() -> None:
    decision = rules.acquire(
        Record.vacant(),
        owner="alice",
        session_id="tab-1",
        interval_ms=30_000,
        token_digest=ALICE,
        now=NOW,
    )

    assert decision.kind == "granted"
    assert decision.refusal is None
    assert decision.changed
    assert decision.outcome["lease"]["expires_at"] == NOW + 90_000
    assert decision.events == [
        {
            "kind": "acquired",
            "at": NOW,
            "owner": "alice",
            "session_id": "tab-1",
            "fence": 1,
            "actor": "alice",
        }
    ]
    record = decision.next
    assert record is not None
    assert (record.state, record.fence, record.owner, record.token_digest) == (
        "held",
        1,
        "alice",
        ALICE,
    )
    assert (record.expires_at_ms, record.stale_after_ms, record.end_reason) == (
        NOW + 90_000,
        90_000,
        None,
    )


def test_a_refusal_carries_its_code_and_no_next_record() -> None:
    held = granted()

    busy = rules.acquire(
        held, owner="bob", session_id="laptop", interval_ms=30_000, token_digest=BOB, now=NOW + 1
    )
    lost = rules.heartbeat(held, BOB, NOW + 1)
    expired = rules.heartbeat(held, ALICE, NOW + 90_001)

    assert (busy.kind, busy.refusal, busy.next, busy.events) == ("busy", "lease_held", None, [])
    assert busy.outcome["same_owner"] is False
    assert (lost.kind, lost.refusal) == ("lost", "lease_lost")
    assert (expired.kind, expired.refusal, expired.next) == ("expired", "lease_expired", None)


def test_release_and_sweep_decide_as_the_core_does() -> None:
    held = granted()

    released = rules.release(held, ALICE, NOW + 5)
    assert released.next is not None
    again = rules.release(released.next, ALICE, NOW + 6)
    untouched = rules.sweep(held, NOW + 90_000)
    swept = rules.sweep(held, NOW + 90_001)

    assert (released.kind, released.next.state, released.next.end_reason) == (
        "released",
        "released",
        "released",
    )
    assert (again.kind, again.refusal, again.outcome["fence"]) == (
        "already_released",
        "already_released",
        1,
    )
    assert (untouched.kind, untouched.next) == ("untouched", None)
    assert swept.kind == "expired"
    assert swept.events[0]["actor"] is None


def test_aware_datetimes_in_any_zone_mean_the_same_instant_as_milliseconds() -> None:
    utc = datetime(2023, 11, 14, 22, 13, 20, 999_999, tzinfo=UTC)
    pacific = utc.astimezone(timezone(timedelta(hours=-7)))

    for instant in (pacific, utc, NOW + 999):
        beat = rules.heartbeat(granted(), ALICE, instant)
        assert beat.outcome["lease"]["heartbeat_at"] == NOW + 999, instant


def test_records_round_trip_through_json_rows_and_pickle() -> None:
    released = rules.release(granted(), ALICE, NOW + 5).next
    assert released is not None

    for record in (Record.vacant(), granted(), released):
        assert Record.from_json(record.to_json()) == record
        assert Record.from_row(record.to_row("project", "apollo")) == record
        assert pickle.loads(pickle.dumps(record)) == record


def test_a_row_has_exactly_the_store_columns_and_a_raw_digest() -> None:
    row = granted().to_row("project", "apollo")

    assert list(row) == [
        "scope",
        "resource_id",
        "fence",
        "state",
        "owner",
        "session_id",
        "token_digest",
        "acquired_at",
        "heartbeat_at",
        "interval_ms",
        "beats",
        "stale_after_ms",
        "expires_at",
        "end_reason",
        "ended_at",
    ]
    assert row["token_digest"] == ALICE
    assert (row["stale_after_ms"], row["expires_at"]) == (90_000, NOW + 90_000)


def test_a_row_from_a_database_driver_is_accepted_as_any_mapping_and_buffer() -> None:
    record = granted()
    row = record.to_row("project", "a")

    for digest in (bytearray(ALICE), memoryview(ALICE)):
        driver_row = MappingProxyType({**row, "token_digest": digest})
        assert Record.from_row(driver_row) == record


def test_the_record_repr_shows_no_digest() -> None:
    shown = repr(granted())

    assert "alice" in shown
    assert ALICE.hex() not in shown


def test_log_events_writes_one_structured_record_per_event(
    caplog: pytest.LogCaptureFixture,
) -> None:
    held = granted()
    decision = rules.acquire(
        held,
        owner="bob",
        session_id="laptop",
        interval_ms=30_000,
        token_digest=BOB,
        now=NOW + 90_001,
    )

    with caplog.at_level(logging.DEBUG, logger="leasekit"):
        rules.log_events("project", "apollo", decision.events)

    fields = [
        (record.event, record.owner, record.fence, record.actor)  # type: ignore[attr-defined]
        for record in caplog.records
    ]
    assert fields == [("expired", "alice", 1, "bob"), ("acquired", "bob", 2, "bob")]
    assert all(record.name == "leasekit" for record in caplog.records)
