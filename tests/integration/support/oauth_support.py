"""The OAuth 2.1 authorization server of the Worker, driven by hand for the OAuth tests: discovery,
client registration, PKCE, the consent form (read and filled the way a person's browser would, by
an HTTP client), and the token, refresh and revocation requests. Also the pieces the official
Python SDK's OAuthClientProvider needs to run headless (a redirect handler that fills the form,
a callback handler, an in-memory token store), and the OAuth-enabled Workers as fixtures.

Every secret a test hands to the Worker or receives from it is recorded in `SECRETS`, so that
test_oauth_storage.py can show that none of them is in the Worker's storage."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import shutil
import sqlite3
import threading
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, quote_plus, urlencode, urljoin, urlsplit

import httpx2
import pytest

from harness import Worker
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

if TYPE_CHECKING:
    from conftest import Prefect

# Access tokens of the team-mode Worker (MCP_ACCESS_TOKENS); the consent form takes one of them.
TEAM_TOKENS = ("team-tok-Hq7vX2", "team-tok-Lm93pQ")

# Every credential, token, code and client secret the OAuth tests used or were issued.
SECRETS: set[str] = set()
# The OAuth Workers the session started, for the storage dump.
OAUTH_WORKERS: list[Worker] = []

LOOPBACK_REDIRECT = "http://127.0.0.1:8976/callback"
# Consent-form inputs that carry credentials.
SECRET_FORM_FIELDS = ("access_token", "prefect_api_key", "prefect_auth_string")


def remember(*values: str | None) -> None:
    """Records secrets the tests hand to the Worker."""
    SECRETS.update(value for value in values if value)


def remember_issued(*values: str | None) -> None:
    """Records what the Worker issued; a token `<grant id>:<secret>` also counts its secret part."""
    for value in values:
        if value:
            SECRETS.update((value, value.split(":", 1)[-1]))


def pkce_pair() -> tuple[str, str]:
    """A PKCE verifier and its S256 challenge (RFC 7636 §4.1-4.2)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


# --- reading HTML forms ---------------------------------------------------------------------


@dataclass
class Form:
    action: str
    method: str
    # name -> value of each input: what the page puts in it before anyone types.
    inputs: dict[str, str] = field(default_factory=dict)
    hidden: set[str] = field(default_factory=set)

    def prefilled(self) -> dict[str, str]:
        """What a browser submits untouched: the hidden fields."""
        return {name: self.inputs[name] for name in self.hidden}


