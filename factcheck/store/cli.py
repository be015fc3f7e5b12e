"""`factcheck verdicts list/show/export`: the stored verdicts from the command line."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TextIO

from ..errors import InputError
from ..settings import Settings, settings_from_args
from .claimreview import claim_review_feed
from .models import RecordQuery, VerdictRecord
from .sql import SqlVerdictStore, database_url

CSV_FIELDS = [
    "id",
    "created_at",
    "updated_at",
    "claim",
    "label",
    "published_label",
    "reviewed",
    "reviewer",
    "rating_text",
    "review_note",
    "confidence",
    "judge",
    "judge_version",
    "index_generation",
    "as_of",
    "page_url",
    "api_key_name",
    "previous_id",
    "citations",
    "version",
]


def _since(text: str) -> datetime:
    """An ISO date or datetime (UTC when no zone is given)."""
    try:
        at = (
            datetime.fromisoformat(text)
            if "T" in text or " " in text
            else datetime.combine(date.fromisoformat(text), datetime.min.time())
        )
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date or datetime: {text!r}") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _settings(args: argparse.Namespace) -> Settings:
    settings = settings_from_args(args)
    if args.db:
        settings = settings.model_copy(update={"db_url": args.db})
    return settings


def _open(args: argparse.Namespace) -> SqlVerdictStore:
    """The store the settings name; a SQLite file that does not exist is an error, not a new database."""
    settings = _settings(args)
    url = database_url(settings.resolved_db_url())
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        raise InputError(f"no verdict database at {url.database} (the API stores verdicts there as it serves them)")
    return SqlVerdictStore(settings.resolved_db_url(), connect_timeout_s=settings.db_connect_timeout_s, retry_after_s=0)


def _query(args: argparse.Namespace, limit: int = 20) -> RecordQuery:
    return RecordQuery(
        claim=args.claim,
        label=args.label,
        since=args.since,
        reviewed=args.reviewed,
        cursor=getattr(args, "cursor", None),
        limit=limit,
    )


def _line(r: VerdictRecord) -> str:
    label = r.published_label if r.review is None else f"{r.published_label} (model: {r.label}, reviewed)"
    return f"{r.id}  {r.created_at:%Y-%m-%d %H:%M}  {label:<12}  {r.claim}"


def cmd_list(args: argparse.Namespace) -> int:
    """Stored verdicts, newest first."""
    if args.limit < 1 or args.limit > 500:
        raise InputError("--limit must be 1..500")
    store = _open(args)
    try:
        page = store.find(_query(args, args.limit))
    finally:
        store.close()
    if args.json:
        print(page.model_dump_json(indent=2))
        return 0
    for r in page.items:
        print(_line(r))
    if not page.items:
        print("no verdicts stored match", file=sys.stderr)
    if page.next_cursor:
        print(f"more: --cursor {page.next_cursor}", file=sys.stderr)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """One record with its review trail."""
    store = _open(args)
    try:
        r = store.get(args.id)
    finally:
        store.close()
    if args.json:
        print(r.model_dump_json(indent=2))
        return 0
    ctx = r.context
    print(f"{r.id}  version {r.version}  stored {r.created_at.isoformat()}")
    print(f"claim:     {r.claim}")
    print(f"published: {r.published_label}" + (f" (model said {r.label})" if r.review else " (machine-generated)"))
    print(f"judge:     {ctx.judge} {ctx.judge_version}; index generation {ctx.index_generation}; as_of {ctx.as_of}")
    if ctx.page_url:
        print(f"page:      {ctx.page_url}")
    if r.previous_id:
        print(f"previous:  {r.previous_id}")
    for i, part in enumerate(r.verdict.parts, 1):
        print(f"  part {i} [{part.start}:{part.end}] {part.label} ({part.confidence:.2f}): {part.text}")
    for c in r.verdict.citations:
        print(f"  - {c.article_id} [{c.start}:{c.end}]: \u201c{c.quote}\u201d")
    for e in r.events:
        why = f" because {e.reason}" if e.reason else ""
        print(
            f"{e.at:%Y-%m-%d %H:%M} {e.kind} by {e.who}: {e.before.published_label} -> {e.after.published_label}{why}"
        )
    return 0


def _csv_row(r: VerdictRecord) -> dict[str, Any]:
    review = r.review
    return {
        "id": r.id,
        "created_at": r.created_at.isoformat(),
        "updated_at": r.updated_at.isoformat(),
        "claim": r.claim,
        "label": r.label,
        "published_label": r.published_label,
        "reviewed": review is not None,
        "reviewer": review.reviewer if review else "",
        "rating_text": (review.rating_text or "") if review else "",
        "review_note": review.note if review else "",
        "confidence": r.verdict.confidence,
        "judge": r.context.judge,
        "judge_version": r.context.judge_version,
        "index_generation": r.context.index_generation,
        "as_of": r.context.as_of.isoformat() if r.context.as_of else "",
        "page_url": r.context.page_url or "",
        "api_key_name": r.context.api_key_name or "",
        "previous_id": r.previous_id or "",
        "citations": len(r.verdict.citations),
        "version": r.version,
    }


def export(records: list[VerdictRecord], fmt: str, out: TextIO, settings: Settings, base_url: str | None) -> None:
    """Write records as jsonl (one record a line), csv, or a ClaimReview DataFeed (JSON-LD)."""
    if fmt == "jsonl":
        for r in records:
            out.write(r.model_dump_json() + "\n")
    elif fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for r in records:
            writer.writerow(_csv_row(r))
    else:
        json.dump(claim_review_feed(records, settings, base_url=base_url), out, indent=2, ensure_ascii=False)
        out.write("\n")


def cmd_export(args: argparse.Namespace) -> int:
    """Every matching record to a file or stdout."""
    if args.base_url and not args.base_url.lower().startswith(("http://", "https://")):
        raise InputError(f"--base-url must be an http(s) URL, not {args.base_url!r}")
    store = _open(args)
    try:
        records = list(store.iter_all(_query(args, 500)))
    finally:
        store.close()
    settings = _settings(args)
    if args.out:
        with open(args.out, "w", encoding="utf-8", newline="") as f:
            export(records, args.format, f, settings, args.base_url)
        print(f"wrote {len(records)} verdicts to {args.out}", file=sys.stderr)
    else:
        export(records, args.format, sys.stdout, settings, args.base_url)
    return 0


def _filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--claim", default=None, help="records whose claim contains this text")
    p.add_argument("--label", choices=["supported", "contradicted", "unverified"], help="the published label")
    p.add_argument("--since", type=_since, default=None, help="stored at or after this ISO date or datetime")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--reviewed", dest="reviewed", action="store_const", const=True, default=None)
    g.add_argument("--unreviewed", dest="reviewed", action="store_const", const=False)


def add_cli(subparsers: Any) -> None:
    """Register `factcheck verdicts`."""
    v = subparsers.add_parser("verdicts", help="stored verdicts: list, show, export (jsonl, csv, ClaimReview)")
    v.add_argument(
        "--db", default=None, help="database URL (default: FACTCHECK_DB_URL or verdicts.sqlite in the index)"
    )
    vsub = v.add_subparsers(dest="verdicts_command", required=True, parser_class=type(v))
    ls = vsub.add_parser("list", help="stored verdicts, newest first")
    _filters(ls)
    ls.add_argument("--limit", type=int, default=20)
    ls.add_argument("--cursor", default=None, help="continue a listing (printed after a full page)")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_list)
    sh = vsub.add_parser("show", help="one record with its review trail")
    sh.add_argument("id")
    sh.add_argument("--json", action="store_true")
    sh.set_defaults(func=cmd_show)
    ex = vsub.add_parser("export", help="write records as jsonl, csv or a ClaimReview feed")
    _filters(ex)
    ex.add_argument("--format", choices=["jsonl", "csv", "claimreview"], default="jsonl")
    ex.add_argument("--out", default=None, help="file to write (default: stdout)")
    ex.add_argument("--base-url", default=None, help="public URL of the API, for each ClaimReview's url")
    ex.set_defaults(func=cmd_export)
