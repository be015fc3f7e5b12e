"""The passage index: FAISS vectors + SQLite passage store + a self-describing manifest, written atomically.

Layout of an index directory::

    manifest.json        the commit point: names the live generation, embedder, chunking, per-article hashes
    gen-000007/          one generation: vectors.faiss (IndexIDMap2 over inner product) + store.sqlite,
                         plus ann.faiss (HNSW over the same vectors) once the index outgrows `ann_threshold`
    .lock                advisory lock serialising writers across processes

A write builds a complete new generation beside the live one and then replaces `manifest.json` with
`os.replace`, so a reader (or a crash at any point) sees either the old or the new index, never a mix.
The on-disk format, its writer and its reader stay in this one module (~600 lines) so that the atomic
publish protocol is read and changed in one place.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime
from pathlib import Path

import faiss
import numpy as np
from pydantic import BaseModel, Field

from .chunk import UNITS_VERSION, chunk_article, passage_units
from .embed import Embedder
from .errors import ArticleNotFoundError, EmbedderMismatchError, IndexCorruptError, IndexMissingError
from .models import Article, ArticleMeta, Passage

log = logging.getLogger("factcheck.index")

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
FLAT = "flat-ip"
# HNSW graph degree and build beam: M=32 / efConstruction=40 reach recall@10 >= 0.95 at efSearch 64-128
# on MiniLM vectors (see `factcheck bench`); the flat IDMap2 index stays the store of record.
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 40
DEFAULT_EF_SEARCH = 128


def hnsw_type(m: int = HNSW_M) -> str:
    """The manifest's `index_type` for an HNSW search structure."""
    return f"hnsw-flat-m{m}"


def flat_vectors(index: faiss.IndexIDMap2) -> tuple[np.ndarray, np.ndarray]:
    """(vectors, ids) held by an IndexIDMap2 over a flat index, in storage order."""
    n = index.ntotal
    ids = faiss.vector_to_array(index.id_map).astype(np.int64)
    vecs = index.index.reconstruct_n(0, n) if n else np.zeros((0, index.d), dtype=np.float32)
    return np.ascontiguousarray(vecs, dtype=np.float32), ids


