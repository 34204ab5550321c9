#!/usr/bin/env bash
# Installs Bitcoin Knots (a Bitcoin Core derivative) from Debian trixie-backports into a private prefix,
# for tests and the demo. Nothing on the system changes: apt runs with a private configuration, the
# .debs are unpacked with dpkg-deb, and the binaries run through trixie's own loader and libraries,
# because trixie's libstdc++ needs a newer glibc than bookworm has.
# See shared/reference/test-infrastructure.md §1.2.
#
# Usage: bash bitcoind/scripts/install-knots.sh [PREFIX]     (default PREFIX: <repo>/.cache/knots)
# Result: PREFIX/bin/{bitcoind,bitcoin-cli,bitcoin-tx,bitcoin-util,bitcoin-wallet}
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_dir=$(cd "$script_dir/../.." && pwd)
prefix=${1:-$repo_dir/.cache/knots}

BINARIES=(bitcoind bitcoin-cli bitcoin-tx bitcoin-util bitcoin-wallet)

log() { printf 'install-knots: %s\n' "$*" >&2; }
die() {
  printf 'install-knots: error: %s\n' "$*" >&2
  exit 1
}

installed_version() { "$prefix/bin/bitcoind" -version 2>/dev/null | head -n 1; }

# Fast path first, before any lock: provisioning runs before every test run.
if version=$(installed_version) && [[ -n $version ]]; then
  log "already installed in $prefix: $version"
  exit 0
fi

for tool in apt-get dpkg-deb dpkg flock; do
  command -v "$tool" >/dev/null || die "'$tool' not found; this script needs a Debian-based system"
done

case $(dpkg --print-architecture) in
  amd64) triplet=x86_64-linux-gnu loader=ld-linux-x86-64.so.2 ;;
  arm64) triplet=aarch64-linux-gnu loader=ld-linux-aarch64.so.1 ;;
  *) die "unsupported architecture $(dpkg --print-architecture) (amd64 and arm64 only)" ;;
esac

mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)
# Two provisioning runs may race (parallel CI steps, two terminals): the second waits, then finds the
# finished install on the fast path below.
exec 9>"$prefix/.install.lock"
if ! flock -n 9; then
  log "another install is running in $prefix; waiting for it (up to 10 minutes)"
  flock -w 600 9 || die "timed out waiting for the lock $prefix/.install.lock"
fi
if version=$(installed_version) && [[ -n $version ]]; then
  log "installed by a concurrent run in $prefix: $version"
  exit 0
fi

# The mirror is whatever this machine's apt already uses, so a machine behind its own mirror or proxy
# works unchanged; a hard-coded host would not.
system_codename() {
  local codename=
  if [[ -r /etc/os-release ]]; then
    codename=$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")
  fi
  printf '%s' "${codename:-bookworm}"
}

# Prints "URI<TAB>keyring" of the first enabled deb entry whose suites include the plain codename.
debian_mirror() {
  local codename=$1 file found
  shopt -s nullglob
  for file in /etc/apt/sources.list.d/*.sources; do
    # deb822 stanzas are separated by blank lines; keys are case-insensitive.
    found=$(awk -v want="$codename" '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && enabled != "no" && (" " suites " ") ~ (" " want " ") && uri != "")
          { print uri "\t" key; done = 1; exit }
        types = ""; suites = ""; uri = ""; key = ""; enabled = ""
      }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      /^[ \t]/ { next }
      {
        k = tolower($1); sub(/:$/, "", k)
        v = $0; sub(/^[^:]*:[ \t]*/, "", v); sub(/[ \t]+$/, "", v)
        if (k == "types") types = v
        else if (k == "suites") suites = v
        else if (k == "uris") { split(v, u, /[ \t]+/); uri = u[1] }
        else if (k == "signed-by") key = v
        else if (k == "enabled") enabled = tolower(v)
      }
      END { if (!done) flush() }
    ' "$file")
    if [[ -n $found ]]; then
      printf '%s\n' "$found"
      return 0
    fi
  done
  for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -r $file ]] || continue
    # deb [options] URI suite components...
    found=$(awk -v want="$codename" '
      $1 != "deb" { next }
      {
        i = 2; key = ""
        if ($2 ~ /^\[/) {
          while (i <= NF) {
            opt = $i; sub(/^\[/, "", opt); sub(/\]$/, "", opt)
            if (opt ~ /^signed-by=/) { key = opt; sub(/^signed-by=/, "", key) }
            if ($i ~ /\]$/) { i++; break }
            i++
          }
        }
        if ($(i + 1) == want) { print $i "\t" key; exit }
      }
    ' "$file")
    if [[ -n $found ]]; then
      printf '%s\n' "$found"
      return 0
    fi
  done
  return 1
}

