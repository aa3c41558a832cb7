"""A Prefect server with CSRF protection on: the tools learn the token on the first refused
POST and carry it from then on, in later calls with the same credentials too; servers without
it (every other test) pay nothing."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid

import pytest

from harness import WORK, call_counting_upstream
from mcp_client import call_tool, envelope
from prefect_server import temporary_server


def post(api_url: str, path: str, body: dict, csrf: dict[str, str] | None = None) -> dict:
    request = urllib.request.Request(f"{api_url}/{path}", data=json.dumps(body).encode(), method="POST")
    request.add_header("content-type", "application/json")
    for name, value in (csrf or {}).items():
        request.add_header(name, value)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def csrf_prefect() -> str:
    settings = {"PREFECT_SERVER_CSRF_PROTECTION_ENABLED": "true"}
    with temporary_server(WORK, "prefect-csrf-", settings=settings) as (server, _):
        yield server.api_url


@pytest.fixture(scope="module")
def flow_name(csrf_prefect) -> str:
    client = str(uuid.uuid4())
    with urllib.request.urlopen(f"{csrf_prefect}/csrf-token?client={client}", timeout=30) as response:
        token = json.loads(response.read())["token"]
    name = "csrf-guarded-flow"
    post(csrf_prefect, "flows/", {"name": name}, {"Prefect-Csrf-Token": token, "Prefect-Csrf-Client": client})
    return name


def credentials(api_url: str) -> dict[str, str]:
    """Header credentials no earlier call used, so no token is kept for them yet. (The server
    has no auth configured and ignores the Basic auth they add.)"""
    return {"X-Prefect-Api-Url": api_url, "X-Prefect-Api-Auth-String": f"csrf-test:{uuid.uuid4()}"}


def test_the_server_refuses_posts_without_a_token(csrf_prefect):
    with pytest.raises(urllib.error.HTTPError) as refused:
        post(csrf_prefect, "flows/filter", {})
    assert refused.value.code == 403
    assert "CSRF token" in json.loads(refused.value.read())["detail"]


def test_a_list_tool_fetches_a_token_and_retries_once(worker_without_secrets, csrf_prefect, flow_name):
    headers = credentials(csrf_prefect)
    upstream, result = call_counting_upstream(worker_without_secrets, "get_flows", {}, headers)
    assert result["success"] is True, result
    assert [f["name"] for f in result["flows"]] == [flow_name]
    # The refused POST, the token, the same POST with the token.
    assert upstream == 3

    # The next call with the same credentials sends the kept token at once.
    upstream, result = call_counting_upstream(worker_without_secrets, "get_flows", {}, headers)
    assert result["success"] is True, result
    assert upstream == 1


def test_concurrent_posts_share_one_token(worker_without_secrets, csrf_prefect, flow_name):
    headers = credentials(csrf_prefect)
    upstream, result = call_counting_upstream(worker_without_secrets, "get_dashboard", {}, headers)
    assert result["success"] is True, result
    # Nine concurrent POSTs: each refused at most once, one token request, nine accepted.
    assert 9 + 1 + 1 <= upstream <= 9 + 1 + 9
    # Through the official client too.
    result = call_tool(worker_without_secrets, "get_dashboard", {}, headers=headers)
    assert not result.is_error, result
    assert envelope(result)["success"] is True


@pytest.mark.parametrize("tool", ["get_deployments", "get_flow_runs", "get_task_runs", "get_work_pools",
                                  "read_events", "get_automations"])
def test_every_post_based_tool_succeeds(worker_without_secrets, csrf_prefect, tool):
    upstream, result = call_counting_upstream(worker_without_secrets, tool, {}, credentials(csrf_prefect))
    assert result["success"] is True, result
    # At least: its first POST refused, the token, that POST again with the token.
    assert upstream >= 3
