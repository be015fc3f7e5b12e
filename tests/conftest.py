"""Shared fixtures: real embedders and real FAISS indexes built in temp dirs from fixture articles."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from factcheck.embed import HashEmbedder, SentenceTransformerEmbedder  # noqa: E402
from factcheck.settings import Settings  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SEED_CORPUS = REPO / "evals" / "corpus" / "iraq-coalition-2024"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def minilm() -> SentenceTransformerEmbedder:
    """The bundled all-MiniLM-L6-v2, loaded once per test session."""
    return SentenceTransformerEmbedder()


@pytest.fixture(scope="session")
def hash_embedder() -> HashEmbedder:
    """The deterministic bag-of-words embedder."""
    return HashEmbedder()


@pytest.fixture(scope="session")
def seed_articles():
    """The five sample articles, cleaned by the real ingest."""
    from factcheck.ingest import load_articles

    report = load_articles([SEED_CORPUS])
    assert len(report.articles) == 5, report.skipped
    return report.articles


@pytest.fixture(scope="session")
def seed_settings(tmp_path_factory) -> Settings:
    """Settings pointing at a session-wide temp index of the seed corpus."""
    return Settings(index_dir=tmp_path_factory.mktemp("seed-index"), llm_model=None, judge="verifier")


@pytest.fixture(scope="session")
def seed_pipeline(seed_settings, minilm, seed_articles):
    """A search-only pipeline over a real MiniLM index of the seed corpus (judge built lazily)."""
    from factcheck.pipeline import build_pipeline

    pipe = build_pipeline(seed_settings, embedder=minilm, load_judge=False)
    pipe.add_articles(seed_articles)
    return pipe
