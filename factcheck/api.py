"""HTTP service: check, batch, extract, articles, health; also the browser-extension backend."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import date
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Callable

from fastapi import FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, field_validator
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import errors
from .extract import ExtractedClaim, make_extractor
from .models import Article, Verdict
from .settings import Settings

log = logging.getLogger("factcheck.api")

# Hard ceilings for the schema; the configured (smaller) limits are enforced per request.
CLAIM_HARD_MAX = 20_000
TOP_K_MAX = 50
ARTICLE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$"
OPEN_PATHS = ("/health", "/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect")

# Real examples from the seed corpus (evals/corpus/iraq-coalition-2024).
EXAMPLE_CLAIM = "About 2,500 US troops are in Iraq"
EXAMPLE_TEXT = (
    "The future of the international anti-jihadist coalition in Iraq is at the center of discussions between "
    "Baghdad and Washington. The United States currently has about 2,500 troops in Iraq and nearly 900 in "
    "neighboring Syria, all engaged in the international coalition. Will Iraq have to assume sole "
    "responsibility for the fight against jihadism on its territory?"
)

# The shape of a verdict for EXAMPLE_CLAIM over the seed corpus: quotes, offsets, passage ids and article
# metadata are real (tested against the ingested articles); label, scores and timings are illustrative.
EXAMPLE_VERDICT: dict[str, Any] = {
    "claim": EXAMPLE_CLAIM,
    "label": "supported",
    "confidence": 0.94,
    "citations": [
        {
            "article_id": "002_fe05e3191f7400ad",
            "passage_id": "002_fe05e3191f7400ad#4",
            "quote": "Currently, there are approximately 2,500 US troops deployed in Iraq and about 900 in Syria as "
            "part of the anti-Daesh coalition formed in 2014.",
            "start": 1452,
            "end": 1594,
            "title": "Future of Foreign Troops in Iraq to Be Discussed by Washington and Baghdad",
            "source": "TOME",
            "url": None,
            "published": "2024-05-29",
            "stance": "supports",
            "score": 0.97,
        },
        {
            "article_id": "000_2190a2ff1cec9e27",
            "passage_id": "000_2190a2ff1cec9e27#2",
            "quote": "The United States currently has about 2,500 troops in Iraq and nearly 900 in neighboring Syria, "
            "all engaged in the international coalition.",
            "start": 1117,
            "end": 1256,
            "title": "The future of the international anti-jihadist coalition in Iraq: troop reductions and new "
            "bilateral relations at the heart of the discussions",
            "source": None,
            "url": None,
            "published": None,
            "stance": "supports",
            "score": 0.95,
        },
    ],
    "explanation": "Two independent articles put the US presence in Iraq at about 2,500 troops.",
    "sources": [
        {"article_id": "002_fe05e3191f7400ad", "title": "Future of Foreign Troops in Iraq to Be Discussed by "
         "Washington and Baghdad", "source": "TOME", "published": "2024-05-29", "stance": "supports", "score": 0.97},
        {"article_id": "000_2190a2ff1cec9e27", "stance": "supports", "score": 0.95},
    ],
    "checks": [
        {"kind": "number", "outcome": "match", "claim_value": "2,500", "evidence_value": "2,500",
         "passage_id": "002_fe05e3191f7400ad#4", "detail": ""}
    ],
    "judge": "verifier",
    "judge_version": "verifier-v10+acee2bb5",
    "timings_ms": {"embed": 6.0, "retrieve": 5.1, "judge": 1643.0, "total": 1654.0},
    "retrieved": 6,
}


class ErrorDetail(BaseModel):
    """The machine-readable code and human message of an error."""

    code: str
    message: str


class ErrorBody(BaseModel):
    """Every non-2xx response body."""

    error: ErrorDetail


class CheckRequest(BaseModel):
    """One claim to judge."""

    claim: str = Field(min_length=1, max_length=CLAIM_HARD_MAX, description="The claim, in plain text")
    top_k: int | None = Field(None, ge=1, le=TOP_K_MAX, description="Passages to retrieve (default from settings)")
    as_of: date | None = Field(None, description="Leave out articles published after this date (ISO date)")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {"claim": EXAMPLE_CLAIM},
                {"claim": "Spain has more than 300 troops deployed to Iraq", "top_k": 4, "as_of": "2024-01-31"},
            ]
        }
    }

    @field_validator("claim")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        """Reject whitespace-only claims."""
        if not v.strip():
            raise ValueError("claim is blank")
        return v


class BatchRequest(BaseModel):
    """Several claims judged with the same options; verdicts come back in the same order."""

    claims: list[str] = Field(min_length=1, max_length=1000)
    top_k: int | None = Field(None, ge=1, le=TOP_K_MAX)
    as_of: date | None = None

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "claims": [
                        EXAMPLE_CLAIM,
                        "More than 150 drone strikes or rocket attacks have targeted US and coalition soldiers "
                        "since mid-October",
                    ]
                }
            ]
        }
    }

    @field_validator("claims")
    @classmethod
    def _no_blank(cls, v: list[str]) -> list[str]:
        """Reject blank or oversized claims with their position."""
        for i, c in enumerate(v):
            if not c.strip():
                raise ValueError(f"claims[{i}] is blank")
            if len(c) > CLAIM_HARD_MAX:
                raise ValueError(f"claims[{i}] is longer than {CLAIM_HARD_MAX} characters")
        return v


class ExtractRequest(BaseModel):
    """Page text from which to pull check-worthy claims (optionally judging them)."""

    text: str = Field(min_length=1, description="Plain page text; offsets in the answer index into it")
    url: str | None = Field(None, max_length=4096)
    check: bool = Field(False, description="Also judge each extracted claim")
    max_claims: int = Field(10, ge=1, le=50)
    top_k: int | None = Field(None, ge=1, le=TOP_K_MAX)
    as_of: date | None = None

    model_config = {"json_schema_extra": {"examples": [{"text": EXAMPLE_TEXT, "check": False}]}}


class ExtractedItem(ExtractedClaim):
    """An extracted claim, with its verdict when `check` was requested."""

    verdict: Verdict | None = None


class ExtractResponse(BaseModel):
    """Claims found in the given text."""

    url: str | None = None
    extractor: str
    claims: list[ExtractedItem]


class ArticleAdded(BaseModel):
    """Outcome of POST /articles."""

    id: str
    status: str = Field(description="added, replaced or unchanged")
    passages_added: int = 0
    passages_removed: int = 0


class JudgeInfo(BaseModel):
    """Name and version of the active judge."""

    name: str
    version: str


class Health(BaseModel):
    """Liveness plus what the service is running."""

    status: str
    version: str
    judge: JudgeInfo
    embedder: str
    prompt_version: str | None = None
    models: dict[str, str] = Field(default_factory=dict, description="Versions of every model in play")
    index: dict[str, Any] | None = None
    queue: dict[str, int]


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "API key missing or wrong"},
    413: {"model": ErrorBody, "description": "Request body too large"},
    422: {"model": ErrorBody, "description": "Malformed or invalid request"},
    429: {"model": ErrorBody, "description": "Work queue full; retry after `Retry-After` seconds"},
}

# Domain errors -> HTTP status, in one place.
STATUS_FOR: list[tuple[type[errors.FactcheckError], int]] = [
    (errors.OverloadedError, 429),
    (errors.ArticleNotFoundError, 404),
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


def _package_version() -> str:
    """The installed factcheck version (or 'dev' from a bare checkout)."""
    try:
        return version("factcheck")
    except PackageNotFoundError:
        return "dev"


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The one error body shape: {"error": {"code", "message"}}."""
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


