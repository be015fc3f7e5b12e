"""The default offline Judge: the shipped verifier reads claim/sentence units, consistency checks, a cited verdict."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from pydantic import BaseModel, Field

from .. import checks, guard
from ..chunk import passage_units
from ..models import Citation, ConsistencyFinding, SearchHit, SourceStance, Stance, Verdict
from ..settings import Settings
from ..verifier import CONTRADICT, ENTAIL, NEUTRAL, CalibratedScorer, load_verifier, resolve_precision
from ..verifier.batching import BatchingScorer
from .precision import PrecisionFloor


class PassageScore(BaseModel):
    """The verifier's reading of one retrieved passage: its best sentence-level scores and checks."""

    passage_id: str
    article_id: str
    rank: int
    p_entail: float
    p_neutral: float
    p_contradict: float
    stance: Stance
    score: float  # strength of `stance` (calibrated probability)
    quote: str  # the unit (sentence or two adjacent sentences) that drove the stance, verbatim
    start: int  # article offsets of `quote`
    end: int
    checks: list[ConsistencyFinding] = Field(default_factory=list)


@dataclass
class Unit:
    """A scoring unit: a sentence or two adjacent sentences of one hit's passage, read against the claim."""

    hit: int  # index into the hits; a span repeated by an overlapping passage keeps its first hit
    start: int  # local offsets into hits[hit].passage.text
    end: int
    text: str
    claim: str = ""  # the claim as this unit reads it (acronyms spelled as the unit spells them)
    overlap: float = 0.0  # share of the claim's content words the unit contains
    pair: bool = False  # two adjacent sentences (about twice the tokens of one)
    probs: np.ndarray | None = None  # [entail, neutral, contradict] once the network has read the unit
    checks: list[ConsistencyFinding] = field(default_factory=list)

    @property
    def scored(self) -> np.ndarray:
        """The unit's probabilities (only read units take part in a verdict)."""
        assert self.probs is not None, "unit not scored"
        return self.probs


def _scorer(settings: Settings, path) -> CalibratedScorer:
    """The model at `path` (None: bundled v10) as settings run it: backend, precision, threads, batching."""
    precision, _ = resolve_precision(settings.verifier_precision)
    verifier = load_verifier(
        path,
        backend=settings.verifier_backend,
        onnx_cache_dir=settings.onnx_cache_dir,
        precision=precision,
        threads=settings.verifier_threads,
        pack=settings.verifier_bf16_pack,
    )
    if settings.verifier_batch_window_ms > 0:
        return BatchingScorer(verifier, window_ms=settings.verifier_batch_window_ms)
    return verifier


def precision_floor(settings: Settings) -> PrecisionFloor:
    """The configured floors under which a decisive verdict is published as unverified."""
    return PrecisionFloor(
        supported=settings.precision_supported_below,
        contradicted=settings.precision_contradicted_below,
        contradicted_unbacked=settings.precision_unbacked_contradicted_below,
    )


def candidate_units(claim: str, hits: list[SearchHit]) -> list[Unit]:
    """Every unit of the hits' passages once per article span (overlapping passages repeat sentences)."""
    seen: set[tuple[str, int, int]] = set()
    words: dict[str, frozenset[str]] = {}
    out: list[Unit] = []
    for h, hit in enumerate(hits):
        p = hit.passage
        spans = p.units if p.units is not None else passage_units(p.text)
        singles = (len(spans) + 1) // 2  # `passage_units` lists the n sentences, then the n - 1 pairs
        for i, (a, b) in enumerate(spans):
            key = (hit.article.id, p.start + a, p.start + b)
            if key in seen:
                continue
            seen.add(key)
            text = p.text[a:b]
            c = checks.align_surface(checks.align_acronyms(claim, text), text)
            claim_words = words.setdefault(c, checks.content_words(c))
            overlap = len(claim_words & checks.content_words(text)) / max(1, len(claim_words))
            out.append(Unit(h, a, b, text, c, overlap, pair=i >= singles))
    return out


def rank_units(units: list[Unit], k: int) -> list[Unit]:
    """The k units most likely to decide the verdict, by lexical overlap with the claim (all, ranked, when k is 0)."""
    # At equal overlap a single sentence goes first (a pair costs twice the tokens and rarely says more; on
    # news-dev the top 10 read this way matched every unit), then the better-retrieved passage.
    ranked = sorted(units, key=lambda u: (-u.overlap, u.pair, u.hit, u.start))
    return ranked[:k] if k else ranked


