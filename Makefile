# The README's commands. Each target installs what it needs into .venv first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test lint format demo bench screenshots fuzz clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "fleetsvc needs Python 3.11 or newer"'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[embedded]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run          ## start the service on 127.0.0.1:8000 (embedded PostgreSQL in var/)
	$(BIN)/fleetsvc serve

demo: $(VENV)/.installed-run         ## load the demo fleet
	$(BIN)/fleetsvc demo

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

test: $(VENV)/.installed-dev         ## lint, type-check, layering check, then the whole suite
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/pytest

screenshots: $(VENV)/.installed-dev  ## a PNG of each page at 1366x768 in docs/screenshots/ (needs Chromium)
	$(BIN)/python -m tests.web.screenshots

format: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

fuzz: $(VENV)/.installed-dev         ## schemathesis over every operation with every role (about 10 minutes)
	$(BIN)/python -m tests.fuzz --minutes 10

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache
