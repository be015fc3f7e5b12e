"""Claims of absence ("nobody was hurt", "no official confirmed it", "never"): only a statement of presence contradicts.

The network reads silence near the topic as contradiction (it gave "Nobody was hurt in the attack" contradicted,
quoting "An Iraqi security official confirmed the attack."); a sentence that never mentions anyone hurt says nothing.
"""

from __future__ import annotations

import re

from .surface import alias, fold

_CUE = re.compile(r"\b(nobody|no one|no-one|none|nothing|never|no|not|zero|neither|without)\b|n't\b", re.I)
_FILLER = {
    "the",
    "a",
    "an",
    "of",
    "in",
    "on",
    "at",
    "to",
    "for",
    "by",
    "with",
    "was",
    "were",
    "is",
    "are",
    "be",
    "been",
    "has",
    "have",
    "had",
    "did",
    "do",
    "does",
    "ever",
    "yet",
    "any",
    "one",
    "single",
    "them",
    "it",
    "this",
    "that",
    "there",
    "their",
    "its",
    "and",
    "or",
    "so",
    "far",
    "also",
    "all",
    "during",
    "after",
    "before",
    "from",
    "as",
    "longer",
    "more",
    "less",
    "than",
}
# Words that state the same kind of thing in news copy: "hurt" is stated by "injured", "wounded", "killed".
_SAME = [
    {"hurt", "injur", "wound", "kill", "casualt", "dead", "death", "die", "harm", "victim"},
    {"confirm", "acknowledg", "verif"},
    {"arrest", "detain", "custody"},
    {"evacuat", "flee", "fled"},
    {"damag", "destroy"},
]


def _stem(word: str) -> str:
    w = alias(fold(word))
    return w[:6] if len(w) > 6 else w


def _group(stem: str) -> set[str]:
    for g in _SAME:
        if any(stem.startswith(x) or (len(stem) >= 4 and x.startswith(stem)) for x in g):
            return g
    return {stem}


def absence_cue(claim: str) -> tuple[str, list[str]] | None:
    """The claim's cue of absence or negation and the words it governs (up to two content words), or None."""
    m = _CUE.search(claim)
    if m is None:
        return None
    # What is said to be absent: the words the cue governs, up to its verb ("no Iraqi soldiers ... killed").
    scope = [w for w in re.findall(r"[A-Za-z][\w'-]*", claim[m.end() :])[:8] if w.lower() not in _FILLER]
    return m.group(), [_stem(w) for w in scope[:3]]


def states_presence(claim: str, sentence: str) -> bool:
    """Whether `sentence` states, without negating it, what the claim says is absent (so it can contradict)."""
    cue = absence_cue(claim)
    if cue is None:
        return True
    _, scope = cue
    if not scope:
        return False
    if _CUE.search(sentence):
        # A sentence that negates too ("no one was injured") agrees or says something else; not a statement of presence.
        return False
    stems = {_stem(w) for w in re.findall(r"[A-Za-z][\w'-]*", sentence)}
    return all(
        any(s.startswith(x) or (len(s) >= 4 and x.startswith(s)) for s in stems for x in _group(w)) for w in scope
    )
