"""The browser demo at ``/``: the page, the shared lease worker and the web build of the wasm core.

``scripts/build-wasm.sh`` copies them into :data:`DEFAULT_UI_DIR`, inside this package, where
``leasekit serve`` finds them; they are build output, not sources (those live in
``wasm-binding/web/``). Until the build has run, ``/`` answers a 404 envelope that says how to
build them, and the API works as before: the demo is never a reason for the service to fail.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from .envelope import ApiError

DEFAULT_UI_DIR = Path(__file__).with_name("ui")
"""Where ``scripts/build-wasm.sh`` puts the demo, and where ``leasekit serve`` looks for it."""

ENTRY_PAGE = "index.html"

_ROOT_PATHS = frozenset({".", ENTRY_PAGE})


def ui_built(directory: Path) -> bool:
    """Whether ``directory`` holds a built demo (its page; the build copies all files at once)."""
    return (directory / ENTRY_PAGE).is_file()


def ui_not_built() -> ApiError:
    """The answer at ``/`` while the demo is not built."""
    reason = "the browser demo is not built; run `make wasm` (scripts/build-wasm.sh)"
    return ApiError(
        404,
        "ui_not_built",
        "UI_NOT_BUILT",
        f"{reason}, or start the service with --ui-dir pointing at a built demo",
        [{"field": "path", "reason": reason}],
    )


class UiFiles(StaticFiles):
    """The demo's files, looked up on every request, so that a build made while the service
    runs is served without a restart, and a missing build is explained rather than a crash."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory=directory, html=True, check_dir=False)
        self.ui_dir = directory

    async def check_config(self) -> None:
        """Nothing to check up front: :meth:`get_response` handles a missing directory."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        """The file at ``path``; while nothing is built, the explanation at ``/``."""
        if not ui_built(self.ui_dir):
            if path in _ROOT_PATHS:
                raise ui_not_built()
            raise HTTPException(status_code=404)
        response = await super().get_response(path, scope)
        # Revalidate every time (cheap, with the ETag): a rebuilt worker is picked up at once.
        response.headers.setdefault("Cache-Control", "no-cache")
        return response


def mount_ui(app: FastAPI, directory: Path) -> None:
    """Serves the demo in ``directory`` at ``/``, behind every route already on ``app``."""
    app.mount("/", UiFiles(directory), name="ui")


__all__ = ["DEFAULT_UI_DIR", "ENTRY_PAGE", "UiFiles", "mount_ui", "ui_built", "ui_not_built"]
