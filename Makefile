# tagsim — the front door. `make` alone lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
TAGSIM_HOME ?= artifacts
DATA ?= data/articles.jsonl.gz
DATASETS ?= ../shared/datasets
SIZES ?= 10000,100000
PEER_DOCS ?= 100000
BULK_DOCS ?= 1000000

# The benchmarks: `make bench` runs every one; those reading $(DATASETS) are listed again.
BENCHES := bench-real bench-quality bench-latency bench-similarity bench-neighbours bench-review \
	bench-bulk bench-load bench-language bench-copy bench-peer
DATASET_BENCHES := bench-real bench-quality bench-latency bench-similarity bench-review bench-bulk \
	bench-load bench-language bench-peer

.PHONY: help install install-scale install-tune train serve test lint clean bench $(BENCHES) \
	browser screenshots

# A benchmark asked for without the public corpora stops here, in one line, before any work.
ifneq ($(filter bench $(DATASET_BENCHES),$(MAKECMDGOALS)),)
ifeq ($(wildcard $(DATASETS)/.),)
$(error no datasets folder at $(DATASETS): give its place, e.g. make $(firstword $(filter bench $(DATASET_BENCHES),$(MAKECMDGOALS))) DATASETS=/path/to/datasets)
endif
endif

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {name[++n] = $$1; text[n] = $$2; \
		if (length($$1) > width) width = length($$1)} \
		END {for (i = 1; i <= n; i++) printf "  make %-" width "s  %s\n", name[i], text[i]}' $(MAKEFILE_LIST)

# pip and setuptools' own warnings (a boxed deprecation notice) are not the user's business.
PIP := PYTHONWARNINGS=ignore $(BIN)/python -m pip --quiet --disable-pip-version-check --no-input

# Two stamps: what serving and training need, and on top of it what the tests need.
$(BIN)/.installed: pyproject.toml setup.py model/_kernels.c
	@echo "installing tagsim and what it needs to train and serve into $(VENV)/ ..."
	@$(PYTHON) -m venv $(VENV)
	@$(PIP) install --upgrade pip 2>/dev/null
	@$(PIP) install -e . 2> >(grep -v -e '^ *!!' -e '^ *\*\*\*' >&2)
	@touch $@

$(BIN)/.dev-installed: $(BIN)/.installed
	@echo "installing the test tools (pytest, hypothesis, ruff, schemathesis) and the scale-out extras (Dask, psycopg) into $(VENV)/ ..."
	@$(PIP) install -e '.[dev,scale]' 2> >(grep -v -e '^ *!!' -e '^ *\*\*\*' >&2)
	@touch $@

install: $(BIN)/.installed ## create .venv/ with tagsim installed (editable); idempotent

# The optional features, each an extra of pyproject.toml; `make test` installs both.
install-scale: $(BIN)/.installed ## add the scale extra: Dask (tag --data, --scheduler), pyarrow (Parquet), psycopg (PostgreSQL)
	@echo "installing the scale extra (Dask, pyarrow, psycopg) into $(VENV)/ ..."
	@$(PIP) install -e '.[scale]' 2> >(grep -v -e '^ *!!' -e '^ *\*\*\*' >&2)

install-tune: $(BIN)/.installed ## add the tune extra: Optuna, for tagsim tune
	@echo "installing the tune extra (Optuna) into $(VENV)/ ..."
	@$(PIP) install -e '.[tune]' 2> >(grep -v -e '^ *!!' -e '^ *\*\*\*' >&2)

train: install ## train the default model on data/articles.jsonl.gz into $TAGSIM_HOME (artifacts/)
	@echo "training the default model on $(DATA) into $(TAGSIM_HOME)/ ..."
	@$(BIN)/tagsim train --data $(DATA) --home $(TAGSIM_HOME)

serve: install ## train if there is no model yet, then serve on 127.0.0.1:$PORT (8000)
	@test -e $(TAGSIM_HOME)/current || $(MAKE) --no-print-directory train
	@$(BIN)/tagsim serve --home $(TAGSIM_HOME) --host 127.0.0.1 --port $(PORT)

