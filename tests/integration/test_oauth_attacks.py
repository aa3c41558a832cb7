"""Attacks on the Worker's OAuth authorization server, in workerd: each one is refused, no grant
comes out of it (no code, no token, or the tokens it touched stop working), and no secret is echoed
in the refusal.

Expiry is exercised on a Worker whose OAUTH_CODE_TTL_SECONDS / OAUTH_ACCESS_TOKEN_TTL_SECONDS
are a second or two. The 60 s bound on codes is read from storage instead of waited for (a real
minute would double the suite's time): a fresh consent's records expire within 60 s, also when the
setting asks for an hour."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx2
import pytest

from fake_upstream import FakeUpstream
from oauth_support import (
    CONSENT_MODES,
    LOOPBACK_REDIRECT,
    TEAM_TOKENS,
    AuthorizationServer,
    DocumentServer,
    Page,
    Registration,
    kv_entries,
    pkce_pair,
    query_params,
    start_oauth_worker,
    team_credentials,
    team_variables,
    worker_and_credentials,
)

CODE_TTL_SECONDS = 1
ACCESS_TOKEN_TTL_SECONDS = 2


@pytest.fixture(scope="module")
def server(oauth_team_worker) -> AuthorizationServer:
    return AuthorizationServer(oauth_team_worker)


@pytest.fixture(scope="module")
def short_lived(prefect) -> AuthorizationServer:
    """Team mode with lifetimes of seconds, and personal credentials offered beside team mode."""
    worker = start_oauth_worker("oauth-short-lived", team_variables(
        prefect, OAUTH_CODE_TTL_SECONDS=str(CODE_TTL_SECONDS),
        OAUTH_ACCESS_TOKEN_TTL_SECONDS=str(ACCESS_TOKEN_TTL_SECONDS), OAUTH_ALLOW_PERSONAL_CREDENTIALS="true"))
    try:
        yield AuthorizationServer(worker)
    finally:
        worker.stop()


@pytest.fixture(scope="module")
def documents() -> DocumentServer:
    server = DocumentServer()
    yield server
    server.close()


def assert_token_error(response: httpx2.Response, error: str, *secrets: str) -> None:
    """A refusal of the token endpoint: the RFC 6749 error, no token in it, none of `secrets` echoed."""
    assert response.status_code in (400, 401), (response.status_code, response.text)
    body = response.json()
    assert body["error"] == error, body
    assert "access_token" not in body and "refresh_token" not in body, body
    for secret in secrets:
        assert secret not in response.text, (secret, response.text)


def assert_refused(server: AuthorizationServer, *access_tokens: str) -> None:
    for token in access_tokens:
        response = server.mcp(token)
        assert response.status_code == 401, (response.status_code, response.text)
        assert 'error="invalid_token"' in response.headers["www-authenticate"], response.headers
        assert token not in response.text


def assert_error_page(response: httpx2.Response) -> None:
    """The authorization endpoint refused without sending the browser anywhere."""
    assert response.status_code == 400, (response.status_code, response.text[:1000])
    assert "location" not in response.headers, response.headers
    assert "text/html" in response.headers["content-type"]
    page = Page.of(response)
    assert not [form for form in page.forms if form.method == "post"], "an error page offers no consent form"


def assert_error_redirect(response: httpx2.Response, redirect_uri: str, error: str) -> None:
    """RFC 6749 §4.1.2.1: a valid client and redirect URI get the error at the redirect URI, with no code."""
    assert response.status_code in (302, 303), (response.status_code, response.text[:1000])
    location = response.headers["location"]
    assert location.split("?")[0] == redirect_uri, location
    params = query_params(location)
    assert params["error"] == error and "code" not in params, params
    assert params["state"] == "state-1" and "iss" in params, params


# --- PKCE ---------------------------------------------------------------------------------------


def test_a_wrong_pkce_verifier_gets_no_token(server):
    client = server.register()
    authorization = server.authorize(client, team_credentials())
    wrong_verifier, _ = pkce_pair()
    assert_token_error(server.redeem(authorization, code_verifier=wrong_verifier), "invalid_grant",
                       authorization.code, wrong_verifier)


def test_a_missing_challenge_or_the_plain_method_is_refused_before_consent(server):
    client = server.register()
    verifier, challenge = pkce_pair()
    for overrides in ({"code_challenge": None, "code_challenge_method": None},
                      {"code_challenge": None},
                      {"code_challenge_method": None},
                      {"code_challenge": verifier, "code_challenge_method": "plain"},
                      {"code_challenge_method": "S512"},
                      {"code_challenge": "short"}):
        url = server.authorization_url(client, challenge, **overrides)
        assert_error_redirect(server.open(url), client.redirect_uri, "invalid_request")


def test_a_code_redeemed_without_its_verifier_gets_no_token(server):
    client = server.register()
    authorization = server.authorize(client, team_credentials())
    response = server.token({"grant_type": "authorization_code", "code": authorization.code,
                             "redirect_uri": client.redirect_uri, "client_id": client.client_id})
    assert_token_error(response, "invalid_request", authorization.code)


# --- codes --------------------------------------------------------------------------------------


def test_a_replayed_code_is_refused_and_revokes_what_it_issued(server):
    client = server.register()
    authorization = server.authorize(client, team_credentials())
    first = server.redeem(authorization)
    assert first.status_code == 200, first.text
    tokens = first.json()
    assert server.mcp(tokens["access_token"]).status_code == 200
    assert_token_error(server.redeem(authorization), "invalid_grant", authorization.code)
    assert_refused(server, tokens["access_token"])
    assert_token_error(server.refresh(client, tokens["refresh_token"]), "invalid_grant", tokens["refresh_token"])


def test_a_code_is_bound_to_its_client_and_redirect_uri(server):
    client = server.register()
    other = server.register()
    authorization = server.authorize(client, team_credentials())
    assert_token_error(server.redeem(authorization, client_id=other.client_id), "invalid_grant", authorization.code)
    authorization = server.authorize(client, team_credentials())
    assert_token_error(server.redeem(authorization, redirect_uri="http://127.0.0.1:8976/other"), "invalid_grant")


@pytest.mark.parametrize("mode", CONSENT_MODES)
def test_a_fresh_code_is_kept_at_most_sixty_seconds(mode, request, prefect):
    """What a consent stores before the code is redeemed expires from storage within 60 s, with
    the default setting (team Worker) and with OAUTH_CODE_TTL_SECONDS=3600 (personal Worker)."""
    worker, credentials = worker_and_credentials(mode, request, prefect)
    server = AuthorizationServer(worker)
    client = server.register()
    before = kv_entries(worker)
    server.authorize(client, credentials)
    # The Worker's own configuration (the form-signing key, made on the first page) is not the consent's.
    stored = {key: expiration for key, expiration in kv_entries(worker).items()
              if key not in before and not key.startswith("config:")}
    assert stored, "the consent stored nothing"
    deadline_ms = (time.time() + 62) * 1000
    assert all(expiration is not None and expiration <= deadline_ms for expiration in stored.values()), stored


def test_an_expired_code_gets_no_token(short_lived):
    client = short_lived.register()
    authorization = short_lived.authorize(client, team_credentials())
    time.sleep(CODE_TTL_SECONDS + 1.5)
    assert_token_error(short_lived.redeem(authorization), "invalid_grant", authorization.code)


def test_an_expired_access_token_is_refused(short_lived):
    client = short_lived.register()
    tokens = short_lived.tokens(client, team_credentials())
    assert short_lived.mcp(tokens["access_token"]).status_code == 200
    time.sleep(ACCESS_TOKEN_TTL_SECONDS + 1.5)
    assert_refused(short_lived, tokens["access_token"])
    # The refresh token outlives it and brings a working one.
    refreshed = short_lived.refresh(client, tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    assert short_lived.mcp(refreshed.json()["access_token"]).status_code == 200


# --- clients and redirect URIs --------------------------------------------------------------------


def test_an_unknown_client_gets_an_error_page_not_a_redirect(server):
    challenge = pkce_pair()[1]
    for client_id in ("no-such-client", "", "../register", "x" * 5000):
        assert_error_page(server.open(server.authorization_url(Registration(client_id, LOOPBACK_REDIRECT), challenge)))


def open_redirect_attempts(registered: str) -> list[str]:
    return [
        "https://evil.example/callback",
        "http://evil.example/callback",
        f"{registered}@evil.example",
        "http://127.0.0.1:8976.evil.example/callback",
        f"https://evil.example/?next={registered}",
        f"{registered}/../../evil",
        f"{registered}?next=https://evil.example/",
        f"{registered}#https://evil.example/",
        "http://127.0.0.1:8976/Callback",
        "http://127.0.0.1:8976/callbackx",
        "//evil.example/callback",
        "javascript:alert(document.domain)",
        "data:text/html,<script>alert(1)</script>",
        "http://evil.example%2f@127.0.0.1:8976/callback",
    ]


def test_unregistered_redirect_uris_get_an_error_page_even_for_other_errors(server):
    client = server.register()
    challenge = pkce_pair()[1]
    for redirect_uri in open_redirect_attempts(client.redirect_uri):
        for broken in ({}, {"code_challenge_method": "plain"}, {"response_type": "token"},
                       {"resource": "https://evil.example/mcp"}):
            url = server.authorization_url(client, challenge, redirect_uri=redirect_uri, **broken)
            assert_error_page(server.open(url))


def test_the_loopback_port_may_vary_but_nothing_else(server):
    """RFC 8252 §7.3: a native app's loopback redirect may come back on any port."""
    client = server.register()
    authorization = server.authorize(client, team_credentials(), redirect_uri="http://127.0.0.1:43123/callback")
    assert authorization.location.startswith("http://127.0.0.1:43123/callback?"), authorization.location
    response = server.redeem(authorization, redirect_uri="http://127.0.0.1:43123/callback")
    assert response.status_code == 200, response.text


