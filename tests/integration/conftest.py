"""Session fixtures: one real Prefect server (basic auth on), seeded once by our fixture
script, and the built Worker in workerd in two configurations."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from dataclasses import dataclass

import pytest

from fake_upstream import FakeUpstream
from harness import ROOT, WORK, Worker
from oauth_support import oauth_personal_worker, oauth_team_worker  # noqa: F401 - the OAuth tests' Workers

sys.path.insert(0, str(ROOT / "scripts"))
from prefect_server import temporary_server  # noqa: E402

# A password with colons: the auth string splits at the first one only.
AUTH_STRING = "mcp-user:pa:ss"


@dataclass
class Prefect:
    api_url: str
    auth_string: str
    manifest: dict

    def rest(self, method: str, path: str, body: dict | None = None) -> object:
        """Calls the Prefect REST API directly, to compute what the tools should return."""
        import urllib.request

        request = urllib.request.Request(f"{self.api_url}/{path}", method=method,
                                         data=json.dumps(body).encode() if body is not None else None)
        request.add_header("content-type", "application/json")
        request.add_header("authorization", "Basic " + base64.b64encode(self.auth_string.encode()).decode())
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())


@pytest.fixture(scope="session")
def prefect() -> Prefect:
    with temporary_server(WORK, "prefect-test-", auth_string=AUTH_STRING) as (server, home):
        manifest_path = home / "manifest.json"
        subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "seed_prefect.py"), "--api-url", server.api_url,
             "--auth-string", AUTH_STRING, "--manifest", str(manifest_path)],
            check=True, cwd=ROOT,
        )
        yield Prefect(server.api_url, AUTH_STRING, json.loads(manifest_path.read_text()))


@pytest.fixture(scope="module")
def fake():
    """A scriptable fake Prefect on loopback, for faults a real server cannot produce."""
    server = FakeUpstream()
    yield server
    server.close()


@pytest.fixture(scope="session")
def worker_with_secrets(prefect: Prefect) -> str:
    """Prefect credentials configured as Worker secrets (basic auth)."""
    worker = Worker("secrets", {"PREFECT_API_URL": prefect.api_url, "PREFECT_API_AUTH_STRING": prefect.auth_string})
    try:
        yield worker.wait_ready().url
    finally:
        worker.stop()


@pytest.fixture(scope="session")
def worker_without_secrets() -> str:
    """No Prefect secrets: callers bring X-Prefect-Api-* headers. Short upstream timeout
    so the fault tests stay quick."""
    worker = Worker("headers", {"UPSTREAM_TIMEOUT_MS": "1500"})
    try:
        yield worker.wait_ready().url
    finally:
        worker.stop()


@pytest.fixture(scope="session")
def header_credentials(prefect: Prefect) -> dict[str, str]:
    return {"X-Prefect-Api-Url": prefect.api_url, "X-Prefect-Api-Auth-String": prefect.auth_string}


# Access tokens of the gated Worker; clients send `Authorization: Bearer <one of them>`.
ACCESS_TOKENS = ("tok-alpha-7Qx2", "tok-beta-Zr94")


@pytest.fixture(scope="session")
def gated_worker(prefect: Prefect) -> str:
    """Production-like: MCP_ACCESS_TOKENS set, Prefect secrets behind them, no opt-outs
    (wrangler.local.toml's ALLOW_* are overridden), so loopback header URLs are refused."""
    worker = Worker("gated", {"PREFECT_API_URL": prefect.api_url, "PREFECT_API_AUTH_STRING": prefect.auth_string,
                              "MCP_ACCESS_TOKENS": ",".join(ACCESS_TOKENS), "ALLOW_UNAUTHENTICATED": "false",
                              "ALLOW_PRIVATE_PREFECT_URLS": "false"})
    try:
        yield worker.wait_ready({"Authorization": f"Bearer {ACCESS_TOKENS[0]}"}).url
    finally:
        worker.stop()
