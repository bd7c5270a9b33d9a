"""The SQLite lease store from Python: a synchronous class and an asyncio class.

Both wrap the Rust store of ``leasekit_core``: every change is one ``BEGIN IMMEDIATE``
transaction in which the core decides, so threads, processes and other writers of the same file
never see two live holders. The native calls release the GIL for their SQLite work.
:class:`AsyncLeaseStore` runs each call in a worker thread, so the event loop never waits for
the disk or for another process's lock.

Refusals are exceptions here (:class:`~leasekit.errors.LeaseHeld`,
:class:`~leasekit.errors.LeaseLost`, :class:`~leasekit.errors.LeaseExpired`), except a release
with a stale token, which answers ``Release(released=False, ...)`` so that retrying an unlock is
always safe. The store's clock decides every time; callers never pass ``now``.
"""

from __future__ import annotations

import asyncio
import os
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Literal, Self

from leasekit import _native
from leasekit._time import Instant, to_datetime, to_millis
from leasekit.errors import InvalidDocument, LeaseExpired, LeaseHeld, LeaseLost
from leasekit.results import (
    ExpiredLease,
    Lease,
    LeaseEvent,
    LeaseStatus,
    PreviousLease,
    PruneReport,
    Release,
    SweepReport,
)

__all__ = ["AsyncLeaseStore", "LeaseStore", "ManualClock"]

Synchronous = Literal["normal", "full"]
DEFAULT_INTERVAL_MS = 60_000
DEFAULT_BEATS = 3
DEFAULT_HISTORY_LIMIT = 50


class ManualClock:
    """A clock that moves only when told to, for tests; pass it to a store as ``clock=``.

    Several stores may share one clock. It may be set backwards, as real clocks sometimes
    step; the core then counts a lease stamped in the future as stamped now.
    """

    __slots__ = ("_native",)

    def __init__(self, now: Instant) -> None:
        self._native = _native.ManualClock(to_millis(now, "now"))

    def set(self, now: Instant) -> None:
        """Moves the clock to ``now``: an aware datetime or UTC milliseconds."""
        self._native.set(to_millis(now, "now"))

    def advance(self, delta: int | timedelta) -> int:
        """Moves the clock by ``delta`` (milliseconds, or a timedelta; negative steps back).

        Answers the new instant in milliseconds. A move out of the safe range raises
        :class:`~leasekit.errors.TimeOutOfRange` and leaves the clock where it was.
        """
        if isinstance(delta, timedelta):
            delta = delta // timedelta(milliseconds=1)
        return self._native.advance(delta)

    @property
    def now_ms(self) -> int:
        """The clock's instant in UTC milliseconds."""
        return self._native.now_ms

    @property
    def now(self) -> datetime:
        """The clock's instant as an aware UTC datetime (``OverflowError`` outside the years 1
        to 9999, which ``now_ms`` still holds)."""
        return to_datetime(self._native.now_ms)

    def __repr__(self) -> str:
        return f"ManualClock(now_ms={self.now_ms})"


def _native_clock(clock: object) -> _native.ManualClock | None:
    """The native clock of ``clock``; anything but a ManualClock or None is refused."""
    if clock is None:
        return None
    if not isinstance(clock, ManualClock):
        kind = type(clock).__name__
        raise InvalidDocument(f"clock: must be a ManualClock, not {kind}", field="clock")
    return clock._native


def _holder_status(scope: str, resource_id: str, holder: dict[str, Any], at_ms: int) -> LeaseStatus:
    """The public view of a resource whose current lease is ``holder`` (core ``HolderView``)."""
    view = {"fence": holder["fence"], "current": holder, "last_ended": None}
    return LeaseStatus.from_view(scope, resource_id, view, at_ms)


def _lease(
    scope: str,
    resource_id: str,
    view: dict[str, Any],
    at_ms: int,
    *,
    renewed: bool,
    previous: dict[str, Any] | None = None,
    token: str | None = None,
) -> Lease:
    return Lease(
        scope=scope,
        resource_id=resource_id,
        owner=view["owner"],
        session_id=view["session_id"],
        fence=view["fence"],
        acquired_at_ms=view["acquired_at"],
        heartbeat_at_ms=view["heartbeat_at"],
        expires_at_ms=view["expires_at"],
        interval_ms=view["interval_ms"],
        stale_after_ms=view["stale_after_ms"],
        server_time_ms=at_ms,
        renewed=renewed,
        previous=None if previous is None else PreviousLease.from_json(previous),
        token=token,
    )


