# factcheck: `make run` sets everything up and serves; `make test` runs the whole suite.
VENV    ?= .venv
PY      := $(VENV)/bin/python
PIP     := $(VENV)/bin/pip
FC      := $(VENV)/bin/factcheck
INDEX   ?= index
CORPUS  ?= evals/corpus/iraq-coalition-2024
PYTHON  ?= python3

export HF_HUB_OFFLINE := 1
export LITELLM_LOCAL_MODEL_COST_MAP := True

.PHONY: setup setup-scale run serve index test test-fast lint format bench eval clean

# torch is installed first and pinned: the CPU build of 2.13.0 is what we test with, and an
# unpinned torch would pull a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev,onnx]'
	touch $@

setup: $(VENV)/.installed

# The optional `scale` extra (Ray) for `--ray` and tests/test_scale.py; CI installs it (.ci/run).
$(VENV)/.installed-scale: $(VENV)/.installed
	$(PIP) install -q -e '.[dev,onnx,scale]'
	touch $@

setup-scale: $(VENV)/.installed-scale

$(INDEX)/manifest.json: | setup
	FACTCHECK_INDEX_DIR=$(INDEX) $(FC) index build $(CORPUS)

index: $(INDEX)/manifest.json

run: setup index
	FACTCHECK_INDEX_DIR=$(INDEX) $(FC) serve

serve: run

test: setup
	$(VENV)/bin/pytest -q

# ruff (lint + format check), mypy, and the import-graph check (no cycle in factcheck/, no import of lab/).
lint: setup
	$(VENV)/bin/ruff check factcheck lab tests tools
	$(VENV)/bin/ruff format --check factcheck lab tests tools
	$(VENV)/bin/mypy
	$(PY) tools/check_imports.py

format: setup
	$(VENV)/bin/ruff check --fix factcheck lab tests tools
	$(VENV)/bin/ruff format factcheck lab tests tools

test-fast: setup
	$(VENV)/bin/pytest -q -m "not llm and not browser and not slow"

bench: setup
	$(FC) bench

eval: setup index
	FACTCHECK_INDEX_DIR=$(INDEX) $(FC) eval evals/datasets/seed-news.jsonl

clean:
	rm -rf $(INDEX)/gen-* $(INDEX)/manifest.json runs .pytest_cache

# The reference browser extension (extension/), zipped for "Load unpacked"/"Load Temporary Add-on" or a store upload.
EXTENSION_FILES := $(wildcard extension/manifest.json extension/*.js extension/*.html extension/*.css)

.PHONY: extension
extension: dist/factcheck-extension.zip

dist/factcheck-extension.zip: $(EXTENSION_FILES)
	mkdir -p dist
	rm -f $@
	$(PYTHON) -m zipfile -c $@ $(EXTENSION_FILES)
	$(PYTHON) -m zipfile -l $@
