# Every task is one command. `make serve` and `make test` install what they need on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
SCALE_BENCH_ARGS ?= --versions 1000000

.PHONY: serve test lint bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-runtime: pyproject.toml | $(VENV)/bin/python
	$(PIP) install -e '.[postgres,s3,azure,gcs]'
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(VENV)/bin/python
	$(PIP) install -e '.[dev]'
	@touch $@ $(VENV)/.installed-runtime

serve: $(VENV)/.installed-runtime
	@echo "API tokens: the first start on an empty database creates the user 'admin' and prints its token"
	@echo "(or set MODELSHELF_ADMIN_TOKEN). Later: $(VENV)/bin/modelshelf token create admin --name <name> --scope models:write"
	$(VENV)/bin/modelshelf serve

test: $(VENV)/.installed-dev
	bash scripts/ensure-postgres.sh
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy

bench: $(VENV)/.installed-dev
	$(PY) -m benchmarks.run $(BENCH_ARGS)
	$(PY) -m benchmarks.gitmodels $(GIT_BENCH_ARGS)
	$(PY) -m benchmarks.scale $(SCALE_BENCH_ARGS)
	bash scripts/ensure-postgres.sh
	$(PY) -m benchmarks.replicas $(REPLICAS_BENCH_ARGS)

clean:
	rm -rf $(VENV) .modelshelf .pytest_cache .mypy_cache .ruff_cache
