# The two quickstart commands (`make demo`, `make test`) and the tools around them.
# Everything installs itself into .venv; system packages come from scripts/system-deps.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The package is installed, not linked: setup.py compiles the classifier with mypyc, and the
# tests run what users install. Any change under src/ installs it again.
SOURCES := $(shell find src -type f -not -path '*/__pycache__/*' | sort)
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml setup.py $(SOURCES) | cksum | cut -d' ' -f1)
# The modules setup.py compiles are tested as plain Python too (the same source, uncompiled).
PURE_TESTS := tests/test_classify.py tests/test_events.py tests/test_simulate.py

.PHONY: demo test check lint types layers docs bench mutation clean

$(STAMP): pyproject.toml setup.py $(SOURCES)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

## demo: prepare a demo campaign on SQLite and run the tracking server on 127.0.0.1:8000
demo: $(STAMP)
	$(VENV)/bin/clicksift demo

## test: lint, type-check and run the whole test suite (Chromium and PostgreSQL included)
test:
	scripts/system-deps
	$(MAKE) --no-print-directory $(STAMP) check
	CLICKSIFT_REQUIRE_COMPILED=1 CLICKSIFT_REQUIRE_CHROMIUM=1 CLICKSIFT_REQUIRE_POSTGRES=1 \
		CLICKSIFT_REQUIRE_SPARK=1 \
		$(PY) -m pytest
	PYTHONPATH=src $(PY) -m pytest -q -p no:cacheprovider $(PURE_TESTS)

check: lint types layers

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks scripts

types: $(STAMP)
	$(VENV)/bin/mypy

# The layer contract in pyproject.toml ([tool.importlinter]), over the source tree.
layers: $(STAMP)
	PYTHONPATH=src $(VENV)/bin/lint-imports --no-cache

## docs: regenerate the reference pages in docs/ from the code
docs: $(STAMP)
	$(PY) scripts/generate_docs.py

## bench: run every benchmark (needs nginx and wrk: scripts/system-deps --bench)
bench: $(STAMP)
	scripts/system-deps --bench
	$(PY) benchmarks/prepare.py
	$(PY) benchmarks/redirect.py

## mutation: mutation testing of the classifier's signals and engine (ends with a JSON line)
mutation: $(STAMP)
	$(PY) -m pip install --quiet 'mutmut>=3.2'
	$(PY) scripts/mutation.py

clean:
	rm -rf $(VENV) clicksift-demo test-artifacts mutants .pytest_cache .mypy_cache .ruff_cache
