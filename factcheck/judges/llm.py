"""The LLM judge: any litellm model, structured output, validated citations, verifier hints and fallback."""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from ..errors import InputError, LLMUnavailableError, ModelError
from ..models import Citation, SearchHit, SourceStance, Stance, Usage, Verdict
from ..settings import Settings
from .base import Judge
from .llm_io import (
    VERDICT_SCHEMA,
    AssistHints,
    JsonMode,
    LLMOutput,
    PassageHint,
    PassageScorer,
    PromptTemplate,
    ResponseCache,
    add_usage,
    coerce_hint,
    format_kwargs,
    is_transient,
    neutralise,
    parse_output,
    render_hints,
    render_passages,
    resolve_json_mode,
    usage_of,
    validate_citations,
)

log = logging.getLogger(__name__)

# The stance a cited passage takes under each verdict label that cites (unverified cites none).
_STANCE_OF_LABEL: dict[str, Stance] = {"supported": "supports", "contradicted": "contradicts"}


@dataclass
class _Call:
    """One model reply with its accounting."""

    raw: str
    usage: Usage
    cached: bool
    finish_reason: str | None = None


class LLMJudge:
    """Judges through any litellm model; validates citations; falls back to `fallback` when the LLM fails."""

    name = "llm"

    def __init__(
        self,
        settings: Settings,
        fallback: Judge | None = None,
        verifier_hints: PassageScorer | None = None,
        *,
        completion: Callable[..., Any] | None = None,
    ):
        if not settings.llm_model:
            raise InputError("the LLM judge needs FACTCHECK_LLM_MODEL (e.g. openai/gemma with FACTCHECK_LLM_API_BASE)")
        import litellm

        litellm.suppress_debug_info = True  # its banners go to stdout, which the CLI owns
        self.settings = settings
        self.fallback = fallback
        if verifier_hints is None and isinstance(fallback, PassageScorer):
            verifier_hints = fallback
        self.verifier_hints = verifier_hints
        self.model = settings.llm_model
        self.prompt = PromptTemplate("verdict", settings.prompt_version)
        self.prompt_version = self.prompt.version
        self.version = f"{self.model}+prompt-{self.prompt_version}"
        self.json_mode: JsonMode = resolve_json_mode(settings)
        # Tests pass a scripted wrapper around litellm.completion; production calls litellm directly.
        self._completion = completion or litellm.completion
        self.cache: ResponseCache | None = None
        if settings.llm_cache_dir is not None:
            try:
                self.cache = ResponseCache(Path(settings.llm_cache_dir))
            except (OSError, sqlite3.Error) as e:
                log.warning("LLM response cache disabled: %s", e)

    # -- messages ----------------------------------------------------------------------------------

    def messages(self, claim: str, hits: list[SearchHit], hints: AssistHints | None = None) -> list[dict[str, str]]:
        """The chat messages for a claim: fixed system instructions, the data in the user turn."""
        system = PromptTemplate.fill(self.prompt.system, {"schema": json.dumps(VERDICT_SCHEMA)})
        user = PromptTemplate.fill(
            self.prompt.user,
            {
                "claim": neutralise(claim),
                "passages": render_passages(hits),
                "hints": render_hints(hints, hits),
            },
        )
        if self.settings.llm_system_prompt == "user":
            # The instructions still come first, before any data, in the one turn the template keeps.
            return [{"role": "user", "content": f"{system}\n\n{user}"}]
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    # -- one completion, with transient retries and the cache ---------------------------------------

    def _request(self, messages: list[dict[str, str]]) -> dict[str, Any]:
        s = self.settings
        kw: dict[str, Any] = dict(
            model=self.model,
            messages=messages,
            temperature=s.llm_temperature,
            max_tokens=s.llm_max_tokens,
            timeout=s.llm_timeout_s,
            # tenacity below is the only retry loop; litellm and the OpenAI client must not add their own.
            num_retries=0,
            max_retries=0,
            **format_kwargs(self.json_mode),
        )
        if s.llm_api_base:
            kw["api_base"] = s.llm_api_base
        if s.llm_api_key:
            kw["api_key"] = s.llm_api_key
        elif s.llm_api_base:
            kw["api_key"] = "none"  # local OpenAI-compatible servers need some key in the header
        return kw

    def complete(self, messages: list[dict[str, str]]) -> _Call:
        """One model reply (from cache when seen); LLMUnavailableError / ModelError when none comes."""
        s = self.settings
        key = None
        if self.cache is not None:
            key = ResponseCache.key(
                self.model,
                self.prompt_version,
                {
                    "json_mode": self.json_mode,
                    "temperature": s.llm_temperature,
                    "max_tokens": s.llm_max_tokens,
                    "messages": messages,
                },
            )
            try:
                raw = self.cache.get(key)
            except sqlite3.Error as e:
                log.warning("LLM response cache read failed: %s", e)
                raw = None
            if raw is not None:
                return _Call(raw=raw, usage=Usage(cached=True), cached=True)
        attempts = 1 + max(0, s.llm_max_retries)

        def log_retry(rs: RetryCallState) -> None:
            assert rs.outcome is not None  # tenacity sleeps only after an attempt has failed
            log.warning(
                "LLM call failed (%s), retry %d/%d",
                type(rs.outcome.exception()).__name__,
                rs.attempt_number,
                attempts - 1,
            )

        retrying = Retrying(
            retry=retry_if_exception(is_transient),
            stop=stop_after_attempt(attempts),
            wait=wait_exponential_jitter(
                multiplier=s.llm_retry_initial_s, max=s.llm_retry_max_s, jitter=s.llm_retry_initial_s
            ),
            before_sleep=log_retry,
            reraise=True,
        )
        try:
            response = retrying(self._completion, **self._request(messages))
        except Exception as e:
            what = f"{type(e).__name__}: {str(e)[:300]}"
            if is_transient(e):
                raise LLMUnavailableError(f"{what} (after {attempts} attempts)") from e
            raise ModelError(what) from e
        try:
            choice = response.choices[0]
            raw = choice.message.content
            finish = getattr(choice, "finish_reason", None)
        except (AttributeError, IndexError) as e:
            raise ModelError(f"malformed completion response: {e}", raw=str(response)) from e
        # An empty reply is invalid output like any other: the caller shows it to the model and re-asks.
        call = _Call(raw=raw or "", usage=usage_of(response), cached=False, finish_reason=finish)
        if key is not None and self.cache is not None:
            try:  # only replies that fit the schema: a truncated or garbled one may be a one-off
                parse_output(call.raw)
                self.cache.put(key, self.model, self.prompt_version, call.raw, call.usage)
            except ModelError:
                pass
            except sqlite3.Error as e:
                log.warning("LLM response cache write failed: %s", e)
        return call

    # -- assist ------------------------------------------------------------------------------------

    def _assist(self, claim: str, hits: list[SearchHit]) -> tuple[AssistHints | None, Verdict | None]:
        """The verifier's verdict and per-passage scores, as hints; its verdict is reused on fallback."""
        if not self.settings.llm_assist or not hits:
            return None, None
        hints = AssistHints()
        base: Verdict | None = None
        pid = {h.passage.id: i for i, h in enumerate(hits)}
        if self.fallback is not None:
            try:
                base = self.fallback.judge(claim, hits)
                hints.label = base.label
                hints.checks = list(base.checks)
                for c in base.citations:
                    if c.passage_id in pid and c.stance:
                        hints.passages[pid[c.passage_id]] = PassageHint(stance=c.stance, score=c.score)
            except Exception as e:  # assist is advisory: the LLM can still decide without it
                log.warning("assist verifier failed: %s", e)
        if self.verifier_hints is not None:
            try:
                for i, entry in enumerate(self.verifier_hints.score_passages(claim, hits)):
                    got = coerce_hint(entry)
                    if got is None:
                        continue
                    passage_id, hint, checks = got
                    at = i if passage_id is None else pid.get(passage_id, -1)
                    if 0 <= at < len(hits):
                        hints.passages[at] = hint
                    hints.checks += [c for c in checks if c not in hints.checks]
            except Exception as e:
                log.warning("assist passage scores failed: %s", e)
        return hints, base

    # -- judge -------------------------------------------------------------------------------------

    def judge(self, claim: str, hits: list[SearchHit]) -> Verdict:
        """Ask the LLM; validate its citations; re-ask once on invalid output; else fall back."""
        t0 = time.perf_counter()
        if not hits:
            return Verdict(
                claim=claim,
                label="unverified",
                confidence=0.0,
                explanation="No passages were retrieved.",
                judge=self.name,
                judge_version=self.version,
                prompt_version=self.prompt_version,
                model=self.model,
                usage=Usage(),
                retrieved=0,
            )
        hints, base = self._assist(claim, hits)
        t1 = time.perf_counter()
        messages = self.messages(claim, hits, hints)
        usage = Usage()
        live_calls = 0
        dropped_total = 0
        problem, last_raw = "", None
        for round_no in range(1 + max(0, self.settings.llm_repair_retries)):
            try:
                call = self.complete(messages)
            except ModelError as e:  # includes LLMUnavailableError: nothing to repair, fall back now
                return self._fall_back(
                    claim, hits, base, f"{e.code}: {e}", usage, dropped_total, t0, t1, raw=e.raw, error=e
                )
            add_usage(usage, call.usage)
            last_raw = call.raw
            live_calls += not call.cached
            try:
                out = parse_output(call.raw)
            except ModelError as e:
                cut = " (the reply was cut off at max_tokens; be shorter)" if call.finish_reason == "length" else ""
                problem = f"invalid output: {e}{cut}"
                log.info("LLM round %d: %s; raw=%r", round_no, problem, call.raw[:500])
                messages = self._repair(messages, call.raw, f"{e}{cut}")
                continue
            stance: Stance | None = _STANCE_OF_LABEL.get(out.label)
            citations, problems = validate_citations(out.citations, hits, stance)
            dropped_total += len(problems)
            if out.label != "unverified" and not citations:
                problem = f"label {out.label!r} with no valid citation" + (
                    f" ({'; '.join(problems[:3])})" if problems else ""
                )
                messages = self._repair(
                    messages,
                    call.raw,
                    problem + ". Copy the exact words from the passage and name it by its id, or answer unverified.",
                )
                continue
            usage.cached = live_calls == 0
            t2 = time.perf_counter()
            verdict = Verdict(
                claim=claim,
                label=out.label,
                confidence=out.confidence,
                citations=citations,
                explanation=out.explanation.strip(),
                sources=self._sources(hits, citations, out),
                checks=list(hints.checks) if hints else [],
                judge=self.name,
                judge_version=self.version,
                prompt_version=self.prompt_version,
                model=self.model,
                dropped_citations=len(problems),
                usage=usage,
                retrieved=len(hits),
                timings_ms={"assist": round((t1 - t0) * 1000, 2), "llm": round((t2 - t1) * 1000, 2)},
            )
            if hints is not None and hints.label is not None and hints.label != out.label:
                verdict.disagreement = f"llm says {out.label}, verifier says {hints.label}"
            return verdict
        usage.cached = live_calls == 0
        return self._fall_back(claim, hits, base, problem, usage, dropped_total, t0, t1, raw=last_raw)

    @staticmethod
    def _repair(messages: list[dict[str, str]], raw: str, error: str) -> list[dict[str, str]]:
        """The conversation plus the bad reply and what was wrong with it."""
        return messages + [
            {"role": "assistant", "content": raw},
            {
                "role": "user",
                "content": f"Your reply was rejected: {error}\n"
                "Reply again with one JSON object that follows the rules and the schema.",
            },
        ]

    @staticmethod
    def _sources(hits: list[SearchHit], citations: list[Citation], out: LLMOutput) -> list[SourceStance]:
        """Each retrieved article once: the verdict's stance where cited, else silent."""
        cited = {c.article_id for c in citations}
        stance: Stance = _STANCE_OF_LABEL.get(out.label, "silent")
        seen: dict[str, SourceStance] = {}
        for h in hits:
            a = h.article
            if a.id in seen:
                continue
            on = a.id in cited and stance != "silent"
            seen[a.id] = SourceStance(
                article_id=a.id,
                title=a.title,
                source=a.source,
                published=a.published,
                stance=stance if on else "silent",
                score=out.confidence if on else 0.0,
            )
        return list(seen.values())

    def _fall_back(
        self,
        claim: str,
        hits: list[SearchHit],
        base: Verdict | None,
        reason: str,
        usage: Usage,
        dropped: int,
        t0: float,
        t1: float,
        *,
        raw: str | None = None,
        error: ModelError | None = None,
    ) -> Verdict:
        """The verifier's verdict, saying the LLM did not decide and why; ModelError when there is no verifier."""
        log.warning("LLM judge falling back: %s", reason)
        if self.fallback is None:
            if isinstance(error, LLMUnavailableError):
                raise LLMUnavailableError(reason, raw=raw) from error
            raise ModelError(f"the LLM gave no usable verdict: {reason}", raw=raw) from error
        verdict = base if base is not None else self.fallback.judge(claim, hits)
        verdict = verdict.model_copy(deep=True)
        verdict.fallback_reason = f"llm ({self.model}, prompt {self.prompt_version}) did not decide: {reason}"
        verdict.dropped_citations = dropped
        verdict.usage = usage
        verdict.timings_ms.update(assist=round((t1 - t0) * 1000, 2), llm=round((time.perf_counter() - t1) * 1000, 2))
        return verdict
