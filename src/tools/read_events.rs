//! `read_events`: the workspace's event feed, newest first, one page after another.

use std::cell::OnceCell;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use time::Duration;
use url::Url;

use super::ToolError;
use super::args::{Limit, WorkspaceId};
use super::registry::{Availability, ToolInfo, ToolTypes};
use super::toolsets::Toolset;
use super::{Envelope, ToolContext, format};
use crate::prefect::PrefectClient;
use crate::upstream::Fetch;

const DESCRIPTION: &str = "Read Prefect events (state changes of flow runs, task runs, deployments, work \
pools and queues, workers, automations, and custom events), newest first. Without time bounds it covers \
the last hour; `occurred_after` / `occurred_before` (ISO 8601) set the window explicitly, and a single \
bound leaves the other to the server's default. `event_type_prefix` keeps only event types starting \
with it, e.g. \"prefect.flow-run\", \"prefect.task-run\", \"prefect.deployment\", \"prefect.work-queue\" \
or a custom prefix. Each event gives its resource, state fields, related flow name and the event it \
follows. `total` is how many events match in the window; `truncated` says more match than were returned.";

/// Events per page: the most Prefect's `events/filter` returns at once.
const PAGE_SIZE: usize = 50;
/// The default window when no bound is given.
const LOOKBACK: Duration = Duration::hours(1);

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    #[serde(default)]
    pub workspace_id: Option<WorkspaceId>,
    /// Only events whose type starts with this text, e.g. "prefect.flow-run".
    #[serde(default)]
    #[schemars(example = "prefect.flow-run", example = "prefect.deployment", example = "prefect.task-run")]
    pub event_type_prefix: Option<String>,
    /// Maximum number of events to return.
    #[serde(default)]
    pub limit: Limit<1, 500, 50>,
    /// Only events at or after this time (ISO 8601).
    #[serde(default)]
    #[schemars(example = "2026-01-01T00:00:00Z")]
    pub occurred_after: Option<String>,
    /// Only events at or before this time (ISO 8601).
    #[serde(default)]
    #[schemars(example = "2026-01-02T00:00:00Z")]
    pub occurred_before: Option<String>,
}

#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct Events {
    pub count: usize,
    pub events: Vec<EventInfo>,
    /// Events matching the query in the whole window (not only the returned ones).
    pub total: u64,
    /// True when more events match than were returned.
    pub truncated: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct EventInfo {
    pub id: String,
    pub event_type: String,
    /// As Prefect recorded it.
    pub occurred: String,
    pub resource_name: Option<String>,
    pub resource_id: Option<String>,
    pub state_type: Option<String>,
    pub state_name: Option<String>,
    pub state_message: Option<String>,
    /// Name of the related flow, if any.
    pub flow_name: Option<String>,
    /// The resource name up to its first `/`.
    pub flow_run_name: Option<String>,
    /// From the resource's `prefect.tag.*` labels; null when there are none.
    pub tags: Option<Vec<String>>,
    /// Id of the event this one follows.
    pub follows: Option<String>,
}

#[derive(Debug, Deserialize)]
struct EventPage {
    #[serde(default)]
    events: Vec<EventRecord>,
    #[serde(default)]
    total: u64,
    next_page: Option<String>,
}