def test_registration_refuses_dangerous_redirect_uris(server):
    for redirect_uri in ("http://evil.example/callback", "javascript:alert(1)", "data:text/html,x",
                         f"{LOOPBACK_REDIRECT}#fragment", "/relative/callback", "not a url"):
        response = server.http.post(server.metadata["registration_endpoint"],
                                    json={"redirect_uris": [redirect_uri], "token_endpoint_auth_method": "none"})
        assert response.status_code == 400, (redirect_uri, response.status_code, response.text)
        assert response.json()["error"] in ("invalid_redirect_uri", "invalid_client_metadata"), response.text
    response = server.http.post(server.metadata["registration_endpoint"], json={"redirect_uris": []})
    assert response.status_code == 400, response.text


# --- audience -------------------------------------------------------------------------------------


def test_a_resource_for_another_server_gets_no_code_and_no_token(server):
    client = server.register()
    challenge = pkce_pair()[1]
    for resource in ("https://evil.example/mcp", f"{server.origin}/other", f"{server.origin}/mcp/x/runs",
                     "http://127.0.0.1:1/mcp", f"{server.origin}/mcp#x"):
        response = server.open(server.authorization_url(client, challenge, resource=resource))
        assert_error_redirect(response, client.redirect_uri, "invalid_target")
    authorization = server.authorize(client, team_credentials())
    assert_token_error(server.redeem(authorization, resource="https://evil.example/mcp"), "invalid_target",
                       authorization.code)


