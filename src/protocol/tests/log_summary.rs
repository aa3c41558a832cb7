//! What a response tells the log line: the method, tool, era, auth and error code.

use super::*;

#[test]
fn responses_carry_a_summary_for_the_log_line() {
    let summary = |response: &Response| response.extensions().get::<log::Summary>().cloned().unwrap();
    let fake = FakeUpstream::new().on("POST", "/api/flows/filter", 200, json!([]));
    let call =
        |body: &str| futures::executor::block_on(handle(request("POST", &legacy(&[]), body), &settings(), &fake));

    let flows = summary(&call(CALL_FLOWS));
    assert_eq!(
        flows,
        log::Summary {
            rpc_method: Some("tools/call"),
            tool: Some("get_flows".into()),
            era: Some("2025-11-25".into()),
            upstream_requests: 1,
            auth: Some("none"),
            ..Default::default()
        }
    );
    let with_token = legacy(&[("authorization", "Bearer tok-one")]);
    let gated_call = futures::executor::block_on(handle(request("POST", &with_token, CALL_FLOWS), &gated(), &fake));
    assert_eq!(summary(&gated_call).auth, Some("static"));
    let bad_args =
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_flows","arguments":{"limit":"x"}}}"#;
    assert!(summary(&call(bad_args)).tool_error);
    // Unknown tools and methods: the caller's text is not kept.
    let unknown = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"pnu_secret"}}"#;
    let s = summary(&call(unknown));
    assert_eq!((s.tool, s.error_code, s.rpc_method), (None, Some(-32602), Some("tools/call")));
    let s = summary(&call(r#"{"jsonrpc":"2.0","id":1,"method":"pnu_secret"}"#));
    assert_eq!((s.rpc_method, s.error_code), (Some("other"), Some(-32601)));
    // HTTP-level refusals carry their JSON-RPC code.
    let s = summary(&call("{not json"));
    assert_eq!((s.rpc_method, s.error_code), (None, Some(-32700)));
    let (modern_headers, modern_body) = (
        [("content-type", "application/json"), ("mcp-protocol-version", MODERN), ("mcp-method", "tools/list")],
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": modern_params(json!({}))}).to_string(),
    );
    let modern =
        futures::executor::block_on(handle(request("POST", &modern_headers, &modern_body), &settings(), &fake));
    assert_eq!(summary(&modern).era.as_deref(), Some(MODERN));
}

#[test]
fn routes_have_fixed_log_labels() {
    for (path, label) in
        [("/", "root"), ("/mcp", "mcp"), ("/mcp/", "mcp"), ("/mcp/x/runs", "mcp_toolsets"), ("/mcp/secret", "other")]
    {
        assert_eq!(route_name(path), label, "{path}");
    }
}
