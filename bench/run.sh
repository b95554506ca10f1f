#!/usr/bin/env bash
# run.sh: the benchmark with OUR gateway plugged in. Run bench/setup.sh once first (as root).
#
#   bash bench/run.sh                 direct, nginx, caddy, caddy-rx and gw (our gateway on
#                                     bench/conf/Caddyfile.gw, no auth), interleaved by rounds
#   bash bench/run.sh variants [V..]  experiment: caddy, gw, and gw-V for each Caddyfile variant
#                                     bench/conf/Caddyfile.gw-V (default: all of them), in the same
#                                     rounds, to show what each part of the shipped Caddyfile costs
#
# Every proxy-bench.sh knob still applies (ROUNDS, DURATION, PIN, BODY, TARGETS, NICE, BASE_PORT,
# BENCH_DIR, ...). The gateway and registry are rebuilt first by build-gateway.sh (incremental):
# from the committed HEAD by default, GW_SRC=worktree for uncommitted changes, GW_BUILD=0 to skip.
# Results: the report printed at the end, and runs/<stamp>/ in BENCH_DIR.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
export BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}/plugboard-bench}

if [ "${GW_BUILD:-1}" != 0 ]; then bash "$HERE/build-gateway.sh"; fi

case ${BODY:-small} in 4k) export GATEWAY_EXPECT_PATH=/users/4k ;; *) export GATEWAY_EXPECT_PATH=/users/42 ;; esac
# The Caddyfile the benchmark serves (conf/Caddyfile.gw) is a pinned copy of the shipped one (no auth).
base=$(sed -n 's/.*sha256 \([0-9a-f]\{64\}\).*/\1/p' "$HERE/conf/Caddyfile.gw" | head -1)
for which in HEAD worktree; do
  if [ $which = HEAD ]; then now=$(git -C "$REPO" show HEAD:Caddyfile 2>/dev/null | sha256sum | cut -d' ' -f1)
  else now=$(sha256sum "$REPO/Caddyfile" | cut -d' ' -f1); fi
  if [ "$now" != "$base" ]; then
    echo "NOTE: /Caddyfile ($which) has changed since bench/conf/Caddyfile.gw was copied from it" \
         "(sha256 ${base:0:12}); the benchmark still serves the copy." \
         "See: diff <(tail -n +8 bench/conf/Caddyfile.gw) Caddyfile" >&2
  fi
done
export BENCH_NOTE="gateway built from $(cat "$BENCH_DIR/bin/plugboard-gateway.src" 2>/dev/null || echo '?'); Caddyfile.gw = /Caddyfile of c1dc55f (sha256 ${base:0:12})"

# gw: conf/Caddyfile.gw (see gateway.sh). GATEWAY_PORT and UPSTREAM_ADDR come from the harness.
export GATEWAY_NAME=gw
export GATEWAY_CMD="exec bash '$HERE/gateway.sh'"

mode=${1:-main}
case $mode in
  main) ;;
  variants)
    shift
    if [ $# -eq 0 ]; then
      set -- $(cd "$HERE/conf" && ls Caddyfile.gw-* | sed 's/^Caddyfile\.gw-//')
    fi
    if [ $# -gt 8 ]; then echo "at most 8 variants per run (9 gateways)" >&2; exit 2; fi
    export TARGETS=${TARGETS:-caddy}
    g=2
    for v in "$@"; do
      f=$HERE/conf/Caddyfile.gw-$v
      [ -f "$f" ] || { echo "no variant $f" >&2; exit 2; }
      if ! grep -q "sha256 $base" "$f"; then
        echo "WARNING: $f was not derived from the current conf/Caddyfile.gw; re-derive it" >&2
      fi
      export "GATEWAY_NAME_$g=gw-$v" "GATEWAY_CMD_$g=GW_CADDYFILE='$f' exec bash '$HERE/gateway.sh'"
      g=$((g + 1))
    done ;;
  *) echo "usage: bash bench/run.sh [variants [NAME...]]" >&2; exit 2 ;;
esac

exec bash "$HERE/proxy-bench.sh"
