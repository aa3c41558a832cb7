"""The official conformance suite's `authorization` command (@modelcontextprotocol/conformance, the
authorization-server scenarios) against the Worker in workerd: the metadata endpoint, then the
authorization-code grant. The suite prints the authorization URL and waits on its own callback
server; the test plays the person at the browser (fills the consent form, follows the redirect to
the suite's callback), and the suite redeems the code and judges the token response."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time

import httpx2

from harness import NODE22, ROOT, WORK, free_port, quiet_node_env
from oauth_support import AuthorizationServer, Page, team_credentials
from test_conformance import CONFORMANCE

SCENARIOS = {"authorization-server-metadata-endpoint", "authorization-code-grant"}
RUN_TIMEOUT_SECONDS = 120


def deliver(location: str) -> httpx2.Response:
    """The browser arriving at the suite's callback, which the suite may still be opening (it
    announces the URL before its callback server has reported listening)."""
    deadline = time.monotonic() + 10
    while True:
        try:
            return httpx2.get(location, timeout=10)
        except httpx2.ConnectError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_conformance_authorization_scenarios(oauth_team_worker):
    assert NODE22.is_file() and CONFORMANCE.is_file(), "conformance CLI or Node 22 missing (install bug)"
    server = AuthorizationServer(oauth_team_worker)
    port = free_port()
    client = server.register(redirect_uris=[f"http://127.0.0.1:{port}/callback"])
    output_dir = WORK / "conformance-authorization"
    shutil.rmtree(output_dir, ignore_errors=True)
    output_dir.mkdir(parents=True)
    command = [str(NODE22), str(CONFORMANCE), "authorization", "--url", server.origin, "--client-id", client.client_id,
               "--resource", server.resource, "--port", str(port), "-o", str(output_dir)]
    process = subprocess.Popen(command, cwd=ROOT, env=quiet_node_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    timer = threading.Timer(RUN_TIMEOUT_SECONDS, process.kill)
    timer.start()
    lines: list[str] = []
    try:
        for line in process.stdout:
            lines.append(line)
            if line.startswith(server.metadata["authorization_endpoint"] + "?"):
                # The person at the browser: consent, then follow the redirect to the suite's callback.
                page = Page.of(server.open(line.strip()))
                redirect = server.submit(page, team_credentials())
                assert redirect.status_code in (302, 303), (redirect.status_code, redirect.text[:1000])
                callback = deliver(redirect.headers["location"])
                assert callback.status_code == 200, callback.text
        process.wait()
    finally:
        timer.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
    output = "".join(lines)
    (output_dir / "output.txt").write_text(output)
    assert process.returncode == 0, output[-6000:]

    checks = {}
    for path in output_dir.glob("authorization-server-*/checks.json"):
        scenario = re.match(r"authorization-server-(.+)-\d{4}-\d{2}-\d{2}T", path.parent.name)[1]
        checks[scenario] = json.loads(path.read_text())
    assert set(checks) == SCENARIOS, (sorted(checks), output[-3000:])
    statuses = {(scenario, check["id"]): check["status"] for scenario, ran in checks.items() for check in ran}
    assert set(statuses.values()) == {"SUCCESS"}, statuses
    assert ("authorization-code-grant", "authorization-code-grant") in statuses
