"""Fast paths (HNSW switch, ONNX embedder, caches) and the bench helpers, at smoke scale."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest

from factcheck import bench, metrics
from factcheck.cli import main
from factcheck.embed import ONNX_AGREEMENT_TOLERANCE, HashEmbedder, make_embedder
from factcheck.errors import IndexCorruptError
from factcheck.index import FLAT, FactIndex, hnsw_type
from factcheck.models import Article
from factcheck.pipeline import LRUCache, Pipeline
from factcheck.retrieve import Retriever
from factcheck.settings import REPO_DIR, Settings
from tests.fakes import FixedLabelJudge


@functools.cache
def _sentences() -> tuple[str, ...]:
    return tuple(bench.seed_sentences())


def _articles(n: int, start: int = 0) -> list[Article]:
    sents = _sentences()
    arts, _ = bench.synthetic_articles(n, sents, seed=start + 1)
    return [a.model_copy(update={"id": f"s{start}-{i}"}) for i, a in enumerate(arts)]


@pytest.fixture(scope="module")
def hash_emb() -> HashEmbedder:
    return HashEmbedder()


# --- ANN switch ---------------------------------------------------------------------------------------


def test_index_switches_to_hnsw_above_threshold_and_matches_exact(tmp_path, hash_emb):
    arts = _articles(150)
    small = FactIndex.open(tmp_path / "small", hash_emb, create=True, ann_threshold=10_000)
    small.add_articles(arts)
    assert small.stats().index_type == FLAT and small.snapshot().ann is None

    ann = FactIndex.open(tmp_path / "ann", hash_emb, create=True, ann_threshold=40)
    ann.add_articles(arts[:5])
    assert ann.stats().passages < 40 and ann.stats().index_type == FLAT
    ann.add_articles(arts[5:])  # crosses the threshold: HNSW built from the store
    snap = ann.snapshot()
    assert snap.manifest.index_type == hnsw_type() and snap.ann.ntotal == snap.faiss.ntotal
    assert json.loads((tmp_path / "ann" / "manifest.json").read_text())["index_type"] == hnsw_type()
    assert (tmp_path / "ann" / snap.manifest.gen_dir / "ann.faiss").is_file()

    queries = hash_emb.embed(
        [
            "troops in Iraq",
            "coalition talks in Baghdad",
            "drone strikes on bases",
            "Spain deployed soldiers",
            "the Islamic State",
        ]
    )
    s_ann, i_ann = snap.search(queries, 10)
    s_ex, i_ex = snap.faiss.search(queries, 10)
    assert (i_ann[:, :5] == i_ex[:, :5]).all()  # same top results as exact search
    assert np.allclose(s_ann, s_ex, atol=1e-5)

    # The retriever goes through the ANN structure and returns what the exact index returns.
    settings = Settings(embedder="hash")
    got = Retriever(ann, hash_emb, settings).search("US troops deployed in Iraq", 5, mode="dense")
    want = Retriever(small, hash_emb, settings).search("US troops deployed in Iraq", 5, mode="dense")
    assert [h.passage.text for h in got] == [h.passage.text for h in want]


def test_hnsw_follows_adds_and_removals(tmp_path, hash_emb):
    idx = FactIndex.open(tmp_path, hash_emb, create=True, ann_threshold=20)
    arts = _articles(60)
    idx.add_articles(arts)
    n0 = idx.stats().passages
    extra = _articles(10, start=7)
    idx.add_articles(extra)  # add-only: the graph is extended
    snap = idx.snapshot()
    assert snap.ann.ntotal == snap.faiss.ntotal > n0
    idx.remove([arts[0].id, extra[0].id])  # removal: the graph is rebuilt without them
    snap = idx.snapshot()
    assert snap.ann.ntotal == snap.faiss.ntotal == snap.manifest.n_passages
    live = {v for v, _ in snap.iter_passage_texts()}
    _, ids = snap.search(hash_emb.embed([arts[0].text[:200]]), 20)
    assert set(ids[0][ids[0] >= 0].tolist()) <= live  # removed passages are never returned
    reopened = FactIndex.open(tmp_path, hash_emb)
    assert reopened.stats().index_type == hnsw_type()


def test_missing_ann_file_is_a_corrupt_index(tmp_path, hash_emb):
    idx = FactIndex.open(tmp_path, hash_emb, create=True, ann_threshold=5)
    idx.add_articles(_articles(20))
    (tmp_path / idx.snapshot().manifest.gen_dir / "ann.faiss").unlink()
    with pytest.raises(IndexCorruptError, match="ann.faiss"):
        FactIndex.open(tmp_path, hash_emb)


# --- ONNX embedder ------------------------------------------------------------------------------------

TEXTS = [
    "About 2,500 US troops are in Iraq",
    "x",
    "Iraq and the United States held a first round of talks on the coalition's future. " * 40,  # > 256 tokens
    "Spain has more than 300 troops deployed to Iraq, the ministry said on Tuesday.",
]


@pytest.fixture(scope="module")
def onnx_settings() -> Settings:
    # The export is cached where the service keeps it, so repeated test runs reuse it.
    return Settings(embed_backend="onnx", onnx_cache_dir=REPO_DIR / ".cache" / "onnx")


def test_onnx_embedder_agrees_with_torch(minilm, onnx_settings):
    onnx = make_embedder(onnx_settings)
    assert type(onnx).__name__ == "OnnxEmbedder"
    assert onnx.name == minilm.name and onnx.dim == minilm.dim == 384  # same vectors, same index
    ref = minilm.embed(TEXTS)
    got = onnx.embed(TEXTS, batch_size=2)  # mixed-length batches exercise padding
    assert got.shape == ref.shape and got.dtype == np.float32
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    cos = np.sum(got * ref, axis=1)
    assert cos.min() >= ONNX_AGREEMENT_TOLERANCE, cos
    single = onnx.embed([TEXTS[0]])  # a batch of one (no padding at all)
    assert float(single[0] @ ref[0]) >= ONNX_AGREEMENT_TOLERANCE
    assert onnx.embed([]).shape == (0, 384)


def test_onnx_int8_is_close_but_named_apart(minilm, onnx_settings):
    int8 = make_embedder(onnx_settings.model_copy(update={"embed_backend": "onnx-int8"}))
    assert int8.name != minilm.name and int8.name.endswith("+onnx-int8")
    cos = np.sum(int8.embed(TEXTS) * minilm.embed(TEXTS), axis=1)
    assert cos.min() >= 0.95
    assert Settings().embed_backend == "onnx"  # the default, since fp32 ONNX is within tolerance


def test_onnx_verifier_matches_torch(tmp_path):
    from factcheck.judges import make_judge
    from factcheck.verifier import DEFAULT_MODEL_DIR, Verifier, model_weights
    from factcheck.verifier.onnx import OrtSequenceClassifier, use_onnx

    if model_weights(DEFAULT_MODEL_DIR) is None:
        pytest.skip("no shipped verifier model")
    premises = [
        "About 2,500 US troops are deployed in Iraq.",
        "The talks were cancelled on Monday.",
        "x",
        "Spain has 300 soldiers in Iraq as part of the coalition against Islamic State, officials said. " * 6,
    ]
    claims = ["There are 2,500 American troops in Iraq"] * 4
    v = Verifier()
    ref = v.logits(premises, claims)
    use_onnx(v, tmp_path)
    assert isinstance(v.model, OrtSequenceClassifier) and (tmp_path / v.version / "model.onnx").is_file()
    got = v.logits(premises, claims)
    assert np.abs(v.probs_from_logits(got) - v.probs_from_logits(ref)).max() < 1e-4
    assert (got.argmax(1) == ref.argmax(1)).all()
    assert np.allclose(v.logits(premises[:1], claims[:1]), ref[:1], atol=1e-4)  # a batch of one, no padding
    use_onnx(v, tmp_path)  # idempotent
    assert Settings().verifier_backend == "onnx"
    # fp32 runs on ONNX by default; bf16 (chosen on CPUs with a bf16 matrix unit) runs on torch autocast.
    judge = make_judge(
        Settings(judge="verifier", onnx_cache_dir=tmp_path, verifier_precision="fp32", verifier_student=False)
    )
    assert isinstance(judge.verifier.model, OrtSequenceClassifier) and judge.runtime == "onnx-fp32"


def test_student_runs_on_onnx_in_fp32_as_on_torch(tmp_path):
    from factcheck.judges import make_judge
    from factcheck.verifier import Verifier, model_weights
    from factcheck.verifier.model import STUDENT_MODEL_DIR

    if model_weights(STUDENT_MODEL_DIR) is None:
        pytest.skip("no shipped student model")
    premises = ["About 2,500 US troops are deployed in Iraq.", "The talks were cancelled on Monday. " * 8]
    claims = ["There are 2,500 American troops in Iraq"] * 2
    torch_student = Verifier(STUDENT_MODEL_DIR)
    ref = torch_student.score(premises, claims)
    cascade = make_judge(Settings(judge="verifier", onnx_cache_dir=tmp_path, verifier_precision="fp32"))
    first = cascade.first  # the student stage; v10 is not loaded until a claim escalates
    assert first.runtime == "onnx-fp32" and not cascade.last_loaded
    assert (tmp_path / torch_student.version / "model.onnx").is_file()
    assert np.abs(first.verifier.score(premises, claims) - ref).max() < 1e-4


# --- caches -------------------------------------------------------------------------------------------


class CountingEmbedder(HashEmbedder):
    """The hash embedder, counting embed calls."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def embed(self, texts, *, batch_size=64, progress=False):
        self.calls += 1
        return super().embed(texts, batch_size=batch_size, progress=progress)


