//! `orientation`: what this server can and cannot do, without touching Prefect.

use rmcp::model::{CallToolResult, ContentBlock, Tool};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub const NAME: &str = "orientation";

const DESCRIPTION: &str = "Start here. Explains what this Prefect server offers, which tool answers which \
question, and its limits: every tool only reads, so changes are made with the Prefect CLI or UI. \
Makes no Prefect request and needs no credentials.";

const GUIDE: &str = "\
Prefect MCP server: read-only access to a Prefect workspace.

Access
- Every tool here inspects; none creates, edits, runs, pauses or deletes anything. To change Prefect \
(deploy, trigger or cancel a run, pause a schedule, edit an automation) tell the user the matching \
`prefect` CLI command or UI page instead.
- Credentials come from the X-Prefect-Api-Url / X-Prefect-Api-Key / X-Prefect-Api-Auth-String headers \
of the connection, or from the server's own configuration. get_identity shows which Prefect API is in \
use and who you are there.

Where to look
- diagnose_flow_run (a run's id) and diagnose_deployment (an id or \"<flow>/<deployment>\"): why a run \
failed, crashed or is Late or stuck, or whether a deployment's runs get created and started, in one call: a \
verdict plus findings with evidence and the next step.
- get_identity: which server or Cloud workspace this is, and its version.
- get_dashboard: one-call overview: run counts, work pools, every concurrency limit and who is at it.
- get_deployments, get_flows, get_flow_runs, get_task_runs, get_work_pools, get_automations: lists, \
compact by default; filtering by 1 to 5 ids (`{\"id\": {\"any_\": [...]}}`) returns full detail (recent runs, \
parameters, work-pool queues and workers, trigger definitions, diagnostic hints).
- get_flow_run_logs: a run's logs, oldest first, up to 1000 lines.
- read_events: the event feed (last hour by default), filterable by event-type prefix and time range.
- get_object_schema: the JSON schema of Prefect automations, for reading or drafting one.
- review_rate_limits (Prefect Cloud only): when and which operation groups were throttled.
- docs_search_prefect and docs_get_release_notes (when offered): Prefect documentation and release notes.
- execution_plans_get_schema / execution_plans_publish belong to an experimental Prefect Cloud feature \
that this server does not offer.

Investigating
- A failed or crashed run: diagnose_flow_run first; then, for more, get_flow_run_logs for the whole \
traceback and get_task_runs filtered by flow_run_id.
- Late or stuck runs: diagnose_flow_run on one of them, or diagnose_deployment for its deployment; \
get_dashboard when many deployments are affected.

Habits that pay off
- Filters are checked before anything is sent: an unknown key comes back as an error listing the keys \
that are allowed, never as silently unfiltered data.
- List results carry `count` and `truncated`; when `truncated` is true, narrow the filter or raise `limit`.";

/// `orientation` takes no arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Output {
    pub result: String,
}

pub fn definition() -> Tool {
    super::definition::<Params, Output>(NAME, "Orientation", DESCRIPTION)
}

/// The text is the answer: structured `{result}` for clients that read JSON, the bare
/// text for everyone else.
pub fn call(_: Params) -> CallToolResult {
    let structured = serde_json::to_value(Output { result: GUIDE.to_owned() }).expect("serialisable");
    let mut result = CallToolResult::success(vec![ContentBlock::text(GUIDE)]);
    result.structured_content = Some(structured);
    result
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::prefect::testing::FakeUpstream;
    use serde_json::json;

    #[test]
    fn answers_without_prefect() {
        let fake = FakeUpstream::new();
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        let result = run(&ctx, "orientation", json!(null));
        assert_eq!(result.is_error, Some(false));
        let guide = text(&result);
        assert_eq!(structured(&result), &json!({"result": guide}));
        for needle in [
            "read-only",
            "prefect` CLI",
            "get_object_schema",
            "docs_search_prefect",
            "docs_get_release_notes",
            "execution_plans_publish",
        ] {
            assert!(guide.contains(needle), "{needle}");
        }
        assert!(fake.requests().is_empty());
    }
}
