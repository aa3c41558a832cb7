//! The HTTP and JSON-RPC rules, end to end through [`handle`], against a fake upstream.

use serde_json::json;

use super::*;
use crate::prefect::testing::FakeUpstream;
use crate::settings::SecretCredentials;

const MODERN: &str = "2026-07-28";

fn settings() -> Settings {
    Settings {
        secrets: SecretCredentials { api_url: Some("http://127.0.0.1:4200/api".into()), ..Default::default() },
        upstream_timeout_ms: 1000,
        allow_unauthenticated: true,
        ..Default::default()
    }
}

fn gated() -> Settings {
    Settings {
        access_tokens: crate::auth_tokens::AccessTokens::new(vec!["tok-one".into(), "tok-two".into()]),
        allow_unauthenticated: false,
        ..settings()
    }
}

const LIST: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
const CALL_FLOWS: &str =
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_flows","arguments":{}}}"#;

fn legacy(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut all = vec![("content-type", "application/json"), ("mcp-protocol-version", "2025-11-25")];
    all.extend_from_slice(extra);
    all
}

#[test]
fn gate_refuses_every_method_but_preflight_without_a_valid_token() {
    let fake = FakeUpstream::new();
    for method in ["POST", "GET", "DELETE", "PUT"] {
        for (auth, challenge) in [
            (None, "Bearer realm=\"prefect-mcp\""),
            (Some("Basic dG9rLW9uZQ=="), "Bearer realm=\"prefect-mcp\""),
            (Some("Bearer"), "Bearer realm=\"prefect-mcp\", error=\"invalid_token\""),
            (Some("Bearer tok-three"), "Bearer realm=\"prefect-mcp\", error=\"invalid_token\""),
        ] {
            let headers = legacy(&auth.map(|a| vec![("authorization", a)]).unwrap_or_default());
            let (status, headers, body) = send_with(&gated(), &fake, request(method, &headers, CALL_FLOWS));
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {auth:?}");
            assert_eq!(headers[header::WWW_AUTHENTICATE], challenge, "{method} {auth:?}");
            let message = body["error"]["message"].as_str().unwrap();
            assert!(message.contains("Authorization: Bearer") || message.contains("bearer token"), "{message}");
            assert!(!message.contains("tok-one") && !message.contains("tok-two"), "{message}");
        }
    }
    assert!(fake.requests().is_empty());
    let (status, headers, _) =
        send_with(&gated(), &fake, request("OPTIONS", &[("origin", "http://localhost:6274")], ""));
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(headers[header::ACCESS_CONTROL_ALLOW_HEADERS].to_str().unwrap().contains("authorization"));
}

#[test]
fn gate_opens_for_a_configured_token_and_secrets_are_used_behind_it() {
    let fake = FakeUpstream::new().on("POST", "/api/flows/filter", 200, json!([]));
    let (status, _, body) =
        send_with(&gated(), &fake, request("POST", &legacy(&[("authorization", "Bearer tok-two")]), CALL_FLOWS));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["result"]["structuredContent"]["success"], json!(true), "{body}");
    // The MCP access token is not a Prefect credential.
    assert!(fake.requests()[0].headers().get(header::AUTHORIZATION).is_none());
}

#[test]
fn ungated_secrets_are_refused_in_a_failure_envelope_but_headers_work() {
    let open = Settings { allow_unauthenticated: false, ..settings() };
    let fake = FakeUpstream::new().on("POST", "/api/flows/filter", 200, json!([]));
    let (status, _, body) = send_with(&open, &fake, request("POST", &legacy(&[]), CALL_FLOWS));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["result"]["isError"], json!(true));
    let error = body["result"]["structuredContent"]["error"].as_str().unwrap();
    assert!(error.contains("MCP_ACCESS_TOKENS") && error.contains("ALLOW_UNAUTHENTICATED=true"), "{error}");
    assert!(fake.requests().is_empty());
    // Listing still works (no Prefect data), and header credentials need no gate.
    let (status, _, _) = send_with(&open, &fake, request("POST", &legacy(&[]), LIST));
    assert_eq!(status, StatusCode::OK);
    let open =
        Settings { url_policy: crate::settings::UrlPolicy { allow_private: true, ..Default::default() }, ..open };
    let headers = legacy(&[("x-prefect-api-url", "http://127.0.0.1:4200/api")]);
    let (_, _, body) = send_with(&open, &fake, request("POST", &headers, CALL_FLOWS));
    assert_eq!(body["result"]["structuredContent"]["success"], json!(true), "{body}");
}

