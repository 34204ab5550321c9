#!/usr/bin/env bash
# Builds the libsecp256k1 addon (build/Release/secp256k1_native.node) with node-gyp, against the
# system's libsecp256k1 (Debian: libsecp256k1-dev) and the running Node's own headers, offline.
# Returns at once when the binary was built from the sources as they are now (a stamp of their
# hash), so test/infra/provision.sh can call it before every test run.
set -euo pipefail

addon_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
binary="$addon_dir/build/Release/secp256k1_native.node"
stamp="$addon_dir/build/sources.sha256"

log() { printf 'native/secp256k1: %s\n' "$*" >&2; }
die() {
  printf 'native/secp256k1: error: %s\n' "$*" >&2
  exit 1
}

sources_hash() {
  (cd "$addon_dir" && cat binding.gyp src/*.c) | sha256sum | cut -d' ' -f1
}

# npm ships node-gyp and puts it on PATH for package scripts; from a plain shell, use npm's copy.
node_gyp() {
  if command -v node-gyp >/dev/null; then
    node-gyp "$@"
    return
  fi
  local npm_root
  npm_root=$(cd "$(dirname "$(readlink -f "$(command -v npm)")")/.." && pwd)
  [[ -f $npm_root/node_modules/node-gyp/bin/node-gyp.js ]] || die "node-gyp not found (npm's copy is missing under $npm_root)"
  node "$npm_root/node_modules/node-gyp/bin/node-gyp.js" "$@"
}

# Two builds in one checkout at once would write the same files: the second waits for the first.
exec 9>"$addon_dir/.build.lock"
flock 9

want=$(sources_hash)
if [[ -f $binary && -f $stamp && $(<"$stamp") == "$want" ]]; then
  exit 0
fi

pkg-config --exists libsecp256k1 ||
  die "libsecp256k1's headers are missing: apt-get install libsecp256k1-dev (test/infra/provision.sh does)"

# The headers of the Node that runs the build (Debian: /usr/include/node; the node image:
# /usr/local/include/node), so node-gyp never downloads a header tarball.
node_prefix=$(node -p 'require("node:path").resolve(process.execPath, "../..")')
[[ -f $node_prefix/include/node/node_api.h ]] ||
  die "Node's headers are missing under $node_prefix/include/node (a Node installed from nodejs.org or NodeSource ships them)"

log "building the addon (node-gyp, libsecp256k1 $(pkg-config --modversion libsecp256k1))"
build_log=$(mktemp)
trap 'rm -f "$build_log"' EXIT
if ! (cd "$addon_dir" && node_gyp rebuild --nodedir="$node_prefix" --loglevel=warn) >"$build_log" 2>&1; then
  cat "$build_log" >&2
  die "node-gyp build failed (output above)"
fi
printf '%s\n' "$want" >"$stamp"
