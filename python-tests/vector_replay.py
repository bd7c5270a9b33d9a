"""Replays the core's conformance vectors (``core/vectors/*.json``) through ``leasekit.rules``.

The format is the core's (``core/vectors/README.md``): each scenario starts from a record in
flat form, runs steps at given instants, and states the expected answer or error code of each
step, its events, and the exact final record. ``token`` in a record stands for the
``token_digest`` of that test token. Besides what a scenario states, every step must keep the
invariants every runtime keeps: a refusal or an error changes nothing and emits nothing, and the
fence moves up by at most one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from leasekit import rules
from leasekit.errors import LeaseError
from leasekit.rules import Record

VECTORS = Path(__file__).resolve().parent.parent / "core" / "vectors"
FORMAT = 1
DEFAULT_BEATS = 3

ARGUMENTS = {
    "acquire": ({"owner", "session_id", "interval_ms", "token"}, {"beats", "takeover", "force"}),
    "heartbeat": ({"token"}, set()),
    "release": ({"token"}, set()),
    "sweep": (set(), set()),
    "status": (set(), set()),
    "reload": (set(), set()),
}
STEP_KEYS = {"at", "op", "expect", "events"}
FILE_KEYS = {"format", "scenarios"}
SCENARIO_KEYS = {"name", "rules", "description", "initial", "steps", "final"}
REQUIRED_SCENARIO_KEYS = SCENARIO_KEYS - {"initial"}
# A zone far from UTC, so a wrong conversion of an aware datetime cannot go unnoticed.
FAR_ZONE = timezone(timedelta(hours=5, minutes=45))


class Mismatch(AssertionError):
    """Where a replay differed from a vector."""


@dataclass(frozen=True)
class Scenario:
    """One scenario of one vector file."""

    file: str
    name: str
    body: dict[str, Any]


def load_scenarios() -> list[Scenario]:
    """Every scenario of every vector file, in file order."""
    scenarios: list[Scenario] = []
    for path in sorted(VECTORS.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        if document.get("format") != FORMAT:
            raise Mismatch(f"{path.name}: format {document.get('format')!r}, expected {FORMAT}")
        if unknown := set(document) - FILE_KEYS:
            raise Mismatch(f"{path.name}: unknown fields {sorted(unknown)}")
        for body in document["scenarios"]:
            check_scenario_shape(path.name, body)
        scenarios.extend(Scenario(path.name, body["name"], body) for body in document["scenarios"])
    return scenarios


def check_scenario_shape(file: str, body: dict[str, Any]) -> None:
    """A checked-in scenario has exactly the known fields, a final record and every expect."""
    name = body.get("name")
    if unknown := set(body) - SCENARIO_KEYS:
        raise Mismatch(f"{file}: {name}: unknown fields {sorted(unknown)}")
    if missing := REQUIRED_SCENARIO_KEYS - set(body):
        raise Mismatch(f"{file}: {name}: missing {sorted(missing)}")
    for index, step in enumerate(body["steps"]):
        if "expect" not in step:
            raise Mismatch(f"{file}: {name}, steps[{index}]: no expect")


def with_token_digest(flat: dict[str, Any]) -> dict[str, Any]:
    """Replaces the ``token`` shorthand of a flat record by the digest it stands for."""
    if "token" not in flat:
        return dict(flat)
    if "token_digest" in flat:
        raise Mismatch("a record gives token and token_digest")
    converted = {key: value for key, value in flat.items() if key != "token"}
    converted["token_digest"] = rules.token_digest(flat["token"]).hex()
    return converted


def subset_difference(expected: object, actual: object, path: str) -> str | None:
    """The first place where ``actual`` does not contain ``expected``, or ``None``."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key, value in expected.items():
            if key not in actual:
                return f"{path}.{key}: expected {value!r}, absent"
            difference = subset_difference(value, actual[key], f"{path}.{key}")
            if difference:
                return difference
        return None
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
            difference = subset_difference(want, got, f"{path}[{index}]")
            if difference:
                return difference
        return None
    if type(expected) is type(actual) and expected == actual:
        return None
    return f"{path}: expected {expected!r}, got {actual!r}"


@dataclass(frozen=True)
class Applied:
    """What one step answered."""

    answer: Any
    next: Record | None
    events: list[dict[str, Any]]
    refused: bool


