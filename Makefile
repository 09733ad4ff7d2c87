# The two commands of the README: `make run` and `make test`. Both set up what they need first
# and are safe to run again (the virtual environment is rebuilt only when pyproject.toml changes).
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

.PHONY: run test bench lint check-python setup setup-dev fake-upstream clean

check-python:
	@if [ -z "$(PYTHON)" ]; then \
		echo "This project needs Python 3.12 or newer, and none was found on PATH."; \
		echo "Install Python 3.12+ (or set PYTHON=/path/to/python3.12) and run the command again."; \
		exit 1; fi

$(VENV)/.created: | check-python
	@$(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	@touch $@

$(VENV)/.installed-main: pyproject.toml $(VENV)/.created
	@$(PY) scripts/requirements.py main > $(VENV)/requirements-main.txt
	$(PY) -m pip install -q -r $(VENV)/requirements-main.txt
	@touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed-main
	@$(PY) scripts/requirements.py dev > $(VENV)/requirements-dev.txt
	$(PY) -m pip install -q -r $(VENV)/requirements-dev.txt
	@touch $@

setup: $(VENV)/.installed-main
	@mkdir -p var
	@$(PY) manage.py migrate --noinput -v0
	@$(PY) manage.py collectstatic --noinput -v0
	@$(PY) manage.py ensure_admin

setup-dev: $(VENV)/.installed-dev
	@mkdir -p var

run: setup
	@echo "Serving on http://$(HOST):$(PORT)/  (Ctrl+C stops)"
	@exec $(VENV)/bin/uvicorn chatsite.asgi:application --host $(HOST) --port $(PORT) \
		--timeout-graceful-shutdown 5 --no-access-log --lifespan off --no-proxy-headers

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

clean:
	rm -rf $(VENV) var
