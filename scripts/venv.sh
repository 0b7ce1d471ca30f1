#!/usr/bin/env bash
# Creates (or reuses) the virtualenv .venv/NAME with exactly the packages of REQUIREMENTS and
# prints its directory. It is reused while REQUIREMENTS is unchanged; the stamp is written
# last, so an interrupted install is redone from scratch on the next run.
#
#   scripts/venv.sh NAME REQUIREMENTS
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $# -ne 2 ]]; then
    echo "usage: scripts/venv.sh NAME REQUIREMENTS" >&2
    exit 2
fi
venv=.venv/$1
requirements=$2
stamp=$venv/requirements.sha256

wanted=$(sha256sum "$requirements" | cut -d' ' -f1)
if [[ ! -x $venv/bin/python || ! -f $stamp || $(<"$stamp") != "$wanted" ]]; then
    echo "venv: creating $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" >&2
    echo "$wanted" >"$stamp"
fi
echo "$PWD/$venv"
