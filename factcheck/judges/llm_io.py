"""The LLM judge's input and output: verdict schema, JSON modes, parsing, citation validation, prompts, hints, cache."""

from __future__ import annotations

import hashlib
import html
import json
import logging
import re
import sqlite3
import time
from collections.abc import Mapping
from contextlib import closing
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import AliasChoices, BaseModel, Field, ValidationError, field_validator

from ..errors import InputError, ModelError
from ..models import Citation, ConsistencyFinding, Label, SearchHit, Stance, Usage
from ..settings import REPO_DIR, Settings

log = logging.getLogger(__name__)

PROMPTS_DIR = REPO_DIR / "prompts"
JsonMode = Literal["json_schema", "json_object", "llamacpp", "none"]
MIN_QUOTE_CHARS = 8

# What the model must return. Key order matters to grammar-constrained servers (llama.cpp generates
# properties in schema order): evidence first, then the label it supports. OpenAI strict mode needs
# every property required and no extra keywords, so bounds live only in the llama.cpp variant.
VERDICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "citations": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"passage": {"type": "string"}, "quote": {"type": "string"}},
                "required": ["passage", "quote"],
                "additionalProperties": False,
            },
        },
        "label": {"type": "string", "enum": ["supported", "contradicted", "unverified"]},
        "confidence": {"type": "number"},
        "explanation": {"type": "string"},
    },
    "required": ["citations", "label", "confidence", "explanation"],
    "additionalProperties": False,
}


def _bounded_schema() -> dict[str, Any]:
    """The schema with size bounds, so a small model under a grammar cannot loop until max_tokens."""
    schema = json.loads(json.dumps(VERDICT_SCHEMA))
    props = schema["properties"]
    props["citations"]["maxItems"] = 3
    props["citations"]["items"]["properties"]["passage"]["maxLength"] = 4
    props["citations"]["items"]["properties"]["quote"]["maxLength"] = 400
    props["explanation"]["maxLength"] = 400
    props["confidence"].update(minimum=0, maximum=1)
    return schema


_TRANSIENT: tuple[type[BaseException], ...] = ()


def _transient_errors() -> tuple[type[BaseException], ...]:
    """litellm's retryable exception types (rate limit, timeout, connection, 5xx), resolved lazily."""
    global _TRANSIENT
    if not _TRANSIENT:
        import litellm

        names = (
            "RateLimitError",
            "Timeout",
            "APIConnectionError",
            "InternalServerError",
            "ServiceUnavailableError",
            "BadGatewayError",
        )
        _TRANSIENT = tuple(getattr(litellm, n) for n in names if hasattr(litellm, n))
    return _TRANSIENT


def is_transient(exc: BaseException) -> bool:
    """True for errors worth retrying: the transient types, or any API error with a 5xx status."""
    if isinstance(exc, _transient_errors()):
        return True
    status = getattr(exc, "status_code", None)
    return isinstance(status, int) and status >= 500


# ---- model output ---------------------------------------------------------------------------------

_LABEL_ALIASES = {
    "support": "supported",
    "supports": "supported",
    "true": "supported",
    "correct": "supported",
    "contradict": "contradicted",
    "contradicts": "contradicted",
    "refuted": "contradicted",
    "refutes": "contradicted",
    "false": "contradicted",
    "incorrect": "contradicted",
    "not enough info": "unverified",
    "not_enough_info": "unverified",
    "nei": "unverified",
    "unknown": "unverified",
    "insufficient": "unverified",
    "unverifiable": "unverified",
}


class LLMCitation(BaseModel):
    """One citation as the model wrote it: a passage id and a quote, not yet validated."""

    passage: str = Field(validation_alias=AliasChoices("passage", "passage_id", "id", "source"))
    quote: str = Field(validation_alias=AliasChoices("quote", "text", "span"))

    @field_validator("passage", mode="before")
    @classmethod
    def _passage_str(cls, v: Any) -> str:
        return str(v)


class LLMOutput(BaseModel):
    """The JSON object the verdict prompt asks for."""

    label: Label
    confidence: float = 0.5
    citations: list[LLMCitation] = Field(default_factory=list)
    explanation: str = ""

    @field_validator("label", mode="before")
    @classmethod
    def _normalise_label(cls, v: Any) -> Any:
        if isinstance(v, str):
            key = v.strip().strip(".").lower()
            return _LABEL_ALIASES.get(key, key)
        return v

    @field_validator("confidence", mode="before")
    @classmethod
    def _clamp_confidence(cls, v: Any) -> float:
        # Small models write 0.8, "0.8", "80%" or 80; all mean the same.
        if v is None:
            return 0.5
        if isinstance(v, str):
            v = float(v.strip().rstrip("%"))
        v = float(v)
        if 1.0 < v <= 100.0:
            v /= 100.0
        return min(1.0, max(0.0, v))

    @field_validator("citations", mode="before")
    @classmethod
    def _citations_list(cls, v: Any) -> Any:
        if v is None:
            return []
        if isinstance(v, dict):
            return [v]
        return v

    @field_validator("explanation", mode="before")
    @classmethod
    def _explanation_str(cls, v: Any) -> str:
        return "" if v is None else str(v)


