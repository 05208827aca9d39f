# Gatehouse: `make run` starts the whole product on embedded defaults; `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# python3.12 from PATH, else pyenv's install; each candidate must really be 3.12.
PYTHON ?= $(shell for p in python3.12 /root/.pyenv/versions/3.12.*/bin/python3.12 /usr/bin/python3.12 /usr/local/bin/python3.12; do \
	  $$p -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-12)
NODE_STAMP := devidp/node_modules/.installed-$(shell sha256sum devidp/package-lock.json | cut -c1-12)

.PHONY: help run test bench lint fmt venv node system-deps clean

help:
	@echo "make run    start Gatehouse with a local OpenID provider on http://127.0.0.1:8000/"
	@echo "make test   install what is needed and run ruff and the whole test suite"
	@echo "make bench  run the benchmarks and rewrite bench/README.md"
	@echo "make lint   ruff, import contracts (lint-imports), migrations check;  make fmt  format"

$(STAMP): requirements.txt requirements-dev.txt
	@test -n "$(PYTHON)" || { echo "Python 3.12 was not found: install it (pyenv install 3.12) or set PYTHON=/path/to/python3.12." >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP)

$(NODE_STAMP): devidp/package.json devidp/package-lock.json
	npm ci --prefix devidp --no-audit --no-fund --loglevel=error
	rm -f devidp/node_modules/.installed-* && touch $@

node: $(NODE_STAMP)

system-deps:
	@scripts/install-system-deps.sh

run: venv node
	$(BIN)/python scripts/run_dev.py

test: venv node system-deps lint
	$(BIN)/python -m pytest -q -p no:cacheprovider --durations=15

bench: venv node system-deps
	$(BIN)/python -m bench.run

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python manage.py makemigrations --check --dry-run

fmt: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) devidp/node_modules var staticfiles
