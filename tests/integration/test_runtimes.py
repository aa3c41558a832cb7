"""The benchmarks serve the built Worker through Miniflare (workerd without wrangler dev's
proxy). It must be the same Worker with the same settings: same answers, same Prefect
requests, and its log lines reach the log file."""

from __future__ import annotations

import pytest

from harness import Worker, call_counting_upstream, post_json


@pytest.fixture(scope="module")
def miniflare_worker(prefect):
    worker = Worker("miniflare", {"PREFECT_API_URL": prefect.api_url, "PREFECT_API_AUTH_STRING": prefect.auth_string},
                    runtime="miniflare")
    try:
        yield worker.wait_ready()
    finally:
        worker.stop()


@pytest.mark.parametrize("tool, arguments", [("get_flows", {}), ("get_automations", {}), ("get_identity", {})])
def test_answers_like_wrangler_dev(miniflare_worker, worker_with_secrets, tool, arguments):
    ours = call_counting_upstream(miniflare_worker.url, tool, arguments)
    under_wrangler = call_counting_upstream(worker_with_secrets, tool, arguments)
    assert ours[1]["success"] is True, ours
    assert ours == under_wrangler


def test_local_vars_apply_and_requests_are_logged(miniflare_worker):
    # wrangler.local.toml sets PREFECT_DOCS_MCP_URL = "off": the docs tools are not listed.
    status, _, listing = post_json(miniflare_worker.url, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                                   {"MCP-Protocol-Version": "2025-11-25"})
    names = [tool["name"] for tool in listing["result"]["tools"]]
    assert status == 200 and "get_flows" in names
    assert not [name for name in names if name.startswith("docs_")], names

    call_counting_upstream(miniflare_worker.url, "get_identity", {})
    entries = miniflare_worker.log_entries()
    assert any(entry.get("tool") == "get_identity" and entry.get("upstreamRequests") == 1 for entry in entries), entries


def test_extra_wrangler_config_needs_wrangler():
    with pytest.raises(ValueError, match="runtime='wrangler'"):
        Worker("miniflare-config", {}, extra_config="[[ratelimits]]", runtime="miniflare")
