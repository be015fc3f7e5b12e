"""Offline claim extraction: which sentences are check-worthy, and exact offsets."""

from __future__ import annotations

import pytest

from factcheck.errors import InputError
from factcheck.extract import RuleExtractor, extract_claims, score_sentence
from tests.api_support import seed_articles


@pytest.mark.parametrize(
    "sentence",
    [
        "The United States currently has about 2,500 troops in Iraq and nearly 900 in neighboring Syria.",
        "Since mid-October, more than 150 drone strikes or rocket attacks have targeted American soldiers.",
        "US Secretary of Defense Lloyd Austin announced that talks with Baghdad would start soon.",
        "Iraq's prime minister said on January 27, 2024 that the coalition mission should end.",
        "Unemployment rose to 7.2 percent in March, the highest level since 2015.",
    ],
)
def test_checkworthy_sentences_are_kept(sentence):
    claims = extract_claims(sentence)
    assert len(claims) == 1 and claims[0].text == sentence
    assert claims[0].score >= 0.35 and claims[0].reasons


@pytest.mark.parametrize(
    "sentence",
    [
        "Will Iraq have to assume sole responsibility for the fight against jihadism on its territory?",
        "I think this is a beautiful day for everyone here.",
        "Read more",
        "Advertisement",
        "The weather was nice and people enjoyed the afternoon walk.",
        "United States And Iraq Begin Talks On Future Of US-Led Military Coalition",
        "We believe things might probably get better at some point.",
    ],
)
def test_questions_opinions_headlines_and_fluff_are_dropped(sentence):
    assert extract_claims(sentence) == []


def test_reasons_name_the_rules_that_fired():
    score, reasons = score_sentence("Spain has more than 300 troops deployed to Iraq, the minister said.")
    assert {"number", "entity", "quantity", "attribution", "comparison"} <= set(reasons)
    assert score > 0.8
    assert score_sentence("Is Spain sending 300 troops to Iraq?") == (0.0, ["question"])
    hedged, reasons = score_sentence("I think Spain might send maybe 300 troops to Iraq next year.")
    assert "hedge" in reasons and "first_person" in reasons and hedged < 0.35


def test_offsets_index_the_given_text_on_every_seed_article():
    for art in seed_articles():
        claims = extract_claims(art.text, max_claims=50)
        assert claims, art.id
        starts = [c.start for c in claims]
        assert starts == sorted(starts), "document order"
        for c in claims:
            assert art.text[c.start : c.end] == c.text
            assert c.text == c.text.strip() and not c.text.startswith("•")


def test_lines_without_punctuation_are_separate_candidates():
    text = "Menu\nHome | World | Sport\nNATO has 32 member states as of 2024\nShare this article"
    claims = extract_claims(text)
    assert [c.text for c in claims] == ["NATO has 32 member states as of 2024"]
    assert text[claims[0].start : claims[0].end] == claims[0].text


def test_bullets_are_trimmed_from_offsets_and_duplicates_dropped():
    sentence = "France has deployed 600 soldiers to Iraq since 2014."
    text = f"  • {sentence}\n\n{sentence}"
    claims = extract_claims(text)
    assert len(claims) == 1
    assert claims[0].start == text.index("France") and text[claims[0].start : claims[0].end] == claims[0].text


def test_max_claims_keeps_the_best_in_document_order():
    text = (
        "The weather was mild. Officials in Baghdad said 2,500 US troops remain in Iraq as of January 2024. "
        "Talks continued in Baghdad. Spain has more than 300 troops deployed to Iraq, Albares said in May 2024. "
        "The Iraqi government met coalition officers in Baghdad on Saturday."
    )
    all_claims = extract_claims(text, max_claims=10)
    top2 = extract_claims(text, max_claims=2)
    assert len(all_claims) > 2
    assert [c.text for c in top2] == [
        "Officials in Baghdad said 2,500 US troops remain in Iraq as of January 2024.",
        "Spain has more than 300 troops deployed to Iraq, Albares said in May 2024.",
    ]


def test_bad_arguments_raise_input_error():
    with pytest.raises(InputError):
        extract_claims("Spain has 300 troops in Iraq today.", max_claims=0)
    with pytest.raises(InputError):
        extract_claims(None)  # type: ignore[arg-type]
    assert extract_claims("") == []
    assert RuleExtractor().name == "rules"
