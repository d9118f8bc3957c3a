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
	@echo "make soak       long-running tests (pytest -m soak)"
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

# pytest exits 5 when no test is marked soak: nothing to run is not a failure.
soak: $(INSTALLED)
	$(BIN)/pytest -m soak; status=$$?; \
		if [ $$status -eq 5 ]; then echo "No soak tests."; exit 0; fi; exit $$status

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
	rm -rf $(VENV)
