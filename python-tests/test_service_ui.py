"""The browser demo at ``/``: served when built, explained when not, never in the API's way."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import httpx
import pytest

from leasekit.cli import _parser
from leasekit.service.app import ServiceSettings, create_app
from leasekit.service.auth import dev_identity
from leasekit.service.webui import DEFAULT_UI_DIR

PAGE = "<!doctype html><title>leasekit demo</title>"
WORKER = "import init from './pkg-web/leasekit_wasm.js';"
WASM = b"\x00asm\x01\x00\x00\x00"

Served = Callable[[Path | None], AbstractAsyncContextManager[httpx.AsyncClient]]


def build_demo(folder: Path) -> None:
    """What scripts/build-wasm.sh puts in the UI folder, in miniature."""
    (folder / "pkg-web").mkdir(parents=True)
    (folder / "index.html").write_text(PAGE, encoding="utf-8")
    (folder / "lease-worker.js").write_text(WORKER, encoding="utf-8")
    (folder / "pkg-web" / "leasekit_wasm_bg.wasm").write_bytes(WASM)


@pytest.fixture
def served(tmp_path: Path) -> Served:
    """A client of the service with the demo folder given (or none)."""

    @asynccontextmanager
    async def serve(ui_dir: Path | None) -> AsyncIterator[httpx.AsyncClient]:
        settings = ServiceSettings(
            db_path=tmp_path / "leases.db",
            identity=dev_identity(),
            sweep_interval_s=3600,
            ui_dir=ui_dir,
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://leasekit") as http:
                yield http

    return serve


@pytest.mark.asyncio
async def test_the_built_demo_is_served_at_the_root_with_its_worker_and_wasm(
    tmp_path: Path, served: Served
) -> None:
    build_demo(tmp_path / "ui")

    async with served(tmp_path / "ui") as http:
        page = await http.get("/")
        worker = await http.get("/lease-worker.js")
        module = await http.get("/pkg-web/leasekit_wasm_bg.wasm")

    assert page.status_code == 200
    assert page.text == PAGE
    assert page.headers["content-type"].startswith("text/html")
    assert worker.status_code == 200
    assert worker.text == WORKER
    assert worker.headers["content-type"].startswith("text/javascript")
    assert module.content == WASM
    assert module.headers["content-type"] == "application/wasm"
    assert page.headers["cache-control"] == "no-cache"
    assert "x-range42-trace-id" in page.headers


@pytest.mark.asyncio
async def test_the_root_explains_how_to_build_a_missing_demo(
    tmp_path: Path, served: Served
) -> None:
    async with served(tmp_path / "never-built") as http:
        root = await http.get("/", headers={"X-Range42-Trace-Id": "ui-trace"})
        index = await http.get("/index.html")

    assert root.status_code == 404
    body = root.json()
    assert body["code"] == "UI_NOT_BUILT"
    assert body["error"] == "ui_not_built"
    assert "make wasm" in body["message"]
    assert body["details"][0]["field"] == "path"
    assert body["trace_id"] == "ui-trace"
    assert str(tmp_path) not in root.text
    assert index.json()["code"] == "UI_NOT_BUILT"


@pytest.mark.asyncio
async def test_other_paths_of_a_missing_demo_are_plain_not_found(
    tmp_path: Path, served: Served
) -> None:
    async with served(tmp_path / "never-built") as http:
        answer = await http.get("/lease-worker.js")

    assert answer.status_code == 404
    assert answer.json()["code"] == "NOT_FOUND"


@pytest.mark.asyncio
async def test_a_demo_built_while_the_service_runs_is_served_without_a_restart(
    tmp_path: Path, served: Served
) -> None:
    async with served(tmp_path / "ui") as http:
        before = await http.get("/")
        build_demo(tmp_path / "ui")
        after = await http.get("/")

    assert before.status_code == 404
    assert after.status_code == 200
    assert after.text == PAGE


@pytest.mark.asyncio
async def test_the_api_answers_as_before_behind_the_demo(tmp_path: Path, served: Served) -> None:
    build_demo(tmp_path / "ui")

    async with served(tmp_path / "ui") as http:
        health = await http.get("/healthz")
        unknown = await http.get("/v1/nothing-here")
        lock = await http.post(
            "/v1/projects/apollo/lock",
            json={"session_id": "tab-1"},
            headers={"X-Leasekit-User": "alice"},
        )
        wrong_method = await http.post("/index.html")
        schema = await http.get("/openapi.json")

    assert health.status_code == 200
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "NOT_FOUND"
    assert lock.status_code == 200
    assert lock.json()["owner"] == "alice"
    assert wrong_method.status_code == 405
    assert wrong_method.json()["code"] == "METHOD_NOT_ALLOWED"
    assert "/" not in schema.json()["paths"]


@pytest.mark.asyncio
async def test_the_demo_folder_cannot_be_escaped(tmp_path: Path, served: Served) -> None:
    build_demo(tmp_path / "ui")
    (tmp_path / "secret.txt").write_text("not for the web", encoding="utf-8")

    async with served(tmp_path / "ui") as http:
        escaped = await http.get("/%2e%2e/secret.txt")

    assert escaped.status_code == 404
    assert "not for the web" not in escaped.text


@pytest.mark.asyncio
async def test_without_a_demo_folder_the_root_is_not_found(served: Served) -> None:
    async with served(None) as http:
        root = await http.get("/")

    assert root.status_code == 404
    assert root.json()["code"] == "NOT_FOUND"


def test_serve_shows_the_packaged_demo_unless_told_otherwise(tmp_path: Path) -> None:
    parser = _parser()

    assert parser.parse_args(["serve"]).ui_dir == DEFAULT_UI_DIR
    assert parser.parse_args(["serve", "--ui-dir", str(tmp_path)]).ui_dir == tmp_path
    assert parser.parse_args(["serve", "--no-ui"]).no_ui is True
    with pytest.raises(SystemExit):
        parser.parse_args(["serve", "--no-ui", "--ui-dir", str(tmp_path)])
