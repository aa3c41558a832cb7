"""Side-by-side benchmark (not a test): this Worker in workerd against the Python reference
server (PyPI prefect-mcp 0.0.1b13) on the same seeded Prefect server.

Both servers reach Prefect through one counting keep-alive proxy, so the REST calls each tool
call makes are measured the same way. Our Worker runs in workerd through Miniflare (or behind
wrangler dev with --runtime wrangler). Each server is timed over one persistent connection after
the initialize handshake (which both speak) by a minimal JSON-RPC client, so the figures are the
servers' and not a client library's; the two take turns call by call, after a few untimed
warm-up calls per case; one line reports what the official Python SDK adds per
call. Prints, per case, median and p90 latency of both, the ratio, REST calls per call, and the
critical-path REST time of both (how long at least one Prefect request was in flight), our
latency as a multiple of ours, and the reference's latency as a multiple of our REST path: the
best ratio any server making our Prefect requests could reach; then throughput under a
bounded concurrent load (official SDK clients) and the resident memory of each server.

    .venv/bin/python scripts/compare.py [--requests 40] [--warmup 5] [--clients 8] [--load-calls 200]
        [--runtime miniflare] [--upstream-delay-ms 0]

The reference is installed into .venv-reference on first use (PyPI only).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
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
sys.path.insert(0, str(ROOT / "tests" / "integration" / "support"))
sys.path.insert(0, str(ROOT / "scripts"))

from harness import QUIET, Worker, free_port  # noqa: E402
from mcp import Client  # noqa: E402

REFERENCE_VENV = ROOT / ".venv-reference"
REFERENCE_PACKAGE = "prefect-mcp==0.0.1b13"


class CountingProxy:
    """Forwards every request to Prefect, counting them and recording when each was in flight.
    HTTP/1.1 keep-alive on both sides (each connection from a server under test gets its own
    connection to Prefect), so the proxy adds as little as it can to either server's time."""

    def __init__(self, upstream: str, delay_ms: float = 0):
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
                self.upstream = None

            def finish(self):
                super().finish()
                if self.upstream:
                    self.upstream.close()

            def log_message(self, *args):
                pass

            def _exchange(self, body: bytes | None, headers: dict[str, str]) -> http.client.HTTPResponse:
                """One request to Prefect on this handler's connection, reopened once if Prefect
                closed it while idle."""
                for attempt in (1, 2):
                    if self.upstream is None:
                        self.upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
                    try:
                        self.upstream.request(self.command, self.path, body=body, headers=headers)
                        return self.upstream.getresponse()
                    except (http.client.RemoteDisconnected, ConnectionError):
                        self.upstream.close()
                        self.upstream = None
                        if attempt == 2:
                            raise
                raise AssertionError("unreachable")

            def _forward(self):
                started = time.perf_counter()
                with owner._lock:
                    owner.count += 1
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else None
                time.sleep(delay_ms / 1000)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                response = self._exchange(body, headers)
                payload = response.read()
                self.send_response(response.status)
                for name, value in response.getheaders():
                    if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(name, value)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
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


class RpcSession:
    """A minimal MCP client for timing: the handshake, then plain JSON-RPC POSTs over one
    keep-alive connection, reading JSON or SSE answers. It measures the servers rather than a
    client library; `sdk_overhead` shows what the official SDK adds per call."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        self.path = parts.path
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
        self.connection.connect()
        self.connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.headers = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
        self.next_id = 0
        initialized, headers = self._post("initialize", {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "compare.py", "version": "1"}})
        if "mcp-session-id" in headers:
            self.headers["mcp-session-id"] = headers["mcp-session-id"]
        self.headers["mcp-protocol-version"] = initialized["protocolVersion"]
        self._send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def call_tool(self, name: str, arguments: dict) -> dict:
        return self._post("tools/call", {"name": name, "arguments": arguments})[0]

    def list_tools(self) -> dict:
        return self._post("tools/list", {})[0]

    def _post(self, method: str, params: dict) -> tuple[dict, dict[str, str]]:
        self.next_id += 1
        status, headers, body = self._send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        if headers.get("content-type", "").startswith("text/event-stream"):
            messages = [json.loads(line[5:]) for line in body.decode().splitlines() if line.startswith("data:")]
            body = json.dumps(next(m for m in messages if m.get("id") == self.next_id)).encode()
        reply = json.loads(body)
        if status != 200 or "result" not in reply:
            raise RuntimeError(f"{method} failed: {status} {body[:300]!r}")
        return reply["result"], headers

    def _send(self, message: dict) -> tuple[int, dict[str, str], bytes]:
        self.connection.request("POST", self.path, json.dumps(message), self.headers)
        response = self.connection.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body


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


class Timings:
    """One server's figures for one case."""

    def __init__(self):
        self.ms: list[float] = []
        self.rest_path_ms: list[float] = []
        self.rest_calls = 0
        self.failed = False


