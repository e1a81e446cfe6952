#!/usr/bin/env bash
# The test command. On a fresh Debian machine it installs and starts what the
# suite needs (PostgreSQL, Redis), then runs everything CI runs:
# formatting, lints, proto lint, Helm chart checks and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
# A clean build every time: incremental caches would only cost disk (a full
# run once filled a small disk).
export CARGO_INCREMENTAL=0

log() { printf '\n== %s\n' "$*"; }
apt_updated=0
need_apt() {
  if [ "$apt_updated" = 0 ]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

log "PostgreSQL"
if ! command -v pg_ctlcluster >/dev/null 2>&1; then need_apt postgresql postgresql-client; fi
if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
  cluster=$(ls /etc/postgresql | sort -V | tail -n1)
  pg_ctlcluster --skip-systemctl-redirect "$cluster" main start
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi
export KOMPASS_TEST_DATABASE_URL=${KOMPASS_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
if ! psql "$KOMPASS_TEST_DATABASE_URL" -qtAc 'select 1' >/dev/null 2>&1; then
  # A fresh Debian cluster wants a password over TCP: give postgres one.
  su postgres -c "psql -qc \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null
  export KOMPASS_TEST_DATABASE_URL=postgres://postgres:postgres@127.0.0.1:5432/postgres
fi
psql "$KOMPASS_TEST_DATABASE_URL" -qtAc 'select version()'
# Databases left behind by an interrupted earlier run.
psql "$KOMPASS_TEST_DATABASE_URL" -qtAc \
  "select datname from pg_database where datname ~ '^(kc_|kt)[a-z0-9]{8}' or datname like 'kbench%'" |
  while read -r db; do
    [ -n "$db" ] && psql "$KOMPASS_TEST_DATABASE_URL" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null
  done

log "Redis"
if ! command -v redis-server >/dev/null 2>&1; then need_apt redis-server; fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/kompass-test.log
  for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 1; done
fi
export KOMPASS_TEST_REDIS_URL=${KOMPASS_TEST_REDIS_URL:-redis://127.0.0.1:6379}
redis-cli -h 127.0.0.1 -p 6379 ping

if ! command -v npm >/dev/null 2>&1; then need_apt nodejs npm; fi
if ! command -v python3 >/dev/null 2>&1; then need_apt python3 python3-pip; fi
if ! command -v pdftotext >/dev/null 2>&1; then need_apt poppler-utils; fi

log "Format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings

log "Protos (buf lint)"
bash scripts/lint-protos.sh

log "Helm chart"
bash scripts/helm-check.sh

log "Tests"
# Each test makes its own databases; a few at a time keeps the 2-core machine
# and PostgreSQL's max_connections comfortable.
# cargo-nextest (on the machine image) runs the tests of every binary side by
# side; `cargo test` runs one binary after another, and most of ours hold one
# to four slow tests, so that left cores idle. There are no doctests.
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast -j "${KOMPASS_TEST_THREADS:-4}"
else
  cargo test --workspace -- --test-threads "${KOMPASS_TEST_THREADS:-4}"
fi

log "Browser tests (console)"
# Debian's Chromium, driven by playwright-core; a test tool's own browser
# download does not work here.
if ! command -v chromium >/dev/null 2>&1; then need_apt chromium; fi
if [ ! -d tests/browser/node_modules ]; then (cd tests/browser && npm ci --no-audit --no-fund); fi
# The whole workspace, as the tests built it: building only `-p kompass`
# unifies dependency features differently and rebuilt them (~4 minutes).
cargo build --workspace --all-targets --quiet
chromium --version
(cd tests/browser && KOMPASS_BIN="$PWD/../../target/debug/kompass" node --test --test-concurrency=1)
