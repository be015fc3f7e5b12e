"""Text normalisation shared by retrieval and the verifier: word tokens, number spellings (a leaf module)."""

from __future__ import annotations

import re
import unicodedata

_STOPWORDS = frozenset(
    "a an and are as at be been but by for from had has have he her his i in is it its of on or she that the their"
    " there they this to was were what which who will with would how many much do does did".split()
)
_TOKEN = re.compile(r"\w+")
# "2,500" and "2500" must meet in BM25; so must "U.S." and "US".
_THOUSANDS = re.compile(r"(?<=\d)[,\u202f\u00a0](?=\d{3}(?!\d))")


def drop_thousands_separators(text: str) -> str:
    """ "2,500" -> "2500", so that both spellings of a number match (BM25 terms, verifier tokens)."""
    return _THOUSANDS.sub("", text)


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens without stopwords, thousands separators removed."""
    text = drop_thousands_separators(text.lower()).replace("u.s.", "us")
    return [t for t in _TOKEN.findall(text) if t not in _STOPWORDS]


def has_visible_text(text: str) -> bool:
    """False for text made only of whitespace and invisible characters (control, format: NUL, ZWSP, BOM, soft hyphen)."""
    return any(not ch.isspace() and not unicodedata.category(ch).startswith("C") for ch in text)
