//! The action tools against a fake Prefect: who sees them, the two steps, every refusal
//! before any write, and the audit record.

use serde_json::{Value, json};

use super::{Writer, WritesDenied};
use crate::prefect::testing::FakeUpstream;
use crate::tools::testing::*;
use crate::tools::{ToolContext, definitions};

const API: &str = "http://127.0.0.1:4200/api";
const RUN: &str = "0e6b1c8e-1111-4000-8000-000000000001";
const DEPLOYMENT: &str = "0e6b1c8e-2222-4000-8000-000000000002";
const ACTIONS: [&str; 6] =
    ["run_deployment", "cancel_flow_run", "retry_flow_run", "resume_flow_run", "pause_deployment", "resume_deployment"];

fn writer(secret: &str) -> Writer {
    Writer::new("headers:test".into(), &[secret.as_bytes()])
}

fn writing(fake: &FakeUpstream) -> ToolContext<'_, FakeUpstream> {
    context(fake, API).with_writes(Ok(writer("alice")))
}

fn run_in(state_type: &str, state_name: &str, deployment: Option<&str>) -> Value {
    json!([{"id": RUN, "name": "nightly-1", "flow_id": "f1", "deployment_id": deployment, "state_type": state_type,
            "state_name": state_name, "state": {"type": state_type, "name": state_name}}])
}

fn accepted(state_type: &str, state_name: &str) -> Value {
    json!({"status": "ACCEPT", "state": {"type": state_type, "name": state_name, "timestamp": "2026-11-27T12:00:00Z"},
           "details": {}})
}

/// Paths written to (anything but a read).
fn writes(fake: &FakeUpstream) -> Vec<String> {
    fake.requests()
        .iter()
        .filter(|r| !r.uri().path().ends_with("/filter") && r.method() != http::Method::GET)
        .map(|r| r.uri().path().to_owned())
        .collect()
}

fn token(result: &rmcp::model::CallToolResult) -> String {
    structured(result)["confirm_token"].as_str().expect("a preview has a token").to_owned()
}

#[test]
fn actions_are_listed_with_truthful_annotations_only_to_callers_who_may_write() {
    let fake = FakeUpstream::new();
    let names = |ctx: &ToolContext<'_, FakeUpstream>| {
        definitions(ctx).into_iter().map(|t| t.name.to_string()).collect::<Vec<_>>()
    };
    for denied in [WritesDenied::Disabled, WritesDenied::ReadOnlyCaller] {
        let ctx = context(&fake, API).with_writes(Err(denied));
        assert!(!names(&ctx).iter().any(|n| ACTIONS.contains(&n.as_str())), "{denied:?}");
        for action in ACTIONS {
            let result = run(&ctx, action, json!({"flow_run_id": RUN}));
            assert_eq!(result.is_error, Some(true));
            let error = structured(&result)["error"].as_str().unwrap().to_owned();
            let expected = match denied {
                WritesDenied::Disabled => "ALLOW_WRITES=true",
                WritesDenied::ReadOnlyCaller => "MCP_WRITE_TOKENS",
            };
            assert!(error.contains(expected) && error.contains("Nothing was changed"), "{error}");
            let audit = ctx.take_audit().expect("a refused attempt is audited too");
            assert_eq!(audit, json!({"action": action, "caller": null, "outcome": "refused", "reason": denied.kind()}));
        }
    }
    assert!(fake.requests().is_empty());

    let ctx = writing(&fake);
    let tools = definitions(&ctx);
    let hints = |name: &str| {
        let tool = tools.iter().find(|t| t.name == name).unwrap_or_else(|| panic!("{name} listed"));
        let a = tool.annotations.as_ref().unwrap();
        (a.read_only_hint, a.destructive_hint, a.idempotent_hint)
    };
    assert_eq!(hints("run_deployment"), (Some(false), Some(false), Some(false)));
    assert_eq!(hints("cancel_flow_run"), (Some(false), Some(true), Some(true)));
    assert_eq!(hints("retry_flow_run"), (Some(false), Some(true), Some(false)));
    assert_eq!(hints("resume_flow_run"), (Some(false), Some(false), Some(true)));
    assert_eq!(hints("pause_deployment"), (Some(false), Some(true), Some(true)));
    assert_eq!(hints("resume_deployment"), (Some(false), Some(false), Some(true)));
    assert_eq!(hints("get_flows"), (Some(true), Some(false), Some(true)));
}

