"""The native half of leasekit: the Rust core's rules and its SQLite store.

Private: use :mod:`leasekit` and :mod:`leasekit.rules`, which wrap this module in typed results
and exceptions. Every lease decision is made by the Rust core; this module converts arguments
and answers. Times are UTC milliseconds; answers are the core's serde JSON as Python values.

Bad arguments raise the classes of :mod:`leasekit.errors` (all :class:`ValueError`s), including
for a wrong type or ``None``. Arguments are typed ``object`` where the native code checks them
itself, so that every bad value gets the documented error rather than a bare ``TypeError``.
"""

from typing import Any, final

__all__ = [
    "RESOURCE_ID_PATTERN",
    "ManualClock",
    "Record",
    "Store",
    "__version__",
    "acquire",
    "check_owner",
    "error_codes",
    "heartbeat",
    "new_token",
    "release",
    "sweep",
    "token_digest",
    "view",
]

__version__: str
"""The package version, from Cargo."""

RESOURCE_ID_PATTERN: str
"""The pattern every resource id must match (for API documents); the core enforces it."""

def check_owner(owner: object) -> None:
    """Checks an owner by the core's rule (1 to 128 printable characters); raises
    :class:`~leasekit.errors.InvalidOwner` naming ``owner`` otherwise."""

def error_codes() -> list[str]:
    """Every stable error code of the core (``leasekit_core::ALL_CODES``), in order."""

def new_token() -> tuple[str, bytes]:
    """A fresh lease token (43 URL-safe characters from the OS CSPRNG) and its SHA-256 digest."""

def token_digest(token: object) -> bytes:
    """The SHA-256 digest (32 bytes) of a token of 1 to 256 visible ASCII characters."""

@final
class Record:
    """One resource's lease state, validated by the core: its last fence and its current or
    last lease. Immutable; equal when every field is equal."""

    @staticmethod
    def vacant() -> Record:
        """A resource never leased: fence 0."""

    @staticmethod
    def from_json(document: object) -> Record:
        """Parses the flat JSON form: a ``str``, or the ``dict`` that :meth:`to_json` returns.

        Raises :class:`~leasekit.errors.InvalidRecord` if it breaks the model.
        """

    @staticmethod
    def from_row(row: object) -> Record:
        """Builds a record from a row of the store's ``leases`` table: a mapping with exactly
        its columns (``scope``, ``resource_id``, ``fence``, ``state``, ``owner``,
        ``session_id``, ``token_digest``, ``acquired_at``, ``heartbeat_at``, ``interval_ms``,
        ``beats``, ``stale_after_ms``, ``expires_at``, ``end_reason``, ``ended_at``).

        Raises :class:`~leasekit.errors.InvalidRecord` for a missing or unknown column, a
        mistyped value, or derived columns that disagree with the lease.
        """

    def to_row(self, scope: object, resource_id: object) -> dict[str, Any]:
        """The ``leases`` row of this record for ``scope``/``resource_id``, keyed by column."""

    def to_json(self) -> dict[str, Any]:
        """The flat JSON form (``token_digest`` as 64 hexadecimal digits)."""

    @property
    def fence(self) -> int:
        """The last fence handed out (0 if never leased)."""

    @property
    def state(self) -> str:
        """``"vacant"``, ``"held"`` or ``"released"`` (an ended lease, whatever ended it)."""

    @property
    def owner(self) -> str | None:
        """The current or last holder's owner."""

    @property
    def session_id(self) -> str | None:
        """The current or last holder's session."""

    @property
    def token_digest(self) -> bytes | None:
        """The SHA-256 digest (32 bytes) of the current or last lease's token."""

    @property
    def interval_ms(self) -> int | None:
        """The heartbeat interval in milliseconds."""

    @property
    def beats(self) -> int | None:
        """Missed beats before the lease is stale."""

    @property
    def stale_after_ms(self) -> int | None:
        """``beats * interval_ms``."""

    @property
    def acquired_at_ms(self) -> int | None:
        """When the current or last holder was granted the lease."""

    @property
    def heartbeat_at_ms(self) -> int | None:
        """The last heartbeat of the current or last lease."""

    @property
    def expires_at_ms(self) -> int | None:
        """``heartbeat_at_ms + stale_after_ms``: the last instant the lease is live."""

    @property
    def end_reason(self) -> str | None:
        """Why the last lease ended (``released``, ``expired``, ``taken_over``, ``forced``)."""

    @property
    def ended_at_ms(self) -> int | None:
        """When the last lease ended."""

    def __reduce__(self) -> tuple[Any, tuple[str]]: ...

