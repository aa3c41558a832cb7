//! `review_rate_limits` (Prefect Cloud only): when the account was throttled, and which
//! operation groups were.
//!
//! One request to the account-level Cloud API; consecutive throttled minutes are grouped
//! into periods with per-group totals and peaks.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use schemars::JsonSchema;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, Duration, OffsetDateTime, PrimitiveDateTime, UtcOffset};

use super::ToolError;
use super::args::WorkspaceId;
use super::registry::{Availability, ToolInfo, ToolTypes};
use super::toolsets::Toolset;
use super::{Envelope, ToolContext};
use crate::upstream::Fetch;

const DESCRIPTION: &str = "Prefect Cloud only: find out when the account hit its API rate limits \
and in which operation groups. Use it after HTTP 429 (Too Many Requests) errors or unexplained \
slowness. The \"keys\" in the result are operation groups (runs, deployments, flows, work_pools, \
writing-logs, reading-events, ...), not API keys. Throttled minutes less than ~1 minute apart are \
grouped into periods, each listing per group the requests denied in total and in its worst minute. \
`since`/`until` are ISO 8601 date-times (default: the last 3 days, up to 1 minute ago).";

/// The operation groups asked for, in the order the Cloud API is queried.
const KEYS: [&str; 15] = [
    "artifacts",
    "block_documents",
    "block_schemas",
    "block_types",
    "concurrency_limits",
    "deployments",
    "flows",
    "runs",
    "variables",
    "work_pools",
    "work_queues",
    "reading-events",
    "writing-events",
    "reading-logs",
    "writing-logs",
];

/// Throttled minutes at most this far apart belong to the same period.
const PERIOD_GAP_SECONDS: i64 = 61;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    #[serde(default)]
    pub workspace_id: Option<WorkspaceId>,
    /// Start of the window (default: 3 days ago).
    #[serde(default)]
    #[schemars(example = &"2025-09-28T00:00:00Z")]
    pub since: Option<DateTimeArg>,
    /// End of the window (default: 1 minute ago).
    #[serde(default)]
    #[schemars(example = &"2025-10-01T00:00:00Z")]
    pub until: Option<DateTimeArg>,
}

/// An ISO 8601 date-time or date; one without an offset stays without one, as given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, JsonSchema)]
#[schemars(inline, with = "String", extend("format" = "date-time"))]
pub enum DateTimeArg {
    Aware(OffsetDateTime),
    Naive(PrimitiveDateTime),
}

impl DateTimeArg {
    fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        if let Ok(aware) = OffsetDateTime::parse(raw, &Rfc3339) {
            return Some(DateTimeArg::Aware(aware));
        }
        let naive = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]");
        if let Ok(naive) = PrimitiveDateTime::parse(raw, naive) {
            return Some(DateTimeArg::Naive(naive));
        }
        Date::parse(raw, format_description!("[year]-[month]-[day]"))
            .ok()
            .map(|date| DateTimeArg::Naive(date.midnight()))
    }
}

/// Python's `isoformat()`: `2025-09-28T00:00:00+00:00`, microseconds only when non-zero.
impl fmt::Display for DateTimeArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (local, offset) = match self {
            DateTimeArg::Aware(at) => (PrimitiveDateTime::new(at.date(), at.time()), Some(at.offset())),
            DateTimeArg::Naive(at) => (*at, None),
        };
        let (date, time) = (local.date(), local.time());
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            date.year(),
            u8::from(date.month()),
            date.day(),
            time.hour(),
            time.minute(),
            time.second()
        )?;
        if time.microsecond() != 0 {
            write!(f, ".{:06}", time.microsecond())?;
        }
        if let Some(offset) = offset {
            let sign = if offset.is_negative() { '-' } else { '+' };
            write!(
                f,
                "{sign}{:02}:{:02}",
                offset.whole_hours().unsigned_abs(),
                offset.minutes_past_hour().unsigned_abs()
            )?;
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for DateTimeArg {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        DateTimeArg::parse(&raw).ok_or_else(|| {
            de::Error::custom(format!(
                "expected an ISO 8601 date-time such as 2025-09-28T00:00:00Z (or a date such as 2025-09-28), got {raw:?}"
            ))
        })
    }
}

