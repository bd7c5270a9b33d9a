"""The backend's JSON error envelope, trace ids, and the handlers that render every error in it.

The range42 backend answers every error with one shape: ``{error, message, code, details,
trace_id, timestamp}``. leasekit's routes are mounted inside that backend, so they speak the same
shape, and the standalone service installs handlers that render FastAPI's own errors (validation,
unknown routes, unexpected failures) in it too.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

TRACE_HEADER = "X-Range42-Trace-Id"
"""Request header that carries the caller's trace id; echoed on every response."""

_TRACE_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_logger = logging.getLogger("leasekit.service")


def utc_iso(instant: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and ``Z``, as every time in the API is written."""
    text = instant.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.removesuffix("+00:00") + "Z"


def trace_id_for(request: Request) -> str:
    """The request's trace id: the caller's when well formed, else a new one; kept per request."""
    known = getattr(request.state, "trace_id", None)
    if isinstance(known, str):
        return known
    given = request.headers.get(TRACE_HEADER, "")
    trace_id = given if _TRACE_ID_PATTERN.match(given) else uuid.uuid4().hex
    request.state.trace_id = trace_id
    return trace_id


class ApiError(Exception):
    """An error answered with the envelope: status, slug, code, message and field details."""

    def __init__(  # noqa: PLR0917 - the envelope's fields, in its order
        self,
        status: int,
        error: str,
        code: str,
        message: str,
        details: Sequence[Mapping[str, str]] = (),
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.code = code
        self.message = message
        self.details = [dict(detail) for detail in details]
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})


def envelope_response(request: Request, failure: ApiError) -> JSONResponse:
    """Renders ``failure`` as the envelope, with the trace id in the body and the header."""
    trace_id = trace_id_for(request)
    body: dict[str, Any] = {
        "error": failure.error,
        "message": failure.message,
        "code": failure.code,
        "details": failure.details,
        "trace_id": trace_id,
        "timestamp": utc_iso(datetime.now(UTC)),
    }
    body.update(failure.extra)
    headers = failure.headers | {TRACE_HEADER: trace_id}
    return JSONResponse(body, status_code=failure.status, headers=headers)


def validation_error(field: str, reason: str) -> ApiError:
    """A 422 ``VALIDATION`` error naming one field."""
    return ApiError(
        422,
        "validation_error",
        "VALIDATION",
        f"invalid {field}: {reason}",
        [{"field": field, "reason": reason}],
    )


def _field_of(location: Sequence[int | str]) -> str:
    parts = [str(part) for part in location if part not in ("body", "path", "query", "header")]
    return ".".join(parts) or "body"


def _problem_detail(problem: Mapping[str, Any]) -> dict[str, str]:
    """One pydantic problem as ``{field, reason}``. A body that is not JSON names the body and
    the decoder's complaint, not the character offset pydantic files it under."""
    if problem.get("type") == "json_invalid":
        location = problem.get("loc", ())
        offset = location[-1] if location else 0
        cause = (problem.get("ctx") or {}).get("error", "not valid JSON")
        return {"field": "body", "reason": f"must be a JSON object: {cause} at byte {offset}"}
    return {
        "field": _field_of(problem.get("loc", ())),
        "reason": str(problem.get("msg", "invalid")),
    }


def _from_request_validation(exc: RequestValidationError) -> ApiError:
    details = [_problem_detail(problem) for problem in exc.errors()]
    summary = "; ".join(f"{d['field']}: {d['reason']}" for d in details) or "invalid request"
    return ApiError(422, "validation_error", "VALIDATION", summary, details)


_STATUS_SLUGS = {
    400: ("bad_request", "BAD_REQUEST"),
    401: ("auth_required", "AUTH_REQUIRED"),
    403: ("access_denied", "ACCESS_DENIED"),
    404: ("not_found", "NOT_FOUND"),
    405: ("method_not_allowed", "METHOD_NOT_ALLOWED"),
    413: ("payload_too_large", "PAYLOAD_TOO_LARGE"),
}


def _from_http_exception(exc: StarletteHTTPException) -> ApiError:
    if exc.status_code == 400 and "parsing the body" in str(exc.detail):
        # Starlette's answer to a body it cannot decode (not UTF-8, nested too deep, a number
        # too long): a validation error of the body, like every other malformed body.
        return ApiError(
            422,
            "validation_error",
            "VALIDATION",
            "body: must be a UTF-8 JSON object of reasonable depth",
            [{"field": "body", "reason": "must be a UTF-8 JSON object of reasonable depth"}],
        )
    error, code = _STATUS_SLUGS.get(exc.status_code, ("http_error", f"HTTP_{exc.status_code}"))
    return ApiError(exc.status_code, error, code, str(exc.detail))


def install_error_handlers(app: FastAPI) -> None:
    """Makes ``app`` answer validation errors, HTTP errors and crashes with the envelope."""

    async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
        if not isinstance(exc, ApiError):
            raise exc
        return envelope_response(request, exc)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        if not isinstance(exc, RequestValidationError):
            raise exc
        return envelope_response(request, _from_request_validation(exc))

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        if not isinstance(exc, StarletteHTTPException):
            raise exc
        return envelope_response(request, _from_http_exception(exc))

    async def on_crash(request: Request, exc: Exception) -> JSONResponse:
        _logger.exception("unhandled error", extra={"trace_id": trace_id_for(request)})
        failure = ApiError(500, "internal_error", "INTERNAL", "internal error")
        return envelope_response(request, failure)

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_crash)
