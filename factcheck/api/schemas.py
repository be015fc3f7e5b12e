"""The API's wire types: requests, responses, error bodies and the examples the docs show."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, Field, field_validator

from ..extract import ExtractedClaim
from ..models import Verdict
from ..store import ReviewInput
from ..text import has_visible_text

# Hard ceilings for the schema; the configured (smaller) limits are enforced per request.
CLAIM_HARD_MAX = 20_000

TOP_K_MAX = 50

ARTICLE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$"


# Real examples from the seed corpus (evals/corpus/iraq-coalition-2024).
EXAMPLE_CLAIM = "About 2,500 US troops are in Iraq"

EXAMPLE_TEXT = (
    "The future of the international anti-jihadist coalition in Iraq is at the center of discussions between "
    "Baghdad and Washington. The United States currently has about 2,500 troops in Iraq and nearly 900 in "
    "neighboring Syria, all engaged in the international coalition. Will Iraq have to assume sole "
    "responsibility for the fight against jihadism on its territory?"
)


# The shape of a verdict for EXAMPLE_CLAIM over the seed corpus: quotes, offsets, passage ids and article
# metadata are real (tested against the ingested articles); label, scores and timings are illustrative.
EXAMPLE_VERDICT: dict[str, Any] = {
    "claim": EXAMPLE_CLAIM,
    "label": "supported",
    "confidence": 0.94,
    "citations": [
        {
            "article_id": "002_fe05e3191f7400ad",
            "passage_id": "002_fe05e3191f7400ad#4",
            "quote": "Currently, there are approximately 2,500 US troops deployed in Iraq and about 900 in Syria as "
            "part of the anti-Daesh coalition formed in 2014.",
            "start": 1452,
            "end": 1594,
            "title": "Future of Foreign Troops in Iraq to Be Discussed by Washington and Baghdad",
            "source": "TOME",
            "url": None,
            "published": "2024-05-29",
            "stance": "supports",
            "score": 0.97,
        },
        {
            "article_id": "000_2190a2ff1cec9e27",
            "passage_id": "000_2190a2ff1cec9e27#2",
            "quote": "The United States currently has about 2,500 troops in Iraq and nearly 900 in neighboring Syria, "
            "all engaged in the international coalition.",
            "start": 1117,
            "end": 1256,
            "title": "The future of the international anti-jihadist coalition in Iraq: troop reductions and new "
            "bilateral relations at the heart of the discussions",
            "source": None,
            "url": None,
            "published": None,
            "stance": "supports",
            "score": 0.95,
        },
    ],
    "explanation": "Two independent articles put the US presence in Iraq at about 2,500 troops.",
    "sources": [
        {
            "article_id": "002_fe05e3191f7400ad",
            "title": "Future of Foreign Troops in Iraq to Be Discussed by Washington and Baghdad",
            "source": "TOME",
            "published": "2024-05-29",
            "stance": "supports",
            "score": 0.97,
        },
        {"article_id": "000_2190a2ff1cec9e27", "stance": "supports", "score": 0.95},
    ],
    "checks": [
        {
            "kind": "number",
            "outcome": "match",
            "claim_value": "2,500",
            "evidence_value": "2,500",
            "passage_id": "002_fe05e3191f7400ad#4",
            "detail": "",
        }
    ],
    "judge": "verifier",
    "judge_version": "verifier-v10+acee2bb5",
    "timings_ms": {"embed": 6.0, "retrieve": 5.1, "judge": 1643.0, "total": 1654.0},
    "retrieved": 6,
}


def _http_only(url: str | None) -> str | None:
    """An http(s) URL or None; anything else is refused."""
    if url is not None and not url.lower().startswith(("http://", "https://")):
        raise ValueError("url must be an http(s) URL")
    return url


class ErrorDetail(BaseModel):
    """The machine-readable code and human message of an error."""

    code: str
    message: str


class ErrorBody(BaseModel):
    """Every non-2xx response body."""

    error: ErrorDetail


class CheckRequest(BaseModel):
    """One claim to judge."""

    claim: str = Field(min_length=1, max_length=CLAIM_HARD_MAX, description="The claim, in plain text")
    top_k: int | None = Field(None, ge=1, le=TOP_K_MAX, description="Passages to retrieve (default from settings)")
    as_of: date | None = Field(None, description="Leave out articles published after this date (ISO date)")
    url: str | None = Field(None, max_length=4096, description="The page the claim was read on (kept on its record)")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {"claim": EXAMPLE_CLAIM},
                {"claim": "Spain has more than 300 troops deployed to Iraq", "top_k": 4, "as_of": "2024-01-31"},
            ]
        }
    }

    @field_validator("claim")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        """Reject claims with no visible character (whitespace, NUL, zero-width spaces)."""
        if not has_visible_text(v):
            raise ValueError("claim is blank (no visible characters)")
        return v

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        """Only http(s) pages: the url is published as the claim's appearance."""
        return _http_only(v)


