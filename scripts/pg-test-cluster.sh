#!/usr/bin/env bash
# Runs a throwaway PostgreSQL cluster for the store tests: trust auth, 127.0.0.1 only, a free
# port, fsync off, everything in one temporary directory. `start --durable` keeps PostgreSQL's
# durable defaults (fsync, synchronous_commit, full_page_writes on) for benchmarks, where a
# commit must cost what it costs in production.
#
#   eval "$(scripts/pg-test-cluster.sh start)"   # sets OMSD_TEST_DATABASE_URL and PGDATA_DIR
#   export OMSD_TEST_DATABASE_URL
#   cargo test -p omsd --test store_suite
#   scripts/pg-test-cluster.sh stop "$PGDATA_DIR"
#
# `pause DIR` stops the server and keeps its data; `resume DIR` starts it again on the same
# port (store-outage tests).
#
# The binaries come from `pg_config --bindir` (PostgreSQL need not be on PATH; if pg_config is
# missing, the postgresql package is installed). initdb refuses to run as root, so as root the
# cluster runs as the `postgres` user. Progress goes to stderr; stdout carries only the lines
# to eval.
set -euo pipefail

readonly READY_TIMEOUT_SECONDS=30

die() {
    echo "pg-test-cluster: $*" >&2
    exit 1
}

usage() {
    echo "usage: $0 start [--durable] | stop DIR | pause DIR | resume DIR" >&2
    exit 2
}

# The directory holding initdb, pg_ctl and pg_isready.
find_bindir() {
    if ! command -v pg_config >/dev/null 2>&1; then
        echo "pg-test-cluster: pg_config not found; installing postgresql" >&2
        apt-get install -y postgresql >&2 || die "cannot install postgresql"
    fi
    local bindir
    bindir="$(pg_config --bindir)"
    [[ -x "$bindir/initdb" && -x "$bindir/pg_ctl" ]] || die "no initdb/pg_ctl in $bindir"
    echo "$bindir"
}

# Runs a command as the cluster's owner: `postgres` when we are root, else ourselves.
as_owner() {
    if [[ "$(id -u)" -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# A TCP port nobody listens on right now.
free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

start() {
    local durable="${1:-}" bindir dir port
    bindir="$(find_bindir)"
    dir="$(mktemp -d "${TMPDIR:-/tmp}/omsd-pg.XXXXXX")"
    if [[ "$(id -u)" -eq 0 ]]; then
        chown postgres: "$dir"
    fi
    port="$(free_port)"
    as_owner "$bindir/initdb" -D "$dir/data" -A trust -U postgres --no-sync \
        >"$dir/initdb.log" 2>&1 || die "initdb failed, see $dir/initdb.log"
    local server_options="-c listen_addresses=127.0.0.1 -p $port"
    server_options+=" -c unix_socket_directories=$dir"
    if [[ "$durable" == "--durable" ]]; then
        server_options+=" -c fsync=on -c synchronous_commit=on -c full_page_writes=on"
    else
        # Durability is pointless for a throwaway test cluster: trade it for speed.
        server_options+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    fi
    echo "$port" >"$dir/port"
    echo "$server_options" >"$dir/server.options"
    launch "$bindir" "$dir"
    echo "OMSD_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:$port/postgres"
    echo "PGDATA_DIR=$dir"
}

# Starts the server of cluster DIR with the options it was created with; waits until ready.
launch() {
    local bindir="$1" dir="$2" port server_options
    port="$(cat "$dir/port")"
    server_options="$(cat "$dir/server.options")"
    as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "$server_options" \
        -w -t "$READY_TIMEOUT_SECONDS" start >&2 || die "server did not start, see $dir/server.log"
    local deadline=$((SECONDS + READY_TIMEOUT_SECONDS))
    until "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres; do
        ((SECONDS < deadline)) || die "not ready in ${READY_TIMEOUT_SECONDS}s, see $dir/server.log"
        sleep 0.2
    done
}

pause() {
    local dir="$1" bindir
    [[ -f "$dir/port" ]] || die "$dir is not a cluster made by '$0 start'"
    bindir="$(find_bindir)"
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || die "server did not stop"
}

resume() {
    local dir="$1"
    [[ -f "$dir/port" ]] || die "$dir is not a cluster made by '$0 start'"
    launch "$(find_bindir)" "$dir"
}

stop() {
    local dir="$1" bindir
    [[ -d "$dir/data" ]] || die "$dir is not a cluster made by '$0 start'"
    bindir="$(find_bindir)"
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >&2 || true
    rm -rf -- "$dir"
}

case "${1:-}" in
start)
    [[ $# -le 2 && ( $# -eq 1 || "$2" == "--durable" ) ]] || usage
    start "${2:-}"
    ;;
stop | pause | resume)
    [[ $# -eq 2 ]] || usage
    "$1" "$2"
    ;;
*) usage ;;
esac
