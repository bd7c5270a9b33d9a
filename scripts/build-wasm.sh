#!/usr/bin/env bash
# Builds the wasm module for the web (ES module, for pages and workers) and for Node (tests),
# shrinks it with wasm-opt from the npm package `binaryen`, and prints its size.
#
# The wasm-bindgen CLI must be the exact version the crate pins, or its output does not match
# the crate: it is installed from crates.io only when that version is not already on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
step() { printf '==> %s\n' "$*"; }

pinned=$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)"$/\1/p' wasm-binding/Cargo.toml)
if [ -z "$pinned" ]; then
    echo "build-wasm: wasm-bindgen is not pinned with = in wasm-binding/Cargo.toml" >&2
    exit 1
fi

if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $pinned" ]; then
    # No --locked: the CLI's own lockfile asks for a crate version the registry does not serve.
    # --debug builds twice as fast and produces identical output.
    step "cargo install wasm-bindgen-cli --version $pinned"
    cargo install wasm-bindgen-cli --version "$pinned" --no-default-features --debug --quiet
fi

wasm_opt=node_modules/.bin/wasm-opt
if [ ! -x "$wasm_opt" ]; then
    step "npm ci (for wasm-opt)"
    npm ci --no-audit --no-fund
fi

rustup target add wasm32-unknown-unknown >/dev/null 2>&1

# Only this crate: building the workspace for wasm32 would pull in SQLite's C build. The
# profile (root Cargo.toml) optimises for size.
step "cargo build -p leasekit-wasm --target wasm32-unknown-unknown --profile wasm-release"
cargo build -p leasekit-wasm --target wasm32-unknown-unknown --profile wasm-release --quiet
built=target/wasm32-unknown-unknown/wasm-release/leasekit_wasm.wasm

for target in web nodejs; do
    out=wasm-binding/pkg-${target%js}
    step "wasm-bindgen --target $target --out-dir $out"
    rm -rf "$out"
    wasm-bindgen --target "$target" --out-dir "$out" "$built"
    "$wasm_opt" -Oz "$out/leasekit_wasm_bg.wasm" -o "$out/leasekit_wasm_bg.wasm"
done

module=wasm-binding/pkg-web/leasekit_wasm_bg.wasm
raw=$(wc -c <"$module")
gzipped=$(gzip -9 -c "$module" | wc -c)
printf 'wasm size: %d bytes raw (%d KiB), %d bytes gzipped (%d KiB)\n' \
    "$raw" $((raw / 1024)) "$gzipped" $((gzipped / 1024))

# The browser demo `leasekit serve` shows at /: the page and worker sources beside the web build,
# in the layout their relative imports expect (`./pkg-web/...`). Build output, git-ignored.
ui=py-binding/python/leasekit/service/ui
step "copy the demo page, the lease worker and the web build into $ui"
rm -rf "$ui"
mkdir -p "$ui/pkg-web"
cp wasm-binding/web/*.html wasm-binding/web/*.css wasm-binding/web/*.js "$ui/"
cp wasm-binding/pkg-web/leasekit_wasm.js wasm-binding/pkg-web/leasekit_wasm_bg.wasm "$ui/pkg-web/"
