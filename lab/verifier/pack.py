"""Compact verifier weights: low-bit groups with 8-bit scale codes, written once and dequantized at load."""

# Why: the fine-tuned all-mpnet-base-v2 verifier has 110M parameters (219 MB in fp16, 110 MB in int8) and the
# shipped weights must stay near 50 MB, so its matrices are stored at 4 or 3 bits: nearest "normal float" level
# (or evenly spaced integer level), one scale per group of 64 weights, the scale itself an 8-bit code against its
# row's largest. Loading rebuilds fp32 weights; compute is unchanged, only the file is small. The file is plain
# safetensors: uint8 code streams and scale codes, fp16 row scales and small tensors, and a JSON spec in the
# header's metadata.

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from factcheck.verifier.packed import FORMAT, WEIGHTS, code_levels, unpack_state

COPY_FILES = (
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "train_info.json",
)
MIN_PARAMS = 65536  # smaller tensors (biases, LayerNorms, the 3-way head) stay fp16


def pack_bits(codes: np.ndarray, bits: int) -> np.ndarray:
    """Unsigned codes below 2**bits as a little-endian bit stream of uint8."""
    planes = (codes.reshape(-1, 1).astype(np.uint8) >> np.arange(bits, dtype=np.uint8)) & 1
    return np.packbits(planes.reshape(-1), bitorder="little")


