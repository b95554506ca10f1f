#!/usr/bin/env bash
# Builds the Plugboard gateway with xcaddy, for users who want to add other
# Caddy plugins (./xcaddy.sh --with github.com/some/plugin).
#
# The gateway's modules are not written yet (see caddymodules/), so there is
# nothing to build; this script says so instead of producing a plain Caddy.
set -euo pipefail
echo "xcaddy.sh: the Plugboard gateway modules do not exist yet; nothing to build." >&2
exit 1