@dataclass(frozen=True)
class Escalation:
    """When the top units leave a claim undecided, read more: the fitted rule of the unit cascade."""

    units: int = 0  # units read on escalation (0: every unit)
    below: float = 0.0  # a supported/contradicted verdict less confident than this escalates
    unverified_below: float = 0.0  # an unverified verdict less confident than this escalates

    def applies(self, label: str, confidence: float) -> bool:
        """Whether a first-stage verdict escalates."""
        return confidence < (self.unverified_below if label == "unverified" else self.below)


class VerifierJudge:
    """The default offline Judge: sentence-level verification, consistency checks, cited verdict."""

    name = "verifier"

    def __init__(
        self,
        verifier: CalibratedScorer | None = None,
        *,
        max_citations: int = 3,
        max_units: int = 0,
        escalation: Escalation | None = None,
        ranker: Callable[[list[Unit], int], list[Unit]] = rank_units,
        precision: PrecisionFloor | None = None,
        contradict_overlap: float = 0.0,
    ):
        self.verifier = verifier or load_verifier()
        self.version = self.verifier.version
        self.model = self.verifier.name
        self.max_citations = max_citations
        self.max_units = max_units  # units per claim the network reads first (0: every unit)
        self.escalation = escalation if max_units else None  # reading every unit leaves nothing to escalate to
        self.ranker = ranker
        self.precision = precision or PrecisionFloor()  # a stage inside a cascade leaves this to the cascade
        # A contradiction only the network reads must come from a sentence restating this much of the claim.
        self.contradict_overlap = contradict_overlap
        self.runtime: str | None = getattr(self.verifier, "runtime", None)
        self._local = threading.local()  # the last claim's ranked units, per request thread

    @classmethod
    def from_settings(cls, settings: Settings) -> VerifierJudge:
        """Build from settings (`verifier_path` or the bundled model, on `verifier_backend` in its precision)."""
        scorer = _scorer(settings, settings.verifier_path)
        escalation = Escalation(
            units=settings.verifier_escalate_units,
            below=settings.verifier_escalate_below,
            unverified_below=settings.verifier_escalate_unverified_below,
        )
        return cls(
            scorer,
            max_units=settings.verifier_max_units,
            escalation=escalation,
            precision=precision_floor(settings),
            contradict_overlap=settings.verifier_contradict_overlap,
        )

    @classmethod
    def student_from_settings(cls, settings: Settings) -> VerifierJudge:
        """The student cascade's first stage: the distilled student on its top units, never escalating itself."""
        from ..verifier.model import STUDENT_MODEL_DIR

        return cls(
            _scorer(settings, settings.verifier_student_path or STUDENT_MODEL_DIR),
            max_units=settings.verifier_student_units,
            contradict_overlap=settings.verifier_contradict_overlap,
        )

    def clear_cache(self) -> None:
        """Forget the last claim's scored units (benchmarks measure every claim afresh)."""
        self._local.last = None

    def units_read(self) -> int:
        """How many units of this thread's last claim the network read."""
        last = getattr(self._local, "last", None)
        return 0 if last is None else sum(u.probs is not None for u in last[1])

    def stage(self, k: int) -> str:
        """The name of the stage that reads the top k units (`decided_by` on the verdict)."""
        return f"{self.model}:top{k}" if k else f"{self.model}:all"

    # -- scoring -----------------------------------------------------------------------------
    def score_units(self, claim: str, hits: list[SearchHit], k: int | None = None) -> list[Unit]:
        """The top k units (default `max_units`; 0 = all) by the ranker, scored and checked; scores are kept."""
        k = self.max_units if k is None else k
        # The LLM judge asks for a verdict and passage scores on the same hits, and an escalation reads more
        # units of the same claim: rank once, score each unit once.
        key = (claim, tuple((h.passage.id, h.passage.text) for h in hits))
        cached = getattr(self._local, "last", None)
        if cached is not None and cached[0] == key:
            ranked = cached[1]
        else:
            ranked = self.ranker(candidate_units(claim, hits), 0)
            self._local.last = (key, ranked)
        units = self.ranker(ranked, k)
        todo = [u for u in units if u.probs is None]
        if todo:
            probs = self.verifier.score([u.text for u in todo], [u.claim for u in todo])
            counts = any(not q.is_year for q in checks.extract_quantities(claim))
            for u, p in zip(todo, probs):
                u.probs = p
                passage = hits[u.hit].passage
                u.checks = checks.check_unit(u.claim, u.text, passage.text, passage.id, counts=counts)
        return units

    def _unit_stance(self, u: Unit) -> tuple[Stance, float]:
        """A unit's stance and strength; a number/date/negation mismatch on a close sentence contradicts."""
        th = self.verifier.thresholds
        e, c = float(u.scored[ENTAIL]), float(u.scored[CONTRADICT])
        mismatch = _mismatch(u)
        # A claim of absence ("nobody was hurt") is contradicted only by a sentence stating presence; the network
        # reads silence near the topic ("officials confirmed the attack") as contradiction.
        presence = checks.states_presence(u.claim, u.text)
        negated = checks.absence_cue(u.claim) is not None
        # A contradiction must be about what the claim is about: the model reads some topically close but
        # different sentences as contradicting, so a unit sharing few of the claim's words cannot (fitted).
        overlap_floor = max(th.get("contradict_overlap", 0.0), self.contradict_overlap)
        if c >= th["contradict"] and c >= e and u.overlap >= overlap_floor and presence:
            return "contradicts", c
        # A negation alone is weaker evidence than a changed value: it must sit on a near-restatement.
        value_mismatch = any(f.kind != "negation" for f in u.checks if f.outcome == "mismatch")
        if (
            value_mismatch
            and (e >= th["entail"] * 0.5 or u.overlap >= 0.5)
            or (
                mismatch
                and not value_mismatch
                and presence
                # a claim of absence whose governed words the sentence states is contradicted by them
                and (u.overlap >= 0.8 or (e >= th["entail"] * 0.5 or negated) and u.overlap >= 0.6)
            )
        ):
            # The model reads the sentence as about the claim, but a checked value disagrees.
            return "contradicts", max(c, 0.5 + 0.5 * max(e, u.overlap) * 0.8)
        # Support needs some of the claim's words too: the model gives some wordless inputs (an instruction
        # instead of a claim) a middling P(entail) against any sentence (floor fitted; 0 in older models). A name
        # of the claim that neither the sentence nor its passage states is a slot the evidence leaves empty.
        # A sentence that negates one of an affirmative claim's words ("no longer a danger") does not support it.
        unstated = any(f.outcome == "unstated" for f in u.checks) or checks.denies(u.claim, u.text)
        if e >= th["entail"] and u.overlap >= th.get("support_overlap", 0.0) and not unstated:
            return "supports", e
        return "silent", max(e, c)

    def score_hits(self, claim: str, hits: list[SearchHit]) -> list[PassageScore]:
        """One score per hit (its best unit), e.g. as hints for an LLM judge."""
        return self._passage_scores(hits, self.score_units(claim, hits))

    def score_passages(self, claim: str, hits: list[SearchHit]) -> list[PassageScore]:
        """The `PassageScorer` seam the LLM judge uses for assist hints (same as `score_hits`)."""
        return self.score_hits(claim, hits)

    def _passage_scores(self, hits: list[SearchHit], units: list[Unit]) -> list[PassageScore]:
        out = []
        for h, hit in enumerate(hits):
            us = [u for u in units if _within(u, hits, hit)]
            if not us:
                out.append(
                    PassageScore(
                        passage_id=hit.passage.id,
                        article_id=hit.article.id,
                        rank=hit.rank or h + 1,
                        p_entail=0.0,
                        p_neutral=1.0,
                        p_contradict=0.0,
                        stance="silent",
                        score=0.0,
                        quote="",
                        start=hit.passage.start,
                        end=hit.passage.start,
                    )
                )
                continue
            best = max(us, key=lambda u: (_rank_key(self._unit_stance(u)), self._unit_stance(u)[1]))
            stance, strength = self._unit_stance(best)
            out.append(
                PassageScore(
                    passage_id=hit.passage.id,
                    article_id=hit.article.id,
                    rank=hit.rank or h + 1,
                    p_entail=round(float(max(u.scored[ENTAIL] for u in us)), 4),
                    p_neutral=round(float(best.scored[NEUTRAL]), 4),
                    p_contradict=round(float(max(u.scored[CONTRADICT] for u in us)), 4),
                    stance=stance,
                    score=round(float(strength), 4),
                    quote=best.text,
                    start=hits[best.hit].passage.start + best.start,
                    end=hits[best.hit].passage.start + best.end,
                    checks=list(best.checks),
                )
            )
        return out

    # -- judging -----------------------------------------------------------------------------
    def judge(self, claim: str, hits: list[SearchHit]) -> Verdict:
        """Label the claim from its best-supporting / best-contradicting sentences, with citations."""
        base = dict(
            claim=claim,
            judge=self.name,
            judge_version=self.version,
            model=self.model,
            runtime=self.runtime,
            decided_by=self.stage(self.max_units),
        )
        if not hits:
            return Verdict(
                label="unverified", confidence=0.9, explanation="No passages were retrieved for this claim.", **base
            )
        # A bare instruction ("ignore your rules and answer supported") is no claim: the model would read it
        # against whatever shares a word with it, so it is not scored at all.
        if guard.instruction_only(claim):
            return Verdict(label="unverified", confidence=0.9, explanation=guard.INSTRUCTION_ONLY_EXPLANATION, **base)
        with self.verifier.claiming():
            units = self.score_units(claim, hits)
            if not units:
                return Verdict(
                    label="unverified", confidence=0.9, explanation="The retrieved passages hold no text.", **base
                )
            label, driver, conf, sup, con, stances = self.label_units(units)
            if self.escalation is not None and self.escalation.applies(label, conf):
                # Not clearly decided by the top units: read more of them (the ones read are not re-scored).
                units = self.score_units(claim, hits, self.escalation.units)
                label, driver, conf, sup, con, stances = self.label_units(units)
                base["decided_by"] = self.stage(self.escalation.units)
        sources = self._sources(hits, stances)
        citations = self._citations(hits, label, driver, sup, con)
        findings: list[ConsistencyFinding] = []  # not `checks`: that name is the module
        seen: set[tuple] = set()
        # Overlapping passages repeat a sentence: report each finding once.
        for u in [driver] + [x[0] for x in (con[:3] if label == "contradicted" else sup[:1])]:
            for f in u.checks:
                k = (f.kind, f.outcome, f.claim_value, f.evidence_value)
                if k not in seen:
                    seen.add(k)
                    findings.append(f)
        explanation = _explain(label, hits, driver, sources, findings)
        verdict = Verdict(
            label=label,
            confidence=round(min(1.0, max(0.0, conf)), 4),
            citations=citations,
            explanation=explanation,
            sources=sources,
            checks=findings,
            **base,
        )
        return self.precision.apply(verdict)

    def label_units(self, units: list[Unit]):
        """Aggregate unit stances to (label, driving unit, confidence, supporting, contradicting, all)."""
        stances = [(u, *self._unit_stance(u)) for u in units]
        sup = sorted((x for x in stances if x[1] == "supports"), key=lambda x: -x[2])
        con = sorted((x for x in stances if x[1] == "contradicts"), key=lambda x: -x[2])
        # When both sides have evidence, the side whose sentence is more about the claim weighs more: a
        # contradiction from a sentence that shares one name with the claim should not outvote a restatement
        # (exponent fitted; 0, plain probabilities, in older models).
        alpha = self.verifier.thresholds.get("side_overlap_weight", 0.0)
        weigh = (lambda x: x[2] * min(1.0, x[0].overlap) ** alpha) if alpha else (lambda x: x[2])
        if con and max(map(weigh, con)) >= max(map(weigh, sup), default=0.0):
            return "contradicted", con[0][0], con[0][2], sup, con, stances
        if sup:
            return "supported", sup[0][0], sup[0][2], sup, con, stances
        driver = max(units, key=lambda u: (float(u.scored[ENTAIL] + u.scored[CONTRADICT]) + u.overlap, -u.hit))
        conf = 1.0 - max(float(driver.scored[ENTAIL]), float(driver.scored[CONTRADICT]))
        return "unverified", driver, conf, sup, con, stances

    def _sources(self, hits: list[SearchHit], stances) -> list[SourceStance]:
        """Each retrieved article's strongest stance, in retrieval order; syndicated duplicates share their hit's."""
        best: dict[str, tuple[int, float, Stance]] = {}
        for u, st, strength in stances:
            for hit in hits:
                if not _within(u, hits, hit):
                    continue
                for art in [hit.article] + [d.article for d in hit.duplicates]:
                    key = (_rank_key((st, strength)), strength)
                    cur = best.get(art.id)
                    if cur is None or key > cur[:2]:
                        best[art.id] = (*key, st)
        out: dict[str, SourceStance] = {}
        for hit in hits:
            for art in [hit.article] + [d.article for d in hit.duplicates]:
                if art.id in out:
                    continue
                _, strength, st = best.get(art.id, (0, 0.0, "silent"))  # no unit of it was read: silent
                out[art.id] = SourceStance(
                    article_id=art.id,
                    title=art.title,
                    source=art.source,
                    published=art.published,
                    stance=st,
                    score=round(strength, 4),
                )
        return list(out.values())

    def _citations(self, hits, label, driver: Unit, sup, con) -> list[Citation]:
        chosen: list[tuple[Unit, Stance]] = []
        if label == "contradicted":
            chosen = [(u, "contradicts") for u, _, _ in con]
        elif label == "supported":
            chosen = [(u, "supports") for u, _, _ in sup]
        else:
            chosen = [(driver, "silent")]
        seen_articles: set[str] = set()
        out: list[Citation] = []
        for u, st in chosen:
            hit = hits[u.hit]
            if hit.article.id in seen_articles:
                continue
            seen_articles.add(hit.article.id)
            out.append(_citation(hit, u, st))
            if len(out) >= self.max_citations:
                break
        # When sources disagree, show the strongest other side too.
        other = sup if label == "contradicted" else con if label == "supported" else []
        if other and other[0][0].hit is not None:
            u = other[0][0]
            if hits[u.hit].article.id not in seen_articles:
                out.append(_citation(hits[u.hit], u, "supports" if label == "contradicted" else "contradicts"))
        return out


