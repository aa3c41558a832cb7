#!/usr/bin/env bash
# Installs everything the build, the tests and the local server need, from package
# registries only (crates.io, npm, PyPI, Debian apt). Idempotent: each step is skipped when done.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { echo "setup: $*" >&2; }
WORKER_BUILD_VERSION=0.8.7
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/[^0-9.]/, ""); print; exit}' Cargo.lock)

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  step "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if [[ "$(worker-build --version 2>/dev/null)" != "$WORKER_BUILD_VERSION" ]]; then
  step "installing worker-build $WORKER_BUILD_VERSION (about 3 minutes)"
  cargo install worker-build --version "$WORKER_BUILD_VERSION" --locked
fi

if [[ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]]; then
  # Not --locked: its lockfile pins a crate version this registry mirror does not serve.
  step "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (2-5 minutes)"
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi

# A real browser for the consent-page tests: Debian's Chromium and its WebDriver. Selenium is
# given /usr/bin/chromedriver, so it never downloads a driver of its own.
if ! command -v chromium >/dev/null || [[ ! -x /usr/bin/chromedriver ]]; then
  step "installing chromium and chromium-driver (apt)"
  sudo_if_needed=$([[ $(id -u) -eq 0 ]] || echo sudo)
  $sudo_if_needed apt-get update -qq
  $sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    chromium chromium-driver
fi

npm_stamp=node_modules/.installed-package-lock.json
if ! cmp -s package-lock.json "$npm_stamp" 2>/dev/null; then
  step "installing npm packages (wrangler, MCP SDK, conformance suite, Claude Code)"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$npm_stamp"
fi

requirements_stamp=.venv/.requirements-dev.txt
if [[ ! -x .venv/bin/python ]] || ! cmp -s requirements-dev.txt "$requirements_stamp"; then
  step "creating .venv with Prefect and the Python MCP SDK"
  [[ -x .venv/bin/python ]] || python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
  cp requirements-dev.txt "$requirements_stamp"
fi
# The oldest Prefect server the README promises, for tests/integration/test_prefect_compat.py.
# `pip install prefect==3.0.*` would pull today's dependencies, which that server cannot start
# with; uv's --exclude-newer installs the versions of its release instead.
PREFECT_COMPAT_VERSION=3.0.11
PREFECT_COMPAT_RELEASED=2024-10-26T00:00:00Z  # the day after 3.0.11 was published
compat_stamp=.venv-prefect-compat/.installed
if [[ "$(cat "$compat_stamp" 2>/dev/null)" != "$PREFECT_COMPAT_VERSION $PREFECT_COMPAT_RELEASED" ]]; then
  step "creating .venv-prefect-compat with Prefect $PREFECT_COMPAT_VERSION and its release's dependencies"
  rm -rf .venv-prefect-compat
  python3 -m venv --without-pip .venv-prefect-compat
  .venv/bin/uv pip install --quiet --python .venv-prefect-compat/bin/python \
    --exclude-newer "$PREFECT_COMPAT_RELEASED" "prefect==$PREFECT_COMPAT_VERSION"
  echo "$PREFECT_COMPAT_VERSION $PREFECT_COMPAT_RELEASED" > "$compat_stamp"
fi
step "ready"