class BatchRequest(BaseModel):
    """Several claims judged with the same options; verdicts come back in the same order."""

    claims: list[str] = Field(min_length=1, max_length=1000)
    top_k: int | None = Field(None, ge=1, le=TOP_K_MAX)
    as_of: date | None = None
    url: str | None = Field(None, max_length=4096, description="The page the claims were read on")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "claims": [
                        EXAMPLE_CLAIM,
                        "More than 150 drone strikes or rocket attacks have targeted US and coalition soldiers "
                        "since mid-October",
                    ]
                }
            ]
        }
    }

    @field_validator("claims")
    @classmethod
    def _no_blank(cls, v: list[str]) -> list[str]:
        """Reject blank or oversized claims with their position."""
        for i, c in enumerate(v):
            if not has_visible_text(c):
                raise ValueError(f"claims[{i}] is blank (no visible characters)")
            if len(c) > CLAIM_HARD_MAX:
                raise ValueError(f"claims[{i}] is longer than {CLAIM_HARD_MAX} characters")
        return v

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        """Only http(s) pages."""
        return _http_only(v)


class ExtractRequest(BaseModel):
    """Page text from which to pull check-worthy claims (optionally judging them)."""

    text: str = Field(min_length=1, description="Plain page text; offsets in the answer index into it")
    url: str | None = Field(None, max_length=4096)
    check: bool = Field(False, description="Also judge each extracted claim")
    max_claims: int = Field(10, ge=1, le=50)
    top_k: int | None = Field(None, ge=1, le=TOP_K_MAX)
    as_of: date | None = None

    model_config = {"json_schema_extra": {"examples": [{"text": EXAMPLE_TEXT, "check": False}]}}


class ExtractedItem(ExtractedClaim):
    """An extracted claim, with its verdict when `check` was requested."""

    verdict: Verdict | None = None


class ExtractResponse(BaseModel):
    """Claims found in the given text."""

    url: str | None = None
    extractor: str
    claims: list[ExtractedItem]


class ArticleAdded(BaseModel):
    """Outcome of POST /articles."""

    id: str
    status: str = Field(description="added, replaced or unchanged")
    passages_added: int = 0
    passages_removed: int = 0


class JudgeInfo(BaseModel):
    """Name and version of the active judge."""

    name: str
    version: str


class Health(BaseModel):
    """Liveness plus what the service is running."""

    status: str
    version: str
    judge: JudgeInfo
    embedder: str
    prompt_version: str | None = None
    models: dict[str, str] = Field(default_factory=dict, description="Versions of every model in play")
    index: dict[str, Any] | None = None
    queue: dict[str, int]
    limits: dict[str, int] = Field(
        default_factory=dict, description="Request limits (characters, claims, bytes), so clients can cut text to fit"
    )
    store: dict[str, Any] | None = Field(
        None, description="The verdict store: its URL (no password) and whether its last use failed; null when off"
    )


class ReviewRequest(ReviewInput):
    """A review of a stored verdict; `version` (or an If-Match header) is the version the reviewer read."""

    version: int | None = Field(None, ge=1, description="The record's version as read; a changed record is a 409")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "label": "supported",
                    "rating_text": "Accurate",
                    "note": "Two outlets report about 2,500 US troops in Iraq.",
                    "reviewer": "A. Editor",
                    "version": 1,
                }
            ]
        }
    }


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "API key missing or wrong"},
    403: {"model": ErrorBody, "description": "The API key lacks the role this needs (check; admin for articles)"},
    413: {"model": ErrorBody, "description": "Request body too large"},
    422: {"model": ErrorBody, "description": "Malformed or invalid request"},
    429: {"model": ErrorBody, "description": "Work queue full; retry after `Retry-After` seconds"},
}
