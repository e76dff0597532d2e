#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers on 127.0.0.1:5432 for the tests, and
# prints the URL to use. On the project's machines it already runs (trust
# auth, database `test`); elsewhere Debian's package is installed and started.
set -euo pipefail

url_trust="postgres://postgres@127.0.0.1:5432/test"
url_password="postgres://postgres:chuangwen-test@127.0.0.1:5432/test"

answers() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
connects() { psql "$1" -Atqc 'SELECT 1' >/dev/null 2>&1; }

if ! command -v pg_isready >/dev/null 2>&1 || ! answers; then
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "ensure-postgres: installing Debian's postgresql" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
  fi
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 || true
  for _ in $(seq 1 30); do answers && break; sleep 1; done
  answers || { echo "ensure-postgres: PostgreSQL did not start" >&2; exit 1; }
fi

if connects "$url_trust"; then echo "$url_trust"; exit 0; fi
if connects "$url_password"; then echo "$url_password"; exit 0; fi

# A fresh Debian install asks for a password over TCP: give the postgres
# role a test-only one (the server listens on loopback only) and create `test`.
su postgres -c "psql -Atqc \"ALTER USER postgres PASSWORD 'chuangwen-test'\"" >&2
su postgres -c "psql -Atqc 'CREATE DATABASE test'" >/dev/null 2>&1 || true
connects "$url_password" || { echo "ensure-postgres: cannot connect to PostgreSQL" >&2; exit 1; }
echo "$url_password"
