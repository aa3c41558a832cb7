"""Calls through the official Python MCP SDK (`mcp` 2.x), wrapped for synchronous tests."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

MODERN = "2026-07-28"

# tools/list for a self-hosted Prefect API, in order.
EXPECTED_TOOLS = [
    "orientation", "get_identity", "get_dashboard", "get_deployments", "get_flows", "get_flow_runs",
    "get_flow_run_logs", "get_task_runs", "get_work_pools", "read_events", "get_automations", "get_object_schema",
    "diagnose_flow_run", "diagnose_deployment",
]


def client(url: str, mode: str = MODERN, headers: dict[str, str] | None = None) -> Client:
    if headers:
        transport = streamable_http_client(url, http_client=httpx2.AsyncClient(headers=headers, timeout=30))
        return Client(transport, mode=mode)
    return Client(url, mode=mode)


def call_tool(url: str, name: str, arguments: dict[str, Any] | None = None, *, mode: str = MODERN,
              headers: dict[str, str] | None = None):
    """One tool call on a fresh connection; returns the SDK's CallToolResult."""

    async def go():
        async with client(url, mode, headers) as session:
            return await session.call_tool(name, arguments)

    return asyncio.run(go())


def envelope(result) -> dict[str, Any]:
    """The structured result, checked against its text twin (the response contract)."""
    structured = result.structured_content
    assert structured is not None, result
    assert json.loads(result.content[0].text) == structured
    return structured


def error_text(result) -> str:
    assert result.is_error, result
    return result.content[0].text


def list_tool_names(url: str, *, mode: str = MODERN, headers: dict[str, str] | None = None) -> list[str]:
    async def go():
        async with client(url, mode, headers) as session:
            return [tool.name for tool in (await session.list_tools()).tools]

    return asyncio.run(go())
