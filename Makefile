# aiusage — the README's commands. Everything installs into .venv by itself.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q
# Two installs into the one .venv: `make run` needs only the server extra (the Lambda handlers'
# runtime, the embedded DynamoDB, the HTTP front); `make test` adds the test, fuzz, browser and
# CDK tooling (dev, infra). The full install also satisfies the serving one.
#
# Both install with uv (from PyPI, into .venv/uv): pip took 1.5 to 2.5 minutes for the server extra
# alone on a 2-core machine (it resolves and unpacks botocore and moto, ~10,000 files, one at a time),
# uv about 20 s, which is what lets `make run` on a fresh clone listen within SPEC 12's 90 s. The venv
# is made without pip (ensurepip alone costs ~20 s); the full install adds pip, which tests use.
SERVE_STAMP := $(VENV)/.installed-server
STAMP       := $(VENV)/.installed
UV          := $(VENV)/uv/bin/uv
UV_INSTALL  := UV_LINK_MODE=copy $(UV) pip install --quiet --python $(PY) -c constraints.txt

$(PY):
	$(PYTHON) -m venv --without-pip $(VENV)

# uv from PyPI with the Python that made the venv; a Python without pip gets it in the venv first.
$(UV): | $(PY)
	$(PYTHON) -m pip install --disable-pip-version-check --root-user-action=ignore -q --target $(VENV)/uv 'uv>=0.5,<1' \
	  || { $(PY) -m ensurepip -q && $(PY) -m pip install --disable-pip-version-check --root-user-action=ignore -q --target $(VENV)/uv 'uv>=0.5,<1'; }

$(SERVE_STAMP): pyproject.toml constraints.txt | $(UV)
	@echo "installing the server extra into $(VENV) (uv; ~20-40 s on a fresh machine)"
	$(UV_INSTALL) -e '.[server]'
	touch $(SERVE_STAMP)

$(STAMP): pyproject.toml constraints.txt | $(UV)
	$(UV_INSTALL) -e '.[server,dev,infra]' pip
	touch $(STAMP) $(SERVE_STAMP)

install: $(STAMP)

install-server: $(SERVE_STAMP)

# The table is kept in .aiusage/ between runs (saved on stop, loaded on start); FRESH=1 starts clean.
PORT ?= 3000
FRESH ?=
run: $(SERVE_STAMP)  ## the local stack with a demo month on http://127.0.0.1:3000 (PORT=3001, FRESH=1)
	$(VENV)/bin/aiusage serve --demo --host 127.0.0.1 --port $(PORT) --data-dir .aiusage $(if $(FRESH),--fresh)

test: $(STAMP) browser-deps  ## lint and type-check, then unit, handler, infra, end-to-end and browser tests
	$(VENV)/bin/ruff check --no-cache .
	$(VENV)/bin/mypy
	$(PY) -m pytest

lint: $(STAMP)  ## ruff (E,W,F,I,B,UP,SIM) and mypy on shared/ and functions/ (also the first steps of make test)
	$(VENV)/bin/ruff check --no-cache .
	$(VENV)/bin/mypy

bench: $(STAMP)  ## performance record (not part of make test)
	$(PY) -m benchmarks

# Offline synthesis: no CDK CLI, no Docker, no AWS credentials. Writes cdk.out/ (the template
# is cdk.out/aiusage-<stage>.template.json) and fails on unacknowledged cdk-nag errors.
# Override the cdk.json context with CONTEXT="stage=prod alarm_emails=ops@example.com".
CONTEXT ?=
synth: $(STAMP)  ## the CloudFormation template in cdk.out/ (offline)
	rm -rf cdk.out
	$(PY) infra/app.py --outdir cdk.out $(foreach c,$(CONTEXT),-c $(c))

# Deploys what `make synth` wrote, with the AWS CDK CLI from npm (needs Node and AWS credentials;
# once per account and region first: npx --yes aws-cdk@2 bootstrap). Extra CLI flags: DEPLOY_ARGS=...
deploy: synth  ## deploy the synthesized stack (needs AWS credentials)
	npx --yes aws-cdk@2 deploy --app cdk.out --all $(DEPLOY_ARGS)

clean:
	rm -rf $(VENV) cdk.out .pytest_cache

# The wheel of `pip install aiusage` (the SDK and the CLI, no server side) in dist/, built from
# packaging/sdk/pyproject.toml over this source tree. tests/sdk/test_sdk_wheel.py builds and checks it.
sdk-wheel: $(STAMP)  ## dist/aiusage-<version>-py3-none-any.whl: the SDK and CLI alone
	$(PY) -m pip wheel --disable-pip-version-check -q --no-deps --no-build-isolation -w dist packaging/sdk

# The web dashboard (GET /dashboard): builds dashboard/ (Vite + TypeScript + Chart.js) into
# functions/api/dashboard/. The built files are committed, so `make test` needs no npm; run this
# after changing dashboard/ and commit the result. Needs Node 20+ and npm.
.PHONY: dashboard browser-deps
dashboard:  ## rebuild functions/api/dashboard/ from dashboard/ (npm ci, npm test, vite build)
	cd dashboard && npm ci --no-audit --no-fund && npm test && npm run build

# Debian's Chromium for the browser tests (tests/browser); does nothing when it is there.
# Never `playwright install`: browser downloads are not reachable, Debian's packages are.
browser-deps:  ## install /usr/bin/chromium with apt when it is missing
	@test -x /usr/bin/chromium || { \
	  SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
	  $$SUDO apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# A long schemathesis run of every route against the served OpenAPI document (make test runs the same
# test with 25 examples per route and a fixed seed). Here: many more, and a new seed each run; a failure
# prints the seed that reproduces it. FUZZ_EXAMPLES=2000 make fuzz for a longer one.
FUZZ_EXAMPLES ?= 400
.PHONY: fuzz
fuzz: $(STAMP)  ## fuzz every route for a while (schemathesis; not part of make test)
	AIUSAGE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) AIUSAGE_FUZZ_RANDOM=1 $(PY) -m pytest -q tests/security/test_fuzz_openapi.py
