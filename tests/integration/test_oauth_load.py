"""Bounded load with OAuth: 16 concurrent MCP clients (official Python SDK), each with the access
token of its own grant, against the Worker in workerd and the real seeded Prefect server, in team
mode (Worker secrets) and bring-your-own mode (each grant's stored, encrypted Prefect credentials).
The condition is zero errors; figures are printed, not asserted."""

from __future__ import annotations

import pytest

from load_run import CLIENTS, describe, run_load
from oauth_support import CONSENT_MODES, AuthorizationServer, worker_and_credentials

CALLS_PER_CLIENT = 10


@pytest.mark.parametrize("mode", CONSENT_MODES)
def test_sixteen_concurrent_oauth_clients_without_errors(mode, request, prefect, capsys):
    worker, credentials = worker_and_credentials(mode, request, prefect)
    server = AuthorizationServer(worker)
    headers = []
    for _ in range(CLIENTS):
        tokens = server.tokens(server.register(), credentials)
        headers.append({"Authorization": f"Bearer {tokens['access_token']}"})
    assert len({entry["Authorization"] for entry in headers}) == CLIENTS
    flow_run_id = prefect.rest("POST", "flow_runs/filter", {"limit": 1})[0]["id"]
    figures = run_load(server.resource, flow_run_id, calls=CALLS_PER_CLIENT, headers=headers)
    with capsys.disabled():
        print(f"\nOAuth load ({mode}): {describe(figures)}")
    assert figures["completed"] == figures["calls"] == CLIENTS * CALLS_PER_CLIENT, figures
    assert figures["errors"] == 0, figures["error_samples"]
