"""The reference browser extension (extension/) in real Chromium against the real app.

Chromium loads the unpacked extension; the app (real pipeline on a temp index, scripted judge, API key,
the extension's origin allowlisted) runs under uvicorn on loopback; pages are served from another
loopback port. The popup page is opened in a tab as `popup.html?tab=ID` and its buttons are clicked.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import socket
import threading
import time
import urllib.request
from datetime import date
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from factcheck.api import create_app
from factcheck.models import Article
from tests.api_support import make_pipeline, make_settings, serve_in_thread

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
EXT = REPO / "extension"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "extension"
CHROMIUM = Path("/usr/bin/chromium")
KEY = "extension-test-key"
SCREENSHOT = EXT / "screenshot.png"
ARGS = [
    "--headless=new",
    f"--disable-extensions-except={EXT}",
    f"--load-extension={EXT}",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ACTIVE = ("starting", "extracting", "checking")

if not CHROMIUM.exists():
    pytest.skip("no /usr/bin/chromium (apt-get install -y chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (never `playwright install`)")


# --- servers ---------------------------------------------------------------------------------------


class Contradicting:
    """Wraps the test pipeline's own judge: a claim naming Spain that it does not support comes back
    `contradicted`, so one page shows all three labels. Everything else is the wrapped judge's answer."""

    def __init__(self, inner):
        self.inner = inner
        self.name = inner.name
        self.version = f"{inner.version}+contradicting"

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def judge(self, claim, hits):
        v = self.inner.judge(claim, hits)
        if "Spain" in claim and v.label != "supported":
            v = v.model_copy(update={"label": "contradicted", "confidence": 0.8})
        return v


