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
	@# The demo records that its hosts (which never heartbeat) stay up for a year, and
	@# the server publishes the policy it runs with: the CLI sees the same fleet.
	$(BIN)/corral serve --banner

# pytest-xdist workers: one per core, at most 4 (each holds a server's worth of memory).
# loadgroup: the tests of one xdist_group share a worker (the RabbitMQ cluster starts once).
PYTEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); [ "$$n" -gt 4 ] && n=4; echo $$n)

test: $(STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# For local iteration: no server processes' suites, SQLite only (PostgreSQL cases skip),
# stop at the first failure.
test-fast: $(STAMP)
	CORRAL_TEST_POSTGRESQL_URL= CORRAL_REQUIRE_SERVICES= $(BIN)/python -m pytest -x -q -m "not slow" \
		tests/unit tests/property tests/api tests/cli $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench tools
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python bench/providers.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
