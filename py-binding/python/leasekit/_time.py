"""Instants at the Python boundary: aware datetimes in, UTC milliseconds across, datetimes out.

The core counts time in integer UTC milliseconds. Python callers may pass an ``int`` of those
milliseconds or a timezone-aware :class:`~datetime.datetime`; a naive datetime is refused, because
guessing its zone is how two processes come to disagree about an expiry.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from leasekit.errors import TimeOutOfRange

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)

Instant = datetime | int
"""An aware datetime, or UTC milliseconds since the Unix epoch."""


def to_millis(value: object, field: str) -> object:
    """UTC milliseconds for an aware datetime; any other value is passed on for the core to judge.

    Sub-millisecond parts of a datetime are dropped (rounded towards the past), so an instant is
    never moved later than the caller said.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise TimeOutOfRange(
                f"{field} {value.isoformat()}: a naive datetime is ambiguous; "
                "pass a timezone-aware datetime such as datetime.now(timezone.utc)",
                field=field,
            )
        return (value - EPOCH) // _ONE_MS
    return value


def to_datetime(ms: int) -> datetime:
    """The aware UTC datetime of ``ms``; ``OverflowError`` beyond the years 1 to 9999."""
    return EPOCH + timedelta(milliseconds=ms)


def optional_datetime(ms: int | None) -> datetime | None:
    """:func:`to_datetime`, passing ``None`` through."""
    return None if ms is None else to_datetime(ms)
