"""Load news articles from .txt / .md / .html / .jsonl files and clean web boilerplate out of their text.

Over 500 lines: every input format ends in the same cleaning rules, and keeping them together is what keeps
the offsets of every format identical.

Choices worth knowing (they keep offsets honest and results deterministic):

* `Article.text` is the *cleaned* text; every offset downstream points into it.
* Title: from metadata when given, else the first non-empty line that is not a bare dateline. That line is
  kept in `text` as-is (not removed), so the text is exactly what the file said, minus boilerplate.
  Decorative quotes around the title line and a trailing " | Site name" are stripped from the *title* only.
* Published date: metadata first (HTML meta tags, Markdown front matter, jsonl field, `_meta.jsonl`);
  otherwise a dateline (a line that is only a date, e.g. "Wednesday, May 29, 2024") among the first five
  non-empty lines; otherwise the first full date with day, month and year (e.g. "January 27, 2024",
  "27 January 2024", "2024-01-27") in the first 1500 characters. Partial dates ("Saturday January 27",
  "August 2023") and numeric dates like 03/04/2024 (day/month order ambiguous) are never used.
  None when nothing qualifies. A heuristic: a sidecar can correct it.
* Sidecar: `_meta.jsonl` in a directory holds rows `{"id", "url"?, "source"?, "published"?, "title"?, "note"?}`;
  a key present in a row overrides that field (an explicit null clears it; `note` is for humans) for the
  articles whose files sit directly in that directory. It is never ingested as an article.
* Encoding: UTF-8 (a BOM is fine); an HTML page may instead declare its charset in a meta tag.
* Skipping: empty, binary, non-UTF-8, unsupported, too-large (single-article) files and bad jsonl lines land in
  `IngestReport.skipped` with a reason; only a path that does not exist raises `InputError`.
  Hidden files and directories (name starting with ".") are ignored when walking a directory.
"""

from __future__ import annotations

import html as html_lib
import json
import logging
import os
import re
import unicodedata
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from pathlib import Path

from dateutil import parser as date_parser
from pydantic import BaseModel, Field, ValidationError

from .errors import InputError
from .models import Article

