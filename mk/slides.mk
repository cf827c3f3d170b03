# Lecture slides: `make slides` turns lectures/NN_*.ipynb (with their committed outputs) into
# reveal.js decks under $(SLIDES_DIR)/ that work offline: reveal.js and MathJax are copied next to
# the decks from installed packages (sphinx-revealjs, jupyter-server-mathjax), nothing loads from
# the network. Open $(SLIDES_DIR)/01_problem_and_histograms.slides.html in a browser.
SLIDES_DIR ?= slides

.PHONY: slides
slides: setup ## build offline reveal.js decks of lectures/ into slides/ (SLIDES_DIR=)
	$(BIN)/python lectures/_slides/build.py --out $(SLIDES_DIR)
