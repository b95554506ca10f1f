#!/usr/bin/env bash
# proxy-bench.sh: side-by-side HTTP reverse-proxy benchmark, all on 127.0.0.1.
#
# Targets, all forwarding to the same tiny Go upstream (benchtool upstream):
#   direct    the upstream itself (no proxy): the ceiling
#   nginx     proxy_pass with a keepalive upstream pool   (conf/nginx.conf.tmpl)
#   caddy     bare reverse_proxy                          (conf/Caddyfile.plain.tmpl)
#   caddy-rx  path_regexp + uri strip_prefix + header_up  (conf/Caddyfile.rx.tmpl)
#   gateway   optional: any binary you name with GATEWAY_CMD (and GATEWAY_URL); up to 9 gateways
#             with GATEWAY_CMD_2..9 (see below). bench/run.sh plugs in OUR gateway (gateway.sh).
#
# This is a copy of the shared harness (shared/bench/proxy-bench.sh) with, added: several
# gateways per run, GATEWAY_EXPECT_PATH, GATEWAY_WAIT, BENCH_NOTE and ORDER=williams; the rest
# is unchanged.
# Every target gets the same wrk settings. Runs are interleaved: each round measures every
# target once, and the order rotates by one each round (A B C, B C A, C A B, ...), so machine
# drift and "who ran just before me" affect all targets alike. Ratios are computed within a
# round and then the median over rounds is reported.
#
# Run bench/setup.sh once first (apt packages, Caddy build, benchtool build).
#
# Knobs (environment variables, defaults in brackets):
#   ROUNDS [5]  DURATION [5] seconds per wrk run  WARMUP [2] seconds per target, discarded
#   ORDER [rotate]  rotate:   round r runs the targets in list order shifted by r-1 (the
#                             harness's design: every position, but always the same neighbours)
#                   williams: a Williams square, so that every target also follows every other
#                             target equally often (balanced for carry-over from the run before);
#                             full balance every n rounds (n targets; 2n when n is odd)
#   CONNS [64]  THREADS [number of CPUs wrk may use: 2 with PIN=none, 1 with PIN=split]
#   PIN [none]   none:  no pinning; wrk, upstream and proxy share all CPUs (default: gave the
#                       steadier per-round ratios here, see notes/bench-baseline.md)
#                split: upstream and proxies on CPU 0, wrk on CPU 1 (first/second half of
#                       the CPUs on bigger machines): "what one core of proxy+upstream does"
#   BODY [small] small: 100-byte JSON, 4k: 4096-byte JSON
#   TARGETS ["direct nginx caddy caddy-rx"], plus "gateway" automatically if GATEWAY_CMD is set
#   CADDY_IDLE [64]  Caddy's keepalive_idle_conns_per_host; 64 matches nginx's "keepalive 64".
#                Caddy's own default is 32, which makes it open and close upstream
#                connections all the time once CONNS > 32 (CADDY_IDLE=32 to see that).
#   NICE [-10] nice value for every benchmark process (servers and wrk). Negative (needs root)
#              makes other work on a shared machine yield to the benchmark while it runs;
#              NICE=0 to be polite, at the cost of more disturbed (redone) runs.
#   FOREIGN_MAX [10] RETRIES [2]  a run during which other processes used >= FOREIGN_MAX % of
#              the machine's CPU is discarded (kept in discarded.tsv) and redone, at most RETRIES times
#   BASE_PORT [18080]  ports BASE+1 upstream, +2 nginx, +3 caddy, +4 caddy-rx, +5 gateway
#   BENCH_DIR [${TMPDIR:-/tmp}/plugboard-bench]  where setup.sh put bin/ and where runs/ are written
# Plugging in a gateway:
#   GATEWAY_CMD  shell command that starts it in the foreground. It runs under bash with
#                UPSTREAM_ADDR (host:port of the upstream) and GATEWAY_PORT exported, so
#                single-quote it:  GATEWAY_CMD='./gw -listen 127.0.0.1:$GATEWAY_PORT -upstream $UPSTREAM_ADDR'
#   GATEWAY_URL  [http://127.0.0.1:$GATEWAY_PORT$REQ_PATH]  the URL wrk hits
#   GATEWAY_NAME [gateway]  label in the report
#   More gateways in the same run (e.g. Caddyfile variants, A/B in the same rounds):
#   GATEWAY_CMD_2 .. GATEWAY_CMD_9, with GATEWAY_NAME_n [gateway-n] and GATEWAY_URL_n; gateway n
#                listens on BASE+4+n (gateway 1 on BASE+5, gateway 2 on BASE+6, ...) and gets
#                its own GATEWAY_PORT exported.
#   GATEWAY_EXPECT_PATH  if set, the sanity check also requires every gateway to deliver this
#                path to the upstream (run.sh: /users/42, i.e. /api/v1 stripped)
#   GATEWAY_WAIT [30]  seconds a gateway may take to answer its URL with 200 at start
#   BENCH_NOTE   free text recorded in env.txt / the report header (run.sh: repo commit)
# Every process started here is started in its own process group and stopped by that
# PID/PGID on exit (TERM, then KILL after 5 s). Nothing is killed by name.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}/plugboard-bench}
BIN=$BENCH_DIR/bin
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-64}
PIN=${PIN:-none}
BODY=${BODY:-small}
BASE_PORT=${BASE_PORT:-18080}
TARGETS=${TARGETS:-direct nginx caddy caddy-rx}
GATEWAY_NAME=${GATEWAY_NAME:-gateway}
GATEWAY_WAIT=${GATEWAY_WAIT:-30}
CADDY=${CADDY:-$BIN/caddy}
CADDY_IDLE=${CADDY_IDLE:-64}
NICE=${NICE:--10}
export PATH=/usr/local/go/bin:$PATH

