#!/usr/bin/env bash
# One-time setup for proxy-bench.sh / run.sh on a fresh Debian 12 machine (run as root).
#   - apt: nginx, wrk, hey, hyperfine (curl for the harness's readiness/sanity checks)
#   - builds plain Caddy (standard modules only) from bench/caddy, its own Go module pinned to
#     Caddy v2.11.9 by bench/caddy/go.mod + go.sum (the same Caddy version our gateway embeds)
#   - builds benchtool (the upstream server + report formatter), its own Go module, stdlib only
#   - builds our gateway and registry from this repository (./cmd/gateway, ./cmd/registry), the
#     way `make build` does (-trimpath), but into $BENCH_DIR/bin instead of the repo's bin/
# Everything built goes to $BENCH_DIR (default ${TMPDIR:-/tmp}/plugboard-bench); nothing in the
# repository is written. run.sh rebuilds the gateway and registry before each run (incremental).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}/plugboard-bench}
CADDY_VERSION=v2.11.9   # must match bench/caddy/go.mod
export PATH=/usr/local/go/bin:$PATH

if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null || ! command -v curl >/dev/null; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y nginx wrk hey hyperfine curl
fi

mkdir -p "$BENCH_DIR/bin"
if [ ! -x "$BENCH_DIR/bin/caddy" ] || ! "$BENCH_DIR/bin/caddy" version | grep -q "^$CADDY_VERSION " ||
   [ "$HERE/caddy/go.sum" -nt "$BENCH_DIR/bin/caddy" ]; then
  # -mod=readonly: build exactly what go.mod/go.sum pin, never rewrite them. ~5 min on 2 cores
  # with a cold module cache (seconds when the cache already holds Caddy's modules).
  (cd "$HERE/caddy" && go build -mod=readonly -o "$BENCH_DIR/bin/caddy" .)
fi
(cd "$HERE/benchtool" && go build -o "$BENCH_DIR/bin/benchtool" .)
bash "$HERE/build-gateway.sh"
"$BENCH_DIR/bin/caddy" version; nginx -v; wrk -v 2>&1 | head -1 || true
