"""The lease tables, placed on a ``MetaData`` the host owns, on SQLite and on PostgreSQL.

They are the Rust store's tables (``leases`` and ``lease_events``, see the docs of
``leasekit_core::store``) restated for SQLAlchemy, so a host's Alembic sees them like its own
tables, and a SQLite file written through them can be opened by :class:`leasekit.LeaseStore`
later or from another process, and the other way round. The columns, their meaning, the
indexes and the guard triggers are the same; the types are the portable spelling of the same
values: integer UTC milliseconds are ``INTEGER`` on SQLite and ``BIGINT`` on PostgreSQL, the
token digest is ``BLOB``/``BYTEA`` of 32 bytes, text is ``TEXT``.

The ``CHECK`` constraints restate the model's invariants on every writer. Those written in
portable SQL apply on both databases; SQLite, which would store a string in an integer
column, also gets the Rust schema's ``typeof`` checks. The triggers (rows of ``leases`` are
never deleted and their fence never goes back; ``lease_events`` is append-only) are created
after each table by DDL events: the Rust schema's own on SQLite, PL/pgSQL equivalents on
PostgreSQL. On SQLite, creating the tables also sets ``PRAGMA user_version`` to the Rust store's
schema version when the file had none, so the Rust store finds a current file and does not try
to create the tables again.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    DDL,
    BigInteger,
    CheckConstraint,
    Column,
    Connection,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    event,
    text,
)
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.sql.ddl import ExecutableDDLElement

from leasekit.errors import SchemaTooNew

__all__ = ["SCHEMA_VERSION", "LeaseTables", "define_tables"]

SCHEMA_VERSION = 1
"""The Rust store's schema version these tables are (``PRAGMA user_version`` on SQLite)."""

MAX_SAFE_INTEGER = 9_007_199_254_740_991

# Integer milliseconds and fences: SQLite's INTEGER is already 64-bit, and spelling it as the
# Rust schema does keeps `PRAGMA table_info` identical for both writers.
Millis = BigInteger().with_variant(Integer(), "sqlite")

_HOLDER_COLUMNS = (
    "owner",
    "session_id",
    "token_digest",
    "acquired_at",
    "heartbeat_at",
    "interval_ms",
    "beats",
    "stale_after_ms",
    "expires_at",
)

_SQLITE_LEASE_TYPES = """
typeof(scope) = 'text' AND typeof(resource_id) = 'text' AND typeof(fence) = 'integer'
AND (state = 'vacant' OR (
    typeof(owner) = 'text' AND typeof(session_id) = 'text' AND typeof(token_digest) = 'blob'
    AND typeof(acquired_at) = 'integer' AND typeof(heartbeat_at) = 'integer'
    AND typeof(interval_ms) = 'integer' AND typeof(beats) = 'integer'))
AND (ended_at IS NULL OR typeof(ended_at) = 'integer')
"""

_SQLITE_TRIGGERS = (
    """
CREATE TRIGGER leases_are_never_deleted BEFORE DELETE ON leases
BEGIN
    SELECT RAISE(ABORT, 'leases rows are never deleted: the fence must survive');
END""",
    """
CREATE TRIGGER leases_fence_never_goes_back BEFORE UPDATE OF fence ON leases
    WHEN NEW.fence < OLD.fence
BEGIN
    SELECT RAISE(ABORT, 'leases.fence never goes back');
END""",
)

_SQLITE_EVENT_TRIGGERS = (
    """
CREATE TRIGGER lease_events_are_append_only BEFORE UPDATE ON lease_events
BEGIN
    SELECT RAISE(ABORT, 'lease_events is append-only');
END""",
    """
CREATE TRIGGER lease_events_are_deleted_only_by_pruning BEFORE DELETE ON lease_events
    WHEN (SELECT state FROM leases
          WHERE scope = OLD.scope AND resource_id = OLD.resource_id) IS NOT 'vacant'
BEGIN
    SELECT RAISE(ABORT, 'lease_events rows are deleted only by pruning a vacant resource');
END""",
)


def _ddl(statement: str, dialect: str) -> ExecutableDDLElement:
    """``statement``, run only on ``dialect``."""
    return DDL(statement).execute_if(dialect=dialect)  # type: ignore[no-untyped-call]


def _postgres_lease_guards(prefix: str) -> tuple[str, ...]:
    return (
        f"""
CREATE FUNCTION {prefix}leasekit_leases_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'leases rows are never deleted: the fence must survive';
    END IF;
    IF NEW.fence < OLD.fence THEN
        RAISE EXCEPTION 'leases.fence never goes back';
    END IF;
    RETURN NEW;
END
$$""",
        f"""
CREATE TRIGGER leases_guard BEFORE UPDATE OR DELETE ON {prefix}leases
    FOR EACH ROW EXECUTE FUNCTION {prefix}leasekit_leases_guard()""",
    )


