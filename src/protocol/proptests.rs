//! Property tests for request handling: arbitrary bytes, JSON values and header
//! combinations through [`handle`] never panic, always get a status from a fixed set, and
//! every JSON-RPC error carries a defined code that matches its status.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::*;
use crate::prefect::testing::FakeUpstream;
use crate::settings::SecretCredentials;

const STATUSES: &[u16] = &[200, 202, 204, 400, 401, 403, 404, 405, 413, 415];
/// Parse error, invalid request, method not found, invalid params, header mismatch,
/// unsupported protocol version.
const CODES: &[i64] = &[-32700, -32600, -32601, -32602, -32020, -32022];

const METHODS: &[&str] = &[
    "initialize",
    "ping",
    "tools/list",
    "tools/call",
    "prompts/list",
    "prompts/get",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "completion/complete",
    "logging/setLevel",
    "server/discover",
    "notifications/initialized",
    "tools/delete",
    "",
];
const TOOLS: &[&str] =
    &["orientation", "get_flows", "get_flow_runs", "get_flow_run_logs", "read_events", "get_object_schema", "nope"];
const VERSIONS: &[&str] =
    &["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28", "1999-01-01", "x", ""];

fn settings(gated: bool) -> Settings {
    Settings {
        secrets: SecretCredentials { api_url: Some("http://127.0.0.1:4200/api".into()), ..Default::default() },
        upstream_timeout_ms: 1000,
        allow_unauthenticated: !gated,
        access_tokens: crate::auth_tokens::AccessTokens::new(if gated { vec!["tok".into()] } else { Vec::new() }),
        allowed_hosts: vec!["127.0.0.1".into()],
        ..Default::default()
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e12f64..1e12).prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::String),
        prop::sample::select(METHODS).prop_map(Value::from),
        prop::sample::select(VERSIONS).prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        "\\PC{0,8}",
                        prop::sample::select(&["name", "arguments", "_meta", "filter", "limit"][..])
                            .prop_map(String::from)
                    ],
                    inner
                ),
                0..6
            )
            .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

/// A JSON-RPC-shaped message with each member present, missing, or of a wrong type.
fn message() -> impl Strategy<Value = Value> {
    let meta = prop_oneof![
        Just(None),
        prop::sample::select(VERSIONS).prop_map(|v| Some(json!({
            "io.modelcontextprotocol/protocolVersion": v,
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "p", "version": "1"}
        }))),
        json_value().prop_map(Some),
    ];
    let params = (
        prop::option::of(prop::sample::select(TOOLS)),
        prop::option::of(json_value()),
        meta,
        prop::option::of(json_value()),
    )
        .prop_map(|(name, arguments, meta, other)| {
            let mut params = Map::new();
            name.map(|n| params.insert("name".into(), n.into()));
            arguments.map(|a| params.insert("arguments".into(), a));
            meta.map(|m| params.insert("_meta".into(), m));
            other.map(|o| params.insert("protocolVersion".into(), o));
            Value::Object(params)
        });
    (
        prop_oneof![Just(Some(json!("2.0"))), Just(None), json_value().prop_map(Some)],
        prop_oneof![Just(Some(json!(1))), Just(Some(json!("a"))), Just(None), json_value().prop_map(Some)],
        prop_oneof![
            prop::sample::select(METHODS).prop_map(|m| Some(json!(m))),
            Just(None),
            json_value().prop_map(Some)
        ],
        prop_oneof![params.prop_map(Some), Just(None), json_value().prop_map(Some)],
    )
        .prop_map(|(jsonrpc, id, method, params)| {
            let mut object = Map::new();
            jsonrpc.map(|v| object.insert("jsonrpc".into(), v));
            id.map(|v| object.insert("id".into(), v));
            method.map(|v| object.insert("method".into(), v));
            params.map(|v| object.insert("params".into(), v));
            Value::Object(object)
        })
}

/// Bodies: well-formed messages, truncated ones, any JSON value, any bytes.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => message().prop_map(|m| m.to_string().into_bytes()),
        2 => (message(), any::<prop::sample::Index>()).prop_map(|(m, cut)| {
            let text = m.to_string().into_bytes();
            text[..cut.index(text.len())].to_vec()
        }),
        1 => json_value().prop_map(|v| v.to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..256),
        1 => prop::collection::vec(prop::sample::select(&b"[]{}\",:0123456789.eE+-tfnul \\\x00\xff"[..]), 0..128),
    ]
}

/// Header values: meaningful ones, arbitrary visible text, and arbitrary valid header bytes.
fn header_value(known: &'static [&'static str]) -> impl Strategy<Value = HeaderValue> {
    prop_oneof![
        prop::sample::select(known).prop_map(HeaderValue::from_static),
        "[ -~]{0,24}".prop_map(|s| HeaderValue::from_str(&s).expect("visible ASCII")),
        prop::collection::vec(prop_oneof![0x20u8..0x7f, 0x80u8..=0xff, Just(b'\t')], 0..24)
            .prop_map(|b| HeaderValue::from_bytes(&b).expect("valid header bytes")),
    ]
}