class WorkPool:
    """Runs CPU-bound work on a fixed thread pool behind a bounded admission counter."""

    def __init__(self, workers: int, queue_size: int):
        self.workers = max(1, workers)
        self.capacity = self.workers + max(0, queue_size)
        self.inflight = 0
        self._executor: ThreadPoolExecutor | None = None
        self._avg_s = 0.5  # running estimate of one unit of work, for Retry-After

    def retry_after(self) -> int:
        """Seconds until a slot is likely free."""
        return max(1, math.ceil(self._avg_s * self.inflight / self.workers))

    async def run(self, fn: Callable[..., Any], *args: Any, weight: int = 1, **kwargs: Any) -> Any:
        """Run fn in the pool, or raise OverloadedError when `weight` more units do not fit."""
        weight = max(1, weight)
        # Check and increment happen on the event loop thread with no await between: no race.
        # An idle pool always admits, so a batch larger than the capacity is slow rather than refused.
        if self.inflight and self.inflight + weight > self.capacity:
            raise errors.OverloadedError(
                f"server busy: {self.inflight} units queued or running (capacity {self.capacity})",
                retry_after=self.retry_after(),
            )
        if self._executor is None:
            # Created on first use so an app served without lifespan (schema fuzzers) still works.
            self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="factcheck-work")
        loop = asyncio.get_running_loop()
        t0 = time.perf_counter()

        def release() -> None:
            self.inflight -= weight
            self._avg_s = 0.8 * self._avg_s + 0.2 * (time.perf_counter() - t0) / weight

        self.inflight += weight
        job = self._executor.submit(partial(fn, *args, **kwargs))
        # Released when the thread is really done (not when an abandoned request stops waiting),
        # so the count never understates the work the CPUs still have.
        job.add_done_callback(lambda _: _call_soon(loop, release))
        return await asyncio.wrap_future(job)

    def shutdown(self) -> None:
        """Stop the threads once queued work is done (running jobs are not interrupted)."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


def _call_soon(loop: asyncio.AbstractEventLoop, fn: Callable[[], None]) -> None:
    """Schedule fn on the loop from a worker thread; a loop already closed at shutdown is ignored."""
    try:
        loop.call_soon_threadsafe(fn)
    except RuntimeError:
        pass


class BodyLimitMiddleware:
    """Refuses bodies over `max_bytes` with 413, by Content-Length and by counting the stream."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_big = f"request body is larger than the limit of {self.max_bytes} bytes"
        length = Headers(scope=scope).get("content-length")
        if length is not None:
            if not length.strip().isdigit():
                await error_response(400, "bad_request", "invalid Content-Length header")(scope, receive, send)
                return
            if int(length) > self.max_bytes:
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
            if size > self.max_bytes:
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


