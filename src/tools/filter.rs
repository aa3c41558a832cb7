//! Filter validation against Prefect's server-side filter models.
//!
//! The reference silently drops keys it does not know and returns unfiltered data as if it
//! had filtered. Here every key and operator is checked before any request: an unknown one
//! is an error that names it and lists what is allowed at that level.

use serde_json::{Map, Value};
use uuid::Uuid;

use super::ToolError;
use super::args::Filter;

/// The shape of one level of a filter.
pub enum Rule {
    /// An object with these keys.
    Fields(&'static [(&'static str, Rule)]),
    Value(Kind),
}

/// What a leaf accepts (`null` is always accepted, as by Prefect's models).
#[derive(Clone, Copy)]
pub enum Kind {
    /// `"and_"` or `"or_"`.
    Operator,
    Bool,
    Text,
    Texts,
    Uuids,
    /// A list of Prefect state types (`SCHEDULED`, `FAILED`, …).
    StateTypes,
    /// An ISO 8601 date or date-time, e.g. `2024-01-01T00:00:00Z` (no offset means UTC).
    Timestamp,
}

/// Prefect's state types, in the server's order.
const STATE_TYPES: &[&str] =
    &["SCHEDULED", "PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED", "CRASHED", "PAUSED", "CANCELLING"];

const OPERATOR: (&str, Rule) = ("operator", Rule::Value(Kind::Operator));

/// Prefect 3.9 `FlowFilter`.
pub const FLOW_FILTER: Rule = Rule::Fields(&[
    OPERATOR,
    ("id", Rule::Fields(&[("any_", Rule::Value(Kind::Uuids)), ("not_any_", Rule::Value(Kind::Uuids))])),
    ("deployment", Rule::Fields(&[OPERATOR, ("is_null_", Rule::Value(Kind::Bool))])),
    ("name", Rule::Fields(&[("any_", Rule::Value(Kind::Texts)), ("like_", Rule::Value(Kind::Text))])),
    ("tags", Rule::Fields(&[OPERATOR, ("all_", Rule::Value(Kind::Texts)), ("is_null_", Rule::Value(Kind::Bool))])),
]);

/// Automations: Prefect's `AutomationFilter` `id.any_` and `name.any_` (sent to the server),
/// plus `enabled.eq_`, which that model lacks and `get_automations` applies to the results.
/// Ids are checked by the tool itself, to point a caller who passed a name to `name.any_`.
pub const AUTOMATION_FILTER: Rule = Rule::Fields(&[
    ("id", Rule::Fields(&[("any_", Rule::Value(Kind::Texts))])),
    ("name", Rule::Fields(&[("any_", Rule::Value(Kind::Texts))])),
    ("enabled", Rule::Fields(&[("eq_", Rule::Value(Kind::Bool))])),
]);

/// Prefect 3.9 server `DeploymentFilter`. The deprecated `concurrency_limit` key is left
/// out on purpose: the server accepts it but ignores it, which would return unfiltered data.
pub const DEPLOYMENT_FILTER: Rule = Rule::Fields(&[
    OPERATOR,
    ("id", Rule::Fields(&[("any_", Rule::Value(Kind::Uuids)), ("not_any_", Rule::Value(Kind::Uuids))])),
    ("name", Rule::Fields(&[("any_", Rule::Value(Kind::Texts)), ("like_", Rule::Value(Kind::Text))])),
    ("flow_or_deployment_name", Rule::Fields(&[("like_", Rule::Value(Kind::Text))])),
    ("paused", Rule::Fields(&[("eq_", Rule::Value(Kind::Bool))])),
    (
        "tags",
        Rule::Fields(&[
            OPERATOR,
            ("all_", Rule::Value(Kind::Texts)),
            ("any_", Rule::Value(Kind::Texts)),
            ("is_null_", Rule::Value(Kind::Bool)),
        ]),
    ),
    ("work_queue_name", Rule::Fields(&[("any_", Rule::Value(Kind::Texts))])),
]);

