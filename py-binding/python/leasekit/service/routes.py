"""The project-lock routes, as a router factory a host FastAPI app can include.

The routes are thin: they authenticate the caller, check what its role allows, hand the request
to a lease backend (the Rust SQLite store by default), and render the answer in the backend's
shapes. Every lease decision is the Rust core's; nothing here judges a lease.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Annotated, Any, ParamSpec, Protocol

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from leasekit import (
    InvalidInput,
    Lease,
    LeaseEvent,
    LeaseExpired,
    LeaseHeld,
    LeaseLost,
    LeaseStatus,
    Release,
    StorageError,
)
from leasekit.rules import RESOURCE_ID_PATTERN

from .auth import IdentitySource, Principal, access_denied, auth_required, host_principal
from .envelope import (
    TRACE_HEADER,
    ApiError,
    envelope_response,
    trace_id_for,
    utc_iso,
    validation_error,
)
from .models import (
    DEFAULT_HISTORY_LIMIT,
    MAX_HISTORY_LIMIT,
    ErrorEnvelope,
    LeaseRefusedEnvelope,
    LeaseRequest,
    LockedEnvelope,
    LockGrant,
    LockHistory,
    LockRequest,
    LockView,
    UnlockResult,
)

P = ParamSpec("P")
_logger = logging.getLogger("leasekit.service")


class LeaseBackend(Protocol):
    """What the routes need from a lease store; ``leasekit.AsyncLeaseStore`` provides it."""

    async def acquire(
        self,
        scope: str,
        resource_id: str,
        *,
        owner: str,
        session_id: str,
        interval_ms: int,
        beats: int,
        takeover: bool,
        force: bool,
    ) -> Lease: ...

    async def heartbeat(self, scope: str, resource_id: str, token: str) -> Lease: ...

    async def release(self, scope: str, resource_id: str, token: str) -> Release: ...

    async def status(self, scope: str, resource_id: str) -> LeaseStatus: ...

    async def history(self, scope: str, resource_id: str, limit: int) -> list[LeaseEvent]: ...


ProjectId = Annotated[
    str,
    Path(
        description="The project: ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        json_schema_extra={"pattern": RESOURCE_ID_PATTERN, "maxLength": 64},
    ),
]

_FIELD_NAMES = {"resource_id": "project_id", "id": "project_id", "token": "lease_id"}

_ENVELOPE = {"model": ErrorEnvelope}
_COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    401: _ENVELOPE,
    403: _ENVELOPE,
    413: _ENVELOPE,
    422: _ENVELOPE,
}


def _enveloped(
    route: Callable[P, Awaitable[JSONResponse]],
) -> Callable[P, Awaitable[JSONResponse]]:
    """Renders an ``ApiError`` raised by a route as the envelope, even in a host app that
    installed no handler of ours."""

    @functools.wraps(route)
    async def guarded(*args: P.args, **kwargs: P.kwargs) -> JSONResponse:
        request = kwargs["request"]
        if not isinstance(request, Request):
            raise TypeError("an enveloped route takes the request as keyword 'request'")
        try:
            response = await route(*args, **kwargs)
        except ApiError as failure:
            return envelope_response(request, failure)
        response.headers[TRACE_HEADER] = trace_id_for(request)
        return response

    return guarded


def _invalid(error: InvalidInput) -> ApiError:
    """A 422 naming the HTTP field (``project_id``, ``lease_id``) rather than the store's
    argument, in the details and in the message."""
    field = _FIELD_NAMES.get(error.field, error.field)
    reason = str(error)
    if reason.startswith(error.field):
        reason = field + reason[len(error.field) :]
    return validation_error(field, reason)


def _seconds(milliseconds: int) -> int | float:
    return milliseconds // 1000 if milliseconds % 1000 == 0 else milliseconds / 1000


def _optional_iso(instant: datetime | None) -> str | None:
    return None if instant is None else utc_iso(instant)


def grant_body(project_id: str, lease: Lease, lease_id: str) -> dict[str, Any]:
    """The 200 body of a lock or heartbeat: the grant, with the secret ``lease_id``.

    Only the holder gets this body: the caller who was just granted the token, or the caller
    who proved it holds the token by heartbeating with it.
    """
    previous = lease.previous
    return {
        "project_id": project_id,
        "owner": lease.owner,
        "session_id": lease.session_id,
        "lease_id": lease_id,
        "fence": lease.fence,
        "acquired_at": utc_iso(lease.acquired_at),
        "heartbeat_at": utc_iso(lease.heartbeat_at),
        "expires_at": utc_iso(lease.expires_at),
        "heartbeat_interval_s": _seconds(lease.interval_ms),
        "stale_after_s": _seconds(lease.stale_after_ms),
        "server_time": utc_iso(lease.server_time),
        "previous": None
        if previous is None
        else {
            "owner": previous.owner,
            "session_id": previous.session_id,
            "fence": previous.fence,
            "ended": previous.ended,
        },
    }


def view_body(project_id: str, status: LeaseStatus) -> dict[str, Any]:
    """The public view of a project's lease: never a token."""
    return {
        "project_id": project_id,
        "held": status.held,
        "owner": status.owner,
        "session_id": status.session_id,
        "fence": status.fence,
        "acquired_at": _optional_iso(status.acquired_at),
        "heartbeat_at": _optional_iso(status.heartbeat_at),
        "expires_at": _optional_iso(status.expires_at),
        "heartbeat_interval_s": None
        if status.interval_ms is None
        else _seconds(status.interval_ms),
        "stale": status.stale,
        "server_time": utc_iso(status.server_time),
    }


