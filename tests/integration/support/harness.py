"""Processes the integration tests run: the built Worker in workerd (wrangler dev) and small
loopback HTTP servers for upstream faults a real Prefect server cannot produce."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
WORK = ROOT / ".work"
LOGS = WORK / "logs"
WRANGLER = ROOT / "node_modules" / ".bin" / "wrangler"
NODE22 = ROOT / "node_modules" / "node" / "bin" / "node"

WORKER_STARTUP_SECONDS = 90

# The KV namespace whose binding turns the Worker's OAuth authorization server on.
OAUTH_KV_CONFIG = """[[kv_namespaces]]
binding = "OAUTH_KV"
id = "local-oauth-kv"
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def quiet_node_env() -> dict[str, str]:
    """No telemetry, no update checks, no prompts: the machine has no internet."""
    env = dict(os.environ)
    env.update(WRANGLER_SEND_METRICS="false", WRANGLER_HIDE_BANNER="true", CI="true", NO_COLOR="1")
    return env


def post_json(url: str, body: dict, headers: dict[str, str] | None = None, timeout: float = 10) -> tuple[int, dict, dict]:
    """POST a JSON-RPC body; returns (status, headers, parsed body or {})."""
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST")
    request.add_header("content-type", "application/json")
    request.add_header("accept", "application/json, text/event-stream")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
            return response.status, dict(response.headers), (json.loads(raw) if raw else {})
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            parsed = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            parsed = {"raw": raw.decode(errors="replace")}
        return error.code, dict(error.headers), parsed


def local_config(name: str, extra: str) -> Path:
    """wrangler.local.toml plus `extra` (e.g. a `[[ratelimits]]` binding), written under
    .work/ for one test Worker."""
    text = (ROOT / "wrangler.local.toml").read_text()
    text = text.replace('main = "build/index.js"', f'main = "{ROOT / "build" / "index.js"}"')
    assert str(ROOT) in text, "wrangler.local.toml no longer sets main = \"build/index.js\""
    path = WORK / f"wrangler.{name}.toml"
    WORK.mkdir(exist_ok=True)
    path.write_text(f"{text}\n# Added by tests/integration/support/harness.py for the `{name}` Worker.\n{extra}")
    return path


# For benchmarks: wrangler dev prints each request's log line to its terminal, which cost
# 1-3 ms per request here and is not part of a deployed Worker; at "warn" it prints none.
QUIET = "warn"


class Worker:
    """The built Worker (build/) on a loopback port, served by `wrangler dev` (what tests and
    scripts/dev.sh use) or, with runtime="miniflare", by workerd without wrangler's dev proxy
    (what benchmarks use). Its console output (one JSON line per request) and the runner's
    own go to `log_path`."""

    def __init__(self, name: str, variables: dict[str, str], extra_config: str | None = None,
                 log_level: str = "info", runtime: str = "wrangler", oauth: bool = False):
        """`oauth=True` binds the KV namespace OAUTH_KV, which turns the Worker's OAuth
        authorization server on; its local state starts empty in `kv_dir`."""
        if not (ROOT / "build" / "index.js").exists():
            raise RuntimeError("build/index.js is missing: run scripts/build.sh first")
        LOGS.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.url = f"{self.origin}/mcp"
        self.log_path = LOGS / f"worker-{name}.log"
        self.oauth = oauth
        self.kv_dir = WORK / "kv" / name
        if oauth:
            shutil.rmtree(self.kv_dir, ignore_errors=True)
            self.kv_dir.mkdir(parents=True)
        if runtime == "miniflare":
            command = self._miniflare_command(variables, extra_config)
        else:
            if oauth:
                extra_config = f"{extra_config or ''}\n{OAUTH_KV_CONFIG}"
            command = self._wrangler_command(variables, extra_config, log_level)
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(command, cwd=ROOT, env=quiet_node_env(), stdout=self._log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

    def _wrangler_command(self, variables: dict[str, str], extra_config: str | None, log_level: str) -> list[str]:
        config = local_config(self.name, extra_config) if extra_config else ROOT / "wrangler.local.toml"
        command = [str(WRANGLER), "dev", "--config", str(config), "--ip", "127.0.0.1",
                   "--port", str(self.port), "--inspector-port", str(free_port()), "--log-level", log_level]
        if self.oauth:
            command += ["--persist-to", str(self.kv_dir)]
        for key, value in variables.items():
            command += ["--var", f"{key}:{value}"]
        return command

    def _miniflare_command(self, variables: dict[str, str], extra_config: str | None) -> list[str]:
        """workerd through Miniflare's API (tests/integration/support/miniflare.mjs): the vars of
        wrangler.local.toml overridden by `variables`, no bindings beyond vars. Every console
        line reaches the log (`log_level` is wrangler's)."""
        if extra_config:
            raise ValueError("extra wrangler config needs runtime='wrangler'")
        config = tomllib.loads((ROOT / "wrangler.local.toml").read_text())
        bindings = {**config.get("vars", {}), **variables}
        command = [str(NODE22), str(ROOT / "tests" / "integration" / "support" / "miniflare.mjs"), str(self.port),
                   config["compatibility_date"], json.dumps(bindings)]
        return command + [str(self.kv_dir)] if self.oauth else command

    def wait_ready(self, headers: dict[str, str] | None = None) -> "Worker":
        """Waits for a ping to succeed; `headers` (e.g. an access token) go with the ping. An
        OAuth Worker answers an anonymous ping with 401, so without `headers` it waits for its
        authorization-server metadata instead."""
        deadline = time.monotonic() + WORKER_STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if self.oauth and not headers:
                    with urllib.request.urlopen(f"{self.origin}/.well-known/oauth-authorization-server", timeout=2):
                        return self
                status, _, body = post_json(self.url, {"jsonrpc": "2.0", "id": 0, "method": "ping"}, headers,
                                              timeout=2)
                if status == 200 and "result" in body:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"worker {self.name} did not start; log:\n{self.log_path.read_text()[-3000:]}")

    def log_entries(self) -> list[dict]:
        """The Worker's structured log lines so far (lines of the log that are JSON objects
        with a `requestId`)."""
        entries = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line.strip())
            except json.JSONDecodeError:
                continue
            if isinstance(entry, dict) and "requestId" in entry:
                entries.append(entry)
        return entries

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()


def call_counting_upstream(url: str, name: str, arguments: dict, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    """One stateless `tools/call` (2025-11-25 era): the number of Prefect requests it made
    (the `x-upstream-requests` response header) and its structured result."""
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments}}
    status, response_headers, body = post_json(url, call, {"MCP-Protocol-Version": "2025-11-25", **(headers or {})})
    assert status == 200, body
    upstream = {k.lower(): v for k, v in response_headers.items()}.get("x-upstream-requests", "0")
    return int(upstream), body["result"]["structuredContent"]
