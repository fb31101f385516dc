# Sendhouse: `make run` starts the server on SQLite with captured mail; `make test` runs the suite.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := python3 -m uv
endif
PYTEST_ARGS ?=

.PHONY: run test bench install install-dev tools uv lint clean

uv:
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv==0.13.9

install: uv
	$(UV) sync --frozen --no-dev --inexact

install-dev: uv
	$(UV) sync --frozen --extra dev

# Debian packages the tests drive for real (Postfix's smtp-sink, wrk, chromium); needs root.
tools:
	.ci/setup-tools

run: install
	.venv/bin/sendhouse serve

# Tests that restart shared services run first and alone; then everything else on two processes.
test: install-dev tools
	.venv/bin/python -m pytest -m serial $(PYTEST_ARGS) || [ $$? -eq 5 ]
	.venv/bin/python -m pytest -n 2 -m "not serial" $(PYTEST_ARGS)

bench: install-dev tools
	.venv/bin/python bench/run_all.py

lint: install-dev
	.venv/bin/ruff check src tests bench
	.venv/bin/lint-imports

clean:
	rm -rf .venv .pytest_cache
