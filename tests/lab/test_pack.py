"""Packed low-bit verifier weights: bit packing, quantization error, a packed folder loads and reads like its source."""

import json
import shutil

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file

from factcheck.errors import ModelError
from factcheck.verifier import DEFAULT_MODEL_DIR, Verifier, model_weights
from factcheck.verifier import packed as packed_format
from lab.verifier import pack as vp
from lab.verifier.fit import write_rows


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
def test_bits_round_trip(bits):
    codes = np.random.default_rng(bits).integers(0, 2**bits, size=1001).astype(np.uint8)
    buf = vp.pack_bits(codes, bits)
    assert buf.nbytes == -(-1001 * bits // 8)  # the stream really is `bits` per code
    assert np.array_equal(packed_format.unpack_bits(buf, bits, 1001), codes)


@pytest.mark.parametrize("kind", ["nf", "int"])
@pytest.mark.parametrize("bits", [3, 4])
def test_quantization_error_is_bounded_by_the_level_gap(kind, bits):
    w = np.random.default_rng(0).normal(scale=0.05, size=(96, 256)).astype(np.float32)
    w[3, 7] = 0.9  # an outlier only widens its own group's scale
    back = packed_format.dequantize(vp.quantize(w, bits, 64, kind), bits, 64, w.shape, kind)
    half_gap = np.diff(packed_format.code_levels(bits, kind)).max() / 2
    amax = np.abs(w.reshape(96, 4, 64)).max(axis=2, keepdims=True)
    srow = amax.max(axis=1, keepdims=True)
    # half the widest level gap at the group's own scale, plus the 8-bit scale code's rounding (row-relative)
    bound = (amax * half_gap + srow / 255).repeat(64, axis=2).reshape(w.shape)
    assert np.all(np.abs(back - w) <= bound + 1e-7)
    assert abs(back[3, 7] - 0.9) < 0.9 / 255 + 1e-6
    # the outlier's row mates in other groups keep their own fine scale, not the outlier's coarse one
    assert np.abs(back[3, 64:] - w[3, 64:]).max() < 0.9 * half_gap / 2


def test_normal_float_levels_beat_even_ones_on_normal_weights():
    w = np.random.default_rng(1).normal(size=(128, 512)).astype(np.float32)
    err = {
        k: float(((packed_format.dequantize(vp.quantize(w, 4, 64, k), 4, 64, w.shape, k) - w) ** 2).mean())
        for k in ("nf", "int")
    }
    assert err["nf"] < 0.85 * err["int"]
    assert (
        len(set(packed_format.nf_levels(4).tolist())) == 16
        and packed_format.nf_levels(3).min() == -1.0
        and 0.0 in packed_format.nf_levels(3)
    )


def test_pack_state_keeps_small_tensors_widths_and_narrow_rows():
    rng = np.random.default_rng(2)
    state = {
        "big.weight": rng.normal(size=(512, 256)).astype(np.float32),
        "emb.weight": rng.normal(size=(1024, 128)).astype(np.float32),
        "big.bias": rng.normal(size=512).astype(np.float32),
    }
    rare = np.arange(0, 1024, 4)
    tensors, spec = vp.pack_state(state, rules=[(r"^emb\.", 3, "int")], low_rows={"emb.weight": (rare, 2, "int")})
    assert spec["big.weight"]["bits"] == 4 and spec["big.weight"]["kind"] == "nf" and "big.bias" not in spec
    assert spec["emb.weight"]["bits"] == 3 and spec["emb.weight"]["low"] == {"bits": 2, "kind": "int", "n": 256}
    assert tensors["emb.weight.q"].nbytes == 768 * 128 * 3 // 8 and tensors["emb.weight.low.q"].nbytes == 256 * 128 // 4
    back = packed_format.unpack_state(tensors, json.loads(json.dumps(spec)))  # the spec survives the JSON header
    assert set(back) == set(state) and back["big.bias"].dtype == np.float32
    assert np.allclose(back["big.bias"], state["big.bias"], atol=1e-2)
    err = (back["emb.weight"] - state["emb.weight"]) ** 2
    common = np.setdiff1d(np.arange(1024), rare)
    # every row comes back in its place, the narrow ones coarser
    assert np.corrcoef(back["emb.weight"][common].ravel(), state["emb.weight"][common].ravel())[0, 1] > 0.95
    assert np.corrcoef(back["emb.weight"][rare].ravel(), state["emb.weight"][rare].ravel())[0, 1] > 0.75
    assert err[rare].mean() > 2 * err[common].mean()
    assert np.corrcoef(back["big.weight"].ravel(), state["big.weight"].ravel())[0, 1] > 0.99


def test_gptq_with_an_identity_hessian_is_round_to_nearest():
    w = np.random.default_rng(2).normal(scale=0.05, size=(64, 256)).astype(np.float32)
    for bits, kind in [(4, "nf"), (3, "int")]:
        a, b = vp.quantize(w, bits, 64, kind), vp.gptq_quantize(w, np.eye(256), bits, 64, kind)
        assert all(
            np.array_equal(a[p], b[p]) for p in packed_format.PARTS
        )  # uncorrelated inputs: nothing to compensate


def _output_error(w, back, x):
    return np.linalg.norm(x @ (w - back).T) / np.linalg.norm(x @ w.T)


@pytest.mark.parametrize("kind", ["nf", "int"])
def test_gptq_moves_a_layers_output_less_than_round_to_nearest(kind):
    rng = np.random.default_rng(3)
    w = rng.normal(scale=0.05, size=(128, 256)).astype(np.float32)
    x = rng.normal(size=(3000, 256)) @ (np.eye(256) + 0.15 * rng.normal(size=(256, 256)))  # correlated inputs
    h = x.T @ x / len(x)
    rtn = packed_format.dequantize(vp.quantize(w, 3, 64, kind), 3, 64, w.shape, kind)
    parts = vp.gptq_quantize(w, h, 3, 64, kind)
    gptq = packed_format.dequantize(
        parts, 3, 64, w.shape, kind
    )  # the same file format: `dequantize` reads it unchanged
    assert parts["q"].nbytes == w.size * 3 // 8 and parts["scale"].shape == (128, 4)
    assert _output_error(w, gptq, x) < 0.85 * _output_error(w, rtn, x)
    assert np.corrcoef(gptq.ravel(), w.ravel())[0, 1] > 0.9  # still the same weights, not a refit
    with pytest.raises(ValueError, match="Hessian"):
        vp.gptq_quantize(w, h[:64, :64], 3, 64, kind)


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    """A small real cross-encoder (random weights) saved like a shipped model folder, with the shipped tokenizer."""
    import torch
    from transformers import AutoModelForSequenceClassification, MPNetConfig

    src = tmp_path_factory.mktemp("tiny")
    tok_dir = DEFAULT_MODEL_DIR
    vocab = json.loads((tok_dir / "config.json").read_text())["vocab_size"]
    cfg = MPNetConfig(
        vocab_size=vocab,
        hidden_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=512,
        num_labels=3,
        id2label={0: "entailment", 1: "neutral", 2: "contradiction"},
        label2id={"entailment": 0, "neutral": 1, "contradiction": 2},
    )
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(cfg)
    model.save_pretrained(src)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy2(tok_dir / name, src / name)
    return src


def test_packed_folder_loads_and_reads_like_its_source(tiny_folder, tmp_path):
    out = tmp_path / "packed"
    report = vp.pack_folder(tiny_folder, out, bits=4, group=64)
    assert model_weights(out) == out / packed_format.WEIGHTS and not (out / "model.safetensors").exists()
    assert report["weights_bytes"] < (tiny_folder / "model.safetensors").stat().st_size / 5
    src, packed = Verifier(tiny_folder), Verifier(out)
    prem = [
        "The ministry said 140 schools were damaged.",
        "Officials expect the water to recede by Friday.",
        "The vote was 9 to 2.",
    ] * 3
    hyp = ["140 schools were damaged.", "The water will recede soon.", "The council vote was close."] * 3
    a, b = src.logits(prem, hyp), packed.logits(prem, hyp)
    assert np.abs(a - b).max() < 0.05 * max(1.0, np.abs(a).max())
    assert packed.version.startswith("packed+") and packed.version != src.version


def test_bad_packed_weights_are_a_model_error(tiny_folder, tmp_path):
    out = tmp_path / "packed"
    vp.pack_folder(tiny_folder, out)
    (out / packed_format.WEIGHTS).write_bytes(b"not a safetensors file")
    with pytest.raises(ModelError, match="cannot read packed verifier weights"):
        Verifier(out)
    (out / packed_format.WEIGHTS).unlink()
    with pytest.raises(ModelError, match="missing"):
        Verifier(out)


def test_cli_packs_and_rejects_bad_input(tiny_folder, tmp_path, capsys):
    assert vp.main(["pack", str(tmp_path / "nowhere"), str(tmp_path / "o")]) == 2
    assert "no model.safetensors" in capsys.readouterr().err
    assert vp.main(["pack", str(tiny_folder), str(tmp_path / "o"), "--rule", "oops"]) == 2
    assert "PATTERN=BITS" in capsys.readouterr().err
    assert vp.main(["pack", str(tiny_folder), str(tmp_path / "o"), "--rare-rows", "x=2:int"]) == 2
    assert "--counts" in capsys.readouterr().err
    emb = "mpnet.embeddings.word_embeddings.weight"
    counts = tmp_path / "counts.json"
    counts.write_text(json.dumps({str(i): 500 for i in range(1000)}))  # only the first 1,000 ids are common
    assert (
        vp.main(
            [
                "pack",
                str(tiny_folder),
                str(tmp_path / "o"),
                "--rule",
                r"intermediate\.dense=3:int",
                "--rare-rows",
                f"{emb}=2:int",
                "--counts",
                str(counts),
                "--rare-below",
                "100",
            ]
        )
        == 0
    )
    printed = json.loads(capsys.readouterr().out)
    vocab = json.loads((tiny_folder / "config.json").read_text())["vocab_size"]
    assert printed["low_rows"][emb] == {"n": vocab - 1000, "bits": 2, "kind": "int"}
    assert printed["params_by_width"]["int3"] == 2 * 512 * 128  # the two layers' intermediate matrices
    assert printed["params_by_width"]["int2"] == (vocab - 1000) * 128
    assert Verifier(tmp_path / "o").logits(["a b"], ["a"]).shape == (1, 3)


def test_gptq_pack_measures_every_linear_layer_and_beats_round_to_nearest(tiny_folder, tmp_path, capsys):
    sents = [
        "The ministry said 140 schools were damaged in the floods.",
        "Officials expect the water to recede.",
        "The council voted 9 to 2 to close the bridge.",
        "Rescue teams reached the village on Tuesday.",
        "No injuries were reported at the plant.",
        "The mayor blamed the storm for the outage.",
    ]
    rows = [(a, b, 1, "test") for a in sents for b in sents]
    pairs_file = tmp_path / "pairs.jsonl.gz"
    write_rows(pairs_file, rows, [len(a) + len(b) for a, b, _, _ in rows])
    pairs = vp.calibration_pairs(pairs_file, 24)
    assert len(pairs) == 24 and pairs[0] == rows[0][:2] and pairs[-1] == rows[-1][:2]
    kw = dict(bits=3, group=64, kind="nf", rules=[], low_rows=None)
    hess = vp.gptq_pack_hessians(tiny_folder, pairs, progress=False, **kw)
    # the tiny model's packable linears: each layer's FFN in and out (its 128x128 attention matrices are too small)
    assert sorted(hess) == sorted(
        f"mpnet.encoder.layer.{i}.{m}.dense.weight" for i in (0, 1) for m in ("intermediate", "output")
    )
    state = load_file(str(tiny_folder / "model.safetensors"))
    for key, h in hess.items():
        assert h.shape == (state[key].shape[1],) * 2 and np.allclose(h, h.T) and np.linalg.eigvalsh(h).min() > -1e-6
        w = state[key].astype(np.float64)
        rtn = packed_format.dequantize(vp.quantize(w, 3, 64), 3, 64, w.shape)
        gptq = packed_format.dequantize(vp.gptq_quantize(w, h, 3, 64), 3, 64, w.shape)
        # the error the layer's output sees on the calibration inputs: tr(dW H dW^T)
        assert np.trace((w - gptq) @ h @ (w - gptq).T) < np.trace((w - rtn) @ h @ (w - rtn).T)
    out = tmp_path / "o"
    assert (
        vp.main(["pack", str(tiny_folder), str(out), "--bits", "3", "--gptq", str(pairs_file), "--gptq-n", "24"]) == 0
    )
    printed = json.loads(capsys.readouterr().out)
    assert printed["gptq"] == {"pairs": 24, "matrices": 4}
    with safe_open(str(out / packed_format.WEIGHTS), "np") as f:
        spec = json.loads(f.metadata()["spec"])
    assert sorted(k for k, v in spec.items() if v.get("gptq")) == sorted(hess)
    assert Verifier(out).logits(["a b"], ["a"]).shape == (1, 3)
    assert vp.main(["pack", str(tiny_folder), str(out), "--gptq", str(tmp_path / "none.jsonl.gz")]) == 2
    assert "--gptq needs a pairs file" in capsys.readouterr().err


def test_token_counts_read_only_training_side_files(tmp_path):
    data = tmp_path / "datasets"
    for rel, text in [
        ("nli/snli/train.jsonl", "zebra crossing"),
        ("scifact/claims_dev.jsonl", "aardvark"),
        ("scifact/claims_train.jsonl", "zebra"),
        ("healthver/claims_test.jsonl", "aardvark"),
    ]:
        (data / rel).parent.mkdir(parents=True, exist_ok=True)
        (data / rel).write_text(json.dumps({"claim": text, "id": 1}) + "\n" + "not json\n")
    counts = vp.token_counts(data, DEFAULT_MODEL_DIR, progress=False)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(DEFAULT_MODEL_DIR)
    (zebra,) = tok("zebra", add_special_tokens=False)["input_ids"]
    assert counts[zebra] == 2
    assert not any(
        i in counts for i in tok("aardvark", add_special_tokens=False)["input_ids"]
    )  # reported splits unread