class Recorder:
    """ASGI wrapper that records each request's method, path, Origin header and body, then replays it."""

    def __init__(self, app):
        self.app = app
        self.calls: list[dict] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        self.calls.append(
            {
                "method": scope["method"],
                "path": scope["path"],
                "origin": headers.get("origin"),
                "browser": "Chrom" in headers.get("user-agent", ""),
                "body": body,
            }
        )
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def bodies(self, path: str, since: int = 0) -> list[dict]:
        """JSON bodies the browser POSTed to `path` (from call number `since` on), oldest first."""
        return [
            json.loads(c["body"])
            for c in self.calls[since:]
            if c["path"] == path and c["method"] == "POST" and c["browser"]
        ]


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def _hostile_pages(root: Path) -> None:
    """HTML-looking text, a ~2 MB page, text in iframes; written beside the fixtures."""
    (root / "hostile.html").write_text(
        """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>hostile</title>
<script>window.pageState = {ready: true}; window.pwned = 0;</script></head><body>
<article id="story">
<h1>Coalition news</h1>
<p id="html-text">&lt;img src=x onerror="window.pwned=1"&gt; The United States currently has about 2,500 troops in Iraq and nearly 900 in neighboring Syria &lt;/p&gt;&lt;script&gt;window.pwned=2&lt;/script&gt;.</p>
<p>Baghdad said on Saturday that an evil-corp-x7 article reported 4,321 attacks on coalition bases in 2023.</p>
<p>Since mid-October, there have been more than 150 attacks targeting coalition troops in Iraq and Syria.</p>
<iframe id="inline-frame" srcdoc="&lt;p&gt;The United States currently has about 2,500 troops in Iraq, an official said on Monday.&lt;/p&gt;"></iframe>
<iframe id="same-origin-frame" src="frame.html"></iframe>
</article></body></html>""",
        encoding="utf-8",
    )
    (root / "frame.html").write_text(
        "<!doctype html><html><body><p id='f'>Spain has more than 300 troops deployed to Iraq, the minister said "
        "in 2024.</p></body></html>",
        encoding="utf-8",
    )
    para = (
        "<p>Report {i}: Since mid-October, there have been more than 150 attacks targeting coalition troops, "
        "officials said on Tuesday in Baghdad. Currently, there are approximately 2,500 US troops deployed in "
        "Iraq and about 900 in Syria as part of the coalition formed in 2014. The weather in the region was "
        "mild &amp; dry &lt;b&gt;all week&lt;/b&gt; according to local farmers interviewed for report {i}.</p>\n"
    )
    cjk = "".join(f"<p>美国目前在伊拉克驻扎约{2500 + i}名士兵，官员周二在巴格达表示。</p>\n" for i in range(4_000))
    (root / "cjk.html").write_text(
        "<!doctype html><html lang='zh'><head><meta charset='utf-8'><title>cjk</title>"
        f"<script>window.pageState = {{ready: true}};</script></head><body><article>{cjk}</article></body></html>",
        encoding="utf-8",
    )
    body = "".join(para.format(i=i) for i in range(5_200))
    (root / "huge.html").write_text(
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>huge</title>"
        "<script>window.pageState = {ready: true};</script></head><body><main id='story'>"
        f"<h1>All the reports</h1>\n{body}</main></body></html>",
        encoding="utf-8",
    )


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    root = tmp_path_factory.mktemp("ext-pages")
    for f in FIXTURES.iterdir():
        shutil.copy(f, root / f.name)
    _hostile_pages(root)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    profile = tmp_path_factory.mktemp("ext-profile")
    with sync_api.sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=False,
            args=ARGS,
            chromium_sandbox=False,
            viewport={"width": 1100, "height": 760},
        )
        try:
            sw = ctx.service_workers[0] if ctx.service_workers else ctx.wait_for_event("serviceworker", timeout=30_000)
            ext_id = sw.url.split("/")[2]
            yield ctx, sw, ext_id
        finally:
            ctx.close()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def api(browser, tmp_path_factory):
    """The real app with a key and the extension's origin allowlisted; a second app shares its pipeline
    and allowlists nothing (to see what CORS does to an extension)."""
    _, _, ext_id = browser
    tmp = tmp_path_factory.mktemp("ext-api")
    settings = make_settings(tmp, api_key=KEY, cors_origins=[f"chrome-extension://{ext_id}"])
    inner = make_pipeline(make_settings(tmp / "plain")).judge  # the helpers' default test judge
    pipeline = make_pipeline(settings, judge=Contradicting(inner))
    recorder = Recorder(create_app(settings, pipeline))
    bare = Recorder(create_app(make_settings(tmp, api_key=KEY, cors_origins=[]), pipeline))
    with serve_in_thread(recorder) as url, serve_in_thread(bare) as bare_url:
        # An article whose metadata is hostile: HTML in the title and quote, a javascript: URL. The API refuses
        # such a url, but an index built from files may still hold one: it goes into the pipeline directly.
        pipeline.add_article(
            Article(
                id="evil-corp-x7",
                title='<img src=x onerror="window.pwned=3">Evil <b>title</b>',
                source="<script>window.pwned=4</script>",
                url="javascript:window.pwned=5",
                published=date(2024, 1, 2),
                text="Baghdad said on Saturday that an evil-corp-x7 article reported 4,321 attacks on coalition bases "
                'in 2023 <img src=x onerror="window.pwned=6">.',
            )
        )
        yield {"url": url, "recorder": recorder, "bare_url": bare_url, "bare": bare, "pipeline": pipeline}


def _post(base: str, path: str, body: dict, key: str = KEY) -> dict:
    req = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "X-API-Key": key},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


# --- browser helpers -------------------------------------------------------------------------------


def configure(browser, api_base: str, key: str = KEY) -> None:
    """Fill and submit the options form, as a user would."""
    ctx, _, ext_id = browser
    opts = ctx.new_page()
    opts.goto(f"chrome-extension://{ext_id}/options.html")
    opts.wait_for_selector("html[data-loaded='true']")
    opts.fill("#apiBase", api_base)
    opts.fill("#apiKey", key)
    opts.click("#save")
    opts.wait_for_function("() => document.getElementById('result').textContent.startsWith('Saved')")
    opts.close()


def set_config(browser, **values) -> None:
    """Quick reconfiguration through chrome.storage (the options form is tested separately)."""
    _, sw, _ = browser
    sw.evaluate("async (v) => { await chrome.storage.local.set(v); }", values)


