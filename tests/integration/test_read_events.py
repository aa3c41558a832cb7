"""read_events against the seeded Prefect server: events equal the REST API's own pages."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from harness import call_counting_upstream
from mcp_client import call_tool, envelope


@pytest.fixture(scope="module")
def window(prefect) -> dict[str, str]:
    """A closed window ending at seed time: its events no longer change."""
    seeded = datetime.fromisoformat(prefect.manifest["seeded_at"])
    return {"occurred_after": (seeded - timedelta(hours=1)).isoformat(), "occurred_before": seeded.isoformat()}


def rest_events(prefect, event_filter: dict, limit: int) -> tuple[list[dict], int]:
    """Every page the REST API gives for the filter (following next_page), and its total."""
    page = prefect.rest("POST", "events/filter", {"filter": event_filter, "limit": 50})
    total, events = page["total"], list(page["events"])
    while page["next_page"] and len(events) < limit:
        # Prefect leaves base64 `+` bare in its links; sent bare it would read as a space.
        path = page["next_page"].split("/api/", 1)[1].replace("+", "%2B")
        page = prefect.rest("GET", path)
        events += page["events"]
    return events[:limit], total


def event_info(event: dict) -> dict:
    """The EventInfo shape, computed independently from the raw event."""
    resource = event["resource"]
    state = (event.get("payload") or {}).get("validated_state") or {}
    name = resource.get("prefect.resource.name")
    flows = [r for r in event.get("related") or [] if r.get("prefect.resource.role") == "flow"]
    tags = [k.removeprefix("prefect.tag.") + ("" if v == "true" else f":{v}")
            for k, v in resource.items() if k.startswith("prefect.tag.")]
    return {
        "id": event["id"], "event_type": event["event"], "occurred": event["occurred"],
        "resource_name": name, "resource_id": resource.get("prefect.resource.id"),
        "state_type": resource.get("prefect.state-type") or state.get("type"),
        "state_name": resource.get("prefect.state-name") or state.get("name"),
        "state_message": resource.get("prefect.state-message") or state.get("message"),
        "flow_name": flows[-1].get("prefect.resource.name") if flows else None,
        "flow_run_name": name.split("/")[0] if name is not None else None,
        "tags": tags or None, "follows": event.get("follows"),
    }


def events(worker, headers=None, **arguments) -> dict:
    result = call_tool(worker, "read_events", arguments, headers=headers)
    assert not result.is_error, result
    got = envelope(result)
    assert got["success"] is True and got["error"] is None
    return got


def closed(window) -> dict:
    return {"occurred": {"since": window["occurred_after"], "until": window["occurred_before"]}}


@pytest.mark.parametrize("limit", [50, 120, 500])
def test_window_pages_equal_the_rest_api(worker_with_secrets, prefect, window, limit):
    expected, total = rest_events(prefect, closed(window), limit)
    got = events(worker_with_secrets, limit=limit, **window)
    shown = len(got["events"])
    assert got["events"] == [event_info(e) for e in expected][:shown]
    assert got["count"] == shown and got["total"] == total
    if "note" in got:  # cut to fit the response size budget, and saying so
        assert shown < min(limit, total) and got["truncated"] is True
        assert f"kept the first {shown} of {min(limit, total)} events" in got["note"]
    else:
        assert shown == min(limit, total)
        assert got["truncated"] is (total > limit)
    assert total > 120, "the fixture should make paging necessary"
    ids = [e["id"] for e in got["events"]]
    assert len(ids) == len(set(ids))
    occurred = [e["occurred"] for e in got["events"]]
    assert occurred == sorted(occurred, reverse=True)


def test_default_window_is_the_last_hour(worker_with_secrets, prefect):
    got = events(worker_with_secrets)
    now = datetime.now(UTC)
    assert got["count"] == min(50, got["total"]) and got["total"] > 0
    for event in got["events"]:
        occurred = datetime.fromisoformat(event["occurred"].replace("Z", "+00:00"))
        assert now - timedelta(hours=1, minutes=1) <= occurred <= now + timedelta(minutes=1)
        assert set(event) == {"id", "event_type", "occurred", "resource_name", "resource_id", "state_type",
                              "state_name", "state_message", "flow_name", "flow_run_name", "tags", "follows"}


def test_custom_prefix_gives_exactly_those_events(worker_with_secrets, prefect, window):
    custom = prefect.manifest["events"]["custom_event"]
    got = events(worker_with_secrets, event_type_prefix=custom, limit=500, **window)
    expected, total = rest_events(prefect, {**closed(window), "event": {"prefix": [custom]}}, 500)
    assert got["count"] == total == len(expected) > 0
    assert got["events"] == [event_info(e) for e in expected]
    related = prefect.manifest["events"]["custom_event_related_flow"]["name"]
    assert all(e["event_type"] == custom and e["flow_name"] == related for e in got["events"])
    assert all(e["resource_id"].startswith("acme.dataset.") for e in got["events"])


def test_task_run_prefix_with_limit(worker_with_secrets):
    got = events(worker_with_secrets, event_type_prefix="prefect.task-run", limit=5)
    assert got["count"] == 5 and all(e["event_type"].startswith("prefect.task-run") for e in got["events"])
    assert got["truncated"] is True


def test_flow_run_states_come_from_the_events(worker_with_secrets, window):
    got = events(worker_with_secrets, event_type_prefix="prefect.flow-run.Running", limit=20, **window)
    assert got["count"] > 0 and all(e["state_type"] == "RUNNING" for e in got["events"])


@pytest.mark.parametrize("arguments", [{"event_type_prefix": "nope.nothing"}, {"occurred_after": "2099-01-01T00:00:00Z"}])
def test_nothing_matching_is_an_empty_success(worker_with_secrets, arguments):
    got = events(worker_with_secrets, **arguments)
    assert (got["count"], got["events"], got["total"], got["truncated"]) == (0, [], 0, False)


def test_only_the_upper_bound_is_sent_when_only_it_is_given(worker_with_secrets, prefect, window):
    before = window["occurred_before"]
    got = events(worker_with_secrets, occurred_before=before, limit=1)
    expected = prefect.rest("POST", "events/filter", {"filter": {"occurred": {"until": before}}, "limit": 1})
    assert got["total"] == expected["total"] > 0
    assert got["events"] == [event_info(e) for e in expected["events"]]


def test_unparseable_bound_is_a_failure(worker_with_secrets):
    result = call_tool(worker_with_secrets, "read_events", {"occurred_after": "yesterday"})
    assert result.is_error
    got = envelope(result)
    assert (got["success"], got["count"], got["events"], got["total"]) == (False, 0, [], 0)
    assert got["error"].startswith("Failed to fetch events: 422") and "since" in got["error"]


@pytest.mark.parametrize("limit", [0, 501])
def test_limit_out_of_range_is_a_tool_error(worker_with_secrets, limit):
    result = call_tool(worker_with_secrets, "read_events", {"limit": limit})
    assert result.is_error and "limit: expected an integer from 1 to 500" in result.content[0].text


def test_request_counts(worker_with_secrets, window):
    upstream, got = call_counting_upstream(worker_with_secrets, "read_events", {})
    assert got["success"] is True and upstream == 1
    upstream, got = call_counting_upstream(worker_with_secrets, "read_events", {"limit": 120, **window})
    assert got["count"] == 120 and upstream == 3


class HostRewritingProxy:
    """Forwards to Prefect with another Host header, so Prefect's next_page links name a
    host the Worker must not talk to; records what reached the proxy."""

    def __init__(self, target: str):
        self.seen: list[tuple[str, str, str]] = []
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(target))
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the Worker's fetch expects

            def log_message(self, *args):
                pass

            def _body(self) -> bytes | None:
                if "chunked" in (self.headers.get("transfer-encoding") or "").lower():
                    chunks = []
                    while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                    self.rfile.readline()
                    return b"".join(chunks)
                length = int(self.headers.get("content-length") or 0)
                return self.rfile.read(length) if length else None

            def _forward(self):
                body = self._body()
                request = urllib.request.Request(origin + self.path, data=body, method=self.command)
                for name in ("authorization", "content-type", "accept"):
                    if self.headers.get(name):
                        request.add_header(name, self.headers[name])
                request.add_header("Host", "rewritten.invalid:4200")
                try:
                    with urllib.request.urlopen(request, timeout=30) as response:
                        status, payload = response.status, response.read()
                except urllib.error.HTTPError as error:
                    status, payload = error.code, error.read()
                owner.seen.append((self.command, self.path, payload.decode(errors="replace")))
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.api_url = f"http://127.0.0.1:{self.server.server_address[1]}{urlsplit(target).path}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_next_page_links_to_another_host_are_followed_on_the_configured_host(worker_without_secrets, prefect, window):
    proxy = HostRewritingProxy(prefect.api_url)
    try:
        headers = {"X-Prefect-Api-Url": proxy.api_url, "X-Prefect-Api-Auth-String": prefect.auth_string}
        got = events(worker_without_secrets, headers=headers, limit=120, **window)
    finally:
        proxy.close()
    assert got["count"] == 120
    assert [(method, path.split("?")[0]) for method, path, _ in proxy.seen] == [
        ("POST", "/api/events/filter"), ("GET", "/api/events/filter/next"), ("GET", "/api/events/filter/next")]
    assert "rewritten.invalid" in json.loads(proxy.seen[0][2])["next_page"]
