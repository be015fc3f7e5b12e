"""Sentence splitting and sentence-aware chunking with exact character offsets."""

from __future__ import annotations

import re

from .models import Article, Passage

# A sentence ends at . ! ? (optionally followed by closing quotes/brackets) before whitespace,
# or at a blank line. Abbreviations below are not sentence ends.
_END = re.compile(r"""[.!?…]+["'”’»)\]]*(?=\s)|\n\s*\n""")
_ABBREV = {
    "mr",
    "mrs",
    "ms",
    "dr",
    "prof",
    "gen",
    "maj",
    "col",
    "lt",
    "sgt",
    "capt",
    "sen",
    "rep",
    "gov",
    "st",
    "jr",
    "sr",
    "vs",
    "etc",
    "inc",
    "ltd",
    "co",
    "corp",
    "no",
    "fig",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
    "u.s",
    "u.k",
    "u.n",
    "e.g",
    "i.e",
    "al",
}


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Return (start, end) spans of the sentences in text[start:end], whitespace trimmed."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    pos = start
    for m in _END.finditer(text, start, end):
        cut = m.end()
        if m.group().strip() and _is_abbreviation(text, m.start()):
            continue
        _add_span(text, pos, cut, spans)
        pos = cut
    _add_span(text, pos, end, spans)
    return spans


def _is_abbreviation(text: str, dot: int) -> bool:
    """True when the period at `dot` ends an abbreviation or an initial (e.g. 'Gen.', 'J.')."""
    if text[dot] != ".":
        return False
    word = re.search(r"([\w.]+)$", text[max(0, dot - 12) : dot])
    if not word:
        return False
    w = word.group(1).lower()
    return w in _ABBREV or (len(w) == 1 and w.isalpha())


def _add_span(text: str, a: int, b: int, spans: list[tuple[int, int]]) -> None:
    """Append the whitespace-trimmed span text[a:b] if it holds any word character."""
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    if b > a and re.search(r"\w", text[a:b]):
        spans.append((a, b))


def chunk_article(article: Article, max_chars: int = 600, overlap_sentences: int = 1) -> list[Passage]:
    """Group whole sentences into windows of at most `max_chars` (a longer sentence stands alone)."""
    if max_chars < 50:
        raise ValueError("max_chars must be at least 50")
    if overlap_sentences < 0:
        raise ValueError("overlap_sentences must be >= 0")
    sents = split_sentences(article.text)
    passages: list[Passage] = []
    i = 0
    while i < len(sents):
        j = i + 1
        while j < len(sents) and sents[j][1] - sents[i][0] <= max_chars:
            j += 1
        a, b = sents[i][0], sents[j - 1][1]
        passages.append(
            Passage(
                id=f"{article.id}#{len(passages)}",
                article_id=article.id,
                ord=len(passages),
                text=article.text[a:b],
                start=a,
                end=b,
            )
        )
        if j >= len(sents):
            break
        # Step forward, keeping up to `overlap_sentences` of context but always advancing; shrink the
        # overlap when the next sentence would not fit beside it, else the passage repeats a subset.
        i = max(i + 1, j - overlap_sentences)
        while i < j and sents[j][1] - sents[i][0] > max_chars:
            i += 1
    return passages


UNITS_VERSION = "sentences+pairs-v1"  # what `passage_units` returns; stored units of another version are not read


def passage_units(text: str) -> list[tuple[int, int]]:
    """Sentences of `text` plus adjacent sentence pairs, as local (start, end) spans: what the verifier reads."""
    sents = split_sentences(text)
    units = list(sents)
    units += [(sents[i][0], sents[i + 1][1]) for i in range(len(sents) - 1)]
    return units or ([(0, len(text))] if text.strip() else [])
