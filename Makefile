# cashout: `make help` lists the targets. Everything runs inside ./.venv, created on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PLUGINS := $(wildcard plugins/*/pyproject.toml)
PG_ADMIN ?= postgresql+asyncpg://postgres@127.0.0.1:5432/postgres

.DEFAULT_GOAL := help
.PHONY: help serve test lint format typecheck pytest test-postgres test-slow bench bench-photos bench-fanout bench-load docs install lock clean

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml $(PLUGINS) constraints.txt scripts/bootstrap_venv.py
	$(PYTHON) scripts/bootstrap_venv.py $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]' $(foreach p,$(PLUGINS),-e '$(dir $(p))[test]')
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install cashout, its plugins and the test tools

serve: $(STAMP) ## Run the server (SQLite in ./data; CASHOUT_HOST / CASHOUT_PORT / CASHOUT_DATA_DIR)
	$(BIN)/cashout serve

test: lint typecheck pytest ## Run the whole suite: lint, types, tests

lint: $(STAMP) ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP) ## Format the code with ruff
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(STAMP) ## mypy --strict on the server, the TUI and the plugins
	$(BIN)/mypy

pytest: $(STAMP) ## The tests (SQLite; PostgreSQL-only tests skip when it is unreachable, outside CI)
	$(BIN)/python -m pytest

test-postgres: $(STAMP) ## The database tests again on a fresh PostgreSQL database (PG_ADMIN=admin URL)
	$(BIN)/python scripts/pg_test_db.py create "$(PG_ADMIN)" > $(VENV)/.pg-test-url
	CASHOUT_TEST_DATABASE_URL=$$(cat $(VENV)/.pg-test-url) $(BIN)/python -m pytest -m "db or postgres" ; \
	  status=$$?; $(BIN)/python scripts/pg_test_db.py drop "$(PG_ADMIN)" $$(cat $(VENV)/.pg-test-url); exit $$status

test-slow: $(STAMP) ## The long fault runs: the SIGKILL test over its 20 slow seeds (about 8 minutes)
	$(BIN)/python -m pytest -m slow tests/test_kill.py

bench: bench-photos bench-fanout bench-load ## Every benchmark (each prints figures against its in-run baseline)

bench-photos: $(STAMP) ## Photo variants vs. naive Pillow: speed, two workers, peak memory
	$(BIN)/python benchmarks/photos.py

bench-fanout: $(STAMP) ## 1,000 publications over 3 fake platforms: throughput vs. the limits' bound, CPU per request
	$(BIN)/python benchmarks/fanout.py

bench-load: $(STAMP) ## List endpoints under load on SQLite and PostgreSQL x1/x3 vs. a bare Litestar app (PG_ADMIN=admin URL)
	PG_ADMIN="$(PG_ADMIN)" $(BIN)/python benchmarks/load.py

docs: $(STAMP) ## Regenerate docs/plugins.md and docs/configuration.md from the docstrings
	$(BIN)/python -m cashout_server.docgen docs

lock: $(STAMP) ## Upgrade every dependency to its newest release and record the versions in constraints.txt
	$(BIN)/python -m pip install --quiet --upgrade -e '.[test]' $(foreach p,$(PLUGINS),-e '$(dir $(p))[test]')
	@{ echo "# Exact versions the test suite last passed with; 'make lock' regenerates this file."; \
	   echo "# Installs use it as pip constraints (-c), so a new upstream release cannot change a build."; \
	   $(BIN)/python -m pip freeze --exclude-editable | grep -iv '^cashout'; } > constraints.txt
	@echo "constraints.txt updated: run 'make test' before committing it"

clean: ## Remove the virtualenv and caches (keeps ./data)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
