"""Benchmark (not a test): what an OAuth access token adds to a call, against a static
MCP_ACCESS_TOKENS token, on the built Worker in workerd (Miniflare, OAUTH_KV bound).

Both tokens call the same tools against the same loopback stand-in for Prefect, alternating
token by token, so that the difference is the OAuth look-up (token record and grant, read in
parallel from KV).

    .venv/bin/python scripts/bench_oauth.py [--requests 50] [--warmup 5] [--runtime miniflare]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import secrets
import statistics
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration" / "support"))

from harness import QUIET, Worker, post_json  # noqa: E402

TEAM_TOKEN = "bench-team-token-" + "0" * 32
REDIRECT = "http://127.0.0.1:9/callback"


class FakePrefect(BaseHTTPRequestHandler):
    """Answers every Prefect read with an empty list (counts with 0)."""

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = b"0" if self.path.endswith("/count") else b"[]"
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def form(url: str, fields: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=urllib.parse.urlencode(fields).encode(), method="POST")
    try:
        with urllib.request.build_opener(NoRedirect).open(request) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def oauth_token(origin: str) -> str:
    """An access token through the whole flow: register, consent with the team token, exchange."""
    status, _, client = post_json(f"{origin}/register", {"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none",
                                                           "client_name": "bench_oauth.py"})
    assert status == 201, client
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urllib.parse.urlencode({"response_type": "code", "client_id": client["client_id"], "redirect_uri": REDIRECT,
                                    "code_challenge": challenge, "code_challenge_method": "S256", "state": "s"})
    page = urllib.request.urlopen(f"{origin}/authorize?{query}").read().decode()
    signed = re.search(r'name="request" value="([^"]+)"', page).group(1)
    status, headers, _ = form(f"{origin}/authorize", {"request": signed, "mode": "team", "access_token": TEAM_TOKEN})
    code = urllib.parse.parse_qs(urllib.parse.urlparse(headers["Location"]).query)["code"][0]
    status, _, body = form(f"{origin}/token", {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                                               "code_verifier": verifier, "client_id": client["client_id"]})
    assert status == 200, body
    return json.loads(body)["access_token"]


def timed(url: str, token: str, body: dict) -> float:
    started = time.perf_counter()
    status, _, reply = post_json(url, {"jsonrpc": "2.0", "id": 1, **body}, {"authorization": f"Bearer {token}"})
    elapsed = (time.perf_counter() - started) * 1000
    if status != 200 or "error" in reply or reply.get("result", {}).get("isError"):
        raise SystemExit(f"request failed: {status} {reply}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description="OAuth token latency benchmark")
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--runtime", choices=("miniflare", "wrangler"), default="miniflare")
    args = parser.parse_args()

    prefect = ThreadingHTTPServer(("127.0.0.1", 0), FakePrefect)
    threading.Thread(target=prefect.serve_forever, daemon=True).start()
    variables = {"MCP_ACCESS_TOKENS": TEAM_TOKEN, "PREFECT_API_URL": f"http://127.0.0.1:{prefect.server_port}/api"}
    worker = Worker("bench-oauth", variables, log_level=QUIET, runtime=args.runtime, oauth=True).wait_ready()
    try:
        tokens = {"static": TEAM_TOKEN, "oauth": oauth_token(worker.origin)}
        cases = [("ping", {"method": "ping"}),
                 ("tools/call get_flows", {"method": "tools/call", "params": {"name": "get_flows", "arguments": {}}})]
        print(f"{args.runtime}, {args.requests} requests per case after {args.warmup} untimed")
        print(f"{'case':<24} {'token':<7} {'median ms':>10} {'p90 ms':>8}")
        for name, body in cases:
            timings: dict[str, list[float]] = {kind: [] for kind in tokens}
            for i in range(args.warmup + args.requests):
                for kind, token in tokens.items():
                    elapsed = timed(worker.url, token, body)
                    if i >= args.warmup:
                        timings[kind].append(elapsed)
            for kind, values in timings.items():
                p90 = statistics.quantiles(values, n=10)[-1]
                print(f"{name:<24} {kind:<7} {statistics.median(values):>10.2f} {p90:>8.2f}")
    finally:
        worker.stop()
        prefect.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
