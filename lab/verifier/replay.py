"""Judge claims with a verifier's logits looked up from a table: score the pairs once elsewhere, judge them here."""

# A model too large or too slow for this machine (a teacher on a GPU) is judged exactly as the shipped verifier
# would be: `pairs` records every (sentence unit, claim) pair the judge reads on the fitted splits and the eval
# sets; any machine scores them (`verifier_fit --score`); `judge` fits temperature and thresholds by the shipped
# procedure on those logits and runs every eval set through `factcheck eval`'s code.

from __future__ import annotations

import argparse
import json
import threading
from pathlib import Path

import numpy as np

from factcheck.judges.verifier import VerifierJudge
from factcheck.verifier import CalibratedScorer, Verifier, model_text

# name -> (dataset, format, corpus): the sets `evals/README.md` reports, plus news-dev (tuning)
EVAL_SETS = {
    "seed": ("evals/datasets/seed-news.jsonl", "jsonl", None),
    "news-dev": ("evals/tuning/news-dev.jsonl", "jsonl", "evals/tuning/news-dev"),
    "news-holdout": ("evals/holdout/news-holdout.jsonl", "jsonl", "evals/holdout/news-holdout"),
    "scifact-dev": ("{data}/scifact/claims_dev_claimlevel.jsonl", "scifact", "{data}/scifact/corpus.jsonl"),
    "climate-fever": ("{data}/climate_fever/claims.jsonl", "climate-fever", "{data}/climate_fever/corpus.jsonl"),
}


class TableVerifier(CalibratedScorer):
    """A Verifier whose logits are looked up by the exact texts the model reads; without a table it records them."""

    def __init__(
        self,
        table: dict[tuple[str, str], np.ndarray] | None = None,
        *,
        name: str = "table",
        temperature: float = 1.0,
        thresholds: dict | None = None,
    ):
        super().__init__(name=name, version=name, temperature=temperature, thresholds=thresholds)
        self.table = table
        self.asked: dict[tuple[str, str], None] = {}  # insertion-ordered: the order pairs were first read
        self._lock = threading.Lock()

    def logits(self, premises: list[str], hypotheses: list[str]) -> np.ndarray:
        """Logits from the table (zeros while recording)."""
        out = np.zeros((len(premises), 3), dtype=np.float32)
        for i, key in enumerate(zip(map(model_text, premises), map(model_text, hypotheses))):
            if self.table is None:
                with self._lock:
                    self.asked.setdefault(key, None)
            else:
                out[i] = self.table[key]
        return out


def _eval_sets(names: list[str], data: Path) -> dict[str, tuple[Path, str, Path | None]]:
    sets = {}
    for name in names:
        path, fmt, corpus = EVAL_SETS[name]
        sets[name] = (Path(path.format(data=data)), fmt, Path(corpus.format(data=data)) if corpus else None)
    return sets


def _run(name: str, spec: tuple, judge, work: Path) -> dict:
    import shutil

    from factcheck.evals import load_eval_set, run_eval
    from factcheck.settings import Settings

    path, fmt, corpus = spec
    run_dir = work / name
    shutil.rmtree(run_dir, ignore_errors=True)
    summary, _ = run_eval(
        load_eval_set(path, fmt, corpus=corpus),
        Settings(),
        out_dir=run_dir,
        judge=judge,
        cache_dir=work / "indexes",
        progress=False,
    )
    return summary


def record_pairs(sets: dict, fitted: dict[str, list], work: Path) -> tuple[list[tuple[str, str]], int]:
    """Every (unit, claim) pair the judge reads on the fitted splits and the eval sets, in first-read order."""
    # Also returns how many lead the list from the fitted splits: a threshold fit reads only those.
    from .train import _score_cases

    rec = TableVerifier()
    for cases in fitted.values():
        _score_cases(VerifierJudge(rec), cases)
    n_fitted = len(rec.asked)
    for name, spec in sets.items():
        _run(name, spec, VerifierJudge(rec), work)
    return list(rec.asked), n_fitted


