"""Replaying a verifier's logits from a table judges exactly as the live verifier does."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from factcheck.evals import load_eval_set, run_eval
from factcheck.judges.verifier import VerifierJudge
from factcheck.settings import Settings
from factcheck.verifier import DEFAULT_MODEL_DIR, load_verifier, model_weights
from lab.verifier import replay as verifier_replay
from lab.verifier.fit import write_rows

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "evals" / "datasets" / "seed-news.jsonl"
SEED_CORPUS = REPO / "evals" / "corpus" / "iraq-coalition-2024"


@pytest.mark.skipif(model_weights(DEFAULT_MODEL_DIR) is None, reason="verifier model not present")
def test_replayed_logits_reproduce_the_live_verdicts(tmp_path, minilm):
    # Three claims of each gold label: the live judge must give more than one label for the match to mean anything
    # (the set's first nine are all supported, and the judge now gets all nine right).
    seed = [json.loads(line) for line in SEED.read_text().splitlines()]
    rows = [
        r for label in ("supported", "contradicted", "unverified") for r in [x for x in seed if x["label"] == label][:3]
    ]
    small = tmp_path / "small.jsonl"
    small.write_text("".join(json.dumps(r) + "\n" for r in rows))
    sets = {"small": (small, "jsonl", SEED_CORPUS)}
    pairs, n_fitted = verifier_replay.record_pairs(sets, {}, tmp_path / "record")
    assert (
        n_fitted == 0 and len(pairs) > 9 * 5 and len(set(pairs)) == len(pairs)
    )  # every unit of every retrieved passage, once

    live = load_verifier()
    table = dict(zip(pairs, live.logits([p for p, _ in pairs], [h for _, h in pairs])))
    replayed = verifier_replay.TableVerifier(table, temperature=live.temperature, thresholds=live.thresholds)

    def verdicts(verifier) -> list[tuple]:
        eval_set = load_eval_set(small, "jsonl", corpus=SEED_CORPUS)
        _, run_dir = run_eval(
            eval_set,
            Settings(index_dir=tmp_path / "unused"),
            out_dir=tmp_path / verifier.name,
            judge=VerifierJudge(verifier),
            embedder=minilm,
            cache_dir=tmp_path / "cache",
            progress=False,
        )
        cases = [json.loads(line) for line in (run_dir / "cases.jsonl").read_text().splitlines()]
        return sorted((c["id"], c["pred"], round(c["confidence"], 3), c["cited"]) for c in cases)

    got, want = verdicts(replayed), verdicts(live)
    assert got == want and len({v[1] for v in want}) >= 2  # same labels, confidences and citations; not one label


def test_a_pair_the_table_lacks_is_an_error_not_a_silent_zero():
    ver = verifier_replay.TableVerifier({("a sentence", "a claim"): np.array([1.0, 0.0, 0.0])})
    assert ver.logits(["a sentence"], ["a claim"])[0].tolist() == [1.0, 0.0, 0.0]
    with pytest.raises(KeyError):
        ver.logits(["another sentence"], ["a claim"])


def test_judge_refuses_scores_that_do_not_match_the_pairs(tmp_path, capsys):
    write_rows(tmp_path / "pairs.jsonl.gz", [("s", "c", 1, "x")] * 3, [2] * 3)
    write_rows(tmp_path / "calib.jsonl.gz", [("s", "c", 0, "x")] * 2, [2] * 2)
    np.save(tmp_path / "s.npy", np.zeros((4, 3)))
    np.save(tmp_path / "c.npy", np.zeros((2, 3)))
    argv = [
        "judge",
        "--pairs",
        str(tmp_path / "pairs.jsonl.gz"),
        "--scores",
        str(tmp_path / "s.npy"),
        "--calib",
        str(tmp_path / "calib.jsonl.gz"),
        "--calib-scores",
        str(tmp_path / "c.npy"),
    ]
    with pytest.raises(SystemExit) as exc:
        verifier_replay.main(argv)
    assert exc.value.code == 2 and "do not match" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        verifier_replay.main([*argv[:-1], str(tmp_path / "missing.npy")])
    assert exc.value.code == 2 and "no such file" in capsys.readouterr().err


@pytest.mark.skipif(model_weights(DEFAULT_MODEL_DIR) is None, reason="verifier model not present")
def test_score_writes_the_models_logits_for_the_first_pairs(tmp_path, capsys):
    rows = [
        ("The ministry said 140 schools were damaged.", "140 schools were damaged.", 1, "x"),
        ("The vote was 9 to 2.", "The vote was unanimous.", 1, "x"),
        ("Rescuers reached the village on Tuesday.", "The bridge reopened.", 1, "x"),
    ]
    write_rows(tmp_path / "pairs.jsonl.gz", rows, [10] * 3)
    argv = [
        "score",
        "--pairs",
        str(tmp_path / "pairs.jsonl.gz"),
        "--model",
        str(DEFAULT_MODEL_DIR),
        "--out",
        str(tmp_path / "s.npy"),
    ]
    assert verifier_replay.main([*argv, "--first", "2"]) == 0
    got = np.load(tmp_path / "s.npy")
    want = load_verifier().logits([r[0] for r in rows[:2]], [r[1] for r in rows[:2]])
    assert got.shape == (3, 3) and np.allclose(got[:2], want, atol=1e-4) and not got[2].any()
    assert "2 of 3 pairs scored" in capsys.readouterr().out
    for bad, why in [(["--first", "4"], "outside the 3 pairs"), (["--model", str(tmp_path)], "no verifier model")]:
        with pytest.raises(SystemExit) as exc:
            verifier_replay.main([*argv, *bad])
        assert exc.value.code == 2 and why in capsys.readouterr().err
