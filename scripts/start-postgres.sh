#!/usr/bin/env bash
# Install (when missing) and start a local PostgreSQL for the tests, with a role and a test
# database. Idempotent: safe to run before every test session. Needs root to install.
set -euo pipefail

ROLE=loyalty
PASSWORD=loyalty
DATABASE=loyalty_test

# A server killed without shutting down (or a container snapshot) leaves socket lock files
# naming a process that no longer exists; PostgreSQL then refuses to start.
remove_stale_socket_locks() {
    local lock pid
    for lock in /var/run/postgresql/.s.PGSQL.*.lock; do
        [ -e "$lock" ] || continue
        pid=$(head -n 1 "$lock")
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$lock" "${lock%.lock}"
        fi
    done
}

setup() {
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
        remove_stale_socket_locks
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
}

# Stdout carries only the URL (the Makefile captures it): what the tools print goes to stderr.
setup >&2
echo "postgresql+psycopg://$ROLE:$PASSWORD@127.0.0.1:$PORT/$DATABASE"

