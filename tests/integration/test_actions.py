"""The action tools (ALLOW_WRITES=true) end to end: the built Worker in workerd against a Prefect
server of this module's own (the shared seeded one stays untouched), each change checked by
reading Prefect directly before and after; the refusals, the audit lines, the official Python
SDK (with its OAuth flow asking for prefect:write) and Claude Code."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from conftest import Prefect
from harness import WORK, Worker, post_json
from mcp_client import EXPECTED_TOOLS, MODERN, call_tool, client, envelope
from oauth_support import HeadlessConsent, MemoryTokenStorage, sdk_provider, team_credentials
from prefect_server import temporary_server
from test_claude_code import claude, server_status

AUTH_STRING = "actions-user:Wr1te-S3cret"
READ_TOKEN = "tok-actions-read-Q7c2"
WRITE_TOKENS = ("tok-actions-write-A9x4", "tok-actions-write-B4m8")
SECRETS = [AUTH_STRING, AUTH_STRING.split(":", 1)[1], base64.b64encode(AUTH_STRING.encode()).decode(), READ_TOKEN,
           *WRITE_TOKENS]

# The annotations each action declares (src/tools/actions/*.rs): (destructiveHint, idempotentHint).
ACTIONS = {
    "run_deployment": (False, False),
    "cancel_flow_run": (True, True),
    "retry_flow_run": (True, False),
    "resume_flow_run": (False, True),
    "pause_deployment": (True, True),
    "resume_deployment": (False, True),
}

FORECAST = "forecast-flow/forecast"  # enforces its parameter schema: `city` required, `days` defaulted
APPROVAL_SCHEMA = {"title": "Approval", "type": "object", "required": ["approved"],
                   "properties": {"approved": {"title": "Approved", "type": "boolean"},
                                  "note": {"title": "Note", "type": "string"}}}


# --- Prefect -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def prefect_for_actions():
    """A fresh server with one process work pool, one flow and three deployments: `forecast`
    (parameter schema enforced), `nightly` (active) and `dormant` (paused). The late-runs service
    is off, so runs only change when a test changes them."""
    with temporary_server(WORK, "prefect-actions-", auth_string=AUTH_STRING,
                          settings={"PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED": "false"}) as (server, _):
        prefect = Prefect(server.api_url, AUTH_STRING, {})
        prefect.rest("POST", "work_pools/", {"name": "actions-pool", "type": "process"})
        flow = prefect.rest("POST", "flows/", {"name": "forecast-flow"})
        deployment = {"flow_id": flow["id"], "work_pool_name": "actions-pool", "entrypoint": "flows.py:forecast"}
        schema = {"title": "Parameters", "type": "object", "required": ["city"],
                  "properties": {"city": {"title": "city", "type": "string", "position": 0},
                                 "days": {"title": "days", "type": "integer", "default": 3, "position": 1}}}
        prefect.manifest.update(
            forecast=prefect.rest("POST", "deployments/", {
                **deployment, "name": "forecast", "tags": ["weather"], "parameters": {"days": 3},
                "parameter_openapi_schema": schema, "enforce_parameter_schema": True})["id"],
            nightly=prefect.rest("POST", "deployments/", {**deployment, "name": "nightly"})["id"],
            dormant=prefect.rest("POST", "deployments/", {**deployment, "name": "dormant", "paused": True})["id"],
        )
        yield prefect


def run_in_state(prefect: Prefect, state: dict) -> str:
    """A new run of `forecast`, forced into `state`; returns its id."""
    run = prefect.rest("POST", f"deployments/{prefect.manifest['forecast']}/create_flow_run",
                       {"parameters": {"city": "Oslo"}})
    assert prefect.rest("POST", f"flow_runs/{run['id']}/set_state", {"state": state, "force": True})["status"] == "ACCEPT"
    return run["id"]


def paused_for_input(prefect: Prefect, key: str) -> str:
    """A run paused the way `pause_flow_run(wait_for_input=...)` leaves it: its state names the
    input keys and the schema is stored as run input."""
    run_id = run_in_state(prefect, {"type": "PAUSED", "name": "Suspended", "state_details": {
        "pause_reschedule": True,
        "run_input_keyset": {"schema": f"{key}-schema", "response": f"{key}-response",
                             "description": f"{key}-description"}}})
    prefect.rest("POST", f"flow_runs/{run_id}/input", {"key": f"{key}-schema", "value": json.dumps(APPROVAL_SCHEMA)})
    return run_id


def world(prefect: Prefect) -> dict:
    """Everything the actions could change: each run's current state (its id changes with every
    transition) and each deployment's paused flag."""
    runs = prefect.rest("POST", "flow_runs/filter", {"limit": 200})
    deployments = prefect.rest("POST", "deployments/filter", {"limit": 200})
    return {"runs": {run["id"]: (run["state"]["id"], run["state_type"], run["state_name"]) for run in runs},
            "deployments": {d["id"]: d["paused"] for d in deployments}}