_Parts = tuple[dict[str, Any], str | None, Record | None, list[dict[str, Any]]]
"""``(outcome, refusal code, next record, events)`` of a rule."""

def acquire(
    record: object,
    *,
    owner: object,
    session_id: object,
    interval_ms: object,
    beats: object,
    takeover: object,
    force: object,
    token_digest: object,
    now_ms: object,
) -> _Parts:
    """Rules 2 to 5 at ``now_ms``: granted, renewed or busy."""

def heartbeat(record: object, *, token_digest: object, now_ms: object) -> _Parts:
    """Rules 6 to 8 at ``now_ms``: renewed, expired or lost."""

def release(record: object, *, token_digest: object, now_ms: object) -> _Parts:
    """Rules 8 and 9 at ``now_ms``: released, already released or lost."""

def sweep(record: object, *, now_ms: object) -> _Parts:
    """Rule 10 at ``now_ms``: expired or untouched."""

def view(record: object, *, now_ms: object) -> dict[str, Any]:
    """The public view at ``now_ms`` (the core's ``LeaseView`` JSON)."""

@final
class ManualClock:
    """The store's manual clock: moves only when told to; share it between stores."""

    def __new__(cls, now_ms: object) -> ManualClock: ...
    def set(self, now_ms: object) -> None:
        """Moves the clock to ``now_ms``, forwards or backwards."""

    def advance(self, delta_ms: object) -> int:
        """Moves the clock by ``delta_ms``; answers the new instant. Refuses to leave the range."""

    @property
    def now_ms(self) -> int:
        """The clock's instant in UTC milliseconds."""

@final
class Store:
    """The core's SQLite lease store; operations release the GIL during SQLite work."""

    def __new__(
        cls,
        path: object,
        *,
        synchronous: object,
        busy_timeout_ms: object,
        clock: ManualClock | None = None,
    ) -> Store: ...
    @property
    def path(self) -> str:
        """The database file."""

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""

    def now_ms(self) -> int:
        """The store clock's instant in UTC milliseconds."""

    def acquire(
        self,
        scope: object,
        resource_id: object,
        *,
        owner: object,
        session_id: object,
        interval_ms: object,
        beats: object,
        takeover: object,
        force: object,
    ) -> tuple[int, dict[str, Any], str | None]:
        """Rules 2 to 5: ``(at_ms, outcome, token)``; the token only on a grant or renewal."""

    def heartbeat(self, scope: object, resource_id: object, token: object) -> dict[str, Any]:
        """Rules 6 to 8: ``{"at": ms, "outcome": ...}``."""

    def release(self, scope: object, resource_id: object, token: object) -> dict[str, Any]:
        """Rules 8 and 9: ``{"at": ms, "outcome": ...}``."""

    def status(self, scope: object, resource_id: object) -> dict[str, Any]:
        """The public view: ``{"at": ms, "view": ...}``. Takes no write lock."""

    def history(
        self, scope: object, resource_id: object, *, limit: object, before: object = None
    ) -> list[dict[str, Any]]:
        """Events newest first: ``sequence``, ``kind``, ``at``, ``owner``, ``session_id``,
        ``fence``, ``actor``. ``limit`` is 1 to 1000; ``before`` is a sequence number."""

    def holders(self, scope: object) -> dict[str, Any]:
        """Held resources of a scope: ``{"at", "scope", "holders": [{"id", "lease"}]}``."""

    def sweep(self) -> dict[str, Any]:
        """Ends stale leases as expired: ``{"at", "expired", "changed_since_read",
        "unreadable", "batches"}``."""

    def prune_tombstones(self, ended_before_ms: object) -> dict[str, Any]:
        """Empties tombstones ended before the instant: ``{"pruned", "events_deleted"}``."""

    def settings(self) -> dict[str, Any]:
        """The pragmas in force: ``journal_mode``, ``synchronous``, ``busy_timeout_ms``,
        ``foreign_keys``, ``schema_version``."""

    def close(self) -> None:
        """Closes the store; running calls finish, later ones raise StorageError."""