class ApiKeyMiddleware:
    """Requires the API key (X-API-Key or Authorization: Bearer) on every path but health and docs."""

    def __init__(self, app: ASGIApp, api_key: str | None):
        self.app = app
        self.api_key = api_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.api_key or scope["method"] == "OPTIONS":
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
                401, "unauthorized", "API key required (X-API-Key header or Authorization: Bearer)",
                {"WWW-Authenticate": "Bearer"},
            )(scope, receive, send)
            return
        if not secrets.compare_digest(given.encode(), self.api_key.encode()):
            await error_response(401, "unauthorized", "wrong API key", {"WWW-Authenticate": "Bearer"})(
                scope, receive, send
            )
            return
        await self.app(scope, receive, send)


class JsonCORSMiddleware(CORSMiddleware):
    """Starlette's CORS with an exact-origin allowlist; a refused preflight answers 403 JSON."""

    def preflight_response(self, request_headers: Headers) -> Response:
        """Delegate to Starlette, turning its plain-text refusal into the error body."""
        resp = super().preflight_response(request_headers)
        if resp.status_code == 200:
            return resp
        reason = resp.body.decode(errors="replace")
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


def _install_error_handlers(app: FastAPI) -> None:
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


def _check_claim_length(claim: str, limit: int, where: str = "claim") -> None:
    """Enforce the configured claim length (the schema only carries a hard ceiling)."""
    if len(claim) > limit:
        raise errors.InputError(f"{where} is {len(claim)} characters; the limit is {limit}")


