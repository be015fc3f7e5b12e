"""The SQLAlchemy verdict store: SQLite beside the index by default, PostgreSQL (psycopg 3) for replicas."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import math
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, insert, select, update
from sqlalchemy.engine import URL, Connection, Engine, RowMapping, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, InterfaceError, OperationalError, SQLAlchemyError

from .. import errors
from ..models import Verdict
from .models import (
    CheckContext,
    NewRecord,
    RecordPage,
    RecordQuery,
    Review,
    ReviewEvent,
    ReviewInput,
    ReviewState,
    VerdictRecord,
    normalise_claim,
)
from .schema import migrate, review_events, verdicts

log = logging.getLogger("factcheck.store")

Row = RowMapping | Mapping[str, Any]

# Fields the API sets on a served verdict; the stored verdict is the judge's alone.
SERVED_FIELDS = {"verdict_id", "stored", "reviewed_label", "review_note"}


def _now() -> datetime:
    return datetime.now(UTC)


def database_url(url: str) -> URL:
    """The SQLAlchemy URL, with a bare postgresql:// (or postgres://) meaning psycopg 3."""
    try:
        parsed = make_url(url.replace("postgres://", "postgresql://", 1) if url.startswith("postgres://") else url)
    except ArgumentError as exc:
        raise errors.InputError(f"not a database URL: {exc}") from None
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    """Each SQLite connection: WAL (readers never block the writer), foreign keys, and our own BEGIN."""
    # pysqlite's implicit transactions commit before DDL and begin late; SQLAlchemy's documented recipe is to
    # switch them off and emit BEGIN in the "begin" event, so that migrations and writes are whole transactions.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    # WAL is a property of the file, set once. Switching needs the database to itself and SQLite does not wait
    # for that (no busy handler), so processes opening a new database at the same moment retry.
    for _ in range(100):
        try:
            if cur.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                break
            cur.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError:
            time.sleep(0.05)
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    """A writing transaction takes the write lock up front (IMMEDIATE), so read-then-write never fails to upgrade
    its lock; a reading one (DEFERRED) reads its WAL snapshot without waiting for writers."""
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("writes", True) else "BEGIN")


