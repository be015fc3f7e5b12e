"""Bench section 4: end-to-end /check latency (sequential, cached, 16 concurrent clients) and verifier backends."""

from __future__ import annotations

import contextlib
import random
import socket
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..settings import Settings
from .config import BenchConfig, latency_summary, load_claims


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stage_summary(verdict_timings: list[dict[str, float]]) -> dict[str, dict]:
    """p50/p95 per stage from Verdict.timings_ms."""
    stages = ("embed", "retrieve", "judge", "total")
    return {s: latency_summary([t[s] for t in verdict_timings if s in t]) for s in stages}


def _p50(summary: dict[str, float | int | None]) -> float:
    """The p50 of a latency summary of at least one sample."""
    p50 = summary["p50"]
    assert p50 is not None, "no latency samples"
    return p50


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
    return bench_check_interleaved({"": pipe}, claims, repeats=1)[""]


def bench_check_interleaved(pipes: dict[str, Any], claims: Sequence[str], repeats: int = 3) -> dict[str, dict]:
    """Sequential `/check` for several pipelines, caches off: `repeats` rounds, each running every pipeline over all
    claims in a shuffled order of pipelines; per claim the median of its rounds. Per pipeline name: claims,
    repeats, per-stage (`stages_ms`) and wall-clock (`wall_ms`) latency summaries, and the claims and their wall
    clock by the judge stage that decided them (`by_decider`: where a p95 comes from)."""
    # On a shared 2-core box the speed drifts by tens of percent between minutes. One pass per configuration
    # hands each configuration whatever minutes it ran in; rounds in shuffled orders spread the minutes over all
    # of them, and the median of rounds keeps a claim's rank its own cost (escalated or not), not a neighbour's
    # burst. Within a round a configuration runs its claims back to back, warm, as a server runs its one judge.
    rng = random.Random(0)
    names = list(pipes)
    with contextlib.ExitStack() as stack:
        for pipe in pipes.values():
            stack.enter_context(caches_off(pipe))
            pipe.check(claims[0])  # warm-up
        wall: dict[str, list[list[float]]] = {n: [[] for _ in claims] for n in pipes}
        timings: dict[str, list[list[dict]]] = {n: [[] for _ in claims] for n in pipes}
        decider: dict[str, list[str]] = {n: ["-"] * len(claims) for n in pipes}
        for _ in range(repeats):
            rng.shuffle(names)
            for name in names:
                pipe = pipes[name]
                for i, c in enumerate(claims):
                    if hasattr(pipe.judge, "clear_cache"):
                        pipe.judge.clear_cache()  # a later round reads its units again
                    t = time.perf_counter()
                    v = pipe.check(c)
                    wall[name][i].append((time.perf_counter() - t) * 1000)
                    timings[name][i].append(v.timings_ms)
                    decider[name][i] = v.decided_by or v.judge
    out = {}
    for name in pipes:
        med = [
            {s: float(np.median([t[s] for t in runs])) for s in runs[0] if all(s in t for t in runs)}
            for runs in timings[name]
        ]
        claim_ms = [float(np.median(w)) for w in wall[name]]
        by: dict[str, list[float]] = {}
        for who, ms in zip(decider[name], claim_ms):
            by.setdefault(who, []).append(ms)
        out[name] = {
            "claims": len(claims),
            "repeats": repeats,
            "stages_ms": stage_summary(med),
            "wall_ms": latency_summary(claim_ms),
            "by_decider": {who: latency_summary(ms) for who, ms in sorted(by.items(), key=lambda kv: -len(kv[1]))},
        }
    return out


def mean_units_read(pipe, claims: Sequence[str]) -> float | None:
    """Units the verifier read per claim, escalations included (None for a judge that reads no units)."""
    judge = pipe.judge
    if not hasattr(judge, "units_read"):
        return None
    counts = []
    with caches_off(pipe):
        for c in claims:
            judge.clear_cache()
            pipe.check(c)
            counts.append(judge.units_read())
    return round(float(np.mean(counts)), 1)