def quantize(w: np.ndarray, bits: int, group: int, kind: str = "nf") -> dict[str, np.ndarray]:
    """A 2-D fp32 matrix as packed `bits`-bit codes, one 8-bit scale code per group and one fp16 scale per row."""
    rows, cols = w.shape
    if cols % group:
        raise ValueError(f"{cols} columns are not a multiple of group {group}")
    x = w.astype(np.float32).reshape(rows, cols // group, group)
    levels = code_levels(bits, kind)
    s = np.abs(x).max(axis=2)
    srow = np.maximum(s.max(axis=1, keepdims=True), 1e-7).astype(np.float16).astype(np.float32)
    code = np.clip(np.rint(s / srow * 255), 1, 255)
    s = code * srow / 255  # quantize against the scale the file will hold, not the exact one
    mids = (levels[1:] + levels[:-1]) / 2
    q = np.searchsorted(mids, x / s[:, :, None]).astype(np.uint8)  # nearest level
    return {"q": pack_bits(q, bits), "scale": code.astype(np.uint8), "row": srow.astype(np.float16)}


def gptq_quantize(
    w: np.ndarray, hessian: np.ndarray, bits: int, group: int, kind: str = "nf", damp: float = 0.01
) -> dict[str, np.ndarray]:
    """`quantize`'s parts for a linear layer's weight, its rounding error compensated through its inputs' Hessian."""
    # GPTQ (Frantar et al. 2022): columns are rounded left to right and each one's error, weighted by the inverse
    # Hessian of the layer's inputs (X^T X), moves onto the columns not yet rounded, so the layer's output on
    # typical inputs moves far less than with round-to-nearest. Group scales are read when a group starts (after
    # the updates from earlier groups); row scales come from the original weights, so a grown group clips at 255.
    rows, cols = w.shape
    if cols % group:
        raise ValueError(f"{cols} columns are not a multiple of group {group}")
    if hessian.shape != (cols, cols):
        raise ValueError(f"Hessian {hessian.shape} does not match a matrix with {cols} columns")
    levels = code_levels(bits, kind).astype(np.float64)
    mids = (levels[1:] + levels[:-1]) / 2
    W = w.astype(np.float64)  # astype copies: the caller's arrays stay as they are
    H = hessian.astype(np.float64)
    dead = np.diag(H) <= 0
    H[dead, dead] = 1.0
    W[:, dead] = 0.0
    H[np.diag_indices(cols)] += damp * np.mean(np.diag(H))
    hinv = np.linalg.inv(H)
    U = np.linalg.cholesky((hinv + hinv.T) / 2).T  # upper factor: H^-1 = U^T U, row i holds column i's update
    srow = np.maximum(np.abs(w.astype(np.float32)).max(axis=1, keepdims=True), 1e-7).astype(np.float16)
    srow32 = srow.astype(np.float64)
    q = np.empty((rows, cols), dtype=np.uint8)
    code = np.empty((rows, cols // group), dtype=np.float64)
    for g0 in range(0, cols, group):
        g1 = g0 + group
        W1 = W[:, g0:g1]  # a view: updates land in W
        c = np.clip(np.rint(np.abs(W1).max(axis=1, keepdims=True) / srow32 * 255), 1, 255)
        code[:, g0 // group] = c[:, 0]
        s = c * srow32 / 255
        err = np.empty((rows, group))
        for i in range(group):
            k = np.searchsorted(mids, W1[:, i] / s[:, 0])
            q[:, g0 + i] = k
            e = (W1[:, i] - levels[k] * s[:, 0]) / U[g0 + i, g0 + i]
            W1[:, i:] -= np.outer(e, U[g0 + i, g0 + i : g1])
            err[:, i] = e
        W[:, g1:] -= err @ U[g0:g1, g1:]
    return {"q": pack_bits(q, bits), "scale": code.astype(np.uint8), "row": srow}


Rule = tuple[str, int, str]  # (regex on the state-dict key, bits, kind); the first matching rule wins


def _width(key: str, rules: Sequence[Rule], bits: int, kind: str) -> tuple[int, str]:
    """Bits and kind of one matrix: the first rule whose pattern matches its key, else the defaults."""
    return next(((b, k) for pat, b, k in rules if re.search(pat, key)), (bits, kind))


def pack_state(
    state: dict[str, np.ndarray],
    *,
    bits: int = 4,
    group: int = 64,
    kind: str = "nf",
    rules: Sequence[Rule] = (),
    low_rows: dict[str, tuple[np.ndarray, int, str]] | None = None,
    hessians: dict[str, np.ndarray] | None = None,
) -> tuple[dict[str, np.ndarray], dict]:
    """Tensors and spec for a state dict: large matrices at their width, the rest fp16."""
    # low_rows[key] = (row ids, bits, kind) stores those rows of one matrix narrower (the embeddings of rare tokens).
    # hessians[key] = the input Hessian of a linear layer: that matrix is rounded by `gptq_quantize`.
    tensors, spec = {}, {}
    for key, w in state.items():
        if not (w.ndim == 2 and w.size >= MIN_PARAMS and w.shape[1] % group == 0):
            tensors[key] = w.astype(np.float16)
            continue
        b, k = _width(key, rules, bits, kind)
        entry = {"bits": b, "group": group, "kind": k, "shape": list(w.shape)}
        low = (low_rows or {}).get(key)
        if low is not None:
            ids, lb, lk = low
            ids = np.unique(np.asarray(ids, dtype=np.int64))
            keep = np.setdiff1d(np.arange(w.shape[0]), ids)
            tensors[f"{key}.low_rows"] = ids.astype(np.int32)
            tensors.update({f"{key}.low.{p}": a for p, a in quantize(w[ids], lb, group, lk).items()})
            entry["low"] = {"bits": lb, "kind": lk, "n": int(len(ids))}
            w = w[keep]
        hess = (hessians or {}).get(key)
        if hess is not None and low is None:
            entry["gptq"] = True
            parts = gptq_quantize(w, hess, b, group, k)
        else:
            parts = quantize(w, b, group, k)
        tensors.update({f"{key}.{p}": a for p, a in parts.items()})
        spec[key] = entry
    return tensors, spec


class _Stop(Exception):
    """Raised from a forward hook once the stage being measured has run: the rest of the model is not needed."""


def _linear_keys(model, group: int) -> dict[str, list[str]]:
    """Weight keys of the packable linear layers, by stage (one encoder layer, or the head), in forward order."""
    import torch

    stages: dict[str, list[str]] = {}
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Linear) and mod.weight.numel() >= MIN_PARAMS and mod.in_features % group == 0:
            parts = name.split(".")
            cut = parts.index("layer") + 2 if "layer" in parts else 1
            stages.setdefault(".".join(parts[:cut]), []).append(f"{name}.weight")
    return stages


def gptq_hessians(
    model,
    tokenizer,
    pairs: list[tuple[str, str]],
    pack,
    *,
    group: int = 64,
    batch_size: int = 16,
    max_length: int = 128,
    progress: bool = True,
) -> dict[str, np.ndarray]:
    """Input Hessians of each packable linear layer, measured stage by stage with the earlier stages already packed."""
    # `pack(state, hessians)` returns the dequantized state as the file will hold it. Everything that is not a
    # measured linear layer (embeddings, biases, LayerNorms) is packed first, so every Hessian sees the inputs the
    # packed model will really compute; padding tokens are left out of X^T X.
    import torch
    from tqdm import tqdm

    from factcheck.verifier import model_text

    stages = _linear_keys(model, group)
    linear = {k for keys in stages.values() for k in keys}
    state = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}

    def load(deq: dict[str, np.ndarray]) -> None:
        model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in deq.items()}, strict=False)

    load(pack({k: v for k, v in state.items() if k not in linear}, {}))
    modules = dict(model.named_modules())
    batches = [pairs[i : i + batch_size] for i in range(0, len(pairs), batch_size)]
    hessians: dict[str, np.ndarray] = {}
    model.eval()
    for stage, keys in tqdm(stages.items(), desc="GPTQ", unit="stage", disable=not progress):
        layers = {k: modules[k.removesuffix(".weight")] for k in keys}
        sums = {k: torch.zeros(m.in_features, m.in_features, dtype=torch.float64) for k, m in layers.items()}
        count = {k: 0 for k in keys}
        mask: list[torch.Tensor] = []

        def hook(key):
            def add(_mod, args):
                x = args[0].detach()
                x = x[mask[0].bool()] if x.dim() == 3 else x  # noqa: B023 (read during this batch's forward)
                x = x.reshape(-1, x.shape[-1]).double()
                sums[key].add_(x.T @ x)  # noqa: B023
                count[key] += x.shape[0]  # noqa: B023

            return add

        def stop(_mod, _args, _out):
            raise _Stop

        handles = [m.register_forward_pre_hook(hook(k)) for k, m in layers.items()]
        if "layer" in stage.split("."):  # an encoder layer: nothing after it is needed for this stage
            handles.append(modules[stage].register_forward_hook(stop))
        try:
            with torch.inference_mode():
                for batch in batches:
                    enc = tokenizer(
                        [model_text(p) for p, _ in batch],
                        [model_text(h) for _, h in batch],
                        truncation="longest_first",
                        max_length=max_length,
                        padding=True,
                        return_tensors="pt",
                    )
                    mask[:] = [enc["attention_mask"]]
                    try:
                        model(**enc)
                    except _Stop:
                        pass
        finally:
            for h in handles:
                h.remove()
        stage_h = {k: (sums[k] / max(count[k], 1)).numpy() for k in keys}
        load(pack({k: state[k] for k in keys}, stage_h))
        hessians.update(stage_h)
    return hessians


