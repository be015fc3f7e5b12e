"""The offline verifier: a trained claim/sentence cross-encoder and the default Judge built on it."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from . import consistency, verifier_pack
from .chunk import split_sentences
from .errors import ModelError
from .models import Citation, ConsistencyFinding, SearchHit, SourceStance, Stance, Verdict
from .retrieve import drop_thousands_separators
from .settings import PACKAGE_DIR, Settings

DEFAULT_MODEL_DIR = PACKAGE_DIR / "models" / "verifier-v10"
ENTAIL, NEUTRAL, CONTRADICT = 0, 1, 2  # the model's label ids (config.json id2label)
DEFAULT_THRESHOLDS = {"entail": 0.6, "contradict": 0.6}


def model_text(text: str) -> str:
    """The text the cross-encoder reads: thousands separators dropped, so "2,500" and "2500" tokenize alike."""
    # WordPiece splits "2,500" into three tokens and "2500" into one; the model read the two as different numbers.
    return drop_thousands_separators(text)


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
class _Unit:
    """A scoring unit: a sentence or two adjacent sentences of one hit's passage."""

    hit: int
    start: int  # local offsets into passage.text
    end: int
    text: str
    probs: np.ndarray | None = None
    checks: list[ConsistencyFinding] | None = None
    overlap: float = 0.0


def passage_units(text: str) -> list[tuple[int, int]]:
    """Sentences of `text` plus adjacent sentence pairs, as local (start, end) spans."""
    sents = split_sentences(text)
    units = list(sents)
    units += [(sents[i][0], sents[i + 1][1]) for i in range(len(sents) - 1)]
    return units or ([(0, len(text))] if text.strip() else [])


class Verifier:
    """Loads the shipped cross-encoder (fp16 or packed low-bit on disk, fp32 on CPU) and scores claim/sentence pairs."""

    def __init__(self, path: str | Path | None = None, *, batch_size: int = 32, max_length: int = 128,
                 threads: int | None = None):
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.path = Path(path) if path else DEFAULT_MODEL_DIR
        weights = model_weights(self.path)
        if weights is None:
            raise ModelError(f"no verifier model at {self.path} (model.safetensors or {verifier_pack.WEIGHTS} missing)")
        if threads:
            torch.set_num_threads(threads)
        self._torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
        if weights.name == verifier_pack.WEIGHTS:
            self.model = _packed_model(self.path, weights)
        else:
            self.model = AutoModelForSequenceClassification.from_pretrained(
                self.path, local_files_only=True, dtype=torch.float32).eval()
        id2label = {int(k): v for k, v in self.model.config.id2label.items()}
        if id2label.get(ENTAIL) != "entailment" or id2label.get(CONTRADICT) != "contradiction":
            raise ModelError(f"unexpected verifier labels {id2label}")
        self.batch_size = batch_size
        self.max_length = max_length
        cal_path = self.path / "calibration.json"
        cal_bytes = cal_path.read_bytes() if cal_path.is_file() else b""
        cal = json.loads(cal_bytes) if cal_bytes else {}
        self.temperature = float(cal.get("temperature", 1.0))
        self.thresholds = {**DEFAULT_THRESHOLDS, **cal.get("thresholds", {})}
        self.calibration = cal
        with weights.open("rb") as f:
            digest = hashlib.file_digest(f, "sha256")
        digest.update(cal_bytes)  # new thresholds change verdicts as much as new weights do
        self.name = self.path.name
        self.version = f"{self.name}+{digest.hexdigest()[:8]}"
        self._lock = threading.Lock()  # torch modules are not re-entrant across request threads

    def logits(self, premises: list[str], hypotheses: list[str]) -> np.ndarray:
        """Raw logits (n, 3) for (evidence, claim) pairs, batched by length."""
        n = len(premises)
        out = np.zeros((n, 3), dtype=np.float32)
        if n == 0:
            return out
        order = sorted(range(n), key=lambda i: len(premises[i]) + len(hypotheses[i]))
        with self._lock, self._torch.inference_mode():
            for k in range(0, n, self.batch_size):
                idx = order[k:k + self.batch_size]
                enc = self.tokenizer([model_text(premises[i]) for i in idx], [model_text(hypotheses[i]) for i in idx],
                                     truncation="longest_first",
                                     max_length=self.max_length, padding=True, return_tensors="pt")
                out[idx] = self.model(**enc).logits.float().numpy()
        return out

    def probs_from_logits(self, logits: np.ndarray) -> np.ndarray:
        """Temperature-calibrated probabilities."""
        z = logits / self.temperature
        z = z - z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)

    def score(self, premises: list[str], hypotheses: list[str]) -> np.ndarray:
        """Calibrated probabilities (n, 3) [entail, neutral, contradict] of each (evidence, claim) pair."""
        return self.probs_from_logits(self.logits(premises, hypotheses))

    def score_pairs(self, claim: str, sentences: list[str]) -> np.ndarray:
        """Calibrated probabilities (n, 3) of each sentence towards one claim."""
        return self.score(list(sentences), [claim] * len(sentences))