def _describe(status: LeaseStatus) -> str:
    expires = "" if status.expires_at_ms is None else f" until {to_datetime(status.expires_at_ms)}"
    return (
        f"{status.scope}/{status.resource_id} is held by {status.owner} "
        f"(session {status.session_id}, fence {status.fence}){expires}"
    )


class LeaseStore:
    """A lease store in one SQLite file; safe to share between threads, and between processes
    that open the same file.

    ``synchronous`` is ``"normal"`` (commits survive a process crash; the default, as the
    backend runs) or ``"full"`` (each commit is synced; survives a power loss).
    ``busy_timeout_ms`` bounds how long an operation waits for another process's write lock
    before it raises :class:`~leasekit.errors.StorageError`. ``clock`` replaces the system clock
    (tests). Use it as a context manager, or call :meth:`close`.
    """

    __slots__ = ("_native",)

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Synchronous = "normal",
        busy_timeout_ms: int = 5_000,
        clock: ManualClock | None = None,
    ) -> None:
        self._native = _native.Store(
            path,
            synchronous=synchronous,
            busy_timeout_ms=busy_timeout_ms,
            clock=_native_clock(clock),
        )

    @property
    def path(self) -> str:
        """The database file."""
        return self._native.path

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._native.closed

    def now(self) -> datetime:
        """The store clock's current instant (UTC)."""
        return to_datetime(self._native.now_ms())

    def settings(self) -> dict[str, Any]:
        """The SQLite settings in force: journal mode, synchronous, busy timeout, ..."""
        return self._native.settings()

    def acquire(
        self,
        scope: str,
        resource_id: str,
        *,
        owner: str,
        session_id: str,
        interval_ms: int = DEFAULT_INTERVAL_MS,
        beats: int = DEFAULT_BEATS,
        takeover: bool = False,
        force: bool = False,
    ) -> Lease:
        """Acquires the resource for ``owner``'s ``session_id``, or raises LeaseHeld.

        A free, released or stale resource is granted with the next fence. The same session
        acquiring its own live lease again renews it: a fresh token, the same fence (a retried
        request whose answer was lost does not lock the client out). ``takeover`` takes a live
        lease from the same owner's other session; ``force`` takes one from another owner (let
        only administrators set it). The answer holds the token; keep it secret.
        """
        at_ms, outcome, token = self._native.acquire(
            scope,
            resource_id,
            owner=owner,
            session_id=session_id,
            interval_ms=interval_ms,
            beats=beats,
            takeover=takeover,
            force=force,
        )
        kind = outcome["kind"]
        if kind == "busy":
            holder = _holder_status(scope, resource_id, outcome["holder"], at_ms)
            same = " (your own other session; pass takeover=True)" if outcome["same_owner"] else ""
            raise LeaseHeld(
                _describe(holder) + same, holder=holder, same_owner=outcome["same_owner"]
            )
        return _lease(
            scope,
            resource_id,
            outcome["lease"],
            at_ms,
            renewed=kind == "renewed",
            previous=outcome.get("previous"),
            token=token,
        )

    def heartbeat(self, scope: str, resource_id: str, token: str) -> Lease:
        """Renews the live lease held with ``token``: ``heartbeat_at`` becomes now.

        Raises :class:`~leasekit.errors.LeaseExpired` if the lease went stale (it is not
        revived: acquire again) and :class:`~leasekit.errors.LeaseLost` if ``token`` is not the
        current lease. Neither changes anything. The answer holds no token.
        """
        answer = self._native.heartbeat(scope, resource_id, token)
        at_ms, outcome = answer["at"], answer["outcome"]
        kind = outcome["kind"]
        if kind == "renewed":
            return _lease(scope, resource_id, outcome["lease"], at_ms, renewed=True)
        if kind == "expired":
            lease = _lease(scope, resource_id, outcome["lease"], at_ms, renewed=False)
            raise LeaseExpired(
                f"{scope}/{resource_id}: the lease of {lease.owner} (fence {lease.fence}) went "
                f"stale after {lease.expires_at}; acquire again",
                lease=lease,
            )
        current = self._current(scope, resource_id, outcome["current"], at_ms)
        raise LeaseLost(self._lost_message(current), current=current)

    def release(self, scope: str, resource_id: str, token: str) -> Release:
        """Releases the lease held with ``token``, live or stale. Never raises for a stale
        token: it answers ``released=False`` with the reason, and changes nothing."""
        answer = self._native.release(scope, resource_id, token)
        outcome = answer["outcome"]
        kind = outcome["kind"]
        if kind == "released":
            fence = outcome["lease"]["fence"]
            return Release(
                scope=scope, resource_id=resource_id, released=True, reason=None, fence=fence
            )
        if kind == "already_released":
            return Release(
                scope=scope,
                resource_id=resource_id,
                released=False,
                reason="already_released",
                fence=outcome["fence"],
                ended=outcome["reason"],
            )
        current = self._current(scope, resource_id, outcome["current"], answer["at"])
        return Release(
            scope=scope,
            resource_id=resource_id,
            released=False,
            reason="superseded",
            fence=current.fence,
        )

    def _current(
        self, scope: str, resource_id: str, holder: dict[str, Any] | None, at_ms: int
    ) -> LeaseStatus:
        """The resource's view after a lost token: the decision's holder, or a fresh read when
        nothing was held (to name the last fence and how the last lease ended)."""
        if holder is not None:
            return _holder_status(scope, resource_id, holder, at_ms)
        return self.status(scope, resource_id)

    @staticmethod
    def _lost_message(current: LeaseStatus) -> str:
        where = f"{current.scope}/{current.resource_id}"
        if current.held:
            return f"{where}: the token is not the current lease; " + _describe(current)
        return (
            f"{where}: the token is not the current lease; nothing is held (fence {current.fence})"
        )

    def status(self, scope: str, resource_id: str) -> LeaseStatus:
        """What anyone may see of the resource now. Takes no write lock; never a token."""
        answer = self._native.status(scope, resource_id)
        return LeaseStatus.from_view(scope, resource_id, answer["view"], answer["at"])

    def history(
        self,
        scope: str,
        resource_id: str,
        limit: int = DEFAULT_HISTORY_LIMIT,
        *,
        before: int | None = None,
    ) -> list[LeaseEvent]:
        """The resource's transitions, newest first, at most ``limit`` (1 to 1000).

        ``before`` is the ``sequence`` of the last event of a page: pass it to read the next.
        """
        entries = self._native.history(scope, resource_id, limit=limit, before=before)
        return [LeaseEvent.from_json(scope, resource_id, entry) for entry in entries]

    def holders(self, scope: str) -> list[LeaseStatus]:
        """Every held resource of ``scope``, live or stale (see ``stale``), ordered by id."""
        answer = self._native.holders(scope)
        return [
            _holder_status(scope, held["id"], held["lease"], answer["at"])
            for held in answer["holders"]
        ]

    def sweep(self) -> SweepReport:
        """Ends every lease that is stale now as ``expired``; one ``expired`` event each.

        A lease renewed while the sweep runs is left alone.
        """
        report = self._native.sweep()
        expired = tuple(
            ExpiredLease(
                scope=ended["key"]["scope"],
                resource_id=ended["key"]["id"],
                owner=ended["lease"]["owner"],
                session_id=ended["lease"]["session_id"],
                fence=ended["lease"]["fence"],
                acquired_at_ms=ended["lease"]["acquired_at"],
                heartbeat_at_ms=ended["lease"]["heartbeat_at"],
                expires_at_ms=ended["lease"]["expires_at"],
                interval_ms=ended["lease"]["interval_ms"],
                stale_after_ms=ended["lease"]["stale_after_ms"],
            )
            for ended in report["expired"]
        )
        return SweepReport(
            at_ms=report["at"],
            expired=expired,
            changed_since_read=report["changed_since_read"],
            unreadable=report["unreadable"],
            batches=report["batches"],
        )

    def prune_tombstones(self, ended_before: Instant) -> PruneReport:
        """Empties the tombstones of leases that ended before ``ended_before`` down to their
        fence and deletes their events; the next grant still gets ``fence + 1``."""
        report = self._native.prune_tombstones(to_millis(ended_before, "ended_before"))
        return PruneReport(pruned=report["pruned"], events_deleted=report["events_deleted"])

    def close(self) -> None:
        """Closes the file. Calls already running finish; later ones raise StorageError."""
        self._native.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LeaseStore({self.path!r}{', closed' if self.closed else ''})"


