# Set-up and everyday commands. `make demo` and `make test` work on a fresh clone, offline.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
# The versions this project is tested with; pip takes them from a local wheel cache when present.
# `make install TORCH= VENV_ARGS=--system-site-packages` keeps a torch already installed (a CUDA build).
TORCH ?= torch==2.14.1 torchvision==0.29.1
VENV_ARGS ?=
DEMO_EPOCHS ?= 3

.PHONY: install demo test test-fast lint

$(BIN)/ganforge: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV_ARGS) $(VENV)
	$(if $(strip $(TORCH)),$(BIN)/python -m pip install -q --disable-pip-version-check $(TORCH))
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $@

install: $(BIN)/ganforge

demo: install
	set -e; run=runs/demo-$$(date +%Y%m%d-%H%M%S); \
	$(BIN)/ganforge train --preset mnist-dcgan --epochs $(DEMO_EPOCHS) --out $$run; \
	$(BIN)/ganforge sample $$run --n 100 --out $$run/demo-samples.png

lint: install
	$(BIN)/ruff check src tests benchmarks docs

test: lint
	$(BIN)/python -m pytest

# Everything but the tests marked slow (subprocess runs, sweeps, torchrun, PostgreSQL, Chromium).
test-fast: install
	$(BIN)/python -m pytest -m "not slow"