def latencies(servers: dict[str, str], proxy: CountingProxy, plan, requests: int,
              warmup: int) -> dict[str, dict[str, Timings]]:
    """Per case and server: call timings, the critical-path REST time of each call, REST calls
    per call and whether the call failed. The servers take turns call by call, so a busy moment
    on the machine falls on both; each first gets `warmup` untimed calls per case."""
    sessions = {name: RpcSession(url) for name, url in servers.items()}
    cases = [("tools/list", None, None)] + [(label, tool, arguments) for label, tool, arguments in plan]
    results: dict[str, dict[str, Timings]] = {}
    for label, tool, arguments in cases:
        def call(session: RpcSession) -> dict:
            return session.list_tools() if tool is None else session.call_tool(tool, arguments)

        figures = results[label] = {name: Timings() for name in sessions}
        for name, session in sessions.items():
            before = proxy.count
            warm = call(session)
            figures[name].rest_calls = proxy.count - before
            figures[name].failed = bool(warm.get("isError")) or (warm.get("structuredContent") or {}).get("success") is False
            for _ in range(warmup - 1):
                call(session)
        for _ in range(requests):
            for name, session in sessions.items():
                since = len(proxy.spans)
                started = time.perf_counter()
                call(session)
                figures[name].ms.append((time.perf_counter() - started) * 1000)
                figures[name].rest_path_ms.append(proxy.busy_ms(since))
    return results


async def sdk_overhead(url: str, requests: int) -> float:
    """Median `orientation` round trip through the official Python SDK minus the same through
    RpcSession: what the client library adds to every call."""
    async def median_ms(call) -> float:
        await call()  # untimed
        timings = []
        for _ in range(requests):
            started = time.perf_counter()
            await call()
            timings.append((time.perf_counter() - started) * 1000)
        return statistics.median(timings)

    async with Client(url, mode="legacy") as sdk:
        through_sdk = await median_ms(lambda: sdk.call_tool("orientation", {}))
    minimal = RpcSession(url)

    async def through_minimal() -> dict:
        return minimal.call_tool("orientation", {})

    return through_sdk - await median_ms(through_minimal)


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
        proxy = CountingProxy(prefect.api_url, args.upstream_delay_ms)
        worker = Worker("compare", {"PREFECT_API_URL": proxy.api_url}, log_level=QUIET,
                        runtime=args.runtime).wait_ready()
        reference = Reference(script, proxy.api_url, home).wait_ready()
        plan = cases(prefect)

        results = latencies({"reference": reference.url, "ours": worker.url}, proxy, plan, args.requests, args.warmup)

        print(f"\n{'case':<26} {'ref med':>8} {'ref p90':>8} {'ours med':>9} {'ours p90':>9} {'ratio':>6} "
              f"{'REST ref':>9} {'REST ours':>10} {'path ref':>9} {'path ours':>10} {'ours/path':>10} {'ref/path':>9}")
        for label, figures in results.items():
            theirs, ours = figures["reference"], figures["ours"]
            r_med, o_med = statistics.median(theirs.ms), statistics.median(ours.ms)
            r_path, o_path = statistics.median(theirs.rest_path_ms), statistics.median(ours.rest_path_ms)
            flag = " (reference failed)" if theirs.failed else ""
            flag += " (ours failed)" if ours.failed else ""
            over_path = f"{o_med / o_path:>9.1f}x" if o_path else f"{'-':>10}"
            ceiling = f"{r_med / o_path:>8.1f}x" if o_path else f"{'-':>9}"
            print(f"{label:<26} {r_med:>8.1f} {p90(theirs.ms):>8.1f} {o_med:>9.1f} {p90(ours.ms):>9.1f} "
                  f"{r_med / o_med:>5.1f}x {theirs.rest_calls:>9} {ours.rest_calls:>10} {r_path:>9.1f} {o_path:>10.1f} "
                  f"{over_path} {ceiling}{flag}")

        print(f"\nadded by the official Python SDK to each call (orientation): reference "
              f"{asyncio.run(sdk_overhead(reference.url, args.requests)):.1f} ms, "
              f"ours {asyncio.run(sdk_overhead(worker.url, args.requests)):.1f} ms")
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
    parser.add_argument("--requests", type=int, default=40, help="timed calls per case and server")
    parser.add_argument("--warmup", type=int, default=5,
                        help="untimed calls per case and server first, at least one "
                             "(V8 optimises our wasm as it runs)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent connections in the load phase")
    parser.add_argument("--load-calls", type=int, default=200, help="calls in the load phase, per server")
    parser.add_argument("--runtime", choices=("miniflare", "wrangler"), default="miniflare",
                        help="how workerd serves our Worker: directly through Miniflare (default), or behind "
                             "wrangler dev's proxy, which adds milliseconds per request and per subrequest")
    parser.add_argument("--upstream-delay-ms", type=float, default=0,
                        help="added to every Prefect request at the proxy: a network round trip, as "
                             "between either server and a remote Prefect (e.g. Prefect Cloud)")
    args = parser.parse_args()

    from conftest import Prefect
    from prefect_server import seeded_server

    script = ensure_reference()
    with seeded_server(ROOT / ".work", "prefect-compare-") as (api_url, manifest):
        compare(script, Prefect(api_url, "", manifest), args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