def open_tab(browser, url: str):
    ctx, sw, _ = browser
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.wait_for_function("() => window.pageState && window.pageState.ready")
    tab_id = sw.evaluate("async (u) => (await chrome.tabs.query({})).find((t) => t.url === u)?.id ?? null", url)
    assert tab_id is not None
    page.page_errors = errors
    return page, tab_id


def open_popup(browser, tab_id: int):
    ctx, _, ext_id = browser
    popup = ctx.new_page()
    popup.goto(f"chrome-extension://{ext_id}/popup.html?tab={tab_id}")
    popup.wait_for_selector("#status")
    return popup


def run_check(browser, tab_id: int, button: str = "#check-page", timeout_ms: int = 60_000):
    """Click a popup button; wait until the check ends; return (popup, state, seconds waited)."""
    popup = open_popup(browser, tab_id)
    t0 = time.perf_counter()
    popup.click(button)
    popup.wait_for_function(
        "(a) => { const s = document.getElementById('status').dataset.state; return s && !a.includes(s) && s !== 'idle'; }",
        arg=list(ACTIVE),
        timeout=timeout_ms,
    )
    return popup, tab_state(browser, tab_id), time.perf_counter() - t0


def tab_state(browser, tab_id: int) -> dict:
    _, sw, _ = browser
    return sw.evaluate("async (id) => (await chrome.storage.session.get(`tab:${id}`))[`tab:${id}`] ?? null", tab_id)


def snapshot(page) -> dict:
    """What must be identical before a check and after an error or a clear."""
    return page.evaluate("""() => ({
        html: document.documentElement.outerHTML,
        text: document.body.innerText,
        state: JSON.stringify(window.pageState),
        kept: window.keptNode ? [window.keptNode.isConnected, window.keptNode.data] : null,
        fcx: document.querySelectorAll('fcx-hl, fcx-ui-host').length,
        pwned: window.pwned ?? null,
    })""")


def highlights(page) -> dict[str, dict]:
    """Highlights grouped by claim id: joined text and label of their segments."""
    return page.evaluate("""() => {
        const out = {};
        for (const m of document.querySelectorAll('fcx-hl')) {
            const id = m.dataset.fcxId;
            out[id] ??= {text: '', labels: [], segments: 0, focusable: 0};
            out[id].text += m.textContent;
            out[id].labels.push(m.dataset.fcxLabel);
            out[id].segments += 1;
            if (m.tabIndex === 0) out[id].focusable += 1;
        }
        return out;
    }""")


def ws(s: str) -> str:
    return " ".join(s.split())


def card_text(page) -> dict:
    return page.evaluate("""() => {
        const host = document.querySelector('fcx-ui-host');
        const card = host && host.shadowRoot.querySelector('.card');
        if (!card || card.hidden) return null;
        const q = (s) => [...card.querySelectorAll(s)].map((e) => e.textContent);
        return {label: card.querySelector('.label').textContent, quotes: q('.quote'), sources: q('.source'),
                parts: [...card.querySelectorAll('.part')].map((p) => [p.classList[1], p.querySelector('.part-text').textContent]),
                links: [...card.querySelectorAll('a')].map((a) => a.getAttribute('href')), html: card.innerHTML,
                imgs: card.querySelectorAll('img, script').length};
    }""")


# --- tests -----------------------------------------------------------------------------------------


def test_options_page_saves_settings(browser, api):
    ctx, sw, ext_id = browser
    opts = ctx.new_page()
    opts.goto(f"chrome-extension://{ext_id}/options.html")
    opts.wait_for_selector("html[data-loaded='true']")
    assert opts.is_checked("#useAsOf") and not opts.is_checked("#autoCheck")  # defaults
    opts.fill("#apiBase", "javascript:alert(1)")
    opts.click("#save")
    assert opts.get_attribute("#result", "data-ok") == "false"
    assert "apiBase" not in sw.evaluate("() => chrome.storage.local.get(null)")
    opts.fill("#apiBase", api["url"])
    opts.fill("#apiKey", "wrong")
    opts.click("#save")
    opts.wait_for_function("() => document.getElementById('result').textContent.startsWith('Saved')")
    opts.click("#test")
    opts.wait_for_function("() => document.getElementById('result').dataset.ok === 'false'")
    assert "key refused" in opts.text_content("#result").lower()
    opts.close()

    configure(browser, api["url"] + "/", KEY)
    stored = sw.evaluate("() => chrome.storage.local.get(null)")
    assert stored["apiBase"] == api["url"]  # trailing slash removed
    assert stored["apiKey"] == KEY
    assert stored["autoCheck"] is False and stored["useAsOf"] is True
    opts = ctx.new_page()
    opts.goto(f"chrome-extension://{ext_id}/options.html")
    opts.wait_for_selector("html[data-loaded='true']")
    assert opts.input_value("#apiBase") == api["url"]
    opts.click("#test")
    opts.wait_for_function("() => document.getElementById('result').textContent.startsWith('Connected')")
    assert "key accepted" in opts.text_content("#result").lower()
    opts.close()


