# Plugboard — build, run and test the whole stack.
#   make run    build everything and start the stack on the embedded defaults (Ctrl-C stops it)
#   make test   go vet + every test (PostgreSQL/Redis tests use PLUGBOARD_TEST_*_URL)
#   make build  build every binary into bin/
#   make lint   gofmt check + go vet + staticcheck + Redocly and Spectral on both OpenAPI documents (npm ci --prefix web first)

SHELL   := bash
GO      ?= go
BIN     := bin
GOFLAGS_BUILD ?= -trimpath

# Every service binary: bin/plugboard-<name> from ./cmd/<name>.
SERVICES := registry core gateway

.PHONY: all build run demo test test-go test-python lint lint-openapi clean

all: build

build:
	@mkdir -p $(BIN)
	@for s in $(SERVICES); do \
		echo "go build -o $(BIN)/plugboard-$$s ./cmd/$$s"; \
		$(GO) build $(GOFLAGS_BUILD) -o $(BIN)/plugboard-$$s ./cmd/$$s || exit 1; \
	done
	$(GO) build $(GOFLAGS_BUILD) -o $(BIN)/plugboard ./cmd/plugboard

run: build
	@exec $(BIN)/plugboard run

# The stack plus the example plugins (examples/hello-go, examples/notes-py).
demo: build
	$(GO) build $(GOFLAGS_BUILD) -o $(BIN)/hello-go ./examples/hello-go
	@exec $(BIN)/plugboard demo

test: lint test-go test-python

# Tests that need PostgreSQL/Redis use these servers (they fail under CI=true
# when the servers are down, and skip otherwise). The output keeps each
# test's backend visible (TestStore/sqlite, TestStore/postgres, ...) and
# drops the RUN lines and the deepest PASS lines.
export PLUGBOARD_TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test?sslmode=disable
export PLUGBOARD_TEST_REDIS_URL ?= redis://127.0.0.1:6379/0

test-go:
	@set -o pipefail; $(GO) test -count=1 -v ./... 2>&1 | \
		grep -Ev '^=== (RUN|PAUSE|CONT|NAME)|^ {8,}--- PASS'

# The Python SDK's tests run against a real registry they build themselves,
# and import the SDK as a user would: installed with pip (pip install
# ./sdk/python) into a venv under sdk/python/.venv (gitignored). Offline:
# --no-build-isolation builds with the venv's own setuptools; the wheel
# package it needs comes from Debian's python3-wheel-whl when it is missing.
PYTHON  ?= python3
PY_VENV := sdk/python/.venv
PY_WHEELS ?= /usr/share/python-wheels

test-python:
	@test -x $(PY_VENV)/bin/python || $(PYTHON) -m venv $(PY_VENV)
	@$(PY_VENV)/bin/python -c 'import setuptools, wheel' 2>/dev/null || \
		$(PY_VENV)/bin/python -m pip install --quiet --no-index --find-links $(PY_WHEELS) 'setuptools>=61' wheel || \
		{ echo "make test-python: no setuptools/wheel in $(PY_WHEELS): apt-get install python3-wheel-whl, or $(PY_VENV)/bin/pip install wheel"; exit 1; }
	$(PY_VENV)/bin/python -m pip install --quiet --no-index --no-build-isolation --force-reinstall --no-deps ./sdk/python
	$(PY_VENV)/bin/python -m unittest discover -s sdk/python/tests -t sdk/python/tests -v

# staticcheck runs at a pinned version through `go run`, which keeps it out
# of go.mod: its dependencies do not join the product's module graph.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

lint:
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './web/node_modules/*' -not -path './.git/*')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	$(MAKE) --no-print-directory lint-openapi

# The OpenAPI documents, linted with the versions pinned in web/package-lock.json
# (installed by `npm ci --prefix web`, run here when they are missing). Errors
# fail; warnings are shown.
OPENAPI_DOCS := registry/httpapi/openapi.json core/httpapi/openapi.json

lint-openapi:
	@test -x web/node_modules/.bin/redocly -a -x web/node_modules/.bin/spectral || npm ci --prefix web --no-audit --no-fund --loglevel=error
	web/node_modules/.bin/redocly lint --config web/redocly.yaml --format summary $(OPENAPI_DOCS)
	web/node_modules/.bin/spectral lint --ruleset web/.spectral.yaml --fail-severity error --display-only-failures $(OPENAPI_DOCS)

clean:
	rm -rf $(BIN) $(PY_VENV) sdk/python/build sdk/python/*.egg-info
