#!/usr/bin/env bash
# Validates docker-compose.yml with a compose client (no engine needed): `docker compose` when the
# plugin is there, else Debian's docker-compose. The variables the file requires from .env are given
# placeholder values, so the check does not depend on deploy/make-secrets.sh having run.
set -euo pipefail
cd "$(dirname "$0")/.."
if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
  compose=(docker-compose)
else
  echo "check-compose: no compose client (docker compose plugin or Debian's docker-compose)" >&2
  exit 3
fi
export PIPELINE_CERT_FINGERPRINT="${PIPELINE_CERT_FINGERPRINT:-00:00}"
export PIPELINE_SIGNERS="${PIPELINE_SIGNERS:-[]}"
"${compose[@]}" -f docker-compose.yml config -q
echo "check-compose: docker-compose.yml is valid (${compose[*]})"
