#!/usr/bin/env bash
# Install (when missing) and start a local PostgreSQL for the tests, with a role and a test
# database. Idempotent: safe to run before every test session. Needs root to install.
set -euo pipefail

ROLE=loyalty
PASSWORD=loyalty
DATABASE=loyalty_test

if [ ! -d /usr/lib/postgresql ] || [ -z "$(ls /usr/lib/postgresql 2>/dev/null)" ]; then
    if [ "$(id -u)" != "0" ]; then
        echo "start-postgres: PostgreSQL is not installed and this is not root; install the Debian package 'postgresql'." >&2
        exit 1
    fi
    echo "start-postgres: installing PostgreSQL (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi

VERSION=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -qx "$VERSION main"; then
    pg_createcluster "$VERSION" main >/dev/null
fi
if ! pg_lsclusters -h | awk -v v="$VERSION" '$1 == v && $2 == "main" {print $4}' | grep -qx online; then
    pg_ctlcluster "$VERSION" main start
fi
PORT=$(pg_lsclusters -h | awk -v v="$VERSION" '$1 == v && $2 == "main" {print $3}')

for _ in $(seq 1 30); do
    pg_isready -q -h 127.0.0.1 -p "$PORT" && break
    sleep 1
done

as_postgres() { runuser -u postgres -- psql -p "$PORT" -v ON_ERROR_STOP=1 -tAq "$@"; }
if [ "$(as_postgres -c "select 1 from pg_roles where rolname = '$ROLE'")" != "1" ]; then
    as_postgres -c "create role $ROLE login superuser password '$PASSWORD'"
fi
if [ "$(as_postgres -c "select 1 from pg_database where datname = '$DATABASE'")" != "1" ]; then
    as_postgres -c "create database $DATABASE owner $ROLE"
fi
echo "postgresql+psycopg://$ROLE:$PASSWORD@127.0.0.1:$PORT/$DATABASE"