def changed_runs(before: dict, after: dict) -> dict[str, tuple]:
    """Runs that are new or whose state changed: {id: (state id, type, name)}."""
    return {run_id: state for run_id, state in after["runs"].items() if before["runs"].get(run_id) != state}


# --- Workers -----------------------------------------------------------------------------

def start_workers(specs: dict[str, tuple[dict[str, str], dict[str, str] | None]]) -> dict[str, Worker]:
    """Starts these Workers side by side (each takes 10-20 s) and waits for all: name ->
    (variables, ping headers)."""
    workers = {name: Worker(name, variables, log_level="log") for name, (variables, _) in specs.items()}
    try:
        with ThreadPoolExecutor(len(workers)) as pool:
            list(pool.map(lambda name: workers[name].wait_ready(specs[name][1]), workers))
    except BaseException:
        for worker in workers.values():
            worker.stop()
        raise
    return workers


@pytest.fixture(scope="module")
def workers(prefect_for_actions):
    """`headers`: writes on, no Prefect secrets (callers bring X-Prefect-Api-* headers).
    `tokens`: writes on, Prefect secrets behind a read token and two write tokens.
    `off`: no ALLOW_WRITES, header credentials."""
    prefect = prefect_for_actions
    started = start_workers({
        "actions-headers": ({"ALLOW_WRITES": "true"}, None),
        "actions-tokens": ({"ALLOW_WRITES": "true", "PREFECT_API_URL": prefect.api_url,
                            "PREFECT_API_AUTH_STRING": prefect.auth_string, "MCP_ACCESS_TOKENS": READ_TOKEN,
                            "MCP_WRITE_TOKENS": ",".join(WRITE_TOKENS), "ALLOW_UNAUTHENTICATED": "false"},
                           bearer(READ_TOKEN)),
        "actions-off": ({}, None),
    })
    yield {name.removeprefix("actions-"): worker for name, worker in started.items()}
    for worker in started.values():
        worker.stop()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def own_credentials(prefect_for_actions) -> dict[str, str]:
    return {"X-Prefect-Api-Url": prefect_for_actions.api_url, "X-Prefect-Api-Auth-String": AUTH_STRING}


