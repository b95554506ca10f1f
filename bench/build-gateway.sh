#!/usr/bin/env bash
# Build our gateway and registry into $BENCH_DIR/bin with the same flags as `make build`
# (-trimpath), without touching the repository (not even its bin/). setup.sh and run.sh call it.
#
#   GW_SRC=head      [default] the committed code: `git archive HEAD` unpacked into
#                    $BENCH_DIR/src/<commit>/ and built there, so a figure can be tied to a commit
#                    whatever work is in progress in the working tree
#   GW_SRC=worktree  the working tree as it is, uncommitted changes included
#
# Writes $BENCH_DIR/bin/plugboard-gateway.src (one line saying what was built) and
# $BENCH_DIR/bin/Caddyfile.shipped (the Caddyfile of the same source).
# Incremental: a few seconds when nothing changed.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}/plugboard-bench}
GW_SRC=${GW_SRC:-head}
export PATH=/usr/local/go/bin:$PATH
mkdir -p "$BENCH_DIR/bin"
case $GW_SRC in
  head)
    commit=$(git -C "$REPO" rev-parse HEAD)
    src=$BENCH_DIR/src/$commit
    if [ ! -f "$src/go.mod" ]; then
      rm -rf "$src.tmp"; mkdir -p "$src.tmp"
      git -C "$REPO" archive --format=tar HEAD | tar -x -C "$src.tmp"
      mv "$src.tmp" "$src"
    fi
    what="commit ${commit:0:12} (git archive HEAD)" ;;
  worktree)
    src=$REPO
    what="working tree at ${REPO} (HEAD $(git -C "$REPO" rev-parse --short=12 HEAD 2>/dev/null || echo unknown), $(git -C "$REPO" --no-optional-locks status --porcelain 2>/dev/null | wc -l) uncommitted paths)" ;;
  *) echo "GW_SRC must be head or worktree" >&2; exit 2 ;;
esac
cd "$src"
for s in gateway registry; do
  go build -trimpath -buildvcs=false -o "$BENCH_DIR/bin/plugboard-$s" "./cmd/$s"
done
cp Caddyfile "$BENCH_DIR/bin/Caddyfile.shipped"   # gateway.sh serves it, minus jwt_auth
echo "$what" >"$BENCH_DIR/bin/plugboard-gateway.src"
echo "built $BENCH_DIR/bin/plugboard-gateway and plugboard-registry from $what"
