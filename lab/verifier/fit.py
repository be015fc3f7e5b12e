"""Fit the verifier cross-encoder on prepared pairs (torch and transformers only: runs where the datasets are not)."""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import math
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

LABELS = (
    "entailment",
    "neutral",
    "contradiction",
)  # ids 0 / 1 / 2; the verdict maps them to supports/silent/contradicts
LABEL2ID = {name: i for i, name in enumerate(LABELS)}
NOT_ENTAILMENT = 3  # 2-way rows (RTE): the target is "neutral or contradiction"
UNLABELED = -1  # rows only a teacher labels (its soft distribution is the whole target)
WARMUP_STEPS = 30  # steps left out of the pace a deadline projects from


def _autocast(on: bool):
    """bf16 autocast on the GPU when `on`, else a no-op context."""
    import torch

    return torch.autocast("cuda", dtype=torch.bfloat16) if on else contextlib.nullcontext()


def word_embeddings_key(model) -> str:
    """The state-dict key of the model's input word embeddings, whatever the encoder family (BERT, MPNet, ...)."""
    weight = model.get_input_embeddings().weight
    return next(name for name, p in model.named_parameters() if p is weight)


Row = tuple[str, str, int, str]  # premise, hypothesis, label id, source


def write_rows(path: Path, rows: list[Row], lengths: list[int]) -> None:
    """Write pairs and their bucketing lengths as gzipped JSON lines (atomic: a temp file renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with gzip.open(tmp, "wt", encoding="utf-8") as f:
        for (p, h, lab, src), n in zip(rows, lengths, strict=True):
            f.write(
                json.dumps({"premise": p, "hypothesis": h, "label": lab, "source": src, "len": n}, ensure_ascii=False)
                + "\n"
            )
    tmp.replace(path)


def read_rows(path: Path) -> tuple[list[Row], list[int]]:
    """Read pairs and bucketing lengths written by `write_rows`."""
    with gzip.open(path, "rt", encoding="utf-8") as f:
        recs = [json.loads(line) for line in f]
    return [(r["premise"], r["hypothesis"], int(r["label"]), r["source"]) for r in recs], [int(r["len"]) for r in recs]


def with_extra(rows: list, extra: list, seed: int) -> list:
    """`rows` then `extra`, shuffled by `Random(seed)`: the same permutation for any two lists of equal lengths."""
    both = list(rows) + list(extra)
    random.Random(seed).shuffle(both)
    return both


def batches(lengths: list[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Length-bucketed batches of row indices (less padding), shuffled."""
    idx = list(range(len(lengths)))
    rng.shuffle(idx)
    chunk = batch_size * 50
    out = []
    for k in range(0, len(idx), chunk):
        part = sorted(idx[k : k + chunk], key=lambda i: lengths[i])
        out += [part[j : j + batch_size] for j in range(0, len(part), batch_size)]
    rng.shuffle(out)
    return out


