"""Precision floors: a decisive verdict below its label's floor is published as unverified; risk and coverage."""

from __future__ import annotations

from factcheck.judges.precision import PrecisionFloor
from factcheck.metrics import risk_coverage
from factcheck.models import ConsistencyFinding, Verdict

MISMATCH = ConsistencyFinding(kind="number", outcome="mismatch", claim_value="900", evidence_value="2,500")


def _v(label: str, conf: float, backed: bool = False) -> Verdict:
    return Verdict(
        claim="c", label=label, confidence=conf, judge="j", judge_version="1", checks=[MISMATCH] if backed else []
    )


def test_a_verdict_below_its_floor_is_unverified_with_the_reason():
    floor = PrecisionFloor(supported=0.7, contradicted=0.5, contradicted_unbacked=0.8)
    out = floor.apply(_v("supported", 0.6))
    assert out.label == "unverified" and out.reason == "below_precision_floor:supported"
    assert out.confidence == 0.4 and "leans towards supported" in out.explanation
    assert floor.apply(_v("supported", 0.7)).label == "supported"
    # a contradiction a check backs needs the lower floor; one only the network reads, the higher
    assert floor.apply(_v("contradicted", 0.6, backed=True)).label == "contradicted"
    assert floor.apply(_v("contradicted", 0.6)).label == "unverified"
    assert floor.apply(_v("unverified", 0.1)).label == "unverified"
    assert PrecisionFloor().apply(_v("contradicted", 0.01)).label == "contradicted"  # no floor: as judged


def test_risk_coverage_withholds_decisive_verdicts_below_each_floor():
    gold = ["supported", "contradicted", "unverified", "contradicted"]
    pred = ["supported", "contradicted", "contradicted", "unverified"]
    rows = {r["floor"]: r for r in risk_coverage(gold, pred, [0.9, 0.8, 0.55, 0.3], thresholds=(0.0, 0.6, 0.85))}
    assert rows[0.0]["coverage"] == 0.75 and abs(rows[0.0]["risk"] - 1 / 3) < 1e-9
    assert rows[0.6]["coverage"] == 0.5 and rows[0.6]["risk"] == 0.0 and rows[0.6]["precision_contradicted"] == 1.0
    assert rows[0.85]["decisive"] == 1 and rows[0.85]["precision_contradicted"] is None
