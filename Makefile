# torchtutor: `make run` and `make test` are the whole set-up.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Every dependency but torch pinned with its hashes (pip-tools, from pyproject.toml): `make lock` refreshes them.
LOCK := requirements.lock
DEV_LOCK := requirements-dev.lock
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup lock run test test-postgres lint bench screenshots slack-manifests clean

# The ONNX export of the packaged model (knowledge/onnx_model.py) is made once, offline; a no-op once it exists.
# Then the bundled knowledge pack is encoded into the embedding cache's install-time seed (knowledge/seed.py), so a
# first start does not encode it (about 12 s on two cores the first time; a second or so when nothing changed).
setup: $(STAMP)
	@$(BIN)/python -m knowledge.onnx_model >/dev/null
	@$(BIN)/python -m knowledge.seed >/dev/null

# torch==2.13.0 goes first, as the build this machine's pip picks (a CPU build here), so that nothing later pulls
# a multi-GB CUDA build; it is kept out of the locks because its build, and so its hash, differs per machine
# (CPU, CUDA, the Docker image's CPU index). Then every other dependency exactly as locked, hashes checked.
$(STAMP): pyproject.toml $(DEV_LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q --require-hashes -r $(DEV_LOCK)
	$(BIN)/python -m pip install -q --no-deps -e .
	@touch $(STAMP)

# Refresh the locks after editing pyproject.toml's dependencies (existing pins are kept where they still fit;
# `make lock UPGRADE=1` moves everything to the newest releases). pip-tools runs from its own venv, never .venv.
# The runtime lock (the Docker images) starts from the dev lock's pins, so the two agree on every shared package.
LOCK_VENV ?= $(or $(TMPDIR),/tmp)/torchtutor-lock-venv
PIP_COMPILE = $(LOCK_VENV)/bin/pip-compile -q --generate-hashes --strip-extras --unsafe-package torch \
	--no-emit-find-links --no-emit-index-url $(if $(UPGRADE),--upgrade)
lock:
	@test -x $(LOCK_VENV)/bin/pip-compile || \
		($(PYTHON) -m venv $(LOCK_VENV) && $(LOCK_VENV)/bin/pip install -q pip-tools)
	$(PIP_COMPILE) --extra dev --output-file $(DEV_LOCK) pyproject.toml
	cp $(DEV_LOCK) $(LOCK)
	$(PIP_COMPILE) --output-file $(LOCK) pyproject.toml

run: setup
	$(BIN)/torchtutor migrate
	$(BIN)/torchtutor run

# The whole suite on SQLite, then every database-touching test again on PostgreSQL (production's database).
# Without a PostgreSQL server the second pass skips; under CI (.ci/run) it fails instead.
test: setup
	$(BIN)/python -m pytest -q -rs $(PYTEST_ARGS)
	$(MAKE) --no-print-directory test-postgres

test-postgres: setup
	TORCHTUTOR_TEST_DATABASE=postgres $(BIN)/python -m pytest -q -rs -m "db and not sqlite_only" $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check bot knowledge workers tests benchmarks scripts
	$(BIN)/mypy

bench: setup
	$(BIN)/python benchmarks/ask.py

# The README's screenshots (docs/screenshots/*.png), from a seeded demo database in a temporary folder.
# Needs Debian's chromium (and fonts-noto-color-emoji for the emoji on buttons).
screenshots: setup
	$(BIN)/python scripts/screenshots.py

# The Slack app manifests (HTTP and Socket Mode), built from the command catalogue; a test checks they are current.
slack-manifests: setup
	$(BIN)/python -m bot.adapters.slack.manifest --write deploy/slack

clean:
	rm -rf $(VENV) var/*.db var/cache
