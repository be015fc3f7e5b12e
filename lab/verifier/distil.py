"""Distil v10 into a 6-layer first stage: v10's first four layers kept, layers 5-6 and the head retrained.

The student is v10 cut after its sixth layer. Its first four layers (and the embeddings) stay v10's, frozen, so
the teacher pass records each pair's layer-4 states once and training only runs the two top layers and the
head: on two CPU cores that makes distillation minutes, not hours. Targets are v10's own logits (bf16, as it is
served) on allowed training pairs (`train.build_data`: NLI train files, SciFact claims_train, HealthVer
claims_dev, our own news-style hard cases); no eval, tuning or held-out set is read here.

    python -m lab.verifier.distil teacher --n 14000 --work .cache/distil
    python -m lab.verifier.distil train --work .cache/distil --epochs 2
    python -m lab.verifier.distil export --work .cache/distil --out factcheck/models/verifier-v10s6
    python -m lab.verifier.distil fit --work .cache/distil --out factcheck/models/verifier-v10s6
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np

KEEP = 4  # v10 layers shared with the student, frozen (--keep)
LAYERS = 6  # student depth
WEIGHTS = "student.safetensors"


def _sample(rows: list, n: int, seed: int) -> list:
    """n rows, every own-news/entity hard case first (the news register the product reads), the rest at random."""
    rng = random.Random(seed)
    is_own = [r[3].startswith(("hard:own_news", "hard:own_entity")) for r in rows]
    own = [r for r, o in zip(rows, is_own) if o]
    rest = [r for r, o in zip(rows, is_own) if not o]
    rng.shuffle(rest)
    out = own[: n // 3] + rest[: max(0, n - min(len(own), n // 3))]
    rng.shuffle(out)
    return out


def _retrieved_units(args, claims: list[dict]) -> list[tuple[str, str, int, str]]:
    """The units the judge would read for SciFact training claims over the SciFact corpus (unlabelled: v10 labels)."""
    from factcheck.judges.verifier import candidate_units, rank_units
    from factcheck.pipeline import build_pipeline
    from factcheck.settings import Settings

    pipe = build_pipeline(Settings(index_dir=args.scifact_index), load_judge=False)
    out: list[tuple[str, str, int, str]] = []
    per_claim = max(1, args.scifact_units // max(1, len(claims)) + 1)
    for c in claims:
        units = rank_units(candidate_units(c["claim"], pipe.search(c["claim"])), per_claim)
        out += [(u.text, u.claim, -1, "unit:scifact_train") for u in units]
    return out[: args.scifact_units]


def _encode(tokenizer, premises, hypotheses, max_length=128):
    from factcheck.verifier import model_text

    return tokenizer(
        [model_text(p) for p in premises],
        [model_text(h) for h in hypotheses],
        truncation="longest_first",
        max_length=max_length,
    )


def _padded(torch, enc, idx, pad_id):
    width = max(len(enc["input_ids"][i]) for i in idx)
    ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(idx), width), dtype=torch.long)
    for r, i in enumerate(idx):
        n = len(enc["input_ids"][i])
        ids[r, :n] = torch.tensor(enc["input_ids"][i])
        mask[r, :n] = 1
    return ids, mask


def teacher(args) -> None:
    """v10's logits and layer-4 states on the sampled training pairs (and its logits on the calibration pairs)."""
    import torch

    from factcheck.verifier import load_verifier
    from factcheck.verifier.model import length_batches

    from .train import build_data, claim_splits

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    data = build_data(Path(args.data), args.seed, args.scale)
    rows = _sample(data["train"], args.n, args.seed)
    if args.scifact_index:
        rows += _retrieved_units(args, claim_splits(Path(args.data), args.seed)[0])
    calib = data["calib"]
    print(f"{len(rows)} training pairs, {len(calib)} calibration pairs", flush=True)
    v = load_verifier(precision="bf16")
    model, tok = v.model, v.tokenizer
    torch.set_num_threads(args.threads)

    def run(pairs, keep_states):
        enc = _encode(tok, [p for p, *_ in pairs], [h for _, h, *_ in pairs])
        logits = np.zeros((len(pairs), 3), dtype=np.float32)
        states: list = [None] * len(pairs)
        t0, done = time.time(), 0
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            for idx in length_batches([len(x) for x in enc["input_ids"]], 32):
                ids, mask = _padded(torch, enc, idx, tok.pad_token_id)
                out = model(input_ids=ids, attention_mask=mask, output_hidden_states=keep_states)
                logits[idx] = out.logits.float().numpy()
                if keep_states:
                    h = out.hidden_states[args.keep].float().numpy().astype(np.float16)
                    for r, i in enumerate(idx):
                        states[i] = h[r, : int(mask[r].sum())]
                done += len(idx)
                if done % 1024 < len(idx):
                    print(f"  {done}/{len(pairs)} pairs, {done / (time.time() - t0):.1f}/s", flush=True)
        return logits, states

    calib_logits, _ = run(calib, False)
    logits, states = run(rows, True)
    np.savez(work / "calib.npz", logits=calib_logits, labels=np.array([r[2] for r in calib]))
    np.savez(
        work / "teacher.npz",
        logits=logits,
        labels=np.array([r[2] for r in rows]),
        lengths=np.array([len(s) for s in states]),
        states=np.concatenate(states),
    )
    with (work / "pairs.jsonl").open("w") as f:
        for p, h, label, src in rows:
            f.write(json.dumps({"premise": p, "hypothesis": h, "label": label, "source": src}) + "\n")
    with (work / "calib.jsonl").open("w") as f:
        for p, h, label, src in calib:
            f.write(json.dumps({"premise": p, "hypothesis": h, "label": label, "source": src}) + "\n")


