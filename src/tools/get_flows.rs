//! `get_flows`: the flows registered in the workspace.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::ToolError;
use super::args::{Filter, Limit, WorkspaceId};
use super::registry::{Availability, ToolInfo, ToolTypes};
use super::toolsets::Toolset;
use super::{Envelope, ToolContext, filter, format};
use crate::prefect::paging::Listing;
use crate::prefect::records::FlowRecord;
use crate::upstream::Fetch;

const DESCRIPTION: &str = "List the flows registered in the Prefect workspace, by name. A flow is the \
Python function; its deployments and runs are separate objects. Optional `filter` uses Prefect's flow \
filter: `id` {any_, not_any_}, `name` {any_, like_ (case-insensitive substring)}, `tags` {all_, \
is_null_}, `deployment` {is_null_: true for flows without any deployment}, and `operator` \
(\"and_\"/\"or_\"). Unknown keys are rejected with the list of allowed ones. Returns `count` and \
`truncated` (more flows match than `limit`).";

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    #[serde(default)]
    pub workspace_id: Option<WorkspaceId>,
    /// Prefect flow filter, e.g. {"name": {"like_": "etl"}} or {"tags": {"all_": ["production"]}}.
    #[serde(default)]
    #[schemars(example = json!({"name": {"like_": "etl"}}), example = json!({"tags": {"all_": ["production"]}}))]
    pub filter: Option<Filter>,
    /// Maximum number of flows to return.
    #[serde(default)]
    pub limit: Limit<1, 200, 50>,
}

#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct Flows {
    pub count: usize,
    pub flows: Vec<FlowSummary>,
    /// True when more flows match than were returned.
    pub truncated: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct FlowSummary {
    pub id: String,
    pub name: String,
    pub created: Option<String>,
    pub updated: Option<String>,
    pub tags: Vec<String>,
}

const LISTING: Listing = Listing { path: "flows/filter", key: "flows", sort: Some("NAME_ASC") };

pub const TOOL: ToolInfo = ToolInfo {
    name: "get_flows",
    title: "Get Flows",
    description: DESCRIPTION,
    toolset: Some(Toolset::Deployments),
    availability: Availability::Always,
    failure: "Failed to fetch flows: ",
    guide: "get_flows: the flows registered in the workspace.",
    types: ToolTypes::of::<Params, Envelope<Flows>>(),
};

pub async fn call<F: Fetch>(ctx: &ToolContext<'_, F>, params: Params) -> Result<Flows, ToolError> {
    let filter = filter::checked(params.filter, &filter::FLOW_FILTER)?;
    let prefect = ctx.prefect(params.workspace_id).await?;
    let (records, truncated): (Vec<FlowRecord>, bool) =
        LISTING.first_page(&prefect, filter, params.limit.get() as usize).await?;
    let flows: Vec<FlowSummary> = records
        .into_iter()
        .map(|flow| FlowSummary {
            id: flow.id,
            name: flow.name,
            created: format::optional_timestamp(flow.created.as_deref()),
            updated: format::optional_timestamp(flow.updated.as_deref()),
            tags: flow.tags.unwrap_or_default(),
        })
        .collect();
    Ok(Flows { count: flows.len(), flows, truncated })
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::prefect::testing::FakeUpstream;
    use crate::upstream::FetchError;
    use serde_json::json;

    fn flow(name: &str, tags: serde_json::Value) -> serde_json::Value {
        json!({"id": format!("00000000-0000-4000-8000-{:012}", name.len()), "name": name,
               "created": "2026-11-27T10:00:00.478Z", "updated": "2026-11-27T10:00:00Z", "tags": tags,
               "labels": {}})
    }

    #[test]
    fn shapes_flows_and_detects_truncation() {
        let fake = FakeUpstream::new().on(
            "POST",
            "/api/flows/filter",
            200,
            json!([flow("etl-a", json!(["prod"])), flow("etl-b", json!(null))]),
        );
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        let result = run(&ctx, "get_flows", json!({"limit": 1, "filter": {"name": {"like_": "etl"}}}));
        assert_eq!(
            structured(&result),
            &json!({"success": true, "count": 1, "truncated": true, "error": null, "flows": [
                {"id": "00000000-0000-4000-8000-000000000005", "name": "etl-a",
                 "created": "2026-11-27T10:00:00.478000+00:00", "updated": "2026-11-27T10:00:00+00:00", "tags": ["prod"]}
            ]})
        );
        assert_eq!(text(&result), structured(&result).to_string());
        assert_eq!(
            fake.body(0),
            json!({"flows": {"name": {"like_": "etl"}}, "sort": "NAME_ASC", "limit": 2, "offset": 0})
        );
        assert_eq!(ctx.upstream_requests(), 1);
    }

    #[test]
    fn the_probe_row_past_the_server_cap_is_a_second_page() {
        let page: Vec<_> = (0..200).map(|i| flow(&"f".repeat(i + 1), json!([]))).collect();
        let fake = FakeUpstream::new().on("POST", "/api/flows/filter", 200, json!(page));
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        let result = run(&ctx, "get_flows", json!({"limit": 200}));
        assert_eq!((&structured(&result)["count"], &structured(&result)["truncated"]), (&json!(200), &json!(true)));
        assert_eq!(fake.body(0)["limit"], json!(200));
        assert_eq!((&fake.body(1)["limit"], &fake.body(1)["offset"]), (&json!(1), &json!(200)));
    }

    #[test]
    fn empty_filter_means_no_filter_and_null_tags_become_empty() {
        let fake = FakeUpstream::new().on("POST", "/api/flows/filter", 200, json!([flow("x", json!(null))]));
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        let result = run(&ctx, "get_flows", json!({"filter": {}}));
        assert_eq!(structured(&result)["flows"][0]["tags"], json!([]));
        assert_eq!(structured(&result)["truncated"], json!(false));
        assert_eq!(fake.body(0)["flows"], json!(null));
    }

    #[test]
    fn bad_filters_fail_before_any_request() {
        let fake = FakeUpstream::new();
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        let result = run(&ctx, "get_flows", json!({"filter": {"name": {"like": "etl-%"}}}));
        assert_eq!(result.is_error, Some(true));
        assert_eq!(
            structured(&result),
            &json!({"success": false, "count": 0, "flows": [], "truncated": false,
                    "error": "Failed to fetch flows: unknown filter key `name.like`; allowed under `name`: any_, like_"})
        );
        assert!(fake.requests().is_empty());
    }

    #[test]
    fn upstream_failures_become_envelope_errors() {
        let fake =
            FakeUpstream::new().failing("POST", "/api/flows/filter", FetchError::Network("connection refused".into()));
        let ctx = context(&fake, "http://127.0.0.1:9/api");
        let result = run(&ctx, "get_flows", json!({}));
        let error = structured(&result)["error"].as_str().unwrap().to_owned();
        assert_eq!(
            error,
            "Failed to fetch flows: Prefect API unreachable at 127.0.0.1: connection refused; check the API URL and that the server is up"
        );
    }
}
