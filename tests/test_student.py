"""The student cascade: a 6-layer student distilled from v10 decides the claims it is sure of; v10 reads the rest."""

from __future__ import annotations

import numpy as np
import pytest

from factcheck.judges import make_judge
from factcheck.judges.cascade import CascadeJudge
from factcheck.judges.verifier import Escalation, VerifierJudge
from factcheck.settings import Settings
from factcheck.verifier import DEFAULT_MODEL_DIR, load_verifier, model_weights
from factcheck.verifier.model import STUDENT_MODEL_DIR, model_version
from tests.test_fast_judge import ARTICLE, CLAIM, CountingScorer, ScriptedLogits, _hits

REPO_SEED = STUDENT_MODEL_DIR.parents[2] / "evals" / "corpus" / "iraq-coalition-2024"
needs_student = pytest.mark.skipif(model_weights(STUDENT_MODEL_DIR) is None, reason="no shipped student model")

PAIRS = [
    ("The ministry said 140 schools were damaged by the floods.", "Floods damaged 140 schools."),
    ("The ministry said 140 schools were damaged by the floods.", "No schools were damaged by the floods."),
    ("Insurers put the damage at 80 million euros.", "The mayor resigned on Friday."),
    ("About 2,500 soldiers were sent to help.", "Some 2,500 troops were deployed to help."),
]


@needs_student
def test_student_is_v10s_first_layers_and_six_layers_deep():
    import json

    import torch

    spec = json.loads((STUDENT_MODEL_DIR / "student.json").read_text())
    student, v10 = load_verifier(STUDENT_MODEL_DIR), load_verifier()
    assert student.model.config.num_hidden_layers == spec["layers"] == 6 and v10.model.config.num_hidden_layers == 12
    s, v = student.model.state_dict(), v10.model.state_dict()
    own = ("classifier.", *(f"mpnet.encoder.layer.{i}." for i in range(spec["shared_layers"], 6)))
    shared = [k for k in s if not k.startswith(own)]
    assert len(shared) > 20 and all(torch.equal(s[k], v[k]) for k in shared)  # embeddings, shared layers: v10's
    key = "mpnet.encoder.layer.5.output.dense.weight"
    assert not torch.equal(s[key], v[key])
    assert not torch.equal(s["classifier.out_proj.weight"], v["classifier.out_proj.weight"])
    assert student.version == model_version(STUDENT_MODEL_DIR) and student.version.startswith("verifier-v10s6+")
    assert student.version != v10.version and 0 < student.temperature
    assert student.thresholds == v10.thresholds  # it imitates v10, so it is read by v10's rules
    premises, claims = [p for p, _ in PAIRS], [h for _, h in PAIRS]
    ps, pv = student.score(premises, claims), v10.score(premises, claims)
    assert np.allclose(ps.sum(1), 1.0, atol=1e-5)
    assert (ps.argmax(1) == pv.argmax(1)).all()  # clear pairs: the student reads them as v10 does


def test_a_claim_the_student_decides_never_loads_v10_and_an_unclear_one_reads_it_once():
    built: list[VerifierJudge] = []
    second = CountingScorer()

    def last() -> VerifierJudge:
        built.append(VerifierJudge(second, max_units=3))
        return built[-1]

    rule = Escalation(below=0.8, unverified_below=0.99)
    hits = _hits(ARTICLE)
    clear = CascadeJudge(
        VerifierJudge(ScriptedLogits({"2,500 soldiers": [5.0, 0.0, 0.0]}), max_units=2), last, rule, "counting-1"
    )
    verdict = clear.judge(CLAIM, hits)
    assert verdict.label == "supported" and verdict.decided_by == "scripted:top2"
    assert not built and not clear.last_loaded and clear.units_read() == 2
    assert clear.version == "scripted-1>counting-1"

    first = ScriptedLogits({})
    unclear = CascadeJudge(VerifierJudge(first, max_units=2), last, rule, "counting-1")
    verdict = unclear.judge(CLAIM, hits)
    assert len(built) == 1 and unclear.decided == {"first": 0, "last": 1}
    assert verdict.label == "supported" and verdict.decided_by == "counting:top3"  # the stage that decided
    assert len(first.pairs) == 2 and len(second.pairs) == 3 and unclear.units_read() == 5
    unclear.judge(CLAIM, hits)
    assert len(built) == 1  # built once