def _postgres_event_guards(prefix: str) -> tuple[str, ...]:
    # `prefix` is the MetaData's schema name from the host's code, never request data.
    return (
        f"""
CREATE FUNCTION {prefix}leasekit_lease_events_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        RAISE EXCEPTION 'lease_events is append-only';
    END IF;
    IF (SELECT state FROM {prefix}leases
        WHERE scope = OLD.scope AND resource_id = OLD.resource_id) IS DISTINCT FROM 'vacant' THEN
        RAISE EXCEPTION 'lease_events rows are deleted only by pruning a vacant resource';
    END IF;
    RETURN OLD;
END
$$""",  # noqa: S608
        f"""
CREATE TRIGGER lease_events_guard BEFORE UPDATE OR DELETE ON {prefix}lease_events
    FOR EACH ROW EXECUTE FUNCTION {prefix}leasekit_lease_events_guard()""",
    )


@dataclass(frozen=True, slots=True)
class LeaseTables:
    """The two tables on one ``MetaData``: pass it to every function of :mod:`leasekit.sqla`."""

    leases: Table
    events: Table

    @property
    def metadata(self) -> MetaData:
        """The ``MetaData`` the tables were placed on."""
        return self.leases.metadata

    def create(self, connection: Connection) -> None:
        """Creates the tables, their indexes and triggers where they do not exist yet.

        Takes a synchronous connection: inside an Alembic migration pass ``op.get_bind()``; from
        async code use :func:`leasekit.sqla.create_schema`. On SQLite it refuses a file whose
        ``user_version`` is newer than this leasekit knows, as the Rust store does.
        """
        check_schema_version(connection)
        self.metadata.create_all(connection, tables=[self.leases, self.events])

    def drop(self, connection: Connection) -> None:
        """Drops both tables (and, on PostgreSQL, their trigger functions)."""
        self.metadata.drop_all(connection, tables=[self.leases, self.events])


def check_schema_version(connection: Connection) -> None:
    """On SQLite, refuses a file written by a newer leasekit (``user_version`` above ours)."""
    if connection.dialect.name != "sqlite":
        return
    found = connection.exec_driver_sql("PRAGMA user_version").scalar_one()
    if found > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"the database has lease schema version {found}; this leasekit reads up to "
            f"{SCHEMA_VERSION}: a newer leasekit wrote it"
        )


_PLACED_KEY = "leasekit.tables"
"""Where :func:`define_tables` keeps the tables it placed on a ``MetaData``."""


def define_tables(metadata: MetaData) -> LeaseTables:
    """Places ``leases`` and ``lease_events`` on ``metadata`` and answers them.

    Use the host's declarative ``Base.metadata``, so its Alembic autogenerate sees the tables;
    define them where the models are defined, so every import of the models brings them. The
    tables take ``metadata.schema`` when it has one. Calling it again on the same ``MetaData``
    answers the tables it already placed there; a ``MetaData`` that holds other tables of those
    names is refused with a :class:`ValueError` naming them.
    """
    placed = metadata.info.get(_PLACED_KEY)
    if isinstance(placed, LeaseTables):
        return placed
    prefix = f"{metadata.schema}." if metadata.schema else ""
    taken = [name for name in (f"{prefix}leases", f"{prefix}lease_events") if name in metadata]
    if taken:
        raise ValueError(
            f"metadata already holds table(s) {', '.join(taken)} not defined by leasekit; "
            "give leasekit a MetaData without them"
        )

    leases = _leases_table(metadata)
    events = _events_table(metadata)

    for statement in _SQLITE_TRIGGERS:
        event.listen(leases, "after_create", _ddl(statement, "sqlite"))
    for statement in _SQLITE_EVENT_TRIGGERS:
        event.listen(events, "after_create", _ddl(statement, "sqlite"))
    for statement in _postgres_lease_guards(prefix):
        event.listen(leases, "after_create", _ddl(statement, "postgresql"))
    for statement in _postgres_event_guards(prefix):
        event.listen(events, "after_create", _ddl(statement, "postgresql"))
    for table, function in ((leases, "leases_guard"), (events, "lease_events_guard")):
        drop = f"DROP FUNCTION IF EXISTS {prefix}leasekit_{function}()"
        event.listen(table, "after_drop", _ddl(drop, "postgresql"))
    event.listen(leases, "after_create", _claim_sqlite_schema_version)
    tables = LeaseTables(leases=leases, events=events)
    metadata.info[_PLACED_KEY] = tables
    return tables


