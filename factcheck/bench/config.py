"""Bench sizes and the synthetic corpora every section measures on (all drawn from one seed)."""

from __future__ import annotations

import json
import os
import platform
import random
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from ..metrics import percentile
from ..settings import REPO_DIR

SAMPLE_CORPUS = REPO_DIR / "evals" / "corpus" / "iraq-coalition-2024"

SEED_CLAIMS = REPO_DIR / "evals" / "datasets" / "seed-news.jsonl"

SECTIONS = ("build", "embed", "ann", "check")  # the default run (`make bench`, 10 minutes)
ALL_SECTIONS = (*SECTIONS, "frontier", "scale")  # frontier: tens of minutes; scale: needs the `scale` extra

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
    check_repeats: int = 3  # the frontier times each claim this often per configuration (median per claim)
    cache_claims: int = 8  # claims checked twice for the cache figures
    quantized_claims: int = 20  # claims judged by each verifier backend
    concurrent_clients: int = 16
    concurrent_seconds: float = 15.0  # new requests stop after this; in-flight ones finish
    concurrent_max_requests: int = 400
    sections: tuple[str, ...] = SECTIONS
    frontier_sets: tuple[str, ...] = ("seed",)  # eval sets the frontier's macro-F1 columns cover
    frontier_rows: tuple[str, ...] = ()  # only the configurations whose names hold one of these (and the first row)
    scale_passages: int = 1_000  # synthetic passages each scale-section build embeds (3 builds)
    scale_claims: int = 40  # seed claims each scale-section eval checks (3 evals)
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
            check_repeats=1,
            cache_claims=3,
            quantized_claims=3,
            concurrent_seconds=3.0,
            concurrent_max_requests=32,
            budget_s=240.0,
            check_reserve_s=60.0,
            pq_min=10_000,
            scale_passages=200,
            scale_claims=10,
        )


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


def usable_cpus() -> int | None:
    """CPUs this process may run on (its affinity), None where the OS does not say."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None


def machine_info() -> dict[str, Any]:
    """What the figures were measured on, including how busy the machine was."""
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    import faiss

    from ..verifier.model import BF16_FLAGS, cpu_flags

    affinity = usable_cpus()
    flags = cpu_flags()
    return {
        "cpu_model": _cpu_model(),
        "cpu_bf16": [f for f in BF16_FLAGS if f in flags],
        "cpu_avx512": "avx512f" in flags,
        "cpus": os.cpu_count(),
        "affinity": affinity,
        "loadavg_1_5_15": load,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "faiss": faiss.__version__,
        "faiss_threads": faiss.omp_get_max_threads(),
    }


def _cpu_model() -> str | None:
    """The CPU's model name (Linux), printed beside every figure."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), None)
    except OSError:
        return platform.processor() or None


def seed_sentences(corpus: Path = SAMPLE_CORPUS) -> list[str]:
    """Every sentence of the sample corpus (cleaned by the real ingest)."""
    from ..chunk import split_sentences
    from ..ingest import load_articles

    out = []
    for art in load_articles([corpus]).articles:
        out += [art.text[a:b] for a, b in split_sentences(art.text, 0, len(art.text)) if b - a > 20]
    return out


def synthetic_articles(
    n_passages: int, sentences: Sequence[str], *, seed: int = SEED, max_chars: int = 600, overlap: int = 1
):
    """Deterministic articles recombined from `sentences` (numbers re-drawn) totalling >= n_passages passages."""
    from ..chunk import chunk_article
    from ..models import Article

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


def article_claims(n: int = 20, path: Path = SEED_CLAIMS) -> list[str]:
    """Up to n seed claims about one article (the one most claims quote): a page's worth for `/check/batch`."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    counts: dict[str, int] = {}
    for r in rows:
        if r.get("quote_article"):
            counts[r["quote_article"]] = counts.get(r["quote_article"], 0) + 1
    top = max(counts, key=lambda a: counts[a])
    return [r["claim"] for r in rows if r.get("quote_article") == top][:n]


def load_claims(path: Path = SEED_CLAIMS) -> list[str]:
    """Claims of the seed eval set (our own; fine to benchmark on)."""
    from ..loadtest import CLAIMS

    claims = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                claims.append(json.loads(line)["claim"])
    return list(dict.fromkeys(claims + list(CLAIMS)))
