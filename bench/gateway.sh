#!/usr/bin/env bash
# gateway.sh: our gateway as a proxy-bench.sh target (GATEWAY_CMD), with its own registry.
#
#   1. starts plugboard-registry in the background (fresh SQLite data dir, loopback only),
#   2. waits for its /healthz,
#   3. registers the bench upstream ($UPSTREAM_ADDR) as service "v1" with base_path "", so
#      GET /api/v1/users/42 on the gateway reaches the upstream as GET /users/42,
#   4. execs plugboard-gateway in the foreground on the shipped Caddyfile of the source it was
#      built from (BENCH_DIR/bin/Caddyfile.shipped) with its jwt_auth block taken out (the
#      benchmark measures routing without auth), or on GW_CADDYFILE, with the admin API off:
#      /api/{service}/... goes through plugboard_route and reverse_proxy's dynamic upstreams.
#
# Usage (run.sh does this for you):
#   GATEWAY_NAME=gw GATEWAY_CMD="exec bash $PWD/bench/gateway.sh" bash bench/proxy-bench.sh
# or by hand:  GATEWAY_PORT=18085 UPSTREAM_ADDR=127.0.0.1:18081 bash bench/gateway.sh
#
# Environment (defaults in brackets):
#   GATEWAY_PORT [18085]            the gateway listens on http://127.0.0.1:$GATEWAY_PORT
#   UPSTREAM_ADDR [127.0.0.1:18081] the instance registered for service $GW_SERVICE
#   GW_REGISTRY_PORT [$GATEWAY_PORT + 20]  the registry's port (127.0.0.1)
#   GW_CADDYFILE [shipped, minus jwt_auth] the Caddyfile the gateway serves, as is
#   GW_SERVICE [v1]  GW_BASE_PATH [""]  the service name and base_path registered
#   GW_ADMIN [off]                  Caddy's admin API (e.g. 127.0.0.1:2999 to fetch /debug/pprof)
#   GW_BIN, GW_REGISTRY_BIN [$BENCH_DIR/bin/plugboard-gateway, plugboard-registry]
#   BENCH_DIR [${TMPDIR:-/tmp}/plugboard-bench]  state goes to $BENCH_DIR/gw/$GATEWAY_PORT/,
#                                   wiped at every start (registry data, registry.log, web root)
#
# Stopping: the registry stays in this script's process group, and after the exec the gateway
# is that group's leader, so the harness's "kill the process group" stops both. A small watcher
# (also in the group) stops the registry if the gateway exits by itself. Nothing is killed by name.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}/plugboard-bench}
GATEWAY_PORT=${GATEWAY_PORT:-18085}
UPSTREAM_ADDR=${UPSTREAM_ADDR:-127.0.0.1:18081}
REG_PORT=${GW_REGISTRY_PORT:-$((GATEWAY_PORT + 20))}
CADDYFILE=${GW_CADDYFILE:-}
SERVICE=${GW_SERVICE:-v1}
BASE_PATH=${GW_BASE_PATH:-}
GW_BIN=${GW_BIN:-$BENCH_DIR/bin/plugboard-gateway}
REG_BIN=${GW_REGISTRY_BIN:-$BENCH_DIR/bin/plugboard-registry}

for b in "$GW_BIN" "$REG_BIN"; do
  [ -x "$b" ] || { echo "gateway.sh: missing $b: run bench/setup.sh (or bench/build-gateway.sh)" >&2; exit 1; }
done
[ -z "$CADDYFILE" ] || [ -f "$CADDYFILE" ] || { echo "gateway.sh: no Caddyfile at $CADDYFILE" >&2; exit 1; }
if [ -n "$(ss -Hltn "sport = :$REG_PORT")" ]; then
  echo "gateway.sh: registry port $REG_PORT is already in use; set GW_REGISTRY_PORT" >&2; exit 1
fi

