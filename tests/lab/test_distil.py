"""Distillation from recorded states: the student's top layers read from layer-k states as the whole student would."""

from __future__ import annotations

import pytest

from factcheck.verifier import DEFAULT_MODEL_DIR, load_verifier, model_weights
from lab.verifier.distil import _encode, _padded, _sample, _top, student_model


@pytest.mark.skipif(model_weights(DEFAULT_MODEL_DIR) is None, reason="no shipped verifier model")
@pytest.mark.parametrize("keep", [2, 4])
def test_top_layers_from_recorded_states_equal_the_whole_student(keep):
    import torch

    v10 = load_verifier()
    student = student_model(v10.model)
    assert len(student.mpnet.encoder.layer) == 6 and len(v10.model.mpnet.encoder.layer) == 12  # v10 untouched
    enc = _encode(
        v10.tokenizer,
        ["The ministry said 140 schools were damaged.", "Insurers put the damage at 80 million euros, a record."],
        ["Floods damaged 140 schools.", "The damage was put at 80 million euros"],
    )
    ids, mask = _padded(torch, enc, [0, 1], v10.tokenizer.pad_token_id)
    assert mask[0].sum() < mask[1].sum()  # one row padded: the mask must carry through
    with torch.inference_mode():
        whole = student(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        top = _top(student, whole.hidden_states[keep], mask, keep)
    assert torch.allclose(top, whole.logits, atol=1e-4)


def test_sample_keeps_a_third_for_own_news_cases_and_is_reproducible():
    rows = [(f"p{i}", f"h{i}", 0, "hard:own_news" if i % 2 else "nli/x") for i in range(300)]
    got = _sample(rows, 90, seed=13)
    assert len(got) == 90 and got == _sample(rows, 90, seed=13)
    assert sum(r[3] == "hard:own_news" for r in got) == 30