def _encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{seq}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    """The seq a cursor continues below (InputError for anything this store did not hand out)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, seq = raw.split(":", 1)
        if prefix != "v1" or not seq.isdigit():
            raise ValueError(raw)
        return int(seq)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise errors.InputError(f"not a cursor from this service: {cursor!r}") from None


def _context(row: Row) -> CheckContext:
    return CheckContext(
        top_k=row["top_k"],
        as_of=row["as_of"],
        judge=row["judge"],
        judge_version=row["judge_version"],
        models=json.loads(row["models_json"]),
        index_generation=row["index_generation"],
        index_sha256=row["index_sha256"],
        page_url=row["page_url"],
        api_key_name=row["api_key_name"],
        endpoint=row["endpoint"],
    )


def _record(row: Row, events: Sequence[ReviewEvent] = ()) -> VerdictRecord:
    return VerdictRecord(
        id=row["id"],
        claim=row["claim"],
        normalised_claim=row["normalised_claim"],
        label=row["label"],
        published_label=row["published_label"],
        review=Review.model_validate_json(row["review_json"]) if row["review_json"] else None,
        verdict=Verdict.model_validate_json(row["verdict_json"]),
        context=_context(row),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        version=row["version"],
        previous_id=row["previous_id"],
        events=list(events),
    )


def _event(row: Row) -> ReviewEvent:
    return ReviewEvent(
        seq=row["seq"],
        verdict_id=row["verdict_id"],
        kind=row["kind"],
        at=row["at"],
        who=row["who"],
        api_key_name=row["api_key_name"],
        before=ReviewState.model_validate_json(row["before_json"]),
        after=ReviewState.model_validate_json(row["after_json"]),
        reason=row["reason"],
        version=row["version"],
    )


def _state(record: VerdictRecord) -> ReviewState:
    r = record.review
    return ReviewState(
        published_label=record.published_label,
        rating_text=r.rating_text if r else None,
        note=r.note if r else None,
        reviewer=r.reviewer if r else None,
    )


class SqlVerdictStore:
    """Verdict records in any SQLAlchemy database; the schema is migrated on first use, not at construction."""

    def __init__(self, url: str, *, connect_timeout_s: float = 3.0, retry_after_s: float = 5.0):
        self.url = url
        self._url = database_url(url)
        self.retry_after_s = retry_after_s
        self._lock = threading.Lock()
        self._ready = False
        self._down_until = 0.0  # monotonic time before which a failed database is not tried again
        self._last_error = ""
        self.engine = self._make_engine(connect_timeout_s)

    def _make_engine(self, connect_timeout_s: float) -> Engine:
        """An engine with a pool; nothing connects until the first call."""
        if self._url.get_backend_name() == "sqlite":
            engine = create_engine(self._url, connect_args={"check_same_thread": False, "timeout": 30})
            event.listen(engine, "connect", _sqlite_connect)
            event.listen(engine, "begin", _sqlite_begin)
            return engine
        connect_args: dict[str, Any] = {}
        if self._url.get_backend_name() == "postgresql":
            connect_args["connect_timeout"] = max(2, math.ceil(connect_timeout_s))  # libpq's minimum is 2 s
        # pre_ping: a connection the server dropped (restart, failover) is replaced instead of failing a request.
        return create_engine(self._url, pool_pre_ping=True, connect_args=connect_args)

    @property
    def display_url(self) -> str:
        """The URL with any password hidden (for logs and the CLI)."""
        return self._url.render_as_string(hide_password=True)

    # --- connection handling -------------------------------------------------------------------------

    def _unavailable(self, exc: BaseException) -> errors.StoreUnavailableError:
        """Note the failure (the database is then left alone for `retry_after_s`) and say so."""
        self._last_error = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        self._down_until = time.monotonic() + self.retry_after_s
        log.warning(
            "verdict database %s unavailable, not tried for %.0f s: %s",
            self.display_url,
            self.retry_after_s,
            self._last_error,
        )
        return errors.StoreUnavailableError(f"verdict database {self.display_url} unavailable: {self._last_error}")

    def _ensure_schema(self) -> None:
        """Migrate once per process (every replica may; the migrations serialise themselves)."""
        if self._ready:
            return
        with self._lock:
            if self._ready:
                return
            if self._url.get_backend_name() == "sqlite" and self._url.database not in (None, "", ":memory:"):
                Path(self._url.database).parent.mkdir(parents=True, exist_ok=True)
            with self.engine.begin() as conn:
                migrate(conn)
            self._ready = True

    @contextmanager
    def _tx(self, *, writes: bool = True) -> Iterator[Connection]:
        """One transaction; database failures become StoreUnavailableError, domain errors pass through."""
        if time.monotonic() < self._down_until:
            raise errors.StoreUnavailableError(
                f"verdict database {self.display_url} unavailable: {self._last_error} (not retried for a few seconds)"
            )
        try:
            self._ensure_schema()
            with self.engine.connect() as conn, conn.execution_options(writes=writes).begin():
                yield conn
        except (errors.FactcheckError, IntegrityError):
            raise
        except (OperationalError, InterfaceError, OSError) as exc:
            raise self._unavailable(exc) from exc
        except SQLAlchemyError as exc:
            # The first line is the database's message; the rest is SQL and parameters, not for clients.
            log.error("verdict database error: %s", exc)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise errors.StoreUnavailableError(f"verdict database error: {first}") from exc

    def health(self) -> dict[str, Any]:
        """What /health shows, without touching the database: where it is and whether its last use failed."""
        down = time.monotonic() < self._down_until
        return {"url": self.display_url, "available": not down, "last_error": self._last_error if down else None}

    def close(self) -> None:
        """Release pooled connections."""
        self.engine.dispose()

    # --- reads ---------------------------------------------------------------------------------------

    def get_many(self, ids: Sequence[str]) -> dict[str, VerdictRecord]:
        """The records among `ids` that exist (without events)."""
        if not ids:
            return {}
        with self._tx(writes=False) as conn:
            rows = conn.execute(select(verdicts).where(verdicts.c.id.in_(set(ids)))).mappings()
            return {row["id"]: _record(row) for row in rows}

    def get(self, verdict_id: str) -> VerdictRecord:
        """One record with its review events, oldest first."""
        with self._tx(writes=False) as conn:
            row = conn.execute(select(verdicts).where(verdicts.c.id == verdict_id)).mappings().first()
            if row is None:
                raise errors.VerdictNotFoundError(f"no stored verdict {verdict_id!r}")
            events = conn.execute(
                select(review_events).where(review_events.c.verdict_id == verdict_id).order_by(review_events.c.seq)
            ).mappings()
            return _record(row, [_event(e) for e in events])

    def find(self, query: RecordQuery) -> RecordPage:
        """Records matching the filters, newest first; `next_cursor` continues where this page ends."""
        stmt = select(verdicts).order_by(verdicts.c.seq.desc()).limit(query.limit + 1)
        if query.claim:
            stmt = stmt.where(verdicts.c.normalised_claim.contains(normalise_claim(query.claim), autoescape=True))
        if query.label:
            stmt = stmt.where(verdicts.c.published_label == query.label)
        if query.since:
            stmt = stmt.where(verdicts.c.created_at >= query.since)
        if query.reviewed is not None:
            stmt = stmt.where(verdicts.c.reviewed == query.reviewed)
        if query.cursor:
            stmt = stmt.where(verdicts.c.seq < _decode_cursor(query.cursor))
        with self._tx(writes=False) as conn:
            rows = list(conn.execute(stmt).mappings())
            page = rows[: query.limit]
            events: dict[str, list[ReviewEvent]] = {r["id"]: [] for r in page}
            if any(r["reviewed"] for r in page):
                found = conn.execute(
                    select(review_events)
                    .where(review_events.c.verdict_id.in_([r["id"] for r in page if r["reviewed"]]))
                    .order_by(review_events.c.seq)
                ).mappings()
                for e in found:
                    events[e["verdict_id"]].append(_event(e))
        more = len(rows) > query.limit
        return RecordPage(
            items=[_record(r, events[r["id"]]) for r in page],
            next_cursor=_encode_cursor(page[-1]["seq"]) if more else None,
        )

    def iter_all(self, query: RecordQuery) -> Iterator[VerdictRecord]:
        """Every matching record, newest first, a page at a time."""
        q = query.model_copy(update={"limit": max(query.limit, 200)})
        while True:
            page = self.find(q)
            yield from page.items
            if page.next_cursor is None:
                return
            q = q.model_copy(update={"cursor": page.next_cursor})

    # --- writes --------------------------------------------------------------------------------------

    def add(self, records: Sequence[NewRecord]) -> list[VerdictRecord]:
        """Store new records in one transaction; an id already stored (by anyone) returns that record."""
        if not records:
            return []
        for _ in range(3):
            try:
                return self._add(records)
            except IntegrityError:
                continue  # another replica stored one of these ids between our read and our insert: read it back
        raise errors.StoreUnavailableError("verdict database: records kept conflicting with concurrent writes")

    def _add(self, records: Sequence[NewRecord]) -> list[VerdictRecord]:
        now = _now()
        with self._tx() as conn:
            ids = {r.id for r in records}
            done = {
                row["id"]: _record(row)
                for row in conn.execute(select(verdicts).where(verdicts.c.id.in_(ids))).mappings()
            }
            out = []
            for r in records:
                if r.id not in done:
                    done[r.id] = self._insert(conn, r, now)
                out.append(done[r.id])
            return out

    def _insert(self, conn: Connection, r: NewRecord, now: datetime) -> VerdictRecord:
        """Insert one record, linked to the newest earlier record of the same claim."""
        claim_hash = hashlib.sha256(r.normalised_claim.encode()).hexdigest()
        previous = conn.execute(
            select(verdicts.c.id).where(verdicts.c.claim_hash == claim_hash).order_by(verdicts.c.seq.desc()).limit(1)
        ).scalar()
        ctx = r.context
        verdict = r.verdict.model_copy(update=dict.fromkeys(SERVED_FIELDS))
        row: dict[str, Any] = {
            "id": r.id,
            "claim": r.claim,
            "normalised_claim": r.normalised_claim,
            "claim_hash": claim_hash,
            "label": verdict.label,
            "published_label": verdict.label,
            "reviewed": False,
            "review_json": None,
            "verdict_json": verdict.model_dump_json(exclude=SERVED_FIELDS),
            "judge": ctx.judge,
            "judge_version": ctx.judge_version,
            "models_json": json.dumps(ctx.models, sort_keys=True),
            "index_generation": ctx.index_generation,
            "index_sha256": ctx.index_sha256,
            "top_k": ctx.top_k,
            "as_of": ctx.as_of,
            "page_url": ctx.page_url,
            "api_key_name": ctx.api_key_name,
            "endpoint": ctx.endpoint,
            "created_at": now,
            "updated_at": now,
            "version": 1,
            "previous_id": previous,
        }
        conn.execute(insert(verdicts).values(**row))
        return VerdictRecord(
            id=r.id,
            claim=r.claim,
            normalised_claim=r.normalised_claim,
            label=verdict.label,
            published_label=verdict.label,
            verdict=verdict,
            context=ctx,
            created_at=now,
            updated_at=now,
            version=1,
            previous_id=previous,
        )

    def review(
        self, verdict_id: str, review: ReviewInput, expected_version: int, *, api_key_name: str | None = None
    ) -> VerdictRecord:
        """Publish a person's label (a correction when one was already published) and append the event."""
        with self._tx() as conn:
            row = conn.execute(select(verdicts).where(verdicts.c.id == verdict_id)).mappings().first()
            if row is None:
                raise errors.VerdictNotFoundError(f"no stored verdict {verdict_id!r}")
            if row["version"] != expected_version:
                raise errors.StaleReviewError(
                    f"verdict {verdict_id} is at version {row['version']}, not {expected_version}: "
                    "read it again and review what is there now"
                )
            current = _record(row)
            kind = "correction" if current.review is not None else "review"
            if kind == "correction" and not (review.reason or "").strip():
                raise errors.InputError("this verdict's review is already published: a correction needs a reason")
            now = _now()
            published = Review(
                label=review.label, rating_text=review.rating_text, note=review.note, reviewer=review.reviewer, at=now
            )
            after = ReviewState(
                published_label=review.label, rating_text=review.rating_text, note=review.note, reviewer=review.reviewer
            )
            done = conn.execute(
                update(verdicts)
                .where(verdicts.c.id == verdict_id, verdicts.c.version == expected_version)
                .values(
                    published_label=review.label,
                    reviewed=True,
                    review_json=published.model_dump_json(),
                    updated_at=now,
                    version=expected_version + 1,
                )
            )
            if done.rowcount != 1:  # a concurrent review got there between our read and this update
                raise errors.StaleReviewError(f"verdict {verdict_id} changed while this review was written")
            conn.execute(
                insert(review_events).values(
                    verdict_id=verdict_id,
                    kind=kind,
                    at=now,
                    who=review.reviewer,
                    api_key_name=api_key_name,
                    before_json=_state(current).model_dump_json(),
                    after_json=after.model_dump_json(),
                    reason=review.reason,
                    version=expected_version + 1,
                )
            )
        return self.get(verdict_id)
