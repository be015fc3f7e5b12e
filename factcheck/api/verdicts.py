"""Verdict records over HTTP: every served verdict stored, read back, reviewed and published as ClaimReview."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from .. import errors
from ..models import Label, Verdict
from ..settings import Settings
from ..store import (
    CheckContext,
    NewRecord,
    RecordPage,
    RecordQuery,
    VerdictRecord,
    VerdictStore,
    normalise_claim,
    record_id,
)
from ..store.claimreview import claim_review
from .middleware import Caller
from .schemas import ErrorBody, ReviewRequest

log = logging.getLogger("factcheck.api")

VERDICT_ID = Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")

RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "API key missing or wrong"},
    404: {"model": ErrorBody, "description": "No stored verdict with that id"},
    503: {"model": ErrorBody, "description": "The verdict database is unavailable or storage is off"},
}


# --- dependencies ------------------------------------------------------------------------------------


def get_settings(request: Request) -> Settings:
    """The app's settings."""
    return request.app.state.settings


def get_store(request: Request) -> VerdictStore:
    """The verdict store (503 when storage is off)."""
    store = request.app.state.store
    if store is None:
        raise errors.StoreUnavailableError("verdict storage is off (FACTCHECK_STORE_VERDICTS=false)")
    return store


def get_caller(request: Request) -> Caller:
    """Who is asking, as the API-key middleware found them (no roles if it found no one)."""
    caller = getattr(request.state, "caller", None)
    return caller if isinstance(caller, Caller) else Caller(name=None, roles=frozenset())


def require_check(caller: Annotated[Caller, Depends(get_caller)]) -> Caller:
    """A caller whose key may check claims."""
    if not caller.can("check"):
        raise errors.ForbiddenError(f"key {caller.name!r} lacks the 'check' role")
    return caller


def require_review(caller: Annotated[Caller, Depends(get_caller)]) -> Caller:
    """A caller whose key may review verdicts."""
    if not caller.can("review"):
        raise errors.ForbiddenError(f"key {caller.name!r} lacks the 'review' role")
    return caller


def require_admin(caller: Annotated[Caller, Depends(get_caller)]) -> Caller:
    """A caller whose key may change the index."""
    if not caller.can("admin"):
        raise errors.ForbiddenError(f"key {caller.name!r} lacks the 'admin' role")
    return caller


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[VerdictStore, Depends(get_store)]


# --- storing what /check, /check/batch and /extract serve ----------------------------------------------


def served(record: VerdictRecord, claim: str | None = None, timings_ms: dict[str, float] | None = None) -> Verdict:
    """The record's verdict as the API serves it: its id and review on it, for the claim as sent this time."""
    update: dict[str, Any] = {
        "verdict_id": record.id,
        "stored": True,
        "reviewed_label": record.review.label if record.review else None,
        "review_note": record.review.note if record.review else None,
    }
    if claim is not None:
        update["claim"] = claim
    if timings_ms is not None:
        update["timings_ms"] = timings_ms
    return record.verdict.model_copy(update=update)


def _context(request: Request, top_k: int | None, as_of: date | None, url: str | None, endpoint: str) -> CheckContext:
    """What the check runs against now (index generation, judge) and who asked; blocking (a stat, a judge load)."""
    pipe = request.app.state.pipeline
    settings: Settings = request.app.state.settings
    snap = pipe.index.snapshot()
    judge = pipe.judge
    models = {"judge": f"{judge.name}/{judge.version}", "embedder": pipe.embedder.name}
    for name in ("prompt_version", "model"):
        if getattr(judge, name, None):
            models[name] = str(getattr(judge, name))
    caller = get_caller(request)
    return CheckContext(
        top_k=top_k or settings.top_k,
        as_of=as_of,
        judge=judge.name,
        judge_version=judge.version,
        models=models,
        index_generation=snap.manifest.generation,
        index_sha256=snap.manifest_sha256,
        page_url=url if url and url.lower().startswith(("http://", "https://")) else None,
        api_key_name=caller.name,
        endpoint=endpoint,
    )