def bench_batch(pipe, claims: Sequence[str], repeats: int = 3) -> dict:
    """`POST /check/batch`'s work on one page of claims (`Pipeline.check_many`), caches off: median seconds."""
    secs = []
    with caches_off(pipe):
        for _ in range(repeats):
            if hasattr(pipe.judge, "clear_cache"):
                pipe.judge.clear_cache()
            t = time.perf_counter()
            pipe.check_many(list(claims))
            secs.append(time.perf_counter() - t)
    return {"claims": len(claims), "median_s": round(float(np.median(secs)), 2), "runs_s": [round(x, 2) for x in secs]}


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
    f, h = latency_summary(full), latency_summary(cached)
    return {
        "query_embedding": {"miss_ms": q, "hit_ms": v, "speedup_p50": round(_p50(q) / max(_p50(v), 1e-3), 1)},
        "verdict": {"miss_ms": f, "hit_ms": h, "speedup_p50": round(_p50(f) / max(_p50(h), 1e-3), 1)},
    }


def bench_check_concurrent(pipe, settings: Settings, claims: Sequence[str], cfg: BenchConfig) -> dict:
    """16 httpx clients POST /check on loopback for a bounded time/count; latency client- and server-side."""
    import asyncio

    import httpx
    import uvicorn

    from ..api import create_app

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

        async def run() -> tuple[list[float], list[dict], dict[int | str, int], float]:
            lat: list[float] = []
            timings: list[dict] = []
            status: dict[int | str, int] = {}
            sent = 0
            stop_at = time.monotonic() + cfg.concurrent_seconds
            async with httpx.AsyncClient(base_url=url, timeout=120) as client:

                async def worker(w: int) -> None:
                    nonlocal sent
                    i = w
                    while time.monotonic() < stop_at and sent < cfg.concurrent_max_requests:
                        sent += 1
                        claim = claims[i % len(claims)]
                        i += cfg.concurrent_clients
                        t = time.perf_counter()
                        try:
                            r = await client.post("/check", json={"claim": claim})
                        except httpx.TimeoutException:  # a slow judge under 16 clients: counted, not fatal
                            status["timeout"] = status.get("timeout", 0) + 1
                            continue
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
    """The verifier on torch fp32 / int8 / bf16 (autocast, packed with and without row buckets) and ONNX fp32 / int8,
    every variant on each claim in turn: judge latency, agreement with torch fp32."""
    import copy

    import torch

    from ..judges.verifier import VerifierJudge
    from ..verifier import Verifier
    from ..verifier.bf16 import bf16_linears
    from ..verifier.onnx import OrtSequenceClassifier, export_classifier

    judge_served = getattr(pipe.judge, "first", pipe.judge)  # a cascade: its first stage, the one every claim meets
    served = getattr(judge_served, "verifier", None)
    if served is None:
        return None
    # A private torch copy of the served model, so the variants never touch the pipeline's judge.
    verifier = Verifier(served.path)
    units = getattr(judge_served, "max_units", 0)  # as the served stage reads them (0: every unit)
    judge = VerifierJudge(verifier, max_units=units)
    hits = [pipe.search(c) for c in claims]
    fp32_model = verifier.model
    plain_bf16, packed_bf16 = copy.deepcopy(fp32_model), copy.deepcopy(fp32_model)
    bf16_linears(plain_bf16, pack=False)
    packed = bf16_linears(packed_bf16)
    variants: list[tuple[str, str, Any]] = [
        ("torch fp32", "fp32", fp32_model),
        (
            "torch int8 (dynamic)",
            "fp32",
            torch.ao.quantization.quantize_dynamic(fp32_model, {torch.nn.Linear}, torch.qint8),
        ),
        ("torch bf16 (autocast)", "bf16", plain_bf16),
    ]
    if packed:
        # Rows not bucketed: oneDNN builds kernels for each new row count on first sight, as claims come.
        bf16_linears(exact_bf16 := copy.deepcopy(fp32_model), buckets=False)
        variants.append(("torch bf16, packed weights, rows not bucketed", "bf16", exact_bf16))
        variants.append(("torch bf16, packed weights (default on AMX/AVX512-BF16 CPUs)", "bf16", packed_bf16))
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        onnx_fp32 = export_classifier(fp32_model, verifier.tokenizer, work / "verifier-onnx" / "model.onnx")
        onnx_int8 = onnx_fp32.with_name("model-int8.onnx")
        quantize_dynamic(str(onnx_fp32), str(onnx_int8), weight_type=QuantType.QInt8, per_channel=True)
        variants += [
            ("onnx fp32 (default on other CPUs)", "fp32", OrtSequenceClassifier(onnx_fp32)),
            ("onnx int8", "fp32", OrtSequenceClassifier(onnx_int8)),
        ]
    except Exception as exc:  # measured only: a failed export is reported, not fatal
        log(f"check: verifier ONNX export failed: {exc}")
    labels: dict[str, list[str]] = {v[0]: [] for v in variants}
    ms: dict[str, list[float]] = {v[0]: [] for v in variants}
    conf: dict[str, list[float]] = {v[0]: [] for v in variants}
    log(f"check: verifier backends, {len(variants)} variants on each of {len(claims)} claims in turn")
    try:
        # Claim by claim, every variant in turn: a slow minute of the shared box falls on all of them.
        for c, h in zip(claims, hits):
            for label, precision, model in variants:
                verifier.model, verifier.precision = model, precision  # type: ignore[assignment]
                judge.clear_cache()  # no reuse of the previous variant's scores
                t = time.perf_counter()
                v = judge.judge(c, h)
                ms[label].append((time.perf_counter() - t) * 1000)
                labels[label].append(v.label)
                conf[label].append(v.confidence)
    finally:
        verifier.model, verifier.precision = fp32_model, "fp32"
    rows: list[dict[str, Any]] = []
    base = variants[0][0]
    base_p50 = latency_summary(ms[base])["p50"]
    for label, _, _ in variants:
        judge_ms = latency_summary(ms[label])
        row: dict[str, Any] = {"backend": label, "judge_ms": judge_ms}
        if label != base:
            row["label_agreement"] = round(sum(a == b for a, b in zip(labels[base], labels[label])) / len(claims), 4)
            row["max_confidence_diff"] = round(max(abs(x - y) for x, y in zip(conf[base], conf[label])), 4)
        # Every variant judges the same claims: the p50s are all None (no claims) or all numbers.
        p50 = judge_ms["p50"]
        row["speedup_p50"] = round(base_p50 / p50, 2) if p50 and base_p50 is not None else None
        rows.append(row)
    return {
        "claims": len(claims),
        "model": verifier.name,
        "units": units,
        "backends": rows,
        "served_runtime": served.runtime,
    }


def verifier_standin(out: Path) -> Path:
    """A verifier with the shipped architecture (MiniLM-L6 cross-encoder, 3 labels) and an untrained head.

    Used only when the trained model is not there yet: its latency is the real one, its labels are not.
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from ..embed import bundled_minilm_path

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
    from ..errors import FactcheckError
    from ..judges import make_judge
    from ..pipeline import build_pipeline

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
        "verifier_model": type(getattr(getattr(judge, "verifier", None), "model", None)).__name__,
    }
    from ..judges.verifier import candidate_units

    # The verifier reads at most `max_units` of the distinct sentences and sentence pairs of the hits.
    pairs = [len(candidate_units(c, pipe.search(c))) for c in seq_claims[:10]]
    out["candidate_units_per_claim"] = round(float(np.mean(pairs)), 1)
    out["units_read_per_claim"] = mean_units_read(pipe, seq_claims[:20]) or out["candidate_units_per_claim"]
    out["verifier_runtime"] = getattr(judge, "runtime", None)
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
