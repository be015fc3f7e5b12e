"""`factcheck serve`: load the index and judge once, then serve the HTTP API with uvicorn."""

from __future__ import annotations

import sys
from typing import Any

from .. import errors
from ..settings import Settings, settings_from_args
from .app import create_app


def key_warning(settings: Settings) -> str | None:
    """The warning for a server reachable beyond loopback with no key, single or named, to guard it."""
    if _is_loopback(settings.host) or settings.api_key or settings.api_keys:
        return None
    return (
        f"factcheck: warning: serving on {settings.host} without an API key "
        "(set FACTCHECK_API_KEY or FACTCHECK_API_KEYS)"
    )


def _is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def cmd_serve(args: Any) -> int:
    """Load the index and judge once, then serve the HTTP API with uvicorn."""
    import uvicorn

    from ..pipeline import build_pipeline

    overrides: dict[str, Any] = {}
    for name in ("host", "port", "workers", "api_key"):
        if getattr(args, name, None) is not None:
            overrides[name] = getattr(args, name)
    if args.cors_origin:
        overrides["cors_origins"] = list(args.cors_origin)
    settings = settings_from_args(args).model_copy(update=overrides)
    if settings.port < 1 or settings.port > 65535:
        raise errors.InputError(f"port must be 1..65535, not {settings.port}")
    warning = key_warning(settings)
    if warning:
        print(warning, file=sys.stderr)
    # Built before uvicorn starts so a missing/corrupt index or model is one line and exit 2, not a traceback.
    pipeline = build_pipeline(settings)
    app = create_app(settings, pipeline)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=args.log_level, access_log=args.access_log)
    return 0


def add_cli(subparsers: Any) -> None:
    """Register `factcheck serve`."""
    s = subparsers.add_parser("serve", help="serve the HTTP API (default 127.0.0.1:8000)")
    s.add_argument("--host", default=None, help="bind address (default: FACTCHECK_HOST or 127.0.0.1)")
    s.add_argument("--port", type=int, default=None, help="port (default: FACTCHECK_PORT or 8000)")
    s.add_argument("--workers", type=int, default=None, help="threads for model work (default: FACTCHECK_WORKERS)")
    s.add_argument("--api-key", default=None, help="require this key (default: FACTCHECK_API_KEY; prefer the env)")
    s.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        help="allow this exact origin (repeatable; default: FACTCHECK_CORS_ORIGINS, a JSON list)",
    )
    s.add_argument("--judge", choices=["auto", "verifier", "llm"], default=None)
    s.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    s.add_argument("--no-access-log", dest="access_log", action="store_false", help="silence per-request logs")
    s.set_defaults(func=cmd_serve)
