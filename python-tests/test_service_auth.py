"""Identity sources of the service: development header, bearer tokens, a host's principal;
CORS for a UI on another origin; the transition log."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI, Request, Response

from leasekit import AsyncLeaseStore
from leasekit.service import ServiceSettings, create_app, create_router, dev_identity
from leasekit.service.auth import PrincipalsFileError, load_principals


async def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://leasekit")


@pytest.mark.asyncio
async def test_dev_mode_defaults_to_the_development_admin(tmp_path: Path) -> None:
    app = create_app(ServiceSettings(db_path=tmp_path / "dev.db", identity=dev_identity()))

    async with app.router.lifespan_context(app), await _client(app) as http:
        anonymous = await http.post("/v1/projects/p1/lock", json={"session_id": "s"})
        named = await http.post(
            "/v1/projects/p2/lock", json={"session_id": "s"}, headers={"X-Leasekit-User": "zoe"}
        )
        forced = await http.post(
            "/v1/projects/p2/lock",
            json={"session_id": "s", "force": True},
            headers={"X-Leasekit-User": "yann"},
        )

    assert anonymous.json()["owner"] == "development"
    assert named.json()["owner"] == "zoe"
    assert forced.json()["previous"]["ended"] == "forced", "dev users are admins"


@pytest.mark.asyncio
async def test_an_invalid_dev_user_is_a_422_naming_the_header(tmp_path: Path) -> None:
    app = create_app(ServiceSettings(db_path=tmp_path / "dev.db", identity=dev_identity()))

    async with app.router.lifespan_context(app), await _client(app) as http:
        response = await http.post(
            "/v1/projects/p1/lock",
            json={"session_id": "s"},
            headers={"X-Leasekit-User": "x" * 129},
        )

    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "X-Leasekit-User"
    assert "1 to 128 printable characters" in response.json()["details"][0]["reason"]


@pytest.mark.asyncio
async def test_a_dev_user_header_is_read_as_utf8(tmp_path: Path) -> None:
    app = create_app(ServiceSettings(db_path=tmp_path / "dev.db", identity=dev_identity()))

    async with app.router.lifespan_context(app), await _client(app) as http:
        granted = await http.post(
            "/v1/projects/p1/lock",
            json={"session_id": "s"},
            headers=[(b"X-Leasekit-User", "élodie".encode())],
        )
        broken = await http.post(
            "/v1/projects/p2/lock",
            json={"session_id": "s"},
            headers=[(b"X-Leasekit-User", b"\xff\xfe")],
        )

    assert granted.json()["owner"] == "élodie"
    assert broken.status_code == 422
    assert broken.json()["details"] == [
        {"field": "X-Leasekit-User", "reason": "must be UTF-8 text"}
    ]


def _host_app(store: AsyncLeaseStore, role: str) -> FastAPI:
    """A host app whose own middleware authenticates and leaves ``request.state.principal``."""

    class HostPrincipal:
        def __init__(self, actor_id: str, role: str) -> None:
            self.actor_id = actor_id
            self.role = role

    app = FastAPI()

    @app.middleware("http")
    async def authenticate(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if "X-Host-User" in request.headers:
            request.state.principal = HostPrincipal(request.headers["X-Host-User"], role)
        return await call_next(request)

    app.include_router(create_router(store))
    return app


@pytest_asyncio.fixture
async def store(tmp_path: Path) -> AsyncIterator[AsyncLeaseStore]:
    opened = AsyncLeaseStore(tmp_path / "host.db")
    yield opened
    await opened.close()


@pytest.mark.asyncio
async def test_a_host_app_mounts_the_router_with_its_own_principal(store: AsyncLeaseStore) -> None:
    async with await _client(_host_app(store, "operator")) as http:
        granted = await http.post(
            "/v1/projects/p1/lock", json={"session_id": "s"}, headers={"X-Host-User": "ops-1"}
        )
        anonymous = await http.get("/v1/projects/p1/lock")

    assert granted.status_code == 200
    assert granted.json()["owner"] == "ops-1"
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "AUTH_REQUIRED"
    assert (await store.status("project", "p1")).owner == "ops-1"


@pytest.mark.asyncio
async def test_a_host_viewer_may_read_but_not_lock(store: AsyncLeaseStore) -> None:
    async with await _client(_host_app(store, "viewer")) as http:
        refused = await http.post(
            "/v1/projects/p1/lock", json={"session_id": "s"}, headers={"X-Host-User": "v"}
        )
        read = await http.get("/v1/projects/p1/lock", headers={"X-Host-User": "v"})

    assert refused.status_code == 403
    assert refused.json()["code"] == "ACCESS_DENIED"
    assert read.status_code == 200
    assert (await store.status("project", "p1")).fence == 0


@pytest.mark.asyncio
async def test_dev_mode_answers_only_to_loopback_host_names(tmp_path: Path) -> None:
    settings = ServiceSettings(
        db_path=tmp_path / "dev.db", identity=dev_identity(), loopback_hosts_only=True
    )
    app = create_app(settings)

    async with app.router.lifespan_context(app), await _client(app) as http:
        local = [
            await http.get("/healthz", headers={"Host": host})
            for host in ("localhost:8000", "127.0.0.1", "[::1]:8000")
        ]
        rebound = await http.post(
            "/v1/projects/p1/lock",
            json={"session_id": "s", "force": True},
            headers={"Host": "attacker.example"},
        )

    assert [response.status_code for response in local] == [200, 200, 200]
    assert rebound.status_code == 400
    assert rebound.json()["code"] == "INVALID_HOST"


@pytest.mark.asyncio
async def test_cors_headers_reach_even_a_413(tmp_path: Path) -> None:
    settings = ServiceSettings(
        db_path=tmp_path / "cors.db",
        identity=dev_identity(),
        cors_origins=("http://ui.example",),
    )
    app = create_app(settings)

    async with app.router.lifespan_context(app), await _client(app) as http:
        response = await http.post(
            "/v1/projects/p1/lock",
            content=b" " * (65 * 1024),
            headers={"Origin": "http://ui.example", "Content-Type": "application/json"},
        )

    assert response.status_code == 413
    assert response.headers["access-control-allow-origin"] == "http://ui.example"


@pytest.mark.asyncio
async def test_cors_allows_only_the_configured_origin(tmp_path: Path) -> None:
    settings = ServiceSettings(
        db_path=tmp_path / "cors.db",
        identity=dev_identity(),
        cors_origins=("http://ui.example",),
    )
    app = create_app(settings)
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-leasekit-user",
    }

    async with app.router.lifespan_context(app), await _client(app) as http:
        allowed = await http.options(
            "/v1/projects/p1/lock", headers=preflight | {"Origin": "http://ui.example"}
        )
        other = await http.options(
            "/v1/projects/p1/lock", headers=preflight | {"Origin": "http://evil.example"}
        )

    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "http://ui.example"
    assert "access-control-allow-origin" not in other.headers


@pytest.mark.parametrize(
    ("content", "fault"),
    [
        ("not json", "principals file"),
        ("[]", "non-empty JSON list"),
        ('[{"id": "a", "role": "root", "token_sha256": "' + "0" * 64 + '"}]', "role"),
        ('[{"id": "a", "role": "admin", "token_sha256": "abc"}]', "token_sha256"),
        ('[{"id": "", "role": "admin", "token_sha256": "' + "0" * 64 + '"}]', "id"),
        ('[{"id": "a", "role": "admin"}]', "token_sha256"),
        ('[{"id": "a\\nb", "role": "admin", "token_sha256": "' + "0" * 64 + '"}]', "id: owner"),
        (
            '[{"id": "v", "role": "viewer", "token_sha256": "' + "0" * 64 + '"},'
            ' {"id": "boss", "role": "admin", "token_sha256": "' + "0" * 64 + '"}]',
            "entry 1: token_sha256 repeats entry 0",
        ),
        (
            '[{"id": "a", "role": "viewer", "token_sha256": "' + "0" * 64 + '"},'
            ' {"id": "a", "role": "admin", "token_sha256": "' + "1" * 64 + '"}]',
            "entry 1: id repeats entry 0",
        ),
    ],
)
def test_a_bad_principals_file_names_its_fault(tmp_path: Path, content: str, fault: str) -> None:
    path = tmp_path / "principals.json"
    path.write_text(content, encoding="utf-8")

    with pytest.raises(PrincipalsFileError, match=fault):
        load_principals(path)


@pytest.mark.asyncio
async def test_every_transition_is_logged_once_with_its_fields_and_no_token(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(ServiceSettings(db_path=tmp_path / "log.db", identity=dev_identity()))
    alice = {"X-Leasekit-User": "alice"}
    tokens: list[str] = []

    with caplog.at_level(logging.INFO, logger="leasekit"):
        async with app.router.lifespan_context(app), await _client(app) as http:
            for body, user in [
                ({"session_id": "t1"}, "alice"),
                ({"session_id": "t2", "takeover": True}, "alice"),
                ({"session_id": "b1", "force": True}, "bob"),
            ]:
                answer = await http.post(
                    "/v1/projects/p1/lock", json=body, headers={"X-Leasekit-User": user}
                )
                tokens.append(answer.json()["lease_id"])
            await http.post("/v1/projects/p1/unlock", json={"lease_id": tokens[-1]}, headers=alice)

    transitions: list[dict[str, Any]] = [
        vars(record) for record in caplog.records if hasattr(record, "event")
    ]
    assert [t["event"] for t in transitions] == ["acquired", "taken_over", "forced", "released"]
    assert [(t["owner"], t["session_id"], t["fence"]) for t in transitions] == [
        ("alice", "t1", 1),
        ("alice", "t2", 2),
        ("bob", "b1", 3),
        ("bob", "b1", 3),
    ]
    assert all(t["resource_id"] == "p1" and t["scope"] == "project" for t in transitions)
    assert caplog.records[0].getMessage().startswith('lease acquired: project/p1 owner="alice"')
    logged = json.dumps([record.getMessage() for record in caplog.records]) + json.dumps(
        transitions, default=str
    )
    for token in tokens:
        assert token not in logged
