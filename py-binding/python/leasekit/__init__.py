"""leasekit: leases with fencing, decided by one Rust rule set.

A lease answers "who is editing this resource right now?" the same way everywhere: the Rust core
decides, and this package offers it to Python as

- :class:`LeaseStore` and :class:`AsyncLeaseStore`: durable leases in a SQLite file;
- :mod:`leasekit.rules`: the pure rules with an explicit ``now``, for callers that keep their
  own records (the SQLAlchemy adapter);
- :mod:`leasekit.errors`: one exception class per stable error code of the core;
- immutable results with aware UTC datetimes (:mod:`leasekit.results`).

Every transition (acquired, renewed, taken over, forced, released, expired) is logged once on the
``logging`` logger ``leasekit`` (the store's records come from its child ``leasekit.store``),
with structured fields in ``extra``; tokens never are.
"""

from leasekit import errors, results, rules
from leasekit._native import __version__
from leasekit.errors import (
    AlreadyReleased,
    FenceOutOfRange,
    InvalidBeats,
    InvalidDigest,
    InvalidDocument,
    InvalidInput,
    InvalidInterval,
    InvalidMargin,
    InvalidOwner,
    InvalidRecord,
    InvalidResourceId,
    InvalidSample,
    InvalidScope,
    InvalidSessionId,
    InvalidToken,
    LeaseError,
    LeaseExpired,
    LeaseHeld,
    LeaseLost,
    SchemaTooNew,
    StorageError,
    TimeOutOfRange,
)
from leasekit.results import (
    EndedLease,
    ExpiredLease,
    Lease,
    LeaseEvent,
    LeaseStatus,
    PreviousLease,
    PruneReport,
    Release,
    SweepReport,
)
from leasekit.store import AsyncLeaseStore, LeaseStore, ManualClock

__all__ = [
    "AlreadyReleased",
    "AsyncLeaseStore",
    "EndedLease",
    "ExpiredLease",
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
    "Lease",
    "LeaseError",
    "LeaseEvent",
    "LeaseExpired",
    "LeaseHeld",
    "LeaseLost",
    "LeaseStatus",
    "LeaseStore",
    "ManualClock",
    "PreviousLease",
    "PruneReport",
    "Release",
    "SchemaTooNew",
    "StorageError",
    "SweepReport",
    "TimeOutOfRange",
    "__version__",
    "errors",
    "results",
    "rules",
]
