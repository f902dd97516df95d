# CloudWaste: `make help` lists the verbs. Everything installs into .venv and .tools (no root needed
# except that PostgreSQL server binaries must be on the machine; see README).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BUF := .tools/node_modules/.bin/buf
EXTRAS := scanner,enricher,exporter,predictor,dev

.DEFAULT_GOAL := help
.PHONY: help setup protos pg prometheus lint lock images test demo up down bench clean

help: ## list the verbs
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

# Third-party packages from the lock file (every pin hash-checked: what CI tested is what installs),
# then the project itself without resolving anything more.
$(VENV)/.installed: pyproject.toml setup.py requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r requirements/dev.txt
	$(PY) -m pip install --quiet --no-deps -e ".[$(EXTRAS)]"
	touch $@

$(BUF):
	mkdir -p .tools
	npm install --silent --no-audit --no-fund --prefix .tools @bufbuild/buf@1 >/dev/null

setup: $(VENV)/.installed $(BUF) protos pg prometheus ## create .venv, install every service's deps + dev tools, generate code

protos: $(VENV)/.installed ## generate Python code from protos/ (never edited by hand)
	$(PY) tools/gen_protos.py

pg:
	@tools/ensure_postgres.sh

prometheus:
	@tools/ensure_prometheus.sh

lock: $(VENV)/.installed ## re-resolve requirements/*.txt from pyproject.toml (uv, with hashes); commit them
	tools/lock.sh

images: ## build the four service images and check each starts (needs docker or podman; CI runs it when there is one)
	tools/build_images.sh

lint: setup ## ruff + buf lint (STANDARD)
	$(VENV)/bin/ruff check .
	cd protos && ../$(BUF) lint

# Two pytest workers (pytest-xdist), a test file each at a time. The unit tests run apart: some use
# moto's in-process mock, whose start resets every moto backend of the process, the integration
# tests' simulated estates included.
test: setup ## run the whole test suite (starts its own PostgreSQL and moto)
	$(VENV)/bin/pytest -q -n 2 --dist loadfile --durations=15 --ignore=tests/unit tests
	$(VENV)/bin/pytest -q -n 2 --dist loadfile tests/unit

# SIZE= and SEED= set the simulated estate of `demo` and `up` (e.g. make demo SIZE=2000 SEED=7)
SIM_ARGS = $(if $(SIZE),--size $(SIZE)) $(if $(SEED),--seed $(SEED))

demo: $(VENV)/.installed protos pg ## the main job end to end on this machine (see README); SIZE=, SEED=
	$(PY) -m cloudwaste.sim.demo $(SIM_ARGS)

up: $(VENV)/.installed protos pg ## start the stack and keep it running (addresses in .run/stack.json); SIZE=, SEED=
	$(PY) -m cloudwaste.sim.up $(SIM_ARGS)

down: ## stop the stack that `make up` started, and wait for it
	@if [ -x $(PY) ]; then $(PY) -m cloudwaste.sim.up --down; else echo "no stack running (no $(VENV))"; fi

bench: setup ## PredictWaste latency vs ONNX vs scikit-learn; load (ListFindings at 100k findings, 8 clients, 5 concurrent scans) vs Health/Check and one scan alone; export memory vs pandas.read_sql; AWS, Azure, GCP scans vs their raw listing; enrichment with metric history vs writing the points; findings' real cost from a CUR vs decoding it; anomaly scoring points/s; the cost forecast backtest vs seasonal naive; the waste model against the simulated users' oracle
	@s=0; for b in predict load export scan clouds enrich cost anomaly forecast waste_model; do $(PY) bench/$${b}_bench.py; c=$$?; [ $$c -gt $$s ] && s=$$c; done; exit $$s

clean: ## remove the environment and generated code
	rm -rf $(VENV) .tools .pytest_cache .ruff_cache
	rm -rf services/*/cloudwaste/*/v1
