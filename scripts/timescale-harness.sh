#!/usr/bin/env bash
# Serves a throwaway TimescaleDB for the store tests: PGlite (PostgreSQL 17 + TimescaleDB,
# compiled to WASM, from npm) behind a small wire-protocol server (timescale-harness/serve.mjs),
# in memory, on 127.0.0.1, on a free port. scripts/timescale-harness/README.md says what works
# on it and what does not.
#
#   eval "$(scripts/timescale-harness.sh start)"   # sets OMSD_TIMESCALE_DATABASE_URL and
#   export OMSD_TIMESCALE_DATABASE_URL             # TIMESCALE_HARNESS_DIR
#   cargo test -p omsd --test store_suite
#   scripts/timescale-harness.sh stop "$TIMESCALE_HARNESS_DIR"
#
# `start --create-extension` has the server run `CREATE EXTENSION timescaledb` before it
# accepts clients; by default the extension is only available and a client creates it.
# `check` starts a server, runs a representative SQL session with psql and stops it.
#
# The pinned npm packages of scripts/timescale-harness/package.json are installed on first use
# into .harness/timescale/ (git-ignored) and reused while the lock file is unchanged. The server
# serves one client connection at a time; further connections wait until it disconnects.
# Progress goes to stderr; stdout carries only the lines to eval.
set -euo pipefail

readonly READY_TIMEOUT_SECONDS=60
readonly STOP_TIMEOUT_SECONDS=10

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly script_dir
readonly package_dir="$script_dir/timescale-harness"
install_dir="$(dirname "$script_dir")/.harness/timescale"
readonly install_dir

die() {
    echo "timescale-harness: $*" >&2
    exit 1
}

usage() {
    echo "usage: $0 start [--create-extension] | stop DIR | check" >&2
    exit 2
}

# Installs the pinned packages unless the installed ones match the checked-in lock file.
install_packages() {
    command -v node >/dev/null 2>&1 || die "node not found"
    command -v npm >/dev/null 2>&1 || die "npm not found"
    mkdir -p "$install_dir"
    (
        # Concurrent starts install once.
        flock 9
        if cmp -s "$package_dir/package-lock.json" "$install_dir/installed.lock" &&
            [[ -d "$install_dir/node_modules" ]]; then
            exit 0
        fi
        echo "timescale-harness: installing npm packages into $install_dir" >&2
        rm -f "$install_dir/installed.lock"
        cp "$package_dir/package.json" "$package_dir/package-lock.json" "$install_dir/"
        (cd "$install_dir" && npm ci --no-audit --no-fund) >&2 ||
            die "npm ci failed in $install_dir"
        cp "$package_dir/package-lock.json" "$install_dir/installed.lock"
    ) 9>"$install_dir/.install.lock"
}

start() {
    local create_extension="${1:-}" dir pid port url
    install_packages
    dir="$(mktemp -d "${TMPDIR:-/tmp}/omsd-timescale.XXXXXX")"
    local serve_options=(--modules "$install_dir/node_modules" --port-file "$dir/port")
    if [[ "$create_extension" == "--create-extension" ]]; then
        serve_options+=(--create-extension)
    fi
    # setsid: the server outlives this script and does not get the caller's terminal signals.
    setsid node "$package_dir/serve.mjs" "${serve_options[@]}" \
        </dev/null >"$dir/server.log" 2>&1 &
    pid=$!
    echo "$pid" >"$dir/pid"
    local deadline=$((SECONDS + READY_TIMEOUT_SECONDS))
    until [[ -s "$dir/port" ]]; do
        kill -0 "$pid" 2>/dev/null || fail_start "$dir" "server exited before listening"
        ((SECONDS < deadline)) || fail_start "$dir" "server not listening in ${READY_TIMEOUT_SECONDS}s"
        sleep 0.2
    done
    port="$(cat "$dir/port")"
    # The server accepts any user, password and database name (it always serves database
    # template1 as user postgres) and has no SSL.
    url="postgres://postgres:postgres@127.0.0.1:$port/postgres"
    wait_ready "$dir" "$pid" "$url" "$deadline"
    echo "timescale-harness: serving on 127.0.0.1:$port (pid $pid)" >&2
    echo "OMSD_TIMESCALE_DATABASE_URL=$url"
    echo "TIMESCALE_HARNESS_DIR=$dir"
}

# Reports a server of DIR that did not come up, with its log, and removes it.
fail_start() {
    local dir="$1" message="$2"
    echo "timescale-harness: server log:" >&2
    sed 's/^/  | /' "$dir/server.log" >&2 || true
    stop "$dir"
    die "$message"
}

# Waits until the server at URL answers a query (not only accepts TCP).
wait_ready() {
    local dir="$1" pid="$2" url="$3" deadline="$4" psql
    psql="$(psql_binary)"
    until "$psql" -X -q -t -A -w "$url" -c 'SELECT 1' >/dev/null 2>&1; do
        kill -0 "$pid" 2>/dev/null || fail_start "$dir" "server exited before answering"
        ((SECONDS < deadline)) || fail_start "$dir" "server not answering in ${READY_TIMEOUT_SECONDS}s"
        sleep 0.2
    done
}

psql_binary() {
    command -v pg_config >/dev/null 2>&1 || die "pg_config not found (PostgreSQL client needed)"
    local psql
    psql="$(pg_config --bindir)/psql"
    [[ -x "$psql" ]] || die "no psql in $(pg_config --bindir)"
    echo "$psql"
}

