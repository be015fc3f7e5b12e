"""The shipped verifier at run time: a claim/evidence cross-encoder loaded once per process."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
from pathlib import Path
from typing import Literal

import numpy as np

from ..errors import ModelError
from ..metrics import softmax
from ..settings import PACKAGE_DIR
from ..text import drop_thousands_separators
from . import packed

DEFAULT_MODEL_DIR = PACKAGE_DIR / "models" / "verifier-v10"
STUDENT_MODEL_DIR = PACKAGE_DIR / "models" / "verifier-v10s6"  # the cascade's first stage (see its card)
STUDENT_WEIGHTS = "student.safetensors"  # a student's own layers; the rest is its base model's (student.json)

ENTAIL, NEUTRAL, CONTRADICT = 0, 1, 2  # the model's label ids (config.json id2label)

DEFAULT_THRESHOLDS = {"entail": 0.6, "contradict": 0.6}
Precision = Literal["fp32", "bf16"]
BF16_FLAGS = ("amx_bf16", "avx512_bf16")  # CPU flags under which bf16 matrix products beat fp32
LENGTH_BATCH_CALL_TOKENS = 96  # see `length_batches`


def cpu_flags() -> set[str]:
    """The CPU's feature flags (Linux /proc/cpuinfo; empty elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def resolve_precision(setting: str) -> tuple[Precision, str]:
    """The arithmetic to run the verifier in, and why: bf16 only where the CPU multiplies bf16 natively."""
    if setting in ("fp32", "bf16"):
        return setting, "configured"  # type: ignore[return-value]
    forced = os.environ.get("FACTCHECK_FORCE_CPU_FLAGS")  # tests and benches: pretend to be another CPU
    flags = set(forced.split(",")) if forced is not None else cpu_flags()
    native = [f for f in BF16_FLAGS if f in flags]
    if native:
        return "bf16", f"auto: cpu has {native[0]}"
    return "fp32", "auto: no bf16 matrix unit (AVX2/AVX-512 without BF16)"


def model_text(text: str) -> str:
    """The text the cross-encoder reads: thousands separators dropped, so "2,500" and "2500" tokenize alike."""
    # WordPiece splits "2,500" into three tokens and "2500" into one; the model read the two as different numbers.
    return drop_thousands_separators(text)


class CalibratedScorer:
    """Logits of (evidence, claim) pairs to temperature-calibrated probabilities; subclasses supply the logits."""

    def __init__(
        self,
        *,
        name: str,
        version: str,
        temperature: float = 1.0,
        thresholds: dict | None = None,
        calibration: dict | None = None,
    ):
        self.name = name
        self.version = version
        self.temperature = temperature
        self.thresholds = {**DEFAULT_THRESHOLDS, **(thresholds or {})}
        self.calibration = calibration or {}

    def calibrated_like(self, other: CalibratedScorer) -> None:
        """Take `other`'s name, version, temperature and thresholds (a scorer that wraps it reads as it does)."""
        CalibratedScorer.__init__(
            self,
            name=other.name,
            version=other.version,
            temperature=other.temperature,
            thresholds=other.thresholds,
            calibration=other.calibration,
        )

    def logits(self, premises: list[str], hypotheses: list[str]) -> np.ndarray:
        """Raw logits (n, 3) [entail, neutral, contradict] for (evidence, claim) pairs."""
        raise NotImplementedError

    def claiming(self) -> contextlib.AbstractContextManager[None]:
        """Held while one claim is judged (a batching scorer waits for the pairs of claims in progress)."""
        return contextlib.nullcontext()

    def probs_from_logits(self, logits: np.ndarray) -> np.ndarray:
        """Temperature-calibrated probabilities."""
        return softmax(logits / self.temperature)

    def score(self, premises: list[str], hypotheses: list[str]) -> np.ndarray:
        """Calibrated probabilities (n, 3) [entail, neutral, contradict] of each (evidence, claim) pair."""
        return self.probs_from_logits(self.logits(premises, hypotheses))

    def score_pairs(self, claim: str, sentences: list[str]) -> np.ndarray:
        """Calibrated probabilities (n, 3) of each sentence towards one claim."""
        return self.score(list(sentences), [claim] * len(sentences))


