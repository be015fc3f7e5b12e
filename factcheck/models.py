"""Pydantic models for every wire and on-disk type."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

Label = Literal["supported", "contradicted", "unverified"]
Stance = Literal["supports", "contradicts", "silent"]
LABELS: tuple[Label, ...] = ("supported", "contradicted", "unverified")


class Article(BaseModel):
    """A cleaned news article; `text` is the coordinate system for every offset."""

    id: str
    title: str
    text: str
    url: str | None = None
    source: str | None = None
    published: date | None = None
    path: str | None = None


class ArticleMeta(BaseModel):
    """An article without its text, as carried on citations and search hits."""

    id: str
    title: str
    url: str | None = None
    source: str | None = None
    published: date | None = None


class Passage(BaseModel):
    """A chunk of an article; `article.text[start:end] == text`."""

    id: str
    article_id: str
    ord: int
    text: str
    start: int
    end: int
    # Sentence and sentence-pair spans (local offsets) the verifier reads, precomputed at index time;
    # None for passages of an index built before they were stored (they are then split at query time).
    units: list[tuple[int, int]] | None = Field(default=None, exclude=True, repr=False)


class SearchHit(BaseModel):
    """One retrieved passage with its fused score and syndicated copies."""

    passage: Passage
    article: ArticleMeta
    score: float
    dense_score: float | None = None
    bm25_score: float | None = None
    rank: int = 0
    # Near-identical passages from other articles (syndicated copies), grouped under this hit.
    duplicates: list[DuplicateRef] = Field(default_factory=list)


class DuplicateRef(BaseModel):
    """A near-identical passage in another article, kept so every source stays visible."""

    passage_id: str
    article: ArticleMeta
    similarity: float


class Citation(BaseModel):
    """A verbatim quote from an article; `article_text[start:end] == quote`."""

    article_id: str
    passage_id: str
    quote: str
    start: int
    end: int
    title: str | None = None
    source: str | None = None
    url: str | None = None
    published: date | None = None
    stance: Stance | None = None
    score: float | None = None


class SourceStance(BaseModel):
    """How one source article relates to the claim."""

    article_id: str
    title: str | None = None
    source: str | None = None
    published: date | None = None
    stance: Stance
    score: float = 0.0


class ConsistencyFinding(BaseModel):
    """A deterministic check of the claim against a cited sentence (numbers, dates, negation)."""

    kind: Literal["number", "year", "date", "negation", "entity"]
    outcome: Literal["match", "mismatch", "unstated"]  # unstated: the source leaves the claim's slot empty
    claim_value: str
    evidence_value: str
    passage_id: str | None = None
    detail: str = ""


class Usage(BaseModel):
    """LLM token and cost accounting for one verdict."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost_usd: float = 0.0
    cached: bool = False


class ClaimPart(BaseModel):
    """One atomic fact of a compound claim; `claim[start:end]` is the stretch of the claim it comes from."""

    text: str  # the fact as judged (a clause with its subject restored: "Iraq's prime minister said ...")
    start: int
    end: int


class PartVerdict(ClaimPart):
    """The verdict on one part of a compound claim, with its own evidence."""

    label: Label
    confidence: float = Field(ge=0.0, le=1.0)
    citations: list[Citation] = Field(default_factory=list)
    explanation: str = ""
    checks: list[ConsistencyFinding] = Field(default_factory=list)


class Verdict(BaseModel):
    """The judgement of one claim with its evidence."""

    claim: str
    # The text actually judged, when pieces addressed to the checker were set aside from the claim as sent.
    judged_claim: str | None = None
    label: Label
    confidence: float = Field(ge=0.0, le=1.0)
    citations: list[Citation] = Field(default_factory=list)
    explanation: str = ""
    sources: list[SourceStance] = Field(default_factory=list)
    checks: list[ConsistencyFinding] = Field(default_factory=list)
    judge: str
    judge_version: str
    # How the judge's network ran on this machine (e.g. "torch-bf16", "onnx-fp32"), and which stage decided.
    runtime: str | None = None
    decided_by: str | None = None
    prompt_version: str | None = None
    model: str | None = None
    fallback_reason: str | None = None
    disagreement: str | None = None
    # Citations the LLM judge proposed but that failed validation (unknown passage id, quote not verbatim).
    dropped_citations: int = 0
    usage: Usage | None = None
    timings_ms: dict[str, float] = Field(default_factory=dict)
    retrieved: int = 0
    as_of: date | None = None
    # The atomic facts of a compound claim, each judged on its own evidence (empty for a claim of one fact).
    parts: list[PartVerdict] = Field(default_factory=list)
    # Why no judge read the claim ("language_unsupported": not English, which the verifier cannot read).
    reason: str | None = None
    # Set by the API's verdict store: the record's id, whether it was stored (false: the database was down),
    # and a person's review when the record has one (the label above stays the model's).
    verdict_id: str | None = None
    stored: bool | None = None
    reviewed_label: Label | None = None
    review_note: str | None = None


SearchHit.model_rebuild()
