"""The package's shape: imports point down (no cycle), the product never imports the lab, the wheel holds no lab."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import check_imports  # noqa: E402


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def test_the_tree_has_no_cycle_and_no_lab_import():
    assert check_imports.problems() == []


def test_the_checker_finds_a_lazy_cycle_and_a_lab_import(tmp_path):
    _write(
        tmp_path,
        {
            "factcheck/__init__.py": "",
            "factcheck/index.py": "from .retrieve import build\n",
            "factcheck/retrieve.py": "def f():\n    from . import index\n",  # a lazy import is still an arrow
            "factcheck/api/__init__.py": "from .app import create_app\n",  # a package's face, not a cycle
            "factcheck/api/app.py": "from ..index import x\n",
            "factcheck/evals.py": "import lab.verifier.train\n",
            "lab/__init__.py": "",
        },
    )
    found = check_imports.problems(tmp_path)
    assert "import cycle: factcheck.index <-> factcheck.retrieve" in found
    assert any(line.startswith("factcheck/evals.py imports the lab") for line in found)
    assert len(found) == 2


def test_the_checker_finds_the_lab_reaching_into_private_names(tmp_path):
    _write(
        tmp_path,
        {
            "factcheck/__init__.py": "",
            "factcheck/judge.py": "class J:\n    def score_units(self):\n        return self._cache\n",
            "lab/__init__.py": "",
            # a method renamed to public in the product, still called by its old private name
            "lab/train.py": "from factcheck.judge import J\n\ndef f(j: J):\n    return j._score_units()\n",
            "lab/fit.py": "from factcheck.judge import _helper\n",
            # the lab's own private attributes are its business
            "lab/own.py": "class T:\n    def __init__(self):\n        self._lock = 1\n\ndef g(t: T):\n    return t._lock\n",
        },
    )
    found = check_imports.problems(tmp_path)
    assert found == [
        "lab/fit.py:1 imports factcheck's private _helper",
        "lab/train.py:4 reads private ._score_units of another object: call a public name",
    ]


def test_public_imports_keep_working():
    from factcheck.api import create_app
    from factcheck.judges import JUDGES, Judge, make_judge
    from factcheck.verifier import Verifier, load_verifier

    assert callable(create_app) and callable(make_judge) and callable(load_verifier)
    assert set(JUDGES) >= {"verifier", "llm"} and isinstance(Judge, type) and isinstance(Verifier, type)


@pytest.mark.slow
def test_the_wheel_holds_the_product_and_no_lab(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        cwd=tmp_path,
    )
    wheel = next(tmp_path.glob("factcheck-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert not [n for n in names if n.startswith("lab/") or "/lab/" in n]
    for needed in (
        "factcheck/verifier/packed.py",
        "factcheck/judges/verifier.py",
        "factcheck/api/app.py",
        "factcheck/models/verifier-v10/model-packed.safetensors",
    ):
        assert needed in names