#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct RateLimits {
    /// The Prefect Cloud account whose usage this is.
    pub account_id: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub summary: Option<Summary>,
    /// Stretches of consecutive throttled minutes, oldest first.
    pub throttling_periods: Option<Vec<ThrottlingPeriod>>,
}

#[derive(Debug, Serialize, JsonSchema, PartialEq)]
pub struct Summary {
    pub total_throttling_periods: usize,
    /// Operation groups throttled at least once, sorted.
    pub affected_keys: Vec<String>,
    pub first_throttled_at: Option<String>,
    pub last_throttled_at: Option<String>,
    pub total_minutes_throttled: usize,
}

#[derive(Debug, Serialize, JsonSchema, PartialEq)]
pub struct ThrottlingPeriod {
    /// First throttled minute, as the Cloud API reports it.
    pub start: String,
    /// Last throttled minute.
    pub end: String,
    /// Number of throttled minutes in the period.
    pub duration_minutes: usize,
    /// Per operation group, sorted by group.
    pub keys_affected: Vec<KeyThrottling>,
}

#[derive(Debug, Serialize, JsonSchema, PartialEq)]
pub struct KeyThrottling {
    /// The operation group (not an API key).
    pub key: String,
    /// Requests denied over the period.
    pub total_denied: u64,
    /// Most requests denied in one minute of the period.
    pub peak_denied_per_minute: u64,
}

/// The Cloud API's usage report: one `minutes` axis, and per operation group the
/// requests made and granted in each of those minutes.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Usage {
    minutes: Vec<String>,
    keys: BTreeMap<String, KeyUsage>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct KeyUsage {
    requested: Vec<u64>,
    granted: Vec<u64>,
}

pub const TOOL: ToolInfo = ToolInfo {
    name: "review_rate_limits",
    title: "Review Rate Limits",
    description: DESCRIPTION,
    toolset: Some(Toolset::Cloud),
    availability: Availability::PrefectCloud,
    failure: "Failed to fetch rate limits: ",
    guide: "review_rate_limits (Prefect Cloud only): when and which operation groups were throttled.",
    types: ToolTypes::of::<Params, Envelope<RateLimits>>(),
};

pub async fn call<F: Fetch>(ctx: &ToolContext<'_, F>, params: Params) -> Result<RateLimits, ToolError> {
    let prefect = ctx.prefect(params.workspace_id).await?;
    let cloud = prefect.cloud_workspace().ok_or_else(|| {
        ToolError::NotApplicable(format!(
            "rate limits exist only on Prefect Cloud, and {} is not a Prefect Cloud workspace URL \
             (…/api/accounts/<account>/workspaces/<workspace>); this tool does not apply to a self-hosted server",
            prefect.api_url()
        ))
    })?;
    super::require_cloud_api_key(&prefect)?;
    let since = params.since.unwrap_or(DateTimeArg::Aware(ctx.now - Duration::days(3))).to_string();
    let until = params.until.unwrap_or(DateTimeArg::Aware(ctx.now - Duration::minutes(1))).to_string();

    let mut url = cloud.account_url(&format!("accounts/{}/rate-limits/usage", cloud.account_id));
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("since", &since).append_pair("until", &until);
        for key in KEYS {
            query.append_pair("keys", key);
        }
    }
    let usage: Usage = prefect.get_url(url).await?;
    let (summary, periods) = throttling(&usage);
    Ok(RateLimits {
        account_id: Some(cloud.account_id),
        since: Some(since),
        until: Some(until),
        summary: Some(summary),
        throttling_periods: Some(periods),
    })
}

