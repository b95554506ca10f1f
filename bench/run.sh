#!/usr/bin/env bash
# run.sh: the benchmark with OUR gateway plugged in. Run bench/setup.sh once first (as root).
#
#   bash bench/run.sh     direct, nginx, caddy, caddy-rx, gw (our gateway on its shipped Caddyfile
#                         minus jwt_auth) and caddy-log (plain Caddy with Caddy's JSON access log,
#                         CADDY_LOG=0 to leave it out), interleaved by rounds
#
# Every proxy-bench.sh knob still applies (ROUNDS, DURATION, PIN, BODY, TARGETS, NICE, BASE_PORT,
# BENCH_DIR, ...). The gateway and registry are rebuilt first by build-gateway.sh (incremental):
# from the committed HEAD by default, GW_SRC=worktree for uncommitted changes, GW_BUILD=0 to skip.
# Results: the report printed at the end, and runs/<stamp>/ in BENCH_DIR. More gateways in the same
# rounds: GATEWAY_NAME_3=... GATEWAY_CMD_3="GW_CADDYFILE=/path/Caddyfile exec bash bench/gateway.sh".
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
export BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}/plugboard-bench}

if [ "${GW_BUILD:-1}" != 0 ]; then bash "$HERE/build-gateway.sh"; fi

case ${BODY:-small} in 4k) export GATEWAY_EXPECT_PATH=/users/4k ;; *) export GATEWAY_EXPECT_PATH=/users/42 ;; esac
export BENCH_NOTE="gateway built from $(cat "$BENCH_DIR/bin/plugboard-gateway.src" 2>/dev/null || echo '?'), serving its shipped Caddyfile minus jwt_auth"

# gw: the shipped Caddyfile without jwt_auth (see gateway.sh). GATEWAY_PORT and UPSTREAM_ADDR come
# from the harness. caddy-log: plain Caddy with Caddy's own JSON access log, for reference.
export GATEWAY_NAME=gw
export GATEWAY_CMD="exec bash '$HERE/gateway.sh'"
if [ "${CADDY_LOG:-1}" != 0 ] && [ -z "${GATEWAY_CMD_2:-}" ]; then
  export GATEWAY_NAME_2=caddy-log GATEWAY_CMD_2="exec bash '$HERE/caddy-log.sh'"
fi

exec bash "$HERE/proxy-bench.sh"
