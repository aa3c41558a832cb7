//! `get_flow_run_logs`: the log lines of one flow run, oldest first.

use futures::future::try_join_all;
use rmcp::model::CallToolResult;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::ToolError;
use super::args::{Limit, WorkspaceId};
use super::registry::{Availability, ToolInfo, ToolTypes};
use super::toolsets::Toolset;
use super::{Envelope, ToolContext, format, respond_or};
use crate::prefect::paging::SERVER_PAGE_MAX;
use crate::prefect::records::LogRecord;
use crate::prefect::{PrefectClient, PrefectError};
use crate::upstream::Fetch;

const DESCRIPTION: &str = "Read the log lines of one flow run (its own and its task runs' logs), oldest \
first, each with timestamp, numeric level and level name (DEBUG, INFO, WARNING, ERROR, CRITICAL), \
message and logger name. Failed runs usually have an ERROR line with the traceback. `flow_run_id` is the \
run's UUID (find it with get_flow_runs); `limit` (1 to 1000, default 100) caps how many of the earliest \
lines are returned, and `truncated` says whether the run has more lines than that. Very long messages \
are shortened in the middle, with a marker saying how many characters were left out.";

/// Messages longer than `HEAD + TAIL` characters keep their start and end (a traceback's
/// last lines name the exception).
const MESSAGE_HEAD: usize = 2000;
const MESSAGE_TAIL: usize = 1000;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// UUID of the flow run whose logs to read.
    #[schemars(example = "068adce4-aeec-7e9b-8000-97b7feeb70fa")]
    pub flow_run_id: String,
    /// Maximum number of log lines to return (the earliest ones).
    #[serde(default)]
    pub limit: Limit<1, 1000, 100>,
    #[serde(default)]
    pub workspace_id: Option<WorkspaceId>,
}

#[derive(Debug, Default, Serialize, JsonSchema)]
struct FlowRunLogs {
    /// The id as given.
    pub flow_run_id: String,
    pub logs: Vec<LogEntry>,
    /// True when the run has more log lines than `limit`.
    pub truncated: bool,
    pub limit: u32,
}

#[derive(Debug, Serialize, JsonSchema)]
struct LogEntry {
    pub timestamp: Option<String>,
    pub level: Option<i64>,
    /// DEBUG, INFO, WARNING, ERROR or CRITICAL; LEVEL_<n> for other numbers.
    pub level_name: Option<String>,
    pub message: String,
    /// Logger name, e.g. prefect.flow_runs or prefect.task_runs.
    pub name: Option<String>,
}

pub const TOOL: ToolInfo = ToolInfo {
    name: "get_flow_run_logs",
    title: "Get Flow Run Logs",
    description: DESCRIPTION,
    toolset: Some(Toolset::Runs),
    availability: Availability::Always,
    failure: "Failed to fetch logs: ",
    guide: "get_flow_run_logs: a run's logs, oldest first, up to 1000 lines.",
    types: ToolTypes::of::<Params, Envelope<FlowRunLogs>>(),
};

pub async fn call<F: Fetch>(ctx: &ToolContext<'_, F>, params: Params) -> CallToolResult {
    let (flow_run_id, limit) = (params.flow_run_id.clone(), params.limit.get());
    respond_or(TOOL.failure, fetch(ctx, params).await, || FlowRunLogs {
        flow_run_id,
        logs: Vec::new(),
        truncated: false,
        limit,
    })
}

async fn fetch<F: Fetch>(ctx: &ToolContext<'_, F>, params: Params) -> Result<FlowRunLogs, ToolError> {
    let id = Uuid::parse_str(params.flow_run_id.trim()).map_err(|_| {
        ToolError::InvalidArguments(format!(
            "invalid UUID {:?} for flow_run_id; pass a flow run's id (get_flow_runs lists them)",
            params.flow_run_id
        ))
    })?;
    let prefect = ctx.prefect(params.workspace_id).await?;
    let limit = params.limit.get() as usize;
    let query = json!({"logs": {"flow_run_id": {"any_": [id.to_string()]}}, "sort": "TIMESTAMP_ASC"});
    // One extra row tells whether the run has more lines.
    let mut records = earliest_lines(&prefect, &query, limit + 1).await?;
    let truncated = records.len() > limit;
    records.truncate(limit);
    let logs = records
        .into_iter()
        .map(|log| LogEntry {
            timestamp: format::optional_timestamp(log.timestamp.as_deref()),
            level_name: log.level.map(format::level_name),
            level: log.level,
            message: shorten(log.message.unwrap_or_default()),
            name: log.name,
        })
        .collect();
    Ok(FlowRunLogs { flow_run_id: params.flow_run_id, logs, truncated, limit: params.limit.get() })
}

