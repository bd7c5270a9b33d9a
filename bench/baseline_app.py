"""The baseline HTTP service: the project-lock routes over the plain SQLAlchemy lock module.

It answers the same three routes as ``leasekit serve`` (``POST /v1/projects/{project_id}/lock``,
``/heartbeat``, ``/unlock``) with the same request bodies and the same development identity
(the ``X-Leasekit-User`` header), but keeps its locks the way the backend does today, through
:mod:`baseline_locks`: one ``AsyncSession`` per request, committed at the end. It has no lease
tokens, so ``lease_id`` is parsed and then ignored, and ownership is by user name, as in the
backend. Run it with one uvicorn worker:

    BENCH_BASELINE_DB=/tmp/baseline.db uvicorn --app-dir bench baseline_app:create_app --factory
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import FastAPI, Header, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import baseline_locks

PROJECT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"

ProjectId = Annotated[str, Path(pattern=PROJECT_ID_PATTERN)]
User = Annotated[str, Header(alias="X-Leasekit-User", min_length=1, max_length=128)]


class LockRequest(BaseModel):
    """Ask for the project's lock."""

    model_config = ConfigDict(extra="forbid")

    session_id: str = Field(min_length=1, max_length=128)
    heartbeat_interval_s: int = Field(30, ge=1, le=86_400)


class LeaseRequest(BaseModel):
    """A heartbeat or an unlock; the baseline has no tokens and ignores ``lease_id``."""

    model_config = ConfigDict(extra="forbid")

    lease_id: str


def _refused(status: int, error: str, message: str) -> JSONResponse:
    return JSONResponse({"error": error, "message": message}, status_code=status)


def create_app(db_path: str | None = None) -> FastAPI:
    """The baseline app on ``db_path`` (default: the ``BENCH_BASELINE_DB`` variable)."""
    path = db_path or os.environ["BENCH_BASELINE_DB"]
    engine = baseline_locks.open_engine(path)
    sessions = async_sessionmaker(engine, expire_on_commit=False, class_=AsyncSession)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await baseline_locks.create_tables(engine)
        yield
        await engine.dispose()

    app = FastAPI(lifespan=lifespan)

    @app.post("/v1/projects/{project_id}/lock")
    async def lock(project_id: ProjectId, body: LockRequest, user: User) -> JSONResponse:
        try:
            async with sessions() as session, session.begin():
                row = await baseline_locks.acquire_lock(
                    session,
                    deployment_id=project_id,
                    owner=user,
                    interval_s=body.heartbeat_interval_s,
                )
        except baseline_locks.LockHeldError as held:
            return _refused(409, "deployment_locked", str(held))
        except IntegrityError:
            return _refused(500, "internal_error", "concurrent acquire")
        return JSONResponse(
            {
                "project_id": project_id,
                "owner": row.owner,
                "lease_id": user,
                "heartbeat_at": row.heartbeat_at.isoformat(),
            }
        )

    @app.post("/v1/projects/{project_id}/heartbeat")
    async def beat(project_id: ProjectId, body: LeaseRequest, user: User) -> JSONResponse:
        async with sessions() as session, session.begin():
            alive = await baseline_locks.heartbeat(session, deployment_id=project_id, owner=user)
        if not alive:
            return _refused(409, "lease_lost", f"{project_id} is not held by {user}")
        return JSONResponse({"project_id": project_id, "owner": user, "lease_id": body.lease_id})

    @app.post("/v1/projects/{project_id}/unlock")
    async def unlock(project_id: ProjectId, body: LeaseRequest, user: User) -> JSONResponse:
        async with sessions() as session, session.begin():
            released = await baseline_locks.release_lock(
                session, deployment_id=project_id, owner=user
            )
        return JSONResponse({"project_id": project_id, "released": released})

    return app
