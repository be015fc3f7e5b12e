"""`factcheck bench`: index build, embedding backends, exact vs ANN search and end-to-end check latency, in one run."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import re
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from .metrics import ann_recall_at_10, percentile
from .settings import REPO_DIR, Settings

SAMPLE_CORPUS = REPO_DIR / "evals" / "corpus" / "iraq-coalition-2024"
SEED_CLAIMS = REPO_DIR / "evals" / "datasets" / "seed-news.jsonl"
SECTIONS = ("build", "embed", "ann", "check")
SEED = 20240529  # every synthetic corpus, vector set and sample is drawn from this seed


@dataclass
class BenchConfig:
    """Sizes of one bench run; `quick` shrinks everything for smoke runs."""

    build_real: int = 10_000  # synthetic passages built end to end with the real embedder
    build_real_budget_s: float = 90.0  # embedding time allowed for it; the remainder gets derived vectors
    build_derived: int = 100_000  # synthetic passages built with precomputed vectors; embedding time derived
    embed_texts: int = 256  # passages per backend in the throughput test
    embed_queries: int = 20  # single-claim latency samples per backend
    ann_sizes: tuple[int, ...] = (10_000, 100_000, 1_000_000)
    ann_queries: int = 100
    hnsw_max: int = 100_000  # HNSW is built up to this size (1M x 384 takes minutes on 2 cores)
    hnsw_ef: tuple[int, ...] = (16, 32, 64, 128, 256)
    ivf_nprobe: tuple[int, ...] = (4, 8, 16, 32, 64)
    pq_bits: int = 8  # bits per PQ sub-code (256 centroids per sub-quantizer)
    pq_min: int = 1_000_000  # smallest vector set IVF-PQ is measured on
    check_claims: int = 30  # sequential checks (distinct claims)
    cache_claims: int = 8  # claims checked twice for the cache figures
    quantized_claims: int = 8  # claims judged by each verifier backend
    concurrent_clients: int = 16
    concurrent_seconds: float = 15.0  # new requests stop after this; in-flight ones finish
    concurrent_max_requests: int = 400
    sections: tuple[str, ...] = SECTIONS
    # `make bench` must finish in 10 minutes on 2 cores: optional steps are skipped (and say so) when the
    # remaining time falls below what the end-to-end section still needs.
    budget_s: float = 565.0
    check_reserve_s: float = 170.0

    @classmethod
    def quick(cls) -> BenchConfig:
        """Minutes-to-seconds smoke scale: same code paths, small sizes."""
        return cls(
            build_real=300,
            build_real_budget_s=20.0,
            build_derived=3_000,
            embed_texts=64,
            embed_queries=5,
            ann_sizes=(2_000, 20_000),
            ann_queries=40,
            hnsw_max=20_000,
            hnsw_ef=(16, 64),
            ivf_nprobe=(4, 16),
            pq_bits=6,
            check_claims=5,
            cache_claims=3,
            quantized_claims=3,
            concurrent_seconds=3.0,
            concurrent_max_requests=32,
            budget_s=240.0,
            check_reserve_s=60.0,
            pq_min=10_000,
        )


# --- measuring --------------------------------------------------------------------------------------


def latency_summary(ms: Sequence[float]) -> dict[str, float | int | None]:
    """p50 / p95 / mean / max of millisecond samples, rounded."""
    r = lambda v: None if v is None else round(v, 3)  # noqa: E731
    return {
        "n": len(ms),
        "p50": r(percentile(ms, 50)),
        "p95": r(percentile(ms, 95)),
        "mean": r(float(np.mean(ms)) if len(ms) else None),
        "max": r(max(ms) if len(ms) else None),
    }


def _rss_bytes() -> int:
    """Current resident set size of this process (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class PeakRSS:
    """Peak RSS above the starting RSS while the block runs, sampled every 10 ms from /proc/self/statm.

    RSS (not tracemalloc) because FAISS, onnxruntime and torch allocate outside Python's allocator.
    """

    def __init__(self, interval_s: float = 0.01):
        self.interval_s = interval_s
        self.start = self.peak = 0
        self._stop = threading.Event()

    def __enter__(self) -> PeakRSS:
        self.start = self.peak = _rss_bytes()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.peak = max(self.peak, _rss_bytes())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes())

    @property
    def delta_mb(self) -> float:
        """Peak minus start, in MiB."""
        return round((self.peak - self.start) / 2**20, 1)


def machine_info() -> dict[str, Any]:
    """What the figures were measured on, including how busy the machine was."""
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    import faiss

    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpus": os.cpu_count(),
        "affinity": affinity,
        "loadavg_1_5_15": load,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "faiss": faiss.__version__,
        "faiss_threads": faiss.omp_get_max_threads(),
    }


# --- synthetic data ---------------------------------------------------------------------------------


def seed_sentences(corpus: Path = SAMPLE_CORPUS) -> list[str]:
    """Every sentence of the sample corpus (cleaned by the real ingest)."""
    from .chunk import split_sentences
    from .ingest import load_articles

    out = []
    for art in load_articles([corpus]).articles:
        out += [art.text[a:b] for a, b in split_sentences(art.text, 0, len(art.text)) if b - a > 20]
    return out