def test_lru_cache_evicts_least_recent():
    c = LRUCache(2)
    c.put("a", 1)
    c.put("b", 2)
    assert c.get("a") == 1
    c.put("c", 3)
    assert c.get("b") is None and c.get("a") == 1 and c.get("c") == 3
    off = LRUCache(0)
    off.put("a", 1)
    assert off.get("a") is None


def test_verdict_and_query_caches(tmp_path):
    settings = Settings(embedder="hash", index_dir=tmp_path)
    emb, judge = CountingEmbedder(), FixedLabelJudge(name="counting")
    idx = FactIndex.open(tmp_path, emb, create=True)
    idx.add_articles(_articles(20))
    pipe = Pipeline(settings, idx, emb, judge)
    emb.calls = 0

    first = pipe.check("US troops in Iraq")
    again = pipe.check("US   troops in Iraq")  # same claim after whitespace normalisation
    assert judge.calls == 1 and emb.calls == 1
    assert again.label == first.label and again.timings_ms["cache"] >= 0
    assert set(again.timings_ms) >= {"embed", "retrieve", "judge", "total"}
    again.timings_ms.clear()
    again.label = "supported"
    third = pipe.check("US troops in Iraq")  # the cached copy is not shared with callers
    assert third.timings_ms and third.label == first.label and judge.calls == 1

    pipe.check("US troops in Iraq", top_k=3)  # a different key: judged again, embedding reused
    assert judge.calls == 2 and emb.calls == 1

    pipe.add_articles(_articles(5, start=3))  # new index generation: verdicts are stale
    emb.calls = 0
    pipe.check("US troops in Iraq")
    assert judge.calls == 3 and emb.calls == 0  # the query vector is still valid

    pipe.search("coalition talks")
    pipe.search("coalition talks")
    assert emb.calls == 1


