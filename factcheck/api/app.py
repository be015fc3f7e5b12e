"""The HTTP routes: check, batch, extract, articles, health; also the browser-extension backend."""

from __future__ import annotations

import asyncio
import logging
import re
from contextlib import asynccontextmanager
from datetime import date
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import Depends, FastAPI, Path, Request

from .. import errors
from ..extract import EXAMPLE_EXTRACTED, ClaimExtractor, make_extractor
from ..models import Article, Verdict
from ..settings import Settings
from ..store import open_store
from .middleware import ApiKeyMiddleware, BodyLimitMiddleware, JsonCORSMiddleware, install_error_handlers
from .pool import WorkPool
from .schemas import (
    ARTICLE_ID_PATTERN,
    ERROR_RESPONSES,
    EXAMPLE_VERDICT,
    ArticleAdded,
    BatchRequest,
    CheckRequest,
    ErrorBody,
    ExtractedItem,
    ExtractRequest,
    ExtractResponse,
    Health,
    JudgeInfo,
)
from .verdicts import record_checks, require_admin, require_check
from .verdicts import router as verdicts_router

log = logging.getLogger("factcheck.api")


def _package_version() -> str:
    """The installed factcheck version (or 'dev' from a bare checkout)."""
    try:
        return version("factcheck")
    except PackageNotFoundError:
        return "dev"


def _check_claim_length(claim: str, limit: int, where: str = "claim") -> None:
    """Enforce the configured claim length (the schema only carries a hard ceiling)."""
    if len(claim) > limit:
        raise errors.InputError(f"{where} is {len(claim)} characters; the limit is {limit}")


def create_app(settings: Settings, pipeline: Any = None) -> FastAPI:
    """Build the app; the pipeline (index, embedder, judge) is built once in lifespan unless given."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if app.state.pipeline is None:
            from ..pipeline import build_pipeline

            app.state.pipeline = await asyncio.to_thread(build_pipeline, settings)
            await asyncio.to_thread(app.state.pipeline.warm)
        try:
            yield
        finally:
            app.state.pool.shutdown()
            if app.state.store is not None:
                app.state.store.close()

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
    # Every served verdict is recorded (factcheck/store/); the database is first reached on the first check.
    app.state.store = open_store(settings) if settings.store_verdicts else None
    extractor = make_extractor(settings)
    install_error_handlers(app)

    # Outermost last: CORS wraps everything so even 401/413 answers carry CORS headers for the extension.
    # /extract takes a page's text: its character limit at up to 6 bytes a character (a \uXXXX escape), plus JSON.
    extract_bytes = extract_body_bytes(settings)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes, per_path={"/extract": extract_bytes})
    app.add_middleware(ApiKeyMiddleware, api_key=settings.api_key, api_keys=settings.api_keys)
    app.add_middleware(
        JsonCORSMiddleware,
        allow_origins=list(settings.cors_origins),
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Content-Type", "X-API-Key", "Authorization"],
        expose_headers=["Retry-After"],
        max_age=600,
    )

    _add_check_routes(app, settings, extractor)
    _add_article_routes(app)
    _add_health_route(app, settings, extractor)
    app.include_router(verdicts_router)
    return app


def extract_body_bytes(settings: Settings) -> int:
    """The body limit of /extract: room for `max_extract_chars` of any script, however the client escapes it."""
    return max(settings.max_body_bytes, 6 * settings.max_extract_chars + 4096)


def _pipe(app: FastAPI) -> Any:
    """The loaded pipeline, or 503 while the service is still starting."""
    if app.state.pipeline is None:
        raise errors.IndexMissingError("the service is still loading its index and models")
    return app.state.pipeline


def _check_many(app: FastAPI, claims: list[str], top_k: int | None, as_of: date | None) -> list[Verdict]:
    """Judge claims on a worker thread (their units share the verifier's forward passes)."""
    return _pipe(app).check_many(claims, top_k=top_k, as_of=as_of)


def _add_check_routes(app: FastAPI, settings: Settings, extractor: ClaimExtractor) -> None:
    """POST /check, /check/batch and /extract."""

    def pipe() -> Any:
        return _pipe(app)

    def pool() -> WorkPool:
        return app.state.pool

    def check_many(claims: list[str], top_k: int | None, as_of: date | None) -> list[Verdict]:
        return _check_many(app, claims, top_k, as_of)

    @app.post(
        "/check",
        response_model=Verdict,
        responses={200: {"content": {"application/json": {"example": EXAMPLE_VERDICT}}}, **ERROR_RESPONSES},
        summary="Judge one claim",
        dependencies=[Depends(require_check)],
    )
    async def check(req: CheckRequest, request: Request) -> Verdict:
        """Retrieve evidence for the claim and judge it, citing verbatim passages; the verdict is stored."""
        _check_claim_length(req.claim, settings.max_claim_chars)

        async def judge(claims: list[str]) -> list[Verdict]:
            return [await pool().run(pipe().check, claims[0], top_k=req.top_k, as_of=req.as_of)]

        verdicts = await record_checks(
            request, [req.claim], top_k=req.top_k, as_of=req.as_of, url=req.url, endpoint="check", judge=judge
        )
        return verdicts[0]

    @app.post(
        "/check/batch",
        response_model=list[Verdict],
        responses=ERROR_RESPONSES,
        summary="Judge claims",
        dependencies=[Depends(require_check)],
    )
    async def check_batch(req: BatchRequest, request: Request) -> list[Verdict]:
        """Judge up to `max_batch` claims; verdicts come back in request order, each stored."""
        if len(req.claims) > settings.max_batch:
            raise errors.InputError(f"{len(req.claims)} claims in one batch; the limit is {settings.max_batch}")
        for i, c in enumerate(req.claims):
            _check_claim_length(c, settings.max_claim_chars, f"claims[{i}]")

        async def judge(claims: list[str]) -> list[Verdict]:
            return await pool().run(check_many, claims, req.top_k, req.as_of, weight=len(claims))

        return await record_checks(
            request, req.claims, top_k=req.top_k, as_of=req.as_of, url=req.url, endpoint="check/batch", judge=judge
        )

    @app.post(
        "/extract",
        response_model=ExtractResponse,
        responses={
            200: {
                "content": {
                    "application/json": {
                        "example": {
                            "url": None,
                            "extractor": "rules/rules-v1",
                            "claims": [{**EXAMPLE_EXTRACTED, "verdict": None}],
                        }
                    }
                }
            },
            **ERROR_RESPONSES,
        },
        summary="Find claims in text",
        dependencies=[Depends(require_check)],
    )
    async def extract(req: ExtractRequest, request: Request) -> ExtractResponse:
        """Check-worthy sentences with character offsets into `text`; verdicts too when `check` is true."""
        if len(req.text) > settings.max_extract_chars:
            raise errors.InputError(f"text is {len(req.text)} characters; the limit is {settings.max_extract_chars}")
        found = await pool().run(extractor.extract, req.text, max_claims=req.max_claims)
        items = [ExtractedItem(**c.model_dump()) for c in found]
        if req.check and items:
            claims = [c.text[: settings.max_claim_chars] for c in items]

            async def judge(todo: list[str]) -> list[Verdict]:
                return await pool().run(check_many, todo, req.top_k, req.as_of, weight=len(todo))

            verdicts = await record_checks(
                request, claims, top_k=req.top_k, as_of=req.as_of, url=req.url, endpoint="extract", judge=judge
            )
            for item, v in zip(items, verdicts):
                item.verdict = v
        return ExtractResponse(url=req.url, extractor=f"{extractor.name}/{extractor.version}", claims=items)


def _add_article_routes(app: FastAPI) -> None:
    """GET /articles/{id} and POST /articles."""

    def pipe() -> Any:
        return _pipe(app)

    def pool() -> WorkPool:
        return app.state.pool

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
        dependencies=[Depends(require_admin)],
    )
    async def add_article(article: Article) -> ArticleAdded:
        """Index one article incrementally (same id replaces it); later checks see it. Needs the API key."""
        if not re.match(ARTICLE_ID_PATTERN, article.id):
            raise errors.InputError(f"article id must match {ARTICLE_ID_PATTERN}")
        if not article.text.strip():
            raise errors.InputError("article text is empty")
        if not article.title.strip():
            raise errors.InputError("article title is empty")
        if article.url and not article.url.lower().startswith(("http://", "https://")):
            # Citations carry the url to readers' browsers: a javascript: or data: link must never get there.
            raise errors.InputError("article url must be an http(s) URL")
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


