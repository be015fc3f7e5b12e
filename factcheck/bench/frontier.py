"""Bench section 5, the judge frontier: each verifier configuration's speed and quality, one table, one run.

Speed is measured on the bench's synthetic index (sequential `/check` p50/p95 with caches off, and checks/s
with 16 concurrent API clients). Quality is macro-F1 on named eval sets through the real eval runner. The
network reads every unit of every claim once per precision (`MemoScorer`); a configuration that reads fewer
units is then replayed from that record, so the quality columns cost one full pass per precision and set.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..settings import REPO_DIR, Settings
from .check import bench_batch, bench_check_concurrent, bench_check_interleaved, mean_units_read, replace_settings
from .config import BenchConfig, article_claims, load_claims


@dataclass(frozen=True)
class JudgeConfig:
    """One point on the frontier: arithmetic, units read per claim (0 = all), cross-request batching."""

    name: str
    precision: str  # "fp32" (the configured backend, ONNX by default) or "bf16" (torch autocast)
    max_units: int
    batch_window_ms: float = 5.0
    escalate_units: int | None = None  # the unit cascade: read this many units when the first ones are unclear
    escalate_below: float = 0.8
    escalate_unverified_below: float = 0.95
    full_pass_sets: tuple[str, ...] = ()  # for all-unit rows: only these sets (a full fp32 pass costs ~3 s a claim)
    # The student cascade: the distilled student reads this many units first; a verdict less confident than the
    # settings' fitted student rule goes on to the v10 judge the fields above describe.
    student_units: int | None = None
    packed: bool = True  # bf16 weights packed for oneDNN once (the default), or plain bf16 Linears

    @property
    def network(self) -> str:
        """The key of the loaded networks this configuration runs on."""
        return self.precision if self.packed or self.precision != "bf16" else "bf16-unpacked"

    def escalation(self):
        """The cascade rule of this configuration, if it has one."""
        from ..judges.verifier import Escalation

        if self.escalate_units is None:
            return None
        return Escalation(self.escalate_units, self.escalate_below, self.escalate_unverified_below)


CONFIGS: tuple[JudgeConfig, ...] = (
    JudgeConfig("v10 all units fp32 (before)", "fp32", 0, 0.0, full_pass_sets=("seed", "holdout")),
    JudgeConfig("v10 all units bf16", "bf16", 0, full_pass_sets=("seed", "scifact-dev")),
    JudgeConfig("v10 top-10 bf16", "bf16", 10),
    JudgeConfig("v10 top-5 bf16", "bf16", 5),
    JudgeConfig("v10 cascade 3->10 bf16", "bf16", 3, escalate_units=10),
    JudgeConfig("v10 cascade 3->10 fp32", "fp32", 3, escalate_units=10),
    JudgeConfig("student top-4 alone bf16", "bf16", 3, student_units=4, escalate_below=-1.0),
    JudgeConfig("student 4 > v10 3->10 bf16 (default, bf16 CPUs)", "bf16", 3, escalate_units=10, student_units=4),
    JudgeConfig(
        "student 4 > v10 3->10 bf16, weights not packed", "bf16", 3, escalate_units=10, student_units=4, packed=False
    ),
    JudgeConfig("student 4 > v10 3->10 fp32 (default, other CPUs)", "fp32", 3, escalate_units=10, student_units=4),
)

DATASETS = REPO_DIR.parent / "shared" / "datasets"
# name -> (claims, format, corpus): the sets the quality bar names.
EVAL_SETS: dict[str, tuple[Path, str, Path]] = {
    "seed": (
        REPO_DIR / "evals" / "datasets" / "seed-news.jsonl",
        "jsonl",
        REPO_DIR / "evals" / "corpus" / "iraq-coalition-2024",
    ),
    "holdout": (
        REPO_DIR / "evals" / "holdout" / "news-holdout.jsonl",
        "jsonl",
        REPO_DIR / "evals" / "holdout" / "news-holdout",
    ),
    "scifact-dev": (
        DATASETS / "scifact" / "claims_dev_claimlevel.jsonl",
        "scifact",
        DATASETS / "scifact" / "corpus.jsonl",
    ),
    "climate-fever-400": (
        DATASETS / "climate_fever" / "claims.jsonl",
        "climate-fever",
        DATASETS / "climate_fever" / "corpus.jsonl",
    ),
}
LIMITS = {"climate-fever-400": 400}  # the first 400 Climate-FEVER claims


def _judge(verifiers: dict[str, Any], config: JudgeConfig, settings: Settings):
    """The judge a configuration describes, over the shared loaded networks (batching wraps them per judge)."""
    from ..judges.cascade import CascadeJudge
    from ..judges.verifier import Escalation, VerifierJudge
    from ..verifier.batching import BatchingScorer

    def scorer(key: str):
        v = verifiers[key]
        return BatchingScorer(v, window_ms=config.batch_window_ms) if config.batch_window_ms else v

    v10 = VerifierJudge(scorer(config.network), max_units=config.max_units, escalation=config.escalation())
    if config.student_units is None:
        return v10
    student = VerifierJudge(scorer(f"student-{config.network}"), max_units=config.student_units)
    if config.escalate_below < 0:  # the student alone: nothing escalates
        return student
    rule = Escalation(
        below=settings.verifier_student_escalate_below,
        unverified_below=settings.verifier_student_escalate_unverified_below,
    )
    return CascadeJudge(student, lambda: v10, rule, v10.version)


def _verifiers(settings: Settings, configs: Sequence[JudgeConfig]) -> dict[str, Any]:
    """One loaded network per model and precision (fp32 on the configured backend, bf16 on torch)."""
    from ..verifier import load_verifier
    from ..verifier.model import STUDENT_MODEL_DIR

    out = {}
    for c in configs:
        for model, key in ((settings.verifier_path, c.network), (STUDENT_MODEL_DIR, f"student-{c.network}")):
            if key in out or (model == STUDENT_MODEL_DIR and c.student_units is None):
                continue
            out[key] = load_verifier(
                model,
                backend=settings.verifier_backend if c.precision == "fp32" else "torch",
                onnx_cache_dir=settings.onnx_cache_dir,
                precision=c.precision,  # type: ignore[arg-type]
                pack=c.packed,
            )
    return out


def _batching(judge) -> dict | None:
    """Forward passes and claims of the judge's batching scorers (every stage loaded so far)."""
    stages = [judge.first, *([judge.last] if judge.last_loaded else [])] if hasattr(judge, "first") else [judge]
    scorers = [j.verifier for j in stages if hasattr(j.verifier, "batches")]
    if not scorers:
        return None
    return {"forward_passes": sum(s.batches for s in scorers), "claims": sum(s.jobs for s in scorers)}


