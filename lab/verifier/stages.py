"""Fit the student cascade's escalation rule: which student verdicts go on to v10, on tuning data only.

Each stage judges every claim once through the real eval runner (the networks' logits recorded, so a rerun
costs retrieval only); a rule (BELOW, UNVERIFIED_BELOW) then picks, per claim, the student's verdict or v10's,
exactly as `CascadeJudge` does. Run it on news-dev only, never on held-out sets:

    python -m lab.verifier.stages evals/tuning/news-dev.jsonl --corpus evals/tuning/news-dev \\
        --student-units 3,4,6 --v10-memo runs/units-newsdev2/memo.pkl --out runs/stages-newsdev
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from factcheck.evals import load_eval_set, run_eval
from factcheck.judges.verifier import Escalation
from factcheck.metrics import confusion_matrix, macro_f1
from factcheck.settings import Settings
from factcheck.verifier import resolve_precision
from factcheck.verifier.model import STUDENT_MODEL_DIR

from .units import TallyJudge, recorded, save_memo

BELOW = (0.0, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.01)
UNVERIFIED_BELOW = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 1.01)


def _cases(run_dir: Path) -> dict[str, dict]:
    with (run_dir / "cases.jsonl").open() as f:
        return {c["id"]: c for c in map(json.loads, f)}


def main(argv: list[str] | None = None) -> int:
    """Judge with each stage once, then replay every rule; print the table and write summary.json."""
    ap = argparse.ArgumentParser(prog="python -m lab.verifier.stages", description=__doc__.splitlines()[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--corpus", type=Path)
    ap.add_argument("--student", type=Path, default=STUDENT_MODEL_DIR)
    ap.add_argument("--student-units", default="3,4,6")
    ap.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    ap.add_argument("--v10-memo", type=Path, help="recorded v10 logits (lab.verifier.units --memo)")
    ap.add_argument("--student-memo", type=Path, help="load/save the student's recorded logits here")
    ap.add_argument("--out", type=Path, default=Path("runs/stages"))
    args = ap.parse_args(argv)
    settings = Settings()
    precision, _ = resolve_precision(args.precision)
    v10 = recorded(settings.verifier_path, precision, args.v10_memo)
    student = recorded(args.student, precision, args.student_memo)
    eval_set = load_eval_set(args.dataset, corpus=args.corpus)

    def judged(name, judge):
        summary, run_dir = run_eval(eval_set, settings, out_dir=args.out / name, judge=judge, progress=False)
        return summary, _cases(run_dir)

    esc = Escalation(
        settings.verifier_escalate_units, settings.verifier_escalate_below, settings.verifier_escalate_unverified_below
    )
    v10_judge = TallyJudge(v10, max_units=settings.verifier_max_units, escalation=esc)
    v10_summary, last = judged("v10-cascade", v10_judge)
    v10_units = v10_judge.units_total / max(1, len(last))
    print(
        f"v10 cascade {settings.verifier_max_units}->{esc.units}: macro-F1 {v10_summary['macro_f1']:.4f} "
        f"units/claim {v10_units:.2f}",
        flush=True,
    )
    rows = []
    for k in [int(x) for x in args.student_units.split(",") if x]:
        s_judge = TallyJudge(student, max_units=k)
        s_summary, first = judged(f"student-k{k}", s_judge)
        s_units = s_judge.units_total / max(1, len(first))
        print(f"student top-{k}: macro-F1 {s_summary['macro_f1']:.4f}", flush=True)
        for below in BELOW:
            for unv in UNVERIFIED_BELOW:
                rule = Escalation(below=below, unverified_below=unv)
                gold, pred, up = [], [], 0
                for cid, c in first.items():
                    gold.append(c["gold"])
                    if c["pred"] and rule.applies(c["pred"], c["confidence"] or 0.0):
                        up += 1
                        pred.append(last[cid]["pred"])
                    else:
                        pred.append(c["pred"])
                f1 = macro_f1(confusion_matrix(gold, pred))
                rows.append(
                    {
                        "student_units": k,
                        "below": below,
                        "unverified_below": unv,
                        "macro_f1": round(f1 or 0.0, 4),
                        "escalated": round(up / len(first), 4),
                        "student_units_per_claim": round(s_units, 2),
                        "v10_units_per_escalated_claim": round(v10_units, 2),
                    }
                )
    for memo, path in ((v10, args.v10_memo), (student, args.student_memo)):
        if path:
            save_memo(memo, path)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(
        json.dumps({"v10": {"macro_f1": v10_summary["macro_f1"], "units_per_claim": v10_units}, "rows": rows}, indent=2)
    )
    rows.sort(key=lambda r: (r["escalated"], -r["macro_f1"]))
    frontier, best = [], -1.0
    for r in rows:  # the cheapest rule for each macro-F1 level
        if r["macro_f1"] > best:
            frontier.append(r)
            best = r["macro_f1"]
    for r in frontier:
        print(r)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
