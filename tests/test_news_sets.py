"""The news claim sets (news-dev for tuning, news-holdout for reporting): well-formed, balanced, quotes verbatim in
the ingested articles, independent of each other and of seed-news.

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
SEED = REPO / "evals" / "datasets" / "seed-news.jsonl"
S, C, U = "supported", "contradicted", "unverified"
CATEGORIES = {
    "paraphrase",
    "name-variant",
    "changed-number",
    "changed-date",
    "negation",
    "swapped-entity",
    "near-miss",
    "absent",
    "single-outlet",
    "disagreement",
    "injection",
    "other-actor",
}
# (dataset, articles, claims per label)
SETS = {
    "news-dev": (REPO / "evals" / "tuning" / "news-dev.jsonl", 8, (57, 63)),
    "news-holdout": (REPO / "evals" / "holdout" / "news-holdout.jsonl", 21, (140, 140)),
}


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module", params=sorted(SETS))
def news_set(request):
    """(name, dataset path, corpus folder, expected article count, per-label range, rows)."""
    path, n_articles, per_label = SETS[request.param]
    return request.param, path, path.with_suffix(""), n_articles, per_label, _rows(path)


def _texts(corpus: Path) -> dict[str, str]:
    """Article id -> cleaned text, as the real ingest produces it (the text every offset points into)."""
    report = load_articles([corpus])
    assert not report.skipped, report.skipped
    return {a.id: a.text for a in report.articles}


def test_corpus_loads_with_sidecar_metadata(news_set):
    _, _, corpus, n_articles, _, _ = news_set
    report = load_articles([corpus])
    assert not report.skipped, report.skipped
    assert len(report.articles) == n_articles
    meta = {}
    for line in (corpus / "_meta.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        meta[row["id"]] = row
    assert set(meta) == {a.id for a in report.articles}
    for a in report.articles:
        assert a.source == meta[a.id]["source"]
        published = meta[a.id]["published"]
        assert (a.published.isoformat() if a.published else None) == published
        assert 250 <= len(a.text.split()) <= 450, a.id


def test_loads_through_the_eval_loader_and_is_balanced(news_set):
    _, path, corpus, _, (lo, hi), rows = news_set
    es = evals.load_eval_set(path, corpus=corpus)
    assert es.fmt == "jsonl"
    assert es.corpus is not None and es.corpus.kind == "files"
    assert len(es.cases) == len(rows)
    assert len({c.id for c in es.cases}) == len(es.cases)
    counts = Counter(c.label for c in es.cases)
    assert set(counts) == {S, C, U}
    for label in (S, C, U):
        assert lo <= counts[label] <= hi, counts
    assert {c.category for c in es.cases} == CATEGORIES


def test_evidence_and_quotes_are_in_the_cleaned_articles(news_set):
    _, _, corpus, _, _, rows = news_set
    texts = _texts(corpus)
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


def test_claims_are_independent_of_the_other_sets(news_set):
    name, _, _, _, _, rows = news_set
    others = [SEED] + [p for n, (p, _, _) in SETS.items() if n != name]
    seen = [r["claim"].strip().lower() for p in others for r in _rows(p)]
    for r in rows:
        claim = r["claim"].strip().lower()
        assert not any(claim == s or claim in s for s in seen), r["id"]


def test_held_out_articles_are_not_in_the_tuning_corpus():
    """Nothing of the reported set is where calibration or training reads news-dev."""
    dev = {p.name for p in SETS["news-dev"][0].with_suffix("").iterdir()}
    held = {p.name for p in SETS["news-holdout"][0].with_suffix("").iterdir()} - {"_meta.jsonl"}
    assert held and not dev & held
