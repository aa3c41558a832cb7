"""Claude Code (the `claude` CLI from @anthropic-ai/claude-code) registers the Worker as an HTTP MCP
server and its health check (`claude mcp list`) connects to it: handshake plus tool listing, no model
and no Anthropic account needed. Runs with an isolated HOME and every update/telemetry/non-essential
network feature switched off; the machine has no internet."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from conftest import ACCESS_TOKENS
from harness import ROOT, Worker

CLAUDE = ROOT / "node_modules" / ".bin" / "claude"
COMMAND_TIMEOUT_SECONDS = 120
# The protocol version the pinned Claude Code speaks to this server (package.json pins it).
CLAUDE_CODE_ERA = "2026-07-28"


def claude_env(home: Path) -> dict[str, str]:
    """A clean environment: nothing from the caller's Claude/Anthropic setup or proxies leaks in."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "CLAUDE_CONFIG_DIR": str(home / ".claude"),
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_UPDATES": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "NO_COLOR": "1",
        "CI": "true",
    }


def claude(home: Path, *args: str) -> str:
    assert CLAUDE.exists(), f"{CLAUDE} is missing: install @anthropic-ai/claude-code (install bug)"
    project = home / "project"  # `mcp add` defaults to local scope, keyed by the working directory
    project.mkdir(exist_ok=True)
    completed = subprocess.run([str(CLAUDE), *args], cwd=project, env=claude_env(home), capture_output=True,
                               text=True, timeout=COMMAND_TIMEOUT_SECONDS, stdin=subprocess.DEVNULL)
    assert completed.returncode == 0, (
        f"claude {' '.join(args)} exited {completed.returncode}\nstdout:\n{completed.stdout}\nstderr:\n{completed.stderr}")
    return completed.stdout


def server_status(listing: str, name: str, url: str) -> str:
    """The status of one server in `claude mcp list` output: `<name>: <url> (HTTP) - ✔ Connected`."""
    lines = [line for line in listing.splitlines() if line.startswith(f"{name}: ")]
    assert len(lines) == 1, f"no single `{name}` line in `claude mcp list`:\n{listing}"
    match = re.fullmatch(rf"{re.escape(name)}: {re.escape(url)} \(HTTP\) - (.+)", lines[0].strip())
    assert match, lines[0]
    return match[1]


def test_claude_code_connects_with_worker_secrets(tmp_path, worker_with_secrets):
    claude(tmp_path, "mcp", "add", "--transport", "http", "prefect", worker_with_secrets)
    status = server_status(claude(tmp_path, "mcp", "list"), "prefect", worker_with_secrets)
    assert status.endswith("Connected") and "Failed" not in status, status


def test_claude_code_connects_with_credential_headers(tmp_path, worker_without_secrets, prefect):
    claude(tmp_path, "mcp", "add", "--transport", "http", "prefect-headers", worker_without_secrets,
           "--header", f"X-Prefect-Api-Url: {prefect.api_url}",
           "--header", f"X-Prefect-Api-Auth-String: {prefect.auth_string}")
    listing = claude(tmp_path, "mcp", "list")
    status = server_status(listing, "prefect-headers", worker_without_secrets)
    assert status.endswith("Connected") and "Failed" not in status, status
    details = claude(tmp_path, "mcp", "get", "prefect-headers")
    assert f"X-Prefect-Api-Url: {prefect.api_url}" in details, details
    assert f"X-Prefect-Api-Auth-String: {prefect.auth_string}" in details, details


def test_claude_code_connects_to_a_gated_worker_with_the_bearer_header(tmp_path, gated_worker):
    claude(tmp_path, "mcp", "add", "--transport", "http", "prefect-gated", gated_worker,
           "--header", f"Authorization: Bearer {ACCESS_TOKENS[0]}")
    claude(tmp_path, "mcp", "add", "--transport", "http", "prefect-no-token", gated_worker)
    listing = claude(tmp_path, "mcp", "list")
    status = server_status(listing, "prefect-gated", gated_worker)
    assert status.endswith("Connected") and "Failed" not in status, status
    refused = server_status(listing, "prefect-no-token", gated_worker)
    assert not refused.endswith("Connected"), refused


def test_claude_code_connects_to_a_toolset_path_behind_the_gate(tmp_path, gated_worker):
    url = f"{gated_worker}/x/runs,deployments"
    claude(tmp_path, "mcp", "add", "--transport", "http", "prefect-runs", url,
           "--header", f"Authorization: Bearer {ACCESS_TOKENS[0]}")
    status = server_status(claude(tmp_path, "mcp", "list"), "prefect-runs", url)
    assert status.endswith("Connected") and "Failed" not in status, status


@pytest.fixture(scope="module")
def logged_worker(prefect):
    """A Worker of its own, so that its log holds only Claude Code's requests (wrangler's `log`
    level shows the Worker's console.log lines)."""
    worker = Worker("claude-code", {"PREFECT_API_URL": prefect.api_url, "PREFECT_API_AUTH_STRING": prefect.auth_string},
                    log_level="log")
    try:
        yield worker.wait_ready()
    finally:
        worker.stop()


def test_claude_code_speaks_the_2026_07_28_era(tmp_path, logged_worker):
    """The Worker's log line records the protocol version each request was served under."""
    claude(tmp_path, "mcp", "add", "--transport", "http", "prefect", logged_worker.url)
    before = len(logged_worker.log_entries())
    status = server_status(claude(tmp_path, "mcp", "list"), "prefect", logged_worker.url)
    assert status.endswith("Connected"), status
    deadline = time.monotonic() + 10
    while not any(e.get("rpcMethod") == "tools/list" for e in logged_worker.log_entries()[before:]):
        assert time.monotonic() < deadline, logged_worker.log_entries()[before:]
        time.sleep(0.2)
    requests = [e for e in logged_worker.log_entries()[before:] if "rpcMethod" in e]
    assert requests[0]["rpcMethod"] == "server/discover", requests
    assert "initialize" not in {e["rpcMethod"] for e in requests}, requests
    assert {e.get("era") for e in requests} == {CLAUDE_CODE_ERA}, requests
