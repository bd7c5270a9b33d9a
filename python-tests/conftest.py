"""Shared fixtures: a store file in a temporary folder, driven by a manual clock."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from leasekit import LeaseStore, ManualClock

START = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    """A clock standing at 2024-03-01 09:00 UTC."""
    return ManualClock(START)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Where the store file goes."""
    return tmp_path / "leases.db"


@pytest.fixture
def store(db_path: Path, clock: ManualClock) -> Iterator[LeaseStore]:
    """A store on a fresh file, on the manual clock."""
    with LeaseStore(db_path, clock=clock) as opened:
        yield opened


def snapshot(path: Path) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """Every row of both tables, read with Python's own sqlite3, to prove nothing changed.

    Call it only while no store of this process has the file open: Python's sqlite3 is a second
    copy of SQLite, and two copies in one process do not see each other's POSIX locks (closing
    one's file descriptor even drops the other's locks). Another process is always safe.
    """
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        leases = connection.execute("SELECT * FROM leases ORDER BY scope, resource_id").fetchall()
        events = connection.execute("SELECT * FROM lease_events ORDER BY id").fetchall()
    finally:
        connection.close()
    return leases, events


_HOLD_WRITE_LOCK = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
connection.execute("ROLLBACK")
connection.close()
"""


@contextmanager
def write_lock_held_by_another_process(path: Path) -> Iterator[None]:
    """Another process holds the file's write lock until the block ends."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_WRITE_LOCK, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdin is not None
    assert holder.stdout is not None
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield
    finally:
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.stdout.close()
        assert holder.wait(timeout=60) == 0
