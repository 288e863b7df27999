# tagsim — the front door. `make` alone lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
TAGSIM_HOME ?= artifacts
DATA ?= data/articles.jsonl
DATASETS ?= ../shared/datasets
SIZES ?= 10000,100000
BULK_DOCS ?= 1000000

.PHONY: help install train serve test lint clean bench-neighbours bench-load bench bench-similarity \
	bench-latency bench-quality bench-real bench-bulk

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,scale]'
	touch $@

install: $(BIN)/.installed ## create .venv/ with tagsim installed (editable); idempotent

train: install ## train the default model on data/articles.jsonl into $TAGSIM_HOME (artifacts/)
	$(BIN)/tagsim train --data $(DATA) --home $(TAGSIM_HOME)

serve: install ## train if there is no model yet, then serve on 127.0.0.1:$PORT (8000)
	@test -e $(TAGSIM_HOME)/current || $(MAKE) --no-print-directory train
	$(BIN)/tagsim serve --home $(TAGSIM_HOME) --host 127.0.0.1 --port $(PORT)

test: install ## run the whole test suite
	$(BIN)/python -m pytest

bench-neighbours: install ## similar-article quality: leave-one-out label agreement vs plain TF-IDF
	$(BIN)/python bench/neighbours.py --data $(DATA)

bench-load: install ## throughput and latency of the real server under wrk (installs wrk if missing)
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	@test -e $(TAGSIM_HOME)/current || $(MAKE) --no-print-directory train
	$(BIN)/python bench/load.py --datasets $(DATASETS)

$(BIN)/.bench-installed: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet -e '.[dev,scale,bench]'
	touch $@

bench-similarity: install $(BIN)/.bench-installed ## top-10 similar search vs scikit-learn and gensim (SIZES=10000,100000)
	$(BIN)/python bench/similarity.py --datasets $(DATASETS) --sizes $(SIZES)

bench-latency: install ## in-process tag latency of a 3 KB article vs scikit-learn OneVsRest
	$(BIN)/python bench/latency.py --datasets $(DATASETS)

bench-quality: install ## tagging quality on Reuters-21578 and BBC News vs scikit-learn and published results
	$(BIN)/python bench/quality.py --datasets $(DATASETS)

bench-real: install ## the default model on real labelled wire stories vs plain TF-IDF + LinearSVC
	$(BIN)/python bench/real.py --data $(DATA) --dev $(DATASETS)/real_deals_dev.jsonl

bench-bulk: install ## bulk tagging on Dask (1 and 2 workers) vs a /v1/tag/batch loop and scikit-learn; PostgreSQL vs SQLite store (BULK_DOCS=1000000)
	@test -e $(TAGSIM_HOME)/current || $(MAKE) --no-print-directory train
	$(BIN)/python bench/bulk.py --datasets $(DATASETS) --docs $(BULK_DOCS) --home $(TAGSIM_HOME)

bench: bench-real bench-similarity bench-latency bench-quality ## run the benchmarks and print their tables

lint: install ## check style with ruff
	$(BIN)/ruff check model training service tests bench

clean: ## remove the virtual environment and caches (keeps trained models)
	rm -rf $(VENV) .pytest_cache .hypothesis .ruff_cache
