//! `get_automations`: the workspace's automations, compact or in full detail by id.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::ToolError;
use super::args::{Filter, Limit, WorkspaceId};
use super::registry::{Availability, ToolInfo, ToolTypes};
use super::toolsets::Toolset;
use super::{Envelope, ToolContext, filter};
use crate::upstream::Fetch;

const DESCRIPTION: &str = "List the automations of the Prefect workspace (event-driven rules: a trigger \
plus actions), by name. By default each item is compact: id, name, description, enabled, tags, \
owner_resource, `trigger_type` (event, compound, sequence or metric) and `action_count`. Filtering \
by 1 to 5 ids (`filter.id.any_`) returns full detail instead: the complete `trigger` (with `within` \
in seconds) and the `actions`, `actions_on_trigger` and `actions_on_resolve` lists; ids that do not \
exist are listed in `missing_ids`. `filter` accepts `id` {any_: [UUID]}, `name` {any_: [exact \
names]} and `enabled` {eq_: true|false}, combinable; other keys are rejected. Returns `detail`, \
`count` and `truncated` (more automations match than `limit`).";

/// The most automations Prefect returns per request.
const PAGE_SIZE: usize = 200;
/// Pages read at most when `enabled` has to be applied to the results.
const MAX_PAGES: usize = 10;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    #[serde(default)]
    pub workspace_id: Option<WorkspaceId>,
    /// Automation filter, e.g. {"id": {"any_": ["<automation-id>"]}}, {"name": {"any_": ["my-automation"]}}
    /// or {"enabled": {"eq_": true}}.
    #[serde(default)]
    #[schemars(
        example = json!({"id": {"any_": ["<automation-id>"]}}),
        example = json!({"name": {"any_": ["my-automation"]}}),
        example = json!({"enabled": {"eq_": true}})
    )]
    pub filter: Option<Filter>,
    /// Maximum number of automations to return.
    #[serde(default)]
    pub limit: Limit<1, 200, 100>,
}

