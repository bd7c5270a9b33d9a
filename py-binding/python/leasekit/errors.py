"""The exceptions leasekit raises: one base class, and one subclass per stable code of the core.

The Rust core names every kind of bad input and every refusal with a ``snake_case`` code that
never changes (``leasekit_core::ALL_CODES``). Python code catches these classes, HTTP layers map
them to status codes, and a test proves that :data:`CLASSES_BY_CODE` covers exactly the core's
list. Messages name the argument and the rule it breaks; they never contain a lease token.

Refusals of the store (:class:`LeaseHeld`, :class:`LeaseLost`, :class:`LeaseExpired`) carry the
public view of the resource so a caller can answer "held by whom, until when" without a second
read. The pure rules in :mod:`leasekit.rules` return refusals as values instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from leasekit.results import Lease, LeaseStatus

__all__ = [
    "CLASSES_BY_CODE",
    "AlreadyReleased",
    "FenceOutOfRange",
    "InvalidBeats",
    "InvalidDigest",
    "InvalidDocument",
    "InvalidInput",
    "InvalidInterval",
    "InvalidMargin",
    "InvalidOwner",
    "InvalidRecord",
    "InvalidResourceId",
    "InvalidSample",
    "InvalidScope",
    "InvalidSessionId",
    "InvalidToken",
    "LeaseError",
    "LeaseExpired",
    "LeaseHeld",
    "LeaseLost",
    "SchemaTooNew",
    "StorageError",
    "TimeOutOfRange",
    "error_class",
]


def _rebuild(cls: type[LeaseError], message: str, state: dict[str, Any]) -> LeaseError:
    """Recreates a pickled error without calling its keyword-only constructor."""
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class LeaseError(Exception):
    """Base of every leasekit error. ``code`` is the core's stable ``snake_case`` code."""

    code: ClassVar[str]

    def __init__(self, message: str) -> None:
        super().__init__(message)

    @property
    def message(self) -> str:
        """The human-readable message (``str(error)``)."""
        return str(self.args[0]) if self.args else ""

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only constructors defeat Exception's default pickling; errors must survive
        # the trip back from a worker process.
        return (_rebuild, (type(self), self.message, dict(self.__dict__)))


class InvalidInput(LeaseError, ValueError):
    """An argument breaks a rule of the lease model. ``field`` names the argument.

    Wrong types and ``None`` raise it too, with the code of the argument's rule (``owner=None``
    raises :class:`InvalidOwner`); an argument without a rule of its own (a flag, a document)
    raises :class:`InvalidDocument`. Nothing is stored when it is raised.
    """

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class InvalidScope(InvalidInput):
    """A scope is not a lowercase word of 1 to 32 characters of ``[a-z0-9_]``."""

    code = "invalid_scope"


class InvalidResourceId(InvalidInput):
    """A resource id does not match ``^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$``."""

    code = "invalid_resource_id"


class InvalidOwner(InvalidInput):
    """An owner is not 1 to 128 printable characters."""

    code = "invalid_owner"


class InvalidSessionId(InvalidInput):
    """A session id is not 1 to 128 characters of ``[A-Za-z0-9_.:-]``."""

    code = "invalid_session_id"


class InvalidToken(InvalidInput):
    """A lease token is not 1 to 256 visible ASCII characters. The token is never quoted."""

    code = "invalid_token"


class InvalidDigest(InvalidInput):
    """A token digest is not 32 bytes (or 64 hexadecimal digits in a document)."""

    code = "invalid_digest"


class InvalidInterval(InvalidInput):
    """A heartbeat interval lies outside 1000 ms to 86 400 000 ms."""

    code = "invalid_interval"


class InvalidBeats(InvalidInput):
    """A stale threshold in beats lies outside 2 to 10."""

    code = "invalid_beats"


class InvalidMargin(InvalidInput):
    """A prediction safety margin lies outside 0 to 24 h."""

    code = "invalid_margin"


class InvalidSample(InvalidInput):
    """A clock-skew sample was received before it was sent."""

    code = "invalid_sample"


class TimeOutOfRange(InvalidInput):
    """A time is naive, or it (or a time computed from it) leaves the safe millisecond range."""

    code = "time_out_of_range"


class FenceOutOfRange(InvalidInput):
    """A fence would exceed 2^53 - 1."""

    code = "fence_out_of_range"


class InvalidRecord(InvalidInput):
    """A lease record (a JSON document or a row) breaks an invariant of the model."""

    code = "invalid_record"


class InvalidDocument(InvalidInput):
    """A document or argument is malformed, missing or of the wrong type."""

    code = "invalid_document"


class LeaseHeld(LeaseError):
    """Acquire refused: another live lease holds the resource.

    ``holder`` is the public view of that lease; ``same_owner`` says whether it belongs to the
    caller's own owner in another session (ask again with ``takeover=True`` to take it).
    """

    code = "lease_held"

    def __init__(self, message: str, *, holder: LeaseStatus, same_owner: bool) -> None:
        super().__init__(message)
        self.holder = holder
        self.same_owner = same_owner


class LeaseLost(LeaseError):
    """Heartbeat refused: the token is not the resource's current lease. Nothing changed.

    ``current`` is the public view of the resource as it now stands.
    """

    code = "lease_lost"

    def __init__(self, message: str, *, current: LeaseStatus) -> None:
        super().__init__(message)
        self.current = current


class LeaseExpired(LeaseError):
    """Heartbeat refused: the token's lease went stale and is not revived; acquire again.

    ``lease`` is the stale (or since expired) lease, as it stood; its ``token`` is ``None``.
    """

    code = "lease_expired"

    def __init__(self, message: str, *, lease: Lease) -> None:
        super().__init__(message)
        self.lease = lease


class AlreadyReleased(LeaseError):
    """The token's lease has already ended.

    The store's ``release`` answers this as a value (``Release(released=False, ...)``) so that
    retrying an unlock is safe; the class exists so every core code has one.
    """

    code = "already_released"


class StorageError(LeaseError):
    """The storage engine failed: I/O, corruption, a lock timeout, or a closed store."""

    code = "storage_failure"


class SchemaTooNew(StorageError):
    """The database file was written by a newer leasekit; this version will not touch it."""

    code = "schema_too_new"


CLASSES_BY_CODE: dict[str, type[LeaseError]] = {
    cls.code: cls
    for cls in (
        InvalidScope,
        InvalidResourceId,
        InvalidOwner,
        InvalidSessionId,
        InvalidToken,
        InvalidDigest,
        InvalidInterval,
        InvalidBeats,
        InvalidMargin,
        InvalidSample,
        TimeOutOfRange,
        FenceOutOfRange,
        InvalidRecord,
        InvalidDocument,
        LeaseHeld,
        LeaseLost,
        LeaseExpired,
        AlreadyReleased,
        StorageError,
        SchemaTooNew,
    )
}
"""Every code the core defines, mapped to the class raised for it."""


def error_class(code: str) -> type[LeaseError]:
    """The class for a core code; an unknown code is a bug, reported as a ``KeyError``."""
    return CLASSES_BY_CODE[code]


def _from_native(code: str, field: str, message: str) -> LeaseError:
    """Builds the exception the native module raises for a core error or a storage failure."""
    cls = CLASSES_BY_CODE[code]
    if issubclass(cls, InvalidInput):
        return cls(message, field=field)
    if issubclass(cls, (StorageError, AlreadyReleased)):
        return cls(message)
    raise KeyError(f"code {code!r} is a refusal; the store raises it with a view")
