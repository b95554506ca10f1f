#!/usr/bin/env bash
# Builds the Plugboard gateway with xcaddy, for users who want other Caddy
# plugins in it as well:
#
#   ./xcaddy.sh                                   # → bin/plugboard-gateway-xcaddy
#   ./xcaddy.sh --with github.com/some/plugin     # the same, plus that plugin
#
# The result is the same program as `make build`'s bin/plugboard-gateway
# (cmd/gateway: caddycmd + the standard modules + ours), built the xcaddy way.
# Knobs: CADDY_VERSION (pinned: v2.11.9), XCADDY_VERSION (v0.4.5), OUTPUT.
#
# How our modules get in: xcaddy blank-imports each --with path. Ours is
# github.com/plugboard/plugboard/caddymodules, taken from this checkout with
# --replace, because the module path is not published. The module proxy
# answers that path with an error rather than 404, so Go would not fall back
# to the replacement; GONOSUMDB/GOPRIVATE-style settings do not help either.
# So the build resolves modules offline (GOPROXY=off) from the module cache,
# which `go mod download` fills from this repository's go.mod first; a
# plugin passed with --with is downloaded before going offline.
set -euo pipefail
cd "$(dirname "$0")"

CADDY_VERSION="${CADDY_VERSION:-v2.11.9}"
XCADDY_VERSION="${XCADDY_VERSION:-v0.4.5}"
OUTPUT="${OUTPUT:-bin/plugboard-gateway-xcaddy}"
MODULE=github.com/plugboard/plugboard

# Fetch everything while the proxy is still in use: this module's graph
# (Caddy included), xcaddy itself, and any extra plugin.
go mod download
go install "github.com/caddyserver/xcaddy/cmd/xcaddy@${XCADDY_VERSION}"
XCADDY="$(go env GOPATH)/bin/xcaddy"
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
	if [[ "${args[i]}" == "--with" && $((i + 1)) -lt ${#args[@]} ]]; then
		plugin="${args[i + 1]%%=*}"
		[[ "$plugin" == *@* ]] || plugin="$plugin@latest"
		(cd "$(mktemp -d)" && go mod init tmp >/dev/null 2>&1 && go get "$plugin")
	fi
done

mkdir -p "$(dirname "$OUTPUT")"
GOPROXY=off GOFLAGS=-mod=mod "$XCADDY" build "$CADDY_VERSION" \
	--output "$OUTPUT" \
	--with "$MODULE/caddymodules" \
	--replace "$MODULE=$(pwd)" \
	"$@"
"$OUTPUT" list-modules | grep -E 'plugboard|dynamic_upstreams'
echo "xcaddy.sh: built $OUTPUT"