NCPU=$(nproc)
case $PIN in
  # split: first half of the CPUs for the servers, second half for wrk (2 cores: 0 | 1)
  split) SRV_CPUS=0-$((NCPU / 2 - 1)); CLI_CPUS=$((NCPU / 2))-$((NCPU - 1))
         SRV_NCPU=$((NCPU / 2)); THREADS=${THREADS:-$((NCPU - NCPU / 2))} ;;
  none)  SRV_CPUS=; CLI_CPUS=; SRV_NCPU=$NCPU; THREADS=${THREADS:-$NCPU} ;;
  *) echo "PIN must be split or none" >&2; exit 2 ;;
esac
ORDER=${ORDER:-rotate}
case $ORDER in rotate|williams) ;; *) echo "ORDER must be rotate or williams" >&2; exit 2 ;; esac
case $BODY in
  small) REQ_PATH=/api/v1/users/42; BODY_BYTES=100 ;;
  4k)    REQ_PATH=/api/v1/users/4k; BODY_BYTES=4096 ;;
  *) echo "BODY must be small or 4k" >&2; exit 2 ;;
esac

UP_PORT=$((BASE_PORT + 1)); NGINX_PORT=$((BASE_PORT + 2)); CADDY_PORT=$((BASE_PORT + 3))
CADDY_RX_PORT=$((BASE_PORT + 4)); export GATEWAY_PORT=$((BASE_PORT + 5))
export UPSTREAM_ADDR=127.0.0.1:$UP_PORT
# Gateways: parallel arrays GW_NAMES / GW_CMDS / GW_URLS / GW_PORTS (gateway 1 = GATEWAY_CMD).
GW_NAMES=(); GW_CMDS=(); GW_URLS=(); GW_PORTS=()
if [ -n "${GATEWAY_CMD:-}" ]; then
  GW_NAMES+=("$GATEWAY_NAME"); GW_CMDS+=("$GATEWAY_CMD"); GW_PORTS+=("$GATEWAY_PORT")
  GW_URLS+=("${GATEWAY_URL:-http://127.0.0.1:$GATEWAY_PORT$REQ_PATH}")
fi
for ((g = 2; g <= 9; g++)); do
  v=GATEWAY_CMD_$g; [ -n "${!v:-}" ] || continue
  n=GATEWAY_NAME_$g; u=GATEWAY_URL_$g; port=$((BASE_PORT + 4 + g))
  GW_NAMES+=("${!n:-gateway-$g}"); GW_CMDS+=("${!v}"); GW_PORTS+=("$port")
  GW_URLS+=("${!u:-http://127.0.0.1:$port$REQ_PATH}")
