"""The Worker as an OAuth 2.1 authorization server, used the way claude.ai-style clients use it:
discovery from the 401 challenge, and the official Python SDK's OAuthClientProvider running the whole
flow (registration, PKCE, consent, token, refresh) headless against the Worker in workerd, in team
mode (the Worker's Prefect secrets behind MCP_ACCESS_TOKENS) and in bring-your-own mode (the
person's Prefect URL and auth string, checked and kept by the Worker), then tool calls compared
with Prefect's own REST answers, refresh and revocation."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from harness import ROOT, quiet_node_env
from mcp_client import EXPECTED_TOOLS, MODERN, envelope
from oauth_support import (
    CONSENT_MODES,
    LOOPBACK_REDIRECT,
    TEAM_TOKENS,
    AuthorizationServer,
    DocumentServer,
    HeadlessConsent,
    MemoryTokenStorage,
    Page,
    Registration,
    personal_credentials,
    pkce_pair,
    query_params,
    sdk_provider,
    team_credentials,
    worker_and_credentials,
)

LEGACY = {"MCP-Protocol-Version": "2025-11-25", "accept": "application/json, text/event-stream"}
TOOLS_LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}


def challenge_of(response: httpx2.Response) -> str:
    return response.headers.get("www-authenticate", "")


# --- discovery ------------------------------------------------------------------------------


def test_an_anonymous_request_gets_the_challenge_that_starts_the_flow(oauth_team_worker, oauth_personal_worker):
    for worker in (oauth_team_worker, oauth_personal_worker):
        for url in (worker.url, f"{worker.url}/x/runs,deployments"):
            response = httpx2.post(url, json=TOOLS_LIST, headers=LEGACY)
            assert response.status_code == 401, (url, response.status_code, response.text)
            challenge = challenge_of(response)
            assert challenge.startswith("Bearer "), challenge
            assert f'resource_metadata="{worker.origin}/.well-known/oauth-protected-resource/mcp"' in challenge, challenge


def test_protected_resource_metadata_names_the_worker_as_its_authorization_server(oauth_team_worker):
    origin = oauth_team_worker.origin
    for path in ("/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"):
        response = httpx2.get(f"{origin}{path}")
        assert response.status_code == 200 and "application/json" in response.headers["content-type"], path
        metadata = response.json()
        assert metadata["resource"] == f"{origin}/mcp", metadata
        assert metadata["authorization_servers"] == [origin], metadata


def test_authorization_server_metadata(oauth_team_worker):
    origin = oauth_team_worker.origin
    metadata = httpx2.get(f"{origin}/.well-known/oauth-authorization-server").json()
    assert metadata["issuer"] == origin
    for name, path in (("authorization_endpoint", "/authorize"), ("token_endpoint", "/token"),
                       ("registration_endpoint", "/register"), ("revocation_endpoint", "/revoke")):
        assert metadata[name].startswith(origin + "/"), (name, metadata[name])
    assert metadata["response_types_supported"] == ["code"]
    assert {"authorization_code", "refresh_token"} <= set(metadata["grant_types_supported"])
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert "none" in metadata["token_endpoint_auth_methods_supported"]
    assert metadata["client_id_metadata_document_supported"] is True
    assert metadata["authorization_response_iss_parameter_supported"] is True


def test_an_oauth_token_opens_the_toolset_paths_too(oauth_team_worker):
    server = AuthorizationServer(oauth_team_worker)
    token = server.tokens(server.register(), team_credentials())["access_token"]
    everything = httpx2.post(oauth_team_worker.url, json=TOOLS_LIST,
                             headers={**LEGACY, "authorization": f"Bearer {token}"}).json()["result"]["tools"]
    response = httpx2.post(f"{oauth_team_worker.url}/x/runs", json=TOOLS_LIST,
                           headers={**LEGACY, "authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    subset = [tool["name"] for tool in response.json()["result"]["tools"]]
    assert "get_flow_runs" in subset and 0 < len(subset) < len(everything), subset


def test_static_tokens_and_credential_headers_keep_working_beside_oauth(oauth_team_worker, oauth_personal_worker,
                                                                        prefect):
    response = httpx2.post(oauth_team_worker.url, json=TOOLS_LIST,
                           headers={**LEGACY, "authorization": f"Bearer {TEAM_TOKENS[1]}"})
    assert response.status_code == 200 and len(response.json()["result"]["tools"]) == len(EXPECTED_TOOLS)
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "get_flows", "arguments": {"limit": 2}}}
    response = httpx2.post(oauth_personal_worker.url, json=call,
                           headers={**LEGACY, "X-Prefect-Api-Url": prefect.api_url,
                                    "X-Prefect-Api-Auth-String": prefect.auth_string})
    result = response.json()["result"]
    expected = prefect.rest("POST", "flows/filter", {"sort": "NAME_ASC", "limit": 2})
    assert [flow["id"] for flow in result["structuredContent"]["flows"]] == [flow["id"] for flow in expected]


# --- the official Python SDK, both modes ------------------------------------------------------


@pytest.mark.parametrize("mode", CONSENT_MODES)
def test_python_sdk_oauth_flow_then_tools_refresh_and_revoke(mode, request, prefect):
    worker, credentials = worker_and_credentials(mode, request, prefect)
    consent = HeadlessConsent(credentials)
    storage = MemoryTokenStorage()
    provider = sdk_provider(worker.url, consent, storage)
    expected_flows = prefect.rest("POST", "flows/filter", {"sort": "NAME_ASC", "limit": 3})

    async def flows_seen(session) -> list[str]:
        result = await session.call_tool("get_flows", {"limit": 3})
        assert not result.is_error, result
        return [flow["id"] for flow in envelope(result)["flows"]]

    async def go():
        async with httpx2.AsyncClient(auth=provider, timeout=30) as http:
            async with Client(streamable_http_client(worker.url, http_client=http), mode=MODERN) as session:
                tools = [tool.name for tool in (await session.list_tools()).tools]
                first_flows = await flows_seen(session)
                identity = envelope(await session.call_tool("get_identity", {}))["identity"]
                first = storage.tokens
                # The access token has run out (as far as the client knows): the SDK refreshes it.
                provider.context.token_expiry_time = time.time() - 1
                refreshed_flows = await flows_seen(session)
                second = storage.tokens
                return tools, first_flows, identity, first, refreshed_flows, second

    tools, first_flows, identity, first, refreshed_flows, second = asyncio.run(go())
    assert consent.consents == 1
    assert tools == EXPECTED_TOOLS
    assert first_flows == refreshed_flows == [flow["id"] for flow in expected_flows]
    assert identity["api_url"] == prefect.api_url
    assert first.refresh_token and second.access_token != first.access_token
    assert second.refresh_token != first.refresh_token, "refresh tokens rotate"
    assert first.token_type.lower() == "bearer" and 0 < first.expires_in <= 3600

    server = AuthorizationServer(worker)
    assert server.mcp(second.access_token).status_code == 200
    registration = Registration(storage.client_info.client_id, LOOPBACK_REDIRECT)
    revoked = server.revoke(registration, second.access_token)
    assert revoked.status_code == 200, revoked.text
    refused = server.mcp(second.access_token)
    assert refused.status_code == 401 and 'error="invalid_token"' in challenge_of(refused), refused.text
    refresh = server.refresh(registration, second.refresh_token)
    assert refresh.status_code == 400 and refresh.json()["error"] == "invalid_grant", refresh.text

    async def after_revocation() -> list[str]:
        async with httpx2.AsyncClient(auth=provider, timeout=30) as http:
            async with Client(streamable_http_client(worker.url, http_client=http), mode=MODERN) as session:
                return await flows_seen(session)

    # The SDK meets the 401, runs the flow again (a second consent) and carries on.
    assert asyncio.run(after_revocation()) == [flow["id"] for flow in expected_flows]
    assert consent.consents == 2


@pytest.mark.parametrize("mode", CONSENT_MODES)
def test_typescript_sdk_oauth_flow(mode, request, prefect):
    """tests/js/oauth_client.mjs: the TypeScript SDK's OAuthClientProvider, its redirect filling the form."""
    worker, credentials = worker_and_credentials(mode, request, prefect)
    node = shutil.which("node")
    assert node, "`node` is not on PATH (install bug)"
    command = [node, str(ROOT / "tests" / "js" / "oauth_client.mjs"), worker.url,
               *(f"{name}={value}" for name, value in credentials.items())]
    completed = subprocess.run(command, cwd=ROOT, env=quiet_node_env(), capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, f"stdout:\n{completed.stdout}\nstderr:\n{completed.stderr}"
    report = json.loads(completed.stdout)
    expected = prefect.rest("POST", "flows/filter", {"sort": "NAME_ASC", "limit": 2})
    assert report == {"toolNames": EXPECTED_TOOLS, "flows": [flow["id"] for flow in expected], "consents": 1,
                      "tokenType": "Bearer", "hasRefreshToken": True}, report


# --- clients without the SDK ------------------------------------------------------------------


def test_a_client_id_metadata_document_stands_in_for_registration(oauth_personal_worker, prefect):
    """The bring-your-own Worker allows loopback URLs (ALLOW_PRIVATE_PREFECT_URLS=true), so a
    loopback document server can play the client's https site."""
    documents = DocumentServer()
    try:
        client_id = f"{documents.base}/oauth/client.json"
        documents.publish("/oauth/client.json", {
            "client_id": client_id, "client_name": "Metadata Document Client", "redirect_uris": [LOOPBACK_REDIRECT],
            "token_endpoint_auth_method": "none", "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"]})
        server = AuthorizationServer(oauth_personal_worker)
        client = Registration(client_id, LOOPBACK_REDIRECT)
        page = Page.of(server.open(server.authorization_url(client, pkce_pair()[1])))
        assert page.status == 200 and "Metadata Document Client" in page.text, page.text[:1000]
        tokens = server.tokens(client, personal_credentials(prefect))
        assert server.mcp(tokens["access_token"]).status_code == 200
        # Fetched once, then cached.
        assert documents.requests == ["/oauth/client.json"], documents.requests
    finally:
        documents.close()


