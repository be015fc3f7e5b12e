"""The verdict store against real databases: SQLite and PostgreSQL (one schema per test)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import insert, text

from factcheck import errors
from factcheck.models import Citation, PartVerdict, Verdict
from factcheck.store import (
    CheckContext,
    NewRecord,
    RecordQuery,
    ReviewInput,
    SqlVerdictStore,
    normalise_claim,
    record_id,
)
from factcheck.store.schema import SCHEMA_VERSION, schema_migrations, schema_version
from tests.api_support import database_url

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    with database_url(request.param, tmp_path) as u:
        yield u


@pytest.fixture()
def store(url):
    s = SqlVerdictStore(url)
    yield s
    s.close()


def verdict(claim: str, label: str = "supported", **kw) -> Verdict:
    cite = Citation(
        article_id="a1",
        passage_id="a1#0",
        quote="About 2,500 US troops are in Iraq.",
        start=10,
        end=44,
        url="https://example.org/a1",
        title="Troops",
        published=date(2024, 1, 8),
        stance="supports",
    )
    return Verdict(
        claim=claim,
        label=label,
        confidence=0.9,
        citations=[cite],
        explanation="cited",
        judge="scripted",
        judge_version="test-1",
        **kw,
    )


def new(claim: str, *, sha: str = "s" * 64, generation: int = 1, judge_version: str = "test-1", **kw) -> NewRecord:
    n = normalise_claim(claim)
    ctx = CheckContext(
        top_k=6,
        judge="scripted",
        judge_version=judge_version,
        models={"judge": f"scripted/{judge_version}", "embedder": "hash"},
        index_generation=generation,
        index_sha256=sha,
        page_url="https://news.example/page",
        api_key_name="desk",
        endpoint="check",
    )
    return NewRecord(
        id=record_id(n, None, 6, sha, "scripted", judge_version),
        claim=claim,
        normalised_claim=n,
        verdict=verdict(claim, **kw),
        context=ctx,
    )


def review(label: str = "contradicted", **kw) -> ReviewInput:
    return ReviewInput(**{"label": label, "note": "checked the source", "reviewer": "A. Editor", **kw})


# --- normalisation and ids (no database) -------------------------------------------------------------


def test_normalise_claim_folds_case_space_quotes_and_final_stop():
    assert normalise_claim("  About 2,500\u00a0US troops  are in Iraq. ") == "about 2,500 us troops are in iraq"
    assert normalise_claim("\u201cNo\u201d, he said\u2019s") == normalise_claim('"no", he said\'s')
    assert normalise_claim("Is it true?") != normalise_claim("Is it true")


def test_record_id_depends_on_claim_generation_judge_and_options():
    base = record_id("x", None, 6, "a" * 64, "j", "1")
    assert base == record_id("x", None, 6, "a" * 64, "j", "1") and len(base) == 32
    others = [
        record_id("y", None, 6, "a" * 64, "j", "1"),
        record_id("x", date(2024, 1, 1), 6, "a" * 64, "j", "1"),
        record_id("x", None, 5, "a" * 64, "j", "1"),
        record_id("x", None, 6, "b" * 64, "j", "1"),
        record_id("x", None, 6, "a" * 64, "j", "2"),
    ]
    assert base not in others and len(set(others)) == len(others)


# --- schema ---------------------------------------------------------------------------------------------


def test_migrations_run_once_and_are_recorded(url):
    first = SqlVerdictStore(url)
    first.add([new("A claim")])
    with first.engine.connect() as conn:
        assert schema_version(conn) == SCHEMA_VERSION == 2
        rows = conn.execute(schema_migrations.select().order_by(schema_migrations.c.version)).all()
    assert [r.version for r in rows] == [1, 2]
    first.close()
    again = SqlVerdictStore(url)  # a second process (or replica) finds the schema current and keeps the data
    assert len(again.find(RecordQuery()).items) == 1
    with again.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM schema_migrations")).scalar() == 2
    again.close()


def test_a_database_at_an_older_version_is_migrated_forward(url):
    from factcheck.store.schema import MIGRATIONS

    old = SqlVerdictStore(url)
    with old.engine.begin() as conn:  # a database as the first release left it: migration 1 only
        schema_migrations.create(conn)
        version, description, step = MIGRATIONS[0]
        step(conn)
        conn.execute(
            insert(schema_migrations).values(version=version, description=description, applied_at=datetime.now(UTC))
        )
    old.close()
    s = SqlVerdictStore(url)
    [rec] = s.add([new("A claim stored after the upgrade")])
    s.review(rec.id, review(), 1)
    with s.engine.connect() as conn:
        assert schema_version(conn) == SCHEMA_VERSION
    with pytest.raises(Exception, match="append-only"):  # migration 2's trigger is in place
        with s.engine.begin() as conn:
            conn.execute(text("DELETE FROM review_events"))
    s.close()


def test_postgres_urls_mean_psycopg_3():
    from factcheck.store.sql import database_url as parse

    assert parse("postgresql://u:p@h/db").drivername == "postgresql+psycopg"
    assert parse("postgres://u:p@h/db").drivername == "postgresql+psycopg"
    assert parse("sqlite:///x.sqlite").drivername == "sqlite"
    with pytest.raises(errors.InputError):
        parse("not a url")


def test_a_newer_schema_than_the_code_knows_is_refused(url):
    s = SqlVerdictStore(url)
    s.find(RecordQuery())
    with s.engine.begin() as conn:
        conn.execute(insert(schema_migrations).values(version=99, description="future", applied_at=datetime.now(UTC)))
    s.close()
    newer = SqlVerdictStore(url)
    with pytest.raises(errors.StoreUnavailableError, match="schema version 99"):
        newer.find(RecordQuery())
    newer.close()


# --- records --------------------------------------------------------------------------------------------


def test_add_then_read_back_everything(store):
    part = PartVerdict(text="About 2,500 US troops are in Iraq", start=0, end=33, label="supported", confidence=0.8)
    r = new("About 2,500 US troops are in Iraq", verdict_id="x", stored=True, parts=[part])  # served fields: not kept
    [rec] = store.add([r])
    got = store.get(rec.id)
    assert got.id == r.id and got.claim == r.claim and got.normalised_claim == "about 2,500 us troops are in iraq"
    assert got.label == got.published_label == "supported" and got.review is None and got.version == 1
    assert got.verdict.citations == r.verdict.citations and got.verdict.parts == [part]
    assert got.verdict.verdict_id is None and got.verdict.stored is None
    assert got.context == r.context
    assert got.context.api_key_name == "desk" and got.context.index_sha256 == "s" * 64
    assert got.created_at.tzinfo is not None and abs(got.created_at - datetime.now(UTC)) < timedelta(minutes=1)
    assert got.previous_id is None and got.events == []


def test_the_same_id_is_stored_once(store):
    r = new("Spain has more than 300 troops in Iraq")
    [a] = store.add([r])
    [b, c] = store.add([r, r])
    assert a.id == b.id == c.id
    assert len(store.find(RecordQuery()).items) == 1
    assert store.get_many([a.id, "missing"]).keys() == {a.id}


def test_a_long_claim_in_any_script_is_stored_and_linked(store):
    claim = "\U0001f600 \u0627\u0644\u0642\u0648\u0627\u062a " * 400  # ~4 bytes a character, well past a b-tree row
    [a] = store.add([new(claim, sha="a" * 64)])
    [b] = store.add([new(claim, sha="b" * 64)])
    assert store.get(b.id).claim == claim and b.previous_id == a.id


def test_a_new_generation_or_judge_links_to_the_earlier_record(store):
    [first] = store.add([new("Claim X", sha="a" * 64)])
    [second] = store.add([new("claim x.", sha="b" * 64, generation=2)])
    [third] = store.add([new("Claim X", sha="b" * 64, judge_version="test-2")])
    assert first.id != second.id != third.id
    assert second.previous_id == first.id and third.previous_id == second.id
    assert store.get(third.id).previous_id == second.id


def test_find_filters_and_pages_newest_first(store):
    for i in range(7):
        store.add([new(f"Claim number {i} about 50% of 100_000 troops", label="supported" if i % 2 else "unverified")])
    seen, cursor = [], None
    while True:
        page = store.find(RecordQuery(limit=3, cursor=cursor))
        seen += [r.claim for r in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [f"Claim number {i} about 50% of 100_000 troops" for i in reversed(range(7))]
    assert [r.claim for r in store.find(RecordQuery(claim="NUMBER 3")).items] == [
        "Claim number 3 about 50% of 100_000 troops"
    ]
    assert len(store.find(RecordQuery(claim="50% of 100_000")).items) == 7  # % and _ are literal, not wildcards
    assert store.find(RecordQuery(claim="5_%")).items == []
    assert len(store.find(RecordQuery(label="supported")).items) == 3
    assert store.find(RecordQuery(since=datetime.now(UTC) + timedelta(hours=1))).items == []
    assert len(store.find(RecordQuery(since=datetime.now(UTC) - timedelta(hours=1))).items) == 7
    with pytest.raises(errors.InputError):
        store.find(RecordQuery(cursor="not-a-cursor"))


def test_review_publishes_a_label_and_keeps_the_trail(store):
    [rec] = store.add([new("About 2,500 US troops are in Iraq")])
    with pytest.raises(errors.VerdictNotFoundError):
        store.review("nope", review(), 1)
    done = store.review(rec.id, review(rating_text="Misleading"), 1, api_key_name="editor")
    assert done.label == "supported" and done.published_label == "contradicted" and done.version == 2
    assert done.review is not None and done.review.rating_text == "Misleading" and done.review.reviewer == "A. Editor"
    [event] = done.events
    assert event.kind == "review" and event.who == "A. Editor" and event.api_key_name == "editor"
    assert event.before.published_label == "supported" and event.after.published_label == "contradicted"
    assert event.version == 2
    # A stale version is refused; a correction of a published review needs a reason.
    with pytest.raises(errors.StaleReviewError):
        store.review(rec.id, review("supported"), 1)
    with pytest.raises(errors.InputError, match="reason"):
        store.review(rec.id, review("supported"), 2)
    fixed = store.review(rec.id, review("supported", reason="misread the date"), 2)
    assert fixed.published_label == "supported" and fixed.version == 3
    assert [e.kind for e in fixed.events] == ["review", "correction"]
    assert fixed.events[1].reason == "misread the date" and fixed.events[1].before.published_label == "contradicted"
    assert [r.id for r in store.find(RecordQuery(reviewed=True)).items] == [rec.id]
    assert store.find(RecordQuery(reviewed=False)).items == []
    assert store.find(RecordQuery(reviewed=True)).items[0].events == fixed.events


def test_review_events_are_append_only_in_the_database(store):
    [rec] = store.add([new("A reviewed claim")])
    store.review(rec.id, review(), 1)
    for statement in ("UPDATE review_events SET who = 'someone else'", "DELETE FROM review_events"):
        with pytest.raises(Exception, match="append-only"):
            with store.engine.begin() as conn:
                conn.execute(text(statement))
    assert store.get(rec.id).events[0].who == "A. Editor"


def test_concurrent_reviews_of_one_version_one_wins(store):
    [rec] = store.add([new("A contested claim")])
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def attempt(i: int) -> None:
        barrier.wait()
        try:
            store.review(rec.id, review(reviewer=f"editor {i}"), 1)
            outcomes.append("ok")
        except errors.StaleReviewError:
            outcomes.append("stale")

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok", "stale", "stale", "stale"]
    assert len(store.get(rec.id).events) == 1 and store.get(rec.id).version == 2


def test_concurrent_writers_of_the_same_claim_store_it_once(url):
    stores = [SqlVerdictStore(url) for _ in range(3)]
    r = new("Everyone checks this claim at once")
    ids: list[str] = []
    barrier = threading.Barrier(3)

    def write(s: SqlVerdictStore) -> None:
        barrier.wait()
        ids.append(s.add([r])[0].id)

    threads = [threading.Thread(target=write, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ids == [r.id] * 3
    assert len(stores[0].find(RecordQuery()).items) == 1
    for s in stores:
        s.close()


def test_readers_do_not_wait_for_a_writer(store):
    [rec] = store.add([new("A claim read while another is written")])
    with store.engine.connect() as writer, writer.begin():  # a write transaction left open
        writer.execute(insert(schema_migrations).values(version=50, description="held", applied_at=datetime.now(UTC)))
        t0 = time.perf_counter()
        assert store.get(rec.id).id == rec.id and store.find(RecordQuery()).items
        assert time.perf_counter() - t0 < 2
        writer.rollback()


# --- failures -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad", ["postgresql://nobody@127.0.0.1:1/nothing", "sqlite:///{tmp}/a-file/verdicts.sqlite"], ids=["pg", "sqlite"]
)
def test_an_unreachable_database_is_store_unavailable_and_not_retried_at_once(tmp_path, bad):
    (tmp_path / "a-file").write_text("a file where a folder should be")
    s = SqlVerdictStore(bad.format(tmp=tmp_path), retry_after_s=30)
    with pytest.raises(errors.StoreUnavailableError):
        s.get_many(["x"])
    t0 = time.perf_counter()
    with pytest.raises(errors.StoreUnavailableError, match="not retried"):
        s.add([new("A claim")])
    assert time.perf_counter() - t0 < 0.05
    s.close()


WRITER = textwrap.dedent(
    """
    import sys
    from tests.test_store import new
    from factcheck.store import SqlVerdictStore
    s = SqlVerdictStore(sys.argv[1])
    i = 0
    while True:
        [r] = s.add([new(f"claim {i} written before the kill " + "x" * 2000)])
        print(r.id, flush=True)  # printed only after the commit returned
        i += 1
    """
)


def test_a_writer_killed_mid_write_leaves_every_committed_record_readable(url):
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, url], stdout=subprocess.PIPE, text=True, cwd=REPO, env={**os.environ}
    )
    assert proc.stdout is not None
    committed = []
    deadline = time.monotonic() + 60
    while len(committed) < 40 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        committed.append(line.strip())
    os.kill(proc.pid, signal.SIGKILL)  # no cleanup, possibly inside a transaction
    proc.wait(timeout=10)
    committed += [line.strip() for line in proc.stdout.read().splitlines() if line.strip()]
    assert len(committed) >= 40, "the writer did not get going"
    s = SqlVerdictStore(url)
    found = s.get_many(committed)
    assert set(found) == set(committed)
    assert all(r.verdict.citations for r in found.values())
    stored = list(s.iter_all(RecordQuery()))
    assert len(stored) >= len(committed)  # at most the one being written at the kill is extra, and it is whole
    s.add([new("written after the crash")])  # and the database still takes writes
    s.close()