def pack_folder(
    src: Path,
    out: Path,
    *,
    bits: int = 4,
    group: int = 64,
    kind: str = "nf",
    rules: Sequence[Rule] = (),
    low_rows: dict[str, tuple[np.ndarray, int, str]] | None = None,
    command: str | None = None,
    gptq_pairs: list[tuple[str, str]] | None = None,
) -> dict:
    """Write a model folder's weights packed, with its config and tokenizer, into `out` (replaced atomically)."""
    # A train_info.json travels along, with a `packed` entry: the report returned here and `command`. With
    # gptq_pairs, the linear layers are rounded by GPTQ on Hessians measured with these same widths.
    from safetensors import safe_open
    from safetensors.numpy import save_file

    hessians = (
        gptq_pack_hessians(src, gptq_pairs, bits=bits, group=group, kind=kind, rules=rules, low_rows=low_rows)
        if gptq_pairs
        else None
    )
    with safe_open(str(src / "model.safetensors"), "np") as f:
        state = {k: f.get_tensor(k) for k in f.keys()}
    tensors, spec = pack_state(
        state, bits=bits, group=group, kind=kind, rules=rules, low_rows=low_rows, hessians=hessians
    )
    tmp = out.with_name(out.name + f".tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(tensors, str(tmp / WEIGHTS), metadata={"format": FORMAT, "spec": json.dumps(spec)})
    for name in COPY_FILES:
        if (src / name).is_file():
            shutil.copy2(src / name, tmp / name)
    widths: dict[str, int] = {}
    for s in spec.values():
        n_low = s.get("low", {}).get("n", 0)
        name = f"{s['kind']}{s['bits']}"
        widths[name] = widths.get(name, 0) + (s["shape"][0] - n_low) * s["shape"][1]
        if n_low:
            name = f"{s['low']['kind']}{s['low']['bits']}"
            widths[name] = widths.get(name, 0) + n_low * s["shape"][1]
    report = {
        "format": FORMAT,
        "weights_bytes": (tmp / WEIGHTS).stat().st_size,
        "params_by_width": widths,
        "fp16_params": int(sum(v.size for v in tensors.values() if v.dtype == np.float16)),
        "group": group,
        "default": f"{kind}{bits}",
        "rules": [list(r) for r in rules],
        "low_rows": {k: {"n": len(v[0]), "bits": v[1], "kind": v[2]} for k, v in (low_rows or {}).items()},
        "gptq": {"pairs": len(gptq_pairs), "matrices": sum(1 for s in spec.values() if s.get("gptq"))}
        if gptq_pairs
        else None,
    }
    info_path = tmp / "train_info.json"
    if info_path.is_file():
        info = json.loads(info_path.read_text())
        info["packed"] = {**report, **({"command": command} if command else {})}
        info_path.write_text(json.dumps(info, indent=2) + "\n")
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return report


# Text the rare-token counts are taken from: the training-side files only (DEVELOPERS.md split discipline).
COUNT_SOURCES = ("nli/*/*.jsonl", "scifact/claims_train*.jsonl", "scifact/corpus.jsonl", "healthver/*dev*.jsonl")


def _strings(obj):
    """Every string inside a JSON value."""
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)


