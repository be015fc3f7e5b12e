"""Batch evaluation: load a labelled claim set, run the pipeline over it, and write metrics, plots and a report.

Formats (`--format`, `auto` guesses from the rows):

* `jsonl`: our rows `{"id", "claim", "label", "evidence": [article ids]}` (extra keys such as `category` are
  kept). The corpus is `--corpus` (an index directory, or article files/folders to index), else the
  configured index (`FACTCHECK_INDEX_DIR`) when it exists, else a `corpus/` folder beside the dataset's
  folder (the layout of `evals/`), indexed into the run directory.
* `scifact`: SciFact claim-level rows (label SUPPORT / CONTRADICT / NEI, gold = the doc ids in `evidence`)
  plus its `corpus.jsonl` (abstract sentences joined into the article text, title as title, doc_id as id).
* `climate-fever`: rows with `label3` supported / contradicted / nei / disputed; gold = the evidence
  sentences labelled SUPPORTS or REFUTES. DISPUTED claims are run and reported apart, never in the 3-way
  metrics. Corpus: each evidence sentence is one article (id "Article:idx").
* `healthver`: `claims_*.jsonl`; the claim label is the majority `label3` over its labelled evidence
  pairs (Supports / Refutes / Neutral, duplicates counted), a tie -> unverified (mixed evidence is not a
  clear verdict); gold = the evidence ids carrying the winning label. Corpus: `corpus.jsonl` (id, text).

Corpora given as dataset files are indexed once into `.cache/indexes/<key>/`, where the key hashes the corpus
file, the embedder and the chunking, and reused by later runs.

A run directory holds `run.json` (what was run), `cases.jsonl` (one line per finished case, appended and
flushed as it finishes, so a rerun with the same `--out` resumes), `summary.json`, `report.md`,
`confusion.png` and `reliability.png`.

One module (~1,100 lines) on purpose: loaders, runner, summary, report and compare all read and write the
same run-directory format (`CaseResult`, `summary.json`), and metrics live in `metrics.py`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from pydantic import BaseModel, Field

from .errors import FactcheckError, InputError
from .metrics import (
    ECE_BINS,
    accuracy,
    citation_precision,
    cohen_kappa,
    confusion_matrix,
    ece,
    evidence_recall_at_k,
    macro_f1,
    paired_bootstrap_macro_f1,
    per_label_scores,
    percentile,
    reliability_bins,
    risk_coverage,
)
from .models import LABELS, Article, SearchHit, Verdict
from .settings import Settings

log = logging.getLogger("factcheck.evals")

FORMATS = ("auto", "jsonl", "scifact", "climate-fever", "healthver")
DISPUTED = "disputed"
# Fixed a priori (never tuned on a reported set): a claim whose nearest passage has cosine >= 0.6 under the
# configured embedder counts as "supported" for the similarity baseline, anything else as "unverified".
SIMILARITY_THRESHOLD = 0.6
DEFAULT_CACHE = Path(".cache/indexes")
_LABEL_MAP = {
    "supported": "supported",
    "support": "supported",
    "supports": "supported",
    "true": "supported",
    "contradicted": "contradicted",
    "contradict": "contradicted",
    "refutes": "contradicted",
    "refuted": "contradicted",
    "false": "contradicted",
    "unverified": "unverified",
    "nei": "unverified",
    "not_enough_info": "unverified",
    "neutral": "unverified",
    "disputed": DISPUTED,
}


# --------------------------------------------------------------------------------------------------
# Data types


class EvalCase(BaseModel):
    """One labelled claim; `label` is one of LABELS or 'disputed'."""

    id: str
    claim: str
    label: str
    evidence: list[str] = Field(default_factory=list)
    category: str | None = None


class CorpusSpec(BaseModel):
    """Where the articles for a dataset come from."""

    kind: str  # "index" (an existing index dir), "files" (articles to ingest), "dataset" (a corpus.jsonl)
    path: Path
    also: list[Path] = []  # more article folders or files, for kind "files" (a set over several corpora)
    fmt: str | None = None  # the dataset format, for kind == "dataset"


class EvalSet(BaseModel):
    """A loaded dataset: its cases, where its corpus is, and provenance."""

    name: str
    path: Path
    fmt: str
    sha256: str
    cases: list[EvalCase]
    corpus: CorpusSpec | None = None
    label_policy: str = ""


class CaseResult(BaseModel):
    """The outcome of one case as stored in cases.jsonl."""

    id: str
    claim: str
    gold: str
    pred: str | None = None
    confidence: float | None = None
    category: str | None = None
    gold_evidence: list[str] = Field(default_factory=list)
    retrieved: list[str] = Field(default_factory=list)  # article ids in rank order, syndicated copies included
    cited: list[str] = Field(default_factory=list)  # distinct cited article ids
    citations_total: int = 0
    citations_valid: int = 0
    top1_dense: float | None = None
    latency_ms: float | None = None
    usage: dict[str, float] = Field(default_factory=dict)
    judge: str | None = None
    judge_version: str | None = None
    prompt_version: str | None = None
    model: str | None = None
    fallback_reason: str | None = None
    decided_by: str | None = None  # the judge stage that decided (e.g. verifier-v10:top5, verifier-v10:all)
    runtime: str | None = None  # how the judge's network ran (e.g. torch-bf16)
    explanation: str | None = None
    error: str | None = None


# --------------------------------------------------------------------------------------------------
# Metrics (pure functions)


def normalize_label(raw: str) -> str:
    """Map a dataset label (SUPPORT, REFUTES, NEI, ...) to ours; raise InputError on anything else."""
    key = str(raw).strip().lower().replace(" ", "_")
    if key not in _LABEL_MAP:
        raise InputError(f"unknown label {raw!r} (expected supported / contradicted / unverified)")
    return _LABEL_MAP[key]


def label_metrics(gold: Sequence[str], pred: Sequence[str]) -> dict:
    """Accuracy, macro-F1, per-label scores and the confusion matrix for 3-way labels."""
    m = confusion_matrix(gold, pred)
    return {
        "n": len(gold),
        "accuracy": accuracy(gold, pred),
        "macro_f1": macro_f1(m),
        "per_label": per_label_scores(m),
        "confusion": {"labels": list(LABELS), "rows": "gold", "columns": "predicted", "matrix": m},
    }


def similarity_baseline(top1: Sequence[float | None], threshold: float = SIMILARITY_THRESHOLD) -> list[str]:
    """Predict supported when the nearest passage's cosine reaches the threshold, else unverified."""
    return ["supported" if s is not None and s >= threshold else "unverified" for s in top1]