/// Prefect 3.9 server `WorkPoolFilter` (names match exactly; there is no `like_`).
pub const WORK_POOL_FILTER: Rule = Rule::Fields(&[
    OPERATOR,
    ("id", Rule::Fields(&[("any_", Rule::Value(Kind::Uuids))])),
    ("name", Rule::Fields(&[("any_", Rule::Value(Kind::Texts))])),
    ("type", Rule::Fields(&[("any_", Rule::Value(Kind::Texts))])),
]);

/// Most ids a filter may name for a detail query.
const DETAIL_MAX_IDS: usize = 5;

/// The detail-mode rule shared by the list tools: `filter.id.any_` is a list of 1 to
/// [`DETAIL_MAX_IDS`] elements (other keys do not matter).
pub fn is_detail_query(filter: Option<&Map<String, Value>>) -> bool {
    let ids = filter.and_then(|f| f.get("id")).and_then(|id| id.get("any_")).and_then(Value::as_array);
    ids.is_some_and(|ids| (1..=DETAIL_MAX_IDS).contains(&ids.len()))
}

/// A tool's `filter` argument after checking: `None` when absent or `{}`.
pub fn checked(filter: Option<Filter>, rule: &Rule) -> Result<Option<Map<String, Value>>, ToolError> {
    let filter = filter.map(|f| f.0).filter(|f| !f.is_empty());
    if let Some(filter) = &filter {
        validate(filter, rule)?;
    }
    Ok(filter)
}

/// Checks `filter` against `rule`; the error names the offending path.
pub fn validate(filter: &Map<String, Value>, rule: &Rule) -> Result<(), ToolError> {
    check_fields(filter, rule, "").map_err(ToolError::InvalidArguments)
}

const UUIDS: Rule = Rule::Value(Kind::Uuids);
const TEXT: Rule = Rule::Value(Kind::Text);
const TEXTS: Rule = Rule::Value(Kind::Texts);
const BOOL: Rule = Rule::Value(Kind::Bool);
const STATE_TYPES_RULE: Rule = Rule::Value(Kind::StateTypes);
const TIMESTAMP: Rule = Rule::Value(Kind::Timestamp);
const TIME_RANGE: Rule = Rule::Fields(&[("before_", TIMESTAMP), ("after_", TIMESTAMP)]);
const TIME_RANGE_OR_NULL: Rule = Rule::Fields(&[("before_", TIMESTAMP), ("after_", TIMESTAMP), ("is_null_", BOOL)]);

/// Prefect 3.9 server-side `FlowRunFilter`.
pub const FLOW_RUN_FILTER: Rule = Rule::Fields(&[
    OPERATOR,
    ("id", Rule::Fields(&[("any_", UUIDS), ("not_any_", UUIDS)])),
    ("name", Rule::Fields(&[("any_", TEXTS), ("like_", TEXT)])),
    ("tags", Rule::Fields(&[OPERATOR, ("all_", TEXTS), ("any_", TEXTS), ("is_null_", BOOL)])),
    ("deployment_id", Rule::Fields(&[OPERATOR, ("any_", UUIDS), ("is_null_", BOOL)])),
    ("work_queue_name", Rule::Fields(&[OPERATOR, ("any_", TEXTS), ("is_null_", BOOL)])),
    (
        "state",
        Rule::Fields(&[
            OPERATOR,
            ("type", Rule::Fields(&[("any_", STATE_TYPES_RULE), ("not_any_", STATE_TYPES_RULE)])),
            ("name", Rule::Fields(&[("any_", TEXTS), ("not_any_", TEXTS)])),
        ]),
    ),
    ("flow_version", Rule::Fields(&[("any_", TEXTS)])),
    ("start_time", TIME_RANGE_OR_NULL),
    ("end_time", TIME_RANGE_OR_NULL),
    ("expected_start_time", TIME_RANGE),
    ("next_scheduled_start_time", TIME_RANGE),
    ("parent_flow_run_id", Rule::Fields(&[OPERATOR, ("any_", UUIDS)])),
    ("parent_task_run_id", Rule::Fields(&[OPERATOR, ("any_", UUIDS), ("is_null_", BOOL)])),
    ("idempotency_key", Rule::Fields(&[("any_", TEXTS), ("not_any_", TEXTS)])),
    ("created_by", Rule::Fields(&[OPERATOR, ("id_", UUIDS), ("type_", TEXTS), ("is_null_", BOOL)])),
]);

