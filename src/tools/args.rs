//! Argument types shared by the tools, and argument parsing with precise errors.
//!
//! Each tool declares a `Params` struct (serde + schemars): the same type produces the
//! advertised `inputSchema` and parses the call, so the two cannot drift apart.

use std::borrow::Cow;
use std::fmt;

use rmcp::model::JsonObject;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::ToolError;
use crate::prefect::DeploymentRef;

/// Parses tool arguments; `None` (omitted or `null`) means `{}`. The error names the
/// argument and the reason, e.g. "limit: expected an integer from 1 to 200, got 201".
pub fn parse<P: DeserializeOwned>(arguments: Option<JsonObject>) -> Result<P, String> {
    let arguments = arguments.unwrap_or_default();
    for (name, value) in &arguments {
        check_size(name, value)?;
    }
    let value = Value::Object(arguments);
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner().to_string();
        if path == "." { inner } else { format!("{path}: {inner}") }
    })
}

/// Longest string accepted anywhere in an argument (ids, names, dates, queries).
const MAX_STRING_CHARS: usize = 4096;
/// Most JSON values (objects, arrays, scalars) in one argument, e.g. a filter.
const MAX_NODES: usize = 200;
/// Deepest nesting of objects and arrays in one argument.
const MAX_DEPTH: usize = 8;

/// Refuses arguments too large to be a real query, before any parsing or request.
fn check_size(name: &str, value: &Value) -> Result<(), String> {
    let (mut nodes, mut stack) = (0usize, vec![(value, 0usize)]);
    while let Some((value, depth)) = stack.pop() {
        nodes += 1;
        if nodes > MAX_NODES {
            return Err(format!("{name}: too large (more than {MAX_NODES} values)"));
        }
        if depth > MAX_DEPTH {
            return Err(format!("{name}: nested deeper than {MAX_DEPTH} levels"));
        }
        match value {
            Value::String(s) if s.chars().count() > MAX_STRING_CHARS => {
                return Err(format!("{name}: a string longer than {MAX_STRING_CHARS} characters"));
            }
            Value::Array(items) => stack.extend(items.iter().map(|v| (v, depth + 1))),
            Value::Object(map) => {
                for (key, v) in map {
                    if key.chars().count() > MAX_STRING_CHARS {
                        return Err(format!("{name}: a key longer than {MAX_STRING_CHARS} characters"));
                    }
                    stack.push((v, depth + 1));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// A result-count argument: an integer in `MIN..=MAX`, `DEFAULT` when omitted. Like the
/// reference it also takes integral floats (`2.0`) and numeric strings (`"3"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit<const MIN: u32, const MAX: u32, const DEFAULT: u32>(pub u32);

impl<const MIN: u32, const MAX: u32, const DEFAULT: u32> Limit<MIN, MAX, DEFAULT> {
    pub fn get(self) -> u32 {
        self.0
    }

    fn check(value: f64) -> Option<Self> {
        (value.fract() == 0.0 && value >= f64::from(MIN) && value <= f64::from(MAX)).then_some(Limit(value as u32))
    }
}

impl<const MIN: u32, const MAX: u32, const DEFAULT: u32> Default for Limit<MIN, MAX, DEFAULT> {
    fn default() -> Self {
        Limit(DEFAULT)
    }
}

impl<const MIN: u32, const MAX: u32, const DEFAULT: u32> Serialize for Limit<MIN, MAX, DEFAULT> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u32(self.0)
    }
}

impl<'de, const MIN: u32, const MAX: u32, const DEFAULT: u32> Deserialize<'de> for Limit<MIN, MAX, DEFAULT> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LimitVisitor<const MIN: u32, const MAX: u32, const DEFAULT: u32>;

        impl<const MIN: u32, const MAX: u32, const DEFAULT: u32> LimitVisitor<MIN, MAX, DEFAULT> {
            fn out_of_range<E: de::Error>(got: impl fmt::Display) -> E {
                E::custom(format!("expected an integer from {MIN} to {MAX}, got {got}"))
            }
        }

        impl<const MIN: u32, const MAX: u32, const DEFAULT: u32> Visitor<'_> for LimitVisitor<MIN, MAX, DEFAULT> {
            type Value = Limit<MIN, MAX, DEFAULT>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "an integer from {MIN} to {MAX}")
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Limit::check(v as f64).ok_or_else(|| Self::out_of_range(v))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Limit::check(v as f64).ok_or_else(|| Self::out_of_range(v))
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Limit::check(v).ok_or_else(|| Self::out_of_range(v))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                let parsed: f64 = v.trim().parse().map_err(|_| Self::out_of_range(format!("{v:?}")))?;
                self.visit_f64(parsed)
            }
        }

        deserializer.deserialize_any(LimitVisitor::<MIN, MAX, DEFAULT>)
    }
}

impl<const MIN: u32, const MAX: u32, const DEFAULT: u32> JsonSchema for Limit<MIN, MAX, DEFAULT> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        format!("Limit_{MIN}_{MAX}_{DEFAULT}").into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "integer", "minimum": MIN, "maximum": MAX, "default": DEFAULT})
    }
}

/// A Prefect Cloud workspace to read from: its id, or its `<account-handle>/<workspace-handle>`
/// (resolved by listing the workspaces the API key reaches).
#[derive(Debug, Clone, PartialEq, Eq, JsonSchema)]
#[schemars(
    inline,
    with = "String",
    description = "Prefect Cloud only: another workspace the API key reaches, as its UUID or as <account-handle>/<workspace-handle> (list_workspaces shows both). Omit to use the workspace of the configured API URL."
)]
pub enum WorkspaceId {
    Id(Uuid),
    Handles { account: String, workspace: String },
}

