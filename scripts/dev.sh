#!/usr/bin/env bash
# Runs the Worker locally at http://127.0.0.1:8787/mcp (PORT overrides the port) against the
# Prefect server the `prefect` CLI would use: PREFECT_API_URL / PREFECT_API_KEY /
# PREFECT_API_AUTH_STRING from the environment, else from the active Prefect profile
# (scripts/prefect_profile.py). With neither, it starts a local Prefect server (state kept in
# .work/prefect-demo) with a small demo dataset. Ctrl-C stops everything.
# Written for bash 3.2 too (macOS): no negative array indices, no setsid.
set -euo pipefail
cd "$(dirname "$0")/.."
export WRANGLER_SEND_METRICS=false WRANGLER_HIDE_BANNER=true
PORT=${PORT:-8787}
say() { echo "dev: $*" >&2; }

bash scripts/setup.sh
if [[ ! -f build/index_bg.wasm ]] || [[ -n "$(find src Cargo.toml Cargo.lock -newer build/index_bg.wasm -print -quit)" ]]; then
  bash scripts/build.sh
fi

# Each background service runs in its own process group (`set -m` while starting it), so the
# terminal's Ctrl-C reaches only this script, and cleanup stops every process of each service
# (wrangler's workerd, the Prefect server's uvicorn) by group.
service_groups=()
start_in_own_group() { set -m; "$@" < /dev/null & set +m; service_groups+=($!); }
stop_groups() {
  local group
  for group in ${service_groups[@]+"${service_groups[@]}"}; do kill -TERM -- "-$group" 2>/dev/null || true; done
  for group in ${service_groups[@]+"${service_groups[@]}"}; do
    for _ in $(seq 1 50); do kill -0 -- "-$group" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$group" 2>/dev/null || true
  done
}
# The Prefect settings reach wrangler in a dotenv file only this user can read, never on a
# command line (which every local user can see in `ps`).
vars_dir=$(mktemp -d)
vars_file="$vars_dir/prefect.env"
cleanup() { stop_groups; rm -rf "$vars_dir"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

resolved=$(.venv/bin/python scripts/prefect_profile.py --vars-file "$vars_file")
eval "$resolved" # source, profile, profiles_path, api_url, summary; no secrets
say "Prefect settings: $summary"
if [[ "$source" == demo ]]; then
  home=.work/prefect-demo
  mkdir -p "$home"
  say "starting a local Prefect server (logs: $home/server.log)"
  start_in_own_group .venv/bin/python scripts/prefect_server.py --home "$home" --port "${PREFECT_PORT:-4200}" > "$home/url"
  for _ in $(seq 1 120); do [[ -s "$home/url" ]] && break; sleep 1; done
  api_url=$(head -n1 "$home/url")
  [[ -n "$api_url" ]] || { say "Prefect did not start; see $home/server.log"; exit 1; }
  if [[ ! -f "$home/manifest.json" ]]; then
    say "seeding the demo dataset (about 30 s, once)"
    .venv/bin/python scripts/seed_prefect.py --api-url "$api_url" --manifest "$home/manifest.json"
  fi
  echo "PREFECT_API_URL='$api_url'" > "$vars_file"
fi

say "Prefect API: $api_url"
say "MCP endpoint: http://127.0.0.1:$PORT/mcp"
say "add it to Claude Code with:"
echo "  claude mcp add --transport http prefect http://127.0.0.1:$PORT/mcp"
# --env-file also keeps wrangler from reading a .dev.vars here: that file is for deployments.
start_in_own_group node_modules/.bin/wrangler dev --config wrangler.local.toml --ip 127.0.0.1 --port "$PORT" \
  --env-file "$vars_file"
wait "${service_groups[${#service_groups[@]}-1]}"
