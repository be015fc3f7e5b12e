"""Shared pieces for the API tests: seed articles, a scripted judge, a pipeline on a tmp index."""

from __future__ import annotations

import contextlib
import re
import threading
import time
from datetime import date
from pathlib import Path

from factcheck.chunk import split_sentences
from factcheck.embed import HashEmbedder
from factcheck.errors import ModelError
from factcheck.models import Article, Citation, SearchHit, SourceStance, Verdict
from factcheck.pipeline import Pipeline, build_pipeline
from factcheck.settings import Settings

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


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"\w+", text.lower().replace(",", "")) if len(w) > 2}


class FixedLabelJudge:
    """A judge that always answers one label (optionally with consistency findings) and counts its calls."""

    def __init__(self, label: str = "unverified", *, name: str = "fixed", version: str = "fixed-1", checks=(),
                 confidence: float = 0.5) -> None:
        self.label, self.name, self.version = label, name, version
        self.checks, self.confidence = list(checks), confidence
        self.calls = 0
        self.claims: list[str] = []  # the text each call was asked to judge

    def judge(self, claim: str, hits: list[SearchHit]) -> Verdict:
        """The fixed label, uncited."""
        self.calls += 1
        self.claims.append(claim)
        return Verdict(claim=claim, label=self.label, confidence=self.confidence, judge=self.name,
                       judge_version=self.version, checks=self.checks, explanation=f"fixed label {self.label}")


class ScriptedJudge:
    """A deterministic judge: cites each hit's best-overlapping sentence; 'supported' when the top
    citation contains every number in the claim. Claims starting with SLOW wait on `gate`; claims
    starting with FAIL raise ModelError; claims starting with BUG raise a plain RuntimeError."""

    name = "scripted"
    version = "test-1"

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.gate.set()
        self.calls = 0

    def judge(self, claim: str, hits: list[SearchHit]) -> Verdict:
        """Judge from hits with simple number matching."""
        self.calls += 1
        if claim.startswith("SLOW"):
            self.gate.wait(timeout=30)
        if claim.startswith("FAIL"):
            raise ModelError("scripted model failure", raw="<garbage>")
        if claim.startswith("BUG"):
            raise RuntimeError("scripted bug with secret internals")
        cw = _words(claim)
        citations = []
        for h in hits[:3]:
            p = h.passage
            spans = split_sentences(p.text)
            a, b = max(spans, key=lambda s: len(cw & _words(p.text[s[0]:s[1]])))
            citations.append(
                Citation(
                    article_id=h.article.id,
                    passage_id=p.id,
                    quote=p.text[a:b],
                    start=p.start + a,
                    end=p.start + b,
                    title=h.article.title,
                    source=h.article.source,
                    url=h.article.url,
                    published=h.article.published,
                    score=h.score,
                )
            )
        nums = [n.replace(",", "") for n in re.findall(r"\d[\d,]*\d|\d", claim)]
        top = citations[0].quote.replace(",", "") if citations else ""
        supported = bool(nums) and all(n in top for n in nums)
        label = "supported" if supported else "unverified"
        if supported:
            citations[0].stance = "supports"
        return Verdict(
            claim=claim,
            label=label,
            confidence=0.9 if supported else 0.4,
            citations=citations,
            sources=[SourceStance(article_id=c.article_id, stance=c.stance or "silent") for c in citations],
            explanation="scripted: numbers matched" if supported else "scripted: no matching numbers",
            judge=self.name,
            judge_version=self.version,
        )


def make_settings(tmp: Path, **overrides) -> Settings:
    """Settings for a hash-embedder index in `tmp` (no .env, no environment leakage)."""
    base = dict(index_dir=tmp / "index", embedder="hash", judge="verifier", llm_model=None, api_key=None,
                cors_origins=[], workers=2, queue_size=8)
    base.update(overrides)
    return Settings(_env_file=None, **base)


def make_pipeline(settings: Settings, judge=None, articles: list[Article] | None = None) -> Pipeline:
    """A real pipeline (FAISS + BM25 on disk) with the hash embedder and a scripted judge."""
    p = build_pipeline(settings, judge=judge or ScriptedJudge(), embedder=HashEmbedder())
    p.add_articles(seed_articles() if articles is None else articles)
    return p


@contextlib.contextmanager
def serve_in_thread(app):
    """Run `app` under real uvicorn on a fresh 127.0.0.1 port; yields the base URL."""
    import socket

    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
