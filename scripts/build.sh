#!/usr/bin/env bash
# Builds the Worker (build/index.js + build/index_bg.wasm) with worker-build, using only
# registry-installed tools: worker-build would otherwise download wasm-bindgen and
# wasm-opt from GitHub, which is unreachable here and unnecessary everywhere.
set -euo pipefail
cd "$(dirname "$0")/.."

lock_version=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/[^0-9.]/, ""); print; exit}' Cargo.lock)
cli_version=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')
if [[ "$lock_version" != "$cli_version" ]]; then
  echo "build: Cargo.lock pins wasm-bindgen $lock_version but wasm-bindgen-cli is ${cli_version:-missing};" \
       "run scripts/setup.sh" >&2
  exit 1
fi

export WASM_BINDGEN_BIN=wasm-bindgen
export WASM_OPT_BIN="$PWD/node_modules/.bin/wasm-opt"
export ESBUILD_BIN="$PWD/node_modules/.bin/esbuild"
echo "build: worker-build --release" >&2
worker-build --release "$@"
ls -l build/index_bg.wasm | awk '{printf "build: wasm %d bytes\n", $5}' >&2
