"""The regression gates' shared run: a dataset through the real eval runner with the default offline judge."""

from __future__ import annotations

from pathlib import Path

from factcheck import evals
from factcheck.settings import Settings


def verifier_present() -> bool:
    """Whether the shipped verifier's weights are in this checkout."""
    from factcheck.verifier import DEFAULT_MODEL_DIR, model_weights

    return model_weights(DEFAULT_MODEL_DIR) is not None


def gate_run(dataset: Path, corpus: str | Path, tmp_path: Path, embedder) -> tuple[dict, Path]:
    """Evaluate a set end to end; no case may error, every gold article is indexed, every quote is verbatim."""
    settings = Settings(index_dir=tmp_path / "unused", judge="verifier", llm_model=None)
    summary, run_dir = evals.run_eval(
        evals.load_eval_set(dataset, "jsonl", corpus=corpus),
        settings,
        out_dir=tmp_path / "run",
        embedder=embedder,
        cache_dir=tmp_path / "cache",
        concurrency=2,
        progress=False,
    )
    assert summary["n_errors"] == 0, (run_dir / "report.md").read_text()
    assert summary["index"]["gold_articles_missing"] == 0
    # Citations must always be verbatim at their offsets, whatever the label quality.
    assert summary["quote_validity"]["value"] in (None, 1.0)
    return summary, run_dir