#[test]
fn a_preview_changes_nothing_and_its_token_carries_the_action_out() {
    let fake = FakeUpstream::new()
        .on("POST", "/api/flow_runs/filter", 200, run_in("RUNNING", "Running", Some(DEPLOYMENT)))
        .on("POST", &format!("/api/flow_runs/{RUN}/set_state"), 201, accepted("CANCELLING", "Cancelling"));
    let ctx = writing(&fake);
    let preview = run(&ctx, "cancel_flow_run", json!({"flow_run_id": RUN}));
    let report = structured(&preview).clone();
    assert_eq!((report["success"].clone(), report["executed"].clone()), (json!(true), json!(false)), "{report}");
    assert_eq!(report["preview"]["change"], "Running → Cancelling");
    assert_eq!(report["preview"]["flow_run"]["id"], RUN);
    assert!(writes(&fake).is_empty());
    let audit = ctx.take_audit().unwrap();
    assert_eq!(
        audit,
        json!({"action": "cancel_flow_run", "caller": "headers:test", "targets": {"flow_run_id": RUN},
                             "phase": "preview", "outcome": "ok"})
    );

    let done = run(&ctx, "cancel_flow_run", json!({"flow_run_id": RUN, "confirm": token(&preview)}));
    let report = structured(&done);
    assert_eq!(
        (&report["executed"], &report["outcome"]["state_name"]),
        (&json!(true), &json!("Cancelling")),
        "{report}"
    );
    assert_eq!(writes(&fake), [format!("/api/flow_runs/{RUN}/set_state")]);
    assert_eq!(fake.body_to(&format!("/api/flow_runs/{RUN}/set_state"))["state"]["type"], "CANCELLING");
    assert_eq!(ctx.take_audit().unwrap()["phase"], "execute");
}

#[test]
fn a_cancel_prefect_settles_as_cancelled_at_once_is_done_and_other_rejections_are_not() {
    let path = format!("/api/flow_runs/{RUN}/set_state");
    let rejected = |state_type: &str, state_name: &str| {
        json!({"status": "REJECT", "state": {"type": state_type, "name": state_name},
               "details": {"reason": "nothing to stop"}})
    };
    let scheduled = run_in("SCHEDULED", "Scheduled", Some(DEPLOYMENT));
    let fake = FakeUpstream::new().on("POST", "/api/flow_runs/filter", 200, scheduled.clone()).on(
        "POST",
        &path,
        200,
        rejected("CANCELLED", "Cancelled"),
    );
    let ctx = writing(&fake);
    let preview = run(&ctx, "cancel_flow_run", json!({"flow_run_id": RUN}));
    assert_eq!(structured(&preview)["preview"]["change"], "Scheduled → Cancelled");
    let done = run(&ctx, "cancel_flow_run", json!({"flow_run_id": RUN, "confirm": token(&preview)}));
    assert_eq!(structured(&done)["outcome"]["state_type"], "CANCELLED", "{:?}", structured(&done));

    let fake = FakeUpstream::new().on("POST", "/api/flow_runs/filter", 200, scheduled).on(
        "POST",
        &path,
        200,
        rejected("SCHEDULED", "Scheduled"),
    );
    let ctx = writing(&fake);
    let preview = run(&ctx, "cancel_flow_run", json!({"flow_run_id": RUN}));
    let refused = run(&ctx, "cancel_flow_run", json!({"flow_run_id": RUN, "confirm": token(&preview)}));
    let error = structured(&refused)["error"].as_str().unwrap().to_owned();
    assert!(
        error.contains("Prefect did not cancel the run: its orchestration answered REJECT (nothing to stop)"),
        "{error}"
    );
}

#[test]
fn the_actions_toolset_alone_keeps_orientation_and_the_actions() {
    let fake = FakeUpstream::new();
    let toolsets = crate::tools::toolsets::Selection::parse(Some("actions")).unwrap();
    let ctx = writing(&fake).with_toolsets(toolsets);
    let names: Vec<String> = definitions(&ctx).into_iter().map(|t| t.name.to_string()).collect();
    assert_eq!(names, [&["orientation"][..], &ACTIONS[..]].concat());
}

