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

from leasekit import LeaseError, LeaseStore
from leasekit.service.app import ServiceSettings, create_app, database_label
from leasekit.service.auth import (
    IdentitySource,
    PrincipalsFileError,
    dev_identity,
    load_principals,
    token_identity,
)
from leasekit.service.webui import DEFAULT_UI_DIR, ui_built

# Fields every record has, and the ones formatters and uvicorn add: not worth repeating.
_RESERVED_LOG_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "color_message",
}
MIN_SWEEP_INTERVAL_S = 0.1
MAX_SWEEP_INTERVAL_S = 3600.0


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


def _sweep_interval(text: str) -> float:
    """``--sweep-interval``: a number of seconds within bounds (0 would spin a core)."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not MIN_SWEEP_INTERVAL_S <= seconds <= MAX_SWEEP_INTERVAL_S:
        raise argparse.ArgumentTypeError(
            f"{text} must be from {MIN_SWEEP_INTERVAL_S} to {MAX_SWEEP_INTERVAL_S:g} seconds"
        )
    return seconds


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
    ui = serve.add_mutually_exclusive_group()
    ui.add_argument(
        "--ui-dir",
        type=Path,
        default=DEFAULT_UI_DIR,
        metavar="DIR",
        help="the built browser demo to serve at / (default: the one `make wasm` builds into "
        "the package)",
    )
    ui.add_argument("--no-ui", action="store_true", help="serve no page at /, only the API")
    serve.add_argument(
        "--sweep-interval",
        type=_sweep_interval,
        default=5.0,
        metavar="SECONDS",
        help="seconds between sweeps of stale leases (0.1 to 3600, default 5)",
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


def _check_store(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Opens the SQLite file once before serving, so a missing folder, a file that is not a
    lease store or one written by a newer leasekit is a one-line error, not a traceback."""
    try:
        LeaseStore(args.db, synchronous=args.synchronous).close()
    except LeaseError as failure:
        parser.error(f"--db {args.db}: {failure}")


def serve(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Runs the service until SIGINT or SIGTERM, then closes the store cleanly."""
    identity = _identity(args, parser)
    if args.database_url is not None:
        _check_database_url(args.database_url, parser)
    else:
        _check_store(args, parser)
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
        loopback_hosts_only=args.auth == "dev",
        ui_dir=None if args.no_ui else args.ui_dir,
    )
    if settings.ui_dir is not None and not ui_built(settings.ui_dir):
        log.warning(
            "the browser demo is not built in %s: / answers 404 until `make wasm` builds it",
            settings.ui_dir,
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
