"""The verdict store's records: what is kept per verdict, reviews and their append-only events."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from ..models import Label, Verdict

EventKind = Literal["review", "correction"]

# Typographic quotes and dashes that NFKC leaves alone but a reader types either way.
_TYPOGRAPHY = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-"})


def normalise_claim(claim: str) -> str:
    """The claim as compared for re-checks: NFKC, plain quotes, one space, case-folded, no final full stop."""
    text = unicodedata.normalize("NFKC", claim).translate(_TYPOGRAPHY)
    text = re.sub(r"\s+", " ", text).strip().casefold()
    return text.rstrip(". ").strip()


def record_id(
    normalised: str, as_of: date | None, top_k: int, index_sha256: str, judge: str, judge_version: str
) -> str:
    """The stable id of one check: the same claim, options, index generation and judge give the same id."""
    key = [normalised, as_of.isoformat() if as_of else None, top_k, index_sha256, judge, judge_version]
    return hashlib.sha256(json.dumps(key, ensure_ascii=False).encode()).hexdigest()[:32]


class CheckContext(BaseModel):
    """What a verdict was judged against and who asked: everything a record holds beside the verdict."""

    top_k: int
    as_of: date | None = None
    judge: str = Field(description="The configured judge's name (the verdict names the stage that decided)")
    judge_version: str
    models: dict[str, str] = Field(default_factory=dict, description="Versions of the models in play")
    index_generation: int
    index_sha256: str = Field(description="sha256 of the index manifest the check ran against")
    page_url: str | None = None
    api_key_name: str | None = Field(None, description="The name of the key that asked; never the key")
    endpoint: str = "check"


class NewRecord(BaseModel):
    """A verdict to store, with its context."""

    id: str
    claim: str
    normalised_claim: str
    verdict: Verdict
    context: CheckContext


class ReviewState(BaseModel):
    """The reviewable part of a record, as an event saw it before and after."""

    published_label: Label
    rating_text: str | None = None
    note: str | None = None
    reviewer: str | None = None


class ReviewEvent(BaseModel):
    """One append-only change to a record: who, when, before, after, and why."""

    seq: int
    verdict_id: str
    kind: EventKind
    at: datetime
    who: str = Field(description="The reviewer, as they signed the review")
    api_key_name: str | None = Field(None, description="The name of the key the review came with")
    before: ReviewState
    after: ReviewState
    reason: str | None = None
    version: int = Field(description="The record's version after this event")


class Review(BaseModel):
    """A person's review as it stands on the record."""

    label: Label
    rating_text: str | None = None
    note: str
    reviewer: str
    at: datetime


class VerdictRecord(BaseModel):
    """A stored verdict: the model's verdict, its context, the published label and the review trail."""

    id: str
    claim: str
    normalised_claim: str
    label: Label = Field(description="The model's label; it stays when a person overrules it")
    published_label: Label = Field(description="The reviewed label when there is a review, else the model's")
    review: Review | None = None
    verdict: Verdict
    context: CheckContext
    created_at: datetime
    updated_at: datetime
    version: int = Field(description="Bumped by every review; send it back (or as If-Match) to review")
    previous_id: str | None = Field(None, description="The earlier record of this claim (older index or judge)")
    events: list[ReviewEvent] = Field(default_factory=list)

    @property
    def etag(self) -> str:
        """The HTTP entity tag of this version of the record."""
        return f'"{self.version}"'


class ReviewInput(BaseModel):
    """What a reviewer submits."""

    label: Label
    rating_text: str | None = Field(None, max_length=200)
    note: str = Field(min_length=1, max_length=5000)
    reviewer: str = Field(min_length=1, max_length=200)
    reason: str | None = Field(None, max_length=2000, description="Why a published review is corrected")


class RecordQuery(BaseModel):
    """Filters of a listing, newest first."""

    claim: str | None = None
    label: Label | None = None
    since: datetime | None = None
    reviewed: bool | None = None
    cursor: str | None = None
    limit: int = Field(20, ge=1, le=500)


class RecordPage(BaseModel):
    """One page of records and the cursor of the next (None on the last page)."""

    items: list[VerdictRecord]
    next_cursor: str | None = None