/// Prefect 3.9 server-side `TaskRunFilter`.
pub const TASK_RUN_FILTER: Rule = Rule::Fields(&[
    OPERATOR,
    ("id", Rule::Fields(&[("any_", UUIDS)])),
    ("name", Rule::Fields(&[("any_", TEXTS), ("like_", TEXT)])),
    ("tags", Rule::Fields(&[OPERATOR, ("all_", TEXTS), ("is_null_", BOOL)])),
    (
        "state",
        Rule::Fields(&[
            OPERATOR,
            ("type", Rule::Fields(&[("any_", STATE_TYPES_RULE)])),
            ("name", Rule::Fields(&[("any_", TEXTS)])),
        ]),
    ),
    ("start_time", TIME_RANGE_OR_NULL),
    ("end_time", TIME_RANGE_OR_NULL),
    ("expected_start_time", TIME_RANGE),
    ("subflow_runs", Rule::Fields(&[("exists_", BOOL)])),
    ("flow_run_id", Rule::Fields(&[OPERATOR, ("any_", UUIDS), ("is_null_", BOOL)])),
]);

fn check_fields(object: &Map<String, Value>, rule: &Rule, at: &str) -> Result<(), String> {
    let Rule::Fields(fields) = rule else {
        return Err(format!("`{at}` must be a value, not an object"));
    };
    for (key, value) in object {
        let path = if at.is_empty() { key.clone() } else { format!("{at}.{key}") };
        let Some((_, rule)) = fields.iter().find(|(name, _)| name == key) else {
            let allowed = fields.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ");
            let level = if at.is_empty() { String::new() } else { format!(" under `{at}`") };
            return Err(format!("unknown filter key `{path}`; allowed{level}: {allowed}"));
        };
        match (rule, value) {
            (_, Value::Null) => {}
            (Rule::Fields(_), Value::Object(inner)) => check_fields(inner, rule, &path)?,
            (Rule::Fields(fields), _) => {
                let keys = fields.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ");
                return Err(format!("`{path}` must be an object with any of: {keys}"));
            }
            (Rule::Value(kind), value) => check_value(*kind, value, &path)?,
        }
    }
    Ok(())
}

fn check_value(kind: Kind, value: &Value, path: &str) -> Result<(), String> {
    let texts = |value: &Value| value.as_array().filter(|items| items.iter().all(Value::is_string)).is_some();
    match kind {
        Kind::Operator if matches!(value.as_str(), Some("and_" | "or_")) => Ok(()),
        Kind::Operator => Err(format!("`{path}` must be \"and_\" or \"or_\"")),
        Kind::Bool if value.is_boolean() => Ok(()),
        Kind::Bool => Err(format!("`{path}` must be true or false")),
        Kind::Text if value.is_string() => Ok(()),
        Kind::Text => Err(format!("`{path}` must be a string")),
        Kind::Texts if texts(value) => Ok(()),
        Kind::Texts => Err(format!("`{path}` must be a list of strings")),
        Kind::Uuids => {
            let items = value.as_array().ok_or_else(|| format!("`{path}` must be a list of UUIDs"))?;
            for (index, item) in items.iter().enumerate() {
                let valid = item.as_str().is_some_and(|s| Uuid::parse_str(s).is_ok());
                if !valid {
                    return Err(format!("`{path}` item {index} ({item}) is not a valid UUID"));
                }
            }
            Ok(())
        }
        Kind::StateTypes => {
            let items = value.as_array().ok_or_else(|| format!("`{path}` must be a list of state types"))?;
            for (index, item) in items.iter().enumerate() {
                if !item.as_str().is_some_and(|s| STATE_TYPES.contains(&s)) {
                    return Err(format!(
                        "`{path}` item {index} ({item}) is not a state type; expected one of: {}",
                        STATE_TYPES.join(", ")
                    ));
                }
            }
            Ok(())
        }
        Kind::Timestamp if value.as_str().is_some_and(is_iso_timestamp) => Ok(()),
        Kind::Timestamp => Err(format!(
            "`{path}` ({value}) is not an ISO 8601 timestamp; use e.g. \"2024-01-01T00:00:00Z\" or \"2024-01-01\""
        )),
    }
}

