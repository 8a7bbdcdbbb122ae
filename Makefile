# The commands a newcomer types. Everything installs into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test test-fast lint bench install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,dev]'
	rm -f $(VENV)/.installed-*; touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/corral db upgrade
	$(BIN)/corral demo --if-empty
	@# The demo hosts never heartbeat: keep them "up" for a year.
	CORRAL_HOST_DOWN_AFTER_S=$${CORRAL_HOST_DOWN_AFTER_S:-31536000} $(BIN)/corral serve --banner

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# For local iteration: no server processes' suites, SQLite only (PostgreSQL cases skip),
# stop at the first failure.
test-fast: $(STAMP)
	CORRAL_TEST_POSTGRESQL_URL= CORRAL_REQUIRE_SERVICES= $(BIN)/python -m pytest -x -q \
		tests/unit tests/property tests/api tests/cli $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python bench/providers.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
