"""Side-by-side benchmark (not a test): this Worker in workerd against the Python reference
server (PyPI prefect-mcp 0.0.1b13) on the same seeded Prefect server.

Both servers reach Prefect through one counting proxy, so the REST calls each tool call makes
are measured the same way. Each server is driven by the official Python MCP SDK over one
persistent connection (handshake mode, which both speak). Prints, per case, median and p90
latency of both, the ratio, REST calls per call, and for ours the critical-path REST time (how
long at least one Prefect request was in flight) with our latency as a multiple of it; then throughput under a bounded
concurrent load and the resident memory of each server.

    .venv/bin/python scripts/compare.py [--requests 20] [--clients 8] [--load-calls 200]

The reference is installed into .venv-reference on first use (PyPI only).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
sys.path.insert(0, str(ROOT / "scripts"))

from harness import QUIET, Worker, free_port  # noqa: E402
from mcp import Client  # noqa: E402

REFERENCE_VENV = ROOT / ".venv-reference"
REFERENCE_PACKAGE = "prefect-mcp==0.0.1b13"


class CountingProxy:
    """Forwards every request to Prefect, counting them and recording when each was in flight
    (HTTP/1.1 keep-alive towards the servers under test)."""

    def __init__(self, upstream: str):
        self.count = 0
        self.spans: list[tuple[float, float]] = []
        self._lock = threading.Lock()
        target = urlsplit(upstream)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                # Headers and body go out as separate writes; without this, Nagle's algorithm
                # meets the client's delayed ACK and adds ~40 ms to some responses.
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, *args):
                pass

            def _forward(self):
                started = time.perf_counter()
                with owner._lock:
                    owner.count += 1
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else None
                connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
                payload = response.read()
                self.send_response(response.status)
                for name, value in response.getheaders():
                    if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(name, value)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                connection.close()
                with owner._lock:
                    owner.spans.append((started, time.perf_counter()))

            do_GET = do_POST = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.api_url = f"http://127.0.0.1:{self.server.server_address[1]}{target.path}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


    def busy_ms(self, since: int) -> float:
        """How long at least one request recorded after span `since` was in flight: the
        critical path through the REST calls of one tool call."""
        busy, reach = 0.0, float("-inf")
        for start, end in sorted(self.spans[since:]):
            if end > reach:
                busy += end - max(start, reach)
                reach = end
        return busy * 1000


def ensure_reference() -> Path:
    script = REFERENCE_VENV / "bin" / "prefect-mcp-server"
    if not script.exists():
        print(f"installing {REFERENCE_PACKAGE} into {REFERENCE_VENV} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(REFERENCE_VENV)], check=True)
        subprocess.run([str(REFERENCE_VENV / "bin" / "pip"), "install", "-q", REFERENCE_PACKAGE], check=True)
    return script


class Reference:
    """The reference over streamable HTTP, with the docs proxy pointed at a closed port so its
    tools/list does not wait on an unreachable docs host."""

    def __init__(self, script: Path, api_url: str, home: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env.update(FASTMCP_TRANSPORT="http", FASTMCP_HOST="127.0.0.1", FASTMCP_PORT=str(self.port),
                   PREFECT_API_URL=api_url, PREFECT_HOME=str(home), DO_NOT_TRACK="1",
                   PREFECT_DOCS_MCP_URL=f"http://127.0.0.1:{free_port()}/mcp")
        self._log = open(home / "reference.log", "w")
        self.process = subprocess.Popen([str(script)], env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)

    def wait_ready(self) -> "Reference":
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket_to(self.port):
                    return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("the reference server did not start")

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=10)
        self._log.close()


def socket_to(port: int):
    return socket.create_connection(("127.0.0.1", port), timeout=1)


def group_rss_mb(pid: int) -> float:
    """Resident memory of a process group (the reference; wrangler's workerd)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) != pid:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (OSError, ProcessLookupError):
            continue
    return total / 1024


def workerd_rss_mb(worker: Worker) -> float:
    """Only workerd's own memory: wrangler's Node process is dev tooling, not the Worker."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) != worker.process.pid:
                continue
            if "workerd" not in (entry / "cmdline").read_bytes().decode(errors="replace"):
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (OSError, ProcessLookupError):
            continue
    return total / 1024


def cases(prefect) -> list[tuple[str, str, dict]]:
    first = lambda path: prefect.rest("POST", path, {"limit": 1})[0]["id"]  # noqa: E731
    by_id = lambda path: {"filter": {"id": {"any_": [first(path)]}}}  # noqa: E731
    run_id = prefect.manifest["flow_runs"][prefect.manifest["verbose_flow_run"]]["id"]
    return [
        ("orientation", "orientation", {}),
        ("get_identity", "get_identity", {}),
        ("get_dashboard", "get_dashboard", {}),
        ("get_deployments", "get_deployments", {}),
        ("get_deployments (by id)", "get_deployments", by_id("deployments/filter")),
        ("get_flows", "get_flows", {}),
        ("get_flow_runs", "get_flow_runs", {}),
        ("get_flow_runs (by id)", "get_flow_runs", by_id("flow_runs/filter")),
        ("get_flow_run_logs", "get_flow_run_logs", {"flow_run_id": run_id}),
        ("get_task_runs", "get_task_runs", {}),
        ("get_work_pools", "get_work_pools", {}),
        ("get_work_pools (by id)", "get_work_pools", by_id("work_pools/filter")),
        ("read_events", "read_events", {}),
        ("read_events (limit 120)", "read_events", {"limit": 120}),
        ("get_automations", "get_automations", {}),
        ("get_automations (by id)", "get_automations", by_id("automations/filter")),
        ("get_object_schema", "get_object_schema", {"object_type": "automation"}),
    ]


async def latencies(url: str, proxy: CountingProxy, plan, requests: int) -> dict[str, tuple]:
    """Per case: call timings (ms), REST calls per call, whether it failed, and the critical-path
    REST time (ms) of each timed call."""
    results = {}
    async with Client(url, mode="legacy") as session:
        await session.list_tools()
        timings = []
        for _ in range(requests):
            started = time.perf_counter()
            await session.list_tools()
            timings.append((time.perf_counter() - started) * 1000)
        results["tools/list"] = (timings, 0, False, [0.0] * len(timings))
        for label, tool, arguments in plan:
            before = proxy.count
            warm = await session.call_tool(tool, arguments)
            calls = proxy.count - before
            failed = bool(warm.is_error) or (warm.structured_content or {}).get("success") is False
            timings, critical = [], []
            for _ in range(requests):
                since = len(proxy.spans)
                started = time.perf_counter()
                await session.call_tool(tool, arguments)
                timings.append((time.perf_counter() - started) * 1000)
                critical.append(proxy.busy_ms(since))
            results[label] = (timings, calls, failed, critical)
    return results


async def throughput(url: str, clients: int, calls: int) -> tuple[float, int]:
    """`calls` get_flows calls spread over `clients` concurrent connections: calls/s, errors."""
    errors = 0

    async def one_client(share: int):
        nonlocal errors
        async with Client(url, mode="legacy") as session:
            for _ in range(share):
                result = await session.call_tool("get_flows", {"limit": 10})
                errors += bool(result.is_error)

    started = time.perf_counter()
    await asyncio.gather(*(one_client(calls // clients) for _ in range(clients)))
    return (calls // clients * clients) / (time.perf_counter() - started), errors


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0]


def compare(script: Path, prefect, args) -> None:
    """Both servers on the same Prefect, one after the other, through one counting proxy."""
    home = Path(tempfile.mkdtemp(prefix="reference-", dir=ROOT / ".work"))
    reference = worker = None
    try:
        proxy = CountingProxy(prefect.api_url)
        worker = Worker("compare", {"PREFECT_API_URL": proxy.api_url}, log_level=QUIET).wait_ready()
        reference = Reference(script, proxy.api_url, home).wait_ready()
        plan = cases(prefect)

        ours = asyncio.run(latencies(worker.url, proxy, plan, args.requests))
        theirs = asyncio.run(latencies(reference.url, proxy, plan, args.requests))

        print(f"\n{'case':<26} {'ref med':>8} {'ref p90':>8} {'ours med':>9} {'ours p90':>9} {'ratio':>6} "
              f"{'REST ref':>9} {'REST ours':>10} {'REST path':>10} {'ours/path':>10}")
        for label in ours:
            (r_t, r_calls, r_failed, _), (o_t, o_calls, o_failed, o_path) = theirs[label], ours[label]
            r_med, o_med, path = statistics.median(r_t), statistics.median(o_t), statistics.median(o_path)
            flag = " (reference failed)" if r_failed else ""
            flag += " (ours failed)" if o_failed else ""
            over_path = f"{o_med / path:>9.1f}x" if path else f"{'-':>10}"
            print(f"{label:<26} {r_med:>8.1f} {p90(r_t):>8.1f} {o_med:>9.1f} {p90(o_t):>9.1f} "
                  f"{r_med / o_med:>5.1f}x {r_calls:>9} {o_calls:>10} {path:>10.1f} {over_path}{flag}")

        print(f"\nload: {args.load_calls} get_flows calls over {args.clients} concurrent connections")
        for name, url in (("reference", reference.url), ("ours", worker.url)):
            rate, errors = asyncio.run(throughput(url, args.clients, args.load_calls))
            print(f"  {name:<10} {rate:>7.1f} calls/s, {errors} errors")
        print(f"\nresident memory after the run: reference {group_rss_mb(reference.process.pid):.0f} MB, "
              f"workerd (ours) {workerd_rss_mb(worker):.0f} MB")
    finally:
        if reference:
            reference.stop()
        if worker:
            worker.stop()
        shutil.rmtree(home, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20, help="timed calls per case (after one warm-up)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent connections in the load phase")
    parser.add_argument("--load-calls", type=int, default=200, help="calls in the load phase, per server")
    args = parser.parse_args()

    from conftest import Prefect
    from prefect_server import seeded_server

    script = ensure_reference()
    with seeded_server(ROOT / ".work", "prefect-compare-") as (api_url, manifest):
        compare(script, Prefect(api_url, "", manifest), args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
