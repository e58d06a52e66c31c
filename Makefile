# The two commands: `make run` (serve the back office on http://127.0.0.1:5000) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
FLASK  := $(BIN)/flask --app backoffice
HOST   ?= 127.0.0.1
PORT   ?= 5000

.PHONY: run test deps dev-deps system-deps db seed bench clean translations

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.deps: requirements.txt | $(BIN)/activate
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-deps: requirements-dev.txt $(VENV)/.deps
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

deps: system-deps $(VENV)/.deps
dev-deps: system-deps $(VENV)/.dev-deps

# pyzbar needs the zbar shared library; install it when missing (Debian/Ubuntu, as root or with sudo).
system-deps:
	@if ! ldconfig -p 2>/dev/null | grep -q libzbar.so.0; then \
		echo "Installing libzbar0 (QR decoding)…"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq libzbar0 >/dev/null; \
	fi

db: deps
	$(FLASK) db upgrade

seed: db
	$(FLASK) seed-demo

# The web server and, beside it, the queue's worker (periodic jobs included); stopping one stops both.
run: seed
	export BACKOFFICE_ENV=development BACKOFFICE_JOBS_IN_QUEUE=1; $(FLASK) jobs worker & worker=$$!; \
	trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	$(FLASK) run --host $(HOST) --port $(PORT)

# TEST_DATABASE_URL selects PostgreSQL (e.g. postgresql://postgres@127.0.0.1:5432/test); SQLite otherwise.
test: dev-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: dev-deps
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# The foundation's catalog only: each capability package keeps its own in backoffice/<pkg>/translations.
translations: deps
	$(BIN)/pybabel extract -F babel.cfg --ignore-dirs ".* ._ health scanning printing criteria imports reports tracing api" \
		-o /tmp/backoffice-messages.pot --no-location --omit-header . >/dev/null
	$(BIN)/pybabel update -i /tmp/backoffice-messages.pot -d backoffice/translations -l vi --no-fuzzy-matching

clean:
	rm -rf $(VENV) instance .pytest_cache