def token_counts(data: Path, tokenizer_dir: Path, progress: bool = True) -> dict[int, int]:
    """How often each token id occurs in the training-side text of the datasets (COUNT_SOURCES)."""
    from collections import Counter

    from tqdm import tqdm
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)
    files = sorted(p for pattern in COUNT_SOURCES for p in data.glob(pattern))
    counts: Counter = Counter()
    for path in tqdm(files, desc="token counts", unit="file", disable=not progress):
        texts = []
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                try:
                    texts += [t for t in _strings(json.loads(line)) if len(t) > 2]
                except json.JSONDecodeError:
                    continue
        for i in range(0, len(texts), 2000):
            for ids in tok(texts[i : i + 2000], add_special_tokens=False)["input_ids"]:
                counts.update(ids)
    return dict(sorted(counts.items()))


def _parse_width(text: str, what: str) -> tuple[str, int, str]:
    """'KEY=BITS[:KIND]' -> (KEY, BITS, KIND)."""
    key, sep, width = text.rpartition("=")
    bits, _, kind = width.partition(":")
    if not sep or not key or not bits.isdigit() or int(bits) not in (2, 3, 4, 8) or (kind or "nf") not in ("nf", "int"):
        raise ValueError(f"{what} takes PATTERN=BITS[:nf|int] with BITS 2, 3, 4 or 8, got {text!r}")
    return key, int(bits), kind or "nf"


def _placeholder_command(args) -> str:
    """The pack command as train_info.json records it: folders as SRC, OUT and COUNTS, not this machine's paths."""
    cmd = [
        "python -m lab.verifier.pack pack SRC OUT",
        f"--bits {args.bits}",
        f"--kind {args.kind}",
        f"--group {args.group}",
        *(f"--rule '{r}'" for r in args.rule),
    ]
    if args.rare_rows:
        cmd += [f"--rare-rows '{args.rare_rows}'", "--counts COUNTS", f"--rare-below {args.rare_below}"]
    if args.gptq:
        cmd += ["--gptq PAIRS", f"--gptq-n {args.gptq_n}"]
    return " ".join(cmd)


def calibration_pairs(path: Path, n: int) -> list[tuple[str, str]]:
    """n (premise, hypothesis) pairs spread evenly over a pairs file (jsonl.gz rows with premise and hypothesis)."""
    from .fit import read_rows

    rows = read_rows(path)[0]
    if not rows:
        raise ValueError(f"{path} holds no pairs")
    idx = np.unique(np.linspace(0, len(rows) - 1, min(n, len(rows))).round().astype(int))
    return [(rows[i][0], rows[i][1]) for i in idx]


