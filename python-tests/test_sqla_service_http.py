"""The service on the SQLAlchemy backend: the HTTP contract again, and ``--database-url``.

Every test of ``test_service_http`` that goes through its ``client`` fixture is collected again
here, where ``client`` serves an app whose leases live in a fresh SQLAlchemy database
(``ServiceSettings(database_url=...)``, what ``leasekit serve --database-url`` runs), once on
SQLite and once on PostgreSQL. Then what only this backend has: the URL checks of the command
line, the sweeper, and the real process on a PostgreSQL or SQLite URL.
"""

from __future__ import annotations

import asyncio
import inspect
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import text

import test_service_http as contract
from leasekit import ManualClock
from leasekit.cli import main
from leasekit.service.app import ServiceSettings, create_app
from leasekit.service.auth import dev_identity, token_identity
from leasekit.sqla import open_engine
from service_process import running_service
from sqla_support import DATABASES, fresh_database_url

pytest_plugins = ["sqla_support"]

clock = contract.clock
for _name, _test in list(vars(contract).items()):
    if _name.startswith("test_") and "client" in inspect.signature(_test).parameters:
        globals()[_name] = pytest.mark.asyncio(_test)


@pytest_asyncio.fixture(params=DATABASES)
async def client(
    request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock
) -> AsyncIterator[httpx.AsyncClient]:
    """The contract's client, on an app that keeps its leases in a SQLAlchemy database."""
    async with fresh_database_url(request.param, tmp_path) as url:
        settings = ServiceSettings(
            db_path=tmp_path / "never-opened.db",
            database_url=url,
            identity=token_identity(contract._principals()),
            clock=clock,
            sweep_interval_s=3600,
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://leasekit") as http:
                yield http
        assert not settings.db_path.exists(), "the Rust store's file must stay unopened"


def test_the_contract_is_collected_again_here() -> None:
    collected = [name for name in globals() if name.startswith("test_")]
    assert len(collected) > 20
    assert "test_first_lock_grants_fence_one_with_every_field" in collected


@pytest.mark.asyncio
@pytest.mark.parametrize("dialect", DATABASES)
async def test_the_service_keeps_its_leases_in_the_database_url(
    dialect: str, tmp_path: Path, clock: ManualClock
) -> None:
    async with fresh_database_url(dialect, tmp_path) as url:
        settings = ServiceSettings(
            db_path=tmp_path / "never-opened.db",
            database_url=url,
            identity=dev_identity(),
            clock=clock,
            sweep_interval_s=3600,
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://leasekit") as http:
                grant = await http.post(
                    "/v1/projects/p1/lock",
                    json={"session_id": "tab-1"},
                    headers={"X-Leasekit-User": "alice"},
                )
        assert grant.status_code == 200, grant.text

        engine = open_engine(url)
        try:
            async with engine.connect() as connection:
                rows = await connection.execute(
                    text("SELECT scope, resource_id, owner, fence, state FROM leases")
                )
                stored = [tuple(row) for row in rows]
        finally:
            await engine.dispose()
    assert stored == [("project", "p1", "alice", 1, "held")]
    assert not settings.db_path.exists()


@pytest.mark.asyncio
@pytest.mark.parametrize("dialect", DATABASES)
async def test_the_sweeper_ends_stale_leases_on_the_sqlalchemy_backend(
    dialect: str, tmp_path: Path, clock: ManualClock
) -> None:
    async with fresh_database_url(dialect, tmp_path) as url:
        settings = ServiceSettings(
            db_path=tmp_path / "never-opened.db",
            database_url=url,
            identity=dev_identity(),
            clock=clock,
            sweep_interval_s=0.01,
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://leasekit") as http:
                await http.post(
                    "/v1/projects/p1/lock", json={"session_id": "s", "heartbeat_interval_s": 5}
                )
                clock.advance(15_001)
                for _ in range(500):
                    history = (await http.get("/v1/projects/p1/lock/history")).json()["events"]
                    if history[0]["kind"] == "expired":
                        break
                    await asyncio.sleep(0.01)

    assert [event["kind"] for event in history] == ["expired", "acquired"]
    assert history[0]["actor"] is None


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("not a url", "not a SQLAlchemy database URL"),
        ("postgresql+psycopg2://u@localhost/db", "postgresql+psycopg2 is not supported"),
        ("mysql+aiomysql://u@localhost/db", "mysql+aiomysql is not supported"),
    ],
)
def test_serve_refuses_a_database_url_it_cannot_serve(
    url: str, complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_status:
        main(["serve", "--database-url", url])

    assert exit_status.value.code == 2
    assert complaint in capsys.readouterr().err


def test_serve_takes_either_a_file_or_a_database_url(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_status:
        main(["serve", "--db", "x.db", "--database-url", "sqlite+aiosqlite:///y.db"])

    assert exit_status.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_the_url_check_never_repeats_a_password(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--database-url", "postgresql+psycopg2://u:hunter2@localhost/db"])

    assert "hunter2" not in capsys.readouterr().err


@pytest.mark.asyncio
@pytest.mark.parametrize("dialect", DATABASES)
async def test_serve_with_a_database_url_runs_a_session_and_stops_on_sigterm(
    dialect: str, tmp_path: Path
) -> None:
    async with fresh_database_url(dialect, tmp_path) as url:
        args = ("--auth", "dev", "--database-url", url)
        async with asyncio.timeout(120):
            log, answers = await asyncio.to_thread(_drive_real_service, tmp_path, args)

    grant, refused, unlocked = answers
    assert grant.status_code == 200, grant.text
    assert refused.status_code == 409
    assert refused.json()["code"] == "PROJECT_LOCKED"
    assert unlocked.json() == {"project_id": "apollo", "released": True, "fence": 1}
    assert "lease acquired" in log
    assert "lease store closed" in log
    assert grant.json()["lease_id"] not in log
    assert not (tmp_path / "leasekit.db").exists()


def _drive_real_service(
    workdir: Path, args: tuple[str, ...]
) -> tuple[str, tuple[httpx.Response, httpx.Response, httpx.Response]]:
    with running_service(workdir, *args) as service:
        base = service.base_url

        def post(path: str, user: str, body: dict[str, object]) -> httpx.Response:
            headers = {"X-Leasekit-User": user}
            return httpx.post(f"{base}{path}", json=body, headers=headers, timeout=10)

        grant = post("/v1/projects/apollo/lock", "alice", {"session_id": "tab-1"})
        refused = post("/v1/projects/apollo/lock", "bob", {"session_id": "laptop"})
        token = grant.json().get("lease_id", "")
        unlocked = post("/v1/projects/apollo/unlock", "alice", {"lease_id": token})
        assert service.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
        return service.log(), (grant, refused, unlocked)
