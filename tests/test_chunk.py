"""Sentence splitting and chunking: exact offsets, coverage, overlap and size limits."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from factcheck.chunk import chunk_article, split_sentences
from factcheck.ingest import load_articles
from factcheck.models import Article

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "evals" / "corpus" / "iraq-coalition-2024"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "ingest"

ARTICLES = load_articles([CORPUS, FIXTURES]).articles
SIZES = [(50, 0), (120, 1), (300, 1), (600, 1), (600, 2), (2000, 3)]


def art(text: str, id: str = "a") -> Article:
    return Article(id=id, title="t", text=text)


def check_invariants(article: Article, max_chars: int, overlap: int) -> None:
    """Everything chunk_article promises, for one article and one setting."""
    text = article.text
    sents = split_sentences(text)
    passages = chunk_article(article, max_chars=max_chars, overlap_sentences=overlap)
    assert bool(passages) == bool(sents)
    for k, p in enumerate(passages):
        assert text[p.start : p.end] == p.text
        assert p.ord == k and p.id == f"{article.id}#{k}" and p.article_id == article.id
        inside = [s for s in sents if p.start <= s[0] and s[1] <= p.end]
        # Passages are made of whole sentences: they start and end on sentence boundaries.
        assert inside and inside[0][0] == p.start and inside[-1][1] == p.end
        assert len(p.text) <= max_chars or len(inside) == 1
    for s in sents:
        assert any(p.start <= s[0] and s[1] <= p.end for p in passages), f"sentence {s} not covered"
    for prev, p in zip(passages, passages[1:]):
        assert prev.start < p.start and prev.end < p.end  # always advances; never a subset of the last one
        shared = [s for s in sents if p.start <= s[0] and s[1] <= prev.end]
        assert len(shared) <= overlap


def test_corpus_and_fixtures_loaded():
    assert len(ARTICLES) >= 10


@pytest.mark.parametrize("max_chars,overlap", SIZES)
def test_invariants_on_seeds_and_fixtures(max_chars, overlap):
    for a in ARTICLES:
        check_invariants(a, max_chars, overlap)


def test_sentence_spans_are_trimmed_ordered_and_disjoint():
    for a in ARTICLES:
        spans = split_sentences(a.text)
        for s, e in spans:
            seg = a.text[s:e]
            assert seg == seg.strip() and seg
        for (_s1, e1), (s2, _e2) in zip(spans, spans[1:]):
            assert e1 <= s2


def test_every_word_of_the_text_is_in_some_sentence():
    for a in ARTICLES:
        covered = [False] * len(a.text)
        for s, e in split_sentences(a.text):
            covered[s:e] = [True] * (e - s)
        lost = [i for i, ch in enumerate(a.text) if ch.isalnum() and not covered[i]]
        assert lost == [], (a.id, a.text[lost[0] - 20 : lost[0] + 20] if lost else "")


def test_overlap_keeps_one_sentence_of_context():
    sents = [f"Sentence number {i} is here." for i in range(8)]  # 27 chars each
    a = art(" ".join(sents))
    ps = chunk_article(a, max_chars=90, overlap_sentences=1)
    assert [p.text for p in ps[:2]] == [" ".join(sents[0:3]), " ".join(sents[2:5])]
    assert ps[-1].text.endswith(sents[-1])
    no_overlap = chunk_article(a, max_chars=90, overlap_sentences=0)
    assert " ".join(p.text for p in no_overlap) == a.text  # a partition when overlap is 0
    assert all(p.end < q.start for p, q in zip(no_overlap, no_overlap[1:]))


def test_overlap_shrinks_instead_of_repeating_a_subset():
    # 300 + 250 fit in 600; 250 + 500 do not. Overlapping would make passage 2 = sentence B alone,
    # a strict subset of passage 1.
    a_, b_, c_ = "A" * 299 + ".", "B" * 249 + ".", "C" * 499 + "."
    ps = chunk_article(art(f"{a_} {b_} {c_}"), max_chars=600, overlap_sentences=1)
    assert [p.text for p in ps] == [f"{a_} {b_}", c_]


def test_long_sentence_stands_alone():
    long = "word " * 200 + "end."
    a = art(f"Short one. {long} Short two.")
    ps = chunk_article(a, max_chars=100, overlap_sentences=1)
    assert [p.text for p in ps] == ["Short one.", long.strip(), "Short two."]


def test_abbreviations_and_initials_do_not_split():
    text = (
        'Iraqi Prime Minister al-Sudani (right) and U.S. Major General Joel "JB" Vowell (2nd right) met. '
        "Gen. Smith and Dr. Jones arrived at 5 p.m. on Jan. 27. J. R. R. Tolkien wrote books, e.g. novels. "
        "It ended."
    )
    spans = [text[s:e] for s, e in split_sentences(text)]
    assert spans[0] == 'Iraqi Prime Minister al-Sudani (right) and U.S. Major General Joel "JB" Vowell (2nd right) met.'
    assert "J. R. R. Tolkien wrote books, e.g. novels." in spans
    assert spans[-1] == "It ended."


def test_sentence_ends_with_quotes_brackets_and_paragraphs():
    text = "He said “we stay.” Then left! Why? (Nobody knows.) Headline without stop\n\nNext para"
    spans = [text[s:e] for s, e in split_sentences(text)]
    assert spans == [
        "He said “we stay.”",
        "Then left!",
        "Why?",
        "(Nobody knows.)",
        "Headline without stop",
        "Next para",
    ]


def test_split_sentences_sub_range_gives_absolute_offsets():
    text = "First one. Second one. Third one."
    start = text.index("Second")
    spans = split_sentences(text, start, len(text))
    assert [text[s:e] for s, e in spans] == ["Second one.", "Third one."]
    assert split_sentences(text, 0, start) == [(0, 10)]


def test_seed_abbreviation_sentence_is_one_sentence():
    a = next(x for x in ARTICLES if x.id == "004_afface0cdd3336e2")
    spans = [a.text[s:e] for s, e in split_sentences(a.text)]
    caption = [s for s in spans if "U.S. Major General" in s]
    assert len(caption) == 1 and caption[0].startswith("Iraqi Prime Minister") and caption[0].endswith("2024.")


def test_empty_and_punctuation_only_text_has_no_passages():
    assert chunk_article(art("   \n\n  "), max_chars=100) == []
    assert chunk_article(art(" ... !!! "), max_chars=100) == []


def test_bad_arguments_rejected():
    with pytest.raises(ValueError):
        chunk_article(art("x."), max_chars=10)
    with pytest.raises(ValueError):
        chunk_article(art("x."), overlap_sentences=-1)


_PIECES = st.sampled_from(
    [
        "Iraq",
        "troops",
        "U.S.",
        "Gen.",
        "2,500",
        "e.g.",
        "J.",
        "“quoted”",
        "(IS).",
        "said.",
        "Why?",
        "No!",
        "…",
        "»",
        "•",
        "3.5",
        "end.",
        "\n",
        "\n\n",
        " ",
        "  ",
        "\t",
        "é",
        "\u00a0",
    ]
)


@settings(max_examples=150, deadline=None)
@given(
    words=st.lists(_PIECES, min_size=0, max_size=120),
    max_chars=st.integers(min_value=50, max_value=400),
    overlap=st.integers(min_value=0, max_value=3),
)
def test_property_offsets_round_trip(words, max_chars, overlap):
    text = " ".join(words)
    check_invariants(art(text), max_chars, overlap)
