"""`factcheck bench --only scale`: index build passages/s and eval claims/s, single process vs Ray (1 and 2 workers).

All runs share one synthetic corpus, one claim sample and one local Ray instance (loopback, every core here),
so the rows compare. The figures include what a user waits for: ingest, model loads in each actor, the
publish; the Ray instance's own start is reported apart (a cluster is normally already up).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..settings import Settings
from .config import SAMPLE_CORPUS, SEED_CLAIMS, BenchConfig, seed_sentences, synthetic_articles, usable_cpus


def bench_scale(cfg: BenchConfig, settings: Settings, work: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """Build the same corpus and run the same claims single-process and on Ray with 1 and 2 workers."""
    from ..errors import ScaleError
    from ..scale import local_init_args, require_ray

    try:
        ray = require_ray(local=True)
    except ScaleError as exc:
        return {"skipped": str(exc)}
    cpus = usable_cpus() or os.cpu_count() or 1
    work.mkdir(parents=True, exist_ok=True)
    articles, _ = synthetic_articles(cfg.scale_passages, seed_sentences())
    corpus = work / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(a.model_dump(mode="json", exclude={"path"})) + "\n" for a in articles))
    out: dict[str, Any] = {"cpus": cpus, "articles": len(articles), "builds": [], "evals": []}

    t = time.perf_counter()
    ray.init(**local_init_args(cpus))
    out["ray_start_s"] = round(time.perf_counter() - t, 1)
    try:
        out["builds"] = _builds(settings, work, corpus, log)
        out["evals"] = _evals(cfg, settings, work, log)
    finally:
        ray.shutdown()
    return out


def _builds(settings: Settings, work: Path, corpus: Path, log: Callable[[str], None]) -> list[dict]:
    """One build per row, each into a fresh index; Ray rows are checked against the single-process one."""
    from ..embed import make_embedder
    from ..index import FactIndex, flat_vectors
    from ..pipeline import build_index
    from ..scale import build_index_ray

    rows: list[dict] = []
    reference = None
    for how, workers in (("single process", None), ("ray", 1), ("ray", 2)):
        run_settings = settings.model_copy(
            update={"index_dir": work / f"build-{how}-{workers}", "ray_workers": workers}
        )
        t = time.perf_counter()
        if workers is None:
            added, _, _ = build_index(run_settings, [corpus])
        else:
            added, _, _ = build_index_ray(run_settings, [corpus])
        wall = time.perf_counter() - t
        snap = FactIndex.open(run_settings.resolved_index_dir(), make_embedder(run_settings)).snapshot()
        vecs, ids = flat_vectors(snap.faiss)  # type: ignore[arg-type]  # a Snapshot's faiss is an IndexIDMap2
        row: dict[str, Any] = {
            "how": how,
            "workers": workers,
            "passages": added.passages_added,
            "seconds": round(wall, 2),
            "passages_per_s": round(added.passages_added / wall, 1),
        }
        if reference is None:
            reference = (vecs, ids)
        else:
            row["same_ids"] = bool(np.array_equal(reference[1], ids))
            row["max_vector_diff"] = float(np.abs(reference[0] - vecs).max()) if len(vecs) else 0.0
        rows.append(row)
        log(f"scale build {how} workers={workers}: {row['passages_per_s']} passages/s ({row['seconds']} s)")
    return rows


def _evals(cfg: BenchConfig, settings: Settings, work: Path, log: Callable[[str], None]) -> list[dict]:
    """The seed claims (first `scale_claims`) against the sample corpus, with the configured judge."""
    from ..evals import load_eval_set, load_results, ray_executor, run_eval
    from ..pipeline import build_index

    index = work / "eval-index"
    eval_settings = settings.model_copy(update={"index_dir": index})
    build_index(eval_settings, [SAMPLE_CORPUS])
    eval_set = load_eval_set(SEED_CLAIMS)
    rows: list[dict] = []
    reference = None
    for how, workers in (("single process, 2 threads", None), ("ray", 1), ("ray", 2)):
        run_settings = eval_settings.model_copy(update={"ray_workers": workers})
        execute = ray_executor(None) if workers else None
        run_dir = work / f"eval-{workers}"
        summary, _ = run_eval(
            eval_set,
            run_settings,
            out_dir=run_dir,
            limit=cfg.scale_claims,
            cache_dir=work / "eval-cache",
            progress=False,
            execute=execute,
        )
        labels = {i: r.pred for i, r in load_results(run_dir / "cases.jsonl").items()}
        row: dict[str, Any] = {
            "how": how,
            "workers": workers,
            "claims": summary["n"],
            "seconds": summary["wall_s"],
            "claims_per_s": round(summary["n"] / summary["wall_s"], 2) if summary["wall_s"] else None,
            "judge": f"{summary['judge']}/{summary['judge_version']}",
        }
        if reference is None:
            reference = labels
        else:
            row["same_labels"] = labels == reference
        rows.append(row)
        log(f"scale eval {how} workers={workers}: {row['claims_per_s']} claims/s ({row['seconds']} s)")
    return rows
