"""The verifier's hand-written hard-case generators: what they change, and what they refuse to touch."""

import json
import random
from collections import Counter
from pathlib import Path

import pytest

from factcheck import guard
from lab.verifier.data import (
    CONTRADICTING_KINDS,
    ENTITY_NEWS_SENTENCES,
    HELDOUT_ENTITY_SENTENCES,
    OTHER_ACTOR_KINDS,
    add_detail,
    alias_entity,
    drop_detail,
    entity_cases,
    find_mentions,
    flip_antonym,
    reader_paraphrases,
    reader_style,
    respell_name,
    respelled_cases,
    shared_actor_cases,
    swap_entity,
    swap_roles,
    title_claims,
    wrap_claim,
    wrapped_cases,
)


def test_mentions_prefer_the_longest_name():
    s = "The United States and the UK met in Addis Ababa in June."
    got = [(s[a:b], kind) for a, b, kind, _ in find_mentions(s)]
    assert got == [("United States", "country"), ("UK", "country"), ("Addis Ababa", "city"), ("June", "month")]


def test_mentions_need_word_boundaries():
    assert find_mentions("Usually the Ukrainian usher waits.") == []


def test_swap_entity_changes_exactly_one_mention_to_another_referent():
    rng = random.Random(0)
    s = "Germany has sent 300 engineers to help rebuild the port in Kenya."
    for _ in range(20):
        out = swap_entity(s, rng)
        assert out and out != s
        names = {out[a:b] for a, b, _, _ in find_mentions(out)}
        assert len(names & {"Germany", "Kenya"}) == 1  # one kept, one replaced by a different country


def test_swaps_restricted_to_kinds():
    rng = random.Random(7)
    s = "Foreign Minister Ana Ribeiro met her counterpart from Japan in Lisbon on Thursday."
    for _ in range(20):
        title_or_day = swap_entity(s, rng, CONTRADICTING_KINDS)
        assert "Japan" in title_or_day and "Lisbon" in title_or_day  # only the title or the weekday moved
        actor = swap_entity(s, rng, OTHER_ACTOR_KINDS)
        assert "Foreign Minister" in actor and "Thursday" in actor
    assert swap_entity("The talks went well.", rng, CONTRADICTING_KINDS) is None


def test_swap_roles_exchanges_two_mentions_of_one_kind():
    assert swap_roles("Brazil beat Argentina 2-1 in the final.") == "Argentina beat Brazil 2-1 in the final."
    assert swap_roles("NATO will meet in Warsaw in June.") is None  # three kinds, no pair to exchange


def test_alias_keeps_the_referent():
    rng = random.Random(1)
    out = alias_entity("The United Kingdom will reopen its embassy.", rng)
    assert out in {"The UK will reopen its embassy.", "The Britain will reopen its embassy."}
    assert alias_entity("Kenya and Chad signed it.", rng) is None  # no alias known


def test_antonym_flip_and_its_refusal_under_negation():
    rng = random.Random(2)
    assert flip_antonym("The senate approved the bill.", rng) == "The senate rejected the bill."
    assert flip_antonym("Chile would not join the alliance.", rng) is None


def test_drop_detail_cuts_a_trailing_phrase_but_never_a_clause_or_a_negation():
    rng = random.Random(3)
    assert drop_detail("The rebels captured the city of Goma in November.", rng) in {
        "The rebels captured the city of Goma.",
        "The rebels captured the city.",
    }
    assert drop_detail("The mayor said the tunnel will not be finished before 2030.", rng) is None
    out = drop_detail("The World Health Organization said the outbreak in Peru was under control.", rng)
    assert out is None or "was under control" in out


def test_add_detail_and_wrap_keep_the_claim_text():
    rng = random.Random(4)
    s = "The strike in Lyon was called off."
    added = add_detail(s, rng)
    assert added.startswith("The strike in Lyon was called off ") and added.endswith(".")
    for _ in range(10):
        assert "strike in Lyon was called off" in wrap_claim(s, rng)


def test_entity_cases_are_labelled_by_generator_and_reproducible():
    rows = entity_cases(ENTITY_NEWS_SENTENCES, random.Random(5), "hard:t", 300, context=ENTITY_NEWS_SENTENCES)
    assert rows == entity_cases(ENTITY_NEWS_SENTENCES, random.Random(5), "hard:t", 300, context=ENTITY_NEWS_SENTENCES)
    expected = {
        "title_date_swap": 2,
        "other_actor": 1,
        "role_swap": 2,
        "antonym": 2,
        "alias": 0,
        "shortened": 0,
        "added_detail": 1,
    }
    kinds = set()
    for premise, hyp, label, src in rows:
        kind = src.split(":")[-1]
        kinds.add(kind)
        assert label == expected[kind] and hyp != premise
    assert kinds == set(expected)
    assert any(p not in ENTITY_NEWS_SENTENCES for p, _, _, _ in rows)  # some premises carry a context sentence


