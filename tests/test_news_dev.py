"""The news-dev tuning set: well-formed, balanced, quotes verbatim in the ingested articles, independent of seed-news.

No model is loaded: the articles go through the real ingest only.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from factcheck import evals
from factcheck.ingest import load_articles

REPO = Path(__file__).resolve().parent.parent
DATASET = REPO / "evals" / "tuning" / "news-dev.jsonl"
CORPUS = REPO / "evals" / "tuning" / "news-dev"
SEED = REPO / "evals" / "datasets" / "seed-news.jsonl"
S, C, U = "supported", "contradicted", "unverified"
CATEGORIES = {
    "paraphrase", "name-variant", "changed-number", "changed-date", "negation", "swapped-entity", "near-miss",
    "absent", "single-outlet", "disagreement", "injection", "other-actor",
}


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return [json.loads(line) for line in DATASET.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def texts() -> dict[str, str]:
    """Article id -> cleaned text, as the real ingest produces it (the text every offset points into)."""
    report = load_articles([CORPUS])
    assert not report.skipped, report.skipped
    return {a.id: a.text for a in report.articles}


def test_corpus_loads_eight_articles_with_sidecar_metadata():
    report = load_articles([CORPUS])
    assert not report.skipped, report.skipped
    assert len(report.articles) == 8
    meta = {}
    for line in (CORPUS / "_meta.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        meta[row["id"]] = row
    assert set(meta) == {a.id for a in report.articles}
    for a in report.articles:
        assert a.source == meta[a.id]["source"]
        published = meta[a.id]["published"]
        assert (a.published.isoformat() if a.published else None) == published
        assert 250 <= len(a.text.split()) <= 450, a.id


def test_loads_through_the_eval_loader_and_is_balanced(rows):
    es = evals.load_eval_set(DATASET, corpus=CORPUS)
    assert es.fmt == "jsonl"
    assert es.corpus is not None and es.corpus.kind == "files"
    assert len(es.cases) == len(rows)
    assert len({c.id for c in es.cases}) == len(es.cases)
    counts = Counter(c.label for c in es.cases)
    assert set(counts) == {S, C, U}
    for label in (S, C, U):
        assert 57 <= counts[label] <= 63, counts
    assert {c.category for c in es.cases} == CATEGORIES


def test_evidence_and_quotes_are_in_the_cleaned_articles(rows, texts):
    for r in rows:
        assert r["claim"].strip() and r["category"], r["id"]
        assert set(r["evidence"]) <= set(texts), r["id"]
        if r["label"] == U:
            assert r["evidence"] == [] and "quote" not in r and "quote_article" not in r, r["id"]
            continue
        assert r["evidence"], r["id"]
        assert r["quote_article"] in texts, r["id"]
        assert r["quote_article"] in r["evidence"], r["id"]
        assert r["quote"] in texts[r["quote_article"]], r["id"]


def test_claims_are_independent_of_the_seed_set(rows):
    seed = [json.loads(line)["claim"] for line in SEED.read_text(encoding="utf-8").splitlines() if line.strip()]
    seed_norm = [s.strip().lower() for s in seed]
    for r in rows:
        claim = r["claim"].strip().lower()
        assert not any(claim == s or claim in s for s in seed_norm), r["id"]
