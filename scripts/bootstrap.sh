#!/usr/bin/env bash
# Installs what a fresh machine lacks, and nothing that is already there.
#
# Safe to run again: each step checks before it installs. CI and `make` both call it.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${VENV:-.venv}

step() { printf '==> %s\n' "$*"; }

apt_install() {
    local missing=()
    for package in "$@"; do
        dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    step "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

apt_install python3-venv curl postgresql wrk

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    step "rustup target add wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
fi

if [ ! -x "$venv/bin/python" ]; then
    step "python3 -m venv $venv"
    python3 -m venv "$venv"
fi

stamp="$venv/.requirements-dev.sha256"
wanted=$(sha256sum requirements-dev.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    step "pip install -r requirements-dev.txt"
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" -m pip install -q -r requirements-dev.txt
    echo "$wanted" >"$stamp"
fi

# JavaScript tools for the wasm module (wasm-opt from npm's binaryen, TypeScript), reinstalled
# exactly from package-lock.json whenever it changes. The wasm-bindgen CLI is installed by
# scripts/build-wasm.sh, which knows the version the crate pins.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    apt_install nodejs npm
fi
js_stamp=node_modules/.package-lock.sha256
js_wanted=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat "$js_stamp" 2>/dev/null)" != "$js_wanted" ]; then
    step "npm ci"
    npm ci --no-audit --no-fund --loglevel=error
    echo "$js_wanted" >"$js_stamp"
fi

# The browser of the end-to-end test (make test-e2e): Debian's Chromium, driven by npm's
# playwright-core, which has no browser download of its own and is never asked for one.
apt_install chromium
