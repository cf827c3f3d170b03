# The student's commands: set up, JupyterLab, and check a notebook as the grader would.
# The course's Makefile includes this file, and the student pack (course_tools/bundle.py) ships it
# as its Makefile: everything here works without solutions/, tests/ or course_tools/.
#
#   make setup   build .venv/ from requirements.lock (Python 3.11)
#   make lab     JupyterLab on this folder (PORT=8888 ARGS=...)
#   make check   NB=assignments/<id>/<id>.ipynb: the visible tests, run the way the grader runs them
#   make submit  A=<id>: check the saved notebook and its files, and write the zip to upload

SHELL := /bin/bash
PYTHON ?= python3
# Resolved before the venv goes first on PATH (below), so PYTHON is never the venv's own python.
override PYTHON := $(shell command -v $(PYTHON) 2>/dev/null || echo $(PYTHON))
VENV ?= .venv
BIN := $(VENV)/bin
# Every recipe runs with the venv's bin first on PATH: nbgrader, JupyterLab and the kernels run
# helpers by name (alembic, jupyter), and must find this environment's.
export PATH := $(abspath $(BIN)):$(PATH)
PORT ?= 8888
ARGS ?=
# Optional: a PyTorch wheel index for another torch build, e.g. the CPU-only or a CUDA 12.x one.
TORCH_INDEX ?=
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.DEFAULT_GOAL := help
.PHONY: help setup lab check submit

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

NB ?=
check: setup ## run a notebook's visible tests the way the grader runs them (NB=path/to/notebook.ipynb)
	@test -n "$(NB)" || { echo "Set NB=<notebook>, e.g. NB=assignments/hw1_foundations/hw1_foundations.ipynb"; exit 2; }
	$(BIN)/python -m dgm_utils.cleanroom "$(NB)"

A ?=
submit: setup ## check a saved assignment and write <student>__<id>.zip to upload (A=hw1_foundations; STUDENT= your id)
	@test -n "$(A)" || { echo "Set A=<assignment>, e.g. A=hw1_foundations (the folder under assignments/)"; exit 2; }
	cd "assignments/$(A)" && $(abspath $(BIN))/python -m dgm_utils.submit "$(A)" $(if $(STUDENT),--student "$(STUDENT)",)
