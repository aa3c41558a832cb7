"""A loopback HTTP server for upstream faults a real Prefect server cannot produce.

The first path segment picks the behaviour (`/status-503/api/flows/filter`, `/slow/api/…`),
so one server serves every fault; every request's headers are recorded."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeUpstream:
    def __init__(self, slow_seconds: float = 4.0):
        self.requests: list[dict] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def _answer(self):
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                owner.requests.append({"method": self.command, "path": self.path,
                                       "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
                mode = self.path.strip("/").split("/")[0]
                if mode == "slow":
                    time.sleep(slow_seconds)
                    return self._send(200, b"[]")
                if mode.startswith("status-"):
                    status = int(mode.removeprefix("status-"))
                    payloads = {422: {"detail": "Invalid limit: must be less than or equal to 200."},
                                401: {"detail": "Unauthorized"}, 403: {"detail": "Forbidden: missing scope"},
                                404: {"detail": "Not Found"}}
                    headers = {"retry-after": "17"} if status == 429 else {}
                    return self._send(status, json.dumps(payloads.get(status, {"detail": "boom"})).encode(), headers)
                if mode == "html-502":
                    return self._send(502, b"<html><body>Bad gateway</body></html>", {"content-type": "text/html"})
                if mode == "garbage":
                    return self._send(200, b"{\"truncated\": [1, 2")
                if mode == "redirect":
                    return self._send(302, b"", {"location": "http://127.0.0.2:9/api/flows/filter"})
                if mode in ("huge", "huge-undeclared"):
                    return self._send_huge(declared=mode == "huge")
                if mode == "truncated":
                    # Declares more than it sends, then closes the connection.
                    self.send_response(200)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", "100000")
                    self.end_headers()
                    self.wfile.write(b'[{"id": "a", "name": "b"}')
                    self.wfile.flush()
                    self.close_connection = True
                    return None
                if mode == "ok":
                    return self._send(200, b"[]")
                return self._send(404, b'{"detail":"unknown fake mode"}')

            def _send_huge(self, declared):
                # A 20 MB JSON array, written in 1 MB chunks; without a length the body ends at close.
                chunk, count = b"[" + b'"' + b"x" * (1024 * 1024 - 4) + b'",', 20
                self.send_response(200)
                self.send_header("content-type", "application/json")
                if declared:
                    self.send_header("content-length", str(len(chunk) * count + 4))
                self.end_headers()
                try:
                    for _ in range(count):
                        self.wfile.write(chunk)
                    self.wfile.write(b"1]]]")
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the Worker stopped reading, as it should
                self.close_connection = True

            def _send(self, status, body, headers=None):
                self.send_response(status)
                headers = {"content-type": "application/json", **(headers or {})}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def api_url(self, mode: str) -> str:
        return f"{self.base}/{mode}/api"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