def gptq_pack_hessians(
    src: Path,
    pairs: list[tuple[str, str]],
    *,
    bits: int,
    group: int,
    kind: str,
    rules: Sequence[Rule] = (),
    low_rows=None,
    progress: bool = True,
) -> dict[str, np.ndarray]:
    """`gptq_hessians` for a model folder, packing as `pack_folder` will with the same widths."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(src, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(src, local_files_only=True, dtype=torch.float32)

    def pack(state, hessians):
        return unpack_state(
            *pack_state(state, bits=bits, group=group, kind=kind, rules=rules, low_rows=low_rows, hessians=hessians)
        )

    return gptq_hessians(model, tok, pairs, pack, group=group, progress=progress)


def main(argv: list[str] | None = None) -> int:
    """Command line: `counts` writes token counts of the training text; `pack` writes a compact model folder."""
    ap = argparse.ArgumentParser(prog="python -m lab.verifier.pack", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    c = sub.add_parser("counts", help="token counts of the training-side dataset text (for --rare-rows)")
    c.add_argument("--data", type=Path, default=Path("../shared/datasets"))
    c.add_argument("--tokenizer", type=Path, required=True, help="model folder whose tokenizer to count with")
    c.add_argument("--out", type=Path, required=True)
    p = sub.add_parser("pack", help="pack a model folder (model.safetensors) into a compact one")
    p.add_argument("src", type=Path, help="model folder with model.safetensors, config and tokenizer")
    p.add_argument("out", type=Path, help="folder to write (replaced)")
    p.add_argument("--bits", type=int, default=4, choices=(2, 3, 4, 8))
    p.add_argument("--kind", default="nf", choices=("nf", "int"), help="nf: normal-float levels; int: even levels")
    p.add_argument("--group", type=int, default=64)
    p.add_argument(
        "--rule",
        action="append",
        default=[],
        metavar="REGEX=BITS[:KIND]",
        help="another width for the matrices whose key matches (first match wins)",
    )
    p.add_argument(
        "--rare-rows",
        metavar="KEY=BITS[:KIND]",
        help="store the rows of KEY whose token is rarer than --rare-below in --counts at this width",
    )
    p.add_argument("--counts", type=Path, help="token counts from `counts`")
    p.add_argument("--rare-below", type=int, default=100)
    p.add_argument(
        "--gptq",
        type=Path,
        metavar="PAIRS",
        help="round linear layers with GPTQ error compensation, Hessians from these pairs (jsonl.gz)",
    )
    p.add_argument("--gptq-n", type=int, default=512, help="how many pairs of --gptq to use, spread evenly")
    args = ap.parse_args(argv)
    if args.command == "counts":
        if not args.data.is_dir() or not (args.tokenizer / "tokenizer.json").is_file():
            print(
                f"error: need a datasets folder and a tokenizer folder ({args.data}, {args.tokenizer})", file=sys.stderr
            )
            return 2
        counts = token_counts(args.data, args.tokenizer)
        args.out.write_text(json.dumps(counts) + "\n")
        print(f"{sum(counts.values())} tokens, {len(counts)} distinct -> {args.out}")
        return 0
    if not (args.src / "model.safetensors").is_file():
        print(f"error: no model.safetensors in {args.src}", file=sys.stderr)
        return 2
    try:
        rules = [_parse_width(r, "--rule") for r in args.rule]
        low_rows = None
        if args.rare_rows:
            if not (args.counts and args.counts.is_file()):
                raise ValueError("--rare-rows needs --counts FILE (from the `counts` command)")
            key, bits, kind = _parse_width(args.rare_rows, "--rare-rows")
            counts = {int(k): v for k, v in json.loads(args.counts.read_text()).items()}
            vocab = json.loads((args.src / "config.json").read_text())["vocab_size"]
            low_rows = {key: (np.array([i for i in range(vocab) if counts.get(i, 0) < args.rare_below]), bits, kind)}
        pairs = None
        if args.gptq:
            if not args.gptq.is_file() or args.gptq_n < 1:
                raise ValueError(f"--gptq needs a pairs file and --gptq-n >= 1 (got {args.gptq}, {args.gptq_n})")
            pairs = calibration_pairs(args.gptq, args.gptq_n)
    except (ValueError, KeyError, OSError, json.JSONDecodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = pack_folder(
        args.src,
        args.out,
        bits=args.bits,
        group=args.group,
        kind=args.kind,
        rules=rules,
        low_rows=low_rows,
        command=_placeholder_command(args),
        gptq_pairs=pairs,
    )
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
