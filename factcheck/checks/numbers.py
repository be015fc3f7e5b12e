"""Numbers and years: quantities (number words, scales, units, comparatives) that count the same thing, bound to
the place they are counted in.

Over 400 lines because the quantity grammar and the checks that read it are one rule set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..models import ConsistencyFinding
from .dates import MONTHS
from .slots import places
from .words import STOP_WORDS, SYNONYMS, content_words, lemma, tokens

_WORD_NUM = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
    "dozen": 12,
}
_SCALE = {
    "hundred": 100,
    "thousand": 1_000,
    "million": 1_000_000,
    "billion": 1_000_000_000,
    "trillion": 1_000_000_000_000,
    "k": 1_000,
    "m": 1_000_000,
    "mn": 1_000_000,
    "bn": 1_000_000_000,
}
_APPROX = {
    "about",
    "around",
    "roughly",
    "approximately",
    "nearly",
    "almost",
    "some",
    "estimated",
    "circa",
    "approx",
    "close",
    "up",
    "~",
}
_GT = {"more than", "over", "above", "at least", "exceeding", "upwards of", "in excess of"}
_LT = {"less than", "fewer than", "under", "below", "at most", "up to", "no more than"}
_MODIFIERS = {
    "us",
    "u.s.",
    "american",
    "british",
    "foreign",
    "additional",
    "more",
    "new",
    "extra",
    "other",
    "coalition",
    "international",
    "local",
    "armed",
    "active",
    "combat",
    "western",
    "nato",
    "un",
}


@dataclass
class Quantity:
    """A number found in text with what it counts and how it is hedged."""

    value: float
    raw: str
    start: int
    end: int
    nouns: set[str] = field(default_factory=set)
    relation: str = "eq"  # eq | approx | gt | lt
    is_year: bool = False
    context: frozenset[str] = field(default_factory=frozenset)


def _num_value(tok: str) -> float | None:
    t = tok.lower().replace(",", "")
    mult = 1
    for suf in ("bn", "mn", "k", "m"):
        if t.endswith(suf) and t[: -len(suf)].replace(".", "", 1).isdigit():
            t, mult = t[: -len(suf)], _SCALE[suf]
            break
    try:
        return float(t) * mult
    except ValueError:
        return None


def _number_at(toks: list[tuple[str, int, int]], i: int) -> tuple[float, int, bool] | None:
    """The number starting at token i (digits, number words, "a dozen", scale words): value, next token, year?"""
    tok = toks[i][0]
    low = tok.lower()
    value: float | None = None
    j = i + 1
    if tok[0].isdigit():
        value = _num_value(tok)
    elif low in _WORD_NUM and not (low == "one" and i + 1 < len(toks) and toks[i + 1][0].lower() in {"of", "another"}):
        value = float(_WORD_NUM[low])
        # "twenty-five" is one token with a hyphen handled below; "twenty five" joins here
        if j < len(toks) and toks[j][0].lower() in _WORD_NUM and value >= 20 and _WORD_NUM[toks[j][0].lower()] < 10:
            value += _WORD_NUM[toks[j][0].lower()]
            j += 1
    elif "-" in low and all(p in _WORD_NUM for p in low.split("-")):
        value = float(sum(_WORD_NUM[p] for p in low.split("-")))
    elif (
        low in ("a", "an")
        and j < len(toks)
        and toks[j][0].lower() in ("dozen", "hundred", "thousand", "million", "billion")
    ):
        value = 1.0
    if value is None:
        return None
    is_year = bool(tok.isdigit() and len(tok) == 4 and 1800 <= value <= 2099)
    # scale words: "2.5 million", "three thousand", "a dozen"
    while j < len(toks) and toks[j][0].lower() in ("hundred", "thousand", "million", "billion", "trillion", "dozen"):
        w = toks[j][0].lower()
        value *= 12 if w == "dozen" else _SCALE[w]
        is_year = False
        j += 1
    return value, j, is_year


def _relation(before: str) -> str:
    """How the text before a number bounds it: "eq", "approx" ("about"), "gt" ("more than"), "lt" ("up to")."""
    relation = "eq"
    pre = re.sub(r"[^a-z~ ]", " ", before).split()
    pre2 = " ".join(pre[-2:])
    pre3 = " ".join(pre[-3:])
    if pre and (pre[-1] in _APPROX or pre2 in ("an estimated", "close to", "up to")):
        relation = "lt" if pre2 == "up to" else "approx"
    if pre2 in _GT or (pre and pre[-1] in _GT) or pre3 in _GT:
        relation = "gt"
    elif pre2 in _LT or (pre and pre[-1] in _LT) or pre3 in _LT:
        relation = "lt"
    return relation


def extract_quantities(text: str) -> list[Quantity]:
    """Numbers (digits, "2.5k", "three thousand", percentages, money) and years, with their nouns."""
    toks = tokens(text)
    out: list[Quantity] = []
    partitive: list[bool] = []  # "three of the eleven wells", "9 out of 64 samples": counts what the next number counts
    i = 0
    while i < len(toks):
        s = toks[i][1]
        read = _number_at(toks, i)
        if read is None:
            i += 1
            continue
        value, j, is_year = read
        end = toks[j - 1][2]
        nouns: set[str] = set()
        before = text[max(0, s - 20) : s].lower()
        if before.rstrip().endswith(("$", "us$")):
            nouns.add("usd")
        elif before.rstrip().endswith("€"):
            nouns.add("eur")
        elif before.rstrip().endswith("£"):
            nouns.add("gbp")
        if j < len(toks) and toks[j][0] == "%":
            nouns.add("percent")
            end = toks[j][2]
            j += 1
        elif j < len(toks) and toks[j][0].lower() in ("percent", "per", "pct", "percentage"):
            nouns.add("percent")
        # the counted noun: up to three words on, skipping modifiers, stopping at function words
        k = j
        while k < len(toks) and k < j + 4 and "percent" not in nouns:
            w = toks[k][0]
            wl = w.lower()
            if wl in _MODIFIERS or (w[0].isupper() and wl not in STOP_WORDS and k < j + 2 and not is_year):
                k += 1
                continue
            if wl in STOP_WORDS or not w[0].isalpha():
                break
            # the noun phrase up to its (plural) head: "five expert working groups" ~ "three groups"
            nouns.add(lemma(w))
            if wl.endswith("s") or wl in SYNONYMS or lemma(w) in SYNONYMS.values():
                break
            k += 1
        relation = _relation(before)
        pre = re.sub(r"[^a-z~ ]", " ", before).split()
        if is_year and nouns - {"year"} and not (pre and pre[-1] in ("in", "since", "of", "by", "until", "from")):
            is_year = False  # "2000 troops" counts troops, it is not a year
        if is_year:
            nouns = set()
        after = [t[0].lower() for t in toks[j : j + 4]]
        if after[:1] == ["out"]:
            after = after[1:]
        if after[1:2] and after[1] in ("the", "its", "their"):
            del after[1]
        whole = after[1] if len(after) > 1 and after[0] == "of" else ""
        part = not is_year and not nouns and bool(whole) and (whole[0].isdigit() or whole in _WORD_NUM)
        if (
            not nouns
            and not part
            and not is_year
            and out
            and not out[-1].is_year
            and out[-1].nouns
            and s - out[-1].end < 60
        ):
            nouns = set(out[-1].nouns)  # elided noun: "2,500 troops in Iraq and about 900 in Syria"
        win = text[max(0, s - 60) : min(len(text), end + 60)]
        out.append(Quantity(value, text[s:end], s, end, nouns, relation, is_year, content_words(win)))
        partitive.append(part)
        i = max(j, i + 1)
    for k in range(len(out) - 2, -1, -1):
        if partitive[k]:
            out[k].nouns = set(out[k + 1].nouns)
    return out


def _compatible(c: Quantity, e: Quantity) -> bool | None:
    """True: same amount; False: clearly different; None: the hedges leave it open."""
    a, b = c.value, e.value
    if a == b:
        return True
    big = max(abs(a), abs(b)) or 1.0
    rel = abs(a - b) / big
    # In news copy "more than 300" means a little over 300: 3,000 is not what it reports.
    if e.relation == "gt" and c.relation == "gt":
        return True if rel <= 0.12 else (False if max(a, b) > 1.5 * min(a, b) else None)
    if e.relation == "gt":
        return None if b < a <= 1.5 * b else (False if rel > 0.15 else None)
    if e.relation == "lt":
        return None if b / 1.5 <= a < b else (False if rel > 0.15 else None)
    # A reader's "more than a dozen" is true of 212: the claim's bound is read as a bound, not as news copy's "a little
    # over" (a dozen people in hospital against 212 was a mismatch).
    if c.relation == "gt":
        return True if b > a else (None if b >= a * 0.98 else False)
    if c.relation == "lt":
        return True if b < a else (None if b <= a * 1.02 else False)
    if "approx" in (c.relation, e.relation):
        return True if rel <= 0.12 else (False if rel > 0.3 else None)
    if rel <= 0.02 or round(a) == b or round(b) == a:  # rounding: "6 percent" for 6.4%
        return True
    return False


def _years(text: str) -> list[Quantity]:
    return [q for q in extract_quantities(text) if q.is_year]


def number_findings(claim: str, sentence: str, passage_id: str | None) -> list[ConsistencyFinding]:
    """Quantities counting the same thing in claim and sentence: match or mismatch."""
    findings: list[ConsistencyFinding] = []
    cq = [q for q in extract_quantities(claim) if not q.is_year]
    eq = [q for q in extract_quantities(sentence) if not q.is_year]
    for c in cq:
        if not c.nouns:
            continue
        same = [e for e in eq if e.nouns & c.nouns]
        if not same:
            continue
        # Different places or actors next to the numbers ("in Iraq" vs "in Syria") mean different referents.
        claim_low = _words(claim)
        sent_low = _words(sentence)
        lower_claim = claim == claim.lower()  # no capitals to tell names apart: every content word may be one
        c_ents = set() if lower_claim else _caps(claim, initial=True) - set(_WORD_NUM) - set(_SCALE)
        c_local = content_words(_local(claim, cq, c)) if lower_claim else _caps(_local(claim, cq, c), initial=True)
        if c_ents - sent_low:
            continue  # the claim is about someone or somewhere this sentence does not name
        same = [
            e
            for e in same
            if not (
                (_caps(_local(sentence, eq, e), initial=True) - claim_low)
                and (c_local - _words(_local(sentence, eq, e)))
            )
        ]
        if not same:
            continue
        # Bound to another place: "2,500 in Iraq" is no evidence for "2,500 in Syria" when the sentence gives Syria its
        # own figure (two figures swapped between two countries read as supported at 0.93).
        c_places = places(_local(claim, cq, c))
        where = ""
        if c_places:
            bound = [(e, places(_local(sentence, eq, e))) for e in same]
            same = [e for e, p in bound if not p or p & c_places]
            if not same:
                continue
            place = re.search(r"\b(?:in|at|to|from|near)\s+(?:\w+\s+)?[A-Z][\w-]*", _local(claim, cq, c))
            where = f" {place.group()}" if place else ""
        verdicts = [(_compatible(c, e), e) for e in same]
        hit = next((e for v, e in verdicts if v is True), None)
        if hit is not None:
            findings.append(_finding("number", "match", c, hit, passage_id, ""))
        elif all(v is False for v, _ in verdicts):
            e = verdicts[0][1]
            findings.append(
                _finding(
                    "number",
                    "mismatch",
                    c,
                    e,
                    passage_id,
                    f"the claim says {c.raw} {_noun(claim, c)}{where} but the source says {e.raw} {_noun(sentence, e)}{where}".replace(
                        "  ", " "
                    ).strip(),
                )
            )
    return findings


def year_findings(claim: str, sentence: str, overlap: float, passage_id: str | None) -> list[ConsistencyFinding]:
    """The claim's year against the source's years about the same event."""
    findings: list[ConsistencyFinding] = []
    cy, ey = _years(claim), _years(sentence)
    for c in cy:
        if any(e.value == c.value for e in ey):
            e = next(e for e in ey if e.value == c.value)
            findings.append(_finding("year", "match", c, e, passage_id, ""))
            continue
        # Pair the claim's year with a source year about the same event (shared words near each).
        related = [e for e in ey if len(c.context & e.context - {"year"}) >= 2]
        if related and overlap >= 0.3 and len(cy) == 1:
            e = related[0]
            findings.append(
                _finding("year", "mismatch", c, e, passage_id, f"the claim says {c.raw} but the source says {e.raw}")
            )
    return findings


def _local(text: str, qs: list[Quantity], q: Quantity, reach: int = 40) -> str:
    """Text around `q`, clipped at the neighbouring quantities."""
    i = qs.index(q)
    a = max(q.start - reach, qs[i - 1].end if i > 0 else 0)
    # a list ("2,500 in Iraq and 900 in Syria"): the words before this item belong to the previous one
    cut = max(text.rfind(",", a, q.start), text.rfind(" and ", a, q.start), text.rfind(";", a, q.start))
    if i > 0 and cut >= 0:
        a = cut
    b = min(q.end + reach, qs[i + 1].start if i + 1 < len(qs) else len(text))
    return text[a:b]


_ALIASES = [(re.compile(r"\b(United States|U\.S\.A?\.?|USA|America|American|Americans)\b"), "US")]


def _words(text: str) -> set[str]:
    """Lower-cased words of `text` with country aliases folded ("United States" -> "us")."""
    for pat, rep in _ALIASES:
        text = pat.sub(rep, text)
    return {w.lower() for w in re.findall(r"[A-Za-z]+", text)} | {lemma(w) for w in re.findall(r"[A-Za-z]+", text)}


def _caps(text: str, initial: bool = False) -> set[str]:
    """Capitalised words and acronyms (places, actors), not months or days; sentence-initial ones only if `initial`."""
    for pat, rep in _ALIASES:
        text = pat.sub(rep, text)
    out = set()
    caps = r"\b([A-Z][a-z]{2,}|[A-Z]{2,})\b" if initial else r"(?<![.!?]\s)(?<!^)\b([A-Z][a-z]{2,}|[A-Z]{2,})\b"
    for m in re.finditer(caps, text):
        w = m.group(1).lower()
        if (
            w not in MONTHS
            and w not in STOP_WORDS
            and w not in {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}
        ):
            out.add(w)
    return out


def _noun(text: str, q: Quantity) -> str:
    """The words right after a number, for explanations ("troops")."""
    words = []
    for w in re.findall(r"[A-Za-z][\w\-]*", text[q.end : q.end + 40])[:3]:
        if w.lower() in STOP_WORDS:
            break
        words.append(w)
    return " ".join(words)


def _finding(kind, outcome, c: Quantity, e: Quantity, passage_id, detail) -> ConsistencyFinding:
    return ConsistencyFinding(
        kind=kind, outcome=outcome, claim_value=c.raw, evidence_value=e.raw, passage_id=passage_id, detail=detail
    )
