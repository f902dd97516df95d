# CloudWaste: `make help` lists the verbs. Everything installs into .venv and .tools (no root needed
# except that PostgreSQL server binaries must be on the machine; see README).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BUF := .tools/node_modules/.bin/buf
EXTRAS := scanner,enricher,exporter,predictor,dev

.DEFAULT_GOAL := help
.PHONY: help setup protos pg lint test demo bench clean

help: ## list the verbs
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $@

$(BUF):
	mkdir -p .tools
	npm install --silent --no-audit --no-fund --prefix .tools @bufbuild/buf@1 >/dev/null

setup: $(VENV)/.installed $(BUF) protos pg ## create .venv, install every service's deps + dev tools, generate code

protos: $(VENV)/.installed ## generate Python code from protos/ (never edited by hand)
	$(PY) tools/gen_protos.py

pg:
	@tools/ensure_postgres.sh

lint: setup ## ruff + buf lint (STANDARD)
	$(VENV)/bin/ruff check .
	cd protos && ../$(BUF) lint

test: setup ## run the whole test suite (starts its own PostgreSQL and moto)
	$(VENV)/bin/pytest -q

demo: $(VENV)/.installed protos pg ## the main job end to end on this machine (see README)
	$(PY) -m cloudwaste.sim.demo

bench: setup ## PredictWaste latency vs ONNX vs scikit-learn; export memory vs pandas.read_sql
	@$(PY) bench/predict_bench.py; a=$$?; $(PY) bench/export_bench.py; b=$$?; exit $$(( a > b ? a : b ))

clean: ## remove the environment and generated code
	rm -rf $(VENV) .tools .pytest_cache .ruff_cache
	rm -rf services/*/cloudwaste/*/v1
