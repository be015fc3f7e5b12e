"""Offline claim extraction: check-worthy sentences of a page with exact character offsets."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, Field

from .chunk import split_sentences
from .errors import InputError

if TYPE_CHECKING:
    from .settings import Settings

RULES_VERSION = "rules-v1"


EXAMPLE_EXTRACTED: dict[str, Any] = {
    "text": "The United States currently has about 2,500 troops in Iraq and nearly 900 in "
    "neighboring Syria, all engaged in the international coalition.",
    "start": 128,
    "end": 267,
    "score": 0.85,
    "reasons": ["number", "entity", "quantity", "comparison"],
}


class ExtractedClaim(BaseModel):
    """A check-worthy sentence; `text[start:end] == claim.text` in the text it came from."""

    text: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    score: float = Field(ge=0.0, le=1.0)
    reasons: list[str] = Field(default_factory=list)

    model_config = {"json_schema_extra": {"examples": [EXAMPLE_EXTRACTED]}}


class ClaimExtractor(Protocol):
    """Finds check-worthy claims in free text (the seam for a future LLM extractor)."""

    name: str
    version: str

    def extract(self, text: str, max_claims: int = 20) -> list[ExtractedClaim]:
        """Return claims in document order with offsets into `text`."""
        ...


_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december|"
    "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
_NUMBER = re.compile(r"\d")
_NUMBER_WORD = re.compile(
    r"\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|"
    r"sixty|seventy|eighty|ninety|hundreds?|thousands?|millions?|billions?|trillions?|dozens?|half|"
    r"third|quarter|twice|double|triple)\b",
    re.I,
)
_QUANTITY = re.compile(
    r"\b(?:percent|per cent|%|troops|soldiers|people|dollars|euros|km|miles|tons?|deaths?|"
    r"killed|injured|attacks?|strikes?)\b|[$€£%]",
    re.I,
)
_YEAR = re.compile(r"\b(?:1[89]\d\d|20\d\d)s?\b")
_DATE = re.compile(
    rf"\b(?:{_MONTHS})\b\.?\s*\d{{0,2}}|\b(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
    r"yesterday|today|last (?:week|month|year)|since)\b",
    re.I,
)
_ATTRIBUTION = re.compile(
    r"\b(?:said|says|announced|announces|according to|reported|reports|confirmed|confirms|stated|"
    r"told|declared|claimed|claims|estimated|estimates|revealed|denied|denies|acknowledged)\b",
    re.I,
)
_COMPARATIVE = re.compile(
    r"\b(?:more than|less than|fewer than|at least|at most|up to|nearly|almost|about|approximately|"
    r"increase[sd]?|decrease[sd]?|rose|risen|rises|fell|fallen|falls|doubled|tripled|halved|"
    r"highest|lowest|largest|smallest|biggest|record|for the first time)\b",
    re.I,
)
_HEDGE = re.compile(
    r"\b(?:i think|i believe|i feel|in my (?:opinion|view)|we believe|we feel|perhaps|maybe|probably|"
    r"might|arguably|seems?|should|ought|must|hopefully|beautiful|terrible|awful|wonderful|amazing|"
    r"disgraceful|shameful)\b",
    re.I,
)
_FIRST_PERSON = re.compile(r"^\s*(?:i|we|my|our)\b", re.I)
_WORD = re.compile(r"[A-Za-z][\w'’\-]*")
# Sentence-initial / function words that are capitalised for grammar, not because they name something.
_STOP_CAPS = {
    "the",
    "a",
    "an",
    "in",
    "on",
    "at",
    "this",
    "that",
    "these",
    "those",
    "it",
    "its",
    "he",
    "she",
    "they",
    "we",
    "i",
    "but",
    "and",
    "or",
    "if",
    "when",
    "while",
    "for",
    "of",
    "to",
    "as",
    "by",
    "with",
    "from",
    "after",
    "before",
    "since",
    "there",
    "here",
    "his",
    "her",
    "their",
    "our",
}
_LEAD_TRIM = re.compile(r"[\s•·\-–—*>|]+")

MIN_WORDS = 6
MAX_CHARS = 600


def _candidate_spans(text: str) -> list[tuple[int, int]]:
    """Sentence spans, split at every line break too (page text puts blocks on separate lines)."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for line in text.split("\n"):
        a, b = pos, pos + len(line)
        pos = b + 1
        for s, e in split_sentences(text, a, b):
            lead = _LEAD_TRIM.match(text, s, e)
            if lead:
                s = lead.end()
            if e > s:
                spans.append((s, e))
    return spans