fn request(method: &str, headers: &[(&str, &str)], body: &str) -> Request {
    let mut builder =
        http::Request::builder().method(method).uri("http://127.0.0.1:8787/mcp").header("host", "127.0.0.1:8787");
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    builder.body(body.as_bytes().to_vec()).unwrap()
}

fn send_with(settings: &Settings, fake: &FakeUpstream, request: Request) -> (StatusCode, HeaderMap, Value) {
    let response = futures::executor::block_on(handle(request, settings, fake));
    let (parts, body) = response.into_parts();
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (parts.status, parts.headers, json)
}

fn post(headers: &[(&str, &str)], body: Value) -> (StatusCode, HeaderMap, Value) {
    let mut all = vec![("content-type", "application/json"), ("accept", "application/json, text/event-stream")];
    all.extend_from_slice(headers);
    send_with(&settings(), &FakeUpstream::new(), request("POST", &all, &body.to_string()))
}

fn modern_params(extra: Value) -> Value {
    let mut params = json!({"_meta": {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "1.0"}
    }});
    if let (Some(p), Some(e)) = (params.as_object_mut(), extra.as_object()) {
        p.extend(e.clone());
    }
    params
}

#[test]
fn envelopes_echo_every_integer_id_and_say_null_for_an_unreadable_one() {
    let raw = |body: &str| {
        let response =
            futures::executor::block_on(handle(request("POST", &legacy(&[]), body), &settings(), &FakeUpstream::new()));
        String::from_utf8(response.into_body()).unwrap()
    };
    // 18446744073709551615 is beyond what rmcp's RequestId holds; JSON-RPC wants it echoed all the same.
    for id in ["7", r#""seven""#, "18446744073709551615"] {
        let reply = raw(&format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"}}"#));
        assert!(reply.starts_with(&format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{"#)), "{reply}");
        let reply = raw(&format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"no/such"}}"#));
        assert!(reply.starts_with(&format!(r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":-32601,"#)), "{reply}");
    }
    // A request refused before its id is checked echoes that id as it was written.
    let reply = raw(r#"{"jsonrpc":"1.0","id":1.0,"method":"ping"}"#);
    assert!(reply.starts_with(r#"{"jsonrpc":"2.0","id":1.0,"error":{"code":-32600,"#), "{reply}");
    for unreadable in ["{", "[]", r#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#] {
        let reply = raw(unreadable);
        assert!(reply.starts_with(r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32"#), "{unreadable}: {reply}");
    }
}

#[test]
fn initialize_negotiates_and_never_creates_a_session() {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let (status, headers, reply) = post(&[], body);
    assert_eq!(status, StatusCode::OK);
    assert!(headers.get("mcp-session-id").is_none());
    assert_eq!(reply["result"]["protocolVersion"], json!("2025-06-18"));
    assert_eq!(reply["result"]["serverInfo"]["name"], json!("Prefect MCP Server"));
    assert!(reply["result"]["capabilities"]["tools"].is_object());
    assert!(reply["result"].get("resultType").is_none());
}

#[test]
fn notifications_and_responses_get_202_with_empty_body() {
    for body in [
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "id": 7, "result": {}}),
    ] {
        let response = futures::executor::block_on(handle(
            request("POST", &[("content-type", "application/json")], &body.to_string()),
            &settings(),
            &FakeUpstream::new(),
        ));
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        assert!(response.body().is_empty());
    }
}

#[test]
fn get_and_delete_are_405() {
    for method in ["GET", "DELETE"] {
        let (status, headers, _) = send_with(&settings(), &FakeUpstream::new(), request(method, &[], ""));
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(headers["allow"], "POST, OPTIONS");
    }
}

#[test]
fn malformed_json_is_a_400_parse_error() {
    let (status, _, reply) = send_with(
        &settings(),
        &FakeUpstream::new(),
        request("POST", &[("content-type", "application/json")], "{not json"),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(reply["error"]["code"], json!(-32700));
    assert_eq!(reply["id"], Value::Null);
}

#[test]
fn invalid_requests_are_rejected_precisely() {
    let (status, _, reply) = post(&[], json!([{"jsonrpc": "2.0", "id": 1, "method": "ping"}]));
    assert_eq!((status, reply["error"]["code"].clone()), (StatusCode::BAD_REQUEST, json!(-32600)));
    let (status, _, reply) = post(&[], json!({"jsonrpc": "1.0", "id": 1, "method": "ping"}));
    assert_eq!((status, reply["error"]["code"].clone()), (StatusCode::BAD_REQUEST, json!(-32600)));
    let (_, _, reply) =
        post(&[], json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"arguments": {}}}));
    assert_eq!(reply["error"]["code"], json!(-32602));
}

#[test]
fn oversized_and_non_json_bodies_are_refused() {
    let big = "x".repeat(MAX_BODY_BYTES + 1);
    let (status, _, _) = send_with(&settings(), &FakeUpstream::new(), request("POST", &[], &big));
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let (status, _, _) =
        send_with(&settings(), &FakeUpstream::new(), request("POST", &[("content-type", "text/plain")], "{}"));
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[test]
fn event_stream_only_clients_get_sse_framing() {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}).to_string();
    let response = futures::executor::block_on(handle(
        request("POST", &[("content-type", "application/json"), ("accept", "text/event-stream")], &body),
        &settings(),
        &FakeUpstream::new(),
    ));
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let text = String::from_utf8(response.body().clone()).unwrap();
    assert_eq!(text, "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n");
}

#[test]
fn missing_accept_header_gets_json() {
    let body = json!({"jsonrpc": "2.0", "id": "a", "method": "ping"}).to_string();
    let response = futures::executor::block_on(handle(request("POST", &[], &body), &settings(), &FakeUpstream::new()));
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
}

#[test]
fn foreign_origins_are_forbidden_and_own_origin_gets_cors() {
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    let (status, _, _) = post(&[("origin", "https://evil.example")], ping.clone());
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, headers, _) = post(&[("origin", "http://127.0.0.1:8787")], ping.clone());
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["access-control-allow-origin"], "http://127.0.0.1:8787");

    let mut configured = settings();
    configured.allowed_origins = vec!["https://inspector.example".into()];
    let (status, _, _) = send_with(
        &configured,
        &FakeUpstream::new(),
        request(
            "POST",
            &[("content-type", "application/json"), ("origin", "https://inspector.example")],
            &ping.to_string(),
        ),
    );
    assert_eq!(status, StatusCode::OK);
}

#[test]
fn preflight_lists_mcp_and_prefect_headers() {
    let (status, headers, _) =
        send_with(&settings(), &FakeUpstream::new(), request("OPTIONS", &[("origin", "http://127.0.0.1:8787")], ""));
    assert_eq!(status, StatusCode::NO_CONTENT);
    let allowed = headers["access-control-allow-headers"].to_str().unwrap();
    assert!(allowed.contains("mcp-protocol-version") && allowed.contains("x-prefect-api-key"));
}

#[test]
fn configured_hosts_guard_against_dns_rebinding() {
    let mut guarded = settings();
    guarded.allowed_hosts = vec!["127.0.0.1".into(), "localhost".into()];
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}).to_string();
    let (status, _, _) = send_with(&guarded, &FakeUpstream::new(), request("POST", &[], &ping));
    assert_eq!(status, StatusCode::OK);
    let mut evil = request("POST", &[], &ping);
    evil.headers_mut().insert("host", "evil.example".parse().unwrap());
    let (status, _, _) = send_with(&guarded, &FakeUpstream::new(), evil);
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[test]
fn legacy_tools_list_has_no_modern_fields() {
    let (_, _, reply) =
        post(&[("mcp-protocol-version", "2025-11-25")], json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}));
    let result = &reply["result"];
    assert!(result.get("resultType").is_none() && result.get("ttlMs").is_none() && result.get("cacheScope").is_none());
    assert_eq!(result["tools"][0]["name"], json!("orientation"));
}

#[test]
fn legacy_unknown_method_is_32601_and_utilities_answer_empty() {
    let (status, _, reply) = post(&[], json!({"jsonrpc": "2.0", "id": 1, "method": "unknown/method"}));
    assert_eq!((status, reply["error"]["code"].clone()), (StatusCode::OK, json!(-32601)));
    for method in ["ping", "logging/setLevel"] {
        let (_, _, reply) =
            post(&[], json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": {"level": "info"}}));
        assert_eq!(reply["result"], json!({}), "{method}");
    }
    let (_, _, reply) = post(&[], json!({"jsonrpc": "2.0", "id": 1, "method": "resources/list"}));
    assert_eq!(reply["result"], json!({"resources": []}));
}

#[test]
fn discover_then_tools_list_in_2026_07_28() {
    let headers = [("mcp-protocol-version", MODERN), ("mcp-method", "server/discover")];
    let (status, _, reply) = post(
        &headers,
        json!({"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": modern_params(json!({}))}),
    );
    assert_eq!(status, StatusCode::OK, "{reply}");
    let result = &reply["result"];
    assert_eq!(result["resultType"], json!("complete"));
    assert!(result["supportedVersions"].as_array().unwrap().contains(&json!(MODERN)));
    assert_eq!(result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"], json!("Prefect MCP Server"));

    let headers = [("mcp-protocol-version", MODERN), ("mcp-method", "tools/list")];
    let (_, _, reply) =
        post(&headers, json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": modern_params(json!({}))}));
    let result = &reply["result"];
    assert_eq!(result["resultType"], json!("complete"));
    assert_eq!(result["cacheScope"], json!("private"));
    assert!(result["ttlMs"].is_u64());
    assert_eq!(result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"], json!("Prefect MCP Server"));
}

#[test]
fn modern_unknown_and_removed_methods_are_404() {
    for method in ["unknown/method", "ping", "initialize", "logging/setLevel"] {
        let headers = [("mcp-protocol-version", MODERN), ("mcp-method", method)];
        let (status, _, reply) =
            post(&headers, json!({"jsonrpc": "2.0", "id": 5, "method": method, "params": modern_params(json!({}))}));
        assert_eq!((status, reply["error"]["code"].clone()), (StatusCode::NOT_FOUND, json!(-32601)), "{method}");
        assert_eq!(reply["id"], json!(5));
    }
}

#[test]
fn modern_lists_carry_cache_hints() {
    for method in ["prompts/list", "resources/list", "resources/templates/list"] {
        let headers = [("mcp-protocol-version", MODERN), ("mcp-method", method)];
        let (status, _, reply) =
            post(&headers, json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": modern_params(json!({}))}));
        assert_eq!(status, StatusCode::OK, "{method}");
        assert!(reply["result"]["ttlMs"].is_u64() && reply["result"]["cacheScope"].is_string(), "{method}: {reply}");
    }
}

#[test]
fn modern_tools_call_checks_mcp_name() {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": modern_params(json!({"name": "orientation"}))});
    let headers = [("mcp-protocol-version", MODERN), ("mcp-method", "tools/call"), ("mcp-name", "orientation")];
    let (status, _, reply) = post(&headers, body.clone());
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reply["result"]["isError"], json!(false));
    assert_eq!(reply["result"]["resultType"], json!("complete"));
    let headers = [("mcp-protocol-version", MODERN), ("mcp-method", "tools/call"), ("mcp-name", "get_flows")];
    let (status, _, reply) = post(&headers, body);
    assert_eq!((status, reply["error"]["code"].clone()), (StatusCode::BAD_REQUEST, json!(-32020)));
}

#[test]
fn unknown_tool_is_invalid_params() {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "nope"}});
    let (_, _, reply) = post(&[("mcp-protocol-version", "2025-11-25")], body);
    assert_eq!(reply["error"]["code"], json!(-32602));
    assert_eq!(reply["error"]["message"], json!("Unknown tool: 'nope'"));
}

#[test]
fn tool_calls_report_their_upstream_requests() {
    let fake = FakeUpstream::new().on("GET", "/api/admin/version", 200, json!("3.9.1"));
    let body =
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "get_identity", "arguments": {}}});
    let (status, headers, reply) =
        send_with(&settings(), &fake, request("POST", &[("content-type", "application/json")], &body.to_string()));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[UPSTREAM_REQUESTS_HEADER], "1");
    assert_eq!(reply["result"]["structuredContent"]["identity"]["version"], json!("3.9.1"));
}

