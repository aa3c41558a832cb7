"""get_automations against the seeded Prefect server: results equal the REST API's own answer."""

from __future__ import annotations

import pytest

from harness import call_counting_upstream
from mcp_client import call_tool, envelope

MISSING = "00000000-0000-4000-8000-000000000000"
COMPACT = {"id", "name", "description", "enabled", "tags", "owner_resource", "trigger_type", "action_count"}


def rest_automations(prefect) -> list[dict]:
    return prefect.rest("POST", "automations/filter", {"sort": "NAME_ASC"})


def automations(worker, **arguments) -> dict:
    result = call_tool(worker, "get_automations", arguments)
    assert not result.is_error, result
    got = envelope(result)
    assert got["success"] is True and got["error"] is None
    return got


def by_name(prefect, name) -> dict:
    return next(a for a in rest_automations(prefect) if a["name"] == name)


def by_trigger(prefect, trigger_type, posture=None) -> dict:
    return next(a for a in rest_automations(prefect)
                if a["trigger"]["type"] == trigger_type and (posture is None or a["trigger"].get("posture") == posture))


def without_ids(trigger: dict) -> dict:
    trigger = {k: v for k, v in trigger.items() if k != "id"}
    if "triggers" in trigger:
        trigger["triggers"] = [without_ids(t) for t in trigger["triggers"]]
    return trigger


def test_default_is_every_automation_compact_by_name(worker_with_secrets, prefect):
    expected = rest_automations(prefect)
    got = automations(worker_with_secrets)
    assert got["detail"] is False and got["truncated"] is False
    assert got["count"] == len(expected) >= 4
    assert got["automations"] == [
        {"id": a["id"], "name": a["name"], "description": a["description"], "enabled": a["enabled"], "tags": a["tags"],
         "owner_resource": None, "trigger_type": a["trigger"]["type"],
         "action_count": len(a["actions"]) + len(a["actions_on_trigger"]) + len(a["actions_on_resolve"])}
        for a in expected]
    assert all(set(a) == COMPACT for a in got["automations"])
    assert {"event", "compound", "sequence"} <= {a["trigger_type"] for a in got["automations"]}


@pytest.mark.parametrize("enabled", [True, False])
def test_enabled_filter(worker_with_secrets, prefect, enabled):
    expected = [a["name"] for a in rest_automations(prefect) if a["enabled"] is enabled]
    got = automations(worker_with_secrets, filter={"enabled": {"eq_": enabled}})
    assert [a["name"] for a in got["automations"]] == expected and expected


def test_name_filter_and_unknown_name(worker_with_secrets, prefect):
    name = rest_automations(prefect)[-1]["name"]
    got = automations(worker_with_secrets, filter={"name": {"any_": [name]}})
    assert got["detail"] is False and [a["name"] for a in got["automations"]] == [name]
    assert set(got["automations"][0]) == COMPACT
    assert automations(worker_with_secrets, filter={"name": {"any_": ["no-such-automation"]}})["count"] == 0


def test_limit_keeps_the_first_by_name(worker_with_secrets, prefect):
    got = automations(worker_with_secrets, limit=1)
    assert [a["name"] for a in got["automations"]] == [rest_automations(prefect)[0]["name"]]
    assert got["truncated"] is True


@pytest.mark.parametrize("trigger_type, posture", [("event", "Reactive"), ("event", "Proactive"), ("compound", None), ("sequence", None)])
def test_detail_by_id_has_trigger_and_actions_as_stored(worker_with_secrets, prefect, trigger_type, posture):
    stored = by_trigger(prefect, trigger_type, posture)
    got = automations(worker_with_secrets, filter={"id": {"any_": [stored["id"]]}})
    assert got["detail"] is True and got["count"] == 1
    assert got["automations"][0] == {
        "id": stored["id"], "name": stored["name"], "description": stored["description"], "enabled": stored["enabled"],
        "tags": stored["tags"], "owner_resource": None, "trigger": without_ids(stored["trigger"]),
        "actions": stored["actions"], "actions_on_trigger": stored["actions_on_trigger"],
        "actions_on_resolve": stored["actions_on_resolve"]}
    assert isinstance(got["automations"][0]["trigger"]["within"], float)


def test_two_ids_in_request_order_and_missing_ids_do_not_fail(worker_with_secrets, prefect):
    first, second = rest_automations(prefect)[:2]
    got = automations(worker_with_secrets, filter={"id": {"any_": [second["id"], MISSING, first["id"]]}})
    assert [a["id"] for a in got["automations"]] == [second["id"], first["id"]]
    assert got["count"] == 2 and got["missing_ids"] == [MISSING]
    only_missing = automations(worker_with_secrets, filter={"id": {"any_": [MISSING]}})
    assert (only_missing["count"], only_missing["automations"], only_missing["missing_ids"]) == (0, [], [MISSING])


def test_enabled_applies_together_with_ids(worker_with_secrets, prefect):
    disabled = next(a for a in rest_automations(prefect) if not a["enabled"])
    enabled = next(a for a in rest_automations(prefect) if a["enabled"])
    got = automations(worker_with_secrets, filter={"id": {"any_": [disabled["id"], enabled["id"]]}, "enabled": {"eq_": True}})
    assert [a["id"] for a in got["automations"]] == [enabled["id"]]


def test_a_name_given_as_id_points_to_the_name_filter(worker_with_secrets, prefect):
    name = rest_automations(prefect)[0]["name"]
    result = call_tool(worker_with_secrets, "get_automations", {"filter": {"id": {"any_": [name]}}})
    assert result.is_error
    got = envelope(result)
    assert got["success"] is False and got["count"] == 0 and got["automations"] == [] and "detail" not in got
    assert got["error"] == (f"Failed to fetch automations: Invalid automation ID '{name}' - IDs must be valid UUIDs. "
                            f"If you have an automation name, use filter={{'name': {{'any_': ['{name}']}}}} instead.")


@pytest.mark.parametrize("bad_filter, named", [({"tags": {"any_": ["etl"]}}, "`tags`"), ({"enabled": {"ne_": True}}, "`enabled.ne_`")])
def test_unknown_filter_keys_are_rejected(worker_with_secrets, bad_filter, named):
    result = call_tool(worker_with_secrets, "get_automations", {"filter": bad_filter})
    got = envelope(result)
    assert got["success"] is False and named in got["error"] and "allowed" in got["error"]


def test_one_request_per_call(worker_with_secrets, prefect):
    ids = [a["id"] for a in rest_automations(prefect)[:3]]
    for arguments in ({}, {"filter": {"id": {"any_": ids}}}, {"filter": {"name": {"any_": ["a", "b"]}, "enabled": {"eq_": True}}}):
        upstream, got = call_counting_upstream(worker_with_secrets, "get_automations", arguments)
        assert got["success"] is True and upstream == 1, arguments
