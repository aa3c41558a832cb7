//! The authorization server end to end through [`handle`], on an in-memory store whose clock
//! the tests move, with a fake Prefect (and fake client metadata documents) upstream.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64};
use futures::executor::block_on;
use http::{StatusCode, header};
use serde_json::{Value, json};

use super::store::MemoryStore;
use super::*;
use crate::auth_tokens::AccessTokens;
use crate::crypto;
use crate::prefect::testing::FakeUpstream;
use crate::settings::{SecretCredentials, UrlPolicy};

const ISSUER: &str = "https://mcp.example.com";
const REDIRECT: &str = "https://client.example.com/callback";
const TEAM_TOKEN: &str = "team-token-0123456789";
const SECRET_KEY: &str = "pnu_worker_secret_key";
const PERSONAL_URL: &str = "https://prefect.example.net/api";
const PERSONAL_KEY: &str = "pnu_personal_key_abcdef";
const VERIFIER: &str = "a-verifier-of-at-least-forty-three-characters-0123456789";
const PING: &str = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
const CALL_FLOWS: &str =
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_flows","arguments":{}}}"#;

struct Server {
    store: MemoryStore,
    fetch: FakeUpstream,
    settings: Settings,
}

/// A team Worker: access tokens and Prefect secrets; personal credentials allowed beside.
fn team() -> Server {
    let settings = Settings {
        secrets: SecretCredentials {
            api_url: Some("https://prefect.example.com/api".into()),
            api_key: Some(SECRET_KEY.into()),
            ..Default::default()
        },
        access_tokens: AccessTokens::new(vec![TEAM_TOKEN.into()]),
        upstream_timeout_ms: 1000,
        ..Default::default()
    };
    Server::new(settings)
}

/// A Worker without Prefect secrets: personal credentials only.
fn personal() -> Server {
    Server::new(Settings { upstream_timeout_ms: 1000, ..Default::default() })
}

fn prefect_upstream() -> FakeUpstream {
    FakeUpstream::new().on("POST", "/api/flow_runs/count", 200, json!(3)).on(
        "POST",
        "/api/flows/filter",
        200,
        json!([]),
    )
}

struct Reply {
    status: StatusCode,
    headers: http::HeaderMap,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    fn location(&self) -> url::Url {
        url::Url::parse(self.headers[header::LOCATION].to_str().unwrap()).unwrap()
    }

    fn query(&self, name: &str) -> Option<String> {
        self.location().query_pairs().find(|(n, _)| n == name).map(|(_, v)| v.into_owned())
    }

    /// The signed hidden field of a consent page.
    fn signed_request(&self) -> String {
        let start = self.body.find("name=\"request\" value=\"").expect("a consent form") + 22;
        self.body[start..].split('"').next().unwrap().to_owned()
    }
}

fn challenge() -> String {
    crypto::pkce_s256(VERIFIER)
}

impl Server {
    fn new(settings: Settings) -> Self {
        let store = MemoryStore::default();
        store.now.set(1_800_000_000);
        Server { store, fetch: prefect_upstream(), settings }
    }

    fn advance(&self, seconds: i64) {
        self.store.now.set(self.store.now.get() + seconds);
    }

    fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
        block_on(self.sending(method, path, headers, body))
    }

    async fn sending(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
        let mut builder = http::Request::builder().method(method).uri(format!("{ISSUER}{path}"));
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder.body(body.as_bytes().to_vec()).unwrap();
        let response = handle(request, &self.settings, &self.fetch, &self.store, self.store.now.get()).await;
        let (parts, body) = response.into_parts();
        Reply { status: parts.status, headers: parts.headers, body: String::from_utf8(body).unwrap() }
    }

    fn form(&self, path: &str, fields: &[(&str, &str)], headers: &[(&str, &str)]) -> Reply {
        block_on(self.posting(path, fields, headers))
    }

    async fn posting(&self, path: &str, fields: &[(&str, &str)], headers: &[(&str, &str)]) -> Reply {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
        let mut all = vec![("content-type", "application/x-www-form-urlencoded")];
        all.extend_from_slice(headers);
        self.sending("POST", path, &all, &body).await
    }

    fn register(&self, metadata: Value) -> Value {
        let reply = self.send("POST", "/register", &[("content-type", "application/json")], &metadata.to_string());
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.json()
    }

    fn public_client(&self) -> String {
        let client = self.register(
            json!({"redirect_uris": [REDIRECT], "client_name": "Test <App>", "token_endpoint_auth_method": "none"}),
        );
        client["client_id"].as_str().unwrap().to_owned()
    }

    fn authorize(&self, client_id: &str, extra: &[(&str, &str)]) -> Reply {
        let challenge = challenge();
        let mut fields = vec![
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("state", "state-1"),
        ];
        for (name, value) in extra {
            fields.retain(|(n, _)| n != name);
            if !value.is_empty() {
                fields.push((name, value));
            }
        }
        let query = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&fields).finish();
        self.send("GET", &format!("/authorize?{query}"), &[], "")
    }

    fn consent(&self, signed: &str, fields: &[(&str, &str)]) -> Reply {
        let mut all = vec![("request", signed)];
        all.extend_from_slice(fields);
        self.form("/authorize", &all, &[("cf-connecting-ip", "198.51.100.7")])
    }

    /// A code for `client_id` through the consent page with `fields`.
    fn code(&self, client_id: &str, fields: &[(&str, &str)]) -> String {
        let page = self.authorize(client_id, &[]);
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let reply = self.consent(&page.signed_request(), fields);
        assert_eq!(reply.status, StatusCode::FOUND, "{}", reply.body);
        assert_eq!(reply.query("state").as_deref(), Some("state-1"));
        assert_eq!(reply.query("iss").as_deref(), Some(ISSUER));
        reply.query("code").unwrap()
    }

    fn exchange(&self, client_id: &str, code: &str, verifier: &str) -> Reply {
        self.form(
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", verifier),
                ("client_id", client_id),
            ],
            &[],
        )
    }

    fn refresh(&self, client_id: &str, refresh_token: &str) -> Reply {
        self.form(
            "/token",
            &[("grant_type", "refresh_token"), ("refresh_token", refresh_token), ("client_id", client_id)],
            &[],
        )
    }

    /// Tokens for a new public client with a team grant.
    fn team_tokens(&self) -> (String, Value) {
        let client = self.public_client();
        let code = self.code(&client, &[("mode", "team"), ("access_token", TEAM_TOKEN)]);
        let reply = self.exchange(&client, &code, VERIFIER);
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        (client, reply.json())
    }

    fn mcp(&self, token: &str, body: &str) -> Reply {
        let auth = format!("Bearer {token}");
        self.send(
            "POST",
            "/mcp",
            &[("content-type", "application/json"), ("mcp-protocol-version", "2025-11-25"), ("authorization", &auth)],
            body,
        )
    }
}

fn token(tokens: &Value, name: &str) -> String {
    tokens[name].as_str().unwrap().to_owned()
}

fn assert_invalid_token(reply: &Reply) {
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
    let challenge = reply.headers[header::WWW_AUTHENTICATE].to_str().unwrap();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert!(challenge.contains(&format!("resource_metadata=\"{ISSUER}/.well-known/oauth-protected-resource/mcp\"")));
}

#[test]
fn discovery_documents_name_this_worker() {
    let server = team();
    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp/x/runs",
    ] {
        let prm = server.send("GET", path, &[], "");
        assert_eq!(prm.status, StatusCode::OK, "{path}");
        assert_eq!(prm.json()["resource"], format!("{ISSUER}/mcp"));
        assert_eq!(prm.json()["authorization_servers"], json!([ISSUER]));
        assert_eq!(prm.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    }
    let meta = server.send("GET", "/.well-known/oauth-authorization-server", &[], "").json();
    assert_eq!(meta["issuer"], ISSUER);
    assert_eq!(meta["authorization_endpoint"], format!("{ISSUER}/authorize"));
    assert_eq!(meta["token_endpoint"], format!("{ISSUER}/token"));
    assert_eq!(meta["registration_endpoint"], format!("{ISSUER}/register"));
    assert_eq!(meta["revocation_endpoint"], format!("{ISSUER}/revoke"));
    assert_eq!(meta["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(meta["grant_types_supported"], json!(["authorization_code", "refresh_token"]));
    assert_eq!(meta["client_id_metadata_document_supported"], true);
    assert_eq!(meta["authorization_response_iss_parameter_supported"], true);
    assert!(meta["token_endpoint_auth_methods_supported"].as_array().unwrap().contains(&json!("none")));
}

#[test]
fn mcp_challenges_requests_without_credentials_and_keeps_static_tokens_and_headers() {
    // No access tokens and no secrets: without OAuth such a Worker serves header requests only.
    let server = personal();
    for path in ["/mcp", "/mcp/x/runs"] {
        let reply = server.send("POST", path, &[("content-type", "application/json")], PING);
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{path}");
        let challenge = reply.headers[header::WWW_AUTHENTICATE].to_str().unwrap();
        assert_eq!(
            challenge,
            format!(
                "Bearer realm=\"prefect-mcp\", resource_metadata=\"{ISSUER}/.well-known/oauth-protected-resource/mcp\""
            )
        );
    }
    let headers = [("content-type", "application/json"), ("x-prefect-api-url", PERSONAL_URL)];
    assert_eq!(server.send("POST", "/mcp", &headers, PING).status, StatusCode::OK);

    let server = team();
    assert_eq!(server.mcp(TEAM_TOKEN, PING).status, StatusCode::OK);
    assert_invalid_token(&server.mcp("not-a-token", PING));
    assert_invalid_token(&server.mcp("abc:def", PING));
    // Header credentials on a gated Worker still need the access token, as without OAuth.
    assert_eq!(server.send("POST", "/mcp", &headers, PING).status, StatusCode::UNAUTHORIZED);
}

#[test]
fn team_grant_uses_the_worker_secrets_until_its_token_is_withdrawn() {
    let mut server = team();
    let (client, tokens) = server.team_tokens();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3600);
    assert_eq!(tokens["scope"], "prefect:read");
    let access = token(&tokens, "access_token");
    let reply = server.mcp(&access, CALL_FLOWS);
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["result"]["isError"], false, "{}", reply.body);
    let sent = server.fetch.requests().into_iter().find(|r| r.uri().path() == "/api/flows/filter").unwrap();
    assert_eq!(sent.uri().host(), Some("prefect.example.com"));
    assert_eq!(server.mcp(TEAM_TOKEN, PING).status, StatusCode::OK, "static tokens still work");
    assert_eq!(sent.headers()[header::AUTHORIZATION], format!("Bearer {SECRET_KEY}"));
    // The OAuth token never travels to Prefect.
    assert!(server.fetch.requests().iter().all(|r| !format!("{:?}", r.headers()).contains(&access)));

    server.settings.access_tokens = AccessTokens::new(vec!["another-team-token".into()]);
    assert_invalid_token(&server.mcp(&access, PING));
    let refresh = server.refresh(&client, &token(&tokens, "refresh_token"));
    assert_eq!(refresh.json()["error"], "invalid_grant", "a withdrawn token cannot be refreshed into new access");
}

