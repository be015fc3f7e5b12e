"""The LLM judge through litellm against a real OpenAI-compatible server (llama.cpp, `.ci/llm-server start`).

The model is tiny (Gemma 3 270M), so these tests assert the protocol, not the labels: the reply parses
into the schema, citations are validated against the retrieved passages, timings and tokens are recorded.
"""

from __future__ import annotations

import os

import pytest

from factcheck.judges.llm import LLMJudge
from factcheck.judges.llm_io import parse_output, validate_citations
from factcheck.pipeline import build_pipeline
from factcheck.settings import Settings
from tests.fakes import FixedLabelJudge

BASE = os.environ.get("FACTCHECK_TEST_LLM_BASE")
pytestmark = [
    pytest.mark.llm,
    pytest.mark.timeout(900),  # a tiny CPU model on a shared 2-core box: tens of seconds per reply
    pytest.mark.skipif(not BASE, reason="FACTCHECK_TEST_LLM_BASE is unset (start one with `.ci/llm-server start`)"),
]

CLAIMS = [
    "Roughly 2500 American soldiers are stationed in Iraq.",
    "The coalition mission in Iraq will end in 2030.",
]


def llm_settings(tmp_path, **kw) -> Settings:
    # max_tokens 600 fits the largest reply the llama.cpp schema bounds allow, so replies are never cut off.
    base = dict(
        index_dir=tmp_path / "index",
        embedder="hash",
        llm_model="openai/gemma",
        llm_api_base=BASE,
        llm_json_mode="llamacpp",
        llm_system_prompt="user",
        llm_timeout_s=180,
        llm_max_retries=1,
        llm_retry_initial_s=0.5,
        llm_max_tokens=600,
        llm_cache_dir=None,
        llm_assist=False,
        top_k=2,
    )
    base.update(kw)
    return Settings(_env_file=None, **base)


@pytest.fixture(scope="module")
def small_index(tmp_path_factory, seed_articles, hash_embedder):
    """A real FAISS + BM25 index of the five seed articles (hash embedder: no model load)."""
    tmp = tmp_path_factory.mktemp("llm-index")
    pipe = build_pipeline(llm_settings(tmp), embedder=hash_embedder, load_judge=False)
    pipe.add_articles(seed_articles)
    return tmp, {a.id: a.text for a in seed_articles}


def test_raw_reply_parses_into_the_schema_and_citations_validate(small_index, hash_embedder):
    tmp, texts = small_index
    s = llm_settings(tmp)
    pipe = build_pipeline(s, embedder=hash_embedder, load_judge=False)
    judge = LLMJudge(s)
    hits = pipe.search(CLAIMS[0], k=2)
    assert hits
    call = judge.complete(judge.messages(CLAIMS[0], hits))
    assert call.cached is False
    assert call.usage.prompt_tokens > 0 and call.usage.completion_tokens > 0 and call.usage.cost_usd == 0.0
    out = parse_output(call.raw)  # the server's grammar holds it to the schema: this must not raise
    assert out.label in ("supported", "contradicted", "unverified") and 0.0 <= out.confidence <= 1.0
    kept, problems = validate_citations(out.citations, hits, None)
    assert len(out.citations) - len(kept) - len(problems) >= 0  # each citation is kept, dropped or a duplicate
    retrieved = {h.passage.id: h.passage for h in hits}
    for c in kept:
        assert texts[c.article_id][c.start : c.end] == c.quote
        p = retrieved[c.passage_id]
        assert p.start <= c.start and c.end <= p.end


@pytest.mark.parametrize("claim", CLAIMS)
def test_pipeline_check_with_llm_judge_records_protocol_fields(small_index, hash_embedder, claim):
    tmp, texts = small_index
    s = llm_settings(tmp)
    fallback = FixedLabelJudge(name="verifier")
    pipe = build_pipeline(s, embedder=hash_embedder, judge=LLMJudge(s, fallback=fallback))
    v = pipe.check(claim)
    assert v.retrieved > 0
    assert v.usage is not None and v.usage.total_tokens > 0 and v.usage.cost_usd == 0.0
    assert v.timings_ms["llm"] > 0 and v.timings_ms["judge"] >= v.timings_ms["llm"]
    if v.judge == "llm":
        assert fallback.calls == 0 and v.fallback_reason is None
        assert (v.model, v.prompt_version, v.judge_version) == ("openai/gemma", "v1", "openai/gemma+prompt-v1")
        if v.label != "unverified":
            assert v.citations, "a supported/contradicted LLM verdict must carry a validated citation"
    else:
        # The tiny model may keep citing text that is not in the passages: then the verifier decides, and says so.
        assert v.judge == "verifier" and fallback.calls == 1
        assert v.fallback_reason and "openai/gemma" in v.fallback_reason
    for c in v.citations:
        assert texts[c.article_id][c.start : c.end] == c.quote


def test_second_identical_call_is_served_from_the_cache(small_index, hash_embedder, tmp_path):
    tmp, _ = small_index
    s = llm_settings(tmp, llm_cache_dir=tmp_path / "cache")
    pipe = build_pipeline(s, embedder=hash_embedder, load_judge=False)
    hits = pipe.search(CLAIMS[1], k=2)
    judge = LLMJudge(s)
    msgs = judge.messages(CLAIMS[1], hits)
    first = judge.complete(msgs)
    try:
        parse_output(first.raw)
    except Exception:  # pragma: no cover - the grammar makes this unreachable; then nothing was cached
        pytest.fail(f"server reply did not parse: {first.raw!r}")
    second = LLMJudge(s).complete(msgs)
    assert (first.cached, second.cached) == (False, True)
    assert second.raw == first.raw and second.usage.total_tokens == 0
