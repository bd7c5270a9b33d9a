"""Whose clock judges a lease: the database server's on PostgreSQL, the process's on SQLite.

Several app instances share one PostgreSQL server, and their hosts' clocks drift apart; if each
judged staleness by its own clock, one instance could see a lease as stale that another just
renewed. So on PostgreSQL every decision reads the server's clock (``clock_timestamp()``, the
current instant, not the start of the transaction), which is one clock for every instance. A
SQLite file is only ever shared by processes of one machine, which share its clock.

Tests replace the clock: any object with ``async now_ms(session) -> int`` will do, and so does
a :class:`leasekit.ManualClock`.
"""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from leasekit import rules
from leasekit.rules import Record
from leasekit.store import ManualClock

__all__ = ["AuthorityClock", "Clock", "ClockLike", "SystemClock", "now_ms"]

_POSTGRES_NOW_MS = text("SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint")


@runtime_checkable
class Clock(Protocol):
    """A source of UTC milliseconds for the decisions made in ``session``."""

    async def now_ms(self, session: AsyncSession) -> int:
        """The current instant in UTC milliseconds since the Unix epoch."""
        ...


class SystemClock:
    """This process's clock (the operating system's wall clock)."""

    async def now_ms(self, session: AsyncSession) -> int:
        """The wall clock in UTC milliseconds; ``session`` is not used."""
        return time.time_ns() // 1_000_000

    def __repr__(self) -> str:
        return "SystemClock()"


class AuthorityClock:
    """The default: the PostgreSQL server's clock, or this process's clock on SQLite."""

    async def now_ms(self, session: AsyncSession) -> int:
        """Reads the server's clock on PostgreSQL; elsewhere the process's clock."""
        if session.get_bind().dialect.name == "postgresql":
            return int((await session.execute(_POSTGRES_NOW_MS)).scalar_one())
        return time.time_ns() // 1_000_000

    def __repr__(self) -> str:
        return "AuthorityClock()"


ClockLike = Clock | ManualClock
"""What the adapter accepts as a clock: a :class:`Clock`, or a :class:`leasekit.ManualClock`."""

_AUTHORITY = AuthorityClock()


async def now_ms(session: AsyncSession, clock: ClockLike | None) -> int:
    """The instant ``clock`` reads for ``session``; ``None`` means the :class:`AuthorityClock`.

    The core checks the reading before anything uses it, so a clock that answers something
    that is not an instant in the safe range fails with ``TimeOutOfRange``.
    """
    if clock is None:
        instant = await _AUTHORITY.now_ms(session)
    elif isinstance(clock, ManualClock):
        instant = clock.now_ms
    else:
        instant = await clock.now_ms(session)
    rules.view(Record.vacant(), instant)
    return instant
