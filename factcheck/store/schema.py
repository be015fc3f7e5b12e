"""The store's tables and its versioned migrations (a `schema_migrations` table records what ran)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
    text,
)
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.types import TypeDecorator

from .. import errors


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps kept as naive UTC in every database and handed back timezone-aware."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Aware (or assumed-UTC naive) -> naive UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Naive UTC -> aware UTC."""
        return None if value is None else value.replace(tzinfo=UTC)


# An autoincrementing 64-bit key on PostgreSQL; SQLite only autoincrements an INTEGER PRIMARY KEY.
SeqType = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

schema_migrations = Table(
    "schema_migrations",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("description", String(200), nullable=False),
    Column("applied_at", UTCDateTime, nullable=False),
)

# The tables as migration 1 creates them. A later migration that changes a table alters it here too and
# freezes the old definition in its predecessor, so that migration 1 keeps creating what it always did.
verdicts = Table(
    "verdicts",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),  # insertion order: cursors, newest first
    Column("id", String(32), nullable=False, unique=True),
    Column("claim", Text, nullable=False),
    Column("normalised_claim", Text, nullable=False),
    # sha256 of normalised_claim: what links re-checks of a claim (a b-tree cannot index long text in PostgreSQL).
    Column("claim_hash", String(64), nullable=False),
    Column("label", String(16), nullable=False),
    Column("published_label", String(16), nullable=False),
    Column("reviewed", Boolean, nullable=False, default=False),
    Column("review_json", Text),
    Column("verdict_json", Text, nullable=False),
    Column("judge", String(200), nullable=False),
    Column("judge_version", String(200), nullable=False),
    Column("models_json", Text, nullable=False),
    Column("index_generation", Integer, nullable=False),
    Column("index_sha256", String(64), nullable=False),
    Column("top_k", Integer, nullable=False),
    Column("as_of", Date),
    Column("page_url", Text),
    Column("api_key_name", String(200)),
    Column("endpoint", String(32), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("version", Integer, nullable=False),
    Column("previous_id", String(32)),
)

review_events = Table(
    "review_events",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("verdict_id", String(32), ForeignKey("verdicts.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("who", String(200), nullable=False),
    Column("api_key_name", String(200)),
    Column("before_json", Text, nullable=False),
    Column("after_json", Text, nullable=False),
    Column("reason", Text),
    Column("version", Integer, nullable=False),
)


def _v1_tables(conn: Connection) -> None:
    """Verdicts and their review events."""
    verdicts.create(conn)
    review_events.create(conn)


_SQLITE_APPEND_ONLY = [
    "CREATE TRIGGER review_events_no_update BEFORE UPDATE ON review_events "
    "BEGIN SELECT RAISE(ABORT, 'review_events is append-only'); END",
    "CREATE TRIGGER review_events_no_delete BEFORE DELETE ON review_events "
    "BEGIN SELECT RAISE(ABORT, 'review_events is append-only'); END",
]
_PG_APPEND_ONLY = [
    "CREATE FUNCTION review_events_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'review_events is append-only'; END $$",
    "CREATE TRIGGER review_events_append_only BEFORE UPDATE OR DELETE ON review_events "
    "FOR EACH ROW EXECUTE FUNCTION review_events_append_only()",
]


def _v2_indexes_and_append_only(conn: Connection) -> None:
    """Indexes for the listing filters; the database itself refuses to change or delete a review event."""
    # Plain DDL, not Index objects: those attach to the shared Table and migration 1 would then create them too.
    for statement in [
        "CREATE INDEX ix_verdicts_claim_hash ON verdicts (claim_hash, seq)",
        "CREATE INDEX ix_verdicts_published_label ON verdicts (published_label, seq)",
        "CREATE INDEX ix_verdicts_created_at ON verdicts (created_at)",
        "CREATE INDEX ix_review_events_verdict ON review_events (verdict_id, seq)",
    ]:
        conn.exec_driver_sql(statement)
    for statement in _PG_APPEND_ONLY if conn.dialect.name == "postgresql" else _SQLITE_APPEND_ONLY:
        conn.exec_driver_sql(statement)


# Append only: a migration, once released, never changes; the next change is the next version.
MIGRATIONS: list[tuple[int, str, Callable[[Connection], Any]]] = [
    (1, "verdicts and review_events", _v1_tables),
    (2, "listing indexes; review_events append-only", _v2_indexes_and_append_only),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]

# Any constant: the advisory lock key that serialises migrations of replicas starting at once.
_PG_MIGRATION_LOCK = 0x76657264


def migrate(conn: Connection) -> int:
    """Apply the migrations not yet applied, in order, inside the caller's transaction; the schema version."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
    schema_migrations.create(conn, checkfirst=True)
    applied = set(conn.scalars(select(schema_migrations.c.version)))
    if applied and max(applied) > SCHEMA_VERSION:
        raise errors.StoreUnavailableError(
            f"the verdict database is at schema version {max(applied)}; this factcheck knows up to {SCHEMA_VERSION}"
        )
    for version, description, step in MIGRATIONS:
        if version in applied:
            continue
        step(conn)
        conn.execute(
            insert(schema_migrations).values(version=version, description=description, applied_at=datetime.now(UTC))
        )
    return SCHEMA_VERSION


def schema_version(conn: Connection) -> int:
    """The highest migration applied (0 for an empty database)."""
    if not conn.dialect.has_table(conn, "schema_migrations"):
        return 0
    return max(conn.scalars(select(schema_migrations.c.version)), default=0)
