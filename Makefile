# torchtutor: `make run` and `make test` are the whole set-up.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup run test test-postgres lint bench slack-manifests clean

# The ONNX export of the packaged model (knowledge/onnx_model.py) is made once, offline; a no-op once it exists.
setup: $(STAMP)
	@$(BIN)/python -m knowledge.onnx_model >/dev/null

# torch==2.13.0 goes first so that nothing later pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

run: setup
	$(BIN)/torchtutor migrate
	$(BIN)/torchtutor run

# The whole suite on SQLite, then every database-touching test again on PostgreSQL (production's database).
# Without a PostgreSQL server the second pass skips; under CI (.ci/run) it fails instead.
test: setup
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)
	$(MAKE) --no-print-directory test-postgres

test-postgres: setup
	TORCHTUTOR_TEST_DATABASE=postgres $(BIN)/python -m pytest -q -m "db and not sqlite_only" $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check bot knowledge workers tests benchmarks

bench: setup
	$(BIN)/python benchmarks/ask.py

# The Slack app manifests (HTTP and Socket Mode), built from the command catalogue; a test checks they are current.
slack-manifests: setup
	$(BIN)/python -m bot.adapters.slack.manifest --write deploy/slack

clean:
	rm -rf $(VENV) var/*.db var/cache
