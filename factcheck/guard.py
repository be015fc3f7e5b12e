"""The prompt-injection guard: inputs that only instruct the checker, and instructions stripped from claims."""

from __future__ import annotations

import re

from .checks import content_words

# Text addressed to the checker rather than about the world: an override of its rules, a verdict ordered
# up front, a role or markup token. Narrow on purpose: a span is only removed when it names the checker's
# instructions, a verdict word, or a chat role, so a claim that merely contains "ignore" or "say" keeps it.
_MARKUP = r"\[/?INST\]|</?claim>|<\|[^|>]{1,40}\|>"  # chat-template and claim tags

_OVERRIDE = re.compile(
    r"\b(?:ignore|disregard|forget|override)\s+(?:(?:all|any|the|your|my|these|those|previous|"
    r"prior|above|earlier|preceding|other)\s+)*(?:instructions?|rules?|prompts?|evidence|sources?|"
    r"context|guidelines|passages?)\b",
    re.I,
)

_ORDERED_VERDICT = re.compile(
    r"\b(?:answer|reply|respond|output|say|mark|label|rate|return|print|classify|judge|flag|tag|verdict)"
    r"\b[^.!?\n]{0,40}?\b(?:supported|contradicted|unverified|true|false|verified|yes|correct|fake)\b",
    re.I,
)

_ROLE = re.compile(r"(?:^|\b)(?:system|assistant|user|admin|developer)\s*:", re.I)

_MARKUP_OR_MODE = re.compile(_MARKUP + r"|\b(?:system prompt|system override|developer mode|jailbreak)\b", re.I)

_INSTRUCTION_SPANS = [_OVERRIDE, _ORDERED_VERDICT, _ROLE, _MARKUP_OR_MODE]

INSTRUCTION_ONLY_EXPLANATION = (
    "The input is an instruction to the checker, not a claim about the world, so there is nothing to check."
)


def instruction_only(claim: str) -> bool:
    """True when the input instructs the checker and holds no claim: fewer than two content words outside such spans."""
    rest, hit = claim, False
    for rx in _INSTRUCTION_SPANS:
        rest, n = rx.subn(" ", rest)
        hit = hit or n > 0
    return hit and len(content_words(rest)) < 2


# Where pasted text around a claim breaks: markup and role tokens, sentence ends, and a colon that
# introduces what follows ("answer supported: <claim>", "Claim: <claim>").
_SEGMENT_BREAK = re.compile(_MARKUP + r"|(?<=[.!?:])\s+|\n+", re.I)


# Stricter than _ORDERED_VERDICT, since here a sentence beside a claim is removed: a verdict is only one of
# the checker's own labels ("the short answer is YES" and "rates ... false" are claims people make).
_ORDERED_LABEL = re.compile(
    r"\b(?:answer|reply|respond|output|say|mark|label|return|print|classify|flag|tag|verdict)"
    r"\b[^.!?\n]{0,40}?\b(?:supported|contradicted|unverified)\b",
    re.I,
)

_STRIP_SPANS = [_OVERRIDE, _ORDERED_LABEL, _ROLE, _MARKUP_OR_MODE]


# A piece that is only a field name or a verdict word ("Claim:", "verdict:", "contradicted") carries no claim.
_CLAIM_LABEL = re.compile(
    r"^(?:(?:claim|statement|fact[- ]check|verify|check|verdict|label|answer|output)\s*:?|"
    r"(?:supported|contradicted|unverified)[.!]?)$",
    re.I,
)

SET_ASIDE_NOTE = "Instructions to the checker in the input were set aside; the rest was checked."


def strip_instructions(claim: str) -> str:
    """The claim without the pieces that address the checker; the claim unchanged when nothing else remains."""
    pieces, start, markup = [], 0, False
    for m in _SEGMENT_BREAK.finditer(claim):
        pieces.append(claim[start : m.start()])
        start, markup = m.end(), markup or bool(m.group().strip())
    pieces.append(claim[start:])
    pieces = [p.strip() for p in pieces if p.strip()]
    instructive = [any(rx.search(p) for rx in _STRIP_SPANS) for p in pieces]
    dropped = markup or any(instructive)
    # Field names and bare verdict words go only with an instruction: "Claim: X" on its own is left as sent.
    rest = " ".join(p for p, bad in zip(pieces, instructive) if not bad and not (dropped and _CLAIM_LABEL.match(p)))
    # A lone sentence that trips a pattern ("the label 'organic' was false") is a claim, not a wrapper: only
    # a piece beside other text with a claim's worth of words is removed.
    if not dropped or len(content_words(rest)) < 2:
        return claim
    return rest
