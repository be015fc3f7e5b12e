"""Acronyms and their spelled-out names: the claim written the way the evidence writes them."""

from __future__ import annotations

import re

# Acronyms and their spelled-out names ("MGT" / "Mediterranean Gateway Terminals", "PM" / "Prime Minister"):
# news copy switches between them, and the cross-encoder reads the other form as another entity (it gave
# "X is the chief executive of Mediterranean Gateway Terminals" P(contradict) 0.90 against "MGT chief
# executive X"). Connectors may sit inside a long form but do not count towards its initials.
_ACRONYM = re.compile(r"\b(?:[A-Z]\.){2,}|\b[A-Z]{2,6}\b")
_LONG_FORM = re.compile(r"\b[A-Z][a-z]+(?:\s+(?:(?:of|and|for|the|de|du|des|la|le)\s+)*[A-Z][a-z]+)+")
_CONNECTORS = {"of", "and", "for", "the", "de", "du", "des", "la", "le"}
_MAX_RUN = 12  # words in a long form, connectors included (6 initials at most, as the acronym pattern)


def _initials(long_form: str) -> str:
    return "".join(w[0] for w in long_form.split() if w not in _CONNECTORS)


def _long_forms(text: str) -> dict[str, str]:
    """Runs of two or more capitalised words in `text` (and their inner runs: "Prime Minister" in "Iraqi Prime
    Minister Mohamed"), by their initials."""
    out: dict[str, str] = {}
    for m in _LONG_FORM.finditer(text):
        words = m.group(0).split()
        # Acronyms have at most 6 letters, so longer runs never match: capping them keeps a title-case
        # passage linear instead of quadratic in its length.
        for i in range(len(words)):
            for j in range(i + 2, min(len(words), i + _MAX_RUN) + 1):
                run = words[i:j]
                if run[0] not in _CONNECTORS and run[-1] not in _CONNECTORS:
                    out.setdefault(_initials(" ".join(run)), " ".join(run))
    return out


def align_acronyms(claim: str, evidence: str) -> str:
    """`claim` with each acronym or spelled-out name written the way `evidence` writes it, where only the form differs."""
    if claim.isupper():  # a shouted claim is all "acronyms"
        return claim
    ev_acr = {m.group(0).replace(".", "") for m in _ACRONYM.finditer(evidence)}
    out = claim
    # claim's long form -> evidence's acronym
    for key, long_form in _long_forms(claim).items():
        if key in ev_acr and long_form not in evidence and key not in out.replace(".", ""):
            out = out.replace(long_form, key)
    # claim's acronym -> evidence's long form
    ev_long = _long_forms(evidence)
    for m in list(_ACRONYM.finditer(out))[::-1]:
        key = m.group(0).replace(".", "")
        if key in ev_acr or key not in ev_long:
            continue
        out = out[: m.start()] + ev_long[key] + out[m.end() :]
    return out