stop() {
    local dir="$1" pid
    [[ -f "$dir/pid" ]] || die "$dir is not a server made by '$0 start'"
    pid="$(cat "$dir/pid")"
    if kill -TERM "$pid" 2>/dev/null; then
        local deadline=$((SECONDS + STOP_TIMEOUT_SECONDS))
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -rf -- "$dir"
}

# The representative sessions of `check`: the statements the store relies on, then, in a new
# connection, assertions on what they left. A failed ASSERT or statement stops psql with a
# non-zero exit status. (psql's \connect cannot be used: it opens the new connection before it
# closes the old one, and the new one waits for the old one to go.)
check_setup_sql() {
    cat <<'SQL'
\set ON_ERROR_STOP on
CREATE EXTENSION IF NOT EXISTS timescaledb;
CREATE TABLE trades (
    time TIMESTAMPTZ NOT NULL,
    venue TEXT NOT NULL,
    symbol TEXT NOT NULL,
    trade_id BIGINT NOT NULL,
    price NUMERIC NOT NULL,
    quantity NUMERIC NOT NULL,
    UNIQUE (venue, symbol, trade_id, time)
);
SELECT created FROM create_hypertable('trades', by_range('time', INTERVAL '1 day'));
ALTER TABLE trades SET (timescaledb.compress, timescaledb.compress_segmentby = 'venue, symbol');
SELECT add_compression_policy('trades', INTERVAL '7 days') AS compression_job \gset
SELECT add_retention_policy('trades', INTERVAL '90 days') > 0 AS retention_policy;
INSERT INTO trades
SELECT now() - make_interval(days => n), 'binance', 'BTCUSDT', n, 50000.5 + n, 0.25
FROM generate_series(0, 9) AS n;
CREATE MATERIALIZED VIEW candles_1m WITH (timescaledb.continuous) AS
SELECT time_bucket('1 minute', time) AS bucket, venue, symbol,
       first(price, time) AS open, max(price) AS high, min(price) AS low,
       last(price, time) AS close, sum(quantity) AS volume, count(*) AS trades
FROM trades GROUP BY bucket, venue, symbol WITH NO DATA;
SELECT add_continuous_aggregate_policy('candles_1m', start_offset => INTERVAL '30 days',
    end_offset => INTERVAL '1 minute', schedule_interval => INTERVAL '1 minute') AS cagg_job \gset
-- No job scheduler runs in this build: the policies run when called.
CALL run_job(:cagg_job);
CALL run_job(:compression_job);
-- A duplicate of a row in a compressed chunk.
INSERT INTO trades SELECT time, venue, symbol, trade_id, 1, 1 FROM trades WHERE trade_id = 8
ON CONFLICT DO NOTHING;
CREATE TABLE copied (id INT, note TEXT);
COPY copied FROM STDIN;
1	one
2	two
\.
SET TimeZone TO 'Asia/Tokyo';
BEGIN;
CREATE TEMPORARY TABLE scratch (x INT);
SQL
}

check_verify_sql() {
    cat <<'SQL'
\set ON_ERROR_STOP on
-- A new connection: the data is there, the previous session's state is not.
DO $$ BEGIN
    ASSERT (SELECT count(*) FROM trades) = 10, 'trades rows lost';
    ASSERT (SELECT count(*) FROM candles_1m) = 9, 'candles not refreshed by run_job';
    ASSERT (SELECT sum(trades) FROM candles_1m) = 9, 'candles miscounted';
    ASSERT (SELECT count(*) FROM timescaledb_information.chunks
            WHERE hypertable_name = 'trades' AND is_compressed)
        = (SELECT count(*) FROM show_chunks('trades', older_than => INTERVAL '7 days')),
        'chunks not compressed';
    ASSERT (SELECT count(*) FROM show_chunks('trades', older_than => INTERVAL '7 days')) > 0,
        'no chunk old enough to compress';
    ASSERT (SELECT price FROM trades WHERE trade_id = 8) = 50008.5, 'compressed row overwritten';
    ASSERT (SELECT string_agg(note, ',' ORDER BY id) FROM copied) = 'one,two', 'COPY lost rows';
    ASSERT current_setting('TimeZone') = 'GMT', 'session settings leaked';
    ASSERT to_regclass('scratch') IS NULL, 'temporary table leaked';
    ASSERT current_setting('search_path') = '"$user", public', 'search_path not reset';
END $$;
SELECT 'check session passed' AS result;
SQL
}

check() {
    local psql url dir started status=0
    psql="$(psql_binary)"
    started="$(start)" || exit 1
    eval "$started"
    url="$OMSD_TIMESCALE_DATABASE_URL"
    dir="$TIMESCALE_HARNESS_DIR"
    echo "timescale-harness: running the check session against $url" >&2
    check_setup_sql | "$psql" -X -w "$url" -f - >&2 || status=$?
    if ((status == 0)); then
        check_verify_sql | "$psql" -X -w "$url" -f - >&2 || status=$?
    fi
    if ((status != 0)); then
        echo "timescale-harness: server log:" >&2
        sed 's/^/  | /' "$dir/server.log" >&2 || true
    fi
    stop "$dir"
    ((status == 0)) || die "check failed (psql exit status $status)"
    echo "timescale-harness: check passed" >&2
}

case "${1:-}" in
start)
    [[ $# -le 2 && ($# -eq 1 || "$2" == "--create-extension") ]] || usage
    start "${2:-}"
    ;;
stop)
    [[ $# -eq 2 ]] || usage
    stop "$2"
    ;;
check)
    [[ $# -eq 1 ]] || usage
    check
    ;;
*) usage ;;
esac
