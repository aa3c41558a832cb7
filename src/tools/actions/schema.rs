//! Checks values against the JSON Schemas Prefect keeps (a deployment's parameters, a paused
//! run's input) before anything is sent, the way Prefect's server checks them: Draft 2020-12
//! after the same adjustments to the schemas its flows generate. One stricter rule: a name
//! the schema does not know is refused, since the flow function would reject it only when
//! the run starts.

use serde_json::{Map, Value, json};

/// Prefect's placeholder for a value it fills in itself (a workspace variable, a Jinja
/// template, JSON text) when the run is created.
const PLACEHOLDER_KEY: &str = "__prefect_kind";
/// How many problems a refusal lists.
const MAX_PROBLEMS: usize = 8;

/// Every problem of `values` under `schema`, as `<name>: <what is wrong>` lines; empty when
/// they fit.
pub fn problems(schema: &Value, values: &Map<String, Value>) -> Vec<String> {
    let mut problems = Vec::new();
    let properties = schema.get("properties").and_then(Value::as_object);
    if let Some(properties) = properties.filter(|_| schema.get("additionalProperties").is_none()) {
        let known = || properties.keys().map(String::as_str).collect::<Vec<_>>().join(", ");
        for name in values.keys().filter(|name| !properties.contains_key(*name)) {
            problems.push(format!("{name}: not a parameter of this flow (it takes: {})", known()));
        }
    }
    // What Prefect fills in is checked by Prefect, once filled in.
    let checked: Map<String, Value> =
        values.iter().filter(|(_, v)| !is_placeholder(v)).map(|(k, v)| (k.clone(), v.clone())).collect();
    let mut prepared = prepare(schema);
    if let Some(required) = prepared.get_mut("required").and_then(Value::as_array_mut) {
        required.retain(|name| name.as_str().is_none_or(|n| checked.contains_key(n) || !values.contains_key(n)));
    }
    match jsonschema::validator_for(&prepared) {
        Ok(validator) => {
            let instance = Value::Object(checked);
            for error in validator.iter_errors(&instance) {
                let at = error.instance_path().to_string();
                let name = at.trim_start_matches('/').replace('/', ".");
                problems.push(if name.is_empty() { error.to_string() } else { format!("{name}: {error}") });
            }
        }
        Err(error) => problems.push(format!("the schema itself is not valid JSON Schema ({error})")),
    }
    problems.truncate(MAX_PROBLEMS);
    problems
}

fn is_placeholder(value: &Value) -> bool {
    value.as_object().is_some_and(|object| object.contains_key(PLACEHOLDER_KEY))
}

/// Prefect's adjustments: an optional property without a default also accepts null, a
/// tuple's `items` list is `prefixItems`, and a block may be given by reference.
fn prepare(schema: &Value) -> Value {
    let mut prepared = schema.clone();
    let Some(object) = prepared.as_object_mut() else { return prepared };
    allow_null_for_optional(object);
    if let Some(definitions) = object.get_mut("definitions").and_then(Value::as_object_mut) {
        let mut by_reference = Vec::new();
        for definition in definitions.values_mut().filter_map(Value::as_object_mut) {
            allow_null_for_optional(definition);
            if definition.contains_key("block_type_slug")
                && let Some(title) = definition.get("title").and_then(Value::as_str)
            {
                by_reference.push((title.to_owned(), Value::Object(definition.clone())));
            }
        }
        for (title, definition) in by_reference {
            let reference = json!({
                "type": "object",
                "properties": {"$ref": {"oneOf": [
                    {"type": "string", "format": "uuid"},
                    {"type": "object", "additionalProperties": {"type": "string"}, "minProperties": 1}
                ]}},
                "required": ["$ref"]
            });
            definitions.insert(title, json!({"oneOf": [definition, reference]}));
        }
    }
    prepared
}

fn allow_null_for_optional(schema: &mut Map<String, Value>) {
    let required: Vec<String> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) else { return };
    for (name, property) in properties.iter_mut() {
        let Some(property) = property.as_object_mut() else { continue };
        let optional_without_default = !required.contains(name) && !property.contains_key("default");
        if let Some(kind) = property.get("type").filter(|kind| optional_without_default && *kind != "null").cloned() {
            property.remove("type");
            property.insert("anyOf".into(), json!([{"type": kind}, {"type": "null"}]));
        }
        if let Some(Value::Array(items)) = property.get("items").cloned()
            && !property.contains_key("prefixItems")
        {
            property.remove("items");
            property.insert("prefixItems".into(), Value::Array(items));
        }
        allow_null_for_optional(property);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape Prefect generates for `def f(source: str, batches: int = 2, when: Optional[datetime] = None,
    /// creds: SecretBlock)`.
    fn schema() -> Value {
        json!({
            "title": "Parameters", "type": "object",
            "properties": {
                "source": {"title": "source", "position": 0, "type": "string"},
                "batches": {"title": "batches", "position": 1, "type": "integer", "default": 2},
                "limit": {"title": "limit", "position": 2, "type": "integer"},
                "creds": {"title": "creds", "position": 3, "allOf": [{"$ref": "#/definitions/Secret"}]}
            },
            "required": ["source"],
            "definitions": {"Secret": {"title": "Secret", "type": "object", "block_type_slug": "secret",
                                       "properties": {"value": {"type": "string"}}, "required": ["value"]}}
        })
    }

    fn check(values: Value) -> Vec<String> {
        problems(&schema(), values.as_object().unwrap())
    }

    #[test]
    fn fitting_values_pass_as_prefect_would_let_them() {
        assert!(check(json!({"source": "s3://x"})).is_empty());
        // Optional without a default accepts null; a block by reference; a placeholder is Prefect's to fill.
        let fine = json!({"source": {"__prefect_kind": "workspace_variable", "variable_name": "src"}, "limit": null,
                          "creds": {"$ref": {"block_document_id": "0e6b1c8e-0000-4000-8000-000000000000"}}});
        assert_eq!(check(fine), Vec::<String>::new());
    }

    #[test]
    fn problems_name_the_parameter() {
        let problems = check(json!({"batches": "two", "colour": 1}));
        assert!(
            problems.iter().any(
                |p| p.starts_with("colour: not a parameter of this flow (it takes: source, batches, limit, creds)")
            ),
            "{problems:?}"
        );
        assert!(problems.iter().any(|p| p.starts_with("batches: ") && p.contains("integer")), "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("\"source\" is a required property")), "{problems:?}");
        assert!(
            !check(json!({"source": "x", "batches": null})).is_empty(),
            "an optional with a default is not nullable"
        );
    }

    #[test]
    fn a_schema_that_allows_more_names_allows_them() {
        let mut open = schema();
        open["additionalProperties"] = json!(true);
        assert!(problems(&open, json!({"source": "x", "extra": 1}).as_object().unwrap()).is_empty());
    }
}