def test_check_page_highlights_claims_progressively(browser, api, pages, tmp_path):
    configure(browser, api["url"], KEY)
    page, tab_id = open_tab(browser, f"{pages}/seed.html")
    before = snapshot(page)
    rec = api["recorder"]
    n_calls = len(rec.calls)
    popup, state, waited = run_check(browser, tab_id)
    assert state["status"] == "done", state
    assert popup.get_attribute("#status", "data-state") == "done"

    # What the extension sent, and what the API answers for that same text when we ask it ourselves.
    sent = rec.bodies("/extract")[-1]
    assert "Leave a Reply" not in sent["text"] and "40,000" not in sent["text"]  # comments
    assert "3 million readers" not in sent["text"] and "250 journalists" not in sent["text"]  # nav, footer
    assert "600 soldiers" not in sent["text"] and "Share this" not in sent["text"]  # aside, share widget
    assert (
        "10,000" not in sent["text"] and "7,000" not in sent["text"] and "4,000" not in sent["text"]
    )  # script, comment, hidden
    assert sent["url"] == f"{pages}/seed.html"
    expected = _post(api["url"], "/extract", {"text": sent["text"], "max_claims": sent["max_claims"]})["claims"]
    assert expected, "the seed page must have check-worthy sentences"
    checks = rec.bodies("/check", since=n_calls)
    assert all(c.get("as_of") == "2024-06-01" for c in checks)  # article:published_time
    assert len(checks) == len({ws(c["text"]).lower() for c in expected})  # one request per distinct claim

    hl = highlights(page)
    assert len(hl) == len(expected)
    by_text = {ws(h["text"]): h for h in hl.values()}
    for claim in expected:
        h = by_text.get(ws(claim["text"]))
        assert h is not None, f"not highlighted: {claim['text']!r}; got {list(by_text)}"
        verdict = _post(api["url"], "/check", {"claim": claim["text"], "as_of": "2024-06-01"})
        assert set(h["labels"]) == {verdict["label"]}, claim["text"]
        assert h["focusable"] == 1
    labels = {h["labels"][0] for h in hl.values()}
    assert {"supported", "contradicted", "unverified"} <= labels, labels

    # The sentence split across <b> and <a> is one claim made of several wrapped segments.
    split = by_text[ws(page.text_content("#split"))]
    assert split["segments"] >= 3
    assert page.evaluate("window.keptNode.isConnected")

    # The popup lists the same claims with their labels.
    items = popup.eval_on_selector_all(
        "#claims li", "(ls) => ls.map((l) => [l.querySelector('.text').textContent, l.dataset.label])"
    )
    assert sorted((ws(t), lab) for t, lab in items) == sorted((ws(h["text"]), h["labels"][0]) for h in hl.values())
    assert popup.locator("#claims li .source").count() == len(hl)  # each lists its cited source
    # Clicking a listed claim scrolls to and focuses its highlight.
    last_item = popup.locator("#claims li").last
    last_id = last_item.get_attribute("data-claim-id")
    last_item.click()
    page.wait_for_function("(id) => document.activeElement?.dataset?.fcxId === id", arg=last_id)

    # Progressive: the first highlight came before the last one; timings printed for the report.
    first = (state["firstHighlightAt"] - state["clickedAt"]) / 1000
    last = (state["lastHighlightAt"] - state["clickedAt"]) / 1000
    assert 0 <= first <= last
    print(
        f"\n[extension timing] seed page, {len(hl)} claims ({len(checks)} /check calls): click -> first highlight "
        f"{first:.3f} s, click -> last highlight {last:.3f} s (test waited {waited:.2f} s)"
    )
    assert len(rec.calls) > n_calls
    assert not page.page_errors

    # Hover shows the card with the verbatim quote and its source.
    page.bring_to_front()
    sid = next(k for k, v in hl.items() if v is split)
    page.hover(f"fcx-hl[data-fcx-id='{sid}']")
    page.wait_for_function(
        "() => { const h = document.querySelector('fcx-ui-host');"
        " return h && !h.shadowRoot.querySelector('.card').hidden; }"
    )
    card = card_text(page)
    verdict = _post(
        api["url"],
        "/check",
        {"claim": next(c["text"] for c in expected if ws(c["text"]) == ws(split["text"])), "as_of": "2024-06-01"},
    )
    assert card["label"].lower() == verdict["label"]
    assert card["quotes"][0] == verdict["citations"][0]["quote"]
    assert verdict["citations"][0]["source"] in card["sources"][0]
    assert verdict["citations"][0]["title"] in card["sources"][0]
    assert card["links"][0] == verdict["citations"][0]["url"]
    # The README's screenshot is written when missing or when asked for, so a test run leaves the tree clean.
    shot = (
        SCREENSHOT
        if (not SCREENSHOT.exists() or os.environ.get("FACTCHECK_UPDATE_SCREENSHOT"))
        else tmp_path / "shot.png"
    )
    page.screenshot(path=str(shot))
    assert 10_000 < shot.stat().st_size < 400_000

    # Keyboard: Escape hides it; focusing another highlight shows that one's card.
    page.keyboard.press("Escape")
    other = next(k for k in hl if k != sid)
    page.focus(f"fcx-hl[data-fcx-id='{other}'][tabindex='0']")
    page.wait_for_function("() => !document.querySelector('fcx-ui-host').shadowRoot.querySelector('.card').hidden")
    assert card_text(page)["quotes"] == [
        c["quote"]
        for c in _post(api["url"], "/check", {"claim": hl[other]["text"], "as_of": "2024-06-01"})["citations"][:2]
    ]
    page.keyboard.press("Enter")  # moves focus into the card's evidence link
    assert page.evaluate("document.activeElement.tagName") == "FCX-UI-HOST"

    # A compound claim's card lists each part with its own label, so the reader sees which part failed.
    compound = [
        (k, v)
        for k, h in hl.items()
        for v in [_post(api["url"], "/check", {"claim": h["text"], "as_of": "2024-06-01"})]
        if len(v["parts"]) > 1
    ]
    assert compound, "the seed page must hold a compound claim"
    cid, cverdict = compound[0]
    page.keyboard.press("Escape")
    page.focus(f"fcx-hl[data-fcx-id='{cid}'][tabindex='0']")
    page.wait_for_function(
        "() => document.querySelector('fcx-ui-host').shadowRoot.querySelectorAll('.card:not([hidden]) .part').length"
    )
    assert card_text(page)["parts"] == [[p["label"], p["text"]] for p in cverdict["parts"]]

    # Clear restores the original DOM, text nodes included.
    popup.click("#clear")
    page.wait_for_function("() => document.querySelectorAll('fcx-hl, fcx-ui-host').length === 0")
    after = snapshot(page)
    assert after["html"] == before["html"]
    assert after["kept"] == before["kept"] == [True, "about 2,500 troops"]
    assert json.loads(after["state"])["ready"] is True
    popup.close()
    page.close()


