"""Schemathesis against the app's own OpenAPI schema: whatever the input, never a 5xx, always the error shape."""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance  # noqa: E402

from factcheck.api import create_app  # noqa: E402
from tests.api_support import make_pipeline, make_settings  # noqa: E402


def _app():
    import atexit
    import shutil
    import tempfile
    from pathlib import Path

    # The schema is loaded at import time, before pytest's tmp_path exists: clean up at exit instead.
    tmp = Path(tempfile.mkdtemp(prefix="factcheck-fuzz-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    s = make_settings(tmp, max_claim_chars=300, max_batch=4, max_body_bytes=16_000, max_extract_chars=4_000)
    return create_app(s, make_pipeline(s))


schema = schemathesis.openapi.from_asgi("/openapi.json", _app())


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors(case):
    response = case.call()
    case.validate_response(response, checks=[not_a_server_error, content_type_conformance, response_schema_conformance])
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), body
