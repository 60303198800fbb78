# `make run`: the whole service on SQLite + a local Redis, demo data loaded (DATABASE_URL / REDIS_URL
#   point it at real servers; a mysql:// URL gets its driver installed).
# `make test`: the whole suite on MariaDB/MySQL + Redis (127.0.0.1, standard ports).
# Any Python 3.11 or newer: `make run PYTHON=python3.12` picks another interpreter for the virtualenv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
NODE_INSTALLED := node_modules/.installed
ESLINT := node_modules/.bin/eslint

.PHONY: run test lint format bench bench-all rush rush-faults services clean

$(VENV)/bin/activate:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || \
		{ echo "make: '$(PYTHON)' is missing or older than Python 3.11; run make with PYTHON=<a python3.11 or newer>" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.run-installed: requirements.txt | $(VENV)/bin/activate
	$(PIP) install --quiet -r requirements.txt
	@touch $@

$(VENV)/.dev-installed: requirements.txt requirements-mysql.txt requirements-dev.txt $(NODE_INSTALLED) | $(VENV)/bin/activate
	@PYTHON=$(PY) scripts/ensure-mysql-build-deps.sh
	@scripts/ensure-browser.sh
	@scripts/ensure-nginx.sh
	$(PIP) install --quiet -r requirements-dev.txt
	@touch $@ $(VENV)/.run-installed

# ESLint for the buyer's page script, from npm at the versions in package-lock.json (node_modules/ is
# not in git).
$(NODE_INSTALLED): package.json package-lock.json
	@scripts/ensure-node.sh
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

run: $(VENV)/.run-installed
	$(PY) scripts/run.py

services:
	@scripts/ensure-services.sh

test: $(VENV)/.dev-installed services
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(ESLINT) .
	node --test tests/web/js/*.test.mjs
	$(VENV)/bin/lint-imports --no-logo
	DJANGO_SETTINGS_MODULE=ticketing.settings.test $(PY) manage.py check
	DJANGO_SETTINGS_MODULE=ticketing.settings.test $(PY) manage.py makemigrations --check --dry-run
	DJANGO_SETTINGS_MODULE=ticketing.settings.test $(PY) manage.py spectacular --validate --fail-on-warn --file /dev/null
	DEBUG=False SECRET_KEY=check-deploy-$$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n') ALLOWED_HOSTS=tickets.example.com \
		TICKET_SIGNING_KEY=$$(head -c 32 /dev/urandom | base64) $(PY) manage.py check --deploy --fail-level WARNING
	$(VENV)/bin/pytest --create-db $(PYTEST_ARGS) --ignore=tests/replica
	$(VENV)/bin/pytest --create-db tests/replica --ds=ticketing.settings.test_replica

$(VENV)/.bench-installed: bench/requirements.txt $(VENV)/.dev-installed
	@scripts/ensure-bench-tools.sh
	$(PIP) install --quiet -r bench/requirements.txt
	@touch $@

# `make bench`: a scaled-down rush (under 3 minutes); `make rush` the full on-sale (20,000 buyers, one date
# of 10,000 seats, fixed and auto admission side by side, behind nginx as deployed, whose X-Request-Start lets
# the auto controller see time queued for a worker; RUSH_ARGS="--seats 50000 --buyers 100000" for the arena,
# "--proxy none" direct). Both print every gate (time to sell out, p99s, buyers served, the draw, CPU per
# seat, ...) with its figure and PASS/FAIL, and fail when a gate does (docs/PERFORMANCE.md, "The rush").
# `make bench-all` also runs every micro-benchmark whose figures are in docs/PERFORMANCE.md.
bench: $(VENV)/.bench-installed services
	$(PY) bench/rush.py --short

rush: $(VENV)/.bench-installed services
	$(PY) bench/rush.py --proxy nginx $(RUSH_ARGS)

# `make rush-faults`: the rush on a Redis and a MariaDB of its own (never the machine's), with a gunicorn
# worker SIGKILLed every 20 s, the booking worker down for 30 s, Redis and MariaDB restarted mid-sale
# (scripts/faults.py); RUSH_ARGS="--short" for the scaled-down run. It fails on what faults must not break
# (correctness, money, the line's order, the draw, buyers served, 503s, recovery, selling out); the speed
# gates print their figures beside it and are judged by `make rush`, the same sale without faults.
rush-faults: $(VENV)/.bench-installed services
	$(PY) bench/rush.py --faults --proxy nginx --admission auto $(RUSH_ARGS)

bench-all: bench
	$(PY) bench/seat_locking.py --seconds 3
	$(PY) bench/holds.py --seconds 5
	$(PY) bench/waiting_queue.py
	$(PY) bench/catalogue.py
	$(PY) bench/rush.py --short --web-servers 2 --celery-workers 2
	$(PY) bench/observability_cost.py
	$(PY) bench/proxy_cost.py
	$(PY) bench/worker_model.py

lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(ESLINT) .
	node --test tests/web/js/*.test.mjs
	$(VENV)/bin/lint-imports --no-logo

format: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .
	$(ESLINT) --fix .

clean:
	rm -rf .run db.sqlite3 db.sqlite3-wal db.sqlite3-shm staticfiles node_modules
