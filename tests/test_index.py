"""The index: incremental add / no-op / replace / remove, atomic writes, embedder mismatch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from factcheck.embed import HashEmbedder
from factcheck.errors import ArticleNotFoundError, EmbedderMismatchError, IndexCorruptError, IndexMissingError
from factcheck.index import FactIndex
from factcheck.models import Article


def _art(i: int, extra: str = "") -> Article:
    text = (
        f"Article number {i} reports on topic {i}. The mayor of town{i} said {i * 100} people attended. "
        f"Officials confirmed the figure on Monday.{extra}"
    )
    return Article(id=f"a{i}", title=f"Article {i}", text=text)


class ExplodingEmbedder(HashEmbedder):
    """A real embedder that dies mid-build, standing in for a crash or a killed process."""

    def embed(self, texts, **kw):
        raise RuntimeError("power cut")


def test_add_noop_replace_remove(tmp_path, hash_embedder):
    idx = FactIndex.open(tmp_path, hash_embedder, create=True)
    r = idx.add_articles([_art(1), _art(2)])
    assert r.added == ["a1", "a2"] and r.passages_added >= 2
    n = idx.stats().passages
    gen = idx.stats().generation

    r = idx.add_articles([_art(1), _art(2)])
    assert r.unchanged == ["a1", "a2"] and not r.added and not r.replaced
    assert idx.stats().generation == gen, "a no-op must not publish a new generation"

    r = idx.add_articles([_art(2, extra=" A correction was added later. It changed nothing else at all.")])
    assert r.replaced == ["a2"] and r.passages_removed >= 1
    assert "correction" in idx.get_article("a2").text
    snap = idx.snapshot()
    texts = [t for _, t in snap.iter_passage_texts()]
    assert sum("correction" in t for t in texts) >= 1
    assert snap.faiss.ntotal == len(texts) == idx.stats().passages

    r = idx.remove(["a1"])
    assert r.removed == ["a1"]
    with pytest.raises(ArticleNotFoundError):
        idx.get_article("a1")
    assert all(not t.startswith("Article number 1 ") for _, t in idx.snapshot().iter_passage_texts())
    assert idx.stats().articles == 1 and idx.stats().passages < n + 5
    with pytest.raises(ArticleNotFoundError):
        idx.remove(["nope"])

    # Reopening from disk sees the same state; vector ids and store rows agree.
    again = FactIndex.open(tmp_path, hash_embedder)
    assert again.stats().passages == idx.stats().passages
    vids = [v for v, _ in again.snapshot().iter_passage_texts()]
    assert len(again.snapshot().passages(vids)) == len(vids)
    assert np.allclose(np.linalg.norm(again.snapshot().vectors(vids), axis=1), 1.0, atol=1e-5)


def test_manifest_describes_the_index(tmp_path, hash_embedder):
    idx = FactIndex.open(tmp_path, hash_embedder, create=True, max_chars=300, overlap_sentences=0)
    idx.add_articles([_art(1), _art(2)])
    m = json.loads((tmp_path / "manifest.json").read_text())
    assert m["embedder"] == {"name": hash_embedder.name, "dim": hash_embedder.dim}
    assert m["chunking"] == {"max_chars": 300, "overlap_sentences": 0}
    assert set(m["articles"]) == {"a1", "a2"} and all(len(e["hash"]) == 64 for e in m["articles"].values())
    assert m["n_articles"] == 2 and m["n_passages"] == idx.stats().passages
    assert m["created"] and m["updated"]


def test_embedder_mismatch_is_refused(tmp_path, hash_embedder):
    FactIndex.open(tmp_path, hash_embedder, create=True).add_articles([_art(1)])
    with pytest.raises(EmbedderMismatchError, match="hash-bow-256"):
        FactIndex.open(tmp_path, HashEmbedder(dim=128))


def test_missing_and_corrupt_index(tmp_path, hash_embedder):
    with pytest.raises(IndexMissingError):
        FactIndex.open(tmp_path / "none", hash_embedder)
    FactIndex.open(tmp_path, hash_embedder, create=True).add_articles([_art(1)])
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(IndexCorruptError):
        FactIndex.open(tmp_path, hash_embedder)


def test_crash_mid_write_keeps_previous_index(tmp_path, hash_embedder):
    idx = FactIndex.open(tmp_path, hash_embedder, create=True)
    idx.add_articles([_art(1), _art(2)])
    before = idx.stats()

    broken = FactIndex.open(tmp_path, ExplodingEmbedder())
    with pytest.raises(RuntimeError, match="power cut"):
        broken.add_articles([_art(3)])

    after = FactIndex.open(tmp_path, hash_embedder)
    assert after.stats().passages == before.passages
    assert after.stats().manifest_sha256 == before.manifest_sha256
    with pytest.raises(ArticleNotFoundError):
        after.get_article("a3")
    # The next successful write cleans up the half-written generation.
    after.add_articles([_art(3)])
    assert after.get_article("a3").title == "Article 3"
    assert sorted(p.name for p in tmp_path.glob("gen-*")) == [f"gen-{after.stats().generation:06d}"]


_KILL_SCRIPT = """
import sys
from factcheck.embed import HashEmbedder
from factcheck.index import FactIndex
from factcheck.models import Article
idx = FactIndex.open(sys.argv[1], HashEmbedder(), create=True)
arts = [Article(id=f"k{i}", title="t", text=("Sentence number %d about things. " % i) * 40) for i in range(400)]
print("ready", flush=True)
idx.add_articles(arts)
"""


def test_killed_build_leaves_a_loadable_index(tmp_path, hash_embedder):
    """SIGKILL a real build at several points: the index is always the old or the new one, never broken."""
    idx = FactIndex.open(tmp_path, hash_embedder, create=True)
    idx.add_articles([_art(1)])
    old = idx.stats()
    outcomes = set()
    for delay in (0.05, 0.3, 0.8):
        proc = subprocess.Popen(
            [sys.executable, "-c", _KILL_SCRIPT, str(tmp_path)],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        now = FactIndex.open(tmp_path, hash_embedder).stats()
        outcomes.add("old" if now.manifest_sha256 == old.manifest_sha256 else "new")
        if now.manifest_sha256 != old.manifest_sha256:
            assert now.articles == 401
            break
    assert outcomes <= {"old", "new"}


def test_snapshot_survives_a_newer_generation(tmp_path, hash_embedder):
    idx = FactIndex.open(tmp_path, hash_embedder, create=True)
    idx.add_articles([_art(1)])
    snap = idx.snapshot()
    idx.add_articles([_art(2)])
    idx.add_articles([_art(3)])  # the generation `snap` read from is deleted by now
    vids = [v for v, _ in snap.iter_passage_texts()]
    assert {p.article_id for p, _ in snap.passages(vids).values()} == {"a1"}
    assert {p.article_id for p, _ in idx.snapshot().passages(range(100)).values()} == {"a1", "a2", "a3"}


def test_rebuild_replaces_everything_atomically(tmp_path, hash_embedder):
    FactIndex.open(tmp_path, hash_embedder, create=True).add_articles([_art(1), _art(2)])
    other = HashEmbedder(dim=64)
    rebuilt = FactIndex.open(tmp_path, other, rebuild=True)
    rebuilt.add_articles([_art(3)])
    fresh = FactIndex.open(tmp_path, other)
    assert fresh.stats().articles == 1 and fresh.stats().embedder == other.name
