"""Slots: is the claim's person, office, organisation or place the one the evidence names in that role?

The network calls "The talks were launched by Prime Minister Haider al-Abadi" supported at 0.80 against a sentence
in which al-Sudani launched them: the rest of the claim matches. A name the evidence leaves out is a slot it leaves
empty (never support); a name the evidence replaces in the same slot is a contradiction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..models import ConsistencyFinding
from .dates import MONTHS
from .surface import alias, fold, skeleton

_NAME = re.compile(
    r"(?:\b(?:al|el|bin|ibn|de|van|von)-)?\b[A-Z][\w'’.-]*[\w]"
    r"(?:\s+(?:(?:of|the|de|al|bin|ibn|van|von|del|la|and)\s+)?(?:(?:al|el)-)?[A-Z][\w'’.-]*[\w])*"
)
# Words of a title or office: they describe the slot a name fills, they are not the name.
_TITLES = {
    "prime",
    "minister",
    "president",
    "vice",
    "secretary",
    "spokesperson",
    "spokesman",
    "spokeswoman",
    "chief",
    "king",
    "queen",
    "mayor",
    "governor",
    "senator",
    "sen",
    "rep",
    "mr",
    "mrs",
    "ms",
    "dr",
    "pope",
    "sheikh",
    "colonel",
    "lieutenant",
    "commander",
    "ambassador",
    "deputy",
    "director",
    "chairman",
    "chair",
    "ceo",
    "judge",
    "prosecutor",
    "captain",
    "admiral",
    "pm",
    "gen",
    "lt",
    "col",
    "major",
    "general",
}
_COMMON = set(MONTHS) | {
    "the",
    "a",
    "an",
    "this",
    "that",
    "these",
    "those",
    "it",
    "its",
    "he",
    "she",
    "they",
    "we",
    "i",
    "in",
    "on",
    "at",
    "nobody",
    "no",
    "none",
    "nothing",
    "never",
    "there",
    "after",
    "before",
    "since",
    "when",
    "while",
    "about",
    "around",
    "some",
    "most",
    "all",
    "both",
    "according",
    "talks",
    "roughly",
    "nearly",
    "more",
    "less",
    "many",
    "few",
    "several",
    "officials",
    "official",
    "reports",
    "report",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
}
_PLACE_PREPS = {"in", "at", "from", "to", "into", "near", "outside"}


@dataclass
class Name:
    """A capitalised name in a text, the words that carry it (no titles) and the slot words around it."""

    text: str
    core: list[str]  # folded words of the name itself
    before: str  # the word before it, or its own last title word ("minister" in "Prime Minister X")
    after: str  # the word after it
    head: str = ""  # the word before `before` ("held" in "held in Baghdad"): what a place is the place of


def _key(word: str) -> str:
    return alias(re.sub(r"'s$", "", fold(word).strip(".'’")))


_VERBS = {"is", "are", "was", "were", "has", "have", "had", "will", "would", "said", "says", "did", "asked", "wants"}


def _acts(following: list[str]) -> bool:
    """Whether a sentence-initial word is followed by a verb, as a name that acts is ("Iran launched ...")."""
    if not following or following[0][:1].isupper():
        return bool(following)
    w = following[0].lower()
    return w in _VERBS or (len(w) > 3 and w.endswith(("ed", "s")))


def names(text: str) -> list[Name]:
    """The names in `text` (sentence-initial single common words left out), each with its slot words."""
    out = []
    for m in _NAME.finditer(text):
        words = m.group().split()
        initial = m.start() == 0 or text[: m.start()].rstrip()[-1:] in {".", "!", "?", ":", '"'}
        nxt = re.findall(r"[A-Za-z']+", text[m.end() :])
        if initial and len(words) == 1 and (fold(words[0]) in _COMMON or len(words[0]) < 3 or not _acts(nxt)):
            continue  # "Sec of defence ...", "Talks began": a capital the sentence gives, not a name
        titles = [w for w in words if fold(w).strip(".") in _TITLES]
        if titles and fold(words[-1]).strip(".") in _TITLES:
            continue  # "Iraq's Prime Minister", "Spanish Foreign Minister": an office described, not a name
        core = [_key(w) for w in words if fold(w).strip(".") not in _TITLES and fold(w) not in {"of", "the", "and"}]
        core = [w for w in core if w not in _COMMON]
        if not core:
            continue
        prev = [w for w in re.findall(r"[A-Za-z']+", text[: m.start()]) if w.lower() not in {"the", "a", "an"}]
        before = fold(titles[-1]).strip(".") if titles else (fold(prev[-1]) if prev else "")
        after = fold(nxt[0]) if nxt else ""
        head = fold(prev[-2])[:5] if len(prev) >= 2 and not titles else ""
        out.append(Name(m.group(), core, before, after, head))
    return out


def _stems(text: str) -> set[str]:
    """The text's words as names are compared: keyed, transliterated, with the parts of "al-Assad" and "pro-Iran"."""
    words = re.findall(r"[^\W\d_][\w'’.-]*[\w]|[^\W\d_]", text)
    return {skeleton(_key(p))[:6] for w in words for p in {w, *w.split("-")} if p}