def synthetic_articles(
    n_passages: int, sentences: Sequence[str], *, seed: int = SEED, max_chars: int = 600, overlap: int = 1
):
    """Deterministic articles recombined from `sentences` (numbers re-drawn) totalling >= n_passages passages."""
    from .chunk import chunk_article
    from .models import Article

    rng = random.Random(seed)
    numbers = re.compile(r"\d[\d,]*")
    total, i = 0, 0
    articles = []
    base = date(2023, 1, 1)
    while total < n_passages:
        body = []
        for _ in range(rng.randint(6, 14)):
            s = numbers.sub(lambda m: f"{rng.randint(1, 9999):,}", rng.choice(sentences))
            body.append(s)
        paras = [" ".join(body[k : k + 3]) for k in range(0, len(body), 3)]
        art = Article(
            id=f"synth-{i:07d}",
            title=f"Synthetic report {i}",
            text="\n\n".join(paras),
            source=f"wire-{i % 17}",
            published=base + timedelta(days=rng.randint(0, 730)),
        )
        total += len(chunk_article(art, max_chars, overlap))
        articles.append(art)
        i += 1
    return articles, total


class BudgetedEmbedder:
    """The real embedder until `budget_s` of embedding time is spent, then derived vectors near the real ones.

    Keeps `make bench` bounded on a busy 2-core box: the 10k index still has real vectors for as many
    passages as the budget allowed, and its search/check latency does not depend on which vectors it holds.
    """

    def __init__(self, inner, budget_s: float, step: int = 256, seed: int = SEED):
        self.inner, self.budget_s, self.step = inner, budget_s, step
        self.name, self.dim = inner.name, inner.dim
        self.real = self.derived = 0
        self.real_s = 0.0
        self._rng = np.random.default_rng(seed)
        self._seen: list[np.ndarray] = []

    def embed(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Real vectors in steps while the budget lasts, derived ones after."""
        out = []
        for s in range(0, len(texts), self.step):
            part = texts[s : s + self.step]
            if self.real_s < self.budget_s or not self._seen:
                t = time.perf_counter()
                v = self.inner.embed(part, batch_size=batch_size)
                self.real_s += time.perf_counter() - t
                self.real += len(part)
                self._seen.append(v)
            else:
                v = derived_vectors(len(part), self.dim, np.vstack(self._seen), self._rng)
                self.derived += len(part)
            out.append(v)
        return np.vstack(out) if out else np.zeros((0, self.dim), dtype=np.float32)


class PrecomputedEmbedder:
    """Deterministic unit vectors drawn near a set of real MiniLM vectors: isolates the non-embedding cost."""

    def __init__(self, name: str, dim: int, basis: np.ndarray | None = None, seed: int = SEED):
        self.name = name
        self.dim = dim
        self._basis = basis
        self._rng = np.random.default_rng(seed)

    def embed(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """One vector per text, in O(n) numpy work."""
        return derived_vectors(len(texts), self.dim, self._basis, self._rng)


def derived_vectors(
    n: int, dim: int, basis: np.ndarray | None, rng: np.random.Generator, chunk: int = 100_000
) -> np.ndarray:
    """n unit vectors: mixtures of two real vectors plus noise, or uniform random when no basis is given.

    Mixtures keep the neighbourhood structure of real embeddings (topics, near-duplicates) without
    embedding a million texts; uniform random vectors are the structure-free worst case for ANN.
    """
    out = np.empty((n, dim), dtype=np.float32)
    for s in range(0, n, chunk):
        m = min(chunk, n - s)
        noise = rng.standard_normal((m, dim), dtype=np.float32)
        noise /= np.linalg.norm(noise, axis=1, keepdims=True)
        if basis is None:
            v = noise
        else:
            a = basis[rng.integers(0, len(basis), m)]
            b = basis[rng.integers(0, len(basis), m)]
            wa = rng.uniform(0.6, 1.0, (m, 1)).astype(np.float32)
            wb = rng.uniform(0.0, 0.6, (m, 1)).astype(np.float32)
            v = wa * a + wb * b + 0.35 * noise
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        out[s : s + m] = v
    return out


def load_claims(path: Path = SEED_CLAIMS) -> list[str]:
    """Claims of the seed eval set (our own; fine to benchmark on)."""
    from .loadtest import CLAIMS

    claims = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                claims.append(json.loads(line)["claim"])
    return list(dict.fromkeys(claims + list(CLAIMS)))


# --- 1. index build ---------------------------------------------------------------------------------


def bench_build_one(label: str, articles, embedder, root: Path, *, measure_embed: bool = True) -> dict[str, Any]:
    """Build a fresh index over `articles`; passages/s and peak RSS of the whole add (chunk, embed, store)."""
    from .index import FactIndex

    shutil.rmtree(root, ignore_errors=True)
    index = FactIndex.open(root, embedder, create=True)
    embed_s = [0.0]
    inner = embedder.embed

    def timed_embed(texts, **kw):
        t = time.perf_counter()
        try:
            return inner(texts, **kw)
        finally:
            embed_s[0] += time.perf_counter() - t

    embedder.embed = timed_embed  # instance attribute: counts the embedding share of the build
    try:
        with PeakRSS() as mem:
            t0 = time.perf_counter()
            report = index.add_articles(articles, batch_size=64)
            wall = time.perf_counter() - t0
    finally:
        del embedder.embed
    n = report.passages_added
    other = wall - embed_s[0]
    return {
        "corpus": label,
        "embedder": embedder.name,
        "articles": len(articles),
        "passages": n,
        "seconds": round(wall, 2),
        "embed_seconds": round(embed_s[0], 2),
        "other_seconds": round(other, 2),
        "passages_per_s": round(n / wall, 1) if wall else None,
        "peak_rss_delta_mb": mem.delta_mb,
        "measured": True,
    }


def _count(n: int) -> str:
    """10000 -> '10k', 1500 -> '1,500'."""
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else f"{n:,}"


def bench_build(cfg: BenchConfig, settings: Settings, work: Path, embedder, log: Callable[[str], None]) -> dict:
    """Index build throughput: sample corpus, ~10k synthetic (real embedder), ~100k synthetic (derived)."""
    from .ingest import load_articles

    out: dict[str, Any] = {
        "memory": "peak RSS above the pre-build RSS, sampled every 10 ms (/proc/self/statm)",
        "runs": [],
    }
    sample = load_articles([SAMPLE_CORPUS]).articles
    log(f"build: sample corpus ({len(sample)} articles)")
    out["runs"].append(bench_build_one("sample corpus", sample, embedder, work / "idx-sample"))
    sents = seed_sentences()
    arts, _ = synthetic_articles(cfg.build_real, sents)
    log(
        f"build: synthetic ~{cfg.build_real} passages with {embedder.name} "
        f"(<= {cfg.build_real_budget_s:.0f} s of embedding)"
    )
    budgeted = BudgetedEmbedder(embedder, cfg.build_real_budget_s)
    real = bench_build_one(f"synthetic {_count(cfg.build_real)}", arts, budgeted, work / "idx-real")
    real["embedder"] = embedder.name
    if budgeted.derived:
        # Embedding budget ran out: time the derived share at the measured real rate.
        rate = budgeted.real / budgeted.real_s
        embed_s = real["passages"] / rate
        other = real["seconds"] - real["embed_seconds"]
        real.update(
            measured=False,
            embed_seconds=round(embed_s, 1),
            seconds=round(other + embed_s, 1),
            passages_per_s=round(real["passages"] / (other + embed_s), 1),
            note=(
                f"{budgeted.real} passages embedded for real in {budgeted.real_s:.0f} s "
                f"({rate:.0f}/s), the other {budgeted.derived} got derived vectors; the total is derived"
            ),
        )
    else:
        rate = budgeted.real / budgeted.real_s if budgeted.real_s else None
    real["real_vectors"] = budgeted.real
    out["runs"].append(real)
    out["real_index"] = str(work / "idx-real")
    # The big corpus: store + FAISS measured with precomputed vectors, the embedding share derived from
    # the embedding throughput just measured on the real build.
    arts, _ = synthetic_articles(cfg.build_derived, sents, seed=SEED + 1)
    log(f"build: synthetic ~{cfg.build_derived} passages, precomputed vectors")
    pre = PrecomputedEmbedder("precomputed", embedder.dim)
    big = bench_build_one(f"synthetic {_count(cfg.build_derived)}", arts, pre, work / "idx-big")
    shutil.rmtree(work / "idx-big", ignore_errors=True)
    embed_rate = rate
    if embed_rate:
        embed_s = big["passages"] / embed_rate
        total = big["other_seconds"] + embed_s
        big.update(
            measured=False,
            embed_seconds=round(embed_s, 1),
            seconds=round(total, 1),
            passages_per_s=round(big["passages"] / total, 1),
            embedder=embedder.name,
            note=(
                f"chunk+store+FAISS measured ({big['other_seconds']} s, peak RSS without the model); "
                f"embedding derived at the {embed_rate:.0f} passages/s measured on the "
                f"{_count(cfg.build_real)} build"
            ),
        )

    out["runs"].append(big)
    return out


# --- 2. embedding backends --------------------------------------------------------------------------


def agreement(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Row-wise cosine between two sets of unit vectors: min / mean."""
    cos = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return {"min": round(float(cos.min()), 6), "mean": round(float(cos.mean()), 6)}


def bench_embed(cfg: BenchConfig, settings: Settings, log: Callable[[str], None]) -> dict:
    """torch fp32 vs ONNX fp32 vs ONNX int8: load, batch throughput, one-claim latency, agreement with torch."""
    from .embed import ONNX_AGREEMENT_TOLERANCE, OnnxEmbedder, SentenceTransformerEmbedder

    arts, _ = synthetic_articles(cfg.embed_texts, seed_sentences(), seed=SEED + 2)
    from .chunk import chunk_article

    texts = [p.text for a in arts for p in chunk_article(a, settings.chunk_max_chars, 1)][: cfg.embed_texts]
    claims = load_claims()[: cfg.embed_queries]
    rows, ref, ref_q = [], None, None
    backends: list[tuple[str, Callable[[], Any]]] = [
        ("torch fp32", lambda: SentenceTransformerEmbedder()),
        ("onnx fp32", lambda: OnnxEmbedder(cache_dir=settings.onnx_cache_dir)),
        ("onnx int8", lambda: OnnxEmbedder(quantize=True, cache_dir=settings.onnx_cache_dir)),
    ]
    for label, make in backends:
        log(f"embed: {label}")
        t0 = time.perf_counter()
        try:
            emb = make()
        except (ImportError, Exception) as exc:  # a missing optional backend is a result, not a crash
            rows.append({"backend": label, "error": f"{type(exc).__name__}: {exc}"})
            continue
        load_s = time.perf_counter() - t0
        emb.embed(texts[:8])  # warm-up (thread pools, allocator)
        t0 = time.perf_counter()
        vecs = emb.embed(texts, batch_size=64)
        batch_s = time.perf_counter() - t0
        q_ms, q_vecs = [], []
        for c in claims:
            t = time.perf_counter()
            q_vecs.append(emb.embed([c])[0])
            q_ms.append((time.perf_counter() - t) * 1000)
        row = {
            "backend": label,
            "name": emb.name,
            "load_s": round(load_s, 2),
            "texts": len(texts),
            "passages_per_s": round(len(texts) / batch_s, 1),
            "query_ms": latency_summary(q_ms),
        }
        if ref is None:
            ref, ref_q = vecs, np.stack(q_vecs)
        else:
            row["agreement_vs_torch"] = agreement(np.vstack([vecs, np.stack(q_vecs)]), np.vstack([ref, ref_q]))
            row["within_tolerance"] = row["agreement_vs_torch"]["min"] >= ONNX_AGREEMENT_TOLERANCE
        rows.append(row)
        del emb
    torch_row = next((r for r in rows if r["backend"] == "torch fp32" and "error" not in r), None)
    for r in rows:
        if torch_row and "error" not in r:
            r["speedup_vs_torch"] = round(r["passages_per_s"] / torch_row["passages_per_s"], 2)
            r["query_speedup_vs_torch"] = round(torch_row["query_ms"]["p50"] / r["query_ms"]["p50"], 2)
    return {
        "tolerance_min_cosine": ONNX_AGREEMENT_TOLERANCE,
        "default_backend": settings.embed_backend,
        "texts": "synthetic passages from the seed sentences",
        "backends": rows,
    }


# --- 3. exact vs ANN retrieval ----------------------------------------------------------------------


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

    from .index import HNSW_EF_CONSTRUCTION, HNSW_M

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
            params = faiss.SearchParametersHNSW(efSearch=max(ef, k))
            ids, ms = _time_queries(lambda q, params=params: hnsw.search(q, k, params=params)[1], queries)
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
        params = faiss.SearchParametersIVF(nprobe=nprobe)
        ids, ms = _time_queries(lambda q, params=params: ivf.search(q, k, params=params)[1], queries)
        rows.append(_row(f"IVF{nlist}-Flat", f"nprobe={nprobe}", build, ids, truth, ms, round(base.nbytes / 2**20)))
    ivf = None  # free the index before the next one is built

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

    def pq_search(q, params):
        _, cand = pq.search(q, k * refine, params=params)
        c = cand[0][cand[0] >= 0]
        order = np.argsort(-(base[c] @ q[0]))[:k]
        return c[order].reshape(1, -1)

    for nprobe in cfg.ivf_nprobe:
        params = faiss.SearchParametersIVF(nprobe=nprobe)
        ids, ms = _time_queries(lambda q, params=params: pq_search(q, params), queries)
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
    pq = None
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


# --- 4. end-to-end check ----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stage_summary(verdict_timings: list[dict[str, float]]) -> dict[str, dict]:
    """p50/p95 per stage from Verdict.timings_ms."""
    stages = ("embed", "retrieve", "judge", "total")
    return {s: latency_summary([t[s] for t in verdict_timings if s in t]) for s in stages}


@contextlib.contextmanager
def caches_off(pipe):
    """Measure the full work: no query-embedding or verdict cache hits inside the block."""
    saved = pipe.query_cache.size, pipe.verdict_cache.size
    pipe.query_cache.size = pipe.verdict_cache.size = 0
    try:
        yield
    finally:
        pipe.query_cache.size, pipe.verdict_cache.size = saved


def bench_check_sequential(pipe, claims: Sequence[str]) -> dict:
    """Distinct claims, one at a time, caches off: per-stage p50/p95 from Verdict.timings_ms."""
    with caches_off(pipe):
        pipe.check(claims[0])  # warm-up
        timings, wall = [], []
        for c in claims:
            t = time.perf_counter()
            v = pipe.check(c)
            wall.append((time.perf_counter() - t) * 1000)
            timings.append(v.timings_ms)
    return {"claims": len(claims), "stages_ms": stage_summary(timings), "wall_ms": latency_summary(wall)}


def bench_caches(pipe, claims: Sequence[str]) -> dict:
    """What each cache saves: query-embedding miss vs hit, full check vs verdict-cache hit."""
    pipe.query_cache.clear()
    pipe.verdict_cache.clear()
    miss, hit = [], []
    for c in claims:
        t = time.perf_counter()
        pipe.embed_query(c + " (cache probe)")
        miss.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        pipe.embed_query(c + " (cache probe)")
        hit.append((time.perf_counter() - t) * 1000)
    full, cached = [], []
    for c in claims:
        t = time.perf_counter()
        pipe.check(c)
        full.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        pipe.check(c)
        cached.append((time.perf_counter() - t) * 1000)
    q, v = latency_summary(miss), latency_summary(hit)
    f, c = latency_summary(full), latency_summary(cached)
    return {
        "query_embedding": {"miss_ms": q, "hit_ms": v, "speedup_p50": round(q["p50"] / max(v["p50"], 1e-3), 1)},
        "verdict": {"miss_ms": f, "hit_ms": c, "speedup_p50": round(f["p50"] / max(c["p50"], 1e-3), 1)},
    }


def bench_check_concurrent(pipe, settings: Settings, claims: Sequence[str], cfg: BenchConfig) -> dict:
    """16 httpx clients POST /check on loopback for a bounded time/count; latency client- and server-side."""
    import asyncio

    import httpx
    import uvicorn

    from .api import create_app

    port = _free_port()
    app = create_app(replace_settings(settings, host="127.0.0.1", port=port), pipe)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    off = caches_off(pipe)  # every request does the full work
    off.__enter__()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("bench API server did not start")
            time.sleep(0.05)

        async def run() -> tuple[list[float], list[dict], dict[int, int], float]:
            lat, timings, status = [], [], {}
            sent = 0
            stop_at = time.monotonic() + cfg.concurrent_seconds
            async with httpx.AsyncClient(base_url=url, timeout=60) as client:

                async def worker(w: int) -> None:
                    nonlocal sent
                    i = w
                    while time.monotonic() < stop_at and sent < cfg.concurrent_max_requests:
                        sent += 1
                        claim = claims[i % len(claims)]
                        i += cfg.concurrent_clients
                        t = time.perf_counter()
                        r = await client.post("/check", json={"claim": claim})
                        lat.append((time.perf_counter() - t) * 1000)
                        status[r.status_code] = status.get(r.status_code, 0) + 1
                        if r.status_code == 200:
                            timings.append(r.json()["timings_ms"])

                t0 = time.perf_counter()
                await asyncio.gather(*(worker(w) for w in range(cfg.concurrent_clients)))
                return lat, timings, status, time.perf_counter() - t0

        lat, timings, status, wall = asyncio.run(run())
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        off.__exit__(None, None, None)
    ok = status.get(200, 0)
    return {
        "clients": cfg.concurrent_clients,
        "requests": len(lat),
        "status": {str(k): v for k, v in status.items()},
        "seconds": round(wall, 2),
        "throughput_rps": round(ok / wall, 2) if wall else None,
        "server_workers": settings.workers,
        "client_latency_ms": latency_summary(lat),
        "server_stages_ms": stage_summary(timings),
    }


def replace_settings(settings: Settings, **changes) -> Settings:
    """A copy of the settings with some fields changed."""
    return settings.model_copy(update=changes)


def bench_verifier_backends(pipe, claims: Sequence[str], work: Path, log: Callable[[str], None]) -> dict | None:
    """The verifier on torch fp32 / torch dynamic int8 / ONNX fp32 / ONNX int8: judge latency, agreement with fp32."""
    import torch

    from .verifier import Verifier, VerifierJudge
    from .verifier.onnx import OrtSequenceClassifier, export_classifier

    served = getattr(pipe.judge, "verifier", None)
    if served is None:
        return None
    # A private torch copy of the served model, so the variants never touch the pipeline's judge.
    verifier = Verifier(served.path)
    judge = VerifierJudge(verifier)
    hits = [pipe.search(c) for c in claims]

    def run() -> tuple[list[str], list[float], list[float]]:
        labels, ms, conf = [], [], []
        for c, h in zip(claims, hits):
            judge._last = None  # no reuse of the previous claim's scores
            t = time.perf_counter()
            v = judge.judge(c, h)
            ms.append((time.perf_counter() - t) * 1000)
            labels.append(v.label)
            conf.append(v.confidence)
        return labels, ms, conf

    fp32_model = verifier.model
    variants: list[tuple[str, Callable[[], Any]]] = [
        ("torch fp32", lambda: fp32_model),
        (
            "torch int8 (dynamic)",
            lambda: torch.ao.quantization.quantize_dynamic(fp32_model, {torch.nn.Linear}, dtype=torch.qint8),
        ),
    ]
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        onnx_fp32 = export_classifier(fp32_model, verifier.tokenizer, work / "verifier-onnx" / "model.onnx")
        onnx_int8 = onnx_fp32.with_name("model-int8.onnx")
        quantize_dynamic(str(onnx_fp32), str(onnx_int8), weight_type=QuantType.QInt8, per_channel=True)
        variants += [
            ("onnx fp32 (default)", lambda: OrtSequenceClassifier(onnx_fp32)),
            ("onnx int8", lambda: OrtSequenceClassifier(onnx_int8)),
        ]
    except Exception as exc:  # measured only: a failed export is reported, not fatal
        log(f"check: verifier ONNX export failed: {exc}")
    rows, base = [], None
    try:
        for label, make in variants:
            log(f"check: verifier {label}")
            verifier.model = make()
            labels, ms, conf = run()
            row = {"backend": label, "judge_ms": latency_summary(ms)}
            if base is None:
                base = (labels, row["judge_ms"]["p50"], conf)
            else:
                row["label_agreement"] = round(sum(a == b for a, b in zip(base[0], labels)) / len(claims), 4)
                row["max_confidence_diff"] = round(max(abs(x - y) for x, y in zip(base[2], conf)), 4)
            row["speedup_p50"] = round(base[1] / row["judge_ms"]["p50"], 2) if row["judge_ms"]["p50"] else None
            rows.append(row)
    finally:
        verifier.model = fp32_model
    return {"claims": len(claims), "backends": rows, "served_backend": type(served.model).__name__}


def verifier_standin(out: Path) -> Path:
    """A verifier with the shipped architecture (MiniLM-L6 cross-encoder, 3 labels) and an untrained head.

    Used only when the trained model is not there yet: its latency is the real one, its labels are not.
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from .embed import bundled_minilm_path

    labels = ("entailment", "neutral", "contradiction")
    base = bundled_minilm_path()
    model = AutoModelForSequenceClassification.from_pretrained(
        base,
        num_labels=3,
        id2label=dict(enumerate(labels)),
        label2id={n: i for i, n in enumerate(labels)},
        local_files_only=True,
    )
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(base, local_files_only=True).save_pretrained(out)
    return out


def bench_check(
    cfg: BenchConfig,
    settings: Settings,
    index_dir: Path,
    embedder,
    log: Callable[[str], None],
    time_left: Callable[[], float] = lambda: float("inf"),
) -> dict:
    """End-to-end `check` over the built synthetic index with the offline verifier."""
    from .errors import FactcheckError
    from .judges import make_judge
    from .pipeline import build_pipeline

    s = replace_settings(settings, index_dir=index_dir, judge="verifier")
    note = None
    try:
        judge = make_judge(s)
    except (FactcheckError, OSError) as exc:
        log(f"check: trained verifier unavailable ({exc}); timing a same-architecture stand-in")
        note = (
            f"the trained verifier was unavailable ({exc}); timed with a stand-in of the same architecture "
            "(MiniLM-L6 cross-encoder, untrained head): latency is representative, labels are not"
        )
        s = replace_settings(
            s,
            verifier_path=verifier_standin(index_dir.parent / "verifier-standin"),
            onnx_cache_dir=index_dir.parent / "onnx",
        )
        judge = make_judge(s)
    pipe = build_pipeline(s, judge=judge, embedder=embedder)
    claims = load_claims()
    n = pipe.stats().passages
    seq_claims = (claims * (cfg.check_claims // len(claims) + 1))[: cfg.check_claims]
    out: dict[str, Any] = {
        "index_passages": n,
        "judge": f"{judge.name} {judge.version}",
        "embedder": embedder.name,
        "index_type": pipe.stats().index_type,
        "judge_note": note,
        "verifier_model": type(getattr(judge, "verifier", None) and judge.verifier.model).__name__,
    }
    with contextlib.suppress(ImportError):
        from .verifier import passage_units

        # The verifier scores every sentence and adjacent-sentence pair of every hit: its cost driver.
        pairs = [sum(len(passage_units(h.passage.text)) for h in pipe.search(c)) for c in seq_claims[:10]]
        out["verifier_pairs_per_claim"] = round(float(np.mean(pairs)), 1)
    log(f"check: sequential, {len(seq_claims)} claims over {n} passages")
    out["sequential"] = bench_check_sequential(pipe, seq_claims)
    log("check: caches")
    out["caches"] = bench_caches(pipe, claims[: cfg.cache_claims])
    log(f"check: {cfg.concurrent_clients} concurrent API clients for <= {cfg.concurrent_seconds:.0f} s")
    out["concurrent"] = bench_check_concurrent(pipe, s, claims, cfg)
    if time_left() > 45:
        out["verifier_backends"] = bench_verifier_backends(pipe, claims[: cfg.quantized_claims], index_dir.parent, log)
    else:
        out["verifier_backends_skipped"] = f"time budget: {time_left():.0f} s left"
    return out


# --- the run ----------------------------------------------------------------------------------------


def run_bench(cfg: BenchConfig, settings: Settings, out_dir: Path, log: Callable[[str], None] = print) -> dict:
    """Run the selected sections in one process and write bench.json + bench.md to `out_dir`."""
    from .embed import make_embedder
    from .index import flat_vectors

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
        },
    }
    work = Path(tempfile.mkdtemp(prefix="factcheck-bench-"))
    try:
        embedder = make_embedder(settings)
        real_vecs = real_queries = None
        if "build" in cfg.sections or "check" in cfg.sections or "ann" in cfg.sections:
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
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result["seconds"] = round(time.perf_counter() - started, 1)
    result["machine"]["loadavg_end"] = machine_info()["loadavg_1_5_15"]
    result["targets"] = targets(result)
    (out_dir / "bench.json").write_text(json.dumps(result, indent=2, default=str))
    (out_dir / "bench.md").write_text(render_markdown(result))
    return result


def _open_snapshot(path: Path, embedder):
    from .index import FactIndex

    return FactIndex.open(path, embedder).snapshot()


def targets(result: dict) -> list[dict]:
    """Each issue-7 target against the measured figure (None where the section did not run)."""
    out = []
    conc = result.get("check", {}).get("sequential")
    if conc:
        total = conc["stages_ms"]["total"]
        out.append(
            {
                "target": "/check p50 <= 150 ms (sequential, 10k index, verifier)",
                "value": total["p50"],
                "met": total["p50"] is not None and total["p50"] <= 150,
            }
        )
        out.append(
            {
                "target": "/check p95 <= 400 ms (sequential, 10k index, verifier)",
                "value": total["p95"],
                "met": total["p95"] is not None and total["p95"] <= 400,
            }
        )
    for r in result.get("build", {}).get("runs", []):
        if r["corpus"].startswith("synthetic"):
            out.append(
                {
                    "target": f"index build >= 300 passages/s ({r['corpus']}, "
                    f"{'measured' if r['measured'] else 'derived'})",
                    "value": r["passages_per_s"],
                    "met": (r["passages_per_s"] or 0) >= 300,
                }
            )
    scales = [sc for sc in result.get("ann", {}).get("scales", []) if "skipped" not in sc]
    if scales:
        big = scales[-1]
        ok = [r for r in big["rows"] if "skipped" not in r and r["index"] != "Flat (exact)" and r["recall@10"] >= 0.95]
        fastest = min(ok, key=lambda r: r["p95_ms"]) if ok else None
        out.append(
            {
                "target": f"{big['n']:,}-passage ANN p95 <= 20 ms at recall@10 >= 0.95",
                "value": None
                if fastest is None
                else f"{fastest['index']} {fastest['param']}: p95 {fastest['p95_ms']} ms, recall {fastest['recall@10']}",
                "met": bool(fastest and fastest["p95_ms"] <= 20),
            }
        )
    return out


# --- report -----------------------------------------------------------------------------------------


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.2f}" if abs(v) < 100 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_fmt(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def render_markdown(result: dict) -> str:
    """The bench report as Markdown tables."""
    m = result["machine"]
    parts = [
        f"# factcheck bench — {result['started']}",
        f"{m['cpus']} CPUs, load average {m['loadavg_1_5_15']} at start, {m.get('loadavg_end')} at end; "
        f"faiss {m['faiss']} ({m['faiss_threads']} threads); total {result['seconds']} s.",
    ]
    if "targets" in result and result["targets"]:
        parts.append(
            "## Targets\n"
            + _table(
                ["target", "measured", "met"],
                [[t["target"], t["value"], "yes" if t["met"] else "no"] for t in result["targets"]],
            )
        )
    b = result.get("build")
    if b:
        parts.append(
            "## Index build\nMemory: "
            + b["memory"]
            + ".\n\n"
            + _table(
                ["corpus", "passages", "seconds", "embed s", "other s", "passages/s", "peak RSS +MiB", "how"],
                [
                    [
                        r["corpus"],
                        r["passages"],
                        r["seconds"],
                        r["embed_seconds"],
                        r["other_seconds"],
                        r["passages_per_s"],
                        r["peak_rss_delta_mb"],
                        "measured" if r["measured"] else r.get("note", "derived"),
                    ]
                    for r in b["runs"]
                ],
            )
        )
    e = result.get("embed")
    if e:
        rows = []
        for r in e["backends"]:
            if "error" in r:
                rows.append([r["backend"], "-", "-", "-", "-", "-", r["error"]])
                continue
            ag = r.get("agreement_vs_torch")
            rows.append(
                [
                    r["backend"],
                    r["passages_per_s"],
                    r.get("speedup_vs_torch"),
                    r["query_ms"]["p50"],
                    r["query_ms"]["p95"],
                    r["load_s"],
                    "reference" if ag is None else f"min {ag['min']:.5f} / mean {ag['mean']:.5f}",
                ]
            )
        parts.append(
            f"## Embedding backends\n{e['backends'][0].get('texts', '')} passages, batch 64; one-claim "
            f"latency over {e['backends'][0].get('query_ms', {}).get('n', '-')} claims. Default backend: "
            f"`{e['default_backend']}` (tolerance: min cosine >= {e['tolerance_min_cosine']}).\n\n"
            + _table(
                ["backend", "passages/s", "x torch", "claim p50 ms", "claim p95 ms", "load s", "cosine vs torch"], rows
            )
        )
    a = result.get("ann")
    if a:
        for sc in a["scales"]:
            if "skipped" in sc:
                parts.append(f"## Retrieval at {sc['n']:,} vectors\n{sc['skipped']}")
                continue
            rows = [
                [r["index"], r["param"], "-", "-", "-", "-", r["skipped"]]
                if "skipped" in r
                else [r["index"], r["param"], r["recall@10"], r["p50_ms"], r["p95_ms"], r["build_s"], r["mem_mb"]]
                for r in sc["rows"]
            ]
            parts.append(
                f"## Retrieval at {sc['n']:,} vectors\n{sc['data']}; {sc['queries']} queries; "
                f"{a['latency']}.\n\n"
                + _table(["index", "setting", "recall@10", "p50 ms", "p95 ms", "build s", "MiB"], rows)
            )
    c = result.get("check")
    if c:
        if "skipped" in c:
            parts.append(f"## End-to-end check\nskipped: {c['skipped']}")
        else:
            seq, con = c["sequential"], c["concurrent"]
            rows = [
                [f"sequential ({seq['claims']} claims)", st, v["p50"], v["p95"]] for st, v in seq["stages_ms"].items()
            ]
            rows += [
                [f"{con['clients']} API clients (server side)", st, v["p50"], v["p95"]]
                for st, v in con["server_stages_ms"].items()
            ]
            rows.append(
                [
                    f"{con['clients']} API clients (client side)",
                    "request",
                    con["client_latency_ms"]["p50"],
                    con["client_latency_ms"]["p95"],
                ]
            )
            note = f" **Note:** {c['judge_note']}." if c.get("judge_note") else ""
            pairs = (
                f" The verifier scores {c['verifier_pairs_per_claim']} claim/sentence pairs per claim."
                if c.get("verifier_pairs_per_claim")
                else ""
            )
            parts.append(
                f"## End-to-end check\n{c['index_passages']:,}-passage index ({c['index_type']}), judge "
                f"{c['judge']} ({c.get('verifier_model')}), embedder {c['embedder']}.{note}{pairs} "
                f"Concurrent: {con['requests']} requests in "
                f"{con['seconds']} s = {con['throughput_rps']} checks/s, statuses {con['status']}, "
                f"{con['server_workers']} server workers.\n\n" + _table(["run", "stage", "p50 ms", "p95 ms"], rows)
            )
            ca = c["caches"]
            rows = [
                [
                    "query embedding",
                    ca["query_embedding"]["miss_ms"]["p50"],
                    ca["query_embedding"]["hit_ms"]["p50"],
                    ca["query_embedding"]["speedup_p50"],
                ],
                [
                    "verdict",
                    ca["verdict"]["miss_ms"]["p50"],
                    ca["verdict"]["hit_ms"]["p50"],
                    ca["verdict"]["speedup_p50"],
                ],
            ]
            parts.append("## Caches\n" + _table(["cache", "miss p50 ms", "hit p50 ms", "x"], rows))
            vb = c.get("verifier_backends")
            if c.get("verifier_backends_skipped"):
                parts.append(f"## Verifier backends\nskipped: {c['verifier_backends_skipped']}")
            if vb:
                parts.append(
                    f"## Verifier backends (judge stage, {vb['claims']} claims)\n"
                    + _table(
                        [
                            "backend",
                            "judge p50 ms",
                            "judge p95 ms",
                            "x fp32",
                            "labels same as fp32",
                            "max |confidence diff|",
                        ],
                        [
                            [
                                r["backend"],
                                r["judge_ms"]["p50"],
                                r["judge_ms"]["p95"],
                                r["speedup_p50"],
                                r.get("label_agreement", "reference"),
                                r.get("max_confidence_diff", "-"),
                            ]
                            for r in vb["backends"]
                        ],
                    )
                )
    return "\n\n".join(parts) + "\n"


# --- CLI --------------------------------------------------------------------------------------------


def cmd_bench(args: argparse.Namespace) -> int:
    """Run the benchmark and print its Markdown (or JSON) report."""
    import sys

    from .errors import InputError

    settings = Settings()
    cfg = BenchConfig.quick() if args.quick else BenchConfig()
    if args.only:
        wanted = tuple(s.strip() for s in args.only.split(",") if s.strip())
        bad = [s for s in wanted if s not in SECTIONS]
        if bad:
            raise InputError(f"unknown bench section {bad[0]!r} (choose from {', '.join(SECTIONS)})")
        cfg = replace(cfg, sections=wanted)
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
    b.add_argument("--only", default=None, help=f"comma-separated sections to run ({', '.join(SECTIONS)})")
    b.set_defaults(func=cmd_bench)