done
for ((g = 0; g < ${#GW_NAMES[@]}; g++)); do TARGETS="$TARGETS ${GW_NAMES[$g]}"; done
gw_index() {  # gw_index NAME: index in GW_NAMES, or nothing
  local g
  for ((g = 0; g < ${#GW_NAMES[@]}; g++)); do
    if [ "${GW_NAMES[$g]}" = "$1" ]; then echo "$g"; return; fi
  done
}
read -r -a TLIST <<<"$TARGETS"

url_of() {
  case $1 in
    direct)   echo "http://127.0.0.1:$UP_PORT$REQ_PATH" ;;
    nginx)    echo "http://127.0.0.1:$NGINX_PORT$REQ_PATH" ;;
    caddy)    echo "http://127.0.0.1:$CADDY_PORT$REQ_PATH" ;;
    caddy-rx) echo "http://127.0.0.1:$CADDY_RX_PORT$REQ_PATH" ;;
    *) local g; g=$(gw_index "$1")
       if [ -n "$g" ]; then echo "${GW_URLS[$g]}"; else echo "unknown target $1" >&2; exit 2; fi ;;
  esac
}

# --- preflight ---------------------------------------------------------------------------
for b in "$CADDY" "$BIN/benchtool" "$(command -v nginx)" "$(command -v wrk)" "$(command -v curl)"; do
  [ -x "$b" ] || { echo "missing $b: run $HERE/setup.sh first" >&2; exit 1; }
done
# Rebuild benchtool if its source is newer than the binary (cheap, stdlib only).
if [ "$HERE/benchtool/main.go" -nt "$BIN/benchtool" ]; then
  (cd "$HERE/benchtool" && go build -o "$BIN/benchtool" .)
fi
for p in $UP_PORT $NGINX_PORT $CADDY_PORT $CADDY_RX_PORT "${GW_PORTS[@]}"; do
  if [ -n "$(ss -Hltn "sport = :$p")" ]; then echo "port $p is already in use; set BASE_PORT" >&2; exit 1; fi
done

RUN=$BENCH_DIR/runs/$(date +%Y%m%d-%H%M%S)-$PIN-$BODY
mkdir -p "$RUN/nginx-tmp" "$RUN/xdg" "$RUN/wrk"
echo "run dir: $RUN"

# --- process management: own process group per server, stopped by PGID ----------------------
PIDS=()      # servers: each is the leader of its own process group
WRK_PID=    # the wrk run in progress, if any
cleanup() {
  local p i
  if [ -n "$WRK_PID" ]; then kill -TERM "$WRK_PID" 2>/dev/null || true; fi
  for p in "${PIDS[@]}"; do kill -TERM -- "-$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    for i in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$p" 2>/dev/null || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Prefixes for server and client commands: CPU pinning, then scheduling priority.
srv_pin() { if [ -n "$SRV_CPUS" ]; then echo "taskset -c $SRV_CPUS"; fi; echo "nice -n $NICE"; }
cli_pin() { if [ -n "$CLI_CPUS" ]; then echo "taskset -c $CLI_CPUS"; fi; echo "nice -n $NICE"; }

# start NAME CMD...: run CMD (pinned to the server CPUs) in a new session, log to $RUN/NAME.log.
# setsid execs (we are not a group leader), so $! is the server's own PID and its PGID.
start() {
  local name=$1; shift
  # shellcheck disable=SC2046
  setsid $(srv_pin) "$@" >"$RUN/$name.log" 2>&1 </dev/null &
  PIDS+=("$!")
  echo "started $name pid $!"
}

# wait_http NAME URL [SECONDS]: poll until the URL answers 200 (10 s max by default).
wait_http() {
  local i
  for i in $(seq $((${3:-10} * 10))); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "$2" || true)" = 200 ]; then return 0; fi
    sleep 0.1
  done
  echo "$1 did not come up at $2; log:" >&2; tail -20 "$RUN/$1.log" >&2; exit 1
}

fill() {  # fill TEMPLATE OUT: substitute @VARS@ in a config template
  sed -e "s|@RUN@|$RUN|g" -e "s|@PORT@|$2|g" -e "s|@UP_PORT@|$UP_PORT|g" \
      -e "s|@WORKERS@|$SRV_NCPU|g" -e "s|@CADDY_IDLE@|$CADDY_IDLE|g" "$HERE/conf/$1" >"$RUN/$3"
}

# --- start everything ---------------------------------------------------------------------------
start upstream "$BIN/benchtool" upstream -addr "$UPSTREAM_ADDR"
wait_http upstream "http://$UPSTREAM_ADDR/"
for t in "${TLIST[@]}"; do
  case $t in
    direct) ;;
    nginx)
      fill nginx.conf.tmpl "$NGINX_PORT" nginx.conf
      start nginx nginx -e stderr -p "$RUN" -c "$RUN/nginx.conf" -g 'daemon off;' ;;
    caddy)
      fill Caddyfile.plain.tmpl "$CADDY_PORT" Caddyfile.plain
      start caddy env XDG_DATA_HOME="$RUN/xdg" XDG_CONFIG_HOME="$RUN/xdg" \
        "$CADDY" run --adapter caddyfile --config "$RUN/Caddyfile.plain" ;;
    caddy-rx)
      fill Caddyfile.rx.tmpl "$CADDY_RX_PORT" Caddyfile.rx
      start caddy-rx env XDG_DATA_HOME="$RUN/xdg" XDG_CONFIG_HOME="$RUN/xdg" \
        "$CADDY" run --adapter caddyfile --config "$RUN/Caddyfile.rx" ;;
    *)
      g=$(gw_index "$t")
      if [ -z "$g" ]; then echo "unknown target $t" >&2; exit 2; fi
      start "$t" env GATEWAY_PORT="${GW_PORTS[$g]}" bash -c "${GW_CMDS[$g]}" ;;
  esac
