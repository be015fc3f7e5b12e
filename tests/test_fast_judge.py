"""The fast judge: units read once per article span, ranked and capped; bf16 where the CPU has it; batching."""

from __future__ import annotations

import threading
from datetime import date

import numpy as np
import pytest

from factcheck.chunk import chunk_article
from factcheck.embed import HashEmbedder
from factcheck.judges.verifier import Escalation, VerifierJudge, candidate_units, rank_units
from factcheck.models import Article, ArticleMeta, SearchHit
from factcheck.verifier import CalibratedScorer, Verifier, resolve_precision
from factcheck.verifier.batching import BatchingScorer

ARTICLE = Article(
    id="floods",
    title="Floods hit river towns",
    source="Valley Herald",
    published=date(2023, 5, 2),
    text=(
        "Heavy rain caused the Ostra river to burst its banks on Monday. "
        "The ministry said 140 schools were damaged by the floods and about 2,500 soldiers were sent to help. "
        "The river rose four metres overnight, flooding the lower town. "
        "Officials expect the water to recede by the end of the week. "
        "Insurers put the damage at 80 million euros."
    ),
)
CLAIM = "About 2,500 soldiers were sent to help after the floods"


def _hits(article: Article, max_chars: int = 140, overlap: int = 1) -> list[SearchHit]:
    meta = ArticleMeta(id=article.id, title=article.title, source=article.source, published=article.published)
    passages = chunk_article(article, max_chars=max_chars, overlap_sentences=overlap)
    return [SearchHit(passage=p, article=meta, score=1.0, rank=i + 1) for i, p in enumerate(passages)]


class CountingScorer(CalibratedScorer):
    """Fixed logits (entailment for units naming the soldiers), counting every pair it is asked about."""

    def __init__(self) -> None:
        super().__init__(name="counting", version="counting-1")
        self.pairs: list[tuple[str, str]] = []

    def logits(self, premises: list[str], hypotheses: list[str]) -> np.ndarray:
        self.pairs += list(zip(premises, hypotheses))
        return np.array([[4.0, 0.0, 0.0] if "soldiers" in p else [0.0, 4.0, 0.0] for p in premises], np.float32)


def test_overlapping_passages_give_each_article_span_once_and_round_trip():
    hits = _hits(ARTICLE)
    assert len(hits) > 1  # overlapping chunks repeat a sentence
    units = candidate_units(CLAIM, hits)
    spans = [(hits[u.hit].passage.start + u.start, hits[u.hit].passage.start + u.end) for u in units]
    assert len(spans) == len(set(spans))
    for u, (a, b) in zip(units, spans):
        assert ARTICLE.text[a:b] == u.text
    repeated = sum(len(h.passage.units or []) for h in hits)
    assert repeated == 0 or repeated > len(units)


def test_ranking_puts_the_claims_words_first_and_zero_means_all():
    units = candidate_units(CLAIM, _hits(ARTICLE))
    top = rank_units(units, 2)
    assert len(top) == 2 and "2,500 soldiers" in top[0].text
    assert top[0].overlap == max(u.overlap for u in units)
    everything = rank_units(units, 0)
    assert sorted(map(id, everything)) == sorted(map(id, units))
    assert [u.overlap for u in everything] == sorted((u.overlap for u in units), reverse=True)


def test_a_capped_judge_reads_only_its_units_and_says_so():
    scorer = CountingScorer()
    verdict = VerifierJudge(scorer, max_units=3).judge(CLAIM, _hits(ARTICLE))
    assert len(scorer.pairs) == 3
    assert verdict.label == "supported" and verdict.decided_by == "counting:top3"
    quote = verdict.citations[0]
    assert ARTICLE.text[quote.start : quote.end] == quote.quote and "soldiers" in quote.quote
    assert {s.article_id for s in verdict.sources} == {"floods"}  # every retrieved source keeps a stance
    everything = CountingScorer()
    VerifierJudge(everything).judge(CLAIM, _hits(ARTICLE))
    assert len(everything.pairs) == len(candidate_units(CLAIM, _hits(ARTICLE))) > 3


