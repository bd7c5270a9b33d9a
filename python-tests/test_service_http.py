"""The HTTP contract of the project-lock routes, over ASGI with a manual clock."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from leasekit import ManualClock
from leasekit.service.app import ServiceSettings, create_app
from leasekit.service.auth import Principal, Role, dev_identity, token_identity

pytestmark = pytest.mark.asyncio

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
TOKENS: dict[str, tuple[str, Role]] = {
    "alice-token": ("alice", "operator"),
    "root-token": ("root", "admin"),
    "bob-token": ("bob", "operator"),
    "vera-token": ("vera", "viewer"),
}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START_MS)


def _principals() -> list[tuple[Principal, str]]:
    return [
        (Principal(actor_id=actor, role=role), hashlib.sha256(token.encode()).hexdigest())
        for token, (actor, role) in TOKENS.items()
    ]


@pytest_asyncio.fixture
async def client(tmp_path: Path, clock: ManualClock) -> AsyncIterator[httpx.AsyncClient]:
    settings = ServiceSettings(
        db_path=tmp_path / "leases.db",
        identity=token_identity(_principals()),
        clock=clock,
        sweep_interval_s=3600,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://leasekit") as http:
            yield http


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def lock(
    client: httpx.AsyncClient,
    who: str,
    session: str = "tab-1",
    project: str = "p1",
    **flags: int | bool,
) -> httpx.Response:
    body = {"session_id": session, **flags}
    return await client.post(f"/v1/projects/{project}/lock", json=body, headers=auth(who))


async def view(client: httpx.AsyncClient, project: str = "p1") -> dict[str, Any]:
    response = await client.get(f"/v1/projects/{project}/lock", headers=auth("vera-token"))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    body.pop("server_time")
    return body


def assert_envelope(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    assert {"error", "message", "code", "details", "trace_id", "timestamp"} <= set(body)
    assert body["timestamp"].endswith("Z")
    assert response.headers["X-Range42-Trace-Id"] == body["trace_id"]
    return body


async def test_first_lock_grants_fence_one_with_every_field(client: httpx.AsyncClient) -> None:
    response = await lock(client, "alice-token", heartbeat_interval_s=30)

    assert response.status_code == 200, response.text
    grant = response.json()
    assert set(grant) == {
        "project_id", "owner", "session_id", "lease_id", "fence", "acquired_at", "heartbeat_at",
        "expires_at", "heartbeat_interval_s", "stale_after_s", "server_time", "previous",
    }  # fmt: skip
    assert (grant["owner"], grant["session_id"], grant["fence"]) == ("alice", "tab-1", 1)
    assert grant["acquired_at"] == "2026-01-01T00:00:00.000Z"
    assert grant["expires_at"] == "2026-01-01T00:01:30.000Z"
    assert (grant["heartbeat_interval_s"], grant["stale_after_s"]) == (30, 90)
    assert grant["previous"] is None
    assert len(grant["lease_id"]) >= 22


async def test_same_session_relock_renews_with_fresh_token_and_same_fence(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    first = (await lock(client, "alice-token")).json()
    clock.advance(10_000)

    again = await lock(client, "alice-token")

    assert again.status_code == 200
    assert again.json()["fence"] == first["fence"]
    assert again.json()["lease_id"] != first["lease_id"]
    assert again.json()["heartbeat_at"] == "2026-01-01T00:00:10.000Z"
    stale = await client.post(
        "/v1/projects/p1/heartbeat",
        json={"lease_id": first["lease_id"]},
        headers=auth("alice-token"),
    )
    assert_envelope(stale, 409, "LEASE_LOST")


async def test_second_tab_is_refused_with_same_owner_then_takes_over(
    client: httpx.AsyncClient,
) -> None:
    first = (await lock(client, "alice-token")).json()
    before = await view(client)

    refused = await lock(client, "alice-token", session="tab-2")

    body = assert_envelope(refused, 409, "PROJECT_LOCKED")
    assert body["error"] == "project_locked"
    assert body["lock"]["same_owner"] is True
    assert body["lock"]["session_id"] == "tab-1"
    assert "lease_id" not in json.dumps(body)
    assert await view(client) == before

    taken = await lock(client, "alice-token", session="tab-2", takeover=True)
    assert taken.status_code == 200
    assert taken.json()["fence"] == 2
    assert taken.json()["previous"] == {
        "owner": "alice", "session_id": "tab-1", "fence": 1, "ended": "taken_over",
    }  # fmt: skip
    lost = await client.post(
        "/v1/projects/p1/heartbeat",
        json={"lease_id": first["lease_id"]},
        headers=auth("alice-token"),
    )
    lost_body = assert_envelope(lost, 409, "LEASE_LOST")
    assert lost_body["lock"]["session_id"] == "tab-2"


async def test_other_owner_gets_409_with_holder_and_since(client: httpx.AsyncClient) -> None:
    await lock(client, "alice-token")

    refused = await lock(client, "bob-token")

    body = assert_envelope(refused, 409, "PROJECT_LOCKED")
    assert body["details"] == [
        {"field": "project_id", "reason": "held by alice since 2026-01-01T00:00:00.000Z"}
    ]
    assert body["lock"]["owner"] == "alice"
    assert body["lock"]["same_owner"] is False
    assert body["lock"]["held"] is True


async def test_takeover_does_not_apply_to_another_owner(client: httpx.AsyncClient) -> None:
    await lock(client, "alice-token")

    refused = await lock(client, "bob-token", takeover=True)

    assert_envelope(refused, 409, "PROJECT_LOCKED")


async def test_force_needs_admin(client: httpx.AsyncClient) -> None:
    await lock(client, "alice-token")
    before = await view(client)

    denied = await lock(client, "bob-token", force=True)

    assert_envelope(denied, 403, "ACCESS_DENIED")
    assert await view(client) == before
    forced = await lock(client, "root-token", force=True)
    assert forced.status_code == 200
    assert forced.json()["previous"]["ended"] == "forced"
    assert forced.json()["fence"] == 2


async def test_heartbeat_refreshes_without_adding_time(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    grant = (await lock(client, "alice-token", heartbeat_interval_s=10)).json()
    for _ in range(5):
        clock.advance(1_000)
        beat = await client.post(
            "/v1/projects/p1/heartbeat",
            json={"lease_id": grant["lease_id"]},
            headers=auth("alice-token"),
        )
        assert beat.status_code == 200, beat.text

    body = beat.json()
    assert body["heartbeat_at"] == "2026-01-01T00:00:05.000Z"
    assert body["expires_at"] == "2026-01-01T00:00:35.000Z"
    assert body["lease_id"] == grant["lease_id"]
    assert body["fence"] == 1


async def test_heartbeat_on_stale_lease_is_expired_and_not_revived(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    grant = (await lock(client, "alice-token", heartbeat_interval_s=10)).json()
    clock.advance(30_001)
    before = await view(client)

    expired = await client.post(
        "/v1/projects/p1/heartbeat",
        json={"lease_id": grant["lease_id"]},
        headers=auth("alice-token"),
    )

    body = assert_envelope(expired, 409, "LEASE_EXPIRED")
    assert body["lock"]["stale"] is True
    assert await view(client) == before
    again = await lock(client, "alice-token")
    assert again.json()["fence"] == 2
    assert again.json()["previous"]["ended"] == "expired"


async def test_heartbeat_with_unknown_token_is_lost_and_changes_nothing(
    client: httpx.AsyncClient,
) -> None:
    await lock(client, "alice-token")
    before = await view(client)

    lost = await client.post(
        "/v1/projects/p1/heartbeat", json={"lease_id": "guessed-token"}, headers=auth("bob-token")
    )

    body = assert_envelope(lost, 409, "LEASE_LOST")
    assert body["lock"]["owner"] == "alice"
    assert await view(client) == before


async def test_unlock_is_safe_to_retry_and_never_frees_a_successor(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    grant = (await lock(client, "alice-token", heartbeat_interval_s=10)).json()
    token = {"lease_id": grant["lease_id"]}

    first = await client.post("/v1/projects/p1/unlock", json=token, headers=auth("alice-token"))
    second = await client.post("/v1/projects/p1/unlock", json=token, headers=auth("alice-token"))

    assert first.json() == {"project_id": "p1", "released": True, "fence": 1}
    assert second.json() == {
        "project_id": "p1", "released": False, "fence": 1, "reason": "already_released",
    }  # fmt: skip
    await lock(client, "bob-token")
    late = await client.post("/v1/projects/p1/unlock", json=token, headers=auth("alice-token"))
    assert late.json()["reason"] == "superseded"
    assert (await view(client))["owner"] == "bob"


async def test_view_of_a_free_project_has_null_holder_and_fence_zero(
    client: httpx.AsyncClient,
) -> None:
    body = await view(client, "never-locked")

    assert body == {
        "project_id": "never-locked", "held": False, "owner": None, "session_id": None,
        "fence": 0, "acquired_at": None, "heartbeat_at": None, "expires_at": None,
        "heartbeat_interval_s": None, "stale": False,
    }  # fmt: skip


async def test_view_and_history_never_contain_the_token(client: httpx.AsyncClient) -> None:
    grant = (await lock(client, "alice-token")).json()
    await lock(client, "alice-token", session="tab-2", takeover=True)

    current = await client.get("/v1/projects/p1/lock", headers=auth("vera-token"))
    history = await client.get("/v1/projects/p1/lock/history", headers=auth("vera-token"))

    for response in (current, history):
        assert response.status_code == 200
        assert grant["lease_id"] not in response.text
        assert "lease_id" not in response.text
    kinds = [event["kind"] for event in history.json()["events"]]
    assert kinds == ["taken_over", "acquired"]


async def test_history_limit_is_bounded(client: httpx.AsyncClient) -> None:
    for session in ("a", "b", "c"):
        await lock(client, "alice-token", session=session, takeover=True)

    one = await client.get("/v1/projects/p1/lock/history?limit=1", headers=auth("vera-token"))

    assert [event["session_id"] for event in one.json()["events"]] == ["c"]
    for bad in ("0", "1001", "x"):
        response = await client.get(
            f"/v1/projects/p1/lock/history?limit={bad}", headers=auth("vera-token")
        )
        body = assert_envelope(response, 422, "VALIDATION")
        assert body["details"][0]["field"] == "limit"


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, "AUTH_REQUIRED"),
        ({"Authorization": "Bearer wrong"}, 401, "AUTH_REQUIRED"),
        ({"Authorization": "Basic YWxpY2U6eA=="}, 401, "AUTH_REQUIRED"),
        (auth("vera-token"), 403, "ACCESS_DENIED"),
    ],
)
async def test_writes_need_an_operator(
    client: httpx.AsyncClient, headers: dict[str, str], status: int, code: str
) -> None:
    for path, body in [
        ("lock", {"session_id": "s"}),
        ("heartbeat", {"lease_id": "x"}),
        ("unlock", {"lease_id": "x"}),
    ]:
        response = await client.post(f"/v1/projects/p1/{path}", json=body, headers=headers)
        assert_envelope(response, status, code)
    assert (await view(client))["fence"] == 0


async def test_reads_need_authentication(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/projects/p1/lock")

    assert_envelope(response, 401, "AUTH_REQUIRED")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "session_id"),
        ({"session_id": 7}, "session_id"),
        ({"session_id": "s", "owner": "mallory"}, "owner"),
        ({"session_id": "s", "heartbeat_interval_s": "60"}, "heartbeat_interval_s"),
        ({"session_id": "s", "heartbeat_interval_s": 4}, "heartbeat_interval_s"),
        ({"session_id": "s", "heartbeat_interval_s": 3601}, "heartbeat_interval_s"),
        ({"session_id": "s", "heartbeat_interval_s": 60.5}, "heartbeat_interval_s"),
        ({"session_id": "s", "takeover": "yes"}, "takeover"),
        ({"session_id": "s", "force": 1}, "force"),
        ({"session_id": ""}, "session_id"),
        ({"session_id": "has space"}, "session_id"),
        ({"session_id": "s" * 129}, "session_id"),
    ],
)
async def test_bad_lock_bodies_are_422_naming_the_field(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    response = await client.post("/v1/projects/p1/lock", json=body, headers=auth("alice-token"))

    envelope = assert_envelope(response, 422, "VALIDATION")
    assert envelope["error"] == "validation_error"
    assert field in [detail["field"] for detail in envelope["details"]]
    assert (await view(client))["fence"] == 0


@pytest.mark.parametrize("project", ["-p", "a" * 65, "p%20q", "p$", "_x"])
async def test_bad_project_ids_are_422(client: httpx.AsyncClient, project: str) -> None:
    response = await lock(client, "alice-token", project=project)

    envelope = assert_envelope(response, 422, "VALIDATION")
    assert envelope["details"][0]["field"] == "project_id"


async def test_bad_lease_ids_are_422(client: httpx.AsyncClient) -> None:
    for lease_id in ["", "with space", "x" * 300]:
        response = await client.post(
            "/v1/projects/p1/heartbeat", json={"lease_id": lease_id}, headers=auth("alice-token")
        )
        envelope = assert_envelope(response, 422, "VALIDATION")
        assert envelope["details"][0]["field"] == "lease_id"
        assert lease_id not in envelope["message"] or lease_id == ""


async def test_malformed_and_oversized_bodies(client: httpx.AsyncClient) -> None:
    headers = auth("alice-token") | {"Content-Type": "application/json"}
    empty = await client.post("/v1/projects/p1/lock", content=b"", headers=headers)
    broken = await client.post("/v1/projects/p1/lock", content=b"{not json", headers=headers)
    huge = await client.post(
        "/v1/projects/p1/lock", content=b" " * (10 * 1024 * 1024), headers=headers
    )

    assert_envelope(empty, 422, "VALIDATION")
    assert_envelope(broken, 422, "VALIDATION")
    assert_envelope(huge, 413, "PAYLOAD_TOO_LARGE")
    assert (await view(client))["fence"] == 0


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"{bad", "must be a JSON object: Expecting property name"),
        (b'{"session_id": "s",}', "must be a JSON object: Expecting property name"),
        (b"\xff\xfe", "must be"),
        (b"[" * 32_000, "must be"),
    ],
)
async def test_undecodable_bodies_are_422_naming_the_body(
    client: httpx.AsyncClient, content: bytes, reason: str
) -> None:
    headers = auth("alice-token") | {"Content-Type": "application/json"}

    response = await client.post("/v1/projects/p1/lock", content=content, headers=headers)

    envelope = assert_envelope(response, 422, "VALIDATION")
    assert envelope["details"][0]["field"] == "body"
    assert envelope["details"][0]["reason"].startswith(reason)


async def test_a_streamed_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(25):
            yield b" " * 4096

    headers = auth("alice-token") | {"Content-Type": "application/json"}
    response = await client.post("/v1/projects/p1/lock", content=chunks(), headers=headers)

    assert_envelope(response, 413, "PAYLOAD_TOO_LARGE")
    assert (await view(client))["fence"] == 0


@pytest.mark.parametrize("media_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_a_body_that_is_not_declared_json_is_415(
    client: httpx.AsyncClient, media_type: str | None
) -> None:
    headers = auth("alice-token") | ({"Content-Type": media_type} if media_type else {})

    response = await client.post(
        "/v1/projects/p1/lock", content=b'{"session_id": "s"}', headers=headers
    )

    envelope = assert_envelope(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert envelope["details"] == [{"field": "Content-Type", "reason": "must be application/json"}]
    assert (await view(client))["fence"] == 0


async def test_unauthenticated_answers_ask_for_a_bearer_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/projects/p1/lock")

    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_id_errors_name_the_http_field_in_the_message(client: httpx.AsyncClient) -> None:
    response = await lock(client, "alice-token", project="-bad")

    envelope = assert_envelope(response, 422, "VALIDATION")
    assert envelope["message"].startswith("invalid project_id: project_id ")


async def test_trace_id_is_echoed_or_generated(client: httpx.AsyncClient) -> None:
    given = await client.get(
        "/v1/projects/p1/lock", headers=auth("vera-token") | {"X-Range42-Trace-Id": "trace-123"}
    )
    generated = await client.get("/v1/projects/p1/lock", headers=auth("vera-token"))
    refused = await client.get("/v1/projects/p1/lock", headers={"X-Range42-Trace-Id": "t-9"})

    assert given.headers["X-Range42-Trace-Id"] == "trace-123"
    assert len(generated.headers["X-Range42-Trace-Id"]) == 32
    assert refused.json()["trace_id"] == "t-9"


async def test_unknown_route_uses_the_envelope(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/nowhere")

    assert_envelope(response, 404, "NOT_FOUND")


async def test_sweeper_ends_stale_leases_as_expired(tmp_path: Path, clock: ManualClock) -> None:
    settings = ServiceSettings(
        db_path=tmp_path / "swept.db", identity=dev_identity(), clock=clock, sweep_interval_s=0.01
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://leasekit") as http:
            await http.post(
                "/v1/projects/p1/lock", json={"session_id": "s", "heartbeat_interval_s": 5}
            )
            clock.advance(15_001)
            for _ in range(200):
                history = (await http.get("/v1/projects/p1/lock/history")).json()["events"]
                if history[0]["kind"] == "expired":
                    break
                await asyncio.sleep(0.01)

    assert history[0]["kind"] == "expired"
    assert history[0]["actor"] is None
