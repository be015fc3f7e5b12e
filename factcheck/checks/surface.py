"""Surface form: a claim written in lower case, in capitals or with another spelling of a name reads as the evidence.

The cross-encoder reads "iraq's prime minister" and "al-Soudani" for "al-Sudani" as other entities (a lower-case
claim flipped verdicts), so the claim is re-written with the evidence's casing and spelling where only those differ.
"""

from __future__ import annotations

import functools
import re
import unicodedata

_WORD = re.compile(r"[^\W\d_](?:[\w'’-]*[^\W_])?")
_PARTICLE = re.compile(r"(?:al|el|bin|ibn|abu|van|von|de)-", re.I)
_PARTICLES = {"al", "el", "bin", "ibn", "abu"}


@functools.lru_cache(maxsize=65536)
def fold(word: str) -> str:
    """Lower case without diacritics or apostrophe variants ("Soudaní" -> "soudani")."""
    text = unicodedata.normalize("NFKD", word.replace("’", "'"))
    return "".join(ch for ch in text if not unicodedata.combining(ch)).lower()


_SOUNDS = [("zh", "j"), ("dj", "j"), ("kh", "h"), ("ph", "f"), ("ou", "u"), ("y", "i"), ("w", "v"), ("c", "k")]


@functools.lru_cache(maxsize=65536)
def skeleton(word: str) -> str:
    """A name's transliteration skeleton: "Zhumabaev" and "Jumabayev", "Oberhoffer" and "Oberhofer" share one."""
    w = fold(word)
    for a, b in _SOUNDS:
        w = w.replace(a, b)
    return re.sub(r"(.)\1+", r"\1", w)


def _distance(a: str, b: str, limit: int) -> int:
    """Levenshtein distance, stopping early once it exceeds `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        if min(cur) > limit:
            return limit + 1
        prev = cur
    return prev[-1]


# One place or actor under several names in news copy.
_ALIASES = {
    "us": "us",
    "u.s": "us",
    "u.s.": "us",
    "usa": "us",
    "america": "us",
    "american": "us",
    "americans": "us",
    "united": "us",
    "washington": "us",
    "uk": "uk",
    "britain": "uk",
    "british": "uk",
    "spanish": "spain",
    "french": "france",
    "german": "germany",
    "dutch": "netherlands",
    "turkish": "turkey",
    "greek": "greece",
    "polish": "poland",
    "swedish": "sweden",
    "danish": "denmark",
    "chinese": "china",
    "russian": "russia",
    "ukrainian": "ukraine",
    "israeli": "israel",
    "lebanese": "lebanon",
    "kurdish": "kurdistan",
    "croatian": "croatia",
    "colombian": "colombia",
    "lithuanian": "lithuania",
    "estonian": "estonia",
    "bulgarian": "bulgaria",
    "iranian": "iran",
    "syrian": "syria",
    "iraqi": "iraq",
    "pentagon": "defense",
    "defence": "defense",
}


def alias(word: str) -> str:
    """One key for the names of one place or people ("american", "washington" -> "us"; "spanish" -> "spain")."""
    return _ALIASES.get(word, word)


def _named(word: str) -> bool:
    """A word written as a name: capitalised, or with a capital after a particle ("al-Sudani")."""
    return any(ch.isupper() for ch in word)


def _spelling_limit(n: int) -> int:
    """Edits allowed between two spellings of one name: none for short words ("Iraq" is not "Iran")."""
    return 0 if n < 6 else 1 if n < 9 else 2


def same_name(a: str, b: str) -> bool:
    """Whether two words spell one name: the same skeleton, or one edit apart in a long name ("Iraq" is not "Iran")."""
    x, y = skeleton(a), skeleton(b)
    if x == y:
        return len(x) >= 3
    limit = _spelling_limit(min(len(x), len(y)))
    return bool(limit) and x[:1] == y[:1] and _distance(x, y, limit) <= limit


def _variant(word: str, forms: dict[str, str]) -> str | None:
    """The evidence's name for `word`: same letters (case, diacritics) or another spelling of it."""
    key = fold(word)
    if key in forms:
        return forms[key]
    best = [f for f in forms.values() if same_name(f, word)]
    return best[0] if len(best) == 1 else None  # two candidates: which one is meant is unclear


def align_surface(claim: str, evidence: str) -> str:
    """`claim` with each name written as `evidence` writes it: its case, diacritics and spelling."""
    # Names: words the evidence capitalises mid-sentence ("Iraq", "al-Soudani"), not a sentence's first word.
    forms: dict[str, str] = {}
    for m in _WORD.finditer(evidence):
        w = m.group()
        if _named(w) and not w.isupper() and evidence[: m.start()].rstrip()[-1:] not in {".", "!", "?", ""}:
            forms.setdefault(fold(w), w)
            bare = _PARTICLE.sub("", w, count=1)
            if bare != w:
                forms.setdefault(fold(bare), bare)  # "al sudany" writes the particle apart: "Sudani" of "al-Sudani"
        elif w.isupper() and len(w) > 1:
            forms.setdefault(fold(w), w)  # an acronym is a name wherever it stands
    shouted = claim.isupper()
    out: list[str] = []
    pos = 0
    after_name = False
    prev = ""
    for m in _WORD.finditer(claim):
        w = m.group()
        form = forms.get(fold(w)) if not _named(w) or shouted else _variant(w, forms)
        if form is None and not _named(w) and (after_name or _PARTICLE.match(w) or fold(prev) in _PARTICLES):
            # "lloyd austen", "al-sudani": a lower-case name spelt another way, known by the name it follows or
            # its particle (a lone "stated" is no spelling of "States")
            form = _variant(w, forms)
        new = form if form is not None else (w.lower() if shouted else w)
        after_name = form is not None and _named(form)
        prev = w
        out.append(claim[pos : m.start()] + new)
        pos = m.end()
    text = "".join(out) + claim[pos:]
    return text[0].upper() + text[1:] if text[:1].islower() else text