def replay(
    pairs: list[tuple[str, str]],
    logits: np.ndarray,
    calib_logits: np.ndarray,
    calib_labels: np.ndarray,
    fitted: dict[str, list],
    sets: dict,
    work: Path,
    name: str = "replay",
) -> dict:
    """Temperature and thresholds fitted as `--phase calibrate` does, then macro-F1 on every eval set."""
    from .train import _claim_metrics, _grid_fit, _score_cases, fit_temperature

    temp = fit_temperature(calib_logits, calib_labels)
    ver = TableVerifier({k: logits[i] for i, k in enumerate(pairs)}, name=name, temperature=temp)
    judge = VerifierJudge(ver)
    scored = {k: _score_cases(judge, v) for k, v in fitted.items()}
    thresholds, fit_m = _grid_fit(judge, [x for v in scored.values() for x in v])
    ver.thresholds = {**ver.thresholds, **thresholds}
    out = {
        "name": name,
        "temperature": round(temp, 4),
        "thresholds": thresholds,
        "fitted_pooled": fit_m["macro_f1"],
        "fitted": {k: _claim_metrics(judge, v)["macro_f1"] for k, v in scored.items()},
    }
    for set_name, spec in sets.items():
        out[set_name] = round(_run(set_name, spec, VerifierJudge(ver), work)["macro_f1"], 4)
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line: `pairs` records the pairs to score; `score` scores them on this machine; `judge` judges."""
    from .fit import read_rows, write_rows
    from .train import fitted_cases

    ap = argparse.ArgumentParser(prog="python -m lab.verifier.replay", description=__doc__)
    ap.add_argument("command", choices=["pairs", "score", "judge"])
    ap.add_argument(
        "--pairs", required=True, help="pairs file (jsonl.gz): written by `pairs`, read by `score` and `judge`"
    )
    ap.add_argument("--sets", default=",".join(EVAL_SETS), help=f"eval sets, from {', '.join(EVAL_SETS)}")
    ap.add_argument("--data", default="../shared/datasets")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument(
        "--news-claims-through",
        default="nd-090",
        help="news-dev claims up to this id were trained on: left out of the threshold fit",
    )
    ap.add_argument("--scores", help="judge: logits for the pairs (.npy, n x 3, in the pairs file's order)")
    ap.add_argument("--calib", help="judge: the calibration pairs (verifier_train --phase rows: calib.jsonl.gz)")
    ap.add_argument("--calib-scores", help="judge: logits for the calibration pairs (.npy)")
    ap.add_argument("--name", default="replay")
    ap.add_argument("--work", default=".cache/replay", help="eval run folders and indexes")
    ap.add_argument("--out", help="score: the logits (.npy); judge: write the figures here as JSON")
    ap.add_argument("--model", help="score: the verifier folder to score with (fp32 on this machine's CPU)")
    ap.add_argument(
        "--first",
        type=int,
        help="score: only the first N pairs, the rest left zero (`pairs` prints "
        "how many lead from the fitted splits: all `judge --sets ''` reads)",
    )
    args = ap.parse_args(argv)
    data, work = Path(args.data), Path(args.work)
    sets = _eval_sets([s for s in args.sets.split(",") if s], data)
    if args.command == "pairs":
        pairs, n_fitted = record_pairs(
            sets, fitted_cases(data, args.seed, 1, args.news_claims_through), work / "record"
        )
        write_rows(Path(args.pairs), [(p, h, 1, "claim_units") for p, h in pairs], [len(p) + len(h) for p, h in pairs])
        print(f"{len(pairs)} pairs, the first {n_fitted} from the fitted splits -> {args.pairs}")
        return 0
    if args.command == "score":
        return _score(ap, args)
    if not (args.scores and args.calib and args.calib_scores):
        ap.error("judge needs --scores, --calib and --calib-scores")
    missing = [f for f in (args.pairs, args.scores, args.calib, args.calib_scores) if not Path(f).is_file()]
    if missing:
        ap.error(f"no such file: {missing[0]}")
    pairs = [(p, h) for p, h, _, _ in read_rows(Path(args.pairs))[0]]
    calib = read_rows(Path(args.calib))[0]
    logits, calib_logits = np.load(args.scores).astype(np.float32), np.load(args.calib_scores).astype(np.float32)
    if logits.shape != (len(pairs), 3) or calib_logits.shape != (len(calib), 3):
        ap.error(
            f"scores do not match the pairs: {logits.shape} for {len(pairs)} pairs, "
            f"{calib_logits.shape} for {len(calib)} calibration pairs"
        )
    three = np.array([0 <= r[2] < 3 for r in calib])
    result = replay(
        pairs,
        logits,
        calib_logits[three],
        np.array([r[2] for r in calib])[three],
        fitted_cases(data, args.seed, 1, args.news_claims_through),
        sets,
        work / args.name,
        args.name,
    )
    print(json.dumps(result, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return 0


def _score(ap: argparse.ArgumentParser, args) -> int:
    """`score`: fp32 logits of a verifier folder on a pairs file, written as .npy in the file's order."""
    from factcheck.errors import ModelError

    from .fit import read_rows

    if not (args.model and args.out):
        ap.error("score needs --model and --out")
    if not Path(args.pairs).is_file():
        ap.error(f"no such file: {args.pairs}")
    rows = read_rows(Path(args.pairs))[0]
    n = len(rows) if args.first is None else args.first
    if not 0 <= n <= len(rows):
        ap.error(f"--first {n} is outside the {len(rows)} pairs of {args.pairs}")
    try:
        ver = Verifier(args.model)
    except ModelError as exc:
        ap.error(str(exc))
    out = np.zeros((len(rows), 3), dtype=np.float32)
    out[:n] = ver.logits([r[0] for r in rows[:n]], [r[1] for r in rows[:n]])
    np.save(args.out, out)
    print(f"{n} of {len(rows)} pairs scored by {ver.version} -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
