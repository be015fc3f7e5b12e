"""Verdict records end to end on the real app (real index, scripted judge) against SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from pyld import jsonld

from factcheck.api import create_app
from factcheck.cli import main
from factcheck.models import Article
from factcheck.settings import RatingSpec, Settings
from factcheck.store import RecordQuery, SqlVerdictStore
from tests.api_support import database_url, make_pipeline, make_settings
from tests.fakes import FixedLabelJudge

CLAIM = "About 2,500 US troops are in Iraq"
PAGE = "https://news.example/iraq-troops"
SCHEMA = Path(__file__).resolve().parent / "fixtures" / "schemaorg"
REPO = Path(__file__).resolve().parents[1]
KEYS = {
    "checker": {"key": "check-key", "roles": ["check"]},
    "editor": {"key": "edit-key", "roles": ["check", "review"]},
    "ops": {"key": "admin-key", "roles": ["admin"]},
}
CHECKER, EDITOR, ADMIN = ({"X-API-Key": k["key"]} for k in KEYS.values())


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    with database_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture()
def make_client(db, tmp_path):
    """A function building TestClients on one real index and the test database; the judge is reachable."""
    pipeline = make_pipeline(make_settings(tmp_path))
    opened = []

    def build(**overrides):
        settings = make_settings(tmp_path, **{"db_url": db, "api_keys": KEYS, **overrides})
        client = TestClient(create_app(settings, pipeline), raise_server_exceptions=False)
        client.__enter__()
        client.judge = pipeline.judge  # type: ignore[attr-defined]
        opened.append(client)
        return client

    yield build
    for c in opened:
        c.__exit__(None, None, None)


@pytest.fixture()
def client(make_client):
    return make_client()


def assert_error(resp, status: int, code: str) -> None:
    assert resp.status_code == status, resp.text
    assert resp.json() == {"error": {"code": code, "message": resp.json()["error"]["message"]}}


def check(client, claim: str = CLAIM, headers=CHECKER, **body) -> dict:
    r = client.post("/check", json={"claim": claim, **body}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


# --- storing and reading back --------------------------------------------------------------------------


def test_check_is_stored_read_back_and_rechecked(client):
    v = check(client, url=PAGE)
    assert v["stored"] is True and v["verdict_id"] and v["label"] == "supported"
    r = client.get(f"/verdicts/{v['verdict_id']}", headers=CHECKER)
    assert r.status_code == 200 and r.headers["etag"] == '"1"'
    rec = r.json()
    assert rec["claim"] == CLAIM and rec["label"] == rec["published_label"] == "supported"
    assert rec["verdict"]["citations"] == v["citations"] and rec["verdict"]["explanation"] == v["explanation"]
    ctx = rec["context"]
    assert ctx["page_url"] == PAGE and ctx["api_key_name"] == "checker" and ctx["endpoint"] == "check"
    assert ctx["judge"] == "scripted" and ctx["judge_version"] == "test-1" and ctx["models"]["embedder"]
    assert ctx["index_generation"] == 1 and len(ctx["index_sha256"]) == 64 and ctx["top_k"] == 6
    assert "check-key" not in r.text  # the key's name is kept, never the key
    # The same claim, spelled differently, on the same index and judge: answered with the stored record.
    again = check(client, "  about 2,500 US troops are in Iraq. ")
    assert again["verdict_id"] == v["verdict_id"] and again["stored"] is True
    assert again["claim"] == "  about 2,500 US troops are in Iraq. " and again["citations"] == v["citations"]
    assert again["explanation"] == v["explanation"] and "store" in again["timings_ms"]
    health = client.get("/health").json()["store"]
    assert health["available"] is True and health["last_error"] is None
    assert health["url"].split(":")[0] in ("sqlite", "postgresql+psycopg") and ":factcheck_test@" not in health["url"]
    assert len(client.get("/verdicts", headers=CHECKER).json()["items"]) == 1
    # Another as_of is another check.
    assert check(client, as_of="2024-02-01")["verdict_id"] != v["verdict_id"]


def test_a_recheck_answers_with_the_stored_verdict_even_when_the_judge_now_differs(db, tmp_path):
    judge = FixedLabelJudge("supported", name="scripted", version="test-1")
    settings = make_settings(tmp_path, db_url=db, verdict_cache_size=0)  # every request reaches the judge
    with TestClient(create_app(settings, make_pipeline(settings, judge=judge))) as client:
        first = check(client, headers={})
        judge.label = "contradicted"  # an LLM may answer differently on the same evidence
        again = check(client, headers={})
        assert judge.calls == 2  # the store does not stand in for the judge (benchmarks still measure it)
        assert again["verdict_id"] == first["verdict_id"] and again["label"] == "supported"
        assert again["timings_ms"]["judge"] >= 0 and "store" in again["timings_ms"]


def test_batch_and_extract_verdicts_are_stored(client):
    claims = [CLAIM, "Spain has more than 300 troops deployed to Iraq", CLAIM]
    r = client.post("/check/batch", json={"claims": claims, "url": PAGE}, headers=CHECKER)
    assert r.status_code == 200, r.text
    out = r.json()
    assert all(v["stored"] for v in out) and out[0]["verdict_id"] == out[2]["verdict_id"] != out[1]["verdict_id"]
    rec = client.get(f"/verdicts/{out[1]['verdict_id']}", headers=CHECKER).json()
    assert rec["context"]["endpoint"] == "check/batch" and rec["context"]["page_url"] == PAGE
    text = "The United States currently has about 2,500 troops in Iraq and nearly 900 in neighboring Syria."
    r = client.post("/extract", json={"text": text, "check": True, "url": PAGE}, headers=CHECKER)
    assert r.status_code == 200, r.text
    [item] = r.json()["claims"]
    assert item["verdict"]["stored"] is True
    rec = client.get(f"/verdicts/{item['verdict']['verdict_id']}", headers=CHECKER).json()
    assert rec["context"]["endpoint"] == "extract" and rec["context"]["page_url"] == PAGE
    assert (
        client.post("/check", json={"claim": CLAIM, "url": "javascript:alert(1)"}, headers=CHECKER).status_code == 422
    )


def test_listing_filters_and_pages_newest_first(client):
    claims = [f"Claim {i}: 2,500 US troops are in Iraq" for i in range(5)]
    for c in claims:
        check(client, c)
    seen, cursor = [], None
    while True:
        params = {"limit": 2, "claim": "us troops"} | ({"cursor": cursor} if cursor else {})
        page = client.get("/verdicts", params=params, headers=CHECKER).json()
        seen += [r["claim"] for r in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == claims[::-1]
    assert client.get("/verdicts", params={"label": "contradicted"}, headers=CHECKER).json()["items"] == []
    assert len(client.get("/verdicts", params={"since": "2020-01-01"}, headers=CHECKER).json()["items"]) == 5
    assert client.get("/verdicts", params={"reviewed": "true"}, headers=CHECKER).json()["items"] == []
    assert_error(client.get("/verdicts", params={"cursor": "nonsense"}, headers=CHECKER), 422, "bad_input")
    assert_error(client.get("/verdicts", params={"label": "true"}, headers=CHECKER), 422, "invalid_request")
    assert_error(client.get("/verdicts/0123456789abcdef", headers=CHECKER), 404, "verdict_not_found")
    assert_error(client.get("/verdicts", headers={}), 401, "unauthorized")


# --- review ----------------------------------------------------------------------------------------------


def test_review_needs_the_role_and_the_current_version(client):
    vid = check(client)["verdict_id"]
    body = {"label": "contradicted", "note": "The figure is from 2023.", "reviewer": "A. Editor", "version": 1}
    assert_error(client.post(f"/verdicts/{vid}/review", json=body), 401, "unauthorized")
    assert_error(client.post(f"/verdicts/{vid}/review", json=body, headers=CHECKER), 403, "forbidden")
    r = client.post(f"/verdicts/{vid}/review", json=body | {"rating_text": "Outdated"}, headers=EDITOR)
    assert r.status_code == 200, r.text
    rec = r.json()
    assert r.headers["etag"] == '"2"' and rec["version"] == 2
    assert rec["label"] == "supported" and rec["published_label"] == "contradicted"
    assert rec["review"]["reviewer"] == "A. Editor" and rec["review"]["rating_text"] == "Outdated"
    [event] = rec["events"]
    assert event["kind"] == "review" and event["who"] == "A. Editor" and event["api_key_name"] == "editor"
    assert event["before"]["published_label"] == "supported" and event["after"]["published_label"] == "contradicted"
    # Someone still holding version 1 is refused.
    assert_error(client.post(f"/verdicts/{vid}/review", json=body, headers=EDITOR), 409, "stale_review")
    stale = client.post(f"/verdicts/{vid}/review", json=body | {"version": None}, headers=EDITOR | {"If-Match": '"1"'})
    assert_error(stale, 409, "stale_review")
    missing = body | {"version": None}
    assert_error(client.post(f"/verdicts/{vid}/review", json=missing, headers=EDITOR), 422, "bad_input")
    # A correction of a published review: needs a reason, then shows on the record.
    fix = {"label": "supported", "note": "2,500 is current.", "reviewer": "B. Editor"}
    no_reason = client.post(f"/verdicts/{vid}/review", json=fix, headers=EDITOR | {"If-Match": '"2"'})
    assert_error(no_reason, 422, "bad_input")
    r = client.post(
        f"/verdicts/{vid}/review", json=fix | {"reason": "misread the date"}, headers=EDITOR | {"If-Match": '"2"'}
    )
    assert r.status_code == 200, r.text
    rec = client.get(f"/verdicts/{vid}", headers=CHECKER).json()
    assert rec["published_label"] == "supported" and rec["version"] == 3
    assert [e["kind"] for e in rec["events"]] == ["review", "correction"]
    assert rec["events"][1]["reason"] == "misread the date"
    assert [r["id"] for r in client.get("/verdicts", params={"reviewed": True}, headers=CHECKER).json()["items"]] == [
        vid
    ]
    # A re-check serves the record with its review beside the model's label.
    again = check(client)
    assert again["verdict_id"] == vid and again["label"] == "supported"
    assert again["reviewed_label"] == "supported" and again["review_note"] == "2,500 is current."
    assert_error(client.post("/verdicts/0123456789abcdef/review", json=body, headers=EDITOR), 404, "verdict_not_found")


def test_the_single_api_key_keeps_every_role(make_client):
    client = make_client(api_key="the-one-key", api_keys={})
    key = {"X-API-Key": "the-one-key"}
    vid = check(client, headers=key)["verdict_id"]
    assert client.get(f"/verdicts/{vid}", headers=key).json()["context"]["api_key_name"] == "default"
    body = {"label": "unverified", "note": "n", "reviewer": "r", "version": 1}
    assert client.post(f"/verdicts/{vid}/review", json=body, headers={"Authorization": "Bearer the-one-key"}).is_success
    assert_error(client.post("/check", json={"claim": CLAIM}, headers={"X-API-Key": "check-key"}), 401, "unauthorized")


def test_keys_and_ratings_come_from_the_environment_as_json(monkeypatch):
    monkeypatch.setenv("FACTCHECK_API_KEYS", json.dumps({"desk": {"key": "k1", "roles": ["check", "review"]}}))
    monkeypatch.setenv("FACTCHECK_CLAIMREVIEW_RATINGS", json.dumps({"unverified": {"value": 2, "name": "Unsupported"}}))
    s = Settings(_env_file=None)
    assert s.api_keys["desk"].key == "k1" and s.api_keys["desk"].roles == ["check", "review"]
    assert s.claimreview_ratings["unverified"] == RatingSpec(value=2, name="Unsupported")
    assert s.claimreview_ratings["supported"].value == 5  # labels left out keep their default
    monkeypatch.setenv("FACTCHECK_API_KEYS", json.dumps({"desk": {"key": "k1", "roles": ["publish"]}}))
    with pytest.raises(ValueError):
        Settings(_env_file=None)


def test_a_new_index_generation_makes_a_new_linked_record(client):
    first = check(client)
    article = {
        "id": "900_new",
        "title": "Update",
        "text": "An update. About 2,500 US troops are in Iraq, officials said again on Monday.",
    }
    assert_error(client.post("/articles", json=article, headers=EDITOR), 403, "forbidden")
    assert client.post("/articles", json=article, headers=ADMIN).status_code == 201
    second = check(client)
    assert second["verdict_id"] != first["verdict_id"] and second["stored"] is True
    rec = client.get(f"/verdicts/{second['verdict_id']}", headers=CHECKER).json()
    assert rec["previous_id"] == first["verdict_id"] and rec["context"]["index_generation"] == 2


# --- the database down, storage off ---------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["postgresql://nobody@127.0.0.1:1/none", "sqlite:///{tmp}/a-file/verdicts.sqlite"])
def test_an_unreachable_database_still_serves_verdicts(make_client, tmp_path, caplog, bad):
    (tmp_path / "a-file").write_text("a file where a folder should be")
    client = make_client(db_url=bad.format(tmp=tmp_path))
    with caplog.at_level(logging.ERROR, logger="factcheck.api"):
        v = check(client)
        batch = client.post("/check/batch", json={"claims": [CLAIM, "x 1"]}, headers=CHECKER)
    assert v["label"] == "supported" and v["stored"] is False and v["verdict_id"] is None
    assert batch.status_code == 200 and [b["stored"] for b in batch.json()] == [False, False]
    assert any("unstored" in r.getMessage() and "unavailable" in r.getMessage() for r in caplog.records)
    assert_error(client.get("/verdicts", headers=CHECKER), 503, "store_unavailable")
    store = client.get("/health").json()["store"]
    assert store["available"] is False and store["last_error"]


def test_storage_can_be_switched_off(make_client):
    client = make_client(store_verdicts=False)
    v = check(client)
    assert v["stored"] is None and v["verdict_id"] is None
    assert_error(client.get("/verdicts", headers=CHECKER), 503, "store_unavailable")


SERVER = textwrap.dedent(
    """
    import socket, sys
    from pathlib import Path
    import uvicorn
    from factcheck.api import create_app
    from tests.api_support import make_pipeline, make_settings
    settings = make_settings(Path(sys.argv[1]), db_url=sys.argv[2], workers=4, queue_size=64)
    app = create_app(settings, make_pipeline(settings))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="critical")).run(sockets=[sock])
    """
)


def test_a_server_killed_mid_write_keeps_every_verdict_it_answered(db, tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(tmp_path), db], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    try:
        assert proc.stdout is not None
        base = f"http://127.0.0.1:{int(proc.stdout.readline())}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(base + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        answered: list[str] = []
        stop = threading.Event()

        def client(k: int) -> None:
            with httpx.Client(base_url=base, timeout=10) as h:
                for i in range(10_000):
                    if stop.is_set():
                        return
                    try:
                        r = h.post("/check", json={"claim": f"Client {k}, claim {i}: 2,500 US troops are in Iraq"})
                    except httpx.HTTPError:
                        return  # the server is gone
                    if r.status_code == 200 and r.json()["stored"]:
                        answered.append(r.json()["verdict_id"])

        threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        while len(answered) < 60 and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)  # mid-flight: 8 clients, writes in progress
        stop.set()
        for t in threads:
            t.join(timeout=20)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert len(answered) >= 60, "the server did not get going"
    store = SqlVerdictStore(db)
    found = store.get_many(answered)  # every record parses: none is half-written
    assert set(found) == set(answered)
    assert len(list(store.iter_all(RecordQuery()))) >= len(set(answered))
    store.close()


# --- ClaimReview -----------------------------------------------------------------------------------------


def _loader(url, options=None):
    """pyld's document loader, answering schema.org's context from the vendored file and nothing else."""
    if url.rstrip("/") not in ("https://schema.org", "http://schema.org"):
        raise AssertionError(f"the test reached for {url}")
    doc = json.loads((SCHEMA / "context.jsonld").read_text())
    return {"contextUrl": None, "documentUrl": url, "document": doc}


PROPERTIES = json.loads((SCHEMA / "properties.json").read_text())
S = "http://schema.org/"


def assert_schema_org(doc: dict) -> list[dict]:
    """Expand the JSON-LD offline; every node's type and property must be schema.org's. The expanded nodes."""
    expanded = jsonld.expand(doc, {"documentLoader": _loader})
    nodes: list[dict] = []

    def walk(node):
        if isinstance(node, list):
            for n in node:
                walk(n)
        elif isinstance(node, dict) and "@type" in node and "@value" not in node:
            [typ] = node["@type"]
            assert typ.startswith(S), typ
            allowed = PROPERTIES[typ.removeprefix(S)]
            for key, value in node.items():
                if key.startswith("@"):
                    continue
                assert key.startswith(S) and key.removeprefix(S) in allowed, f"{key} on {typ}"
                walk(value)
            nodes.append(node)

    walk(expanded)
    return nodes


def value(node: dict, prop: str):
    [v] = node[S + prop]
    return v.get("@value", v.get("@id", v))


def test_claimreview_is_valid_json_ld_with_the_configured_ratings(make_client):
    ratings = {"contradicted": RatingSpec(value=2, name="Mostly false")}
    client = make_client(claimreview_ratings=ratings, claimreview_author="The Desk")
    vid = check(client, url=PAGE)["verdict_id"]
    r = client.get(f"/verdicts/{vid}/claimreview", headers=CHECKER)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/ld+json")
    doc = r.json()
    nodes = assert_schema_org(doc)
    [review] = [n for n in nodes if n["@type"] == [S + "ClaimReview"]]
    assert value(review, "claimReviewed") == CLAIM and value(review, "creativeWorkStatus") == "MachineGenerated"
    assert value(review, "url").endswith(f"/verdicts/{vid}")
    [claim] = review[S + "itemReviewed"]
    assert claim["@type"] == [S + "Claim"] and value(claim[S + "appearance"][0], "url") == PAGE
    [author] = review[S + "author"]
    assert value(author, "name") == "The Desk"
    [rating] = review[S + "reviewRating"]
    assert (value(rating, "ratingValue"), value(rating, "bestRating"), value(rating, "worstRating")) == (5, 5, 1)
    assert value(rating, "alternateName") == "True"
    assert "not yet reviewed by a person" in value(rating, "ratingExplanation")
    assert review[S + "datePublished"][0]["@value"] == doc["datePublished"]
    # Reviewed: the person's label, their rating text and note; no longer machine-generated.
    body = {"label": "contradicted", "note": "Out of date.", "reviewer": "A. Editor", "version": 1}
    assert client.post(f"/verdicts/{vid}/review", json=body, headers=EDITOR).status_code == 200
    doc = client.get(f"/verdicts/{vid}/claimreview", headers=CHECKER).json()
    [review] = [n for n in assert_schema_org(doc) if n["@type"] == [S + "ClaimReview"]]
    [rating] = review[S + "reviewRating"]
    assert value(rating, "ratingValue") == 2 and value(rating, "alternateName") == "Mostly false"
    assert value(rating, "ratingExplanation") == "Out of date."
    assert value(review, "creativeWorkStatus") == "Reviewed"
    # A correction shows in the published document.
    fix = {"label": "supported", "note": "Current.", "reviewer": "B", "rating_text": "Accurate", "reason": "new data"}
    assert client.post(f"/verdicts/{vid}/review", json=fix | {"version": 2}, headers=EDITOR).status_code == 200
    doc = client.get(f"/verdicts/{vid}/claimreview", headers=CHECKER).json()
    assert_schema_org(doc)
    assert doc["reviewRating"]["ratingValue"] == 5 and doc["reviewRating"]["alternateName"] == "Accurate"
    assert doc["correction"] and "new data" in doc["correction"][0]


# --- the CLI over the same database -------------------------------------------------------------------------


def test_cli_lists_shows_and_exports(client, db, tmp_path, capsys):
    vid = check(client, url=PAGE)["verdict_id"]
    other = check(client, "Spain has more than 300 troops deployed to Iraq")["verdict_id"]
    body = {"label": "contradicted", "note": "n", "reviewer": "A. Editor", "version": 1}
    assert client.post(f"/verdicts/{vid}/review", json=body, headers=EDITOR).status_code == 200
    capsys.readouterr()
    assert main(["verdicts", "--db", db, "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == [other, vid] and "reviewed" in lines[1]
    assert main(["verdicts", "--db", db, "list", "--reviewed", "--json"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)["items"]] == [vid]
    assert main(["verdicts", "--db", db, "show", vid]) == 0
    shown = capsys.readouterr().out
    assert "review by A. Editor: supported -> contradicted" in shown and PAGE in shown
    assert main(["verdicts", "--db", db, "export"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["id"] for r in rows] == [other, vid] and rows[1]["events"][0]["who"] == "A. Editor"
    out = tmp_path / "verdicts.csv"
    assert main(["verdicts", "--db", db, "export", "--format", "csv", "--out", str(out)]) == 0
    table = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [(r["id"], r["published_label"], r["reviewed"]) for r in table] == [
        (other, "supported", "False"),
        (vid, "contradicted", "True"),
    ]
    assert main(["verdicts", "--db", db, "export", "--format", "claimreview", "--base-url", "https://fc.example"]) == 0
    feed = json.loads(capsys.readouterr().out)
    nodes = assert_schema_org(feed)
    reviews = [n for n in nodes if n["@type"] == [S + "ClaimReview"]]
    assert len(reviews) == 2 and value(reviews[0], "url") == f"https://fc.example/verdicts/{other}"
    # Bad input: one line on stderr, exit 2.
    capsys.readouterr()
    for argv in (
        ["show", "0123456789abcdef"],
        ["list", "--limit", "0"],
        ["list", "--cursor", "zzz"],
        ["export", "--base-url", "ftp://x"],
    ):
        assert main(["verdicts", "--db", db, *argv]) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("factcheck: error:"), err
    with pytest.raises(SystemExit) as exit_:
        main(["verdicts", "--db", db, "list", "--since", "yesterday"])
    assert exit_.value.code == 2


def test_cli_without_a_database_is_one_line(tmp_path, capsys):
    assert main(["--index", str(tmp_path / "none"), "verdicts", "list"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no verdict database" in err


def test_articles_added_by_a_check_only_key_are_refused(client):
    article = Article(id="901_x", title="T", text="Some text here.").model_dump(mode="json")
    assert_error(client.post("/articles", json=article, headers=CHECKER), 403, "forbidden")
