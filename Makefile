# aiusage — the README's commands. Everything installs into .venv by itself.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q
STAMP  := $(VENV)/.installed

.PHONY: install run test lint bench synth deploy clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -c constraints.txt -e '.[dev,infra]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)  ## the local stack with a demo month on http://127.0.0.1:3000
	$(VENV)/bin/aiusage serve --demo --host 127.0.0.1 --port 3000

test: $(STAMP)  ## unit, handler, infra and end-to-end tests
	$(PY) -m pytest

bench: $(STAMP)  ## performance record (not part of make test)
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) cdk.out .pytest_cache
