"""A verifier that remembers the logits of every pair it has read: unit budgets replayed without the network."""

from __future__ import annotations

import threading

import numpy as np

from .model import CalibratedScorer, Verifier


class MemoScorer(CalibratedScorer):
    """Answers from a record of (evidence, claim) -> logits; runs the wrapped verifier only on new pairs."""

    def __init__(self, inner: Verifier):
        self.calibrated_like(inner)
        self.inner = inner
        self.runtime = inner.runtime
        self.memo: dict[tuple[str, str], np.ndarray] = {}
        self.computed = 0  # pairs the network actually read
        self._lock = threading.Lock()

    def logits(self, premises: list[str], hypotheses: list[str]) -> np.ndarray:
        """Logits from the record; pairs never seen are scored by the network and recorded."""
        keys = list(zip(premises, hypotheses))
        with self._lock:
            todo = list(dict.fromkeys(k for k in keys if k not in self.memo))
        if todo:
            fresh = self.inner.logits([p for p, _ in todo], [h for _, h in todo])
            with self._lock:
                self.memo.update(zip(todo, fresh))
                self.computed += len(todo)
        with self._lock:
            return np.stack([self.memo[k] for k in keys]) if keys else np.zeros((0, 3), np.float32)