/// `YYYY-MM-DD`, optionally followed by `T` or a space and `HH:MM[:SS[.fraction]]`, and an
/// optional `Z` or `±HH:MM` offset: the forms Prefect's server parses the same way on every
/// Python version.
fn is_iso_timestamp(raw: &str) -> bool {
    use time::macros::format_description;
    use time::{Date, Time, UtcOffset};
    let Some((date, rest)) = raw.split_at_checked(10) else {
        return false;
    };
    if Date::parse(date, format_description!("[year]-[month]-[day]")).is_err() {
        return false;
    }
    if rest.is_empty() {
        return true;
    }
    let Some(time_part) = rest.strip_prefix(['T', 't', ' ']) else {
        return false;
    };
    let (clock, offset) = time_part.split_at(time_part.find(['Z', 'z', '+', '-']).unwrap_or(time_part.len()));
    let clock_ok = Time::parse(clock, format_description!("[hour]:[minute]")).is_ok()
        || Time::parse(clock, format_description!("[hour]:[minute]:[second]")).is_ok()
        || Time::parse(clock, format_description!("[hour]:[minute]:[second].[subsecond]")).is_ok();
    let offset_ok = matches!(offset, "" | "Z" | "z")
        || UtcOffset::parse(offset, format_description!("[offset_hour]:[offset_minute]")).is_ok()
        || UtcOffset::parse(offset, format_description!("[offset_hour][offset_minute]")).is_ok();
    clock_ok && offset_ok
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(filter: Value) -> Result<(), String> {
        validate(filter.as_object().unwrap(), &FLOW_FILTER).map_err(|e| e.to_string())
    }

    #[test]
    fn accepts_the_server_model() {
        check(json!({"name": {"like_": "etl-"}, "tags": {"all_": ["prod"], "operator": "or_"},
                     "deployment": {"is_null_": true}, "id": {"any_": ["0a4f9d2e-0000-4000-8000-000000000000"]},
                     "operator": "and_"}))
        .unwrap();
        check(json!({"name": null})).unwrap();
    }

    #[test]
    fn unknown_keys_are_named_with_the_allowed_ones() {
        assert_eq!(
            check(json!({"name": {"like": "etl-%"}})).unwrap_err(),
            "unknown filter key `name.like`; allowed under `name`: any_, like_"
        );
        assert_eq!(
            check(json!({"bogus": {}})).unwrap_err(),
            "unknown filter key `bogus`; allowed: operator, id, deployment, name, tags"
        );
    }

    #[test]
    fn automation_filter_allows_ids_names_and_enabled_only() {
        let check =
            |filter: Value| validate(filter.as_object().unwrap(), &AUTOMATION_FILTER).map_err(|e| e.to_string());
        check(json!({"id": {"any_": ["x"]}, "name": {"any_": ["a"]}, "enabled": {"eq_": false}})).unwrap();
        assert_eq!(
            check(json!({"tags": {"any_": ["a"]}})).unwrap_err(),
            "unknown filter key `tags`; allowed: id, name, enabled"
        );
        assert_eq!(check(json!({"enabled": {"eq_": "yes"}})).unwrap_err(), "`enabled.eq_` must be true or false");
        assert_eq!(
            check(json!({"name": {"like_": "a"}})).unwrap_err(),
            "unknown filter key `name.like_`; allowed under `name`: any_"
        );
    }

    #[test]
    fn deployment_filter_supports_paused_and_rejects_the_ignored_concurrency_limit() {
        let filter = json!({"paused": {"eq_": true}, "tags": {"any_": ["etl"], "operator": "or_"},
                            "flow_or_deployment_name": {"like_": "etl"}, "work_queue_name": {"any_": ["q"]}});
        validate(filter.as_object().unwrap(), &DEPLOYMENT_FILTER).unwrap();
        let check = |filter: Value| {
            validate(filter.as_object().unwrap(), &DEPLOYMENT_FILTER).map_err(|e| e.to_string()).unwrap_err()
        };
        let err = check(json!({"concurrency_limit": {"ge_": 1}}));
        assert!(err.starts_with("unknown filter key `concurrency_limit`"), "{err}");
        let err = check(json!({"paused": {"ne_": true}}));
        assert_eq!(err, "unknown filter key `paused.ne_`; allowed under `paused`: eq_");
        let err = check(json!({"paused": {"eq_": "yes"}}));
        assert_eq!(err, "`paused.eq_` must be true or false");
    }

    #[test]
    fn work_pool_filter_rejects_like_and_status() {
        let check = |f: Value| validate(f.as_object().unwrap(), &WORK_POOL_FILTER);
        check(json!({"type": {"any_": ["process"]}, "name": {"any_": ["a"]}, "operator": "or_"})).unwrap();
        assert_eq!(
            check(json!({"name": {"like_": "prod-%"}})).unwrap_err().to_string(),
            "unknown filter key `name.like_`; allowed under `name`: any_"
        );
        assert_eq!(
            check(json!({"status": {"any_": ["READY"]}})).unwrap_err().to_string(),
            "unknown filter key `status`; allowed: operator, id, name, type"
        );
    }

    #[test]
    fn detail_queries_name_one_to_five_ids() {
        let detail = |f: Value| is_detail_query(f.as_object());
        assert!(detail(json!({"id": {"any_": ["a"]}, "name": {"any_": ["x"]}})));
        assert!(detail(json!({"id": {"any_": ["a", "b", "c", "d", "e"]}})));
        assert!(!detail(json!({"id": {"any_": ["a", "b", "c", "d", "e", "f"]}})));
        assert!(!detail(json!({"id": {"any_": []}})));
        assert!(!detail(json!({"id": {"any_": "a"}})));
        assert!(!detail(json!({"name": {"any_": ["a"]}})));
        assert!(!detail(json!({})));
        assert!(!is_detail_query(None));
    }

    #[test]
    fn wrong_values_name_the_path() {
        assert_eq!(
            check(json!({"id": {"any_": ["nope"]}})).unwrap_err(),
            "`id.any_` item 0 (\"nope\") is not a valid UUID"
        );
        assert_eq!(check(json!({"tags": {"all_": "prod"}})).unwrap_err(), "`tags.all_` must be a list of strings");
        assert_eq!(check(json!({"name": "etl"})).unwrap_err(), "`name` must be an object with any of: any_, like_");
        assert_eq!(check(json!({"operator": "xor"})).unwrap_err(), "`operator` must be \"and_\" or \"or_\"");
    }

    #[test]
    fn flow_run_filter_follows_the_server_model() {
        let check = |filter: Value| validate(filter.as_object().unwrap(), &FLOW_RUN_FILTER);
        check(json!({"state": {"type": {"any_": ["FAILED", "CRASHED"]}, "name": {"not_any_": ["Late"]}, "operator": "or_"},
                     "deployment_id": {"is_null_": false}, "tags": {"all_": ["prod"], "any_": ["a"]},
                     "start_time": {"after_": "2024-01-01T00:00:00Z", "before_": "2024-02-01", "is_null_": false},
                     "end_time": {"after_": "2024-01-01 10:00:00.123456+02:00"},
                     "expected_start_time": {"before_": "2024-01-01T10:00"},
                     "created_by": {"type_": ["DEPLOYMENT"], "id_": ["0a4f9d2e-0000-4000-8000-000000000000"]},
                     "parent_task_run_id": {"is_null_": true}, "idempotency_key": {"not_any_": ["k"]}}))
        .unwrap();
        assert_eq!(
            check(json!({"state": {"type": {"any_": ["EXPLODED"]}}})).unwrap_err().to_string(),
            "`state.type.any_` item 0 (\"EXPLODED\") is not a state type; expected one of: SCHEDULED, PENDING, \
             RUNNING, COMPLETED, FAILED, CANCELLED, CRASHED, PAUSED, CANCELLING"
        );
        assert!(
            check(json!({"start_time": {"after_": "yesterday"}}))
                .unwrap_err()
                .to_string()
                .starts_with("`start_time.after_` (\"yesterday\") is not an ISO 8601 timestamp")
        );
        assert_eq!(
            check(json!({"start_time": {"gt_": "2024-01-01"}})).unwrap_err().to_string(),
            "unknown filter key `start_time.gt_`; allowed under `start_time`: before_, after_, is_null_"
        );
        assert!(
            check(json!({"state": {"kind": "FAILED"}}))
                .unwrap_err()
                .to_string()
                .starts_with("unknown filter key `state.kind`")
        );
        assert!(check(json!({"expected_start_time": {"is_null_": true}})).is_err());
    }

    #[test]
    fn task_run_filter_follows_the_server_model() {
        let check = |filter: Value| validate(filter.as_object().unwrap(), &TASK_RUN_FILTER);
        check(json!({"state": {"type": {"any_": ["RUNNING"]}, "name": {"any_": ["Retrying"]}}, "subflow_runs": {"exists_": true},
                     "flow_run_id": {"any_": ["0a4f9d2e-0000-4000-8000-000000000000"], "is_null_": false, "operator": "and_"},
                     "expected_start_time": {"after_": "2024-01-01"}, "tags": {"all_": ["x"]}, "name": {"like_": "fetch"}}))
        .unwrap();
        assert!(
            check(json!({"state": {"kind": "FAILED"}}))
                .unwrap_err()
                .to_string()
                .starts_with("unknown filter key `state.kind`; allowed under `state`: operator, type, name")
        );
        assert!(
            check(json!({"state": {"type": {"not_any_": ["FAILED"]}}}))
                .unwrap_err()
                .to_string()
                .contains("`state.type.not_any_`")
        );
        assert!(check(json!({"id": {"any_": ["x"]}})).unwrap_err().to_string().contains("not a valid UUID"));
    }

    #[test]
    fn timestamps_in_the_forms_every_server_parses() {
        for good in [
            "2024-01-01",
            "2024-01-01T00:00:00Z",
            "2024-01-01T00:00",
            "2024-01-01 10:00:00.5",
            "2024-01-01T10:00:00-0530",
            "2024-12-31T23:59:59.999999+00:00",
        ] {
            assert!(is_iso_timestamp(good), "{good}");
        }
        for bad in [
            "yesterday",
            "2024-1-1",
            "2024-01-01T",
            "2024-01-01T25:00",
            "2024-13-01",
            "2024-01-01X10:00",
            "2024-01-01T10:00+5",
            "",
            "2024-01-01é",
        ] {
            assert!(!is_iso_timestamp(bad), "{bad}");
        }
    }
}
