"""Scale-out on a real local Ray cluster (loopback, 2 CPUs): builds equal the single-process build, evals give
the same labels, a killed worker never breaks the index, and the CLI's `--ray` errors are one line.

Without the `scale` extra these tests skip, except where CI says the extra is installed (`CI` or
`FACTCHECK_TEST_REQUIRE_RAY` set, as `.ci/run` does): there a missing ray is a failure.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from factcheck.bench.config import seed_sentences, synthetic_articles
from factcheck.embed import HashEmbedder
from factcheck.evals import load_eval_set, load_results, run_eval
from factcheck.index import FactIndex, flat_vectors
from factcheck.pipeline import build_index
from factcheck.settings import Settings
from tests.fakes import NumberMatchJudge, SlowHashEmbedder

REPO = Path(__file__).resolve().parents[1]
SEED_CORPUS = REPO / "evals" / "corpus" / "iraq-coalition-2024"
SEED_SET = REPO / "evals" / "datasets" / "seed-news.jsonl"
ANN_THRESHOLD = 500  # low enough that the generated corpus crosses it: both builds must pick HNSW
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "FACTCHECK_EMBEDDER": "hash"}


def _require_ray():
    """The ray module; a skip outside CI when the extra is missing, a failure in CI."""
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # loopback only: see scale.require_ray
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        if os.environ.get("CI") or os.environ.get("FACTCHECK_TEST_REQUIRE_RAY"):
            pytest.fail("ray is not installed but CI requires the scale tests: install '.[scale]' (make setup-scale)")
        pytest.skip("ray is not installed: pip install '.[scale]' to run the scale tests (CI installs it)")
    return ray


@pytest.fixture(scope="module")
def ray_cluster():
    """One local Ray instance for the module: 2 CPUs, loopback only, no dashboard; shut down after."""
    ray = _require_ray()
    from factcheck.scale import local_init_args

    ray.init(**local_init_args(2))
    try:
        assert {n["NodeManagerAddress"] for n in ray.nodes()} == {"127.0.0.1"}
        yield ray
    finally:
        ray.shutdown()


def _settings(index: Path, **kw) -> Settings:
    base = dict(index_dir=index, embedder="hash", judge="verifier", llm_model=None, ann_threshold=ANN_THRESHOLD)
    return Settings(_env_file=None, **{**base, **kw})


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> list[Path]:
    """The sample corpus plus 300 generated articles: 200 in one jsonl, 100 as .txt files in a folder."""
    root = tmp_path_factory.mktemp("scale-corpus")
    articles, _ = synthetic_articles(1_500, seed_sentences(SEED_CORPUS))
    articles = articles[:300]
    assert len(articles) == 300
    with open(root / "generated.jsonl", "w", encoding="utf-8") as f:
        for a in articles[:200]:
            f.write(json.dumps({**a.model_dump(mode="json", exclude={"path"})}) + "\n")
    (root / "wire").mkdir()
    for a in articles[200:]:
        (root / "wire" / f"{a.id}.txt").write_text(f"{a.title}\n\n{a.text}\n", encoding="utf-8")
    return [SEED_CORPUS, root / "generated.jsonl", root / "wire"]


@pytest.fixture(scope="module")
def single_build(tmp_path_factory, corpus) -> Path:
    """The single-process build of the corpus: the reference every Ray build must equal."""
    index = tmp_path_factory.mktemp("single") / "index"
    build_index(_settings(index), corpus)
    return index


def _rows(index: Path) -> dict[str, list[tuple]]:
    snap = FactIndex.open(index, HashEmbedder()).snapshot()
    conn = sqlite3.connect(f"file:{index / snap.manifest.gen_dir / 'store.sqlite'}?mode=ro", uri=True)
    try:
        return {
            "articles": conn.execute("SELECT * FROM articles ORDER BY id").fetchall(),
            "passages": conn.execute(
                'SELECT vid, id, article_id, ord, start, "end", text FROM passages ORDER BY vid'
            ).fetchall(),
            "units": conn.execute("SELECT vid, spans FROM units ORDER BY vid").fetchall(),
        }
    finally:
        conn.close()


def assert_same_index(a: Path, b: Path) -> None:
    """Same manifest (bar timestamps), same store rows, same passage ids, vectors equal within float tolerance."""
    sa, sb = (FactIndex.open(p, HashEmbedder()).snapshot() for p in (a, b))
    skip = {"created", "updated", "generation"}
    assert sa.manifest.model_dump(exclude=skip) == sb.manifest.model_dump(exclude=skip)
    assert _rows(a) == _rows(b)
    (va, ia), (vb, ib) = flat_vectors(sa.faiss), flat_vectors(sb.faiss)
    np.testing.assert_array_equal(ia, ib)
    np.testing.assert_allclose(va, vb, atol=1e-6)
    assert (sa.ann is None) == (sb.ann is None)
    if sa.ann is not None:
        assert sa.ann.ntotal == sb.ann.ntotal


def test_ray_build_equals_the_single_process_build(ray_cluster, tmp_path, corpus, single_build):
    from factcheck.scale import build_index_ray

    settings = _settings(tmp_path / "index", ray_workers=2)
    added, report, _ = build_index_ray(settings, corpus)
    assert len(report.articles) == 305 and added.passages_added > ANN_THRESHOLD
    stats = FactIndex.open(tmp_path / "index", HashEmbedder()).stats()
    assert stats.index_type.startswith("hnsw")  # the same size rule as the single-process build
    assert_same_index(single_build, tmp_path / "index")
    # Incremental as ever: a second run finds nothing changed and publishes nothing.
    again, _, _ = build_index_ray(settings, corpus)
    assert len(again.unchanged) == 305 and not again.added
    assert FactIndex.open(tmp_path / "index", HashEmbedder()).stats().generation == stats.generation


def test_ray_eval_gives_the_single_process_labels(ray_cluster, tmp_path):
    from factcheck.evals import ray_executor

    settings = _settings(tmp_path / "index")
    build_index(settings, [SEED_CORPUS])
    eval_set = load_eval_set(SEED_SET)
    assert len(eval_set.cases) > 100

    def run(out: Path, execute=None) -> dict:
        summary, _ = run_eval(
            eval_set, settings, out_dir=out, judge=NumberMatchJudge(), embedder=HashEmbedder(), progress=False,
            execute=execute,
        )  # fmt: skip
        return summary

    single = run(tmp_path / "single")
    ray_run = run(tmp_path / "ray", ray_executor(None, judge_factory=NumberMatchJudge))
    labels = lambda d: {i: (r.pred, r.retrieved, r.cited) for i, r in load_results(d / "cases.jsonl").items()}  # noqa: E731
    assert labels(tmp_path / "ray") == labels(tmp_path / "single")
    assert {r.pred for r in load_results(tmp_path / "ray" / "cases.jsonl").values()} == {"supported", "unverified"}
    for key in ("n", "n_errors", "n_scored", "accuracy", "macro_f1", "confusion", "evidence_recall_at_k",
                "citation_precision", "quote_validity", "ece", "baselines"):  # fmt: skip
        assert ray_run[key] == single[key], key
    assert ray_run["settings"]["executor"] == "ray" and single["settings"]["executor"] == "threads"

    # Resumable: a run cut short keeps its finished cases and a rerun only checks the rest.
    cases = tmp_path / "ray" / "cases.jsonl"
    kept = cases.read_text().splitlines()[:40]
    cases.write_text("\n".join(kept) + "\n")
    again = run(tmp_path / "ray", ray_executor(None, judge_factory=NumberMatchJudge))
    assert len(cases.read_text().splitlines()) == len(eval_set.cases)
    assert labels(tmp_path / "ray") == labels(tmp_path / "single") and again["accuracy"] == single["accuracy"]


def _embed_actor_pids() -> list[int]:
    """Processes of this machine's Ray Data embedding actors (Ray names them after the class)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"_ChunkEmbed" in cmd:
                pids.append(int(entry.name))
    return pids


