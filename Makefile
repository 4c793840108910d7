# The user's entry point. `make` builds the hand-in, `make test` runs the tests.
# Everything runs inside .venv, created from requirements-dev.txt on first use; only
# `make peers`, `make spark` and `make spark-scale` run in environments of their own
# (.venv-peers, .venv-spark), which they create.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
KERNEL := nmf-ex08
DATA   := data/ml-100k/SOURCE
# The two modules the notebook imports: the hand-in zip carries them, and nothing else of ours.
MODULES := nmf_core.py recommender.py
TEMPLATE := tools/templates/handin/index.html.j2 tools/templates/handin/conf.json
NB_TIMEOUT ?= 600

# One BLAS/OpenMP thread and a fixed hash seed: two runs give identical numbers.
export OMP_NUM_THREADS = 1
export OPENBLAS_NUM_THREADS = 1
export MKL_NUM_THREADS = 1
export PYTHONHASHSEED = 0
# The kernel installed into .venv is found first, whatever else is installed.
export JUPYTER_PATH = $(CURDIR)/$(VENV)/share/jupyter

.DEFAULT_GOAL := all
.DELETE_ON_ERROR:
.PHONY: all help venv data check-data notebook html zip figures test bench evaluate peers spark spark-scale clean distclean

all: ex08.zip figures ## build the hand-in: venv, data, executed notebook, HTML, ex08.zip, figures/

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## /  make \1\t/' | expand -t 20

venv: $(STAMP) ## create .venv with the pinned packages and its Jupyter kernel

# $(call make-venv,folder,requirements file,what is installed): a virtual environment made
# by $(PYTHON) (3.11 or newer) with exactly the pinned packages. The same recipe makes .venv
# and the separate environments of `make peers` and `make spark`.
define make-venv
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "error: Python 3.11 or newer is needed; run make PYTHON=python3.11")'
	test -x $(1)/bin/python || $(PYTHON) -m venv $(1)
	@echo "installing $(3) into $(1) (a few minutes the first time)"
	@# --hide: pip's notice that a find-links folder configured on this machine is absent
	@$(1)/bin/python tools/with_heartbeat.py "installing $(3)" \
	    --hide "^WARNING: Location 'file:.*is neither a file nor a directory" -- \
	    $(1)/bin/python -m pip install --disable-pip-version-check --progress-bar off -r $(2)
	@# nmf_core, recommender and lab importable from any folder (pyproject.toml), editable
	@$(1)/bin/python -m pip install --disable-pip-version-check --no-deps --quiet -e .
endef

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(call make-venv,$(VENV),requirements-dev.txt,the pinned packages)
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python ($(KERNEL))" > /dev/null
	touch $@

data: $(STAMP) ## obtain and verify MovieLens-100k in data/ml-100k
	$(PY) data/get_movielens.py

$(DATA): $(STAMP)
	$(PY) data/get_movielens.py

# Every build checks the data's 20 checksums (a fraction of a second) and stops, naming
# the file, if one differs; nothing built from stale or damaged data is trusted.
check-data: $(DATA)
	@$(PY) data/get_movielens.py --check

notebook: build/nmf.ipynb ## execute nmf.ipynb top to bottom into build/ (one line per cell)

build/nmf.ipynb: nmf.ipynb $(MODULES) tools/execute_notebook.py $(DATA) $(STAMP) Makefile | check-data
	@mkdir -p build
	@rm -f ex08.zip build/nmf.html $@  # a failing cell must leave no stale hand-in
	$(PY) tools/execute_notebook.py nmf.ipynb $@ --kernel $(KERNEL) --timeout $(NB_TIMEOUT)

html: build/nmf.html ## export the executed notebook as one HTML page (math and figures inline)

build/nmf.html: build/nmf.ipynb tools/export_html.py $(TEMPLATE)
	$(PY) tools/export_html.py $< $@

zip: ex08.zip ## write ex08.zip: executed notebook, HTML, the two modules, requirements.txt

ex08.zip: build/nmf.ipynb build/nmf.html $(MODULES) requirements.txt
	$(PY) tools/make_zip.py $@ $^

