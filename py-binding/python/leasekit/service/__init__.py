"""The lease service: project-lock routes over HTTP, mountable in a host FastAPI app or run
standalone with ``leasekit serve``.

Install with the ``service`` extra (``pip install 'leasekit[service]'``). A host backend includes
:func:`create_router` with its own lease backend and identity source; :func:`create_app` builds
the standalone service around the Rust SQLite store.
"""

from leasekit.service.app import (
    MAX_BODY_BYTES,
    RequestGuardMiddleware,
    ServiceSettings,
    create_app,
)
from leasekit.service.auth import (
    Principal,
    dev_identity,
    host_principal,
    load_principals,
    token_identity,
)
from leasekit.service.envelope import TRACE_HEADER, ApiError, install_error_handlers
from leasekit.service.routes import LeaseBackend, create_router

__all__ = [
    "MAX_BODY_BYTES",
    "TRACE_HEADER",
    "ApiError",
    "LeaseBackend",
    "Principal",
    "RequestGuardMiddleware",
    "ServiceSettings",
    "create_app",
    "create_router",
    "dev_identity",
    "host_principal",
    "install_error_handlers",
    "load_principals",
    "token_identity",
]
