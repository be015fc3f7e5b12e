"""The test fakes every suite shares: real Judge classes with scripted answers (never mocks of our code)."""

from __future__ import annotations

import re
import threading
import time

from factcheck.chunk import split_sentences
from factcheck.embed import HashEmbedder
from factcheck.errors import ModelError
from factcheck.models import Citation, SearchHit, SourceStance, Verdict


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"\w+", text.lower().replace(",", "")) if len(w) > 2}


class FixedLabelJudge:
    """A judge that always answers one label (optionally with consistency findings) and counts its calls."""

    def __init__(
        self,
        label: str = "unverified",
        *,
        name: str = "fixed",
        version: str = "fixed-1",
        checks=(),
        confidence: float = 0.5,
    ) -> None:
        self.label, self.name, self.version = label, name, version
        self.checks, self.confidence = list(checks), confidence
        self.calls = 0
        self.claims: list[str] = []  # the text each call was asked to judge

    def judge(self, claim: str, hits: list[SearchHit]) -> Verdict:
        """The fixed label, uncited."""
        self.calls += 1
        self.claims.append(claim)
        return Verdict(
            claim=claim,
            label=self.label,
            confidence=self.confidence,
            judge=self.name,
            judge_version=self.version,
            checks=self.checks,
            explanation=f"fixed label {self.label}",
        )


class NumberMatchJudge:
    """A deterministic judge: cites each hit's best-overlapping sentence; 'supported' when the top
    citation contains every number in the claim. Claims starting with SLOW wait on `gate`; claims
    starting with FAIL raise ModelError; claims starting with BUG raise a plain RuntimeError."""

    name = "scripted"
    version = "test-1"

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.gate.set()
        self.calls = 0

    def judge(self, claim: str, hits: list[SearchHit]) -> Verdict:
        """Judge from hits with simple number matching."""
        self.calls += 1
        if claim.startswith("SLOW"):
            self.gate.wait(timeout=30)
        if claim.startswith("FAIL"):
            raise ModelError("scripted model failure", raw="<garbage>")
        if claim.startswith("BUG"):
            raise RuntimeError("scripted bug with secret internals")
        cw = _words(claim)
        citations = []
        for h in hits[:3]:
            p = h.passage
            spans = split_sentences(p.text)
            a, b = max(spans, key=lambda s: len(cw & _words(p.text[s[0] : s[1]])))
            citations.append(
                Citation(
                    article_id=h.article.id,
                    passage_id=p.id,
                    quote=p.text[a:b],
                    start=p.start + a,
                    end=p.start + b,
                    title=h.article.title,
                    source=h.article.source,
                    url=h.article.url,
                    published=h.article.published,
                    score=h.score,
                )
            )
        nums = [n.replace(",", "") for n in re.findall(r"\d[\d,]*\d|\d", claim)]
        top = citations[0].quote.replace(",", "") if citations else ""
        supported = bool(nums) and all(n in top for n in nums)
        label = "supported" if supported else "unverified"
        if supported:
            citations[0].stance = "supports"
        return Verdict(
            claim=claim,
            label=label,
            confidence=0.9 if supported else 0.4,
            citations=citations,
            sources=[SourceStance(article_id=c.article_id, stance=c.stance or "silent") for c in citations],
            explanation="scripted: numbers matched" if supported else "scripted: no matching numbers",
            judge=self.name,
            judge_version=self.version,
        )


class ScriptedJudge:
    """A real Judge that answers from a claim -> label script, cites the top hit's first sentence, and counts calls.

    A claim scripted as "raise" makes it throw, to exercise error recording.
    """

    name = "scripted"
    version = "test-1"

    def __init__(self, script: dict[str, str], confidence: float = 0.8, bad_offsets: bool = False):
        self.script = script
        self.confidence = confidence
        self.bad_offsets = bad_offsets
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def judge(self, claim: str, hits: list[SearchHit]) -> Verdict:
        with self._lock:
            self.calls.append(claim)
        label = self.script.get(claim, "unverified")
        if label == "raise":
            raise RuntimeError("scripted failure")
        citations = []
        if label != "unverified" and hits:
            p = hits[0].passage
            a, b = split_sentences(p.text)[0]
            start = p.start + a + (1 if self.bad_offsets else 0)
            citations.append(
                Citation(article_id=p.article_id, passage_id=p.id, quote=p.text[a:b], start=start, end=start + (b - a))
            )
        return Verdict(
            claim=claim,
            label=label,
            confidence=self.confidence,
            citations=citations,
            judge=self.name,
            judge_version=self.version,
            prompt_version="none",
            model="script",
        )


class SlowHashEmbedder(HashEmbedder):
    """The hashing embedder (same name, same vectors) taking `delay_s` per call: a build long enough to interrupt."""

    def __init__(self, delay_s: float = 0.2) -> None:
        super().__init__()
        self.delay_s = delay_s

    def embed(self, texts, *, batch_size: int = 64, progress: bool = False):
        time.sleep(self.delay_s)
        return super().embed(texts, batch_size=batch_size, progress=progress)
