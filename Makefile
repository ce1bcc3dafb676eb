# Resonanz — targets a newcomer can guess.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: install run test lint fmt up down clean bench drill

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

## Start the whole platform on this machine (no Docker needed). Ctrl-C stops it.
run: install
	$(BIN)/python -m resonanz.shared.stack

## Lint and type-check, then every test. First the Debian tools the tests need (installed as root).
test: system-deps lint
	$(BIN)/pytest -q

.PHONY: system-deps
system-deps:
	bash tools/system-deps.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/python tools/typecheck.py

fmt: install
	$(BIN)/ruff check --fix .

## Production-like stack (needs a Docker engine).
up:
	docker compose up --build

down:
	docker compose down

## As root, .run/pgdata may link to data PostgreSQL's own user keeps out of the checkout
## (see EmbeddedPostgres): remove that too, recognised by the .handle file beside it.
clean:
	data=$$(readlink .run/pgdata) && test -f "$$data.handle" && rm -rf "$$data" "$$data.handle" || true
	rm -rf .run .mypy_cache .pytest_cache .ruff_cache

## Capacity figures, measured as ratios in one run (see docs/benchmarks.md).
bench: install
	$(BIN)/python tools/bench.py

## Fault drills and API fuzzing: nothing accepted may be lost (see docs/benchmarks.md).
drill: install
	$(BIN)/python tools/drill.py
