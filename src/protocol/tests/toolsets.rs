//! Toolset selection by header and by URL path, and the rules that come before it.

use super::*;

#[test]
fn toolsets_header_narrows_the_tools() {
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let (_, _, reply) = post(&[("x-mcp-toolsets", "runs")], list.clone());
    let names: Vec<_> = reply["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].clone()).collect();
    assert_eq!(
        names,
        [json!("orientation"), json!("get_flow_runs"), json!("get_flow_run_logs"), json!("get_task_runs")]
    );

    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "get_flows"}});
    let (_, _, reply) = post(&[("x-mcp-toolsets", "runs")], call);
    assert_eq!(reply["error"]["message"], json!("Unknown tool: 'get_flows'"));

    let (status, _, reply) = post(&[("x-mcp-toolsets", "runs,nope")], list);
    assert_eq!((status, reply["error"]["code"].clone()), (StatusCode::BAD_REQUEST, json!(-32602)));
    assert!(reply["error"]["message"].as_str().unwrap().contains("unknown toolset `nope`"));
}

#[test]
fn non_text_toolsets_header_is_refused_not_ignored() {
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string();
    let mut request = request("POST", &[("content-type", "application/json")], &list);
    request.headers_mut().insert(toolsets_header(), HeaderValue::from_bytes(b"runs\xff").unwrap());
    let (status, _, reply) = send_with(&settings(), &FakeUpstream::new(), request);
    assert_eq!((status, reply["error"]["code"].clone()), (StatusCode::BAD_REQUEST, json!(-32602)));
    assert!(reply["error"]["message"].as_str().unwrap().contains("X-MCP-Toolsets"), "{reply}");
}

fn toolsets_header() -> http::HeaderName {
    http::HeaderName::from_static(crate::tools::toolsets::HEADER)
}

fn at(path: &str, mut request: Request) -> Request {
    *request.uri_mut() = format!("http://127.0.0.1:8787{path}").parse().unwrap();
    request
}

fn tool_names(reply: &Value) -> Vec<String> {
    reply["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn toolsets_in_the_path_select_like_the_header() {
    let list = legacy(&[]);
    for path in ["/mcp/x/runs", "/mcp/x/runs/", "/mcp/x/RUNS"] {
        let (status, _, reply) = send_with(&settings(), &FakeUpstream::new(), at(path, request("POST", &list, LIST)));
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(tool_names(&reply), ["orientation", "get_flow_runs", "get_flow_run_logs", "get_task_runs"]);
    }
    // Several sets, with the comma percent-encoded or not; the same sets in the header agree.
    let by_header = legacy(&[("x-mcp-toolsets", "events,deployments")]);
    for path in ["/mcp/x/deployments,events", "/mcp/x/deployments%2Cevents"] {
        for headers in [&list, &by_header] {
            let (status, _, reply) =
                send_with(&settings(), &FakeUpstream::new(), at(path, request("POST", headers, LIST)));
            assert_eq!(status, StatusCode::OK, "{path}");
            assert!(tool_names(&reply).contains(&"read_events".to_owned()), "{path}");
            assert!(!tool_names(&reply).contains(&"get_flow_runs".to_owned()), "{path}");
        }
    }
    // A tool outside the path's sets is unknown.
    let (_, _, reply) =
        send_with(&settings(), &FakeUpstream::new(), at("/mcp/x/runs", request("POST", &list, CALL_FLOWS)));
    assert_eq!(reply["error"]["message"], json!("Unknown tool: 'get_flows'"));
}

#[test]
fn unknown_or_conflicting_path_toolsets_are_400() {
    let cases = [
        ("/mcp/x/runs,bogus", vec![], "unknown toolset `bogus` in the URL path", "available: overview"),
        ("/mcp/x/", vec![], "no toolset named in the URL path", "available: overview"),
        (
            "/mcp/x/runs",
            vec![("x-mcp-toolsets", "events")],
            "the URL path selects toolsets `runs`",
            "header selects `events`",
        ),
    ];
    for (path, extra, starts, names) in cases {
        let (status, _, reply) =
            send_with(&settings(), &FakeUpstream::new(), at(path, request("POST", &legacy(&extra), LIST)));
        assert_eq!((status, reply["error"]["code"].clone()), (StatusCode::BAD_REQUEST, json!(-32602)), "{path}");
        let message = reply["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(starts) && message.contains(names), "{message}");
    }
    // Other paths below /mcp are not the endpoint.
    for path in ["/mcp/runs", "/mcp/xruns", "/mcpx"] {
        let (status, _, _) =
            send_with(&settings(), &FakeUpstream::new(), at(path, request("POST", &legacy(&[]), LIST)));
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
}

#[test]
fn gate_origin_and_host_rules_apply_on_toolset_paths() {
    let fake = FakeUpstream::new();
    let path = "/mcp/x/runs";
    let (status, headers, _) = send_with(&gated(), &fake, at(path, request("POST", &legacy(&[]), LIST)));
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(headers.contains_key(header::WWW_AUTHENTICATE));
    let token = legacy(&[("authorization", "Bearer tok-one")]);
    let (status, _, reply) = send_with(&gated(), &fake, at(path, request("POST", &token, LIST)));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tool_names(&reply).len(), 4);

    let (status, _, _) =
        send_with(&settings(), &fake, at(path, request("POST", &legacy(&[("origin", "https://evil.example")]), LIST)));
    assert_eq!(status, StatusCode::FORBIDDEN);
    let guarded = Settings { allowed_hosts: vec!["localhost".into()], ..settings() };
    let (status, _, _) = send_with(&guarded, &fake, at(path, request("POST", &legacy(&[]), LIST)));
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The gate and the host rule come before the toolsets are read.
    let (status, _, _) = send_with(&gated(), &fake, at("/mcp/x/bogus", request("POST", &legacy(&[]), LIST)));
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(fake.requests().is_empty());
}
