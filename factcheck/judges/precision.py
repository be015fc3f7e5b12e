"""Precision first: a decisive verdict the judge is not sure enough of is published as unverified.

A false contradicted is a false accusation and a false supported lends a wrong claim the service's authority; each
costs three times a wrong unverified. The floors are fitted on tuning data under that cost
(`python -m lab.verifier.precision`); a contradiction that no code check backs (only the network's reading, no
changed number, date, name or polarity) needs more confidence than one a check names.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..models import Verdict


@dataclass(frozen=True)
class PrecisionFloor:
    """The least confidence at which each decisive label is published (0 publishes every verdict)."""

    supported: float = 0.0
    contradicted: float = 0.0  # a contradiction a code check backs (a mismatch the verdict names)
    contradicted_unbacked: float = 0.0  # a contradiction only the network reads

    def floor(self, verdict: Verdict) -> float:
        """The floor that applies to a verdict."""
        if verdict.label == "supported":
            return self.supported
        if verdict.label == "contradicted":
            backed = any(f.outcome == "mismatch" for f in verdict.checks)
            return self.contradicted if backed else max(self.contradicted, self.contradicted_unbacked)
        return 0.0

    def apply(self, verdict: Verdict) -> Verdict:
        """The verdict, or unverified when its label is below its floor (citations and checks kept, reason given)."""
        floor = self.floor(verdict)
        if verdict.label == "unverified" or verdict.confidence >= floor:
            return verdict
        lean = verdict.label
        verdict.explanation = (
            f"Not enough to publish: the evidence leans towards {lean} ({verdict.confidence:.2f}, below the "
            f"{floor:.2f} this label needs). {verdict.explanation}"
        )
        verdict.label = "unverified"
        verdict.confidence = round(1.0 - verdict.confidence, 4)
        verdict.reason = f"below_precision_floor:{lean}"
        return verdict
