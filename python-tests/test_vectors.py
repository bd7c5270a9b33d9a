"""Every conformance vector, replayed through ``leasekit.rules``, gives the core's answers."""

from __future__ import annotations

import pytest

from vector_replay import Mismatch, Replayer, Scenario, load_scenarios

SCENARIOS = load_scenarios()


def test_the_vectors_hold_at_least_forty_scenarios_with_unique_names() -> None:
    names = [scenario.name for scenario in SCENARIOS]
    assert len(names) >= 40
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda scenario: scenario.name)
def test_scenario_replays_with_integer_milliseconds(scenario: Scenario) -> None:
    Replayer(datetimes=False).replay(scenario)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda scenario: scenario.name)
def test_scenario_replays_with_aware_datetimes_in_another_zone(scenario: Scenario) -> None:
    Replayer(datetimes=True).replay(scenario)


def test_the_replayer_catches_a_wrong_expectation() -> None:
    step = {
        "at": 1_000,
        "op": "acquire",
        "owner": "alice",
        "session_id": "tab-1",
        "interval_ms": 30_000,
        "token": "tok-alice-1",
        "expect": {"kind": "granted", "lease": {"fence": 2}},
    }
    wrong = Scenario("inline", "wrong_fence", {"name": "wrong_fence", "steps": [step]})
    with pytest.raises(Mismatch, match=r"expect\.lease\.fence: expected 2, got 1"):
        Replayer(datetimes=False).replay(wrong)


def test_the_replayer_catches_a_wrong_final_record() -> None:
    step = {"at": 1_000, "op": "sweep", "expect": {"kind": "untouched"}}
    body = {"name": "wrong_final", "steps": [step], "final": {"fence": 1, "state": "vacant"}}
    with pytest.raises(Mismatch, match="final"):
        Replayer(datetimes=False).replay(Scenario("inline", "wrong_final", body))
