"""Two-stage judges: a cheap first stage decides the claims it is sure of; only the rest reach the costly last stage.

The student verifier before v10 (only unclear claims pay for the 12-layer model), or the verifier before an LLM
(only unclear claims cost LLM tokens)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..models import SearchHit, Verdict
from .base import Judge
from .precision import PrecisionFloor
from .verifier import Escalation, VerifierJudge


class CascadeJudge:
    """Verifier first; a verdict the fitted rule calls unclear goes to `last` (built on first need)."""

    name = "cascade"

    def __init__(
        self,
        first: VerifierJudge,
        last: Callable[[], Judge],
        rule: Escalation,
        last_name: str = "llm",
        precision: PrecisionFloor | None = None,
    ):
        self.first = first
        self._make_last = last
        self._last: Judge | None = None
        self._lock = threading.Lock()
        self.rule = rule
        self.version = f"{first.version}>{last_name}"
        self.model = first.model
        self.runtime = first.runtime
        self.precision = precision or PrecisionFloor()  # applied to the verdict either stage gives
        self.decided = {"first": 0, "last": 0}  # how many claims each stage decided (LLM calls saved: "first")
        self._local = threading.local()  # whether this thread's last claim reached the last stage

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

    def clear_cache(self) -> None:
        """Forget both stages' last scored units (benchmarks measure every claim afresh)."""
        self.first.clear_cache()
        if self._last is not None and hasattr(self._last, "clear_cache"):
            self._last.clear_cache()

    def units_read(self) -> int:
        """Units this thread's last claim had read by the networks of both stages."""
        last = self._last if getattr(self._local, "escalated", False) else None
        return self.first.units_read() + (last.units_read() if last is not None and hasattr(last, "units_read") else 0)

    def judge(self, claim: str, hits: list[SearchHit]) -> Verdict:
        """The verifier's verdict when it is clear, else the last stage's (which may reuse the verifier's scores)."""
        verdict = self.first.judge(claim, hits)
        self._local.escalated = False
        if not hits or not self.rule.applies(verdict.label, verdict.confidence):
            self.decided["first"] += 1
            return self.precision.apply(verdict)
        self.decided["last"] += 1
        self._local.escalated = True
        last = self.last
        out = last.judge(claim, hits)
        out.decided_by = out.decided_by or f"{last.name}:{getattr(last, 'model', None) or last.version}"
        out.runtime = out.runtime or self.runtime
        return self.precision.apply(out)
