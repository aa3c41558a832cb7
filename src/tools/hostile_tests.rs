//! Every tool, the action tools included (for a caller who may write), driven with hostile
//! ids, names, filters and confirmation tokens against an upstream that answers with hostile
//! records too: no request leaves the read-only allowlist and no method other than GET or
//! POST is ever sent. The patterns here are written out independently of
//! `prefect::allowlist` so that a mistake there cannot hide here.

use serde_json::{Value, json};

use super::testing::*;
use super::*;
use crate::prefect::testing::FakeUpstream;

const HOSTILE: &[&str] = &[
    "../../admin/database/clear",
    "..",
    "%2e%2e",
    "a/../../deployments/",
    "x%2F..%2F..%2Fdeployments",
    "x/set_state",
    "pool/../../flow_runs/1/set_state?x=1",
    "q?limit=1#frag",
    "#",
    "?",
    "a\\..\\b",
    "name with spaces/and/slashes",
    "0e6b1c8e-0000-4000-8000-000000000000/set_state",
    "\u{0}\r\nX-Injected: 1",
];

/// `(method, path pattern)` for every read, with `*` for one percent-encoded segment.
const EXPECTED: &[(&str, &str)] = &[
    ("GET", "admin/version"),
    ("GET", "version"),
    ("GET", "events/filter/next"),
    ("GET", "me"),
    ("GET", "accounts/*"),
    ("GET", "accounts/*/workspaces/*"),
    ("GET", "accounts/*/rate-limits/usage"),
    ("POST", "flows/filter"),
    ("POST", "flow_runs/filter"),
    ("POST", "flow_runs/count"),
    ("GET", "flow_run_states"),
    ("POST", "task_runs/filter"),
    ("POST", "deployments/filter"),
    ("POST", "logs/filter"),
    ("POST", "work_pools/filter"),
    ("POST", "work_pools/*/queues/filter"),
    ("POST", "work_pools/*/workers/filter"),
    ("POST", "work_queues/filter"),
    ("POST", "concurrency_limits/filter"),
    ("POST", "v2/concurrency_limits/filter"),
    ("POST", "automations/filter"),
    ("POST", "events/filter"),
];

fn expected(method: &str, path: &str, prefix: &str) -> bool {
    let Some(rest) = path.strip_prefix(prefix) else { return false };
    let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    EXPECTED.iter().any(|(m, pattern)| {
        let parts: Vec<&str> = pattern.split('/').collect();
        *m == method
            && parts.len() == segments.len()
            && parts.iter().zip(&segments).all(|(p, s)| {
                let lower = s.to_ascii_lowercase();
                if *p == "*" {
                    !s.is_empty() && !lower.contains("%2f") && !lower.contains("%2e%2e") && *s != ".." && *s != "."
                } else {
                    p == s
                }
            })
    })
}

/// A record that deserialises as most of the shapes the tools read, full of hostile names.
fn record(hostile: &str) -> Value {
    json!({
        "id": hostile, "name": hostile, "type": "process", "status": "READY", "is_paused": false,
        "work_pool_name": hostile, "flow_id": hostile, "deployment_id": hostile, "flow_run_id": hostile,
        "work_queue_name": hostile, "tags": [hostile], "created": "2026-11-27T10:00:00Z",
        "updated": "2026-11-27T10:00:00Z", "level": 20, "message": hostile, "timestamp": "2026-11-27T10:00:00Z",
        "state_type": "FAILED", "state_name": hostile, "enabled": true, "trigger": {"type": "event"}, "actions": []
    })
}

fn hostile_upstream(hostile: &'static str) -> FakeUpstream {
    FakeUpstream::new().otherwise(move |_, path| {
        if path.ends_with("/count") {
            (200, json!(3))
        } else if path.ends_with("/version") {
            (200, json!("3.9.1"))
        } else if path.ends_with("events/filter") || path.ends_with("events/filter/next") {
            let link = format!("http://127.0.0.1:4200/api/{hostile}?page-token={hostile}");
            (200, json!({"events": [], "total": 9, "next_page": link}))
        } else {
            (200, json!([record(hostile), record(hostile)]))
        }
    })
}

fn arguments_for(tool: &rmcp::model::Tool, hostile: &str) -> Vec<Value> {
    let filter = json!({"id": {"any_": [hostile]}, "name": {"any_": [hostile]}});
    let mut calls = vec![json!({}), json!({"filter": filter}), json!({"filter": {"name": {"any_": [hostile]}}})];
    let keys: Vec<&String> =
        tool.input_schema.get("properties").and_then(Value::as_object).into_iter().flatten().map(|(k, _)| k).collect();
    // Valid ids beside each hostile value, so that the tools that need an id get past parsing.
    let ids: serde_json::Map<String, Value> = keys
        .iter()
        .filter(|k| k.ends_with("_id") && **k != "workspace_id")
        .map(|k| (k.to_string(), json!("0e6b1c8e-0000-4000-8000-000000000000")))
        .collect();
    calls.push(Value::Object(ids.clone()));
    for key in keys {
        calls.push(json!({key.as_str(): hostile}));
        calls.push(json!({key.as_str(): [hostile]}));
        let mut with_ids = ids.clone();
        with_ids.insert(key.clone(), json!(hostile));
        calls.push(Value::Object(with_ids));
    }
    calls
}

#[test]
fn no_tool_input_reaches_a_write_endpoint() {
    let mut sent = 0;
    let mut actions_sent = 0;
    for (api, prefix) in [
        ("http://127.0.0.1:4200/api", "/api/"),
        ("https://api.prefect.cloud/api/accounts/a1/workspaces/w1", "/api/accounts/a1/workspaces/w1/"),
    ] {
        for hostile in HOSTILE {
            let fake = hostile_upstream(hostile);
            let writer = actions::Writer::new("headers:test".into(), &[b"secret"]);
            let ctx = context(&fake, api).with_writes(Ok(writer));
            for tool in definitions(&ctx) {
                let before = fake.requests().len();
                for arguments in arguments_for(&tool, hostile) {
                    let _ = run(&ctx, &tool.name, arguments);
                }
                if tool.annotations.as_ref().and_then(|a| a.read_only_hint) == Some(false) {
                    actions_sent += fake.requests().len() - before;
                }
            }
            for request in fake.requests() {
                let (method, path) = (request.method().as_str(), request.uri().path());
                assert!(method == "GET" || method == "POST", "{method} {path}");
                let account = prefix != "/api/" && expected(method, path, "/api/");
                assert!(expected(method, path, prefix) || account, "{method} {path} (input {hostile:?})");
                sent += 1;
            }
        }
    }
    assert!(sent > 500, "the tools should have reached the upstream: {sent} requests");
    assert!(actions_sent > 100, "the action tools should have reached the upstream too: {actions_sent} requests");
}

#[test]
fn hostile_pool_names_stay_one_segment_or_are_refused() {
    for hostile in HOSTILE {
        let fake = hostile_upstream(hostile);
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        let prefect = futures::executor::block_on(ctx.prefect(None)).expect("credentials");
        let _ = futures::executor::block_on(crate::prefect::pools::contents(&prefect, hostile));
        for request in fake.requests() {
            assert!(expected(request.method().as_str(), request.uri().path(), "/api/"), "{}", request.uri());
        }
    }
}