def test_check_selection(browser, api, pages):
    set_config(browser, apiBase=api["url"], apiKey=KEY)
    page, tab_id = open_tab(browser, f"{pages}/seed.html")
    before = snapshot(page)
    page.evaluate("""() => { const r = document.createRange(); r.selectNodeContents(document.getElementById('split'));
        const s = getSelection(); s.removeAllRanges(); s.addRange(r); }""")
    popup, state, _ = run_check(browser, tab_id, "#check-selection")
    assert state["status"] == "done", state
    hl = highlights(page)
    assert len(hl) == 1
    (only,) = hl.values()
    assert ws(only["text"]) == ws(page.text_content("#split"))
    assert rec_last_check(api) == ws(page.text_content("#split"))
    popup.click("#clear")
    page.wait_for_function("() => document.querySelectorAll('fcx-hl').length === 0")
    assert snapshot(page)["html"] == before["html"]
    popup.close()
    page.close()


def rec_last_check(api) -> str:
    return ws(api["recorder"].bodies("/check")[-1]["claim"])


@pytest.mark.parametrize("case", ["wrong_key", "stopped_server", "no_claims", "no_api"])
def test_errors_show_a_clear_message_and_leave_the_page_intact(browser, api, pages, case):
    page_name = "no-claims.html" if case == "no_claims" else "seed.html"
    if case == "wrong_key":
        set_config(browser, apiBase=api["url"], apiKey="wrong-key")
    elif case == "stopped_server":
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()  # nothing listens there now
        set_config(browser, apiBase=f"http://127.0.0.1:{port}", apiKey=KEY)
    elif case == "no_api":
        set_config(browser, apiBase="", apiKey="")
    else:
        set_config(browser, apiBase=api["url"], apiKey=KEY)
    page, tab_id = open_tab(browser, f"{pages}/{page_name}")
    before = snapshot(page)
    popup, state, _ = run_check(browser, tab_id)
    kind = {"wrong_key": "key_refused", "stopped_server": "unreachable", "no_claims": "no_claims", "no_api": "no_api"}[
        case
    ]
    assert state["status"] == "error" and state["error"]["kind"] == kind, state
    status = popup.text_content("#status")
    assert popup.get_attribute("#status", "data-kind") == kind
    words = {
        "key_refused": "key refused",
        "unreachable": "unreachable",
        "no_claims": "no check-worthy",
        "no_api": "no api configured",
    }[kind]
    assert words in status.lower(), status
    assert popup.locator("#claims li").count() == 0
    assert snapshot(page) == before
    assert not page.page_errors
    popup.close()
    page.close()
    set_config(browser, apiBase=api["url"], apiKey=KEY)


