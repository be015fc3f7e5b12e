"""The slot, surface and absence checks: the same fact, not just the same words."""

from __future__ import annotations

from factcheck import checks
from factcheck.checks import align_surface, entity_findings, states_presence

SUDANI = (
    "Iraqi Prime Minister Mohamed Chia al-Soudani recently launched a first round of talks with representatives "
    "of the Iraqi security forces and the coalition."
)
TROOPS = (
    "The United States deploys around 2,500 soldiers in Iraq and nearly 900 in neighboring Syria as part of the "
    "international coalition."
)


def test_a_lower_case_claim_reads_with_the_evidence_casing():
    assert align_surface("iraqi prime minister launched talks", SUDANI) == "Iraqi Prime Minister launched talks"
    assert align_surface("THE IRAQI PRIME MINISTER LAUNCHED TALKS", SUDANI) == "The Iraqi Prime Minister launched talks"


def test_spellings_of_one_name_are_one_name_but_short_names_stay_apart():
    assert align_surface("PM Mohammed Shia al-Sudani launched talks", SUDANI) == (
        "PM Mohamed Shia al-Soudani launched talks"
    )
    assert align_surface("Iran launched talks", "Iraq launched talks") == "Iran launched talks"  # not a spelling
    assert align_surface("Soudaní met them", "al-Soudani met them") == "Soudaní met them"  # two words, no partner


def test_a_name_in_the_same_slot_is_a_mismatch_that_names_both():
    [f] = entity_findings("The talks were launched by Prime Minister Haider al-Abadi", SUDANI, SUDANI)
    assert f.kind == "entity" and f.outcome == "mismatch"
    assert "Haider al-Abadi" in f.detail and "al-Soudani" in f.detail


def test_a_name_the_evidence_leaves_out_is_unstated_not_a_contradiction():
    [f] = entity_findings("Germany launched a first round of talks", SUDANI, SUDANI)
    assert f.outcome == "unstated" and f.claim_value == "Germany"
    # the passage around the sentence may name it
    assert entity_findings("Germany launched a first round of talks", SUDANI, "Germany said. " + SUDANI) == []
    assert entity_findings("Al-Soudani launched a first round of talks", SUDANI, SUDANI) == []


def test_a_count_in_another_place_is_another_fact_not_a_contradiction():
    sentence = "The meeting was held in Baghdad with 300 delegates."
    assert entity_findings("The meeting was held in Washington", sentence, sentence)[0].outcome == "mismatch"
    found = entity_findings("300 delegates met in Washington", sentence, sentence, counts=True)
    assert [f.outcome for f in found] == ["unstated"]


def test_a_claim_of_absence_is_contradicted_only_by_presence():
    assert not states_presence("Nobody was hurt in the attack", "An Iraqi security official confirmed the attack.")
    assert states_presence("Nobody was hurt in the attack", "Two soldiers were wounded in the attack.")
    assert not states_presence("Nobody was hurt in the attack", "No one was injured in the attack.")
    assert states_presence("No official confirmed the attack", "An Iraqi security official confirmed the attack.")
    assert states_presence("The attack hurt two soldiers", "Nothing")  # not a claim of absence: no constraint


def test_numbers_swapped_between_two_places_are_a_mismatch_bound_to_the_place():
    found = checks.check("About 900 US troops are in Iraq and 2,500 in Syria", TROOPS)
    assert [f.outcome for f in found if f.kind == "number"] == ["mismatch", "mismatch"]
    assert "900 US troops in Iraq" in found[0].detail and "2,500 soldiers in Iraq" in found[0].detail
    [one] = checks.check("About 2,500 US troops are in Syria", TROOPS)
    assert one.outcome == "mismatch" and "in Syria" in one.detail
    assert [f.outcome for f in checks.check("About 2,500 US troops are in Iraq", TROOPS)] == ["match"]
    assert checks.check("2,500 troops are in Kuwait", TROOPS) == []  # a place the sentence never names


def test_one_actor_under_names_that_share_no_word_is_one_name():
    isis = "These three groups will study the level of threat posed by ISIS."
    assert entity_findings("The groups will assess the threat posed by the Islamic State", isis, isis) == []
    us = "The United States deploys around 2,500 soldiers in Iraq."
    assert entity_findings("The US deploys about 2,500 soldiers in Iraq", us, us) == []
    [f] = entity_findings(
        "Most attacks were claimed by Daesh", "Most attacks were claimed by the Islamic Resistance.", ""
    )
    assert f.outcome == "mismatch"  # another group in the slot still is one
