"""The lab fits the precision floors of least cost on recorded verdicts."""

from __future__ import annotations

from factcheck.models import ConsistencyFinding, Verdict
from lab.verifier import precision as lab_precision

MISMATCH = ConsistencyFinding(kind="number", outcome="mismatch", claim_value="900", evidence_value="2,500")


def _v(label: str, conf: float, backed: bool = False) -> Verdict:
    return Verdict(
        claim="c", label=label, confidence=conf, judge="j", judge_version="1", checks=[MISMATCH] if backed else []
    )


def test_the_fit_takes_the_floors_of_least_cost():
    # Unbacked contradictions below 0.7 are wrong (3 each), above right; supported all right.
    judged = [("unverified", _v("contradicted", 0.6)), ("unverified", _v("contradicted", 0.62))]
    judged += [("contradicted", _v("contradicted", 0.9)), ("supported", _v("supported", 0.55))]
    judged += [("contradicted", _v("contradicted", 0.55, backed=True))]
    floor, best, _ = lab_precision.fit(judged)
    assert floor.supported == 0.0 and floor.contradicted <= 0.55 and 0.62 < floor.contradicted_unbacked <= 0.9
    assert best["cost"] == 0.0 and best["precision_contradicted"] == 1.0