META_FILE = "_meta.jsonl"
TEXT_SUFFIXES = {".txt", ".text"}
MARKDOWN_SUFFIXES = {".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
JSONL_SUFFIXES = {".jsonl", ".ndjson"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | MARKDOWN_SUFFIXES | HTML_SUFFIXES | JSONL_SUFFIXES
MAX_FILE_BYTES = 50_000_000  # a single news article is never this big; guards memory on a stray dump
DATE_SEARCH_CHARS = 1500
DATELINE_LINES = 5
META_KEYS = {"id", "url", "source", "published", "title", "note"}


class Skipped(BaseModel):
    """A file (or `file:line`) that was not loaded, and why."""

    path: str
    reason: str


class IngestReport(BaseModel):
    """The articles loaded from some paths plus everything that was skipped."""

    articles: list[Article] = Field(default_factory=list)
    skipped: list[Skipped] = Field(default_factory=list)


# --------------------------------------------------------------------------------------------------
# Loading


def load_articles(paths: Iterable[Path | str]) -> IngestReport:
    """Load every supported file under `paths` (files or directories, walked recursively in sorted order)."""
    return collect_articles((file, load_file(file)) for file in list_files(paths))


def list_files(paths: Iterable[Path | str]) -> list[Path]:
    """The files `load_articles` reads, in its order (a missing path raises InputError)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]  # one path, not an iterable of its characters
    return list(_expand(paths))


def load_file(file: Path) -> IngestReport:
    """Parse and clean one file (the costly part, done in parallel by a Ray build); no sidecar, no dedup."""
    report = IngestReport()
    report.articles = _load_file(file, report)
    return report


def collect_articles(loaded: Iterable[tuple[Path, IngestReport]]) -> IngestReport:
    """Merge per-file loads in file order: apply `_meta.jsonl` sidecars, skip repeated ids (first one wins)."""
    report = IngestReport()
    seen_ids: dict[str, str] = {}
    meta_cache: dict[Path, dict[str, dict]] = {}
    for file, part in loaded:
        meta = _dir_meta(file.parent, meta_cache, report)
        report.skipped.extend(part.skipped)
        for article in part.articles:
            override = meta.get(article.id)
            if override:
                article = _apply_meta(article, override)
            if article.id in seen_ids:
                report.skipped.append(
                    Skipped(
                        path=article.path or str(file),
                        reason=f"duplicate id {article.id!r} (first loaded from {seen_ids[article.id]})",
                    )
                )
                continue
            seen_ids[article.id] = article.path or str(file)
            report.articles.append(article)
    return report


def _expand(paths: Iterable[Path | str]) -> Iterator[Path]:
    """Yield each file once: given files in order, directories walked recursively in sorted order."""
    seen: set[Path] = set()
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise InputError(f"no such file or directory: {p}")
        files = [p] if not p.is_dir() else _walk(p)
        for f in files:
            key = f.resolve()
            if key in seen:
                continue
            seen.add(key)
            if f.name == META_FILE:
                continue  # sidecar metadata, read by _dir_meta
            yield f


def _walk(root: Path) -> list[Path]:
    """All non-hidden files under root, sorted by their path parts (deterministic across filesystems)."""
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        out.extend(Path(dirpath) / name for name in filenames if not name.startswith("."))
    return sorted(out, key=lambda f: f.relative_to(root).parts)


def _load_file(file: Path, report: IngestReport) -> list[Article]:
    """Parse one file into zero or more articles; problems go to report.skipped."""
    suffix = file.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        report.skipped.append(Skipped(path=str(file), reason=f"unsupported file type {suffix or '(none)'!r}"))
        return []
    raw = _read_text(file, report, capped=suffix not in JSONL_SUFFIXES, html=suffix in HTML_SUFFIXES)
    if raw is None:
        return []
    if suffix in JSONL_SUFFIXES:
        return _load_jsonl(file, raw, report)
    if suffix in HTML_SUFFIXES:
        fields = _from_html(raw)
    elif suffix in MARKDOWN_SUFFIXES:
        fields = _from_markdown(raw)
    else:
        fields = {"text": clean_text(raw)}
    article = _build(file.stem, fields, str(file))
    if article is None:
        report.skipped.append(Skipped(path=str(file), reason="no article text left after removing boilerplate"))
        return []
    return [article]


def _read_text(file: Path, report: IngestReport, *, capped: bool = True, html: bool = False) -> str | None:
    """The file decoded as UTF-8 (HTML: or its declared charset), or None (skipped) when empty, binary or unreadable."""
    try:
        size = file.stat().st_size
        if capped and size > MAX_FILE_BYTES:
            report.skipped.append(Skipped(path=str(file), reason=f"file too large ({size} bytes > {MAX_FILE_BYTES})"))
            return None
        data = file.read_bytes()
    except OSError as exc:
        report.skipped.append(Skipped(path=str(file), reason=f"unreadable: {exc.strerror or exc}"))
        return None
    if not data.strip():
        report.skipped.append(Skipped(path=str(file), reason="empty file"))
        return None
    if b"\x00" in data:
        report.skipped.append(Skipped(path=str(file), reason="binary file (contains NUL bytes)"))
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        declared = _declared_charset(data) if html else None
        if declared:
            try:
                return data.decode(declared)
            except (UnicodeDecodeError, LookupError):
                pass
        report.skipped.append(
            Skipped(path=str(file), reason=f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})")
        )
        return None


def _declared_charset(data: bytes) -> str | None:
    """The charset an HTML page declares in its head (`<meta charset=...>` or http-equiv), if any."""
    m = re.search(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]{1,40})""", data[:4096], re.I)
    return m.group(1).decode("ascii") if m else None


def _build(default_id: str, fields: dict, path: str) -> Article | None:
    """Assemble an Article from extracted fields, deriving title and date from the text when absent."""
    text = fields.get("text") or ""
    if not re.search(r"\w", text):
        return None
    title = _clean_title(fields.get("title") or "") or derive_title(text)
    published = fields.get("published") or find_published_date(text)
    return Article(
        id=str(fields.get("id") or default_id),
        title=title,
        text=text,
        url=fields.get("url") or None,
        source=fields.get("source") or None,
        published=published,
        path=path,
    )


def _json_rows(file: Path, raw: str, report: IngestReport) -> Iterator[tuple[int, str, dict]]:
    """(line number, `file:line`, object) for each JSON-object line; other lines are reported and skipped."""
    for lineno, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{file}:{lineno}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            report.skipped.append(Skipped(path=where, reason=f"invalid JSON: {exc.msg}"))
            continue
        if not isinstance(row, dict):
            report.skipped.append(Skipped(path=where, reason="line is not a JSON object"))
            continue
        yield lineno, where, row


def _load_jsonl(file: Path, raw: str, report: IngestReport) -> list[Article]:
    """One article per line; a bad line is reported as `file:line` and the rest still load."""
    articles: list[Article] = []
    for lineno, where, row in _json_rows(file, raw, report):
        problem = _check_row(row)
        if problem:
            report.skipped.append(Skipped(path=where, reason=problem))
            continue
        published = None
        if row.get("published") is not None:
            published = parse_date(str(row["published"]))
            if published is None:
                report.skipped.append(Skipped(path=where, reason=f"unparseable published date {row['published']!r}"))
                continue
        fields = {
            "id": str(row["id"]).strip() if row.get("id") is not None else None,
            "title": row.get("title"),
            "text": clean_text(row["text"]),
            "url": row.get("url"),
            "source": row.get("source"),
            "published": published,
        }
        article = _build(f"{file.stem}-{lineno}", fields, str(file))
        if article is None:
            report.skipped.append(Skipped(path=where, reason="no article text left after removing boilerplate"))
            continue
        articles.append(article)
    return articles


def _check_row(row: dict) -> str | None:
    """Why a jsonl row cannot be an article, or None when it can."""
    if not isinstance(row.get("text"), str) or not row["text"].strip():
        return "missing or empty 'text'"
    if row.get("id") is not None and (not isinstance(row["id"], (str, int)) or not str(row["id"]).strip()):
        return "'id' must be a non-empty string"
    for key in ("title", "url", "source"):
        if row.get(key) is not None and not isinstance(row[key], str):
            return f"{key!r} must be a string"
    return None


def _dir_meta(directory: Path, cache: dict[Path, dict[str, dict]], report: IngestReport) -> dict[str, dict]:
    """The `_meta.jsonl` rows of a directory keyed by article id (read once; bad rows reported)."""
    key = directory.resolve()
    if key in cache:
        return cache[key]
    rows: dict[str, dict] = {}
    cache[key] = rows
    meta_file = directory / META_FILE
    if not meta_file.is_file():
        return rows
    try:
        raw = meta_file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        report.skipped.append(Skipped(path=str(meta_file), reason=f"unreadable sidecar: {exc}"))
        return rows
    for _, where, row in _json_rows(meta_file, raw, report):
        if not isinstance(row.get("id"), str) or not row["id"]:
            report.skipped.append(Skipped(path=where, reason="sidecar row needs a string 'id'"))
            continue
        unknown = set(row) - META_KEYS
        if unknown:
            report.skipped.append(Skipped(path=where, reason=f"unknown sidecar keys: {', '.join(sorted(unknown))}"))
            continue
        if row.get("published") is not None and parse_date(str(row["published"])) is None:
            report.skipped.append(Skipped(path=where, reason=f"unparseable published date {row['published']!r}"))
            continue
        rows[row["id"]] = row
    return rows


def _apply_meta(article: Article, row: dict) -> Article:
    """Override article fields with the keys present in a sidecar row (null clears; title cannot be cleared)."""
    update: dict = {}
    for key in ("url", "source"):
        if key in row:
            update[key] = row[key] or None
    if "published" in row:
        update["published"] = parse_date(str(row["published"])) if row["published"] is not None else None
    if row.get("title"):
        update["title"] = _clean_title(row["title"])
    try:
        return Article.model_validate({**article.model_dump(), **update})
    except ValidationError:  # pragma: no cover - fields were checked when the sidecar was read
        return article


# --------------------------------------------------------------------------------------------------
# Formats


def _from_markdown(raw: str) -> dict:
    """Strip Markdown syntax lightly (front matter -> metadata; headings, emphasis, links -> plain text)."""
    fields: dict = {}
    raw = raw.replace("\r\n", "\n").replace("\r", "\n")
    fm = re.match(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", raw, re.S)
    if fm:
        raw = raw[fm.end() :]
        for line in fm.group(1).splitlines():
            k, sep, v = line.partition(":")
            v = v.strip().strip("'\"")
            if not sep or not v:
                continue
            k = k.strip().lower()
            if k == "title":
                fields["title"] = v
            elif k in ("date", "published"):
                fields["published"] = parse_date(v)
            elif k in ("url", "source"):
                fields[k] = v
    lines = []
    in_fence = False
    for line in raw.split("\n"):
        if re.match(r"^\s*(```|~~~)", line):
            in_fence = not in_fence  # keep fenced contents, drop the fences
            continue
        if not in_fence:
            line = _strip_markdown_line(line)
            if line is None:
                continue
        lines.append(line)
    fields["text"] = clean_text("\n".join(lines))
    return fields


_MD_LINE_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^\s{0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$"), r"\1"),  # ATX heading -> its text
    (re.compile(r"^\s{0,3}(?:>\s?)+"), ""),  # blockquote markers
    (re.compile(r"^(\s*)[-*+]\s+(?=\S)"), r"\1• "),  # list bullets -> a plain bullet, so '*' is not emphasis
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), r"\1"),  # image -> alt text
    (re.compile(r"\[([^\]]+)\]\((?:[^()\s]|\([^)]*\))*(?:\s+\"[^\"]*\")?\)"), r"\1"),  # [text](url "t") -> text
    (re.compile(r"\[([^\]]+)\]\[[^\]]*\]"), r"\1"),  # reference link -> text
    (re.compile(r"<((?:https?|mailto):[^>\s]+)>"), r"\1"),  # autolink -> url
    (re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1"), r"\2"),  # strong
    (re.compile(r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])"), r"\1"),  # *emphasis*
    (re.compile(r"(?<![\w_])_(?=\S)(.+?)(?<=\S)_(?![\w_])"), r"\1"),  # _emphasis_ (not snake_case)
    (re.compile(r"~~(?=\S)(.+?)(?<=\S)~~"), r"\1"),  # strikethrough
    (re.compile(r"`([^`]+)`"), r"\1"),  # inline code
    (re.compile(r"\\([\\`*_{}\[\]()#+\-.!>])"), r"\1"),  # backslash escapes
]
_MD_DROP = re.compile(
    r"^\s{0,3}(?:(?:[-*_]\s*){3,}|=+|\[[^\]]+\]:\s+\S.*|<!--.*-->)\s*$"  # rules, setext underlines, ref defs, comments
)


def _strip_markdown_line(line: str) -> str | None:
    """One Markdown line as plain text, or None when the line is pure syntax."""
    if _MD_DROP.match(line):
        return None
    for pattern, repl in _MD_LINE_RULES:
        line = pattern.sub(repl, line)
    return line


def _from_html(raw: str) -> dict:
    """Main text and metadata via trafilatura; a plain tag strip when it finds nothing."""
    fields: dict = {}
    doc = None
    try:
        import trafilatura

        logging.getLogger("trafilatura").setLevel(logging.CRITICAL)  # it logs routine extraction misses
        doc = trafilatura.bare_extraction(
            raw,
            with_metadata=True,
            include_comments=False,
            include_tables=True,
            # Only dates from structured markup: an extensive search guesses from footers and copyright lines.
            date_extraction_params={"extensive_search": False, "original_date": True},
        )
    except Exception:  # noqa: BLE001 - a parser crash on one page must not abort the whole ingest
        doc = None
    text = ""
    if doc is not None:
        get = doc.get if isinstance(doc, dict) else (lambda k: getattr(doc, k, None))
        # trafilatura puts one block per line; blank lines make them paragraphs for the sentence splitter.
        text = "\n\n".join(ln for ln in (get("text") or "").split("\n") if ln.strip())
        fields["title"] = get("title")
        fields["url"] = get("url")
        fields["source"] = get("sitename")
        if get("date"):
            fields["published"] = parse_date(str(get("date")))
    if not re.search(r"\w", text):
        text = _strip_tags(raw)
        if not fields.get("title"):
            m = re.search(r"<title[^>]*>(.*?)</title>", raw, re.I | re.S)
            fields["title"] = html_lib.unescape(m.group(1)).strip() if m else None
    fields["text"] = clean_text(text)
    return fields


_HTML_DROP = re.compile(
    r"<(script|style|noscript|template|svg|nav|header|footer|aside|form|head)\b.*?</\1\s*>|<!--.*?-->", re.I | re.S
)
_HTML_BLOCK = re.compile(
    r"</?(?:p|div|br|h[1-6]|li|ul|ol|tr|table|section|article|blockquote|pre|figure|figcaption|main)\b[^>]*>", re.I
)


def _strip_tags(raw: str) -> str:
    """A simple fallback: drop non-content elements, turn block tags into paragraph breaks, unescape."""
    text = _HTML_DROP.sub(" ", raw)
    text = _HTML_BLOCK.sub("\n\n", text)
    text = re.sub(r"<[^>]+>", " ", text)
    return html_lib.unescape(text)


# --------------------------------------------------------------------------------------------------
# Boilerplate cleaning

_UNICODE_SPACES = re.compile(r"[\t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
_INVISIBLE = re.compile(r"[\u00ad\u200b-\u200d\u2060\ufeff]|[\x00-\x08\x0b-\x1f\x7f]")
_BULLETS = "•·▪◦‣∙●○■□►▸–—-*"

# Each pattern matches a WHOLE line (after whitespace normalisation), case-insensitively, so a real
# sentence that merely contains one of these words is never touched.
_DROP_LINE_RULES: list[tuple[str, str]] = [
    # Comment widgets (WordPress, Disqus, wpDiscuz).
    ("comment form heading", r"leave a (?:reply|comment)(?: cancel reply)?|post a comment|add a comment"),
    (
        "comment form notice",
        r"your email address will not be published\.?(?: required fields are marked \*)?"
        r"|required fields are marked \*",
    ),
    ("comment subscribe toggle", r"notify of(?: new (?:follow-up comments|replies))?"),
    (
        "comment counters",
        r"\d*\s*inline feedbacks?|view all comments|\d+ comments?|no comments(?: yet)?"
        r"|be the first to comment[.!]?",
    ),
    ("comment teaser", r"would love your thoughts, please comment\.?x?"),
    ("rating widget", r"(?:\d+\s+){1,2}votes?|article rating"),
    # Teaser links to other articles; a headline may be glued on ("Read alsoIraq: ...").
    # The word after "also" is matched case-sensitively so a glued capital starts the headline; a line
    # that ends like a sentence ("Read more about it in the report.") is prose and stays.
    (
        "read-more link",
        r"(?:read|see) (?:also|more|next)(?-i:(?![a-z]))"
        r"(?:\s*[:.…»→]*|\s*[:…]?\s*.{0,200}[^.!?:\s\"”’])",
    ),
    ("continue-reading button", r"continue reading\s*(?:\.\.\.|…|»|→)?"),
    # Newsletter, subscription and app promotion.
    ("newsletter label", r"newsletters?|sign up(?: for (?:our|the) newsletter)?[.!]?"),
    ("subscribe button", r"(?:i )?subscribe(?: now| here| today)?[.!]?"),
    ("inbox promo", r"(?:receive|get|have) .{0,100}\b(?:in|into|to) your inbox[.!]?"),
    ("app promo", r"follow .{0,100} by downloading (?:the|our) .{0,40}\bapp(?:lication)?[.!]?"),
    # Sharing and social buttons.
    ("share label", r"share(?: this(?: article| story| post| page)?| on \w+)?\s*:?"),
    ("social buttons", r"(?:facebook|twitter|x|whatsapp|linkedin|telegram|email|e-mail|print|copy link|messenger)"),
    ("follow widget", r"(?:by:?\s+[\w .&'’-]{1,40}\s+)?follow(?: us)?(?: on \w+)?:?"),
    # Ads, video embeds and scraper artefacts.
    ("ad label", r"advertisement|advertising|sponsored(?: content)?|ad|scroll to continue(?: with content)?"),
    ("video embed label", r"(?:to )?(?:watch|listen)(?: on| to)?(?: the)? (?:video|audio|podcast)s?:?"),
    ("scraper marker", r"source site-\d+"),
    # Related-content rails and site chrome.
    (
        "related rail heading",
        r"(?:latest|related|recent|more|top|trending|popular|most read|most popular)"
        r"(?: stories| articles| posts| news| headlines)?"
        r"|you (?:may|might) also like|recommended(?: for you)?",
    ),
    ("theme footer", r"[\w .-]{1,40} is an? [\w .-]{0,40}wordpress theme\b.*"),
    ("powered-by footer", r"(?:proudly )?powered by [\w .-]{1,40}\.?"),
    ("copyright footer", r"(?:©|copyright|\(c\))\s*(?:©\s*)?\d{4}.{0,120}|all rights reserved\.?"),
    # Navigation chrome that survives a copy-paste of a whole page.
    (
        "navigation link",
        r"skip to (?:main )?content|back to top|menu|search|home|sign in|log ?in|register"
        r"|click here(?: to [^.!?]{0,80})?[.!]?",
    ),
    # Wire-service credit trailer ("Reporting by A in Baghdad; Editing by B"); no sentence punctuation.
    ("credit trailer", r"\(?(?:(?:additional )?reporting|writing|editing|compiled) by [^.!?]{1,200}\)?"),
    # An empty metadata label left behind when the value was stripped ("Date:").
    ("empty label", r"(?:date|author|by|tags?|categor(?:y|ies)|posted(?: on| in)?|published|updated|source):"),
    # A line holding only bullets or punctuation (no letter or digit).
    ("stray bullet", r"[^\w]*"),
]
_DROP_LINE = [(name, re.compile(rf"(?:{rx})", re.I)) for name, rx in _DROP_LINE_RULES]

# A header that introduces a trailing list of topic tags; it and the short lines after it are dropped.
_TAG_HEADER = re.compile(
    r"(?:continue reading on the same (?:themes?|topics?)|on the same (?:themes?|topics?)|tags?|topics?"
    r"|related (?:topics|tags)|filed under|more on these topics)\s*:?",
    re.I,
)
_TAG_LINE = re.compile(rf"[{re.escape(_BULLETS)}]?\s*[^.!?]{{1,60}}")


def clean_text(raw: str) -> str:
    """Remove web boilerplate lines and normalise whitespace, keeping paragraph breaks and all other characters."""
    text = unicodedata.normalize("NFC", raw)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2029", "\n\n")
    text = text.replace("\u2028", "\n").replace("\x0b", "\n").replace("\x0c", "\n")
    text = _INVISIBLE.sub("", text)
    text = _UNICODE_SPACES.sub(" ", text)
    lines = [re.sub(r" {2,}", " ", ln).strip() for ln in text.split("\n")]
    kept: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line and _TAG_HEADER.fullmatch(line):
            # Drop the header and the tag bullets after it, up to the first line that reads like prose.
            i += 1
            while i < len(lines) and (not lines[i] or _TAG_LINE.fullmatch(lines[i])):
                i += 1
            continue
        if line and boilerplate_rule(line) is None:
            kept.append(line)
        elif not line:
            kept.append("")
        i += 1
    out = "\n".join(kept)
    out = re.sub(r"\n{3,}", "\n\n", out)  # any run of blank lines is one paragraph break
    return out.strip("\n")


def boilerplate_rule(line: str) -> str | None:
    """The name of the boilerplate rule matching this whole (stripped) line, or None for real content."""
    for name, rx in _DROP_LINE:
        if rx.fullmatch(line):
            return name
    return None


# --------------------------------------------------------------------------------------------------
# Title and date heuristics

_MONTHS = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_WEEKDAY = r"(?:(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?,?\s+)?"
_FULL_DATE = re.compile(
    rf"\b{_WEEKDAY}(?:{_MONTHS}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}"  # January 27, 2024
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTHS},?\s+\d{{4}}"  # 27 January 2024
    rf"|\d{{4}}-\d{{2}}-\d{{2}})\b",  # 2024-01-27
    re.I,
)
_DATELINE = re.compile(rf"\s*(?:{_FULL_DATE.pattern})\s*[.,]?\s*", re.I)
_TITLE_QUOTES = "\"'“”‘’«»„‟‹›"


def parse_date(value: str) -> date | None:
    """A calendar date from ISO text or a written full date; None when it is not one."""
    value = value.strip()
    try:
        return date.fromisoformat(value[:10]) if re.match(r"\d{4}-\d{2}-\d{2}", value) else _parse_written(value)
    except ValueError:
        return None


def _parse_written(value: str) -> date | None:
    """Parse a written date, requiring day, month and year to be present (no defaults filled in)."""
    if not (re.search(r"\b\d{4}\b", value) and re.search(r"\b\d{1,2}(?:st|nd|rd|th)?\b", value)):
        return None
    try:
        parsed = date_parser.parse(value, default=datetime(1, 1, 1))
    except (ValueError, OverflowError):
        return None
    return parsed.date() if parsed.year > 1 else None


def find_published_date(text: str) -> date | None:
    """A dateline in the first lines, else the first full date in the opening characters (see module doc)."""
    lines = [ln for ln in text.split("\n") if ln.strip()][:DATELINE_LINES]
    for line in lines:
        if _DATELINE.fullmatch(line):
            found = parse_date(line.strip(" .,"))
            if found:
                return found
    for m in _FULL_DATE.finditer(text[:DATE_SEARCH_CHARS]):
        found = parse_date(m.group())
        if found:
            return found
    return None


def derive_title(text: str) -> str:
    """The first non-empty line that is not a bare dateline, shortened when it is really a paragraph."""
    lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
    candidates = [ln for ln in lines[:DATELINE_LINES] if not _DATELINE.fullmatch(ln)] or lines
    title = _clean_title(candidates[0]) if candidates else ""
    if len(title) > 200:
        cut = title[:120].rsplit(" ", 1)[0]
        title = cut.rstrip(",;:") + "…"
    return title or "(untitled)"


def _clean_title(title: str) -> str:
    """Strip decorative quotes around a title and a trailing ' | Site' suffix."""
    title = re.sub(r"\s+", " ", title).strip()
    if len(title) >= 2 and title[0] in _TITLE_QUOTES and title[-1] in _TITLE_QUOTES:
        inner = title[1:-1].strip()
        # Only when the quotes wrap the whole line, not "“A” and “B”".
        if not any(q in inner for q in '“”"«»'):
            title = inner
    m = re.fullmatch(r"(.{15,}?)\s+\|\s+[^|]{1,40}", title)
    if m:
        title = m.group(1)
    return title
