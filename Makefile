# Deep Generative Models, lecture 1: the course's commands. `make help` lists them.
#
#   make lab    build .venv/ if needed, then JupyterLab on the course (PORT=8888 ARGS=...)
#   make test   the whole test suite
#
# Needs only python3 (3.11) and make. Everything else goes into .venv/ from requirements.lock.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8888
ARGS ?=
# Optional: a PyTorch wheel index for another torch build, e.g. the CPU-only or a CUDA 12.x one.
TORCH_INDEX ?=
# pytest options for `make test` (e.g. PYTEST_ARGS="-k data -x").
PYTEST_ARGS ?=
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.DEFAULT_GOAL := help
.PHONY: help setup lab test lock release

help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | sort | column -t -s $$'\t'

setup: $(VENV)/.installed ## build .venv/ from requirements.lock (idempotent)

$(VENV)/.installed: requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if v == (3, 11) else "Python 3.11 is required (found %d.%d): set PYTHON=python3.11 or use environment.yml with conda." % v)'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=23.2"
	$(if $(TORCH_INDEX),$(BIN)/python -m pip install "torch==$$(sed -n 's/^torch==//p' requirements.lock)" --index-url $(TORCH_INDEX),)
	$(BIN)/python -m pip install -r requirements.lock
	$(BIN)/python -m pip install --no-deps --no-build-isolation -e .
	touch $@

lab: setup ## start JupyterLab at the repo root with nbgrader's extensions (PORT=, ARGS=)
	@mkdir -p .exchange
	$(BIN)/jupyter lab --no-browser --ip=127.0.0.1 --port=$(PORT) $(ROOT_FLAG) --ServerApp.root_dir="$(CURDIR)" $(ARGS)

test: setup ## run the whole test suite (unit tests, nbgrader round trips, notebooks, browser)
	PATH="$(CURDIR)/$(BIN):$$PATH" OMP_NUM_THREADS=1 DGM_FAST=1 $(BIN)/python -m pytest -n $(JOBS) $(PYTEST_ARGS)

lock: ## re-resolve requirements.lock from pyproject.toml in a scratch venv
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet ".[course,dev]"
	{ echo "# Exact versions for .venv/ and environment.yml. Regenerate with: make lock"; \
	  .lock-venv/bin/pip freeze --exclude-editable | grep -v '^dgm-utils' | sed -E 's/^torch==([0-9.]+)\+[a-z0-9]+$$/torch==\1/'; \
	} > requirements.lock
	rm -rf .lock-venv

# Each later feature adds its targets in a file of its own under mk/.
-include mk/*.mk

release: setup ## generate every assignment from solutions/ into assignments/ (nbgrader)
	@for a in $$(ls -d solutions/*/ | xargs -n1 basename); do \
	  echo "--- generate_assignment $$a"; \
	  PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/nbgrader generate_assignment "$$a" --force || exit 1; \
	done