def test_confidential_clients_authenticate_at_the_token_endpoint(oauth_team_worker):
    server = AuthorizationServer(oauth_team_worker)
    for method in ("client_secret_basic", "client_secret_post"):
        client = server.register(token_endpoint_auth_method=method)
        assert client.client_secret, method
        authorization = server.authorize(client, team_credentials())
        form = {"grant_type": "authorization_code", "code": authorization.code, "redirect_uri": client.redirect_uri,
                "code_verifier": authorization.verifier}
        for wrong in ({"client_id": client.client_id}, {"client_id": client.client_id, "client_secret": "wrong"}):
            refused = server.token({**form, **wrong})
            assert refused.status_code == 401 and refused.json()["error"] == "invalid_client", refused.text
        if method == "client_secret_basic":
            response = server.token({**form, "client_id": client.client_id}, headers=client.basic_authorization())
        else:
            response = server.token({**form, **client.auth()})
        assert response.status_code == 200, (method, response.text)
        assert server.mcp(response.json()["access_token"]).status_code == 200


def test_deny_sends_the_person_back_with_access_denied(oauth_team_worker):
    server = AuthorizationServer(oauth_team_worker)
    client = server.register()
    page = Page.of(server.open(server.authorization_url(client, pkce_pair()[1])))
    deny = [form for form in page.forms if set(form.prefilled()) == {"request"}]
    assert len(deny) == 1, page.forms
    response = server.http.post(f"{server.origin}{deny[0].action}", data={**deny[0].prefilled(), "action": "deny"})
    assert response.status_code in (302, 303), response.text[:1000]
    location = response.headers["location"]
    assert location.startswith(client.redirect_uri + "?"), location
    params = query_params(location)
    assert params["error"] == "access_denied" and "code" not in params and params["iss"] == server.origin, params


def test_wrong_personal_credentials_re_render_the_form(oauth_personal_worker, prefect):
    server = AuthorizationServer(oauth_personal_worker)
    page = Page.of(server.open(server.authorization_url(server.register(), pkce_pair()[1])))
    for fields in ({"prefect_api_url": prefect.api_url, "prefect_auth_string": "mcp-user:wrong-password"},
                   {"prefect_api_url": prefect.api_url},
                   {"prefect_api_url": "not a url", "prefect_auth_string": prefect.auth_string}):
        response = server.submit(page, fields)
        assert response.status_code == 400 and "location" not in response.headers, (fields, response.text[:1000])
        again = Page.of(response)
        assert again.consent_form({"prefect_api_url": ""}), again.text
        assert "wrong-password" not in response.text and prefect.auth_string not in response.text
