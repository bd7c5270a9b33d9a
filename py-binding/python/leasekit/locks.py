"""A drop-in for the backend's deployment lock module, with leases decided by the Rust core.

The backend locks a deployment while a deploy runs: ``acquire_lock`` before it starts,
``heartbeat`` every 30 s from the runner (which stops at the first ``False``), ``release_lock``
at the end, ``cleanup_stale_locks`` from a scheduler. :class:`DeploymentLocks` offers those four
functions with the same names, keyword arguments and answers, over the lease tables of
:mod:`leasekit.sqla`, in the caller's ``AsyncSession`` and without committing, so the backend
replaces its module body and keeps its call sites::

    _locks = DeploymentLocks(define_tables(Base.metadata), error_base=Range42Error)
    LockHeldError = _locks.LockHeldError
    acquire_lock = _locks.acquire_lock
    release_lock = _locks.release_lock
    heartbeat = _locks.heartbeat
    cleanup_stale_locks = _locks.cleanup_stale_locks

What stays as it was: a lock is stale when more than three heartbeat intervals passed since its
last heartbeat; acquiring evicts a stale lock in the same transaction; a live lock refuses every
acquirer with ``LockHeldError`` (409, ``deployment_locked``), its own owner included (it is not
re-entrant); release and heartbeat answer ``False`` for a lock that is absent or another
owner's. What is fixed: two concurrent acquirers cannot both win, and the loser gets
``LockHeldError``, not an integrity error; a heartbeat on a stale lock answers ``False`` and does
not revive it. Locks also gain a fence (1, 2, 3, ... per deployment) and an audit history.

How the lease model's sessions and tokens map to a module that has neither: every
``acquire_lock`` call is a session of its own (a fresh random ``session_id``), which is what
makes the core refuse a second acquire by the same owner (the core lets only the same session
renew). Its token is minted as for any lease, only its SHA-256 digest is stored, and the token
itself is dropped: callers authenticate by owner, as they did. ``heartbeat`` and
``release_lock`` present the stored digest of the current lease when, and only when, the caller
names that lease's owner, so the core judges them exactly as a holder's token; for anyone else
they present a digest that matches no lease, and the core answers "lost".
"""

from __future__ import annotations

import inspect
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy.ext.asyncio import AsyncSession

from leasekit import rules
from leasekit._time import to_datetime
from leasekit.errors import InvalidInput
from leasekit.rules import Decision, Record, check_owner
from leasekit.sqla import leases
from leasekit.sqla.clock import ClockLike
from leasekit.sqla.tables import LeaseTables

__all__ = [
    "BEATS",
    "SCOPE",
    "DeploymentLock",
    "DeploymentLocks",
    "LockHeldError",
    "lock_held_error_class",
]

SCOPE = "deployment"
"""The lease scope of deployment locks."""

BEATS = 3
"""Missed heartbeat intervals after which a lock is stale, as in the backend."""

_FIELDS = {"resource_id": "deployment_id", "interval_ms": "interval_s"}


