"""Load figures (not a test): 16 concurrent MCP clients (official Python SDK) x 25 tool calls
against the built Worker in workerd and a seeded Prefect server on loopback. Prints errors,
throughput and p50/p90 latency; tests/integration/test_load.py runs the same load and
asserts zero errors.

    .venv/bin/python scripts/load.py [--clients 16] [--calls 25] [--prefect-url URL]
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration" / "support"))
sys.path.insert(0, str(ROOT / "scripts"))

from prefect_server import seeded_server  # noqa: E402
from harness import QUIET, Worker  # noqa: E402
from load_run import CALLS_PER_CLIENT, CLIENTS, describe, run_load  # noqa: E402


def first_flow_run(api_url: str) -> str:
    request = urllib.request.Request(f"{api_url}/flow_runs/filter", data=b'{"limit": 1}', method="POST",
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())[0]["id"]


def main() -> int:
    parser = argparse.ArgumentParser(description="Worker load figures")
    parser.add_argument("--clients", type=int, default=CLIENTS)
    parser.add_argument("--calls", type=int, default=CALLS_PER_CLIENT, help="tool calls per client")
    parser.add_argument("--prefect-url", help="use this Prefect API (no auth) instead of starting one")
    args = parser.parse_args()

    with seeded_server(ROOT / ".work", "prefect-load-", args.prefect_url) as (url, _):
        worker = Worker("load", {"PREFECT_API_URL": url}, log_level=QUIET).wait_ready()
        try:
            figures = run_load(worker.url, first_flow_run(url), args.clients, args.calls)
            print(describe(figures))
            for sample in figures["error_samples"]:
                print(f"  error: {sample}")
            return 1 if figures["errors"] else 0
        finally:
            worker.stop()


if __name__ == "__main__":
    raise SystemExit(main())
