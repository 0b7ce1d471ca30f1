#!/usr/bin/env bash
# Runs the order-path and market-writer benchmarks on SQLite and on a durable throwaway PostgreSQL cluster
# (fsync on), then stops the cluster. Loopback only.
#
#   scripts/bench.sh            # cargo bench --bench order_path, then --bench market_writer,
#                               # with OMSD_BENCH_DATABASE_URL set
set -euo pipefail
cd "$(dirname "$0")/.."

eval "$(scripts/pg-test-cluster.sh start --durable)"
trap 'scripts/pg-test-cluster.sh stop "$PGDATA_DIR"' EXIT
# The fsync baseline of the PostgreSQL table is measured where the cluster keeps its WAL.
export OMSD_BENCH_DATABASE_URL="$OMSD_TEST_DATABASE_URL"
export OMSD_BENCH_FSYNC_DIR="$PGDATA_DIR"
cargo bench --bench order_path "$@"
cargo bench --bench market_writer
