#!/usr/bin/env bash
# Makes sure the store tests can log in to PostgreSQL: installs Debian's postgresql when there
# is none, starts the machine's cluster when it is stopped, and gives the `postgres` role the
# password of the tests' URL, postgres://postgres:postgres@127.0.0.1:5432/postgres.
#
# Debian's server listens on localhost only and its pg_hba.conf asks TCP clients for a
# password (scram-sha-256), while the `postgres` role has none: a known password is the
# one change, and it is only usable from this machine. It is set through the local socket
# as the `postgres` system user (peer authentication).
#
# With CLASSLINK_TEST_POSTGRES_URL set, nothing is installed or changed: the script only
# checks that URL logs in. Tests make and drop their own databases; nothing here assumes
# data from an earlier run.
set -euo pipefail

default_url="postgres://postgres:postgres@127.0.0.1:5432/postgres"
url="${CLASSLINK_TEST_POSTGRES_URL:-$default_url}"

log() { echo "ensure-postgres: $*" >&2; }
ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
login_error() { PGCONNECT_TIMEOUT=5 psql "$url" -qtAc 'select 1' 2>&1 >/dev/null; }
logs_in() { PGCONNECT_TIMEOUT=5 psql "$url" -qtAc 'select 1' >/dev/null 2>&1; }

if [ -n "${CLASSLINK_TEST_POSTGRES_URL:-}" ]; then
  command -v psql >/dev/null || { log "psql is needed to check $url (apt-get install postgresql-client)"; exit 1; }
  logs_in && exit 0
  log "cannot log in with CLASSLINK_TEST_POSTGRES_URL: $(login_error)"
  exit 1
fi

if command -v pg_isready >/dev/null && ready && logs_in; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  log "PostgreSQL on 127.0.0.1:5432 does not take $default_url, and only root can fix that here; or point the tests at another server with CLASSLINK_TEST_POSTGRES_URL"
  exit 1
fi

if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends postgresql >&2
fi
version=$(ls /etc/postgresql | sort -V | tail -n1)
if ! ready; then
  pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 || true
  for _ in $(seq 1 30); do
    ready && break
    sleep 1
  done
  ready || { log "PostgreSQL $version did not start on 127.0.0.1:5432"; exit 1; }
fi

logs_in && exit 0
log "setting the password of role postgres for logins from this machine"
runuser -u postgres -- psql -qX -p 5432 -c "ALTER ROLE postgres PASSWORD 'postgres'" >&2
logs_in && exit 0
log "still cannot log in with $default_url: $(login_error)"
log "check /etc/postgresql/$version/main/pg_hba.conf: a 'host all all 127.0.0.1/32 scram-sha-256' line"
exit 1
