# make run   - set everything up and start the app with its worker, beat and the Intacct sandbox
# make test  - lint, migration check, type check and the whole test suite (except soak tests)

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
URL := http://127.0.0.1:8000
RECORDS ?= 100000
ENTITIES ?= 10000
TYPECHECK = $(BIN)/mypy manage.py config connections intacct
# honcho puts the virtualenv first on PATH (the Procfile says `python`, `celery`) and reads .env.
HONCHO := PATH="$(CURDIR)/$(BIN):$$PATH" VIRTUAL_ENV="$(CURDIR)/$(VENV)" $(BIN)/honcho

# System Chromium, for the Playwright browser tests.
CHROMIUM ?= /usr/bin/chromium
export CHROMIUM
export PYTHONUNBUFFERED := 1

.PHONY: help venv run test lint format typecheck soak bench bench-console vendor clean distclean

help:
	@echo "make run        start the app at $(URL) (web, worker, beat, sandbox; Ctrl-C stops all)"
	@echo "make test       ruff, migration check, mypy and the test suite (not soak)"
	@echo "make lint       ruff check and ruff format --check"
	@echo "make format     ruff format and ruff check --fix"
	@echo "make typecheck  mypy"
	@echo "make soak       long runs under faults and load (tests/soak), with a summary table"
	@echo "make bench      bench/pull.py --records $(RECORDS)"
	@echo "make bench-console  bench/dashboard.py --entities $(ENTITIES) (console pages at scale)"
	@echo "make vendor     refresh static/vendor/ (Pico CSS) from npm, at the version package.json pins"
	@echo "make clean      remove var/ (database, broker), collected static files and caches"
	@echo "make distclean  clean, and remove $(VENV)"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "Python 3.11 or newer is needed; $(PYTHON) is $$($(PYTHON) --version 2>&1)." >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

# Reinstall only when requirements.lock changes.
$(INSTALLED): requirements.lock | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check -r requirements.lock
	@touch $@

venv: $(INSTALLED)

run: $(INSTALLED)
	$(HONCHO) run python manage.py migrate --noinput
	$(HONCHO) run python manage.py demo_data
	@echo
	@echo "  Open $(URL) and log in with a demo login above. Ctrl-C stops everything."
	@echo
	$(HONCHO) start

test: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(TYPECHECK)
	$(BIN)/pytest -n 2 -m "not soak"

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(INSTALLED)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(INSTALLED)
	$(TYPECHECK)

# The load tool (locust) lives in a virtualenv of its own: its gevent must never reach the app.
LOAD_VENV := .venv-load
LOAD_INSTALLED := $(LOAD_VENV)/.installed
$(LOAD_INSTALLED): requirements-soak.lock | $(BIN)/python
	$(PYTHON) -m venv $(LOAD_VENV)
	$(LOAD_VENV)/bin/python -m pip install --disable-pip-version-check -q -r requirements-soak.lock
	@touch $@

# Long runs under faults and load (PostgreSQL and Redis: DATABASE_URL and REDIS_URL, default the
# local servers), one test at a time, ending with the summary table.
soak: $(INSTALLED) $(LOAD_INSTALLED)
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/intacct_connect} \
	REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/0} \
	$(BIN)/pytest -m soak -p no:cacheprovider tests/soak

bench: $(INSTALLED)
	$(BIN)/python bench/pull.py --records $(RECORDS)

bench-console: $(INSTALLED)
	$(BIN)/python bench/dashboard.py --entities $(ENTITIES)

# Pico CSS comes from the npm registry at the exact version in package.json / package-lock.json;
# its minified file is committed under static/vendor/ and served by WhiteNoise (never a CDN).
vendor:
	npm ci --no-audit --no-fund
	npm run vendor

clean:
	rm -rf var staticfiles .pytest_cache .mypy_cache .ruff_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) $(LOAD_VENV)
