#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests of the SQLAlchemy adapter.
#
# The adapter must pass its whole suite on a real PostgreSQL server, not only on SQLite, and
# neither a developer nor CI should have to configure one. This script makes a private cluster
# in a temporary directory (Debian's `postgresql` package; `scripts/bootstrap.sh` installs it),
# listening on a unix socket inside that directory only: no TCP port, so it cannot clash with
# another server or another checkout, and nothing outside this machine can reach it. It trusts
# local connections and turns fsync off: it holds test data only.
#
#   scripts/postgres.sh start        start the server (if not running); print its URL
#   scripts/postgres.sh url          print the SQLAlchemy URL of the running server
#   scripts/postgres.sh stop         stop the server and delete its directory
#   scripts/postgres.sh run CMD...   run CMD with LEASEKIT_TEST_POSTGRES_URL set, starting the
#                                    server first if needed and stopping it after if it started it
#                                    (a URL already in the environment is used as it is)
#
# The directory is per checkout (`LEASEKIT_PG_DIR` overrides it). As root the server runs as the
# `postgres` user, which PostgreSQL requires; as anyone else, as that user.
set -euo pipefail
cd "$(dirname "$0")/.."

checkout_hash=$(pwd -P | sha256sum | cut -c1-12)
pg_dir=${LEASEKIT_PG_DIR:-${TMPDIR:-/tmp}/leasekit-pg-$checkout_hash}
data_dir=$pg_dir/data
socket_dir=$pg_dir/socket
log_file=$pg_dir/server.log
database=leasekit_test

say() { printf 'postgres.sh: %s\n' "$*" >&2; }

bin_dir() {
    local found
    found=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null |
        sort -V | tail -n 1)
    if [ -z "$found" ] || [ ! -x "$found/initdb" ]; then
        say "no PostgreSQL server found under /usr/lib/postgresql; run scripts/bootstrap.sh"
        exit 1
    fi
    printf '%s\n' "$found"
}

as_server_user() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

url() {
    printf 'postgresql+asyncpg://postgres@/%s?host=%s\n' "$database" "$socket_dir"
}

running() {
    [ -f "$data_dir/postmaster.pid" ] &&
        as_server_user "$(bin_dir)/pg_ctl" status -D "$data_dir" >/dev/null 2>&1
}

start() {
    local bin
    bin=$(bin_dir)
    if running; then
        url
        return 0
    fi

    if [ ! -f "$data_dir/PG_VERSION" ]; then
        rm -rf "$pg_dir"
        mkdir -p "$data_dir" "$socket_dir"
        chmod 700 "$pg_dir"
        [ "$(id -u)" -eq 0 ] && chown -R postgres:postgres "$pg_dir"
        as_server_user "$bin/initdb" -D "$data_dir" -U postgres -A trust -E UTF8 \
            --no-sync >"$pg_dir/initdb.log" 2>&1 || {
            cat "$pg_dir/initdb.log" >&2
            exit 1
        }
    fi

    local options="-c listen_addresses='' -k $socket_dir -c fsync=off"
    options+=" -c synchronous_commit=off -c full_page_writes=off -c max_connections=100"
    if ! as_server_user "$bin/pg_ctl" start -D "$data_dir" -l "$log_file" -w -t 60 \
        -o "$options" >/dev/null; then
        say "the server did not start; its log:"
        cat "$log_file" >&2
        exit 1
    fi

    if ! as_server_user "$bin/psql" -h "$socket_dir" -U postgres -d postgres -tAq \
        -c "SELECT 1 FROM pg_database WHERE datname = '$database'" | grep -qx 1; then
        as_server_user "$bin/createdb" -h "$socket_dir" -U postgres "$database"
    fi
    url
}

stop() {
    if running; then
        as_server_user "$(bin_dir)/pg_ctl" stop -D "$data_dir" -m fast -w >/dev/null
    fi
    rm -rf "$pg_dir"
}

run() {
    if [ -n "${LEASEKIT_TEST_POSTGRES_URL:-}" ]; then
        "$@"
        return
    fi
    local started_here=0 status=0
    running || started_here=1
    LEASEKIT_TEST_POSTGRES_URL=$(start)
    export LEASEKIT_TEST_POSTGRES_URL
    "$@" || status=$?
    if [ "$started_here" -eq 1 ]; then
        stop
    fi
    return "$status"
}

case "${1:-}" in
    start) start ;;
    url)
        running || { say "not running; use: scripts/postgres.sh start"; exit 1; }
        url
        ;;
    stop) stop ;;
    run)
        shift
        [ $# -gt 0 ] || { say "usage: scripts/postgres.sh run COMMAND [ARGS...]"; exit 2; }
        run "$@"
        ;;
    *)
        say "usage: scripts/postgres.sh start|url|stop|run COMMAND [ARGS...]"
        exit 2
        ;;
esac
