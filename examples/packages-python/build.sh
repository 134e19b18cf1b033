#!/bin/sh
# Builds packages-python.wasm from collector.py (one command: sh build.sh).
#
# componentize-py, pinned in requirements.txt, is installed into .venv (or
# the virtual environment $VENV names); the contract comes from the
# driftwatch on PATH (or $DRIFTWATCH), as `driftwatch plugin wit` writes it.
set -eu
cd "$(dirname "$0")"
venv=${VENV:-.venv}
[ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r requirements.txt
rm -rf build && "${DRIFTWATCH:-driftwatch}" plugin wit build/wit
"$venv/bin/componentize-py" -d build/wit -w packages-collector componentize collector -o packages-python.wasm
echo "built $(pwd)/packages-python.wasm"