class ScriptedLogits(CalibratedScorer):
    """Logits by a word in the unit (so a test decides what the top units say), counting the pairs read."""

    def __init__(self, by_word: dict[str, list[float]]) -> None:
        super().__init__(name="scripted", version="scripted-1")
        self.by_word = by_word
        self.pairs: list[str] = []

    def logits(self, premises: list[str], hypotheses: list[str]) -> np.ndarray:
        self.pairs += premises
        rows = [next((v for w, v in self.by_word.items() if w in p), [0.0, 3.0, 0.0]) for p in premises]
        return np.array(rows, np.float32)


@pytest.mark.parametrize(
    ("by_word", "escalates"),
    [
        ({"2,500 soldiers": [5.0, 0.0, 0.0]}, False),  # the top unit clearly supports: stage 1 decides
        ({"2,500 soldiers": [0.9, 0.0, 0.0]}, True),  # supported, but less sure than the fitted bar: read more
        ({}, True),  # nothing in the top units: an unclear unverified escalates
    ],
)
def test_escalation_happens_exactly_when_the_rule_says(by_word, escalates):
    scorer = ScriptedLogits(by_word)
    rule = Escalation(units=0, below=0.8, unverified_below=0.99)
    judge = VerifierJudge(scorer, max_units=2, escalation=rule)
    hits = _hits(ARTICLE)
    verdict = judge.judge(CLAIM, hits)
    first = VerifierJudge(ScriptedLogits(by_word), max_units=2).judge(CLAIM, hits)
    assert rule.applies(first.label, first.confidence) is escalates
    everything = len(candidate_units(CLAIM, hits))
    if escalates:
        assert verdict.decided_by == "scripted:all" and len(scorer.pairs) == everything  # no unit read twice
    else:
        assert verdict.decided_by == "scripted:top2" and len(scorer.pairs) == 2
        assert verdict.model_dump(exclude={"timings_ms"}) == first.model_dump(exclude={"timings_ms"})


@pytest.mark.parametrize(
    ("setting", "flags", "expected"),
    [
        ("auto", "avx2,fma,f16c", "fp32"),
        ("auto", "avx512f,avx512_vnni", "fp32"),
        ("auto", "avx512f,amx_tile,amx_bf16", "bf16"),
        ("auto", "avx512_bf16", "bf16"),
        ("fp32", "amx_bf16", "fp32"),
        ("bf16", "avx2", "bf16"),
    ],
)
def test_precision_is_picked_by_the_cpu(monkeypatch, setting, flags, expected):
    monkeypatch.setenv("FACTCHECK_FORCE_CPU_FLAGS", flags)
    precision, why = resolve_precision(setting)
    assert precision == expected and why


@pytest.fixture(scope="module")
def verifier():
    return Verifier()


PAIRS = [
    ("About 2,500 US troops are deployed in Iraq.", "There are 2,500 American troops in Iraq"),
    ("The talks were cancelled on Monday.", "The talks went ahead on Monday"),
    ("Spain has 300 soldiers in Iraq as part of the coalition, officials said. " * 3, "Spain has troops in Iraq"),
    ("It rained in the capital.", "The minister resigned"),
    ("The council approved a budget of $4.2 million for road repairs.", "The council rejected the budget"),
    ("Work on the bridge will start in 2024.", "Bridge works begin in 2024"),
]


def test_batched_and_unbatched_scoring_give_the_same_probabilities(verifier):
    alone = [verifier.score([p], [h])[0] for p, h in PAIRS]
    batcher = BatchingScorer(verifier, window_ms=5_000)  # long window: the four claims must meet in one batch
    ready = threading.Barrier(4)
    got: dict[int, np.ndarray] = {}

    def claim(i: int) -> None:
        with batcher.claiming():
            ready.wait()
            mine = PAIRS[i : i + 3]
            got[i] = batcher.score([p for p, _ in mine], [h for _, h in mine])

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert batcher.batches == 1 and batcher.jobs == 4
    for i, probs in got.items():
        np.testing.assert_allclose(probs, np.stack(alone[i : i + 3]), atol=1e-5)


