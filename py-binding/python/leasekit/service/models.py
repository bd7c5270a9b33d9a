"""The HTTP contract: request bodies (unknown fields forbidden) and the documented responses."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

MIN_INTERVAL_S = 5
MAX_INTERVAL_S = 3600
DEFAULT_INTERVAL_S = 60
MAX_HISTORY_LIMIT = 1000
DEFAULT_HISTORY_LIMIT = 50

EndReason = Literal["released", "expired", "taken_over", "forced"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LockRequest(_Strict):
    """Ask for the project's lease. The owner is the authenticated caller."""

    session_id: StrictStr = Field(
        description="The editing client: 1 to 128 characters of [A-Za-z0-9_.:-]."
    )
    heartbeat_interval_s: StrictInt = Field(
        DEFAULT_INTERVAL_S,
        ge=MIN_INTERVAL_S,
        le=MAX_INTERVAL_S,
        description="Seconds between heartbeats; stale after 3 missed intervals.",
    )
    takeover: StrictBool = Field(
        False, description="Take over your own lease from another session."
    )
    force: StrictBool = Field(False, description="Take another owner's live lease (admins only).")


class LeaseRequest(_Strict):
    """Prove you hold the lease: the ``lease_id`` returned by the grant."""

    lease_id: StrictStr = Field(description="The secret lease token from the grant.")


class PreviousHolder(BaseModel):
    """The lease a grant replaced, and how it ended."""

    owner: str
    session_id: str
    fence: int
    ended: EndReason


class LockGrant(BaseModel):
    """A granted or refreshed lease. ``lease_id`` is the secret; it appears nowhere else."""

    project_id: str
    owner: str
    session_id: str
    lease_id: str
    fence: int
    acquired_at: str
    heartbeat_at: str
    expires_at: str
    heartbeat_interval_s: int | float
    stale_after_s: int | float
    server_time: str
    previous: PreviousHolder | None


class LockView(BaseModel):
    """The public view of a project's lease. Holder fields are null when nobody holds it."""

    project_id: str
    held: bool
    owner: str | None
    session_id: str | None
    fence: int = Field(description="The last fence handed out; 0 if never locked.")
    acquired_at: str | None
    heartbeat_at: str | None
    expires_at: str | None
    heartbeat_interval_s: int | float | None
    stale: bool
    server_time: str


class LockedView(LockView):
    """The holder named by a refusal, and whether it is the caller's own owner."""

    same_owner: bool


class UnlockResult(BaseModel):
    """``released`` is false when the token's lease had already ended or was superseded."""

    project_id: str
    released: bool
    fence: int
    reason: Literal["already_released", "superseded"] | None = None


class HistoryEvent(BaseModel):
    """One transition of the project's lease."""

    kind: Literal["acquired", "renewed", "taken_over", "forced", "released", "expired"]
    at: str
    owner: str
    session_id: str
    fence: int
    actor: str | None


class LockHistory(BaseModel):
    """Transitions, newest first."""

    project_id: str
    events: list[HistoryEvent]


class ErrorDetail(BaseModel):
    """The field at fault and the rule it breaks."""

    field: str
    reason: str


class ErrorEnvelope(BaseModel):
    """The backend's error envelope."""

    error: str
    message: str
    code: str
    details: list[ErrorDetail]
    trace_id: str
    timestamp: str


class LockedEnvelope(ErrorEnvelope):
    """409 ``PROJECT_LOCKED``: the envelope plus the current holder."""

    lock: LockedView


class LeaseRefusedEnvelope(ErrorEnvelope):
    """409 ``LEASE_LOST`` or ``LEASE_EXPIRED``: the envelope plus the current holder, if any."""

    lock: LockView | None


class Health(BaseModel):
    """Liveness and the server's clock."""

    status: Literal["ok"]
    server_time: str
