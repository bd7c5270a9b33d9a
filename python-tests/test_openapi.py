"""The checked-in ``openapi.json`` is the service's document: regenerate it when routes change."""

from __future__ import annotations

import re
from pathlib import Path

from leasekit import InvalidResourceId, LeaseStore
from leasekit.cli import openapi_document
from leasekit.rules import RESOURCE_ID_PATTERN

CHECKED_IN = Path(__file__).resolve().parent.parent / "openapi.json"


def test_checked_in_openapi_matches_the_service() -> None:
    assert CHECKED_IN.read_text(encoding="utf-8") == openapi_document(), (
        "openapi.json drifted from the service; run: leasekit openapi > openapi.json"
    )


def test_openapi_documents_every_route_and_the_project_id_rule() -> None:
    document = openapi_document()

    for path in ("/lock", "/heartbeat", "/unlock", "/lock/history"):
        assert f'"/v1/projects/{{project_id}}{path}"' in document
    assert '"pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"' in document


def test_the_documented_id_pattern_agrees_with_the_core(tmp_path: Path) -> None:
    samples = ["a", "A9", "p_1.x-y", "a" * 64, "a" * 65, "", "-a", ".a", "a b", "a/b", "é", "a\n"]

    with LeaseStore(tmp_path / "ids.db") as store:
        for sample in samples:
            documented = re.fullmatch(RESOURCE_ID_PATTERN, sample) is not None
            try:
                store.status("project", sample)
                accepted = True
            except InvalidResourceId:
                accepted = False
            assert documented == accepted, sample
