"""Serving replicas over one index: readers pick up generations other processes publish; writers serialise."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from factcheck.index import FactIndex
from factcheck.models import Article

REPO = Path(__file__).resolve().parents[1]
SEED_CORPUS = REPO / "evals" / "corpus" / "iraq-coalition-2024"
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "FACTCHECK_EMBEDDER": "hash"}


def _art(tag: str, i: int) -> Article:
    text = (
        f"Report {tag} number {i} covers topic {i}. The council of town{i} counted {i * 37} votes. "
        f"Officials confirmed the count on Tuesday."
    )
    return Article(id=f"{tag}{i}", title=f"Report {tag} {i}", text=text)


# A writer in its own process: `writes` generations, one article each, as fast as it can.
_WRITER = """
import sys
from factcheck.embed import HashEmbedder
from factcheck.index import FactIndex
from tests.test_replicas import _art
root, tag, writes = sys.argv[1], sys.argv[2], int(sys.argv[3])
idx = FactIndex.open(root, HashEmbedder(), create=True)
for i in range(writes):
    idx.add_articles([_art(tag, i)])
"""


def _writer(root: Path, tag: str, writes: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _WRITER, str(root), tag, str(writes)], env=ENV, cwd=REPO)


def test_reader_picks_up_a_generation_another_process_published(tmp_path, hash_embedder):
    FactIndex.open(tmp_path, hash_embedder, create=True).add_articles([_art("a", 0)])
    reader = FactIndex.open(tmp_path, hash_embedder)
    assert reader.stats().articles == 1
    assert _writer(tmp_path, "b", 1).wait(timeout=60) == 0
    # No reopen: the reader stats manifest.json on each snapshot() and loads the new generation.
    assert reader.stats().articles == 2
    assert reader.get_article("b0").title == "Report b 0"


def test_reader_never_sees_a_half_written_generation(tmp_path, hash_embedder):
    """A reader hammering snapshot() while another process publishes and deletes generations sees whole ones."""
    FactIndex.open(tmp_path, hash_embedder, create=True).add_articles([_art("a", 0)])
    reader = FactIndex.open(tmp_path, hash_embedder)
    seen: list[int] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                snap = reader.snapshot()
                m = snap.manifest
                vids = [v for v, _ in snap.iter_passage_texts()]
                found = snap.passages(vids)
                # Whole: every passage the store lists has its vector and article, and the counts agree.
                assert len(vids) == m.n_passages == snap.faiss.ntotal == len(found)
                assert {p.article_id for p, _ in found.values()} == set(m.articles)
                seen.append(m.generation)
            except BaseException as exc:  # noqa: BLE001 - reported by the test below
                errors.append(exc)
                return

    thread = threading.Thread(target=read)
    thread.start()
    try:
        assert _writer(tmp_path, "w", 25).wait(timeout=120) == 0
    finally:
        stop.set()
        thread.join()
    assert not errors, errors[0]
    assert seen == sorted(seen), "a reader went back to an older generation"
    assert len(set(seen)) > 2, "the reader saw too few generations to mean anything"
    assert reader.stats().articles == 26


def test_two_writer_processes_are_serialised(tmp_path, hash_embedder):
    """Two processes writing at once: every write lands (no lost update), one generation per write."""
    FactIndex.open(tmp_path, hash_embedder, create=True).add_articles([_art("a", 0)])
    procs = [_writer(tmp_path, tag, 12) for tag in ("x", "y")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    snap = FactIndex.open(tmp_path, hash_embedder).snapshot()
    assert snap.manifest.generation == 1 + 24
    assert set(snap.manifest.articles) == {"a0"} | {f"{t}{i}" for t in "xy" for i in range(12)}
    vids = [v for v, _ in snap.iter_passage_texts()]
    assert len(vids) == len(set(vids)) == snap.faiss.ntotal == snap.manifest.n_passages
    assert sorted(p.name for p in tmp_path.glob("gen-*")) == [snap.manifest.gen_dir]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _serve(index: Path):
    """A real `factcheck serve` process on a loopback port; yields its base URL once it answers."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "factcheck.cli", "--index", str(index), "serve", "--port", str(port)],
        env=ENV,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else "serve exited"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, "serve did not come up"
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_two_serve_replicas_see_a_generation_a_third_process_published(tmp_path):
    index = tmp_path / "index"
    build = [sys.executable, "-m", "factcheck.cli", "--index", str(index), "index", "build", "--quiet"]
    subprocess.run([*build, str(SEED_CORPUS)], env=ENV, cwd=REPO, check=True, capture_output=True)
    with _serve(index) as a, _serve(index) as b:
        before = [httpx.get(f"{u}/health").json()["index"] for u in (a, b)]
        assert before[0]["generation"] == before[1]["generation"] == 1
        assert all(httpx.get(f"{u}/articles/late-news").status_code == 404 for u in (a, b))
        # The writer: a third process, `factcheck index build` of a new file.
        news = tmp_path / "late-news.txt"
        news.write_text("Late news\n\nThe coalition said 1,234 trainers will stay in Iraq until 2026.\n")
        subprocess.run([*build, str(news)], env=ENV, cwd=REPO, check=True, capture_output=True)
        for u in (a, b):  # no restart: the next request finds the new manifest
            got = httpx.get(f"{u}/articles/late-news")
            assert got.status_code == 200 and "1,234 trainers" in got.json()["text"]
            health = httpx.get(f"{u}/health").json()["index"]
            assert health["generation"] == 2 and health["articles"] == 6
            hits = httpx.post(f"{u}/check", json={"claim": "1,234 trainers will stay in Iraq"}, timeout=60)
            assert hits.status_code == 200
            assert "late-news" in {c["article_id"] for c in hits.json()["citations"]} | {
                s["article_id"] for s in hits.json().get("sources", [])
            }
