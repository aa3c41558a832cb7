"""docs_search_prefect / docs_get_release_notes: forwarded to a docs MCP server. A stand-in
built on the official Python SDK (stateful, SSE answers) plays the remote; a listening socket
that never answers plays a black-holed docs host."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import LOGS, Worker, free_port, post_json
from mcp_client import call_tool, error_text, list_tool_names

SUPPORT = Path(__file__).resolve().parent / "support"
DOCS_TOOLS = ["docs_search_prefect", "docs_get_release_notes"]


def wait_for_port(port: int, process: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the fake docs server exited early")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError("the fake docs server did not start")


@pytest.fixture(scope="module")
def docs_worker():
    port = free_port()
    LOGS.mkdir(parents=True, exist_ok=True)
    with open(LOGS / "fake-docs.log", "w") as log:
        server = subprocess.Popen([sys.executable, str(SUPPORT / "fake_docs_server.py"), str(port)], stdout=log,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    worker = None
    try:
        wait_for_port(port, server)
        worker = Worker("docs", {"PREFECT_DOCS_MCP_URL": f"http://127.0.0.1:{port}/mcp"}).wait_ready()
        yield worker.url
    finally:
        if worker:
            worker.stop()
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def black_holed_worker():
    """The docs URL accepts connections (the kernel queues them) but never answers."""
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(16)
    worker = Worker("docs-black-hole", {"PREFECT_DOCS_MCP_URL": f"http://127.0.0.1:{hole.getsockname()[1]}/mcp"})
    try:
        yield worker.wait_ready().url
    finally:
        worker.stop()
        hole.close()


def test_docs_tools_are_listed_last(docs_worker):
    assert list_tool_names(docs_worker)[-2:] == DOCS_TOOLS


def test_search_returns_the_remote_result_unchanged(docs_worker):
    result = call_tool(docs_worker, "docs_search_prefect", {"query": "work pools", "top_k": 1})
    assert not result.is_error, result
    assert result.structured_content == {"query": "work pools", "namespace": "fake-prefect-docs", "results": [
        {"snippet": "About work pools (1)", "id": "doc-1", "score": 1.0, "title": "Doc 1",
         "link": "https://docs.example/doc-1"}]}


def test_release_notes_are_forwarded(docs_worker):
    result = call_tool(docs_worker, "docs_get_release_notes", {"version": "latest"})
    assert not result.is_error, result
    assert result.structured_content["version"] == "3.9.1"
    assert result.structured_content["notes_markdown"].startswith("## 3.9.1")


def test_remote_errors_pass_through(docs_worker):
    assert "Query must not be empty." in error_text(call_tool(docs_worker, "docs_search_prefect", {"query": " "}))


def test_arguments_are_checked_locally(docs_worker):
    assert "top_k" in error_text(call_tool(docs_worker, "docs_search_prefect", {"query": "x", "top_k": 21}))
    assert "version" in error_text(call_tool(docs_worker, "docs_get_release_notes", {}))


def test_docs_tools_are_off_in_local_runs_by_default(worker_without_secrets):
    """wrangler.local.toml sets PREFECT_DOCS_MCP_URL=off: tests never reach the internet."""
    assert not set(DOCS_TOOLS) & set(list_tool_names(worker_without_secrets))
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "docs_search_prefect", "arguments": {"query": "x"}}}
    _, _, body = post_json(worker_without_secrets, call, {"MCP-Protocol-Version": "2025-11-25"})
    assert body["error"]["message"] == "Unknown tool: 'docs_search_prefect'"


def test_black_holed_docs_host_keeps_the_list_fast_and_fails_the_call_in_time(black_holed_worker):
    started = time.monotonic()
    status, _, body = post_json(black_holed_worker, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                                {"MCP-Protocol-Version": "2025-11-25"})
    assert status == 200 and time.monotonic() - started < 1
    assert [t["name"] for t in body["result"]["tools"]][-2:] == DOCS_TOOLS
    started = time.monotonic()
    text = error_text(call_tool(black_holed_worker, "docs_search_prefect", {"query": "flows"}))
    elapsed = time.monotonic() - started
    assert "docs service" in text and "unavailable" in text and "5000 ms" in text, text
    assert 4 < elapsed < 8, elapsed
