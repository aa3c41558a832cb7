"""Benchmark (not a test): wasm size and per-request latency of the Worker in workerd.

Prints the wasm artifact size (raw and gzip), then for each case the median and p90
latency over N requests (after a few untimed ones), the Prefect subrequests each request
made, and the CPU time workerd's main thread spent on it (median; Linux only). That thread
runs the isolate and also workerd's own HTTP and fetch machinery, which Cloudflare does not
bill, so the figure is an upper bound for the CPU time that counts against a plan's limit
(10 ms per request on the free plan); the `GET /` line is the floor every request pays. Uses the local demo setup: a real Prefect server (started and seeded here unless
--prefect-url is given) and the built Worker in workerd, served through Miniflare (or behind
wrangler dev with --runtime wrangler).

    .venv/bin/python scripts/bench.py [--requests 50] [--warmup 5] [--prefect-url URL] [--runtime miniflare]
        [--writes]

With --writes the Worker has ALLOW_WRITES=true and every request carries a write token, so each
one also pays for deciding who may write; the action tools' previews (reads plus a signed
token, nothing changed) are measured too.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration" / "support"))
sys.path.insert(0, str(ROOT / "scripts"))

from prefect_server import seeded_server  # noqa: E402
from harness import QUIET, Worker, post_json  # noqa: E402


# Sent with every request; --writes adds the write token.
HEADERS: dict[str, str] = {}
WRITE_TOKEN = "bench-write-token"


def call(name: str, arguments: dict | None = None) -> dict:
    return {"method": "tools/call", "params": {"name": name, "arguments": arguments or {}}}


def cases(url: str) -> list[tuple[str, dict]]:
    """One default call per tool, plus detail-by-id calls; ids come from the server itself."""

    def first_id(tool: str, key: str) -> str:
        _, _, reply = post_json(url, {"jsonrpc": "2.0", "id": 0, **call(tool, {"limit": 1})}, HEADERS)
        return reply["result"]["structuredContent"][key][0]["id"]

    by_id = lambda tool, key: call(tool, {"filter": {"id": {"any_": [first_id(tool, key)]}}})  # noqa: E731
    return [
        ("tools/list", {"method": "tools/list"}),
        ("orientation", call("orientation")),
        ("get_identity", call("get_identity")),
        ("get_dashboard", call("get_dashboard")),
        ("get_deployments", call("get_deployments")),
        ("get_deployments (by id)", by_id("get_deployments", "deployments")),
        ("get_flows", call("get_flows")),
        ("get_flows (filter)", call("get_flows", {"filter": {"name": {"like_": "etl"}}})),
        ("get_flow_runs", call("get_flow_runs")),
        ("get_flow_runs (by id)", by_id("get_flow_runs", "flow_runs")),
        ("get_flow_run_logs", call("get_flow_run_logs", {"flow_run_id": first_id("get_flow_runs", "flow_runs")})),
        ("get_task_runs", call("get_task_runs")),
        ("get_work_pools", call("get_work_pools")),
        ("get_work_pools (by id)", by_id("get_work_pools", "work_pools")),
        ("read_events", call("read_events")),
        ("read_events (limit 120)", call("read_events", {"limit": 120})),
        ("get_automations", call("get_automations")),
        ("get_automations (by id)", by_id("get_automations", "automations")),
        ("get_object_schema", call("get_object_schema", {"object_type": "automation"})),
        ("diagnose_flow_run", call("diagnose_flow_run", {"flow_run_id": first_id("get_flow_runs", "flow_runs")})),
        ("diagnose_deployment",
         call("diagnose_deployment", {"deployment_id": first_id("get_deployments", "deployments")})),
    ]


def action_previews(url: str) -> list[tuple[str, dict]]:
    """The action tools' first step: reads and a signed token, nothing changed."""

    def first(tool: str, key: str, filter_: dict) -> str:
        _, _, reply = post_json(url, {"jsonrpc": "2.0", "id": 0, **call(tool, {"filter": filter_, "limit": 1})}, HEADERS)
        return reply["result"]["structuredContent"][key][0]["id"]

    running = first("get_flow_runs", "flow_runs", {"state": {"type": {"any_": ["RUNNING"]}}})
    active = first("get_deployments", "deployments", {"paused": {"eq_": False}})
    return [
        ("cancel_flow_run (preview)", call("cancel_flow_run", {"flow_run_id": running})),
        ("run_deployment (preview)", call("run_deployment", {"deployment_id": active})),
        ("pause_deployment (preview)", call("pause_deployment", {"deployment_id": active})),
    ]


def heavy_cases(url: str) -> list[tuple[str, dict]]:
    """The largest answers the tools give on the seeded server: the most CPU a call can take."""
    _, _, reply = post_json(url, {"jsonrpc": "2.0", "id": 0, **call(
        "get_flow_runs", {"filter": {"name": {"any_": ["audit-verbose"]}}, "limit": 1})}, HEADERS)
    verbose = reply["result"]["structuredContent"]["flow_runs"][0]["id"]
    return [
        ("get_flow_runs (limit 200)", call("get_flow_runs", {"limit": 200})),
        ("get_task_runs (limit 200)", call("get_task_runs", {"limit": 200})),
        ("get_flow_run_logs (1000)", call("get_flow_run_logs", {"flow_run_id": verbose, "limit": 1000})),
        ("read_events (limit 500)", call("read_events", {"limit": 500})),
    ]


