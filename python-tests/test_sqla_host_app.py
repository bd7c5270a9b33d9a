"""The README's "FastAPI + SQLAlchemy backend" recipe, run as a host app would run it.

A host with its own declarative ``Base``, engine, sessions, principal middleware and error
base mounts the project-lock router on :class:`leasekit.sqla.SqlLeaseBackend` and replaces its
deployment lock module with :class:`leasekit.locks.DeploymentLocks`; one database holds the
host's own table and the lease tables, created from one ``MetaData``. On SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import String, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from leasekit import ManualClock
from leasekit.locks import DeploymentLocks
from leasekit.service import create_router
from leasekit.sqla import SqlLeaseBackend, define_tables, open_engine
from sqla_support import DATABASES, fresh_database_url

pytest_plugins = ["sqla_support"]


class Base(DeclarativeBase):
    """The host's declarative base: its own tables and, through define_tables, leasekit's."""


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))


lease_tables = define_tables(Base.metadata)


class HostError(Exception):
    """The host's error base, rendered by the host's own handler (keyword-only, like the
    backend's)."""

    status = 400
    error = "error"
    code = "ERROR"

    def __init__(self, *, message: str = "", details: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


@dataclass
class HostPrincipal:
    actor_id: str
    role: str


@dataclass
class HostApp:
    http: httpx.AsyncClient
    sessions: async_sessionmaker[AsyncSession]
    locks: DeploymentLocks


@pytest_asyncio.fixture(params=DATABASES)
async def host(
    request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock
) -> AsyncIterator[HostApp]:
    async with fresh_database_url(request.param, tmp_path) as url:
        engine = open_engine(url)
        async with engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
        sessions = async_sessionmaker(engine, expire_on_commit=False)

        app = FastAPI()
        app.include_router(create_router(SqlLeaseBackend(sessions, lease_tables, clock=clock)))

        @app.middleware("http")
        async def authenticate(
            request: Request, call_next: Callable[[Request], Awaitable[Response]]
        ) -> Response:
            user = request.headers.get("X-User")
            if user is not None:
                request.state.principal = HostPrincipal(actor_id=user, role="operator")
            return await call_next(request)

        @app.exception_handler(HostError)
        async def render(request: Request, failure: Exception) -> JSONResponse:
            assert isinstance(failure, HostError)
            body: dict[str, Any] = {"code": failure.code, "details": failure.details}
            return JSONResponse(body, status_code=failure.status)

        @app.post("/v1/deployments/{deployment_id}/start")
        async def start(deployment_id: str, request: Request) -> dict[str, Any]:
            async with sessions() as session, session.begin():
                lock = await locks.acquire_lock(
                    session, deployment_id=deployment_id, owner=request.headers["X-User"],
                    interval_s=30,
                )  # fmt: skip
            return {"fence": lock.fence}

        locks = DeploymentLocks(lease_tables, error_base=HostError, clock=clock)
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://host") as http:
                yield HostApp(http, sessions, locks)
        finally:
            await engine.dispose()


@pytest.mark.asyncio
async def test_the_router_serves_project_locks_from_the_hosts_sessions(host: HostApp) -> None:
    async with host.sessions() as session, session.begin():
        session.add(Project(id="apollo", name="Apollo"))

    grant = await host.http.post(
        "/v1/projects/apollo/lock", json={"session_id": "tab-1"}, headers={"X-User": "alice"}
    )
    refused = await host.http.post(
        "/v1/projects/apollo/lock", json={"session_id": "tab-9"}, headers={"X-User": "bob"}
    )
    anonymous = await host.http.get("/v1/projects/apollo/lock")

    assert grant.status_code == 200, grant.text
    assert (grant.json()["owner"], grant.json()["fence"]) == ("alice", 1)
    assert refused.status_code == 409
    assert refused.json()["code"] == "PROJECT_LOCKED"
    assert anonymous.status_code == 401
    async with host.sessions() as session:
        assert (await session.scalars(select(Project.name))).all() == ["Apollo"]


@pytest.mark.asyncio
async def test_the_drop_in_lock_module_raises_the_hosts_error(host: HostApp) -> None:
    first = await host.http.post("/v1/deployments/dep-1/start", headers={"X-User": "attempt-1"})
    second = await host.http.post("/v1/deployments/dep-1/start", headers={"X-User": "attempt-2"})

    assert first.json() == {"fence": 1}
    assert second.status_code == 409
    assert second.json()["code"] == "DEPLOYMENT_LOCKED"
    (detail,) = second.json()["details"]
    assert detail["field"] == "deployment_id"
    assert detail["reason"].startswith("held by attempt-1 since ")
