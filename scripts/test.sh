#!/usr/bin/env bash
# The whole test suite on a fresh machine: formatting and lint gates, a throwaway PostgreSQL
# cluster for the tests that need one (stopped and removed on exit), then every test of the
# workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings

cluster_env=$(scripts/pg-test-cluster.sh start)
eval "$cluster_env"
trap 'scripts/pg-test-cluster.sh stop "$PGDATA_DIR"' EXIT
export OMSD_TEST_DATABASE_URL

cargo test --workspace --locked

# Unmodified third-party clients (ccxt, python-binance, binance-sdk-spot) against the simulator,
# in a virtualenv under .venv/ that this script creates.
scripts/python-clients.sh