# --- bench helpers ------------------------------------------------------------------------------------


def test_frontier_times_configurations_in_rounds_and_every_claim_afresh(tmp_path):
    from factcheck.bench.check import bench_check_interleaved

    settings = Settings(embedder="hash", index_dir=tmp_path)
    emb = HashEmbedder()
    idx = FactIndex.open(tmp_path, emb, create=True)
    idx.add_articles(_articles(10))
    order: list[str] = []

    class Recording(FixedLabelJudge):
        def judge(self, claim, hits):
            order.append(self.name)
            verdict = super().judge(claim, hits)
            if self.name == "b":  # a cascade: one claim goes on to its deep stage
                verdict.decided_by = "deep" if claim == "a ceasefire" else "first"
            return verdict

    judges = {n: Recording(name=n) for n in ("a", "b")}
    pipes = {n: Pipeline(settings, idx, emb, j) for n, j in judges.items()}
    claims = ["US troops in Iraq", "coalition talks", "a ceasefire"]
    out = bench_check_interleaved(pipes, claims, repeats=3)
    # A warm-up each, then rounds: every configuration over all claims, back to back; no verdict-cache hit.
    assert order[:2] == ["a", "b"]
    blocks = [order[i : i + len(claims)] for i in range(2, len(order), len(claims))]
    assert len(blocks) == 6 and all(len(set(b)) == 1 for b in blocks)
    rounds = [{b[0] for b in blocks[i : i + 2]} for i in range(0, 6, 2)]
    assert rounds == [{"a", "b"}] * 3  # each round runs both
    assert [j.claims[1:] for j in judges.values()] == [claims * 3] * 2
    for name in pipes:
        assert out[name]["wall_ms"]["n"] == len(claims) and out[name]["repeats"] == 3
        assert 0 < out[name]["wall_ms"]["p50"] <= out[name]["wall_ms"]["p95"] <= out[name]["wall_ms"]["max"]
        assert out[name]["stages_ms"]["judge"]["n"] == len(claims)
    assert pipes["a"].verdict_cache.size > 0  # the caches are back on afterwards
    # Where the latencies come from: each claim counted once, under the stage that decided it.
    assert {k: v["n"] for k, v in out["b"]["by_decider"].items()} == {"first": 2, "deep": 1}
    assert {k: v["n"] for k, v in out["a"]["by_decider"].items()} == {"a": 3}  # no stages: the judge's name
    from factcheck.bench.report import render_deciders

    configs = [{"config": n, "check_ms_by_decider": out[n]["by_decider"]} for n in ("a", "b")]
    table = render_deciders(configs)
    assert "| b | first | 2 |" in table and "| b | deep | 1 |" in table and "| a |" not in table
    assert render_deciders(configs[:1]) == ""