class Verifier(CalibratedScorer):
    """Loads the shipped cross-encoder (fp16 or packed low-bit on disk, fp32 on CPU) and scores claim/sentence pairs.

    `precision="bf16"` runs the matrix products under torch's bfloat16 autocast (LayerNorm and softmax stay fp32):
    on CPUs with AMX or AVX512-BF16 that is several times faster with the same labels; elsewhere it is slower.
    `pack` stores those bf16 weights in oneDNN's blocked layout once (bf16.py) instead of on every call.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        batch_size: int = 32,
        max_length: int = 128,
        threads: int | None = None,
        precision: Precision = "fp32",
        pack: bool = True,
    ):
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.path = Path(path) if path else DEFAULT_MODEL_DIR
        weights = model_weights(self.path)
        if weights is None:
            raise ModelError(f"no verifier model at {self.path} (model.safetensors or {packed.WEIGHTS} missing)")
        if threads:
            torch.set_num_threads(threads)
        self._torch = torch
        # A student reads text exactly as its base model does: it has no tokenizer of its own.
        words = _student_base(self.path) if weights.name == STUDENT_WEIGHTS else self.path
        self.tokenizer = AutoTokenizer.from_pretrained(words, local_files_only=True)
        if weights.name == STUDENT_WEIGHTS:
            self.model = _student_model(self.path, weights)
        elif weights.name == packed.WEIGHTS:
            self.model = _packed_model(self.path, weights)
        else:
            self.model = AutoModelForSequenceClassification.from_pretrained(
                self.path, local_files_only=True, dtype=torch.float32
            ).eval()
        id2label = {int(k): v for k, v in self.model.config.id2label.items()}
        if id2label.get(ENTAIL) != "entailment" or id2label.get(CONTRADICT) != "contradiction":
            raise ModelError(f"unexpected verifier labels {id2label}")
        self.batch_size = batch_size
        self.max_length = max_length
        cal_path = self.path / "calibration.json"
        cal = json.loads(cal_path.read_bytes()) if cal_path.is_file() else {}
        super().__init__(
            name=self.path.name,
            version=model_version(self.path),
            temperature=float(cal.get("temperature", 1.0)),
            thresholds=cal.get("thresholds", {}),
            calibration=cal,
        )
        self.precision: Precision = precision
        self.packed = False  # bf16 weights packed once for oneDNN (see bf16.py)
        if precision == "bf16":
            # The matrices are stored in bf16 once: autocast would otherwise re-cast 85M weights on every call,
            # which costs more than scoring a few units. LayerNorms, embeddings and softmax stay fp32.
            from .bf16 import bf16_linears

            self.packed = bf16_linears(self.model, pack=pack)
        self._lock = threading.Lock()  # torch modules are not re-entrant across request threads

    @property
    def runtime(self) -> str:
        """How the network runs here: backend and arithmetic (e.g. "torch-bf16", "onnx-fp32")."""
        backend = "torch" if hasattr(self.model, "config") else "onnx"
        return f"{backend}-{self.precision}"

    def logits(self, premises: list[str], hypotheses: list[str]) -> np.ndarray:
        """Raw logits (n, 3) for (evidence, claim) pairs, in batches of similar token length."""
        n = len(premises)
        out = np.zeros((n, 3), dtype=np.float32)
        if n == 0:
            return out
        enc = self.tokenizer(
            [model_text(p) for p in premises],
            [model_text(h) for h in hypotheses],
            truncation="longest_first",
            max_length=self.max_length,
        )
        pad = {"input_ids": self.tokenizer.pad_token_id}  # every other input (attention mask, types) pads with 0
        autocast = (
            self._torch.autocast("cpu", dtype=self._torch.bfloat16)
            if self.precision == "bf16"
            else contextlib.nullcontext()
        )
        with self._lock, self._torch.inference_mode(), autocast:
            for idx in length_batches([len(ids) for ids in enc["input_ids"]], self.batch_size):
                width = max(len(enc["input_ids"][i]) for i in idx)
                batch = {
                    k: self._torch.tensor([enc[k][i] + [pad.get(k, 0)] * (width - len(enc[k][i])) for i in idx])
                    for k in enc.keys()
                }
                out[idx] = self.model(**batch).logits.float().numpy()
        return out


def length_batches(lengths: list[int], max_batch: int, call_tokens: int = LENGTH_BATCH_CALL_TOKENS) -> list[list[int]]:
    """Indices grouped by length: a longer item joins a group unless the padding it adds costs more than a call."""
    # Units of concurrent claims mix one-sentence units (~40 tokens) with pairs (~110): padded to one width,
    # a third of the matrix work of a merged batch went to padding. An extra forward pass costs about `call_tokens`
    # tokens' work (fixed per-layer costs), so a group is split only where padding would cost more.
    groups: list[list[int]] = []
    group: list[int] = []
    width = 0
    for i in sorted(range(len(lengths)), key=lengths.__getitem__):
        if group and (len(group) >= max_batch or len(group) * (lengths[i] - width) > call_tokens):
            groups.append(group)
            group = []
        group.append(i)
        width = lengths[i]
    if group:
        groups.append(group)
    return groups


def model_weights(folder: Path) -> Path | None:
    """The weights file of a verifier folder: fp16 `model.safetensors`, packed low-bit weights, or a student's own."""
    for name in ("model.safetensors", packed.WEIGHTS, STUDENT_WEIGHTS):
        if (folder / name).is_file():
            return folder / name
    return None


