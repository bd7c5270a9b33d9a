"""Every conformance vector, replayed through the SQLAlchemy adapter on SQLite and PostgreSQL.

Each scenario gets fresh tables. Its initial record is written as a row; every step runs
through the adapter (:func:`leasekit.sqla.decide`, the write path of acquire, heartbeat and
release, with the step's own token; :func:`leasekit.sqla.sweep` and :func:`leasekit.sqla.status`
as they are), with a clock that reads the step's ``at`` unchanged, out-of-range values included.
What is checked comes from the database, not from the decision: the record read back after each
step, the events appended to ``lease_events``, and the final row. A refusal or an error must
leave both tables exactly as they were.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from leasekit import rules
from leasekit.errors import LeaseError
from leasekit.results import LeaseStatus, SweepReport
from leasekit.rules import Decision, Record
from leasekit.sqla import decide, read_record, status, sweep
from sqla_support import LeaseDatabase
from vector_replay import (
    DEFAULT_BEATS,
    Applied,
    Mismatch,
    Scenario,
    check_arguments,
    check_events,
    check_invariants,
    load_scenarios,
    subset_difference,
    with_token_digest,
)

pytest_plugins = ["sqla_support"]

SCENARIOS = load_scenarios()
SCOPE = "vector"
RESOURCE = "resource-1"


class StepClock:
    """Reads the step's ``at`` unchanged, so the core sees (and refuses) what the vector says."""

    def __init__(self, at: int) -> None:
        self.at = at

    async def now_ms(self, session: AsyncSession) -> int:
        return self.at


def core_rule(step: dict[str, Any]) -> Callable[[Record, int], Decision]:
    """The rule a step asks the core for, with the step's own token."""
    token_digest = rules.token_digest(step["token"])
    if step["op"] == "acquire":

        def acquire(record: Record, at_ms: int) -> Decision:
            return rules.acquire(
                record,
                owner=step["owner"],
                session_id=step["session_id"],
                interval_ms=step["interval_ms"],
                beats=step.get("beats", DEFAULT_BEATS),
                takeover=step.get("takeover", False),
                force=step.get("force", False),
                token_digest=token_digest,
                now=at_ms,
            )

        return acquire
    if step["op"] == "heartbeat":
        return lambda record, at_ms: rules.heartbeat(record, token_digest, at_ms)
    return lambda record, at_ms: rules.release(record, token_digest, at_ms)


def sweep_answer(report: SweepReport) -> dict[str, Any]:
    """The core's sweep outcome of the one resource, rebuilt from the adapter's report."""
    if not report.expired:
        return {"kind": "untouched"}
    (ended,) = report.expired
    lease = {
        "owner": ended.owner,
        "session_id": ended.session_id,
        "fence": ended.fence,
        "acquired_at": ended.acquired_at_ms,
        "heartbeat_at": ended.heartbeat_at_ms,
        "expires_at": ended.expires_at_ms,
        "interval_ms": ended.interval_ms,
        "stale_after_ms": ended.stale_after_ms,
        "stale": True,
    }
    return {"kind": "expired", "lease": lease}


