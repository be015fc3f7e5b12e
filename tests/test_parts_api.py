"""Claims in parts through the real app: each part judged on its own retrieval, the verdict names the part that failed."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from factcheck.api import create_app
from tests.api_support import make_pipeline, make_settings
from tests.fakes import ScriptedJudge

SUPPORTED = "The US has about 2,500 troops in Iraq"
UNSTATED = "Germany sent 1,200 soldiers"
FALSE = "Spain sent 3,000 soldiers"


@pytest.fixture(scope="module")
def app_and_judge(tmp_path_factory):
    judge = ScriptedJudge({SUPPORTED: "supported", FALSE: "contradicted"})
    settings = make_settings(tmp_path_factory.mktemp("parts"))
    return create_app(settings, make_pipeline(settings, judge=judge)), judge


@pytest.mark.parametrize(
    "second,label,failed",
    [(UNSTATED, "unverified", 2), (FALSE, "contradicted", 2), ("Iraq hosts about 2,500 US troops", "unverified", 2)],
)
def test_a_compound_claim_is_judged_part_by_part(app_and_judge, second, label, failed):
    app, judge = app_and_judge
    claim = f"{SUPPORTED} and {second}"
    with TestClient(app) as client:
        r = client.post("/check", json={"claim": claim})
    assert r.status_code == 200, r.text
    v = r.json()
    assert v["label"] == label and [p["text"] for p in v["parts"]] == [SUPPORTED, second]
    assert [claim[p["start"] : p["end"]] for p in v["parts"]] == [SUPPORTED, second]
    assert v["parts"][0]["label"] == "supported" and v["parts"][1]["label"] == label
    assert v["explanation"].startswith(f'Part {failed} of 2 ("{second}") is {label}')
    assert {SUPPORTED, second} <= set(judge.calls)  # each part read on its own; the whole claim never
    assert claim not in judge.calls
    # every citation of a part is one of the verdict's
    assert all(c in v["citations"] for p in v["parts"] for c in p["citations"])


def test_every_part_supported_is_supported_and_one_fact_has_no_parts(app_and_judge):
    app, _ = app_and_judge
    with TestClient(app) as client:
        both = client.post("/check", json={"claim": f"{SUPPORTED} and {SUPPORTED.replace('The US', 'it')}"}).json()
        one = client.post("/check", json={"claim": SUPPORTED}).json()
    assert one["label"] == "supported" and one["parts"] == []
    assert both["parts"][0]["label"] == "supported"


def test_a_claim_not_in_english_gets_no_verdict_from_the_english_model(app_and_judge):
    app, judge = app_and_judge
    before = len(judge.calls)
    with TestClient(app) as client:
        r = client.post(
            "/check", json={"claim": "Les États-Unis ont environ 2 500 soldats en Irak et la coalition est partie"}
        )
    v = r.json()
    assert r.status_code == 200 and v["label"] == "unverified" and v["reason"] == "language_unsupported"
    assert "English" in v["explanation"] and v["citations"] == [] and len(judge.calls) == before
