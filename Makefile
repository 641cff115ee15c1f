# `make run` and `make test` do all set-up on a fresh machine (a venv in .venv).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast export ui clean-outputs

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m tuner +experiment=digits_cnn

export: $(STAMP)
	$(BIN)/python -m tuner.export +experiment=digits_cnn

test: $(STAMP)
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

ui: $(STAMP)
	$(BIN)/mlflow ui

clean-outputs:
	rm -rf mlflow.db mlruns/*/ experiments/*/