STATE=$BENCH_DIR/gw/$GATEWAY_PORT
rm -rf "$STATE"
mkdir -p "$STATE/data" "$STATE/web" "$STATE/xdg"
echo '<!doctype html><title>bench</title>' >"$STATE/web/index.html"
if [ -z "$CADDYFILE" ]; then
  # The shipped Caddyfile without its jwt_auth { ... } block (braces counted).
  CADDYFILE=$STATE/Caddyfile
  awk '
    !skip && /^[ \t]*jwt_auth[ \t]*\{[ \t]*$/ { skip = 1; depth = 1; next }
    skip { depth += gsub(/\{/, "{"); depth -= gsub(/\}/, "}"); if (depth == 0) skip = 0; next }
    { print }' "$BENCH_DIR/bin/Caddyfile.shipped" >"$CADDYFILE"
  if grep -qE "^[[:space:]]*jwt_auth" "$CADDYFILE" || ! grep -qE "^[[:space:]]*plugboard_route" "$CADDYFILE"; then
    echo "gateway.sh: could not take jwt_auth out of $BENCH_DIR/bin/Caddyfile.shipped" >&2; exit 1
  fi
fi
TOKEN=bench-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
REG_URL=http://127.0.0.1:$REG_PORT

# 1. registry: its own data dir, long inactivity window (no heartbeats are sent during a run).
env PLUGBOARD_REGISTRY_LISTEN="127.0.0.1:$REG_PORT" PLUGBOARD_DATA_DIR="$STATE/data" \
  PLUGBOARD_REGISTRY_TOKEN="$TOKEN" PLUGBOARD_REGISTRY_INACTIVE_AFTER=24h \
  PLUGBOARD_LOG_LEVEL=warn \
  "$REG_BIN" >"$STATE/registry.log" 2>&1 </dev/null &
REG_PID=$!
# Watcher: if the gateway (this PID after the exec) goes away on its own, stop the registry.
GW_PID=$$
(
  while kill -0 "$GW_PID" 2>/dev/null; do sleep 1; done
  kill -TERM "$REG_PID" 2>/dev/null || true
) </dev/null >/dev/null 2>&1 &

fail() {
  echo "gateway.sh: $*" >&2
  tail -20 "$STATE/registry.log" >&2 || true
  kill -TERM "$REG_PID" 2>/dev/null || true
  exit 1
}

# 2. wait for /healthz (10 s max)
for i in $(seq 100); do
  if [ "$(curl -s -o /dev/null -w '%{http_code}' "$REG_URL/healthz" || true)" = 200 ]; then break; fi
  kill -0 "$REG_PID" 2>/dev/null || fail "the registry exited"
  [ "$i" -lt 100 ] || fail "the registry did not answer $REG_URL/healthz"
  sleep 0.1
done

# 3. register the upstream
host=${UPSTREAM_ADDR%:*} port=${UPSTREAM_ADDR##*:}
body=$(printf '{"name":"%s","host":"%s","port":%d,"base_path":"%s"}' "$SERVICE" "$host" "$port" "$BASE_PATH")
code=$(curl -s -o "$STATE/register.json" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
  "$REG_URL/api/registry/register" -d "$body" || true)
case $code in 2??) ;; *) cat "$STATE/register.json" >&2; fail "register answered HTTP $code" ;; esac
echo "gateway.sh: registry $REG_URL (pid $REG_PID), $SERVICE -> $UPSTREAM_ADDR$BASE_PATH; gateway on :$GATEWAY_PORT serving $CADDYFILE" >&2

# 4. the gateway, in the foreground (its access log, if the Caddyfile has one, goes to stderr)
export PLUGBOARD_GATEWAY_SITE=http://127.0.0.1:$GATEWAY_PORT
export PLUGBOARD_GATEWAY_ADMIN=${GW_ADMIN:-off}
export PLUGBOARD_REGISTRY_URL=$REG_URL
export PLUGBOARD_REGISTRY_TOKEN=$TOKEN  # the gateway reads the registry with it
export PLUGBOARD_GATEWAY_CADDYFILE=$CADDYFILE
export PLUGBOARD_WEB_ROOT=$STATE/web
export XDG_DATA_HOME=$STATE/xdg XDG_CONFIG_HOME=$STATE/xdg
export PLUGBOARD_DATA_DIR=$STATE/data  # plugboard-gateway keeps its signing secret there
exec "$GW_BIN"