/// Denied requests per throttled minute and group, grouped into periods of minutes at most
/// [`PERIOD_GAP_SECONDS`] apart.
fn throttling(usage: &Usage) -> (Summary, Vec<ThrottlingPeriod>) {
    let mut denied: BTreeMap<&str, BTreeMap<&str, u64>> = BTreeMap::new();
    for (key, counts) in &usage.keys {
        let minutes = usage.minutes.iter().zip(&counts.requested).zip(&counts.granted);
        for ((minute, requested), granted) in minutes {
            if requested > granted {
                denied.entry(minute.as_str()).or_default().insert(key.as_str(), requested - granted);
            }
        }
    }
    // Chronological order; unparseable timestamps sort after the parseable ones, by text.
    let mut minutes: Vec<(Option<OffsetDateTime>, &str)> =
        denied.keys().map(|minute| (parse_minute(minute), *minute)).collect();
    minutes.sort_by(|a, b| (a.0.is_none(), a.0, a.1).cmp(&(b.0.is_none(), b.0, b.1)));

    let mut groups: Vec<Vec<&str>> = Vec::new();
    let mut previous: Option<Option<OffsetDateTime>> = None;
    for (at, minute) in &minutes {
        let joins = match (previous, at) {
            (Some(Some(before)), Some(now)) => (*now - before).whole_seconds() <= PERIOD_GAP_SECONDS,
            _ => false,
        };
        match groups.last_mut() {
            Some(group) if joins => group.push(minute),
            _ => groups.push(vec![minute]),
        }
        previous = Some(*at);
    }

    let periods: Vec<ThrottlingPeriod> = groups
        .iter()
        .map(|group| {
            let mut per_key: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
            for minute in group {
                for (key, count) in &denied[minute] {
                    let entry = per_key.entry(key).or_default();
                    entry.0 += count;
                    entry.1 = entry.1.max(*count);
                }
            }
            ThrottlingPeriod {
                start: group[0].to_owned(),
                end: group[group.len() - 1].to_owned(),
                duration_minutes: group.len(),
                keys_affected: per_key
                    .into_iter()
                    .map(|(key, (total, peak))| KeyThrottling {
                        key: key.to_owned(),
                        total_denied: total,
                        peak_denied_per_minute: peak,
                    })
                    .collect(),
            }
        })
        .collect();
    let affected: BTreeSet<&str> = denied.values().flat_map(|keys| keys.keys().copied()).collect();
    let summary = Summary {
        total_throttling_periods: periods.len(),
        affected_keys: affected.into_iter().map(str::to_owned).collect(),
        first_throttled_at: periods.first().map(|p| p.start.clone()),
        last_throttled_at: periods.last().map(|p| p.end.clone()),
        total_minutes_throttled: denied.len(),
    };
    (summary, periods)
}

