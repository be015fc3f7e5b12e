"""BM25 over a snapshot's passages: built by the index, searched by the retriever."""

from __future__ import annotations

import bm25s
import numpy as np

from .text import tokenize


class BM25Index:
    """A bm25s retriever over a snapshot's passages, mapping its rows back to vector ids."""

    def __init__(self, texts: list[str], vids: np.ndarray):
        self.vids = vids
        self.model = bm25s.BM25()
        if texts:
            self.model.index([tokenize(t) or ["_empty_"] for t in texts], show_progress=False)

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """Top-k (vector id, score) with a positive score."""
        toks = [t for t in tokenize(query) if t in self.model.vocab_dict] if len(self.vids) else []
        if not toks:
            return []
        k = min(k, len(self.vids))
        docs, scores = self.model.retrieve([toks], k=k, show_progress=False, n_threads=1)
        return [(int(self.vids[d]), float(s)) for d, s in zip(docs[0], scores[0]) if s > 0]


def build_bm25(texts: list[str], vids: np.ndarray) -> BM25Index:
    """Build the sparse side of a snapshot."""
    return BM25Index(texts, vids)