def majority_baseline(gold: Sequence[str]) -> tuple[str | None, list[str]]:
    """The most frequent gold label (ties: LABELS order) and the constant prediction list."""
    if not gold:
        return None, []
    counts = Counter(gold)
    label = max(LABELS, key=lambda lab: (counts[lab], -LABELS.index(lab)))
    return label, [label] * len(gold)


# --------------------------------------------------------------------------------------------------
# Loading datasets


def _sha256(path: Path) -> str:
    """Hex sha256 of a file."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def read_jsonl(path: Path) -> list[dict]:
    """Rows of a JSON-lines file; a bad line is an InputError naming the line."""
    rows = []
    try:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InputError(f"{path}:{n}: not valid JSON ({exc.msg})") from None
                if not isinstance(row, dict):
                    raise InputError(f"{path}:{n}: expected a JSON object")
                rows.append(row)
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
    return rows


def detect_format(rows: list[dict]) -> str:
    """Guess the dataset format from its first row."""
    if not rows:
        raise InputError("dataset is empty")
    r = rows[0]
    if "claim_id" in r and isinstance(r.get("evidence"), list):
        return "healthver"
    if isinstance(r.get("evidence"), dict) or "cited_doc_ids" in r:
        return "scifact"
    ev = r.get("evidence")
    if "label3" in r and isinstance(ev, list) and ev and isinstance(ev[0], dict) and "evidence_id" in ev[0]:
        return "climate-fever"
    return "jsonl"


def _require(row: dict, keys: Iterable[str], where: str) -> None:
    """InputError unless every key is present."""
    missing = [k for k in keys if k not in row]
    if missing:
        raise InputError(f"{where}: missing field(s) {', '.join(missing)}")


def _cases_jsonl(rows: list[dict], path: Path) -> list[EvalCase]:
    """Our own row format."""
    cases = []
    for n, r in enumerate(rows, 1):
        _require(r, ("id", "claim", "label"), f"{path} row {n}")
        ev = r.get("evidence") or []
        if not isinstance(ev, list):
            raise InputError(f"{path} row {n}: evidence must be a list of article ids")
        cases.append(
            EvalCase(
                id=str(r["id"]),
                claim=str(r["claim"]),
                label=normalize_label(r["label"]),
                evidence=[str(e) for e in ev],
                category=r.get("category") or r.get("kind"),  # the robustness suite tags each case with its kind
            )
        )
    return cases


def _cases_scifact(rows: list[dict], path: Path) -> list[EvalCase]:
    """SciFact claim-level rows; gold evidence = the doc ids with rationales."""
    cases = []
    for n, r in enumerate(rows, 1):
        _require(r, ("id", "claim"), f"{path} row {n}")
        raw = r.get("label3") or r.get("label")
        if raw is None:
            raise InputError(f"{path} row {n}: no claim-level label (use claims_*_claimlevel.jsonl)")
        label = normalize_label(raw)
        ev = [str(d) for d in (r.get("evidence") or {})] if label != "unverified" else []
        cases.append(EvalCase(id=str(r["id"]), claim=r["claim"], label=label, evidence=ev))
    return cases


def _cases_climate_fever(rows: list[dict], path: Path) -> list[EvalCase]:
    """Climate-FEVER rows; gold evidence = sentences labelled SUPPORTS or REFUTES."""
    cases = []
    for n, r in enumerate(rows, 1):
        _require(r, ("id", "claim", "label3"), f"{path} row {n}")
        label = normalize_label(r["label3"])
        ev = [
            e["evidence_id"]
            for e in r.get("evidence") or []
            if normalize_label(e.get("label3") or e.get("label")) in ("supported", "contradicted")
        ]
        cases.append(
            EvalCase(id=str(r["id"]), claim=r["claim"], label=label, evidence=ev if label != "unverified" else [])
        )
    return cases


def healthver_label(evidence_labels: Iterable[str]) -> str:
    """Majority label over a claim's labelled evidence pairs; a tie for the top is 'unverified'."""
    counts = Counter(normalize_label(x) for x in evidence_labels)
    if not counts:
        return "unverified"
    top = counts.most_common()
    if len(top) > 1 and top[0][1] == top[1][1]:
        return "unverified"
    return top[0][0]


def _cases_healthver(rows: list[dict], path: Path) -> list[EvalCase]:
    """HealthVer claim rows; label by majority of evidence pairs, gold = evidence carrying that label."""
    cases = []
    for n, r in enumerate(rows, 1):
        _require(r, ("claim_id", "claim", "evidence"), f"{path} row {n}")
        ev = r["evidence"] or []
        label = healthver_label(e.get("label3") or e.get("label") for e in ev)
        gold = (
            []
            if label == "unverified"
            else list(
                dict.fromkeys(
                    e["evidence_id"] for e in ev if normalize_label(e.get("label3") or e.get("label")) == label
                )
            )
        )
        cases.append(EvalCase(id=str(r["claim_id"]), claim=r["claim"], label=label, evidence=gold))
    return cases


_LOADERS: dict[str, Callable[[list[dict], Path], list[EvalCase]]] = {
    "jsonl": _cases_jsonl,
    "scifact": _cases_scifact,
    "climate-fever": _cases_climate_fever,
    "healthver": _cases_healthver,
}
_POLICIES = {
    "jsonl": "labels as given",
    "scifact": "claim-level SUPPORT/CONTRADICT/NEI; gold = doc ids with rationales",
    "climate-fever": "label3; DISPUTED reported apart; gold = SUPPORTS/REFUTES evidence sentences",
    "healthver": "majority label3 over evidence pairs, tie -> unverified; gold = evidence with the winning label",
}


def load_eval_set(path: Path | str, fmt: str = "auto", corpus: Path | str | None = None) -> EvalSet:
    """Read a dataset file into cases plus the description of its corpus."""
    path = Path(path)
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
    if not path.is_file():
        raise InputError(f"no such dataset file: {path}")
    rows = read_jsonl(path)
    if fmt == "auto":
        fmt = detect_format(rows)
    if not rows:
        raise InputError(f"dataset {path} is empty")
    cases = _LOADERS[fmt](rows, path)
    dupes = [i for i, c in Counter(c.id for c in cases).items() if c > 1]
    if dupes:
        raise InputError(f"dataset {path} repeats case id {dupes[0]!r}")
    # Several article folders, joined as PATH joins folders: "evals/corpus/a:evals/holdout/b".
    corpora = [Path(c) for c in str(corpus).split(os.pathsep) if c] if corpus else []
    spec = _corpus_spec(path, fmt, corpora[0] if corpora else None)
    if spec is not None and len(corpora) > 1:
        if spec.kind != "files":
            raise InputError("several corpora are article folders or files, not an index or a dataset corpus file")
        missing = [c for c in corpora[1:] if not c.exists()]
        if missing:
            raise InputError(f"no such corpus: {missing[0]}")
        spec.also = corpora[1:]
    return EvalSet(
        name=path.stem, path=path, fmt=fmt, sha256=_sha256(path), cases=cases, corpus=spec, label_policy=_POLICIES[fmt]
    )


