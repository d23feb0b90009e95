# cper — the two commands of a newcomer: `make run` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
CPER := $(BIN)/cper
HOST ?= 127.0.0.1
PORT ?= 8000
SCALE ?= S
CONTRACT := contracts/hauts-de-france-2021-2027.yaml
STAMP := $(VENV)/.installed
LINT_PATHS := $(wildcard cper tests bench)

.PHONY: run setup install db demo serve test test-fast test-browser lint format bench clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 introuvable ($(PYTHON))"; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

setup: install db

db: install
	$(CPER) migrate --noinput -v0
	$(CPER) geo load
	$(CPER) contract load $(CONTRACT)
	-$(CPER) demo --scale $(SCALE) --if-empty

# The local demo: Django's development server with DEBUG on (DEBUG is off unless DJANGO_DEBUG is
# set). Production is `cper serve`: docs/deploiement.md.
run: setup
	@echo ""
	@echo "  cper est servi sur http://$(HOST):$(PORT)/  (Ctrl+C pour arrêter)"
	@echo ""
	@# The worker runs the large imports (background jobs) beside the development server;
	@# both stop with Ctrl+C.
	DJANGO_DEBUG=1 $(CPER) worker & worker=$$!; \
	trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	DJANGO_DEBUG=1 $(CPER) runserver $(HOST):$(PORT)

# The README's test command: everything, on the database DATABASE_URL points at (SQLite if unset).
# In parallel with pytest-xdist: one process per core, each with its own test database; the
# browser tests stay together on one process (one server). PYTEST_JOBS=0: a single process.
PYTEST_JOBS ?= auto
XDIST := -n $(PYTEST_JOBS) --dist loadgroup

test: install
	$(BIN)/pytest $(XDIST) $(PYTEST_ARGS)

test-fast: install
	$(BIN)/pytest $(XDIST) -m "not browser" $(PYTEST_ARGS)

test-browser: install
	$(BIN)/pytest -m browser $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy cper
	$(CPER) makemigrations --check --dry-run

format: install
	$(BIN)/ruff format $(LINT_PATHS)
	$(BIN)/ruff check --fix $(LINT_PATHS)

bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf var/cper.sqlite3* var/static .pytest_cache .mypy_cache .ruff_cache
