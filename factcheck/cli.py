"""The `factcheck` command line: index, search, check (plus eval, serve and bench from their modules)."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from datetime import date
from pathlib import Path
from typing import NoReturn

from .errors import FactcheckError, InputError, ModelError
from .settings import settings_from_args


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit code 2."""

    def error(self, message: str) -> NoReturn:  # noqa: D401 - argparse API
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _iso_date(text: str) -> date:
    """Parse an ISO date argument."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date (YYYY-MM-DD): {text!r}") from None


def _print_json(obj) -> None:
    """Print a pydantic model or plain object as JSON."""
    if hasattr(obj, "model_dump_json"):
        print(obj.model_dump_json(indent=2))
    else:
        print(json.dumps(obj, indent=2, default=str))


def cmd_index_build(args: argparse.Namespace) -> int:
    """Ingest files/folders and add them to the index."""
    from .pipeline import build_index

    settings = settings_from_args(args)
    for p in args.paths:
        if not Path(p).exists():
            raise InputError(f"no such file or directory: {p}")
    if args.ray is not None:
        from .scale import build_index_ray, check_address

        check_address(args.ray)  # before anything is read: a missing extra or a bad address is one line
        if args.ray_workers is not None:
            settings = settings.model_copy(update={"ray_workers": args.ray_workers})
        added, ingest, seconds = build_index_ray(
            settings, args.paths, address=args.ray, rebuild=args.rebuild, progress=not args.quiet
        )
    else:
        added, ingest, seconds = build_index(settings, args.paths, rebuild=args.rebuild, progress=not args.quiet)
    for s in ingest.skipped:
        print(f"skipped {s.path}: {s.reason}", file=sys.stderr)
    rate = added.passages_added / seconds if seconds > 0 and added.passages_added else 0.0
    if args.json:
        _print_json(
            {
                "report": added.model_dump(),
                "skipped": [s.model_dump() for s in ingest.skipped],
                "seconds": round(seconds, 3),
                "passages_per_s": round(rate, 1),
            }
        )
    else:
        print(
            f"indexed {len(ingest.articles)} articles into {settings.resolved_index_dir()}: "
            f"{len(added.added)} added, {len(added.replaced)} replaced, {len(added.unchanged)} unchanged; "
            f"{added.passages_added} passages in {seconds:.2f}s ({rate:.0f} passages/s)"
        )
    return 0


def cmd_index_stats(args: argparse.Namespace) -> int:
    """Show what the index holds."""
    from .embed import make_embedder
    from .pipeline import open_index

    settings = settings_from_args(args)
    stats = open_index(settings, make_embedder(settings)).stats()
    if args.json:
        _print_json(stats)
    else:
        for key, value in stats.model_dump().items():
            print(f"{key:>16}: {value}")
    return 0


def cmd_index_remove(args: argparse.Namespace) -> int:
    """Delete articles from the index."""
    from .embed import make_embedder
    from .pipeline import open_index

    settings = settings_from_args(args)
    report = open_index(settings, make_embedder(settings)).remove(args.ids)
    print(f"removed {len(report.removed)} articles ({report.passages_removed} passages)")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    """Retrieve passages for a query."""
    from .pipeline import build_pipeline

    settings = settings_from_args(args)
    pipe = build_pipeline(settings, load_judge=False)
    hits = pipe.search(args.query, args.k, args.as_of, mode=args.mode)
    if args.json:
        print(json.dumps([h.model_dump(mode="json") for h in hits], indent=2))
        return 0
    if not hits:
        print("no passages found")
    for h in hits:
        dup = f"  (+{len(h.duplicates)} syndicated copies)" if h.duplicates else ""
        print(f"#{h.rank}  {h.passage.id}  score={h.score:.4f}  [{h.passage.start}:{h.passage.end}]{dup}")
        print(f"    {h.article.title}" + (f" ({h.article.published})" if h.article.published else ""))
        print(textwrap.indent(textwrap.fill(h.passage.text, 96), "    | "))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Judge a claim against the index."""
    from .pipeline import build_pipeline

    settings = settings_from_args(args)
    verdict = build_pipeline(settings).check(args.claim, args.k, args.as_of)
    if args.json:
        _print_json(verdict)
        return 0
    print(
        f"{verdict.label.upper()}  (confidence {verdict.confidence:.2f}, judge {verdict.judge} {verdict.judge_version})"
    )
    if verdict.explanation:
        print(textwrap.fill(verdict.explanation, 100))
    for i, part in enumerate(verdict.parts, 1):
        # which atomic fact of a compound claim failed
        print(f"  part {i} [{part.start}:{part.end}] {part.label.upper()} ({part.confidence:.2f}): {part.text}")
    for c in verdict.citations:
        stance = f" [{c.stance}]" if c.stance else ""
        print(f"  - {c.article_id} [{c.start}:{c.end}]{stance}: \u201c{c.quote}\u201d")
    if verdict.sources:
        print("sources: " + ", ".join(f"{s.article_id}={s.stance}" for s in verdict.sources))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser."""
    from . import bench, evals
    from .api import serve
    from .store import cli as verdicts

    parser = _Parser(prog="factcheck", description="Check claims against a news corpus with cited evidence.")
    parser.add_argument("--index", help="index directory (default: $FACTCHECK_INDEX_DIR or ./index)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    idx = sub.add_parser("index", help="build and inspect the passage index")
    isub = idx.add_subparsers(dest="index_command", required=True, parser_class=_Parser)
    b = isub.add_parser("build", help="ingest files or folders (.txt .md .html .jsonl) into the index")
    b.add_argument("paths", nargs="+", help="files or directories")
    b.add_argument("--rebuild", action="store_true", help="replace the whole index (atomically) instead of adding")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.add_argument("--json", action="store_true", help="print the report as JSON")
    evals.add_ray_arguments(b)
    b.set_defaults(func=cmd_index_build)
    st = isub.add_parser("stats", help="show index statistics")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_index_stats)
    rm = isub.add_parser("remove", help="delete articles by id")
    rm.add_argument("ids", nargs="+")
    rm.set_defaults(func=cmd_index_remove)

    s = sub.add_parser("search", help="retrieve passages for a query")
    s.add_argument("query")
    s.add_argument("-k", type=int, default=None, help="number of passages (default: FACTCHECK_TOP_K)")
    s.add_argument("--mode", choices=["hybrid", "dense", "bm25"], default="hybrid")
    s.add_argument("--as-of", type=_iso_date, default=None, help="leave out articles published after this date")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_search)

    c = sub.add_parser("check", help="judge a claim: supported / contradicted / unverified")
    c.add_argument("claim")
    c.add_argument("-k", type=int, default=None, help="passages to retrieve")
    c.add_argument("--as-of", type=_iso_date, default=None, help="judge by articles published up to this date")
    c.add_argument("--judge", choices=["auto", "verifier", "llm"], default=None)
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_check)

    # --- subcommands owned by other modules: each exposes add_cli(subparsers) and keeps its
    # heavy imports inside the command function so that `factcheck --help` stays fast ---
    for module in (evals, serve, bench, verdicts):
        module.add_cli(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `factcheck` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "k", None) is not None and args.k < 1:
        parser.error("-k must be at least 1")
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"factcheck: error: {exc}", file=sys.stderr)
        return 2
    except ModelError as exc:
        print(f"factcheck: model error: {exc}", file=sys.stderr)
        return 1
    except FactcheckError as exc:
        print(f"factcheck: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("factcheck: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
