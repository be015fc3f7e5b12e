"""Claims in parts: a compound claim ("A and B", lists, relative clauses) split into atomic facts judged one by one.

A claim with one stated part and one unstated part is unverified, and one contradicted part makes it contradicted;
the network reads the whole claim against one sentence and cannot tell which part it checked.
"""

from __future__ import annotations

import re

from .models import ClaimPart, Label

_AUX = {
    "is",
    "are",
    "was",
    "were",
    "has",
    "have",
    "had",
    "will",
    "would",
    "can",
    "could",
    "did",
    "does",
    "do",
    "may",
    "might",
    "must",
    "should",
    "says",
    "said",
    "say",
    "began",
    "begun",
    "took",
    "left",
    "met",
    "made",
    "came",
    "won",
    "lost",
    "ran",
    "fell",
    "rose",
    "wants",
    "want",
    "plans",
    "seeks",
    "fled",
    "hit",
    "led",
    "held",
    "sent",
    "gave",
    "told",
    "paid",
    "kept",
    "set",
    "cut",
    "put",
    "shut",
    "struck",
    "stole",
    "broke",
    "spent",
    "became",
    "remains",
    "remain",
    "calls",
    "asks",
    "leads",
    "runs",
    "lies",
    "denies",
    "faces",
    "knew",
    "got",
    "saw",
    "went",
    "killed",
    "hosts",
    "holds",
    "includes",
    "supports",
    "opposes",
    "backs",
    "sends",
    "keeps",
    "needs",
    "claims",
    "owns",
}
_NOT_VERBS = {"armed", "united", "based", "red", "bed", "need", "speed", "seed", "feed", "hundred", "led-by", "reed"}
_SEP = re.compile(r"\s*;\s*|,\s*(?:and|but|while)\s+|\s+(?:and|but|while)\s+|,\s+")
_RELATIVE = re.compile(r",\s+(?:who|which)\s+([^,]+?)(?:,\s*|$)")
_WORD = re.compile(r"[A-Za-z][\w'’-]*")


def _verb_at(words: list[str]) -> int | None:
    """Index of the first word that reads as a finite verb (closed list, or a past tense in -ed), or None."""
    for i, w in enumerate(words):
        low = w.lower()
        if w == low and (low in _AUX or (low.endswith("ed") and len(low) > 4 and low not in _NOT_VERBS)):
            return i  # lower case only: "May 29" is a date, "Discussed" in a headline no verb of the claim
    return None


def _clause(text: str) -> bool:
    """Whether a piece has a verb and some words around it: a fact of its own, not a noun in a list."""
    words = _WORD.findall(text)
    i = _verb_at(words)
    return i is not None and len(words) >= (2 if i == 0 else 3)


def _next_clause(text: str) -> bool:
    """Whether a piece after a conjunction states a fact of its own: its verb comes early ("the captain was
    arrested", "killed a firefighter"), not after a phrase that hangs on the first clause ("about 900 in Syria as
    part of the coalition formed in 2014", "all engaged in the coalition", "with many of them claimed by ...")."""
    words = _WORD.findall(text)
    i = _verb_at(words)
    return _clause(text) and i is not None and i <= 4 and words[0].lower() not in _HANGING


# Pronouns that stand for the first clause's subject in the next one; True: possessive.
_PRONOUNS = {
    "its": True,
    "his": True,
    "her": True,
    "their": True,
    "it": False,
    "he": False,
    "she": False,
    "they": False,
}
_HANGING = {
    "with",
    "all",
    "including",
    "as",
    "both",
    "each",
    "most",
    "many",
    "some",
    "about",
    "around",
    "nearly",
    "almost",
    "roughly",
    "mostly",
    "mainly",
    "especially",
    "then",
    "which",
    "who",
    "whose",
}


def _subject(text: str) -> str:
    """The words before the first verb ("Iraq's prime minister" in "Iraq's prime minister wants ...")."""
    words = list(_WORD.finditer(text))
    i = _verb_at([m.group() for m in words])
    return text[: words[i].start()].strip() if i else ""


def split_claim(claim: str, max_parts: int = 4) -> list[ClaimPart]:
    """The claim's atomic facts, each with its offsets into the claim; one part when it states one fact."""
    whole = [ClaimPart(text=claim, start=0, end=len(claim))]
    parts: list[ClaimPart] = []
    main = claim
    rel = _RELATIVE.search(claim)
    if rel is not None:
        # "Al-Sudani, who launched the talks, wants the coalition out": the antecedent is the last name before it.
        head = claim[: rel.start()]
        # The antecedent: a short subject ("iraq's prime minister"), else the last capitalised name of the head.
        ante = head.strip() if len(_WORD.findall(head)) <= 5 and _verb_at(_WORD.findall(head)) is None else None
        if ante is None:
            named = re.search(r"((?:[A-Z][\w'’-]*\s*)+)$", head)
            ante = named.group(1).strip() if named else None
        if ante and _clause("x " + rel.group(1)):
            parts.append(ClaimPart(text=f"{ante} {rel.group(1).strip()}", start=rel.start(1), end=rel.end(1)))
            main = head + (" " if rel.end() < len(claim) else "") + claim[rel.end() :]
    pieces: list[tuple[int, int]] = []
    pos = 0
    for m in _SEP.finditer(main):
        pieces.append((pos, m.start()))
        pos = m.end()
    pieces.append((pos, len(main)))
    # Pieces without a verb belong to their neighbour ("talks between the US and Iraq began" stays whole).
    merged: list[list[int]] = []
    for a, b in pieces:
        if merged and not (_next_clause(main[a:b]) and _clause(main[merged[-1][0] : merged[-1][1]])):
            merged[-1][1] = b
        else:
            merged.append([a, b])
    if len(merged) == 1 or not _clause(main[merged[0][0] : merged[0][1]]):
        return whole if not parts else _with_main(parts, claim, main)
    subject = _subject(main[merged[0][0] : merged[0][1]])
    for a, b in merged:
        text = main[a:b].strip().rstrip(".")
        words = _WORD.findall(text)
        if _verb_at(words) == 0 and subject:  # "... and said it would leave": the first clause's subject
            text = f"{subject} {text}"
        elif words and words[0].lower() in _PRONOUNS and subject and a > 0:
            # "... and its foreign minister visited": the pronoun is the first clause's subject
            lead = text.split(" ", 1)
            owner = f"{subject}'s" if _PRONOUNS[words[0].lower()] else subject
            text = f"{owner} {lead[1]}" if len(lead) > 1 else text
        start = a if main == claim else claim.find(main[a:b].strip())
        parts.append(ClaimPart(text=text, start=max(0, start), end=max(0, start) + len(main[a:b].strip())))
    if len(parts) <= 1 or len(parts) > max_parts:
        return whole
    return sorted(parts, key=lambda p: p.start)


def _with_main(parts: list[ClaimPart], claim: str, main: str) -> list[ClaimPart]:
    """The relative clause's part and the main clause's, which spans the claim around it."""
    return sorted([*parts, ClaimPart(text=main.strip(), start=0, end=len(claim))], key=lambda p: p.start)


def combine(labels: list[Label]) -> Label:
    """Any part contradicted: contradicted; every part supported: supported; anything else: unverified."""
    if "contradicted" in labels:
        return "contradicted"
    return "supported" if labels and all(lab == "supported" for lab in labels) else "unverified"
