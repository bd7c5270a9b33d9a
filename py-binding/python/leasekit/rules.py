"""The core's pure lease rules, for callers that keep records themselves.

The SQLAlchemy adapter reads a row, asks these functions what to do at ``now``, and writes the
answer back; the conformance tests replay the shared vectors through them. Nothing here decides
anything: each function hands the record to the Rust core and returns its decision as a
:class:`Decision`. Refusals (busy, lost, expired, already released) are values here, not
exceptions; bad input raises :class:`~leasekit.errors.InvalidInput`.

``now`` is a timezone-aware :class:`~datetime.datetime` or UTC milliseconds; a naive datetime is
refused. Token digests are the 32 raw bytes of SHA-256 (:func:`token_digest`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from leasekit import _native
from leasekit._log import log_events
from leasekit._native import RESOURCE_ID_PATTERN, Record, check_owner
from leasekit._time import Instant, to_millis

__all__ = [
    "RESOURCE_ID_PATTERN",
    "Decision",
    "Record",
    "acquire",
    "check_owner",
    "heartbeat",
    "log_events",
    "new_token",
    "release",
    "sweep",
    "token_digest",
    "view",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """What the core decided for one record at one instant.

    ``kind`` is the outcome's kind (``granted``, ``renewed``, ``busy``, ``expired``, ``lost``,
    ``released``, ``already_released``, ``untouched``); ``refusal`` is its stable code when the
    operation was refused (``lease_held``, ``lease_lost``, ``lease_expired``,
    ``already_released``), else ``None``. ``outcome`` is the core's serde JSON of the outcome,
    ``next`` the record to store (``None`` when nothing changed) and ``events`` the audit
    events to append, oldest first.
    """

    kind: str
    refusal: str | None
    outcome: dict[str, Any]
    next: Record | None
    events: list[dict[str, Any]]

    @property
    def changed(self) -> bool:
        """Whether the record must be written."""
        return self.next is not None


def _decision(parts: _native._Parts) -> Decision:
    outcome, refusal, next_record, events = parts
    return Decision(
        kind=outcome["kind"], refusal=refusal, outcome=outcome, next=next_record, events=events
    )


def acquire(
    record: Record,
    *,
    owner: str,
    session_id: str,
    interval_ms: int,
    beats: int = 3,
    takeover: bool = False,
    force: bool = False,
    token_digest: bytes,
    now: Instant,
) -> Decision:
    """Rules 2 to 5: grant, renew, take over, force, or refuse as busy."""
    return _decision(
        _native.acquire(
            record,
            owner=owner,
            session_id=session_id,
            interval_ms=interval_ms,
            beats=beats,
            takeover=takeover,
            force=force,
            token_digest=token_digest,
            now_ms=to_millis(now, "now"),
        )
    )


def heartbeat(record: Record, token_digest: bytes, now: Instant) -> Decision:
    """Rules 6 to 8: renew a live lease, or refuse as expired or lost."""
    return _decision(
        _native.heartbeat(record, token_digest=token_digest, now_ms=to_millis(now, "now"))
    )


def release(record: Record, token_digest: bytes, now: Instant) -> Decision:
    """Rules 8 and 9: release the current lease, or answer already released or lost."""
    return _decision(
        _native.release(record, token_digest=token_digest, now_ms=to_millis(now, "now"))
    )


def sweep(record: Record, now: Instant) -> Decision:
    """Rule 10: end the lease as expired if, and only if, it is stale at ``now``."""
    return _decision(_native.sweep(record, now_ms=to_millis(now, "now")))


def view(record: Record, now: Instant) -> dict[str, Any]:
    """The public view at ``now`` (the core's ``LeaseView`` JSON): never a token or digest."""
    return _native.view(record, now_ms=to_millis(now, "now"))


def new_token() -> tuple[str, bytes]:
    """A fresh lease token from the operating system's CSPRNG, and its digest.

    Hand the token to the holder once; store only the digest.
    """
    return _native.new_token()


def token_digest(token: str) -> bytes:
    """The SHA-256 digest (32 bytes) of a lease token, as the core computes it."""
    return _native.token_digest(token)
