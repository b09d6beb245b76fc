# Two commands do all the set-up on a fresh machine:
#   make run    — run the bot: in Slack when SLACK_BOT_TOKEN (+ signing secret or app
#                 token) is set in the environment or .env; otherwise the local console
#                 on the demo data, no Slack needed (`make demo` forces the console).
#   make test   — install what the tests need, lint, type-check, run the suite
#                 (SQLite, then PostgreSQL when a server answers).

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
PG_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/test

.PHONY: run demo serve console test lint typecheck pytest pytest-postgres bench bench-readme wheel clean

$(BIN)/supportbot: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.dev: $(BIN)/supportbot
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

run: $(BIN)/supportbot
	$(BIN)/supportbot start

demo: $(BIN)/supportbot
	$(BIN)/supportbot demo

serve: $(BIN)/supportbot
	$(BIN)/supportbot serve

console: $(BIN)/supportbot
	$(BIN)/supportbot console

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.dev
	$(BIN)/mypy

pytest: $(VENV)/.dev
	$(BIN)/pytest

# The PostgreSQL half: mandatory when SUPPORTBOT_REQUIRE_POSTGRES=1 (CI), else skipped
# with a plain message when no server answers.
pytest-postgres: $(VENV)/.dev
	@if $(BIN)/python scripts/pg_ready.py "$(PG_URL)"; then \
		SUPPORTBOT_TEST_DATABASE=postgres SUPPORTBOT_TEST_POSTGRES_URL="$(PG_URL)" $(BIN)/pytest; \
	elif [ "$$SUPPORTBOT_REQUIRE_POSTGRES" = "1" ]; then \
		echo "PostgreSQL is required but not reachable at $(PG_URL)"; exit 1; \
	else \
		echo "PostgreSQL not reachable at $(PG_URL): SKIPPING the PostgreSQL half of the suite"; \
	fi

test: lint typecheck pytest pytest-postgres

# Every benchmark on SQLite and (when it answers) PostgreSQL; prints a table per database.
bench: $(VENV)/.dev
	$(BIN)/python bench/run_all.py

# The installable package, in dist/ (templates, demo data and migrations inside).
wheel: $(VENV)/.dev
	$(BIN)/python -m pip wheel --quiet --no-deps --no-build-isolation --wheel-dir dist .
	@ls dist/supportbot-*.whl

# The same, then the tables written into README.md's performance section.
bench-readme: $(VENV)/.dev
	$(BIN)/python bench/run_all.py --update-readme

clean:
	rm -rf $(VENV) *.egg-info build dist .pytest_cache .mypy_cache .ruff_cache
