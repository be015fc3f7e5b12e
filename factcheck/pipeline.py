"""The only place the stages are wired: ingest -> chunk -> embed -> index, and retrieve -> judge."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path

from .embed import Embedder, make_embedder
from .errors import InputError
from .index import AddReport, FactIndex, IndexStats
from .judge import Judge
from .models import Article, SearchHit, Verdict
from .retrieve import Mode, Retriever
from .settings import Settings


def _verifier_judge(settings: Settings) -> Judge:
    """The offline default judge: the project's trained verifier."""
    from .verifier import VerifierJudge

    return VerifierJudge.from_settings(settings)


def _llm_judge(settings: Settings) -> Judge:
    """An LLM through litellm, falling back to (and assisted by) the verifier."""
    from .judge import LLMJudge

    return LLMJudge(settings, fallback=_verifier_judge(settings))


JUDGES: dict[str, Callable[[Settings], Judge]] = {
    "verifier": _verifier_judge,
    "llm": _llm_judge,
}


def judge_name(settings: Settings) -> str:
    """Resolve `auto`: the LLM judge when a model is configured, else the offline verifier."""
    if settings.judge == "auto":
        return "llm" if settings.llm_model else "verifier"
    return settings.judge


def make_judge(settings: Settings) -> Judge:
    """Build the configured judge from the registry."""
    return JUDGES[judge_name(settings)](settings)


class Pipeline:
    """A loaded index, embedder and judge; `check` is what the API, CLI and evals call."""

    def __init__(self, settings: Settings, index: FactIndex, embedder: Embedder, judge: Judge | None):
        self.settings = settings
        self.index = index
        self.embedder = embedder
        self._judge = judge
        self.retriever = Retriever(index, embedder, settings)

    @property
    def judge(self) -> Judge:
        """The judge, built on first use so that `search`-only callers never load a model."""
        if self._judge is None:
            self._judge = make_judge(self.settings)
        return self._judge

    def search(
        self, query: str, k: int | None = None, as_of: date | None = None, *, mode: Mode = "hybrid"
    ) -> list[SearchHit]:
        """Retrieve passages for a query."""
        query = _clean_query(query, self.settings.max_claim_chars)
        return self.retriever.search(query, k, as_of, mode=mode)

    def check(self, claim: str, top_k: int | None = None, as_of: date | None = None) -> Verdict:
        """Retrieve evidence for a claim and judge it; timings per stage are recorded on the verdict."""
        claim = _clean_query(claim, self.settings.max_claim_chars)
        judge = self.judge
        t0 = time.perf_counter()
        qv = self.embedder.embed([claim])
        t1 = time.perf_counter()
        hits = self.retriever.search(claim, top_k, as_of, query_vector=qv)
        t2 = time.perf_counter()
        verdict = judge.judge(claim, hits)
        t3 = time.perf_counter()
        verdict.timings_ms.update(
            embed=round((t1 - t0) * 1000, 2),
            retrieve=round((t2 - t1) * 1000, 2),
            judge=round((t3 - t2) * 1000, 2),
            total=round((t3 - t0) * 1000, 2),
        )
        verdict.retrieved = len(hits)
        verdict.as_of = as_of
        return verdict

    def add_articles(self, articles: Iterable[Article], *, progress: bool = False) -> AddReport:
        """Index articles incrementally; later checks see them, in-flight checks keep their snapshot."""
        return self.index.add_articles(articles, progress=progress, batch_size=self.settings.embed_batch_size)

    def add_article(self, article: Article) -> AddReport:
        """Index one article (add or replace)."""
        return self.add_articles([article])

    def get_article(self, article_id: str) -> Article:
        """A stored article by id."""
        return self.index.get_article(article_id)

    def stats(self) -> IndexStats:
        """Index statistics."""
        return self.index.stats()


def _clean_query(text: str, max_chars: int) -> str:
    """Reject empty or oversized claims with a clear message."""
    if not isinstance(text, str) or not text.strip():
        raise InputError("claim is empty")
    text = " ".join(text.split())
    if len(text) > max_chars:
        raise InputError(f"claim is {len(text)} characters; the limit is {max_chars}")
    return text


def open_index(settings: Settings, embedder: Embedder, *, create: bool = False, rebuild: bool = False) -> FactIndex:
    """Open the configured index with the configured chunking."""
    return FactIndex.open(
        settings.resolved_index_dir(),
        embedder,
        create=create,
        rebuild=rebuild,
        max_chars=settings.chunk_max_chars,
        overlap_sentences=settings.chunk_overlap_sentences,
    )


def build_pipeline(
    settings: Settings, *, judge: Judge | None = None, embedder: Embedder | None = None, load_judge: bool = True
) -> Pipeline:
    """Load embedder, index and judge once (the API does this in its lifespan)."""
    embedder = embedder or make_embedder(settings)
    index = open_index(settings, embedder, create=True)
    if judge is None and load_judge:
        judge = make_judge(settings)
    return Pipeline(settings, index, embedder, judge)


def build_index(
    settings: Settings,
    paths: Iterable[Path],
    *,
    rebuild: bool = False,
    progress: bool = False,
    embedder: Embedder | None = None,
):
    """Ingest files and add them to the index; returns (AddReport, IngestReport, seconds)."""
    from .ingest import load_articles

    report = load_articles([Path(p) for p in paths])
    embedder = embedder or make_embedder(settings)
    index = open_index(settings, embedder, create=True, rebuild=rebuild)
    t0 = time.perf_counter()
    added = index.add_articles(report.articles, progress=progress, batch_size=settings.embed_batch_size)
    return added, report, time.perf_counter() - t0
