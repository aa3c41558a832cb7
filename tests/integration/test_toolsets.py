"""Toolsets chosen with the X-MCP-Toolsets header, through the official SDK in both eras."""

from __future__ import annotations

import asyncio

import pytest
from mcp.shared.exceptions import MCPError

from harness import post_json
from mcp_client import MODERN, client, envelope


@pytest.mark.parametrize("mode", ["legacy", MODERN])
def test_toolsets_narrow_the_list_and_still_work(worker_with_secrets, mode):
    async def go():
        async with client(worker_with_secrets, mode, {"X-MCP-Toolsets": "deployments,events"}) as session:
            names = [t.name for t in (await session.list_tools()).tools]
            flows = await session.call_tool("get_flows", {"limit": 1})
            return names, flows

    names, flows = asyncio.run(go())
    assert names == ["orientation", "get_deployments", "get_flows", "read_events", "get_automations", "get_object_schema"]
    assert envelope(flows)["count"] == 1


def test_unknown_toolset_is_a_clear_400(worker_with_secrets):
    status, _, body = post_json(worker_with_secrets, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                                {"X-MCP-Toolsets": "runs,everything"})
    assert status == 400
    assert "unknown toolset `everything`" in body["error"]["message"] and "available:" in body["error"]["message"]


def at_path(url: str, sets: str) -> str:
    """The same Worker's endpoint with toolsets in the path: …/mcp/x/<sets>."""
    return f"{url}/x/{sets}"


@pytest.mark.parametrize("mode", ["legacy", MODERN])
def test_toolsets_in_the_url_path_through_the_sdk(worker_with_secrets, mode):
    async def go():
        async with client(at_path(worker_with_secrets, "deployments,events"), mode) as session:
            names = [t.name for t in (await session.list_tools()).tools]
            flows = await session.call_tool("get_flows", {"limit": 1})
            with pytest.raises(MCPError, match="Unknown tool: 'get_flow_runs'"):
                await session.call_tool("get_flow_runs", {})
            return names, flows

    names, flows = asyncio.run(go())
    assert names == ["orientation", "get_deployments", "get_flows", "read_events", "get_automations", "get_object_schema"]
    assert envelope(flows)["count"] == 1


@pytest.mark.parametrize("mode", ["legacy", MODERN])
def test_path_and_header_naming_the_same_sets_agree(worker_with_secrets, mode):
    async def go():
        async with client(at_path(worker_with_secrets, "runs"), mode, {"X-MCP-Toolsets": "RUNS"}) as session:
            return [t.name for t in (await session.list_tools()).tools]

    assert asyncio.run(go()) == ["orientation", "get_flow_runs", "get_flow_run_logs", "get_task_runs"]


LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}


def test_unknown_path_toolset_is_a_clear_400(worker_with_secrets):
    status, _, body = post_json(at_path(worker_with_secrets, "runs,everything"), LIST)
    assert status == 400
    message = body["error"]["message"]
    assert message.startswith("unknown toolset `everything` in the URL path") and "available: overview" in message


def test_path_and_header_that_disagree_are_a_400(worker_with_secrets):
    status, _, body = post_json(at_path(worker_with_secrets, "runs"), LIST, {"X-MCP-Toolsets": "events"})
    assert status == 400
    assert "URL path selects toolsets `runs` but the X-MCP-Toolsets header selects `events`" in body["error"]["message"]


def test_gate_and_origin_rules_hold_on_toolset_paths(gated_worker):
    from conftest import ACCESS_TOKENS

    url = at_path(gated_worker, "runs")
    status, headers, _ = post_json(url, LIST)
    assert status == 401 and "Bearer" in {k.lower(): v for k, v in headers.items()}["www-authenticate"]
    status, _, body = post_json(url, LIST, {"Authorization": f"Bearer {ACCESS_TOKENS[0]}"})
    assert status == 200 and len(body["result"]["tools"]) == 4
    status, _, _ = post_json(url, LIST, {"Authorization": f"Bearer {ACCESS_TOKENS[0]}", "Origin": "https://evil.example"})
    assert status == 403
