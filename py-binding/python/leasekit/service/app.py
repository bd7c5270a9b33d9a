"""The standalone lease service: the routes, the envelope everywhere, a sweeper, a health check.

``create_app`` assembles what a host app would otherwise provide: authentication, error
handlers that speak the backend's envelope for every failure, a request body limit, trace ids
on every response, CORS for a UI on another origin, and a background task that ends stale leases
as expired so the store's answers stay current even when nobody asks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leasekit import AsyncLeaseStore, ManualClock, __version__

from .auth import IdentitySource
from .envelope import (
    TRACE_HEADER,
    ApiError,
    envelope_response,
    install_error_handlers,
    trace_id_for,
)
from .models import Health
from .routes import LeaseBackend, create_router, now_iso
from .webui import mount_ui

MAX_BODY_BYTES = 64 * 1024
"""Largest request body the service reads; larger ones get 413."""

LOOPBACK_HOST_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]"})
"""``Host`` names a dev-auth service answers to."""

_logger = logging.getLogger("leasekit.service")


@dataclass(frozen=True)
class ServiceSettings:
    """How the standalone service runs."""

    db_path: Path
    identity: IdentitySource
    cors_origins: Sequence[str] = ()
    sweep_interval_s: float = 5.0
    beats: int = 3
    synchronous: Literal["normal", "full"] = "normal"
    busy_timeout_ms: int = 5000
    clock: ManualClock | None = None
    database_url: str | None = None
    """A SQLAlchemy async URL (``postgresql+asyncpg://...``, ``sqlite+aiosqlite:///...``): when
    set, the leases live there, through :class:`leasekit.sqla.SqlLeaseBackend`, instead of in
    the SQLite file ``db_path`` (needs the ``sqlalchemy`` extra)."""
    loopback_hosts_only: bool = False
    """Answer only requests whose ``Host`` is a loopback name (dev auth: a page on another site
    cannot reach the service through a DNS name that resolves to 127.0.0.1)."""
    ui_dir: Path | None = None
    """The built browser demo (page, worker, wasm) to serve at ``/``; ``None``: no page."""


class ServedBackend(LeaseBackend, Protocol):
    """A lease backend the standalone service opens, sweeps and closes."""

    async def sweep(self) -> object: ...

    async def close(self) -> None: ...


def database_label(settings: ServiceSettings) -> str:
    """Where the service keeps its leases, for logs: the file, or the URL without password."""
    if settings.database_url is None:
        return str(settings.db_path)
    from sqlalchemy.engine import make_url  # noqa: PLC0415 - only with the sqlalchemy extra

    return make_url(settings.database_url).render_as_string(hide_password=True)


async def open_backend(settings: ServiceSettings) -> ServedBackend:
    """The Rust SQLite store on ``db_path``, or the SQLAlchemy backend on ``database_url``."""
    if settings.database_url is None:
        return AsyncLeaseStore(
            settings.db_path,
            synchronous=settings.synchronous,
            busy_timeout_ms=settings.busy_timeout_ms,
            clock=settings.clock,
        )
    from leasekit.sqla import SqlLeaseBackend  # noqa: PLC0415 - only with the sqlalchemy extra

    return await SqlLeaseBackend.open(settings.database_url, clock=settings.clock)


class RequestGuardMiddleware:
    """Reads a request body whole before the app sees it, refusing one over ``limit`` bytes
    (declared or streamed) with 413, and a body that is not declared as JSON with 415.

    Buffering costs nothing here: every accepted body is at most ``limit`` bytes, and the app
    would read it whole anyway. It lets a streamed body that grows too large get the same
    answer as a declared one, before the app has started to parse it.
    """

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, send, _too_large(self.limit))
            return

        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            size += len(message.get("body", b""))
            if size > self.limit:
                await self._refuse(scope, send, _too_large(self.limit))
                return
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
        media_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if size > 0 and media_type != b"application/json":
            await self._refuse(scope, send, _not_json())
            return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(scope: Scope, send: Send, failure: ApiError) -> None:
        response = envelope_response(Request(scope), failure)
        await response(scope, _no_receive, send)


class LoopbackHostMiddleware:
    """Answers only requests whose ``Host`` header names a loopback address.

    Dev auth trusts a header for identity and listens on loopback only; this also stops a page
    on another site from reaching it through a DNS name that resolves to 127.0.0.1.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _host_name(scope) not in LOOPBACK_HOST_NAMES:
            failure = ApiError(
                400,
                "invalid_host",
                "INVALID_HOST",
                "development auth answers only to loopback host names",
                [{"field": "Host", "reason": "must be localhost, 127.0.0.1 or [::1]"}],
            )
            response = envelope_response(Request(scope), failure)
            await response(scope, _no_receive, send)
            return
        await self.app(scope, receive, send)


def _host_name(scope: Scope) -> str:
    raw: bytes = dict(scope["headers"]).get(b"host", b"")
    host = raw.decode("latin-1").lower()
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        "payload_too_large",
        "PAYLOAD_TOO_LARGE",
        f"request body exceeds {limit} bytes",
        [{"field": "body", "reason": f"must be at most {limit} bytes"}],
    )


def _not_json() -> ApiError:
    reason = "must be application/json"
    return ApiError(
        415,
        "unsupported_media_type",
        "UNSUPPORTED_MEDIA_TYPE",
        f"Content-Type: {reason}",
        [{"field": "Content-Type", "reason": reason}],
    )


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


class TraceIdMiddleware:
    """Gives every request a trace id (the caller's, when well formed) and echoes it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        trace_id = trace_id_for(Request(scope))

        async def send_with_trace(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() != TRACE_HEADER.lower().encode()
                ]
                headers.append((TRACE_HEADER.encode(), trace_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_trace)


async def sweep_forever(store: ServedBackend, interval_s: float) -> None:
    """Ends stale leases as expired every ``interval_s`` seconds until cancelled."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await store.sweep()
        except Exception:
            _logger.exception("sweep failed; will retry")


def create_app(settings: ServiceSettings) -> FastAPI:
    """The standalone service app for ``settings``."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = await open_backend(settings)
        app.state.lease_backend = store
        sweeper = asyncio.create_task(sweep_forever(store, settings.sweep_interval_s))
        try:
            yield
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            app.state.lease_backend = None
            await store.close()
            _logger.info("lease store closed", extra={"db": database_label(settings)})

    app = FastAPI(
        title="leasekit",
        summary="Who is editing this project right now: project leases over HTTP.",
        version=__version__,
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(create_router(identity=settings.identity, beats=settings.beats))

    @app.get("/healthz", response_model=Health, tags=["service"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "server_time": now_iso()}

    if settings.ui_dir is not None:
        mount_ui(app, settings.ui_dir)

    # Starlette runs the middleware added last first: trace ids wrap everything, CORS headers
    # reach even the guard's 413 and 415 answers, and dev auth answers only to loopback names.
    app.add_middleware(RequestGuardMiddleware)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", TRACE_HEADER, "X-Leasekit-User"],
            expose_headers=[TRACE_HEADER],
        )
    if settings.loopback_hosts_only:
        app.add_middleware(LoopbackHostMiddleware)
    app.add_middleware(TraceIdMiddleware)
    return app


__all__ = [
    "LOOPBACK_HOST_NAMES",
    "MAX_BODY_BYTES",
    "LoopbackHostMiddleware",
    "RequestGuardMiddleware",
    "ServedBackend",
    "ServiceSettings",
    "TraceIdMiddleware",
    "create_app",
    "database_label",
    "open_backend",
    "sweep_forever",
]
