"""Immutable answers of the lease store.

Every time is kept as integer UTC milliseconds (the ``*_ms`` fields, exact and comparable with
what the core and the browser compute) and offered as a timezone-aware UTC ``datetime`` through
the property of the same name without the suffix. A lease token appears in one place only:
:attr:`Lease.token` of a grant, which is left out of ``repr``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from leasekit._time import optional_datetime, to_datetime

__all__ = [
    "EndReason",
    "EndedLease",
    "EventKind",
    "ExpiredLease",
    "Lease",
    "LeaseEvent",
    "LeaseStatus",
    "PreviousLease",
    "PruneReport",
    "Release",
    "SweepReport",
]

EndReason = Literal["released", "expired", "taken_over", "forced"]
"""How a lease ended."""

EventKind = Literal["acquired", "renewed", "taken_over", "forced", "released", "expired"]
"""The kind of a transition in the audit log."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PreviousLease:
    """The lease a grant replaced: its holder, its fence and how it ended."""

    owner: str
    session_id: str
    fence: int
    ended: EndReason

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> PreviousLease:
        """Builds it from the core's serde form."""
        return cls(
            owner=doc["owner"], session_id=doc["session_id"], fence=doc["fence"], ended=doc["ended"]
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Lease:
    """A lease the caller holds: the answer to a grant, a renewal or a heartbeat.

    ``token`` is the secret to heartbeat and release with. It is set only on the answer to
    ``acquire`` (a new grant, or a renewal by the same session, which mints a fresh token) and
    never shown by ``repr``. ``renewed`` is true when the lease continues an earlier grant with
    the same fence (a repeated acquire by the same session, or a heartbeat).
    """

    scope: str
    resource_id: str
    owner: str
    session_id: str
    fence: int
    acquired_at_ms: int
    heartbeat_at_ms: int
    expires_at_ms: int
    interval_ms: int
    stale_after_ms: int
    server_time_ms: int
    renewed: bool
    previous: PreviousLease | None = None
    token: str | None = field(default=None, repr=False)

    @property
    def acquired_at(self) -> datetime:
        """When this holder was granted the lease (UTC)."""
        return to_datetime(self.acquired_at_ms)

    @property
    def heartbeat_at(self) -> datetime:
        """The last heartbeat, or the grant (UTC)."""
        return to_datetime(self.heartbeat_at_ms)

    @property
    def expires_at(self) -> datetime:
        """The last instant the lease is live without another heartbeat (UTC)."""
        return to_datetime(self.expires_at_ms)

    @property
    def server_time(self) -> datetime:
        """The store's clock when it answered (UTC)."""
        return to_datetime(self.server_time_ms)


@dataclass(frozen=True, slots=True, kw_only=True)
class EndedLease:
    """The last lease of a resource that is not held: who held it and how it ended."""

    owner: str
    session_id: str
    fence: int
    reason: EndReason
    ended_at_ms: int

    @property
    def ended_at(self) -> datetime:
        """When the lease ended (UTC)."""
        return to_datetime(self.ended_at_ms)


@dataclass(frozen=True, slots=True, kw_only=True)
class LeaseStatus:
    """What anyone may see of a resource: never a token.

    ``held`` is true while a lease is stored as held, live or stale; ``stale`` says whether it was
    stale at ``server_time`` (a stale lease may be acquired by anyone, and the sweeper ends it).
    :attr:`live` is the usual question: held and not stale. Holder fields are ``None`` when
    nothing is held; ``fence`` is the last fence handed out, 0 if the resource was never leased.
    """

    scope: str
    resource_id: str
    held: bool
    stale: bool
    fence: int
    owner: str | None
    session_id: str | None
    acquired_at_ms: int | None
    heartbeat_at_ms: int | None
    expires_at_ms: int | None
    interval_ms: int | None
    stale_after_ms: int | None
    server_time_ms: int
    last_ended: EndedLease | None

    @property
    def live(self) -> bool:
        """Held and not stale: someone is working on the resource right now."""
        return self.held and not self.stale

    @property
    def acquired_at(self) -> datetime | None:
        """When the current holder was granted the lease (UTC)."""
        return optional_datetime(self.acquired_at_ms)

    @property
    def heartbeat_at(self) -> datetime | None:
        """The current holder's last heartbeat (UTC)."""
        return optional_datetime(self.heartbeat_at_ms)

    @property
    def expires_at(self) -> datetime | None:
        """The last instant the current lease is live without another heartbeat (UTC)."""
        return optional_datetime(self.expires_at_ms)

    @property
    def server_time(self) -> datetime:
        """The store's clock when it answered (UTC)."""
        return to_datetime(self.server_time_ms)

    @classmethod
    def from_view(
        cls, scope: str, resource_id: str, view: dict[str, Any], server_time_ms: int
    ) -> LeaseStatus:
        """Builds it from the core's serde form of a ``LeaseView``."""
        current = view.get("current")
        ended = view.get("last_ended")
        last_ended = (
            None
            if ended is None
            else EndedLease(
                owner=ended["owner"],
                session_id=ended["session_id"],
                fence=ended["fence"],
                reason=ended["reason"],
                ended_at_ms=ended["ended_at"],
            )
        )
        if current is None:
            return cls(
                scope=scope,
                resource_id=resource_id,
                held=False,
                stale=False,
                fence=view["fence"],
                owner=None,
                session_id=None,
                acquired_at_ms=None,
                heartbeat_at_ms=None,
                expires_at_ms=None,
                interval_ms=None,
                stale_after_ms=None,
                server_time_ms=server_time_ms,
                last_ended=last_ended,
            )
        return cls(
            scope=scope,
            resource_id=resource_id,
            held=True,
            stale=current["stale"],
            fence=view["fence"],
            owner=current["owner"],
            session_id=current["session_id"],
            acquired_at_ms=current["acquired_at"],
            heartbeat_at_ms=current["heartbeat_at"],
            expires_at_ms=current["expires_at"],
            interval_ms=current["interval_ms"],
            stale_after_ms=current["stale_after_ms"],
            server_time_ms=server_time_ms,
            last_ended=last_ended,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Release:
    """The answer to a release. Never an exception for a stale token, so retrying is safe.

    ``released`` is true when this call ended the current lease (live or stale). Otherwise
    ``reason`` says why nothing changed: ``"already_released"`` when the token's lease had
    already ended (``ended`` says how), ``"superseded"`` when the token is not the resource's
    current or last lease (someone else acquired it since, or the token never held it).
    ``fence`` is the resource's last fence either way.
    """

    scope: str
    resource_id: str
    released: bool
    reason: Literal["already_released", "superseded"] | None
    fence: int
    ended: EndReason | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LeaseEvent:
    """One transition in the audit log (heartbeats are not transitions).

    ``owner``/``session_id``/``fence`` describe the lease concerned (the new holder for a grant);
    ``actor`` is the owner who caused it, or ``None`` for the sweeper. ``sequence`` orders the
    whole log (larger is later, never reused); pass it as ``before`` to read the next page.
    """

    sequence: int
    scope: str
    resource_id: str
    kind: EventKind
    at_ms: int
    owner: str
    session_id: str
    fence: int
    actor: str | None

    @property
    def at(self) -> datetime:
        """When it happened (UTC)."""
        return to_datetime(self.at_ms)

    @classmethod
    def from_json(cls, scope: str, resource_id: str, doc: dict[str, Any]) -> LeaseEvent:
        """Builds it from the core's serde form of a ``LeaseEvent``."""
        return cls(
            sequence=doc["sequence"],
            scope=scope,
            resource_id=resource_id,
            kind=doc["kind"],
            at_ms=doc["at"],
            owner=doc["owner"],
            session_id=doc["session_id"],
            fence=doc["fence"],
            actor=doc["actor"],
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpiredLease:
    """A lease that a sweep ended as expired, as it stood when it was ended."""

    scope: str
    resource_id: str
    owner: str
    session_id: str
    fence: int
    acquired_at_ms: int
    heartbeat_at_ms: int
    expires_at_ms: int
    interval_ms: int
    stale_after_ms: int

    @property
    def heartbeat_at(self) -> datetime:
        """Its last heartbeat (UTC)."""
        return to_datetime(self.heartbeat_at_ms)

    @property
    def expires_at(self) -> datetime:
        """The last instant it was live (UTC)."""
        return to_datetime(self.expires_at_ms)


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepReport:
    """What a sweep did at ``at``.

    ``expired`` lists the leases it ended, in order. ``changed_since_read`` counts stale-looking
    leases left alone because their holder renewed them (or someone acquired them) while the
    sweep ran; ``unreadable`` counts rows that break the model and were skipped (their keys are
    logged); ``batches`` counts write transactions.
    """

    at_ms: int
    expired: tuple[ExpiredLease, ...]
    changed_since_read: int
    unreadable: int
    batches: int

    @property
    def at(self) -> datetime:
        """The instant every lease was judged at (UTC)."""
        return to_datetime(self.at_ms)


@dataclass(frozen=True, slots=True, kw_only=True)
class PruneReport:
    """What a prune did: tombstones emptied down to their fence, and their events deleted."""

    pruned: int
    events_deleted: int
