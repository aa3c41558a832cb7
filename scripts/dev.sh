#!/usr/bin/env bash
# Runs the Worker locally at http://127.0.0.1:8787/mcp. Without PREFECT_API_URL it also
# starts a local Prefect server (state kept in .work/prefect-demo) with a small demo
# dataset. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
export WRANGLER_SEND_METRICS=false WRANGLER_HIDE_BANNER=true
PORT=${PORT:-8787}
say() { echo "dev: $*" >&2; }

bash scripts/setup.sh
if [[ ! -f build/index_bg.wasm ]] || [[ -n "$(find src Cargo.toml Cargo.lock -newer build/index_bg.wasm -print -quit)" ]]; then
  bash scripts/build.sh
fi

pids=()
cleanup() { for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

vars=()
if [[ -z "${PREFECT_API_URL:-}" ]]; then
  home=.work/prefect-demo
  mkdir -p "$home"
  say "starting a local Prefect server (logs: $home/server.log)"
  setsid .venv/bin/python scripts/prefect_server.py --home "$home" --port "${PREFECT_PORT:-4200}" > "$home/url" &
  pids+=($!)
  for _ in $(seq 1 120); do [[ -s "$home/url" ]] && break; sleep 1; done
  PREFECT_API_URL=$(head -n1 "$home/url")
  [[ -n "$PREFECT_API_URL" ]] || { say "Prefect did not start; see $home/server.log"; exit 1; }
  if [[ ! -f "$home/manifest.json" ]]; then
    say "seeding the demo dataset (about 30 s, once)"
    .venv/bin/python scripts/seed_prefect.py --api-url "$PREFECT_API_URL" --manifest "$home/manifest.json"
  fi
fi
vars+=(--var "PREFECT_API_URL:$PREFECT_API_URL")
[[ -n "${PREFECT_API_KEY:-}" ]] && vars+=(--var "PREFECT_API_KEY:$PREFECT_API_KEY")
[[ -n "${PREFECT_API_AUTH_STRING:-}" ]] && vars+=(--var "PREFECT_API_AUTH_STRING:$PREFECT_API_AUTH_STRING")

say "Prefect API: $PREFECT_API_URL"
say "MCP endpoint: http://127.0.0.1:$PORT/mcp"
say "add it to Claude Code with:"
echo "  claude mcp add --transport http prefect http://127.0.0.1:$PORT/mcp"
setsid node_modules/.bin/wrangler dev --config wrangler.local.toml --ip 127.0.0.1 --port "$PORT" "${vars[@]}" &
pids+=($!)
wait "${pids[-1]}"