def _seen(word: str, stems: set[str]) -> bool:
    """Whether a word of a name appears among the evidence's words, in any spelling or as its demonym."""
    w = skeleton(word)
    return w[:6] in stems or (len(w) >= 5 and any(s[:4] == w[:4] for s in stems if len(s) >= 5))  # "Iraqi": Iraq


def _covered(name: Name, stems: set[str]) -> bool:
    """Whether the evidence names it: its last word (a surname, "State" of "Islamic State") or all its words."""
    return _seen(name.core[-1], stems) or all(_seen(w, stems) for w in name.core)


def _same_slot(c: Name, e: Name) -> bool:
    """Two names fill one slot when the same title, preposition or head noun frames them."""
    if c.before and c.before == e.before and c.before in _TITLES:
        return True
    if (c.before in _PLACE_PREPS or c.before == "by") and c.before == e.before:
        # the place or agent of the same thing: "held in Washington" / "held in Baghdad", "claimed by X" / "claimed by
        # Y"; not "war in Gaza" / "tensions in Iraq", nor "condemned by Tehran" / "claimed by the Islamic Resistance"
        return bool(c.head) and c.head == e.head
    return bool(c.after) and c.after == e.after and c.after in _TITLES


# Offices are a head ("minister", "secretary", "department") and what it is for ("foreign", "defense"): "Secretary of
# State" is not "Secretary of Defense", and "the State Department's spokesperson" is not the Pentagon's.
_OFFICE_HEADS = {
    "secretary": "secretary",
    "minister": "minister",
    "ministry": "ministry",  # an institution, not its minister: "the Ministry of Foreign Affairs" is no prime minister
    "department": "department",
    "dept": "department",
}
_OFFICE_FOR = {
    "foreign": "foreign",
    "defense": "defense",
    "defence": "defense",
    "state": "state",
    "interior": "interior",
    "finance": "finance",
    "treasury": "treasury",
    "justice": "justice",
    "health": "health",
    "energy": "energy",
    "commerce": "commerce",
    "labor": "labor",
    "labour": "labor",
    "education": "education",
    "transport": "transport",
    "agriculture": "agriculture",
    "prime": "prime",
    "home": "home",
    "economy": "economy",
    "environment": "environment",
    "pentagon": "defense",
}
_OFFICE_OF = re.compile(r"\b(secretary|minister|ministry|department|dept)\.?\s+(?:of|for)\s+(?:the\s+)?([a-z]+)", re.I)
_OFFICE_PRE = re.compile(r"\b([a-z]+)(?:'s)?\s+(secretary|minister|ministry|department|dept)\b", re.I)


def offices(text: str) -> dict[tuple[str, str], tuple[str, str]]:
    """Each office the text names, by (head, what it is for), with its words and whose it is ("" when unsaid):
    ("minister", "foreign") -> ("Spanish Foreign Minister", "spain")."""
    out: dict[tuple[str, str], tuple[str, str]] = {}
    for m in _OFFICE_OF.finditer(text):
        if m.group(2).lower() in _OFFICE_FOR:
            out.setdefault((_OFFICE_HEADS[m.group(1).lower()], _OFFICE_FOR[m.group(2).lower()]), (m.group(), ""))
    for m in _OFFICE_PRE.finditer(text):
        if m.group(1).lower() in _OFFICE_FOR:
            owner = re.search(r"([A-Za-z]+)(?:'s|’s)?\s*$", text[: m.start()])
            named = owner is not None and owner.group(1)[:1].isupper()
            whose = _key(owner.group(1)) if owner is not None and named else ""
            words = (owner.group(0).strip() + " " if owner is not None and named else "") + m.group()
            out.setdefault((_OFFICE_HEADS[m.group(2).lower()], _OFFICE_FOR[m.group(1).lower()]), (words, whose))
    return out


