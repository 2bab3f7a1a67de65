# Two set-up commands that work on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SHARED ?= ../shared

.PHONY: install demo test bench lint format lock clean

install: $(STAMP)

# torch first and pinned: unpinned, argostranslate/sentence-transformers pull a CUDA build (GBs).
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/narrascope demo

# Two pytest-xdist workers, each running whole files (tests/support/parallel.py): much of the
# suite waits on subprocesses, servers and browsers, so two cores run it in less time.
TEST_WORKERS ?= 2
# PyTorch's threads per process (the workers' and the commands they start): two workers of two
# threads each oversubscribed the two cores (2026-12-07: 37 min 38 s, and 31 min 27 s with one)
TEST_THREADS ?= 1
test: $(STAMP)
	HF_HUB_OFFLINE=1 TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS="" OMP_NUM_THREADS=$(TEST_THREADS) \
		$(BIN)/python -m pytest \
		-n $(TEST_WORKERS) --dist loadfile

# Peers (BERTopic, news-please, ...) only for benchmarks: pinned in requirements-bench.lock.
BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP) requirements-bench.lock
	$(BIN)/pip install -q --no-deps -r requirements-bench.lock
	touch $(BENCH_STAMP)

# QUICK=1: a first look (aimed at under 10 minutes): smaller sizes, the slowest left out.
# ONLY=extraction,langid: those benchmarks alone (bench/bench_<name>.py), in results-only.md.
bench: $(BENCH_STAMP)
	QUICK="$(QUICK)" ONLY="$(ONLY)" SHARED="$(SHARED)" $(BIN)/python bench/run_all.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Regenerate exact pins after changing dependencies in pyproject.toml.
# The benchmark peers in requirements-bench.lock stay out of it.
lock: $(STAMP)
	$(BIN)/pip freeze --exclude-editable | grep -v -E '^(torch|narrascope)==' \
		| grep -v -x -F -f requirements-bench.lock > requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