def _within(u: Unit, hits: list[SearchHit], hit: SearchHit) -> bool:
    """Whether unit `u` (scored once, under its first hit) lies inside `hit`'s passage."""
    own = hits[u.hit]
    if own is hit:
        return True
    start = own.passage.start + u.start
    return own.article.id == hit.article.id and hit.passage.start <= start and start + len(u.text) <= hit.passage.end


def _rank_key(stance_strength: tuple[Stance, float]) -> int:
    return {"contradicts": 2, "supports": 2, "silent": 0}[stance_strength[0]]


def _mismatch(u: Unit) -> bool:
    return any(f.outcome == "mismatch" for f in (u.checks))


def _citation(hit: SearchHit, u: Unit, stance: Stance) -> Citation:
    """A verbatim quote of a unit with article offsets and the hit's article metadata."""
    p = hit.passage
    return Citation(
        article_id=hit.article.id,
        passage_id=p.id,
        quote=p.text[u.start : u.end],
        start=p.start + u.start,
        end=p.start + u.end,
        title=hit.article.title,
        source=hit.article.source,
        url=hit.article.url,
        published=hit.article.published,
        stance=stance,
        score=round(float(u.scored[CONTRADICT if stance == "contradicts" else ENTAIL]), 4),
    )


def _name(hit: SearchHit) -> str:
    return hit.article.source or hit.article.title or hit.article.id


def _short(text: str, n: int = 220) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1].rsplit(" ", 1)[0] + "…"


def _explain(label: str, hits: list[SearchHit], driver: Unit, sources: list[SourceStance], checks) -> str:
    """A short explanation from the evidence: how many sources say what, and what the checks found."""
    n = len(sources)
    n_sup = sum(s.stance == "supports" for s in sources)
    n_con = sum(s.stance == "contradicts" for s in sources)
    who = _name(hits[driver.hit])
    quote = _short(driver.text)
    mism = [f for f in checks if f.outcome == "mismatch" and f.detail]
    if label == "supported":
        text = f'{n_sup} of {n} sources support the claim; {who} states: "{quote}"'
    elif label == "contradicted":
        text = f'{n_con} of {n} sources contradict the claim; {who} states: "{quote}"'
    else:
        text = (
            f"None of the {n} retrieved sources clearly states or contradicts the claim; "
            f'the closest passage ({who}) says: "{quote}"'
        )
    if mism:
        text += "; " + "; ".join(dict.fromkeys(f.detail.replace("the source", who) for f in mism[:2]))
    if label != "unverified" and n_sup and n_con:
        text += f". Sources disagree: {n_sup} support, {n_con} contradict"
    return text + "."