def tools_list_addressed_to(host: str, url: str, token: str) -> httpx2.Response:
    """A tools/list sent to `url` but addressed (`Host`) to another origin: the Worker takes its
    issuer and audience from the request's origin."""
    headers = {"accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25",
               "authorization": f"Bearer {token}", "host": host}
    return httpx2.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers=headers, timeout=30)


def test_a_token_for_another_audience_is_refused(server, oauth_personal_worker):
    """The same Worker and storage reached under another origin is another resource (the issuer and
    audience are the request's origin); and another Worker does not know the token at all."""
    client = server.register()
    tokens = server.tokens(client, team_credentials())
    assert server.mcp(tokens["access_token"]).status_code == 200
    localhost = f"localhost:{server.origin.rsplit(':', 1)[1]}"
    assert tools_list_addressed_to(localhost, server.resource, TEAM_TOKENS[0]).status_code == 200, \
        "the other origin itself is served"
    response = tools_list_addressed_to(localhost, server.resource, tokens["access_token"])
    assert response.status_code == 401, (response.status_code, response.text)
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    other = AuthorizationServer(oauth_personal_worker)
    assert_refused(other, tokens["access_token"])


# --- refresh and revocation -------------------------------------------------------------------


@pytest.mark.parametrize("generations", [1, 3])
def test_reusing_a_rotated_refresh_token_revokes_the_grant(server, generations):
    """A refresh token replaced once (or a few times: a thief's copy may be old) revokes the grant."""
    client = server.register()
    stolen = server.tokens(client, team_credentials())
    current = stolen
    for _ in range(generations):
        rotated = server.refresh(client, current["refresh_token"])
        assert rotated.status_code == 200, rotated.text
        assert rotated.json()["refresh_token"] != current["refresh_token"]
        current = rotated.json()
    assert server.mcp(current["access_token"]).status_code == 200
    assert_token_error(server.refresh(client, stolen["refresh_token"]), "invalid_grant", stolen["refresh_token"])
    assert_refused(server, current["access_token"], stolen["access_token"])
    assert_token_error(server.refresh(client, current["refresh_token"]), "invalid_grant", current["refresh_token"])


