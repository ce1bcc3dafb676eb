# Resonanz — targets a newcomer can guess.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The stamp names what was installed: a change to the packaging or the lock reinstalls.
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml setup.py requirements-dev.lock | cksum | cut -d' ' -f1)

.PHONY: install run test lint fmt up down clean bench drill screenshots

install: $(STAMP)

# The hash-pinned lock brings every dependency; the project itself comes on top, editable.
$(STAMP): pyproject.toml setup.py requirements-dev.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check --require-hashes -r requirements-dev.lock
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -e .
	rm -f $(VENV)/.installed-* && touch $@

## Start the whole platform on this machine (no Docker needed). Ctrl-C stops it.
run: install
	$(BIN)/python -m resonanz.devstack

## Lint and type-check, then every test (with the 30 slowest, to see where the time goes).
## First the Debian tools the tests need (installed as root).
test: system-deps lint
	$(BIN)/pytest -q --durations=30

.PHONY: system-deps
system-deps:
	bash tools/system-deps.sh

## Refresh README's dashboard screenshots (docs/screenshots) from a browser test run.
screenshots: install
	RESONANZ_SCREENSHOTS_DIR=docs/screenshots $(BIN)/pytest -q tests/test_dashboard*.py -k "screenshot or entry_detail or previewed or shows_the_summary or adds_tests or restored_from or key_is_created"

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

## The quality scorer on the held-out half of its labelled corpus: precision, recall, F1,
## confusion matrix, p99 latency (services/feedback/data/README.md, docs/benchmarks.md).
.PHONY: score-report
score-report: install
	$(BIN)/python tools/score_report.py

## The quality scorer's learned component, trained on the development half of the corpus
## alone (deterministic, the same file on any machine): services/feedback/data/learned_model.json. Run it after
## every change of scoring.VERSION; `--cv` cross-validates, `--check` compares with the file.
.PHONY: train-scorer
train-scorer: install
	$(BIN)/python tools/train_scorer.py

## Every API operation's example in the OpenAPI documents: one real answer each, recorded
## against a platform started as `make run` does (services/gateway/data/examples.json).
.PHONY: examples
examples: install
	$(BIN)/python tools/record_examples.py

## Re-resolve the hash-pinned lockfiles from pyproject.toml: requirements.lock (runtime, for the
## image), requirements-dev.lock (runtime + dev, for make install and CI), requirements-build.lock
## (the build backend). Pins already in a lock are kept where they still fit;
## `make lock LOCK_ARGS=--upgrade` moves everything to the newest.
# Resolved against PyPI alone, as the image installs: a machine's own pip settings (extra
# indexes, find-links, constraints) are kept out. resonanz is listed as "unsafe" so that dev's
# self-reference (resonanz[dev-infra]) is not written into the lock as this checkout's URL.
.PHONY: lock
lock: install
	$(PIP_COMPILE) -o requirements.lock pyproject.toml
	$(PIP_COMPILE) --extra dev -c requirements.lock -o requirements-dev.lock pyproject.toml
	$(PIP_COMPILE) --only-build-deps --build-deps-for wheel -o requirements-build.lock pyproject.toml

PIP_COMPILE = env -u PIP_FIND_LINKS -u PIP_INDEX_URL -u PIP_EXTRA_INDEX_URL -u PIP_CONSTRAINT \
	PIP_CONFIG_FILE=/dev/null CUSTOM_COMPILE_COMMAND="make lock" \
	$(BIN)/pip-compile -q --generate-hashes --strip-extras --unsafe-package resonanz \
	--no-emit-index-url --no-emit-find-links $(LOCK_ARGS)
