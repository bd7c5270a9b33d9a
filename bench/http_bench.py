"""HTTP heartbeats under load: ``leasekit serve`` against the baseline FastAPI app (item 5).

Each service runs as its own process with one uvicorn worker on a fresh SQLite file. The
harness locks one project per simulated editor through the API (so every editor holds a real
lease), writes the editors' leases to a file, and lets ``wrk`` post heartbeats that cycle
through all of them over a fixed number of keep-alive connections. wrk is closed-loop: each
connection waits for its answer before the next request, so the latency it reports is the
service's answer time at that concurrency, and throughput is what one worker sustains.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

BENCH_DIR = Path(__file__).resolve().parent
LUA_SCRIPT = BENCH_DIR / "heartbeat.lua"
READY_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class HttpResult:
    """What wrk measured against one service."""

    requests_per_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    requests: int
    status_errors: int
    socket_errors: int


def wrk_path() -> str:
    """The wrk executable; `make bootstrap` installs Debian's package."""
    found = shutil.which("wrk")
    if found is None:
        raise RuntimeError("wrk is not installed: run `make bootstrap` (apt-get install wrk)")
    return found


def wrk_version() -> str:
    """wrk's version line (it prints it for -v, and exits 1)."""
    shown = subprocess.run([wrk_path(), "-v"], capture_output=True, text=True, check=False)
    return (shown.stdout or shown.stderr).splitlines()[0].strip()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def leasekit_command(db_path: Path, port: int) -> list[str]:
    """`leasekit serve` on ``db_path``: one worker, development identity, no demo page."""
    leasekit = str(Path(sys.executable).with_name("leasekit"))
    return [
        leasekit, "serve", "--db", str(db_path), "--port", str(port), "--auth", "dev",
        "--no-ui", "--log-level", "warning",
    ]  # fmt: skip


def baseline_command(db_path: Path, port: int) -> list[str]:
    """The baseline app under uvicorn: one worker, no access log."""
    del db_path  # passed through the environment, see start()
    return [
        sys.executable, "-m", "uvicorn", "--app-dir", str(BENCH_DIR), "--factory",
        "baseline_app:create_app", "--port", str(port), "--log-level", "warning",
        "--no-access-log",
    ]  # fmt: skip


def _wait_ready(base_url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the service exited with {server.returncode} before answering")
        try:
            httpx.get(f"{base_url}/v1/projects/ready/lock", timeout=1.0)
        except httpx.TransportError:
            time.sleep(0.1)
        else:
            return
    raise RuntimeError(f"the service at {base_url} did not answer in {READY_TIMEOUT_S} s")


def _lock_editors(base_url: str, editors: int, leases_file: Path) -> None:
    """Locks project ``p<i>`` for user ``u<i>`` and writes "project user lease_id" lines."""
    lines = []
    with httpx.Client(base_url=base_url, timeout=10.0) as client:
        for index in range(editors):
            project, user = f"p{index}", f"u{index}"
            answer = client.post(
                f"/v1/projects/{project}/lock",
                json={"session_id": "bench"},
                headers={"X-Leasekit-User": user},
            )
            answer.raise_for_status()
            lines.append(f"{project} {user} {answer.json()['lease_id']}\n")
    leases_file.write_text("".join(lines))


def _run_wrk(
    base_url: str, leases_file: Path, connections: int, seconds: float
) -> tuple[list[str], HttpResult]:
    command = [
        wrk_path(), "-t", "2", "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
        "--timeout", "5s", "-s", str(LUA_SCRIPT), base_url, "--", str(leases_file),
    ]  # fmt: skip
    finished = subprocess.run(command, capture_output=True, text=True, check=True)
    line = next(line for line in finished.stdout.splitlines() if line.startswith("BENCH_JSON "))
    summary = json.loads(line.removeprefix("BENCH_JSON "))
    seconds_run = summary["duration_us"] / 1e6
    result = HttpResult(
        requests_per_s=summary["requests"] / seconds_run,
        p50_ms=summary["p50_us"] / 1e3,
        p99_ms=summary["p99_us"] / 1e3,
        max_ms=summary["max_us"] / 1e3,
        requests=summary["requests"],
        status_errors=summary["status_errors"],
        socket_errors=summary["socket_errors"],
    )
    return command, result


def measure(
    name: str,
    command_for: Callable[[Path, int], list[str]],
    work_dir: Path,
    *,
    editors: int,
    connections: int,
    seconds: float,
) -> tuple[list[list[str]], HttpResult]:
    """Starts one service, locks ``editors`` projects, and runs wrk's heartbeats against it.

    Returns the service's command and wrk's, with the result.
    """
    db_path = work_dir / f"{name}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    environment = dict(os.environ, BENCH_BASELINE_DB=str(db_path))
    server_command = command_for(db_path, port)
    server = subprocess.Popen(server_command, env=environment, cwd=work_dir)
    try:
        _wait_ready(base_url, server)
        leases_file = work_dir / f"{name}-editors.txt"
        _lock_editors(base_url, editors, leases_file)
        wrk_command, result = _run_wrk(base_url, leases_file, connections, seconds)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    return [server_command, wrk_command], result
