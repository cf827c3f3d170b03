# Deep Generative Models, lecture 1: the course's commands. `make help` lists them.
#
#   make lab    build .venv/ if needed, then JupyterLab on the course (PORT=8888 ARGS=...)
#   make test   the whole test suite
#
# Needs only python3 (3.11) and make. Everything else goes into .venv/ from requirements.lock.

include mk/student.mk

# pytest options for `make test` (e.g. PYTEST_ARGS="-k data -x").
PYTEST_ARGS ?=
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: test lock release

test: setup ## run the whole test suite (unit tests, nbgrader round trips, notebooks, browser)
	OMP_NUM_THREADS=1 DGM_FAST=1 $(BIN)/python -m pytest -n $(JOBS) --durations=20 $(PYTEST_ARGS)

lock: ## re-resolve requirements.lock from pyproject.toml in a scratch venv
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet ".[course,dev,hub]"
	{ echo "# Exact versions for .venv/ and environment.yml. Regenerate with: make lock"; \
	  .lock-venv/bin/pip freeze --exclude-editable | grep -v '^dgm-utils' | sed -E 's/^torch==([0-9.]+)\+[a-z0-9]+$$/torch==\1/'; \
	} > requirements.lock
	rm -rf .lock-venv

# Each later feature adds its targets in a file of its own under mk/.
-include $(filter-out mk/student.mk,$(wildcard mk/*.mk))

release: setup ## generate every assignment from solutions/ into assignments/, release it to the course's exchange, and record nbgrader_config.py's due dates (nbgrader)
	@mkdir -p .exchange
	@for a in $$(ls -d solutions/*/ | xargs -n1 basename); do \
	  echo "--- generate_assignment $$a"; \
	  $(BIN)/nbgrader generate_assignment "$$a" --force || exit 1; \
	  echo "--- release_assignment $$a (the Assignments tab of make lab lists it)"; \
	  $(BIN)/nbgrader release_assignment "$$a" --force || exit 1; \
	done
	$(BIN)/python -m course_tools.duedates