codename=$(system_codename)
entry=$(debian_mirror "$codename") ||
  die "no apt source for the suite '$codename' in /etc/apt/sources.list or /etc/apt/sources.list.d; cannot tell which Debian mirror to use"
mirror=${entry%%$'\t'*}
mirror=${mirror%/}
keyring=${entry#*$'\t'}
case $mirror in
  http://* | https://*) ;;
  *) die "the apt source for '$codename' uses '$mirror'; only http(s) mirrors are supported" ;;
esac
# An inline (armored) Signed-By cannot be reused in a one-line list; the archive keyring covers trixie and sid.
if [[ -z $keyring || ! -f $keyring ]]; then keyring=/usr/share/keyrings/debian-archive-keyring.gpg; fi
[[ -f $keyring ]] || die "the Debian archive keyring $keyring is missing (apt-get install debian-archive-keyring)"
log "Debian mirror from this machine's apt sources: $mirror (suite $codename)"

apt_dir=$prefix/apt
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/debs"
: >"$apt_dir/preferences"
: >"$apt_dir/status"
# Every path apt would otherwise take from the system points into the prefix, so the system's sources,
# lists, caches, pins and installed packages are neither read nor written.
APT_OPTS=(
  -o "Dir::Etc::SourceList=$apt_dir/sources.list"
  -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::Etc::Preferences=$apt_dir/preferences"
  -o Dir::Etc::PreferencesParts=/dev/null
  -o "Dir::State::Lists=$apt_dir/lists"
  -o "Dir::State::status=$apt_dir/status"
  -o "Dir::Cache=$apt_dir/cache"
  -o Dir::Cache::pkgcache=pkgcache.bin
  -o Dir::Cache::srcpkgcache=srcpkgcache.bin
  -o APT::Sandbox::User=root
  -o Acquire::Languages=none
)

write_sources() {
  local suite
  : >"$apt_dir/sources.list"
  for suite in "$@"; do
    printf 'deb [signed-by=%s] %s %s main\n' "$keyring" "$mirror" "$suite" >>"$apt_dir/sources.list"
  done
}

apt_update() {
  log "apt-get update (private lists: $*)"
  write_sources "$@"
  apt-get "${APT_OPTS[@]}" -q update </dev/null >"$apt_dir/update.log" 2>&1 || {
    tail -n 20 "$apt_dir/update.log" >&2
    die "apt-get update of the private sources failed (log: $apt_dir/update.log)"
  }
}

# True when the private lists offer bitcoin-knots from the given suite.
offers_knots() {
  # awk reads to the end, where grep -q would quit early and fail the pipeline with SIGPIPE under pipefail.
  apt-cache "${APT_OPTS[@]}" madison bitcoin-knots 2>/dev/null |
    awk -v s="$1" '$0 ~ (" " s "/") { found = 1 } END { exit !found }'
}

apt_update trixie trixie-backports
if offers_knots trixie-backports; then
  knots_suite=trixie-backports lib_suite=trixie
else
  log "trixie-backports has no bitcoin-knots; falling back to sid"
  apt_update trixie trixie-backports sid
  offers_knots sid || die "neither trixie-backports nor sid offers bitcoin-knots on $mirror"
  # sid's build may need sid's newer libraries.
  knots_suite=sid lib_suite=sid
fi

