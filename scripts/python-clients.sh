#!/usr/bin/env bash
# Drives unmodified third-party Binance clients (ccxt, python-binance, binance-sdk-spot) against
# omsd-sim: creates the virtualenv .venv/clients (reused while requirements.txt is unchanged),
# builds omsd-sim and runs the pytest suite in exchanges/sim/tests/clients. Exits with pytest's
# code; "no tests collected" counts as a failure. Extra arguments go to pytest (e.g. -k ccxt).
# OMSD_SIM_BIN, when set, names the simulator binary to test and skips the build.
set -euo pipefail
cd "$(dirname "$0")/.."

tests_dir=exchanges/sim/tests/clients
venv=$(scripts/venv.sh clients "$tests_dir/requirements.txt")

# Ask cargo where it put the binary rather than guessing the target directory.
if [[ -z ${OMSD_SIM_BIN:-} ]]; then
    OMSD_SIM_BIN=$(
        cargo build --locked -p exchange-sim --bin omsd-sim \
            --message-format=json-render-diagnostics |
            python3 -c '
import json, sys
for line in sys.stdin:
    message = json.loads(line)
    if message.get("reason") == "compiler-artifact" and message.get("executable") \
            and message["target"]["name"] == "omsd-sim":
        print(message["executable"])
'
    )
fi
if [[ ! -x $OMSD_SIM_BIN ]]; then
    echo "python-clients: omsd-sim binary not found (OMSD_SIM_BIN=$OMSD_SIM_BIN)" >&2
    exit 1
fi
export OMSD_SIM_BIN

status=0
"$venv/bin/python" -m pytest -q "$tests_dir" "$@" || status=$?
if [[ $status -eq 5 ]]; then
    echo "python-clients: pytest collected no tests" >&2
    exit 1
fi
exit "$status"
