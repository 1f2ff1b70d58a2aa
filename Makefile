# Rivulet: `make run` starts the app, `make test` runs the tests. Both create/update .venv.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
ARGS ?=
export CMAKE_BUILD_PARALLEL_LEVEL ?= $(shell nproc 2>/dev/null || echo 2)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run demo test lint format install install-dev system-deps bench clean help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: requirements.txt | $(PY)
	@echo ">> Installing runtime dependencies into $(VENV)."
	@echo ">> The first time, llama-cpp-python compiles from source: about 5 minutes on 2 cores (pip caches it)."
	$(PY) -m pip install --progress-bar on -r requirements.txt
	@touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(PY)
	@echo ">> Installing test dependencies into $(VENV) (first time: llama-cpp-python compiles, about 5 minutes)."
	$(PY) -m pip install --progress-bar on -r requirements-dev.txt
	@touch $@ $(VENV)/.runtime

install: $(VENV)/.runtime  ## create .venv with what the app needs
install-dev: $(VENV)/.dev  ## create .venv with what the tests need

run: install  ## serve the chat page on http://127.0.0.1:8080 (ARGS="--model fake" etc.)
	$(PY) main.py $(ARGS)

demo: install  ## a long streamed Markdown answer with no model at all, for presenters
	$(PY) main.py --model fake:chunks=1500,rate=60 $(ARGS)

system-deps:  ## Debian packages the browser tests need (chromium); run as root
	@if command -v chromium >/dev/null && command -v redis-server >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium redis-server >/dev/null; \
	else echo ">> Browser tests need Debian's chromium: sudo apt-get install chromium (they are skipped without it)."; fi

lint: install-dev  ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install-dev  ## apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: install-dev system-deps lint  ## run the whole test suite
	$(PY) -m pytest $(ARGS)

bench: install-dev system-deps  ## browser benchmark: Rivulet vs a naive page (results in bench/results/)
	$(PY) bench/page_bench.py $(ARGS)

clean:  ## remove .venv and caches
	rm -rf $(VENV) .pytest_cache .ruff_cache
