# Two commands for a newcomer: `make demo` and `make test`. Both install what they need first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Bytecode is written for the modules sieve imports (infra/compile_imports.py, on both cores; the variable is dropped
# for every command below), not compiled for all 2.4 GB of the venv at install: pip's compile step was 46 of its 74 s
# here, a parallel compileall still 30 s, for modules most of which no command imports (sympy, cfn-lint, most of torch).
unexport PYTHONDONTWRITEBYTECODE
KENLM := $(BIN)/lmplz
DEMO_DOCS ?= 2000
DEMO_DIR ?= demo

.PHONY: install browser prefect-db demo test lint bench clean

install: $(STAMP) $(KENLM) browser prefect-db

# Reinstall only when the dependency list changes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/python -m pip install --quiet --no-compile -e ".[dev]"
	$(BIN)/python infra/compile_imports.py
	touch $(STAMP)

# KenLM's trainer (lmplz, build_binary) for `sieve lm train`: built once into the venv (about 2 minutes).
$(KENLM): | $(STAMP)
	bash infra/build_kenlm.sh $(VENV)

# An empty Prefect database migrated once for this Prefect version, in the user's cache folder: the first run in a
# folder copies it instead of migrating its own (its server is ready about 4 s sooner). Nothing to do when it is there.
prefect-db: | $(STAMP)
	$(BIN)/python -m sieve.flows.server --template

# Chromium for the report.html browser test: apt-installed when missing and run as root, else a hint.
browser:
	bash infra/install_browser.sh

# The default config: the perplexity stage scores en and vi with the reference models shipped in the package, so the
# demo needs no KenLM build (only `sieve lm train` does). Then each stage is scored against the corpus's truth.
# The input is written once: writing it again gives the same bytes under a new modification time, which the run
# folder it fed refuses as a changed input (a second `make demo` then finds its run published and scores it again).
demo: $(DEMO_DIR)/input/corpus.warc.gz
	$(BIN)/sieve run --input $(DEMO_DIR)/input/corpus.warc.gz --output $(DEMO_DIR)/output
	$(BIN)/sieve eval $(DEMO_DIR)/output --truth $(DEMO_DIR)/input/truth.json

$(DEMO_DIR)/input/corpus.warc.gz: | $(STAMP)
	$(BIN)/sieve synth --output $(DEMO_DIR)/input --docs $(DEMO_DOCS) --seed 0

# Three pytest-xdist workers on 2 cores, a test module to one worker (its module fixtures are built once): the suite
# waits on servers, subprocesses and polls, so a third worker fills the cores while the others wait (303 s against
# 312 s for two, run back to back). Modules are handed out in the order tests/conftest.py gives them (the longest
# first), not reordered by their number of tests.
test: install
	$(BIN)/python -m pytest -q -n 3 --dist loadfile --no-loadscope-reorder --durations=15

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: install
	$(BIN)/python bench/read_extract.py
	$(BIN)/python bench/scale.py
	$(BIN)/python bench/fixed_cost.py
	$(BIN)/python bench/quality.py
	$(BIN)/python bench/dedup.py
	$(BIN)/python bench/passes.py
	$(BIN)/python bench/pii.py
	$(BIN)/python bench/trainer.py
	$(BIN)/python bench/bad_volume.py

clean:
	rm -rf $(DEMO_DIR) .sieve .pytest_cache
