"""Counterfactual pairs: each rule changes the one thing it names and labels the pair accordingly."""

from __future__ import annotations

import random

from lab.verifier import counterfactual as cf

TROOPS = "The United States deploys around 2,500 soldiers in Iraq and nearly 900 in Syria."


def test_bound_numbers_are_swapped_between_their_subjects():
    assert (
        cf.swap_bound_numbers(TROOPS)
        == "The United States deploys around 900 soldiers in Iraq and nearly 2,500 in Syria."
    )
    assert cf.swap_bound_numbers("The bridge cost 29 billion tenge.") is None


def test_a_name_is_replaced_by_another_of_the_same_article_in_the_same_slot():
    article = "Prime Minister Mohamed al-Sudani launched the talks. Prime Minister Haider al-Abadi once led Iraq."
    out = cf.substitute_name("The talks were launched by Prime Minister Mohamed al-Sudani.", article, random.Random(0))
    assert out == "The talks were launched by Prime Minister Haider al-Abadi."


def test_negation_is_inserted_or_removed():
    assert cf.toggle_negation("The strike was called off.") == "The strike was not called off."
    assert cf.toggle_negation("The strike was not called off.") == "The strike was called off."
    assert cf.toggle_negation("Rain fell.") is None


def test_rows_carry_the_rule_s_label():
    sents = [TROOPS, "The talks were not a negotiation on withdrawal.", "Spain has 300 troops in Iraq."]
    rows = cf.counterfactual_rows([("a", sents)], random.Random(1), "own")
    kinds = {src.split(":cf_")[1]: label for _, _, label, src in rows}
    assert kinds["swap_numbers"] == kinds["negation"] == cf.CONTRADICT
    assert kinds["silence"] == cf.NEUTRAL and kinds["surface"] == cf.ENTAIL
    for premise, hyp, _, src in rows:
        if src.endswith("cf_silence"):
            assert hyp not in premise  # the deciding sentence is gone
