# Two commands from a fresh clone:  make demo  (the main job)  and  make test  (the whole suite).
# Both create .venv when missing. torch is installed first and pinned: on these machines
# torch==2.13.0 is the local CPU build; any other request pulls gigabytes of CUDA packages.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
TORCH  ?= torch==2.13.0
PIP    := $(BIN)/python -m pip --quiet --disable-pip-version-check

.PHONY: demo test lint notebooks clean

# make demo DEMO_FLAGS=--full   runs the whole study

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

$(VENV)/.torch: | $(BIN)/python
	$(PIP) install "$(TORCH)"
	touch $@

$(VENV)/.installed: pyproject.toml $(VENV)/.torch
	$(PIP) install -e .
	touch $@

# the test extra: pytest, hypothesis, the notebook runner, the optional features the suite tests
# (psycopg for PostgreSQL storage, cmaes) and the linters of `make lint`
$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(PIP) install -e ".[test]"
	touch $@

demo: $(VENV)/.installed
	$(BIN)/dla-explorer run experiments/paper.yaml --report $(DEMO_FLAGS)

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q

# the notebooks in Jupyter (the "notebooks" extra: jupyter and a kernel)
notebooks: $(VENV)/.installed
	$(PIP) install -e ".[notebooks]"
	$(BIN)/jupyter lab notebooks/

# ruff (lint and format), the stage layers contract (import-linter) and mypy with the pydantic plugin
lint: $(VENV)/.installed-test
	$(BIN)/ruff check dla_explorer tests benchmarks
	$(BIN)/ruff format --check dla_explorer tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/mypy dla_explorer

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