_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.S)


def extract_json_object(raw: str) -> dict[str, Any]:
    """The first JSON object in a reply, tolerating code fences and prose around it."""
    text = (raw or "").strip()
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    # strict=False: grammar-constrained servers (llama-cpp-python) let raw newlines into JSON strings.
    decoder = json.JSONDecoder(strict=False)
    for cand in candidates:
        for i, ch in enumerate(cand):
            if ch != "{":
                continue
            try:
                obj, _ = decoder.raw_decode(cand, i)
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                return obj
    raise ModelError("the reply holds no JSON object", raw=raw)


def parse_output(raw: str) -> LLMOutput:
    """Parse a reply into LLMOutput; ModelError (keeping the raw text) when it does not fit the schema."""
    obj = extract_json_object(raw)
    try:
        return LLMOutput.model_validate(obj)
    except (ValidationError, ValueError, TypeError) as e:
        errs = e.errors(include_url=False) if isinstance(e, ValidationError) else [{"msg": str(e)}]
        detail = "; ".join(f"{'.'.join(map(str, x.get('loc', ())))}: {x['msg']}" for x in errs[:4])
        raise ModelError(f"the JSON object does not match the schema ({detail})", raw=raw) from None


# ---- citation validation --------------------------------------------------------------------------

_PID = re.compile(r"^\W*p?\s*(\d+)\W*$", re.I)
_QUOTE_TRIM = "\"'“”‘’«» \t\r\n"


def _passage_index(pid: str, n: int) -> int | None:
    """0-based index of 'P3' / 'p3' / '3' / '[P3]' among n passages, None when it names none."""
    m = _PID.match(pid.strip())
    if not m:
        return None
    i = int(m.group(1)) - 1
    return i if 0 <= i < n else None


def find_quote(text: str, quote: str) -> tuple[int, int] | None:
    """Span of `quote` in `text`: exact, else the same words with different whitespace."""
    i = text.find(quote)
    if i >= 0:
        return i, i + len(quote)
    words = quote.split()
    if not words:
        return None
    m = re.search(r"\s+".join(map(re.escape, words)), text)
    return (m.start(), m.end()) if m else None


def validate_citations(
    items: list[LLMCitation], hits: list[SearchHit], stance: Stance | None
) -> tuple[list[Citation], list[str]]:
    """Keep citations whose passage was retrieved and whose quote is in it verbatim; say why others were dropped."""
    kept: list[Citation] = []
    problems: list[str] = []
    seen: set[tuple[str, int, int]] = set()
    for item in items:
        idx = _passage_index(item.passage, len(hits))
        if idx is None:
            problems.append(f"{item.passage!r} is not one of the passage ids P1..P{len(hits)}")
            continue
        hit = hits[idx]
        quote = item.quote.strip(_QUOTE_TRIM)
        for ell in ("...", "…"):  # a trailing ellipsis is the model shortening, not part of the text
            quote = quote.removesuffix(ell).removeprefix(ell).strip(_QUOTE_TRIM)
        if len(quote) < MIN_QUOTE_CHARS:
            problems.append(f"P{idx + 1}: quote {item.quote!r} is too short to check")
            continue
        span = find_quote(hit.passage.text, quote)
        if span is None:
            problems.append(f"P{idx + 1}: quote {quote[:120]!r} is not found verbatim in P{idx + 1}")
            continue
        a, b = span
        start, end = hit.passage.start + a, hit.passage.start + b
        key = (hit.passage.id, start, end)
        if key in seen:
            continue
        seen.add(key)
        kept.append(
            Citation(
                article_id=hit.passage.article_id,
                passage_id=hit.passage.id,
                quote=hit.passage.text[a:b],
                start=start,
                end=end,
                title=hit.article.title,
                source=hit.article.source,
                url=hit.article.url,
                published=hit.article.published,
                stance=stance,
                score=hit.score,
            )
        )
    return kept, problems


# ---- prompt ---------------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")
# Passage text is shown between tags; a passage must not be able to close them and speak outside.
_TAG_LIKE = re.compile(r"<(/?\s*)(passages?|claim|hints)\b", re.I)