def test_hostile_html_text_is_never_html(browser, api, pages):
    set_config(browser, apiBase=api["url"], apiKey=KEY)
    page, tab_id = open_tab(browser, f"{pages}/hostile.html")
    frame_before = page.frame_locator("#inline-frame").locator("body").inner_html()
    popup, state, _ = run_check(browser, tab_id)
    assert state["status"] == "done", state
    hl = highlights(page)
    texts = [ws(h["text"]) for h in hl.values()]
    assert any(t.startswith('<img src=x onerror="window.pwned=1">') for t in texts), texts
    # The card of the claim whose evidence is the hostile article: its HTML shows as text, its
    # javascript: URL is not a link.
    evil = next(k for k, h in hl.items() if "4,321" in h["text"])
    page.bring_to_front()
    page.hover(f"fcx-hl[data-fcx-id='{evil}']")
    page.wait_for_function(
        "() => { const h = document.querySelector('fcx-ui-host');"
        " return h && !h.shadowRoot.querySelector('.card').hidden; }"
    )
    card = card_text(page)
    assert card["imgs"] == 0
    assert any("<img" in q for q in card["quotes"]) or any("<script>" in s for s in card["sources"]), card
    assert all(not (link or "").startswith("javascript:") for link in card["links"])
    assert page.evaluate("window.pwned") == 0
    assert page.evaluate("document.querySelectorAll('img, script').length") == 1  # the page's own script
    # Text in iframes is left alone (only the top document is checked) and the frames still work.
    assert page.frame_locator("#inline-frame").locator("body").inner_html() == frame_before
    assert page.frame_locator("#same-origin-frame").locator("#f").count() == 1
    popup.click("#clear")
    page.wait_for_function("() => document.querySelectorAll('fcx-hl, fcx-ui-host').length === 0")
    assert not page.page_errors
    popup.close()
    page.close()