/// The first `rows` log lines matching `query`, in pages of at most [`SERVER_PAGE_MAX`]: the
/// first page alone (most runs fit in it); when it comes back full, the rest concurrently.
async fn earliest_lines<F: Fetch>(
    prefect: &PrefectClient<'_, F>,
    query: &Value,
    rows: usize,
) -> Result<Vec<LogRecord>, PrefectError> {
    let page = |offset: usize| {
        let mut body = query.clone();
        body["limit"] = json!(SERVER_PAGE_MAX.min(rows - offset));
        body["offset"] = json!(offset);
        async move { prefect.post::<Vec<LogRecord>, _>("logs/filter", &body).await }
    };
    let mut lines = page(0).await?;
    if lines.len() < SERVER_PAGE_MAX.min(rows) {
        return Ok(lines);
    }
    let rest = try_join_all((SERVER_PAGE_MAX..rows).step_by(SERVER_PAGE_MAX).map(page)).await?;
    lines.extend(rest.into_iter().flatten());
    Ok(lines)
}

/// Keeps the first `MESSAGE_HEAD` and last `MESSAGE_TAIL` characters of a long message.
fn shorten(message: String) -> String {
    let total = message.chars().count();
    if total <= MESSAGE_HEAD + MESSAGE_TAIL {
        return message;
    }
    let head: String = message.chars().take(MESSAGE_HEAD).collect();
    let tail: String = message.chars().skip(total - MESSAGE_TAIL).collect();
    format!("{head}\n… [truncated {} chars] …\n{tail}", total - MESSAGE_HEAD - MESSAGE_TAIL)
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::prefect::testing::FakeUpstream;
    use serde_json::Value;

    const RUN: &str = "068adce4-aeec-7e9b-8000-97b7feeb70fa";

    /// A server holding `total` log lines of `RUN`, levels cycling through 20, 40, 25.
    fn server(total: usize) -> FakeUpstream {
        FakeUpstream::new().answering("POST", "/api/logs/filter", move |body| {
            let (limit, offset) = (body["limit"].as_u64().unwrap() as usize, body["offset"].as_u64().unwrap() as usize);
            let rows: Vec<Value> = (offset..total.min(offset + limit))
                .map(|i| (i, [20, 40, 25][i % 3]))
                .map(|(i, level)| {
                    json!({"id": format!("l{i}"), "name": "prefect.flow_runs", "level": level,
                                "message": format!("line {i}"), "timestamp": "2026-11-27T10:00:00.5Z",
                                "flow_run_id": RUN, "task_run_id": null})
                })
                .collect();
            (200, json!(rows))
        })
    }

    fn logs(fake: &FakeUpstream, arguments: Value) -> (Value, u32) {
        let ctx = context(fake, "http://127.0.0.1:4200/api");
        let result = run(&ctx, "get_flow_run_logs", arguments);
        (structured(&result).clone(), ctx.upstream_requests())
    }

    #[test]
    fn default_limit_reads_the_earliest_lines_and_probes_one_more() {
        let fake = server(155);
        let (envelope, requests) = logs(&fake, json!({"flow_run_id": RUN}));
        assert_eq!(envelope["logs"].as_array().unwrap().len(), 100);
        assert_eq!(
            envelope["logs"][1],
            json!({"timestamp": "2026-11-27T10:00:00.500000+00:00", "level": 40, "level_name": "ERROR",
                   "message": "line 1", "name": "prefect.flow_runs"})
        );
        assert_eq!(envelope["logs"][2]["level_name"], json!("LEVEL_25"));
        let keys: Vec<_> = envelope.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["success", "flow_run_id", "logs", "truncated", "limit", "error"]);
        assert_eq!((&envelope["truncated"], &envelope["limit"]), (&json!(true), &json!(100)));
        assert_eq!(requests, 1);
        assert_eq!(
            fake.body(0),
            json!({"logs": {"flow_run_id": {"any_": [RUN]}}, "sort": "TIMESTAMP_ASC", "limit": 101, "offset": 0})
        );
    }

    #[test]
    fn truncated_is_exact_at_the_limit() {
        let (exact, _) = logs(&server(155), json!({"flow_run_id": RUN, "limit": 155}));
        assert_eq!((exact["logs"].as_array().unwrap().len(), &exact["truncated"]), (155, &json!(false)));
        let (short, _) = logs(&server(155), json!({"flow_run_id": RUN, "limit": 154}));
        assert_eq!(short["truncated"], json!(true));
    }

    #[test]
    fn limits_above_the_server_cap_are_read_in_pages() {
        let fake = server(700);
        let (envelope, requests) = logs(&fake, json!({"flow_run_id": RUN, "limit": 1000}));
        // All 700 lines are read; the response budget then keeps the oldest ones that fit.
        let lines = envelope["logs"].as_array().unwrap();
        assert_eq!(lines[0]["message"], json!("line 0"));
        assert_eq!(lines.last().unwrap()["message"], json!(format!("line {}", lines.len() - 1)));
        assert!(envelope["note"].as_str().unwrap().contains(&format!("kept the first {} of 700 logs", lines.len())));
        assert_eq!(envelope["truncated"], json!(true));
        assert_eq!(requests, 6);
        let pages: Vec<_> = (0..6).map(|i| (fake.body(i)["offset"].clone(), fake.body(i)["limit"].clone())).collect();
        let expected = [(0, 200), (200, 200), (400, 200), (600, 200), (800, 200), (1000, 1)];
        assert_eq!(pages, expected.map(|(o, l)| (json!(o), json!(l))));
    }

    #[test]
    fn a_full_first_page_needs_one_more_request_for_the_probe_row() {
        let fake = server(200);
        let (envelope, requests) = logs(&fake, json!({"flow_run_id": RUN, "limit": 200}));
        assert_eq!((envelope["logs"].as_array().unwrap().len(), &envelope["truncated"]), (200, &json!(false)));
        assert_eq!(requests, 2);
        assert_eq!((&fake.body(1)["limit"], &fake.body(1)["offset"]), (&json!(1), &json!(200)));
        let (short, requests) = logs(&server(30), json!({"flow_run_id": RUN, "limit": 1000}));
        assert_eq!((short["logs"].as_array().unwrap().len(), requests), (30, 1));
    }

    #[test]
    fn invalid_ids_fail_without_a_request_and_echo_the_arguments() {
        for id in ["not-a-uuid", ""] {
            let fake = FakeUpstream::new();
            let (envelope, requests) = logs(&fake, json!({"flow_run_id": id}));
            assert_eq!(
                (
                    &envelope["success"],
                    &envelope["flow_run_id"],
                    &envelope["logs"],
                    &envelope["truncated"],
                    &envelope["limit"]
                ),
                (&json!(false), &json!(id), &json!([]), &json!(false), &json!(100))
            );
            let error = envelope["error"].as_str().unwrap();
            assert!(error.starts_with("Failed to fetch logs: invalid UUID"), "{error}");
            assert_eq!(requests, 0);
        }
    }

    #[test]
    fn long_messages_keep_head_and_tail() {
        let long = format!("{}{}", "a".repeat(5000), "ValueError: boom");
        let short = shorten(long.clone());
        assert!(short.starts_with(&"a".repeat(MESSAGE_HEAD)) && short.ends_with("ValueError: boom"));
        assert!(short.contains(&format!("[truncated {} chars]", long.len() - MESSAGE_HEAD - MESSAGE_TAIL)), "{short}");
        assert_eq!(shorten("é".repeat(3000)), "é".repeat(3000));
    }
}
