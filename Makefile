# The two commands a newcomer needs are `make run` and `make test` (see README.md).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test check install install-dev bench load microbench

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# constraints.txt pins every package to the versions CI tests and audits (SECURITY.md).
# A stamp in .venv records each install, so `make run` reinstalls only when pyproject.toml
# or constraints.txt changed since (a restart took 6 s of pip before).
STAMP := $(VENV)/.installed
STAMP_DEV := $(VENV)/.installed-dev

$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install --quiet -c constraints.txt -e .
	touch $@

# The dev install includes the plain one, so it stamps both.
$(STAMP_DEV): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@ $(STAMP)

install: $(STAMP)

install-dev: $(STAMP_DEV)

# `make run PORT=8001` serves elsewhere; the links `khaibao demo` prints (KHAIBAO_PUBLIC_URL)
# follow it unless that variable is set.
PORT ?= 8000
export KHAIBAO_PUBLIC_URL ?= http://127.0.0.1:$(PORT)

run: install
	$(BIN)/khaibao serve --host 127.0.0.1 --port $(PORT)

test: install-dev
	$(BIN)/pytest -q

check: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

# `khaibao bench` drives the service with wrk (Debian packages it; macOS: brew install wrk).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

bench: install-dev
	@command -v wrk >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq wrk; }
	$(BIN)/khaibao bench

load: install-dev
	$(BIN)/khaibao load

microbench: install-dev
	$(BIN)/python -m load.inprocess.microbench
