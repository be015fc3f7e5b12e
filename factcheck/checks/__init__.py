"""Deterministic checks of a claim against one evidence sentence, beside the network's reading.

`numbers` (quantities and years, bound to their places), `dates`, `negation` and `slots` (people, offices,
organisations, places) each say whether the sentence states the claim's fact the same way; `check_unit` is the one
interface the judges call. `surface` and `acronyms` write the claim the way the evidence writes its names (case,
spellings, diacritics, acronyms) before anything reads it; `absence` says when a claim of absence can be contradicted
at all; `words` is the tokenizer they share.
"""

from __future__ import annotations

from ..models import ConsistencyFinding
from .absence import absence_cue, denies, states_presence
from .acronyms import align_acronyms
from .dates import date_findings
from .negation import negation_findings
from .numbers import extract_quantities, number_findings, year_findings
from .slots import entity_findings, names, places
from .surface import align_surface, fold
from .words import content_words

__all__ = [
    "align_acronyms",
    "check",
    "check_unit",
    "content_words",
    "extract_quantities",
    "absence_cue",
    "denies",
    "align_surface",
    "entity_findings",
    "fold",
    "names",
    "places",
    "states_presence",
]


def check(claim: str, sentence: str, passage_id: str | None = None) -> list[ConsistencyFinding]:
    """Compare the claim's numbers, years, dates and polarity with one evidence sentence.

    Only quantities that count the same thing (same or synonymous noun, compatible context) are
    compared; when the pairing is unclear nothing is reported, so a mismatch is real evidence.
    """
    findings: list[ConsistencyFinding] = []
    claim_words = content_words(claim)
    sent_words = content_words(sentence)
    overlap = len(claim_words & sent_words) / max(1, len(claim_words))
    findings += number_findings(claim, sentence, passage_id)
    findings += year_findings(claim, sentence, overlap, passage_id)
    findings += date_findings(claim, sentence, overlap, passage_id)
    findings += negation_findings(claim, sentence, claim_words, overlap, passage_id)
    return findings


def check_unit(
    claim: str, sentence: str, passage: str, passage_id: str | None = None, *, counts: bool = False
) -> list[ConsistencyFinding]:
    """Every check of the claim against one unit of evidence, its passage around it naming what the unit leaves out."""
    return check(claim, sentence, passage_id) + entity_findings(claim, sentence, passage, passage_id, counts=counts)
