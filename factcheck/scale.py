"""Scale-out on Ray (the optional `scale` extra): index builds with Ray Data, and actor pools for batch evals.

`ray` is imported inside these functions only, so the package imports (and every single-process path runs)
without it. A Ray build produces the index a single-process build produces: Ray Data reads and cleans the
files in parallel and chunks + embeds the changed articles on an actor pool (the embedder loaded once per
actor); the driver then hands articles and vectors to `FactIndex.add_articles`, the same writer, lock and
manifest publish as `factcheck index build` (so the same passage ids, the same flat/HNSW rule, the same
atomic generation). Workers read the input paths themselves: on a cluster they must see the same files
(a shared filesystem), and the index is written by the driver only.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import socket
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .chunk import chunk_article
from .embed import Embedder, make_embedder
from .errors import ScaleError
from .index import AddReport
from .ingest import IngestReport, collect_articles, list_files, load_file
from .models import Article
from .settings import Settings

log = logging.getLogger("factcheck.scale")

LOCAL = "local"  # `--ray` without an address: a Ray instance on this machine, on loopback
INSTALL_HINT = "pip install 'factcheck[scale]' (or: pip install 'ray[data]==2.60.0')"
ARTICLES_PER_BATCH = 16  # articles one embedding call chunks and embeds (~50-100 passages of 600 chars)


def require_ray(*, local: bool = False):
    """The ray module, or ScaleError naming the extra to install."""
    if local and "ray" not in sys.modules:
        # Ray resolves 127.0.0.1 to the machine's routable address unless clusters are off (read at import):
        # a local instance then binds loopback only. Its processes inherit the setting.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
        import ray.data  # noqa: F401 - the build needs Ray Data, not just the core
    except ImportError as exc:
        raise ScaleError(
            f"--ray needs the scale extra ({exc.name or 'ray'} is not installed): {INSTALL_HINT}"
        ) from None
    return ray


def check_address(address: str | None) -> None:
    """Fail fast (one clear line) on a Ray address that is malformed or where nothing listens."""
    require_ray(local=address in (None, LOCAL))
    if address in (None, LOCAL, "auto"):
        return
    assert address is not None
    hostport = address.removeprefix("ray://")
    host, sep, port = hostport.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ScaleError(f"not a Ray address: {address!r} (expected HOST:PORT, ray://HOST:PORT or auto)")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=5):
            pass
    except OSError as exc:
        raise ScaleError(f"cannot reach a Ray cluster at {address}: {exc.strerror or exc}") from None


@contextlib.contextmanager
def ray_session(address: str | None, settings: Settings, *, progress: bool = False) -> Iterator[Any]:
    """Ray connected to `address` (None/"local": a local instance on 127.0.0.1), shut down after if we started it."""
    check_address(address)
    ray = require_ray()
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = progress
    if not progress:
        logging.getLogger("ray.data").setLevel(logging.WARNING)
    if ray.is_initialized():  # a caller (a test, a notebook) owns the connection
        yield ray
        return
    try:
        if address in (None, LOCAL):
            # Loopback only, no dashboard: a local instance must not listen on the machine's network.
            ray.init(**local_init_args(settings.ray_local_cpus))
        else:
            ray.init(address=address, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ScaleError(f"cannot start or join Ray at {address or LOCAL}: {exc}") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def local_init_args(cpus: int | None) -> dict[str, Any]:
    """`ray.init` arguments of a private local instance: loopback only (see require_ray), no dashboard."""
    # address "local": never a `ray start` cluster that happens to run on this machine.
    return {"address": "local", "num_cpus": cpus, "include_dashboard": False, "logging_level": logging.WARNING}


def one_cpu_settings(settings: Settings) -> Settings:
    """Settings for an actor holding one CPU: its embedder and verifier get one thread each, not every core."""
    return settings.model_copy(
        update={"embed_threads": settings.embed_threads or 1, "verifier_threads": settings.verifier_threads or 1}
    )


def pool_size(ray, settings: Settings) -> int:
    """Actors per pool: `ray_workers`, else one per CPU of the cluster."""
    return settings.ray_workers or max(1, int(ray.cluster_resources().get("CPU", 1)))


# --------------------------------------------------------------------------------------------------
# Index builds


def _read_file(row: dict[str, Any]) -> dict[str, Any]:
    """Ray Data map: parse and clean one file; paths in the result are the ones the caller gave."""
    part = load_file(Path(row["abs"]))
    for art in part.articles:
        art.path = row["path"]
    for skip in part.skipped:
        skip.path = skip.path.replace(row["abs"], row["path"], 1)
    return {"i": row["i"], "report": part.model_dump_json()}


class _ChunkEmbed:
    """Ray Data actor: the embedder loaded once; cuts a batch of articles into passages and embeds them."""

    def __init__(self, embedder_factory: Callable[[], Embedder], max_chars: int, overlap: int, batch_size: int):
        self.embedder = embedder_factory()
        self.max_chars, self.overlap, self.batch_size = max_chars, overlap, batch_size

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        pids: list[str] = []
        texts: list[str] = []
        for aid, text in zip(batch["id"], batch["text"]):
            # The same chunker and settings the writer uses, so passage ids and texts line up with its rows.
            for p in chunk_article(Article(id=str(aid), title="", text=str(text)), self.max_chars, self.overlap):
                pids.append(p.id)
                texts.append(p.text)
        if texts:
            vecs = self.embedder.embed(texts, batch_size=self.batch_size)
        else:
            vecs = np.zeros((0, self.embedder.dim), dtype=np.float32)
        return {"pid": np.asarray(pids, dtype=object), "vector": np.asarray(vecs, dtype=np.float32)}


def ray_ingest(ray, files: list[Path]) -> IngestReport:
    """Read and clean files in parallel on the cluster; merged in file order as `load_articles` would."""
    if not files:
        return IngestReport()
    rows = [{"i": i, "path": str(f), "abs": str(f.resolve())} for i, f in enumerate(files)]
    ds = ray.data.from_items(rows, override_num_blocks=min(len(rows), 64)).map(_read_file)
    loaded = sorted(ds.take_all(), key=lambda r: r["i"])
    return collect_articles((files[r["i"]], IngestReport.model_validate_json(r["report"])) for r in loaded)


def ray_embed(
    ray,
    articles: list[Article],
    settings: Settings,
    embedder_factory: Callable[[], Embedder],
    workers: int,
) -> dict[str, np.ndarray]:
    """Passage id -> vector for every passage of `articles`, embedded on a pool of `workers` actors."""
    if not articles:
        return {}
    items = [{"id": a.id, "text": a.text} for a in articles]
    # Enough blocks to keep every actor busy, few enough that per-block overhead stays small.
    blocks = min(len(items), max(workers, min(len(items) // ARTICLES_PER_BATCH, workers * 8)))
    ds = ray.data.from_items(items, override_num_blocks=blocks)
    ds = ds.map_batches(
        _ChunkEmbed,
        fn_constructor_kwargs={
            "embedder_factory": embedder_factory,
            "max_chars": settings.chunk_max_chars,
            "overlap": settings.chunk_overlap_sentences,
            "batch_size": settings.embed_batch_size,
        },
        batch_size=ARTICLES_PER_BATCH,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=1,
    )
    vectors: dict[str, np.ndarray] = {}
    for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
        vectors.update(zip((str(p) for p in batch["pid"]), batch["vector"]))
    return vectors


def build_index_ray(
    settings: Settings,
    paths: Iterable[Path | str],
    *,
    address: str | None = None,
    rebuild: bool = False,
    progress: bool = False,
    embedder_factory: Callable[[], Embedder] | None = None,
) -> tuple[AddReport, IngestReport, float]:
    """`build_index` on Ray: returns (AddReport, IngestReport, seconds), publishing the same index."""
    from .pipeline import open_index

    files = list_files([Path(p) for p in paths])
    factory = embedder_factory or functools.partial(make_embedder, one_cpu_settings(settings))
    with ray_session(address, settings, progress=progress) as ray:
        t0 = time.perf_counter()
        report = ray_ingest(ray, files)
        # The driver's embedder names the vectors in the manifest and embeds any passage the pool did not.
        index = open_index(settings, factory(), create=True, rebuild=rebuild)
        live = None if rebuild or index.empty else index.snapshot().manifest
        changed = [a for a in report.articles if live is None or not live.holds(a)]
        vectors = ray_embed(ray, changed, settings, factory, pool_size(ray, settings))
    added = index.add_articles(
        report.articles, progress=progress, batch_size=settings.embed_batch_size, vectors=vectors
    )
    return added, report, time.perf_counter() - t0


# --------------------------------------------------------------------------------------------------
# Actor pools (batch evals)


def actor_map(
    cls: type,
    args: tuple,
    items: list[Any],
    settings: Settings,
    *,
    address: str | None = None,
) -> Iterator[Any]:
    """`cls(*args).run(item)` for each item on a pool of Ray actors, yielded as each finishes (any order)."""
    if not items:
        return
    with ray_session(address, settings) as ray:
        from ray.util import ActorPool

        remote = ray.remote(num_cpus=1, max_restarts=0)(cls)
        actors = [remote.remote(*args) for _ in range(min(pool_size(ray, settings), len(items)))]
        try:
            yield from ActorPool(actors).map_unordered(lambda actor, item: actor.run.remote(item), items)
        finally:
            for actor in actors:
                ray.kill(actor)
