"""The bench report: targets against measured figures, and the Markdown tables."""

from __future__ import annotations

from typing import Any


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
        f"{m.get('cpu_model')} ({m['cpus']} CPUs; bf16 units: {', '.join(m.get('cpu_bf16') or []) or 'none'}), load average {m['loadavg_1_5_15']} at start, {m.get('loadavg_end')} at end; "
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
                f" The verifier reads {c['units_read_per_claim']} of {c['candidate_units_per_claim']} distinct"
                f" claim/sentence units per claim ({c.get('verifier_runtime')})."
                if c.get("candidate_units_per_claim")
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
                read = f"its top {vb['units']} units" if vb.get("units") else "every unit"
                parts.append(
                    f"## Verifier backends ({vb.get('model', 'verifier')} reading {read}, {vb['claims']} claims, "
                    f"each variant in turn on each claim; served here: {vb.get('served_runtime', '?')})\n"
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
    f = result.get("frontier")
    if f:
        parts.append(render_frontier(f, result["machine"]))
    if result.get("scale"):
        parts.append(render_scale(result["scale"], result["machine"]))
    return "\n\n".join(parts) + "\n"


def render_frontier(f: dict, machine: dict) -> str:
    """The judge frontier: one row per configuration, speed and quality side by side."""
    sets = list(f.get("sets", {}))
    headers = ["judge", "runtime", "units read/claim", "escalated", "/check p50 ms", "p95 ms", "x before"]
    headers += ["checks/s (16 clients)"]
    headers += ["batch of 20 s"]
    headers += [f"macro-F1 {name} (n={f['sets'][name]['n']})" for name in sets]
    rows = [
        [
            r["config"],
            r["runtime"],
            r["units_per_claim"],
            None if r.get("escalated") is None else f"{r['escalated']:.0%}",
            r["check_ms"]["p50"],
            r["check_ms"]["p95"],
            r["speedup_p50"],
            r["checks_per_s"],
            r.get("batch_s"),
            *[None if r["macro_f1"].get(n) is None else round(r["macro_f1"][n], 3) for n in sets],
        ]
        for r in f["configs"]
    ]
    return (
        f"## Judge frontier\nCPU: {machine.get('cpu_model', '?')}; sequential `/check` with caches off on the bench "
        "index, in rounds that run every configuration over all claims in a shuffled order, each claim's latency the "
        "median of its rounds; checks/s from 16 concurrent API clients; a batch of 20 claims about one seed article through "
        "`/check/batch`'s code path, median of 3; units read by either network (a student unit costs half a v10 "
        "unit); escalated: claims a cascade's first stage passed on; macro-F1 from the eval runner (every unit read "
        "once per network and precision, fewer-unit rows replayed from that record).\n\n"
        + _table(headers, rows)
        + render_deciders(f["configs"])
    )


def render_deciders(configs: list[dict]) -> str:
    """Per cascade configuration, its sequential claims by the stage that decided them: where its p95 comes from."""
    rows = [
        [r["config"], who, m["n"], m["p50"], m["max"]]
        for r in configs
        if len(r.get("check_ms_by_decider") or {}) > 1
        for who, m in r["check_ms_by_decider"].items()
    ]
    if not rows:
        return ""
    return (
        "\n\nSequential claims by the stage that decided them: the p95 of n claims interpolates at rank 0.95 (n - 1) "
        "of their sorted latencies (of 30 claims: between the third and the second slowest)."
        "\n\n" + _table(["judge", "decided by", "claims", "p50 ms", "max ms"], rows)
    )


def _yes(flag: bool | None) -> str:
    """A comparison cell: the reference row, yes or no."""
    return "reference" if flag is None else "yes" if flag else "no"


def render_scale(s: dict, machine: dict) -> str:
    """The scale section of bench.md: both tables, the CPU beside them, the measured ratio."""
    if "skipped" in s:
        return f"## Scale-out (Ray)\nskipped: {s['skipped']}"
    cpu = f"{machine.get('cpu_model', '?')}, {s['cpus']} CPUs"
    b, e = s["builds"], s["evals"]
    text = (
        f"## Scale-out (Ray)\nCPU: {cpu}; one local Ray instance (started in {s['ray_start_s']} s, not counted); "
        f"a Ray worker is one actor holding one CPU. Build: {s['articles']} synthetic articles, end to end "
        "(ingest, model loads, embedding, publish).\n\n"
        + _table(
            ["index build", "workers", "passages", "seconds", "passages/s", "same ids", "max vector diff"],
            [
                [r["how"], r["workers"] or "-", r["passages"], r["seconds"], r["passages_per_s"]]
                + [_yes(r.get("same_ids")), f"{r['max_vector_diff']:.1e}" if "max_vector_diff" in r else "-"]
                for r in b
            ],
        )
        + "\n\n"
        + _table(
            ["eval (seed claims)", "workers", "claims", "seconds", "claims/s", "same labels", "judge"],
            [
                [r["how"], r["workers"] or "-", r["claims"], r["seconds"], r["claims_per_s"]]
                + [_yes(r.get("same_labels")), r["judge"]]
                for r in e
            ],
        )
    )
    if len(b) == 3 and len(e) == 3 and all(r["claims_per_s"] for r in e):
        text += (
            f"\n\nRay 2 workers / 1 worker: build x{b[2]['passages_per_s'] / b[1]['passages_per_s']:.2f}, "
            f"eval x{e[2]['claims_per_s'] / e[1]['claims_per_s']:.2f}; "
            f"Ray 2 workers / single process: build x{b[2]['passages_per_s'] / b[0]['passages_per_s']:.2f}, "
            f"eval x{e[2]['claims_per_s'] / e[0]['claims_per_s']:.2f} (on {cpu})."
        )
    return text
