"""Ingestion of every supported format, skipping rules, sidecar metadata and the boilerplate cleaner."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from factcheck.errors import InputError
from factcheck.ingest import (
    IngestReport,
    boilerplate_rule,
    clean_text,
    derive_title,
    find_published_date,
    load_articles,
)

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "evals" / "corpus" / "iraq-coalition-2024"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "ingest"

# Every boilerplate string found in the seed articles; none may survive cleaning.
SEED_BOILERPLATE = [
    "Leave a Reply",
    "Your email address will not be published",
    "Required fields are marked",
    "Notify of",
    "Inline Feedbacks",
    "View all comments",
    "Would love your thoughts",
    "0 0 votes",
    "Article Rating",
    "Read more",
    "Read also",
    "Newsletter",
    "Receive all the international news directly in your inbox",
    "I subscribe",
    "Follow all the international news by downloading the RFI application",
    "Share :",
    "Continue reading on the same themes",
    "• EI",
    "• UNITED STATES",
    "Advertisement",
    "By: RFI Follow",
    "To watch on video",
    "source site-39",
    "Latest stories",
    "WordPress theme",
    "Date:",
]

# Real sentences (or key phrases of them) per seed that cleaning must keep.
SEED_KEEP = {
    "000_2190a2ff1cec9e27": [
        "The United States currently has about 2,500 troops in Iraq and nearly 900 in neighboring Syria",
        "Striking a delicate balance will be essential to ensure Iraq’s security",
        "“gradual reduction”",
    ],
    "001_d54f419eae337405": [
        "an American military official told AFP",
        "The United States deploys around 2,500 soldiers in Iraq and nearly 900 in neighboring Syria",
        "“Future adjustments”",
    ],
    "002_fe05e3191f7400ad": [
        "Wednesday, May 29, 2024",
        "Spain has more than 300 troops deployed to Iraq",
        "Washington acknowledges the need to transition to a normal bilateral security cooperation relationship",
        "there are approximately 2,500 US troops deployed in Iraq",
    ],
    "003_ad558fa49324228e": [
        "a higher military commission that was agreed upon in August 2023",
        "significant implications for regional stability and the ongoing geopolitical dynamics in the Middle East.",
    ],
    "004_afface0cdd3336e2": [
        'U.S. Major General Joel "JB" Vowell',
        "• the level of threat that Daesh represents today",
        "• and the effective capabilities of the Iraqi forces.",
        "until all American soldiers have left Iraqi soil.",
    ],
}


@pytest.fixture(scope="module")
def seeds() -> IngestReport:
    return load_articles([CORPUS])


@pytest.fixture(scope="module")
def fixtures() -> IngestReport:
    return load_articles([FIXTURES])


def by_id(report: IngestReport) -> dict:
    return {a.id: a for a in report.articles}


# ---------------------------------------------------------------- seeds


def test_seed_corpus_loads_all_five_in_order_without_skips(seeds):
    assert [a.id for a in seeds.articles] == sorted(SEED_KEEP)
    assert seeds.skipped == []  # _meta.jsonl is a sidecar, not an article


@pytest.mark.parametrize("article_id", sorted(SEED_KEEP))
def test_seed_boilerplate_removed_and_content_kept(seeds, article_id):
    text = by_id(seeds)[article_id].text
    for junk in SEED_BOILERPLATE:
        assert junk not in text, f"{article_id}: boilerplate {junk!r} survived"
    for keep in SEED_KEEP[article_id]:
        assert keep in text, f"{article_id}: real text {keep!r} was removed"
    assert "\n\n\n" not in text and text == text.strip()
    assert not any(line != line.strip() for line in text.split("\n"))


@pytest.mark.parametrize("article_id", sorted(SEED_KEEP))
def test_seed_cleaning_only_drops_whole_lines(seeds, article_id):
    """Every kept line is a line of the raw file (whitespace aside): nothing is rewritten mid-line."""
    raw_lines = {" ".join(ln.split()) for ln in (CORPUS / f"{article_id}.txt").read_text("utf-8").splitlines()}
    for line in by_id(seeds)[article_id].text.split("\n"):
        assert not line or line in raw_lines


def test_seed_metadata_from_sidecar_and_text(seeds):
    arts = by_id(seeds)
    assert arts["004_afface0cdd3336e2"].source == "RFI"
    assert arts["004_afface0cdd3336e2"].published == date(2024, 1, 27)
    assert arts["002_fe05e3191f7400ad"].published == date(2024, 5, 29)
    assert arts["001_d54f419eae337405"].source == "AFP"
    assert arts["000_2190a2ff1cec9e27"].published is None
    assert all(a.url is None for a in seeds.articles)  # no invented URLs


def test_seed_titles(seeds):
    arts = by_id(seeds)
    # Decorative quotes stripped from the title, kept in the text.
    assert arts["000_2190a2ff1cec9e27"].title.startswith("The future of the international anti-jihadist")
    assert arts["000_2190a2ff1cec9e27"].text.startswith("“The future")
    # A leading dateline is not the title, and the " | Site" suffix is dropped.
    assert arts["002_fe05e3191f7400ad"].title == (
        "Future of Foreign Troops in Iraq to Be Discussed by Washington and Baghdad"
    )


def test_seed_dates_found_in_text_without_sidecar(tmp_path):
    for name in ("002_fe05e3191f7400ad.txt", "004_afface0cdd3336e2.txt", "003_ad558fa49324228e.txt"):
        (tmp_path / name).write_bytes((CORPUS / name).read_bytes())
    arts = by_id(load_articles([tmp_path]))
    assert arts["002_fe05e3191f7400ad"].published == date(2024, 5, 29)  # dateline
    assert arts["004_afface0cdd3336e2"].published == date(2024, 1, 27)  # caption "January 27, 2024"
    assert arts["003_ad558fa49324228e"].published is None  # only "August 2023": not a full date
    assert all(a.source is None for a in arts.values())


# ---------------------------------------------------------------- formats


def test_txt_fixture(fixtures):
    a = by_id(fixtures)["plain"]
    assert a.title == "Dutch frigate joins Red Sea escort mission"
    assert a.published == date(2024, 2, 6)
    assert "The ship carries about 200 sailors." in a.text
    assert "Officials said the mission would last at least three months." in a.text
    for junk in ("Read more", "Advertisement", "Share :"):
        assert junk not in a.text


def test_markdown_fixture_strips_syntax(fixtures):
    a = by_id(fixtures)["article"]
    assert a.title == "Baltic states agree joint air defence plan"
    assert a.published == date(2024, 3, 14) and a.source == "Example Wire"
    assert a.text.startswith("Baltic states agree joint air defence plan\n\n")
    assert "agreed on Thursday to build a joint air defence network, officials said." in a.text
    assert "• The plan costs about 1.2 billion euros." in a.text
    assert "It will be ready by 2028." in a.text
    assert '"This is a historic step," said the Estonian minister.' in a.text
    for syntax in ("#", "**", "](", "https://", "> ", "---", "title:"):
        assert syntax not in a.text
    # The bare "Newsletter" label goes; a real sentence mentioning a newsletter stays.
    assert "\nNewsletter\n" not in a.text
    assert "Subscribe to our newsletter in the sidebar if you want weekly updates" in a.text


def test_html_fixture_main_text_and_metadata(fixtures):
    a = by_id(fixtures)["page"]
    assert a.title == "Norway doubles Arctic patrols"
    assert a.published == date(2024, 2, 20)
    assert a.url == "https://news.example.org/2024/02/norway-arctic-patrols"
    assert a.source == "Example News"
    assert "Norway will double the number of naval patrols in the Arctic this year" in a.text
    assert "about 900 million kroner a year" in a.text
    assert "Tromsø" in a.text
    for noise in ("Sign in", "Sport", "FlyCheap", "Storm hits", "Copyright", "Cookie", "trackingPixel", "Read more"):
        assert noise not in a.text, noise
    assert "<" not in a.text
    # Blocks become paragraphs so the sentence splitter sees paragraph breaks.
    assert "this year, the government announced on Tuesday" in a.text and "\n\n" in a.text


def test_html_falls_back_to_tag_strip(tmp_path):
    # A fragment too small for trafilatura's extractor still yields its text.
    (tmp_path / "tiny.html").write_text(
        "<html><head><title>Tiny</title><style>p{color:red}</style></head>"
        "<body><nav>Home | World</nav><p>Oslo &amp; Bergen.</p></body></html>",
        encoding="utf-8",
    )
    report = load_articles([tmp_path])
    assert report.skipped == []
    (a,) = report.articles
    assert "Oslo & Bergen." in a.text
    assert "color" not in a.text and "<" not in a.text


def test_jsonl_fixture_good_lines_load_bad_lines_reported(fixtures):
    arts = by_id(fixtures)
    pl = arts["pl-troops"]
    assert pl.title == "Poland sends engineers to Lithuania"
    assert pl.url == "https://example.org/pl" and pl.source == "Example Wire"
    assert pl.published == date(2024, 4, 2)
    assert arts["fi-border"].title == "Finland keeps eastern border closed"
    assert arts["fi-border"].published == date(2024, 4, 4)  # from the text
    # No id given: file stem plus line number.
    assert arts["batch-5"].title == "Sweden joins the alliance"
    skipped = {s.path.replace("\\", "/").rsplit("/", 1)[-1]: s.reason for s in fixtures.skipped}
    assert "invalid JSON" in skipped["batch.jsonl:3"]
    assert "text" in skipped["batch.jsonl:4"]


def test_empty_binary_undecodable_unsupported_skipped_with_reasons(fixtures):
    skipped = {Path(s.path).name: s.reason for s in fixtures.skipped}
    assert skipped["empty.txt"] == "empty file"
    assert skipped["blank.md"] == "empty file"
    assert "binary" in skipped["binary.txt"]
    assert "UTF-8" in skipped["latin1.txt"]
    assert "unsupported" in skipped["notes.csv"]
    loaded = {Path(a.path).name for a in fixtures.articles}
    assert loaded.isdisjoint(skipped)


def test_fixture_directory_is_deterministic(fixtures):
    again = load_articles([FIXTURES])
    assert again.model_dump() == fixtures.model_dump()
    assert [a.id for a in fixtures.articles] == ["article", "pl-troops", "fi-border", "batch-5", "page", "plain"]


def test_missing_path_raises_input_error(tmp_path):
    with pytest.raises(InputError) as exc:
        load_articles([tmp_path / "nope"])
    assert "nope" in str(exc.value) and "\n" not in str(exc.value)


def test_duplicate_ids_later_one_skipped(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "story.txt").write_text("First\n\nThe first copy.", encoding="utf-8")
    (tmp_path / "b" / "story.md").write_text("# Second\n\nThe second copy.", encoding="utf-8")
    report = load_articles([tmp_path])
    assert [a.title for a in report.articles] == ["First"]
    (skip,) = report.skipped
    assert skip.path.endswith("story.md") and "duplicate id 'story'" in skip.reason


def test_same_file_given_twice_loads_once(tmp_path):
    f = tmp_path / "one.txt"
    f.write_text("Title\n\nBody text here.", encoding="utf-8")
    report = load_articles([tmp_path, f])
    assert len(report.articles) == 1 and report.skipped == []


def test_all_boilerplate_file_is_skipped(tmp_path):
    (tmp_path / "junk.txt").write_text("Advertisement\n\nRead more\n\nShare :\n", encoding="utf-8")
    report = load_articles([tmp_path])
    assert report.articles == []
    assert "boilerplate" in report.skipped[0].reason


def test_hidden_files_ignored(tmp_path):
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "x.txt").write_text("Hidden\n\nNot an article.", encoding="utf-8")
    (tmp_path / ".notes.txt").write_text("Hidden\n\nNot an article.", encoding="utf-8")
    (tmp_path / "real.txt").write_text("Real\n\nAn article.", encoding="utf-8")
    report = load_articles([tmp_path])
    assert [a.id for a in report.articles] == ["real"] and report.skipped == []


def test_sidecar_overrides_and_reports_bad_rows(tmp_path):
    (tmp_path / "s1.txt").write_text("Story one\n\nPublished on March 3, 2024 in print.", encoding="utf-8")
    (tmp_path / "s2.txt").write_text("Story two\n\nNo date here.", encoding="utf-8")
    rows = [
        {"id": "s1", "published": None, "source": "Wire", "url": "https://example.org/s1", "title": "“Better title”"},
        {"id": "s2", "published": "2024-02-01"},
        {"id": "s3", "bogus": 1},
    ]
    lines = [json.dumps(r) for r in rows] + ["{not json"]
    (tmp_path / "_meta.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = load_articles([tmp_path])
    arts = by_id(report)
    assert set(arts) == {"s1", "s2"}
    assert arts["s1"].published is None  # explicit null clears the date found in the text
    assert arts["s1"].source == "Wire" and arts["s1"].url == "https://example.org/s1"
    assert arts["s1"].title == "Better title"
    assert arts["s2"].published == date(2024, 2, 1)
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert "unknown sidecar keys: bogus" == reasons["_meta.jsonl:3"]
    assert "invalid JSON" in reasons["_meta.jsonl:4"]
    # A file given directly still gets its directory's sidecar.
    assert load_articles([tmp_path / "s2.txt"]).articles[0].published == date(2024, 2, 1)


def test_jsonl_bad_published_and_types(tmp_path):
    lines = [
        {"id": "ok", "text": "Fine\n\nA body."},
        {"id": "d", "text": "Body.", "published": "sometime soon"},
        {"id": ["x"], "text": "Body."},
        {"id": "t", "text": "Body.", "title": 5},
        [1, 2],
    ]
    (tmp_path / "b.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n\n", encoding="utf-8")
    report = load_articles([tmp_path])
    assert [a.id for a in report.articles] == ["ok"]
    reasons = [s.reason for s in report.skipped]
    assert [s.path.rsplit(":", 1)[-1] for s in report.skipped] == ["2", "3", "4", "5"]
    assert "published" in reasons[0] and "id" in reasons[1] and "title" in reasons[2] and "object" in reasons[3]


def test_utf8_bom_and_crlf(tmp_path):
    (tmp_path / "w.txt").write_bytes("\ufeffTitle line\r\n\r\nBody\u00a0text  here.\r\n".encode("utf-8"))
    (a,) = load_articles([tmp_path]).articles
    assert a.title == "Title line" and a.text == "Title line\n\nBody text here."


# ---------------------------------------------------------------- clean_text


@pytest.mark.parametrize(
    "line",
    [
        "Washington acknowledges the need to transition to a normal relationship.",
        "The ministry said readers could sign up for its newsletter on the website.",
        "Read more about the coalition in the annual report.",
        "Share prices fell 3% on Monday.",
        "Follow the money, the investigator said.",
        "Advertisement revenue dropped sharply last year.",
        "The latest stories from the front were grim.",
        "Source: the Iraqi Ministry of Defence.",
        "Date: 27 January 2024",
        "Search teams found the wreckage on Monday.",
        "Reporting by local journalists was restricted, the ministry said.",
        "• the level of threat that Daesh represents today",
        "2,500",
    ],
)
def test_clean_text_keeps_real_lines(line):
    assert boilerplate_rule(line) is None
    assert clean_text(f"Intro.\n\n{line}\n\nOutro.") == f"Intro.\n\n{line}\n\nOutro."


@pytest.mark.parametrize(
    "line",
    [
        "Leave a Reply",
        "LEAVE A COMMENT",
        "Your email address will not be published. Required fields are marked *",
        "Notify of",
        "12 Inline Feedbacks",
        "View all comments",
        "Would love your thoughts, please comment.x",
        "0 0 votes",
        "Article Rating",
        "Read more",
        "Read more…",
        "Read alsoIraq: the Prime Minister reiterates his call",
        "READ ALSO: Iraq: talks begin",
        "See also",
        "Newsletter",
        "Receive all the international news directly in your inbox",
        "Get our best stories delivered to your inbox!",
        "I subscribe",
        "Follow all the international news by downloading the RFI application",
        "Share :",
        "Share this article",
        "Advertisement",
        "By: RFI Follow",
        "Follow us on Twitter",
        "To watch on video",
        "source site-39",
        "Latest stories",
        "You may also like",
        "Zeen is a next generation WordPress theme. It’s powerful, beautifully designed.",
        "© 2024 Example Media. All rights reserved.",
        "Powered by WordPress",
        "Date:",
        "Tags:",
        "Skip to main content",
        "Click here to read the full report",
        "Reporting by Timour Azhari in Baghdad; Editing by Alex Richardson",
        "•",
        "* * *",
        "—",
    ],
)
def test_clean_text_drops_boilerplate_lines(line):
    assert boilerplate_rule(line) is not None or clean_text(line) == ""
    assert clean_text(f"Intro.\n\n{line}\n\nOutro.") == "Intro.\n\nOutro."


def test_tag_list_after_continue_reading_is_dropped_but_prose_after_it_stays():
    raw = "Body.\n\nContinue reading on the same themes:\n\n • Iraq\n\n • EI\n\n • UNITED STATES\n"
    assert clean_text(raw) == "Body."
    raw2 = "Body.\n\nTags:\nIraq\nSyria\n\nThe talks resumed on Monday after a pause of two weeks."
    assert clean_text(raw2) == "Body.\n\nThe talks resumed on Monday after a pause of two weeks."


def test_clean_text_whitespace_normalisation_keeps_quotes():
    raw = "\n\n  “Quoted”\u00a0title \t\n\n\n\n\nPara\u2009one\u200b.   \nline two\u00ad.\n\n\n"
    assert clean_text(raw) == "“Quoted” title\n\nPara one.\nline two."


def test_clean_text_is_idempotent_on_seeds(seeds):
    for a in seeds.articles:
        assert clean_text(a.text) == a.text


# ---------------------------------------------------------------- heuristics


def test_find_published_date_rules():
    assert find_published_date("Title\n\nWednesday, May 29, 2024\n\nBody.") == date(2024, 5, 29)
    assert find_published_date("Title\n\nIt happened on 3 March 2023, officials said.") == date(2023, 3, 3)
    assert find_published_date("Title\n\nUpdated 2022-11-05 after review.") == date(2022, 11, 5)
    assert find_published_date("Title\n\nTalks began on Saturday January 27 in Baghdad.") is None
    assert find_published_date("Title\n\nA commission agreed in August 2023.") is None
    late = "Title\n\n" + "x " * 800 + "On January 5, 2024 it ended."
    assert find_published_date(late) is None  # beyond the opening characters


def test_derive_title_rules():
    assert derive_title("“Quoted headline”\n\nBody.") == "Quoted headline"
    assert derive_title("“A” and “B” meet\n\nBody.") == "“A” and “B” meet"
    assert derive_title("May 29, 2024\n\nHeadline | Site\n\nBody.") == "Headline | Site"  # short: no suffix strip
    long_para = "word " * 100
    title = derive_title(long_para)
    assert title.endswith("…") and len(title) <= 121


def test_html_declared_charset_is_honoured_but_undeclared_latin1_text_is_skipped(tmp_path):
    page = (
        '<html><head><meta charset="iso-8859-1"><title>Caf\xe9</title></head>'
        "<body><p>Le caf\xe9 co\xfbte 2 EUR.</p></body></html>"
    )
    (tmp_path / "fr.html").write_bytes(page.encode("latin-1"))
    (tmp_path / "fr.txt").write_bytes("Le caf\xe9.".encode("latin-1"))
    report = load_articles([tmp_path])
    (a,) = report.articles
    assert a.id == "fr" and "Le café coûte 2 EUR." in a.text
    (s,) = report.skipped
    assert s.path.endswith("fr.txt") and "UTF-8" in s.reason


def test_single_path_argument_is_accepted():
    report = load_articles(CORPUS / "004_afface0cdd3336e2.txt")
    assert [a.id for a in report.articles] == ["004_afface0cdd3336e2"]
    assert report.articles[0].source == "RFI"  # the directory's sidecar still applies