def _add_health_route(app: FastAPI, settings: Settings, extractor: ClaimExtractor) -> None:
    """GET /health: what is loaded and how busy it is."""

    def pipe() -> Any:
        return _pipe(app)

    def pool() -> WorkPool:
        return app.state.pool

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
        models = {
            "judge": f"{judge.name}/{judge.version}",
            "embedder": p.embedder.name,
            "extractor": f"{extractor.name}/{extractor.version}",
        }
        fallback = getattr(judge, "fallback", None)
        if fallback is not None and hasattr(fallback, "version"):
            models["fallback_judge"] = f"{fallback.name}/{fallback.version}"
        if getattr(judge, "model", None):
            models["llm"] = str(judge.model)
        runtime = getattr(judge, "runtime", None) or getattr(fallback, "runtime", None)
        if runtime:
            models["verifier_runtime"] = runtime  # e.g. torch-bf16 on a CPU with AMX, onnx-fp32 elsewhere
        return Health(
            status="ok" if index_stats else "empty_index",
            version=_package_version(),
            judge=JudgeInfo(name=judge.name, version=judge.version),
            embedder=p.embedder.name,
            prompt_version=getattr(judge, "prompt_version", None),
            models=models,
            index=index_stats,
            queue={"inflight": pool().inflight, "capacity": pool().capacity, "workers": pool().workers},
            limits={
                "max_claim_chars": settings.max_claim_chars,
                "max_batch": settings.max_batch,
                "max_extract_chars": settings.max_extract_chars,
                "max_body_bytes": settings.max_body_bytes,
                "max_extract_body_bytes": extract_body_bytes(settings),
            },
            store=app.state.store.health() if app.state.store is not None else None,
        )


def app_factory() -> FastAPI:
    """For `uvicorn --factory factcheck.api:app_factory`: settings from the environment."""
    return create_app(Settings())