#[test]
fn other_paths_are_404() {
    let response = futures::executor::block_on(handle(
        http::Request::builder().uri("http://127.0.0.1:8787/other").body(Vec::new()).unwrap(),
        &settings(),
        &FakeUpstream::new(),
    ));
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[test]
fn prompts_are_listed_and_filled_in_both_eras() {
    let get = json!({"name": "investigate_failed_run", "arguments": {"flow_run_id": "run-1"}});
    let (_, _, listed) = post(&[], json!({"jsonrpc": "2.0", "id": 1, "method": "prompts/list"}));
    assert_eq!(listed["result"]["prompts"][0]["name"], json!("investigate_failed_run"));
    let (_, _, legacy) = post(&[], json!({"jsonrpc": "2.0", "id": 2, "method": "prompts/get", "params": get}));
    let text = legacy["result"]["messages"][0]["content"]["text"].as_str().unwrap();
    assert!(text.contains("get_flow_run_logs for run-1"), "{text}");

    let headers =
        [("mcp-protocol-version", MODERN), ("mcp-method", "prompts/get"), ("mcp-name", "investigate_failed_run")];
    let (status, _, modern) =
        post(&headers, json!({"jsonrpc": "2.0", "id": 3, "method": "prompts/get", "params": modern_params(get)}));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(modern["result"]["resultType"], json!("complete"));
    assert_eq!(modern["result"]["messages"], legacy["result"]["messages"]);

    let (_, _, missing) = post(
        &[],
        json!({"jsonrpc": "2.0", "id": 4, "method": "prompts/get", "params": {"name": "investigate_failed_run"}}),
    );
    assert_eq!(missing["error"]["code"], json!(-32602));
}

#[test]
fn declared_lengths_are_compared_beyond_32_bits() {
    for over in ["262145", "4294967295", "4294967296", "99999999999", "18446744073709551616", " 300000 "] {
        assert!(declared_too_large(Some(over)), "{over}");
    }
    for fine in [None, Some(""), Some("0"), Some("262144"), Some("abc"), Some("-1")] {
        assert!(!declared_too_large(fine), "{fine:?}");
    }
    let (status, body) =
        (payload_too_large().status(), serde_json::from_slice::<Value>(payload_too_large().body()).unwrap());
    assert_eq!((status, body["error"]["code"].clone()), (StatusCode::PAYLOAD_TOO_LARGE, json!(-32600)));
    let unreadable = unreadable_request();
    let body: Value = serde_json::from_slice(unreadable.body()).unwrap();
    assert_eq!((unreadable.status(), body["error"]["code"].clone()), (StatusCode::BAD_REQUEST, json!(-32600)));
}

#[test]
fn forged_legacy_protocol_versions_are_400_unsupported() {
    for forged in ["1999-01-01", "2025-11-26", "", "garbage"] {
        let (status, _, reply) =
            post(&[("mcp-protocol-version", forged)], json!({"jsonrpc": "2.0", "id": 4, "method": "ping"}));
        assert_eq!((status, reply["error"]["code"].clone()), (StatusCode::BAD_REQUEST, json!(-32022)), "{forged:?}");
        assert_eq!(reply["id"], json!(4));
    }
}

mod log_summary;
mod toolsets;
