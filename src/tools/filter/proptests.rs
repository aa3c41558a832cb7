//! Property tests for filter validation: arbitrary JSON never panics [`checked`]; whatever
//! it accepts has only keys and values its rule allows (checked here independently); and
//! every filter built from a rule is accepted and forwarded unchanged.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::*;
use crate::tools::args::Filter;

const RULES: &[(&str, &Rule)] = &[
    ("flow", &FLOW_FILTER),
    ("flow run", &FLOW_RUN_FILTER),
    ("task run", &TASK_RUN_FILTER),
    ("deployment", &DEPLOYMENT_FILTER),
    ("work pool", &WORK_POOL_FILTER),
    ("automation", &AUTOMATION_FILTER),
];

const UUID: &str = "0a4f9d2e-0000-4000-8000-000000000000";
const TIMESTAMPS: &[&str] = &["2024-01-01", "2024-01-01T00:00:00Z", "2024-06-30 10:00:00.5+02:00", "2024-01-01T10:00"];

/// Every key any rule knows, so that random filters hit real paths often.
fn known_keys() -> Vec<&'static str> {
    fn walk(rule: &Rule, keys: &mut Vec<&'static str>) {
        if let Rule::Fields(fields) = rule {
            for (name, inner) in *fields {
                keys.push(name);
                walk(inner, keys);
            }
        }
    }
    let mut keys = Vec::new();
    for (_, rule) in RULES {
        walk(rule, &mut keys);
    }
    keys.sort_unstable();
    keys.dedup();
    keys
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![4 => prop::sample::select(known_keys()).prop_map(String::from), 1 => "\\PC{0,10}"]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        prop::sample::select(&["and_", "or_", "xor_", UUID, "FAILED", "EXPLODED", "2024-01-01", "yesterday", ""][..])
            .prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..5).prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

/// An independent reading of the rules: whether `filter` only uses what `rule` allows.
fn conforms(value: &Value, rule: &Rule) -> bool {
    match (rule, value) {
        (_, Value::Null) => true,
        (Rule::Fields(fields), Value::Object(map)) => map
            .iter()
            .all(|(key, v)| fields.iter().find(|(name, _)| name == key).is_some_and(|(_, inner)| conforms(v, inner))),
        (Rule::Fields(_), _) => false,
        (Rule::Value(kind), v) => {
            let strings = |check: &dyn Fn(&str) -> bool| {
                v.as_array().is_some_and(|items| items.iter().all(|i| i.as_str().is_some_and(check)))
            };
            match kind {
                Kind::Operator => matches!(v.as_str(), Some("and_" | "or_")),
                Kind::Bool => v.is_boolean(),
                Kind::Text | Kind::Timestamp => v.is_string(),
                Kind::Texts => strings(&|_| true),
                Kind::Uuids => strings(&|s| uuid::Uuid::parse_str(s).is_ok()),
                Kind::StateTypes => strings(&|s| STATE_TYPES.contains(&s)),
            }
        }
    }
}

/// A filter that follows `rule`: some of its fields, each with a valid value.
fn valid_for(rule: &'static Rule) -> BoxedStrategy<Value> {
    match rule {
        Rule::Fields(fields) => {
            let parts: Vec<BoxedStrategy<Option<(String, Value)>>> = fields
                .iter()
                .map(|(name, inner)| {
                    prop::option::of(valid_for(inner).prop_map(move |v| (name.to_string(), v))).boxed()
                })
                .collect();
            parts.prop_map(|entries| Value::Object(entries.into_iter().flatten().collect::<Map<_, _>>())).boxed()
        }
        Rule::Value(kind) => match kind {
            Kind::Operator => prop::sample::select(&["and_", "or_"][..]).prop_map(Value::from).boxed(),
            Kind::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
            Kind::Text => "\\PC{0,16}".prop_map(Value::String).boxed(),
            Kind::Timestamp => prop::sample::select(TIMESTAMPS).prop_map(Value::from).boxed(),
            Kind::Texts => prop::collection::vec("\\PC{0,8}", 0..4).prop_map(|v| json!(v)).boxed(),
            Kind::Uuids => prop::collection::vec(Just(UUID), 0..4).prop_map(|v| json!(v)).boxed(),
            Kind::StateTypes => {
                prop::collection::vec(prop::sample::select(STATE_TYPES), 0..4).prop_map(|v| json!(v)).boxed()
            }
        },
    }
}

fn config() -> ProptestConfig {
    ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_filters_never_panic_and_accepted_ones_conform(
        value in prop::collection::vec((key(), json_value()), 0..6).prop_map(|p| p.into_iter().collect::<Map<_, _>>()),
    ) {
        for (name, rule) in RULES {
            match checked(Some(Filter(value.clone())), rule) {
                Ok(None) => prop_assert!(value.is_empty()),
                Ok(Some(accepted)) => {
                    prop_assert_eq!(&accepted, &value, "{} filter changed", name);
                    prop_assert!(conforms(&Value::Object(accepted), rule), "{} filter accepted {}", name, Value::Object(value.clone()));
                }
                Err(error) => {
                    let message = error.to_string();
                    prop_assert!(message.starts_with("unknown filter key `") || message.starts_with('`'), "{}", message);
                    prop_assert!(!conforms(&Value::Object(value.clone()), rule) || message.contains("ISO 8601"), "{} filter refused a conforming one: {}", name, message);
                }
            }
        }
    }

    #[test]
    fn filters_built_from_each_rule_are_accepted_unchanged(
        filters in RULES.iter().map(|(_, rule)| valid_for(rule)).collect::<Vec<_>>(),
    ) {
        for ((name, rule), filter) in RULES.iter().zip(filters) {
            let map = filter.as_object().cloned().expect("an object");
            let accepted = checked(Some(Filter(map.clone())), rule).map_err(|e| TestCaseError::fail(format!("{name}: {e}")))?;
            prop_assert_eq!(accepted, Some(map).filter(|m| !m.is_empty()));
        }
    }
}
