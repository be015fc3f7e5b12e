"""Hybrid retrieval: dense (FAISS) + BM25 fused by reciprocal rank, with syndicated copies grouped."""

from __future__ import annotations

from datetime import date
from typing import Literal

import numpy as np

from .embed import Embedder
from .index import FactIndex, Snapshot
from .models import ArticleMeta, DuplicateRef, Passage, SearchHit
from .settings import Settings
from .text import tokenize

Mode = Literal["hybrid", "dense", "bm25"]


class Retriever:
    """Searches the live index snapshot; stateless apart from settings."""

    def __init__(self, index: FactIndex, embedder: Embedder, settings: Settings):
        self.index = index
        self.embedder = embedder
        self.settings = settings

    def search(
        self,
        query: str,
        k: int | None = None,
        as_of: date | None = None,
        *,
        mode: Mode = "hybrid",
        query_vector: np.ndarray | None = None,
        snapshot: Snapshot | None = None,
    ) -> list[SearchHit]:
        """Top-k passages for `query`; articles published after `as_of` are left out."""
        s = self.settings
        k = k or s.top_k
        snap = snapshot or self.index.snapshot()
        if snap.manifest.n_passages == 0:
            return []
        # Over-fetch when filtering by date so that k survive the filter.
        widen = 3 if as_of else 1
        dense: list[tuple[int, float]] = []
        if mode in ("hybrid", "dense"):
            qv = query_vector if query_vector is not None else self.embedder.embed([query])
            n = min(max(s.dense_candidates, k) * widen, snap.manifest.n_passages)
            scores, ids = snap.search(np.asarray(qv, dtype=np.float32).reshape(1, -1), n, ef_search=s.ann_ef_search)
            dense = [(int(i), float(sc)) for i, sc in zip(ids[0], scores[0]) if i >= 0]
        sparse: list[tuple[int, float]] = []
        if mode in ("hybrid", "bm25"):
            sparse = snap.bm25().search(query, max(s.bm25_candidates, k) * widen)

        fused: dict[int, float] = {}
        for ranked in (dense, sparse):
            for rank, (vid, _) in enumerate(ranked):
                fused[vid] = fused.get(vid, 0.0) + 1.0 / (s.rrf_k + rank + 1)
        dense_by, sparse_by = dict(dense), dict(sparse)
        order = sorted(fused, key=lambda v: (-fused[v], v))
        rows = snap.passages(order)
        if as_of is not None:
            order = [v for v in order if v in rows and not _after(rows[v][1], as_of)]
        return self._group(snap, order, rows, fused, dense_by, sparse_by, k)

    def _group(self, snap, order, rows, fused, dense_by, sparse_by, k) -> list[SearchHit]:
        """Keep the top k distinct passages; near-identical ones from other articles become duplicates."""
        threshold = self.settings.dedup_threshold
        hits: list[SearchHit] = []
        kept_vecs: list[np.ndarray] = []
        # Compare only within a bounded candidate window: grouping is for what the user would see.
        window = order[: max(k * 4, 20)]
        vecs = snap.vectors(window)
        for pos, vid in enumerate(window):
            if vid not in rows:
                continue
            passage, meta = rows[vid]
            vec = vecs[pos]
            dup_of = None
            if kept_vecs:
                sims = np.stack(kept_vecs) @ vec
                j = int(np.argmax(sims))
                if (
                    sims[j] >= threshold
                    and hits[j].article.id != meta.id
                    and _same_wording(hits[j].passage.text, passage.text)
                ):
                    dup_of = (j, float(sims[j]))
            if dup_of is not None:
                j, sim = dup_of
                if all(d.article.id != meta.id for d in hits[j].duplicates):
                    hits[j].duplicates.append(DuplicateRef(passage_id=passage.id, article=meta, similarity=sim))
                continue
            if len(hits) >= k:
                continue  # still scanning so later copies of kept hits get grouped
            hits.append(_hit(passage, meta, fused[vid], dense_by.get(vid), sparse_by.get(vid), len(hits) + 1))
            kept_vecs.append(vec)
        return hits


def _same_wording(a: str, b: str) -> bool:
    """Syndicated copies share their wording and every number; a changed figure is a different claim."""
    ta, tb = set(tokenize(a)), set(tokenize(b))
    if not ta or not tb:
        return False
    nums_a, nums_b = {t for t in ta if t.isdigit()}, {t for t in tb if t.isdigit()}
    return nums_a == nums_b and len(ta & tb) / len(ta | tb) >= 0.8


def _after(meta: ArticleMeta, as_of: date) -> bool:
    """True when the article is known to be published after `as_of` (unknown dates are kept)."""
    return meta.published is not None and meta.published > as_of


def _hit(passage: Passage, meta: ArticleMeta, score, dense, sparse, rank) -> SearchHit:
    """Assemble a SearchHit."""
    return SearchHit(passage=passage, article=meta, score=score, dense_score=dense, bm25_score=sparse, rank=rank)
