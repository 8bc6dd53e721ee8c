# Two commands for a newcomer: `make demo` and `make test`. Both install what they need first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DOCS ?= 2000
DEMO_DIR ?= demo

.PHONY: install demo test bench clean

install: $(STAMP)

# Reinstall only when the dependency list changes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: install
	$(BIN)/sieve synth --output $(DEMO_DIR)/input --docs $(DEMO_DOCS) --seed 0
	$(BIN)/sieve run --input $(DEMO_DIR)/input/corpus.warc.gz --output $(DEMO_DIR)/output

test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python bench/read_extract.py
	$(BIN)/python bench/scale.py
	$(BIN)/python bench/fixed_cost.py

clean:
	rm -rf $(DEMO_DIR) .sieve .pytest_cache
