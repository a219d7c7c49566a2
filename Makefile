# Hospital Hub — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WEB_STAMP := frontend/node_modules/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
SERVICES_DB ?= mysql+aiomysql://root@127.0.0.1:3306
SERVICES_REDIS ?= redis://127.0.0.1:6379/0
CHROMIUM := /usr/bin/chromium

.PHONY: help install web migrate seed run test lint typecheck pytest web-test browser-deps test-services bench openapi clean

help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-15s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' -c constraints.txt
	@touch $@

install: $(STAMP) ## Create .venv and install the service with its dev tools

$(WEB_STAMP): frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund
	@touch $@

web: $(WEB_STAMP) ## Build the web app into frontend/dist
	cd frontend && npm run build

migrate: $(STAMP) ## Apply database migrations
	$(BIN)/hospital migrate

seed: migrate ## Create demo users (idempotent) and print their logins
	$(BIN)/hospital seed-demo

run: install web seed ## Install, build, migrate, seed and serve everything on http://127.0.0.1:8000
	@echo "Serving Hospital Hub on http://$(HOST):$(PORT)  (Ctrl-C to stop)"
	$(BIN)/hospital serve --host $(HOST) --port $(PORT)

lint: $(STAMP) ## ruff (lint + format check)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP) ## mypy (strict on app/)
	$(BIN)/mypy app signaling media bench

browser-deps: ## Install Debian's Chromium for the browser tests when it is missing (needs root)
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's chromium for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "note: $(CHROMIUM) is missing and cannot be installed here; browser tests will be skipped"; fi; \
	fi

web-test: $(WEB_STAMP) ## Frontend unit tests, type check and API-client freshness
	cd frontend && npm run check:api && npm run lint && npm test

pytest: $(STAMP) ## The Python suites on SQLite + the in-process broker
	$(BIN)/pytest -q

test: install lint typecheck web-test web browser-deps pytest ## Everything on the embedded defaults

test-services: $(STAMP) ## The API and service suites against MariaDB and Redis
	HOSPITAL_TEST_DATABASE_URL=$(SERVICES_DB) HOSPITAL_TEST_REDIS_URL=$(SERVICES_REDIS) \
	  $(BIN)/pytest -q -m "not browser"

bench: $(STAMP) ## Benchmarks (auth, import, search, chart, booking, telehealth, monitoring) as ratios measured in one run
	$(BIN)/python -m bench

openapi: $(STAMP) $(WEB_STAMP) ## Regenerate frontend/openapi.json and the typed client
	$(BIN)/hospital openapi --output frontend/openapi.json
	cd frontend && npm run gen:api

clean: ## Remove build outputs (keeps var/ data)
	rm -rf frontend/dist .pytest_cache .mypy_cache .ruff_cache