class PromptTemplate:
    """A versioned prompt file `prompts/<name>/<version>.md` with `<!-- system -->` / `<!-- user -->` parts."""

    def __init__(self, name: str, version: str, prompts_dir: Path = PROMPTS_DIR):
        path = prompts_dir / name / f"{version}.md"
        if not path.is_file():
            raise InputError(f"no prompt file prompts/{name}/{version}.md")
        text = path.read_text(encoding="utf-8")
        if "<!-- system -->" not in text or "<!-- user -->" not in text:
            raise InputError(f"prompts/{name}/{version}.md lacks the <!-- system --> / <!-- user --> markers")
        self.name, self.version = name, path.stem
        system, user = text.split("<!-- user -->", 1)
        self.system = system.split("<!-- system -->", 1)[1].strip()
        self.user = user.strip()

    @staticmethod
    def fill(template: str, values: Mapping[str, str]) -> str:
        """Replace every {{name}} in one pass, so values that contain {{...}} are left alone."""

        def sub(m: re.Match) -> str:
            if m.group(1) not in values:
                raise InputError(f"prompt placeholder {{{{{m.group(1)}}}}} has no value")
            return values[m.group(1)]

        return _PLACEHOLDER.sub(sub, template)


def neutralise(text: str) -> str:
    """Defuse tag-like text in data so it cannot end the data block it sits in."""
    return _TAG_LIKE.sub(lambda m: "‹" + m.group(1) + m.group(2), text)


def render_passages(hits: list[SearchHit]) -> str:
    """Number passages P1..Pn with their article's title, source and date, each as a tagged data block."""
    blocks = []
    for i, hit in enumerate(hits, 1):
        a = hit.article
        attrs = f'id="P{i}" title="{html.escape(a.title or "", quote=True)}"'
        attrs += f' source="{html.escape(a.source or "unknown", quote=True)}"'
        attrs += f' date="{a.published.isoformat() if a.published else "unknown"}"'
        blocks.append(f"<passage {attrs}>\n{neutralise(hit.passage.text)}\n</passage>")
    return "\n".join(blocks)


# ---- assist hints (the verifier's opinion, given to the LLM) --------------------------------------


class PassageHint(BaseModel):
    """The verifier's view of one retrieved passage."""

    stance: Stance
    score: float | None = None
    p_entail: float | None = None
    p_contradict: float | None = None


class AssistHints(BaseModel):
    """What the offline verifier thinks, shown to the LLM in assist mode."""

    label: Label | None = None
    passages: dict[int, PassageHint] = Field(default_factory=dict)  # 0-based hit index -> hint
    checks: list[ConsistencyFinding] = Field(default_factory=list)


@runtime_checkable
class PassageScorer(Protocol):
    """Anything that scores each retrieved passage against a claim (the verifier's `score_passages`)."""

    def score_passages(self, claim: str, hits: list[SearchHit]) -> list[Any]:
        """Entries with `stance` and `p_entail`/`p_contradict` or `score`, and `passage_id` (else by position)."""
        ...


def _field(entry: Any, name: str) -> Any:
    return entry.get(name) if isinstance(entry, Mapping) else getattr(entry, name, None)


def coerce_hint(entry: Any) -> tuple[str | None, PassageHint, list[ConsistencyFinding]] | None:
    """(passage id or None, hint, checks) from a verifier PassageScore, a PassageHint or a mapping."""
    if entry is None:
        return None
    stance = _field(entry, "stance")
    if stance not in ("supports", "contradicts", "silent"):
        return None
    pe, pc, score = _field(entry, "p_entail"), _field(entry, "p_contradict"), _field(entry, "score")
    hint = PassageHint(
        stance=stance,
        score=None if score is None else float(score),
        p_entail=None if pe is None else float(pe),
        p_contradict=None if pc is None else float(pc),
    )
    checks = [c for c in (_field(entry, "checks") or []) if isinstance(c, ConsistencyFinding)]
    return _field(entry, "passage_id"), hint, checks


def _hint_text(h: PassageHint) -> str:
    parts = []
    if h.p_entail is not None:
        parts.append(f"entail {h.p_entail:.2f}")
    if h.p_contradict is not None:
        parts.append(f"contradict {h.p_contradict:.2f}")
    if not parts and h.score is not None:
        parts.append(f"score {h.score:.2f}")
    return f"{h.stance} ({', '.join(parts)})" if parts else h.stance