@pytest.mark.parametrize("shift", [-0.01, 0.0, 0.01])
def test_the_student_stage_escalates_exactly_below_the_fitted_confidence(shift):
    hits = _hits(ARTICLE)
    first = VerifierJudge(ScriptedLogits({"2,500 soldiers": [2.0, 0.0, 0.0]}), max_units=2)
    confidence = first.judge(CLAIM, hits).confidence
    rule = Escalation(below=confidence + shift, unverified_below=0.0)
    cascade = CascadeJudge(first, lambda: VerifierJudge(CountingScorer(), max_units=3), rule, "counting-1")
    verdict = cascade.judge(CLAIM, hits)
    assert cascade.last_loaded is (shift > 0)  # strictly below the bar escalates; at the bar it does not
    assert verdict.decided_by == ("counting:top3" if shift > 0 else "scripted:top2")


@needs_student
def test_default_offline_judge_is_the_student_cascade_and_settings_turn_it_off():
    judge = make_judge(Settings(judge="verifier", verifier_backend="torch"))
    assert isinstance(judge, CascadeJudge)
    assert judge.first.model == "verifier-v10s6" and judge.first.max_units == Settings().verifier_student_units
    assert judge.version == f"{judge.first.version}>{model_version(DEFAULT_MODEL_DIR)}"
    assert judge.rule == Escalation(
        below=Settings().verifier_student_escalate_below,
        unverified_below=Settings().verifier_student_escalate_unverified_below,
    )
    assert isinstance(
        make_judge(Settings(judge="verifier", verifier_backend="torch", verifier_student=False)), VerifierJudge
    )
    # Another verifier configured: the bundled student does not imitate it, so it is not used.
    assert isinstance(
        make_judge(Settings(judge="verifier", verifier_backend="torch", verifier_path=DEFAULT_MODEL_DIR)), VerifierJudge
    )


@needs_student
def test_a_broken_student_folder_is_a_model_error_not_a_wrong_model(tmp_path):
    import json
    import shutil

    from factcheck.errors import ModelError
    from factcheck.verifier import Verifier

    (tmp_path / DEFAULT_MODEL_DIR.name).symlink_to(DEFAULT_MODEL_DIR)  # the base beside it, as in the package
    folder = tmp_path / "student"
    shutil.copytree(STUDENT_MODEL_DIR, folder)
    spec = json.loads((folder / "student.json").read_text())
    (folder / "student.json").write_text(json.dumps({"base": spec["base"]}))
    with pytest.raises(ModelError, match="student.json"):
        Verifier(folder)
    # Claiming one layer fewer is shared than the weights hold would leave that layer at v10's values.
    (folder / "student.json").write_text(json.dumps({**spec, "shared_layers": spec["shared_layers"] - 1}))
    with pytest.raises(ModelError, match="are not layers"):
        Verifier(folder)
    (folder / "student.json").write_text(json.dumps({**spec, "base": "missing-model"}))
    with pytest.raises(ModelError, match="base model"):
        Verifier(folder)


def test_the_bench_rows_called_default_are_the_default_settings():
    from factcheck.bench.frontier import CONFIGS

    s = Settings()
    defaults = [c for c in CONFIGS if "(default" in c.name]
    assert {c.precision for c in defaults} == {"bf16", "fp32"}
    for c in defaults:
        assert c.student_units == s.verifier_student_units and s.verifier_student
        assert (c.max_units, c.escalate_units) == (s.verifier_max_units, s.verifier_escalate_units)
        assert (c.escalate_below, c.escalate_unverified_below) == (
            s.verifier_escalate_below,
            s.verifier_escalate_unverified_below,
        )


@needs_student
def test_a_served_app_loads_the_second_stage_at_start_up(tmp_path):
    from fastapi.testclient import TestClient

    from factcheck.api import create_app
    from factcheck.pipeline import build_index

    settings = Settings(_env_file=None, index_dir=tmp_path / "index", embedder="hash", judge="verifier", llm_model=None)
    build_index(settings, [REPO_SEED])
    with TestClient(create_app(settings)) as client:  # the lifespan builds the pipeline, as `factcheck serve` does
        judge = client.app.state.pipeline.judge
        assert isinstance(judge, CascadeJudge) and judge.last_loaded  # before any claim escalated
        assert client.post("/check", json={"claim": CLAIM}).status_code == 200
