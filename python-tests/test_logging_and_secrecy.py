"""One log record per transition, with structured fields, and never a token anywhere.

A full scenario (grant, renewal, refusals, takeover, force, expiry, sweep, release, prune) runs
with every logger at DEBUG. Afterwards no log record (message or field), no repr or str of any
answer, and no exception message contains a token or a token's digest.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from leasekit import (
    LeaseError,
    LeaseHeld,
    LeaseLost,
    LeaseStore,
    ManualClock,
    rules,
)

TRANSITION_FIELDS = ("event", "scope", "resource_id", "owner", "session_id", "fence", "actor")


def run_scenario(store: LeaseStore, clock: ManualClock) -> tuple[list[str], list[object]]:
    """Drives every kind of transition and refusal; answers the tokens and everything shown."""
    tokens: list[str] = []
    shown: list[object] = []

    def keep(lease_token: str | None) -> str:
        assert lease_token is not None
        tokens.append(lease_token)
        return lease_token

    def attempt(call: object) -> None:
        try:
            shown.append(call())  # type: ignore[operator]
        except LeaseError as error:
            shown.extend([error, *vars(error).values()])

    first = store.acquire("project", "apollo", owner="alice", session_id="tab-1")
    shown.append(first)
    keep(first.token)
    renewed = store.acquire("project", "apollo", owner="alice", session_id="tab-1")
    shown.append(renewed)
    alice_tab1 = keep(renewed.token)
    attempt(lambda: store.acquire("project", "apollo", owner="bob", session_id="laptop"))
    attempt(lambda: store.acquire("project", "apollo", owner="alice", session_id="tab-2"))
    taken = store.acquire("project", "apollo", owner="alice", session_id="tab-2", takeover=True)
    shown.append(taken)
    alice_tab2 = keep(taken.token)
    attempt(lambda: store.heartbeat("project", "apollo", alice_tab1))
    forced = store.acquire("project", "apollo", owner="root", session_id="console", force=True)
    shown.append(forced)
    root = keep(forced.token)
    attempt(lambda: store.release("project", "apollo", alice_tab2))
    attempt(lambda: store.heartbeat("project", "apollo", root))
    clock.advance(200_000)
    attempt(lambda: store.heartbeat("project", "apollo", root))
    shown.append(store.sweep())
    attempt(lambda: store.heartbeat("project", "apollo", root))
    attempt(lambda: store.release("project", "apollo", root))
    bob = store.acquire("project", "apollo", owner="bob", session_id="laptop")
    shown.append(bob)
    attempt(lambda: store.release("project", "apollo", keep(bob.token)))
    attempt(lambda: store.release("project", "apollo", keep(bob.token)))
    attempt(lambda: store.heartbeat("project", "apollo", "has space"))
    shown.extend(
        [
            store.status("project", "apollo"),
            store.history("project", "apollo"),
            store.holders("project"),
            store,
            clock,
        ]
    )
    clock.advance(1)
    shown.append(store.prune_tombstones(clock.now))
    return tokens, shown


def test_every_transition_is_logged_once_with_structured_fields_and_no_secret(
    db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock(1_700_000_000_000)
    caplog.set_level(logging.DEBUG)
    with LeaseStore(db_path, clock=clock) as store:
        tokens, shown = run_scenario(store, clock)

    transitions = [record for record in caplog.records if "event" in record.__dict__]
    fields = [
        {name: record.__dict__.get(name) for name in TRANSITION_FIELDS} for record in transitions
    ]
    assert [(field["event"], field["fence"]) for field in fields] == [
        ("acquired", 1),
        ("renewed", 1),
        ("taken_over", 2),
        ("forced", 3),
        ("expired", 3),
        ("acquired", 4),
        ("released", 4),
    ]
    for record, field in zip(transitions, fields, strict=True):
        assert record.name == "leasekit.store"
        assert record.levelno == (logging.DEBUG if field["event"] == "renewed" else logging.INFO)
        assert set(TRANSITION_FIELDS) <= set(record.__dict__)
        assert (field["scope"], field["resource_id"]) == ("project", "apollo")
    expired = transitions[4]
    assert (fields[4]["owner"], fields[4]["actor"]) == ("root", None)
    assert (fields[3]["owner"], fields[3]["actor"]) == ("root", "root")
    assert "sweeper" in expired.getMessage()
    assert any("pruned" in record.getMessage() for record in caplog.records)

    secrets = [*tokens, *(rules.token_digest(token).hex() for token in tokens)]
    everything = [
        *(record.getMessage() for record in caplog.records),
        *(repr(value) for record in caplog.records for value in vars(record).values()),
        *(repr(value) for value in shown),
        *(str(value) for value in shown),
    ]
    assert len(tokens) == 6
    for secret in secrets:
        for text in everything:
            assert secret not in text


def test_a_grant_repr_hides_the_token_that_the_attribute_holds(db_path: Path) -> None:
    with LeaseStore(db_path) as store:
        lease = store.acquire("project", "apollo", owner="alice", session_id="tab-1")

    assert lease.token is not None
    assert lease.token not in repr(lease)
    assert lease.token not in str(lease)
    assert "token" not in repr(lease)


def test_refusals_carry_views_without_tokens(db_path: Path) -> None:
    with LeaseStore(db_path) as store:
        lease = store.acquire("project", "apollo", owner="alice", session_id="tab-1")
        with pytest.raises(LeaseHeld) as held:
            store.acquire("project", "apollo", owner="bob", session_id="laptop")
        store.release("project", "apollo", str(lease.token))
        with pytest.raises(LeaseLost) as lost:
            store.heartbeat("project", "apollo", "some-other-token")

    assert not hasattr(held.value.holder, "token")
    assert lost.value.current.held is False
    assert lost.value.current.last_ended is not None
    assert lost.value.current.last_ended.reason == "released"
    assert "nothing is held" in str(lost.value)