class _FormParser(HTMLParser):
    """The forms of a page and its visible text."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self.text: list[str] = []
        self.unseen_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag in ("style", "script", "title"):
            self.unseen_depth += 1
        elif tag == "form":
            self.forms.append(Form(attributes.get("action", ""), attributes.get("method", "get").lower()))
        elif tag == "input" and self.forms and attributes.get("name"):
            form = self.forms[-1]
            form.inputs[attributes["name"]] = attributes.get("value", "")
            if attributes.get("type") == "hidden":
                form.hidden.add(attributes["name"])

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script", "title"):
            self.unseen_depth -= 1

    def handle_data(self, data: str) -> None:
        if not self.unseen_depth:
            self.text.append(data)


@dataclass
class Page:
    """One HTML answer of the authorization endpoint: its forms and visible text."""

    url: str
    status: int
    forms: list[Form]
    text: str

    @classmethod
    def of(cls, response: httpx2.Response) -> "Page":
        parser = _FormParser()
        parser.feed(response.text)
        return cls(str(response.url), response.status_code, parser.forms, " ".join(" ".join(parser.text).split()))

    def consent_form(self, fields: dict[str, str]) -> Form:
        """The POST form that has an input for each of `fields`."""
        candidates = [form for form in self.forms if form.method == "post" and set(fields) <= set(form.inputs)]
        assert candidates, f"no POST form with inputs {sorted(fields)} on {self.url} ({self.status}):\n{self.text[:2000]}"
        return candidates[0]

    def submission(self, fields: dict[str, str]) -> tuple[str, dict[str, str]]:
        """Where the consent form with `fields` typed in posts, and its body (the hidden fields too)."""
        form = self.consent_form(fields)
        remember(*(value for name, value in fields.items() if name in SECRET_FORM_FIELDS))
        return urljoin(self.url, form.action or self.url), {**form.prefilled(), **fields}


# --- the authorization server, step by step ---------------------------------------------------


@dataclass
class Registration:
    client_id: str
    redirect_uri: str
    client_secret: str | None = None

    def auth(self) -> dict[str, str]:
        """Client authentication for the token and revocation endpoints: `client_id` in the body
        for a public client, `client_secret_post` for a confidential one."""
        if self.client_secret:
            return {"client_id": self.client_id, "client_secret": self.client_secret}
        return {"client_id": self.client_id}

    def basic_authorization(self) -> dict[str, str]:
        """`client_secret_basic` (RFC 6749 §2.3.1: both parts form-encoded, then Basic)."""
        pair = f"{quote_plus(self.client_id)}:{quote_plus(self.client_secret or '')}"
        return {"authorization": "Basic " + base64.b64encode(pair.encode()).decode()}


@dataclass
class Authorization:
    """A finished consent: where the browser was sent, and what the client keeps to redeem it."""

    location: str
    params: dict[str, str]
    verifier: str
    client: Registration

    @property
    def code(self) -> str:
        return self.params["code"]


class AuthorizationServer:
    """The Worker's OAuth endpoints, addressed from its metadata (so discovery is exercised too)."""

    def __init__(self, worker: Worker):
        self.origin = worker.origin
        self.resource = f"{worker.origin}/mcp"
        self.http = httpx2.Client(timeout=30, follow_redirects=False)
        self.metadata = self.http.get(f"{self.origin}/.well-known/oauth-authorization-server").json()

    def register(self, redirect_uris: list[str] | None = None, **metadata) -> Registration:
        body = {"redirect_uris": redirect_uris or [LOOPBACK_REDIRECT], "client_name": "pytest OAuth client",
                "token_endpoint_auth_method": "none", "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"], **metadata}
        response = self.http.post(self.metadata["registration_endpoint"], json=body)
        assert response.status_code == 201, (response.status_code, response.text)
        registered = response.json()
        remember_issued(registered.get("client_secret"))
        return Registration(registered["client_id"], body["redirect_uris"][0], registered.get("client_secret"))

    def authorization_url(self, client: Registration, challenge: str | None, *, state: str = "state-1",
                          **overrides: str | None) -> str:
        """The authorization request a client sends the browser to; `overrides` replace or (with None) drop
        parameters."""
        params: dict[str, str | None] = {
            "response_type": "code", "client_id": client.client_id, "redirect_uri": client.redirect_uri,
            "state": state, "code_challenge": challenge, "code_challenge_method": "S256",
            "resource": self.resource, "scope": "prefect:read",
        }
        params.update(overrides)
        query = urlencode({name: value for name, value in params.items() if value is not None})
        return f"{self.metadata['authorization_endpoint']}?{query}"

    def open(self, url: str) -> httpx2.Response:
        return self.http.get(url)

    def submit(self, page: Page, fields: dict[str, str], *, drop: tuple[str, ...] = (),
               address: str | None = None) -> httpx2.Response:
        """Posts the page's consent form with `fields` typed in (and the `drop`ped fields removed), from
        the client `address` if given (as Cloudflare reports it: `CF-Connecting-IP`; wrangler dev passes
        the header through)."""
        url, body = page.submission(fields)
        headers = {"cf-connecting-ip": address} if address else {}
        return self.http.post(url, data={name: value for name, value in body.items() if name not in drop},
                              headers=headers)

    def authorize(self, client: Registration, credentials: dict[str, str], **overrides: str | None) -> Authorization:
        """The whole front channel: authorization request, consent, redirect back with a code."""
        verifier, challenge = pkce_pair()
        response = self.open(self.authorization_url(client, challenge, **overrides))
        assert response.status_code == 200, (response.status_code, response.text[:2000])
        redirect = self.submit(Page.of(response), credentials)
        assert redirect.status_code in (302, 303), (redirect.status_code, redirect.text[:2000])
        location = redirect.headers["location"]
        params = query_params(location)
        remember_issued(params.get("code"))
        return Authorization(location, params, verifier, client)

    def token(self, form: dict[str, str], headers: dict[str, str] | None = None) -> httpx2.Response:
        response = self.http.post(self.metadata["token_endpoint"], data=form, headers=headers)
        if response.status_code == 200:
            issued = response.json()
            remember_issued(issued.get("access_token"), issued.get("refresh_token"))
        return response

    def redeem(self, authorization: Authorization, **overrides: str) -> httpx2.Response:
        form = {"grant_type": "authorization_code", "code": authorization.code,
                "redirect_uri": authorization.client.redirect_uri, "code_verifier": authorization.verifier,
                "resource": self.resource, **authorization.client.auth(), **overrides}
        return self.token(form)

    def tokens(self, client: Registration, credentials: dict[str, str]) -> dict:
        """Consent and code exchange in one: the token response of a fresh grant."""
        response = self.redeem(self.authorize(client, credentials))
        assert response.status_code == 200, (response.status_code, response.text)
        return response.json()

    def refresh(self, client: Registration, refresh_token: str) -> httpx2.Response:
        return self.token({"grant_type": "refresh_token", "refresh_token": refresh_token, **client.auth()})

    def revoke(self, client: Registration, token: str) -> httpx2.Response:
        return self.http.post(self.metadata["revocation_endpoint"], data={"token": token, **client.auth()})

    def mcp(self, access_token: str) -> httpx2.Response:
        """A stateless tools/list on /mcp with `access_token`."""
        headers = {"accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25",
                   "authorization": f"Bearer {access_token}"}
        return self.http.post(self.resource, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers=headers)