def test_a_lone_claim_is_not_held_back_by_the_window(verifier):
    import time

    batcher = BatchingScorer(verifier, window_ms=60_000)
    with batcher.claiming():
        t = time.perf_counter()
        batcher.score([PAIRS[1][0]], [PAIRS[1][1]])
        assert time.perf_counter() - t < 30.0  # nobody else is judging: no wait for the 60 s window


def test_bf16_reads_the_pairs_as_fp32_does(verifier):
    bf16 = Verifier(precision="bf16")
    ref = verifier.score([p for p, _ in PAIRS], [h for _, h in PAIRS])
    got = bf16.score([p for p, _ in PAIRS], [h for _, h in PAIRS])
    assert (got.argmax(1) == ref.argmax(1)).all()
    assert np.abs(got - ref).max() < 0.05
    assert bf16.runtime == "torch-bf16" and verifier.runtime == "torch-fp32"


def test_packed_bf16_weights_give_the_logits_of_plain_bf16_autocast():
    import torch

    packed, plain = Verifier(precision="bf16"), Verifier(precision="bf16", pack=False)
    assert any(isinstance(m, torch.nn.Linear) and m.weight.dtype == torch.bfloat16 for m in plain.model.modules())
    assert packed.packed == torch.ops.mkldnn._is_mkldnn_bf16_supported()
    assert not any(isinstance(m, torch.nn.Linear) for m in packed.model.modules()) or not packed.packed
    premises, claims = [p for p, _ in PAIRS] * 3, [h for _, h in PAIRS] * 3  # one batch of mixed lengths
    # The same weights and kernels; rows padded to a bucket may take another kernel, so bf16's last bits differ.
    for n in (len(premises), 1):
        got, want = packed.logits(premises[:n], claims[:n]), plain.logits(premises[:n], claims[:n])
        np.testing.assert_allclose(got, want, atol=0.05)
        assert (got.argmax(1) == want.argmax(1)).all()
    np.testing.assert_allclose(packed.score(premises, claims), plain.score(premises, claims), atol=0.01)


def test_row_buckets_are_few_and_waste_at_most_an_eighth():
    from factcheck.verifier.bf16 import row_bucket

    buckets = {row_bucket(m) for m in range(1, 4097)}
    assert len(buckets) <= 60 and max(buckets) == 4096
    assert all(m <= row_bucket(m) <= m * 9 / 8 for m in range(64, 4097))
    assert all(row_bucket(row_bucket(m)) == row_bucket(m) for m in range(1, 4097))  # a bucket is its own bucket


def test_padded_rows_leave_every_real_row_as_it_was():
    import torch

    from factcheck.verifier.bf16 import PackedBf16Linear

    if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        pytest.skip("oneDNN has no bf16 on this CPU")
    torch.manual_seed(0)
    base = torch.nn.Linear(64, 32)
    lin = PackedBf16Linear(base)
    x = torch.randn(2, 37, 64)  # 74 rows: padded to 80
    with torch.inference_mode():
        out = lin(x)
        alone = torch.cat([lin(x[:, i : i + 1]) for i in range(37)], dim=1)  # 2 rows each: padded to 8
    assert out.shape == (2, 37, 32) and out.dtype == torch.bfloat16
    bf = lambda t: t.detach().to(torch.bfloat16).float()  # noqa: E731
    ref = bf(x) @ bf(base.weight).T + bf(base.bias)
    assert torch.allclose(out.float(), ref, atol=0.05) and torch.allclose(out.float(), alone.float(), atol=0.05)


_NO_NEW_KERNELS = """
import sys
from factcheck.verifier import Verifier
v = Verifier(precision="bf16")
print("== scoring", flush=True)
v.logits(["Some " + "word " * int(sys.argv[1])], ["A claim of several words here."])
"""


