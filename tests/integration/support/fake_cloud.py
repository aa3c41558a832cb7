"""A small fake Prefect Cloud on loopback: the account-level endpoints (`/api/me/`,
`/api/me/workspaces`, `/api/accounts/<a>`, `/api/accounts/<a>/workspaces/<w>`, `/api/accounts/<a>/rate-limits/usage`)
and workspace-level `flows/filter`. Every request is recorded; anything but `Bearer <key>` is
refused with 401."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

ACCOUNT_ID = "9b2a7c4e-1d3f-4a5b-8c6d-7e8f9a0b1c2d"
WORKSPACE_ID = "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f"
OTHER_WORKSPACE_ID = "5f3b3c1e-8f7a-4c2e-9d7b-1a2b3c4d5e6f"
# A second account the same key reaches, with one workspace.
LAB_ACCOUNT_ID = "7d8e9f0a-1b2c-4d3e-8f4a-5b6c7d8e9f0a"
LAB_WORKSPACE_ID = "2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d"

USER = {"id": "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", "email": "ada@example.com", "handle": "ada",
        "first_name": "Ada", "last_name": "Lovelace"}
ACCOUNT = {"id": ACCOUNT_ID, "name": "Acme Data", "plan_type": "PRO", "plan_tier": 2,
           "features": ["audit-logs", "sso"], "automations_limit": 50, "work_pool_limit": 10,
           "mex_work_pool_limit": 1, "run_retention_days": 30, "audit_log_retention_days": 90, "self_serve": True}

# What `GET /api/me/workspaces` answers: every workspace the key reaches, in two accounts.
WORKSPACES = [
    {"account_id": ACCOUNT_ID, "account_handle": "acme-data", "account_name": "Acme Data",
     "workspace_id": WORKSPACE_ID, "workspace_handle": "prod", "workspace_name": "Production",
     "workspace_description": "Where the scheduled runs live"},
    {"account_id": ACCOUNT_ID, "account_handle": "acme-data", "account_name": "Acme Data",
     "workspace_id": OTHER_WORKSPACE_ID, "workspace_handle": "staging", "workspace_name": "Staging",
     "workspace_description": None},
    {"account_id": LAB_ACCOUNT_ID, "account_handle": "ada-lab", "account_name": "Ada's Lab",
     "workspace_id": LAB_WORKSPACE_ID, "workspace_handle": "sandbox", "workspace_name": "Sandbox",
     "workspace_description": None},
]


class FakeCloud:
    def __init__(self, key: str):
        self.key = key
        self.requests: list[dict] = []
        self.usage: dict = {"account": ACCOUNT_ID, "minutes": [], "keys": {}}
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self._answer()

            def do_POST(self):
                self._answer()

            def _answer(self):
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                url = urlsplit(self.path)
                owner.requests.append({"method": self.command, "path": url.path, "query": parse_qsl(url.query),
                                       "headers": {k.lower(): v for k, v in self.headers.items()}})
                if self.headers.get("authorization") != f"Bearer {owner.key}":
                    return self._send(401, {"detail": "Unauthorized"})
                body = owner.route(self.command, url.path)
                if body is None:
                    return self._send(404, {"detail": "Not Found"})
                return self._send(200, body)

            def _send(self, status: int, body) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.root = f"http://127.0.0.1:{self.server.server_address[1]}/api"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def workspace_url(self, account: str = ACCOUNT_ID, workspace: str = WORKSPACE_ID) -> str:
        return f"{self.root}/accounts/{account}/workspaces/{workspace}"

    def route(self, method: str, path: str):
        rest = path.removeprefix("/api")
        if method == "GET" and rest == "/me/":
            return USER
        if method == "GET" and rest == "/me/workspaces":
            return WORKSPACES
        if method == "GET" and (m := re.fullmatch(r"/accounts/([^/]+)", rest)):
            return {**ACCOUNT, "id": m[1]}
        if method == "GET" and (m := re.fullmatch(r"/accounts/([^/]+)/workspaces/([^/]+)", rest)):
            return {"id": m[2], "name": f"workspace-{m[2][:8]}", "description": f"Workspace {m[2]}"}
        if method == "GET" and re.fullmatch(r"/accounts/([^/]+)/rate-limits/usage", rest):
            return self.usage
        if method == "POST" and re.fullmatch(r"/accounts/[^/]+/workspaces/[^/]+/flows/filter", rest):
            return []
        return None

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