def query_params(url: str) -> dict[str, str]:
    """A URL's query parameters; each must appear once (RFC 6749 §3.1)."""
    parsed = parse_qs(urlsplit(url).query, keep_blank_values=True)
    assert all(len(values) == 1 for values in parsed.values()), url
    return {name: values[0] for name, values in parsed.items()}


def team_credentials(token: str = TEAM_TOKENS[0]) -> dict[str, str]:
    return {"access_token": token}


def personal_credentials(prefect: "Prefect") -> dict[str, str]:
    return {"prefect_api_url": prefect.api_url, "prefect_auth_string": prefect.auth_string}


# --- the official Python SDK, headless --------------------------------------------------------


class MemoryTokenStorage:
    """TokenStorage for one test: nothing on disk."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        remember_issued(tokens.access_token, tokens.refresh_token)
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        remember_issued(client_info.client_secret)
        self.client_info = client_info


class HeadlessConsent:
    """The person at the browser: the SDK's redirect handler opens the authorization URL, fills
    the consent form with `credentials` and follows the redirect as far as the redirect URI; the
    callback handler hands the code, state and iss found there back to the SDK."""

    def __init__(self, credentials: dict[str, str]):
        self.credentials = credentials
        self.result: AuthorizationCodeResult | None = None
        self.consents = 0

    async def redirect_handler(self, authorization_url: str) -> None:
        async with httpx2.AsyncClient(timeout=30, follow_redirects=False) as http:
            page = Page.of(await http.get(authorization_url))
            assert page.status == 200, (page.status, page.text[:2000])
            url, body = page.submission(self.credentials)
            redirect = await http.post(url, data=body)
        assert redirect.status_code in (302, 303), (redirect.status_code, redirect.text[:2000])
        params = query_params(redirect.headers["location"])
        remember_issued(params.get("code"))
        self.consents += 1
        self.result = AuthorizationCodeResult(code=params["code"], state=params.get("state"), iss=params.get("iss"))

    async def callback_handler(self) -> AuthorizationCodeResult:
        assert self.result is not None, "the redirect handler did not reach the redirect URI"
        result, self.result = self.result, None
        return result


def sdk_provider(mcp_url: str, consent: HeadlessConsent, storage: MemoryTokenStorage) -> OAuthClientProvider:
    metadata = OAuthClientMetadata(redirect_uris=[LOOPBACK_REDIRECT], client_name="pytest SDK client",
                                   token_endpoint_auth_method="none",
                                   grant_types=["authorization_code", "refresh_token"])
    return OAuthClientProvider(mcp_url, metadata, storage, consent.redirect_handler, consent.callback_handler)


# --- OAuth Workers ------------------------------------------------------------------------------


def start_oauth_worker(name: str, variables: dict[str, str], storage_of: Worker | None = None) -> Worker:
    """An OAuth Worker on empty storage, or on a copy of what the stopped Worker `storage_of` left."""
    worker = (WorkerOnStorage(name, variables, storage_of.kv_dir) if storage_of else Worker(name, variables, oauth=True))
    OAUTH_WORKERS.append(worker.wait_ready())
    return worker


class WorkerOnStorage(Worker):
    """The harness starts every OAuth Worker on empty storage; this one gets a copy of `storage`
    put in place just before workerd starts."""

    def __init__(self, name: str, variables: dict[str, str], storage: Path):
        self.storage = storage
        super().__init__(name, variables, oauth=True)

    def _wrangler_command(self, *args) -> list[str]:
        shutil.copytree(self.storage, self.kv_dir, dirs_exist_ok=True)
        return super()._wrangler_command(*args)


def team_variables(prefect: "Prefect", **extra: str) -> dict[str, str]:
    """Production-like team mode: access tokens and Prefect secrets, no loopback header URLs."""
    remember(*TEAM_TOKENS, prefect.auth_string, base64.b64encode(prefect.auth_string.encode()).decode())
    return {"PREFECT_API_URL": prefect.api_url, "PREFECT_API_AUTH_STRING": prefect.auth_string,
            "MCP_ACCESS_TOKENS": ",".join(TEAM_TOKENS), "ALLOW_UNAUTHENTICATED": "false",
            "ALLOW_PRIVATE_PREFECT_URLS": "false", **extra}


# Bring-your-own mode: no Prefect secrets; loopback Prefect URLs allowed (the test server is on loopback).
# The code lifetime is set above its 60 s cap, to show that the cap holds.
PERSONAL_VARIABLES = {"ALLOW_UNAUTHENTICATED": "false", "ALLOW_PRIVATE_PREFECT_URLS": "true",
                      "OAUTH_CODE_TTL_SECONDS": "3600"}


@pytest.fixture(scope="session")
def oauth_team_worker(prefect: "Prefect") -> Worker:
    worker = start_oauth_worker("oauth-team", team_variables(prefect))
    try:
        yield worker
    finally:
        worker.stop()


@pytest.fixture(scope="session")
def oauth_personal_worker(prefect: "Prefect") -> Worker:
    remember(prefect.auth_string, base64.b64encode(prefect.auth_string.encode()).decode())
    worker = start_oauth_worker("oauth-personal", dict(PERSONAL_VARIABLES))
    try:
        yield worker
    finally:
        worker.stop()


def storage_files(worker: Worker) -> list[Path]:
    return [path for path in worker.kv_dir.rglob("*") if path.is_file()]


def kv_entries(worker: Worker) -> dict[str, int | None]:
    """OAUTH_KV's keys and their expiry (Unix milliseconds, None for none), read from the SQLite
    database in which Miniflare keeps a KV namespace."""
    entries: dict[str, int | None] = {}
    for database in worker.kv_dir.glob("v3/kv/miniflare-KVNamespaceObject/*.sqlite"):
        if database.name == "metadata.sqlite":
            continue
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
            entries.update(connection.execute("SELECT key, expiration FROM _mf_entries").fetchall())
    return entries


class DocumentServer:
    """A loopback HTTP server for Client ID Metadata Documents: answers the JSON registered for a
    path, records every request (so a test can show the Worker never asked)."""

    def __init__(self) -> None:
        self.documents: dict[str, dict] = {}
        self.requests: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                owner.requests.append(self.path)
                document = owner.documents.get(self.path)
                body = json.dumps(document).encode() if document is not None else b'{"error":"not found"}'
                self.send_response(200 if document is not None else 404)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def publish(self, path: str, document: dict) -> str:
        self.documents[path] = document
        return f"{self.base}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# The two ways to consent: with a team token (Worker secrets) or with one's own Prefect credentials.
CONSENT_MODES = ("personal", "team")


def worker_and_credentials(mode: str, request: pytest.FixtureRequest, prefect: "Prefect") -> tuple[Worker, dict[str, str]]:
    """The OAuth Worker of a consent mode and what a person types into its consent form."""
    if mode == "team":
        return request.getfixturevalue("oauth_team_worker"), team_credentials()
    return request.getfixturevalue("oauth_personal_worker"), personal_credentials(prefect)