def _expired_view(project_id: str, lease: Lease) -> dict[str, Any]:
    """The public view of a lease that a heartbeat found stale."""
    return {
        "project_id": project_id,
        "held": True,
        "owner": lease.owner,
        "session_id": lease.session_id,
        "fence": lease.fence,
        "acquired_at": utc_iso(lease.acquired_at),
        "heartbeat_at": utc_iso(lease.heartbeat_at),
        "expires_at": utc_iso(lease.expires_at),
        "heartbeat_interval_s": _seconds(lease.interval_ms),
        "stale": True,
        "server_time": utc_iso(lease.server_time),
    }


def _locked(project_id: str, refusal: LeaseHeld) -> ApiError:
    holder = refusal.holder
    since = utc_iso(holder.acquired_at) if holder.acquired_at else "unknown"
    reason = f"held by {holder.owner} since {since}"
    lock = view_body(project_id, holder) | {"same_owner": refusal.same_owner}
    return ApiError(
        409,
        "project_locked",
        "PROJECT_LOCKED",
        f"project {project_id} is locked: {reason}",
        [{"field": "project_id", "reason": reason}],
        {"lock": lock},
    )


def _lease_refused(project_id: str, refusal: LeaseLost | LeaseExpired) -> ApiError:
    if isinstance(refusal, LeaseExpired):
        lock: dict[str, Any] | None = _expired_view(project_id, refusal.lease)
        error, code = "lease_expired", "LEASE_EXPIRED"
        reason = "the lease went stale; it is not revived; acquire again"
    else:
        lock = None if refusal.current is None else view_body(project_id, refusal.current)
        error, code = "lease_lost", "LEASE_LOST"
        reason = "not the current lease: released, taken over, forced, or never granted"
    return ApiError(
        409,
        error,
        code,
        f"project {project_id}: {reason}",
        [{"field": "lease_id", "reason": reason}],
        {"lock": lock},
    )


def _unavailable(error: StorageError) -> ApiError:
    _logger.error("lease store unavailable: %s", error, extra={"code": error.code})
    return ApiError(503, "storage_unavailable", "STORAGE_UNAVAILABLE", str(error))