def _utc_iso(instant: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and ``Z``, as the backend writes times."""
    return instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True, kw_only=True)
class DeploymentLock:
    """The lock ``acquire_lock`` granted: the backend's lock row, plus the fence.

    Times are timezone-aware UTC datetimes (the backend's SQLite rows came back naive).
    """

    deployment_id: str
    owner: str
    acquired_at: datetime
    heartbeat_at: datetime
    heartbeat_interval_s: int
    fence: int
    expires_at: datetime
    session_id: str


class LockHeldError(Exception):
    """``acquire_lock`` refused: a live lock holds the deployment (HTTP 409).

    Carries what the backend's error envelope renders: ``status``, ``error``, ``code``,
    ``message`` and ``details`` (one ``{"field": "deployment_id", "reason": "held by OWNER since
    TIME"}``, also as ``detail``), plus the holder's ``owner``, ``since`` and ``fence``. Use
    :func:`lock_held_error_class` (or ``DeploymentLocks(error_base=...)``) to make it a subclass
    of the host's own error base too.
    """

    status: ClassVar[int] = 409
    error: ClassVar[str] = "deployment_locked"
    code: ClassVar[str] = "DEPLOYMENT_LOCKED"

    def __init__(self, *, deployment_id: str, owner: str, since: datetime, fence: int) -> None:
        reason = f"held by {owner} since {_utc_iso(since)}"
        message = f"deployment {deployment_id} is locked: {reason}"
        details = [{"field": "deployment_id", "reason": reason}]
        _init_base(self, message, details)
        self.deployment_id = deployment_id
        self.owner = owner
        self.since = since
        self.fence = fence
        self.message = message
        self.details = details

    @property
    def detail(self) -> dict[str, str]:
        """The one detail: ``{"field": "deployment_id", "reason": "held by ..."}``."""
        return self.details[0]

    def __reduce__(self) -> tuple[Any, ...]:
        state = (self.deployment_id, self.owner, self.since, self.fence)
        return (_rebuild_lock_held, (type(self), *state))


def _rebuild_lock_held(
    cls: type[LockHeldError], deployment_id: str, owner: str, since: datetime, fence: int
) -> LockHeldError:
    return cls(deployment_id=deployment_id, owner=owner, since=since, fence=fence)


_BASE_KEYWORDS = ("message", "details", "error", "code", "status")


def _init_base(error: LockHeldError, message: str, details: list[dict[str, str]]) -> None:
    """Runs the constructor of the first base after LockHeldError in the error's MRO.

    A host's error base is called with those of ``message``, ``details``, ``error``, ``code``
    and ``status`` that its ``__init__`` names (the backend's takes them all, by keyword);
    a base that names none of them gets the message alone, as ``Exception`` does.
    """
    mro = type(error).__mro__
    base = mro[mro.index(LockHeldError) + 1]
    named = _named_parameters(base)
    values: dict[str, object] = {
        "message": message,
        "details": details,
        "error": LockHeldError.error,
        "code": LockHeldError.code,
        "status": LockHeldError.status,
    }
    keywords = {name: values[name] for name in _BASE_KEYWORDS if name in named}
    if keywords:
        super(LockHeldError, error).__init__(**keywords)
    else:
        super(LockHeldError, error).__init__(message)


def _named_parameters(base: type) -> set[str]:
    """The parameters the nearest ``__init__`` of ``base`` takes by name (none for the built-in
    exception constructors)."""
    owner = next(cls for cls in base.__mro__ if "__init__" in vars(cls))
    if owner in (BaseException, Exception, object):
        return set()
    init = vars(owner)["__init__"]
    try:
        parameters = inspect.signature(init).parameters.values()
    except (TypeError, ValueError):
        return set()
    accepted = {inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY}
    return {parameter.name for parameter in parameters if parameter.kind in accepted}


def lock_held_error_class(base: type[Exception]) -> type[LockHeldError]:
    """``LockHeldError`` as a subclass of the host's error ``base`` as well, so the host's
    handler for its own errors renders it (and ``except LockHeldError`` still catches it).

    The class keeps LockHeldError's ``status``, ``error`` and ``code``; its constructor calls
    ``base.__init__`` as :func:`_init_base` describes. ``base`` itself is answered unchanged if
    it already derives from LockHeldError.
    """
    if issubclass(base, LockHeldError):
        return base
    return type(
        "LockHeldError",
        (LockHeldError, base),
        {"__module__": base.__module__, "__qualname__": f"LockHeldError[{base.__qualname__}]"},
    )


def _renamed(error: InvalidInput, interval_s: object) -> InvalidInput:
    """The core's error with the drop-in's argument names (``deployment_id``, ``interval_s``)."""
    field = _FIELDS.get(error.field, error.field)
    if field == error.field:
        return error
    message = str(error)
    if error.field == "interval_ms":
        message = f"interval_s {interval_s!r} (as milliseconds: {message})"
    else:
        message = message.replace(error.field, field, 1)
    return type(error)(message, field=field)


def _foreign_digest() -> bytes:
    """The digest of a token nobody holds: what a caller that does not own the lock presents."""
    return rules.token_digest(secrets.token_urlsafe(32))


def _presented_digest(record: Record, owner: str) -> bytes:
    """The owner of the current or last lease presents its token's digest; others a foreign one."""
    if record.owner == owner and record.token_digest is not None:
        return record.token_digest
    return _foreign_digest()


class DeploymentLocks:
    """The backend's lock functions over the lease tables; see the module docs.

    ``error_base`` makes the raised ``LockHeldError`` a subclass of the host's error base too
    (see :func:`lock_held_error_class`); ``clock`` replaces the authority clock (tests).
    """

    def __init__(
        self,
        tables: LeaseTables,
        *,
        error_base: type[Exception] | None = None,
        clock: ClockLike | None = None,
    ) -> None:
        self.tables = tables
        self.clock = clock
        self.LockHeldError: type[LockHeldError] = (
            LockHeldError if error_base is None else lock_held_error_class(error_base)
        )

    async def acquire_lock(
        self, session: AsyncSession, *, deployment_id: str, owner: str, interval_s: int
    ) -> DeploymentLock:
        """Locks the deployment for ``owner``, evicting a stale lock; raises LockHeldError when
        a live lock exists, even ``owner``'s own. Does not commit."""
        is_seconds = isinstance(interval_s, int) and not isinstance(interval_s, bool)
        interval_ms = interval_s * 1000 if is_seconds else interval_s
        session_id = f"lock-{secrets.token_hex(8)}"
        _, token_digest = rules.new_token()

        def rule(record: Record, at_ms: int) -> Decision:
            return rules.acquire(
                record,
                owner=owner,
                session_id=session_id,
                interval_ms=interval_ms,
                beats=BEATS,
                token_digest=token_digest,
                now=at_ms,
            )

        applied = await self._decide(session, deployment_id, rule, "acquire_lock", interval_s)
        outcome = applied.decision.outcome
        if outcome["kind"] == "busy":
            holder = outcome["holder"]
            raise self.LockHeldError(
                deployment_id=deployment_id,
                owner=holder["owner"],
                since=to_datetime(holder["acquired_at"]),
                fence=holder["fence"],
            )
        lease = outcome["lease"]
        return DeploymentLock(
            deployment_id=deployment_id,
            owner=lease["owner"],
            acquired_at=to_datetime(lease["acquired_at"]),
            heartbeat_at=to_datetime(lease["heartbeat_at"]),
            heartbeat_interval_s=lease["interval_ms"] // 1000,
            fence=lease["fence"],
            expires_at=to_datetime(lease["expires_at"]),
            session_id=lease["session_id"],
        )

    async def release_lock(self, session: AsyncSession, *, deployment_id: str, owner: str) -> bool:
        """Releases ``owner``'s lock, live or stale; False when absent or another owner's (or
        already ended). Does not commit. An owner that breaks the core's rule raises
        :class:`~leasekit.errors.InvalidOwner`, as ``acquire_lock`` does."""
        check_owner(owner)
        applied = await self._decide(
            session,
            deployment_id,
            lambda record, at_ms: rules.release(record, _presented_digest(record, owner), at_ms),
            "release_lock",
        )
        return bool(applied.decision.outcome["kind"] == "released")

    async def heartbeat(self, session: AsyncSession, *, deployment_id: str, owner: str) -> bool:
        """Renews ``owner``'s live lock (``heartbeat_at`` becomes now); False when the lock is
        absent, another owner's, ended, or stale (a stale lock is not revived). Does not
        commit. An owner that breaks the core's rule raises
        :class:`~leasekit.errors.InvalidOwner`, as ``acquire_lock`` does."""
        check_owner(owner)
        applied = await self._decide(
            session,
            deployment_id,
            lambda record, at_ms: rules.heartbeat(record, _presented_digest(record, owner), at_ms),
            "heartbeat",
        )
        return bool(applied.decision.outcome["kind"] == "renewed")

    async def cleanup_stale_locks(
        self, session: AsyncSession, *, deployment_id: str | None = None
    ) -> int:
        """Ends every stale deployment lock (or only ``deployment_id``'s) as expired; answers
        how many. Does not commit."""
        try:
            report = await leases.sweep(
                session, self.tables, scope=SCOPE, resource_id=deployment_id, clock=self.clock
            )
        except InvalidInput as bad:
            raise _renamed(bad, None) from None
        return len(report.expired)

    async def _decide(
        self,
        session: AsyncSession,
        deployment_id: str,
        rule: leases.Rule,
        operation: str,
        interval_s: object = None,
    ) -> leases.Applied:
        try:
            return await leases.decide(
                session,
                self.tables,
                SCOPE,
                deployment_id,
                rule,
                clock=self.clock,
                operation=operation,
            )
        except InvalidInput as bad:
            raise _renamed(bad, interval_s) from None