async def record_checks(
    request: Request,
    claims: list[str],
    *,
    top_k: int | None,
    as_of: date | None,
    url: str | None,
    endpoint: str,
    judge: Callable[[list[str]], Awaitable[list[Verdict]]],
) -> list[Verdict]:
    """Judge `claims` and store each verdict; a claim already stored for this index generation and judge answers
    with its record (same id, same verdict). With the database down the verdicts are still served, with
    `stored: false`, and the error is logged."""
    store: VerdictStore | None = request.app.state.store
    if store is None or request.app.state.pipeline is None:
        return await judge(claims)
    # The generation is read before judging: one published meanwhile is recorded as the older one, which only
    # means a later re-check judges afresh (read after, a verdict of the old index would pass for the new one's).
    ctx = await run_in_threadpool(_context, request, top_k, as_of, url, endpoint)
    # Every claim is judged, so the pipeline's caches decide what a repeat costs (a benchmark with caches off
    # still measures the judge); the store only keeps, and answers for, the first verdict of each id.
    verdicts = await judge(claims)
    t0 = time.perf_counter()
    new = []
    for claim, v in zip(claims, verdicts):
        n = normalise_claim(claim)
        rid = record_id(n, as_of, ctx.top_k, ctx.index_sha256, ctx.judge, ctx.judge_version)
        new.append(NewRecord(id=rid, claim=claim, normalised_claim=n, verdict=v, context=ctx))
    try:
        records = await run_in_threadpool(store.add, new)
    except errors.StoreUnavailableError as exc:
        log.error("verdicts served unstored (%s): %s", endpoint, exc)
        return [v.model_copy(update={"stored": False}) for v in verdicts]
    store_ms = round((time.perf_counter() - t0) * 1000, 3)
    return [served(r, claim, {**v.timings_ms, "store": store_ms}) for r, claim, v in zip(records, claims, verdicts)]


# --- routes --------------------------------------------------------------------------------------------

router = APIRouter(tags=["verdicts"])


def _with_etag(record: VerdictRecord) -> JSONResponse:
    return JSONResponse(record.model_dump(mode="json"), headers={"ETag": record.etag})


@router.get("/verdicts/{verdict_id}", response_model=VerdictRecord, responses=RESPONSES, summary="One stored verdict")
async def get_verdict(store: StoreDep, verdict_id: Annotated[str, VERDICT_ID]) -> JSONResponse:
    """The record: the model's verdict, the published label, the review and its events; `ETag` is its version."""
    return _with_etag(await run_in_threadpool(store.get, verdict_id))


@router.get("/verdicts", response_model=RecordPage, responses=RESPONSES, summary="Stored verdicts, newest first")
async def list_verdicts(
    store: StoreDep,
    claim: Annotated[str | None, Query(max_length=1000, description="Records whose claim contains this")] = None,
    label: Annotated[Label | None, Query(description="The published label")] = None,
    since: Annotated[datetime | None, Query(description="Stored at or after (ISO date or datetime, UTC)")] = None,
    reviewed: Annotated[bool | None, Query(description="Only reviewed (true) or unreviewed (false) records")] = None,
    cursor: Annotated[str | None, Query(max_length=200, description="`next_cursor` of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> RecordPage:
    """Filter stored verdicts; pages newest first, continued with `next_cursor`."""
    query = RecordQuery(claim=claim, label=label, since=since, reviewed=reviewed, cursor=cursor, limit=limit)
    return await run_in_threadpool(store.find, query)


def _expected_version(body: ReviewRequest, if_match: str | None) -> int:
    """The version the reviewer read, from the body or an If-Match header (both: they must agree)."""
    header = None
    if if_match is not None:
        tag = if_match.strip().removeprefix("W/").strip('"')
        if not tag.isdigit():
            raise errors.InputError(f"If-Match must be an ETag this service gave out, not {if_match!r}")
        header = int(tag)
    if body.version is not None and header is not None and body.version != header:
        raise errors.InputError("version and If-Match disagree")
    version = body.version if body.version is not None else header
    if version is None:
        raise errors.InputError("send the version you read (body `version` or an If-Match header)")
    return version


@router.post(
    "/verdicts/{verdict_id}/review",
    response_model=VerdictRecord,
    responses={
        **RESPONSES,
        403: {"model": ErrorBody, "description": "The key lacks the review role"},
        409: {"model": ErrorBody, "description": "The record changed since the version the review was based on"},
        422: {"model": ErrorBody, "description": "Invalid review (a correction needs a reason)"},
    },
    summary="Review a stored verdict",
)
async def review_verdict(
    store: StoreDep,
    caller: Annotated[Caller, Depends(require_review)],
    body: ReviewRequest,
    verdict_id: Annotated[str, VERDICT_ID],
    if_match: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """Publish a person's label; the model's label stays. Changing a published review is a correction (needs
    `reason`); each is an append-only event."""
    version = _expected_version(body, if_match)
    record = await run_in_threadpool(lambda: store.review(verdict_id, body, version, api_key_name=caller.name))
    return _with_etag(record)


@router.get(
    "/verdicts/{verdict_id}/claimreview",
    responses={**RESPONSES, 200: {"content": {"application/ld+json": {}}, "description": "ClaimReview JSON-LD"}},
    summary="A stored verdict as schema.org ClaimReview",
)
async def get_claim_review(
    store: StoreDep, settings: SettingsDep, request: Request, verdict_id: Annotated[str, VERDICT_ID]
) -> Response:
    """JSON-LD ClaimReview of the published label; an unreviewed verdict is marked machine-generated."""
    record = await run_in_threadpool(store.get, verdict_id)
    url = str(request.url_for("get_verdict", verdict_id=record.id))
    doc = claim_review(record, settings, url=url)
    return JSONResponse(doc, media_type="application/ld+json", headers={"ETag": record.etag})