#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct Automations {
    /// True when the items carry the full trigger and actions (filter by 1 to 5 ids).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<bool>,
    pub count: usize,
    pub automations: Vec<Automation>,
    /// True when more automations match than were returned.
    pub truncated: bool,
    /// Requested ids that no automation has.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing_ids: Vec<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Automation {
    Compact(AutomationCompact),
    Detail(AutomationDetail),
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct AutomationCompact {
    pub id: String,
    pub name: String,
    pub description: String,
    pub enabled: bool,
    pub tags: Vec<String>,
    pub owner_resource: Option<String>,
    /// `event`, `compound`, `sequence`, `metric` (or `unknown`).
    pub trigger_type: String,
    /// Actions in `actions`, `actions_on_trigger` and `actions_on_resolve` together.
    pub action_count: usize,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct AutomationDetail {
    pub id: String,
    pub name: String,
    pub description: String,
    pub enabled: bool,
    pub tags: Vec<String>,
    pub owner_resource: Option<String>,
    /// The trigger as Prefect stores it, without trigger ids; `within` in seconds.
    pub trigger: Map<String, Value>,
    pub actions: Vec<Map<String, Value>>,
    pub actions_on_trigger: Vec<Map<String, Value>>,
    pub actions_on_resolve: Vec<Map<String, Value>>,
}

/// Prefect's `Automation` as the server sends it.
#[derive(Debug, Deserialize)]
struct AutomationRecord {
    id: String,
    name: String,
    description: Option<String>,
    enabled: Option<bool>,
    tags: Option<Vec<String>>,
    owner_resource: Option<String>,
    #[serde(default)]
    trigger: Map<String, Value>,
    #[serde(default)]
    actions: Option<Vec<Map<String, Value>>>,
    #[serde(default)]
    actions_on_trigger: Option<Vec<Map<String, Value>>>,
    #[serde(default)]
    actions_on_resolve: Option<Vec<Map<String, Value>>>,
}

pub const TOOL: ToolInfo = ToolInfo {
    name: "get_automations",
    title: "Get Automations",
    description: DESCRIPTION,
    toolset: Some(Toolset::Events),
    availability: Availability::Always,
    failure: "Failed to fetch automations: ",
    guide: "get_automations: automations; 1 to 5 ids give full detail (trigger definitions and actions).",
    types: ToolTypes::of::<Params, Envelope<Automations>>(),
};

/// The list under `filter.<field>.<operator>`, if given.
fn texts(filter: &Map<String, Value>, field: &str, operator: &str) -> Option<Vec<String>> {
    let items = filter.get(field)?.get(operator)?.as_array()?;
    Some(items.iter().filter_map(Value::as_str).map(str::to_owned).collect())
}

pub async fn call<F: Fetch>(ctx: &ToolContext<'_, F>, params: Params) -> Result<Automations, ToolError> {
    let filter = params.filter.map(|f| f.0).unwrap_or_default();
    filter::validate(&filter, &filter::AUTOMATION_FILTER)?;
    let ids = texts(&filter, "id", "any_")
        .map(|ids| {
            ids.iter()
                .map(|id| {
                    Uuid::parse_str(id.trim()).map(|uuid| uuid.to_string()).map_err(|_| {
                        ToolError::InvalidArguments(format!(
                            "Invalid automation ID '{id}' - IDs must be valid UUIDs. If you have an automation name, \
                             use filter={{'name': {{'any_': ['{id}']}}}} instead."
                        ))
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let names = texts(&filter, "name", "any_");
    let enabled = filter.get("enabled").and_then(|e| e.get("eq_")).and_then(Value::as_bool);
    let detail = ids.as_ref().is_some_and(|ids| (1..=5).contains(&ids.len()));
    let prefect = ctx.prefect(params.workspace_id).await?;
    let limit = params.limit.get() as usize;

    let mut server_filter = Map::new();
    if let Some(ids) = &ids {
        server_filter.insert("id".into(), json!({"any_": ids}));
    }
    if let Some(names) = &names {
        server_filter.insert("name".into(), json!({"any_": names}));
    }
    let server_filter = (!server_filter.is_empty()).then_some(server_filter);
    let keep = |record: &AutomationRecord| enabled.is_none_or(|wanted| record.enabled.unwrap_or(true) == wanted);

    // One request normally (limit + 1 rows tell whether more match). Results are put in
    // request order for ids, and `enabled` is applied here, so those cases read every
    // matching automation, a page at a time.
    let read_all = ids.is_some() || enabled.is_some();
    let page_size = if read_all { PAGE_SIZE } else { (limit + 1).min(PAGE_SIZE) };
    let mut records: Vec<AutomationRecord> = Vec::new();
    let mut exhausted = false;
    for _ in 0..MAX_PAGES {
        let body =
            json!({"automations": server_filter, "sort": "NAME_ASC", "limit": page_size, "offset": records.len()});
        let page: Vec<AutomationRecord> = prefect.post("automations/filter", &body).await?;
        let full = page.len() == page_size;
        records.extend(page);
        if !full {
            exhausted = true;
            break;
        }
        if ids.is_none() && records.iter().filter(|r| keep(r)).count() > limit {
            break;
        }
    }

    let mut missing_ids: Vec<String> = Vec::new();
    for id in ids.iter().flatten() {
        if !records.iter().any(|r| r.id == *id) && !missing_ids.contains(id) {
            missing_ids.push(id.clone());
        }
    }
    let mut kept: Vec<AutomationRecord> = records.into_iter().filter(|r| keep(r)).collect();
    if let Some(ids) = &ids {
        kept.sort_by_key(|r| ids.iter().position(|id| *id == r.id));
    }
    let truncated = kept.len() > limit || !exhausted;
    kept.truncate(limit);
    let automations: Vec<Automation> = kept.into_iter().map(|r| shape(r, detail)).collect();
    Ok(Automations { detail: Some(detail), count: automations.len(), automations, truncated, missing_ids })
}

fn shape(record: AutomationRecord, detail: bool) -> Automation {
    let (actions, on_trigger, on_resolve) = (
        record.actions.unwrap_or_default(),
        record.actions_on_trigger.unwrap_or_default(),
        record.actions_on_resolve.unwrap_or_default(),
    );
    let (id, name, description, enabled, tags, owner_resource) = (
        record.id,
        record.name,
        record.description.unwrap_or_default(),
        record.enabled.unwrap_or(true),
        record.tags.unwrap_or_default(),
        record.owner_resource,
    );
    if detail {
        return Automation::Detail(AutomationDetail {
            id,
            name,
            description,
            enabled,
            tags,
            owner_resource,
            trigger: without_ids(record.trigger),
            actions,
            actions_on_trigger: on_trigger,
            actions_on_resolve: on_resolve,
        });
    }
    let trigger_type = record.trigger.get("type").and_then(Value::as_str).unwrap_or("unknown").to_owned();
    Automation::Compact(AutomationCompact {
        id,
        name,
        description,
        enabled,
        tags,
        owner_resource,
        trigger_type,
        action_count: actions.len() + on_trigger.len() + on_resolve.len(),
    })
}

/// Drops the server-generated ids of a trigger and of the triggers nested in it.
fn without_ids(mut trigger: Map<String, Value>) -> Map<String, Value> {
    trigger.shift_remove("id");
    if let Some(Value::Array(nested)) = trigger.get_mut("triggers") {
        for item in nested.iter_mut() {
            if let Value::Object(inner) = item {
                *inner = without_ids(std::mem::take(inner));
            }
        }
    }
    trigger
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::prefect::testing::FakeUpstream;
    use serde_json::{Value, json};

    const A: &str = "0a4f9d2e-0000-4000-8000-00000000000a";
    const B: &str = "0a4f9d2e-0000-4000-8000-00000000000b";
    const MISSING: &str = "00000000-0000-4000-8000-000000000000";

    fn event_trigger() -> Value {
        json!({"type": "event", "id": "t1", "match": {"prefect.resource.id": "prefect.flow-run.*"}, "match_related": {},
               "after": [], "expect": ["prefect.flow-run.Failed"], "for_each": [], "posture": "Reactive", "threshold": 1, "within": 0.0})
    }

    fn automation(id: &str, name: &str, enabled: bool) -> Value {
        json!({"id": id, "created": "2026-11-27T10:00:00Z", "updated": "2026-11-27T10:00:00Z", "name": name,
               "description": "", "enabled": enabled, "tags": ["ops"],
               "trigger": {"type": "compound", "id": "t0", "triggers": [event_trigger()], "within": 300.0, "require": "any"},
               "actions": [{"type": "cancel-flow-run"}], "actions_on_trigger": [{"type": "do-nothing"}], "actions_on_resolve": []})
    }

    /// An upstream whose automations filter answers "a" (enabled) and "b" (disabled).
    fn two_automations() -> FakeUpstream {
        FakeUpstream::new().on(
            "POST",
            "/api/automations/filter",
            200,
            json!([automation(A, "a", true), automation(B, "b", false)]),
        )
    }

    #[test]
    fn default_is_compact_in_one_request() {
        let fake = two_automations();
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        let result = run(&ctx, "get_automations", json!({}));
        assert_eq!(
            structured(&result),
            &json!({"success": true, "detail": false, "count": 2, "automations": [
                {"id": A, "name": "a", "description": "", "enabled": true, "tags": ["ops"], "owner_resource": null, "trigger_type": "compound", "action_count": 2},
                {"id": B, "name": "b", "description": "", "enabled": false, "tags": ["ops"], "owner_resource": null, "trigger_type": "compound", "action_count": 2}
            ], "truncated": false, "error": null})
        );
        assert_eq!(fake.body(0), json!({"automations": null, "sort": "NAME_ASC", "limit": 101, "offset": 0}));
        assert_eq!(ctx.upstream_requests(), 1);
    }

    #[test]
    fn limit_truncates_exactly() {
        let fake = two_automations();
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        let result = run(&ctx, "get_automations", json!({"limit": 1}));
        assert_eq!(
            (structured(&result)["count"].clone(), structured(&result)["truncated"].clone()),
            (json!(1), json!(true))
        );
        assert_eq!(fake.body(0)["limit"], json!(2));
    }

    #[test]
    fn ids_give_detail_in_request_order_with_missing_ids_and_enabled_applied() {
        let fake = two_automations();
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        let result =
            run(&ctx, "get_automations", json!({"filter": {"id": {"any_": [B, MISSING, A.to_uppercase(), MISSING]}}}));
        let envelope = structured(&result);
        assert_eq!(envelope["detail"], json!(true));
        assert_eq!(envelope["missing_ids"], json!([MISSING]));
        let names: Vec<_> = envelope["automations"].as_array().unwrap().iter().map(|a| a["name"].clone()).collect();
        assert_eq!(names, [json!("b"), json!("a")]);
        assert_eq!(
            envelope["automations"][1],
            json!({"id": A, "name": "a", "description": "", "enabled": true, "tags": ["ops"], "owner_resource": null,
                   "trigger": {"type": "compound", "triggers": [{"type": "event", "match": {"prefect.resource.id": "prefect.flow-run.*"},
                       "match_related": {}, "after": [], "expect": ["prefect.flow-run.Failed"], "for_each": [], "posture": "Reactive",
                       "threshold": 1, "within": 0.0}], "within": 300.0, "require": "any"},
                   "actions": [{"type": "cancel-flow-run"}], "actions_on_trigger": [{"type": "do-nothing"}], "actions_on_resolve": []})
        );
        assert!(envelope["automations"][1]["trigger"].to_string().contains("300.0"));
        assert_eq!(
            fake.body(0),
            json!({"automations": {"id": {"any_": [B, MISSING, A, MISSING]}}, "sort": "NAME_ASC", "limit": 200, "offset": 0})
        );
        assert_eq!(ctx.upstream_requests(), 1);

        let fake = two_automations();
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        let result =
            run(&ctx, "get_automations", json!({"filter": {"id": {"any_": [A, B]}, "enabled": {"eq_": true}}}));
        assert_eq!(structured(&result)["count"], json!(1));
        assert_eq!(structured(&result)["automations"][0]["id"], json!(A));
        assert!(structured(&result).get("missing_ids").is_none());
    }

    #[test]
    fn unknown_ids_are_an_empty_success() {
        let fake = FakeUpstream::new().on("POST", "/api/automations/filter", 200, json!([]));
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        let result = run(&ctx, "get_automations", json!({"filter": {"id": {"any_": [MISSING]}}}));
        assert_eq!(
            structured(&result),
            &json!({"success": true, "detail": true, "count": 0, "automations": [], "truncated": false, "missing_ids": [MISSING], "error": null})
        );
    }

    #[test]
    fn names_are_one_request_and_enabled_is_applied_to_them() {
        let fake = two_automations();
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        let result =
            run(&ctx, "get_automations", json!({"filter": {"name": {"any_": ["a", "b"]}, "enabled": {"eq_": false}}}));
        let envelope = structured(&result);
        assert_eq!((envelope["detail"].clone(), envelope["count"].clone()), (json!(false), json!(1)));
        assert_eq!(envelope["automations"][0]["name"], json!("b"));
        assert_eq!(
            fake.body(0),
            json!({"automations": {"name": {"any_": ["a", "b"]}}, "sort": "NAME_ASC", "limit": 200, "offset": 0})
        );
        assert_eq!(ctx.upstream_requests(), 1);
    }

    #[test]
    fn a_name_given_as_id_points_to_the_name_filter_without_requests() {
        let fake = FakeUpstream::new();
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        let result = run(&ctx, "get_automations", json!({"filter": {"id": {"any_": ["nightly-alert"]}}}));
        assert_eq!(result.is_error, Some(true));
        let envelope = structured(&result);
        assert!(envelope.get("detail").is_none());
        assert_eq!(envelope["automations"], json!([]));
        assert_eq!(
            envelope["error"],
            json!(
                "Failed to fetch automations: Invalid automation ID 'nightly-alert' - IDs must be valid UUIDs. If you have an automation name, use filter={'name': {'any_': ['nightly-alert']}} instead."
            )
        );
        let unknown = run(&ctx, "get_automations", json!({"filter": {"tags": {"any_": ["x"]}}}));
        assert!(structured(&unknown)["error"].as_str().unwrap().contains("allowed: id, name, enabled"));
        assert!(fake.requests().is_empty());
    }
}
