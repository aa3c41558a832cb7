"""Subrequest budget: every tool's default call, and detail-by-id where a tool has it, stays
within 5 Prefect requests (Cloudflare's free plan allows 50 per invocation). The dashboard is
the one fan-out: five exact run counts plus pools, limits (V2 and V1 tag limits) and queues, all sent at once."""

from __future__ import annotations

import pytest

from fake_cloud import FakeCloud
from harness import call_counting_upstream
from mcp_client import EXPECTED_TOOLS

BUDGET = 5
DASHBOARD_BUDGET = 9
# One call instead of five or six: each diagnosis reads everything it needs at once.
DIAGNOSIS_BUDGET = 12
NO_PREFECT = {"orientation", "get_object_schema"}
# Prefect Cloud, against the fake Cloud: the Cloud-only tools make one account-level request,
# and a workspace_id given by handles adds one listing request to a tool's own.
CLOUD_BUDGETS = {
    "review_rate_limits": ({}, 1),
    "list_workspaces": ({}, 1),
    "get_flows": ({"workspace_id": "ada-lab/sandbox"}, 2),
}


def first_id(prefect, path: str, body: dict | None = None) -> str:
    return prefect.rest("POST", path, body or {"limit": 1})[0]["id"]


def default_arguments(prefect) -> dict[str, dict]:
    arguments = {name: {} for name in EXPECTED_TOOLS}
    arguments["get_object_schema"] = {"object_type": "automation"}
    verbose_run = prefect.manifest["verbose_flow_run"]
    arguments["get_flow_run_logs"] = {"flow_run_id": prefect.manifest["flow_runs"][verbose_run]["id"]}
    diagnosis = prefect.manifest["diagnosis"]
    arguments["diagnose_flow_run"] = {"flow_run_id": prefect.manifest["flow_runs"][diagnosis["tag_limit"]["blocked_run"]]["id"]}
    arguments["diagnose_deployment"] = {"deployment_name": diagnosis["deployments"]["late_backlog"]}
    return arguments


def detail_arguments(prefect) -> dict[str, dict]:
    by_id = lambda path: {"filter": {"id": {"any_": [first_id(prefect, path)]}}}  # noqa: E731
    return {
        "get_deployments": by_id("deployments/filter"),
        "get_flow_runs": by_id("flow_runs/filter"),
        "get_work_pools": by_id("work_pools/filter"),
        "get_automations": by_id("automations/filter"),
    }


@pytest.mark.parametrize("tool", EXPECTED_TOOLS)
def test_default_call_within_budget(worker_with_secrets, prefect, tool):
    requests, result = call_counting_upstream(worker_with_secrets, tool, default_arguments(prefect)[tool])
    if tool in NO_PREFECT:
        assert requests == 0
    else:
        assert result["success"] is True, result
        budget = {"get_dashboard": DASHBOARD_BUDGET, "diagnose_flow_run": DIAGNOSIS_BUDGET,
                  "diagnose_deployment": DIAGNOSIS_BUDGET}.get(tool, BUDGET)
        assert 1 <= requests <= budget, requests


@pytest.mark.parametrize("tool", ["get_deployments", "get_flow_runs", "get_work_pools", "get_automations"])
def test_detail_call_within_budget(worker_with_secrets, prefect, tool):
    requests, result = call_counting_upstream(worker_with_secrets, tool, detail_arguments(prefect)[tool])
    assert result["success"] is True and result["detail"] is True and result["count"] == 1, result
    # Full work-pool detail (queues and workers) adds two requests to a deployment's detail.
    assert 1 <= requests <= (BUDGET + 2 if tool == "get_deployments" else BUDGET), requests


@pytest.mark.parametrize("tool", sorted(CLOUD_BUDGETS))
def test_cloud_call_within_budget(worker_without_secrets, tool):
    arguments, budget = CLOUD_BUDGETS[tool]
    cloud = FakeCloud("pnu_budget_key")
    try:
        headers = {"X-Prefect-Api-Url": cloud.workspace_url(), "X-Prefect-Api-Key": "pnu_budget_key"}
        requests, result = call_counting_upstream(worker_without_secrets, tool, arguments, headers)
    finally:
        cloud.close()
    assert result["success"] is True, result
    # What the fake Cloud received is the budget. The Worker counts every attempt, and the only
    # way it counts more than arrived is PrefectClient's one retry of a read whose connection
    # failed before an answer (seen once in four runs here), so it may read one more.
    assert len(cloud.requests) == budget, cloud.requests
    assert budget <= requests <= budget + 1, (requests, cloud.requests)