#[test]
fn personal_grants_on_a_gated_worker_need_and_keep_a_team_token() {
    let mut server = personal();
    server.settings.access_tokens = AccessTokens::new(vec![TEAM_TOKEN.into()]);
    let client = server.public_client();
    let signed = server.authorize(&client, &[]).signed_request();
    let without = server.consent(&signed, &[("prefect_api_url", PERSONAL_URL), ("prefect_api_key", PERSONAL_KEY)]);
    assert_eq!(without.status, StatusCode::BAD_REQUEST);
    assert!(without.body.contains("access tokens as well"), "{}", without.body);
    let code = server.code(
        &client,
        &[("prefect_api_url", PERSONAL_URL), ("prefect_api_key", PERSONAL_KEY), ("access_token", TEAM_TOKEN)],
    );
    let access = token(&server.exchange(&client, &code, VERIFIER).json(), "access_token");
    assert_eq!(server.mcp(&access, PING).status, StatusCode::OK);
    server.settings.access_tokens = AccessTokens::new(vec!["another-team-token".into()]);
    assert_invalid_token(&server.mcp(&access, PING));
}

#[test]
fn personal_grant_carries_encrypted_credentials_that_only_its_tokens_open() {
    let server = personal();
    let client = server.public_client();
    let page = server.authorize(&client, &[]);
    assert!(page.body.contains("prefect_api_url") && !page.body.contains("name=\"access_token\""));
    let code = server.code(&client, &[("prefect_api_url", PERSONAL_URL), ("prefect_api_key", PERSONAL_KEY)]);
    let check = &server.fetch.requests()[0];
    assert_eq!(check.uri().to_string(), format!("{PERSONAL_URL}/flow_runs/count"));
    assert_eq!(check.headers()[header::AUTHORIZATION], format!("Bearer {PERSONAL_KEY}"));

    let tokens = server.exchange(&client, &code, VERIFIER).json();
    let (access, refresh) = (token(&tokens, "access_token"), token(&tokens, "refresh_token"));
    let reply = server.mcp(&access, CALL_FLOWS);
    assert_eq!(reply.json()["result"]["isError"], false, "{}", reply.body);
    let sent = server.fetch.requests().into_iter().find(|r| r.uri().path() == "/api/flows/filter").unwrap();
    assert_eq!(sent.uri().host(), Some("prefect.example.net"));
    assert_eq!(sent.headers()[header::AUTHORIZATION], format!("Bearer {PERSONAL_KEY}"));

    let refreshed = server.refresh(&client, &refresh).json();
    assert_eq!(server.mcp(&token(&refreshed, "access_token"), PING).status, StatusCode::OK);

    let dump = server.store.dump();
    for secret in [
        PERSONAL_KEY,
        PERSONAL_URL,
        "prefect.example.net",
        &access,
        &refresh,
        &code,
        &token(&refreshed, "access_token"),
        &token(&refreshed, "refresh_token"),
    ] {
        assert!(!dump.contains(secret), "storage holds {secret}:\n{dump}");
    }
    assert!(dump.contains("sealed_credentials"));
}