def test_stats_helpers():
    s = bench.latency_summary([1.0, 2.0, 3.0, 4.0, 100.0])
    assert s["n"] == 5 and s["p50"] == 3.0 and 4.0 < s["p95"] < 100.0 and s["max"] == 100.0
    assert bench.latency_summary([])["p50"] is None
    truth = np.array([[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]])
    assert metrics.ann_recall_at_10(truth, truth) == 1.0
    assert metrics.ann_recall_at_10(np.array([[1, 2, 3, 4, 5, 0, 0, 0, 0, 0]]), truth) == 0.5


def test_synthetic_corpus_is_deterministic_and_sized():
    sents = bench.seed_sentences()
    a1, n1 = bench.synthetic_articles(300, sents)
    a2, n2 = bench.synthetic_articles(300, sents)
    assert n1 == n2 >= 300 and [a.text for a in a1] == [a.text for a in a2]
    assert len({a.text for a in a1}) == len(a1)  # recombined, not copies
    rng1, rng2 = np.random.default_rng(1), np.random.default_rng(1)
    basis = HashEmbedder().embed(sents[:50])
    v1 = bench.derived_vectors(500, basis.shape[1], basis, rng1, chunk=128)
    v2 = bench.derived_vectors(500, basis.shape[1], basis, rng2, chunk=128)
    assert np.array_equal(v1, v2) and np.allclose(np.linalg.norm(v1, axis=1), 1.0, atol=1e-5)


