#!/usr/bin/env bash
# profile.sh: CPU profile of our gateway under the benchmark's load (wrk -t2 -c64, GET
# /api/v1/users/42 to the bench upstream), through Caddy's admin /debug/pprof endpoint.
# Run bench/setup.sh first. Not part of the benchmark; for finding where the time goes.
#
#   bash bench/profile.sh                       the shipped Caddyfile minus jwt_auth
#   GW_CADDYFILE=/path/to/Caddyfile bash bench/profile.sh   another Caddyfile
#   TARGET=caddy bash bench/profile.sh          plain Caddy (conf/Caddyfile.plain.tmpl), for comparison
#
# Knobs: SECONDS_PROFILED [10], CONNS [64], THREADS [2], NICE [-10], PORT_BASE [18280] (upstream
# +1, proxy +5, admin +19, registry +10), BENCH_DIR. Writes $BENCH_DIR/profiles/<stamp>-<name>.pprof
# and prints the top functions (flat and cumulative). Starts each server in its own process group
# and stops it by that group at exit.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
export BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}/plugboard-bench}
BIN=$BENCH_DIR/bin
TARGET=${TARGET:-gw}
SECS=${SECONDS_PROFILED:-10}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
NICE=${NICE:--10}
PORT_BASE=${PORT_BASE:-18280}
UP=127.0.0.1:$((PORT_BASE + 1)); PORT=$((PORT_BASE + 5)); ADMIN=127.0.0.1:$((PORT_BASE + 19))
export PATH=/usr/local/go/bin:$PATH
for p in $((PORT_BASE + 1)) $PORT $((PORT_BASE + 19)) $((PORT_BASE + 10)); do
  if [ -n "$(ss -Hltn "sport = :$p")" ]; then echo "port $p is in use; set PORT_BASE" >&2; exit 1; fi
done
OUT=$BENCH_DIR/profiles; mkdir -p "$OUT"
stamp=$(date +%Y%m%d-%H%M%S)
name=$TARGET; [ -n "${GW_CADDYFILE:-}" ] && name=$TARGET-$(basename "$GW_CADDYFILE" | sed 's/^Caddyfile\.//')
LOGDIR=$OUT/$stamp-$name; mkdir -p "$LOGDIR"

PIDS=()
cleanup() {
  local p i
  for p in "${PIDS[@]}"; do kill -TERM -- "-$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    for i in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$p" 2>/dev/null || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM
start() { local n=$1; shift; setsid nice -n "$NICE" "$@" >"$LOGDIR/$n.log" 2>&1 </dev/null & PIDS+=("$!"); }
wait200() {
  local i
  for i in $(seq 300); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$1" || true)" = 200 ] && return 0; sleep 0.1
  done
  echo "no 200 from $1" >&2; tail -20 "$LOGDIR"/*.log >&2; exit 1
}

start upstream "$BIN/benchtool" upstream -addr "$UP"
wait200 "http://$UP/"
case $TARGET in
  gw)
    start gw env GATEWAY_PORT="$PORT" UPSTREAM_ADDR="$UP" GW_ADMIN="$ADMIN" \
      GW_REGISTRY_PORT=$((PORT_BASE + 10)) bash "$HERE/gateway.sh" ;;
  caddy)
    sed -e 's|admin off|admin '"$ADMIN"'|' -e "s|@RUN@|$LOGDIR|g" -e "s|@PORT@|$PORT|g" \
        -e "s|@UP_PORT@|${UP##*:}|g" -e "s|@CADDY_IDLE@|64|g" "$HERE/conf/Caddyfile.plain.tmpl" >"$LOGDIR/Caddyfile"
    start caddy env XDG_DATA_HOME="$LOGDIR/xdg" XDG_CONFIG_HOME="$LOGDIR/xdg" \
      "$BIN/caddy" run --adapter caddyfile --config "$LOGDIR/Caddyfile" ;;
  *) echo "TARGET must be gw or caddy" >&2; exit 2 ;;
esac
URL=http://127.0.0.1:$PORT/api/v1/users/42
wait200 "$URL"

nice -n "$NICE" wrk -t"$THREADS" -c"$CONNS" -d$((SECS + 4))s --latency "$URL" >"$LOGDIR/wrk.txt" 2>&1 &
WRK=$!
sleep 2   # let the load settle
curl -s -o "$OUT/$stamp-$name.pprof" "http://$ADMIN/debug/pprof/profile?seconds=$SECS"
wait "$WRK"
grep -E 'Requests/sec|50%|99%' "$LOGDIR/wrk.txt"
echo "profile: $OUT/$stamp-$name.pprof"
go tool pprof -top -nodecount=35 "$BIN/$([ "$TARGET" = gw ] && echo plugboard-gateway || echo caddy)" \
  "$OUT/$stamp-$name.pprof" 2>/dev/null | sed -n '1,45p'
echo "--- cumulative"
go tool pprof -top -cum -nodecount=60 "$BIN/$([ "$TARGET" = gw ] && echo plugboard-gateway || echo caddy)" \
  "$OUT/$stamp-$name.pprof" 2>/dev/null | sed -n '6,70p'