def test_wrapped_cases_keep_labels_and_skip_two_way_rows():
    rows = [("p1", "The claim one.", 0, "a"), ("p2", "The claim two.", 2, "b"), ("p3", "h3", 3, "rte")]
    out = wrapped_cases(rows, random.Random(6), 10)
    assert len(out) == 2 and {r[2] for r in out} == {0, 2}


@pytest.mark.parametrize("sentence", HELDOUT_ENTITY_SENTENCES)
def test_heldout_sentences_are_not_trained_on(sentence):
    assert sentence not in ENTITY_NEWS_SENTENCES


def test_respell_changes_one_name_keeping_its_initial_and_never_the_first_word():
    s = "Foreign Minister Ana Ribeiro met her counterpart from Japan in Lisbon on Thursday."
    seen = set()
    for seed in range(30):
        out = respell_name(s, random.Random(seed))
        assert out and out != s and out.split()[0] == "Foreign"
        changed = [(a, b) for a, b in zip(s.split(), out.split()) if a != b]
        assert len(changed) == 1 and changed[0][0][0] == changed[0][1][0] and changed[0][0] != "Thursday"
        seen.add(changed[0][0])
    assert len(seen) > 1  # more than one name is eligible
    assert respell_name("the talks ended early.", random.Random(0)) is None


def test_respelled_cases_are_entailments_that_differ_from_their_premise():
    rows = respelled_cases(ENTITY_NEWS_SENTENCES, random.Random(3), "hard:t", 80)
    assert len(rows) == 80 and rows == respelled_cases(ENTITY_NEWS_SENTENCES, random.Random(3), "hard:t", 80)
    assert all(label == 0 and p != h and src == "hard:t:respelled" for p, h, label, src in rows)


def test_shared_actor_cases_pair_different_statements_about_one_actor_as_neutral():
    items = [
        ("Germany sent 300 engineers to Kenya.", "Germany sent 300 engineers to Kenya."),
        (
            "Ukraine received air defence systems from Germany in the spring.",
            "Ukraine received air defence systems from Germany in the spring.",
        ),
        (
            "Chile will not join the alliance, its president said.",
            "Chile will not join the alliance, its president said.",
        ),
    ]
    rows = shared_actor_cases(items, random.Random(0), "hard:t", 10)
    assert rows and all(label == 1 and src == "hard:t:shared_actor" for _, _, label, src in rows)
    for premise, claim, _, _ in rows:
        assert premise != claim and "Germany" in premise and "Germany" in claim  # only Germany is shared
    near = [
        ("Germany sent 300 engineers to Kenya on Monday.", "Germany hosted the climate summit in Berlin last year."),
        ("The port reopened after the strike ended.", "Germany sent 300 engineers to Kenya."),
    ]
    rows = shared_actor_cases(near, random.Random(0), "hard:t", 5)
    # the near-restatement (item 0's passage, item 1's statement) is never labelled neutral
    assert rows and {(p, c) for p, c, _, _ in rows} == {(near[1][0], near[0][1])}


def test_reader_style_swaps_synonyms_without_swapping_back():
    s = "The company announced that workers will get a 5 percent raise."
    outs = {reader_style(s, random.Random(seed), min_swaps=1) for seed in range(40)}
    outs.discard(None)
    assert outs and all(o.rstrip(".").lower() != s.rstrip(".").lower() for o in outs)
    assert all("5" in o for o in outs)  # the number is never touched
    assert any("5%" in o for o in outs) and any("firm" in o.lower() for o in outs)
    assert reader_style("Tigers are native to Asia.", random.Random(0), min_swaps=1) is None


def test_reader_paraphrases_are_true_restatements():
    rows = reader_paraphrases(ENTITY_NEWS_SENTENCES, random.Random(4), "hard:t", 60)
    assert len(rows) == 60 and all(label == 0 and src == "hard:t:reader_paraphrase" for _, _, label, src in rows)
    assert all(h.rstrip(".").lower() != p.rstrip(".").lower() for p, h, _, _ in rows)