impl WorkspaceId {
    fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        if let Ok(id) = Uuid::parse_str(raw) {
            return Some(WorkspaceId::Id(id));
        }
        // Cloud handles are slugs; anything else cannot name a workspace (nor bend a URL).
        let slug = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        let (account, workspace) = raw.split_once('/')?;
        (slug(account) && slug(workspace))
            .then(|| WorkspaceId::Handles { account: account.to_owned(), workspace: workspace.to_owned() })
    }
}

impl fmt::Display for WorkspaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkspaceId::Id(id) => id.fmt(f),
            WorkspaceId::Handles { account, workspace } => write!(f, "{account}/{workspace}"),
        }
    }
}

/// The id of a Prefect object, checked to be a UUID before it goes into any URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Id(pub Uuid);

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for Id {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Uuid::parse_str(raw.trim()).map(Id).map_err(|_| de::Error::custom(format!("expected a UUID, got {raw:?}")))
    }
}

impl JsonSchema for Id {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "Id".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "format": "uuid"})
    }
}

impl<'de> Deserialize<'de> for WorkspaceId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        WorkspaceId::parse(&raw).ok_or_else(|| {
            de::Error::custom(format!("expected a workspace UUID or <account-handle>/<workspace-handle>, got {raw:?}"))
        })
    }
}

/// The deployment a tool's `deployment_id` (already checked) or `deployment_name`
/// (`<flow>/<deployment>`) names: exactly one of the two.
pub fn deployment_ref(id: Option<String>, name: Option<&str>) -> Result<DeploymentRef, ToolError> {
    let invalid = |reason: String| Err(ToolError::InvalidArguments(reason));
    match (id, name) {
        (Some(id), None) => Ok(DeploymentRef::Id(id)),
        (None, Some(name)) => match name.trim().split_once('/') {
            Some((flow, deployment)) if !flow.is_empty() && !deployment.is_empty() && !deployment.contains('/') => {
                Ok(DeploymentRef::Name { flow: flow.to_owned(), deployment: deployment.to_owned() })
            }
            _ => invalid(format!(
                "deployment_name {name:?} is not \"<flow>/<deployment>\"; get_deployments shows each deployment's slug"
            )),
        },
        (Some(_), Some(_)) => invalid("give either deployment_id or deployment_name, not both".into()),
        (None, None) => invalid("give deployment_id (UUID) or deployment_name (\"<flow>/<deployment>\")".into()),
    }
}

/// A Prefect filter object, forwarded to the server after validation (see `filter`).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[schemars(inline)]
pub struct Filter(pub Map<String, Value>);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Params {
        #[serde(default)]
        workspace_id: Option<WorkspaceId>,
        #[serde(default)]
        limit: Limit<1, 200, 50>,
    }

    fn call(args: Value) -> Result<Params, String> {
        parse(match args {
            Value::Object(map) => Some(map),
            _ => None,
        })
    }

    #[test]
    fn defaults_and_lax_integers() {
        assert_eq!(call(Value::Null).unwrap().limit.get(), 50);
        assert_eq!(call(json!({"limit": 2.0})).unwrap().limit.get(), 2);
        assert_eq!(call(json!({"limit": "3"})).unwrap().limit.get(), 3);
        assert!(call(json!({"workspace_id": null})).unwrap().workspace_id.is_none());
    }

    #[test]
    fn errors_name_the_argument_and_reason() {
        assert_eq!(call(json!({"limit": 201})).unwrap_err(), "limit: expected an integer from 1 to 200, got 201");
        assert_eq!(call(json!({"limit": 0})).unwrap_err(), "limit: expected an integer from 1 to 200, got 0");
        assert_eq!(call(json!({"limit": 2.5})).unwrap_err(), "limit: expected an integer from 1 to 200, got 2.5");
        let unknown = call(json!({"foo": 1})).unwrap_err();
        assert!(unknown.contains("unknown field `foo`") && unknown.contains("`limit`"), "{unknown}");
        for bad in ["not-a-uuid", "a/b/c", "acme/", "/prod", "acme/../x", "acme/p%2Fx"] {
            let error = call(json!({"workspace_id": bad})).unwrap_err();
            assert!(error.starts_with("workspace_id: expected a workspace UUID or <account-handle>/"), "{error}");
        }
    }

    #[test]
    fn schema_is_closed_and_bounded() {
        let schema = rmcp::handler::server::tool::schema_for_input::<Params>().unwrap();
        assert_eq!(schema["additionalProperties"], json!(false));
        assert_eq!(
            schema["properties"]["limit"],
            json!({"type": "integer", "minimum": 1, "maximum": 200, "default": 50})
        );
        // Handles are not UUIDs, so the schema must not claim that format.
        assert_eq!(schema["properties"]["workspace_id"].get("format"), None);
    }

    #[test]
    fn workspace_id_is_a_uuid_or_two_handles() {
        let id = "5f3b3c1e-8f7a-4c2e-9d7b-1a2b3c4d5e6f";
        let parsed = call(json!({"workspace_id": id})).unwrap().workspace_id.unwrap();
        assert_eq!(parsed, WorkspaceId::Id(Uuid::parse_str(id).unwrap()));
        let parsed = call(json!({"workspace_id": " acme-data/prod_1 "})).unwrap().workspace_id.unwrap();
        assert_eq!(parsed, WorkspaceId::Handles { account: "acme-data".into(), workspace: "prod_1".into() });
        assert_eq!(parsed.to_string(), "acme-data/prod_1");
    }
}