figures: build/nmf.ipynb tools/export_figures.py ## write each figure of the executed notebook to figures/ as a PNG
	$(PY) tools/export_figures.py build/nmf.ipynb figures

test: build/nmf.ipynb | check-data ## run the whole test suite (builds the notebook first if stale)
	$(PY) -m pytest

bench: $(STAMP) | check-data ## time the NMF against scikit-learn, then the lab at MovieLens-1M/10M scale in two thread settings (lab.commands.bench and bench_scale; about 15 min)
	$(PY) tools/with_heartbeat.py "timing the solvers" -- $(PY) -m lab.commands.bench
	$(PY) tools/with_heartbeat.py "timing at scale" -- $(PY) -m lab.commands.bench_scale --sizes 1m 10m --extra 10 --repeat 3

evaluate: $(STAMP) | check-data ## the lab's recommenders on the five official splits, report in build/ (lab.commands.evaluate; 7 to 14 min)
	$(PY) tools/with_heartbeat.py "evaluating" -- $(PY) -m lab.commands.evaluate

# --- peers: other libraries on the same folds, in their own environment ----------------
PEERS_VENV  := .venv-peers
PEERS_PY    := $(PEERS_VENV)/bin/python
PEERS_STAMP := $(PEERS_VENV)/.installed
PEERS_WHAT  := Surprise, implicit, myFM, cornac and the package's pins

$(PEERS_STAMP): requirements-peers.txt requirements.txt requirements-dev.txt pyproject.toml
	$(call make-venv,$(PEERS_VENV),requirements-peers.txt,$(PEERS_WHAT))
	touch $@

peers: $(PEERS_STAMP) | check-data ## other libraries' recommenders on the same folds (lab.commands.evaluate --peers in .venv-peers; 11 to 21 min)
	$(PEERS_PY) tools/with_heartbeat.py "evaluating the peers" -- $(PEERS_PY) -m lab.commands.evaluate --peers

# --- Spark MLlib's ALS beside nnls_als, in its own environment -------------------------
SPARK_VENV  := .venv-spark
SPARK_PY    := $(SPARK_VENV)/bin/python
SPARK_STAMP := $(SPARK_VENV)/.installed

# Java and Python are checked first: a machine without Java 17 stops here in seconds,
# before the environment is built and Spark (a 456 MB download) is fetched.
$(SPARK_STAMP): requirements-spark.txt requirements.txt requirements-dev.txt pyproject.toml
	@$(PYTHON) -m lab.commands.spark --check-java
	$(call make-venv,$(SPARK_VENV),requirements-spark.txt,Spark and the package's pins)
	touch $@

spark: $(SPARK_STAMP) | check-data ## Spark MLlib's non-negative ALS on the five folds (lab.commands.spark in .venv-spark; Java 17; a 456 MB download the first time, then about 1 min)
	@# --hide: the JVM's start-up notes (an incubator module; no native BLAS, Java's is used)
	$(SPARK_PY) tools/with_heartbeat.py "running Spark's ALS" \
	    --hide "^(WARNING: Using incubator modules|netlib-blas: JNI_OnLoad: dlopen)" -- \
	    $(SPARK_PY) -m lab.commands.spark

spark-scale: $(SPARK_STAMP) ## Spark's ALS and nnls_als per iteration on synthetic 1M and 10M ratings (lab.commands.spark_scale in .venv-spark; about 10 min)
	$(SPARK_PY) tools/with_heartbeat.py "timing Spark at scale" \
	    --hide "^(WARNING: Using incubator modules|netlib-blas: JNI_OnLoad: dlopen)" -- \
	    $(SPARK_PY) -m lab.commands.spark_scale

clean: ## remove build outputs (keeps the data and .venv)
	rm -rf build figures ex08.zip .pytest_cache .hypothesis *.egg-info
	find . -name __pycache__ -not -path './.venv*' -prune -exec rm -rf {} +

distclean: clean ## also remove the virtual environments and the downloaded data
	rm -rf $(VENV) $(SPARK_VENV) $(PEERS_VENV) data/ml-100k data/.ml-100k-*
