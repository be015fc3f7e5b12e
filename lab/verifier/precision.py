"""Fit the precision floors: the confidence each decisive label needs before it is published, on tuning data only.

Cost: a false supported or contradicted costs 3, a wrong unverified 1 (a withheld true verdict or a missed one).
Every claim is judged once with no floor; each floor triple is then replayed on the recorded verdicts, as
`PrecisionFloor.apply` does. Run on tuning data only, never on held-out sets:

    python -m lab.verifier.precision evals/tuning/news-dev.jsonl=evals/tuning/news-dev \\
        evals/robustness/robustness.jsonl=evals/corpus/iraq-coalition-2024+corpus=sample --out runs/precision

(the robustness suite's sample-corpus rows are ours to tune on; its held-out-corpus rows and every held-out set
are never fitted).
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
from pathlib import Path

from factcheck.embed import make_embedder
from factcheck.evals import load_eval_set, prepare_index
from factcheck.judges import NO_FLOOR
from factcheck.judges.precision import PrecisionFloor
from factcheck.metrics import confusion_matrix, macro_f1, per_label_scores
from factcheck.models import Verdict
from factcheck.pipeline import build_pipeline
from factcheck.settings import Settings

VERDICT_FIELDS = {"claim", "label", "confidence", "checks", "decided_by", "explanation", "parts"}
GRID = (0.0, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
WRONG_DECISIVE, WRONG_UNVERIFIED = 3.0, 1.0


def cost(gold: str, pred: str) -> float:
    """The price of one verdict: 0 right, 1 a wrong unverified, 3 a wrong supported or contradicted."""
    if gold == pred:
        return 0.0
    return WRONG_UNVERIFIED if pred == "unverified" else WRONG_DECISIVE


def judge_all(
    dataset: Path, corpus: str | None, settings: Settings, embedder, rows: str = ""
) -> list[tuple[str, Verdict]]:
    """(gold, verdict with no floor) for every claim of a tuning set, through the product's pipeline."""
    eval_set = load_eval_set(dataset, corpus=corpus)
    if rows:  # a slice of a set: "corpus=sample" keeps the rows whose `corpus` field says so
        key, _, value = rows.partition("=")
        keep = {r["id"] for r in map(json.loads, dataset.read_text().splitlines()) if str(r.get(key)) == value}
        eval_set.cases = [c for c in eval_set.cases if c.id in keep]
    settings = settings.model_copy(update=NO_FLOOR)
    with tempfile.TemporaryDirectory() as tmp:
        index_dir = prepare_index(eval_set.corpus, settings, embedder, Path(tmp), dataset, progress=False)
        pipe = build_pipeline(settings.model_copy(update={"index_dir": index_dir}), embedder=embedder)
        return [(c.label, pipe.check(c.claim)) for c in eval_set.cases]


def replay(judged: list[tuple[str, Verdict]], floor: PrecisionFloor) -> list[tuple[str, str]]:
    """(gold, published label) under a floor."""
    return [(gold, floor.apply(v.model_copy(deep=True)).label) for gold, v in judged]


def summary(pairs: list[tuple[str, str]]) -> dict:
    """Cost, macro-F1, precision of each decisive label and coverage (share of decisive verdicts)."""
    matrix = confusion_matrix([g for g, _ in pairs], [p for _, p in pairs])
    scores = per_label_scores(matrix)
    out: dict = {"cost": sum(cost(g, p) for g, p in pairs), "macro_f1": macro_f1(matrix)}
    for label in ("supported", "contradicted"):
        out[f"precision_{label}"] = scores[label]["precision"] if scores[label]["predicted"] else None
    out["coverage"] = round(sum(p != "unverified" for _, p in pairs) / len(pairs), 4)
    return out


def fit(judged: list[tuple[str, Verdict]]) -> tuple[PrecisionFloor, dict, list[dict]]:
    """The floors of least cost (ties: the lower floors, which publish more), and every row of the grid."""
    rows = []
    for s, c, u in itertools.product(GRID, GRID, GRID):
        if u and u < c:
            continue  # an unbacked contradiction never needs less than a backed one
        floor = PrecisionFloor(supported=s, contradicted=c, contradicted_unbacked=u)
        rows.append({"supported": s, "contradicted": c, "contradicted_unbacked": u, **summary(replay(judged, floor))})
    best = min(rows, key=lambda r: (r["cost"], r["supported"] + r["contradicted"] + r["contradicted_unbacked"]))
    floor = PrecisionFloor(best["supported"], best["contradicted"], best["contradicted_unbacked"])
    return floor, best, rows


def main(argv: list[str] | None = None) -> int:
    """Judge the tuning set once, fit the floors, print them and write fit.json."""
    ap = argparse.ArgumentParser(prog="python -m lab.verifier.precision", description=__doc__.splitlines()[0])
    ap.add_argument(
        "sets",
        nargs="+",
        help="tuning sets as DATASET=CORPUS (corpus folders joined by ':'), optionally +FIELD=VALUE to keep those rows",
    )
    ap.add_argument("--out", type=Path, default=Path("runs/precision"))
    args = ap.parse_args(argv)
    judged = []
    settings = Settings()
    embedder = make_embedder(settings)  # loaded once for every set
    for spec in args.sets:
        spec, _, rows = spec.partition("+")
        dataset, _, corpus = spec.partition("=")
        judged += judge_all(Path(dataset), corpus or None, settings, embedder, rows)
    floor, best, rows = fit(judged)
    none = summary(replay(judged, PrecisionFloor()))
    args.out.mkdir(parents=True, exist_ok=True)
    result = {"sets": args.sets, "n": len(judged), "floor": floor.__dict__, "fitted": best, "no_floor": none}
    (args.out / "fit.json").write_text(json.dumps({**result, "grid": rows}, indent=1) + "\n")
    with (args.out / "verdicts.jsonl").open("w") as f:
        for gold, v in judged:
            f.write(json.dumps({"gold": gold, **v.model_dump(mode="json", include=VERDICT_FIELDS)}) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