def frontier_speed(
    cfg: BenchConfig,
    settings: Settings,
    index_dir: Path,
    embedder,
    configs: Sequence[JudgeConfig],
    log: Callable[[str], None],
) -> list[dict]:
    """Per configuration: units read, sequential /check p50/p95 and checks/s with concurrent clients."""
    from ..judges.verifier import candidate_units
    from ..pipeline import build_pipeline

    verifiers = _verifiers(settings, configs)
    claims = load_claims()
    page = article_claims(20)
    seq = (claims * (cfg.check_claims // len(claims) + 1))[: cfg.check_claims]
    served = replace_settings(settings, index_dir=index_dir, judge="verifier")
    judges = {c.name: _judge(verifiers, c, settings) for c in configs}
    pipes = {name: build_pipeline(served, judge=judge, embedder=embedder) for name, judge in judges.items()}
    log(f"frontier: sequential, {len(seq)} claims x {cfg.check_repeats}, in rounds of every configuration")
    sequential = bench_check_interleaved(pipes, seq, cfg.check_repeats)
    rows = []
    for config in configs:
        pipe, judge = pipes[config.name], judges[config.name]
        units = [len(candidate_units(c, pipe.search(c))) for c in seq[:10]]
        log(f"frontier: {config.name}: {cfg.concurrent_clients} concurrent clients")
        concurrent = bench_check_concurrent(pipe, served, claims, cfg)
        log(f"frontier: {config.name}: a batch of {len(page)} claims")
        batch = bench_batch(pipe, page)
        rows.append(
            {
                "config": config.name,
                "runtime": judge.runtime,
                "units_per_claim": mean_units_read(pipe, seq[:20]),
                "candidate_units_per_claim": round(sum(units) / len(units), 1),
                "batch_s": batch["median_s"],
                "check_ms": sequential[config.name]["wall_ms"],
                "check_ms_by_decider": sequential[config.name]["by_decider"],
                "judge_ms": sequential[config.name]["stages_ms"]["judge"],
                "checks_per_s": concurrent["throughput_rps"],
                "concurrent_status": concurrent["status"],
                "batching": _batching(judge),
                "escalated": judge.decided["last"] / max(1, sum(judge.decided.values()))
                if hasattr(judge, "decided")
                else None,
            }
        )
    return rows


def frontier_quality(
    settings: Settings,
    configs: Sequence[JudgeConfig],
    sets: Sequence[str],
    work: Path,
    embedder,
    log: Callable[[str], None],
) -> dict[str, dict[str, dict]]:
    """Per eval set and configuration: macro-F1 and accuracy from the eval runner (every unit read once)."""
    from ..evals import load_eval_set, run_eval
    from ..verifier.memo import MemoScorer

    memos = {p: MemoScorer(v) for p, v in _verifiers(settings, configs).items()}
    out: dict[str, dict[str, dict]] = {}
    for name in sets:
        path, fmt, corpus = EVAL_SETS[name]
        eval_set = load_eval_set(path, fmt, corpus=corpus)
        out[name] = {}
        # Full-unit configurations first: they record every pair the capped ones will ask for.
        for config in sorted(configs, key=lambda c: c.max_units != 0):
            if config.max_units == 0 and config.full_pass_sets and name not in config.full_pass_sets:
                continue
            if not config.packed:  # its packed row's labels, logits within bf16's last bits (tests/test_fast_judge.py)
                continue
            log(f"frontier: quality on {name}: {config.name}")
            judge = _judge(memos, replace(config, batch_window_ms=0.0), settings)
            summary, run_dir = run_eval(
                eval_set,
                settings,
                out_dir=work / f"{name}-{config.precision}-k{config.max_units}-e{config.escalate_units}"
                f"-s{config.student_units}-{config.escalate_below}",
                limit=LIMITS.get(name),
                judge=judge,
                embedder=embedder,
                progress=False,
            )
            out[name][config.name] = {
                "stages": summary.get("stages"),
                "macro_f1": summary["macro_f1"],
                "accuracy": summary["accuracy"],
                "n": summary["n"],
                "run": str(run_dir),
            }
    return out


def select_configs(rows: Sequence[str], configs: Sequence[JudgeConfig] = CONFIGS) -> tuple[JudgeConfig, ...]:
    """The configurations whose names hold one of `rows` (all when empty), always with the first: the speed-up base."""
    if not rows:
        return tuple(configs)
    return tuple(c for i, c in enumerate(configs) if i == 0 or any(r in c.name for r in rows))


def bench_frontier(
    cfg: BenchConfig,
    settings: Settings,
    index_dir: Path,
    embedder,
    work: Path,
    log: Callable[[str], None],
    sets: Sequence[str] = ("seed",),
    configs: Sequence[JudgeConfig] = CONFIGS,
) -> dict:
    """The frontier table: speed rows joined with quality per eval set."""
    rows = frontier_speed(cfg, settings, index_dir, embedder, configs, log)
    quality = frontier_quality(settings, configs, sets, work, embedder, log) if sets else {}
    for row in rows:
        row["macro_f1"] = {n: q[row["config"]]["macro_f1"] for n, q in quality.items() if row["config"] in q}
        row["accuracy"] = {n: q[row["config"]]["accuracy"] for n, q in quality.items() if row["config"] in q}
        row["stages"] = {n: q[row["config"]]["stages"] for n, q in quality.items() if row["config"] in q}
    base = rows[0]["check_ms"]["p50"]
    for row in rows:
        row["speedup_p50"] = round(base / row["check_ms"]["p50"], 1) if row["check_ms"]["p50"] else None
    return {"configs": rows, "sets": {n: {"n": next(iter(q.values()))["n"]} for n, q in quality.items()}}