#[test]
fn bad_tokens_are_refused_before_any_request() {
    let fake =
        FakeUpstream::new().on("POST", "/api/flow_runs/filter", 200, run_in("FAILED", "Failed", Some(DEPLOYMENT)));
    let ctx = writing(&fake);
    let preview = run(&ctx, "retry_flow_run", json!({"flow_run_id": RUN}));
    let good = token(&preview);
    let before = fake.requests().len();
    let other_run = "0e6b1c8e-1111-4000-8000-000000000009";
    let mut fields: Vec<String> = good.split('.').map(str::to_owned).collect();
    fields[2] = fields[2].chars().map(|c| if c == '0' { '1' } else { '0' }).collect();
    let tampered = fields.join(".");
    let cases = [
        (writing(&fake), json!({"flow_run_id": RUN, "confirm": tampered}), "altered"),
        (writing(&fake), json!({"flow_run_id": other_run, "confirm": good}), "other arguments"),
        (
            context(&fake, API).with_writes(Ok(writer("bob"))),
            json!({"flow_run_id": RUN, "confirm": good}),
            "another caller",
        ),
        (writing(&fake), json!({"flow_run_id": RUN, "confirm": "yes"}), "not a confirm_token"),
    ];
    for (ctx, arguments, reason) in cases {
        let result = run(&ctx, "retry_flow_run", arguments);
        let error = structured(&result)["error"].as_str().unwrap().to_owned();
        assert!(error.starts_with("Failed to retry the flow run: confirm: ") && error.contains(reason), "{error}");
        assert_eq!(ctx.take_audit().unwrap()["outcome"], "refused");
    }
    // A token for one action does not confirm another.
    let result = run(&ctx, "cancel_flow_run", json!({"flow_run_id": RUN, "confirm": good}));
    assert!(structured(&result)["error"].as_str().unwrap().contains("another action than cancel_flow_run"));
    assert_eq!(fake.requests().len(), before, "no request at all for a refused token");
    // Expired: the same preview, confirmed six minutes later.
    let mut late = writing(&fake);
    late.now += time::Duration::minutes(6);
    let result = run(&late, "retry_flow_run", json!({"flow_run_id": RUN, "confirm": good}));
    assert!(structured(&result)["error"].as_str().unwrap().contains("expired"));
    assert!(writes(&fake).is_empty());
}

#[test]
fn wrong_states_are_refused_with_the_reason() {
    let cases = [
        (
            "cancel_flow_run",
            "COMPLETED",
            "Completed",
            "only Scheduled, Pending, Running or Paused runs can be cancelled",
        ),
        ("cancel_flow_run", "CANCELLING", "Cancelling", "already being cancelled"),
        ("retry_flow_run", "RUNNING", "Running", "only Failed, Crashed or Cancelled"),
        ("retry_flow_run", "COMPLETED", "Completed", "use run_deployment"),
        ("resume_flow_run", "RUNNING", "Running", "not Paused"),
    ];
    for (tool, state_type, state_name, reason) in cases {
        let fake = FakeUpstream::new().on(
            "POST",
            "/api/flow_runs/filter",
            200,
            run_in(state_type, state_name, Some(DEPLOYMENT)),
        );
        let ctx = writing(&fake);
        let result = run(&ctx, tool, json!({"flow_run_id": RUN}));
        let error = structured(&result)["error"].as_str().unwrap().to_owned();
        assert!(error.contains(reason), "{tool} {state_type}: {error}");
        assert!(structured(&result)["confirm_token"].is_null());
        assert!(writes(&fake).is_empty());
    }
    let fake = FakeUpstream::new().on("POST", "/api/flow_runs/filter", 200, run_in("FAILED", "Failed", None));
    let result = run(&writing(&fake), "retry_flow_run", json!({"flow_run_id": RUN}));
    assert!(structured(&result)["error"].as_str().unwrap().contains("has no deployment"));
    let fake = FakeUpstream::new().on("POST", "/api/flow_runs/filter", 200, json!([]));
    let result = run(&writing(&fake), "cancel_flow_run", json!({"flow_run_id": RUN}));
    assert!(structured(&result)["error"].as_str().unwrap().contains("no flow run with id"));
}

