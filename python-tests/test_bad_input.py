"""Bad input of every kind raises the documented InvalidInput subclass and changes nothing.

Each case opens the store on a file that already holds a lease, makes one bad call, closes the
store, and compares every row of the file with the rows before the call.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from conftest import snapshot
from leasekit import (
    InvalidBeats,
    InvalidDigest,
    InvalidDocument,
    InvalidInput,
    InvalidInterval,
    InvalidOwner,
    InvalidRecord,
    InvalidResourceId,
    InvalidScope,
    InvalidSessionId,
    InvalidToken,
    LeaseStore,
    ManualClock,
    TimeOutOfRange,
    rules,
)

HUGE = "x" * 10_000_000
LONE_SURROGATE = "tab-\ud800"
NAIVE = datetime(2024, 1, 1, 12, 0)  # noqa: DTZ001 - the naive datetime is the bad input
TOKEN = "tok-existing-secret-1"
MAX_MESSAGE = 400

ACQUIRE: dict[str, object] = {
    "owner": "alice",
    "session_id": "tab-1",
    "interval_ms": 30_000,
    "beats": 3,
    "takeover": False,
    "force": False,
}

KEY_CASES: list[tuple[str, object, type[InvalidInput]]] = [
    ("scope", None, InvalidScope),
    ("scope", "", InvalidScope),
    ("scope", "Project", InvalidScope),
    ("scope", 7, InvalidScope),
    ("scope", HUGE, InvalidScope),
    ("resource_id", None, InvalidResourceId),
    ("resource_id", "", InvalidResourceId),
    ("resource_id", "a/b", InvalidResourceId),
    ("resource_id", b"apollo", InvalidResourceId),
    ("resource_id", HUGE, InvalidResourceId),
]

ACQUIRE_CASES: list[tuple[str, object, type[InvalidInput]]] = [
    ("owner", None, InvalidOwner),
    ("owner", "", InvalidOwner),
    ("owner", "ali\nce", InvalidOwner),
    ("owner", 42, InvalidOwner),
    ("owner", HUGE, InvalidOwner),
    ("owner", "\ud800", InvalidOwner),
    ("session_id", None, InvalidSessionId),
    ("session_id", "", InvalidSessionId),
    ("session_id", "tab 1", InvalidSessionId),
    ("session_id", 1.5, InvalidSessionId),
    ("session_id", HUGE, InvalidSessionId),
    ("session_id", LONE_SURROGATE, InvalidSessionId),
    ("interval_ms", None, InvalidInterval),
    ("interval_ms", 0, InvalidInterval),
    ("interval_ms", -1, InvalidInterval),
    ("interval_ms", 999, InvalidInterval),
    ("interval_ms", 86_400_001, InvalidInterval),
    ("interval_ms", 30 * 86_400_000, InvalidInterval),
    ("interval_ms", 10**30, InvalidInterval),
    ("interval_ms", 30_000.0, InvalidInterval),
    ("interval_ms", True, InvalidInterval),
    ("interval_ms", "30000", InvalidInterval),
    ("beats", None, InvalidBeats),
    ("beats", 1, InvalidBeats),
    ("beats", 11, InvalidBeats),
    ("beats", True, InvalidBeats),
    ("beats", 3.0, InvalidBeats),
    ("beats", -(10**40), InvalidBeats),
    ("takeover", None, InvalidDocument),
    ("takeover", "false", InvalidDocument),
    ("takeover", 1, InvalidDocument),
    ("force", None, InvalidDocument),
    ("force", "yes", InvalidDocument),
]

TOKEN_CASES: list[tuple[object, type[InvalidInput]]] = [
    (None, InvalidToken),
    ("", InvalidToken),
    ("has space", InvalidToken),
    ("tök", InvalidToken),
    (5, InvalidToken),
    (b"tok", InvalidToken),
    (HUGE, InvalidToken),
]


@pytest.fixture
def seeded(db_path: Path, clock: ManualClock) -> Path:
    """A file holding one live lease; nothing of this process has it open afterwards."""
    with LeaseStore(db_path, clock=clock) as store:
        lease = store.acquire("project", "apollo", owner="alice", session_id="tab-1")
        store.release("project", "apollo", str(lease.token))
        store.acquire("project", "apollo", owner="bob", session_id="laptop")
    return db_path


def assert_refused_unchanged(
    path: Path,
    clock: ManualClock,
    call: Callable[[LeaseStore], object],
    error: type[InvalidInput],
    field: str,
) -> InvalidInput:
    """Runs ``call`` on the store at ``path``; it must raise ``error`` naming ``field``."""
    before = snapshot(path)
    with LeaseStore(path, clock=clock) as store, pytest.raises(error) as refused:
        call(store)
    assert snapshot(path) == before
    return check_error(refused.value, error, field)


def check_error(raised: InvalidInput, error: type[InvalidInput], field: str) -> InvalidInput:
    """The error is exactly documented: its class, a ValueError, its field, a short message."""
    assert type(raised) is error
    assert isinstance(raised, ValueError)
    assert raised.code == error.code
    assert raised.field == field
    message = str(raised)
    assert field in message
    assert len(message) < MAX_MESSAGE, message[:MAX_MESSAGE]
    return raised


@pytest.mark.parametrize(("field", "value", "error"), KEY_CASES)
def test_a_bad_resource_key_is_refused_by_every_operation(
    seeded: Path, clock: ManualClock, field: str, value: object, error: type[InvalidInput]
) -> None:
    def key(store: LeaseStore) -> tuple[Any, Any]:
        names = {"scope": "project", "resource_id": "apollo", field: value}
        return names["scope"], names["resource_id"]

    operations: list[Callable[[LeaseStore], object]] = [
        lambda store: store.acquire(*key(store), **ACQUIRE),  # type: ignore[arg-type]
        lambda store: store.heartbeat(*key(store), TOKEN),
        lambda store: store.release(*key(store), TOKEN),
        lambda store: store.status(*key(store)),
        lambda store: store.history(*key(store)),
    ]
    if field == "scope":
        operations.append(lambda store: store.holders(value))  # type: ignore[arg-type]
    for operation in operations:
        assert_refused_unchanged(seeded, clock, operation, error, field)


@pytest.mark.parametrize(("field", "value", "error"), ACQUIRE_CASES)
def test_a_bad_acquire_argument_is_refused_and_changes_nothing(
    seeded: Path, clock: ManualClock, field: str, value: object, error: type[InvalidInput]
) -> None:
    arguments = {**ACQUIRE, field: value}

    refused = assert_refused_unchanged(
        seeded,
        clock,
        lambda store: store.acquire("project", "apollo", **arguments),  # type: ignore[arg-type]
        error,
        field,
    )

    assert HUGE not in str(refused)


@pytest.mark.parametrize(("value", "error"), TOKEN_CASES)
@pytest.mark.parametrize("operation", ["heartbeat", "release"])
def test_a_bad_token_is_refused_without_quoting_it(
    seeded: Path, clock: ManualClock, operation: str, value: object, error: type[InvalidInput]
) -> None:
    refused = assert_refused_unchanged(
        seeded,
        clock,
        lambda store: getattr(store, operation)("project", "apollo", value),
        error,
        "token",
    )

    if isinstance(value, str) and value:
        assert value not in str(refused)


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": -1}, "limit"),
        ({"limit": 1_001}, "limit"),
        ({"limit": 10**20}, "limit"),
        ({"limit": None}, "limit"),
        ({"limit": "5"}, "limit"),
        ({"limit": 2.5}, "limit"),
        ({"before": "x"}, "before"),
        ({"before": 10**30}, "before"),
    ],
)
def test_a_bad_history_page_is_refused(
    seeded: Path, clock: ManualClock, arguments: dict[str, object], field: str
) -> None:
    assert_refused_unchanged(
        seeded,
        clock,
        lambda store: store.history("project", "apollo", **arguments),  # type: ignore[arg-type]
        InvalidDocument,
        field,
    )


@pytest.mark.parametrize("value", [NAIVE, None, 10**20, -(10**17), "2024-01-01", 1.0])
def test_a_bad_prune_instant_is_refused(seeded: Path, clock: ManualClock, value: object) -> None:
    assert_refused_unchanged(
        seeded,
        clock,
        lambda store: store.prune_tombstones(value),  # type: ignore[arg-type]
        TimeOutOfRange,
        "ended_before",
    )


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"synchronous": "NORMAL"}, "synchronous"),
        ({"synchronous": "off"}, "synchronous"),
        ({"synchronous": None}, "synchronous"),
        ({"busy_timeout_ms": -1}, "busy_timeout_ms"),
        ({"busy_timeout_ms": 2**31}, "busy_timeout_ms"),
        ({"busy_timeout_ms": None}, "busy_timeout_ms"),
        ({"busy_timeout_ms": 1.5}, "busy_timeout_ms"),
        ({"clock": "12:00"}, "clock"),
        ({"clock": 0}, "clock"),
    ],
)
def test_bad_store_options_are_refused_before_the_file_is_touched(
    seeded: Path, arguments: dict[str, object], field: str
) -> None:
    before = snapshot(seeded)

    with pytest.raises(InvalidDocument) as refused:
        LeaseStore(seeded, **arguments)  # type: ignore[arg-type]

    check_error(refused.value, InvalidDocument, field)
    assert snapshot(seeded) == before


@pytest.mark.parametrize("path", [None, "", 42, "nul\0byte"])
def test_a_bad_path_is_refused(tmp_path: Path, path: object) -> None:
    with pytest.raises(InvalidDocument) as refused:
        LeaseStore(path)  # type: ignore[arg-type]

    check_error(refused.value, InvalidDocument, "path")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("value", [NAIVE, None, 10**20, 9_007_199_254_740_991, "now", 1.5])
def test_a_manual_clock_refuses_bad_instants_and_stays_put(value: object) -> None:
    with pytest.raises(TimeOutOfRange) as refused:
        ManualClock(value)  # type: ignore[arg-type]
    check_error(refused.value, TimeOutOfRange, "now")

    clock = ManualClock(1_000)
    with pytest.raises(TimeOutOfRange):
        clock.set(value)  # type: ignore[arg-type]
    assert clock.now_ms == 1_000


def test_a_manual_clock_refuses_to_leave_the_safe_range_and_stays_put() -> None:
    clock = ManualClock(1_000)

    for delta in (10**30, 9_007_199_254_740_991, None):
        with pytest.raises(TimeOutOfRange):
            clock.advance(delta)  # type: ignore[arg-type]

    assert clock.now_ms == 1_000


def test_a_naive_datetime_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="naive datetime") as refused:
        rules.sweep(rules.Record.vacant(), NAIVE)

    check_error(refused.value, TimeOutOfRange, "now")  # type: ignore[arg-type]


DIGEST = rules.token_digest(TOKEN)
RULE_CASES: list[tuple[str, object, type[InvalidInput]]] = [
    ("now", NAIVE, TimeOutOfRange),
    ("now", None, TimeOutOfRange),
    ("now", 10**20, TimeOutOfRange),
    ("now", 1.5, TimeOutOfRange),
    ("now", "2024-01-01T00:00:00Z", TimeOutOfRange),
    ("token_digest", None, InvalidDigest),
    ("token_digest", DIGEST[:31], InvalidDigest),
    ("token_digest", DIGEST + b"\0", InvalidDigest),
    ("token_digest", DIGEST.hex(), InvalidDigest),
    ("token_digest", bytearray(DIGEST), InvalidDigest),
    ("record", None, InvalidRecord),
    ("record", {"fence": 0, "state": "vacant"}, InvalidRecord),
    *ACQUIRE_CASES,
]


@pytest.mark.parametrize(("field", "value", "error"), RULE_CASES)
def test_a_bad_argument_to_the_pure_rules_is_refused(
    field: str, value: object, error: type[InvalidInput]
) -> None:
    arguments: dict[str, Any] = {
        "record": rules.Record.vacant(),
        **ACQUIRE,
        "token_digest": DIGEST,
        "now": 1_700_000_000_000,
        field: value,
    }
    record = arguments.pop("record")

    with pytest.raises(error) as refused:
        rules.acquire(record, **arguments)

    check_error(refused.value, error, field)
    if field in {"now", "token_digest", "record"}:
        for operation in (rules.heartbeat, rules.release):
            with pytest.raises(error):
                operation(record, arguments["token_digest"], arguments["now"])


BAD_DOCUMENTS: list[object] = [
    None,
    "",
    "not json",
    "[]",
    {},
    {"fence": 0, "state": "held"},
    {"fence": -1, "state": "vacant"},
    {"fence": 2**53, "state": "vacant"},
    {"fence": 1, "state": "held", "owner": "a", "session_id": "s"},
    {"fence": 1, "state": "vacant", "colour": "red"},
    {"fence": 1, "state": "sideways"},
    {"fence": "1", "state": "vacant"},
    {"fence": 1, "state": "vacant", "owner": {"nested": True}},
    {"fence": 1, "state": "vacant", "owner": object()},
]


@pytest.mark.parametrize("document", BAD_DOCUMENTS)
def test_a_bad_record_document_is_refused(document: object) -> None:
    with pytest.raises(InvalidRecord) as refused:
        rules.Record.from_json(document)

    check_error(refused.value, InvalidRecord, "record")


def good_row() -> dict[str, object]:
    decision = rules.acquire(
        rules.Record.vacant(),
        owner="alice",
        session_id="tab-1",
        interval_ms=30_000,
        token_digest=DIGEST,
        now=1_700_000_000_000,
    )
    assert decision.next is not None
    return decision.next.to_row("project", "apollo")


@pytest.mark.parametrize(
    ("change", "error", "field"),
    [
        ({"expires_at": 1}, InvalidRecord, "row"),
        ({"stale_after_ms": 1}, InvalidRecord, "row"),
        ({"token_digest": DIGEST[:31]}, InvalidRecord, "row"),
        ({"fence": True}, InvalidRecord, "row"),
        ({"fence": 1.0}, InvalidRecord, "row"),
        ({"fence": 10**30}, InvalidRecord, "row"),
        ({"fence": 0}, InvalidRecord, "row"),
        ({"state": "gone"}, InvalidRecord, "row"),
        ({"owner": None}, InvalidRecord, "row"),
        ({"colour": "red"}, InvalidRecord, "row"),
        ({"scope": "Project"}, InvalidScope, "scope"),
        ({"resource_id": "a b"}, InvalidResourceId, "resource_id"),
        ({"scope": None}, InvalidRecord, "row"),
    ],
)
def test_a_bad_row_is_refused(
    change: dict[str, object], error: type[InvalidInput], field: str
) -> None:
    row = {**good_row(), **change}

    with pytest.raises(error) as refused:
        rules.Record.from_row(row)

    check_error(refused.value, error, field)


def test_a_row_missing_a_column_is_refused_naming_it() -> None:
    row = good_row()
    del row["beats"]

    with pytest.raises(InvalidRecord, match="beats"):
        rules.Record.from_row(row)


@pytest.mark.parametrize("token", [None, "", "tab\tseparated", HUGE, 12])
def test_a_bad_token_cannot_be_digested(token: object) -> None:
    with pytest.raises(InvalidToken) as refused:
        rules.token_digest(token)  # type: ignore[arg-type]

    check_error(refused.value, InvalidToken, "token")