def fit(
    rows: list[Row],
    lengths: list[int],
    base: str | Path,
    *,
    seed: int,
    epochs: int,
    batch_size: int,
    lr: float,
    max_len: int,
    freeze_embeddings: bool = True,
    max_steps: int = 0,
    stop_at: int = 0,
    device: str = "cpu",
    ckpt_dir: Path | None = None,
    ckpt_every: int = 0,
    soft=None,
    kd_alpha: float = 0.5,
    kd_temp: float = 2.0,
    amp: bool = False,
):
    """Fine-tune `base` as a 3-label cross-encoder on normalised rows; returns (model, tokenizer, stats).

    `lengths` order the length buckets: the raw text's lengths, so that batches do not depend on where text was normalised."""
    # soft: a teacher's logits per row; kd_alpha of the loss is then the gold label's, the rest the teacher's
    # distribution at temperature kd_temp. amp: bf16 autocast (GPU runs).
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    if soft is None and any(r[2] == UNLABELED for r in rows):
        raise ValueError("unlabeled rows (label -1) need a teacher's logits (soft)")
    torch.manual_seed(seed)
    tok = AutoTokenizer.from_pretrained(base)
    # fp32 even when warm-starting from the shipped fp16 weights (fp16 training on CPU diverges)
    model = AutoModelForSequenceClassification.from_pretrained(
        base, num_labels=3, id2label=dict(enumerate(LABELS)), label2id=LABEL2ID, dtype=torch.float32
    )
    if freeze_embeddings:
        # The word-embedding matrix is half the parameters; freezing it makes CPU steps cheaper.
        model.get_input_embeddings().weight.requires_grad_(False)
    model.to(device)
    model.train()
    brng = random.Random(seed)
    plan = []
    for _ in range(epochs):
        plan += batches(lengths, batch_size, brng)
    if max_steps:
        plan = plan[:max_steps]
    total = len(plan)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.01)
    warm = max(1, int(0.06 * total))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm)))
    )
    # on a GPU, padded lengths rounded up to 16 leave few shapes to choose kernels for (CPU runs stay as they were)
    pad = {"pad_to_multiple_of": 16} if device != "cpu" else {}
    t0 = t_warm = time.time()
    run_loss = 0.0
    steps_done = 0
    for step, b in enumerate(plan, 1):
        if stop_at and step > stop_at:
            break  # the LR schedule stays that of the full run; this only ends it early
        enc = tok(
            [rows[i][0] for i in b],
            [rows[i][1] for i in b],
            truncation="longest_first",
            max_length=max_len,
            padding=True,
            return_tensors="pt",
            **pad,
        ).to(device)
        y = torch.tensor([rows[i][2] for i in b], device=device)
        with _autocast(amp):
            logits = model(**enc).logits.float()
        logp = torch.log_softmax(logits, dim=-1)
        three, two = (y >= 0) & (y < 3), y == NOT_ENTAILMENT
        loss_terms = torch.zeros(len(b), device=device)
        if three.any():
            loss_terms[three] = -logp[three, y[three]]
        if two.any():
            loss_terms[two] = -torch.logsumexp(logp[two][:, 1:], dim=-1)
        if soft is None:
            loss = loss_terms.mean()
        else:
            t = torch.as_tensor(soft[b], dtype=torch.float32, device=device) / kd_temp
            p_t = torch.softmax(t, dim=-1)
            kd = (p_t * (torch.log_softmax(t, dim=-1) - torch.log_softmax(logits / kd_temp, dim=-1))).sum(-1)
            # an unlabeled row learns from the teacher alone; T^2 keeps the soft term's gradient scale
            w_hard = torch.where(y >= 0, kd_alpha, 0.0)
            loss = (w_hard * loss_terms + (1 - w_hard) * kd * kd_temp**2).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
        run_loss += loss.item()
        steps_done = step
        if step == WARMUP_STEPS:
            t_warm = time.time()
        if step % 20 == 0 or step == total:
            el = time.time() - t0
            print(
                f"step {step}/{total} loss {run_loss / 20:.4f} {el / step:.3f}s/step eta {el / step * (total - step) / 60:.1f} min",
                flush=True,
            )
            run_loss = 0.0
        if ckpt_dir and ckpt_every and step % ckpt_every == 0:
            export(model, tok, ckpt_dir, fp16=False)
    model.eval()
    end = time.time()
    # the pace after the first steps: on a GPU they are several times slower (kernels chosen per new shape)
    steady = (
        (end - t_warm) / (steps_done - WARMUP_STEPS) if steps_done > WARMUP_STEPS else (end - t0) / max(1, steps_done)
    )
    return (
        model,
        tok,
        {
            "steps": steps_done,
            "schedule_steps": total,
            "train_seconds": round(end - t0, 1),
            "steady_s_per_step": round(steady, 4),
        },
    )


def export(model, tok, out: Path, fp16: bool) -> None:
    """Save config, tokenizer and (fp16) safetensors weights."""
    import copy

    out.mkdir(parents=True, exist_ok=True)
    m = copy.deepcopy(model).half() if fp16 else model
    m.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)


