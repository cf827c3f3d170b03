# hw2_autoregressive: reference checkpoints, benchmark, tests.

HW2 := solutions/hw2_autoregressive
MODEL ?= lstm
BINARIZE ?= threshold
.PHONY: hw2-reference hw2-train hw2-benchmark hw2-test

hw2-reference: setup ## retrain hw2's reference checkpoints by running the solution notebook in full mode (GPU if present)
	@tmp=$$(mktemp -d) && cp $(HW2)/hw2_autoregressive.ipynb $$tmp/ && \
	env -u NBGRADER_EXECUTION -u DGM_FAST $(BIN)/jupyter nbconvert --to notebook --execute \
	  --ExecutePreprocessor.timeout=-1 --output executed.ipynb $$tmp/hw2_autoregressive.ipynb && \
	mkdir -p $(HW2)/reference && \
	for f in $$($(BIN)/python -c 'from course_tools.collect import load_spec; print(*load_spec(".", "hw2_autoregressive").files)'); do \
	  cp $$tmp/$$f $(HW2)/reference/ || exit 1; done && \
	rm -rf $$tmp && ls -l $(HW2)/reference/ && \
	echo "Now run 'make hw2-benchmark' and check the pass marks in the notebook against the new NLLs."

hw2-train: setup ## train one hw2 model with the notebook's full-mode code: MODEL=mlp|lstm BINARIZE=threshold|stochastic [INSTALL=1]
	env -u DGM_FAST $(BIN)/python benchmarks/hw2_train.py $(MODEL) --binarize $(BINARIZE) $(if $(INSTALL),--install)

hw2-benchmark: setup ## hw2 throughput, NLL, sampling speed-up, grading time -> benchmarks/hw2_results.{md,json}
	$(BIN)/python benchmarks/hw2_benchmark.py

hw2-test: setup ## hw2's tests only (evaluator, grading variants, release round trip)
	DGM_FAST=1 $(BIN)/python -m pytest -n $(JOBS) tests/hw2 $(PYTEST_ARGS)