#[test]
fn personal_credentials_are_checked_before_a_code_is_issued() {
    let mut server = personal();
    server.fetch = FakeUpstream::new().on("POST", "/api/flow_runs/count", 401, json!({"detail": "bad key"}));
    let client = server.public_client();
    let signed = server.authorize(&client, &[]).signed_request();
    let reply = server.consent(&signed, &[("prefect_api_url", PERSONAL_URL), ("prefect_api_key", "wrong")]);
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply.body.contains("Prefect did not accept those credentials") && !reply.body.contains("wrong\""),
        "{}",
        reply.body
    );
    assert!(!reply.headers.contains_key(header::LOCATION));
    // The header-URL rules apply: no private hosts, no plain http on a public Worker.
    for url in ["https://169.254.169.254/api", "http://prefect.example.net/api", "https://localhost/api"] {
        let reply = server.consent(&signed, &[("prefect_api_url", url)]);
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{url}");
        assert!(reply.body.contains("cannot be used"), "{url}: {}", reply.body);
    }
    assert_eq!(server.fetch.requests().len(), 1, "refused URLs are never fetched");
    assert!(!server.store.keys().iter().any(|k| k.starts_with("grant:")));
}

#[test]
fn pkce_is_required_and_checked() {
    let server = team();
    let client = server.public_client();
    for (extra, error) in [
        (vec![("code_challenge", "")], "invalid_request"),
        (vec![("code_challenge_method", "")], "invalid_request"),
        (vec![("code_challenge_method", "plain")], "invalid_request"),
        (vec![("code_challenge", "short")], "invalid_request"),
        (vec![("response_type", "token")], "unsupported_response_type"),
        (vec![("scope", "prefect:admin")], "invalid_scope"),
        (vec![("resource", "https://other.example.com/mcp")], "invalid_target"),
    ] {
        let reply = server.authorize(&client, &extra);
        assert_eq!(reply.status, StatusCode::FOUND, "{extra:?}");
        assert!(reply.location().as_str().starts_with(REDIRECT));
        assert_eq!(reply.query("error").as_deref(), Some(error), "{extra:?}");
        assert_eq!(reply.query("state").as_deref(), Some("state-1"));
        assert_eq!(reply.query("iss").as_deref(), Some(ISSUER));
        assert_eq!(reply.query("code"), None);
    }
    let code = server.code(&client, &[("access_token", TEAM_TOKEN)]);
    let wrong = server.exchange(&client, &code, "another-verifier-of-at-least-forty-three-characters");
    assert_eq!((wrong.status, wrong.json()["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    // The code was spent by the failed attempt.
    assert_eq!(server.exchange(&client, &code, VERIFIER).json()["error"], "invalid_grant");
}

#[test]
fn unknown_clients_and_redirect_uris_get_a_page_never_a_redirect() {
    let server = team();
    let client = server.public_client();
    for reply in [
        server.authorize("no-such-client", &[]),
        server.authorize(&client, &[("redirect_uri", "https://evil.example/callback")]),
        server.authorize(&client, &[("redirect_uri", "https://client.example.com/callback/../evil")]),
        server.authorize(&client, &[("redirect_uri", "https://client.example.com.evil.example/callback")]),
        server.authorize(&client, &[("client_id", "")]),
        server.authorize(&"x".repeat(5000), &[]),
        server.authorize("client id with spaces", &[]),
    ] {
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
        assert!(!reply.headers.contains_key(header::LOCATION));
        assert!(reply.body.contains("Authorization failed"));
    }
}

#[test]
fn consent_page_is_unframeable_uncached_escaped_and_works_without_script() {
    let server = team();
    let client = server.public_client();
    let page = server.authorize(&client, &[("scope", "prefect:read prefect:write")]);
    assert_eq!(page.headers["x-frame-options"], "DENY");
    assert!(page.headers["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
    assert_eq!(page.headers[header::CACHE_CONTROL], "no-store");
    assert!(page.body.contains("Test &lt;App&gt;") && !page.body.contains("Test <App>"));
    assert!(page.body.contains("client.example.com") && page.body.contains("prefect:write"));
    assert!(page.body.contains("name=\"viewport\"") && !page.body.contains("<script"));
    assert!(page.body.contains("<form method=\"post\" action=\"/authorize\">"));
    // A Worker with secrets offers personal credentials only when allowed to.
    assert!(page.body.contains("name=\"access_token\"") && !page.body.contains("name=\"prefect_api_url\""));
}

#[test]
fn the_signed_field_binds_the_form_to_its_request() {
    let server = team();
    let client = server.public_client();
    let signed = server.authorize(&client, &[]).signed_request();
    let (payload, signature) = signed.split_once('.').unwrap();
    let mut request: Value = serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap();
    request["redirect_uri"] = json!("https://evil.example/callback");
    let forged = format!("{}.{signature}", B64.encode(request.to_string()));
    for bad in [forged.as_str(), "", "garbage", &signed[..signed.len() - 2]] {
        let reply = server.consent(bad, &[("access_token", TEAM_TOKEN)]);
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(!reply.headers.contains_key(header::LOCATION));
    }
    server.advance(601);
    let expired = server.consent(&signed, &[("access_token", TEAM_TOKEN)]);
    assert_eq!(expired.status, StatusCode::BAD_REQUEST);
    assert!(expired.body.contains("expired"));
    assert!(!server.store.keys().iter().any(|k| k.starts_with("grant:")));
}

#[test]
fn deny_redirects_with_access_denied() {
    let server = team();
    let client = server.public_client();
    let signed = server.authorize(&client, &[]).signed_request();
    let reply = server.consent(&signed, &[("action", "deny")]);
    assert_eq!(reply.query("error").as_deref(), Some("access_denied"));
    assert_eq!(reply.query("code"), None);
}

#[test]
fn wrong_team_tokens_are_limited_per_client_and_address() {
    let server = team();
    let client = server.public_client();
    let signed = server.authorize(&client, &[]).signed_request();
    for _ in 0..authorize::MAX_FAILED_ATTEMPTS {
        let reply = server.consent(&signed, &[("access_token", "guess")]);
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert!(reply.body.contains("not one of this server&#39;s tokens"), "{}", reply.body);
    }
    let blocked = server.consent(&signed, &[("access_token", TEAM_TOKEN)]);
    assert_eq!(blocked.status, StatusCode::TOO_MANY_REQUESTS);
    // Another address is not blocked.
    let other = server.form(
        "/authorize",
        &[("request", &signed), ("access_token", TEAM_TOKEN)],
        &[("cf-connecting-ip", "203.0.113.9")],
    );
    assert_eq!(other.status, StatusCode::FOUND);
    server.advance(601);
    assert_eq!(
        server.consent(&signed, &[("access_token", TEAM_TOKEN)]).status,
        StatusCode::BAD_REQUEST,
        "the form itself expired"
    );
    let signed = server.authorize(&client, &[]).signed_request();
    assert_eq!(server.consent(&signed, &[("access_token", TEAM_TOKEN)]).status, StatusCode::FOUND);
}

#[test]
fn a_reused_code_revokes_what_it_issued() {
    let server = team();
    let client = server.public_client();
    let code = server.code(&client, &[("access_token", TEAM_TOKEN)]);
    let tokens = server.exchange(&client, &code, VERIFIER).json();
    assert_eq!(server.mcp(&token(&tokens, "access_token"), PING).status, StatusCode::OK);
    let replay = server.exchange(&client, &code, VERIFIER);
    assert_eq!(replay.json()["error"], "invalid_grant");
    assert_invalid_token(&server.mcp(&token(&tokens, "access_token"), PING));
    assert_eq!(server.refresh(&client, &token(&tokens, "refresh_token")).json()["error"], "invalid_grant");
}

#[test]
fn codes_expire_after_sixty_seconds_and_bind_client_and_redirect() {
    let server = team();
    let client = server.public_client();
    let code = server.code(&client, &[("access_token", TEAM_TOKEN)]);
    server.advance(61);
    assert_eq!(server.exchange(&client, &code, VERIFIER).json()["error"], "invalid_grant");

    let other = server.public_client();
    let code = server.code(&client, &[("access_token", TEAM_TOKEN)]);
    assert_eq!(server.exchange(&other, &code, VERIFIER).json()["error"], "invalid_grant");
    let code = server.code(&client, &[("access_token", TEAM_TOKEN)]);
    let reply = server.form(
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://client.example.com/other"),
            ("code_verifier", VERIFIER),
            ("client_id", &client),
        ],
        &[],
    );
    assert_eq!(reply.json()["error"], "invalid_grant");
}

#[test]
fn refresh_rotates_and_a_rotated_token_revokes_the_grant() {
    let server = team();
    let (client, first) = server.team_tokens();
    let second = server.refresh(&client, &token(&first, "refresh_token"));
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    let second = second.json();
    assert_ne!(token(&first, "access_token"), token(&second, "access_token"));
    assert_invalid_token(&server.mcp(&token(&first, "access_token"), PING));
    assert_eq!(server.mcp(&token(&second, "access_token"), PING).status, StatusCode::OK);

    let third = server.refresh(&client, &token(&second, "refresh_token")).json();
    assert_eq!(server.mcp(&token(&third, "access_token"), PING).status, StatusCode::OK);

    // The first refresh token, two rotations old, still gives the theft away.
    let reuse = server.refresh(&client, &token(&first, "refresh_token"));
    assert_eq!(reuse.json()["error"], "invalid_grant");
    assert_invalid_token(&server.mcp(&token(&third, "access_token"), PING));
    assert_eq!(server.refresh(&client, &token(&third, "refresh_token")).json()["error"], "invalid_grant");
}

#[test]
fn access_tokens_expire() {
    let mut server = team();
    // Shorter than KV's 60-second minimum TTL: the token record's own expiry ends it.
    server.settings.oauth.access_token_ttl_s = 30;
    let (_, tokens) = server.team_tokens();
    assert_eq!(tokens["expires_in"], 30);
    server.advance(29);
    assert_eq!(server.mcp(&token(&tokens, "access_token"), PING).status, StatusCode::OK);
    server.advance(1);
    assert_invalid_token(&server.mcp(&token(&tokens, "access_token"), PING));
}

#[test]
fn a_token_is_bound_to_the_worker_that_issued_it() {
    let server = team();
    let (_, tokens) = server.team_tokens();
    let auth = format!("Bearer {}", token(&tokens, "access_token"));
    let mut request = http::Request::builder()
        .method("POST")
        .uri("https://other-worker.example.com/mcp")
        .header("content-type", "application/json")
        .header("authorization", auth)
        .body(PING.as_bytes().to_vec())
        .unwrap();
    request.headers_mut().insert("mcp-protocol-version", "2025-11-25".parse().unwrap());
    let response = block_on(handle(request, &server.settings, &server.fetch, &server.store, server.store.now.get()));
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn revocation_ends_the_grant() {
    let server = team();
    let (client, tokens) = server.team_tokens();
    let reply = server.form("/revoke", &[("token", &token(&tokens, "refresh_token")), ("client_id", &client)], &[]);
    assert_eq!(reply.status, StatusCode::OK);
    assert_invalid_token(&server.mcp(&token(&tokens, "access_token"), PING));
    // Unknown tokens are fine (RFC 7009 §2.2).
    let again = server.form("/revoke", &[("token", "nothing:here"), ("client_id", &client)], &[]);
    assert_eq!(again.status, StatusCode::OK);
}

#[test]
fn confidential_clients_authenticate_with_their_secret() {
    let server = team();
    let registered =
        server.register(json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "client_secret_basic"}));
    let (id, secret) = (registered["client_id"].as_str().unwrap(), registered["client_secret"].as_str().unwrap());
    assert!(!server.store.dump().contains(secret));
    let code = server.code(id, &[("access_token", TEAM_TOKEN)]);
    let fields = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let wrong = format!("Basic {}", STANDARD.encode(format!("{id}:wrong")));
    let reply = server.form("/token", &fields, &[("authorization", &wrong)]);
    assert_eq!((reply.status, reply.json()["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
    let without = server.form("/token", &[("client_id", id), ("code", &code)], &[]);
    assert_eq!(without.json()["error"], "invalid_client");

    let code = server.code(id, &[("access_token", TEAM_TOKEN)]);
    let fields = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let right = format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")));
    assert_eq!(server.form("/token", &fields, &[("authorization", &right)]).status, StatusCode::OK);
}

#[test]
fn registration_refuses_unusable_metadata() {
    let server = team();
    for metadata in [
        json!({}),
        json!({"redirect_uris": []}),
        json!({"redirect_uris": ["http://example.com/cb"]}),
        json!({"redirect_uris": ["javascript:alert(1)"]}),
        json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "private_key_jwt"}),
        json!({"redirect_uris": [REDIRECT], "grant_types": ["client_credentials"]}),
    ] {
        let reply = server.send("POST", "/register", &[("content-type", "application/json")], &metadata.to_string());
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{metadata}");
        assert!(reply.json()["error"].as_str().unwrap().starts_with("invalid_"), "{}", reply.body);
    }
}

const CIMD_URL: &str = "https://app.example.org/oauth/client.json";

fn cimd_server(document: Value) -> Server {
    let mut server = team();
    server.fetch = prefect_upstream().on("GET", "/oauth/client.json", 200, document);
    server
}

#[test]
fn metadata_documents_identify_clients_by_url() {
    let server = cimd_server(json!({"client_id": CIMD_URL, "client_name": "Doc App", "redirect_uris": [REDIRECT]}));
    let page = server.authorize(CIMD_URL, &[]);
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Doc App"));
    let code = server.code(CIMD_URL, &[("access_token", TEAM_TOKEN)]);
    assert_eq!(server.exchange(CIMD_URL, &code, VERIFIER).status, StatusCode::OK);
    let fetched = server.fetch.requests().iter().filter(|r| r.uri().path() == "/oauth/client.json").count();
    assert_eq!(fetched, 1, "the document is cached");
}

#[test]
fn metadata_documents_must_name_themselves_and_stay_small() {
    let other = cimd_server(json!({"client_id": "https://evil.example/client.json", "redirect_uris": [REDIRECT]}));
    let padding = "x".repeat(super::clients::METADATA_DOCUMENT_MAX_BYTES);
    let large = cimd_server(json!({"client_id": CIMD_URL, "redirect_uris": [REDIRECT], "client_name": padding}));
    let mut missing = team();
    missing.fetch = FakeUpstream::new();
    for server in [other, large, missing] {
        let reply = server.authorize(CIMD_URL, &[]);
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
        assert!(!reply.headers.contains_key(header::LOCATION));
        assert!(reply.body.contains("metadata document"));
    }
}

#[test]
fn metadata_document_urls_follow_the_ssrf_rules() {
    let server = team();
    for url in [
        "https://127.0.0.1/client.json",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/client.json",
        "https://localhost/client.json",
        "https://10.0.0.8/client.json",
        "http://app.example.org/client.json",
        "https://app.example.org/",
    ] {
        let reply = server.authorize(url, &[]);
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{url}");
        assert!(!reply.headers.contains_key(header::LOCATION));
    }
    assert!(server.fetch.requests().is_empty(), "no refused URL was fetched");
    // A deployment that allows private Prefect URLs allows private client URLs the same way.
    let mut local =
        cimd_server(json!({"client_id": "http://127.0.0.1:9/oauth/client.json", "redirect_uris": [REDIRECT]}));
    local.settings.url_policy = UrlPolicy { allow_private: true, api_hosts: Vec::new() };
    assert_eq!(local.authorize("http://127.0.0.1:9/oauth/client.json", &[]).status, StatusCode::OK);
}

#[test]
fn token_endpoint_errors_follow_rfc_6749() {
    let server = team();
    let (client, _) = server.team_tokens();
    let cases: [(&[(&str, &str)], &str); 4] = [
        (&[("grant_type", "password"), ("client_id", &client)], "unsupported_grant_type"),
        (&[("grant_type", "authorization_code"), ("client_id", &client)], "invalid_request"),
        (
            &[
                ("grant_type", "authorization_code"),
                ("client_id", "nobody"),
                ("code", "a:b"),
                ("code_verifier", VERIFIER),
            ],
            "invalid_client",
        ),
        (&[("grant_type", "refresh_token"), ("client_id", &client), ("client_id", &client)], "invalid_request"),
    ];
    for (fields, error) in cases {
        let reply = server.form("/token", fields, &[]);
        assert_eq!(reply.json()["error"], error, "{fields:?}: {}", reply.body);
        assert_eq!(reply.headers[header::CACHE_CONTROL], "no-store");
    }
}

#[test]
fn no_way_to_grant_means_an_explanation_not_a_form() {
    let server = Server::new(Settings {
        secrets: SecretCredentials { api_url: Some("https://prefect.example.com/api".into()), ..Default::default() },
        ..Default::default()
    });
    let client = server.public_client();
    let reply = server.authorize(&client, &[]);
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(reply.body.contains("MCP_ACCESS_TOKENS"));
}

#[test]
fn expired_entries_leave_the_store() {
    let server = team();
    let client = server.public_client();
    let code = server.code(&client, &[("access_token", TEAM_TOKEN)]);
    assert_eq!(server.store.keys().iter().filter(|k| k.starts_with("grant:")).count(), 1);
    server.advance(61);
    assert!(!server.store.keys().iter().any(|k| k.starts_with("grant:")), "an unused code's grant expires with it");
    assert_eq!(server.exchange(&client, &code, VERIFIER).json()["error"], "invalid_grant");
}

/// Runs `count` copies of a request at once (interleaved at every storage read, as requests
/// of one isolate are) and returns the replies.
fn at_once<'a, F: std::future::Future<Output = Reply> + 'a>(count: usize, request: impl Fn() -> F) -> Vec<Reply> {
    block_on(futures::future::join_all((0..count).map(|_| request())))
}

#[test]
fn a_code_redeemed_twice_at_once_issues_tokens_once() {
    let server = team();
    let client = server.public_client();
    let code = server.code(&client, &[("access_token", TEAM_TOKEN)]);
    let fields = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
        ("client_id", client.as_str()),
    ];
    let replies = at_once(2, || server.posting("/token", &fields, &[]));
    let issued: Vec<&Reply> = replies.iter().filter(|r| r.status == StatusCode::OK).collect();
    assert_eq!(issued.len(), 1, "one redemption issues tokens, the other is refused");
    assert!(replies.iter().any(|r| r.json()["error"] == "invalid_grant"));
}

#[test]
fn a_refresh_token_spent_twice_at_once_leaves_at_most_one_live_token() {
    let server = team();
    let (client, tokens) = server.team_tokens();
    let refresh = token(&tokens, "refresh_token");
    let fields = [("grant_type", "refresh_token"), ("refresh_token", refresh.as_str()), ("client_id", client.as_str())];
    let replies = at_once(2, || server.posting("/token", &fields, &[]));
    let live = replies
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .filter(|r| server.mcp(&token(&r.json(), "access_token"), PING).status == StatusCode::OK)
        .count();
    assert_eq!(live, 1, "one refresh succeeds, the other is refused");
}

#[test]
fn concurrent_wrong_entries_stay_within_the_attempt_limit() {
    let server = team();
    let client = server.public_client();
    let signed = server.authorize(&client, &[]).signed_request();
    let fields = [("request", signed.as_str()), ("access_token", "guess")];
    let replies = at_once(30, || server.posting("/authorize", &fields, &[("cf-connecting-ip", "198.51.100.7")]));
    // One entry is evaluated; the others arrive while it is checked and are turned away.
    let evaluated = replies.iter().filter(|r| r.status == StatusCode::BAD_REQUEST).count();
    assert_eq!(evaluated, 1);
    assert!(replies.iter().all(|r| [StatusCode::BAD_REQUEST, StatusCode::TOO_MANY_REQUESTS].contains(&r.status)));
    // Afterwards the address may try again, within its limit.
    assert_eq!(server.consent(&signed, &[("access_token", TEAM_TOKEN)]).status, StatusCode::FOUND);
}

#[test]
fn new_clients_do_not_multiply_the_guesses_of_one_address() {
    let server = team();
    let mut evaluated = 0;
    for _ in 0..6 {
        let client = server.public_client();
        let signed = server.authorize(&client, &[]).signed_request();
        for _ in 0..=authorize::MAX_FAILED_ATTEMPTS {
            evaluated +=
                usize::from(server.consent(&signed, &[("access_token", "guess")]).status == StatusCode::BAD_REQUEST);
        }
    }
    assert_eq!(evaluated, authorize::MAX_FAILED_ATTEMPTS_PER_ADDRESS as usize);
}

/// The tool names `token` gets from `tools/list`.
fn listed_tools(server: &Server, token: &str) -> Vec<String> {
    let reply = server.mcp(token, r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
    let tools = reply.json()["result"]["tools"].as_array().cloned().unwrap_or_default();
    tools.iter().map(|t| t["name"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn prefect_write_lets_a_grant_act_only_with_writes_on_and_a_team_grant_only_with_a_write_token() {
    const WRITE_TOKEN: &str = "team-write-token-xyz";
    let mut server = team();
    server.settings.access_tokens = AccessTokens::new(vec![TEAM_TOKEN.into(), WRITE_TOKEN.into()]);
    server.settings.write_tokens = AccessTokens::new(vec![WRITE_TOKEN.into()]);
    server.settings.allow_writes = true;
    let metadata = server.send("GET", "/.well-known/oauth-protected-resource", &[], "").json();
    assert_eq!(metadata["scopes_supported"], json!(["prefect:read", "prefect:write"]));
    let grant = |scope: &str, fields: &[(&str, &str)]| {
        let client = server.public_client();
        let page = server.authorize(&client, &[("scope", scope)]);
        let reply = server.consent(&page.signed_request(), fields);
        assert_eq!(reply.status, StatusCode::FOUND, "{}", reply.body);
        token(&server.exchange(&client, &reply.query("code").unwrap(), VERIFIER).json(), "access_token")
    };
    let acts = |server: &Server, access: &str| listed_tools(server, access).iter().any(|name| name == "run_deployment");
    let write_scope = "prefect:read prefect:write";
    let writer = grant(write_scope, &[("mode", "team"), ("access_token", WRITE_TOKEN)]);
    assert!(acts(&server, &writer));
    // Asking for the scope does not lift a read-only team token, nor does a write token without the scope.
    assert!(!acts(&server, &grant(write_scope, &[("mode", "team"), ("access_token", TEAM_TOKEN)])));
    assert!(!acts(&server, &grant("prefect:read", &[("mode", "team"), ("access_token", WRITE_TOKEN)])));
    // A write grant stops acting as soon as its token is no longer a write token.
    server.settings.write_tokens = AccessTokens::new(Vec::new());
    assert!(!acts(&server, &writer) && listed_tools(&server, &writer).iter().any(|name| name == "get_flows"));

    // Personal credentials act with their own Prefect rights.
    let mut personal = personal();
    personal.settings.allow_writes = true;
    personal.fetch = prefect_upstream().on("GET", "/api/admin/version", 200, json!("3.9.1"));
    let client = personal.public_client();
    let page = personal.authorize(&client, &[("scope", write_scope)]);
    let fields = [("prefect_api_url", PERSONAL_URL), ("prefect_api_key", PERSONAL_KEY)];
    let reply = personal.consent(&page.signed_request(), &fields);
    assert_eq!(reply.status, StatusCode::FOUND, "{}", reply.body);
    let access = token(&personal.exchange(&client, &reply.query("code").unwrap(), VERIFIER).json(), "access_token");
    assert!(listed_tools(&personal, &access).iter().any(|name| name == "cancel_flow_run"));

    // Without ALLOW_WRITES the scope is recorded but nothing can act, and the metadata does not offer it.
    personal.settings.allow_writes = false;
    assert!(!listed_tools(&personal, &access).iter().any(|name| name == "cancel_flow_run"));
    let metadata = personal.send("GET", "/.well-known/oauth-protected-resource", &[], "").json();
    assert_eq!(metadata["scopes_supported"], json!(["prefect:read"]));
}
