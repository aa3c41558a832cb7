"""Toolsets chosen with the X-MCP-Toolsets header, through the official SDK in both eras."""

from __future__ import annotations

import asyncio

import pytest

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