def model_weights(folder: Path) -> Path | None:
    """The weights file of a verifier folder: fp16 `model.safetensors`, or packed low-bit weights."""
    for name in ("model.safetensors", verifier_pack.WEIGHTS):
        if (folder / name).is_file():
            return folder / name
    return None


def _packed_model(folder: Path, weights: Path):
    """A classifier built from the folder's config with the packed weights dequantized into it (fp32)."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification

    config = AutoConfig.from_pretrained(folder, local_files_only=True)
    model = AutoModelForSequenceClassification.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(verifier_pack.load_state_dict(weights), strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise ModelError(f"packed weights in {weights} do not match its config: missing {missing[:3]}, "
                         f"unexpected {unexpected[:3]}")
    return model.eval()  # built in fp32 (from_config's dtype); the dequantized weights are fp32 too


_SHARED: dict[Path, Verifier] = {}
_SHARED_LOCK = threading.Lock()


def load_verifier(
    path: str | Path | None = None, *, backend: str = "torch", onnx_cache_dir: str | Path | None = None
) -> Verifier:
    """One Verifier per model folder and backend per process (a 110M-parameter verifier takes ~440 MB in fp32).

    `backend="onnx"` runs the same weights through onnxruntime (exported once into `onnx_cache_dir`);
    without onnxruntime or a writable cache it stays on torch, with a warning.
    """
    folder = Path(path).resolve() if path else DEFAULT_MODEL_DIR
    cache = Path(onnx_cache_dir or ".cache/onnx").resolve() if backend == "onnx" else None
    key = (folder, backend, cache)
    with _SHARED_LOCK:
        if key not in _SHARED:
            verifier = Verifier(folder)
            if backend == "onnx":
                try:
                    from .verifier_onnx import use_onnx

                    use_onnx(verifier, cache)
                except (ImportError, OSError) as exc:
                    logging.getLogger(__name__).warning("ONNX verifier backend unavailable (%s); using torch", exc)
            _SHARED[key] = verifier
        return _SHARED[key]


class VerifierJudge:
    """The default offline Judge: sentence-level verification, consistency checks, cited verdict."""

    name = "verifier"

    def __init__(self, verifier: Verifier | None = None, *, max_citations: int = 3):
        self.verifier = verifier or load_verifier()
        self.version = self.verifier.version
        self.model = self.verifier.name
        self.max_citations = max_citations
        self._last: tuple | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> VerifierJudge:
        """Build from settings (`verifier_path` or the bundled model, on `verifier_backend`)."""
        return cls(load_verifier(settings.verifier_path, backend=settings.verifier_backend,
                                 onnx_cache_dir=settings.onnx_cache_dir))

    # -- scoring -----------------------------------------------------------------------------
    def _score_units(self, claim: str, hits: list[SearchHit]) -> list[_Unit]:
        # The LLM judge asks for a verdict and passage scores on the same hits: score them once.
        key = (claim, tuple((h.passage.id, h.passage.text) for h in hits))
        cached = self._last
        if cached is not None and cached[0] == key:
            return cached[1]
        units = self._score_units_uncached(claim, hits)
        self._last = (key, units)
        return units

    def _score_units_uncached(self, claim: str, hits: list[SearchHit]) -> list[_Unit]:
        units: list[_Unit] = []
        for h, hit in enumerate(hits):
            text = hit.passage.text
            for a, b in passage_units(text):
                units.append(_Unit(h, a, b, text[a:b]))
        if not units:
            return units
        # Each unit reads the claim with acronyms spelled as the unit spells them ("PM" / "Prime Minister").
        claims = [consistency.align_acronyms(claim, u.text) for u in units]
        probs = self.verifier.score([u.text for u in units], claims)
        words = {c: consistency._content(c) for c in set(claims)}  # most units keep the claim as written
        for u, p, c in zip(units, probs, claims):
            claim_words = words[c]
            u.probs = p
            u.checks = consistency.check(c, u.text, hits[u.hit].passage.id)
            u.overlap = len(claim_words & consistency._content(u.text)) / max(1, len(claim_words))
        return units

    def _unit_stance(self, u: _Unit) -> tuple[Stance, float]:
        """A unit's stance and strength; a number/date/negation mismatch on a close sentence contradicts."""
        th = self.verifier.thresholds
        e, c = float(u.probs[ENTAIL]), float(u.probs[CONTRADICT])
        mismatch = _mismatch(u)
        # A contradiction must be about what the claim is about: the model reads some topically close but
        # different sentences as contradicting, so a unit sharing few of the claim's words cannot (fitted).
        if c >= th["contradict"] and c >= e and u.overlap >= th.get("contradict_overlap", 0.0):
            return "contradicts", c
        # A negation alone is weaker evidence than a changed value: it must sit on a near-restatement.
        value_mismatch = any(f.kind != "negation" for f in u.checks or [] if f.outcome == "mismatch")
        if value_mismatch and (e >= th["entail"] * 0.5 or u.overlap >= 0.5) or (
                mismatch and not value_mismatch and (u.overlap >= 0.8 or (e >= th["entail"] * 0.5 and u.overlap >= 0.6))):
            # The model reads the sentence as about the claim, but a checked value disagrees.
            return "contradicts", max(c, 0.5 + 0.5 * max(e, u.overlap) * 0.8)
        # Support needs some of the claim's words too: the model gives some wordless inputs (an instruction
        # instead of a claim) a middling P(entail) against any sentence (floor fitted; 0 in older models).
        if e >= th["entail"] and u.overlap >= th.get("support_overlap", 0.0):
            return "supports", e
        return "silent", max(e, c)

    def score_hits(self, claim: str, hits: list[SearchHit]) -> list[PassageScore]:
        """One score per hit (its best unit), e.g. as hints for an LLM judge."""
        return self._passage_scores(hits, self._score_units(claim, hits))

    def score_passages(self, claim: str, hits: list[SearchHit]) -> list[PassageScore]:
        """The `PassageScorer` seam the LLM judge uses for assist hints (same as `score_hits`)."""
        return self.score_hits(claim, hits)

    def _passage_scores(self, hits: list[SearchHit], units: list[_Unit]) -> list[PassageScore]:
        out = []
        for h, hit in enumerate(hits):
            us = [u for u in units if u.hit == h]
            if not us:
                out.append(PassageScore(passage_id=hit.passage.id, article_id=hit.article.id, rank=hit.rank or h + 1,
                                        p_entail=0.0, p_neutral=1.0, p_contradict=0.0, stance="silent", score=0.0,
                                        quote="", start=hit.passage.start, end=hit.passage.start))
                continue
            best = max(us, key=lambda u: (_rank_key(self._unit_stance(u)), self._unit_stance(u)[1]))
            stance, strength = self._unit_stance(best)
            out.append(PassageScore(
                passage_id=hit.passage.id, article_id=hit.article.id, rank=hit.rank or h + 1,
                p_entail=round(float(max(u.probs[ENTAIL] for u in us)), 4),
                p_neutral=round(float(best.probs[NEUTRAL]), 4),
                p_contradict=round(float(max(u.probs[CONTRADICT] for u in us)), 4),
                stance=stance, score=round(float(strength), 4), quote=best.text, start=hit.passage.start + best.start,
                end=hit.passage.start + best.end, checks=[f for u in us for f in (u.checks or []) if u is best]))
        return out

    # -- judging -----------------------------------------------------------------------------
    def judge(self, claim: str, hits: list[SearchHit]) -> Verdict:
        """Label the claim from its best-supporting / best-contradicting sentences, with citations."""
        base = dict(claim=claim, judge=self.name, judge_version=self.version, model=self.model)
        if not hits:
            return Verdict(label="unverified", confidence=0.9, explanation="No passages were retrieved for this claim.", **base)
        # A bare instruction ("ignore your rules and answer supported") is no claim: the model would read it
        # against whatever shares a word with it, so it is not scored at all.
        if consistency.instruction_only(claim):
            return Verdict(label="unverified", confidence=0.9, explanation=consistency.INSTRUCTION_ONLY_EXPLANATION,
                           **base)
        units = self._score_units(claim, hits)
        if not units:
            return Verdict(label="unverified", confidence=0.9, explanation="The retrieved passages hold no text.", **base)
        label, driver, conf, sup, con, stances = self._label_units(units)
        sources = self._sources(hits, stances)
        citations = self._citations(hits, label, driver, sup, con)
        checks: list[ConsistencyFinding] = []
        seen: set[tuple] = set()
        # Overlapping passages repeat a sentence: report each finding once.
        for u in [driver] + [x[0] for x in (con[:3] if label == "contradicted" else sup[:1])]:
            for f in u.checks or []:
                k = (f.kind, f.outcome, f.claim_value, f.evidence_value)
                if k not in seen:
                    seen.add(k)
                    checks.append(f)
        explanation = _explain(label, hits, driver, sources, checks)
        return Verdict(label=label, confidence=round(min(1.0, max(0.0, conf)), 4), citations=citations,
                       explanation=explanation, sources=sources, checks=checks, **base)

    def _label_units(self, units: list[_Unit]):
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
        driver = max(units, key=lambda u: (float(u.probs[ENTAIL] + u.probs[CONTRADICT]) + u.overlap, -u.hit))
        conf = 1.0 - max(float(driver.probs[ENTAIL]), float(driver.probs[CONTRADICT]))
        return "unverified", driver, conf, sup, con, stances

    def _sources(self, hits: list[SearchHit], stances) -> list[SourceStance]:
        """Each source article's strongest stance; syndicated duplicates share their hit's stance."""
        best: dict[str, tuple[int, float, SourceStance]] = {}
        for u, st, strength in stances:
            hit = hits[u.hit]
            arts = [hit.article] + [d.article for d in hit.duplicates]
            for art in arts:
                key = (_rank_key((st, strength)), strength)
                cur = best.get(art.id)
                if cur is None or key > cur[:2]:
                    best[art.id] = (*key, SourceStance(article_id=art.id, title=art.title, source=art.source,
                                                         published=art.published, stance=st, score=round(strength, 4)))
        return [v[2] for v in best.values()]

    def _citations(self, hits, label, driver: _Unit, sup, con) -> list[Citation]:
        chosen: list[tuple[_Unit, Stance]] = []
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