done
for t in "${TLIST[@]}"; do
  if [ -n "$(gw_index "$t")" ]; then wait_http "$t" "$(url_of "$t")" "$GATEWAY_WAIT"
  else wait_http "$t" "$(url_of "$t")"; fi
done

# --- sanity check: 200, right body size, and what the upstream actually received ---------------
echo "sanity (path, X-Gateway, X-Api-Resource and all header names as seen by the upstream):"
for t in "${TLIST[@]}"; do
  hdr=$RUN/sanity-$t.hdr
  read -r code size < <(curl -s -D "$hdr" -o /dev/null -H 'X-Bench-Echo: 1' \
    -w '%{http_code} %{size_download}\n' "$(url_of "$t")")
  echo "  $t: HTTP $code, $size B, $(grep -i '^x-echo-' "$hdr" | tr -d '\r' | tr '\n' ' ')"
  if [ "$code" != 200 ] || [ "$size" != "$BODY_BYTES" ]; then echo "sanity failed for $t" >&2; exit 1; fi
  if [ "$t" = caddy-rx ] && ! grep -qi '^x-echo-path: /users/' "$hdr"; then
    echo "caddy-rx did not strip the prefix" >&2; exit 1
  fi
  if [ -n "${GATEWAY_EXPECT_PATH:-}" ] && [ -n "$(gw_index "$t")" ] &&
     ! grep -qixF "x-echo-path: $GATEWAY_EXPECT_PATH" <(tr -d '\r' <"$hdr"); then
    echo "$t did not deliver $GATEWAY_EXPECT_PATH to the upstream" >&2; exit 1
  fi
done

# --- record the environment ----------------------------------------------------------------------
{
  echo "date: $(date -u +%FT%TZ)"
  echo "kernel: $(uname -r); cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-); nproc: $(nproc)"
  echo "nginx: $(nginx -v 2>&1 | cut -d/ -f2); caddy: $("$CADDY" version | cut -d' ' -f1); wrk: $(wrk -v 2>&1 | head -1 | cut -d' ' -f2); $(go version | cut -d' ' -f3)"
  echo "settings: ORDER=$ORDER ROUNDS=$ROUNDS DURATION=${DURATION}s WARMUP=${WARMUP}s CONNS=$CONNS THREADS=$THREADS PIN=$PIN NICE=$NICE BODY=$BODY ($BODY_BYTES B) CADDY_IDLE=$CADDY_IDLE path=$REQ_PATH"
  echo "loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  for ((g = 0; g < ${#GW_NAMES[@]}; g++)); do
    echo "gateway ${GW_NAMES[$g]}: port ${GW_PORTS[$g]}, ${GW_URLS[$g]}, cmd: ${GW_CMDS[$g]}"
  done
  if [ -n "${BENCH_NOTE:-}" ]; then echo "note: $BENCH_NOTE"; fi
} >"$RUN/env.txt"
cat "$RUN/env.txt"

