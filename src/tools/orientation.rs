//! `orientation`: what this server can and cannot do, without touching Prefect.

use rmcp::model::{CallToolResult, ContentBlock};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ToolContext;
use super::registry::{Availability, TOOLS, ToolInfo, ToolOutput, ToolTypes};
use crate::upstream::Fetch;

const DESCRIPTION: &str = "Start here. Explains what this Prefect server offers, which tool answers which \
question, and its limits: what this connection may change in Prefect (by default nothing: changes are then \
made with the Prefect CLI or UI). Makes no Prefect request and needs no credentials.";

const READ_ONLY: &str = "\
Prefect MCP server: read-only access to a Prefect workspace.

Access
- Every tool here inspects; none creates, edits, runs, pauses or deletes anything. To change Prefect \
(deploy, trigger or cancel a run, pause a schedule, edit an automation) tell the user the matching \
`prefect` CLI command or UI page instead.";

const WITH_ACTIONS: &str = "\
Prefect MCP server: access to a Prefect workspace, with a few actions.

Access
- The action tools listed below change Prefect; every other tool only reads. An action takes two calls: \
the first changes nothing and returns a preview and a confirm_token. Show the user the preview and call \
again with confirm set to the token only once they agree; a token works for exactly those arguments, for \
five minutes. Anything else (deploy, edit an automation, delete) is done with the `prefect` CLI or UI.";

const CREDENTIALS: &str = "\
- Credentials come from the X-Prefect-Api-Url / X-Prefect-Api-Key / X-Prefect-Api-Auth-String headers \
of the connection, or from the server's own configuration.

Where to look (the tools this connection offers)";

/// Tools of the reference server that this one does not have: a model may have heard of them.
const NOT_OFFERED: &str = "- execution_plans_get_schema / execution_plans_publish belong to an experimental \
Prefect Cloud feature that this server does not offer.";

/// Investigation recipes, each shown when the connection offers every tool it names.
const RECIPES: &[(&[&str], &str)] = &[
    (
        &["diagnose_flow_run", "get_flow_run_logs", "get_task_runs"],
        "- A failed or crashed run: diagnose_flow_run first; then, for more, get_flow_run_logs for the whole \
traceback and get_task_runs filtered by flow_run_id.",
    ),
    (
        &["diagnose_flow_run", "diagnose_deployment"],
        "- Late or stuck runs: diagnose_flow_run on one of them, or diagnose_deployment for its deployment.",
    ),
    (&["get_dashboard"], "- Many deployments affected: get_dashboard shows every pool and limit at once."),
];

const HABITS: &str = "\
Habits that pay off
- Filters are checked before anything is sent: an unknown key comes back as an error listing the keys \
that are allowed, never as silently unfiltered data.
- List results carry `count` and `truncated`; when `truncated` is true, narrow the filter or raise `limit`.";

/// The guide for this connection: only the tools its toolsets, Prefect API and the server's
/// configuration offer.
fn guide<F: Fetch>(ctx: &ToolContext<'_, F>) -> String {
    let offered: Vec<&ToolInfo> = TOOLS.iter().copied().filter(|tool| tool.offered(ctx)).collect();
    let access = if offered.iter().any(|tool| matches!(tool.availability, Availability::Action { .. })) {
        WITH_ACTIONS
    } else {
        READ_ONLY
    };
    let mut lines = vec![access.to_owned(), CREDENTIALS.to_owned()];
    lines.extend(offered.iter().filter(|tool| !tool.guide.is_empty()).map(|tool| format!("- {}", tool.guide)));
    lines.push(NOT_OFFERED.to_owned());
    let recipes: Vec<&str> = RECIPES
        .iter()
        .filter(|(tools, _)| tools.iter().all(|name| offered.iter().any(|tool| tool.name == *name)))
        .map(|(_, recipe)| *recipe)
        .collect();
    if !recipes.is_empty() {
        lines.push(format!("\nInvestigating\n{}", recipes.join("\n")));
    }
    lines.push(format!("\n{HABITS}"));
    lines.join("\n")
}

