"""Every tool against the oldest Prefect 3 server the README promises (Prefect 3.0.11, installed
by scripts/setup.sh into .venv-prefect-compat with the dependency versions of its release), through
the built Worker. The server is seeded over its REST API: scripts/seed_prefect.py needs the 3.9
client (3.0's sync client has no deployment, work-pool or concurrency-limit methods)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from harness import ROOT, WORK, Worker
from mcp_client import EXPECTED_TOOLS, call_tool, envelope, list_tool_names

sys.path.insert(0, str(ROOT / "scripts"))
from prefect_server import temporary_server  # noqa: E402

COMPAT_PYTHON = ROOT / ".venv-prefect-compat" / "bin" / "python"
FLOW = "compat-etl"
DEPLOYMENT = "compat-hourly"
POOL = "compat-pool"
TAG = "compat-tag"
TAG_LIMIT = 2
GLOBAL_LIMIT = "compat-gcl"
CUSTOM_EVENT = "compat.data.arrived"
EVENT_COUNT = 3
FAILURE_LOG = "compat: warehouse refused the connection"


class OldPrefect:
    def __init__(self, api_url: str):
        self.api_url = api_url
        self.ids: dict[str, str] = {}

    def rest(self, method: str, path: str, body: object = None) -> object:
        request = urllib.request.Request(f"{self.api_url}/{path}", method=method,
                                         data=json.dumps(body).encode() if body is not None else None)
        request.add_header("content-type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            raise AssertionError(f"{method} {path}: {error.code} {error.read().decode(errors='replace')}") from None
        return json.loads(raw) if raw else None

    def names(self, path: str) -> set[str]:
        return {item["name"] for item in self.rest("POST", path, {})}


def seed(prefect: OldPrefect) -> dict[str, str]:
    """One of each object the tools read; returns the ids the calls below need."""
    now = datetime.now(UTC)
    flow = prefect.rest("POST", "flows/", {"name": FLOW})
    prefect.rest("POST", "work_pools/", {"name": POOL, "type": "process", "concurrency_limit": 3})
    deployment = prefect.rest("POST", "deployments/", {
        "name": DEPLOYMENT, "flow_id": flow["id"], "work_pool_name": POOL, "tags": [TAG],
        "parameter_openapi_schema": {"type": "object", "properties": {}},
        "schedules": [{"schedule": {"interval": 3600, "timezone": "UTC"}, "active": True}]})
    late = prefect.rest("POST", f"deployments/{deployment['id']}/create_flow_run", {
        "name": "compat-late", "state": {"type": "SCHEDULED", "name": "Late",
                                         "state_details": {"scheduled_time": (now - timedelta(minutes=10)).isoformat()}}})
    failed = prefect.rest("POST", "flow_runs/", {"flow_id": flow["id"], "name": "compat-failed", "tags": [TAG],
                                                 "state": {"type": "FAILED", "name": "Failed", "message": "boom"}})
    prefect.rest("POST", "task_runs/", {"flow_run_id": failed["id"], "task_key": "compat-load", "dynamic_key": "0",
                                        "name": "compat-load-0", "tags": [TAG],
                                        "state": {"type": "FAILED", "name": "Failed", "message": "boom"}})
    prefect.rest("POST", "logs/", [{"name": "prefect.flow_runs", "level": 40, "message": FAILURE_LOG,
                                    "timestamp": now.isoformat(), "flow_run_id": failed["id"]}])
    prefect.rest("POST", "concurrency_limits/", {"tag": TAG, "concurrency_limit": TAG_LIMIT})
    prefect.rest("POST", "v2/concurrency_limits/", {"name": GLOBAL_LIMIT, "limit": 4})
    prefect.rest("POST", "automations/", {
        "name": "compat-automation", "actions": [{"type": "do-nothing"}],
        "trigger": {"type": "event", "posture": "Reactive", "expect": ["prefect.flow-run.Failed"],
                    "match": {"prefect.resource.id": "prefect.flow-run.*"}, "threshold": 1, "within": 0}})
    prefect.rest("POST", "events", [
        {"id": str(uuid4()), "occurred": (now - timedelta(minutes=i)).isoformat(), "event": CUSTOM_EVENT,
         "resource": {"prefect.resource.id": "compat.dataset.orders"}} for i in range(EVENT_COUNT)])
    # Before Prefect 3.4.19 a tag limit lives in the v1 table only, not among the v2 limits.
    v1 = prefect.rest("POST", "concurrency_limits/filter", {})
    assert [(limit["tag"], limit["concurrency_limit"]) for limit in v1] == [(TAG, TAG_LIMIT)]
    assert prefect.names("v2/concurrency_limits/filter") == {GLOBAL_LIMIT}
    wait_for_events(prefect)
    return {"late_run": late["id"], "failed_run": failed["id"]}


def wait_for_events(prefect: OldPrefect, timeout: float = 30) -> None:
    """The server persists posted events in the background."""
    deadline = time.monotonic() + timeout
    query = {"filter": {"event": {"prefix": [CUSTOM_EVENT]}}, "limit": 50}
    while prefect.rest("POST", "events/filter", query)["total"] < EVENT_COUNT:
        assert time.monotonic() < deadline, f"the {CUSTOM_EVENT} events were not persisted in {timeout:.0f}s"
        time.sleep(0.3)


@pytest.fixture(scope="module")
def old_prefect():
    assert COMPAT_PYTHON.exists(), f"{COMPAT_PYTHON} is missing: run scripts/setup.sh"
    version = subprocess.run([str(COMPAT_PYTHON), "-c", "import prefect; print(prefect.__version__)"],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert version.startswith("3.0."), version
    with temporary_server(WORK, "prefect-compat-", python=COMPAT_PYTHON) as (server, _):
        prefect = OldPrefect(server.api_url)
        prefect.ids = seed(prefect)
        yield prefect


@pytest.fixture(scope="module")
def worker(old_prefect):
    worker = Worker("compat", {"PREFECT_API_URL": old_prefect.api_url})
    try:
        yield worker.wait_ready().url
    finally:
        worker.stop()


def answer(worker: str, tool: str, arguments: dict) -> dict:
    result = call_tool(worker, tool, arguments)
    assert not result.is_error, f"{tool}: {result.content[0].text}"
    # orientation's text is its guide, structured as {"result": <the same text>}.
    return result.structured_content if tool == "orientation" else envelope(result)


def names(items: list[dict]) -> set[str]:
    return {item["name"] for item in items}


def test_every_tool_answers_and_agrees_with_the_old_server(worker, old_prefect):
    ids = old_prefect.ids
    checks = {
        "orientation": ({}, lambda got: "get_dashboard" in got["result"]),
        "get_identity": ({}, None),
        "get_dashboard": ({}, lambda got: names(got["active_work_pools"]) == old_prefect.names("work_pools/filter")
                          and GLOBAL_LIMIT in names(got["concurrency_limits"])),
        # get_deployments reads the v1 table for its tags' limits, so the old server's tag limit shows here.
        "get_deployments": ({}, lambda got: names(got["deployments"]) == old_prefect.names("deployments/filter")
                            and [(t["name"], t["limit"]) for t in got["deployments"][0]["tag_concurrency_limits"]]
                            == [(f"tag:{TAG}", TAG_LIMIT)]),
        "get_flows": ({}, lambda got: names(got["flows"]) == old_prefect.names("flows/filter")),
        "get_flow_runs": ({}, lambda got: names(got["flow_runs"]) == old_prefect.names("flow_runs/filter")),
        "get_flow_run_logs": ({"flow_run_id": ids["failed_run"]},
                              lambda got: [log["message"] for log in got["logs"]] == [FAILURE_LOG]),
        "get_task_runs": ({}, lambda got: names(got["task_runs"]) == old_prefect.names("task_runs/filter")),
        "get_work_pools": ({}, lambda got: names(got["work_pools"]) == old_prefect.names("work_pools/filter")),
        "read_events": ({"event_type_prefix": CUSTOM_EVENT},
                        lambda got: [e["event_type"] for e in got["events"]] == [CUSTOM_EVENT] * EVENT_COUNT),
        "get_automations": ({}, lambda got: names(got["automations"]) == old_prefect.names("automations/filter")),
        "get_object_schema": ({"object_type": "automation"}, None),
        "diagnose_flow_run": ({"flow_run_id": ids["late_run"]},
                              lambda got: got["findings"][0]["kind"] == "work_pool_without_workers"),
        "diagnose_deployment": ({"deployment_name": f"{FLOW}/{DEPLOYMENT}"},
                                lambda got: "work_pool_without_workers" in {f["kind"] for f in got["findings"]}),
    }
    assert list_tool_names(worker) == EXPECTED_TOOLS
    assert sorted(checks) == sorted(EXPECTED_TOOLS), "a new tool needs a call here"
    for tool, (arguments, agrees) in checks.items():
        got = answer(worker, tool, arguments)
        assert agrees is None or agrees(got), f"{tool} disagrees with Prefect 3.0's REST API: {got}"


def test_dashboard_shows_the_tag_limits_of_an_old_server(worker):
    limits = answer(worker, "get_dashboard", {})["concurrency_limits"]
    assert any(TAG in limit["name"] and limit["limit"] == TAG_LIMIT for limit in limits), limits
