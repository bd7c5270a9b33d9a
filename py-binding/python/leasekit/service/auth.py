"""Who is calling: the principal behind a request, and what its role allows.

The owner of a lease is always the authenticated caller, never a body field. A host backend
already authenticates requests and leaves ``request.state.principal`` behind; leasekit reads it.
The standalone service brings two sources of its own: bearer tokens checked against a
principals file (hashed, compared in constant time) and a development mode that trusts a header
and only ever listens on loopback.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from fastapi import Request

from leasekit import InvalidOwner
from leasekit.rules import check_owner

from .envelope import ApiError, validation_error

Role = Literal["admin", "operator", "viewer"]
ROLES: tuple[Role, ...] = ("admin", "operator", "viewer")

DEV_USER_HEADER = "X-Leasekit-User"
DEV_DEFAULT_USER = "development"

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_logger = logging.getLogger("leasekit.service")


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: its id (the lease owner) and its role."""

    actor_id: str
    role: Role

    @property
    def may_write(self) -> bool:
        """Operators and admins may lock, heartbeat and unlock."""
        return self.role in ("admin", "operator")

    @property
    def may_force(self) -> bool:
        """Only admins may force another owner's live lease."""
        return self.role == "admin"


IdentitySource = Callable[[Request], Awaitable[Principal | None]]
"""Resolves the caller of a request, or ``None`` when it is not authenticated."""


def auth_required(message: str = "authentication required") -> ApiError:
    """A 401 ``AUTH_REQUIRED`` error that tells the client to send a bearer token."""
    return ApiError(
        401, "auth_required", "AUTH_REQUIRED", message, headers={"WWW-Authenticate": "Bearer"}
    )


def access_denied(message: str) -> ApiError:
    """A 403 ``ACCESS_DENIED`` error."""
    return ApiError(403, "access_denied", "ACCESS_DENIED", message)


async def host_principal(request: Request) -> Principal | None:
    """The principal a host's middleware left in ``request.state.principal``, if any: an object
    with ``actor_id`` and ``role`` attributes, or a mapping with those keys. A role may be a
    plain string or an ``Enum`` whose value is one."""
    found = getattr(request.state, "principal", None)
    if found is None:
        return None
    if isinstance(found, Mapping):
        actor_id, role = found.get("actor_id"), found.get("role")
    else:
        actor_id, role = getattr(found, "actor_id", None), getattr(found, "role", None)
    role = getattr(role, "value", role)
    if not isinstance(actor_id, str) or role not in ROLES:
        _logger.warning(
            "request.state.principal has no string actor_id or no role among %s; "
            "treating the request as unauthenticated",
            ", ".join(ROLES),
        )
        return None
    return Principal(actor_id=actor_id, role=role)


def dev_identity(default_user: str = DEV_DEFAULT_USER) -> IdentitySource:
    """Development mode: the user named by the ``X-Leasekit-User`` header (UTF-8), as an admin;
    ``default_user`` when the header is absent."""

    async def identify(request: Request) -> Principal | None:
        named = request.headers.get(DEV_USER_HEADER)
        if named is None:
            return Principal(actor_id=default_user, role="admin")
        try:
            user = named.encode("latin-1").decode("utf-8")
            check_owner(user)
        except UnicodeError:
            raise validation_error(DEV_USER_HEADER, "must be UTF-8 text") from None
        except InvalidOwner as bad:
            raise validation_error(DEV_USER_HEADER, str(bad)) from None
        return Principal(actor_id=user, role="admin")

    return identify


@dataclass(frozen=True)
class _TokenEntry:
    principal: Principal
    token_sha256: bytes


class PrincipalsFileError(ValueError):
    """The principals file is unreadable or breaks its format."""


def load_principals(path: Path) -> list[tuple[Principal, str]]:
    """Reads a JSON list of ``{id, role, token_sha256}``; each entry names its fault on error.

    Ids follow the core's owner rule, and neither an id nor a token digest may repeat: a digest
    listed twice would give one token two identities.
    """
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PrincipalsFileError(f"principals file {path}: {exc}") from exc
    if not isinstance(entries, list) or not entries:
        raise PrincipalsFileError(f"principals file {path}: must be a non-empty JSON list")

    principals = [_parse_entry(path, index, entry) for index, entry in enumerate(entries)]
    seen_ids: dict[str, int] = {}
    seen_digests: dict[str, int] = {}
    for index, (principal, digest) in enumerate(principals):
        where = f"principals file {path}, entry {index}"
        if principal.actor_id in seen_ids:
            raise PrincipalsFileError(f"{where}: id repeats entry {seen_ids[principal.actor_id]}")
        if digest in seen_digests:
            raise PrincipalsFileError(
                f"{where}: token_sha256 repeats entry {seen_digests[digest]}; one token, one id"
            )
        seen_ids[principal.actor_id] = index
        seen_digests[digest] = index
    return principals


def _parse_entry(path: Path, index: int, entry: object) -> tuple[Principal, str]:
    where = f"principals file {path}, entry {index}"
    if not isinstance(entry, dict) or set(entry) != {"id", "role", "token_sha256"}:
        raise PrincipalsFileError(f"{where}: must be an object with id, role and token_sha256")
    actor_id, role, digest = entry["id"], entry["role"], entry["token_sha256"]
    try:
        check_owner(actor_id)
    except InvalidOwner as bad:
        raise PrincipalsFileError(f"{where}: id: {bad}") from None
    if role not in ROLES:
        raise PrincipalsFileError(f"{where}: role must be one of {', '.join(ROLES)}")
    if not isinstance(digest, str) or not _SHA256_HEX.match(digest):
        raise PrincipalsFileError(f"{where}: token_sha256 must be 64 lowercase hex digits")
    return Principal(actor_id=actor_id, role=role), digest


def token_identity(principals: Iterable[tuple[Principal, str]]) -> IdentitySource:
    """Bearer tokens: the SHA-256 of the presented token, compared in constant time with every
    known digest (no early exit, so timing does not tell which entry came close)."""
    entries = [
        _TokenEntry(principal, bytes.fromhex(digest_hex)) for principal, digest_hex in principals
    ]

    async def identify(request: Request) -> Principal | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        presented = hashlib.sha256(token.strip().encode("utf-8")).digest()
        found: Principal | None = None
        for entry in entries:
            if hmac.compare_digest(presented, entry.token_sha256):
                found = entry.principal
        return found

    return identify
