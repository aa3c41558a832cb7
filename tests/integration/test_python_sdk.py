"""The official Python SDK in each protocol mode against the Worker in workerd."""

from __future__ import annotations

import asyncio

import jsonschema

from mcp_client import EXPECTED_TOOLS, MODERN, client, envelope

# Tools with required arguments get these; every other tool is called with {}.
ARGUMENTS = {
    "get_flow_run_logs": {"flow_run_id": "00000000-0000-4000-8000-000000000000"},
    "get_object_schema": {"object_type": "automation"},
    "diagnose_deployment": {"deployment_name": "etl-extract/extract-hourly"},
}


def session_facts(url: str, mode: str, prefect=None) -> dict:
    arguments = dict(ARGUMENTS)
    if prefect is not None:
        failed_run = prefect.manifest["failed_flow_runs"][0]
        arguments["diagnose_flow_run"] = {"flow_run_id": prefect.manifest["flow_runs"][failed_run]["id"]}

    async def go():
        async with client(url, mode) as session:
            tools = (await session.list_tools()).tools
            results = {tool.name: await session.call_tool(tool.name, arguments.get(tool.name, {})) for tool in tools}
            return {"version": session.protocol_version, "server": session.server_info, "tools": tools, "results": results}

    return asyncio.run(go())


def check_tools_and_results(facts: dict) -> None:
    assert [tool.name for tool in facts["tools"]] == EXPECTED_TOOLS
    for tool in facts["tools"]:
        result = facts["results"][tool.name]
        assert not result.is_error, (tool.name, result)
        assert tool.input_schema["additionalProperties"] is False
        jsonschema.validate(result.structured_content, tool.output_schema)
        if tool.name not in ("orientation", "get_object_schema"):
            assert envelope(result)["success"] is True


def test_legacy_handshake(worker_with_secrets, prefect):
    facts = session_facts(worker_with_secrets, "legacy", prefect)
    assert facts["version"] == "2025-11-25"
    assert facts["server"].name == "Prefect MCP Server"
    check_tools_and_results(facts)


def test_2026_07_28_mode(worker_with_secrets, prefect):
    facts = session_facts(worker_with_secrets, MODERN, prefect)
    assert facts["version"] == MODERN
    check_tools_and_results(facts)


def test_auto_mode_discovers_the_2026_era(worker_with_secrets, prefect):
    facts = session_facts(worker_with_secrets, "auto", prefect)
    assert facts["version"] == MODERN
    assert facts["server"].name == "Prefect MCP Server"
    check_tools_and_results(facts)


def test_identity_reports_the_server_release(worker_with_secrets, prefect):
    facts = session_facts(worker_with_secrets, MODERN)
    identity = envelope(facts["results"]["get_identity"])["identity"]
    assert identity == {"api_url": prefect.api_url, "version": prefect.rest("GET", "admin/version")}
