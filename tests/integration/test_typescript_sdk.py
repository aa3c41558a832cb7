"""The official TypeScript SDK (Client + StreamableHTTPClientTransport) against the Worker in workerd,
through tests/js/sdk_client.mjs, with Worker secrets and with per-request credential headers."""

from __future__ import annotations

import json
import shutil
import subprocess

from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

from harness import ROOT, quiet_node_env
from mcp_client import EXPECTED_TOOLS

SCRIPT = ROOT / "tests" / "js" / "sdk_client.mjs"
LIMIT = 2  # sdk_client.mjs calls get_flows with {"limit": 2}


def run_sdk_client(url: str, headers: dict[str, str] | None = None) -> dict:
    node = shutil.which("node")
    assert node, "`node` is not on PATH: the TypeScript SDK test needs Node >= 20 (install bug)"
    assert SCRIPT.is_file(), f"{SCRIPT} is missing"
    command = [node, str(SCRIPT), url]
    for name, value in (headers or {}).items():
        command += ["--header", f"{name}={value}"]
    completed = subprocess.run(command, cwd=ROOT, env=quiet_node_env(), capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, (
        f"sdk_client.mjs exited {completed.returncode}\nstdout:\n{completed.stdout}\nstderr:\n{completed.stderr}")
    lines = completed.stdout.strip().splitlines()
    assert len(lines) == 1, f"expected one JSON line, got:\n{completed.stdout}\nstderr:\n{completed.stderr}"
    return json.loads(lines[0])


def rest_flows(prefect) -> list[dict]:
    return prefect.rest("POST", "flows/filter", {"limit": 200})


def check_report(report: dict, prefect) -> None:
    assert report["protocolVersion"] in HANDSHAKE_PROTOCOL_VERSIONS, report["protocolVersion"]
    assert report["serverInfo"]["name"] == "Prefect MCP Server", report["serverInfo"]
    assert report["serverInfo"]["version"], report["serverInfo"]
    assert report["toolNames"] == EXPECTED_TOOLS, report["toolNames"]
    assert report["orientationIsError"] is False

    flows = report["flows"]
    assert flows["success"] is True and flows["error"] is None, flows
    assert flows["count"] == LIMIT == len(flows["flows"]), flows
    total = len(rest_flows(prefect))
    assert total >= LIMIT, f"the seeded Prefect server should hold at least {LIMIT} flows, has {total}"
    assert flows["truncated"] is (total > LIMIT), (total, flows)
    # get_flows sorts by name; the two flows are the REST API's first two by name.
    expected = prefect.rest("POST", "flows/filter", {"sort": "NAME_ASC", "limit": LIMIT})
    assert [f["id"] for f in flows["flows"]] == [f["id"] for f in expected]


def test_typescript_sdk_with_worker_secrets(worker_with_secrets, prefect):
    check_report(run_sdk_client(worker_with_secrets), prefect)


def test_typescript_sdk_with_credential_headers(worker_with_secrets, worker_without_secrets, prefect):
    headers = {"X-Prefect-Api-Url": prefect.api_url, "X-Prefect-Api-Auth-String": prefect.auth_string}
    via_headers = run_sdk_client(worker_without_secrets, headers)
    check_report(via_headers, prefect)
    assert via_headers["flows"] == run_sdk_client(worker_with_secrets)["flows"]
