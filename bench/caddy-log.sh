#!/usr/bin/env bash
# caddy-log.sh: plain Caddy's reverse_proxy (as conf/Caddyfile.plain.tmpl) plus the
# JSON access log our gateway ships with (and strip_prefix, so /users/42 arrives as from gw) — the fair baseline for the gateway's own
# routing work, since the access log is a requirement, not a choice. For GATEWAY_CMD_n:
#   GATEWAY_NAME_2=caddy-log GATEWAY_CMD_2="exec bash '$PWD/bench/caddy-log.sh'" bash bench/run.sh
set -euo pipefail
BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}/plugboard-bench}
dir=$(mktemp -d "$BENCH_DIR/caddy-log.XXXXXX")
cat >"$dir/Caddyfile" <<CADDY
{
	admin off
	auto_https off
	persist_config off
	storage file_system $dir/data
}
http://127.0.0.1:${GATEWAY_PORT} {
	log {
		format json
	}
	uri strip_prefix /api/v1
	reverse_proxy ${UPSTREAM_ADDR} {
		transport http {
			keepalive_idle_conns_per_host 128
		}
	}
}
CADDY
exec "$BENCH_DIR/bin/caddy" run --adapter caddyfile --config "$dir/Caddyfile"
