"""Benchmark (not a test): wasm size and per-request latency of the Worker in workerd.

Prints the wasm artifact size (raw and gzip), then for each case the median and p90
latency over N requests and the Prefect subrequests each request made. Uses the local
demo setup: a real Prefect server (started and seeded here unless --prefect-url is given)
and the built Worker under wrangler dev.

    .venv/bin/python scripts/bench.py [--requests 50] [--prefect-url URL]
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
sys.path.insert(0, str(ROOT / "scripts"))

from harness import Worker, post_json  # noqa: E402

CASES = [
    ("tools/list", {"method": "tools/list"}),
    ("orientation", {"method": "tools/call", "params": {"name": "orientation", "arguments": {}}}),
    ("get_identity", {"method": "tools/call", "params": {"name": "get_identity", "arguments": {}}}),
    ("get_flows (default)", {"method": "tools/call", "params": {"name": "get_flows", "arguments": {}}}),
    ("get_flows (filter)", {"method": "tools/call", "params": {"name": "get_flows",
                                                                 "arguments": {"filter": {"name": {"like_": "etl"}}}}}),
]


def wasm_size() -> None:
    wasm = (ROOT / "build" / "index_bg.wasm").read_bytes()
    print(f"wasm: {len(wasm):,} bytes raw, {len(gzip.compress(wasm, 9)):,} bytes gzip")


def measure(url: str, body: dict, count: int) -> tuple[list[float], int]:
    timings, subrequests = [], 0
    for i in range(count + 1):
        started = time.perf_counter()
        status, headers, reply = post_json(url, {"jsonrpc": "2.0", "id": i, **body})
        elapsed = (time.perf_counter() - started) * 1000
        if status != 200 or "error" in reply or reply.get("result", {}).get("isError"):
            raise SystemExit(f"request failed: {status} {json.dumps(reply)[:300]}")
        subrequests = int({k.lower(): v for k, v in headers.items()}.get("x-upstream-requests", 0))
        if i:  # the first request warms the isolate
            timings.append(elapsed)
    return timings, subrequests


def main() -> int:
    parser = argparse.ArgumentParser(description="Worker latency benchmark")
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--prefect-url", help="use this Prefect API instead of starting one")
    args = parser.parse_args()

    wasm_size()
    server = home = None
    url = args.prefect_url
    if not url:
        from prefect_server import start_prefect_server
        from seed_prefect import seed

        home = Path(tempfile.mkdtemp(prefix="prefect-bench-", dir=ROOT / ".work"))
        print("starting and seeding a Prefect server ...", file=sys.stderr)
        server = start_prefect_server(home)
        url = server.api_url
        seed(url)
    worker = Worker("bench", {"PREFECT_API_URL": url}).wait_ready()
    try:
        print(f"{'case':<22} {'median ms':>10} {'p90 ms':>8} {'subrequests':>12}")
        for name, body in CASES:
            timings, subrequests = measure(worker.url, body, args.requests)
            p90 = statistics.quantiles(timings, n=10)[-1]
            print(f"{name:<22} {statistics.median(timings):>10.2f} {p90:>8.2f} {subrequests:>12}")
    finally:
        worker.stop()
        if server:
            server.stop()
            shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
