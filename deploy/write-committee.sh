#!/usr/bin/env bash
# Writes the covenant committee the key ceremony produced where the deployment reads it:
#   <OUT_DIR>/global-params.json   deploy/config/global-params.template.json with covenant_pks added
#   .env PIPELINE_SIGNERS          the pipeline's signer list (name, URL, key, CA) as JSON
#
# Usage: bash deploy/write-committee.sh <key-signer-0> <key-signer-1> <key-signer-2>
#        (33-byte compressed hex keys, as `generate-key` and `show-key` print them)
# Environment: OUT_DIR (default deploy/generated), ENV_FILE (default .env beside docker-compose.yml)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${OUT_DIR:-$root/deploy/generated}"
env_file="${ENV_FILE:-$root/.env}"
(($# == 3)) || { echo "usage: $0 <key-signer-0> <key-signer-1> <key-signer-2>" >&2; exit 2; }
for key in "$@"; do
  [[ $key =~ ^0[23][0-9a-f]{64}$ ]] || { echo "write-committee: not a compressed public key: $key" >&2; exit 2; }
done

mkdir -p "$out"
list="\"$1\", \"$2\", \"$3\""
sed -E "s/^( *)\"tag\": (.*),$/&\n\1\"covenant_pks\": [$list],/" \
  "$root/deploy/config/global-params.template.json" >"$out/global-params.json.new"
mv "$out/global-params.json.new" "$out/global-params.json"
chmod 644 "$out/global-params.json"

signers="["
i=0
for key in "$@"; do
  [ "$i" = 0 ] || signers+=","
  signers+="{\"name\":\"signer-$i\",\"url\":\"https://signer-$i:9791\",\"public_key\":\"$key\",\"ca_file\":\"/run/secrets/tls_ca\"}"
  i=$((i + 1))
done
signers+="]"
touch "$env_file"
sed -i '/^PIPELINE_SIGNERS=/d' "$env_file"
printf "PIPELINE_SIGNERS='%s'\n" "$signers" >>"$env_file"
echo "write-committee: $out/global-params.json and PIPELINE_SIGNERS in $env_file"
