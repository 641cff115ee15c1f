# `make run` and `make test` do all set-up on a fresh machine (a venv in .venv).
# `make test` runs every test (what CI runs); `make test-fast` skips the ones marked slow (those that
# spawn a process or train a study), under 3 minutes on 2 cores, in the same .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# tuner's extra [torch] on this CPU: the CPU build that is on disk here (no download); the tests run every backend
TORCH := 2.13.0

# Debian packages the tests use: Fashion-MNIST's IDX files (the fashion task's default source),
# Chromium (tests/e2e/test_browser.py drives it through Playwright), PostgreSQL (tests/e2e/test_postgres.py).
DEB_PACKAGES := dataset-fashion-mnist chromium postgresql
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test test-fast export ui clean-outputs system-deps gpu-wheels constraints

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test,jax]' torch==$(TORCH)
	touch $(STAMP)

# `make constraints`: rewrite constraints.txt from a fresh venv that installs tuner's ranges without it
# (the newest versions they admit today), keeping the file's comment lines
LOCK_VENV := /tmp/tuner-constraints-venv
constraints:
	rm -rf $(LOCK_VENV) && $(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --quiet --upgrade pip
	$(LOCK_VENV)/bin/pip install --quiet -e '.[test,jax]' torch==$(TORCH)
	{ grep '^#' constraints.txt; $(LOCK_VENV)/bin/pip freeze --exclude-editable; } > constraints.txt.new
	mv constraints.txt.new constraints.txt && rm -rf $(LOCK_VENV)

run: $(STAMP)
	$(BIN)/python -m tuner +experiment=digits_cnn

export: $(STAMP)
	$(BIN)/python -m tuner.export +experiment=digits_cnn

system-deps:
	@if dpkg -s $(DEB_PACKAGES) >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1; then $(SUDO) apt-get update && $(SUDO) apt-get install -y $(DEB_PACKAGES); \
	else echo "warning: no apt-get here; install $(DEB_PACKAGES) (Debian's names) for the fashion, browser and PostgreSQL tests"; fi

test: $(STAMP) system-deps
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

ui: $(STAMP)
	$(BIN)/mlflow ui

clean-outputs:
	rm -rf mlflow.db mlruns/*/ experiments/*/

# `make gpu-wheels`: the wheels that bench/gpu_check.sh installs offline on the accelerator machine (Python 3.12,
# manylinux x86_64, no TensorFlow), as pinned in bench/gpu_wheels.txt, into the git-ignored $(GPU_WHEELS)/
# (under $(GPU_WHEELS_MIB) MiB, the total printed). Needs only pip and the network, not the venv.
GPU_WHEELS := .whl
GPU_WHEELS_MIB := 60
GPU_WHEELS_PYTHON ?= $(if $(wildcard $(BIN)/python),$(BIN)/python,$(PYTHON))

gpu-wheels:
	$(GPU_WHEELS_PYTHON) bench/gpu_wheels.py --dest $(GPU_WHEELS) --python-version 3.12 --limit-mib $(GPU_WHEELS_MIB)
