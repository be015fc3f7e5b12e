"""How many units must the verifier read? Scores every unit once on a tuning set, then replays unit budgets.

The network's logits for every (unit, claim) pair the judge can read are recorded once (`MemoScorer`);
each budget k and ranker is then a full `run_eval` of the real pipeline whose verifier answers from the
record, so a budget costs retrieval time only. Run it on tuning data only (news-dev), never on held-out sets:

    python -m lab.verifier.units evals/tuning/news-dev.jsonl --corpus evals/tuning/news-dev --budgets 0,3,4,5,6,8 --out runs/units-newsdev
"""

from __future__ import annotations

import argparse
import json
import pickle
import threading
from pathlib import Path

from factcheck.evals import load_eval_set, run_eval
from factcheck.judges.verifier import Escalation, Unit, VerifierJudge, rank_units
from factcheck.settings import Settings
from factcheck.verifier import load_verifier, resolve_precision
from factcheck.verifier.memo import MemoScorer


def rank_retrieval_order(units: list[Unit], k: int) -> list[Unit]:
    """A baseline ranker: the first k units in retrieval order (no look at the claim)."""
    return units if not k or len(units) <= k else units[:k]


# "overlap-singles" (single sentences before pairs at equal overlap) was this study's variant until the product's
# `rank_units` adopted it; the name stays for the recorded commands and runs.
RANKERS = {"overlap": rank_units, "overlap-singles": rank_units, "retrieval": rank_retrieval_order}


class TallyJudge(VerifierJudge):
    """A VerifierJudge that counts which stage decided each verdict and how many units the network read."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.decided: dict[str, int] = {}
        self.units_total = 0
        self._tally_lock = threading.Lock()

    def judge(self, claim, hits):
        """Judge, then tally the deciding stage."""
        verdict = super().judge(claim, hits)
        with self._tally_lock:
            self.decided[verdict.decided_by or "-"] = self.decided.get(verdict.decided_by or "-", 0) + 1
        with self._tally_lock:
            self.units_total += self.units_read()
        return verdict


def load_memo(memo: MemoScorer, path: Path) -> None:
    """Fill the record from a file written by an earlier run (same model version only)."""
    with path.open("rb") as f:
        saved = pickle.load(f)
    if saved["version"] != memo.version:
        raise SystemExit(f"{path} was recorded with {saved['version']}, not {memo.version}")
    memo.memo.update(saved["memo"])


def recorded(model: Path | None, precision: str, memo_file: Path | None) -> MemoScorer:
    """A model (None: the configured v10) on torch whose logits are recorded, filled from `memo_file` if it exists."""
    memo = MemoScorer(load_verifier(model, backend="torch", precision=precision))  # type: ignore[arg-type]
    if memo_file and memo_file.is_file():
        load_memo(memo, memo_file)
    return memo


def save_memo(memo: MemoScorer, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        pickle.dump({"version": memo.version, "memo": memo.memo}, f)


def _grid(spec: str) -> list[tuple[int, int, float, float]]:
    """Cascade points "K1:K2:BELOW:UNVERIFIED_BELOW" separated by commas (K2 0 = all units)."""
    out = []
    for part in filter(None, spec.split(",")):
        k1, k2, below, unv = part.split(":")
        out.append((int(k1), int(k2), float(below), float(unv)))
    return out


def main(argv: list[str] | None = None) -> int:
    """Record once, replay each budget, ranker and cascade; print a table and write summary.json."""
    ap = argparse.ArgumentParser(prog="python -m lab.verifier.units", description=__doc__.splitlines()[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--corpus", type=Path, help="the articles the claims are about (as `factcheck eval --corpus`)")
    ap.add_argument("--budgets", default="0,3,4,5,6,8", help="comma-separated units per claim (0 = all)")
    ap.add_argument("--rankers", default=",".join(RANKERS))
    ap.add_argument("--cascades", default="", help="K1:K2:BELOW:UNVERIFIED_BELOW,...")
    ap.add_argument("--cascade-ranker", default="overlap", choices=list(RANKERS))
    ap.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    ap.add_argument("--memo", type=Path, help="load/save the recorded logits here (pickle)")
    ap.add_argument("--out", type=Path, default=Path("runs/units"))
    args = ap.parse_args(argv)
    settings = Settings()
    precision, why = resolve_precision(args.precision)
    memo = recorded(settings.verifier_path, precision, args.memo)
    eval_set = load_eval_set(args.dataset, corpus=args.corpus)
    rows = []

    def run(name: str, judge: TallyJudge, **row) -> None:
        summary, _ = run_eval(eval_set, settings, out_dir=args.out / name, judge=judge, progress=False)
        first = judge.decided.get(judge.stage(judge.max_units), 0)
        n = sum(judge.decided.values())
        row.update(
            macro_f1=summary["macro_f1"],
            accuracy=summary["accuracy"],
            escalated=n - first,
            n=n,
            units_per_claim=round(judge.units_total / max(1, n), 2),
        )
        rows.append(row)
        print(
            f"{name:30s} macro-F1 {summary['macro_f1']:.4f}  acc {summary['accuracy']:.4f}  "
            f"escalated {n - first}/{n}  units/claim {row['units_per_claim']}",
            flush=True,
        )

    budgets = [int(b) for b in args.budgets.split(",") if b]
    for ranker in filter(None, args.rankers.split(",")):
        for k in budgets:
            if k == 0 and ranker != "overlap":
                continue  # every unit: the ranker does not matter
            run(f"{ranker}-k{k}", TallyJudge(memo, max_units=k, ranker=RANKERS[ranker]), ranker=ranker, k=k)
    for k1, k2, below, unv in _grid(args.cascades):
        esc = Escalation(units=k2, below=below, unverified_below=unv)
        run(
            f"cascade-{args.cascade_ranker}-{k1}-{k2}-{below}-{unv}",
            TallyJudge(memo, max_units=k1, escalation=esc, ranker=RANKERS[args.cascade_ranker]),
            ranker=args.cascade_ranker,
            k=k1,
            escalate_units=k2,
            below=below,
            unverified_below=unv,
        )
    if args.memo:
        save_memo(memo, args.memo)
    out = {
        "dataset": str(args.dataset),
        "precision": precision,
        "why": why,
        "pairs_scored": memo.computed,
        "rows": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
