"""get_object_schema: Prefect 3.9.1's own AutomationCore schema plus our guidance, no REST call."""

from __future__ import annotations

import json

from prefect.events.schemas.automations import AutomationCore

from harness import post_json
from mcp_client import call_tool, error_text

GUIDANCE = "x-prefect-mcp-guidance"


def test_returns_prefects_automation_schema(worker_without_secrets):
    result = call_tool(worker_without_secrets, "get_object_schema", {"object_type": "automation"})
    assert not result.is_error, result
    schema = result.structured_content
    assert json.loads(result.content[0].text) == schema
    assert list(schema) == ["$defs", "description", "properties", "required", "title", "type", GUIDANCE]
    assert schema["title"] == "AutomationCore" and schema["required"] == ["name", "trigger", "actions"]
    assert len(schema["$defs"]) == 28
    assert {"EventTrigger", "CompoundTrigger", "SequenceTrigger", "MetricTrigger", "RunDeployment", "CancelFlowRun",
            "DeleteFlowRun", "ResumeFlowRun", "UnknownAction"} <= set(schema["$defs"])
    without_guidance = {k: v for k, v in schema.items() if k != GUIDANCE}
    assert without_guidance == AutomationCore.model_json_schema()
    trigger = schema[GUIDANCE]["proactive_stuck_pending_flow_runs"]["trigger"]
    assert trigger == {"type": "event", "posture": "Proactive", "after": ["prefect.flow-run.Pending"],
                       "expect": ["prefect.flow-run.Running", "prefect.flow-run.Crashed"],
                       "for_each": ["prefect.resource.id"], "threshold": 1, "within": 300}


def test_needs_no_prefect_request(worker_without_secrets):
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "get_object_schema", "arguments": {"object_type": "automation"}}}
    status, headers, body = post_json(worker_without_secrets, call, {"MCP-Protocol-Version": "2025-11-25"})
    assert status == 200 and body["result"]["isError"] is False
    assert "x-upstream-requests" not in {k.lower() for k in headers}  # only sent when non-zero


def test_other_object_types_are_argument_errors(worker_without_secrets):
    assert "'automation'" in error_text(call_tool(worker_without_secrets, "get_object_schema", {"object_type": "flow"}))
    assert "object_type" in error_text(call_tool(worker_without_secrets, "get_object_schema", {}))