def test_peak_rss_sees_a_large_allocation():
    import subprocess
    import sys

    # In a fresh interpreter: after earlier tests free ~2 GB of models, the allocator hands a new 64 MiB block
    # pages that are already resident, and RSS does not move at all.
    code = (
        "import numpy as np; from factcheck import bench\n"
        "with bench.PeakRSS() as mem:\n"
        "    block = np.ones(64 * 2**20 // 8); block.sum()\n"
        "print(mem.delta_mb)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert float(out.stdout.strip().splitlines()[-1]) >= 48


def test_ann_scale_reports_recall_and_latency():
    rng = np.random.default_rng(3)
    basis = HashEmbedder(dim=64).embed(bench.seed_sentences()[:80])
    base = bench.derived_vectors(3000, 64, basis, rng)
    queries = bench.derived_vectors(30, 64, basis, rng)
    cfg = bench.BenchConfig(hnsw_ef=(64,), ivf_nprobe=(8, 64), pq_bits=6)
    out = bench.bench_ann_scale(3000, base, queries, cfg, data="test", log=lambda m: None)
    rows = {(r["index"], r["param"]): r for r in out["rows"]}
    assert rows[("Flat (exact)", "-")]["recall@10"] == 1.0
    assert rows[("HNSW M=32", "efSearch=64")]["recall@10"] >= 0.95
    assert all(r["p50_ms"] > 0 and r["p95_ms"] >= r["p50_ms"] for r in out["rows"] if "skipped" not in r)
    assert any("skipped" in r for r in out["rows"])  # 3000 vectors: too few for 6-bit PQ codebooks
    ivf = [r for r in out["rows"] if r["index"].endswith("-Flat")]
    assert ivf[-1]["recall@10"] >= ivf[0]["recall@10"]  # more probes, no worse recall
    assert "HNSW M=32" in out["best"]


def test_run_bench_writes_json_and_markdown(tmp_path):
    cfg = bench.BenchConfig(
        build_real=150,
        build_derived=400,
        ann_sizes=(150, 3000),
        ann_queries=20,
        pq_bits=4,
        hnsw_max=1000,
        hnsw_ef=(32,),
        ivf_nprobe=(8,),
        pq_min=0,
        sections=("build", "ann"),
    )
    result = bench.run_bench(cfg, Settings(embedder="hash"), tmp_path / "out", log=lambda m: None)
    data = json.loads((tmp_path / "out" / "bench.json").read_text())
    assert data["build"]["runs"][0]["corpus"] == "sample corpus"
    big = data["build"]["runs"][-1]
    assert big["measured"] is False and "derived" in big["note"] and big["passages"] >= 400
    assert [s["n"] for s in data["ann"]["scales"]] == [150, 3000]
    assert any(r["index"].startswith("IVF") and "-PQ" in r["index"] for r in data["ann"]["scales"][1]["rows"])
    md = (tmp_path / "out" / "bench.md").read_text()
    assert "## Index build" in md and "## Retrieval at 3,000 vectors" in md and "| Flat (exact) |" in md
    assert any(t["target"].startswith("3,000-passage ANN") for t in result["targets"])


def test_cli_rejects_unknown_section_and_bad_out(capsys, tmp_path):
    assert main(["bench", "--only", "build,nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nope" in err[0]
    (tmp_path / "file").write_text("x")
    assert main(["bench", "--quick", "--out", str(tmp_path / "file")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot write the bench report" in err[0]


def test_frontier_rows_select_configurations_and_keep_the_base_row():
    from factcheck.bench.frontier import CONFIGS, select_configs

    picked = select_configs(("default",))
    assert picked[0] is CONFIGS[0] and len(picked) >= 2
    assert all("default" in c.name for c in picked[1:])
    assert select_configs(()) == CONFIGS and select_configs(("no such row",)) == (CONFIGS[0],)
