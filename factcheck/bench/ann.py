"""Bench section 3: exact vs ANN retrieval (HNSW, IVF-Flat, IVF-PQ) at each size: recall@10 and latency."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from ..metrics import ann_recall_at_10
from .config import SEED, BenchConfig, derived_vectors, latency_summary

if TYPE_CHECKING:
    import faiss


def _time_queries(
    search: Callable[[np.ndarray], np.ndarray], queries: np.ndarray, threads: int = 1
) -> tuple[np.ndarray, list[float]]:
    """Run one query at a time with `threads` OpenMP threads (the service uses 1); ids and per-query ms."""
    import faiss

    ids, ms = [], []
    saved = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(threads)
    try:
        search(queries[:1])  # warm-up
        for q in queries:
            t = time.perf_counter()
            ids.append(search(q.reshape(1, -1))[0])
            ms.append((time.perf_counter() - t) * 1000)
    finally:
        faiss.omp_set_num_threads(saved)
    return np.stack(ids), ms


def _ids(index: faiss.Index, k: int, params: Any) -> Callable[[np.ndarray], np.ndarray]:
    """A query -> top-k ids search with `params` bound now (not when the loop that makes it moves on)."""
    return lambda q: index.search(q, k, params=params)[1]


def _row(kind: str, param: str, build_s: float | None, ids, truth, ms, mem_mb=None) -> dict:
    return {
        "index": kind,
        "param": param,
        "build_s": None if build_s is None else round(build_s, 2),
        "recall@10": round(ann_recall_at_10(ids, truth), 4),
        **{f"{k}_ms": v for k, v in latency_summary(ms).items() if k in ("p50", "p95")},
        "mem_mb": mem_mb,
    }


def bench_ann_scale(
    n: int, base: np.ndarray, queries: np.ndarray, cfg: BenchConfig, *, data: str, log: Callable[[str], None]
) -> dict:
    """Flat vs HNSW vs IVF-Flat vs IVF-PQ (exact rerank) on one vector set."""
    import faiss

    from ..index import HNSW_EF_CONSTRUCTION, HNSW_M

    k, d = 10, base.shape[1]
    rows: list[dict] = []
    t0 = time.perf_counter()
    flat = faiss.IndexFlatIP(d)
    flat.add(base)
    flat_build = time.perf_counter() - t0
    _, truth = flat.search(queries, k)  # batched ground truth
    # Exact search is recall 1 by definition: 50 timed queries are enough (it costs ~n/20M s per query).
    few = queries[:50]
    ids, ms = _time_queries(lambda q: flat.search(q, k)[1], few)
    rows.append(_row("Flat (exact)", "-", flat_build, ids, truth[: len(few)], ms, round(base.nbytes / 2**20)))
    if faiss.omp_get_max_threads() > 1:  # what the one-thread-per-query fast path saves
        ids, ms = _time_queries(lambda q: flat.search(q, k)[1], queries[:20], threads=faiss.omp_get_max_threads())
        rows.append(
            _row(
                "Flat (exact)",
                f"{faiss.omp_get_max_threads()} OpenMP threads/query",
                flat_build,
                ids,
                truth[: len(ids)],
                ms,
                round(base.nbytes / 2**20),
            )
        )
    log(f"ann {n}: flat p50 {rows[-1]['p50_ms']} ms")

    if n <= cfg.hnsw_max:
        t0 = time.perf_counter()
        hnsw = faiss.IndexHNSWFlat(d, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        hnsw.add(base)
        build = time.perf_counter() - t0
        log(f"ann {n}: HNSW built in {build:.1f} s")
        mem = round((base.nbytes + n * HNSW_M * 2 * 4) / 2**20)
        for ef in cfg.hnsw_ef:
            params = faiss.SearchParametersHNSW(  # type: ignore[attr-defined]  # faiss stubs: no SearchParametersHNSW
                efSearch=max(ef, k)
            )
            ids, ms = _time_queries(_ids(hnsw, k, params), queries)
            rows.append(_row(f"HNSW M={HNSW_M}", f"efSearch={ef}", build, ids, truth, ms, mem))
        del hnsw
    else:
        rows.append(
            {
                "index": f"HNSW M={HNSW_M}",
                "param": "-",
                "skipped": f"not built above {cfg.hnsw_max:,} vectors: graph construction on 2 cores exceeds the "
                "bench budget",
            }
        )

    # nlist ~ 4 sqrt(n) with >= 39 training points per list, capped at 1024: k-means on 2 cores must stay
    # within the bench budget at 1M.
    nlist = int(max(4, 2 ** int(np.log2(max(4.0, min(1024, 4 * np.sqrt(n), n / 39))))))
    rng = np.random.default_rng(SEED)
    train = base[rng.choice(n, min(n, 40 * nlist), replace=False)]
    t0 = time.perf_counter()
    quant = faiss.IndexFlatIP(d)
    ivf = faiss.IndexIVFFlat(quant, d, nlist, faiss.METRIC_INNER_PRODUCT)
    ivf.cp.niter = 10  # k-means dominates the build on 2 cores; 10 iterations cost no measurable recall here
    ivf.train(train)
    # Assign every vector to its list once; IVF-Flat and IVF-PQ below share the assignment.
    _, assign = quant.search(base, 1)
    assign = np.ascontiguousarray(assign.ravel())
    coarse_s = time.perf_counter() - t0
    ivf.add_core(n, faiss.swig_ptr(base), None, faiss.swig_ptr(assign))
    build = time.perf_counter() - t0
    log(f"ann {n}: IVF-Flat nlist={nlist} built in {build:.1f} s")
    for nprobe in cfg.ivf_nprobe:
        params = faiss.SearchParametersIVF(nprobe=nprobe)  # type: ignore[call-arg]  # faiss stubs: fields are kwargs
        ids, ms = _time_queries(_ids(ivf, k, params), queries)
        rows.append(_row(f"IVF{nlist}-Flat", f"nprobe={nprobe}", build, ids, truth, ms, round(base.nbytes / 2**20)))
    del ivf  # free the index before the next one is built

    if n < 64 * 2**cfg.pq_bits or n < cfg.pq_min:
        why = (
            "too few vectors to train the PQ codebooks"
            if n < 64 * 2**cfg.pq_bits
            else f"PQ is measured from {cfg.pq_min:,} vectors, where its memory saving matters"
        )
        rows.append({"index": "IVF-PQ", "param": "-", "skipped": why})
        return {"n": n, "data": data, "queries": len(queries), "rows": rows, "best": _best(rows)}
    m_sub = 48 if d % 48 == 0 else 32 if d % 32 == 0 else 16
    t0 = time.perf_counter()
    # Same (already trained) coarse quantizer and assignment: only the PQ codebooks are trained here,
    # on 40 points per centroid with 10 k-means iterations.
    pq = faiss.IndexIVFPQ(quant, d, nlist, m_sub, cfg.pq_bits, faiss.METRIC_INNER_PRODUCT)
    pq.pq.cp.niter = 10
    pq.train(train[: 40 * 2**cfg.pq_bits])
    pq.add_core(n, faiss.swig_ptr(base), None, faiss.swig_ptr(assign))
    build = time.perf_counter() - t0 + coarse_s
    log(f"ann {n}: IVF-PQ built in {build:.1f} s (incl. the shared coarse quantizer)")
    refine = 8  # candidates per result re-scored exactly against the stored float vectors

    def pq_search(index: faiss.IndexIVFPQ, q: np.ndarray, params: Any) -> np.ndarray:
        _, cand = index.search(q, k * refine, params=params)
        c = cand[0][cand[0] >= 0]
        order = np.argsort(-(base[c] @ q[0]))[:k]
        return c[order].reshape(1, -1)

    for nprobe in cfg.ivf_nprobe:
        params = faiss.SearchParametersIVF(nprobe=nprobe)  # type: ignore[call-arg]  # faiss stubs: fields are kwargs
        ids, ms = _time_queries(partial(pq_search, pq, params=params), queries)
        rows.append(
            _row(
                f"IVF{nlist}-PQ{m_sub} + exact rerank x{refine}",
                f"nprobe={nprobe}",
                build,
                ids,
                truth,
                ms,
                round(n * m_sub / 2**20),
            )
        )
    del pq
    return {"n": n, "data": data, "queries": len(queries), "rows": rows, "best": _best(rows)}


def _best(rows: list[dict], min_recall: float = 0.95) -> dict[str, dict]:
    """Per index type, the fastest (by p95) setting reaching `min_recall`, else the most accurate one."""
    best: dict[str, dict] = {}
    for r in rows:
        if "skipped" in r:
            continue
        cur = best.get(r["index"])
        ok, cur_ok = r["recall@10"] >= min_recall, cur is not None and cur["recall@10"] >= min_recall
        if (
            cur is None
            or (ok and (not cur_ok or r["p95_ms"] < cur["p95_ms"]))
            or (not ok and not cur_ok and r["recall@10"] > cur["recall@10"])
        ):
            best[r["index"]] = r
    return best


def bench_ann(
    cfg: BenchConfig,
    real_vectors: np.ndarray | None,
    real_queries: np.ndarray | None,
    log: Callable[[str], None],
    dim: int = 384,
    name: str = "MiniLM",
    time_left: Callable[[], float] = lambda: float("inf"),
) -> dict:
    """Retrieval latency/recall at each size: real MiniLM vectors where we have them, derived beyond."""
    rng = np.random.default_rng(SEED)
    scales = []
    for i, n in enumerate(cfg.ann_sizes):
        if i and time_left() < cfg.check_reserve_s + 60:
            log(f"ann: {n:,} skipped (time budget)")
            scales.append({"n": n, "skipped": f"skipped: {time_left():.0f} s of the {cfg.budget_s:.0f} s budget left"})
            continue
        if real_vectors is not None and n <= len(real_vectors):
            base = np.ascontiguousarray(real_vectors[:n])
            assert real_queries is not None, "real vectors come with their real queries"
            queries = real_queries[: cfg.ann_queries]
            data = (
                f"real {name} vectors of the synthetic passages; queries: the seed claims and sampled "
                "passages, embedded alike"
            )
        else:
            basis = real_vectors
            base = derived_vectors(n, dim, basis, rng)
            queries = derived_vectors(cfg.ann_queries, dim, basis, rng)
            data = (
                f"derived: unit mixtures of two real {name} vectors + noise (queries drawn alike)"
                if basis is not None
                else "uniform random unit vectors"
            )
        log(f"ann: {n:,} vectors ({data.split(':')[0]})")
        scales.append(bench_ann_scale(n, base, queries, cfg, data=data, log=log))
        del base
    return {
        "k": 10,
        "latency": "one query at a time with 1 OpenMP thread (as the service searches), after a "
        "warm-up query; recall@10 vs IndexFlatIP",
        "faiss_threads": __import__("faiss").omp_get_max_threads(),
        "scales": scales,
    }