def test_a_packed_verifier_builds_no_kernel_for_a_length_it_has_not_seen(tmp_path):
    """oneDNN logs every kernel it builds; once loaded, a unit of a fresh length must reuse the buckets' kernels."""
    import os
    import subprocess
    import sys

    import torch

    if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        pytest.skip("oneDNN has no bf16 on this CPU")
    env = {**os.environ, "ONEDNN_VERBOSE": "all"}
    run = subprocess.run(
        [sys.executable, "-c", _NO_NEW_KERNELS, "23"], env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-2000:]
    before, after = (
        [line for line in part.splitlines() if ",inner_product," in line] for part in run.stdout.split("== scoring")
    )
    built = [line for line in before if "create:cache_miss" in line]
    assert len(built) >= 40  # the log is on, and the buckets were built at load
    assert any(",exec," in line for line in after)  # the unit was scored by those products
    assert not [line for line in after if "create:cache_miss" in line]


def test_a_claim_the_verifier_decides_never_loads_the_llm_stage():
    from factcheck.judges.cascade import CascadeJudge
    from tests.fakes import FixedLabelJudge

    built: list[FixedLabelJudge] = []

    def llm() -> FixedLabelJudge:
        built.append(FixedLabelJudge("contradicted", name="llm", version="llm-1"))
        return built[-1]

    rule = Escalation(below=0.8, unverified_below=0.99)
    clear = CascadeJudge(VerifierJudge(ScriptedLogits({"2,500 soldiers": [5.0, 0.0, 0.0]}), max_units=2), llm, rule)
    verdict = clear.judge(CLAIM, _hits(ARTICLE))
    assert verdict.label == "supported" and verdict.decided_by == "scripted:top2"
    assert not built and not clear.last_loaded and clear.decided == {"first": 1, "last": 0}

    unclear = CascadeJudge(VerifierJudge(ScriptedLogits({}), max_units=2), llm, rule)
    verdict = unclear.judge(CLAIM, _hits(ARTICLE))
    assert len(built) == 1 and built[0].calls == 1 and unclear.decided == {"first": 0, "last": 1}
    assert verdict.label == "contradicted" and verdict.decided_by == "llm:llm-1"


def test_the_index_stores_units_that_round_trip_to_the_article_text(tmp_path):
    from factcheck.chunk import UNITS_VERSION, passage_units
    from factcheck.embed import HashEmbedder
    from factcheck.index import FactIndex

    budget = Article(
        id="budget",
        title="Council passes budget",
        text="The city council approved a budget of $4.2 million on Tuesday. The vote was 9 to 2. Work starts in 2024.",
    )
    index = FactIndex.open(tmp_path / "index", HashEmbedder(), create=True, max_chars=120)
    index.add_articles([ARTICLE, budget])
    snap = index.snapshot()
    assert snap.manifest.units is not None and snap.manifest.units.version == UNITS_VERSION
    texts = {"floods": ARTICLE.text, "budget": budget.text}
    found = snap.passages(range(snap.manifest.n_passages))
    assert len(found) == snap.manifest.n_passages > 2
    for passage, _ in found.values():
        assert passage.units == passage_units(passage.text)  # stored at index time, as the judge would split
        for a, b in passage.units:
            assert texts[passage.article_id][passage.start + a : passage.start + b] == passage.text[a:b]
    # A later generation keeps them (the store is copied, only new passages are split).
    index.add_articles([budget.model_copy(update={"id": "budget-2"})])
    again = index.snapshot().passages(range(index.snapshot().manifest.n_passages))
    assert all(p.units is not None for p, _ in again.values())
    # Passages carry their units to the judge: the same units as splitting at query time.
    stored = [SearchHit(passage=p, article=m, score=1.0) for p, m in found.values()]
    split = [h.model_copy(update={"passage": h.passage.model_copy(update={"units": None})}) for h in stored]
    assert all(h.passage.units is None for h in split)
    spans = lambda hits: [(u.hit, u.start, u.end, u.text) for u in candidate_units(CLAIM, hits)]  # noqa: E731
    assert spans(stored) == spans(split) and spans(stored)