def pair_logits(model, tok, pairs: list[Row], max_len: int = 128, batch_size: int = 256):
    """Raw logits for (premise, hypothesis) rows, in order."""
    import torch

    dev = next(model.parameters()).device
    out = []
    with torch.inference_mode(), _autocast(dev.type == "cuda"):
        for k in range(0, len(pairs), batch_size):
            b = pairs[k : k + batch_size]
            enc = tok(
                [r[0] for r in b],
                [r[1] for r in b],
                truncation="longest_first",
                max_length=max_len,
                padding=True,
                return_tensors="pt",
            ).to(dev)
            out.append(model(**enc).logits.float().cpu())
    return torch.cat(out).numpy()


def pair_report(logits, rows: list[Row]) -> dict:
    """Accuracy, macro-F1 and NLL of 3-way rows."""
    import numpy as np

    gold = np.array([r[2] for r in rows])
    pred = logits.argmax(1)
    z = logits - logits.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    f1 = []
    for lab in range(3):
        tp = int(((gold == lab) & (pred == lab)).sum())
        fp = int(((gold != lab) & (pred == lab)).sum())
        fn = int(((gold == lab) & (pred != lab)).sum())
        f1.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return {
        "n": len(rows),
        "accuracy": round(float((gold == pred).mean()), 4),
        "macro_f1": round(sum(f1) / 3, 4),
        "nll": round(float(-logp[np.arange(len(gold)), gold].mean()), 4),
    }


def save_trained_part(model, out: Path, parts: int = 2) -> list[Path]:
    """Write the fp16 weights except the frozen word embeddings, split in `parts` files (small enough to move)."""
    from safetensors.torch import save_file

    skip = word_embeddings_key(model)
    sd = {k: v.detach().half().cpu().contiguous() for k, v in model.state_dict().items() if k != skip}
    keys = sorted(sd)
    per = math.ceil(len(keys) / parts)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(parts):
        p = out / f"trained-part{i}.safetensors"
        save_file({k: sd[k] for k in keys[i * per : (i + 1) * per]}, str(p))
        paths.append(p)
    return paths


def assemble(base: str | Path, parts: list[Path], out: Path) -> None:
    """Rebuild a full fp16 model folder from the base (word embeddings, tokenizer) and the trained parts."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    cfg = AutoConfig.from_pretrained(base, num_labels=3, id2label=dict(enumerate(LABELS)), label2id=LABEL2ID)
    model = AutoModelForSequenceClassification.from_config(cfg).to(torch.float32)
    base_sd = load_file(str(Path(base) / "model.safetensors"))
    emb = next(v for k, v in base_sd.items() if k.endswith("embeddings.word_embeddings.weight"))
    sd = {word_embeddings_key(model): emb.float()}
    for p in parts:
        sd.update(_dequantize(load_file(str(p))))  # fp16 parts, or int8 ones from `save_trained_int8`
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [k for k in missing if "position_ids" not in k]
    if missing or unexpected:
        raise ValueError(f"assembled weights do not match the config: missing {missing}, unexpected {unexpected}")
    model.eval()
    export(model, AutoTokenizer.from_pretrained(base), out, fp16=True)


BASE_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


def _quantize_rows(sd: dict) -> dict[str, dict]:
    """Each large matrix as int8 with one fp32 scale per row (`KEY.int8`, `KEY.scale`); anything else as fp16."""
    import torch

    packed: dict[str, dict] = {}
    for k, v in sd.items():
        if v.is_floating_point() and v.dim() == 2 and v.numel() >= 65536:
            w = v.float()
            scale = w.abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / 127.0
            packed[k] = {k + ".int8": torch.round(w / scale).to(torch.int8).contiguous(), k + ".scale": scale}
        else:
            packed[k] = {k: v.half().contiguous() if v.is_floating_point() else v.contiguous()}
    return packed


def _dequantize(flat: dict) -> dict:
    """The fp32 state dict back from `_quantize_rows`' tensors (plain tensors pass through)."""
    sd = {}
    for k, v in flat.items():
        if k.endswith(".int8"):
            key = k[: -len(".int8")]
            sd[key] = (v.float() * flat[key + ".scale"]).contiguous()
        elif not k.endswith(".scale"):
            sd[k] = v.float() if v.is_floating_point() else v
    return sd


