"""The shipped verifier model at run time: loading (torch or ONNX), the packed-weights reader, calibration."""

from .model import (
    CONTRADICT,
    DEFAULT_MODEL_DIR,
    DEFAULT_THRESHOLDS,
    ENTAIL,
    NEUTRAL,
    CalibratedScorer,
    Verifier,
    load_verifier,
    model_text,
    model_weights,
    resolve_precision,
)

__all__ = [
    "CONTRADICT",
    "CalibratedScorer",
    "DEFAULT_MODEL_DIR",
    "DEFAULT_THRESHOLDS",
    "ENTAIL",
    "NEUTRAL",
    "Verifier",
    "load_verifier",
    "model_text",
    "model_weights",
    "resolve_precision",
]
