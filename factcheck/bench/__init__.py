"""`factcheck bench`: index build, embedding backends, exact vs ANN search, end-to-end check, judge frontier: one run."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..settings import Settings
from .ann import bench_ann, bench_ann_scale
from .build import bench_build, bench_embed
from .check import bench_check
from .config import (
    ALL_SECTIONS,
    SECTIONS,
    BenchConfig,
    PeakRSS,
    derived_vectors,
    latency_summary,
    load_claims,
    machine_info,
    seed_sentences,
    synthetic_articles,
)
from .frontier import EVAL_SETS, bench_frontier, select_configs
from .report import render_markdown, targets
from .scale import bench_scale

__all__ = [
    "SECTIONS",
    "BenchConfig",
    "PeakRSS",
    "add_cli",
    "bench_ann_scale",
    "derived_vectors",
    "latency_summary",
    "run_bench",
    "seed_sentences",
    "synthetic_articles",
]


def run_bench(cfg: BenchConfig, settings: Settings, out_dir: Path, log: Callable[[str], None] = print) -> dict:
    """Run the selected sections in one process and write bench.json + bench.md to `out_dir`."""
    from ..embed import make_embedder
    from ..index import flat_vectors

    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    def time_left() -> float:
        return cfg.budget_s - (time.perf_counter() - started)

    result: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": asdict(cfg),
        "machine": machine_info(),
        "settings": {
            "embed_backend": settings.embed_backend,
            "verifier_backend": settings.verifier_backend,
            "ann_threshold": settings.ann_threshold,
            "ann_ef_search": settings.ann_ef_search,
            "workers": settings.workers,
            "verifier_precision": settings.verifier_precision,
            "verifier_bf16_pack": settings.verifier_bf16_pack,
            "verifier_max_units": settings.verifier_max_units,
            "verifier_batch_window_ms": settings.verifier_batch_window_ms,
        },
    }
    work = Path(tempfile.mkdtemp(prefix="factcheck-bench-"))
    try:
        embedder = make_embedder(settings)
        real_vecs = real_queries = None
        if {"build", "check", "ann", "frontier"} & set(cfg.sections):
            t = time.perf_counter()
            result["build"] = bench_build(cfg, settings, work, embedder, log)
            result["build"]["section_s"] = round(time.perf_counter() - t, 1)
            snap = _open_snapshot(Path(result["build"]["real_index"]), embedder)
            real_vecs, _ = flat_vectors(snap.faiss)
            # Only the really embedded passages (the first ones added) serve as real vectors below.
            real_vecs = real_vecs[: next(r["real_vectors"] for r in result["build"]["runs"] if "real_vectors" in r)]
            q_texts = load_claims() + [t for _, t in snap.iter_passage_texts()][:: max(1, snap.faiss.ntotal // 200)]
            real_queries = embedder.embed(q_texts[: cfg.ann_queries])
        if "embed" in cfg.sections:
            t = time.perf_counter()
            result["embed"] = bench_embed(cfg, settings, log)
            result["embed"]["section_s"] = round(time.perf_counter() - t, 1)
        if "ann" in cfg.sections:
            t = time.perf_counter()
            result["ann"] = bench_ann(
                cfg, real_vecs, real_queries, log, dim=embedder.dim, name=embedder.name, time_left=time_left
            )
            result["ann"]["section_s"] = round(time.perf_counter() - t, 1)
        if "check" in cfg.sections:
            t = time.perf_counter()
            result["check"] = bench_check(
                cfg, settings, Path(result["build"]["real_index"]), embedder, log, time_left=time_left
            )
            result["check"]["section_s"] = round(time.perf_counter() - t, 1)
        if "scale" in cfg.sections:
            t = time.perf_counter()
            result["scale"] = bench_scale(cfg, settings, work / "scale", log)
            result["scale"]["section_s"] = round(time.perf_counter() - t, 1)
        if "frontier" in cfg.sections:
            t = time.perf_counter()
            result["frontier"] = bench_frontier(
                cfg,
                settings,
                Path(result["build"]["real_index"]),
                embedder,
                work / "frontier",
                log,
                sets=cfg.frontier_sets,
                configs=select_configs(cfg.frontier_rows),
            )
            result["frontier"]["section_s"] = round(time.perf_counter() - t, 1)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result["seconds"] = round(time.perf_counter() - started, 1)
    result["machine"]["loadavg_end"] = machine_info()["loadavg_1_5_15"]
    result["targets"] = targets(result)
    (out_dir / "bench.json").write_text(json.dumps(result, indent=2, default=str))
    (out_dir / "bench.md").write_text(render_markdown(result))
    return result


def _open_snapshot(path: Path, embedder):
    from ..index import FactIndex

    return FactIndex.open(path, embedder).snapshot()


# --- report -----------------------------------------------------------------------------------------


# --- CLI --------------------------------------------------------------------------------------------


def cmd_bench(args: argparse.Namespace) -> int:
    """Run the benchmark and print its Markdown (or JSON) report."""
    settings = Settings()
    cfg = BenchConfig.quick() if args.quick else BenchConfig()
    if args.only:
        wanted = tuple(s.strip() for s in args.only.split(",") if s.strip())
        bad = [s for s in wanted if s not in ALL_SECTIONS]
        if bad:
            raise InputError(f"unknown bench section {bad[0]!r} (choose from {', '.join(ALL_SECTIONS)})")
        cfg = replace(cfg, sections=wanted)
        if "build" not in wanted and "ann" not in wanted:
            cfg = replace(cfg, build_derived=0)  # the check and frontier sections only need the real index
    if args.frontier_sets is not None:
        sets = tuple(s.strip() for s in args.frontier_sets.split(",") if s.strip())
        bad = [s for s in sets if s not in EVAL_SETS]
        if bad:
            raise InputError(f"unknown eval set {bad[0]!r} (choose from {', '.join(EVAL_SETS)})")
        cfg = replace(cfg, frontier_sets=sets)
    if args.frontier_rows:
        rows = tuple(r.strip() for r in args.frontier_rows.split(",") if r.strip())
        if len(select_configs(rows)) < 2:
            raise InputError(f"no frontier configuration matches {args.frontier_rows!r}")
        cfg = replace(cfg, frontier_rows=rows)
    out = Path(args.out) if args.out else Path("runs") / f"bench-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot write the bench report to {out}: {exc.strerror or exc}") from exc
    log = lambda msg: print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)
    result = run_bench(cfg, settings, out, log)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print((out / "bench.md").read_text())
        print(f"written: {out / 'bench.json'}, {out / 'bench.md'}")
    return 0


def add_cli(subparsers: Any) -> None:
    """Register `factcheck bench`."""
    b = subparsers.add_parser("bench", help="measure build, embedding, exact vs ANN search and check latency")
    b.add_argument("--quick", action="store_true", help="small sizes: a smoke run in about a minute")
    b.add_argument("--out", default=None, help="report folder (default: runs/bench-<UTC timestamp>)")
    b.add_argument("--json", action="store_true", help="print bench.json instead of the Markdown tables")
    b.add_argument(
        "--only",
        default=None,
        help=f"comma-separated sections to run ({', '.join(ALL_SECTIONS)}; default: {', '.join(SECTIONS)})",
    )
    b.add_argument(
        "--frontier-sets",
        default=None,
        help=f"eval sets whose macro-F1 the frontier reports ({', '.join(EVAL_SETS)}; default: seed)",
    )
    b.add_argument(
        "--frontier-rows",
        default=None,
        help="comma-separated parts of frontier configuration names to run (e.g. 'default'); the first row always runs",
    )
    b.set_defaults(func=cmd_bench)
