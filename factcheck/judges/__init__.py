"""Judges: the `Judge` protocol and the registry that builds the configured one by name."""

from __future__ import annotations

from collections.abc import Callable

from ..settings import Settings
from .base import Judge


def _verifier_judge(settings: Settings) -> Judge:
    """The offline default judge: the distilled student first, v10 for the claims it leaves unclear."""
    from .verifier import Escalation, VerifierJudge, precision_floor

    # The student mimics the bundled v10: with another verifier configured it runs only if named too.
    if not settings.verifier_student or (settings.verifier_path and not settings.verifier_student_path):
        return VerifierJudge.from_settings(settings)
    from ..verifier.model import DEFAULT_MODEL_DIR, model_version
    from .cascade import CascadeJudge

    rule = Escalation(
        below=settings.verifier_student_escalate_below,
        unverified_below=settings.verifier_student_escalate_unverified_below,
    )
    last = model_version(settings.verifier_path or DEFAULT_MODEL_DIR)
    # v10 as the last stage publishes every verdict: the cascade applies the precision floors once, to either stage.
    return CascadeJudge(
        VerifierJudge.student_from_settings(settings),
        lambda: VerifierJudge.from_settings(settings.model_copy(update=NO_FLOOR)),
        rule,
        last,
        precision=precision_floor(settings),
    )


def _llm_judge(settings: Settings) -> Judge:
    """An LLM through litellm, falling back to (and assisted by) the verifier; with `llm_last_stage`, only for
    the claims the verifier leaves unclear."""
    from .llm import LLMJudge
    from .verifier import Escalation, VerifierJudge

    # The precision floors are fitted on the verifier's confidences: the LLM judge and its fallback publish as they read.
    verifier = VerifierJudge.from_settings(settings.model_copy(update=NO_FLOOR))
    if not settings.llm_last_stage:
        return LLMJudge(settings, fallback=verifier)
    from .cascade import CascadeJudge

    assert isinstance(verifier, VerifierJudge)
    rule = Escalation(below=settings.llm_escalate_below, unverified_below=settings.llm_escalate_unverified_below)
    return CascadeJudge(verifier, lambda: LLMJudge(settings, fallback=verifier), rule)


NO_FLOOR = {
    "precision_supported_below": 0.0,
    "precision_contradicted_below": 0.0,
    "precision_unbacked_contradicted_below": 0.0,
}

JUDGES: dict[str, Callable[[Settings], Judge]] = {
    "verifier": _verifier_judge,
    "llm": _llm_judge,
}


def judge_name(settings: Settings) -> str:
    """Resolve `auto`: the LLM judge when a model is configured, else the offline verifier."""
    if settings.judge == "auto":
        return "llm" if settings.llm_model else "verifier"
    return settings.judge


def make_judge(settings: Settings) -> Judge:
    """Build the configured judge from the registry."""
    return JUDGES[judge_name(settings)](settings)


__all__ = ["JUDGES", "Judge", "judge_name", "make_judge"]