def test_two_megabyte_page_is_cut_with_a_notice(browser, api, pages, tmp_path_factory):
    set_config(browser, apiBase=api["url"], apiKey=KEY, maxClaims=5)
    page, tab_id = open_tab(browser, f"{pages}/huge.html")
    before = page.evaluate("() => [document.body.innerHTML.length, document.body.textContent]")
    assert before[0] > 2_000_000
    popup, state, waited = run_check(browser, tab_id)
    assert state["status"] == "done", state
    raw = [c["body"] for c in api["recorder"].calls if c["path"] == "/extract" and c["browser"]][-1]
    assert len(raw) <= 64_000  # under the default max_body_bytes
    assert len(json.loads(raw)["text"]) <= 50_000  # under the default max_extract_chars
    assert "first" in popup.text_content("#notice") and not popup.is_hidden("#notice")
    hl = highlights(page)
    assert 1 <= len(hl) <= 5
    print(f"\n[extension timing] 2 MB page: {len(hl)} claims highlighted, check took {waited:.2f} s")
    popup.click("#clear")
    page.wait_for_function("() => document.querySelectorAll('fcx-hl').length === 0")
    assert page.evaluate("() => [document.body.innerHTML.length, document.body.textContent]") == before
    popup.close()

    # A server with a smaller limit: its 422 names the limit, and the extension retries once within it.
    tmp = tmp_path_factory.mktemp("ext-small")
    small = Recorder(create_app(make_settings(tmp, api_key=KEY, max_extract_chars=5_000), api["pipeline"]))
    with serve_in_thread(small) as small_url:
        set_config(browser, apiBase=small_url)
        popup, state, _ = run_check(browser, tab_id)
        assert state["status"] == "done", state
        sizes = [len(b["text"]) for b in small.bodies("/extract")]
        assert len(sizes) == 2 and sizes[0] > 5_000 >= sizes[1], sizes
        assert "5,000" in popup.text_content("#notice") or "first" in popup.text_content("#notice")
        assert len(highlights(page)) >= 1
        popup.click("#clear")
        page.wait_for_function("() => document.querySelectorAll('fcx-hl').length === 0")
        popup.close()
    assert page.evaluate("() => [document.body.innerHTML.length, document.body.textContent]") == before
    assert not page.page_errors
    page.close()
    set_config(browser, apiBase=api["url"], maxClaims=15)


def test_non_latin_page_stays_under_the_body_limit(browser, api, pages):
    """50,000 Chinese characters are ~150 KB of JSON, over the default 64,000-byte body limit: the text is
    cut by bytes as well as characters, so the server answers instead of refusing with 413."""
    set_config(browser, apiBase=api["url"], apiKey=KEY)
    page, tab_id = open_tab(browser, f"{pages}/cjk.html")
    popup, state, _ = run_check(browser, tab_id)
    raw = [c["body"] for c in api["recorder"].calls if c["path"] == "/extract" and c["browser"]][-1]
    assert 50_000 < len(raw) <= 64_000
    assert state["status"] == "done" or state["error"]["kind"] == "no_claims", state
    assert "first" in popup.text_content("#notice")
    popup.close()
    page.close()


FETCH = """async ([url, key]) => {
    try {
        const r = await fetch(url + '/check', {method: 'POST', headers: {'Content-Type': 'application/json',
            'X-API-Key': key}, body: JSON.stringify({claim: 'About 2,500 US troops are in Iraq'})});
        return [r.status, (await r.json()).label];
    } catch (e) { return ['fetch failed', e.name]; }
}"""


def test_cors_with_a_host_permission(browser, api):
    """Chromium: the extension's fetches carry Origin chrome-extension://ID; with a host permission for the
    API origin they are never preflighted and work even when the server allowlists no origin at all."""
    _, sw, ext_id = browser
    assert sw.evaluate(FETCH, [api["url"], KEY]) == [200, "supported"]
    calls = [c for c in api["recorder"].calls if c["browser"]]
    posts = [c for c in calls if c["method"] == "POST"]
    assert posts and all(c["origin"] == f"chrome-extension://{ext_id}" for c in posts)
    assert not any(c["method"] == "OPTIONS" for c in calls)
    assert sw.evaluate(FETCH, [api["bare_url"], KEY]) == [200, "supported"]
    assert not any(c["method"] == "OPTIONS" for c in api["bare"].calls)