class AdapterReplay:
    """Replays one scenario against one database."""

    def __init__(self, database: LeaseDatabase) -> None:
        self.database = database

    async def record(self) -> Record:
        async with self.database.transaction() as session:
            return await read_record(session, self.database.tables, SCOPE, RESOURCE)

    async def last_event_id(self) -> int:
        events = self.database.tables.events
        async with self.database.transaction() as session:
            found = (await session.execute(select(func.max(events.c.id)))).scalar_one()
        return int(found or 0)

    async def events_after(self, last_id: int) -> list[dict[str, Any]]:
        events = self.database.tables.events
        columns = ("kind", "at", "owner", "session_id", "fence", "actor")
        statement = (
            select(*(events.c[name] for name in columns))
            .where(events.c.id > last_id)
            .order_by(events.c.id)
        )
        async with self.database.transaction() as session:
            rows = (await session.execute(statement)).mappings().all()
        return [dict(row) for row in rows]

    async def write_initial(self, flat: dict[str, Any]) -> None:
        row = Record.from_json(with_token_digest(flat)).to_row(SCOPE, RESOURCE)
        async with self.database.transaction() as session:
            await session.execute(insert(self.database.tables.leases).values(row))

    async def replay(self, scenario: Scenario) -> None:
        body = scenario.body
        if body.get("initial") is not None:
            await self.write_initial(body["initial"])
        for index, step in enumerate(body["steps"]):
            try:
                await self.run_step(step)
            except Mismatch as mismatch:
                raise Mismatch(
                    f"{scenario.file}: {scenario.name}, steps[{index}]: {mismatch}"
                ) from None

        want = with_token_digest(body["final"])
        got = (await self.record()).to_json()
        if want != got:
            raise Mismatch(f"{scenario.file}: {scenario.name}: final: expected {want}, got {got}")

    async def run_step(self, step: dict[str, Any]) -> None:
        check_arguments(step)
        expect = step["expect"]
        expected_code = expect["error"] if set(expect) == {"error"} else None
        before = await self.record()
        stored_before = await self.database.snapshot()

        try:
            applied = await self.apply(step, before)
        except LeaseError as error:
            if expected_code != error.code:
                raise Mismatch(f"expected {expect}, got error {error.code} ({error})") from None
            if step.get("events"):
                raise Mismatch(
                    f"expected events {step['events']}, got error {error.code}"
                ) from None
            if await self.database.snapshot() != stored_before:
                raise Mismatch(f"error {error.code} changed the stored rows") from None
            return

        if expected_code is not None:
            raise Mismatch(f"expected error {expected_code}, got {applied.answer}")
        check_invariants(before, applied, step)
        if applied.refused and await self.database.snapshot() != stored_before:
            raise Mismatch(f"the refusal {applied.answer['kind']} changed the stored rows")
        pattern = with_token_digest(expect) if step["op"] == "reload" else expect
        difference = subset_difference(pattern, applied.answer, "expect")
        if difference:
            raise Mismatch(difference)
        check_events(step.get("events"), applied.events)

    async def apply(self, step: dict[str, Any], before: Record) -> Applied:
        op, clock = step["op"], StepClock(step["at"])
        tables = self.database.tables
        if op == "reload":
            return Applied(before.to_json(), await self.record(), [], refused=False)

        last_id = await self.last_event_id()
        if op == "status":
            async with self.database.transaction() as session:
                seen = await status(session, tables, SCOPE, RESOURCE, clock=clock)
            view = rules.view(before, step["at"])
            if seen != LeaseStatus.from_view(SCOPE, RESOURCE, view, step["at"]):
                raise Mismatch(f"status answered {seen}, the core's view is {view}")
            return Applied(view, None, [], refused=False)

        if op == "sweep":
            async with self.database.transaction() as session:
                report = await sweep(session, tables, scope=SCOPE, clock=clock)
            answer, refused = sweep_answer(report), False
        else:
            async with self.database.transaction() as session:
                done = await decide(session, tables, SCOPE, RESOURCE, core_rule(step), clock=clock)
            answer, refused = done.decision.outcome, done.decision.refusal is not None

        after = await self.record()
        changed = after != before
        return Applied(
            answer, after if changed else None, await self.events_after(last_id), refused
        )


def test_every_vector_file_has_scenarios_to_replay() -> None:
    assert len(SCENARIOS) >= 40
    assert {scenario.file for scenario in SCENARIOS} >= {"acquire.json", "sweep.json"}


@pytest.mark.asyncio
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda scenario: scenario.name)
async def test_scenario_replays_through_the_adapter(
    lease_db: LeaseDatabase, scenario: Scenario
) -> None:
    await AdapterReplay(lease_db).replay(scenario)


@pytest.mark.asyncio
async def test_the_adapter_replay_catches_a_wrong_expectation(lease_db: LeaseDatabase) -> None:
    step = {
        "at": 1_000,
        "op": "acquire",
        "owner": "alice",
        "session_id": "tab-1",
        "interval_ms": 30_000,
        "token": "tok-alice-1",
        "expect": {"kind": "granted", "lease": {"fence": 2}},
    }
    body = {"name": "wrong_fence", "steps": [step], "final": {"fence": 1, "state": "vacant"}}
    with pytest.raises(Mismatch, match=r"expect\.lease\.fence: expected 2, got 1"):
        await AdapterReplay(lease_db).replay(Scenario("inline", "wrong_fence", body))