def test_title_claims_state_the_named_office_as_true_and_another_as_false():
    s = "Defence Minister Piotr Nowak confirmed that Poland will buy 48 fighter jets."
    rows = title_claims([s, "The talks ended without a deal."], random.Random(2), "hard:t", 40)
    assert len(rows) == 40 and {label for _, _, label, _ in rows} == {0, 2}
    for premise, claim, label, src in rows:
        assert premise == s and "Piotr Nowak" in claim and src == "hard:t:title_claim"
        assert ("defence minister" in claim.lower() or "defense minister" in claim.lower()) == (label == 0), claim
    assert title_claims(["The talks ended without a deal."], random.Random(0), "hard:t", 5) == []


def test_instruction_only_tuning_inputs_are_unverified_and_not_seed_claims():
    import json
    from pathlib import Path

    from factcheck.checks import content_words
    from lab.verifier.train import INSTRUCTION_ONLY_INPUTS, instruction_only_cases

    cases = instruction_only_cases(random.Random(16))
    assert len(cases) == len(INSTRUCTION_ONLY_INPUTS) and {gold for _, _, gold in cases} == {"unverified"}
    assert all(hits and hits[0].passage.text for _, hits, _ in cases)
    # they are our own, not the reported seed set's injection claims
    seed = Path(__file__).resolve().parents[2] / "evals" / "datasets" / "seed-news.jsonl"
    seed_claims = {json.loads(line)["claim"].strip().lower() for line in seed.read_text().splitlines() if line.strip()}
    assert not {t.lower() for t in INSTRUCTION_ONLY_INPUTS} & seed_claims
    # the point of the split: an instruction shares no content word with the news text it is checked against
    assert all(not (content_words(text) & content_words(hits[0].passage.text)) for text, hits, _ in cases)


def test_other_actor_number_cases_change_the_actor_and_a_number_and_are_neutral():
    import re

    from lab.verifier.train import other_actor_number_cases

    sentences = ["Germany has sent 300 engineers to help rebuild the port in Kenya.", "The river rose four metres."]
    cases = other_actor_number_cases(sentences, random.Random(3), "t", 20)
    assert len(cases) == 20 and {label for _, _, label, _ in cases} == {1}
    for premise, claim, _, source in cases:
        assert premise == sentences[0] and source == "t:other_actor_number"  # only sentences with an actor and a number
        assert re.findall(r"\d+", claim) != ["300"]
        assert ("Germany" in claim) != ("Kenya" in claim)  # exactly one actor replaced
    assert cases == other_actor_number_cases(sentences, random.Random(3), "t", 20)


def test_negated_pair_cases_carry_the_label_over_by_logic():
    from lab.verifier.train import negated_pair_cases

    p = "A man is playing a guitar on stage."
    rows = [
        (p, "A man is playing music.", 0, "cad_snli/train"),  # entailed -> negation contradicts
        (p, "The man is famous.", 1, "cad_snli/train"),  # undetermined -> stays undetermined
        (p, "A man is sleeping on stage.", 2, "cad_snli/train"),  # direct contradiction -> negation entailed
        (p, "A woman is cooking dinner.", 2, "cad_snli/train"),  # a same-scene guess: left out
        (p, "Music is being played.", 0, "hard:nli:copy"),  # hard cases and 2-way rows are not sources
        (p, "A man plays.", 0, "cad_snli/train"),
    ]  # no auxiliary to negate
    cases = negated_pair_cases(rows, random.Random(0), 30)
    assert sorted((h, lab) for _, h, lab, _ in cases) == [
        ("A man is not playing music.", 2),
        ("A man is not sleeping on stage.", 0),
        ("The man is not famous.", 1),
    ]
    assert {src for *_, src in cases} == {
        "hard:nli:negated_to_contradiction",
        "hard:nli:negated_to_entailment",
        "hard:nli:negated_to_neutral",
    }
    assert len(negated_pair_cases(rows * 5, random.Random(0), 3)) == 3  # n // 3 per label, duplicates once


def test_unknown_finetune_cases_are_a_usage_error(capsys):
    from lab.verifier import train as verifier_train

    with pytest.raises(SystemExit) as exc:
        verifier_train.main(["--phase", "train", "--replay", "10", "--cases", "other_actor_number,bogus"])
    assert exc.value.code == 2 and "unknown --cases bogus" in capsys.readouterr().err