def test_withdrawing_a_team_token_ends_the_grants_made_with_it(prefect):
    """Stop the Worker, take a token out of MCP_ACCESS_TOKENS, start it again on the same storage:
    grants consented with the withdrawn token are refused (access and refresh), the others go on.
    The restarted Worker listens on another port, so requests name the first one's origin in
    `Host` (the issuer and audience are the request's origin)."""
    before = start_oauth_worker("oauth-withdraw-before", team_variables(prefect))
    try:
        server = AuthorizationServer(before)
        client = server.register()
        kept = server.tokens(client, team_credentials(TEAM_TOKENS[1]))
        withdrawn = server.tokens(client, team_credentials(TEAM_TOKENS[0]))
    finally:
        before.stop()
    after = start_oauth_worker("oauth-withdraw-after", team_variables(prefect, MCP_ACCESS_TOKENS=TEAM_TOKENS[1]),
                               storage_of=before)
    try:
        host = before.origin.removeprefix("http://")

        def refresh(tokens: dict) -> httpx2.Response:
            return httpx2.post(f"{after.origin}/token", headers={"host": host}, timeout=30, data={
                "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], **client.auth()})

        assert tools_list_addressed_to(host, after.url, kept["access_token"]).status_code == 200
        refused = tools_list_addressed_to(host, after.url, withdrawn["access_token"])
        assert refused.status_code == 401 and 'error="invalid_token"' in refused.headers["www-authenticate"]
        assert_token_error(refresh(withdrawn), "invalid_grant", withdrawn["refresh_token"])
        assert refresh(kept).status_code == 200
    finally:
        after.stop()


def released_together(requests: int, send) -> list[httpx2.Response]:
    """`send(http, n)` from `requests` threads (n = 0, 1, ...) at once: a barrier releases them together."""
    barrier = threading.Barrier(requests)

    def one(n: int) -> httpx2.Response:
        with httpx2.Client(timeout=30) as http:
            barrier.wait()
            return send(http, n)

    with ThreadPoolExecutor(max_workers=requests) as pool:
        return list(pool.map(one, range(requests)))


@pytest.mark.parametrize("spent", ["code", "refresh token"])
def test_a_code_or_refresh_token_spent_twice_at_once_leaves_at_most_one_live_token(server, spent):
    """Exactly once: two simultaneous redemptions of one code, or refreshes with one refresh
    token, never leave two working access tokens (rounds repeat it, races being races)."""
    client = server.register()
    for _ in range(20):
        if spent == "code":
            authorization = server.authorize(client, team_credentials())
            form = {"grant_type": "authorization_code", "code": authorization.code, "redirect_uri": client.redirect_uri,
                    "code_verifier": authorization.verifier, **client.auth()}
        else:
            form = {"grant_type": "refresh_token", **client.auth(),
                    "refresh_token": server.tokens(client, team_credentials())["refresh_token"]}
        answers = released_together(2, lambda http, _: http.post(server.metadata["token_endpoint"], data=form))
        issued = [answer.json()["access_token"] for answer in answers if answer.status_code == 200]
        live = [token for token in issued if server.mcp(token).status_code == 200]
        assert len(live) <= 1, f"one {spent} spent twice at once left {len(live)} working access tokens"


def test_a_refresh_token_belongs_to_its_client(server):
    client = server.register()
    thief = server.register()
    tokens = server.tokens(client, team_credentials())
    assert_token_error(server.refresh(thief, tokens["refresh_token"]), "invalid_grant", tokens["refresh_token"])


def test_revoked_tokens_are_refused(server):
    client = server.register()
    by_access = server.tokens(client, team_credentials())
    assert server.revoke(client, by_access["access_token"]).status_code == 200
    assert_refused(server, by_access["access_token"])
    assert_token_error(server.refresh(client, by_access["refresh_token"]), "invalid_grant")
    by_refresh = server.tokens(client, team_credentials())
    assert server.revoke(client, by_refresh["refresh_token"]).status_code == 200
    assert_refused(server, by_refresh["access_token"])


def test_another_client_cannot_revoke_a_token(server):
    client = server.register()
    stranger = server.register()
    tokens = server.tokens(client, team_credentials())
    server.revoke(stranger, tokens["access_token"])
    assert server.mcp(tokens["access_token"]).status_code == 200


def test_forged_and_misused_bearer_tokens_are_refused(server):
    client = server.register()
    authorization = server.authorize(client, team_credentials())
    tokens = server.redeem(authorization).json()
    grant_id, secret = tokens["access_token"].split(":", 1)
    forged = [f"{grant_id}:{secret[:-1]}{'A' if secret[-1] != 'A' else 'B'}", f"{grant_id}:", grant_id,
              f"{grant_id}:{secret}:{secret}", f":{secret}", tokens["refresh_token"], authorization.code,
              tokens["access_token"].upper(), f"other:{secret}"]
    for token in forged:
        assert_refused(server, token)
    assert_token_error(server.refresh(client, tokens["access_token"]), "invalid_grant")


# --- Client ID Metadata Documents ---------------------------------------------------------------


def test_cimd_urls_on_private_addresses_are_never_fetched(server, documents, fake: FakeUpstream):
    """The team Worker runs with ALLOW_PRIVATE_PREFECT_URLS=false, as in production."""
    document_url = f"{documents.base}/client.json"
    documents.publish("/client.json", {"client_id": document_url, "redirect_uris": [LOOPBACK_REDIRECT]})
    port = documents.base.rsplit(":", 1)[1]
    fake.requests.clear()
    challenge = pkce_pair()[1]
    for client_id in (document_url, f"https://127.0.0.1:{port}/client.json", f"https://localhost:{port}/client.json",
                      f"https://[::1]:{port}/client.json", f"https://2130706433:{port}/client.json",
                      f"{fake.api_url('ok')}/client.json", "https://169.254.169.254/latest/meta-data/client.json",
                      "https://10.0.0.5/client.json", "https://192.168.1.10/client.json",
                      "https://[fd00::1]/client.json", "https://metadata.google.internal/client.json",
                      "http://prefect.example.com/client.json", "file:///etc/passwd"):
        assert_error_page(server.open(server.authorization_url(Registration(client_id, LOOPBACK_REDIRECT), challenge)))
    assert documents.requests == [] and fake.requests == []


def test_cimd_documents_that_do_not_hold_up_are_refused(oauth_personal_worker, documents):
    """The bring-your-own Worker allows loopback URLs, so these documents are fetched and judged."""
    server = AuthorizationServer(oauth_personal_worker)
    challenge = pkce_pair()[1]

    def document(path: str, **changes) -> str:
        url = f"{documents.base}{path}"
        documents.publish(path, {"client_id": url, "client_name": "Doc", "redirect_uris": [LOOPBACK_REDIRECT],
                                 "token_endpoint_auth_method": "none", **changes})
        return url

    cases = [
        (document("/other-id.json", client_id="https://elsewhere.example/client.json"), LOOPBACK_REDIRECT),
        (document("/no-such-redirect.json"), "http://127.0.0.1:8976/elsewhere"),
        (document("/huge.json", client_name="x" * 6000), LOOPBACK_REDIRECT),
        (document("/secret-method.json", token_endpoint_auth_method="client_secret_basic"), LOOPBACK_REDIRECT),
        (f"{documents.base}/missing.json", LOOPBACK_REDIRECT),
    ]
    for client_id, redirect_uri in cases:
        assert_error_page(server.open(server.authorization_url(Registration(client_id, redirect_uri), challenge)))


# --- the consent form -------------------------------------------------------------------------------


HOSTILE_PREFECT_URLS = ["http://169.254.169.254/latest/meta-data/", "https://10.0.0.5/api", "file:///etc/passwd",
                        "https://[::1]/api", "https://user:pw@prefect.example.com/api", "http://prefect.example.com/api"]


def test_personal_credentials_with_a_private_prefect_url_are_refused_unsent(short_lived, fake: FakeUpstream):
    """A production-like Worker (ALLOW_PRIVATE_PREFECT_URLS=false) offering personal credentials
    beside team mode: the URL rules of the X-Prefect-Api-Url header apply to the form too."""
    fake.requests.clear()
    for url in [fake.api_url("ok"), *HOSTILE_PREFECT_URLS]:
        page = consent_page(short_lived, short_lived.register())
        fields = {"prefect_api_url": url, "prefect_api_key": "pnu_form_key_123"}
        response = short_lived.submit(page, fields)
        assert response.status_code == 400 and "location" not in response.headers, (url, response.text[:1000])
        assert "pnu_form_key_123" not in response.text
    assert fake.requests == []


def consent_page(server: AuthorizationServer, client: Registration) -> Page:
    response = server.open(server.authorization_url(client, pkce_pair()[1]))
    assert response.status_code == 200, response.text[:1000]
    return Page.of(response)


def test_consent_without_or_with_a_tampered_signed_field_is_refused(server):
    client = server.register()
    page = consent_page(server, client)
    signed = page.consent_form(team_credentials()).prefilled()["request"]
    middle = len(signed) // 2
    tampered = [signed[:middle] + ("A" if signed[middle] != "A" else "B") + signed[middle + 1:],
                signed[:-1] + ("A" if signed[-1] != "A" else "B"), signed[:-4], signed + "x", "", "e30.e30",
                signed.replace(".", "X", 1)]
    responses = [server.submit(page, team_credentials(), drop=("request",))]
    responses += [server.submit(page, {**team_credentials(), "request": value}) for value in tampered]
    for response in responses:
        assert response.status_code == 400, (response.status_code, response.text[:1000])
        assert "location" not in response.headers
        assert TEAM_TOKENS[0] not in response.text
    # The untouched page still works afterwards: the refusals did not consume it.
    assert server.submit(page, team_credentials()).status_code in (302, 303)


def test_the_consent_page_cannot_be_framed_or_cached(server):
    response = server.open(server.authorization_url(server.register(), pkce_pair()[1]))
    assert response.status_code == 200
    assert response.headers["x-frame-options"].upper() == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "no-store" in response.headers["cache-control"]


# Each brute-force test guesses from its own address (TEST-NET-2), so that the limits they reach
# are theirs alone. Wrong entries allowed per 10 minutes: per client and address, and per address.
MAX_FAILED_ATTEMPTS = 10
MAX_FAILED_ATTEMPTS_PER_ADDRESS = 30


def test_brute_forcing_the_team_token_through_the_form_hits_the_attempt_limit(server):
    address = "198.51.100.10"
    client = server.register()
    page = consent_page(server, client)
    statuses = []
    for attempt in range(12):
        guess = f"guess-{attempt:02d}-{TEAM_TOKENS[0][:4]}"
        response = server.submit(page, {"access_token": guess}, address=address)
        statuses.append(response.status_code)
        assert "location" not in response.headers, response.headers
        assert guess not in response.text and TEAM_TOKENS[0] not in response.text
    assert statuses == [400] * MAX_FAILED_ATTEMPTS + [429, 429], statuses
    # Once the limit is reached even the right token is turned away (until the window ends).
    response = server.submit(page, team_credentials(), address=address)
    assert response.status_code == 429 and "location" not in response.headers
    # Someone else's consent to the same client is not locked out.
    assert server.submit(page, team_credentials(), address="198.51.100.99").status_code in (302, 303)


def test_rotating_clients_does_not_multiply_the_guesses(server):
    """Registration is open to anyone, so a limit per client alone would give one address ten
    more guesses with every client it registers."""
    evaluated = 0
    for _ in range(6):
        page = consent_page(server, server.register())
        for attempt in range(MAX_FAILED_ATTEMPTS + 1):
            response = server.submit(page, {"access_token": f"rotating-guess-{attempt}"}, address="198.51.100.11")
            assert response.status_code in (400, 429) and "location" not in response.headers
            evaluated += response.status_code == 400
    assert evaluated == MAX_FAILED_ATTEMPTS_PER_ADDRESS, f"{evaluated} wrong entries evaluated from one address"


def test_concurrent_guesses_stay_within_the_attempt_limit(server):
    page = consent_page(server, server.register())
    url, body = page.submission({"access_token": "placeholder"})
    answers = released_together(30, lambda http, n: http.post(
        url, data={**body, "access_token": f"parallel-guess-{n}"}, headers={"cf-connecting-ip": "198.51.100.12"}))
    statuses = [answer.status_code for answer in answers]
    assert set(statuses) <= {400, 429}, statuses
    assert statuses.count(400) <= MAX_FAILED_ATTEMPTS, f"{statuses.count(400)} of 30 concurrent guesses evaluated"


def test_a_wrong_team_token_re_renders_the_form(server):
    client = server.register()
    page = consent_page(server, client)
    response = server.submit(page, {"access_token": "not-a-team-token"})
    assert response.status_code == 400 and "location" not in response.headers
    again = Page.of(response)
    assert again.consent_form(team_credentials()), "the form comes back to try again"
    assert 'role="alert"' in response.text and len(again.text) > len(page.text), "with a message saying why"
    assert "not-a-team-token" not in response.text
