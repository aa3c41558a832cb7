"""Investigation prompts through the official Python SDK, in both protocol eras."""

from __future__ import annotations

import asyncio

import pytest

from mcp_client import MODERN, client

PROMPTS = ["investigate_failed_run", "investigate_late_runs", "automation_not_firing", "review_rate_limits"]


@pytest.mark.parametrize("mode", ["legacy", MODERN])
def test_prompts_are_listed_and_guide_through_our_tools(worker_with_secrets, prefect, mode):
    failed_run = prefect.manifest["failed_flow_runs"][0]
    run_id = prefect.manifest["flow_runs"][failed_run]["id"]

    async def go():
        async with client(worker_with_secrets, mode) as session:
            listed = (await session.list_prompts()).prompts
            tools = {t.name for t in (await session.list_tools()).tools}
            prompt = await session.get_prompt("investigate_failed_run", {"flow_run_id": run_id})
            return listed, tools, prompt

    listed, tools, prompt = asyncio.run(go())
    assert [p.name for p in listed] == PROMPTS
    assert all(p.description for p in listed)
    text = prompt.messages[0].content.text
    assert run_id in text
    for tool in ("get_flow_runs", "get_flow_run_logs", "get_task_runs"):
        assert tool in text and tool in tools
