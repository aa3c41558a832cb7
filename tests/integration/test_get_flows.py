"""get_flows against the seeded Prefect server: results equal the REST API's own answer."""

from __future__ import annotations

import pytest

from mcp_client import call_tool, envelope, error_text

MISSING = "00000000-0000-4000-8000-000000000000"


def rest_flows(prefect, flows_filter=None, limit=200) -> list[dict]:
    return prefect.rest("POST", "flows/filter", {"flows": flows_filter, "sort": "NAME_ASC", "limit": limit})


def flows(worker, **arguments) -> dict:
    result = call_tool(worker, "get_flows", arguments)
    assert not result.is_error, result
    return envelope(result)


def test_default_lists_every_flow_by_name(worker_with_secrets, prefect):
    expected = rest_flows(prefect)
    got = flows(worker_with_secrets)
    assert got["success"] is True and got["error"] is None
    assert [f["name"] for f in got["flows"]] == [f["name"] for f in expected]
    assert got["count"] == len(expected) >= 4
    assert got["truncated"] is False
    for item in got["flows"]:
        assert set(item) == {"id", "name", "created", "updated", "tags"}
        assert item["created"].endswith("+00:00")


def test_omitted_arguments_behave_like_empty(worker_with_secrets):
    assert envelope(call_tool(worker_with_secrets, "get_flows", None)) == flows(worker_with_secrets)


def test_limit_truncates_exactly(worker_with_secrets, prefect):
    names = [f["name"] for f in rest_flows(prefect)]
    got = flows(worker_with_secrets, limit=1)
    assert [f["name"] for f in got["flows"]] == names[:1] and got["truncated"] is True
    exact = flows(worker_with_secrets, limit=len(names))
    assert exact["count"] == len(names) and exact["truncated"] is False
    # The server serves at most 200 rows per request; the probe row needs a second page.
    assert flows(worker_with_secrets, limit=200)["count"] == len(names)
    assert flows(worker_with_secrets, limit="3")["count"] == 3
    assert flows(worker_with_secrets, limit=2.0)["count"] == 2


@pytest.mark.parametrize("make_filter", [
    lambda p: {"name": {"like_": "etl"}},
    lambda p: {"deployment": {"is_null_": True}},
    lambda p: {"deployment": {"is_null_": False}},
    lambda p: {"tags": {"all_": [next(t for f in rest_flows(p) for t in f["tags"])]}},
    lambda p: {"id": {"any_": [rest_flows(p)[-1]["id"]]}},
    lambda p: {"name": {"any_": [rest_flows(p)[0]["name"]]}, "operator": "and_"},
], ids=["name-like", "without-deployments", "with-deployments", "tag", "id", "name-any"])
def test_filters_match_the_server(worker_with_secrets, prefect, make_filter):
    flow_filter = make_filter(prefect)
    expected = [f["name"] for f in rest_flows(prefect, flow_filter)]
    got = flows(worker_with_secrets, filter=flow_filter)
    assert [f["name"] for f in got["flows"]] == expected
    assert 0 < len(expected) < len(rest_flows(prefect)), "the fixture should make this filter selective"


def test_unknown_id_is_an_empty_success(worker_with_secrets):
    got = flows(worker_with_secrets, filter={"id": {"any_": [MISSING]}})
    assert got["success"] is True and got["count"] == 0 and got["flows"] == []


@pytest.mark.parametrize("bad_filter, named", [
    ({"name": {"like": "etl-%"}}, "`name.like`"),
    ({"bogus": {"eq_": 1}}, "`bogus`"),
    ({"id": {"any_": ["not-a-uuid"]}}, "`id.any_`"),
])
def test_bad_filters_are_errors_naming_the_key(worker_with_secrets, bad_filter, named):
    result = call_tool(worker_with_secrets, "get_flows", {"filter": bad_filter})
    assert result.is_error
    got = envelope(result)
    assert got["success"] is False and got["flows"] == [] and got["count"] == 0
    assert got["error"].startswith("Failed to fetch flows: ") and named in got["error"]


@pytest.mark.parametrize("arguments, named", [
    ({"limit": 0}, "limit: expected an integer from 1 to 200, got 0"),
    ({"limit": 201}, "limit: expected an integer from 1 to 200, got 201"),
    ({"limit": 2.5}, "limit"),
    ({"foo": 1}, "unknown field `foo`"),
    ({"filter": "paused"}, "filter"),
    ({"workspace_id": "not-a-uuid"}, "workspace_id: expected a workspace UUID"),
])
def test_invalid_arguments_are_tool_errors(worker_with_secrets, arguments, named):
    assert named in error_text(call_tool(worker_with_secrets, "get_flows", arguments))
