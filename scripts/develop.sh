#!/usr/bin/env bash
# Builds the Python extension in release mode and installs it, editable, into the venv.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${VENV:-.venv}
VIRTUAL_ENV="$(pwd)/$venv" "$venv/bin/maturin" develop --release --quiet --extras service