def test_cors_without_a_host_permission(browser, api, pages, tmp_path_factory):
    """127.0.0.2 is not in host_permissions: Chromium then applies CORS (a preflight with the extension's
    origin). The server's allowlist decides; the extension names the missing permission when refused."""
    _, sw, ext_id = browser
    tmp = tmp_path_factory.mktemp("ext-cors")
    pipeline = api["pipeline"]
    listed = Recorder(
        create_app(make_settings(tmp, api_key=KEY, cors_origins=[f"chrome-extension://{ext_id}"]), pipeline)
    )
    unlisted = Recorder(create_app(make_settings(tmp, api_key=KEY, cors_origins=[]), pipeline))
    with serve_in_thread(listed, "127.0.0.2") as listed_url, serve_in_thread(unlisted, "127.0.0.2") as unlisted_url:
        assert sw.evaluate(FETCH, [listed_url, KEY]) == [200, "supported"]
        assert [c["method"] for c in listed.calls] == ["OPTIONS", "POST"]
        assert listed.calls[0]["origin"] == f"chrome-extension://{ext_id}"
        assert sw.evaluate(FETCH, [unlisted_url, KEY]) == ["fetch failed", "TypeError"]
        assert [c["method"] for c in unlisted.calls] == ["OPTIONS"]  # refused preflight (403)

        # The whole extension works through the allowlist alone...
        set_config(browser, apiBase=listed_url, apiKey=KEY)
        page, tab_id = open_tab(browser, f"{pages}/seed.html")
        popup, state, _ = run_check(browser, tab_id)
        assert state["status"] == "done" and len(highlights(page)) == len(state["claims"]) > 0
        popup.close()
        # ...and says what is missing when the server does not list it.
        set_config(browser, apiBase=unlisted_url, apiKey=KEY)
        popup, state, _ = run_check(browser, tab_id)
        assert state["error"]["kind"] == "no_permission", state
        assert "permission" in popup.text_content("#status").lower()
        popup.close()
        page.close()
    set_config(browser, apiBase=api["url"], apiKey=KEY)


def test_context_menu_path_shows_a_toast_on_error(browser, api, pages):
    """The context menu's handler (startRun with notify) with nothing selected: a toast in the page's
    shadow root says so; the page's own DOM is unchanged."""
    _, sw, _ = browser
    set_config(browser, apiBase=api["url"], apiKey=KEY)
    page, tab_id = open_tab(browser, f"{pages}/seed.html")
    before = snapshot(page)
    page.evaluate("getSelection().removeAllRanges()")
    sw.evaluate("(id) => startRun(id, {frameId: 0, mode: 'selection', notify: true})", tab_id)
    page.wait_for_function(
        "() => { const h = document.querySelector('fcx-ui-host');"
        " return h && !h.shadowRoot.querySelector('.toast').hidden; }"
    )
    toast = page.evaluate("document.querySelector('fcx-ui-host').shadowRoot.querySelector('.toast').textContent")
    assert "select some text" in toast.lower()
    assert tab_state(browser, tab_id)["error"]["kind"] == "no_selection"
    after = snapshot(page)
    assert after["text"] == before["text"] and after["state"] == before["state"]
    assert page.evaluate("document.body.innerHTML") == before["html"].split("<body>", 1)[1].rsplit("</body>", 1)[0]
    page.close()


def test_auto_check_on_load(browser, api, pages):
    """Off by default; when on, a page the extension may script (loopback here) is checked as it loads."""
    set_config(browser, apiBase=api["url"], apiKey=KEY, autoCheck=True)
    try:
        page, tab_id = open_tab(browser, f"{pages}/seed.html")
        page.wait_for_function("() => document.querySelectorAll('fcx-hl[tabindex=\"0\"]').length >= 8", timeout=30_000)
        deadline = time.monotonic() + 10
        while (tab_state(browser, tab_id) or {}).get("status") != "done" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert tab_state(browser, tab_id)["status"] == "done"
        page.close()
    finally:
        set_config(browser, autoCheck=False)