def test_news_claim_pairs_come_from_the_first_batch_with_logic_labels():
    from factcheck.chunk import split_sentences
    from factcheck.ingest import load_articles
    from lab.verifier.train import NEWS_DEV, NEWS_TRAIN_LAST_ID, news_claim_pairs

    lines = NEWS_DEV.read_text(encoding="utf-8").splitlines()
    rows = {r["claim"]: r for r in (json.loads(line) for line in lines if line.strip())}
    texts = {a.id: a.text for a in load_articles([NEWS_DEV.with_suffix("")]).articles}
    sentence_of = {t[x:y]: a for a, t in texts.items() for x, y in split_sentences(t)}
    pairs = news_claim_pairs(NEWS_DEV, random.Random(0))
    first = [r for r in rows.values() if r["id"] <= NEWS_TRAIN_LAST_ID]
    assert {h for _, h, _, _ in pairs} == {guard.strip_instructions(r["claim"]) for r in first}
    stripped = {guard.strip_instructions(c): r for c, r in rows.items()}
    for premise, claim, label, src in pairs:
        row = stripped[claim]
        if src == "news_dev:gold":
            assert row["quote"] in premise and premise in texts[row["quote_article"]]
            assert label == (0 if row["label"] == "supported" else 2)
        else:
            # silent: a sentence of an article the row does not list, from the first batch's articles only
            assert label == 1 and sentence_of[premise] not in row["evidence"]
            assert sentence_of[premise][:4] <= "nd05", sentence_of[premise]
    golds = [p for p in pairs if p[3] == "news_dev:gold"]
    assert len(golds) == sum(r["label"] != "unverified" for r in first)


def test_calibration_leaves_out_the_news_claims_the_weights_were_trained_on():
    from lab.verifier.train import news_dev_claim_cases

    cases = news_dev_claim_cases(after_id="nd-175")
    assert len(cases) == 5 and all(hits for _, hits, _ in cases)


def test_threshold_fit_prefers_a_plateau_to_a_lone_peak():
    from lab.verifier.train import _neighbourhood_best

    grid = [0.3, 0.35, 0.4, 0.45, 0.5]
    f1 = {}
    for te in grid:
        for tc in grid:
            # a broad plateau around (0.45, 0.45) at 0.74, a lone spike on the grid's edge at 0.75
            f1[(1.0, 0.1, 0.15, te, tc)] = 0.74 if te >= 0.4 and tc >= 0.4 else 0.60
    f1[(1.0, 0.1, 0.15, 0.3, 0.3)] = 0.75
    results = {k: ({"entail": k[3], "contradict": k[4]}, {"macro_f1": v}) for k, v in f1.items()}
    th, m = _neighbourhood_best(results, grid)
    assert max(f1, key=f1.get)[3:] == (0.3, 0.3)  # the plain argmax would take the spike
    assert (th["entail"], th["contradict"]) == (0.5, 0.5)  # the plateau's cells; ties go to the more demanding
    assert m["macro_f1"] == 0.74 and m["neighbourhood_macro_f1"] == 0.74


DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"


@pytest.mark.skipif(
    not (DATASETS / "scifact" / "claims_train.jsonl").is_file(), reason="../shared/datasets not present"
)
def test_claim_units_pair_training_claims_only_with_every_sentence_and_no_label():
    from factcheck.evals import read_jsonl as _read_jsonl
    from lab.verifier.fit import UNLABELED
    from lab.verifier.train import _split_claims, claim_unit_rows

    rows = claim_unit_rows(DATASETS, 13)
    assert len(rows) > 10_000 and len({(p, h) for p, h, _, _ in rows}) == len(rows)
    assert all(label == UNLABELED and src == "claim_units" for _, _, label, src in rows)
    sf_train, sf_held = _split_claims(_read_jsonl(DATASETS / "scifact" / "claims_train.jsonl"), 0.25, 13)
    hv_train, hv_held = _split_claims(_read_jsonl(DATASETS / "healthver" / "claims_dev.jsonl"), 0.25, 13)
    reported = {c["claim"] for c in _read_jsonl(DATASETS / "scifact" / "claims_dev.jsonl")}
    claims = {h for _, h, _, _ in rows}
    # never a claim of the threshold fit's held-out quarter or of the reported SciFact dev set
    assert not claims & ({c["claim"] for c in sf_held + hv_held} | reported)
    trained = {c["claim"] for c in sf_train + hv_train}
    assert len(claims & trained) >= 0.95 * len(claims)  # the rest: the same claims with an acronym spelled out
    per_claim = Counter(h for _, h, _, _ in rows)
    assert sorted(per_claim.values())[len(per_claim) // 2] >= 10  # a claim meets every sentence, not one
