"""ASGI middleware (body limit, API key, CORS) and the mapping of every error to one JSON body."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import errors
from ..settings import ApiKeySpec, Role

log = logging.getLogger("factcheck.api")

OPEN_PATHS = ("/health", "/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect")


# Domain errors -> HTTP status, in one place.
STATUS_FOR: list[tuple[type[errors.FactcheckError], int]] = [
    (errors.OverloadedError, 429),
    (errors.ArticleNotFoundError, 404),
    (errors.VerdictNotFoundError, 404),
    (errors.ForbiddenError, 403),
    (errors.StaleReviewError, 409),
    (errors.StoreUnavailableError, 503),
    (errors.InputError, 422),
    (errors.IndexMissingError, 503),
    (errors.IndexCorruptError, 503),
    (errors.EmbedderMismatchError, 503),
    (errors.LLMUnavailableError, 503),
    (errors.ModelError, 502),
    (errors.FactcheckError, 500),
]

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "overloaded",
}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The one error body shape: {"error": {"code", "message"}}."""
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


class BodyLimitMiddleware:
    """Refuses bodies over `max_bytes` with 413, by Content-Length and by counting the stream."""

    def __init__(self, app: ASGIApp, max_bytes: int, per_path: dict[str, int] | None = None):
        self.app = app
        self.max_bytes = max_bytes
        self.per_path = per_path or {}  # paths with their own limit (page text for /extract is larger)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope["path"], self.max_bytes)
        too_big = f"request body is larger than the limit of {limit} bytes"
        length = Headers(scope=scope).get("content-length")
        if length is not None:
            if not length.strip().isdigit():
                await error_response(400, "bad_request", "invalid Content-Length header")(scope, receive, send)
                return
            if int(length) > limit:
                await error_response(413, "body_too_large", too_big)(scope, receive, send)
                return
        # Bodies are small (bounded by max_bytes), so buffer them: a chunked upload that lies about
        # its size is cut off before the app sees any of it.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > limit:
                await error_response(413, "body_too_large", too_big)(scope, receive, send)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


ROLES: frozenset[Role] = frozenset(("check", "review", "admin"))


class Caller(BaseModel):
    """Who made a request: the API key's name (never the key) and its roles; admin may do everything."""

    model_config = {"frozen": True}

    name: str | None = None
    roles: frozenset[Role] = ROLES

    def can(self, role: Role) -> bool:
        """Whether this caller holds `role` (or admin)."""
        return role in self.roles or "admin" in self.roles


# With no key configured the service is open (loopback use): every caller may do everything.
OPEN_CALLER = Caller()


def api_key_table(api_key: str | None, api_keys: Mapping[str, ApiKeySpec]) -> list[tuple[bytes, Caller]]:
    """(key, caller) pairs: the single FACTCHECK_API_KEY is "default" with every role, beside the named keys."""
    table = [(spec.key.encode(), Caller(name=name, roles=frozenset(spec.roles))) for name, spec in api_keys.items()]
    if api_key:
        table.insert(0, (api_key.encode(), Caller(name="default", roles=ROLES)))
    return table


class ApiKeyMiddleware:
    """Requires an API key (X-API-Key or Authorization: Bearer) on every path but health and docs.

    The caller it finds (key name and roles) goes to `request.state.caller` for the routes' role checks.
    """

    def __init__(self, app: ASGIApp, api_key: str | None, api_keys: Mapping[str, ApiKeySpec] | None = None):
        self.app = app
        self.keys = api_key_table(api_key, api_keys or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope.setdefault("state", {})["caller"] = OPEN_CALLER if not self.keys else None
        if scope["type"] != "http" or not self.keys or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        if scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        given = headers.get("x-api-key")
        auth = headers.get("authorization", "")
        if given is None and auth[:7].lower() == "bearer ":
            given = auth[7:].strip()
        if given is None:
            await error_response(
                401,
                "unauthorized",
                "API key required (X-API-Key header or Authorization: Bearer)",
                {"WWW-Authenticate": "Bearer"},
            )(scope, receive, send)
            return
        caller = None
        for key, who in self.keys:  # every key compared, in constant time each
            if secrets.compare_digest(given.encode(), key) and caller is None:
                caller = who
        if caller is None:
            await error_response(401, "unauthorized", "wrong API key", {"WWW-Authenticate": "Bearer"})(
                scope, receive, send
            )
            return
        scope["state"]["caller"] = caller
        await self.app(scope, receive, send)


class JsonCORSMiddleware(CORSMiddleware):
    """Starlette's CORS with an exact-origin allowlist; a refused preflight answers 403 JSON."""

    def preflight_response(self, request_headers: Headers) -> Response:
        """Delegate to Starlette, turning its plain-text refusal into the error body."""
        resp = super().preflight_response(request_headers)
        if resp.status_code == 200:
            return resp
        reason = bytes(resp.body).decode(errors="replace")  # Response.body may be typed as a memoryview
        return error_response(403, "cors_refused", f"{reason} (origin {request_headers.get('origin')!r})")


def _status_for(exc: errors.FactcheckError) -> int:
    """The HTTP status of a domain error (first matching class wins)."""
    for cls, status in STATUS_FOR:
        if isinstance(exc, cls):
            return status
    return 500


def _validation_message(exc: RequestValidationError) -> str:
    """A short readable summary of pydantic/FastAPI validation errors."""
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(x) for x in err.get("loc", ()) if x != "body") or "body"
        if err.get("type") == "json_invalid":
            parts.append("body is not valid JSON")
            continue
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    """Map every error to the one JSON shape; no stack trace ever reaches a client."""

    @app.exception_handler(errors.FactcheckError)
    async def _domain(request: Request, exc: errors.FactcheckError) -> JSONResponse:
        status = _status_for(exc)
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, errors.OverloadedError) else None
        if status >= 500:
            log.error("domain error on %s: %s: %s", request.url.path, exc.code, exc)
        return error_response(status, exc.code, str(exc), headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid_request", _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        msg = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        if exc.status_code == 400 and msg == "There was an error parsing the body":
            # FastAPI's answer to bodies its JSON decoder chokes on (not UTF-8, nested too deep, an
            # integer too long): the same class of error as broken JSON.
            return error_response(422, "invalid_request", "body could not be parsed as JSON (bad encoding or too deep)")
        return error_response(exc.status_code, code, msg, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return error_response(500, "internal_error", "internal error (see server log)")
