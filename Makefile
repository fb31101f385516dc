# Sendhouse: `make run` starts the server on SQLite with captured mail; `make test` runs the suite.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
PYTEST_ARGS ?=

.PHONY: run test bench install install-dev lint clean

$(UV):
	python3 -m pip install --quiet --user uv==0.13.9 || python3 -m pip install --quiet uv==0.13.9

install: $(UV)
	$(UV) sync --frozen --no-dev --inexact

install-dev: $(UV)
	$(UV) sync --frozen --extra dev

run: install
	.venv/bin/sendhouse serve

# Tests that restart shared services run first and alone; then everything else on two processes.
test: install-dev
	.venv/bin/python -m pytest -m serial $(PYTEST_ARGS) || [ $$? -eq 5 ]
	.venv/bin/python -m pytest -n 2 -m "not serial" $(PYTEST_ARGS)

bench: install-dev
	.venv/bin/python bench/run_all.py

lint: install-dev
	.venv/bin/ruff check src tests bench

clean:
	rm -rf .venv .pytest_cache