def _corpus_spec(path: Path, fmt: str, corpus: Path | None) -> CorpusSpec | None:
    """Resolve `--corpus` (or its default) for a format; None means: use the configured index."""
    if corpus is not None and (corpus / "manifest.json").is_file():
        return CorpusSpec(kind="index", path=corpus)
    if fmt != "jsonl":
        corpus = corpus or path.parent / "corpus.jsonl"
        if not corpus.is_file():
            raise InputError(f"no corpus file {corpus} (pass --corpus PATH to the {fmt} corpus.jsonl)")
        return CorpusSpec(kind="dataset", path=corpus, fmt=fmt)
    if corpus is None:
        return None
    if not corpus.exists():
        raise InputError(f"no such corpus: {corpus}")
    return CorpusSpec(kind="files", path=corpus)


def corpus_articles(spec: CorpusSpec) -> list[Article]:
    """The articles of a dataset corpus file (scifact / climate-fever / healthver layouts) or of article files."""
    if spec.kind == "files":
        from .ingest import load_articles

        report = load_articles([spec.path, *spec.also])
        for s in report.skipped:
            log.warning("skipped %s: %s", s.path, s.reason)
        return report.articles
    rows = read_jsonl(spec.path)
    out = []
    for n, r in enumerate(rows, 1):
        where = f"{spec.path} row {n}"
        if spec.fmt == "scifact":
            _require(r, ("doc_id", "abstract"), where)
            text = " ".join(s.strip() for s in r["abstract"])
            out.append(Article(id=str(r["doc_id"]), title=r.get("title") or str(r["doc_id"]), text=text))
        else:
            _require(r, ("id", "text"), where)
            out.append(Article(id=str(r["id"]), title=r.get("title") or str(r["id"]), text=r["text"]))
    return [a for a in out if a.text.strip()]


# --------------------------------------------------------------------------------------------------
# Running


class RecordingJudge:
    """Wraps a judge and keeps, per thread, the hits it was last given (the retrieved set of that check)."""

    def __init__(self, inner):
        self.inner = inner
        self.name = inner.name
        self.version = inner.version
        self._local = threading.local()

    def __getattr__(self, attr):
        return getattr(self.inner, attr)

    def judge(self, claim: str, hits: list[SearchHit]) -> Verdict:
        """Delegate, remembering the hits."""
        self._local.hits = hits
        return self.inner.judge(claim, hits)

    def last_hits(self) -> list[SearchHit]:
        """The hits of this thread's last call."""
        return getattr(self._local, "hits", None) or []


def _slug(text: str) -> str:
    """A filesystem-safe short name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:60] or "x"


def index_key(corpus_sha256: str, embedder_name: str, settings: Settings) -> str:
    """Cache key of a built corpus index: corpus content + embedder + chunking."""
    raw = f"{corpus_sha256}|{embedder_name}|{settings.chunk_max_chars}|{settings.chunk_overlap_sentences}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16] + "-" + _slug(embedder_name.split("/")[-1])


def prepare_index(
    spec: CorpusSpec | None,
    settings: Settings,
    embedder,
    run_dir: Path,
    dataset_path: Path,
    cache_dir: Path = DEFAULT_CACHE,
    progress: bool = True,
) -> Path:
    """The index directory to evaluate against, building (or reusing) one when needed."""
    from .index import FactIndex, article_hash

    articles: list[Article] | None = None
    if spec is None:
        configured = settings.resolved_index_dir()
        if (configured / "manifest.json").is_file():
            return configured
        sample = dataset_path.resolve().parent.parent / "corpus"
        if not sample.is_dir():
            raise InputError(f"no index at {configured} and no corpus/ folder next to the dataset; pass --corpus PATH")
        spec, target = CorpusSpec(kind="files", path=sample), run_dir / "index"
        log.info("no index at %s: using an index of %s in %s", configured, sample, target)
    elif spec.kind == "index":
        return spec.path
    else:
        if spec.kind == "dataset":
            digest = _sha256(spec.path)
        else:
            articles = corpus_articles(spec)
            digest = hashlib.sha256("".join(sorted(article_hash(a) for a in articles)).encode()).hexdigest()
        target = cache_dir / index_key(digest, embedder.name, settings)
    if (target / "manifest.json").is_file():
        log.info("reusing index %s", target)
        return target
    articles = articles if articles is not None else corpus_articles(spec)
    if not articles:
        raise InputError(f"corpus {spec.path} holds no articles")
    log.info("indexing %d articles into %s (once; later runs reuse it)", len(articles), target)
    idx = FactIndex.open(
        target,
        embedder,
        create=True,
        rebuild=True,
        max_chars=settings.chunk_max_chars,
        overlap_sentences=settings.chunk_overlap_sentences,
    )
    idx.add_articles(articles, progress=progress, batch_size=settings.embed_batch_size)
    return target


def _git_commit() -> str | None:
    """HEAD of the working tree (with '+dirty' when tracked files changed), or None outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=5
        )
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def load_results(path: Path) -> dict[str, CaseResult]:
    """The latest record per case id in a cases.jsonl (a torn last line from a crash is ignored)."""
    out: dict[str, CaseResult] = {}
    if not path.exists():
        return out
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                rec = CaseResult.model_validate_json(line)
            except ValueError:
                continue
            out[rec.id] = rec
    return out


class _ArticleTexts:
    """Thread-safe cache of article texts from the pipeline's index (for checking quote offsets)."""

    def __init__(self, pipeline) -> None:
        self._pipeline = pipeline
        self._texts: dict[str, str | None] = {}
        self._lock = threading.Lock()

    def get(self, article_id: str) -> str | None:
        """The article's cleaned text, or None when the index lacks it."""
        with self._lock:
            if article_id in self._texts:
                return self._texts[article_id]
        try:
            text = self._pipeline.get_article(article_id).text
        except FactcheckError:
            text = None
        with self._lock:
            self._texts[article_id] = text
        return text