# The runtime closure of bitcoin-knots: its lib* dependencies and theirs, from the suite that matches
# its build (a name list would break when a soname bump renames a package, e.g. libsodium23 -> 26).
# For trixie this is the list of test-infrastructure.md §1.2 step 4 plus libssl3t64 and libzstd1.
runtime_libraries() {
  local -A seen=()
  local frontier=("bitcoin-knots/$knots_suite") next out name
  while ((${#frontier[@]} > 0)); do
    out=$(apt-cache "${APT_OPTS[@]}" depends --no-recommends --no-suggests --no-conflicts --no-breaks \
      --no-replaces --no-enhances "${frontier[@]}" 2>&1) || die "apt-cache depends failed: $out"
    next=()
    # Alternatives ("|Depends:") and virtual packages ("<…>") only occur for non-library dependencies.
    for name in $(sed -nE 's/^ +\|?(Pre)?Depends: (lib[^< ]+).*/\2/p' <<<"$out" | sort -u); do
      [[ -z ${seen[$name]:-} ]] || continue
      seen[$name]=1
      next+=("$name/$lib_suite")
    done
    frontier=("${next[@]}")
  done
  printf '%s\n' "${!seen[@]}" | sort
}

# A command substitution, not a process substitution, so that a failure inside stops the script.
library_list=$(runtime_libraries) || exit 1
mapfile -t libraries <<<"$library_list"
debs=$apt_dir/debs
rm -f "$debs"/*.deb
packages=("bitcoin-knots/$knots_suite")
for lib in "${libraries[@]}"; do packages+=("$lib/$lib_suite"); done
log "apt-get download bitcoin-knots/$knots_suite and ${#libraries[@]} runtime libraries from $lib_suite: ${libraries[*]}"
(cd "$debs" && apt-get "${APT_OPTS[@]}" -q download "${packages[@]}" </dev/null >"$apt_dir/download.log" 2>&1) || {
  tail -n 20 "$apt_dir/download.log" >&2
  die "apt-get download failed (log: $apt_dir/download.log)"
}

# Unpack into a staging tree and swap it in, so an interrupted run never leaves a half tree that looks done.
staging=$prefix/root.new
rm -rf "$staging" "$prefix/bin.new"
mkdir -p "$staging" "$prefix/bin.new"
for deb in "$debs"/*.deb; do
  dpkg-deb -x "$deb" "$staging"
done
root=$prefix/root
libdir=$root/usr/lib/$triplet
[[ -x $staging/usr/bin/bitcoind ]] || die "the bitcoin-knots package has no usr/bin/bitcoind"
[[ -e $staging/usr/lib/$triplet/$loader ]] || die "libc6 from $lib_suite has no usr/lib/$triplet/$loader"

# Single-quote a string for /bin/sh.
sh_quote() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

for name in "${BINARIES[@]}"; do
  [[ -e $staging/usr/bin/$name ]] || die "the bitcoin-knots package has no usr/bin/$name"
  # exec keeps the pid, so whoever spawns the wrapper owns the daemon's pid.
  {
    printf '#!/bin/sh\n'
    printf '# Written by bitcoind/scripts/install-knots.sh; absolute paths: re-run it after moving the prefix.\n'
    printf 'exec %s --library-path %s %s "$@"\n' "$(sh_quote "$libdir/$loader")" \
      "$(sh_quote "$libdir:$root/lib/$triplet")" "$(sh_quote "$root/usr/bin/$name")"
  } >"$prefix/bin.new/$name"
  chmod 0755 "$prefix/bin.new/$name"
done

rm -rf "$root" "$prefix/bin"
mv "$staging" "$root"
mv "$prefix/bin.new" "$prefix/bin"

# Every library must resolve inside the prefix: one from the system would tie the install to this host.
listing=$("$libdir/$loader" --library-path "$libdir:$root/lib/$triplet" --list "$root/usr/bin/bitcoind" 2>&1) ||
  die "the loader cannot resolve bitcoind's libraries: $listing"
if grep -q 'not found' <<<"$listing"; then
  die "libraries missing from the prefix: $(grep 'not found' <<<"$listing" | tr -s ' \t\n' ' ')"
fi
outside=$(awk '$2 == "=>" && $3 ~ /^\// {print $3}' <<<"$listing" | grep -v "^$root/" || true)
[[ -z $outside ]] || log "warning: libraries resolved outside the prefix: $(tr '\n' ' ' <<<"$outside")"

version=$(installed_version) || true
[[ -n $version ]] || die "$prefix/bin/bitcoind -version does not run after installing"
# The unpacked tree is all that runs; archives, indexes and apt's caches would only triple the footprint.
rm -rf "$debs" "$apt_dir/lists" "$apt_dir/cache"
log "installed $version from $knots_suite into $prefix"