/// The fields of Prefect's `ReceivedEvent` that the summary uses. Related resources and the
/// payload are most of an event's bytes: only the labels and state read below are kept.
#[derive(Debug, Deserialize)]
struct EventRecord {
    #[serde(default)]
    id: String,
    #[serde(default)]
    event: String,
    #[serde(default)]
    occurred: String,
    #[serde(default)]
    resource: Map<String, Value>,
    #[serde(default)]
    related: Vec<RelatedResource>,
    /// Kept unparsed: an emitter may put anything here, and only `validated_state` is read.
    #[serde(default)]
    payload: Option<Box<RawValue>>,
    follows: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RelatedResource {
    #[serde(rename = "prefect.resource.role")]
    role: Option<Value>,
    #[serde(rename = "prefect.resource.name")]
    name: Option<Value>,
}

/// The payload's `validated_state` (state-change events carry it), when the payload is an
/// object that has one.
fn validated_state(payload: Option<&RawValue>) -> Option<Value> {
    #[derive(Deserialize)]
    struct Fields {
        validated_state: Option<Value>,
    }
    serde_json::from_str::<Fields>(payload?.get()).ok()?.validated_state
}

pub const TOOL: ToolInfo = ToolInfo {
    name: "read_events",
    title: "Read Events",
    description: DESCRIPTION,
    toolset: Some(Toolset::Events),
    availability: Availability::Always,
    failure: "Failed to fetch events: ",
    guide: "read_events: the event feed (last hour by default), filterable by event-type prefix and time range.",
    types: ToolTypes::of::<Params, Envelope<Events>>(),
};

pub async fn call<F: Fetch>(ctx: &ToolContext<'_, F>, params: Params) -> Result<Events, ToolError> {
    let prefect = ctx.prefect(params.workspace_id).await?;
    let limit = params.limit.get() as usize;
    let given = |bound: Option<String>| bound.filter(|b| !b.trim().is_empty());
    let (after, before) = (given(params.occurred_after), given(params.occurred_before));
    let mut filter = Map::new();
    if after.is_none() && before.is_none() {
        let since = format::datetime(ctx.now - LOOKBACK);
        filter.insert("occurred".into(), json!({"since": since, "until": format::datetime(ctx.now)}));
    } else {
        let mut occurred = Map::new();
        occurred.extend(after.map(|a| ("since".to_owned(), Value::String(a))));
        occurred.extend(before.map(|b| ("until".to_owned(), Value::String(b))));
        filter.insert("occurred".into(), Value::Object(occurred));
    }
    if let Some(prefix) = params.event_type_prefix.filter(|p| !p.is_empty()) {
        filter.insert("event".into(), json!({"prefix": [prefix]}));
    }

    let body = json!({"filter": filter, "limit": PAGE_SIZE.min(limit)});
    let first: EventPage = prefect.post("events/filter", &body).await?;
    let total = first.total;
    let mut records = first.events;
    let mut next = first.next_page;
    // Bounded even if a server answered short or empty pages forever.
    let max_pages = limit.div_ceil(PAGE_SIZE);
    for _ in 1..max_pages {
        let Some(link) = next.take().filter(|_| records.len() < limit) else { break };
        let page = next_page(&prefect, &link).await?;
        if page.events.is_empty() {
            break;
        }
        records.extend(page.events);
        next = page.next_page;
    }
    let surplus = records.len() > limit;
    records.truncate(limit);
    let events: Vec<EventInfo> = records.into_iter().map(summarise).collect();
    let truncated = surplus || total > events.len() as u64;
    Ok(Events { count: events.len(), events, total, truncated })
}

/// Follows the server's `next_page` link on the configured API host only: the link is built
/// from the Host header Prefect saw, which behind a proxy may name another host, and the
/// credentials must never go there. `+` in the page token is base64, not a space, so it
/// is sent percent-encoded (Prefect's own link leaves it bare and then misreads it).
async fn next_page<F: Fetch>(prefect: &PrefectClient<'_, F>, link: &str) -> Result<EventPage, ToolError> {
    let unusable =
        |e: url::ParseError| ToolError::UnusableAnswer(format!("unusable next_page link from the Prefect API: {e}"));
    let api = Url::parse(prefect.api_url()).map_err(unusable)?;
    let link = api.join(link).map_err(unusable)?;
    let query = link.query().unwrap_or_default().replace('+', "%2B");
    let page = if link.path().ends_with("/events/filter/next") {
        prefect.get(&format!("events/filter/next?{query}")).await
    } else {
        let mut same_host = api;
        same_host.set_path(link.path());
        same_host.set_query(Some(&query));
        prefect.get_url(same_host).await
    };
    Ok(page?)
}

fn summarise(event: EventRecord) -> EventInfo {
    let label = |key: &str| event.resource.get(key).and_then(Value::as_str).filter(|v| !v.is_empty());
    // Prefect's own state events carry the state in labels too: the payload is parsed only
    // when a label is missing.
    let validated = OnceCell::new();
    let state = |label_key: &str, field: &str| {
        label(label_key)
            .or_else(|| {
                validated.get_or_init(|| validated_state(event.payload.as_deref())).as_ref()?.get(field)?.as_str()
            })
            .map(str::to_owned)
    };
    let resource_name = event.resource.get("prefect.resource.name").and_then(Value::as_str).map(str::to_owned);
    let flow_name = event
        .related
        .iter()
        .rev()
        .find(|r| r.role.as_ref().and_then(Value::as_str) == Some("flow"))
        .and_then(|r| r.name.as_ref()?.as_str())
        .map(str::to_owned);
    let tags: Vec<String> = event
        .resource
        .iter()
        .filter_map(|(key, value)| {
            let tag = key.strip_prefix("prefect.tag.")?;
            Some(match value.as_str() {
                Some("true") => tag.to_owned(),
                Some(other) => format!("{tag}:{other}"),
                None => format!("{tag}:{value}"),
            })
        })
        .collect();
    EventInfo {
        state_type: state("prefect.state-type", "type"),
        state_name: state("prefect.state-name", "name"),
        state_message: state("prefect.state-message", "message"),
        resource_id: event.resource.get("prefect.resource.id").and_then(Value::as_str).map(str::to_owned),
        flow_run_name: resource_name.as_deref().map(|name| name.split('/').next().unwrap_or(name).to_owned()),
        resource_name,
        flow_name,
        tags: (!tags.is_empty()).then_some(tags),
        id: event.id,
        event_type: event.event,
        occurred: event.occurred,
        follows: event.follows,
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::prefect::testing::FakeUpstream;
    use serde_json::{Value, json};

    fn event(n: usize) -> Value {
        json!({"id": format!("e{n}"), "event": "prefect.flow-run.Running", "occurred": format!("2026-11-27T11:{:02}:00.000000Z", 59 - n % 60),
               "resource": {"prefect.resource.id": "prefect.flow-run.1", "prefect.resource.name": "brave-fox"},
               "related": [], "payload": {"validated_state": {"type": "RUNNING", "name": "Running", "message": null}},
               "follows": null, "received": "2026-11-27T11:00:00Z"})
    }

    fn page(from: usize, to: usize, total: usize, next: Option<&str>) -> Value {
        json!({"events": (from..to).map(event).collect::<Vec<_>>(), "total": total, "next_page": next})
    }

    #[test]
    fn default_window_is_the_last_hour_and_events_are_shaped() {
        let full = json!({"id": "e1", "event": "prefect.task-run.Completed", "occurred": "2026-11-27T11:30:00.123Z",
            "resource": {"prefect.resource.id": "prefect.task-run.9", "prefect.resource.name": "load-3/sub",
                         "prefect.state-type": "COMPLETED", "prefect.state-name": "", "prefect.tag.prod": "true",
                         "prefect.tag.team": "data"},
            "related": [{"prefect.resource.id": "prefect.flow.1", "prefect.resource.role": "flow", "prefect.resource.name": "first"},
                        {"prefect.resource.id": "prefect.flow-run.2", "prefect.resource.role": "flow-run", "prefect.resource.name": "x"},
                        {"prefect.resource.id": "prefect.flow.3", "prefect.resource.role": "flow", "prefect.resource.name": "etl"}],
            "payload": {"validated_state": {"type": "FAILED", "name": "Completed", "message": "done"}},
            "follows": "e0"});
        let fake = FakeUpstream::new().on(
            "POST",
            "/api/events/filter",
            200,
            json!({"events": [full], "total": 1, "next_page": null}),
        );
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        let result = run(&ctx, "read_events", json!({}));
        assert_eq!(
            structured(&result),
            &json!({"success": true, "count": 1, "events": [{
                "id": "e1", "event_type": "prefect.task-run.Completed", "occurred": "2026-11-27T11:30:00.123Z",
                "resource_name": "load-3/sub", "resource_id": "prefect.task-run.9", "state_type": "COMPLETED",
                "state_name": "Completed", "state_message": "done", "flow_name": "etl", "flow_run_name": "load-3",
                "tags": ["prod", "team:data"], "follows": "e0"}], "total": 1, "truncated": false, "error": null})
        );
        assert_eq!(
            fake.body(0),
            json!({"filter": {"occurred": {"since": "2026-11-27T11:00:00+00:00", "until": "2026-11-27T12:00:00+00:00"}}, "limit": 50})
        );
        assert_eq!(ctx.upstream_requests(), 1);
    }

    #[test]
    fn custom_payloads_of_any_shape_are_summarised() {
        let custom = |n: usize, payload: Value| {
            let mut e = event(n);
            e["payload"] = payload;
            e["related"] = json!([{"prefect.resource.id": "x.1", "prefect.resource.role": 7}]);
            e
        };
        let events = json!([
            custom(1, json!("text")),
            custom(2, json!([1, 2])),
            custom(3, json!({"validated_state": "odd", "big": {"nested": [1, 2, 3]}})),
            custom(4, json!({"validated_state": {"type": "RUNNING", "name": 5}})),
            custom(5, Value::Null),
        ]);
        let fake = FakeUpstream::new().on("POST", "/api/events/filter", 200, json!({"events": events, "total": 5}));
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        let got = structured(&run(&ctx, "read_events", json!({}))).clone();
        assert_eq!(got["count"], 5, "{got}");
        let states: Vec<(&Value, &Value)> =
            got["events"].as_array().unwrap().iter().map(|e| (&e["state_type"], &e["state_name"])).collect();
        let none = (&Value::Null, &Value::Null);
        assert_eq!(states, [none, none, none, (&json!("RUNNING"), &Value::Null), none]);
        assert!(got["events"].as_array().unwrap().iter().all(|e| e["flow_name"].is_null()));
    }

    #[test]
    fn only_given_bounds_and_the_prefix_are_sent() {
        let fake = FakeUpstream::new().on("POST", "/api/events/filter", 200, page(0, 0, 0, None));
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        let result = run(
            &ctx,
            "read_events",
            json!({"occurred_before": "2026-11-01T00:00:00Z", "event_type_prefix": "prefect.deployment", "limit": 5}),
        );
        assert_eq!(structured(&result)["events"], json!([]));
        assert_eq!(
            fake.body(0),
            json!({"filter": {"occurred": {"until": "2026-11-01T00:00:00Z"}, "event": {"prefix": ["prefect.deployment"]}}, "limit": 5})
        );
        let fake = FakeUpstream::new().on("POST", "/api/events/filter", 200, page(0, 0, 0, None));
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        run(
            &ctx,
            "read_events",
            json!({"occurred_after": "yesterday", "occurred_before": "2026-11-01T00:00:00Z", "event_type_prefix": ""}),
        );
        assert_eq!(
            fake.body(0)["filter"],
            json!({"occurred": {"since": "yesterday", "until": "2026-11-01T00:00:00Z"}})
        );
    }

    #[test]
    fn paging_is_bounded_when_pages_come_back_short() {
        let link = Some("http://127.0.0.1:4200/api/events/filter/next?page-token=again");
        let fake = FakeUpstream::new().on("POST", "/api/events/filter", 200, page(0, 1, 999, link)).on(
            "GET",
            "/api/events/filter/next",
            200,
            page(1, 2, 999, link),
        );
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        let result = run(&ctx, "read_events", json!({"limit": 120}));
        assert_eq!(structured(&result)["success"], json!(true));
        // 120 events at 50 a page take at most 3 requests, however short the pages are.
        assert_eq!(ctx.upstream_requests(), 3);
    }

    #[test]
    fn pages_are_followed_on_the_configured_host_until_the_limit() {
        // The server names another host in its links; the client stays on its own.
        let fake = FakeUpstream::new()
            .on(
                "POST",
                "/api/events/filter",
                200,
                page(0, 50, 173, Some("http://internal:4200/api/events/filter/next?page-token=a+b=")),
            )
            .on(
                "GET",
                "/api/events/filter/next?page-token=a%2Bb=",
                200,
                page(50, 100, 173, Some("http://internal:4200/api/events/filter/next?page-token=c")),
            )
            .on(
                "GET",
                "/api/events/filter/next?page-token=c",
                200,
                page(100, 150, 173, Some("http://internal:4200/api/events/filter/next?page-token=d")),
            );
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        let result = run(&ctx, "read_events", json!({"limit": 120}));
        let envelope = structured(&result);
        assert_eq!(envelope["count"], json!(120));
        assert_eq!(envelope["total"], json!(173));
        assert_eq!(envelope["truncated"], json!(true));
        assert_eq!(envelope["events"][119]["id"], json!("e119"));
        let urls: Vec<String> = fake.requests().iter().map(|r| r.uri().to_string()).collect();
        assert_eq!(
            urls,
            [
                "http://127.0.0.1:4200/api/events/filter",
                "http://127.0.0.1:4200/api/events/filter/next?page-token=a%2Bb=",
                "http://127.0.0.1:4200/api/events/filter/next?page-token=c",
            ]
        );
    }

    #[test]
    fn a_link_to_anything_but_the_next_page_is_not_followed() {
        let fake = FakeUpstream::new()
            .on("POST", "/api/events/filter", 200, page(0, 50, 60, Some("https://evil.example/other/page?t=1")))
            .on("GET", "/other/page", 200, page(50, 60, 60, None));
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        let result = run(&ctx, "read_events", json!({"limit": 500}));
        assert_eq!(result.is_error, Some(true));
        assert!(structured(&result)["error"].as_str().unwrap().contains("refused to send GET /other/page"));
        assert_eq!(fake.requests().len(), 1);
    }

    #[test]
    fn server_rejections_are_failures_with_zero_totals() {
        let fake = FakeUpstream::new().on("POST", "/api/events/filter", 422, json!({"exception_message": "Invalid request received.",
            "exception_detail": [{"loc": ["body", "filter", "occurred", "since"], "msg": "Unable to parse string [yesterday]"}]}));
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        let result = run(&ctx, "read_events", json!({"occurred_after": "yesterday"}));
        assert_eq!(result.is_error, Some(true));
        let envelope = structured(&result);
        assert_eq!(
            (envelope["count"].clone(), envelope["events"].clone(), envelope["total"].clone()),
            (json!(0), json!([]), json!(0))
        );
        let error = envelope["error"].as_str().unwrap();
        assert!(error.starts_with("Failed to fetch events: 422") && error.contains("filter.occurred.since"), "{error}");
    }

    #[test]
    fn limit_is_bounded() {
        let fake = FakeUpstream::new();
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        assert!(
            text(&run(&ctx, "read_events", json!({"limit": 501}))).contains("limit: expected an integer from 1 to 500")
        );
        assert_eq!(ctx.upstream_requests(), 0);
    }
}