def _leases_table(metadata: MetaData) -> Table:
    vacant_is_empty = " AND ".join(f"{column} IS NULL" for column in _HOLDER_COLUMNS)
    holder_is_complete = " AND ".join(f"{column} IS NOT NULL" for column in _HOLDER_COLUMNS)
    return Table(
        "leases",
        metadata,
        Column("scope", Text, nullable=False),
        Column("resource_id", Text, nullable=False),
        Column("fence", Millis, nullable=False),
        Column("state", Text, nullable=False),
        Column("owner", Text),
        Column("session_id", Text),
        Column("token_digest", LargeBinary),
        Column("acquired_at", Millis),
        Column("heartbeat_at", Millis),
        Column("interval_ms", Millis),
        Column("beats", Millis),
        Column("stale_after_ms", Millis),
        Column("expires_at", Millis),
        Column("end_reason", Text),
        Column("ended_at", Millis),
        PrimaryKeyConstraint("scope", "resource_id", name="leases_pkey"),
        CheckConstraint(f"fence BETWEEN 0 AND {MAX_SAFE_INTEGER}", name="fence_in_range"),
        CheckConstraint("state IN ('vacant', 'held', 'released')", name="state_is_known"),
        CheckConstraint(
            f"CASE WHEN state = 'vacant' THEN {vacant_is_empty} "
            f"ELSE fence >= 1 AND {holder_is_complete} AND length(token_digest) = 32 "
            "AND stale_after_ms = interval_ms * beats "
            "AND expires_at = heartbeat_at + stale_after_ms END",
            name="holder_is_whole",
        ),
        CheckConstraint(
            "CASE WHEN state = 'released' THEN end_reason IS NOT NULL AND ended_at IS NOT NULL "
            "ELSE end_reason IS NULL AND ended_at IS NULL END",
            name="only_released_has_an_end",
        ),
        CheckConstraint(
            "end_reason IS NULL OR end_reason IN ('released', 'expired', 'taken_over', 'forced')",
            name="end_reason_is_known",
        ),
        CheckConstraint(_SQLITE_LEASE_TYPES, name="sqlite_types").ddl_if(dialect="sqlite"),
        Index(
            "leases_held_by_expiry",
            "expires_at",
            "scope",
            "resource_id",
            sqlite_where=text("state = 'held'"),
            postgresql_where=text("state = 'held'"),
        ),
        Index(
            "leases_released_by_end",
            "ended_at",
            sqlite_where=text("state = 'released'"),
            postgresql_where=text("state = 'released'"),
        ),
        sqlite_with_rowid=False,
    )


def _events_table(metadata: MetaData) -> Table:
    leases_prefix = f"{metadata.schema}." if metadata.schema else ""
    return Table(
        "lease_events",
        metadata,
        Column("id", Millis, Identity(), primary_key=True),
        Column("at", Millis, nullable=False),
        Column("scope", Text, nullable=False),
        Column("resource_id", Text, nullable=False),
        Column("kind", Text, nullable=False),
        Column("owner", Text, nullable=False),
        Column("session_id", Text, nullable=False),
        Column("fence", Millis, nullable=False),
        Column("actor", Text),
        CheckConstraint(
            "kind IN ('acquired', 'renewed', 'taken_over', 'forced', 'released', 'expired')",
            name="kind_is_known",
        ),
        CheckConstraint("fence >= 1", name="fence_is_granted"),
        CheckConstraint(
            "typeof(at) = 'integer' AND typeof(fence) = 'integer'", name="sqlite_types"
        ).ddl_if(dialect="sqlite"),
        ForeignKeyConstraint(
            ["scope", "resource_id"],
            [f"{leases_prefix}leases.scope", f"{leases_prefix}leases.resource_id"],
            name="lease_events_resource_fkey",
        ),
        Index("lease_events_by_resource", "scope", "resource_id", "id"),
        sqlite_autoincrement=True,
    )


def _claim_sqlite_schema_version(target: Table, connection: Connection, **_: object) -> None:
    """Marks a SQLite file that just got the lease tables as the Rust store's schema version,
    unless something already set ``user_version``."""
    dialect: Dialect = connection.dialect
    if dialect.name != "sqlite" or not isinstance(connection, Connection):
        return
    if connection.exec_driver_sql("PRAGMA user_version").scalar_one() == 0:
        connection.exec_driver_sql(f"PRAGMA user_version = {SCHEMA_VERSION}")