def _entities(sentence: str) -> list[str]:
    """Capitalised words that look like names (skipping the sentence's first word)."""
    words = _WORD.findall(sentence)
    out = []
    for i, w in enumerate(words):
        if not w[0].isupper() or w.lower() in _STOP_CAPS:
            continue
        # The first word is capitalised anyway: count it only as an acronym or the start of a name.
        if i == 0 and not ((w.isupper() and len(w) > 1) or (len(words) > 1 and words[1][0].isupper())):
            continue
        out.append(w)
    return out


def score_sentence(sentence: str) -> tuple[float, list[str]]:
    """Check-worthiness in [0, 1] and the rules that fired; 0 means dropped (reason given)."""
    s = sentence.strip()
    words = _WORD.findall(s)
    if s.endswith("?"):
        return 0.0, ["question"]
    if len(words) < MIN_WORDS:
        return 0.0, ["too_short"]
    if len(s) > MAX_CHARS:
        return 0.0, ["too_long"]
    caps = sum(1 for w in words if w[0].isupper())
    # Title Case lines are headlines or navigation, not sentences stating a fact.
    if len(words) >= 4 and caps / len(words) > 0.6 and not re.search(r"[.!]$", s):
        return 0.0, ["headline"]
    reasons: list[str] = []
    score = 0.0
    if _NUMBER.search(s) or _NUMBER_WORD.search(s):
        score += 0.3
        reasons.append("number")
    if _YEAR.search(s) or _DATE.search(s):
        score += 0.2
        reasons.append("date")
    ents = _entities(s)
    if ents:
        score += 0.2 if len(ents) < 3 else 0.3
        reasons.append("entity")
    if _QUANTITY.search(s):
        score += 0.15
        reasons.append("quantity")
    if _ATTRIBUTION.search(s):
        score += 0.15
        reasons.append("attribution")
    if _COMPARATIVE.search(s):
        score += 0.1
        reasons.append("comparison")
    factual = {"number", "date", "entity"} & set(reasons)
    if not factual:
        return 0.0, reasons + ["no_checkable_content"]
    if _HEDGE.search(s):
        score -= 0.25
        reasons.append("hedge")
    if _FIRST_PERSON.match(s):
        score -= 0.3
        reasons.append("first_person")
    return max(0.0, min(1.0, round(score, 3))), reasons


class RuleExtractor:
    """Sentence split plus check-worthiness rules; no model, deterministic."""

    name = "rules"
    version = RULES_VERSION

    def __init__(self, min_score: float = 0.35):
        self.min_score = min_score

    def extract(self, text: str, max_claims: int = 20) -> list[ExtractedClaim]:
        """Return the `max_claims` best-scoring claims, in document order."""
        if max_claims < 1:
            raise InputError("max_claims must be at least 1")
        found: list[ExtractedClaim] = []
        seen: set[str] = set()
        for s, e in _candidate_spans(text):
            sentence = text[s:e]
            score, reasons = score_sentence(sentence)
            key = " ".join(sentence.lower().split())
            if score < self.min_score or key in seen:
                continue
            seen.add(key)
            found.append(ExtractedClaim(text=sentence, start=s, end=e, score=score, reasons=reasons))
        best = sorted(found, key=lambda c: (-c.score, c.start))[:max_claims]
        return sorted(best, key=lambda c: c.start)


# The seam for an LLM extractor: register a factory here and select it in make_extractor.
EXTRACTORS: dict[str, Callable[[Settings], ClaimExtractor]] = {"rules": lambda settings: RuleExtractor()}


def make_extractor(settings: Settings) -> ClaimExtractor:
    """The claim extractor for these settings (offline rules; no LLM extractor is built yet)."""
    return EXTRACTORS["rules"](settings)


def extract_claims(text: str, max_claims: int = 20, extractor: ClaimExtractor | None = None) -> list[ExtractedClaim]:
    """Check-worthy claims in `text` with offsets into it (rules unless an extractor is given)."""
    if not isinstance(text, str):
        raise InputError("text must be a string")
    return (extractor or RuleExtractor()).extract(text, max_claims=max_claims)