fn headers() -> impl Strategy<Value = Vec<(&'static str, HeaderValue)>> {
    let pairs: Vec<(&'static str, &'static [&'static str])> = vec![
        ("content-type", &["application/json", "text/plain", "application/json; charset=utf-8", ""]),
        ("accept", &["application/json, text/event-stream", "text/event-stream", "*/*"]),
        ("mcp-protocol-version", VERSIONS),
        ("mcp-method", METHODS),
        ("mcp-name", &["orientation", "get_flows", "=?base64?b3JpZW50YXRpb24=?=", "=?base64?!?="]),
        ("origin", &["http://localhost:6274", "https://evil.example", "null"]),
        ("host", &["127.0.0.1:8787", "evil.example", "localhost"]),
        ("authorization", &["Bearer tok", "Bearer nope", "Basic dG9r", "Bearer"]),
        ("x-mcp-toolsets", &["runs", "nope", "runs,events", ""]),
        ("x-prefect-api-url", &["http://127.0.0.1:4200/api", "file:///etc/passwd", "http://169.254.169.254/"]),
        ("x-prefect-api-key", &["pnu_x", ""]),
    ];
    let strategies: Vec<_> = pairs
        .into_iter()
        .map(|(name, known)| prop::collection::vec(header_value(known), 0..=2).prop_map(move |values| (name, values)))
        .collect();
    strategies
        .prop_map(|all| all.into_iter().flat_map(|(name, values)| values.into_iter().map(move |v| (name, v))).collect())
}

fn upstream() -> FakeUpstream {
    FakeUpstream::new().otherwise(|_, path| {
        if path.ends_with("/count") {
            (200, json!(0))
        } else if path.ends_with("version") {
            (200, json!("3.9.1"))
        } else if path.ends_with("events/filter") {
            (200, json!({"events": [], "total": 0, "next_page": null}))
        } else {
            (200, json!([]))
        }
    })
}

fn check(method: &str, path: &str, headers: Vec<(&'static str, HeaderValue)>, body: Vec<u8>, gated: bool) {
    let mut builder = http::Request::builder().method(method).uri(format!("http://127.0.0.1:8787{path}"));
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    let request = builder.body(body).expect("valid request");
    let fake = upstream();
    let response = futures::executor::block_on(handle(request, &settings(gated), &fake));
    let status = response.status().as_u16();
    assert!(STATUSES.contains(&status), "status {status}");
    for sent in fake.requests() {
        assert!(matches!(sent.method().as_str(), "GET" | "POST"), "{} upstream", sent.method());
    }
    let content_type = response.headers().get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap().to_owned());
    let body = response.body();
    match content_type.as_deref() {
        None => assert!(body.is_empty() && matches!(status, 202 | 204), "status {status} without a body type"),
        Some(t) if t.starts_with("text/plain") => assert!(matches!(status, 200 | 404 | 405) && !body.is_empty()),
        Some(t) => {
            let text = std::str::from_utf8(body).expect("UTF-8 answer");
            let json = if t == "text/event-stream" {
                text.trim().strip_prefix("event: message\ndata: ").expect("SSE frame")
            } else {
                text
            };
            let reply: Value = serde_json::from_str(json).expect("a JSON answer");
            assert_eq!(reply["jsonrpc"], json!("2.0"));
            if let Some(error) = reply.get("error") {
                let code = error["code"].as_i64().expect("integer code");
                assert!(CODES.contains(&code), "code {code}");
                assert!(!error["message"].as_str().expect("message").trim().is_empty());
                let expected_status: &[u16] = match code {
                    -32700 | -32020 | -32022 => &[400],
                    -32600 => &[400, 401, 403, 413, 415],
                    -32601 => &[200, 404],
                    _ => &[200, 400],
                };
                assert!(expected_status.contains(&status), "code {code} with status {status}");
            } else {
                assert!(matches!(status, 200) && reply["result"].is_object(), "{reply}");
            }
        }
    }
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config(384))]

    #[test]
    fn any_post_gets_a_precise_answer(headers in headers(), body in body(), gated in any::<bool>()) {
        check("POST", "/mcp", headers, body, gated);
    }

    #[test]
    fn any_method_and_path_gets_a_precise_answer(
        method in prop::sample::select(&["GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD", "PATCH", "PROPFIND"][..]),
        path in prop::sample::select(&["/mcp", "/mcp/", "/", "/MCP", "/mcp/x", "//mcp", "/api"][..]),
        headers in headers(),
        body in body(),
        gated in any::<bool>(),
    ) {
        check(method, path, headers, body, gated);
    }
}
