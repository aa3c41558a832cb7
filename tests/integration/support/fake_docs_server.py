"""A stand-in for Prefect's remote docs MCP server: the official Python SDK's MCPServer
(stateful streamable HTTP, SSE answers, like a default deployment) with the two tools the
Worker proxies. Run as `python fake_docs_server.py PORT`."""

from __future__ import annotations

import sys
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

NAMESPACE = "fake-prefect-docs"

server = MCPServer("Fake Prefect Docs")


@server.tool()
def search_prefect(query: str, top_k: int | None = None) -> dict[str, Any]:
    """Search the fake Prefect docs."""
    if not query.strip():
        raise ToolError("Query must not be empty.")
    results = [{"snippet": f"About {query} ({n})", "id": f"doc-{n}", "score": 1.0 / n, "title": f"Doc {n}",
                "link": f"https://docs.example/doc-{n}"} for n in range(1, (top_k or 5) + 1)]
    return {"query": query, "namespace": NAMESPACE, "results": results}


@server.tool()
def get_release_notes(version: str) -> dict[str, Any]:
    """Release notes of one fake Prefect version."""
    resolved = "3.9.1" if version == "latest" else version
    return {"version": resolved, "title": f"Prefect {resolved}", "released_on": "2026-01-01",
            "notes_markdown": f"## {resolved}\n- fixes", "source_url": "https://docs.example/release-notes"}


if __name__ == "__main__":
    server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[1]))
