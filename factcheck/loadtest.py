"""Bounded loopback load test of a running `factcheck serve`: N clients POST /check for T seconds."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import random
import statistics
import sys
import time
from collections import Counter
from urllib.parse import urlsplit

import httpx

from .metrics import percentile

# Claims about the seed corpus, mixing supported, contradicted and unverifiable ones.
CLAIMS = [
    "About 2,500 US troops are in Iraq",
    "The United States has nearly 900 troops in Syria",
    "Spain has more than 300 troops deployed to Iraq",
    "More than 150 drone strikes or rocket attacks targeted US and coalition soldiers since mid-October",
    "Iraq and the United States held a first round of talks on the coalition's future",
    "The United States has 10,000 troops in Iraq",
    "The coalition against the Islamic State was formed in 2014",
    "Lloyd Austin is the US Secretary of Defense",
    "The talks in Baghdad were cancelled",
    "France withdrew all of its troops from Iraq in 2023",
]
# Templates for --cache-bust: the same topics with a number that differs on every request.
FRESH_TEMPLATES = [
    "About {n} US troops are in Iraq",
    "Spain has more than {n} troops deployed to Iraq",
    "More than {n} drone strikes or rocket attacks have targeted US and coalition soldiers since mid-October",
    "The United States has nearly {n} troops in neighboring Syria",
    "A US official estimated there are around {n} Daesh members in Iraq and Syria",
]
MAX_CLIENTS = 256
MAX_DURATION_S = 600.0


def _rounded_percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile of `values` to 0.1, None when there are none."""
    p = percentile(values, q)
    return round(p, 1) if p is not None else None


