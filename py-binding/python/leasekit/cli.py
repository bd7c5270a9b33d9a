"""``leasekit serve`` runs the lease service; ``leasekit openapi`` prints its OpenAPI document.

Both need the ``service`` extra (``pip install 'leasekit[service]'``).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import uvicorn

from leasekit.service.app import ServiceSettings, create_app, database_label
from leasekit.service.auth import (
    IdentitySource,
    PrincipalsFileError,
    dev_identity,
    load_principals,
    token_identity,
)

_RESERVED_LOG_FIELDS = frozenset(vars(logging.makeLogRecord({})))


class StructuredFormatter(logging.Formatter):
    """One line per record: time, level, logger, message, then the record's extra fields as
    ``key=value`` pairs, so a transition's scope, owner, session and fence can be filtered."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = {
            key: value
            for key, value in vars(record).items()
            if key not in _RESERVED_LOG_FIELDS and not key.startswith("_")
        }
        pairs = " ".join(f"{key}={json.dumps(value, default=str)}" for key, value in extras.items())
        return f"{line} {pairs}" if pairs else line


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="leasekit", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the lease service")
    storage = serve.add_mutually_exclusive_group()
    storage.add_argument("--db", type=Path, default=Path("leasekit.db"), help="SQLite file")
    storage.add_argument(
        "--database-url",
        metavar="URL",
        help="keep the leases in this SQLAlchemy database instead of --db: "
        "postgresql+asyncpg://USER@HOST/DB or sqlite+aiosqlite:///PATH (needs the sqlalchemy "
        "extra; give a PostgreSQL password through PGPASSWORD or ~/.pgpass, not in the URL)",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to bind (default 8000)")
    serve.add_argument(
        "--auth",
        choices=("dev", "tokens"),
        default="dev",
        help="dev: trust the X-Leasekit-User header (loopback only); tokens: bearer tokens",
    )
    serve.add_argument(
        "--principals", type=Path, help="JSON list of {id, role, token_sha256} (tokens mode)"
    )
    serve.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="allow a UI on this origin (repeatable)",
    )
    serve.add_argument(
        "--sweep-interval", type=float, default=5.0, help="seconds between sweeps of stale leases"
    )
    serve.add_argument(
        "--synchronous", choices=("normal", "full"), default="normal", help="SQLite durability"
    )
    serve.add_argument("--log-level", default="info", help="logging level (default info)")

    commands.add_parser("openapi", help="print the service's OpenAPI document as JSON")
    return parser


def _identity(args: argparse.Namespace, parser: argparse.ArgumentParser) -> IdentitySource:
    if args.auth == "dev":
        if args.principals is not None:
            parser.error("--principals only applies to --auth tokens")
        if not _is_loopback(args.host):
            parser.error(f"--auth dev trusts a header for identity; refusing to bind {args.host}")
        return dev_identity()
    if args.principals is None:
        parser.error("--auth tokens needs --principals FILE")
    try:
        return token_identity(load_principals(args.principals))
    except PrincipalsFileError as exc:
        parser.error(str(exc))


async def _nobody(request: object) -> None:
    """The identity source of the printed OpenAPI document: it never runs."""


def openapi_document() -> str:
    """The service's OpenAPI document, as checked in at ``openapi.json``."""
    app = create_app(ServiceSettings(db_path=Path("unused.db"), identity=_nobody))
    return json.dumps(app.openapi(), indent=2, sort_keys=True) + "\n"


def _check_database_url(url: str, parser: argparse.ArgumentParser) -> None:
    """Refuses, before anything starts, a URL the SQLAlchemy backend cannot serve."""
    try:
        from leasekit.sqla import check_database_url  # noqa: PLC0415 - an optional extra
    except ImportError as missing:
        parser.error(f"--database-url needs the sqlalchemy extra ({missing.name} is missing)")
    try:
        check_database_url(url)
    except ValueError as bad:
        parser.error(f"--database-url: {bad}")


def _configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(StructuredFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)


def serve(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Runs the service until SIGINT or SIGTERM, then closes the store cleanly."""
    identity = _identity(args, parser)
    if args.database_url is not None:
        _check_database_url(args.database_url, parser)
    _configure_logging(args.log_level)
    log = logging.getLogger("leasekit.service")
    if args.auth == "dev":
        log.warning(
            "development auth: any caller may name any user in X-Leasekit-User and acts as "
            "admin; listening on %s only",
            args.host,
        )
    settings = ServiceSettings(
        db_path=args.db,
        database_url=args.database_url,
        identity=identity,
        cors_origins=tuple(args.cors_origin),
        sweep_interval_s=args.sweep_interval,
        synchronous=args.synchronous,
    )
    where = database_label(settings)
    log.info("serving", extra={"db": where, "host": args.host, "port": args.port})
    config = uvicorn.Config(
        create_app(settings), host=args.host, port=args.port, log_config=None, access_log=False
    )
    uvicorn.Server(config).run()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``leasekit`` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "openapi":
        sys.stdout.write(openapi_document())
        return 0
    serve(args, parser)
    return 0