def _bins(packed: dict[str, dict], parts: int) -> list[dict]:
    """Spread packed tensors over `parts` groups of about equal bytes (largest first into the lightest)."""
    size = {k: sum(t.numel() * t.element_size() for t in d.values()) for k, d in packed.items()}
    bins: list[dict] = [{} for _ in range(parts)]
    load = [0] * parts
    for k in sorted(packed, key=lambda k: -size[k]):
        i = load.index(min(load))
        bins[i].update(packed[k])
        load[i] += size[k]
    return bins


def pack_base(base: str | Path, out: Path, parts: int = 2) -> list[Path]:
    """Write a base as int8 weights with per-row fp32 scales, in `parts` folders (the first holds config and tokenizer)."""
    # A device call carries at most 64 MiB: a large teacher travels in pieces and is fine-tuned from these weights.
    from safetensors.torch import load_file, save_file

    paths = []
    for i, tensors in enumerate(_bins(_quantize_rows(load_file(str(Path(base) / "model.safetensors"))), parts)):
        d = out / f"part{i}"
        d.mkdir(parents=True, exist_ok=True)
        save_file(tensors, str(d / "packed.safetensors"))
        paths.append(d)
    for name in BASE_FILES:
        if (Path(base) / name).is_file():
            shutil.copy(Path(base) / name, paths[0] / name)
    return paths


def unpack_base(parts: list[Path], out: Path) -> None:
    """Rebuild a base folder (fp32 weights, config, tokenizer) from `pack_base`'s parts."""
    from safetensors.torch import load_file, save_file

    out.mkdir(parents=True, exist_ok=True)
    flat = {}
    for d in parts:
        flat.update(load_file(str(Path(d) / "packed.safetensors")))
        for name in BASE_FILES:
            if (Path(d) / name).is_file():
                shutil.copy(Path(d) / name, out / name)
    save_file(_dequantize(flat), str(out / "model.safetensors"), metadata={"format": "pt"})


def save_trained_int8(model, out: Path, max_bytes: int = 15 * 2**20) -> list[Path]:
    """The trained weights except the frozen word embeddings as int8 parts of at most ~`max_bytes` each."""
    # How a model too large to bring back in fp16 comes back from a GPU machine; `assemble` reads these parts too.
    from safetensors.torch import save_file

    skip = word_embeddings_key(model)
    packed = _quantize_rows({k: v.detach().cpu() for k, v in model.state_dict().items() if k != skip})
    total = sum(t.numel() * t.element_size() for d in packed.values() for t in d.values())
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, tensors in enumerate(_bins(packed, math.ceil(total / (max_bytes * 0.9)))):
        p = out / f"trained-int8-part{i}.safetensors"
        save_file(tensors, str(p))
        paths.append(p)
    return paths