def test_killing_a_ray_worker_mid_build_leaves_the_previous_index(ray_cluster, tmp_path, corpus, single_build):
    from factcheck.scale import build_index_ray

    index = tmp_path / "index"
    settings = _settings(index, ray_workers=2)
    build_index(settings, [SEED_CORPUS])
    old = FactIndex.open(index, HashEmbedder()).stats()
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["report"] = build_index_ray(settings, corpus, embedder_factory=SlowHashEmbedder)
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 60
    while not (pids := _embed_actor_pids()):
        assert time.monotonic() < deadline and thread.is_alive(), outcome
        time.sleep(0.1)
    time.sleep(1.0)  # the actors are embedding now
    assert thread.is_alive(), "the build finished before a worker could be killed"
    assert FactIndex.open(index, HashEmbedder()).stats().manifest_sha256 == old.manifest_sha256
    os.kill(pids[0], signal.SIGKILL)
    thread.join(timeout=180)
    assert not thread.is_alive()
    # Ray may restart the actor and finish, or the build may fail: either way readers load a whole index.
    now = FactIndex.open(index, HashEmbedder()).stats()
    if now.manifest_sha256 != old.manifest_sha256:
        assert "report" in outcome and now.articles == 305
    assert list(index.glob("gen-*.tmp")) == []  # the writer never started on a half-embedded build
    # A rerun completes, and the result is the single-process index.
    build_index_ray(settings, corpus)
    assert_same_index(single_build, index)