fn deployment_fake(enforce: bool) -> FakeUpstream {
    let schema = json!({"type": "object", "properties": {"source": {"type": "string"},
                        "batches": {"type": "integer", "default": 2}}, "required": ["source"]});
    let deployment = json!([{"id": DEPLOYMENT, "name": "nightly", "flow_id": "f1", "tags": ["etl"], "paused": false,
        "work_pool_name": "pool", "parameters": {"source": "s3://a"}, "parameter_openapi_schema": schema,
        "enforce_parameter_schema": enforce}]);
    FakeUpstream::new().on("POST", "/api/deployments/filter", 200, deployment).on(
        "POST",
        "/api/flows/filter",
        200,
        json!([{"id": "f1", "name": "etl"}]),
    )
}

#[test]
fn run_deployment_checks_parameters_before_sending_and_repeats_idempotently() {
    let created = json!({"id": RUN, "name": "new-run", "state_type": "SCHEDULED", "state_name": "Scheduled"});
    let path = format!("/api/deployments/{DEPLOYMENT}/create_flow_run");
    let fake = deployment_fake(true).on("POST", &path, 201, created);
    let ctx = writing(&fake);
    let refused = run(
        &ctx,
        "run_deployment",
        json!({"deployment_name": "etl/nightly", "parameters": {"batches": "x", "colour": 1}}),
    );
    let error = structured(&refused)["error"].as_str().unwrap().to_owned();
    assert!(error.contains("parameters do not fit deployment etl/nightly") && error.contains("batches:"), "{error}");
    assert!(error.contains("colour: not a parameter of this flow"), "{error}");

    let arguments = json!({"deployment_name": "etl/nightly", "parameters": {"batches": 5}, "tags": ["manual"],
                           "scheduled_time": "2026-12-24T08:00:00Z"});
    let preview = run(&ctx, "run_deployment", arguments.clone());
    let shown = &structured(&preview)["preview"];
    assert_eq!(shown["parameters"], json!({"source": "s3://a", "batches": 5}), "{shown}");
    assert_eq!(shown["tags"], json!(["etl", "manual"]));
    assert_eq!(shown["scheduled_time"], "2026-12-24T08:00:00+00:00");
    assert_eq!(shown["deployment"]["name"], "etl/nightly");
    assert!(writes(&fake).is_empty());

    let mut confirmed = arguments.clone();
    confirmed["confirm"] = json!(token(&preview));
    let done = run(&ctx, "run_deployment", confirmed.clone());
    assert_eq!(structured(&done)["outcome"]["flow_run_id"], RUN, "{:?}", structured(&done));
    let sent = fake.body_to(&path);
    assert_eq!(sent["parameters"], json!({"batches": 5}));
    assert_eq!(sent["state"]["state_details"]["scheduled_time"], "2026-12-24T08:00:00+00:00");
    let key = sent["idempotency_key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("mcp-confirm-"));
    // The same confirmation again sends the same key: Prefect answers with the run it made.
    run(&ctx, "run_deployment", confirmed);
    let keys: Vec<Value> = (0..fake.requests().len())
        .filter(|i| fake.requests()[*i].uri().path() == path)
        .map(|i| fake.body(i)["idempotency_key"].clone())
        .collect();
    assert_eq!(keys, [json!(key), json!(key)]);
}

#[test]
fn run_deployment_leaves_unenforced_parameters_to_prefect_and_refuses_bad_times() {
    let fake = deployment_fake(false);
    let ctx = writing(&fake);
    let preview = run(&ctx, "run_deployment", json!({"deployment_id": DEPLOYMENT, "parameters": {"batches": "x"}}));
    assert_eq!(
        structured(&preview)["preview"]["parameter_check"],
        "not checked: the deployment does not enforce a parameter schema"
    );
    assert_eq!(structured(&preview)["preview"]["deployment"]["name"], "etl/nightly");
    assert_eq!(ctx.upstream_requests(), 2, "by id: the deployment, then its flow's name");
    let by_name = writing(&fake);
    run(&by_name, "run_deployment", json!({"deployment_name": "etl/nightly"}));
    assert_eq!(by_name.upstream_requests(), 1, "by name the flow's name is known");
    let result = run(&ctx, "run_deployment", json!({"deployment_id": DEPLOYMENT, "scheduled_time": "tomorrow"}));
    assert!(structured(&result)["error"].as_str().unwrap().contains("scheduled_time: expected an ISO 8601"));
    let result = run(&ctx, "run_deployment", json!({}));
    assert!(structured(&result)["error"].as_str().unwrap().contains("give deployment_id (UUID) or deployment_name"));
    let result = run(&ctx, "run_deployment", json!({"deployment_id": "not-a-uuid"}));
    assert!(structured(&result)["error"].as_str().unwrap().contains("deployment_id: expected a UUID"));
    let audit = ctx.take_audit().unwrap();
    assert_eq!((&audit["caller"], &audit["reason"]), (&json!("headers:test"), &json!("invalid_arguments")));
    assert!(writes(&fake).is_empty());
}

#[test]
fn resume_checks_the_input_the_run_asked_for() {
    let paused = json!([{"id": RUN, "name": "approval", "state_type": "PAUSED", "state_name": "Suspended",
        "state": {"type": "PAUSED", "name": "Suspended", "state_details": {"pause_reschedule": true,
                  "run_input_keyset": {"schema": "paused-1-schema", "response": "paused-1-response"}}}}]);
    let schema = json!({"type": "object", "properties": {"approved": {"type": "boolean"}}, "required": ["approved"]});
    let fake = FakeUpstream::new()
        .on("POST", "/api/flow_runs/filter", 200, paused)
        .on("GET", &format!("/api/flow_runs/{RUN}/input/paused-1-schema"), 200, schema)
        .on("POST", &format!("/api/flow_runs/{RUN}/resume"), 201, accepted("SCHEDULED", "Resuming"));
    let ctx = writing(&fake);
    let refused = run(&ctx, "resume_flow_run", json!({"flow_run_id": RUN}));
    assert!(structured(&refused)["error"].as_str().unwrap().contains("approved"), "{:?}", structured(&refused));
    let arguments = json!({"flow_run_id": RUN, "run_input": {"approved": true}});
    let preview = run(&ctx, "resume_flow_run", arguments.clone());
    assert_eq!(structured(&preview)["preview"]["change"], "Paused → Scheduled (Resuming), for a worker to pick up");
    let mut confirmed = arguments;
    confirmed["confirm"] = json!(token(&preview));
    let done = run(&ctx, "resume_flow_run", confirmed);
    assert_eq!(structured(&done)["outcome"]["state_name"], "Resuming");
    assert_eq!(fake.body_to(&format!("/api/flow_runs/{RUN}/resume")), json!({"run_input": {"approved": true}}));
}

#[test]
fn pausing_counts_the_runs_prefect_deletes_and_refuses_a_second_pause() {
    let scheduled = json!([{"auto_scheduled": true, "run_count": 0, "state_name": "Scheduled"},
                           {"auto_scheduled": false, "run_count": 0, "state_name": "Scheduled"},
                           {"auto_scheduled": true, "run_count": 0, "state_name": "AwaitingConcurrencySlot"}]);
    let fake = deployment_fake(true).on("POST", "/api/flow_runs/filter", 200, scheduled).on(
        "POST",
        &format!("/api/deployments/{DEPLOYMENT}/pause_deployment"),
        200,
        Value::Null,
    );
    let ctx = writing(&fake);
    let preview = run(&ctx, "pause_deployment", json!({"deployment_id": DEPLOYMENT}));
    assert_eq!(structured(&preview)["preview"]["scheduled_runs_deleted"], 1);
    let done = run(&ctx, "pause_deployment", json!({"deployment_id": DEPLOYMENT, "confirm": token(&preview)}));
    assert_eq!(structured(&done)["outcome"], json!({"deployment_id": DEPLOYMENT, "paused": true}));
    let result = run(&ctx, "resume_deployment", json!({"deployment_id": DEPLOYMENT}));
    assert!(structured(&result)["error"].as_str().unwrap().contains("already active"));
}
