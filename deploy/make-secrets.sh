#!/usr/bin/env bash
# Makes what docker-compose.yml mounts and nothing in git holds: passwords, HSM PINs, the mutual-TLS
# PKI, bitcoind's rpcauth line, RabbitMQ's user, and the first .env. Idempotent: an existing file is
# kept, so running it again never rotates a secret behind a running system's back.
#
# Usage: bash deploy/make-secrets.sh [OUT_DIR]      (default: deploy/generated; .env beside the compose file)
#
# File secrets in compose (without swarm) are bind mounts that keep the host file's owner and mode,
# and the services refuse a secret file that group or others can read. Run as root so each file can
# be given to the user that reads it in its container: uid 1000 (the services' image, user node),
# 999 (postgres and rabbitmq in their official images). As another user, the files stay yours.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/deploy/generated}"
env_file="${ENV_FILE:-$root/.env}"
umask 077
mkdir -p "$out/secrets" "$out/pki"
chmod 700 "$out"

log() { printf 'make-secrets: %s\n' "$*"; }
give() { # give <uid> <file>: owner of a secret, when we may
  if [ "$(id -u)" = 0 ]; then chown "$1:$1" "$2"; fi
}
secret() { # secret <name> <uid>: 24 random bytes, hex, mode 0600
  local f="$out/secrets/$1"
  if [ ! -s "$f" ]; then
    openssl rand -hex 24 >"$f"
    log "new secret $1"
  fi
  chmod 600 "$f"
  give "$2" "$f"
}

for name in bitcoind_rpc_password rabbitmq_password postgres_password \
  signer0_pin signer1_pin signer2_pin signer0_so_pin signer1_so_pin signer2_so_pin; do
  secret "$name" 1000
done
# The database server reads its own copy as uid 999.
if [ ! -s "$out/secrets/postgres_password.server" ]; then
  cp "$out/secrets/postgres_password" "$out/secrets/postgres_password.server"
fi
chmod 600 "$out/secrets/postgres_password.server"
give 999 "$out/secrets/postgres_password.server"

# bitcoind knows the RPC password only as rpcauth's salted HMAC-SHA256 (share/rpcauth/rpcauth.py).
if [ ! -s "$out/bitcoin.conf" ]; then
  salt="$(openssl rand -hex 16)"
  hmac="$(tr -d '\n' <"$out/secrets/bitcoind_rpc_password" | openssl dgst -sha256 -hmac "$salt" -r | cut -d' ' -f1)"
  cat >"$out/bitcoin.conf" <<CONF
# Made by deploy/make-secrets.sh. The services log in as "staking" with secrets/bitcoind_rpc_password.
server=1
txindex=1
rpcauth=staking:$salt\$$hmac
CONF
  log "bitcoin.conf with an rpcauth line for user staking"
fi
chmod 644 "$out/bitcoin.conf"

if [ ! -s "$out/secrets/rabbitmq.conf" ]; then
  printf 'default_user = staking\ndefault_pass = %s\nloopback_users = none\n' \
    "$(tr -d '\n' <"$out/secrets/rabbitmq_password")" >"$out/secrets/rabbitmq.conf"
  log "rabbitmq.conf with user staking"
fi
chmod 600 "$out/secrets/rabbitmq.conf"
give 999 "$out/secrets/rabbitmq.conf"

# The PKI: one CA; a server certificate per signer (its compose host name); the pipeline's client certificate.
pki="$out/pki"
ossl() { openssl "$@" 2>/dev/null; }
if [ ! -s "$pki/ca.crt" ]; then
  ossl ecparam -name prime256v1 -genkey -noout -out "$pki/ca.key"
  ossl req -x509 -new -key "$pki/ca.key" -sha256 -days 825 -subj "/CN=staking covenant CA" -out "$pki/ca.crt" \
    -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign'
  log "new CA"
fi
issue() { # issue <name> serverAuth|clientAuth
  local name="$1" usage="$2"
  [ -s "$pki/$name.crt" ] && return 0
  ossl ecparam -name prime256v1 -genkey -noout -out "$pki/$name.key"
  ossl req -new -key "$pki/$name.key" -subj "/CN=$name" -out "$pki/$name.csr"
  {
    if [ "$usage" = serverAuth ]; then printf 'subjectAltName=DNS:%s,DNS:localhost,IP:127.0.0.1\n' "$name"; fi
    printf 'extendedKeyUsage=%s\nkeyUsage=critical,digitalSignature\n' "$usage"
  } >"$pki/$name.ext"
  ossl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 825 -sha256 -extfile "$pki/$name.ext" -out "$pki/$name.crt"
  rm -f "$pki/$name.csr" "$pki/$name.ext"
  log "certificate $name ($usage)"
}
for i in 0 1 2; do issue "signer-$i" serverAuth; done
issue pipeline clientAuth
chmod 644 "$pki"/*.crt
chmod 600 "$pki"/*.key
for k in "$pki"/signer-*.key "$pki/pipeline.key"; do give 1000 "$k"; done

# Until the key ceremony writes the committee, the params are the template's (so the mount is a file).
if [ ! -s "$out/global-params.json" ]; then
  cp "$root/deploy/config/global-params.template.json" "$out/global-params.json"
fi
chmod 644 "$out/global-params.json"

fingerprint="$(openssl x509 -in "$pki/pipeline.crt" -noout -fingerprint -sha256 | cut -d= -f2)"
touch "$env_file"
if grep -q '^PIPELINE_CERT_FINGERPRINT=' "$env_file"; then
  sed -i "s/^PIPELINE_CERT_FINGERPRINT=.*/PIPELINE_CERT_FINGERPRINT=$fingerprint/" "$env_file"
else
  printf 'PIPELINE_CERT_FINGERPRINT=%s\n' "$fingerprint" >>"$env_file"
fi
log "done: $out (the signers accept the client certificate $fingerprint)"
