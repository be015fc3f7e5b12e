"""Shared pieces for the API tests: seed articles, settings and a pipeline on a tmp index, a uvicorn thread."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from datetime import date
from pathlib import Path

from factcheck.embed import HashEmbedder
from factcheck.models import Article
from factcheck.pipeline import Pipeline, build_pipeline
from factcheck.settings import Settings
from tests.fakes import NumberMatchJudge

SEED_DIR = Path(__file__).resolve().parents[1] / "evals" / "corpus" / "iraq-coalition-2024"
# Publication dates we assign for the tests (002 carries a May 2024 dateline; the others are January).
SEED_DATES = {
    "000": date(2024, 1, 8),
    "001": date(2024, 1, 27),
    "002": date(2024, 5, 29),
    "003": date(2024, 1, 25),
    "004": date(2024, 1, 27),
}


def seed_articles() -> list[Article]:
    """The five seed articles, built directly from the files (title = first line)."""
    out = []
    for f in sorted(SEED_DIR.glob("*.txt")):
        text = f.read_text(encoding="utf-8")
        title = next(line for line in text.splitlines() if line.strip()).strip()
        out.append(
            Article(
                id=f.stem,
                title=title,
                text=text,
                source=f"seed-{f.stem[:3]}",
                url=f"https://example.org/{f.stem}",
                published=SEED_DATES[f.stem[:3]],
            )
        )
    return out


def make_settings(tmp: Path, **overrides) -> Settings:
    """Settings for a hash-embedder index in `tmp` (no .env, no environment leakage)."""
    base = dict(
        index_dir=tmp / "index",
        embedder="hash",
        judge="verifier",
        llm_model=None,
        api_key=None,
        api_keys={},
        db_url=None,  # the verdict store: SQLite beside the tmp index, never a database named in the environment
        store_verdicts=True,
        cors_origins=[],
        workers=2,
        queue_size=8,
    )
    base.update(overrides)
    return Settings(_env_file=None, **base)


def make_pipeline(settings: Settings, judge=None, articles: list[Article] | None = None) -> Pipeline:
    """A real pipeline (FAISS + BM25 on disk) with the hash embedder and a scripted judge."""
    p = build_pipeline(settings, judge=judge or NumberMatchJudge(), embedder=HashEmbedder())
    p.add_articles(seed_articles() if articles is None else articles)
    return p


@contextlib.contextmanager
def serve_in_thread(app, host: str = "127.0.0.1"):
    """Run `app` under real uvicorn on a fresh port of a loopback `host`; yields the base URL."""
    import socket

    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((host, 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


# --- verdict store databases: SQLite in a tmp folder, and a fresh schema on the PostgreSQL test server ---

PG_URL = os.environ.get(
    "FACTCHECK_TEST_PG_URL", "postgresql://factcheck_test:factcheck_test@127.0.0.1:5432/factcheck_test"
)


def pg_reachable() -> str | None:
    """None when the PostgreSQL test server answers, else why not."""
    from sqlalchemy import create_engine, text

    engine = create_engine(
        PG_URL.replace("postgresql://", "postgresql+psycopg://", 1), connect_args={"connect_timeout": 2}
    )
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return None
    except Exception as exc:  # any failure to reach it means: no server for these tests
        return str(exc).splitlines()[0]
    finally:
        engine.dispose()


@contextlib.contextmanager
def database_url(kind: str, tmp: Path):
    """A URL of an empty verdict database of `kind` ("sqlite" or "postgresql"), dropped afterwards.

    PostgreSQL tests each get their own schema (the URL sets search_path); they skip when no server answers,
    unless FACTCHECK_TEST_REQUIRE_PG is set (CI), where they fail instead.
    """
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'verdicts.sqlite'}"
        return
    import uuid

    import pytest
    from sqlalchemy import create_engine, text

    why = pg_reachable()
    if why is not None:
        if os.environ.get("FACTCHECK_TEST_REQUIRE_PG"):
            pytest.fail(f"PostgreSQL test server unreachable at {PG_URL}: {why}")
        pytest.skip(f"no PostgreSQL test server ({why}); .ci/run starts one")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
