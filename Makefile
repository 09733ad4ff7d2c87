# The two commands of the README: `make run` and `make test`. Both set up what they need first
# and are safe to run again (packages are reinstalled only when a lock file changes).
SHELL := /bin/bash
.DEFAULT_GOAL := run

VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
HOST ?= 127.0.0.1

# The first Python 3.12+ on PATH (pyenv honours .python-version).
PYTHON ?= $(shell for p in python3.13 python3.12 python3 python; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1 \
	&& { echo $$p; break; }; done)

.PHONY: run test bench lint check-python setup setup-dev fake-upstream clean lock upgrade

check-python:
	@if [ -z "$(PYTHON)" ]; then \
		echo "This project needs Python 3.12 or newer, and none was found on PATH."; \
		echo "Install Python 3.12+ (or set PYTHON=/path/to/python3.12) and run the command again."; \
		exit 1; fi

$(VENV)/.created: | check-python
	@$(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	@touch $@

# Exact versions with their hashes: requirements/main.txt for the site, requirements/dev.txt for
# it plus the tests and tools. `make lock` writes both from pyproject.toml.
$(VENV)/.installed-main: requirements/main.txt $(VENV)/.created
	$(PY) -m pip install -q --require-hashes -r requirements/main.txt
	@touch $@

$(VENV)/.installed-dev: requirements/dev.txt $(VENV)/.installed-main
	$(PY) -m pip install -q --require-hashes -r requirements/dev.txt
	@touch $@

setup: $(VENV)/.installed-main
	@mkdir -p -m 700 var
	@$(PY) manage.py migrate --noinput -v0
	@$(PY) manage.py collectstatic --noinput -v0
	@$(PY) manage.py ensure_admin

setup-dev: $(VENV)/.installed-dev
	@mkdir -p -m 700 var

# Worker processes (more than one needs REDIS_URL and DATABASE_URL=postgres://..., which
# `manage.py check` verifies before anything starts). Exported: the site reads the same value.
WORKERS ?= 1
export WORKERS

# The system checks stop it on an error; replies a stopped server left generating are ended
# before it serves. On Ctrl+C or SIGTERM open streams are cut after 3 s (browsers reconnect),
# then each worker lets its replies finish for up to SHUTDOWN_GRACE_SECONDS.
run: setup
	@$(PY) manage.py check --fail-level ERROR
	@$(PY) manage.py recover_replies
	@echo "Serving on http://$(HOST):$(PORT)/ with $(WORKERS) worker(s)  (Ctrl+C stops)"
	@exec $(VENV)/bin/uvicorn chatsite.asgi:application --host $(HOST) --port $(PORT) \
		--workers $(WORKERS) --lifespan on --timeout-graceful-shutdown 3 --no-access-log \
		--no-proxy-headers

test: setup-dev
	@$(PY) scripts/check_browser.py
	$(PY) -m pytest $(PYTEST_ARGS)

bench: setup-dev setup
	$(PY) bench/run.py $(BENCH_ARGS)
	@case "$$DATABASE_URL" in postgres*) $(PY) bench/scale.py $(SCALE_ARGS);; \
	*) echo "usage pages at scale: skipped (set DATABASE_URL to a PostgreSQL server)";; esac

lint: setup-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

fake-upstream: setup
	$(PY) manage.py fake_upstream --port $(or $(FAKE_PORT),8765)

# After editing pyproject.toml's dependencies: pins what changed, keeps the other versions.
# Universal: one lock for Linux and macOS, Python 3.12 and newer (every file's hash is listed).
LOCK := $(VENV)/bin/uv pip compile pyproject.toml --quiet --universal --python-version 3.12 \
	--generate-hashes --custom-compile-command "make lock"
lock: $(VENV)/.installed-dev
	$(LOCK) $(UPGRADE) --extra dev -o requirements/dev.txt
	$(LOCK) -c requirements/dev.txt -o requirements/main.txt

# Every dependency to its newest version that pyproject.toml allows.
upgrade:
	@$(MAKE) --no-print-directory lock UPGRADE=--upgrade

clean:
	rm -rf $(VENV) var