def _packed_model(folder: Path, weights: Path):
    """A classifier built from the folder's config with the packed weights dequantized into it (fp32)."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification

    config = AutoConfig.from_pretrained(folder, local_files_only=True)
    model = AutoModelForSequenceClassification.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(packed.load_state_dict(weights), strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise ModelError(
            f"packed weights in {weights} do not match its config: missing {missing[:3]}, unexpected {unexpected[:3]}"
        )
    return model.eval()  # built in fp32 (from_config's dtype); the dequantized weights are fp32 too


def model_version(folder: Path) -> str:
    """`NAME+<8 hex>` of a model folder's weights and calibration (and a student's base), read without loading it."""
    weights = model_weights(folder)
    if weights is None:
        raise ModelError(f"no verifier model at {folder}")
    with weights.open("rb") as f:
        digest = hashlib.file_digest(f, "sha256")
    cal_path = folder / "calibration.json"
    digest.update(cal_path.read_bytes() if cal_path.is_file() else b"")  # new thresholds change verdicts too
    if weights.name == STUDENT_WEIGHTS:  # a student's shared layers are its base model's
        digest.update(model_version(folder.parent / _student_spec(folder)["base"]).encode())
    return f"{folder.name}+{digest.hexdigest()[:8]}"


def _student_spec(folder: Path) -> dict:
    """A student folder's `student.json`: its base model's folder name, layers shared with it, its depth."""
    try:
        spec = json.loads((folder / "student.json").read_text())
        return {"base": str(spec["base"]), "shared_layers": int(spec["shared_layers"]), "layers": int(spec["layers"])}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"unreadable student.json in {folder}: {exc!r}") from exc


def _student_base(folder: Path) -> Path:
    """The packed base model folder beside a student (its shared layers, head config and tokenizer)."""
    base = folder.parent / _student_spec(folder)["base"]
    weights = model_weights(base)
    if weights is None or weights.name != packed.WEIGHTS:
        raise ModelError(f"student {folder} needs its packed base model {base.name} beside it")
    return base


def _student_model(folder: Path, weights: Path):
    """A student: its base model's embeddings and first layers, its own top layers and head (student.json)."""
    spec = _student_spec(folder)
    base = _student_base(folder)
    model = _packed_model(base, base / packed.WEIGHTS)
    model.mpnet.encoder.layer = model.mpnet.encoder.layer[: spec["layers"]]
    model.config.num_hidden_layers = spec["layers"]
    own = packed.load_state_dict(weights)
    # Its own part is exactly its top layers and head: nothing of the shared base is overwritten, nothing is left
    # at the base's values by a short file.
    expected = {
        k
        for k in model.state_dict()
        if k.startswith("classifier.")
        or any(k.startswith(f"mpnet.encoder.layer.{i}.") for i in range(spec["shared_layers"], spec["layers"]))
    }
    if set(own) != expected:
        odd = sorted(set(own) ^ expected)[:3]
        raise ModelError(
            f"student weights {weights} are not layers {spec['shared_layers'] + 1}-{spec['layers']} "
            f"and the head of {spec['base']} ({odd})"
        )
    model.load_state_dict(own, strict=False)
    return model.eval()


_SHARED: dict[tuple, Verifier] = {}

_SHARED_LOCK = threading.Lock()


def load_verifier(
    path: str | Path | None = None,
    *,
    backend: str = "torch",
    onnx_cache_dir: str | Path | None = None,
    precision: Precision = "fp32",
    threads: int | None = None,
    pack: bool = True,
) -> Verifier:
    """One Verifier per model folder, backend and precision per process (110M parameters take ~440 MB in fp32).

    `backend="onnx"` runs the same weights through onnxruntime (exported once into `onnx_cache_dir`);
    without onnxruntime or a writable cache it stays on torch, with a warning. bf16 runs on torch only.
    """
    folder = Path(path).resolve() if path else DEFAULT_MODEL_DIR
    if precision == "bf16":
        backend = "torch"  # onnxruntime's CPU kernels have no bf16 autocast
    cache = Path(onnx_cache_dir or ".cache/onnx").resolve() if backend == "onnx" else None
    key = (folder, backend, cache, precision, threads, pack)
    with _SHARED_LOCK:
        if key not in _SHARED:
            verifier = Verifier(folder, precision=precision, threads=threads, pack=pack)
            if cache is not None:
                try:
                    from .onnx import use_onnx

                    use_onnx(verifier, cache, threads)
                except (ImportError, OSError) as exc:
                    logging.getLogger(__name__).warning("ONNX verifier backend unavailable (%s); using torch", exc)
            _SHARED[key] = verifier
        return _SHARED[key]