class SlowCountingScorer(CountingScorer):
    """CountingScorer whose forward pass takes a while, so claims arriving meanwhile queue for the next one."""

    def logits(self, premises: list[str], hypotheses: list[str]) -> np.ndarray:
        import time

        time.sleep(0.2)
        return super().logits(premises, hypotheses)


class CountingEmbedder(HashEmbedder):
    """The hashing embedder, counting its calls."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def embed(self, texts, *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        self.calls += 1
        return super().embed(texts, batch_size=batch_size, progress=progress)


def test_a_batch_of_claims_shares_forward_passes_and_keeps_its_order(tmp_path):
    from factcheck.errors import InputError
    from factcheck.pipeline import build_pipeline
    from factcheck.settings import Settings

    claims = [
        CLAIM,
        "The Ostra river burst its banks on Monday",
        "Insurers put the damage at 80 million euros",
        "140 schools were damaged by the floods",
        "The river rose four metres overnight",
    ]
    settings = Settings(index_dir=tmp_path / "index", batch_concurrency=4)
    scorer = SlowCountingScorer()
    embedder = CountingEmbedder()
    pipe = build_pipeline(settings, judge=VerifierJudge(scorer, max_units=2), embedder=embedder)
    pipe.add_articles([ARTICLE])
    alone = [pipe.check(c) for c in claims]
    pipe.verdict_cache.clear()
    pipe.query_cache.clear()
    embedder.calls = 0
    batcher = BatchingScorer(scorer, window_ms=1_000)
    pipe = build_pipeline(settings, judge=VerifierJudge(batcher, max_units=2), embedder=embedder)
    together = pipe.check_many(claims)
    assert [v.claim for v in together] == claims  # request order, whatever order they finished in
    assert [(v.label, v.citations[0].quote) for v in together] == [(v.label, v.citations[0].quote) for v in alone]
    assert embedder.calls == 1  # every claim's query vector from one embedder call
    assert batcher.jobs == len(claims) and batcher.batches < len(claims)  # claims met in forward passes
    seen = len(scorer.pairs)
    with pytest.raises(InputError, match="no visible characters"):
        pipe.check_many(["Floods hit river towns", "\u200b\u200b"])
    assert len(scorer.pairs) == seen  # a bad claim refuses the batch before any work


def test_length_batches_cover_every_pair_once_and_split_only_where_padding_costs_more_than_a_call():
    from factcheck.verifier.model import length_batches

    lengths = [40, 112, 38, 41, 109, 45, 300, 39, 110, 44]
    groups = length_batches(lengths, max_batch=4, call_tokens=96)
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    assert all(len(g) <= 4 for g in groups)
    for a, b in zip(groups, groups[1:]):
        assert max(lengths[i] for i in a) <= min(lengths[i] for i in b)  # sorted by length
        # b starts a new group only when a is full or padding a to b's first length would cost over a call
        assert len(a) == 4 or len(a) * (lengths[b[0]] - max(lengths[i] for i in a)) > 96
    short = {i for i, n in enumerate(lengths) if n < 50}
    assert not any(short & set(g) and set(g) - short for g in groups)  # singles are never padded to pairs
    assert length_batches([50, 60, 70], max_batch=32, call_tokens=96) == [[0, 1, 2]]  # small gaps: one call


def test_the_verifier_runs_on_the_threads_it_is_given(verifier):
    # A Ray eval actor holds one CPU: its verifier must not start a thread per core of the machine.
    import torch

    from factcheck.settings import Settings
    from factcheck.verifier import load_verifier

    before = torch.get_num_threads()
    try:
        capped = load_verifier(backend="onnx", onnx_cache_dir=Settings().onnx_cache_dir, threads=1)
        assert capped.runtime == "onnx-fp32"
        assert capped.model.session.get_session_options().intra_op_num_threads == 1
        premises, claims = [p for p, _ in PAIRS], [h for _, h in PAIRS]
        np.testing.assert_allclose(capped.score(premises, claims), verifier.score(premises, claims), atol=1e-4)
    finally:
        torch.set_num_threads(before)
