"""The Judge seam: a claim plus retrieved passages in, a cited Verdict out."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..models import SearchHit, Verdict


@runtime_checkable
class Judge(Protocol):
    """Decides supported / contradicted / unverified for a claim from retrieved passages."""

    name: str
    version: str

    def judge(self, claim: str, hits: list[SearchHit]) -> Verdict:
        """Return a Verdict whose citations quote `hits` verbatim with article offsets."""
        ...
