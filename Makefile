# The two commands of the README: `make run` and `make test`. Everything else is their set-up.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
VENDOR := portal/static/vendor
# Tests run on PostgreSQL (row locks and SKIP LOCKED are the point); point elsewhere to override.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/caseflow
ADDR ?= 127.0.0.1:8000
# A fixed, public Fernet key for test and benchmark databases only (production sets CASEFLOW_ENCRYPTION_KEYS).
TEST_ENCRYPTION_KEY ?= dGVzdC1vbmx5LWtleS1jYXNlZmxvdy1lbmNyeXB0aW8=

.PHONY: install static run test test-at-new-year bench smoke prod

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

# Browser assets from npm (pinned in package-lock.json), copied where Django serves them.
$(VENDOR)/.installed: package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(VENDOR)
	cp node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/
	cp node_modules/bpmn-js/dist/bpmn-navigated-viewer.production.min.js $(VENDOR)/bpmn-viewer.production.min.js
	cp node_modules/bpmn-js/dist/assets/diagram-js.css $(VENDOR)/
	touch $@

# The process studio's modeler (bpmn-js Modeler and its styles), bundled by esbuild (a pinned
# devDependency) from a small entry file and the modules it imports (the properties panel, the
# translations, the lint rules); only the studio's edit page loads it (docs/adr/0013).
MODELER_ENTRY := portal/studio/js/modeler.js
MODELER_SOURCES := $(wildcard portal/studio/js/*.js)
$(VENDOR)/studio-modeler.js: $(VENDOR)/.installed $(MODELER_SOURCES)
	node_modules/.bin/esbuild $(MODELER_ENTRY) --bundle --minify --format=iife --target=es2020 --legal-comments=none \
		--loader:.woff2=file --loader:.woff=file --loader:.ttf=file --loader:.eot=file --loader:.svg=file \
		--asset-names=studio-[name]-[hash] --log-level=warning --outfile=$@
	test -s $@ && test -s $(VENDOR)/studio-modeler.css

# The studio's form editor (form-js's editor and its styles), a second entry bundled the same way; only
# /studio/<key>/forms/<element>/ loads it. form-js's editor pins preact <= 10.15.1 (its own copy under its
# node_modules) while its viewer takes the newest; two preact copies in one page break the editor (its
# contexts come from the viewer), so every import of preact is the editor's copy, which both accept.
FORMS_ENTRY := portal/studio/js/forms.js
FORMS_PREACT := ./node_modules/@bpmn-io/form-js-editor/node_modules/preact
$(VENDOR)/studio-forms.js: $(VENDOR)/.installed $(FORMS_ENTRY)
	node_modules/.bin/esbuild $(FORMS_ENTRY) --bundle --minify --format=iife --target=es2020 --legal-comments=none \
		--alias:preact=$(FORMS_PREACT) --loader:.woff2=file --loader:.woff=file --loader:.ttf=file --loader:.eot=file --loader:.svg=file \
		--asset-names=studio-forms-[name]-[hash] --log-level=warning --outfile=$@
	test -s $@ && test -s $(VENDOR)/studio-forms.css

static: $(VENDOR)/.installed $(VENDOR)/studio-modeler.js $(VENDOR)/studio-forms.js

install: $(VENV)/.installed static

run: install
	$(PY) manage.py migrate -v0
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) manage.py demo
	@echo "Caseflow runs at http://$(ADDR)/ (embedded: SQLite in var/, timers swept in-process)"
	$(PY) manage.py serve $(ADDR)

# Production mode on one machine: gunicorn, a Celery worker and one beat (deploy/Procfile, run by honcho)
# against the PostgreSQL and Redis named in the environment; the database is migrated first. More
# machines: README, "Production mode" (deploy/systemd/). The processes share one metrics directory.
prod: install
	@test -n "$$DATABASE_URL" || { echo "make prod: set DATABASE_URL (PostgreSQL), CELERY_BROKER_URL (Redis), SECRET_KEY and CASEFLOW_ENCRYPTION_KEYS (see deploy/env.example)" >&2; exit 2; }
	@test -n "$$CELERY_BROKER_URL" || { echo "make prod: set CELERY_BROKER_URL (Redis), e.g. redis://127.0.0.1:6379/0" >&2; exit 2; }
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput -v0
	metrics="$${PROMETHEUS_MULTIPROC_DIR:-$${CASEFLOW_VAR_DIR:-$(CURDIR)/var}/metrics}" && rm -rf "$$metrics" && mkdir -p "$$metrics" && \
		PROMETHEUS_MULTIPROC_DIR="$$metrics" exec $(VENV)/bin/honcho -f deploy/Procfile -d $(CURDIR) start

# The suite runs in one test process per CPU (pytest-xdist; each has its own test database, Redis
# database and live server), at most four. PYTEST_WORKERS= runs it in one process.
PYTEST_WORKERS ?= -n auto --maxprocesses=4
test: install
	$(VENV)/bin/lint-imports
	DATABASE_URL=$(TEST_DATABASE_URL) SECRET_KEY=test-only-secret CASEFLOW_ENCRYPTION_KEYS=$(TEST_ENCRYPTION_KEY) $(VENV)/bin/pytest $(PYTEST_WORKERS)

# The processes, the integrations and the pages of dates and years once more, with the clock at 07:30 on the coming
# 1 January at the station (Asia/Shanghai): the date and the year in UTC are then still the old ones,
# and anything that asks UTC for "today" or "this year" fails (tests/conftest.py, CASEFLOW_TEST_NOW).
test-at-new-year: install
	DATABASE_URL=$(TEST_DATABASE_URL) SECRET_KEY=test-only-secret CASEFLOW_ENCRYPTION_KEYS=$(TEST_ENCRYPTION_KEY) \
	CASEFLOW_TEST_NOW=$$($(PY) -c 'import datetime as d; z=d.timezone(d.timedelta(hours=8)); print(d.datetime(d.datetime.now(z).year + 1, 1, 1, 7, 30, tzinfo=z).isoformat())') \
	$(VENV)/bin/pytest $(PYTEST_WORKERS) tests/processes tests/integrations tests/portal/test_dashboard.py \
	tests/portal/test_sla_report.py tests/portal/test_village_page.py tests/portal/test_search.py tests/portal/test_views.py

# Each benchmark creates and drops its own test_caseflow_bench_* database and prints one JSON object
# (numbers beside baselines measured in the same run). Scale down with the BENCH_* variables named
# in each file's docstring, e.g. `BENCH_SWEEP_CASES=2000 BENCH_INBOX_DONE=200000 make bench`.
bench: install
	DATABASE_URL=$(TEST_DATABASE_URL) SECRET_KEY=bench-only-secret CASEFLOW_ENCRYPTION_KEYS=$(TEST_ENCRYPTION_KEY) CASEFLOW_VAR_DIR=/tmp/var_bench $(PY) bench/run.py
	DATABASE_URL=$(TEST_DATABASE_URL) SECRET_KEY=bench-only-secret CASEFLOW_ENCRYPTION_KEYS=$(TEST_ENCRYPTION_KEY) CASEFLOW_VAR_DIR=/tmp/var_bench $(PY) bench/step.py
	DATABASE_URL=$(TEST_DATABASE_URL) SECRET_KEY=bench-only-secret CASEFLOW_ENCRYPTION_KEYS=$(TEST_ENCRYPTION_KEY) CASEFLOW_VAR_DIR=/tmp/var_bench $(PY) bench/loop.py
	DATABASE_URL=$(TEST_DATABASE_URL) SECRET_KEY=bench-only-secret CASEFLOW_ENCRYPTION_KEYS=$(TEST_ENCRYPTION_KEY) CASEFLOW_VAR_DIR=/tmp/var_bench $(PY) bench/throughput.py
	DATABASE_URL=$(TEST_DATABASE_URL) SECRET_KEY=bench-only-secret CASEFLOW_ENCRYPTION_KEYS=$(TEST_ENCRYPTION_KEY) CASEFLOW_VAR_DIR=/tmp/var_bench $(PY) bench/sweep.py
	DATABASE_URL=$(TEST_DATABASE_URL) SECRET_KEY=bench-only-secret CASEFLOW_ENCRYPTION_KEYS=$(TEST_ENCRYPTION_KEY) CASEFLOW_VAR_DIR=/tmp/var_bench $(PY) bench/inbox.py
	DATABASE_URL=$(TEST_DATABASE_URL) SECRET_KEY=bench-only-secret CASEFLOW_ENCRYPTION_KEYS=$(TEST_ENCRYPTION_KEY) CASEFLOW_VAR_DIR=/tmp/var_bench $(PY) bench/matching.py

smoke: install
	bash .ci/smoke