def main(argv: list[str] | None = None) -> int:
    """Train one or more configurations on prepared rows; report held-out pair metrics; save the trained parts."""
    import numpy as np
    import torch

    ap = argparse.ArgumentParser(prog="python -m lab.verifier.fit", description=__doc__)
    ap.add_argument(
        "--rows",
        action="append",
        required=True,
        help="NAME=FILE: train rows (jsonl.gz from verifier_train --phase rows)",
    )
    ap.add_argument(
        "--extra",
        action="append",
        default=[],
        help="NAME=FILE: extra rows added to the train rows of runs that name NAME "
        "(rows labelled -1 are unlabeled: only a run with a teacher learns from them)",
    )
    ap.add_argument("--eval", action="append", default=[], help="NAME=FILE: held-out pairs to report")
    ap.add_argument(
        "--score",
        action="append",
        default=[],
        help="NAME=FILE: pairs (labels unused) whose logits every run writes to OUT/scores-RUN-NAME.npy (fp16), "
        "so that a model whose weights stay behind can still be judged on claims elsewhere",
    )
    ap.add_argument(
        "--run",
        action="append",
        required=True,
        help="NAME:rows=NAME,epochs=E,lr=L[,bs=B][,extra=NAME+NAME][,base=DIR][,teacher=RUN,kd=ALPHA,kdT=T][,keep=no|int8]: "
        "a configuration (runs in the order given; a teacher runs before the runs that distil from it)",
    )
    ap.add_argument("--base", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-len", type=int, default=128)
    ap.add_argument("--max-steps", type=int, default=0)
    ap.add_argument("--deadline-s", type=float, default=0, help="skip a run whose projected end is past this (0: none)")
    ap.add_argument("--keep", type=int, default=2, help="save the trained weights of this many runs, best first")
    ap.add_argument("--select", default="", help="eval NAME whose macro-F1 ranks the runs (default: the first --eval)")
    ap.add_argument(
        "--work", default=None, help="where every run's weights wait before the best are kept (default: a temp dir)"
    )
    ap.add_argument(
        "--amp", action=argparse.BooleanOptionalAction, default=None, help="bf16 autocast (default: on a GPU)"
    )
    args = ap.parse_args(argv)
    args.amp = args.device == "cuda" if args.amp is None else args.amp
    torch.backends.cuda.matmul.allow_tf32 = True
    args.work = args.work or tempfile.mkdtemp(prefix="verifier-fit-")
    t_start = time.time()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train_sets = {k: read_rows(Path(v)) for k, v in (e.split("=", 1) for e in args.rows)}
    extras = {k: read_rows(Path(v)) for k, v in (e.split("=", 1) for e in args.extra)}
    evals = {k: read_rows(Path(v))[0] for k, v in (e.split("=", 1) for e in args.eval)}
    score_sets = {k: read_rows(Path(v))[0] for k, v in (e.split("=", 1) for e in args.score)}
    first_eval = next(iter(evals), "")
    select = args.select or first_eval
    print(
        f"train sets { ({k: len(v[0]) for k, v in train_sets.items()}) }; extras { ({k: len(v[0]) for k, v in extras.items()}) }; device {args.device}",
        flush=True,
    )
    report: dict[str, Any] = {
        "device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
        "command": "python -m lab.verifier.fit " + " ".join(argv if argv is not None else sys.argv[1:]),
        "runs": {},
    }
    specs = []
    for spec in args.run:
        name, _, kv = spec.partition(":")
        specs.append((name, dict(x.split("=", 1) for x in kv.split(",") if x)))
    teachers = {cfg["teacher"] for _, cfg in specs if cfg.get("teacher")}
    trained: dict[str, tuple[Any, Any]] = {}  # runs that a later run distils from, held in memory
    pace: dict[str, float] = {}  # seconds per step by base: a short probe first, then each finished run's own
    for name, cfg in specs:
        base = cfg.get("base", args.base)
        rows, lengths = train_sets[cfg["rows"]]
        run_rows, run_lengths = rows, lengths
        for x in filter(None, cfg.get("extra", "").split("+")):
            # the order verifier_train.build_data(extra_nli=True) gives: train + extra, shuffled with Random(seed)
            x_rows, x_lengths = extras[x]
            run_rows, run_lengths = (
                with_extra(run_rows, x_rows, args.seed),
                with_extra(run_lengths, x_lengths, args.seed),
            )
        epochs = int(cfg.get("epochs", 2))
        bs = int(cfg.get("bs", args.batch_size))
        if not cfg.get("teacher") and any(r[2] == UNLABELED for r in run_rows):
            print(f"skip {name}: it has unlabeled rows and no teacher", flush=True)
            report["runs"][name] = {"skipped": "unlabeled rows without a teacher"}
            continue
        if cfg.get("teacher") and cfg["teacher"] not in trained:
            print(f"skip {name}: its teacher {cfg['teacher']} did not run", flush=True)
            report["runs"][name] = {"skipped": f"no teacher {cfg['teacher']}"}
            continue
        if args.deadline_s:
            if base not in pace:
                # the pace probe has no teacher's logits: it runs on the labelled rows
                labelled = [i for i, r in enumerate(run_rows) if r[2] != UNLABELED]
                _, _, probe_stats = fit(
                    [run_rows[i] for i in labelled],
                    [run_lengths[i] for i in labelled],
                    base,
                    seed=args.seed,
                    epochs=1,
                    batch_size=bs,
                    lr=6e-5,
                    max_len=args.max_len,
                    max_steps=90,
                    device=args.device,
                    amp=args.amp,
                )
                pace[base] = probe_stats["steady_s_per_step"]
                print(f"probe {base}: {pace[base] * 1000:.1f} ms/step", flush=True)
            steps = epochs * (math.ceil(len(run_rows) / bs) + math.ceil(len(run_rows) / (bs * 50)))
            projected = time.time() - t_start + pace[base] * (args.max_steps or steps) + 30
            if projected > args.deadline_s:
                print(f"skip {name}: projected end {projected:.0f}s is past the deadline", flush=True)
                report["runs"][name] = {"skipped": f"projected {projected:.0f}s"}
                continue
        soft = None
        if cfg.get("teacher"):
            t0 = time.time()
            soft = pair_logits(*trained[cfg["teacher"]], run_rows, args.max_len)
            print(
                f"{name}: teacher {cfg['teacher']} scored {len(run_rows)} rows in {time.time() - t0:.0f}s", flush=True
            )
        model, tok, stats = fit(
            run_rows,
            run_lengths,
            base,
            seed=args.seed,
            epochs=epochs,
            batch_size=bs,
            lr=float(cfg.get("lr", 6e-5)),
            max_len=args.max_len,
            max_steps=args.max_steps,
            device=args.device,
            soft=soft,
            kd_alpha=float(cfg.get("kd", 0.5)),
            kd_temp=float(cfg.get("kdT", 2.0)),
            amp=args.amp,
        )
        pace[base] = stats["steady_s_per_step"]
        res = {"config": cfg, "train_rows": len(run_rows), **stats, "eval": {}}
        for ename, erows in evals.items():
            three = [r for r in erows if 0 <= r[2] < 3]
            res["eval"][ename] = pair_report(pair_logits(model, tok, three, args.max_len), three)
        for sname, srows in score_sets.items():
            t0 = time.time()
            logits = pair_logits(model, tok, srows, args.max_len)
            np.save(out / f"scores-{name}-{sname}.npy", logits.astype(np.float16))
            res.setdefault("scored", {})[sname] = {"n": len(srows), "s": round(time.time() - t0, 1)}
        probe = evals.get(first_eval, [])[:8]
        res["probe_logits"] = pair_logits(model, tok, probe, args.max_len).round(4).tolist() if probe else []
        report["runs"][name] = res
        print(json.dumps({name: {k: v for k, v in res.items() if k != "probe_logits"}}), flush=True)
        if name in teachers:
            trained[name] = (model, tok)
        if cfg.get("keep") == "int8":
            res["kept"] = "int8"  # too large to move in fp16: the trained weights come back as int8 parts
            res["int8_parts"] = [p.name for p in save_trained_int8(model, out / name)]
            (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
            continue
        if cfg.get("keep", "yes") == "no":
            res["kept"] = False  # a teacher too large to move: only its figures travel
            (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
            continue
        save_trained_part(model, Path(args.work) / name)
        _keep_best(report, Path(args.work), out, select, args.keep)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")  # runs skipped after the last kept one too
    print(f"kept {report.get('kept')}; done in {time.time() - t_start:.0f}s", flush=True)
    return 0


def _keep_best(report: dict, work: Path, out: Path, select: str, keep: int) -> None:
    """Keep the weights of the best `keep` runs so far under `out` (after every run: a cut-off run loses nothing)."""
    done = [n for n, r in report["runs"].items() if "eval" in r and r.get("kept", True) is True]
    ranked = sorted(done, key=lambda n: -report["runs"][n]["eval"].get(select, {}).get("macro_f1", 0.0))
    report["kept"], report["ranked_by"] = ranked[:keep], f"{select} macro-F1"
    for n in ranked[keep:]:
        shutil.rmtree(out / n, ignore_errors=True)
    for n in report["kept"]:
        shutil.copytree(work / n, out / n, dirs_exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