def run_case(case: EvalCase, pipeline, recorder: RecordingJudge, texts: _ArticleTexts, top_k: int | None) -> CaseResult:
    """Check one claim and score what came back; an exception becomes a result with `error`."""
    res = CaseResult(id=case.id, claim=case.claim, gold=case.label, category=case.category, gold_evidence=case.evidence)
    try:
        t0 = time.perf_counter()
        verdict = pipeline.check(case.claim, top_k=top_k)
        res.latency_ms = round((time.perf_counter() - t0) * 1000, 2)
        hits = recorder.last_hits()
        retrieved: list[str] = []
        for h in hits:
            for aid in [h.article.id] + [d.article.id for d in h.duplicates]:
                if aid not in retrieved:
                    retrieved.append(aid)
        dense = pipeline.search(case.claim, 1, mode="dense")
        res.top1_dense = dense[0].dense_score if dense else None
        res.pred, res.confidence = verdict.label, float(verdict.confidence)
        res.retrieved = retrieved
        res.cited = list(dict.fromkeys(c.article_id for c in verdict.citations))
        res.citations_total = len(verdict.citations)
        res.citations_valid = sum(
            1
            for c in verdict.citations
            if (t := texts.get(c.article_id)) is not None and 0 <= c.start <= c.end and t[c.start : c.end] == c.quote
        )
        if verdict.usage:
            u = verdict.usage
            res.usage = {
                "prompt_tokens": u.prompt_tokens,
                "completion_tokens": u.completion_tokens,
                "total_tokens": u.total_tokens,
                "cost_usd": u.cost_usd,
                "cached": int(u.cached),
            }
        res.judge, res.judge_version = verdict.judge, verdict.judge_version
        res.decided_by, res.runtime = verdict.decided_by, verdict.runtime
        res.prompt_version, res.model = verdict.prompt_version, verdict.model
        res.fallback_reason, res.explanation = verdict.fallback_reason, (verdict.explanation or "")[:500]
    except Exception as exc:  # noqa: BLE001 - one bad case must never abort a batch run
        res.error = f"{type(exc).__name__}: {exc}"[:1000]
        res.pred = res.confidence = None
    return res


# Runs the given cases against `settings` (the run's index) with `top_k`, yielding each result as it finishes:
# threads over one pipeline by default, Ray actors with `--ray` (`ray_executor`).
CaseExecutor = Callable[[list[EvalCase], Settings, int | None], Iterable[CaseResult]]


class CaseWorker:
    """A loaded pipeline (index read-only) that checks claims: what each Ray actor of an eval holds."""

    def __init__(self, settings: Settings, top_k: int | None, judge_factory: Callable[[], Any] | None = None):
        from .judges import make_judge
        from .pipeline import build_pipeline

        self.recorder = RecordingJudge(judge_factory() if judge_factory else make_judge(settings))
        self.pipeline = build_pipeline(settings, judge=self.recorder)
        self.texts = _ArticleTexts(self.pipeline)
        self.top_k = top_k

    def run(self, case_json: str) -> str:
        """One case (JSON in, CaseResult JSON out: plain strings cross process boundaries cheaply)."""
        case = EvalCase.model_validate_json(case_json)
        return run_case(case, self.pipeline, self.recorder, self.texts, self.top_k).model_dump_json()


def ray_executor(address: str | None, judge_factory: Callable[[], Any] | None = None) -> CaseExecutor:
    """A CaseExecutor spreading cases over Ray actors that each hold a CaseWorker (fails fast on a bad address)."""
    from .scale import actor_map, check_address, one_cpu_settings

    check_address(address)

    def execute(todo: list[EvalCase], settings: Settings, top_k: int | None) -> Iterator[CaseResult]:
        items = [c.model_dump_json() for c in todo]
        worker_args = (one_cpu_settings(settings), top_k, judge_factory)
        for out in actor_map(CaseWorker, worker_args, items, settings, address=address):
            yield CaseResult.model_validate_json(out)

    return execute


def _threaded(pipeline, recorder: RecordingJudge, concurrency: int) -> CaseExecutor:
    """The default CaseExecutor: `concurrency` threads sharing this process's pipeline."""

    def execute(todo: list[EvalCase], settings: Settings, top_k: int | None) -> Iterator[CaseResult]:
        from concurrent.futures import ThreadPoolExecutor, as_completed

        texts = _ArticleTexts(pipeline)
        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            futures = [pool.submit(run_case, c, pipeline, recorder, texts, top_k) for c in todo]
            for fut in as_completed(futures):
                yield fut.result()

    return execute


def run_cases(
    cases: list[EvalCase],
    pipeline,
    recorder: RecordingJudge,
    cases_path: Path,
    *,
    concurrency: int = 2,
    top_k: int | None = None,
    progress: bool = True,
    execute: CaseExecutor | None = None,
) -> dict[str, CaseResult]:
    """Run every case not yet finished in `cases_path` (appending as each finishes); returns all results."""
    from tqdm import tqdm

    done = {i: r for i, r in load_results(cases_path).items() if r.error is None}
    todo = [c for c in cases if c.id not in done]
    if done:
        log.info("resuming: %d finished cases skipped, %d to run", len(cases) - len(todo), len(todo))
    execute = execute or _threaded(pipeline, recorder, concurrency)
    cases_path.parent.mkdir(parents=True, exist_ok=True)
    with (
        open(cases_path, "a", encoding="utf-8") as out,
        tqdm(total=len(todo), file=sys.stderr, disable=not progress, desc="eval", unit="claim") as bar,
    ):
        for res in execute(todo, pipeline.settings, top_k) if todo else ():
            out.write(res.model_dump_json() + "\n")
            out.flush()
            bar.update(1)
    return load_results(cases_path)


# --------------------------------------------------------------------------------------------------
# Summaries