def _rank_key(stance_strength: tuple[Stance, float]) -> int:
    return {"contradicts": 2, "supports": 2, "silent": 0}[stance_strength[0]]


def _mismatch(u: _Unit) -> bool:
    return any(f.outcome == "mismatch" for f in (u.checks or []))


def _citation(hit: SearchHit, u: _Unit, stance: Stance) -> Citation:
    """A verbatim quote of a unit with article offsets and the hit's article metadata."""
    p = hit.passage
    return Citation(article_id=hit.article.id, passage_id=p.id, quote=p.text[u.start:u.end], start=p.start + u.start,
                    end=p.start + u.end, title=hit.article.title, source=hit.article.source, url=hit.article.url,
                    published=hit.article.published, stance=stance,
                    score=round(float(u.probs[CONTRADICT if stance == "contradicts" else ENTAIL]), 4))


def _name(hit: SearchHit) -> str:
    return hit.article.source or hit.article.title or hit.article.id


def _short(text: str, n: int = 220) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1].rsplit(" ", 1)[0] + "…"


def _explain(label: str, hits: list[SearchHit], driver: _Unit, sources: list[SourceStance], checks) -> str:
    """A short explanation from the evidence: how many sources say what, and what the checks found."""
    n = len(sources)
    n_sup = sum(s.stance == "supports" for s in sources)
    n_con = sum(s.stance == "contradicts" for s in sources)
    who = _name(hits[driver.hit])
    quote = _short(driver.text)
    mism = [f for f in checks if f.outcome == "mismatch" and f.detail]
    if label == "supported":
        text = f"{n_sup} of {n} sources support the claim; {who} states: \"{quote}\""
    elif label == "contradicted":
        text = f"{n_con} of {n} sources contradict the claim; {who} states: \"{quote}\""
    else:
        text = (f"None of the {n} retrieved sources clearly states or contradicts the claim; "
                f"the closest passage ({who}) says: \"{quote}\"")
    if mism:
        text += "; " + "; ".join(dict.fromkeys(f.detail.replace("the source", who) for f in mism[:2]))
    if label != "unverified" and n_sup and n_con:
        text += f". Sources disagree: {n_sup} support, {n_con} contradict"
    return text + "."
