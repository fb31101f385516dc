# Sendhouse: `make run` starts the server on SQLite with captured mail; `make test` runs the suite;
# `make lint` checks formatting, lint rules, types and layers.
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

# Bytecode is compiled at install (dependencies and our own src/), so no process compiles modules
# at import, even where PYTHONDONTWRITEBYTECODE keeps Python from caching them itself: every
# `sendhouse` command and server starts seconds sooner.
install: uv
	$(UV) sync --frozen --no-dev --inexact --compile-bytecode
	.venv/bin/python -m compileall -q -j 0 src >/dev/null

install-dev: uv
	$(UV) sync --frozen --extra dev --compile-bytecode
	.venv/bin/python -m compileall -q -j 0 src >/dev/null

# Debian packages the tests drive for real (Postfix's smtp-sink, wrk, chromium); needs root.
tools:
	.ci/setup-tools

run: install
	.venv/bin/sendhouse serve

# Tests that restart shared services run first and alone; then everything else on three processes
# (most tests wait on servers, browsers and relays, so three keep two cores busier than two do), a
# module's tests together on one process so its servers and browser start once (loadscope).
test: install-dev tools
	.venv/bin/python -m pytest -m serial $(PYTEST_ARGS) || [ $$? -eq 5 ]
	.venv/bin/python -m pytest -n 3 --dist loadscope -m "not serial" $(PYTEST_ARGS)

bench: install-dev tools
	.venv/bin/python bench/run_all.py

# Formatting, lint rules, types (mypy) and the import contracts (import-linter); every check runs,
# then the target fails if any did.
lint: install-dev
	@status=0; \
	.venv/bin/ruff format --check --output-format concise src tests bench || status=1; \
	.venv/bin/ruff check src tests bench || status=1; \
	.venv/bin/mypy || status=1; \
	.venv/bin/lint-imports || status=1; \
	exit $$status

clean:
	rm -rf .venv .pytest_cache
