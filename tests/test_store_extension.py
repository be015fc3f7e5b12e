"""The extension shows a person's review from the verdict store: the published label, the note, the record link.

Real Chromium with the unpacked extension, the real app under uvicorn (its store: SQLite beside the test index).
Reuses the browser fixtures of test_extension.py (and skips with it when Chromium is absent).
"""

from __future__ import annotations

import json
import urllib.request

import pytest

from tests.test_extension import (  # noqa: F401  (api, browser and pages are fixtures)
    KEY,
    _post,
    api,
    browser,
    card_text,
    configure,
    highlights,
    open_tab,
    pages,
    run_check,
)

pytestmark = pytest.mark.browser


def test_a_reviewed_verdict_shows_its_review_and_links_to_its_record(browser, api, pages):  # noqa: F811
    configure(browser, api["url"])
    page, tab_id = open_tab(browser, f"{pages}/seed.html")
    popup, state, _ = run_check(browser, tab_id)
    assert state["status"] == "done", state
    claims = [c for c in state["claims"] if c["verdict_id"]]
    assert claims and all(c["reviewed_label"] is None for c in claims)
    # Every /check the extension sent carried the page, which the record keeps.
    sent = api["recorder"].bodies("/check")
    assert sent and all(b["url"] == f"{pages}/seed.html" for b in sent)
    target = next(c for c in claims if c["label"] == "supported")
    record = _get(api["url"], f"/verdicts/{target['verdict_id']}")
    assert record["context"]["page_url"] == f"{pages}/seed.html"

    # An editor overrules the machine; the next check of the page shows the person's label and note.
    review = {"label": "contradicted", "note": "Overruled: the figure is outdated.", "reviewer": "A. Editor"}
    _post(api["url"], f"/verdicts/{target['verdict_id']}/review", review | {"version": record["version"]})
    popup.click("#clear")
    page.wait_for_function("() => document.querySelectorAll('fcx-hl').length === 0")
    popup.close()
    popup, state, _ = run_check(browser, tab_id)
    [again] = [c for c in state["claims"] if c["verdict_id"] == target["verdict_id"]]
    assert again["reviewed_label"] == "contradicted" and again["label"] == "supported"
    assert set(highlights(page)[again["id"]]["labels"]) == {"contradicted"}
    listed = popup.eval_on_selector(
        f"#claims li[data-claim-id='{again['id']}']", "(li) => [li.dataset.label, li.textContent]"
    )
    assert listed[0] == "contradicted" and "reviewed" in listed[1]

    page.bring_to_front()
    page.hover(f"fcx-hl[data-fcx-id='{again['id']}']")
    page.wait_for_function(
        "() => { const h = document.querySelector('fcx-ui-host'); return h && !h.shadowRoot.querySelector('.card').hidden; }"
    )
    card = card_text(page)
    assert card["label"] == "Contradicted" and "Reviewed" in card["html"]
    assert "Overruled: the figure is outdated." in card["html"] and "Machine verdict: Supported" in card["html"]
    assert card["links"][-1] == f"{api['url']}/verdicts/{target['verdict_id']}"
    assert not page.page_errors
    popup.close()
    page.close()


def _get(base: str, path: str) -> dict:
    req = urllib.request.Request(base + path, headers={"X-API-Key": KEY})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())