def summarize(results: list[CaseResult], *, top_k: int) -> dict:
    """Every metric of a run from its case results (no provenance: see `run_eval`)."""
    ok = [r for r in results if r.error is None]
    three = [r for r in ok if r.gold in LABELS]
    disputed = [r for r in ok if r.gold == DISPUTED]
    # run_case sets pred and confidence on every result without an error, so the scored ones have both
    gold, pred = [r.gold for r in three], cast(list[str], [r.pred for r in three])
    s: dict = {"n": len(results), "n_errors": len(results) - len(ok), "n_scored": len(three)}
    s.update({k: v for k, v in label_metrics(gold, pred).items() if k != "n"})
    s["evidence_recall_at_k"] = {
        "k": top_k,
        **evidence_recall_at_k([r.gold_evidence for r in three], [r.retrieved for r in three], top_k),
    }
    decided = [r for r in three if r.pred in ("supported", "contradicted") and r.gold_evidence]
    s["citation_precision"] = citation_precision([r.gold_evidence for r in decided], [r.cited for r in decided])
    total = sum(r.citations_total for r in ok)
    s["quote_validity"] = {"value": sum(r.citations_valid for r in ok) / total if total else None, "n_citations": total}
    conf = cast(list[float], [r.confidence for r in three])
    correct = [r.gold == r.pred for r in three]
    s["ece"] = ece(conf, correct)
    s["reliability"] = reliability_bins(conf, correct)
    s["risk_coverage"] = risk_coverage(gold, pred, conf)
    lat = [r.latency_ms for r in ok if r.latency_ms is not None]
    s["latency_ms"] = {
        "p50": percentile(lat, 50),
        "p95": percentile(lat, 95),
        "mean": sum(lat) / len(lat) if lat else None,
    }
    s["usage"] = {
        k: sum(r.usage.get(k, 0) for r in ok)
        for k in ("prompt_tokens", "completion_tokens", "total_tokens", "cost_usd", "cached")
    }
    s["usage"]["cost_usd"] = round(s["usage"]["cost_usd"], 6)
    s["fallbacks"] = sum(1 for r in ok if r.fallback_reason)
    maj_label, maj_pred = majority_baseline(gold)
    sim_pred = similarity_baseline([r.top1_dense for r in three])
    s["baselines"] = {
        "majority_class": {
            "label": maj_label,
            "accuracy": accuracy(gold, maj_pred),
            "macro_f1": macro_f1(confusion_matrix(gold, maj_pred)) if gold else None,
            "note": "predicts the most frequent gold label of this very set (oracle-ish reference)",
        },
        "similarity_threshold": {
            "threshold": SIMILARITY_THRESHOLD,
            "accuracy": accuracy(gold, sim_pred),
            "macro_f1": macro_f1(confusion_matrix(gold, sim_pred)) if gold else None,
            "note": "top-1 dense cosine >= threshold -> supported, else unverified; "
            "threshold fixed a priori, never tuned",
        },
    }
    if disputed:
        s["disputed"] = {"n": len(disputed), "predicted": dict(Counter(r.pred for r in disputed))}
    cats = sorted({r.category for r in three if r.category})
    if cats:
        s["by_category"] = {
            c: {"n": len(rs), "accuracy": accuracy([r.gold for r in rs], cast(list[str], [r.pred for r in rs]))}
            for c in cats
            for rs in [[r for r in three if r.category == c]]
        }
    # Which stage of a cascade decided how many claims (verifier top units, more units, the LLM).
    s["stages"] = dict(Counter(r.decided_by for r in ok if r.decided_by))
    for field in ("judge", "judge_version", "prompt_version", "model", "runtime"):
        values = Counter(getattr(r, field) for r in ok)
        s[field] = values.most_common(1)[0][0] if values else None
        if len(values) > 1:
            s[f"{field}_all"] = dict(values)
    return s


def run_eval(
    eval_set: EvalSet,
    settings: Settings,
    *,
    out_dir: Path | None = None,
    limit: int | None = None,
    concurrency: int = 2,
    top_k: int | None = None,
    judge=None,
    embedder=None,
    cache_dir: Path = DEFAULT_CACHE,
    progress: bool = True,
    execute: CaseExecutor | None = None,
) -> tuple[dict, Path]:
    """Evaluate a set end to end; returns (summary, run directory). `judge` overrides the configured one.

    `execute` runs the cases elsewhere (`ray_executor`); results, resume and summary are the same.
    """
    from .embed import make_embedder
    from .judges import make_judge
    from .pipeline import build_pipeline

    started = datetime.now(UTC)
    if limit is not None and limit < 1:
        raise InputError("--limit must be at least 1")
    if concurrency < 1:
        raise InputError("--concurrency must be at least 1")
    top_k = top_k or settings.top_k
    cases = eval_set.cases[:limit] if limit else eval_set.cases
    run_dir = Path(out_dir) if out_dir else Path("runs") / f"{started:%Y%m%dT%H%M%SZ}-{_slug(eval_set.name)}"
    run_dir.mkdir(parents=True, exist_ok=True)
    _check_resume(run_dir, eval_set)

    # The judge first: a missing model should fail before minutes of corpus indexing.
    inner = judge if judge is not None else make_judge(settings)
    embedder = embedder or make_embedder(settings)
    index_dir = prepare_index(
        eval_set.corpus, settings, embedder, run_dir, eval_set.path, cache_dir=cache_dir, progress=progress
    )
    run_settings = settings.model_copy(update={"index_dir": index_dir})
    recorder = RecordingJudge(inner)
    pipeline = build_pipeline(run_settings, judge=recorder, embedder=embedder)
    stats = pipeline.stats()
    known = set(stats_article_ids(pipeline))
    missing = sorted({e for c in cases for e in c.evidence} - known)
    if missing:
        log.warning(
            "%d gold article ids are not in the index (first: %s): is --corpus right?", len(missing), missing[0]
        )

    (run_dir / "run.json").write_text(
        json.dumps(
            {
                "dataset": str(eval_set.path),
                "dataset_sha256": eval_set.sha256,
                "format": eval_set.fmt,
                "judge": inner.name,
                "judge_version": inner.version,
                "index_dir": str(index_dir),
                "started": started.isoformat(),
            },
            indent=2,
        )
    )
    t0 = time.perf_counter()
    results = run_cases(
        cases,
        pipeline,
        recorder,
        run_dir / "cases.jsonl",
        concurrency=concurrency,
        top_k=top_k,
        progress=progress,
        execute=execute,
    )
    ordered = [results[c.id] for c in cases if c.id in results]
    summary = summarize(ordered, top_k=top_k)
    # The run's judge is the configured one; which judge decided each case (an LLM judge can fall
    # back to the verifier) is counted apart.
    summary["decided_by"] = summary.pop("judge_all", None) or (
        {summary["judge"]: len(ordered)} if summary.get("judge") else {}
    )
    summary["judge"], summary["judge_version"] = inner.name, inner.version
    summary.update(
        {
            "dataset": {
                "name": eval_set.name,
                "path": str(eval_set.path),
                "sha256": eval_set.sha256,
                "format": eval_set.fmt,
                "label_policy": eval_set.label_policy,
                "rows": len(eval_set.cases),
                "limit": limit,
            },
            "index": {
                "path": str(index_dir),
                "manifest_sha256": stats.manifest_sha256,
                "embedder": stats.embedder,
                "articles": stats.articles,
                "passages": stats.passages,
                "gold_articles_missing": len(missing),
            },
            "settings": {
                "top_k": top_k,
                "concurrency": concurrency,
                "executor": "ray" if execute is not None else "threads",
                "judge_setting": settings.judge,
                "dense_candidates": settings.dense_candidates,
                "bm25_candidates": settings.bm25_candidates,
            },
            "git_commit": _git_commit(),
            "run_dir": str(run_dir),
            "started": started.isoformat(),
            "wall_s": round(time.perf_counter() - t0, 2),
        }
    )
    write_outputs(summary, ordered, run_dir)
    return summary, run_dir