def create_app(settings: Settings, pipeline: Any = None) -> FastAPI:
    """Build the app; the pipeline (index, embedder, judge) is built once in lifespan unless given."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if app.state.pipeline is None:
            from .pipeline import build_pipeline

            app.state.pipeline = await asyncio.to_thread(build_pipeline, settings)
        try:
            yield
        finally:
            app.state.pool.shutdown()

    app = FastAPI(
        title="factcheck",
        version=_package_version(),
        description=(
            "Judge claims against an indexed news corpus: supported / contradicted / unverified, with verbatim "
            "cited passages (character offsets into the cleaned article text). All errors are "
            '`{"error": {"code", "message"}}`. When an API key is configured, send it as `X-API-Key` or '
            "`Authorization: Bearer`; `/health` and the docs stay open."
        ),
        lifespan=lifespan,
    )
    app.state.pipeline = pipeline
    app.state.settings = settings
    app.state.pool = WorkPool(settings.workers, settings.queue_size)
    extractor = make_extractor(settings)
    _install_error_handlers(app)

    # Outermost last: CORS wraps everything so even 401/413 answers carry CORS headers for the extension.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(ApiKeyMiddleware, api_key=settings.api_key)
    app.add_middleware(
        JsonCORSMiddleware,
        allow_origins=list(settings.cors_origins),
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Content-Type", "X-API-Key", "Authorization"],
        expose_headers=["Retry-After"],
        max_age=600,
    )

    def pipe() -> Any:
        if app.state.pipeline is None:
            raise errors.IndexMissingError("the service is still loading its index and models")
        return app.state.pipeline

    def pool() -> WorkPool:
        return app.state.pool

    def check_many(claims: list[str], top_k: int | None, as_of: date | None) -> list[Verdict]:
        p = pipe()
        return [p.check(c, top_k=top_k, as_of=as_of) for c in claims]

    @app.post(
        "/check",
        response_model=Verdict,
        responses={200: {"content": {"application/json": {"example": EXAMPLE_VERDICT}}}, **ERROR_RESPONSES},
        summary="Judge one claim",
    )
    async def check(req: CheckRequest) -> Verdict:
        """Retrieve evidence for the claim and judge it, citing verbatim passages."""
        _check_claim_length(req.claim, settings.max_claim_chars)
        return await pool().run(pipe().check, req.claim, top_k=req.top_k, as_of=req.as_of)

    @app.post("/check/batch", response_model=list[Verdict], responses=ERROR_RESPONSES, summary="Judge claims")
    async def check_batch(req: BatchRequest) -> list[Verdict]:
        """Judge up to `max_batch` claims; verdicts come back in request order."""
        if len(req.claims) > settings.max_batch:
            raise errors.InputError(f"{len(req.claims)} claims in one batch; the limit is {settings.max_batch}")
        for i, c in enumerate(req.claims):
            _check_claim_length(c, settings.max_claim_chars, f"claims[{i}]")
        return await pool().run(check_many, req.claims, req.top_k, req.as_of, weight=len(req.claims))

    @app.post(
        "/extract",
        response_model=ExtractResponse,
        responses={200: {"content": {"application/json": {"example": {
            "url": None, "extractor": "rules/rules-v1",
            "claims": [{**ExtractedClaim.model_config["json_schema_extra"]["examples"][0], "verdict": None}],
        }}}}, **ERROR_RESPONSES},
        summary="Find claims in text",
    )
    async def extract(req: ExtractRequest) -> ExtractResponse:
        """Check-worthy sentences with character offsets into `text`; verdicts too when `check` is true."""
        if len(req.text) > settings.max_extract_chars:
            raise errors.InputError(f"text is {len(req.text)} characters; the limit is {settings.max_extract_chars}")
        found = await pool().run(extractor.extract, req.text, max_claims=req.max_claims)
        items = [ExtractedItem(**c.model_dump()) for c in found]
        if req.check and items:
            claims = [c.text[: settings.max_claim_chars] for c in items]
            verdicts = await pool().run(check_many, claims, req.top_k, req.as_of, weight=len(claims))
            for item, v in zip(items, verdicts):
                item.verdict = v
        return ExtractResponse(url=req.url, extractor=f"{extractor.name}/{extractor.version}", claims=items)

    @app.get(
        "/articles/{article_id}",
        response_model=Article,
        responses={404: {"model": ErrorBody, "description": "No such article"}, 401: ERROR_RESPONSES[401]},
        summary="One indexed article",
    )
    async def get_article(article_id: str = Path(min_length=1, max_length=256)) -> Article:
        """The cleaned article text that citation offsets index into."""
        return pipe().index.get_article(article_id)

    @app.post(
        "/articles",
        response_model=ArticleAdded,
        status_code=201,
        responses=ERROR_RESPONSES,
        summary="Add or replace an article",
    )
    async def add_article(article: Article) -> ArticleAdded:
        """Index one article incrementally (same id replaces it); later checks see it. Needs the API key."""
        if not re.match(ARTICLE_ID_PATTERN, article.id):
            raise errors.InputError(f"article id must match {ARTICLE_ID_PATTERN}")
        if not article.text.strip():
            raise errors.InputError("article text is empty")
        if not article.title.strip():
            raise errors.InputError("article title is empty")
        report = await pool().run(pipe().add_article, article, weight=1)
        status = "added"
        if report is not None:
            if article.id in getattr(report, "replaced", []):
                status = "replaced"
            elif article.id in getattr(report, "unchanged", []):
                status = "unchanged"
        return ArticleAdded(
            id=article.id,
            status=status,
            passages_added=getattr(report, "passages_added", 0),
            passages_removed=getattr(report, "passages_removed", 0),
        )

    @app.get("/health", response_model=Health, summary="Liveness, index stats, judge and model versions")
    async def health() -> Health:
        """What is loaded: index stats, judge name/version, embedder, prompt version, queue load."""
        p = pipe()
        index_stats = None
        try:
            index_stats = p.index.stats().model_dump(mode="json")
        except errors.IndexMissingError:
            index_stats = None
        judge = p.judge
        models = {"judge": f"{judge.name}/{judge.version}", "embedder": p.embedder.name,
                  "extractor": f"{extractor.name}/{extractor.version}"}
        fallback = getattr(judge, "fallback", None)
        if fallback is not None and hasattr(fallback, "version"):
            models["fallback_judge"] = f"{fallback.name}/{fallback.version}"
        if getattr(judge, "model", None):
            models["llm"] = str(judge.model)
        return Health(
            status="ok" if index_stats else "empty_index",
            version=_package_version(),
            judge=JudgeInfo(name=judge.name, version=judge.version),
            embedder=p.embedder.name,
            prompt_version=getattr(judge, "prompt_version", None),
            models=models,
            index=index_stats,
            queue={"inflight": pool().inflight, "capacity": pool().capacity, "workers": pool().workers},
        )

    return app


def app_factory() -> FastAPI:
    """For `uvicorn --factory factcheck.api:app_factory`: settings from the environment."""
    return create_app(Settings())


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
    import sys

    import uvicorn

    from .cli import _settings
    from .pipeline import build_pipeline

    overrides: dict[str, Any] = {}
    for name in ("host", "port", "workers", "api_key"):
        if getattr(args, name, None) is not None:
            overrides[name] = getattr(args, name)
    if args.cors_origin:
        overrides["cors_origins"] = list(args.cors_origin)
    settings = _settings(args).model_copy(update=overrides)
    if settings.port < 1 or settings.port > 65535:
        raise errors.InputError(f"port must be 1..65535, not {settings.port}")
    if not _is_loopback(settings.host) and not settings.api_key:
        print(f"factcheck: warning: serving on {settings.host} without an API key (set FACTCHECK_API_KEY)",
              file=sys.stderr)
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
    s.add_argument("--cors-origin", action="append", default=[],
                   help="allow this exact origin (repeatable; default: FACTCHECK_CORS_ORIGINS, a JSON list)")
    s.add_argument("--judge", choices=["auto", "verifier", "llm"], default=None)
    s.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    s.add_argument("--no-access-log", dest="access_log", action="store_false", help="silence per-request logs")
    s.set_defaults(func=cmd_serve)
