"""The README's curl session runs as written against a real ``leasekit serve``."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from service_process import running_service

README = Path(__file__).resolve().parent.parent / "README.md"
SESSION = re.compile(r"<!-- curl-session -->\s*```sh\n(?P<script>.*?)```", re.DOTALL)


def test_the_readme_curl_session_locks_heartbeats_refuses_bob_and_unlocks(tmp_path: Path) -> None:
    match = SESSION.search(README.read_text(encoding="utf-8"))
    assert match, "README.md has no ```sh block after the curl-session marker"

    with running_service(tmp_path, "--auth", "dev") as service:
        finished = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", match["script"]],  # noqa: S607 - bash from PATH
            cwd=tmp_path,
            env=os.environ | {"BASE": service.base_url},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert finished.returncode == 0, finished.stderr
    lines = [line for line in finished.stdout.splitlines() if line.strip()]
    grant, beat, refusal, unlock = (lines[0], lines[1], lines[2], lines[3])
    assert json.loads(grant)["fence"] == 1
    assert json.loads(beat)["lease_id"] == json.loads(grant)["lease_id"]
    body, status = refusal.rsplit(" HTTP ", 1)
    assert status == "409"
    assert json.loads(body)["code"] == "PROJECT_LOCKED"
    assert json.loads(body)["lock"]["owner"] == "alice"
    assert json.loads(unlock) == {"project_id": "apollo", "released": True, "fence": 1}