def stats_article_ids(pipeline) -> list[str]:
    """Ids of every article in the pipeline's index."""
    return [m.id for m in pipeline.index.snapshot().article_metas()]


def _check_resume(run_dir: Path, eval_set: EvalSet) -> None:
    """Refuse to resume a run directory that holds results for a different dataset."""
    meta = run_dir / "run.json"
    if not meta.exists() or not (run_dir / "cases.jsonl").exists():
        return
    try:
        prev = json.loads(meta.read_text())
    except (OSError, ValueError):
        return
    if prev.get("dataset_sha256") not in (None, eval_set.sha256):
        raise InputError(f"{run_dir} holds results for another dataset ({prev.get('dataset')}); use a new --out")


# --------------------------------------------------------------------------------------------------
# Outputs


def _fmt(v, pct: bool = False) -> str:
    """A metric for a table cell."""
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v * 100:.1f}%" if pct else f"{v:.3f}"
    return str(v)


def write_outputs(summary: dict, results: list[CaseResult], run_dir: Path) -> None:
    """summary.json, report.md and the two plots."""
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    (run_dir / "report.md").write_text(render_report(summary, results))
    try:
        plot_confusion(summary, run_dir / "confusion.png")
        plot_reliability(summary, run_dir / "reliability.png")
        plot_risk_coverage(summary, run_dir / "risk_coverage.png")
    except Exception as exc:  # noqa: BLE001 - a plotting problem must not lose the metrics
        log.warning("could not draw plots: %s", exc)


