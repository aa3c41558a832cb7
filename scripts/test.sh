#!/usr/bin/env bash
# The whole test suite: installs what is missing, then native unit tests, the wasm build,
# and the integration tests (the built Worker in workerd against a real Prefect server,
# driven by the official MCP clients, the conformance suite and Claude Code).
set -euo pipefail
cd "$(dirname "$0")/.."
export WRANGLER_SEND_METRICS=false WRANGLER_HIDE_BANNER=true

started=$SECONDS
phase() { echo; echo "== $* ($((SECONDS - started)) s elapsed)" >&2; }

phase "setup"
bash scripts/setup.sh
phase "format and lint"
cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
phase "native unit tests"
cargo test --locked
phase "wasm build"
bash scripts/build.sh
phase "integration tests"
.venv/bin/python -m pytest tests/integration "$@"
phase "all tests passed"