def call(worker: Worker, name: str, arguments: dict, headers: dict[str, str]) -> tuple[int, dict]:
    """One stateless tools/call: (Prefect requests it made, the tool result with isError and
    structuredContent)."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments}}
    status, response_headers, reply = post_json(worker.url, body, {"MCP-Protocol-Version": "2025-11-25", **headers})
    assert status == 200 and "result" in reply, reply
    upstream = {k.lower(): v for k, v in response_headers.items()}.get("x-upstream-requests", "0")
    return int(upstream), reply["result"]


def preview(worker: Worker, name: str, arguments: dict, headers: dict[str, str]) -> dict:
    _, result = call(worker, name, arguments, headers)
    report = result["structuredContent"]
    assert not result.get("isError") and report["executed"] is False and report["outcome"] is None, result
    assert report["confirm_token"] and report["confirm_expires_at"], report
    return report


def confirm(worker: Worker, name: str, arguments: dict, token: str, headers: dict[str, str]) -> dict:
    _, result = call(worker, name, {**arguments, "confirm": token}, headers)
    report = result["structuredContent"]
    assert not result.get("isError") and report["executed"] is True and report["confirm_token"] is None, result
    return report


def refusal(worker: Worker, name: str, arguments: dict, headers: dict[str, str]) -> tuple[int, str]:
    """A refused call: (Prefect requests it made, its error)."""
    upstream, result = call(worker, name, arguments, headers)
    report = result["structuredContent"]
    assert result.get("isError") is True and report["success"] is False and report["executed"] is False, result
    assert report["preview"] is None and report["outcome"] is None, result
    return upstream, report["error"]


# --- each action: the preview changes nothing, the confirmation does what it previewed ---

def test_run_deployment_creates_the_previewed_run_once(workers, prefect_for_actions, own_credentials):
    prefect, worker = prefect_for_actions, workers["headers"]
    arguments = {"deployment_name": FORECAST, "parameters": {"city": "Bergen", "days": 5}, "tags": ["mcp"],
                 "job_variables": {"env": {"REGION": "north"}}}
    before = world(prefect)
    shown = preview(worker, "run_deployment", arguments, own_credentials)
    assert world(prefect) == before
    plan = shown["preview"]
    assert plan["deployment"]["id"] == prefect.manifest["forecast"] and plan["deployment"]["name"] == FORECAST
    assert plan["parameters"] == {"city": "Bergen", "days": 5}
    assert plan["parameter_check"] == "fit the deployment's parameter schema"
    assert plan["tags"] == ["weather", "mcp"] and plan["scheduled_time"] == "now"

    done = confirm(worker, "run_deployment", arguments, shown["confirm_token"], own_credentials)
    after = world(prefect)
    new = changed_runs(before, after)
    assert list(new) == [done["outcome"]["flow_run_id"]] and done["outcome"]["created"] is True
    run = prefect.rest("GET", f"flow_runs/{done['outcome']['flow_run_id']}")
    assert run["deployment_id"] == prefect.manifest["forecast"] and run["state_type"] == "SCHEDULED"
    assert run["parameters"] == plan["parameters"]
    assert sorted(run["tags"]) == sorted(plan["tags"]) and run["job_variables"] == {"env": {"REGION": "north"}}
    assert run["idempotency_key"].startswith("mcp-confirm-")

    replayed = confirm(worker, "run_deployment", arguments, shown["confirm_token"], own_credentials)
    assert replayed["outcome"]["flow_run_id"] == run["id"] and replayed["outcome"]["created"] is False
    assert world(prefect) == after


def test_run_deployment_by_id_at_a_scheduled_time(workers, prefect_for_actions, own_credentials):
    prefect, worker = prefect_for_actions, workers["headers"]
    arguments = {"deployment_id": prefect.manifest["forecast"], "parameters": {"city": "Tromsø"},
                 "scheduled_time": "2031-01-02T03:04:05Z"}
    before = world(prefect)
    shown = preview(worker, "run_deployment", arguments, own_credentials)
    assert world(prefect) == before
    assert shown["preview"]["scheduled_time"] == "2031-01-02T03:04:05+00:00"
    assert shown["preview"]["parameters"] == {"city": "Tromsø", "days": 3}
    done = confirm(worker, "run_deployment", arguments, shown["confirm_token"], own_credentials)
    assert list(changed_runs(before, world(prefect))) == [done["outcome"]["flow_run_id"]]
    run = prefect.rest("GET", f"flow_runs/{done['outcome']['flow_run_id']}")
    assert run["state_type"] == "SCHEDULED" and run["expected_start_time"].startswith("2031-01-02T03:04:05")
    assert run["parameters"] == shown["preview"]["parameters"]


@pytest.mark.parametrize("parameters, problem", [
    ({"city": "Bergen", "weeks": 2}, "weeks: not a parameter of this flow (it takes: city, days)"),
    ({"city": 7}, "city: expected string, got 7"),
    ({"days": 2}, "city"),
])
def test_run_deployment_refuses_parameters_that_do_not_fit(workers, prefect_for_actions, own_credentials,
                                                           parameters, problem):
    before = world(prefect_for_actions)
    _, error = refusal(workers["headers"], "run_deployment", {"deployment_name": FORECAST, "parameters": parameters},
                       own_credentials)
    assert error.startswith(f"Failed to run the deployment: parameters do not fit deployment {FORECAST}: "), error
    assert problem in error, error
    assert world(prefect_for_actions) == before


@pytest.mark.parametrize("tool, state, change, new_state", [
    # Cancelling, not Cancelled: no worker runs here to stop the infrastructure and finish it.
    ("cancel_flow_run", {"type": "RUNNING", "name": "Running"}, "Running → Cancelling", ("CANCELLING", "Cancelling")),
    # Nothing to stop (not started; suspended): Prefect rejects Cancelling and cancels at once.
    ("cancel_flow_run", {"type": "SCHEDULED", "name": "Scheduled"}, "Scheduled → Cancelled", ("CANCELLED", "Cancelled")),
    ("cancel_flow_run", {"type": "PAUSED", "name": "Suspended", "state_details": {"pause_reschedule": True}},
     "Suspended → Cancelled", ("CANCELLED", "Cancelled")),
    # Paused without giving up its infrastructure and asking no input: it just goes on.
    ("resume_flow_run", {"type": "PAUSED", "name": "Paused"}, "Paused → Running", ("RUNNING", "Running")),
    ("retry_flow_run", {"type": "FAILED", "name": "Failed"}, "Failed → Scheduled (AwaitingRetry), to start now",
     ("SCHEDULED", "AwaitingRetry")),
])
def test_a_run_changes_state_as_previewed(workers, prefect_for_actions, own_credentials, tool, state, change,
                                          new_state):
    prefect, worker = prefect_for_actions, workers["headers"]
    run_id = run_in_state(prefect, state)
    before = world(prefect)
    shown = preview(worker, tool, {"flow_run_id": run_id}, own_credentials)
    assert world(prefect) == before
    assert shown["preview"]["flow_run"]["id"] == run_id and shown["preview"]["change"] == change

    done = confirm(worker, tool, {"flow_run_id": run_id}, shown["confirm_token"], own_credentials)
    new = changed_runs(before, world(prefect))
    assert list(new) == [run_id] and new[run_id][1:] == new_state
    assert (done["outcome"]["state_type"], done["outcome"]["state_name"]) == new_state
    assert prefect.rest("GET", f"flow_runs/{run_id}")["parameters"] == {"city": "Oslo", "days": 3}


def test_resume_flow_run_resumes_a_paused_run_with_its_input(workers, prefect_for_actions, own_credentials):
    prefect, worker = prefect_for_actions, workers["headers"]
    run_id = paused_for_input(prefect, "approval")
    before = world(prefect)
    _, error = refusal(worker, "resume_flow_run", {"flow_run_id": run_id, "run_input": {"approved": "yes"}},
                       own_credentials)
    assert error.startswith(f"Failed to resume the flow run: run_input does not fit what flow run {run_id} asks for: "
                            'approved: expected boolean, got "yes"'), error
    run_input = {"approved": True, "note": "looks right"}
    shown = preview(worker, "resume_flow_run", {"flow_run_id": run_id, "run_input": run_input}, own_credentials)
    assert world(prefect) == before
    assert shown["preview"]["asks_for_input"] == APPROVAL_SCHEMA and shown["preview"]["run_input"] == run_input

    confirm(worker, "resume_flow_run", {"flow_run_id": run_id, "run_input": run_input}, shown["confirm_token"],
            own_credentials)
    new = changed_runs(before, world(prefect))
    # It gave up its infrastructure while paused (pause_reschedule), so it waits for a worker again.
    assert list(new) == [run_id] and new[run_id][1:] == ("SCHEDULED", "Resuming")
    assert prefect.rest("GET", f"flow_runs/{run_id}/input/approval-response") == run_input


@pytest.mark.parametrize("tool, state, refused", [
    ("cancel_flow_run", {"type": "COMPLETED", "name": "Completed"}, "is Completed (a final state); only Scheduled, Pending, Running or Paused runs can be cancelled"),
    ("retry_flow_run", {"type": "RUNNING", "name": "Running"}, "is Running; only Failed, Crashed or Cancelled runs"),
    ("resume_flow_run", {"type": "FAILED", "name": "Failed"}, "is Failed, not Paused"),
])
def test_actions_refuse_runs_in_the_wrong_state(workers, prefect_for_actions, own_credentials, tool, state, refused):
    run_id = run_in_state(prefect_for_actions, state)
    before = world(prefect_for_actions)
    _, error = refusal(workers["headers"], tool, {"flow_run_id": run_id}, own_credentials)
    assert f"flow run {run_id} {refused}" in error, error
    assert world(prefect_for_actions) == before


# --- confirmation tokens -----------------------------------------------------------------

def test_confirmations_that_do_not_match_are_refused_before_any_request(workers, prefect_for_actions,
                                                                         own_credentials):
    """Token expiry needs 5 minutes; the unit tests of confirm.rs cover it."""
    prefect = prefect_for_actions
    run_id = run_in_state(prefect, {"type": "RUNNING", "name": "Running"})
    other_run = run_in_state(prefect, {"type": "RUNNING", "name": "Running"})
    token = preview(workers["headers"], "cancel_flow_run", {"flow_run_id": run_id}, own_credentials)["confirm_token"]
    from_writer_a = preview(workers["tokens"], "cancel_flow_run", {"flow_run_id": run_id},
                            bearer(WRITE_TOKENS[0]))["confirm_token"]
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    attempts = [
        (workers["headers"], "cancel_flow_run", run_id, tampered, own_credentials,
         "confirm: this token was altered, or was issued for another action than cancel_flow_run"),
        (workers["headers"], "cancel_flow_run", other_run, token, own_credentials,
         "confirm: this token confirms other arguments than these"),
        (workers["headers"], "retry_flow_run", run_id, token, own_credentials,
         "confirm: this token was altered, or was issued for another action than retry_flow_run"),
        (workers["tokens"], "cancel_flow_run", run_id, from_writer_a, bearer(WRITE_TOKENS[1]),
         "confirm: this token was issued to another caller"),
        (workers["headers"], "cancel_flow_run", run_id, "pmc1.not.a.real.token", own_credentials,
         "confirm: not a confirm_token from this server"),
    ]
    before = world(prefect)
    for worker, tool, target, confirm_token, headers, reason in attempts:
        upstream, error = refusal(worker, tool, {"flow_run_id": target, "confirm": confirm_token}, headers)
        verb = {"cancel_flow_run": "cancel", "retry_flow_run": "retry"}[tool]
        assert error.startswith(f"Failed to {verb} the flow run: {reason}"), (reason, error)
        assert f"call {tool} again without confirm for a new preview and token" in error, error
        assert upstream == 0, (reason, upstream)
    assert world(prefect) == before


# --- who may write -------------------------------------------------------------------------

def listed_tools(url: str, headers: dict[str, str]) -> dict:
    async def go():
        async with client(url, headers=headers) as session:
            return {tool.name: tool for tool in (await session.list_tools()).tools}

    return asyncio.run(go())


def test_actions_are_listed_with_truthful_annotations_only_to_writers(workers, own_credentials):
    enabled = listed_tools(workers["headers"].url, own_credentials)
    assert list(enabled) == EXPECTED_TOOLS + list(ACTIONS)
    for name, (destructive, idempotent) in ACTIONS.items():
        hints = enabled[name].annotations
        assert (hints.read_only_hint, hints.destructive_hint, hints.idempotent_hint) == (False, destructive, idempotent), name
        assert "confirm" in enabled[name].input_schema["properties"], name
    assert listed_tools(workers["tokens"].url, bearer(WRITE_TOKENS[1])).keys() == enabled.keys()
    assert list(listed_tools(workers["off"].url, own_credentials)) == EXPECTED_TOOLS
    assert list(listed_tools(workers["tokens"].url, bearer(READ_TOKEN))) == EXPECTED_TOOLS


@pytest.mark.parametrize("worker_name, headers, reason", [
    ("off", "own", "its operator has not set ALLOW_WRITES=true"),
    ("tokens", bearer(READ_TOKEN), "this connection may only read"),
])
def test_actions_are_not_callable_without_write_access(workers, prefect_for_actions, own_credentials,
                                                       worker_name, headers, reason):
    run_id = run_in_state(prefect_for_actions, {"type": "RUNNING", "name": "Running"})
    before = world(prefect_for_actions)
    headers = own_credentials if headers == "own" else headers
    for tool, arguments in [("cancel_flow_run", {"flow_run_id": run_id}),
                            ("pause_deployment", {"deployment_id": prefect_for_actions.manifest["nightly"]})]:
        upstream, error = refusal(workers[worker_name], tool, arguments, headers)
        assert f"{tool} changes Prefect" in error and reason in error and "Nothing was changed" in error, error
        assert upstream == 0
    assert world(prefect_for_actions) == before


# --- through the official SDK ------------------------------------------------------------

def test_pause_and_resume_a_deployment_through_the_sdk(workers, prefect_for_actions, own_credentials):
    """Pausing as a header caller, resuming as a write-token holder."""
    prefect = prefect_for_actions
    deployment_id = prefect.manifest["nightly"]
    paused = lambda: prefect.rest("GET", f"deployments/{deployment_id}")["paused"]  # noqa: E731
    for worker, headers, tool, now_paused in [(workers["headers"], own_credentials, "pause_deployment", True),
                                              (workers["tokens"], bearer(WRITE_TOKENS[0]), "resume_deployment", False)]:
        arguments = {"deployment_name": "forecast-flow/nightly"}
        shown = envelope(call_tool(worker.url, tool, arguments, headers=headers))
        assert shown["executed"] is False and shown["preview"]["deployment"]["id"] == deployment_id
        assert paused() is not now_paused
        done = envelope(call_tool(worker.url, tool, {**arguments, "confirm": shown["confirm_token"]}, headers=headers))
        assert done["executed"] is True and done["outcome"] == {"deployment_id": deployment_id, "paused": now_paused}
        assert paused() is now_paused
        again = call_tool(worker.url, tool, arguments, headers=headers)
        assert again.is_error and "nothing to do" in again.content[0].text, again


# --- audit ---------------------------------------------------------------------------------

def new_audits(worker: Worker, before: int, count: int) -> list[dict]:
    """The audit records of the log lines after the first `before`, once `count` arrived."""
    deadline = time.monotonic() + 10
    while True:
        audits = [e["audit"] for e in worker.log_entries()[before:] if "audit" in e]
        if len(audits) >= count or time.monotonic() > deadline:
            return audits
        time.sleep(0.2)


def test_every_attempt_leaves_an_audit_line_without_secrets(workers, prefect_for_actions, own_credentials):
    prefect = prefect_for_actions
    headers_worker, tokens_worker = workers["headers"], workers["tokens"]
    run_id = run_in_state(prefect, {"type": "RUNNING", "name": "Running"})
    arguments = {"flow_run_id": run_id}
    before = len(headers_worker.log_entries())
    token = preview(headers_worker, "cancel_flow_run", arguments, own_credentials)["confirm_token"]
    refusal(headers_worker, "cancel_flow_run", {**arguments, "confirm": token[:-2]}, own_credentials)
    confirm(headers_worker, "cancel_flow_run", arguments, token, own_credentials)
    audits = new_audits(headers_worker, before, 3)
    caller = audits[0]["caller"]
    assert caller.startswith("headers:") and len(caller) == len("headers:") + 12, caller
    expected = [{"phase": "preview", "outcome": "ok"},
                {"phase": "execute", "outcome": "refused", "reason": "invalid_arguments"},
                {"phase": "execute", "outcome": "ok"}]
    assert audits == [{"action": "cancel_flow_run", "caller": caller, "targets": {"flow_run_id": run_id}, **fields}
                      for fields in expected]

    before = len(tokens_worker.log_entries())
    preview(tokens_worker, "pause_deployment", {"deployment_id": prefect.manifest["forecast"]}, bearer(WRITE_TOKENS[0]))
    [audit] = new_audits(tokens_worker, before, 1)
    assert audit["caller"].startswith("token:") and audit["caller"] != f"token:{WRITE_TOKENS[0]}", audit
    assert audit["targets"] == {"deployment_id": prefect.manifest["forecast"]} and audit["outcome"] == "ok"
    # A caller who may not write is audited too, without a caller id.
    before = len(tokens_worker.log_entries())
    refusal(tokens_worker, "pause_deployment", {"deployment_id": prefect.manifest["forecast"]}, bearer(READ_TOKEN))
    [audit] = new_audits(tokens_worker, before, 1)
    assert audit == {"action": "pause_deployment", "caller": None, "outcome": "refused", "reason": "read_only_caller"}

    for worker in (headers_worker, tokens_worker):
        log = worker.log_path.read_text(errors="replace")
        assert '"audit"' in log
        for secret in SECRETS:
            assert secret not in log, (worker.name, secret)
    assert token not in headers_worker.log_path.read_text(errors="replace")


# --- Claude Code ---------------------------------------------------------------------------

def test_claude_code_connects_to_the_writing_worker(tmp_path, workers, own_credentials):
    """Claude Code shows no tool list without a model (`claude mcp get` prints only the server's
    configuration and status). What it shows honestly: the server is Connected, and its health
    check listed the tools as the header caller, which the Worker answers with the actions
    (the same tools/list request through the SDK shows them)."""
    worker = workers["headers"]
    claude(tmp_path, "mcp", "add", "--transport", "http", "prefect-writes", worker.url,
           *[arg for name, value in own_credentials.items() for arg in ("--header", f"{name}: {value}")])
    before = len(worker.log_entries())
    status = server_status(claude(tmp_path, "mcp", "list"), "prefect-writes", worker.url)
    assert status.endswith("Connected") and "Failed" not in status, status
    deadline = time.monotonic() + 10
    while not (listings := [e for e in worker.log_entries()[before:] if e.get("rpcMethod") == "tools/list"]):
        assert time.monotonic() < deadline, worker.log_entries()[before:]
        time.sleep(0.2)
    assert listings[0]["auth"] == "headers" and listings[0]["outcome"] == "ok", listings
    assert set(ACTIONS) <= set(listed_tools(worker.url, own_credentials))


# --- OAuth: prefect:write --------------------------------------------------------------------

def test_an_oauth_grant_acts_only_with_prefect_write_and_a_write_token(prefect_for_actions):
    """The official SDK's OAuth flow against a Worker with writes on: it asks for the scopes the
    protected-resource metadata lists (prefect:write among them); a team grant made with a write
    token then sees and runs the actions, one made with a read token does not."""
    prefect = prefect_for_actions
    worker = Worker("actions-oauth", {
        "ALLOW_WRITES": "true", "PREFECT_API_URL": prefect.api_url, "PREFECT_API_AUTH_STRING": prefect.auth_string,
        "MCP_ACCESS_TOKENS": READ_TOKEN, "MCP_WRITE_TOKENS": ",".join(WRITE_TOKENS),
        "ALLOW_UNAUTHENTICATED": "false"}, oauth=True).wait_ready()
    try:
        metadata = httpx2.get(f"{worker.origin}/.well-known/oauth-protected-resource", timeout=10).json()
        assert metadata["scopes_supported"] == ["prefect:read", "prefect:write"], metadata
        deployment = prefect.manifest["forecast"]

        def session_with(token: str) -> tuple[dict, dict | None, str]:
            consent, storage = HeadlessConsent(team_credentials(token)), MemoryTokenStorage()

            async def go():
                async with httpx2.AsyncClient(auth=sdk_provider(worker.url, consent, storage), timeout=30) as http:
                    async with Client(streamable_http_client(worker.url, http_client=http), mode=MODERN) as session:
                        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
                        if "pause_deployment" not in tools:
                            return tools, None
                        result = await session.call_tool("pause_deployment", {"deployment_id": deployment})
                        return tools, envelope(result)

            tools, report = asyncio.run(go())
            return tools, report, storage.tokens.scope or ""

        before = world(prefect)
        tools, report, scope = session_with(WRITE_TOKENS[0])
        assert set(scope.split()) == {"prefect:read", "prefect:write"}, scope
        assert set(ACTIONS) <= set(tools) and tools["cancel_flow_run"].annotations.destructive_hint is True
        assert report["executed"] is False and report["preview"]["deployment"]["id"] == deployment, report
        assert world(prefect) == before, "the preview changed nothing"

        tools, report, scope = session_with(READ_TOKEN)
        assert "prefect:write" in scope.split(), "asked for, and recorded"
        assert not set(ACTIONS) & set(tools) and "get_flows" in tools, "but a read token's grant cannot write"
        stored = b"".join(path.read_bytes() for path in worker.kv_dir.rglob("*") if path.is_file())
        assert stored and not any(secret.encode() in stored for secret in SECRETS), "grants keep no token or key"
    finally:
        worker.stop()
