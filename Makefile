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

.PHONY: run test lint bench superuser clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) requirements.txt requirements-dev.txt
	$(PIP) -r requirements-dev.txt
	touch $(STAMP)

$(BENCH_STAMP): requirements-bench.txt | $(STAMP)
	$(PIP) -r requirements-bench.txt
	touch $(BENCH_STAMP)

$(CHECKOV): requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $(CHECKOV)

run: $(STAMP)
	$(PY) -m devtools.run

superuser: $(STAMP)
	DJANGO_DEBUG=1 REDIS_URL=redis://127.0.0.1:6380/0 \
	MONGODB_URL='mongodb://127.0.0.1:27018/?directConnection=true' \
	$(PY) manage.py createsuperuser

lint: $(STAMP)
	$(PY) -m ruff check .

test: lint $(BENCH_STAMP) $(CHECKOV)
	CHECKOV=$(CURDIR)/$(CHECKOV) $(PY) -m pytest

bench: $(BENCH_STAMP)
	$(PY) -m bench --profile

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .data