def render_report(s: dict, results: list[CaseResult]) -> str:
    """A Markdown report of a run."""
    d = s.get("dataset", {})
    idx = s.get("index", {})
    lines = [
        f"# Eval: {d.get('name', '?')}",
        "",
        f"- dataset: `{d.get('path')}` ({d.get('format')}, sha256 `{str(d.get('sha256'))[:12]}`), "
        f"{s['n']} cases, {s['n_errors']} errors; label policy: {d.get('label_policy')}",
        f"- judge: {s.get('judge')} {s.get('judge_version')}; prompt {s.get('prompt_version')}; model {s.get('model')}",
        f"- index: `{idx.get('path')}` ({idx.get('articles')} articles, {idx.get('passages')} passages, "
        f"embedder {idx.get('embedder')}, manifest `{str(idx.get('manifest_sha256'))[:12]}`)",
        f"- git: {s.get('git_commit')}; started {s.get('started')}; wall {s.get('wall_s')} s",
        "",
        "| metric | value |",
        "|---|---|",
        f"| accuracy | {_fmt(s['accuracy'], True)} |",
        f"| macro-F1 | {_fmt(s['macro_f1'])} |",
        f"| evidence recall@{s['evidence_recall_at_k']['k']} | {_fmt(s['evidence_recall_at_k']['value'], True)} "
        f"(n={s['evidence_recall_at_k']['n']}) |",
        f"| citation precision | {_fmt(s['citation_precision']['value'], True)} "
        f"(n={s['citation_precision']['n_citations']} cited articles) |",
        f"| quote validity | {_fmt(s['quote_validity']['value'], True)} (n={s['quote_validity']['n_citations']}) |",
        f"| ECE (10 bins) | {_fmt(s['ece'])} |",
        f"| latency p50 / p95 | {_fmt(s['latency_ms']['p50'])} / {_fmt(s['latency_ms']['p95'])} ms |",
        f"| tokens / cost | {s['usage']['total_tokens']} / ${s['usage']['cost_usd']} |",
        "",
        "Baselines (same cases):",
        "",
        "| baseline | accuracy | macro-F1 | note |",
        "|---|---|---|---|",
    ]
    for name, b in s["baselines"].items():
        lines.append(f"| {name} | {_fmt(b['accuracy'], True)} | {_fmt(b['macro_f1'])} | {b['note']} |")
    lines += ["", "| label | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for label, m in s["per_label"].items():
        lines.append(f"| {label} | {_fmt(m['precision'])} | {_fmt(m['recall'])} | {_fmt(m['f1'])} | {m['support']} |")
    if s.get("risk_coverage"):
        lines += [
            "",
            "Risk and coverage (decisive verdicts below a confidence floor withheld; `risk_coverage.png`):",
            "",
            "| floor | coverage | risk | precision supported | precision contradicted |",
            "|---|---|---|---|---|",
        ]
        for r in s["risk_coverage"]:
            lines.append(
                f"| {r['floor']:.2f} | {_fmt(r['coverage'], True)} | {_fmt(r['risk'], True)} | "
                f"{_fmt(r['precision_supported'])} | {_fmt(r['precision_contradicted'])} |"
            )
    labels = s["confusion"]["labels"]
    lines += [
        "",
        "Confusion (rows gold, columns predicted):",
        "",
        "| gold \\ pred | " + " | ".join(labels) + " |",
        "|---" * (len(labels) + 1) + "|",
    ]
    for label, row in zip(labels, s["confusion"]["matrix"]):
        lines.append(f"| {label} | " + " | ".join(str(x) for x in row) + " |")
    if s.get("by_category"):
        lines += ["", "| category | n | accuracy |", "|---|---|---|"]
        for c, m in s["by_category"].items():
            lines.append(f"| {c} | {m['n']} | {_fmt(m['accuracy'], True)} |")
    if s.get("disputed"):
        lines += ["", f"Disputed claims (not in the metrics above): {s['disputed']}"]
    errors = [r for r in results if r.error]
    if errors:
        lines += ["", "## Errors", ""] + [f"- `{r.id}`: {r.error}" for r in errors[:50]]
    wrong = [r for r in results if r.error is None and r.gold in LABELS and r.pred != r.gold]
    if wrong:
        lines += [
            "",
            f"## Misjudged ({len(wrong)}; first 40)",
            "",
            "| id | gold | pred | conf | claim |",
            "|---|---|---|---|---|",
        ]
        for r in wrong[:40]:
            claim = r.claim.replace("|", "\\|")[:120]
            lines.append(f"| {r.id} | {r.gold} | {r.pred} | {_fmt(r.confidence)} | {claim} |")
    return "\n".join(lines) + "\n"


def plot_confusion(summary: dict, path: Path) -> None:
    """Confusion matrix heat map with counts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, m = summary["confusion"]["labels"], summary["confusion"]["matrix"]
    fig, ax = plt.subplots(figsize=(4.8, 4.2), dpi=100)
    ax.imshow(m, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=20)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    peak = max((max(r) for r in m), default=0) or 1
    for i, row in enumerate(m):
        for j, v in enumerate(row):
            ax.text(j, i, str(v), ha="center", va="center", color="white" if v > peak / 2 else "black")
    ax.set_title(f"{summary.get('dataset', {}).get('name', '')}: macro-F1 {_fmt(summary['macro_f1'])}")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_reliability(summary: dict, path: Path) -> None:
    """Reliability diagram: accuracy per confidence bin against the diagonal."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bins = summary.get("reliability") or []
    fig, ax = plt.subplots(figsize=(4.8, 4.2), dpi=100)
    ax.plot([0, 1], [0, 1], "--", color="grey", linewidth=1)
    ax.bar(
        [b["lo"] for b in bins],
        [b["accuracy"] for b in bins],
        width=1 / ECE_BINS,
        align="edge",
        edgecolor="black",
        alpha=0.7,
        label="accuracy",
    )
    ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], "o", color="C1", label="mean confidence")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence of predicted label")
    ax.set_ylabel("accuracy")
    ax.set_title(f"ECE {_fmt(summary.get('ece'))}")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_risk_coverage(summary: dict, path: Path) -> None:
    """Risk (wrong share of decisive verdicts) against coverage as the confidence floor rises."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in summary.get("risk_coverage") or [] if r["risk"] is not None]
    fig, ax = plt.subplots(figsize=(4.8, 4.2), dpi=100)
    ax.plot([r["coverage"] for r in rows], [r["risk"] for r in rows], "o-", color="C3")
    for r in rows:
        ax.annotate(f"{r['floor']:.2f}", (r["coverage"], r["risk"]), textcoords="offset points", xytext=(4, 4))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, max([0.3] + [r["risk"] for r in rows]))
    ax.set_xlabel("coverage (claims given a decisive verdict)")
    ax.set_ylabel("risk (decisive verdicts that are wrong)")
    ax.set_title("risk-coverage by confidence floor")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# --------------------------------------------------------------------------------------------------
# Comparing runs


def _load_summary(run: Path | str) -> dict:
    """summary.json of a run directory (or the file itself)."""
    p = Path(run)
    if p.is_dir():
        p = p / "summary.json"
    if not p.is_file():
        raise InputError(f"no summary.json at {run}")
    try:
        return json.loads(p.read_text())
    except ValueError as exc:
        raise InputError(f"unreadable summary {p}: {exc}") from None


def compare_metrics(a: dict, b: dict) -> list[dict]:
    """Side-by-side values and deltas (B - A) of the headline metrics of two summaries."""

    def get(s, *path):
        for key in path:
            if not isinstance(s, dict) or key not in s:
                return None
            s = s[key]
        return s

    rows = [
        ("accuracy", ("accuracy",)),
        ("macro_f1", ("macro_f1",)),
        *[(f"f1[{lab}]", ("per_label", lab, "f1")) for lab in LABELS],
        ("evidence_recall_at_k", ("evidence_recall_at_k", "value")),
        ("citation_precision", ("citation_precision", "value")),
        ("quote_validity", ("quote_validity", "value")),
        ("ece", ("ece",)),
        ("latency_p50_ms", ("latency_ms", "p50")),
        ("latency_p95_ms", ("latency_ms", "p95")),
        ("n", ("n",)),
        ("n_errors", ("n_errors",)),
        ("total_tokens", ("usage", "total_tokens")),
        ("cost_usd", ("usage", "cost_usd")),
        ("baseline_majority_macro_f1", ("baselines", "majority_class", "macro_f1")),
        ("baseline_similarity_macro_f1", ("baselines", "similarity_threshold", "macro_f1")),
    ]
    out = []
    for name, path in rows:
        va, vb = get(a, *path), get(b, *path)
        delta = vb - va if isinstance(va, (int, float)) and isinstance(vb, (int, float)) else None
        out.append({"metric": name, "a": va, "b": vb, "delta": delta})
    return out


def compare_runs(run_a: Path | str, run_b: Path | str) -> dict:
    """Compare two run directories: metric rows plus what differs in provenance."""
    a, b = _load_summary(run_a), _load_summary(run_b)
    prov = {}
    for key, path in (
        ("dataset_sha256", ("dataset", "sha256")),
        ("judge", ("judge",)),
        ("judge_version", ("judge_version",)),
        ("prompt_version", ("prompt_version",)),
        ("model", ("model",)),
        ("index_manifest", ("index", "manifest_sha256")),
        ("git_commit", ("git_commit",)),
    ):
        va: Any = a
        vb: Any = b
        for k in path:
            va = va.get(k) if isinstance(va, dict) else None
            vb = vb.get(k) if isinstance(vb, dict) else None
        prov[key] = {"a": va, "b": vb, "same": va == vb}
    # Claims both runs judged, for an interval on the macro-F1 difference (the same claims, so paired).
    ra, rb = load_results(Path(run_a) / "cases.jsonl"), load_results(Path(run_b) / "cases.jsonl")
    both = [i for i in ra if i in rb and ra[i].gold == rb[i].gold and ra[i].pred and rb[i].pred]
    paired = paired_bootstrap_macro_f1(
        [ra[i].gold for i in both], [ra[i].pred or "" for i in both], [rb[i].pred or "" for i in both]
    )
    return {
        "a": str(run_a),
        "b": str(run_b),
        "metrics": compare_metrics(a, b),
        "paired_macro_f1": paired,
        "provenance": prov,
    }


def render_compare(cmp: dict) -> str:
    """The comparison as a plain-text table."""

    def cell(v):
        if v is None:
            return "-"
        return f"{v:+.4f}" if isinstance(v, float) else str(v)

    def val(v):
        return "-" if v is None else (f"{v:.4f}" if isinstance(v, float) else str(v))

    lines = [f"A: {cmp['a']}", f"B: {cmp['b']}", "", f"{'metric':<30} {'A':>12} {'B':>12} {'B - A':>12}", "-" * 69]
    for r in cmp["metrics"]:
        lines.append(f"{r['metric']:<30} {val(r['a']):>12} {val(r['b']):>12} {cell(r['delta']):>12}")
    pm = cmp.get("paired_macro_f1")
    if pm:
        lines += [
            "",
            f"macro_f1 B - A on the {pm['n']} claims both judged: {pm['delta']:+.4f}, "
            f"95 % paired bootstrap interval [{pm['ci95'][0]:+.4f}, {pm['ci95'][1]:+.4f}] ({pm['resamples']} resamples)",
        ]
    diffs = [f"{k}: {v['a']} -> {v['b']}" for k, v in cmp["provenance"].items() if not v["same"]]
    if diffs:
        lines += ["", "differs: " + "; ".join(diffs)]
    if not cmp["provenance"]["dataset_sha256"]["same"]:
        lines.append("warning: the runs used different datasets; deltas are not comparable")
    return "\n".join(lines)


def label_agreement(gold_path: Path | str, second_path: Path | str) -> dict:
    """Compare a dataset's labels with a second annotator's labels of the same claim ids."""
    gold = {r["id"]: r for r in read_jsonl(Path(gold_path)) if "id" in r}
    second = {r["id"]: r for r in read_jsonl(Path(second_path)) if "id" in r}
    ids = [i for i in gold if i in second]
    if not ids:
        raise InputError(f"{second_path} labels none of the claim ids in {gold_path}")
    g = [normalize_label(gold[i]["label"]) for i in ids]
    s = [normalize_label(second[i]["label"]) for i in ids]
    return {
        "gold": str(gold_path),
        "second": str(second_path),
        "n": len(ids),
        "unlabelled": len(gold) - len(ids),
        "unknown_ids": sorted(set(second) - set(gold)),
        "agreement": accuracy(g, s),
        "kappa": cohen_kappa(g, s),
        "confusion": {"labels": list(LABELS), "matrix": confusion_matrix(g, s)},
        "disagreements": [
            {"id": i, "claim": gold[i].get("claim"), "gold": a, "second": b, "note": second[i].get("note")}
            for i, a, b in zip(ids, g, s)
            if a != b
        ],
    }


def render_agreement(r: dict) -> str:
    """The agreement report as plain text."""
    lines = [
        f"{r['n']} claims labelled by both ({r['unlabelled']} only in the dataset): agreement "
        f"{_fmt(r['agreement'], True)}, Cohen's kappa {_fmt(r['kappa'])}",
        "",
        f"{'dataset / second':<18}" + "".join(f"{lab:>14}" for lab in LABELS),
    ]
    for lab, row in zip(LABELS, r["confusion"]["matrix"]):
        lines.append(f"{lab:<18}" + "".join(f"{v:>14}" for v in row))
    for d in r["disagreements"]:
        lines.append(f"{d['id']}: dataset {d['gold']}, second {d['second']}: {d['claim']}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# Command line (wired by factcheck.cli through add_cli)


def _positive(text: str) -> int:
    """A positive integer argument."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"not a positive integer: {text!r}")
    return value


