"""Batching across requests: the pairs of claims judged at the same time go through the network together.

Request threads hand their (evidence, claim) pairs to one scoring thread. It runs whatever is queued as one
forward pass; while the network is busy, the next requests queue up and form the next batch. A batch is
held back for at most `window_ms`, and only while a claim that is being judged has not sent its pairs yet,
so a lone request never waits.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from .model import CalibratedScorer


@dataclass
class _Job:
    premises: list[str]
    hypotheses: list[str]
    done: threading.Event = field(default_factory=threading.Event)
    out: np.ndarray | None = None
    error: BaseException | None = None


class BatchingScorer(CalibratedScorer):
    """A verifier whose concurrent callers share forward passes; same logits as the verifier it wraps."""

    def __init__(self, inner: CalibratedScorer, *, window_ms: float = 5.0, max_pairs: int = 96):
        self.calibrated_like(inner)
        self.inner = inner
        self.runtime = getattr(inner, "runtime", None)  # a Verifier's backend and arithmetic
        self.window_s = window_ms / 1000
        self.max_pairs = max_pairs
        self.batches = 0  # forward passes run, and jobs served by them (batching ratio = jobs / batches)
        self.jobs = 0
        self._cond = threading.Condition()
        self._queue: list[_Job] = []
        self._judging = 0  # claims inside `claiming()`: they may still send pairs
        self._thread: threading.Thread | None = None

    def __getattr__(self, name: str):
        """The wrapped verifier's other attributes (path, model, tokenizer, precision) read through."""
        if name == "inner":  # not set yet (during __init__): no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)

    @contextlib.contextmanager
    def claiming(self) -> Iterator[None]:
        """Mark one claim as being judged, so a batch may wait a moment for its pairs."""
        with self._cond:
            self._judging += 1
        try:
            yield
        finally:
            with self._cond:
                self._judging -= 1
                self._cond.notify_all()

    def logits(self, premises: list[str], hypotheses: list[str]) -> np.ndarray:
        """Raw logits (n, 3), computed in a forward pass shared with concurrent callers."""
        if not premises:
            return np.zeros((0, 3), dtype=np.float32)
        job = _Job(list(premises), list(hypotheses))
        with self._cond:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._serve, name="factcheck-verifier-batch", daemon=True)
                self._thread.start()
            self._queue.append(job)
            self._cond.notify_all()
        job.done.wait()
        if job.error is not None:
            raise job.error
        assert job.out is not None
        return job.out

    def _next_batch(self) -> list[_Job]:
        """Wait for work; hold it up to the window while claims being judged have not sent their pairs."""
        with self._cond:
            while not self._queue:
                self._cond.wait()
            deadline = time.monotonic() + self.window_s
            while len(self._queue) < self._judging and sum(len(j.premises) for j in self._queue) < self.max_pairs:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            jobs, self._queue = self._queue, []
            return jobs

    def _serve(self) -> None:
        """The scoring thread: one forward pass per batch, results handed back to each caller."""
        while True:
            jobs = self._next_batch()
            try:
                out = self.inner.logits([p for j in jobs for p in j.premises], [h for j in jobs for h in j.hypotheses])
                at = 0
                for j in jobs:
                    j.out = out[at : at + len(j.premises)]
                    at += len(j.premises)
            except BaseException as exc:  # noqa: BLE001 - handed to every caller of this batch
                for j in jobs:
                    j.error = exc
            self.batches += 1
            self.jobs += len(jobs)
            for j in jobs:
                j.done.set()