# --- measure -------------------------------------------------------------------------------------
upstats() { curl -s "http://$UPSTREAM_ADDR/__stats"; }   # "conns reqs" seen by the upstream

# runwrk SECONDS URL OUT: wrk in the background so the EXIT trap can stop it too.
runwrk() {
  # shellcheck disable=SC2046
  $(cli_pin) wrk -t"$THREADS" -c"$CONNS" -d"$1"s --latency -s "$HERE/conf/report.lua" "$2" >"$3" 2>&1 &
  WRK_PID=$!
  wait "$WRK_PID" || { echo "wrk failed:" >&2; cat "$3" >&2; exit 1; }
  WRK_PID=
}

# CPU accounting per run, from kernel tick counters (USER_HZ, so about +-1% per 5 s run):
#   srv      CPU time of the servers' process groups (upstream + proxies), in % of one core
#   cli      CPU time of this script's waited children (wrk, plus a few curl calls), % of one core
#   foreign  CPU time the machine spent busy (/proc/stat user nice system irq softirq) minus
#            ours, in % of all CPUs: other work on a shared machine (builds, other tests).
# cli near 100 means wrk itself was the bottleneck for that target.
stat_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9; exit }' /proc/stat; }
our_ticks() {  # prints "srv cli"
  local pgs
  pgs=$(IFS=,; echo ",${PIDS[*]},")
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v pgs="$pgs" -v self=$$ '
    { pid = $1; sub(/^.*\) /, "")          # drop "pid (comm) ", comm may contain spaces
      # now $3 = pgrp, $12 utime, $13 stime, $14 cutime, $15 cstime
      if (index(pgs, "," $3 ",")) srv += $12 + $13
      else if (pid == self) cli += $12 + $13 + $14 + $15 }
    END { print srv + 0, cli + 0 }'
}
FOREIGN_MAX=${FOREIGN_MAX:-10}
RETRIES=${RETRIES:-2}

# measure TSV ROUND TARGET: one wrk run against TARGET; appends one row to the file TSV and
# leaves rps and foreign set for the caller.
measure() {
  local tsv=$1 r=$2 t=$3 out=$RUN/wrk/r$2-$3.txt c0 q0 c1 q1 b0 a0 b1 a1 s0 k0 s1 k1 upconns upreqs
  read -r c0 q0 < <(upstats)
  read -r b0 a0 < <(stat_ticks); read -r s0 k0 < <(our_ticks)
  runwrk "$DURATION" "$(url_of "$t")" "$out"
  read -r b1 a1 < <(stat_ticks); read -r s1 k1 < <(our_ticks)
  read -r c1 q1 < <(upstats)
  read -r foreign srv cli < <(awk -v b=$((b1 - b0)) -v s=$((s1 - s0)) -v k=$((k1 - k0)) -v a=$((a1 - a0)) \
    -v ncpu="$NCPU" 'BEGIN { f = a ? 100 * (b - s - k) / a : 0
      printf "%.1f %.0f %.0f\n", f < 0 ? 0 : f, a ? 100 * s * ncpu / a : 0, a ? 100 * k * ncpu / a : 0 }')
  # BENCH requests=.. duration_us=.. p50_us=.. p99_us=.. sock_errors=.. status_errors=..
  unset requests duration_us p50_us p99_us sock_errors status_errors
  eval "$(grep '^BENCH ' "$out" | cut -d' ' -f2-)"
  if [ -z "${requests:-}" ]; then echo "no BENCH line from wrk for $t:" >&2; cat "$out" >&2; exit 1; fi
  rps=$(awk -v q="$requests" -v d="$duration_us" 'BEGIN { printf "%.1f", q / (d / 1e6) }')
  upconns=$((c1 - c0 - 1))   # minus the connection of the second __stats call itself
  upreqs=$((q1 - q0))
  if [ "$upreqs" -lt "$requests" ]; then echo "WARNING: $t: upstream saw $upreqs < $requests requests" >&2; fi
  printf '%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$t" "$rps" "$p50_us" "$p99_us" \
    "$requests" $((sock_errors + status_errors)) "$upconns" "$upreqs" "$foreign" "$srv" "$cli" >>"$tsv"
}

