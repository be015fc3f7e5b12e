"""Claims in parts: compound claims split into atomic facts with offsets; the parts' labels combine."""

from __future__ import annotations

import pytest

from factcheck.claims import combine, split_claim
from factcheck.language import language_supported


def _parts(claim: str) -> list[tuple[str, str]]:
    return [(p.text, claim[p.start : p.end]) for p in split_claim(claim)]


def test_two_clauses_are_two_parts_with_offsets_into_the_claim():
    claim = "The ferry ran aground near Ilovik and the captain was arrested"
    assert _parts(claim) == [
        ("The ferry ran aground near Ilovik", "The ferry ran aground near Ilovik"),
        ("the captain was arrested", "the captain was arrested"),
    ]


def test_a_clause_without_a_subject_borrows_the_first_ones():
    claim = "The fire destroyed homes, killed a firefighter and forced evacuations"
    assert [t for t, _ in _parts(claim)] == [
        "The fire destroyed homes",
        "The fire killed a firefighter",
        "The fire forced evacuations",
    ]
    assert _parts(claim)[2][1] == "forced evacuations"


def test_a_relative_clause_is_a_fact_about_its_antecedent():
    claim = "Al-Sudani, who launched the talks, wants the coalition to leave"
    assert sorted(t for t, _ in _parts(claim)) == [
        "Al-Sudani launched the talks",
        "Al-Sudani wants the coalition to leave",
    ]


@pytest.mark.parametrize(
    "claim",
    [
        "Iraq asked the coalition to leave",
        "Talks between the US and Iraq began in January",  # a noun phrase in coordination is one fact
        "French, British and Spanish soldiers are part of the coalition",
        "About 900 US troops are in Iraq and 2,500 in Syria",  # numbers bound per place: the slot checks read it
    ],
)
def test_one_fact_is_one_part(claim):
    [part] = split_claim(claim)
    assert (part.text, part.start, part.end) == (claim, 0, len(claim))


def test_parts_combine_contradicted_first_then_all_supported():
    assert combine(["supported", "contradicted", "unverified"]) == "contradicted"
    assert combine(["supported", "supported"]) == "supported"
    assert combine(["supported", "unverified"]) == "unverified"
    assert combine([]) == "unverified"


@pytest.mark.parametrize(
    "claim,english",
    [
        ("Iraq asked the coalition to leave", True),
        ("Nobody was hurt", True),
        ("Did 20 people die in the fire", True),  # "die" is English too
        ("al-Sudani launched talks", True),
        ("L'Irak a demandé à la coalition de partir", False),
        ("Der Irak hat die Koalition aufgefordert, das Land zu verlassen", False),
        ("Irak pidió a la coalición que se fuera del país", False),
        ("Ирак попросил коалицию уйти", False),
    ],
)
def test_language(claim, english):
    assert language_supported(claim) is english