def wasm_size() -> None:
    wasm = (ROOT / "build" / "index_bg.wasm").read_bytes()
    print(f"wasm: {len(wasm):,} bytes raw, {len(gzip.compress(wasm, 9)):,} bytes gzip")


def workerd_pid(root_pid: int) -> int | None:
    """The workerd process below `root_pid` (Miniflare's or wrangler's node), if /proc shows it."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:  # the process ended meanwhile
            continue
        # The parent pid follows the command name, which may itself contain ") ".
        children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    pending = list(children.get(root_pid, []))
    while pending:
        pid = pending.pop()
        if Path(f"/proc/{pid}/comm").read_text().strip() == "workerd":
            return pid
        pending.extend(children.get(pid, []))
    return None


def main_thread_cpu_ms(pid: int | None) -> float:
    """CPU time of the process's main thread so far (nanosecond schedstat), 0 without one."""
    if pid is None:
        return 0.0
    return int(Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()[0]) / 1e6


def measure(url: str, body: dict | None, count: int, warmup: int, pid: int | None) -> tuple[list[float], list[float], int]:
    """Latencies and workerd CPU per timed request; `body` None sends `GET /` instead."""
    timings, cpu, subrequests = [], [], 0
    for i in range(warmup + count):
        cpu_before = main_thread_cpu_ms(pid)
        started = time.perf_counter()
        if body is None:
            with urllib.request.urlopen(url.removesuffix("/mcp") + "/") as response:
                status, headers, reply = response.status, dict(response.headers), {}
                response.read()
        else:
            status, headers, reply = post_json(url, {"jsonrpc": "2.0", "id": i, **body}, HEADERS)
        elapsed = (time.perf_counter() - started) * 1000
        spent = main_thread_cpu_ms(pid) - cpu_before
        if status != 200 or "error" in reply or reply.get("result", {}).get("isError"):
            raise SystemExit(f"request failed: {status} {json.dumps(reply)[:300]}")
        subrequests = int({k.lower(): v for k, v in headers.items()}.get("x-upstream-requests", 0))
        if i >= warmup:  # V8 optimises the wasm as it runs
            timings.append(elapsed)
            cpu.append(spent)
    return timings, cpu, subrequests


def main() -> int:
    parser = argparse.ArgumentParser(description="Worker latency benchmark")
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5, help="untimed requests per case first")
    parser.add_argument("--prefect-url", help="use this Prefect API instead of starting one")
    parser.add_argument("--runtime", choices=("miniflare", "wrangler"), default="miniflare",
                        help="workerd through Miniflare (default) or behind wrangler dev's proxy")
    parser.add_argument("--writes", action="store_true", help="ALLOW_WRITES=true, a write token, action previews")
    args = parser.parse_args()

    wasm_size()
    with seeded_server(ROOT / ".work", "prefect-bench-", args.prefect_url) as (url, _):
        variables = {"PREFECT_API_URL": url}
        if args.writes:
            variables.update(ALLOW_WRITES="true", MCP_WRITE_TOKENS=WRITE_TOKEN)
            HEADERS["Authorization"] = f"Bearer {WRITE_TOKEN}"
        worker = Worker("bench", variables, log_level=QUIET, runtime=args.runtime).wait_ready(HEADERS)
        try:
            pid = workerd_pid(worker.process.pid)
            if pid:
                # V8 compiles wasm functions on their first call: a fresh isolate's first calls
                # cost more CPU than the steady state measured below.
                first = []
                for name, body in [("initialize", {"method": "initialize", "params": {
                        "protocolVersion": "2025-11-25", "capabilities": {},
                        "clientInfo": {"name": "bench.py", "version": "1"}}}),
                        ("tools/list", {"method": "tools/list"}), ("tools/call", call("orientation"))]:
                    _, cpu, _ = measure(worker.url, body, 1, 0, pid)
                    first.append(f"{name} {cpu[0]:.1f} ms")
                print("workerd CPU of a fresh isolate's first calls: " + ", ".join(first))
            print(f"{'case':<26} {'median ms':>10} {'p90 ms':>8} {'subrequests':>12} {'workerd CPU ms':>15}")
            previews = action_previews(worker.url) if args.writes else []
            for name, body in [("GET / (floor)", None), *cases(worker.url), *previews, *heavy_cases(worker.url)]:
                timings, cpu, subrequests = measure(worker.url, body, args.requests, args.warmup, pid)
                p90 = statistics.quantiles(timings, n=10)[-1]
                spent = f"{statistics.median(cpu):.2f}" if pid else "n/a"
                print(f"{name:<26} {statistics.median(timings):>10.2f} {p90:>8.2f} {subrequests:>12} {spent:>15}")
        finally:
            worker.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