def student_model(v10_model, layers: int = LAYERS):
    """v10 cut after `layers` layers (a copy; v10 itself is untouched)."""
    import copy

    student = copy.deepcopy(v10_model)
    student.mpnet.encoder.layer = student.mpnet.encoder.layer[:layers]
    student.config.num_hidden_layers = layers
    return student


def _top(student, h, mask2d, keep):
    """The student's trainable part: layers `keep`.. and the head, from layer-`keep` states."""
    from transformers.masking_utils import create_bidirectional_mask

    enc = student.mpnet.encoder
    pb = enc.compute_position_bias(h)
    mask = create_bidirectional_mask(config=student.config, inputs_embeds=h, attention_mask=mask2d)
    for layer in enc.layer[keep:]:
        h = layer(h, mask, pb)[0]
    return student.classifier(h)


def _kl(torch, s_logits, t_logits, temperature):
    ls = torch.log_softmax(s_logits / temperature, -1)
    lt = torch.log_softmax(t_logits / temperature, -1)
    return (lt.exp() * (lt - ls)).sum(-1).mean() * temperature**2


def train(args) -> None:
    """Fit layers 5-6 and the head to v10's logits (KL at T=1 and T=2) from the recorded layer-4 states."""
    import torch

    from factcheck.verifier import load_verifier

    work = Path(args.work)
    z = np.load(work / "teacher.npz")
    logits, lengths = z["logits"], z["lengths"]
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    states = z["states"]
    n = len(logits)
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(n)
    dev = order[: n // 10]
    tr = order[n // 10 :]
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    v = load_verifier()  # fp32 weights
    student = student_model(v.model)
    for p in student.parameters():
        p.requires_grad = False
    params = [p for m in (*student.mpnet.encoder.layer[args.keep :], student.classifier) for p in m.parameters()]
    for p in params:
        p.requires_grad = True

    def batch(idx):
        width = int(lengths[idx].max())
        h = torch.zeros((len(idx), width, states.shape[1]), dtype=torch.float32)
        m = torch.zeros((len(idx), width), dtype=torch.long)
        for r, i in enumerate(idx):
            a, b = offsets[i], offsets[i + 1]
            h[r, : b - a] = torch.from_numpy(states[a:b].astype(np.float32))
            m[r, : b - a] = 1
        return h, m, torch.from_numpy(logits[idx])

    def batches(ids, size, shuffle):
        ids = ids[np.argsort(lengths[ids], kind="stable")]
        chunks = [ids[i : i + size] for i in range(0, len(ids), size)]
        if shuffle:
            rng.shuffle(chunks)
        return chunks

    def evaluate():
        student.eval()
        out = np.zeros((len(dev), 3), dtype=np.float32)
        pos = {i: k for k, i in enumerate(dev)}
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            for idx in batches(dev, 64, False):
                h, m, _ = batch(idx)
                out[[pos[i] for i in idx]] = _top(student, h, m, args.keep).float().numpy()
        t = logits[dev]
        pt = _softmax(t)
        ps = _softmax(out)
        kl = float(np.mean(np.sum(pt * (np.log(pt + 1e-9) - np.log(ps + 1e-9)), 1)))
        return {"kl": round(kl, 4), "agree": round(float(np.mean(pt.argmax(1) == ps.argmax(1))), 4)}

    print("before training (v10 cut at 6 layers, its own head):", evaluate(), flush=True)
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    plan = [b for _ in range(args.epochs) for b in batches(tr, args.batch_size, True)]
    warm = max(1, len(plan) // 16)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warm) * max(0.0, 1 - s / len(plan)))
    t0 = time.time()
    for step, idx in enumerate(plan):
        student.train()
        h, m, t = batch(idx)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            s = _top(student, h, m, args.keep).float()
        loss = _kl(torch, s, t, 1.0) + _kl(torch, s, t, 2.0)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        if step % 50 == 0:
            print(f"step {step}/{len(plan)} loss {loss.item():.4f} {time.time() - t0:.0f}s", flush=True)
        if args.eval_every and step and step % args.eval_every == 0:
            print("  dev:", evaluate(), flush=True)
    result = evaluate()
    print("after training:", result, f"{time.time() - t0:.0f}s", flush=True)
    from safetensors.torch import save_file

    parts = {
        k: p.detach().contiguous()
        for k, p in student.state_dict().items()
        if k.startswith("classifier.")
        or any(k.startswith(f"mpnet.encoder.layer.{i}.") for i in range(args.keep, LAYERS))
    }
    save_file(parts, str(work / "student-fp32.safetensors"))
    (work / "train.json").write_text(
        json.dumps(
            {
                "pairs": int(n),
                "keep": args.keep,
                "train_pairs": int(len(tr)),
                "dev_pairs": int(len(dev)),
                "epochs": args.epochs,
                "lr": args.lr,
                "batch_size": args.batch_size,
                "seconds": round(time.time() - t0),
                "dev": result,
            },
            indent=2,
        )
    )


def _softmax(x):
    e = np.exp(x - x.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def export(args) -> None:
    """Write the student folder: its trained parts packed (8-bit), v10's config cut to 6 layers (tokens: v10's)."""
    import torch
    from safetensors.numpy import save_file
    from safetensors.torch import load_file

    from factcheck.verifier import DEFAULT_MODEL_DIR
    from factcheck.verifier.packed import FORMAT

    from .pack import pack_state

    work, out = Path(args.work), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    parts = load_file(str(work / "student-fp32.safetensors"))
    # 8-bit integer codes: NF4, as v10's own matrices are stored, cost the student a sixth of its agreement with
    # v10 on the distillation dev pairs (0.90 -> 0.75); its two retrained layers carry the whole difference.
    state = {k: v.to(torch.float32).numpy() for k, v in parts.items()}
    tensors, spec = pack_state(state, bits=args.bits, kind=args.kind)
    save_file(tensors, str(out / WEIGHTS), metadata={"format": FORMAT, "spec": json.dumps(spec)})
    config = json.loads((DEFAULT_MODEL_DIR / "config.json").read_text())
    config["num_hidden_layers"] = LAYERS
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    keep = json.loads((work / "train.json").read_text())["keep"]
    base = {"base": DEFAULT_MODEL_DIR.name, "shared_layers": keep, "layers": LAYERS}
    (out / "student.json").write_text(json.dumps(base, indent=2) + "\n")
    print(f"wrote {out} ({(out / WEIGHTS).stat().st_size:,} bytes of weights)")


def fit(args) -> None:
    """The shipped student's temperature (on the calibration pairs' gold labels) and its fidelity to v10."""
    from factcheck.metrics import ece, softmax
    from factcheck.verifier import DEFAULT_MODEL_DIR, Verifier

    from .fit import NOT_ENTAILMENT
    from .train import fit_temperature

    work, out = Path(args.work), Path(args.out)
    student = Verifier(out, precision="bf16")
    rows = [json.loads(line) for line in (work / "calib.jsonl").open()]
    keep = [i for i, r in enumerate(rows) if r["label"] != NOT_ENTAILMENT]
    rows = [rows[i] for i in keep]
    labels = np.array([r["label"] for r in rows])
    t_logits = np.load(work / "calib.npz")["logits"][keep]
    s_logits = student.logits([r["premise"] for r in rows], [r["hypothesis"] for r in rows])
    temperature = fit_temperature(s_logits, labels)
    v10_cal = json.loads((DEFAULT_MODEL_DIR / "calibration.json").read_text())
    ps, pt = softmax(s_logits / temperature), softmax(t_logits / v10_cal["temperature"])
    report = {
        "temperature": round(temperature, 4),
        "calibration_pairs": len(rows),
        "student_accuracy": round(float(np.mean(ps.argmax(1) == labels)), 4),
        "v10_accuracy": round(float(np.mean(pt.argmax(1) == labels)), 4),
        "agree_with_v10": round(float(np.mean(ps.argmax(1) == pt.argmax(1))), 4),
        "kl_from_v10": round(float(np.mean(np.sum(pt * (np.log(pt + 1e-9) - np.log(ps + 1e-9)), 1))), 4),
        "ece_after": round(ece(ps.max(1).tolist(), (ps.argmax(1) == labels).tolist()) or 0.0, 4),
    }
    print(report)
    cal = {
        "temperature": report["temperature"],
        "thresholds": v10_cal["thresholds"],  # the student imitates v10: its verdict rules are v10's
        "temperature_fitted_on": f"{len(rows)} calibration pairs of v10's training sources (gold labels)",
        "thresholds_from": DEFAULT_MODEL_DIR.name,
        "labels": v10_cal["labels"],
        "fidelity": report,
    }
    (out / "calibration.json").write_text(json.dumps(cal, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("phase", choices=["teacher", "train", "export", "fit"])
    ap.add_argument("--data", default="../shared/datasets")
    ap.add_argument("--work", default=".cache/distil")
    ap.add_argument("--out", default="factcheck/models/verifier-v10s6")
    ap.add_argument("--n", type=int, default=14000)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--eval-every", type=int, default=200)
    ap.add_argument("--keep", type=int, default=KEEP, help="v10 layers the student shares, frozen")
    ap.add_argument("--scifact-index", type=Path, help="teacher: an index of the SciFact corpus; adds retrieved units")
    ap.add_argument("--scifact-units", type=int, default=4000, help="teacher: that many retrieved units at most")
    ap.add_argument("--bits", type=int, default=8, help="export: code width of the student's matrices")
    ap.add_argument("--kind", default="int", choices=["int", "nf"], help="export: code levels")
    args = ap.parse_args(argv)
    {"teacher": teacher, "train": train, "export": export, "fit": fit}[args.phase](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
