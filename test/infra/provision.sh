#!/usr/bin/env bash
# Provisions everything the test suite needs on this machine. `npm test` runs it before every run, so
# each step checks first and returns at once when its thing is present (the whole script stays well
# under a second then). Runs unattended: as root in CI, with no stdin.
#
# One function per thing; add new needs as new provision_* functions and call them from main.
set -euo pipefail

repo_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

log() { printf 'provision: %s\n' "$*" >&2; }
die() {
  printf 'provision: error: %s\n' "$*" >&2
  exit 1
}

# Installs the named Debian packages that are not installed yet; apt-get update only when one is missing.
ensure_debian_packages() {
  local missing=() pkg
  for pkg in "$@"; do
    if [[ $(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null) != installed ]]; then
      missing+=("$pkg")
    fi
  done
  ((${#missing[@]} == 0)) && return 0

  local sudo=()
  if ((EUID != 0)); then
    command -v sudo >/dev/null || die "need root (or sudo) to install: ${missing[*]}"
    sudo=(sudo -n)
  fi
  log "installing Debian packages: ${missing[*]}"
  # A concurrent apt run (another provisioning, unattended upgrades) holds the dpkg lock: wait for it
  # instead of failing.
  local apt_opts=(-o DPkg::Lock::Timeout=300 -qq)
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" update </dev/null >&2 ||
    die "apt-get update failed"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" install -y --no-install-recommends \
    "${missing[@]}" </dev/null >&2 || die "apt-get install ${missing[*]} failed"
}

# SoftHSM: the PKCS#11 token behind the hsm/ pkcs11 backend's tests.
provision_softhsm() {
  ensure_debian_packages softhsm2 openssl
}

# RabbitMQ's server package: the machine runs a broker already; tests that stop a broker start a
# private one from these binaries.
provision_rabbitmq() {
  ensure_debian_packages rabbitmq-server
}

# Debian's Chromium for the dashboard's end-to-end test (test/dashboard.e2e.int.test.ts), driven by
# playwright-core through executablePath: playwright's own browser download cannot work on a closed
# network, and the distribution's build gets the distribution's security updates.
provision_chromium() {
  ensure_debian_packages chromium
}

# A compose client to validate docker-compose.yml (test/deploy.int.test.ts runs deploy/check-compose.sh):
# the machine has the docker CLI without its compose plugin and no engine; Debian's docker-compose
# reads and checks the file without one.
provision_compose_client() {
  if docker compose version >/dev/null 2>&1; then return 0; fi
  ensure_debian_packages docker-compose
}

# stunnel: the TLS-terminating sidecar (deploy/sidecar/) through which a reference-style client, which
# sends no client certificate, reaches the mutual-TLS signer (test/reference/sidecar.int.test.ts).
provision_stunnel() {
  ensure_debian_packages stunnel4
}

# promtool checks and unit-tests the alerting rules (test/alerts.test.ts); Debian ships it in the
# server's package. Installing it does not start a server here (no init system runs one).
provision_promtool() {
  ensure_debian_packages prometheus
}

# pg_dump and pg_restore for the API database's backup and the restore drill (deploy/backup.sh).
provision_postgresql_client() {
  ensure_debian_packages postgresql-client
}

# The Node services' curve: the N-API addon over Debian's libsecp256k1 (native/secp256k1/), built by
# node-gyp with the compiler and Python it needs. Built here, not by an npm install script: npm
# 11's allowScripts policy only warns about a dependency's scripts today and is meant to block them,
# and the root package's own install hook would run before this script has installed the library.
provision_native_curve() {
  ensure_debian_packages libsecp256k1-dev pkg-config python3 make g++
  bash "$repo_dir/native/secp256k1/build.sh"
}

# Bitcoin Knots in <repo>/.cache/knots for regtest nodes (bitcoind/regtest.ts).
provision_knots() {
  bash "$repo_dir/bitcoind/scripts/install-knots.sh" "$repo_dir/.cache/knots"
}

main() {
  provision_native_curve
  provision_softhsm
  provision_rabbitmq
  provision_knots
  provision_chromium
  provision_compose_client
  provision_stunnel
  provision_promtool
  provision_postgresql_client
}

main "$@"