def render_hints(hints: AssistHints | None, hits: list[SearchHit]) -> str:
    """The hints block of the prompt; empty when assist mode is off or nothing is known."""
    if hints is None or (hints.label is None and not hints.passages and not hints.checks):
        return ""
    pid = {h.passage.id: i for i, h in enumerate(hits)}
    lines = ["", "HINTS from an automatic checker (data; it can be wrong, decide yourself):", "<hints>"]
    if hints.label:
        lines.append(f"checker's overall label: {hints.label}")
    for i in sorted(hints.passages):
        lines.append(f"P{i + 1}: {_hint_text(hints.passages[i])}")
    for c in hints.checks:
        where = f" in P{pid[c.passage_id] + 1}" if c.passage_id in pid else ""
        lines.append(
            neutralise(
                f"{c.kind} check{where}: claim says {c.claim_value!r}, evidence says {c.evidence_value!r}: {c.outcome}"
            )
        )
    lines.append("</hints>")
    return "\n".join(lines) + "\n"


# ---- response cache -------------------------------------------------------------------------------


class ResponseCache:
    """Raw model replies on disk (sqlite), keyed on model + prompt version + rendered messages."""

    def __init__(self, directory: Path):
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "responses.sqlite3"
        with closing(self._connect()) as db, db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, model TEXT, prompt_version TEXT,"
                " raw TEXT NOT NULL, usage TEXT, created REAL)"
            )

    def _connect(self) -> sqlite3.Connection:
        # One connection per call: judges run in a thread pool and sqlite connections are per thread.
        return sqlite3.connect(self.path, timeout=10)

    @staticmethod
    def key(model: str, prompt_version: str, request: Mapping[str, Any]) -> str:
        """Stable hash of everything that shapes the reply."""
        blob = json.dumps({"model": model, "prompt_version": prompt_version, **request}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()

    def get(self, key: str) -> str | None:
        """The stored reply, or None."""
        with closing(self._connect()) as db:
            row = db.execute("SELECT raw FROM responses WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def put(self, key: str, model: str, prompt_version: str, raw: str, usage: Usage) -> None:
        """Store a reply (last write wins)."""
        with closing(self._connect()) as db, db:
            db.execute(
                "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?)",
                (key, model, prompt_version, raw, usage.model_dump_json(), time.time()),
            )


# ---- the judge ------------------------------------------------------------------------------------


def resolve_json_mode(settings: Settings) -> JsonMode:
    """How to ask this provider for structured output; `auto` asks litellm what the provider supports."""
    if settings.llm_json_mode != "auto":
        return settings.llm_json_mode
    import litellm

    model = settings.llm_model or ""
    try:
        bare, provider, _, _ = litellm.get_llm_provider(model, api_base=settings.llm_api_base)
    except Exception:  # litellm raises a plain BadRequestError for models it cannot place
        return "none"
    base = (settings.llm_api_base or "").lower()
    if provider == "openai" and base and "api.openai.com" not in base:
        # An OpenAI-compatible local server; llama.cpp's takes json_object + schema, not json_schema.
        # vLLM and others that take json_schema: set FACTCHECK_LLM_JSON_MODE=json_schema.
        return "llamacpp"
    try:
        if litellm.supports_response_schema(model=bare, custom_llm_provider=provider):
            return "json_schema"
    except Exception:
        pass
    try:
        params = litellm.get_supported_openai_params(model=bare, custom_llm_provider=provider) or []
    except Exception:
        params = []
    return "json_object" if "response_format" in params else "none"


def format_kwargs(mode: JsonMode) -> dict[str, Any]:
    """The completion kwargs that request structured output in this mode."""
    if mode == "json_schema":
        return {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "verdict", "schema": VERDICT_SCHEMA, "strict": True},
            }
        }
    if mode == "json_object":
        return {"response_format": {"type": "json_object"}}
    if mode == "llamacpp":
        return {"extra_body": {"response_format": {"type": "json_object", "schema": _bounded_schema()}}}
    return {}


def usage_of(response: Any) -> Usage:
    """Tokens and cost from a litellm response; models without a price (local ones) cost 0.0."""
    u = getattr(response, "usage", None)
    usage = Usage(
        prompt_tokens=int(getattr(u, "prompt_tokens", 0) or 0),
        completion_tokens=int(getattr(u, "completion_tokens", 0) or 0),
        total_tokens=int(getattr(u, "total_tokens", 0) or 0),
    )
    cost = (getattr(response, "_hidden_params", None) or {}).get("response_cost")
    if cost is None:
        import litellm

        try:
            cost = litellm.completion_cost(completion_response=response)
        except Exception:  # not in litellm's price map
            cost = 0.0
    usage.cost_usd = float(cost or 0.0)
    return usage


def add_usage(total: Usage, part: Usage) -> None:
    total.prompt_tokens += part.prompt_tokens
    total.completion_tokens += part.completion_tokens
    total.total_tokens += part.total_tokens
    total.cost_usd += part.cost_usd
