"""Polarity: a claim and a sentence that say nearly the same thing, one of them negated."""

from __future__ import annotations

import re

from ..chunk import split_sentences
from ..models import ConsistencyFinding
from .words import content_words

_NEG_CUES = re.compile(r"\b(not|never|no longer|no|none|nobody|nothing|neither|nor|cannot|without)\b|n't\b", re.I)


def _negated(text: str) -> list[int]:
    return [m.start() for m in _NEG_CUES.finditer(text)]


def negation_findings(
    claim: str, sentence: str, claim_words: frozenset[str], overlap: float, passage_id: str | None
) -> list[ConsistencyFinding]:
    """Polarity mismatch on a sentence that says nearly the same thing as the claim."""
    cn, sn = _negated(claim), _negated(sentence)
    if bool(cn) == bool(sn) or overlap < 0.6:
        return []
    if cn and not sn:
        m = _NEG_CUES.search(claim)
        assert m is not None  # cn holds the start of a cue
        cue = m.group()
        return [
            ConsistencyFinding(
                kind="negation",
                outcome="mismatch",
                claim_value=cue,
                evidence_value="(affirmative)",
                passage_id=passage_id,
                detail=f'the claim is negated ("{cue}") but the source states it affirmatively',
            )
        ]
    # The source's negation must govern words of the claim, not an unrelated clause, and sit in a sentence that
    # restates the claim: a unit of two sentences may hold the claim in one and an unrelated "not" in the other.
    for pos in sn:
        own = _sentence_at(sentence, pos)
        if len(claim_words & content_words(own)) / max(1, len(claim_words)) < 0.6:
            continue
        # scope of the negation: up to the end of its clause
        clause = re.split(r"[,;:]| but | and | while | although | though | whereas ", sentence[pos:])[0]
        scope = content_words(" ".join(clause.split()[:6]))
        if scope & claim_words:
            m = _NEG_CUES.search(sentence[pos:])
            assert m is not None  # a cue starts at pos
            cue = m.group()
            return [
                ConsistencyFinding(
                    kind="negation",
                    outcome="mismatch",
                    claim_value="(affirmative)",
                    evidence_value=cue,
                    passage_id=passage_id,
                    detail=f'the source says "{cue}" where the claim is affirmative',
                )
            ]
    return []


def _sentence_at(text: str, pos: int) -> str:
    """The sentence of `text` that holds character `pos` (the chunker's sentence split, as the verifier's units)."""
    return next((text[a:b] for a, b in split_sentences(text) if a <= pos < b), text)
