"""The one definition of each metric used by evals, bench, loadtest and the lab (a leaf module)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from .models import LABELS

ECE_BINS = 10


def accuracy(gold: Sequence[str], pred: Sequence[str]) -> float | None:
    """Share of exact matches; None on an empty list."""
    if not gold:
        return None
    return sum(g == p for g, p in zip(gold, pred, strict=True)) / len(gold)


def confusion_matrix(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str] = LABELS) -> list[list[int]]:
    """Counts with rows = gold label, columns = predicted label, in `labels` order."""
    pos = {label: i for i, label in enumerate(labels)}
    m = [[0] * len(labels) for _ in labels]
    for g, p in zip(gold, pred, strict=True):
        m[pos[g]][pos[p]] += 1
    return m


def per_label_scores(matrix: list[list[int]], labels: Sequence[str] = LABELS) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support per label from a confusion matrix (0.0 where undefined)."""
    out = {}
    for i, label in enumerate(labels):
        tp = matrix[i][i]
        predicted = sum(row[i] for row in matrix)
        support = sum(matrix[i])
        p = tp / predicted if predicted else 0.0
        r = tp / support if support else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        out[label] = {"precision": p, "recall": r, "f1": f, "support": support, "predicted": predicted}
    return out


def macro_f1(matrix: list[list[int]], labels: Sequence[str] = LABELS) -> float | None:
    """Mean F1 over the labels that occur in gold or predictions (as scikit-learn does by default)."""
    scores = per_label_scores(matrix, labels)
    present = [s["f1"] for s in scores.values() if s["support"] or s["predicted"]]
    return sum(present) / len(present) if present else None


def ece(confidences: Sequence[float], correct: Sequence[bool], n_bins: int = ECE_BINS) -> float | None:
    """Expected calibration error: sum over equal-width bins of (bin share) * |accuracy - mean confidence|."""
    if not confidences:
        return None
    total = len(confidences)
    return sum(
        b["n"] / total * abs(b["accuracy"] - b["confidence"]) for b in reliability_bins(confidences, correct, n_bins)
    )


def reliability_bins(confidences: Sequence[float], correct: Sequence[bool], n_bins: int = ECE_BINS) -> list[dict]:
    """Non-empty equal-width confidence bins [i/n, (i+1)/n) (the last closed) with count, accuracy, mean confidence."""
    bins: dict[int, list[tuple[float, bool]]] = {}
    for c, ok in zip(confidences, correct, strict=True):
        i = min(int(c * n_bins), n_bins - 1)
        bins.setdefault(i, []).append((c, bool(ok)))
    out = []
    for i in sorted(bins):
        items = bins[i]
        out.append(
            {
                "lo": i / n_bins,
                "hi": (i + 1) / n_bins,
                "n": len(items),
                "accuracy": sum(ok for _, ok in items) / len(items),
                "confidence": sum(c for c, _ in items) / len(items),
            }
        )
    return out


def evidence_recall_at_k(
    gold: Sequence[Iterable[str]], retrieved: Sequence[Sequence[str]], k: int | None = None
) -> dict:
    """Share of cases with gold evidence where a gold article is among the first k retrieved (all when k is None)."""
    hits = n = 0
    for g, r in zip(gold, retrieved, strict=True):
        g = set(g)
        if not g:
            continue
        n += 1
        hits += bool(g & set(r[:k] if k else r))
    return {"value": hits / n if n else None, "n": n, "hits": hits}


def citation_precision(gold: Sequence[Iterable[str]], cited: Sequence[Iterable[str]]) -> dict:
    """Cited articles that are gold over all cited articles, pooled over cases (distinct articles per case)."""
    good = total = cases = 0
    for g, c in zip(gold, cited, strict=True):
        c = set(c)
        if not c:
            continue
        cases += 1
        total += len(c)
        good += len(c & set(g))
    return {"value": good / total if total else None, "n_citations": total, "n_cases": cases}


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) with linear interpolation between ranks (numpy's default)."""
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def paired_bootstrap_macro_f1(
    gold: Sequence[str], pred_a: Sequence[str], pred_b: Sequence[str], resamples: int = 2000, seed: int = 0
) -> dict | None:
    """Macro-F1 of B minus A on the same claims, with a 95 % paired bootstrap interval (claims resampled)."""
    n = len(gold)
    if n == 0 or resamples < 1:
        return None
    rng = np.random.default_rng(seed)
    idx = np.arange(n)

    def delta(ix) -> float:
        g = [gold[i] for i in ix]
        return (macro_f1(confusion_matrix(g, [pred_b[i] for i in ix])) or 0.0) - (
            macro_f1(confusion_matrix(g, [pred_a[i] for i in ix])) or 0.0
        )

    draws = [delta(rng.integers(0, n, n)) for _ in range(resamples)]
    lo, hi = np.percentile(draws, [2.5, 97.5])
    return {"delta": delta(idx), "ci95": [float(lo), float(hi)], "n": n, "resamples": resamples}


def cohen_kappa(a: Sequence[str], b: Sequence[str], labels: Sequence[str] = LABELS) -> float | None:
    """Agreement beyond chance between two labelings of the same items; None when undefined."""
    m = confusion_matrix(a, b, labels)
    n = sum(map(sum, m))
    if not n:
        return None
    po = sum(m[i][i] for i in range(len(labels))) / n
    pe = sum(sum(m[i]) * sum(row[i] for row in m) for i in range(len(labels))) / n / n
    return None if pe == 1 else (po - pe) / (1 - pe)


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax of an (n, k) array of logits."""
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


def ann_recall_at_10(found: np.ndarray, truth: np.ndarray, k: int = 10) -> float:
    """ANN recall@k: the mean share of each query's exact top-k neighbours that the approximate search returned."""
    hits = [len(set(f[:k].tolist()) & set(t[:k].tolist())) / k for f, t in zip(found, truth)]
    return float(np.mean(hits))


RISK_THRESHOLDS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def risk_coverage(
    gold: Sequence[str], pred: Sequence[str], conf: Sequence[float], thresholds: Sequence[float] = RISK_THRESHOLDS
) -> list[dict]:
    """Per confidence floor: the share of claims still given a decisive verdict (coverage), how many of those are
    wrong (risk), and each decisive label's precision, as if verdicts below the floor were withheld."""
    rows = []
    n = len(gold)
    for t in thresholds:
        kept = [(g, p) for g, p, c in zip(gold, pred, conf) if p in ("supported", "contradicted") and c >= t]
        row: dict = {
            "floor": t,
            "coverage": len(kept) / n if n else None,
            "risk": sum(g != p for g, p in kept) / len(kept) if kept else None,
            "decisive": len(kept),
        }
        for label in ("supported", "contradicted"):
            made = [g for g, p in kept if p == label]
            row[f"precision_{label}"] = sum(g == label for g in made) / len(made) if made else None
        rows.append(row)
    return rows