def _loopback_host(url: str) -> str:
    """The URL's host if it is loopback; anything else is refused (this tool must not load other hosts)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    host = parts.hostname
    if host == "localhost":
        return host
    try:
        if ipaddress.ip_address(host).is_loopback:
            return host
    except ValueError:
        pass
    raise ValueError(f"refusing to load a non-loopback host {host!r}; use 127.0.0.1 / ::1 / localhost")


async def _client(
    http: httpx.AsyncClient,
    url: str,
    n: int,
    end: float,
    budget: list[int],
    lat_ms: list[float],
    errors: Counter,
    top_k: int | None,
    cache_bust: bool = False,
    nonce: int = 0,
) -> None:
    """One client: request after request until time or the shared request budget runs out."""
    i = n
    while time.monotonic() < end and budget[0] > 0:
        budget[0] -= 1
        if cache_bust:
            # A claim never sent before (a template with a fresh number) misses every server-side cache
            # (query embedding, verdict, judge), so each request pays for embedding, retrieval and judging.
            claim = FRESH_TEMPLATES[i % len(FRESH_TEMPLATES)].format(n=f"{nonce + budget[0]:,}")
        else:
            claim = CLAIMS[i % len(CLAIMS)]
        body: dict = {"claim": claim}
        if top_k:
            body["top_k"] = top_k
        i += 1
        t0 = time.perf_counter()
        try:
            r = await http.post(url, json=body)
        except httpx.HTTPError as exc:
            errors[type(exc).__name__] += 1
            continue
        dt = (time.perf_counter() - t0) * 1000
        if r.status_code == 200:
            lat_ms.append(dt)
        else:
            errors[f"http_{r.status_code}"] += 1


async def run(
    url: str,
    clients: int,
    duration: float,
    max_requests: int,
    api_key: str | None,
    timeout: float,
    top_k: int | None = None,
    cache_bust: bool = False,
) -> dict:
    """Drive the load and return the summary."""
    headers = {"X-API-Key": api_key} if api_key else {}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=timeout, limits=limits) as http:
        health = await http.get("/health")
        health.raise_for_status()
        lat_ms: list[float] = []
        errors: Counter = Counter()
        budget = [max_requests]
        # Numbers differ between runs too, so a second run against the same server is not served from cache.
        nonce = random.randrange(1_000, 1_000_000_000)
        t0 = time.monotonic()
        end = t0 + duration
        await asyncio.gather(
            *(_client(http, "/check", n, end, budget, lat_ms, errors, top_k, cache_bust, nonce) for n in range(clients))
        )
        elapsed = time.monotonic() - t0
    lat_ms.sort()
    done = len(lat_ms)
    h = health.json()
    return {
        "url": url,
        "clients": clients,
        "cache_bust": cache_bust,
        "duration_s": round(elapsed, 2),
        "requests_ok": done,
        "errors": sum(errors.values()),
        "errors_by_kind": dict(errors),
        "requests_per_s": round(done / elapsed, 2) if elapsed > 0 else 0.0,
        "latency_ms": {
            "p50": _rounded_percentile(lat_ms, 50),
            "p95": _rounded_percentile(lat_ms, 95),
            "p99": _rounded_percentile(lat_ms, 99),
            "max": round(lat_ms[-1], 1) if lat_ms else None,
            "mean": round(statistics.fmean(lat_ms), 1) if lat_ms else None,
        },
        "server": {
            "judge": h.get("judge"),
            "embedder": h.get("embedder"),
            "queue": h.get("queue"),
            "articles": (h.get("index") or {}).get("articles"),
        },
    }


def main(argv: list[str] | None = None) -> int:
    """Entry point: `python -m factcheck.loadtest --clients 32 --duration 60 --url http://127.0.0.1:8000`."""
    ap = argparse.ArgumentParser(prog="python -m factcheck.loadtest", description=__doc__)
    ap.add_argument("--url", default="http://127.0.0.1:8000", help="loopback base URL of a running server")
    ap.add_argument("--clients", type=int, default=32, help=f"concurrent clients (1..{MAX_CLIENTS})")
    ap.add_argument("--duration", type=float, default=60.0, help=f"seconds (max {MAX_DURATION_S:.0f})")
    ap.add_argument("--max-requests", type=int, default=100_000, help="stop after this many requests in total")
    ap.add_argument("--top-k", type=int, default=None, help="top_k sent with every claim (default: server's)")
    ap.add_argument(
        "--cache-bust",
        action="store_true",
        help="send a claim never sent before with every request, so no server cache answers it",
    )
    ap.add_argument("--api-key", default=None, help="sent as X-API-Key")
    ap.add_argument("--timeout", type=float, default=60.0, help="per-request timeout in seconds")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = ap.parse_args(argv)
    try:
        _loopback_host(args.url)
        if not 1 <= args.clients <= MAX_CLIENTS:
            raise ValueError(f"--clients must be 1..{MAX_CLIENTS}")
        if not 0 < args.duration <= MAX_DURATION_S:
            raise ValueError(f"--duration must be in (0, {MAX_DURATION_S:.0f}]")
        if args.max_requests < 1:
            raise ValueError("--max-requests must be at least 1")
    except ValueError as exc:
        print(f"loadtest: error: {exc}", file=sys.stderr)
        return 2
    try:
        summary = asyncio.run(
            run(
                args.url.rstrip("/"),
                args.clients,
                args.duration,
                args.max_requests,
                args.api_key,
                args.timeout,
                args.top_k,
                args.cache_bust,
            )
        )
    except httpx.HTTPError as exc:
        print(f"loadtest: error: server not reachable or unhealthy at {args.url}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        lat = summary["latency_ms"]
        print(
            f"{summary['clients']} clients, {summary['duration_s']}s against {summary['url']}"
            f"{' (cache-bust)' if summary['cache_bust'] else ''}: "
            f"{summary['requests_ok']} ok, {summary['errors']} errors {summary['errors_by_kind'] or ''}\n"
            f"  {summary['requests_per_s']} requests/s; latency p50 {lat['p50']} ms, p95 {lat['p95']} ms, "
            f"p99 {lat['p99']} ms, max {lat['max']} ms\n"
            f"  server: judge {summary['server']['judge']}, embedder {summary['server']['embedder']}, "
            f"{summary['server']['articles']} articles, queue {summary['server']['queue']}"
        )
    return 1 if summary["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
