"""A contender for the process race test: run by ``multiprocessing`` in its own interpreter.

It lives in its own module so that a spawned process can import it without importing pytest's
test modules.
"""

from __future__ import annotations

import time

from leasekit import LeaseHeld, LeaseStore

RESOURCE = ("project", "contested")


def contend(path: str, owner: str, rounds: int) -> list[int]:
    """Acquires the contested resource ``rounds`` times, releasing after each short hold.

    Answers the fences it was granted, in order. While it holds the lease it checks the store
    names it as the live holder.
    """
    fences: list[int] = []
    with LeaseStore(path, busy_timeout_ms=30_000) as store:
        while len(fences) < rounds:
            try:
                lease = store.acquire(
                    *RESOURCE, owner=owner, session_id="worker", interval_ms=60_000
                )
            except LeaseHeld:
                time.sleep(0.0005)
                continue
            status = store.status(*RESOURCE)
            if (status.owner, status.fence, status.live) != (owner, lease.fence, True):
                raise AssertionError(
                    f"{owner} holds fence {lease.fence} but the store says {status}"
                )
            fences.append(lease.fence)
            assert lease.token is not None
            if not store.release(*RESOURCE, lease.token).released:
                raise AssertionError(f"{owner} could not release fence {lease.fence}")
    return fences
