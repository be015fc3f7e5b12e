"""Dates and months: one date in a claim against one date in a sentence about the same event."""

from __future__ import annotations

import re

from ..models import ConsistencyFinding

MONTHS = {
    m: i + 1
    for i, m in enumerate(
        [
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ]
    )
}
MONTHS.update({m[:3]: i for m, i in list(MONTHS.items())})
MONTHS["sept"] = 9


def _dates(text: str) -> list[tuple[int, int | None, str, int]]:
    """(month, day, raw, position) for "March 17", "17 March", "March 2011"."""
    out = []
    pat = re.compile(
        r"\b(?:(\d{1,2})\s+)?("
        + "|".join(sorted(MONTHS, key=len, reverse=True))
        + r")\b\.?(?:\s+(\d{1,2})(?:st|nd|rd|th)?\b)?",
        re.I,
    )
    for m in pat.finditer(text):
        mon = m.group(2)
        if mon.lower() == "may" and not (m.group(1) or m.group(3)):
            continue  # the verb "may"
        if mon[0].islower():
            continue
        day = m.group(1) or m.group(3)
        out.append((MONTHS[mon.lower()], int(day) if day else None, m.group().strip(), m.start()))
    return out


def date_findings(claim: str, sentence: str, overlap: float, passage_id: str | None) -> list[ConsistencyFinding]:
    """One date in the claim against one date in a close sentence."""
    findings: list[ConsistencyFinding] = []
    cd, ed = _dates(claim), _dates(sentence)
    if len(cd) == 1 and len(ed) == 1 and overlap >= 0.3:
        (cm, cday, craw, _), (em, eday, eraw, _) = cd[0], ed[0]
        if cm != em or (cday and eday and cday != eday):
            findings.append(
                ConsistencyFinding(
                    kind="date",
                    outcome="mismatch",
                    claim_value=craw,
                    evidence_value=eraw,
                    passage_id=passage_id,
                    detail=f"the claim says {craw} but the source says {eraw}",
                )
            )
        elif cday and cday == eday:
            findings.append(
                ConsistencyFinding(
                    kind="date", outcome="match", claim_value=craw, evidence_value=eraw, passage_id=passage_id
                )
            )
    return findings