class AsyncLeaseStore:
    """:class:`LeaseStore` for asyncio: the same methods as coroutines, run in worker threads.

    The native calls release the GIL while SQLite works, so the event loop keeps running while
    a call waits for the disk or another process's lock. Opening and closing run in a thread too.
    """

    __slots__ = ("_store",)

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Synchronous = "normal",
        busy_timeout_ms: int = 5_000,
        clock: ManualClock | None = None,
    ) -> None:
        """Opens the store right away, as :class:`LeaseStore` does; inside a running loop,
        prefer ``await AsyncLeaseStore.open(...)``, which opens in a worker thread."""
        self._store = LeaseStore(
            path, synchronous=synchronous, busy_timeout_ms=busy_timeout_ms, clock=clock
        )

    @classmethod
    def wrap(cls, store: LeaseStore) -> AsyncLeaseStore:
        """An asyncio view of an open :class:`LeaseStore`; both share one file handle."""
        wrapper = cls.__new__(cls)
        wrapper._store = store
        return wrapper

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        *,
        synchronous: Synchronous = "normal",
        busy_timeout_ms: int = 5_000,
        clock: ManualClock | None = None,
    ) -> AsyncLeaseStore:
        """Opens (or creates) the store at ``path`` in a worker thread."""
        store = await asyncio.to_thread(
            LeaseStore,
            path,
            synchronous=synchronous,
            busy_timeout_ms=busy_timeout_ms,
            clock=clock,
        )
        return cls.wrap(store)

    @property
    def sync(self) -> LeaseStore:
        """The synchronous store underneath (for code that runs in a thread already)."""
        return self._store

    @property
    def path(self) -> str:
        """The database file."""
        return self._store.path

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._store.closed

    def now(self) -> datetime:
        """The store clock's current instant (UTC); reading a clock does not block."""
        return self._store.now()

    async def acquire(
        self,
        scope: str,
        resource_id: str,
        *,
        owner: str,
        session_id: str,
        interval_ms: int = DEFAULT_INTERVAL_MS,
        beats: int = DEFAULT_BEATS,
        takeover: bool = False,
        force: bool = False,
    ) -> Lease:
        """See :meth:`LeaseStore.acquire`."""
        return await asyncio.to_thread(
            self._store.acquire,
            scope,
            resource_id,
            owner=owner,
            session_id=session_id,
            interval_ms=interval_ms,
            beats=beats,
            takeover=takeover,
            force=force,
        )

    async def heartbeat(self, scope: str, resource_id: str, token: str) -> Lease:
        """See :meth:`LeaseStore.heartbeat`."""
        return await asyncio.to_thread(self._store.heartbeat, scope, resource_id, token)

    async def release(self, scope: str, resource_id: str, token: str) -> Release:
        """See :meth:`LeaseStore.release`."""
        return await asyncio.to_thread(self._store.release, scope, resource_id, token)

    async def status(self, scope: str, resource_id: str) -> LeaseStatus:
        """See :meth:`LeaseStore.status`."""
        return await asyncio.to_thread(self._store.status, scope, resource_id)

    async def history(
        self,
        scope: str,
        resource_id: str,
        limit: int = DEFAULT_HISTORY_LIMIT,
        *,
        before: int | None = None,
    ) -> list[LeaseEvent]:
        """See :meth:`LeaseStore.history`."""
        return await asyncio.to_thread(
            self._store.history, scope, resource_id, limit, before=before
        )

    async def holders(self, scope: str) -> list[LeaseStatus]:
        """See :meth:`LeaseStore.holders`."""
        return await asyncio.to_thread(self._store.holders, scope)

    async def sweep(self) -> SweepReport:
        """See :meth:`LeaseStore.sweep`."""
        return await asyncio.to_thread(self._store.sweep)

    async def prune_tombstones(self, ended_before: Instant) -> PruneReport:
        """See :meth:`LeaseStore.prune_tombstones`."""
        return await asyncio.to_thread(self._store.prune_tombstones, ended_before)

    async def settings(self) -> dict[str, Any]:
        """See :meth:`LeaseStore.settings`."""
        return await asyncio.to_thread(self._store.settings)

    async def close(self) -> None:
        """See :meth:`LeaseStore.close`."""
        await asyncio.to_thread(self._store.close)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"AsyncLeaseStore({self.path!r}{', closed' if self.closed else ''})"
