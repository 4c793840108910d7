# The user's entry point. `make` builds the hand-in, `make test` runs the tests.
# Everything runs inside .venv, created from requirements.txt on first use.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
KERNEL := nmf-ex08
DATA   := data/ml-100k/SOURCE
# Every module the notebook imports: the hand-in zip carries them all.
MODULES := nmf_core.py factorizations.py recommender.py evaluation.py
NB_TIMEOUT ?= 900

# One BLAS/OpenMP thread and a fixed hash seed: two runs give identical numbers.
export OMP_NUM_THREADS = 1
export OPENBLAS_NUM_THREADS = 1
export MKL_NUM_THREADS = 1
export PYTHONHASHSEED = 0
# The kernel installed into .venv is found first, whatever else is installed.
export JUPYTER_PATH = $(CURDIR)/$(VENV)/share/jupyter

.DEFAULT_GOAL := all
.DELETE_ON_ERROR:
.PHONY: all help venv data notebook html zip test bench evaluate clean distclean

all: ex08.zip ## build everything: venv, data, executed notebook, HTML, ex08.zip

help: ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z]+):.*## /  make \1\t/' | expand -t 20

venv: $(STAMP) ## create .venv with the pinned packages and its Jupyter kernel

$(STAMP): requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "error: Python 3.11 or newer is needed; run make PYTHON=python3.11")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python ($(KERNEL))" > /dev/null
	touch $@

data: $(STAMP) ## obtain and verify MovieLens-100k in data/ml-100k
	$(PY) data/get_movielens.py

$(DATA): $(STAMP)
	$(PY) data/get_movielens.py

notebook: build/nmf.ipynb ## execute nmf.ipynb top to bottom into build/

build/nmf.ipynb: nmf.ipynb $(MODULES) $(DATA) $(STAMP) Makefile
	@mkdir -p build figures
	@rm -f ex08.zip build/nmf.html $@  # a failing cell must leave no stale hand-in
	$(PY) tools/execute_notebook.py nmf.ipynb $@ --kernel $(KERNEL) --timeout $(NB_TIMEOUT)

html: build/nmf.html ## export the executed notebook as HTML (figures inline)

build/nmf.html: build/nmf.ipynb
	$(VENV)/bin/jupyter nbconvert --to html --log-level WARN --output-dir build --output .nmf.tmp $<
	mv build/.nmf.tmp.html $@

zip: ex08.zip ## write ex08.zip: executed notebook, HTML, its modules, requirements.txt

ex08.zip: build/nmf.ipynb build/nmf.html $(MODULES) requirements.txt
	$(PY) tools/make_zip.py $@ $^

test: $(STAMP) $(DATA) ## run the whole test suite
	$(PY) -m pytest

bench: $(STAMP) $(DATA) ## time nmf_core against scikit-learn, then at MovieLens-1M/10M scale
	$(PY) benchmarks/bench_nmf.py
	$(PY) benchmarks/bench_scale.py --sizes 1m 10m

evaluate: $(STAMP) $(DATA) ## evaluate every recommender on the five official splits
	$(PY) benchmarks/evaluate.py

clean: ## remove build outputs (keeps the data and .venv)
	rm -rf build ex08.zip figures/*.png .pytest_cache .hypothesis
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +

distclean: clean ## also remove .venv and the downloaded data
	rm -rf $(VENV) data/ml-100k data/.ml-100k-*
