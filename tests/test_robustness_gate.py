"""Regression gate: the robustness suite (evals/robustness/) per kind, with the default offline judge."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.eval_support import gate_run, verifier_present

REPO = Path(__file__).resolve().parent.parent
SUITE = REPO / "evals" / "robustness" / "robustness.jsonl"
CORPORA = os.pathsep.join(str(REPO / p) for p in ("evals/corpus/iraq-coalition-2024", "evals/holdout/news-holdout"))

# A regression guard at the level reached, not the target (0.90 on each kind). Measured 2026-12-08 (default judge,
# AMD EPYC, fp32): accuracy 0.756; binding 0.746, compound 0.742, hedge 0.755, negation 0.781, paraphrase 0.757,
# substitution 0.746, surface 0.762. One claim moves a kind's accuracy by 1.6-2.7 points: each floor leaves two flips.
FLOORS: dict[str, float] = {
    "binding": 0.71,
    "compound": 0.7,
    "hedge": 0.71,
    "negation": 0.76,
    "paraphrase": 0.7,
    "substitution": 0.69,
    "surface": 0.73,
}
ACCURACY_FLOOR = 0.74


# ~7 min on 2 cores (401 claims): in `make test`, not in `make test-fast`.
@pytest.mark.slow
@pytest.mark.skipif(not verifier_present(), reason="no shipped verifier model")
def test_robustness_accuracy_per_kind_stays_above_floor(tmp_path, minilm):
    summary, run_dir = gate_run(SUITE, CORPORA, tmp_path, minilm)
    got = {kind: m["accuracy"] for kind, m in summary["by_category"].items()}
    assert set(got) == set(FLOORS)
    low = {k: round(v, 3) for k, v in got.items() if v < FLOORS[k]}
    assert not low and summary["accuracy"] >= ACCURACY_FLOOR, (
        f"below floor: {low}, accuracy {summary['accuracy']:.3f}\n" + (run_dir / "report.md").read_text()
    )
