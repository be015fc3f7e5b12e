"""The eval runner: metrics against hand-computed values, loaders, resume, error cases, CLI output, compare."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from factcheck import evals, metrics
from factcheck.cli import main
from factcheck.errors import InputError
from factcheck.settings import Settings
from tests.fakes import ScriptedJudge

FIX = Path(__file__).resolve().parent / "fixtures" / "evals"
REPO = Path(__file__).resolve().parent.parent
SEED = REPO / "evals" / "datasets" / "seed-news.jsonl"
S, C, U = "supported", "contradicted", "unverified"

SUMMARY_FIELDS = {
    "n",
    "n_errors",
    "accuracy",
    "macro_f1",
    "per_label",
    "confusion",
    "evidence_recall_at_k",
    "citation_precision",
    "quote_validity",
    "ece",
    "latency_ms",
    "judge",
    "judge_version",
    "prompt_version",
    "model",
    "runtime",
    "stages",
    "index",
    "dataset",
    "git_commit",
    "usage",
    "baselines",
}


TINY_SCRIPT = {
    "The Portville harbor bridge reopened on Monday.": S,  # right
    "The city spent 400 million dollars on the bridge repairs.": S,  # wrong (gold contradicted)
    "The council voted 7 to 2 to build a new library.": S,  # right
    "The new library will have a rooftop cafe.": U,  # right
    "Mayor Lena Ortiz resigned last week.": C,  # wrong (gold unverified)
}


@pytest.fixture()
def hash_settings(tmp_path) -> Settings:
    return Settings(embedder="hash", index_dir=tmp_path / "no-index", llm_model=None, top_k=3)


def _run(settings, tmp_path, judge, out="run", limit=None, concurrency=2):
    es = evals.load_eval_set(FIX / "tiny.jsonl", "auto", FIX / "corpus")
    return evals.run_eval(
        es,
        settings,
        out_dir=tmp_path / out,
        limit=limit,
        concurrency=concurrency,
        judge=judge,
        cache_dir=tmp_path / "cache",
        progress=False,
    )


# ---------------------------------------------------------------------------------------------- metrics


def test_confusion_accuracy_per_label_and_macro_f1_by_hand():
    gold = [S, S, C, U, U]
    pred = [S, C, C, U, S]
    m = metrics.confusion_matrix(gold, pred)
    assert m == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]
    assert metrics.accuracy(gold, pred) == pytest.approx(0.6)
    pl = metrics.per_label_scores(m)
    assert pl[S] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2, "predicted": 2})
    assert pl[C]["precision"] == pytest.approx(0.5) and pl[C]["recall"] == pytest.approx(1.0)
    assert pl[C]["f1"] == pytest.approx(2 / 3)
    assert pl[U]["precision"] == pytest.approx(1.0) and pl[U]["recall"] == pytest.approx(0.5)
    assert pl[U]["f1"] == pytest.approx(2 / 3)
    assert metrics.macro_f1(m) == pytest.approx((0.5 + 2 / 3 + 2 / 3) / 3)


def test_macro_f1_ignores_labels_absent_from_gold_and_predictions():
    m = metrics.confusion_matrix([S, S], [S, U])
    # supported: p=1, r=0.5, f1=2/3; unverified: predicted once, never gold -> f1 0; contradicted absent.
    assert metrics.macro_f1(m) == pytest.approx((2 / 3 + 0.0) / 2)
    assert metrics.macro_f1(metrics.confusion_matrix([], [])) is None


def test_ece_and_reliability_bins_by_hand():
    conf = [0.95, 0.85, 0.15, 0.55, 0.58]
    ok = [True, False, True, True, False]
    # bins: 0.9 {0.95 ok} gap .05; 0.8 {0.85 wrong} gap .85; 0.1 {0.15 ok} gap .85; 0.5 {.55 ok, .58 wrong} gap .065
    assert metrics.ece(conf, ok) == pytest.approx((0.05 + 0.85 + 0.85 + 2 * 0.065) / 5)
    bins = metrics.reliability_bins(conf, ok)
    assert [b["n"] for b in bins] == [1, 2, 1, 1]
    assert bins[1]["accuracy"] == 0.5 and bins[1]["confidence"] == pytest.approx(0.565)
    assert metrics.reliability_bins([1.0], [True])[0]["lo"] == pytest.approx(0.9)  # 1.0 falls in the last bin
    assert metrics.ece([], []) is None


def test_recall_at_k_and_citation_precision_by_hand():
    gold = [["a"], ["b", "c"], [], ["d"]]
    retrieved = [["x", "a"], ["c"], ["a"], ["x", "y", "d"]]
    assert metrics.evidence_recall_at_k(gold, retrieved, 2) == {"value": pytest.approx(2 / 3), "n": 3, "hits": 2}
    assert metrics.evidence_recall_at_k(gold, retrieved, None)["value"] == 1.0
    assert metrics.evidence_recall_at_k([[]], [["a"]], 5)["value"] is None
    cp = metrics.citation_precision([["a"], ["b"]], [["a", "x"], []])
    assert cp == {"value": 0.5, "n_citations": 2, "n_cases": 1}
    assert metrics.citation_precision([["a"], ["b"]], [["a"], ["b", "c"]])["value"] == pytest.approx(2 / 3)


def test_percentiles_and_baselines_by_hand():
    assert metrics.percentile([40, 10, 30, 20], 50) == pytest.approx(25)
    assert metrics.percentile([10, 20, 30, 40], 95) == pytest.approx(38.5)
    assert metrics.percentile([], 50) is None
    assert evals.similarity_baseline([0.7, 0.59, None, 0.6]) == [S, U, U, S]
    assert evals.majority_baseline([U, S, U, C]) == (U, [U] * 4)
    assert evals.majority_baseline([C, S])[0] == S  # ties go to the first label in LABELS order


def test_healthver_majority_label_policy():
    assert evals.healthver_label(["supported", "supported", "nei"]) == S
    assert evals.healthver_label(["Refutes", "Neutral", "Refutes"]) == C
    assert evals.healthver_label(["supported", "contradicted"]) == U  # tie
    assert evals.healthver_label([]) == U


# ---------------------------------------------------------------------------------------------- loaders


def test_loaders_on_fixtures_detect_format_and_map_labels():
    tiny = evals.load_eval_set(FIX / "tiny.jsonl", corpus=FIX / "corpus")
    assert tiny.fmt == "jsonl" and [c.label for c in tiny.cases] == [S, C, S, U, U]
    assert tiny.cases[0].evidence == ["alpha"] and tiny.cases[0].category == "direct"
    assert tiny.corpus.kind == "files"

    sf = evals.load_eval_set(FIX / "scifact" / "claims_dev_claimlevel.jsonl")
    assert sf.fmt == "scifact" and [c.label for c in sf.cases] == [S, C, U]
    assert sf.cases[0].evidence == ["101"] and sf.cases[2].evidence == []  # NEI: cited docs are not gold
    arts = evals.corpus_articles(sf.corpus)
    assert arts[0].id == "101" and arts[0].title == "Vitamin Q and hypertension"
    assert (
        arts[0].text
        == "Vitamin Q lowered systolic blood pressure in a trial of 300 adults. No adverse events were seen."
    )

    cf = evals.load_eval_set(FIX / "climate_fever" / "claims.jsonl")
    assert cf.fmt == "climate-fever" and [c.label for c in cf.cases] == [S, C, U, "disputed"]
    assert cf.cases[0].evidence == ["Sea level:1"]  # the NEI sentence is not gold
    assert cf.cases[3].evidence == ["Sea level:1", "Ocean:2"]
    assert [a.id for a in evals.corpus_articles(cf.corpus)] == ["Sea level:1", "Ocean:2"]

    hv = evals.load_eval_set(FIX / "healthver" / "claims_test.jsonl")
    assert hv.fmt == "healthver" and [c.label for c in hv.cases] == [S, C, U]
    assert hv.cases[0].evidence == ["hv-e1"] and hv.cases[1].evidence == ["hv-e2"]


def test_loader_errors_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="no such dataset"):
        evals.load_eval_set(tmp_path / "missing.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "1", "claim": "x", "label": "maybe"}\n')
    with pytest.raises(InputError, match="unknown label"):
        evals.load_eval_set(bad, "jsonl")
    bad.write_text('{"id": "1", "claim": "x", "label": "supported"}\nnot json\n')
    with pytest.raises(InputError, match=":2: not valid JSON"):
        evals.load_eval_set(bad, "jsonl")
    bad.write_text('{"id": 1, "claim": "x", "evidence": {}, "label": "NEI"}\n')
    with pytest.raises(InputError, match="no corpus file"):
        evals.load_eval_set(bad, "scifact")


# ---------------------------------------------------------------------------------------------- runner


def test_run_writes_every_output_and_scores_the_scripted_judge(hash_settings, tmp_path):
    judge = ScriptedJudge(TINY_SCRIPT)
    summary, run_dir = _run(hash_settings, tmp_path, judge)
    for name in ("summary.json", "cases.jsonl", "report.md", "confusion.png", "reliability.png", "run.json"):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    assert summary["n"] == 5 and summary["n_errors"] == 0
    assert summary["accuracy"] == pytest.approx(3 / 5)
    assert summary["confusion"]["matrix"] == [[2, 0, 0], [1, 0, 0], [0, 1, 1]]
    assert summary["judge"] == "scripted" and summary["judge_version"] == "test-1"
    assert summary["prompt_version"] == "none" and summary["model"] == "script"
    assert summary["index"]["articles"] == 2 and len(summary["index"]["manifest_sha256"]) == 64
    assert summary["dataset"]["sha256"] == evals._sha256(FIX / "tiny.jsonl")
    # Every citation was cut at its real offsets.
    assert summary["quote_validity"]["value"] == 1.0
    assert summary["quote_validity"]["n_citations"] == 4  # one per non-unverified verdict
    assert summary["baselines"]["majority_class"]["label"] == S
    assert summary["baselines"]["majority_class"]["accuracy"] == pytest.approx(2 / 5)
    assert summary["by_category"]["direct"] == {"n": 2, "accuracy": 1.0}
    assert SUMMARY_FIELDS <= set(summary)
    assert json.loads((run_dir / "summary.json").read_text())["macro_f1"] == pytest.approx(summary["macro_f1"])
    assert "| supported |" in (run_dir / "report.md").read_text()


def test_quote_validity_catches_shifted_offsets(hash_settings, tmp_path):
    summary, _ = _run(hash_settings, tmp_path, ScriptedJudge(TINY_SCRIPT, bad_offsets=True))
    assert summary["quote_validity"]["value"] == 0.0


def test_resume_skips_finished_cases(hash_settings, tmp_path):
    first = ScriptedJudge(TINY_SCRIPT)
    s1, run_dir = _run(hash_settings, tmp_path, first, limit=3)
    assert len(first.calls) == 3 and s1["n"] == 3
    second = ScriptedJudge(TINY_SCRIPT)
    s2, _ = _run(hash_settings, tmp_path, second)
    assert sorted(second.calls) == sorted(
        ["The new library will have a rooftop cafe.", "Mayor Lena Ortiz resigned last week."]
    )
    assert s2["n"] == 5
    ids = [json.loads(line)["id"] for line in (run_dir / "cases.jsonl").read_text().splitlines()]
    assert sorted(ids) == ["t1", "t2", "t3", "t4", "t5"]
    third = ScriptedJudge(TINY_SCRIPT)
    _run(hash_settings, tmp_path, third)
    assert third.calls == []


def test_a_case_that_raises_is_recorded_and_the_run_completes(hash_settings, tmp_path):
    script = {**TINY_SCRIPT, "The council voted 7 to 2 to build a new library.": "raise"}
    summary, run_dir = _run(hash_settings, tmp_path, ScriptedJudge(script), concurrency=1)
    assert summary["n"] == 5 and summary["n_errors"] == 1 and summary["n_scored"] == 4
    rows = {json.loads(line)["id"]: json.loads(line) for line in (run_dir / "cases.jsonl").read_text().splitlines()}
    assert rows["t3"]["error"].startswith("RuntimeError: scripted failure") and rows["t3"]["pred"] is None
    assert "t3" in (run_dir / "report.md").read_text()
    # A rerun retries only the failed case.
    retry = ScriptedJudge(TINY_SCRIPT)
    summary2, _ = _run(hash_settings, tmp_path, retry)
    assert retry.calls == ["The council voted 7 to 2 to build a new library."]
    assert summary2["n_errors"] == 0


def test_resume_refuses_a_different_dataset(hash_settings, tmp_path):
    _run(hash_settings, tmp_path, ScriptedJudge(TINY_SCRIPT), limit=1)
    other = evals.load_eval_set(FIX / "healthver" / "claims_test.jsonl")
    with pytest.raises(InputError, match="another dataset"):
        evals.run_eval(
            other,
            hash_settings,
            out_dir=tmp_path / "run",
            judge=ScriptedJudge({}),
            cache_dir=tmp_path / "cache",
            progress=False,
        )


def test_dataset_corpus_is_indexed_once_into_the_cache(hash_settings, tmp_path):
    es = evals.load_eval_set(FIX / "climate_fever" / "claims.jsonl")
    s1, _ = evals.run_eval(
        es, hash_settings, out_dir=tmp_path / "a", judge=ScriptedJudge({}), cache_dir=tmp_path / "cache", progress=False
    )
    built = list((tmp_path / "cache").iterdir())
    assert len(built) == 1 and (built[0] / "manifest.json").is_file()
    mtime = (built[0] / "manifest.json").stat().st_mtime_ns
    s2, _ = evals.run_eval(
        es, hash_settings, out_dir=tmp_path / "b", judge=ScriptedJudge({}), cache_dir=tmp_path / "cache", progress=False
    )
    assert (built[0] / "manifest.json").stat().st_mtime_ns == mtime
    assert s1["index"]["manifest_sha256"] == s2["index"]["manifest_sha256"]
    # An index directory given as --corpus is used as it is.
    direct = evals.load_eval_set(FIX / "climate_fever" / "claims.jsonl", corpus=built[0])
    assert direct.corpus.kind == "index"
    s3, _ = evals.run_eval(
        direct,
        hash_settings,
        out_dir=tmp_path / "c",
        judge=ScriptedJudge({}),
        cache_dir=tmp_path / "other-cache",
        progress=False,
    )
    assert s3["index"]["path"] == str(built[0]) and not (tmp_path / "other-cache").exists()
    # Disputed claims are run but kept out of the 3-way metrics.
    assert s1["n"] == 4 and s1["n_scored"] == 3 and s1["disputed"] == {"n": 1, "predicted": {U: 1}}
    assert s1["evidence_recall_at_k"]["n"] == 2 and s1["evidence_recall_at_k"]["value"] == 1.0


# ---------------------------------------------------------------------------------------------- CLI


@pytest.fixture()
def cli_env(monkeypatch, tmp_path):
    """The CLI with the hash embedder and the scripted judge registered as the offline judge."""
    from factcheck import judges

    monkeypatch.setenv("FACTCHECK_EMBEDDER", "hash")
    monkeypatch.setenv("FACTCHECK_INDEX_DIR", str(tmp_path / "no-index"))
    monkeypatch.setenv("FACTCHECK_LLM_MODEL", "")
    monkeypatch.setitem(judges.JUDGES, "verifier", lambda settings: ScriptedJudge(TINY_SCRIPT))
    return tmp_path


def _cli_eval(tmp_path, out, *extra):
    return main(
        [
            "eval",
            str(FIX / "tiny.jsonl"),
            "--corpus",
            str(FIX / "corpus"),
            "--out",
            str(tmp_path / out),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--judge",
            "verifier",
            "--quiet",
            *extra,
        ]
    )


def test_cli_json_prints_one_object_with_every_field(cli_env, capsys):
    assert _cli_eval(cli_env, "r1", "--json") == 0
    out = capsys.readouterr().out
    summary = json.loads(out)  # exactly one JSON document on stdout
    assert SUMMARY_FIELDS <= set(summary)
    assert set(summary["per_label"]) == {S, C, U}
    assert {"p50", "p95"} <= set(summary["latency_ms"])
    assert {"majority_class", "similarity_threshold"} == set(summary["baselines"])
    assert summary["baselines"]["similarity_threshold"]["threshold"] == evals.SIMILARITY_THRESHOLD
    assert summary["accuracy"] == pytest.approx(0.6)


def test_cli_compare_prints_deltas(cli_env, capsys, monkeypatch):
    from factcheck import judges

    assert _cli_eval(cli_env, "a", "--json") == 0
    all_right = {
        "The city spent 400 million dollars on the bridge repairs.": C,
        "Mayor Lena Ortiz resigned last week.": U,
    }
    monkeypatch.setitem(judges.JUDGES, "verifier", lambda settings: ScriptedJudge({**TINY_SCRIPT, **all_right}))
    assert _cli_eval(cli_env, "b", "--json") == 0
    capsys.readouterr()
    assert main(["eval", "compare", str(cli_env / "a"), str(cli_env / "b")]) == 0
    text = capsys.readouterr().out
    line = next(x for x in text.splitlines() if x.startswith("accuracy "))
    assert line.split()[1:] == ["0.6000", "1.0000", "+0.4000"]
    assert main(["eval", "compare", str(cli_env / "a"), str(cli_env / "b"), "--json"]) == 0
    cmp = json.loads(capsys.readouterr().out)
    acc = next(r for r in cmp["metrics"] if r["metric"] == "accuracy")
    assert acc["delta"] == pytest.approx(0.4)
    assert cmp["provenance"]["dataset_sha256"]["same"] is True
    f1 = next(r for r in cmp["metrics"] if r["metric"] == "macro_f1")
    paired = cmp["paired_macro_f1"]  # the same claims in both runs: the interval is on their difference
    assert paired["n"] == 5 and paired["delta"] == pytest.approx(f1["delta"])
    assert paired["ci95"][0] <= paired["delta"] <= paired["ci95"][1]
    assert "95 % paired bootstrap interval" in evals.render_compare(cmp)


def test_paired_bootstrap_of_macro_f1():
    gold = [S, C, U] * 20
    same = metrics.paired_bootstrap_macro_f1(gold, gold, gold, resamples=200)
    assert same["delta"] == 0.0 and same["ci95"] == [0.0, 0.0]
    half = [g if i % 2 else U for i, g in enumerate(gold)]  # A gets half of the S and C claims wrong
    out = metrics.paired_bootstrap_macro_f1(gold, half, gold, resamples=200)
    assert out["delta"] > 0 and 0 < out["ci95"][0] <= out["delta"] <= out["ci95"][1]
    back = metrics.paired_bootstrap_macro_f1(gold, gold, half, resamples=200)
    assert back["delta"] == pytest.approx(-out["delta"]) and back["ci95"][1] < 0
    assert metrics.paired_bootstrap_macro_f1([], [], []) is None


def test_cohen_kappa_by_hand():
    # 10 items, agreement 0.7; marginals (5 S, 5 C) and (6 S, 4 C): chance 0.5, so kappa 0.4
    a = [S] * 5 + [C] * 5
    b = [S, S, S, S, C, C, C, C, S, S]
    assert metrics.cohen_kappa(a, b) == pytest.approx(0.4)
    assert metrics.cohen_kappa(a, a) == pytest.approx(1.0)
    assert metrics.cohen_kappa([], []) is None


def test_cli_agreement_reports_kappa_and_each_disagreement(tmp_path, capsys):
    gold = tmp_path / "gold.jsonl"
    gold.write_text(
        "".join(
            json.dumps({"id": f"c{i}", "claim": f"claim {i}", "label": lab}) + "\n"
            for i, lab in enumerate([S, S, C, U, U])
        )
    )
    second = tmp_path / "second.jsonl"
    second.write_text(
        "".join(json.dumps({"id": f"c{i}", "label": lab, "note": "why"}) + "\n" for i, lab in enumerate([S, C, C, U]))
    )  # c4 left unlabelled
    assert main(["eval", "agreement", str(gold), str(second), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert (r["n"], r["unlabelled"], r["agreement"]) == (4, 1, 0.75)
    assert r["confusion"]["matrix"][0] == [1, 1, 0]
    assert [d["id"] for d in r["disagreements"]] == ["c1"] and r["disagreements"][0]["second"] == C
    assert main(["eval", "agreement", str(gold), str(second)]) == 0
    assert "c1: dataset supported, second contradicted" in capsys.readouterr().out
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"id": "zz", "label": S}) + "\n")
    assert main(["eval", "agreement", str(gold), str(other)]) == 2
    assert "none of the claim ids" in capsys.readouterr().err


def test_committed_second_annotations_cover_their_datasets():
    for dataset, second in [
        (SEED, REPO / "evals" / "datasets" / "seed-news.second-annotator.jsonl"),
        (REPO / "evals" / "tuning" / "news-dev.jsonl", REPO / "evals" / "tuning" / "news-dev.second-annotator.jsonl"),
    ]:
        r = evals.label_agreement(dataset, second)
        assert r["n"] >= 90 and not r["unknown_ids"], second
        assert r["kappa"] is not None and -1.0 <= r["kappa"] <= 1.0


def test_cli_bad_input_exits_2_with_one_line(cli_env, capsys):
    assert main(["eval", str(cli_env / "nope.jsonl"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such dataset file" in err
    assert main(["eval", "compare", str(cli_env / "x")]) == 2
    assert "usage: factcheck eval compare" in capsys.readouterr().err
    assert main(["eval", "compare", str(cli_env / "x"), str(cli_env / "y")]) == 2
    assert "no summary.json" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------- the seed set


def test_seed_set_is_well_formed_and_quotes_are_verbatim(seed_articles):
    texts = {a.id: a.text for a in seed_articles}
    rows = [json.loads(line) for line in SEED.read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 90
    assert len({r["id"] for r in rows}) == len(rows)
    counts = {lab: sum(r["label"] == lab for r in rows) for lab in (S, C, U)}
    assert min(counts.values()) >= 0.28 * len(rows), counts  # roughly balanced
    for r in rows:
        assert r["category"], r["id"]
        if r["label"] == U:
            assert r["evidence"] == [] and "quote" not in r, r["id"]
            continue
        assert r["evidence"] and set(r["evidence"]) <= set(texts), r["id"]
        assert r["quote_article"] in r["evidence"], r["id"]
        assert r["quote"] in texts[r["quote_article"]], r["id"]
    cats = {r["category"] for r in rows}
    assert {
        "paraphrase",
        "name-variant",
        "changed-number",
        "changed-year",
        "negation",
        "single-outlet",
        "disagreement",
        "absent",
        "injection",
    } <= cats