# --- the command line ---------------------------------------------------------------------------------


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "factcheck.cli", *args]
    return subprocess.run(cmd, env=env or ENV, cwd=REPO, capture_output=True, text=True, timeout=300)


def test_cli_ray_build_on_a_local_instance(tmp_path):
    """`index build --ray` starts a loopback Ray of its own, builds, publishes and shuts it down."""
    _require_ray()
    single = tmp_path / "single"
    assert _cli("--index", str(single), "index", "build", "--quiet", str(SEED_CORPUS)).returncode == 0
    env = {**ENV, "FACTCHECK_RAY_LOCAL_CPUS": "2"}
    out = _cli("--index", str(tmp_path / "ray"), "index", "build", "--quiet", "--json", str(SEED_CORPUS),
               "--ray", "--ray-workers", "2", env=env)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert len(json.loads(out.stdout)["report"]["added"]) == 5
    assert_same_index(single, tmp_path / "ray")


@pytest.mark.parametrize(
    ("address", "message"),
    [("127.0.0.1:1", "cannot reach a Ray cluster at 127.0.0.1:1"), ("nowhere", "not a Ray address: 'nowhere'")],
)
@pytest.mark.parametrize("verb", ["build", "eval"])
def test_cli_bad_ray_address_is_one_line(tmp_path, address, message, verb):
    _require_ray()
    args = ["index", "build", str(SEED_CORPUS)] if verb == "build" else ["eval", str(SEED_SET)]
    out = _cli("--index", str(tmp_path / "i"), *args, "--ray", address)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"factcheck: error: {message}"), out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "i").exists()


@pytest.mark.parametrize("verb", ["build", "eval"])
def test_cli_ray_without_the_extra_is_one_line(tmp_path, verb):
    """Where ray cannot be imported (a stand-in package that fails to import), `--ray` names the extra."""
    shadow = tmp_path / "shadow" / "ray"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named ray', name='ray')\n")
    env = {**ENV, "PYTHONPATH": os.pathsep.join([str(tmp_path / "shadow"), ENV["PYTHONPATH"]])}
    args = ["index", "build", str(SEED_CORPUS)] if verb == "build" else ["eval", str(SEED_SET)]
    out = _cli("--index", str(tmp_path / "i"), *args, "--ray", env=env)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "--ray needs the scale extra" in lines[0] and "pip install" in lines[0], out.stderr
