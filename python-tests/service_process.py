"""Starts ``leasekit serve`` as a real process on a free loopback port, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

STARTUP_TIMEOUT_S = 30.0


@dataclass
class RunningService:
    """A started service: its base URL, its process and where it writes its log."""

    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        """Everything the service has logged so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout_s: float = 15.0) -> int:
        """Sends ``sig`` and waits for the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=timeout_s)


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def running_service(workdir: Path, *extra_args: str) -> Iterator[RunningService]:
    """``python -m leasekit serve`` in ``workdir`` until the block ends (then SIGKILL if still
    alive, so a failing test never leaves a server behind)."""
    port = free_port()
    log_path = workdir / "service.log"
    command: Sequence[str] = [
        sys.executable, "-m", "leasekit", "serve", "--port", str(port), *extra_args,
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=workdir, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ)
        )
    service = RunningService(f"http://127.0.0.1:{port}", process, log_path)
    try:
        _wait_until_healthy(service)
        yield service
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def _wait_until_healthy(service: RunningService) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise RuntimeError(f"leasekit serve exited early:\n{service.log()}")
        try:
            if httpx.get(f"{service.base_url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"leasekit serve did not become healthy:\n{service.log()}")
