"""Reads the packed verifier format: low-bit groups with 8-bit scale codes, dequantized to fp32 at load."""

# Why: the fine-tuned all-mpnet-base-v2 verifier has 110M parameters (219 MB in fp16, 110 MB in int8) and the
# shipped weights must stay near 50 MB, so its matrices are stored at 4 or 3 bits: nearest "normal float" level
# (or evenly spaced integer level), one scale per group of 64 weights, the scale itself an 8-bit code against its
# row's largest. Loading rebuilds fp32 weights; compute is unchanged, only the file is small. The file is plain
# safetensors: uint8 code streams and scale codes, fp16 row scales and small tensors, and a JSON spec in the
# header's metadata. The writer is lab/verifier/pack.py.

from __future__ import annotations

import json
from pathlib import Path
from statistics import NormalDist

import numpy as np

from ..errors import ModelError

FORMAT = "factcheck-qpack-1"

WEIGHTS = "model-packed.safetensors"

PARTS = ("q", "scale", "row")  # what `quantize` returns for one matrix, stored as KEY.q, KEY.scale, KEY.row


def unpack_bits(buf: np.ndarray, bits: int, n: int) -> np.ndarray:
    """Inverse of `pack_bits`: the first n codes."""
    # Shifts on whole bytes (3-bit codes: on 24-bit words) instead of bit planes: loading stays ~1 s for 110M codes.
    if bits == 3:
        b = np.pad(buf, (0, -len(buf) % 3)).reshape(-1, 3).astype(np.uint32)
        words = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        codes = (words[:, None] >> (3 * np.arange(8, dtype=np.uint32))) & 7
    else:
        codes = (buf[:, None] >> (bits * np.arange(8 // bits, dtype=np.uint8))) & (2**bits - 1)
    return codes.astype(np.uint8).reshape(-1)[:n]


def nf_levels(bits: int) -> np.ndarray:
    """The 2**bits "normal float" levels in [-1, 1]: quantiles of a normal, one side a level longer, and zero."""
    # QLoRA's NF4 construction: trained weights are close to normal within a group, so equal-probability levels
    # waste fewer codes on the tails than evenly spaced ones do.
    nd, offset = NormalDist(), 0.9677083
    half = 2 ** (bits - 1)
    pos = [nd.inv_cdf(offset + (0.5 - offset) * i / half) for i in range(half)]
    neg = [-nd.inv_cdf(offset + (0.5 - offset) * i / (half - 1)) for i in range(half - 1)]
    v = np.array(sorted(pos + neg + [0.0]), dtype=np.float64)
    return (v / np.abs(v).max()).astype(np.float32)


def code_levels(bits: int, kind: str) -> np.ndarray:
    """Dequantized values of the codes, as a fraction of the group's absolute maximum."""
    if kind == "nf":
        return nf_levels(bits)
    if kind == "int":  # symmetric round-to-nearest: -qmax-1 .. qmax over absmax / qmax
        qmax = 2 ** (bits - 1) - 1
        return (np.arange(-qmax - 1, qmax + 1) / qmax).astype(np.float32)
    raise ValueError(f"unknown quantization kind {kind!r}")


def dequantize(
    parts: dict[str, np.ndarray], bits: int, group: int, shape: tuple[int, int], kind: str = "nf"
) -> np.ndarray:
    """fp32 matrix back from `quantize`'s parts."""
    rows, cols = shape
    q = code_levels(bits, kind)[unpack_bits(parts["q"], bits, rows * cols)]
    s = parts["scale"].astype(np.float32) * parts["row"].astype(np.float32) / 255
    return (q.reshape(rows, cols // group, group) * s[:, :, None]).reshape(rows, cols)


def unpack_state(tensors: dict[str, np.ndarray], spec: dict) -> dict[str, np.ndarray]:
    """fp32 state dict back from `pack_state`'s tensors and spec."""
    state = {k: v.astype(np.float32) for k, v in tensors.items() if not any(k.startswith(key + ".") for key in spec)}
    for key, s in spec.items():
        rows, cols = s["shape"]
        low = s.get("low")
        n_low = low["n"] if low else 0
        main = dequantize(stored_parts(tensors, key), s["bits"], s["group"], (rows - n_low, cols), s["kind"])
        if not low:
            state[key] = main
            continue
        ids = tensors[f"{key}.low_rows"].astype(np.int64)
        w = np.empty((rows, cols), dtype=np.float32)
        w[np.setdiff1d(np.arange(rows), ids)] = main
        w[ids] = dequantize(stored_parts(tensors, f"{key}.low"), low["bits"], s["group"], (n_low, cols), low["kind"])
        state[key] = w
    return state


def stored_parts(tensors: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """One quantized matrix's parts (PARTS) stored under `prefix`."""
    return {p: tensors[f"{prefix}.{p}"] for p in PARTS}


def load_state_dict(path: Path) -> dict:
    """The fp32 torch state dict stored in a packed weights file."""
    import torch
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), "np") as f:
            meta = f.metadata() or {}
            if meta.get("format") != FORMAT:
                raise ModelError(f"{path} is not a {FORMAT} file (format {meta.get('format')!r})")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        state = unpack_state(tensors, json.loads(meta["spec"]))
    except (OSError, ValueError, KeyError, SafetensorError) as exc:
        raise ModelError(f"cannot read packed verifier weights {path}: {exc!r}") from exc
    return {k: torch.from_numpy(v) for k, v in state.items()}
