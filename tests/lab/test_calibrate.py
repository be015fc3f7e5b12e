"""The lab's threshold fit runs on the shipped judge's public methods: calibrate and replay on a tiny fitted case."""

from __future__ import annotations

import argparse
import copy
import json
import random
import shutil
from pathlib import Path

import pytest

from factcheck.judges.verifier import VerifierJudge
from factcheck.verifier import DEFAULT_MODEL_DIR, load_verifier, model_weights
from factcheck.verifier.model import STUDENT_MODEL_DIR
from lab.verifier import replay as verifier_replay
from lab.verifier import train

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "datasets"

needs_model = pytest.mark.skipif(model_weights(DEFAULT_MODEL_DIR) is None, reason="verifier model not present")


def _tiny_cases() -> dict[str, list]:
    """Our own news-style claims (restated, altered, absent) against invented articles: no dataset needed."""
    return {"own news-style claims": train.own_news_claim_cases(random.Random(5))[:12]}


@needs_model
def test_replay_fits_the_same_thresholds_as_the_live_judge(tmp_path):
    fitted = _tiny_cases()
    pairs, n_fitted = verifier_replay.record_pairs({}, fitted, tmp_path / "record")
    assert n_fitted == len(pairs) > 12  # every unit the fit reads, recorded

    # A copy: the fit sets thresholds and temperature on the verifier it reads, and the loaded one is shared by the
    # whole test session.
    live = copy.copy(load_verifier(STUDENT_MODEL_DIR))
    logits = live.logits([p for p, _ in pairs], [h for _, h in pairs])
    calib = logits[:40]
    calib_labels = logits[:40].argmax(1)  # any labels: the temperature is fitted the same way on both sides
    got = verifier_replay.replay(pairs, logits, calib, calib_labels, fitted, {}, tmp_path / "work")

    live.temperature = train.fit_temperature(calib, calib_labels)
    judge = VerifierJudge(live)
    scored = train._score_cases(judge, fitted["own news-style claims"])
    want, fit_m = train._grid_fit(judge, scored)
    assert got["temperature"] == round(live.temperature, 4)
    assert got["thresholds"] == want and got["fitted_pooled"] == fit_m["macro_f1"]
    assert 0.0 < got["fitted_pooled"] <= 1.0 and got["fitted"]["own news-style claims"] > 0.0


@needs_model
@pytest.mark.slow
@pytest.mark.skipif(not (DATA / "nli").is_dir(), reason="shared datasets not present")
def test_calibrate_writes_a_fit_on_a_tiny_slice(tmp_path):
    # The student loads its packed base from beside it, as shipped.
    for folder in (DEFAULT_MODEL_DIR, STUDENT_MODEL_DIR):
        shutil.copytree(folder, tmp_path / folder.name)
    out = tmp_path / STUDENT_MODEL_DIR.name
    (out / "calibration.json").unlink()
    args = argparse.Namespace(
        data=str(DATA),
        out=str(out),
        seed=13,
        scale=0.01,
        extra_nli=False,
        threads=2,
        limit=30,
        claim_limit=2,
        distractors=1,
    )
    train.calibrate(args)
    cal = json.loads((out / "calibration.json").read_text())
    assert cal["temperature"] > 0 and set(cal["thresholds"]) >= {"entail", "contradict", "support_overlap"}
    assert 0.3 <= cal["thresholds"]["entail"] <= 0.95 and len(cal["thresholds_fitted_on"]) >= 4
    fitted = json.loads((out / "metrics.json").read_text())["claim_level_fitted_splits"]
    assert fitted["pooled"]["n"] == 2 * len(cal["thresholds_fitted_on"])  # two claims of each split
