"""Regression gate: the robustness suite (evals/robustness/) per kind, with the default offline judge."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.eval_support import gate_run, verifier_present

REPO = Path(__file__).resolve().parent.parent
SUITE = REPO / "evals" / "robustness" / "robustness.jsonl"
CORPORA = os.pathsep.join(str(REPO / p) for p in ("evals/corpus/iraq-coalition-2024", "evals/holdout/news-holdout"))

# A regression guard at the level reached, not the target (0.90 on each kind): measured FLOOR_NOTE. One claim moves
# a kind's accuracy by 1.5-2.7 points, so each floor leaves room for about two flips.
FLOORS: dict[str, float] = {}
FLOOR_NOTE = ""
ACCURACY_FLOOR = 0.0


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