def build_hnsw(
    vecs: np.ndarray,
    ids: np.ndarray,
    *,
    m: int = HNSW_M,
    ef_construction: int = HNSW_EF_CONSTRUCTION,
    ef_search: int = DEFAULT_EF_SEARCH,
) -> faiss.Index:
    """An HNSW (inner product) index over `vecs`, searchable by passage id."""
    hnsw = faiss.IndexHNSWFlat(vecs.shape[1], m, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = ef_construction
    hnsw.hnsw.efSearch = ef_search
    ann = faiss.IndexIDMap(hnsw)
    if len(ids):
        ann.add_with_ids(vecs, ids)
    return ann


class EmbedderInfo(BaseModel):
    """Which embedder produced the vectors."""

    name: str
    dim: int


class ChunkingInfo(BaseModel):
    """How articles were cut into passages."""

    max_chars: int
    overlap_sentences: int


class UnitsInfo(BaseModel):
    """The verifier's units (sentence and sentence-pair spans) stored per passage at index time."""

    version: str = UNITS_VERSION


class ArticleEntry(BaseModel):
    """Per-article bookkeeping in the manifest."""

    hash: str
    passages: int
    title: str = ""
    published: date | None = None


class Manifest(BaseModel):
    """The index's description of itself (on disk as manifest.json)."""

    format_version: int = FORMAT_VERSION
    generation: int = 0
    embedder: EmbedderInfo
    chunking: ChunkingInfo
    index_type: str = FLAT  # or hnsw-flat-m32: the structure dense search uses (see FactIndex.ann_threshold)
    n_articles: int = 0
    n_passages: int = 0
    next_passage_id: int = 0
    articles: dict[str, ArticleEntry] = Field(default_factory=dict)
    units: UnitsInfo | None = None  # None: an index written before units were stored (split at query time)
    created: datetime
    updated: datetime

    @property
    def gen_dir(self) -> str:
        """Folder name of the live generation."""
        return f"gen-{self.generation:06d}"

    def holds(self, article: Article) -> bool:
        """Whether this generation already has `article` with the same content (a write would skip it)."""
        entry = self.articles.get(article.id)
        return entry is not None and entry.hash == article_hash(article)


class AddReport(BaseModel):
    """What an add/remove did."""

    added: list[str] = Field(default_factory=list)
    replaced: list[str] = Field(default_factory=list)
    unchanged: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    passages_added: int = 0
    passages_removed: int = 0


class IndexStats(BaseModel):
    """Summary for `factcheck index stats` and `/health`."""

    path: str
    generation: int
    embedder: str
    dim: int
    index_type: str
    articles: int
    passages: int
    chunking: ChunkingInfo
    created: datetime
    updated: datetime
    manifest_sha256: str


def article_hash(article: Article) -> str:
    """Content hash deciding whether a re-added article changed."""
    payload = article.model_dump(mode="json", exclude={"path"})
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


_SCHEMA = """
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, text TEXT NOT NULL, url TEXT, source TEXT,
    published TEXT, path TEXT, hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS passages (
    vid INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, article_id TEXT NOT NULL, ord INTEGER NOT NULL,
    start INTEGER NOT NULL, "end" INTEGER NOT NULL, text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS passages_article ON passages(article_id);
CREATE TABLE IF NOT EXISTS units (vid INTEGER PRIMARY KEY, spans TEXT NOT NULL);
"""


def _meta_from_row(row: sqlite3.Row) -> ArticleMeta:
    """ArticleMeta from an `articles` row."""
    pub = row["published"]
    return ArticleMeta(
        id=row["id"],
        title=row["title"],
        url=row["url"],
        source=row["source"],
        published=date.fromisoformat(pub) if pub else None,
    )


class Snapshot:
    """An immutable, loaded generation of the index; safe to share between threads."""

    def __init__(self, root: Path, manifest: Manifest, manifest_sha256: str):
        self.root = root
        self.manifest = manifest
        self.manifest_sha256 = manifest_sha256
        gen = root / manifest.gen_dir
        store, vectors = gen / "store.sqlite", gen / "vectors.faiss"
        if not store.exists() or not vectors.exists():
            raise IndexCorruptError(f"index at {root} names {manifest.gen_dir} but its files are missing")
        # One connection opened now: on POSIX the open file outlives the generation's deletion, so a
        # check still holding this snapshot keeps working after a newer generation is published.
        try:
            self._conn = sqlite3.connect(f"file:{store}?mode=ro&immutable=1", uri=True, check_same_thread=False)
            # SQLite opens the file lazily: read it now, while the generation is known to exist.
            self._conn.execute("SELECT count(*) FROM articles").fetchone()
            self.faiss = faiss.read_index(str(vectors))
        except (sqlite3.Error, RuntimeError) as exc:  # faiss raises RuntimeError for a file gone mid-read
            raise IndexCorruptError(f"index at {root}: cannot read {manifest.gen_dir}: {exc}") from exc
        self._conn.row_factory = sqlite3.Row
        self._conn_lock = threading.Lock()
        if self.faiss.ntotal != manifest.n_passages:
            raise IndexCorruptError(
                f"index at {root}: {self.faiss.ntotal} vectors but manifest says {manifest.n_passages} passages"
            )
        # The ANN structure, when the manifest names one; exact search over `self.faiss` otherwise.
        self.ann = None
        if manifest.index_type != FLAT:
            ann_path = gen / "ann.faiss"
            if not ann_path.exists():
                raise IndexCorruptError(f"index at {root} is {manifest.index_type} but {ann_path.name} is missing")
            try:
                self.ann = faiss.read_index(str(ann_path))
            except RuntimeError as exc:
                raise IndexCorruptError(f"index at {root}: cannot read {ann_path.name}: {exc}") from exc
            if self.ann.ntotal != manifest.n_passages:
                raise IndexCorruptError(
                    f"index at {root}: ann.faiss holds {self.ann.ntotal} vectors, not {manifest.n_passages}"
                )
        self._bm25 = None
        self._bm25_lock = threading.Lock()

    def search(self, vectors: np.ndarray, k: int, *, ef_search: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) of the k nearest passages by inner product: HNSW when built, else exact."""
        q = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.manifest.embedder.dim)
        # One query gains nothing from an OpenMP team and loses a lot when cores are busy: a 20k flat scan
        # took 32 ms with 2 threads vs 1.2 ms with 1 on a loaded 2-core box (`factcheck bench`). The
        # setting is per calling thread, so it is restored for whatever else the thread runs.
        threads = faiss.omp_get_max_threads()
        if len(q) == 1:
            faiss.omp_set_num_threads(1)
        try:
            if self.ann is None:
                return self.faiss.search(q, k)
            # Per-call parameters: no shared state is mutated, so concurrent searches stay safe.
            params = faiss.SearchParametersHNSW(  # type: ignore[attr-defined]  # missing from faiss's stubs
                efSearch=max(k, ef_search or DEFAULT_EF_SEARCH)
            )
            return self.ann.search(q, k, params=params)
        finally:
            faiss.omp_set_num_threads(threads)

    def _query(self, sql: str, params: Iterable = ()) -> list[sqlite3.Row]:
        """Run a read query on the snapshot's store (one connection, serialised)."""
        with self._conn_lock:
            return self._conn.execute(sql, tuple(params)).fetchall()

    def passages(self, vids: Iterable[int]) -> dict[int, tuple[Passage, ArticleMeta]]:
        """Passages and their article metadata by vector id."""
        vids = [int(v) for v in vids]
        if not vids:
            return {}
        marks = ",".join("?" * len(vids))
        # Units stored by this code's splitter are read back; an older index's passages are split at query time.
        stored = self.manifest.units is not None and self.manifest.units.version == UNITS_VERSION
        units = "u.spans" if stored else "NULL"
        join = "LEFT JOIN units u ON u.vid = p.vid " if stored else ""
        rows = self._query(
            f'SELECT p.vid, p.id AS pid, p.article_id, p.ord, p.start, p."end", p.text AS ptext, {units} AS spans, '
            f"a.id, a.title, a.url, a.source, a.published FROM passages p JOIN articles a ON a.id = p.article_id "
            f"{join}WHERE p.vid IN ({marks})",
            vids,
        )
        return {
            r["vid"]: (
                Passage(
                    id=r["pid"],
                    article_id=r["article_id"],
                    ord=r["ord"],
                    text=r["ptext"],
                    start=r["start"],
                    end=r["end"],
                    units=[tuple(span) for span in json.loads(r["spans"])] if r["spans"] else None,
                ),
                _meta_from_row(r),
            )
            for r in rows
        }

    def article(self, article_id: str) -> Article | None:
        """The full article, or None."""
        found = self._query("SELECT * FROM articles WHERE id = ?", (article_id,))
        if not found:
            return None
        r = found[0]
        return Article(
            id=r["id"],
            title=r["title"],
            text=r["text"],
            url=r["url"],
            source=r["source"],
            published=date.fromisoformat(r["published"]) if r["published"] else None,
            path=r["path"],
        )

    def article_metas(self) -> list[ArticleMeta]:
        """Metadata of every article, ordered by id."""
        rows = self._query("SELECT id, title, url, source, published FROM articles ORDER BY id")
        return [_meta_from_row(r) for r in rows]

    def iter_passage_texts(self) -> Iterator[tuple[int, str]]:
        """(vector id, text) of every passage in vector-id order."""
        yield from ((r["vid"], r["text"]) for r in self._query("SELECT vid, text FROM passages ORDER BY vid"))

    def vectors(self, vids: Iterable[int]) -> np.ndarray:
        """Stored unit vectors of the given passages."""
        vids = [int(v) for v in vids]
        if not vids:
            return np.zeros((0, self.manifest.embedder.dim), dtype=np.float32)
        return np.vstack([self.faiss.reconstruct(v) for v in vids]).astype(np.float32)

    def bm25(self):
        """(bm25s retriever, vector ids) built lazily once per snapshot."""
        with self._bm25_lock:
            if self._bm25 is None:
                from .sparse import build_bm25

                vids, texts = zip(*self.iter_passage_texts()) if self.manifest.n_passages else ((), ())
                self._bm25 = build_bm25(list(texts), np.asarray(vids, dtype=np.int64))
            return self._bm25

    def stats(self) -> IndexStats:
        """Counts and provenance of this generation."""
        m = self.manifest
        return IndexStats(
            path=str(self.root),
            generation=m.generation,
            embedder=m.embedder.name,
            dim=m.embedder.dim,
            index_type=m.index_type,
            articles=m.n_articles,
            passages=m.n_passages,
            chunking=m.chunking,
            created=m.created,
            updated=m.updated,
            manifest_sha256=self.manifest_sha256,
        )


class FactIndex:
    """A directory-backed index; readers take `snapshot()`, writers publish a new generation atomically."""

    def __init__(
        self,
        root: Path,
        embedder: Embedder,
        snapshot: Snapshot | None,
        chunking: ChunkingInfo,
        rebuild: bool = False,
        ann_threshold: int | None = None,
        stamp: tuple[int, int, int] | None = None,
    ):
        self.root = root
        self.embedder = embedder
        # Passages from which a write also builds the HNSW search structure (None: always exact).
        self.ann_threshold = ann_threshold
        self._snapshot = snapshot
        # (inode, mtime, size) of the manifest the snapshot was read from: a change means a newer generation.
        self._stamp = stamp
        self._chunking = snapshot.manifest.chunking if snapshot else chunking
        self._write_lock = threading.Lock()
        self._reload_lock = threading.Lock()
        # A rebuild ignores what is on disk until its first generation is published over it.
        self._rebuild = rebuild

    @classmethod
    def open(
        cls,
        root: Path | str,
        embedder: Embedder,
        *,
        create: bool = False,
        rebuild: bool = False,
        max_chars: int = 600,
        overlap_sentences: int = 1,
        ann_threshold: int | None = None,
    ) -> FactIndex:
        """Open an index; with `create`, an absent one starts empty. Refuses a mismatched embedder.

        With `rebuild`, the existing index stays live until the first write replaces it whole. Writes that
        leave at least `ann_threshold` passages also build an HNSW structure that dense search then uses.
        """
        root = Path(root)
        chunking = ChunkingInfo(max_chars=max_chars, overlap_sentences=overlap_sentences)
        if rebuild:
            return cls(root, embedder, None, chunking, rebuild=True, ann_threshold=ann_threshold)
        if not (root / MANIFEST).exists():
            if not create:
                raise IndexMissingError(f"no index at {root} (build one with: factcheck index build PATH...)")
            return cls(root, embedder, None, chunking, ann_threshold=ann_threshold)
        stamp, snap = _load_latest(root)
        _check_embedder(snap, embedder)
        return cls(root, embedder, snap, chunking, ann_threshold=ann_threshold, stamp=stamp)

    def snapshot(self) -> Snapshot:
        """The live generation (raises IndexMissingError when nothing was built yet)."""
        snap = self._current()
        if snap is None:
            raise IndexMissingError(f"no index at {self.root} yet (build one with: factcheck index build PATH...)")
        return snap

    def _current(self) -> Snapshot | None:
        """The live generation, reloaded first when another process published since (one stat per call)."""
        if self._rebuild:
            return self._snapshot  # a rebuild ignores what is on disk until it publishes
        stamp = _manifest_stamp(self.root)
        if stamp is not None and stamp != self._stamp:
            with self._reload_lock:
                if _manifest_stamp(self.root) != self._stamp:  # another thread may have reloaded meanwhile
                    self._reload()
        return self._snapshot

    def _reload(self) -> None:
        """Adopt the generation on disk; a replica keeps serving what it has when that one is unusable."""
        try:
            stamp, snap = _load_latest(self.root)
            _check_embedder(snap, self.embedder)
        except (IndexCorruptError, EmbedderMismatchError) as exc:
            if self._snapshot is None:
                raise
            log.warning("keeping generation %d: %s", self._snapshot.manifest.generation, exc)
            self._stamp = _manifest_stamp(self.root)  # warn once per published manifest, not per call
            return
        self._snapshot, self._stamp = snap, stamp

    @property
    def empty(self) -> bool:
        """True before the first write."""
        return self._current() is None

    def get_article(self, article_id: str) -> Article:
        """The stored article, or ArticleNotFoundError."""
        snap = self._current()
        art = snap.article(article_id) if snap else None
        if art is None:
            raise ArticleNotFoundError(f"no article {article_id!r} in the index")
        return art

    def stats(self) -> IndexStats:
        """Counts and provenance of the live generation."""
        return self.snapshot().stats()

    def add_articles(
        self,
        articles: Iterable[Article],
        *,
        progress: bool = False,
        batch_size: int = 64,
        vectors: Mapping[str, np.ndarray] | None = None,
    ) -> AddReport:
        """Add new articles, replace changed ones, skip unchanged ones; publishes one new generation.

        `vectors` holds passage vectors computed elsewhere (a Ray build) by passage id; passages it lacks are
        embedded here, so the generation is the same whichever process embedded it.
        """
        articles = list(articles)
        report = AddReport()
        with self._writer() as (old, manifest):
            changed: list[Article] = []
            for art in articles:
                if manifest.holds(art):
                    report.unchanged.append(art.id)
                    continue
                (report.replaced if art.id in manifest.articles else report.added).append(art.id)
                changed.append(art)
            if not changed:
                return report
            self._publish(old, manifest, changed, [a.id for a in changed], report, progress, batch_size, vectors)
        return report

    def remove(self, article_ids: Iterable[str]) -> AddReport:
        """Delete articles and their passages; unknown ids raise ArticleNotFoundError."""
        ids = list(dict.fromkeys(article_ids))
        report = AddReport()
        with self._writer() as (old, manifest):
            missing = [i for i in ids if i not in manifest.articles]
            if missing:
                raise ArticleNotFoundError(f"no article {missing[0]!r} in the index")
            report.removed = ids
            self._publish(old, manifest, [], ids, report, False, 64)
        return report

    @contextlib.contextmanager
    def _writer(self):
        """Serialise writers (threads and processes) and hand over the current manifest."""
        self.root.mkdir(parents=True, exist_ok=True)
        with self._write_lock, open(self.root / ".lock", "a+") as lockf:
            fcntl.flock(lockf, fcntl.LOCK_EX)
            try:
                # Under the lock no writer replaces the manifest or deletes generations: one read is enough.
                stamp = _manifest_stamp(self.root)
                on_disk = _load_snapshot(self.root) if stamp is not None else None
                now = datetime.now(UTC)
                if self._rebuild or on_disk is None:
                    old = None
                    manifest = Manifest(
                        embedder=EmbedderInfo(name=self.embedder.name, dim=self.embedder.dim),
                        chunking=self._chunking,
                        created=now,
                        updated=now,
                        generation=on_disk.manifest.generation if on_disk else 0,
                    )
                else:
                    # Another process may have published since we loaded: always start from disk.
                    old = self._snapshot = on_disk
                    self._stamp = stamp
                    manifest = old.manifest.model_copy(deep=True)
                yield old, manifest
                self._rebuild = False
            finally:
                fcntl.flock(lockf, fcntl.LOCK_UN)

    def _publish(self, old, manifest, new_articles, drop_ids, report, progress, batch_size, given=None) -> None:
        """Write a complete new generation, then swap the manifest (the atomic commit)."""
        manifest.generation += 1
        gen = self.root / manifest.gen_dir
        tmp = self.root / (manifest.gen_dir + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        store = tmp / "store.sqlite"
        if old is not None:
            shutil.copyfile(self.root / old.manifest.gen_dir / "store.sqlite", store)
            vectors = faiss.clone_index(old.faiss)
        else:
            vectors = faiss.IndexIDMap2(faiss.IndexFlatIP(self.embedder.dim))
        conn = sqlite3.connect(store)
        try:
            conn.executescript(_SCHEMA)
            _drop_articles(conn, vectors, manifest, drop_ids, report)
            rows, texts = _insert_articles(conn, manifest, new_articles)
            _store_units(conn, manifest)
            if texts:
                vecs = _passage_vectors(self.embedder, rows, texts, given or {}, batch_size, progress)
                vectors.add_with_ids(vecs, np.asarray([r[0] for r in rows], dtype=np.int64))
            report.passages_added = len(rows)
            conn.commit()
        finally:
            conn.close()
        faiss.write_index(vectors, str(tmp / "vectors.faiss"))
        ann = self._ann_for(old, vectors, rows, vecs if texts else None, removed=report.passages_removed > 0)
        manifest.index_type = hnsw_type() if ann is not None else FLAT
        if ann is not None:
            faiss.write_index(ann, str(tmp / "ann.faiss"))
        _fsync_dir(tmp)
        # A crash between this rename and the manifest swap can leave an unreferenced dir of this name.
        shutil.rmtree(gen, ignore_errors=True)
        os.replace(tmp, gen)
        manifest.n_articles = len(manifest.articles)
        manifest.n_passages = int(vectors.ntotal)
        manifest.updated = datetime.now(UTC)
        _atomic_write(self.root / MANIFEST, manifest.model_dump_json(indent=2))
        self._stamp, self._snapshot = _manifest_stamp(self.root), _load_snapshot(self.root)
        # Old generations are unreferenced now; readers holding an old Snapshot keep their open handles.
        for stale in self.root.glob("gen-*"):
            if stale.name != manifest.gen_dir:
                shutil.rmtree(stale, ignore_errors=True)

    def _ann_for(self, old, vectors, rows, new_vecs, *, removed: bool):
        """The HNSW structure for the new generation, or None while the index is below the threshold."""
        if self.ann_threshold is None or vectors.ntotal < self.ann_threshold:
            return None
        if old is not None and old.ann is not None and not removed:
            # Add-only write: extend a copy of the live graph instead of rebuilding it.
            ann = faiss.clone_index(old.ann)
            if new_vecs is not None:
                ann.add_with_ids(new_vecs, np.asarray([r[0] for r in rows], dtype=np.int64))
            return ann
        # HNSW cannot delete: after a removal (or on crossing the threshold) build it from the store.
        return build_hnsw(*flat_vectors(vectors))


def _drop_articles(conn: sqlite3.Connection, vectors, manifest: Manifest, drop_ids, report: AddReport) -> None:
    """Remove replaced/removed articles from the store, the vectors and the manifest."""
    for aid in drop_ids:
        if aid not in manifest.articles:
            continue
        vids = [r[0] for r in conn.execute("SELECT vid FROM passages WHERE article_id = ?", (aid,))]
        if vids:
            # faiss's Python wrapper takes an id array; its stubs only know the C++ IDSelector
            vectors.remove_ids(np.asarray(vids, dtype=np.int64))  # type: ignore[arg-type]
        conn.execute("DELETE FROM passages WHERE article_id = ?", (aid,))
        conn.execute("DELETE FROM articles WHERE id = ?", (aid,))
        report.passages_removed += len(vids)
        del manifest.articles[aid]


def _insert_articles(conn: sqlite3.Connection, manifest: Manifest, new_articles) -> tuple[list[tuple], list[str]]:
    """Chunk the new/changed articles into the store; the passage rows and texts to embed."""
    rows: list[tuple] = []
    texts: list[str] = []
    for art in new_articles:
        passages = chunk_article(art, manifest.chunking.max_chars, manifest.chunking.overlap_sentences)
        conn.execute(
            "INSERT INTO articles (id, title, text, url, source, published, path, hash) VALUES (?,?,?,?,?,?,?,?)",
            (
                art.id,
                art.title,
                art.text,
                art.url,
                art.source,
                art.published.isoformat() if art.published else None,
                art.path,
                article_hash(art),
            ),
        )
        for p in passages:
            vid = manifest.next_passage_id
            manifest.next_passage_id += 1
            rows.append((vid, p.id, p.article_id, p.ord, p.start, p.end, p.text))
            texts.append(p.text)
        manifest.articles[art.id] = ArticleEntry(
            hash=article_hash(art), passages=len(passages), title=art.title, published=art.published
        )
    conn.executemany('INSERT INTO passages (vid, id, article_id, ord, start, "end", text) VALUES (?,?,?,?,?,?,?)', rows)
    return rows, texts


def _passage_vectors(embedder: Embedder, rows, texts, given: Mapping[str, np.ndarray], batch_size, progress):
    """Vectors of the new passages: those given (by passage id) as they are, the others embedded now."""
    if not given:
        return embedder.embed(texts, batch_size=batch_size, progress=progress)
    out = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    missing = []
    for i, row in enumerate(rows):
        vec = given.get(row[1])
        if vec is None:
            missing.append(i)
        elif vec.shape != (embedder.dim,):
            raise EmbedderMismatchError(f"passage {row[1]}: vector of shape {vec.shape}, index dim {embedder.dim}")
        else:
            out[i] = vec
    if missing:
        out[missing] = embedder.embed([texts[i] for i in missing], batch_size=batch_size, progress=progress)
    return out


def _store_units(conn: sqlite3.Connection, manifest: Manifest) -> None:
    """The verifier's units, for every passage that has none stored yet (an older index's too)."""
    if manifest.units is not None and manifest.units.version != UNITS_VERSION:
        conn.execute("DELETE FROM units")  # another splitter's spans: recompute them all
    missing = conn.execute("SELECT vid, text FROM passages WHERE vid NOT IN (SELECT vid FROM units)")
    conn.executemany(
        "INSERT INTO units (vid, spans) VALUES (?, ?)",
        [(vid, json.dumps(passage_units(text))) for vid, text in missing.fetchall()],
    )
    manifest.units = UnitsInfo()


def _manifest_stamp(root: Path) -> tuple[int, int, int] | None:
    """(inode, mtime ns, size) of manifest.json, None when absent: every publish (os.replace) changes it."""
    try:
        st = (root / MANIFEST).stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def _load_latest(root: Path, attempts: int = 5) -> tuple[tuple[int, int, int] | None, Snapshot]:
    """(stamp, snapshot) of the generation manifest.json names, re-read when a writer replaced it mid-load.

    A writer deletes old generations only after swapping the manifest, so a generation that vanished under
    a reader means the manifest changed: read it again. An unchanged manifest naming missing files is corrupt.
    """
    for attempt in range(attempts):
        stamp = _manifest_stamp(root)
        try:
            return stamp, _load_snapshot(root)
        except IndexCorruptError:
            if attempt == attempts - 1 or _manifest_stamp(root) == stamp:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _check_embedder(snap: Snapshot, embedder: Embedder) -> None:
    """Refuse an index whose vectors another embedder made."""
    info = snap.manifest.embedder
    if info.name != embedder.name or info.dim != embedder.dim:
        raise EmbedderMismatchError(
            f"index at {snap.root} was built with embedder {info.name!r} (dim {info.dim}) but {embedder.name!r} "
            f"(dim {embedder.dim}) is configured; set FACTCHECK_EMBEDDER to match or rebuild with --rebuild"
        )


def _load_snapshot(root: Path) -> Snapshot:
    """Read manifest.json and load the generation it names."""
    raw = (root / MANIFEST).read_bytes()
    try:
        manifest = Manifest.model_validate_json(raw)
    except ValueError as exc:
        raise IndexCorruptError(f"unreadable manifest at {root / MANIFEST}: {exc}") from exc
    if manifest.format_version != FORMAT_VERSION:
        raise IndexCorruptError(f"index format {manifest.format_version} unsupported (expected {FORMAT_VERSION})")
    return Snapshot(root, manifest, hashlib.sha256(raw).hexdigest())


def _atomic_write(path: Path, text: str) -> None:
    """Write via a temp file + fsync + os.replace so the file is always whole."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    """Persist a directory entry change (rename) on POSIX."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