echo "warmup: ${WARMUP}s per target"
for t in "${TLIST[@]}"; do runwrk "$WARMUP" "$(url_of "$t")" "$RUN/wrk/warmup-$t.txt"; done

read -r -a cpu0 < <(grep '^cpu ' /proc/stat)
TSV=$RUN/results.tsv
HEAD='round\ttarget\trps\tp50_us\tp99_us\trequests\terrors\tupconns\tupreqs\tforeign_pct\tsrv_cpu_pct\tcli_cpu_pct\n'
printf "$HEAD" >"$TSV"; printf "$HEAD" >"$RUN/discarded.tsv"
n=${#TLIST[@]}
# Williams base sequence 0, 1, n-1, 2, n-2, ...; round r shifts it by r-1 (and, for odd n,
# runs it backwards in the second half of each 2n rounds).
WBASE=(0); for ((k = 1, lo = 1, hi = n - 1; k < n; k++)); do
  if ((k % 2)); then WBASE+=("$lo"); lo=$((lo + 1)); else WBASE+=("$hi"); hi=$((hi - 1)); fi
done
order_index() {  # order_index ROUND K: index in TLIST of the K-th target of round ROUND
  local r=$1 k=$2 s
  if [ "$ORDER" = rotate ]; then echo $(((r - 1 + k) % n)); return; fi
  s=$(((r - 1) % (n % 2 ? 2 * n : n)))   # williams (ORDER checked at the top)
  if ((s >= n)); then echo $(((WBASE[n - 1 - k] + s) % n)); else echo $(((WBASE[k] + s) % n)); fi
}
for ((r = 1; r <= ROUNDS; r++)); do
  line="round $r/$ROUNDS:"
  for ((k = 0; k < n; k++)); do
    t=${TLIST[$(order_index "$r" "$k")]}
    # Fixed rejection rule, same for every target: a run during which other processes used
    # FOREIGN_MAX % or more of the machine's CPU is set aside (discarded.tsv) and run again, up
    # to RETRIES times; the last try is kept whatever its foreign load (the report shows it).
    for ((try = 0; ; try++)); do
      measure "$RUN/try.tsv" "$r" "$t"
      if [ "${foreign%.*}" -lt "$FOREIGN_MAX" ] || [ "$try" -ge "$RETRIES" ]; then break; fi
      cat "$RUN/try.tsv" >>"$RUN/discarded.tsv"; rm -f "$RUN/try.tsv"
      line="$line [$t redo: fg ${foreign}%]"
    done
    cat "$RUN/try.tsv" >>"$TSV"; rm -f "$RUN/try.tsv"
    line="$line $t=${rps%.*}(fg ${foreign}%)"
  done
  echo "$line"
done
read -r -a cpu1 < <(grep '^cpu ' /proc/stat)

# --- report --------------------------------------------------------------------------------------
# /proc/stat cpu fields: user nice system idle iowait irq softirq steal
tot=0; for i in 1 2 3 4 5 6 7 8; do tot=$((tot + cpu1[i] - cpu0[i])); done
steal=$(awk -v s=$((cpu1[8] - cpu0[8])) -v t=$tot 'BEGIN { printf "%.1f", t ? 100 * s / t : 0 }')
idle=$(awk -v s=$((cpu1[4] - cpu0[4])) -v t=$tot 'BEGIN { printf "%.1f", t ? 100 * s / t : 0 }')
{
  echo "## proxy-bench $(basename "$RUN")"
  echo
  sed 's/^/    /' "$RUN/env.txt"
  echo "    during measurement: cpu idle ${idle}%, steal ${steal}%; runs redone because foreign CPU >= ${FOREIGN_MAX}%: $(($(wc -l <"$RUN/discarded.tsv") - 1))"
  echo
  "$BIN/benchtool" report "$TSV"
} >"$RUN/report.md"
cat "$RUN/report.md"
echo
echo "raw data: $TSV; wrk outputs: $RUN/wrk/"
