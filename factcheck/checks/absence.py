"""Claims of absence ("nobody was hurt", "no official confirmed it", "never"): only a statement of presence contradicts.

The network reads silence near the topic as contradiction (it gave "Nobody was hurt in the attack" contradicted,
quoting "An Iraqi security official confirmed the attack."); a sentence that never mentions anyone hurt says nothing.
"""

from __future__ import annotations

import re

from .surface import alias, fold

_CUE = re.compile(r"\b(nobody|no one|no-one|none|nothing|never|no|not|zero|neither|without)\b|n't\b", re.I)
_WORD = re.compile(r"[A-Za-z][\w'-]*")
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
    "left",
    "remaining",
    "anymore",
    "still",
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
    {"releas", "publish", "post", "issu"},
]


def _stem(word: str) -> str:
    w = alias(fold(word))
    return w[:6] if len(w) > 6 else w


def _group(stem: str) -> set[str]:
    for g in _SAME:
        if any(stem.startswith(x) or (len(stem) >= 4 and x.startswith(stem)) for x in g):
            return g
    return {stem}


def _verbish(word: str) -> bool:
    """A past participle or past tense ("killed", "announced", "committed"): the predicate a cue governs."""
    w = word.lower()
    return len(w) > 4 and w.endswith("ed")


def absence_cue(claim: str) -> tuple[str, list[str]] | None:
    """The claim's cue of absence or negation and the words it governs: its predicate first when it has one."""
    m = _CUE.search(claim)
    if m is None:
        return None
    # What is said to be absent: the words the cue governs, up to its verb ("no Iraqi soldiers have been killed",
    # "none of the partner countries has announced ...").
    words = [w for w in _WORD.findall(claim[m.end() :])[:10] if w.lower() not in _FILLER]
    verb = next((w for w in words[:6] if _verbish(w)), None)
    rest = [w for w in words[:3] if w != verb]
    return m.group(), [_stem(w) for w in ([verb] if verb else []) + rest]


def _stated(word: str, stems: set[str]) -> bool:
    return any(s.startswith(x) or (len(s) >= 4 and x.startswith(s)) for s in stems for x in _group(word))


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
    stems = {_stem(w) for w in _WORD.findall(sentence)}
    verb = [w for w in _WORD.findall(claim) if _verbish(w)]
    if verb and _stem(verb[0]) == scope[0]:
        # The predicate must be stated; of the words around it, all but one will do ("committed to staying" states
        # "not committed to keeping its troops").
        rest = scope[1:]
        return _stated(scope[0], stems) and sum(_stated(w, stems) for w in rest) >= len(rest) - 1
    return all(_stated(w, stems) for w in scope)


def denies(claim: str, sentence: str) -> bool:
    """Whether an affirmative claim meets a sentence that negates one of its words ("Daesh is no longer a danger"
    against "Daesh is still a danger"): such a sentence cannot support it."""
    if _CUE.search(claim):
        return False
    claim_stems = {_stem(w) for w in _WORD.findall(claim) if w.lower() not in _FILLER}
    for m in _CUE.finditer(sentence):
        clause = re.split(r"[,;:]| but | while | although | whereas ", sentence[m.end() :])[0]
        governed = [w for w in _WORD.findall(clause) if w.lower() not in _FILLER][:3]
        if any(_stem(w) in claim_stems for w in governed if not w[:1].isupper()):
            return True
    return False
