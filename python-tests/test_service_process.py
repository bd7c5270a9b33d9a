"""The real service: ``leasekit serve`` over HTTP, stopped with SIGTERM, database intact."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from service_process import running_service


def post(base: str, path: str, user: str, body: dict[str, object]) -> httpx.Response:
    return httpx.post(f"{base}{path}", json=body, headers={"X-Leasekit-User": user}, timeout=10)


def test_serve_drives_a_full_session_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    with running_service(tmp_path, "--auth", "dev") as service:
        base = service.base_url
        grant = post(base, "/v1/projects/apollo/lock", "alice", {"session_id": "tab-1"})
        assert grant.status_code == 200, grant.text
        token = grant.json()["lease_id"]

        beat = post(base, "/v1/projects/apollo/heartbeat", "alice", {"lease_id": token})
        refused = post(base, "/v1/projects/apollo/lock", "bob", {"session_id": "laptop"})
        taken = post(
            base, "/v1/projects/apollo/lock", "alice", {"session_id": "tab-2", "takeover": True}
        )
        unlocked = post(
            base, "/v1/projects/apollo/unlock", "alice", {"lease_id": taken.json()["lease_id"]}
        )
        history = httpx.get(f"{base}/v1/projects/apollo/lock/history", timeout=10)

        assert beat.status_code == 200
        assert refused.status_code == 409
        assert refused.json()["code"] == "PROJECT_LOCKED"
        assert taken.json()["previous"]["ended"] == "taken_over"
        assert unlocked.json() == {"project_id": "apollo", "released": True, "fence": 2}
        kinds = [event["kind"] for event in history.json()["events"]]
        assert kinds == ["released", "taken_over", "acquired"]

        # uvicorn shuts down gracefully, then re-raises the signal it caught, as Unix expects.
        assert service.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
        log = service.log()

    assert "lease store closed" in log
    assert "development auth" in log
    assert token not in log
    assert "lease acquired" in log
    with sqlite3.connect(tmp_path / "leasekit.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        row = db.execute(
            "SELECT fence, state, end_reason FROM leases WHERE resource_id = 'apollo'"
        ).fetchone()
        assert row == (2, "released", "released")
        assert db.execute("SELECT count(*) FROM lease_events").fetchone() == (3,)


EVERY_ADDRESS = "0.0.0.0"  # noqa: S104 - the address dev auth must refuse


def test_dev_auth_refuses_to_listen_beyond_loopback(tmp_path: Path) -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "leasekit", "serve", "--host", EVERY_ADDRESS, "--auth", "dev"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert finished.returncode == 2
    assert "refusing to bind 0.0.0.0" in finished.stderr
    assert not (tmp_path / "leasekit.db").exists()


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        (["--sweep-interval", "0"], "--sweep-interval: 0 must be from 0.1 to 3600 seconds"),
        (["--sweep-interval", "-1"], "--sweep-interval: -1 must be from 0.1 to 3600 seconds"),
        (["--sweep-interval", "soon"], "--sweep-interval: 'soon' is not a number of seconds"),
        (["--db", "missing/leases.db"], "--db missing/leases.db: "),
    ],
)
def test_serve_refuses_bad_options_in_one_line(
    tmp_path: Path, arguments: list[str], complaint: str
) -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "leasekit", "serve", "--port", "1", *arguments],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert finished.returncode == 2
    assert complaint in finished.stderr
    assert "Traceback" not in finished.stderr