def add_ray_arguments(parser: argparse.ArgumentParser) -> None:
    """`--ray [ADDRESS]` and `--ray-workers N` (index build and eval)."""
    parser.add_argument(
        "--ray",
        nargs="?",
        const="local",
        default=None,
        metavar="ADDRESS",
        help="run on Ray (the scale extra): no ADDRESS = a local instance on 127.0.0.1; "
        "HOST:PORT, ray://HOST:PORT or auto = an existing cluster",
    )
    parser.add_argument(
        "--ray-workers", type=_positive, default=None, help="actors in the Ray pool (default: one per cluster CPU)"
    )


def add_cli(subparsers) -> None:
    """Register `factcheck eval PATH ...`, `factcheck eval compare RUN_A RUN_B` and `eval agreement DATASET SECOND`."""
    p = subparsers.add_parser(
        "eval",
        help="run a labelled claim set through the pipeline (or: eval compare RUN_A RUN_B)",
        description="factcheck eval PATH [options]  |  factcheck eval compare RUN_A RUN_B [--json]  |  "
        "factcheck eval agreement DATASET SECOND_LABELS [--json]",
    )
    p.add_argument(
        "targets",
        nargs="+",
        metavar="PATH",
        help="dataset file, or: compare RUN_A RUN_B, or: agreement DATASET SECOND_LABELS",
    )
    p.add_argument("--format", choices=FORMATS, default="auto", help="dataset layout (default: guessed)")
    p.add_argument(
        "--corpus",
        default=None,
        help=f"index dir, article files/folders (several joined by '{os.pathsep}'), or the dataset's corpus.jsonl",
    )
    p.add_argument("--limit", type=int, default=None, help="only the first N cases")
    p.add_argument("--concurrency", type=int, default=2, help="claims checked in parallel (threads)")
    p.add_argument("--out", default=None, help="run directory (default runs/<timestamp>-<dataset>); reuse to resume")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object on stdout")
    p.add_argument("--top-k", type=int, default=None, help="passages retrieved per claim (default FACTCHECK_TOP_K)")
    p.add_argument("--judge", choices=["auto", "verifier", "llm"], default=None, help="judge (default FACTCHECK_JUDGE)")
    p.add_argument("--cache-dir", default=str(DEFAULT_CACHE), help="where built corpus indexes are kept")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_ray_arguments(p)
    p.set_defaults(func=cmd_eval)


def cmd_eval(args: argparse.Namespace) -> int:
    """Entry point of `factcheck eval`."""
    if args.targets[0] == "compare":
        if len(args.targets) != 3:
            raise InputError("usage: factcheck eval compare RUN_A RUN_B")
        cmp = compare_runs(args.targets[1], args.targets[2])
        print(json.dumps(cmp, default=str) if args.json else render_compare(cmp))
        return 0
    if args.targets[0] == "agreement":
        if len(args.targets) != 3:
            raise InputError("usage: factcheck eval agreement DATASET SECOND_LABELS")
        agr = label_agreement(args.targets[1], args.targets[2])
        print(json.dumps(agr) if args.json else render_agreement(agr))
        return 0
    if len(args.targets) != 1:
        raise InputError(
            "give one dataset file (or: factcheck eval compare RUN_A RUN_B, "
            "or: factcheck eval agreement DATASET SECOND_LABELS)"
        )
    if args.top_k is not None and args.top_k < 1:
        raise InputError("--top-k must be at least 1")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(message)s")
    log.setLevel(logging.INFO)  # our progress notes, without third-party INFO chatter
    overrides: dict[str, Any] = {}
    if getattr(args, "index", None):
        overrides["index_dir"] = Path(args.index)
    if args.judge:
        overrides["judge"] = args.judge
    if args.ray_workers is not None:
        overrides["ray_workers"] = args.ray_workers
    settings = Settings(**overrides)
    execute = ray_executor(args.ray) if args.ray is not None else None
    eval_set = load_eval_set(args.targets[0], args.format, args.corpus)
    summary, run_dir = run_eval(
        eval_set,
        settings,
        out_dir=Path(args.out) if args.out else None,
        limit=args.limit,
        concurrency=args.concurrency,
        top_k=args.top_k,
        cache_dir=Path(args.cache_dir),
        progress=not args.quiet,
        execute=execute,
    )
    if args.json:
        print(json.dumps(summary, default=str))
    else:
        print(
            f"{eval_set.name}: n={summary['n']} errors={summary['n_errors']} accuracy={_fmt(summary['accuracy'], True)} "
            f"macro-F1={_fmt(summary['macro_f1'])} recall@{summary['evidence_recall_at_k']['k']}="
            f"{_fmt(summary['evidence_recall_at_k']['value'], True)} -> {run_dir}"
        )
    return 0