browser: ## install Debian's headless chromium and chromium-driver when missing (the page's tests)
	@test -x /usr/bin/chromedriver && command -v chromium >/dev/null || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver)

test: $(BIN)/.dev-installed browser ## run the whole test suite
	$(BIN)/python -m pytest

bench-neighbours: install ## similar-article quality: leave-one-out label agreement vs plain TF-IDF
	$(BIN)/python bench/neighbours.py --data $(DATA)

# The last commit served by gunicorn and the hand-written buffering worker (service/worker.py):
# bench-load measures it first, then this tree, on the same home. COMPARE= skips it.
COMPARE ?= a7b3aa3

bench-load: install ## throughput of the real server under wrk, old server (COMPARE) vs this one; installs wrk
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	@test -e $(TAGSIM_HOME)/current || $(MAKE) --no-print-directory train
	@test -z "$(COMPARE)" || $(BIN)/python -c 'import gunicorn' 2>/dev/null || $(PIP) install 'gunicorn>=27,<28'
	$(BIN)/python bench/load.py --datasets $(DATASETS) $(if $(COMPARE),--compare $(COMPARE))

$(BIN)/.bench-installed: $(BIN)/.dev-installed
	@$(PIP) install -e '.[dev,scale,bench]'
	@touch $@

bench-similarity: install $(BIN)/.bench-installed ## top-10 similar search vs scikit-learn and gensim (SIZES=10000,100000)
	$(BIN)/python bench/similarity.py --datasets $(DATASETS) --sizes $(SIZES)

bench-peer: install $(BIN)/.bench-installed ## tagsim's index vs tantivy (more-like-this, 25 terms) on one corpus (PEER_DOCS=100000)
	$(BIN)/python bench/peer.py --datasets $(DATASETS) --docs $(PEER_DOCS)

bench-latency: install ## in-process tag latency of a 3 KB article vs scikit-learn OneVsRest
	$(BIN)/python bench/latency.py --datasets $(DATASETS)

bench-quality: install ## tagging quality on Reuters-21578 and BBC News vs scikit-learn and published results
	$(BIN)/python bench/quality.py --datasets $(DATASETS)

bench-real: install ## the default model on both real dev sets (wire, modern) vs plain TF-IDF + LinearSVC
	$(BIN)/python bench/real.py --data $(DATA) --dev $(DATASETS)/real_deals_dev.jsonl --dev $(DATASETS)/real_modern_dev.jsonl

bench-language: install ## English text flagged "not English" (corpus, dev sets, Reuters, BBC); other languages caught
	$(BIN)/python bench/language.py --data $(DATA) --datasets $(DATASETS)

bench-copy: install-scale ## tagsim documents copy of 10,000 documents into a scratch PostgreSQL database, then again
	$(BIN)/python bench/document_copy.py --docs 10000

bench-review: install ## review queue latency at 100k documents; queue vs random reviews on BBC and Reuters
	$(BIN)/python bench/review_queue.py --size 100000
	$(BIN)/python bench/review.py --datasets $(DATASETS)

screenshots: install browser ## PNGs of the Try and Review pages in docs/ (headless Chromium)
	PYTHONPATH=. $(BIN)/python bench/screenshots.py --out docs  # it reuses tests/service/browser.py

bench-bulk: install-scale ## bulk tagging on Dask (1 and 2 workers) vs a /v1/tag/batch loop and scikit-learn; PostgreSQL vs SQLite store (BULK_DOCS=1000000)
	@test -e $(TAGSIM_HOME)/current || $(MAKE) --no-print-directory train
	$(BIN)/python bench/bulk.py --datasets $(DATASETS) --docs $(BULK_DOCS) --home $(TAGSIM_HOME)

bench: $(BENCHES) ## run every benchmark and print their tables (DATASETS=/path/to/datasets)

lint: $(BIN)/.dev-installed ## check style with ruff
	$(BIN)/ruff check model training service tests bench

clean: ## remove the virtual environment and caches (keeps trained models)
	rm -rf $(VENV) .pytest_cache .hypothesis .ruff_cache