def office_findings(
    claim: str, sentence: str, passage_id: str | None = None, *, holder: bool = False
) -> list[ConsistencyFinding]:
    """An office of the claim that the sentence names for another purpose or another country, never the claim's.

    Another country's office contradicts only with `holder`, the claim naming the person the sentence names: "Albares
    is Iraq's foreign minister" is false, "France's foreign minister also voiced concern" merely unstated."""
    theirs = offices(sentence)
    out = []
    for (head, what), (said, whose) in sorted(offices(claim).items()):
        mine = theirs.get((head, what))
        if mine is not None:
            # the same office of another country: "Iraq's foreign minister" / "Spanish Foreign Minister"
            other = bool(whose and mine[1]) and whose[:4] != mine[1][:4]  # "Spains" is Spain
            rival = [mine[0]] if holder and other else []
        else:
            rival = sorted(text for (h, w), (text, _) in theirs.items() if h == head and w != what)
        if rival:
            out.append(
                ConsistencyFinding(
                    kind="entity",
                    outcome="mismatch",
                    claim_value=said,
                    evidence_value=rival[0],
                    passage_id=passage_id,
                    detail=f"claim: {said}; source: {rival[0]}",
                )
            )
    return out


# Names of one actor that share no word: "the Islamic State" is ISIS, ISIL and Daesh; "the United States" is the US.
_SAME_ACTOR = [
    (re.compile(r"\b(?:the\s+)?(?:Islamic\s+State(?:\s+group)?|ISIS|ISIL|Daesh|Da'esh)\b", re.I), "ISIS"),
    (re.compile(r"\b(?:the\s+)?(?:United\s+States(?:\s+of\s+America)?|U\.S\.A?\.?|USA)(?![\w.])"), "US"),
]


def _one_name(text: str) -> str:
    """The text with each actor's several names written as one."""
    for pat, name in _SAME_ACTOR:
        text = pat.sub(name, text)
    return text


def entity_findings(
    claim: str, sentence: str, context: str, passage_id: str | None = None, *, counts: bool = False
) -> list[ConsistencyFinding]:
    """The claim's names against one evidence sentence: another name in the same slot, or a name left unstated.

    `context` (the passage) may name what the sentence calls "he" or "the prime minister". With `counts` (the claim
    gives a quantity) a place is a different fact, not an incompatible one: "2,500 troops in Kuwait" is unverified.
    """
    claim, sentence, context = _one_name(claim), _one_name(sentence), _one_name(context)
    sent_names = names(sentence)
    claim_names = names(claim)
    sent_stems, ctx_stems = _stems(sentence), _stems(context)
    holder = any(_covered(c, sent_stems) and len(c.core) > 1 for c in claim_names)
    findings = office_findings(claim, sentence, passage_id, holder=holder)
    claim_stems = _stems(claim)
    for c in claim_names:
        if _covered(c, sent_stems):
            continue
        # Another name in the same slot, sharing no word with the claim's ("Askar Zhumabaev" may be "Askar
        # Jumabayev" in other letters; "Haider al-Abadi" is not "Mohamed Shia al-Sudani").
        partly = any(_seen(w, sent_stems) for w in c.core)
        rival = next(
            (e for e in sent_names if not partly and not _covered(e, claim_stems) and _same_slot(c, e)),
            None,
        )
        if rival is not None and not (counts and c.before in _PLACE_PREPS):
            findings.append(
                ConsistencyFinding(
                    kind="entity",
                    outcome="mismatch",
                    claim_value=c.text,
                    evidence_value=rival.text,
                    passage_id=passage_id,
                    detail=f"claim: {c.text}; source: {rival.text}",
                )
            )
        elif not _covered(c, ctx_stems):
            findings.append(
                ConsistencyFinding(
                    kind="entity",
                    outcome="unstated",
                    claim_value=c.text,
                    evidence_value="",
                    passage_id=passage_id,
                    detail=f"the source does not name {c.text}",
                )
            )
    return findings


def places(text: str) -> set[str]:
    """Names that `text` puts a thing in, at or from ("in Iraq", "in neighbouring Syria"): what a count is bound to."""
    out: set[str] = set()
    for m in _NAME.finditer(text):
        prev = [fold(w) for w in re.findall(r"[A-Za-z']+", text[: m.start()])[-2:]]
        if any(w in _PLACE_PREPS for w in prev):
            out.update(_key(w) for w in m.group().split() if fold(w) not in _TITLES | _COMMON)
    return out