fn parse_minute(raw: &str) -> Option<OffsetDateTime> {
    match DateTimeArg::parse(raw)? {
        DateTimeArg::Aware(at) => Some(at),
        DateTimeArg::Naive(at) => Some(at.assume_offset(UtcOffset::UTC)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::credentials::{Authorization, Credentials, Source};
    use crate::prefect::testing::FakeUpstream;
    use serde_json::{Value, json};

    const CLOUD: &str = "https://cloud.test/api/accounts/acc/workspaces/ws";
    const USAGE_PATH: &str = "/api/accounts/acc/rate-limits/usage";

    fn cloud_context<'a>(fake: &'a FakeUpstream, url: &str) -> ToolContext<'a, FakeUpstream> {
        let credentials = Credentials {
            api_url: url::Url::parse(url).unwrap(),
            authorization: Authorization::bearer("pnu_key"),
            source: Source::Headers,
        };
        ToolContext::new(Ok(credentials), fake, 1000, time::macros::datetime!(2026-11-27 12:00 UTC))
    }

    fn usage(minutes: &[&str], keys: Value) -> Usage {
        serde_json::from_value(json!({"account": "acc", "minutes": minutes, "keys": keys})).unwrap()
    }

    /// SPEC §5.13's worked example.
    fn worked_example() -> Value {
        json!({
            "account": "acc", "since": "x", "until": "y",
            "minutes": ["2025-09-30T00:00:00Z", "2025-09-30T00:01:00Z", "2025-09-30T00:02:00Z", "2025-09-30T00:05:00Z"],
            "keys": {
                "runs": {"requested": [50, 110, 105, 10], "granted": [50, 100, 100, 10]},
                "deployments": {"requested": [1, 60, 1, 70], "granted": [1, 50, 1, 50]},
                "flows": {"requested": [3, 3, 3, 3], "granted": [3, 3, 3, 3]}
            }
        })
    }

    #[test]
    fn groups_the_worked_example_into_two_periods() {
        let fake = FakeUpstream::new().on("GET", USAGE_PATH, 200, worked_example());
        let ctx = cloud_context(&fake, CLOUD);
        let result =
            run(&ctx, TOOL.name, json!({"since": "2025-09-30T00:00:00Z", "until": "2025-09-30T01:00:00+02:00"}));
        assert_eq!(
            structured(&result),
            &json!({
                "success": true, "account_id": "acc",
                "since": "2025-09-30T00:00:00+00:00", "until": "2025-09-30T01:00:00+02:00",
                "summary": {"total_throttling_periods": 2, "affected_keys": ["deployments", "runs"],
                            "first_throttled_at": "2025-09-30T00:01:00Z", "last_throttled_at": "2025-09-30T00:05:00Z",
                            "total_minutes_throttled": 3},
                "throttling_periods": [
                    {"start": "2025-09-30T00:01:00Z", "end": "2025-09-30T00:02:00Z", "duration_minutes": 2, "keys_affected": [
                        {"key": "deployments", "total_denied": 10, "peak_denied_per_minute": 10},
                        {"key": "runs", "total_denied": 15, "peak_denied_per_minute": 10}]},
                    {"start": "2025-09-30T00:05:00Z", "end": "2025-09-30T00:05:00Z", "duration_minutes": 1, "keys_affected": [
                        {"key": "deployments", "total_denied": 20, "peak_denied_per_minute": 20}]}
                ],
                "error": null
            })
        );
        assert_eq!(ctx.upstream_requests(), 1);
        let request = &fake.requests()[0];
        let keys = KEYS.iter().map(|k| format!("&keys={k}")).collect::<String>();
        assert_eq!(
            request.uri().to_string(),
            format!(
                "https://cloud.test{USAGE_PATH}?since=2025-09-30T00%3A00%3A00%2B00%3A00&until=2025-09-30T01%3A00%3A00%2B02%3A00{keys}"
            )
        );
        assert_eq!(request.headers()["authorization"], "Bearer pnu_key");
    }

    #[test]
    fn minutes_60_seconds_apart_join_and_62_seconds_apart_split() {
        let joined = usage(
            &["2025-01-01T00:00:00Z", "2025-01-01T00:01:00Z", "2025-01-01T00:02:02Z"],
            json!({"runs": {"requested": [2, 2, 2], "granted": [1, 1, 1]}}),
        );
        let (summary, periods) = throttling(&joined);
        assert_eq!(periods.iter().map(|p| p.duration_minutes).collect::<Vec<_>>(), [2, 1]);
        assert_eq!(summary.total_minutes_throttled, 3);
        assert_eq!(summary.total_throttling_periods, 2);
    }

    #[test]
    fn shorter_arrays_limit_the_minutes_considered_and_order_is_chronological() {
        let data = usage(
            &["2025-01-01T00:03:00Z", "2025-01-01T00:00:00Z", "2025-01-01T00:01:00Z"],
            json!({"b": {"requested": [9, 9], "granted": [0, 0, 0]}, "a": {"requested": [1, 1, 5], "granted": [1, 1]}}),
        );
        let (summary, periods) = throttling(&data);
        assert_eq!(summary.affected_keys, ["b"]);
        assert_eq!(summary.first_throttled_at.as_deref(), Some("2025-01-01T00:00:00Z"));
        assert_eq!(summary.last_throttled_at.as_deref(), Some("2025-01-01T00:03:00Z"));
        assert_eq!(periods.len(), 2);
    }

    #[test]
    fn no_minutes_is_an_empty_success() {
        let fake = FakeUpstream::new().on("GET", USAGE_PATH, 200, json!({"account": "acc", "minutes": [], "keys": {}}));
        let ctx = cloud_context(&fake, CLOUD);
        let result = run(&ctx, TOOL.name, json!({}));
        let envelope = structured(&result);
        assert_eq!(envelope["success"], json!(true));
        assert_eq!(
            envelope["summary"],
            json!({"total_throttling_periods": 0, "affected_keys": [], "first_throttled_at": null,
                   "last_throttled_at": null, "total_minutes_throttled": 0})
        );
        assert_eq!(envelope["throttling_periods"], json!([]));
        // Defaults: the 3 days up to 1 minute before the request.
        assert_eq!(envelope["since"], json!("2026-11-24T12:00:00+00:00"));
        assert_eq!(envelope["until"], json!("2026-11-27T11:59:00+00:00"));
    }

    #[test]
    fn dates_are_echoed_in_iso_form() {
        for (given, echoed) in [
            ("2025-09-30", "2025-09-30T00:00:00"),
            ("2025-09-30T10:00:00", "2025-09-30T10:00:00"),
            ("2025-09-30T10:00:00.5Z", "2025-09-30T10:00:00.500000+00:00"),
            ("2025-09-30T10:00:00-05:30", "2025-09-30T10:00:00-05:30"),
        ] {
            assert_eq!(DateTimeArg::parse(given).unwrap().to_string(), echoed, "{given}");
        }
    }

    #[test]
    fn invalid_dates_are_argument_errors() {
        let fake = FakeUpstream::new();
        let ctx = cloud_context(&fake, CLOUD);
        let result = run(&ctx, TOOL.name, json!({"since": "not-a-date"}));
        assert_eq!(result.is_error, Some(true));
        assert!(text(&result).contains("since: expected an ISO 8601 date-time"), "{}", text(&result));
        assert!(fake.requests().is_empty());
    }

    #[test]
    fn self_hosted_servers_get_a_cloud_only_failure() {
        let fake = FakeUpstream::new();
        let ctx = context(&fake, "http://127.0.0.1:4200/api");
        let result = run(&ctx, TOOL.name, json!({}));
        let envelope = structured(&result);
        assert_eq!(
            envelope.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["success", "account_id", "since", "until", "summary", "throttling_periods", "error"]
        );
        assert_eq!(envelope["summary"], json!(null));
        let error = envelope["error"].as_str().unwrap();
        assert!(error.starts_with("Failed to fetch rate limits: rate limits exist only on Prefect Cloud"), "{error}");
        assert!(fake.requests().is_empty());
    }

    #[test]
    fn cloud_without_an_api_key_sends_nothing() {
        let fake = FakeUpstream::new();
        let ctx = context(&fake, CLOUD);
        let error = structured(&run(&ctx, TOOL.name, json!({})))["error"].as_str().unwrap().to_owned();
        assert!(error.contains("needs an API key") && error.contains("X-Prefect-Api-Key"), "{error}");
        assert!(fake.requests().is_empty());
    }

    #[test]
    fn upstream_errors_become_failures() {
        let fake = FakeUpstream::new().on("GET", USAGE_PATH, 403, json!({"detail": "Forbidden"}));
        let ctx = cloud_context(&fake, CLOUD);
        let error = structured(&run(&ctx, TOOL.name, json!({})))["error"].as_str().unwrap().to_owned();
        assert!(error.starts_with("Failed to fetch rate limits: 403 Forbidden"), "{error}");
    }

    #[test]
    fn workspace_id_keeps_the_account() {
        let fake = FakeUpstream::new().on("GET", USAGE_PATH, 200, json!({"minutes": []}));
        let ctx = cloud_context(&fake, CLOUD);
        let result = run(&ctx, TOOL.name, json!({"workspace_id": "5f3b3c1e-8f7a-4c2e-9d7b-1a2b3c4d5e6f"}));
        assert_eq!(structured(&result)["account_id"], json!("acc"));
    }
}