class Replayer:
    """Replays scenarios, passing ``now`` as ints or as aware datetimes in a far zone."""

    def __init__(self, *, datetimes: bool) -> None:
        self.datetimes = datetimes

    def now(self, at: int) -> datetime | int:
        """``at`` as the replay passes it: an aware datetime where one can hold it."""
        if not self.datetimes:
            return at
        try:
            return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=at)).astimezone(
                FAR_ZONE
            )
        except OverflowError:
            return at

    def replay(self, scenario: Scenario) -> None:
        """Replays one scenario; the first difference raises :class:`Mismatch`."""
        body = scenario.body
        initial = body.get("initial")
        record = (
            Record.vacant() if initial is None else Record.from_json(with_token_digest(initial))
        )
        for index, step in enumerate(body["steps"]):
            try:
                record = self.run_step(record, step)
            except Mismatch as mismatch:
                raise Mismatch(
                    f"{scenario.file}: {scenario.name}, steps[{index}]: {mismatch}"
                ) from None
        expected_final = body.get("final")
        if expected_final is not None:
            want = with_token_digest(expected_final)
            got = record.to_json()
            if want != got:
                raise Mismatch(
                    f"{scenario.file}: {scenario.name}: final: expected {want}, got {got}"
                )

    def run_step(self, record: Record, step: dict[str, Any]) -> Record:
        """Applies one step and checks it; answers the record after it."""
        check_arguments(step)
        expect = step.get("expect")
        expected_code = (
            expect["error"] if isinstance(expect, dict) and set(expect) == {"error"} else None
        )
        try:
            applied = self.apply(record, step)
        except LeaseError as error:
            if expected_code is not None:
                if expected_code != error.code:
                    raise Mismatch(
                        f"expected error {expected_code}, got {error.code} ({error})"
                    ) from None
            elif expect is not None:
                raise Mismatch(f"expected {expect}, got error {error.code} ({error})") from None
            if step.get("events"):
                raise Mismatch(
                    f"expected events {step['events']}, got error {error.code}"
                ) from None
            return record

        check_invariants(record, applied, step)
        if expect is not None:
            if expected_code is not None:
                raise Mismatch(f"expected error {expected_code}, got {applied.answer}")
            pattern = with_token_digest(expect) if step["op"] == "reload" else expect
            difference = subset_difference(pattern, applied.answer, "expect")
            if difference:
                raise Mismatch(difference)
        check_events(step.get("events"), applied.events)
        return applied.next if applied.next is not None else record

    def apply(self, record: Record, step: dict[str, Any]) -> Applied:
        """Runs the step's operation through ``leasekit.rules``."""
        op, now = step["op"], self.now(step["at"])
        if op == "acquire":
            # The core checks the time first; so must the replay, before digesting the token.
            rules.view(record, now)
            decision = rules.acquire(
                record,
                owner=step["owner"],
                session_id=step["session_id"],
                interval_ms=step["interval_ms"],
                beats=step.get("beats", DEFAULT_BEATS),
                takeover=step.get("takeover", False),
                force=step.get("force", False),
                token_digest=rules.token_digest(step["token"]),
                now=now,
            )
        elif op in {"heartbeat", "release"}:
            rules.view(record, now)
            operation = rules.heartbeat if op == "heartbeat" else rules.release
            decision = operation(record, rules.token_digest(step["token"]), now)
        elif op == "sweep":
            decision = rules.sweep(record, now)
        elif op == "status":
            return Applied(rules.view(record, now), None, [], refused=False)
        elif op == "reload":
            return reload(record)
        else:
            raise Mismatch(f"unknown op {op!r}")
        return Applied(
            decision.outcome, decision.next, decision.events, decision.refusal is not None
        )


def reload(record: Record) -> Applied:
    """Writes the record as JSON and as a ``leases`` row and reads both back."""
    stored = record.to_json()
    from_json = Record.from_json(json.dumps(stored))
    from_row = Record.from_row(record.to_row("vector", "resource-1"))
    if from_row != from_json:
        raise Mismatch(f"reload: the row form gave {from_row!r}, the JSON form {from_json!r}")
    return Applied(stored, from_json, [], refused=False)


def check_arguments(step: dict[str, Any]) -> None:
    """A step names exactly the arguments its operation takes."""
    op = step.get("op")
    if op not in ARGUMENTS:
        raise Mismatch(f"unknown op {op!r}")
    required, optional = ARGUMENTS[op]
    given = set(step) - STEP_KEYS
    if missing := required - given:
        raise Mismatch(f"{op} lacks {sorted(missing)}")
    if extra := given - required - optional:
        raise Mismatch(f"{op} takes no {sorted(extra)}")


def check_invariants(before: Record, applied: Applied, step: dict[str, Any]) -> None:
    """A refusal changes nothing; the fence moves up by at most one; a reload keeps the record."""
    if applied.refused and (applied.next is not None or applied.events):
        raise Mismatch(f"a refusal changed the record: {applied.next!r}, {applied.events}")
    if applied.next is None:
        return
    if not before.fence <= applied.next.fence <= before.fence + 1:
        raise Mismatch(f"fence moved from {before.fence} to {applied.next.fence}")
    if step["op"] == "reload" and applied.next != before:
        raise Mismatch(f"reload changed {before!r} into {applied.next!r}")


def check_events(expected: list[Any] | None, actual: list[dict[str, Any]]) -> None:
    """Events match in number and order; each by kind alone or by a subset of fields."""
    if expected is None:
        return
    if len(expected) != len(actual):
        kinds = [event["kind"] for event in actual]
        raise Mismatch(f"expected {len(expected)} events, got {len(actual)} {kinds}")
    for position, (want, got) in enumerate(zip(expected, actual, strict=True)):
        pattern = {"kind": want} if isinstance(want, str) else want
        difference = subset_difference(pattern, got, f"events[{position}]")
        if difference:
            raise Mismatch(difference)
