# Plugboard — build, run and test the whole stack.
#   make run    build everything and start the stack on the embedded defaults (Ctrl-C stops it)
#   make test   go vet + every test (PostgreSQL/Redis tests use PLUGBOARD_TEST_*_URL)
#   make build  build every binary into bin/ and the admin console into web/dist
#   make console  only the admin console (Node.js >= 20.19, npm >= 11)
#   make release-gateway  bin/plugboard-gateway with the console inside (build tag embedconsole)
#   make lint   gofmt check + go vet + staticcheck + Redocly and Spectral on both OpenAPI documents (npm ci --prefix web first)

SHELL   := bash
GO      ?= go
BIN     := bin
GOFLAGS_BUILD ?= -trimpath

# Every service binary: bin/plugboard-<name> from ./cmd/<name>.
SERVICES := registry core gateway

.PHONY: all build build-go console release-gateway web-deps node-check run demo test test-go test-python test-web lint lint-openapi clean

all: build

build: build-go
	@if command -v node >/dev/null 2>&1; then $(MAKE) --no-print-directory console; else \
		echo "make build: Node.js is not on PATH, so the admin console is not built (it needs Node.js >= 20.19 and npm >= 11,"; \
		echo "https://nodejs.org/); the gateway serves web/placeholder, which says so, until it is."; fi

build-go:
	@mkdir -p $(BIN)
	@for s in $(SERVICES); do \
		echo "go build -o $(BIN)/plugboard-$$s ./cmd/$$s"; \
		$(GO) build $(GOFLAGS_BUILD) -o $(BIN)/plugboard-$$s ./cmd/$$s || exit 1; \
	done
	$(GO) build $(GOFLAGS_BUILD) -o $(BIN)/plugboard ./cmd/plugboard

# The admin console: npm ci only when web/package-lock.json changed since the
# last install (a stamp file in node_modules), then vue-tsc and vite build
# into web/dist when a source changed. Without Node.js or npm it says so.
WEB_STAMP := web/node_modules/.plugboard-lock
WEB_SRC := $(shell find web/src web/public -type f 2>/dev/null) web/index.html web/vite.config.ts web/tsconfig.json web/tsconfig.app.json web/tsconfig.node.json

console: web/dist/index.html

node-check:
	@command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || { \
		echo "The admin console needs Node.js >= 20.19 and npm >= 11, which are not on PATH (https://nodejs.org/)."; exit 1; }
	@node -e 'const [a,b]=process.versions.node.split(".").map(Number); if (a<20||(a===20&&b<19)) { console.error("The admin console needs Node.js >= 20.19; this is " + process.version + "."); process.exit(1) }'
	@case "$$(npm --version)" in 1[1-9].*|[2-9][0-9].*) ;; *) echo "The admin console needs npm >= 11; this is npm $$(npm --version) (npm install -g npm@11)."; exit 1;; esac

web-deps: node-check $(WEB_STAMP)

$(WEB_STAMP): web/package-lock.json web/package.json | node-check
	npm ci --prefix web --no-audit --no-fund --loglevel=error
	@cp web/package-lock.json $@

web/dist/index.html: $(WEB_SRC) $(WEB_STAMP) | node-check
	npm run --prefix web build --silent

# A gateway binary that carries the console (web/embed.go): with
# PLUGBOARD_WEB_ROOT unset it writes it into the data directory and serves it.
release-gateway: console
	@mkdir -p $(BIN)
	$(GO) build $(GOFLAGS_BUILD) -tags embedconsole -o $(BIN)/plugboard-gateway ./cmd/gateway

run: build
	@exec $(BIN)/plugboard run

# The stack plus the example plugins (examples/hello-go, examples/notes-py).
demo: build
	$(GO) build $(GOFLAGS_BUILD) -o $(BIN)/hello-go ./examples/hello-go
	@exec $(BIN)/plugboard demo

test: lint test-go test-python test-web

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

# The console's unit tests (Vitest), then its end-to-end tests: Debian's
# chromium (apt-get install chromium fonts-wqy-microhei) driven by
# playwright-core against the real stack (bin/ and web/dist) with the
# example plugin hello-go. Screenshots go to the folder the test prints.
test-web: build-go console
	$(GO) build $(GOFLAGS_BUILD) -o $(BIN)/hello-go ./examples/hello-go
	$(GO) vet -tags embedconsole ./web/ ./cmd/gateway/
	npm run --prefix web test --silent
	npm run --prefix web e2e --silent

lint:
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './web/node_modules/*' -not -path './.git/*')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	$(MAKE) --no-print-directory lint-openapi

# The OpenAPI documents, linted with the versions pinned in web/package-lock.json
# (installed by `npm ci --prefix web`, run here when the lockfile changed). Errors
# fail; warnings are shown.
OPENAPI_DOCS := registry/httpapi/openapi.json core/httpapi/openapi.json

lint-openapi: web-deps
	web/node_modules/.bin/redocly lint --config web/redocly.yaml --format summary $(OPENAPI_DOCS)
	web/node_modules/.bin/spectral lint --ruleset web/.spectral.yaml --fail-severity error --display-only-failures $(OPENAPI_DOCS)

clean:
	rm -rf $(BIN) web/dist $(PY_VENV) sdk/python/build sdk/python/*.egg-info
