"""The LLM as the last stage: the verifier decides the claims it is sure of; only the rest cost LLM tokens."""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..models import SearchHit, Verdict
from .base import Judge
from .verifier import Escalation, VerifierJudge


class CascadeJudge:
    """Verifier first; a verdict the fitted rule calls unclear goes to `last` (built on first need)."""

    name = "cascade"

    def __init__(self, first: VerifierJudge, last: Callable[[], Judge], rule: Escalation):
        self.first = first
        self._make_last = last
        self._last: Judge | None = None
        self._lock = threading.Lock()
        self.rule = rule
        self.version = f"{first.version}>llm"
        self.model = first.model
        self.runtime = first.runtime
        self.decided = {"first": 0, "last": 0}  # how many claims each stage decided (LLM calls saved: "first")

    @property
    def last(self) -> Judge:
        """The last stage, loaded the first time a claim escalates."""
        with self._lock:
            if self._last is None:
                self._last = self._make_last()
            return self._last

    @property
    def last_loaded(self) -> bool:
        """Whether any claim has needed the last stage yet."""
        return self._last is not None

    def judge(self, claim: str, hits: list[SearchHit]) -> Verdict:
        """The verifier's verdict when it is clear, else the last stage's (which may reuse the verifier's scores)."""
        verdict = self.first.judge(claim, hits)
        if not hits or not self.rule.applies(verdict.label, verdict.confidence):
            self.decided["first"] += 1
            return verdict
        self.decided["last"] += 1
        last = self.last
        out = last.judge(claim, hits)
        out.decided_by = f"{last.name}:{getattr(last, 'model', None) or last.version}"
        out.runtime = out.runtime or self.runtime
        return out
