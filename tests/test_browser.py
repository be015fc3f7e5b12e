"""A real browser as client: headless Chromium loads a page from one loopback origin and POSTs /check
to the API on another; the allowlisted origin renders the verdict, an unlisted one is blocked by CORS."""

from __future__ import annotations

import functools
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlencode

import pytest

from factcheck.api import create_app
from tests.api_support import make_pipeline, make_settings, serve_in_thread

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
PAGES = Path(__file__).resolve().parent / "fixtures" / "browser"
CLAIM = "About 2,500 US troops are in Iraq"
KEY = "browser-test-key"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

if not CHROMIUM.exists():
    pytest.skip("no /usr/bin/chromium (apt-get install -y chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (never `playwright install`)")


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep test output clean
        pass


def _page_server() -> tuple[ThreadingHTTPServer, str]:
    """Serve the fixture pages on a fresh loopback port: a distinct origin from the API."""
    handler = functools.partial(_QuietHandler, directory=str(PAGES))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture(scope="module")
def page_servers():
    listed, listed_origin = _page_server()
    unlisted, unlisted_origin = _page_server()
    yield listed_origin, unlisted_origin
    for s in (listed, unlisted):
        s.shutdown()
        s.server_close()


@pytest.fixture(scope="module")
def api_url(page_servers, tmp_path_factory):
    """The real app under uvicorn on a loopback socket, allowing only the first page origin."""
    listed_origin, _ = page_servers
    settings = make_settings(tmp_path_factory.mktemp("browser"), cors_origins=[listed_origin], api_key=KEY)
    with serve_in_thread(create_app(settings, make_pipeline(settings))) as url:
        yield url


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory):
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_api.sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            chromium_sandbox=False,
        )
        try:
            yield ctx
        finally:
            ctx.close()
    shutil.rmtree(profile, ignore_errors=True)


def _open(ctx, origin: str, api: str, key: str = KEY):
    page = ctx.new_page()
    page.goto(f"{origin}/check.html?" + urlencode({"api": api, "claim": CLAIM, "key": key}))
    page.wait_for_function("document.getElementById('status').textContent !== 'loading'", timeout=30_000)
    return page


def test_listed_origin_renders_the_verdict(browser_context, page_servers, api_url):
    page = _open(browser_context, page_servers[0], api_url)
    assert page.text_content("#status") == "done"
    assert page.text_content("#label") == "supported"
    assert "2,500" in page.text_content("#quote")
    assert page.get_attribute("#quote", "data-article")
    page.close()


def test_wrong_key_error_is_readable_cross_origin(browser_context, page_servers, api_url):
    page = _open(browser_context, page_servers[0], api_url, key="wrong")
    assert page.text_content("#status") == "http 401 unauthorized"
    page.close()


def test_unlisted_origin_is_blocked_by_cors(browser_context, page_servers, api_url):
    page = _open(browser_context, page_servers[1], api_url)
    assert page.text_content("#label") == "error"
    assert page.text_content("#status") == "fetch failed: TypeError"
    page.close()