class _ProjectLockRoutes:
    """The route handlers, bound to one backend, identity source, scope and stale threshold."""

    def __init__(
        self, backend: LeaseBackend | None, identity: IdentitySource, scope: str, beats: int
    ) -> None:
        self.backend = backend
        self.identity = identity
        self.scope = scope
        self.beats = beats

    def store(self, request: Request) -> LeaseBackend:
        if self.backend is not None:
            return self.backend
        opened: LeaseBackend | None = getattr(request.app.state, "lease_backend", None)
        if opened is None:
            raise ApiError(503, "storage_unavailable", "STORAGE_UNAVAILABLE", "no lease store")
        return opened

    async def caller(self, request: Request) -> Principal:
        principal = await self.identity(request)
        if principal is None:
            raise auth_required()
        return principal

    async def writer(self, request: Request) -> Principal:
        principal = await self.caller(request)
        if not principal.may_write:
            raise access_denied(f"role {principal.role} may only read project locks")
        return principal

    async def lock(
        self, project_id: ProjectId, body: LockRequest, request: Request
    ) -> JSONResponse:
        principal = await self.writer(request)
        if body.force and not principal.may_force:
            raise access_denied("force requires the admin role")

        with _lease_errors(project_id):
            lease = await self.store(request).acquire(
                self.scope,
                project_id,
                owner=principal.actor_id,
                session_id=body.session_id,
                interval_ms=body.heartbeat_interval_s * 1000,
                beats=self.beats,
                takeover=body.takeover,
                force=body.force,
            )
        if lease.token is None:
            raise ApiError(500, "internal_error", "INTERNAL", "grant without a token")
        return JSONResponse(grant_body(project_id, lease, lease.token))

    async def heartbeat(
        self, project_id: ProjectId, body: LeaseRequest, request: Request
    ) -> JSONResponse:
        await self.writer(request)
        with _lease_errors(project_id):
            lease = await self.store(request).heartbeat(self.scope, project_id, body.lease_id)
        return JSONResponse(grant_body(project_id, lease, body.lease_id))

    async def unlock(
        self, project_id: ProjectId, body: LeaseRequest, request: Request
    ) -> JSONResponse:
        await self.writer(request)
        with _lease_errors(project_id):
            released = await self.store(request).release(self.scope, project_id, body.lease_id)

        answer: dict[str, Any] = {
            "project_id": project_id,
            "released": released.released,
            "fence": released.fence,
        }
        if not released.released:
            answer["reason"] = released.reason
        return JSONResponse(answer)

    async def status(self, project_id: ProjectId, request: Request) -> JSONResponse:
        await self.caller(request)
        with _lease_errors(project_id):
            current = await self.store(request).status(self.scope, project_id)
        return JSONResponse(view_body(project_id, current))

    async def history(
        self,
        project_id: ProjectId,
        request: Request,
        limit: Annotated[int, Query(ge=1, le=MAX_HISTORY_LIMIT)] = DEFAULT_HISTORY_LIMIT,
    ) -> JSONResponse:
        await self.caller(request)
        with _lease_errors(project_id):
            events = await self.store(request).history(self.scope, project_id, limit)
        return JSONResponse({"project_id": project_id, "events": [_event(e) for e in events]})


@contextlib.contextmanager
def _lease_errors(project_id: str) -> Iterator[None]:
    """Turns the store's refusals, bad-input and storage errors into their HTTP answers."""
    try:
        yield
    except LeaseHeld as refusal:
        raise _locked(project_id, refusal) from None
    except (LeaseLost, LeaseExpired) as refusal:
        raise _lease_refused(project_id, refusal) from None
    except InvalidInput as bad:
        raise _invalid(bad) from None
    except StorageError as failure:
        raise _unavailable(failure) from None


def _event(event: LeaseEvent) -> dict[str, Any]:
    return {
        "kind": event.kind,
        "at": utc_iso(event.at),
        "owner": event.owner,
        "session_id": event.session_id,
        "fence": event.fence,
        "actor": event.actor,
    }


def create_router(
    backend: LeaseBackend | None = None,
    *,
    identity: IdentitySource = host_principal,
    scope: str = "project",
    beats: int = 3,
) -> APIRouter:
    """The project-lock routes under ``/v1/projects``.

    ``backend`` is a lease store; when it is ``None`` the routes use the store the app keeps in
    ``app.state.lease_backend`` (so it can be opened at startup). ``identity`` resolves the
    caller; by default the principal a host left in ``request.state.principal``. ``beats`` is
    how many missed intervals make a lease stale.
    """
    routes = _ProjectLockRoutes(backend, identity, scope, beats)
    router = APIRouter(prefix="/v1/projects", tags=["project locks"], responses=_COMMON_ERRORS)
    router.add_api_route(
        "/{project_id}/lock",
        _enveloped(routes.lock),
        methods=["POST"],
        response_model=LockGrant,
        responses={409: {"model": LockedEnvelope}},
        summary="Acquire, renew, take over or force the project's lease",
    )
    router.add_api_route(
        "/{project_id}/heartbeat",
        _enveloped(routes.heartbeat),
        methods=["POST"],
        response_model=LockGrant,
        responses={409: {"model": LeaseRefusedEnvelope}},
        summary="Keep the lease alive",
    )
    router.add_api_route(
        "/{project_id}/unlock",
        _enveloped(routes.unlock),
        methods=["POST"],
        response_model=UnlockResult,
        summary="Release the lease; safe to retry",
    )
    router.add_api_route(
        "/{project_id}/lock",
        _enveloped(routes.status),
        methods=["GET"],
        response_model=LockView,
        summary="Who holds the project",
    )
    router.add_api_route(
        "/{project_id}/lock/history",
        _enveloped(routes.history),
        methods=["GET"],
        response_model=LockHistory,
        summary="The lease's transitions, newest first",
    )
    return router


def now_iso() -> str:
    """The server's clock, as the API writes times."""
    return utc_iso(datetime.now(UTC))
