"""The `factcheck` CLI: index build/stats/remove, search, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from factcheck.cli import main

from .conftest import SEED_CORPUS


@pytest.fixture(scope="module")
def built_index(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-index")
    assert main(["--index", str(root), "index", "build", str(SEED_CORPUS), "--quiet"]) == 0
    return root


def test_build_reports_and_is_incremental(built_index, capsys):
    assert main(["--index", str(built_index), "index", "build", str(SEED_CORPUS), "--quiet", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["report"]["unchanged"] and not report["report"]["added"]
    assert main(["--index", str(built_index), "index", "stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["articles"] == 5 and stats["passages"] > 5
    assert stats["embedder"] == "sentence-transformers/all-MiniLM-L6-v2"


def test_search_json_finds_troop_figure_with_offsets(built_index, capsys):
    assert (
        main(["--index", str(built_index), "search", "How many American troops are in Iraq?", "-k", "3", "--json"]) == 0
    )
    hits = json.loads(capsys.readouterr().out)
    assert len(hits) == 3
    found = [h for h in hits if "2,500" in h["passage"]["text"]]
    assert found
    from factcheck.ingest import load_articles

    texts = {a.id: a.text for a in load_articles([SEED_CORPUS]).articles}
    for h in hits:
        p = h["passage"]
        assert texts[p["article_id"]][p["start"] : p["end"]] == p["text"]


def test_search_human_output(built_index, capsys):
    assert main(["--index", str(built_index), "search", "Spanish troops in Iraq", "-k", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("#1  ") and "#2  " in out and "| " in out


def test_remove_then_stats(tmp_path, capsys):
    assert main(["--index", str(tmp_path), "index", "build", str(SEED_CORPUS), "--quiet"]) == 0
    assert main(["--index", str(tmp_path), "index", "remove", "004_afface0cdd3336e2"]) == 0
    assert "removed 1 articles" in capsys.readouterr().out
    assert main(["--index", str(tmp_path), "index", "remove", "004_afface0cdd3336e2"]) == 2
    assert "no article" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["search"], "required: query"),
        (["search", "x", "-k", "0"], "-k must be at least 1"),
        (["search", "x", "-k", "many"], "invalid int value"),
        (["check", "x", "--as-of", "yesterday"], "not an ISO date"),
        (["index", "build", "/definitely/not/here"], "no such file or directory"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(argv, needle, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "factcheck.cli", "--index", str(tmp_path / "idx"), *argv],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert needle in lines[0] and "Traceback" not in proc.stderr


def test_missing_index_is_a_clear_error(tmp_path, capsys):
    assert main(["--index", str(tmp_path / "nothing"), "search", "troops"]) == 2
    err = capsys.readouterr().err
    assert "no index at" in err and "factcheck index build" in err


def test_check_shows_each_part_of_a_compound_claim(built_index, capsys):
    claim = "About 2,500 US troops are in Iraq and Germany sent 1,200 soldiers to Iraq"
    assert main(["--index", str(built_index), "check", claim]) == 0
    out = capsys.readouterr().out
    head, lines = out.splitlines()[0], out.splitlines()
    part_lines = [line for line in lines if line.lstrip().startswith("part ")]
    assert len(part_lines) == 2 and "About 2,500 US troops are in Iraq" in part_lines[0]
    assert (
        f"[{claim.index('Germany')}:{len(claim)}]" in part_lines[1]
        and "Germany sent 1,200 soldiers to Iraq" in part_lines[1]
    )
    assert not head.startswith("SUPPORTED")  # Germany's troops are in none of the articles


def test_serve_warns_beyond_loopback_only_without_any_key():
    from factcheck.api.serve import key_warning
    from factcheck.settings import Settings

    def settings(**kw):
        return Settings(_env_file=None, **{"api_key": None, "api_keys": {}, **kw})

    assert key_warning(settings(host="127.0.0.1")) is None
    assert "without an API key" in (key_warning(settings(host="0.0.0.0")) or "")
    assert key_warning(settings(host="0.0.0.0", api_key="k")) is None
    named = {"desk": {"key": "a-long-enough-key", "roles": ["check"]}}
    assert key_warning(settings(host="0.0.0.0", api_keys=named)) is None  # named keys guard it too
