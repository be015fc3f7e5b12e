"""Shared pieces for the API tests: seed articles, settings and a pipeline on a tmp index, a uvicorn thread."""

from __future__ import annotations

import contextlib
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
