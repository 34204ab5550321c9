#!/usr/bin/env bash
# Backups of the staking back end's state: the indexer's LMDB store (a hot, consistent copy made by
# LMDB itself) and the API's PostgreSQL database (pg_dump, custom format, for pg_restore).
#
#   deploy/backup.sh indexer  <indexer.toml> <out-dir>
#   deploy/backup.sh postgres <database-url> <out-file>
#   deploy/backup.sh all      <indexer.toml> <database-url> <out-dir>
#   deploy/backup.sh signer-log <audit.jsonl> <out-dir>
#
# `all` copies the indexer first, then the database, into <out-dir>/indexer-store and
# <out-dir>/api.pgdump, and writes <out-dir>/manifest.json. That order is what makes a restore
# lossless: the database then holds at least every event the store's copy had already published,
# and the restored indexer re-emits everything after its copy's height (same event ids, which the
# API absorbs).
#
# `signer-log` copies a covenant signer's audit log (whole lines only: a live log may be mid-write)
# to <out-dir>/audit.jsonl and prints its head, {"seq", "hash", "records"}, also written to
# <out-dir>/audit-head.json. Keep the printed head apart from the copy (the backup ticket, another
# host): after a restore into a fresh token nothing else vouches for the copy (README, "Backups and
# restore"). The signer's key is backed up once, at the ceremony (hsm/ceremonyCli.ts export-backup).
#
# A database password comes from PGPASSWORD_FILE (a file readable only by its owner), never from
# the command line. Run it from the repository root (the indexer's CLI runs with tsx).
set -euo pipefail

die() {
  echo "backup.sh: $*" >&2
  exit 1
}

repo_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if [[ -n ${PGPASSWORD_FILE:-} ]]; then
  [[ -r $PGPASSWORD_FILE ]] || die "cannot read PGPASSWORD_FILE $PGPASSWORD_FILE"
  PGPASSWORD=$(<"$PGPASSWORD_FILE")
  export PGPASSWORD
fi

backup_indexer() {
  local config=$1 out=$2
  [[ -r $config ]] || die "cannot read the indexer config $config"
  (cd "$repo_dir" && node --import tsx indexer/main.ts backup --config "$config" --out "$out")
}

backup_postgres() {
  local url=$1 out=$2
  command -v pg_dump >/dev/null || die "pg_dump is missing (Debian: apt-get install postgresql-client)"
  # Written aside, then renamed: a failed dump never leaves a file that looks complete.
  pg_dump --format=custom --no-owner --no-privileges --file "$out.partial" --dbname "$url"
  mv "$out.partial" "$out"
  echo "{\"file\":\"$out\",\"bytes\":$(stat -c %s "$out")}"
}

backup_signer_log() {
  local log=$1 out=$2 size cut copy last
  [[ -r $log ]] || die "cannot read the audit log $log"
  mkdir -p "$out"
  copy=$out/audit.jsonl
  (umask 077 && : >"$copy.partial")
  # A fixed length, read once: the signer may append while we copy.
  size=$(stat -c %s "$log")
  head -c "$size" "$log" >"$copy.partial"
  if [[ -s $copy.partial && $(tail -c 1 "$copy.partial" | od -An -tx1 | tr -d ' ') != 0a ]]; then
    cut=$(tail -n 1 "$copy.partial" | wc -c)
    truncate -s "-$cut" "$copy.partial"
  fi
  mv "$copy.partial" "$copy"
  if [[ -s $copy ]]; then
    last=$(tail -n 1 "$copy")
    [[ $last =~ ^\{\"seq\":([0-9]+), && $last =~ ,\"hash\":\"([0-9a-f]{64})\"(,\"mac\":\"[0-9a-f]{64}\")?\}$ ]] ||
      die "the last record of $copy has no seq or hash: run signer verify-audit on it"
    [[ $last =~ ^\{\"seq\":([0-9]+), ]] && seq=${BASH_REMATCH[1]}
    [[ $last =~ ,\"hash\":\"([0-9a-f]{64})\" ]] && hash=${BASH_REMATCH[1]}
  else
    seq=0 hash=0000000000000000000000000000000000000000000000000000000000000000
  fi
  printf '{"seq":%s,"hash":"%s","records":%s}\n' "$seq" "$hash" "$(wc -l <"$copy")" | tee "$out/audit-head.json"
}

case ${1:-} in
  indexer)
    (($# == 3)) || die "usage: backup.sh indexer <indexer.toml> <out-dir>"
    backup_indexer "$(realpath "$2")" "$(realpath -m "$3")"
    ;;
  postgres)
    (($# == 3)) || die "usage: backup.sh postgres <database-url> <out-file>"
    backup_postgres "$2" "$3"
    ;;
  all)
    (($# == 4)) || die "usage: backup.sh all <indexer.toml> <database-url> <out-dir>"
    out=$(realpath -m "$4")
    mkdir -p "$out"
    started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    indexer=$(backup_indexer "$(realpath "$2")" "$out/indexer-store")
    postgres=$(backup_postgres "$3" "$out/api.pgdump")
    printf '{"started":"%s","finished":"%s","indexer":%s,"postgres":%s}\n' \
      "$started" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$indexer" "$postgres" >"$out/manifest.json"
    cat "$out/manifest.json"
    ;;
  signer-log)
    (($# == 3)) || die "usage: backup.sh signer-log <audit.jsonl> <out-dir>"
    backup_signer_log "$2" "$(realpath -m "$3")"
    ;;
  *)
    die "usage: backup.sh indexer <indexer.toml> <out-dir> | postgres <database-url> <out-file> | all <indexer.toml> <database-url> <out-dir> | signer-log <audit.jsonl> <out-dir>"
    ;;
esac