/// `orientation` takes no arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {}

#[derive(Debug, Serialize, JsonSchema)]
struct Output {
    pub result: String,
}

impl ToolOutput for Output {}

pub const TOOL: ToolInfo = ToolInfo {
    name: "orientation",
    title: "Orientation",
    description: DESCRIPTION,
    toolset: None,
    availability: Availability::Always,
    failure: "",
    guide: "",
    types: ToolTypes::of::<Params, Output>(),
};

/// The text is the answer: structured `{result}` for clients that read JSON, the bare
/// text for everyone else.
pub async fn call<F: Fetch>(ctx: &ToolContext<'_, F>, _: Params) -> CallToolResult {
    let guide = guide(ctx);
    let structured = serde_json::to_value(Output { result: guide.clone() }).expect("serialisable");
    let mut result = CallToolResult::success(vec![ContentBlock::text(guide)]);
    result.structured_content = Some(structured);
    result
}

#[cfg(test)]
mod tests {
    use super::super::actions::Writer;
    use super::super::registry::{Availability, TOOLS};
    use super::super::testing::*;
    use super::super::toolsets::Selection;
    use crate::prefect::testing::FakeUpstream;
    use serde_json::json;

    #[test]
    fn answers_without_prefect_and_describes_every_tool_on_offer() {
        let fake = FakeUpstream::new();
        let ctx = context(&fake, "https://api.prefect.cloud/api/accounts/a/workspaces/w")
            .with_docs_url(Some(url::Url::parse("http://127.0.0.1:9/mcp").unwrap()));
        let result = run(&ctx, "orientation", json!(null));
        assert_eq!(result.is_error, Some(false));
        let guide = text(&result);
        assert_eq!(structured(&result), &json!({"result": guide}));
        for needle in ["read-only", "prefect` CLI", "execution_plans_publish", "Investigating", "get_dashboard shows"] {
            assert!(guide.contains(needle), "{needle}");
        }
        let reads = TOOLS.iter().filter(|tool| !matches!(tool.availability, Availability::Action { .. }));
        for tool in reads.filter(|tool| tool.name != "orientation") {
            assert!(guide.contains(&format!("- {}", tool.guide)), "{}", tool.name);
        }
        assert!(!guide.contains("run_deployment") && !guide.contains("confirm_token"), "{guide}");
        assert!(fake.requests().is_empty());
    }

    #[test]
    fn explains_the_two_step_actions_to_a_caller_who_may_write() {
        let fake = FakeUpstream::new();
        let writer = Writer::new("headers:test".into(), &[b"secret"]);
        let ctx = context(&fake, "http://127.0.0.1:4200/api").with_writes(Ok(writer));
        let guide = text(&run(&ctx, "orientation", json!({})));
        assert!(guide.contains("with a few actions") && guide.contains("confirm_token"), "{guide}");
        for tool in TOOLS.iter().filter(|tool| matches!(tool.availability, Availability::Action { .. })) {
            assert!(guide.contains(tool.name), "{}", tool.name);
        }
        assert!(!guide.contains("read-only access"), "{guide}");
    }

    #[test]
    fn describes_only_the_tools_this_connection_offers() {
        let fake = FakeUpstream::new();
        let ctx = context(&fake, "http://127.0.0.1:4200/api").with_toolsets(Selection::parse(Some("runs")).unwrap());
        let guide = text(&run(&ctx, "orientation", json!({})));
        for offered in ["get_flow_runs", "get_flow_run_logs", "get_task_runs"] {
            assert!(guide.contains(&format!("\n- {offered}")), "{offered}");
        }
        // Other toolsets, the Cloud-only tool on an OSS server and the unconfigured docs proxy.
        for absent in
            ["get_deployments", "diagnose_flow_run", "get_dashboard", "review_rate_limits", "docs_search_prefect"]
        {
            assert!(!guide.contains(absent), "{absent}: {guide}");
        }
        assert!(!guide.contains("Investigating"), "{guide}");
    }
}
