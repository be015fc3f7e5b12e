"""Words as the checks read them: tokens, lemmas, the stop words, content words, nouns that count the same thing."""

from __future__ import annotations

import functools
import re

# Nouns that count the same thing in news copy; anything else must match by its own lemma.
SYNONYMS = {
    "troop": "troop",
    "soldier": "troop",
    "force": "troop",
    "personnel": "troop",
    "servicemember": "troop",
    "service": "troop",
    "serviceman": "troop",
    "marine": "troop",
    "military": "troop",
    "people": "person",
    "person": "person",
    "individual": "person",
    "resident": "person",
    "civilian": "person",
    "percent": "percent",
    "%": "percent",
    "per": "percent",
    "pct": "percent",
    "dollar": "usd",
    "$": "usd",
    "usd": "usd",
    "euro": "eur",
    "€": "eur",
    "pound": "gbp",
    "£": "gbp",
    "death": "death",
    "dead": "death",
    "fatality": "death",
    "killed": "death",
    "year": "year",
    "yr": "year",
    "month": "month",
    "day": "day",
    "week": "week",
    "kilometre": "km",
    "kilometer": "km",
    "km": "km",
    "mile": "mile",
    "metre": "m",
    "meter": "m",
}

STOP_WORDS = {
    "the",
    "a",
    "an",
    "of",
    "in",
    "on",
    "at",
    "to",
    "from",
    "for",
    "by",
    "with",
    "and",
    "or",
    "but",
    "as",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "being",
    "has",
    "have",
    "had",
    "will",
    "would",
    "can",
    "could",
    "should",
    "that",
    "this",
    "these",
    "those",
    "it",
    "its",
    "their",
    "they",
    "them",
    "he",
    "she",
    "his",
    "her",
    "we",
    "our",
    "you",
    "i",
    "than",
    "more",
    "less",
    "about",
    "some",
    "said",
    "says",
    "say",
    "also",
    "which",
    "who",
    "whom",
    "what",
    "when",
    "where",
    "there",
    "here",
    "into",
    "out",
    "up",
    "down",
    "over",
    "under",
    "after",
    "before",
    "since",
    "until",
    "during",
    "while",
    "not",
    "no",
    "never",
    "all",
    "any",
    "most",
    "such",
    "so",
    "then",
    "now",
    "still",
    "just",
    "only",
    "very",
    "s",
    "do",
    "does",
    "did",
    "roughly",
    "approximately",
    "around",
    "nearly",
    "almost",
    "estimated",
    "according",
}

TOKEN = re.compile(r"\$|€|£|%|\d[\d,]*(?:\.\d+)?(?:k|bn|mn|m)?\b|[A-Za-z][A-Za-z'\-\.]*[A-Za-z]|[A-Za-z]")


def lemma(w: str) -> str:
    w = w.lower().strip(".")
    if w in SYNONYMS:
        return SYNONYMS[w]
    for suf, rep in (("ies", "y"), ("men", "man"), ("s", "")):
        if w.endswith(suf) and len(w) > len(suf) + 2:
            base = w[: -len(suf)] + rep
            return SYNONYMS.get(base, base)
    return w


def tokens(text: str) -> list[tuple[str, int, int]]:
    return [(m.group(), m.start(), m.end()) for m in TOKEN.finditer(text)]


@functools.lru_cache(maxsize=16384)
def content_words(text: str) -> frozenset[str]:
    """Lemmatised content words (no stop words, no numbers)."""
    # Cached: every claim's candidate units are ranked by these, and the claims of one page or story read the same
    # sentences again (a tenth of a fast verdict's time went here, measured on the seed set).
    return frozenset(
        lemma(t) for t, _, _ in tokens(text) if t[0].isalpha() and t.lower() not in STOP_WORDS and len(t) > 1
    )
