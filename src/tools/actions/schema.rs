//! Checks values against the JSON Schemas Prefect keeps (a deployment's parameters, a paused
//! run's input) before anything is sent, after the same adjustments Prefect's server makes
//! to the schemas its flows generate. One stricter rule: a name the schema does not know is
//! refused, since the flow function would reject it only when the run starts.
//!
//! The keywords checked are those Prefect generates from Python type hints: `type`, `enum`,
//! `const`, `required`, `properties`, `additionalProperties`, `items`, `prefixItems`,
//! `anyOf`/`oneOf`/`allOf`, local `$ref`, numeric and length bounds. `pattern` and `format`
//! are left to Prefect, which checks them again when the run is created. (The `jsonschema`
//! crate checks everything, but more than doubled the Worker's wasm; see BENCHMARKS.md.)

use serde_json::{Map, Value, json};

/// Prefect's placeholder for a value it fills in itself (a workspace variable, a Jinja
/// template, JSON text) when the run is created.
const PLACEHOLDER_KEY: &str = "__prefect_kind";
/// How many problems a refusal lists.
const MAX_PROBLEMS: usize = 8;
/// How deep `$ref`s may lead: a self-referencing model ends here instead of looping.
const MAX_DEPTH: usize = 32;

/// Every problem of `values` under `schema`, as `<name>: <what is wrong>` lines; empty when
/// they fit.
pub fn problems(schema: &Value, values: &Map<String, Value>) -> Vec<String> {
    let prepared = prepare(schema);
    let mut problems = Vec::new();
    let properties = prepared.get("properties").and_then(Value::as_object);
    if let Some(properties) = properties.filter(|_| prepared.get("additionalProperties").is_none()) {
        let known = || properties.keys().map(String::as_str).collect::<Vec<_>>().join(", ");
        for name in values.keys().filter(|name| !properties.contains_key(*name)) {
            problems.push(format!("{name}: not a parameter of this flow (it takes: {})", known()));
        }
    }
    let checker = Checker { root: &prepared };
    for name in required(&prepared).iter().filter(|name| !values.contains_key(name.as_str())) {
        problems.push(format!("{name}: required, and the deployment has no default for it"));
    }
    for (name, value) in values {
        // What Prefect fills in is checked by Prefect, once filled in.
        let schema = properties.and_then(|p| p.get(name));
        if let (Some(schema), false) = (schema, is_placeholder(value)) {
            checker.check(schema, value, name, 0, &mut problems);
        }
    }
    problems.truncate(MAX_PROBLEMS);
    problems
}

fn is_placeholder(value: &Value) -> bool {
    value.as_object().is_some_and(|object| object.contains_key(PLACEHOLDER_KEY))
}

fn required(schema: &Value) -> Vec<String> {
    let names = schema.get("required").and_then(Value::as_array);
    names.map(|names| names.iter().filter_map(Value::as_str).map(str::to_owned).collect()).unwrap_or_default()
}

struct Checker<'s> {
    root: &'s Value,
}

impl Checker<'_> {
    /// Adds to `problems` what is wrong with `value` (at `at`) under `schema`.
    fn check(&self, schema: &Value, value: &Value, at: &str, depth: usize, problems: &mut Vec<String>) {
        let Some(schema) = schema.as_object() else { return };
        if depth > MAX_DEPTH {
            return;
        }
        let mut fail = |what: String| problems.push(format!("{at}: {what}"));
        if let Some(target) = schema.get("$ref").and_then(Value::as_str) {
            match self.resolve(target) {
                Some(referenced) => self.check(referenced, value, at, depth + 1, problems),
                None => fail(format!("its schema refers to {target}, which the schema does not define")),
            }
            return;
        }
        if let Some(kind) = schema.get("type")
            && !type_matches(kind, value)
        {
            return fail(format!("expected {}, got {value}", type_names(kind)));
        }
        if let Some(options) = schema.get("enum").and_then(Value::as_array)
            && !options.contains(value)
        {
            return fail(format!("expected one of {}, got {value}", Value::Array(options.clone())));
        }
        if let Some(expected) = schema.get("const")
            && expected != value
        {
            return fail(format!("expected {expected}, got {value}"));
        }
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            for part in all {
                self.check(part, value, at, depth + 1, problems);
            }
        }
        for (keyword, exactly_one) in [("anyOf", false), ("oneOf", true)] {
            let Some(options) = schema.get(keyword).and_then(Value::as_array) else { continue };
            let fitting = options.iter().filter(|option| self.fits(option, value, depth + 1)).count();
            if fitting == 0 || (exactly_one && fitting > 1) {
                let kinds: Vec<String> = options.iter().map(describe).collect();
                problems.push(format!("{at}: expected {}, got {value}", kinds.join(" or ")));
            }
        }
        self.check_bounds(schema, value, at, problems);
        match value {
            Value::Object(object) => self.check_object(schema, object, at, depth, problems),
            Value::Array(items) => self.check_array(schema, items, at, depth, problems),
            _ => {}
        }
    }

    fn fits(&self, schema: &Value, value: &Value, depth: usize) -> bool {
        let mut problems = Vec::new();
        self.check(schema, value, "", depth, &mut problems);
        problems.is_empty()
    }

    fn check_bounds(&self, schema: &Map<String, Value>, value: &Value, at: &str, problems: &mut Vec<String>) {
        let bound = |keyword: &str| schema.get(keyword).and_then(Value::as_f64);
        if let Some(number) = value.as_f64() {
            type Rule = (&'static str, fn(f64, f64) -> bool, &'static str);
            let rules: [Rule; 4] = [
                ("minimum", |n, b| n >= b, "at least"),
                ("maximum", |n, b| n <= b, "at most"),
                ("exclusiveMinimum", |n, b| n > b, "more than"),
                ("exclusiveMaximum", |n, b| n < b, "less than"),
            ];
            for (keyword, holds, words) in rules {
                if let Some(limit) = bound(keyword).filter(|limit| !holds(number, *limit)) {
                    problems.push(format!("{at}: expected a number {words} {limit}, got {value}"));
                }
            }
        }
        let length = match value {
            Value::String(text) => Some((text.chars().count(), "characters", "Length")),
            Value::Array(items) => Some((items.len(), "items", "Items")),
            Value::Object(object) => Some((object.len(), "properties", "Properties")),
            _ => None,
        };
        if let Some((length, unit, suffix)) = length {
            if let Some(min) = bound(&format!("min{suffix}")).filter(|min| (length as f64) < *min) {
                problems.push(format!("{at}: expected at least {min} {unit}, got {length}"));
            }
            if let Some(max) = bound(&format!("max{suffix}")).filter(|max| (length as f64) > *max) {
                problems.push(format!("{at}: expected at most {max} {unit}, got {length}"));
            }
        }
    }

    fn check_object(
        &self,
        schema: &Map<String, Value>,
        object: &Map<String, Value>,
        at: &str,
        depth: usize,
        problems: &mut Vec<String>,
    ) {
        let properties = schema.get("properties").and_then(Value::as_object);
        for name in required(&Value::Object(schema.clone())).iter().filter(|name| !object.contains_key(name.as_str())) {
            problems.push(format!("{at}.{name}: required"));
        }
        for (name, value) in object {
            let inner = format!("{at}.{name}");
            match (properties.and_then(|p| p.get(name)), schema.get("additionalProperties")) {
                (Some(property), _) => self.check(property, value, &inner, depth + 1, problems),
                (None, Some(Value::Bool(false))) => problems.push(format!("{inner}: not allowed here")),
                (None, Some(extra @ Value::Object(_))) => self.check(extra, value, &inner, depth + 1, problems),
                (None, _) => {}
            }
        }
    }

    fn check_array(
        &self,
        schema: &Map<String, Value>,
        items: &[Value],
        at: &str,
        depth: usize,
        problems: &mut Vec<String>,
    ) {
        let prefix = schema.get("prefixItems").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
        for (index, item) in items.iter().enumerate() {
            let inner = format!("{at}[{index}]");
            if let Some(item_schema) =
                prefix.get(index).or_else(|| schema.get("items").filter(|items| items.is_object()))
            {
                self.check(item_schema, item, &inner, depth + 1, problems);
            }
        }
    }

    /// A local reference: `#/definitions/<name>` or `#/$defs/<name>`.
    fn resolve(&self, target: &str) -> Option<&Value> {
        self.root.pointer(target.strip_prefix('#')?)
    }
}

fn type_matches(kind: &Value, value: &Value) -> bool {
    match kind {
        Value::Array(kinds) => kinds.iter().any(|k| type_matches(k, value)),
        Value::String(kind) => match kind.as_str() {
            "null" => value.is_null(),
            "boolean" => value.is_boolean(),
            "string" => value.is_string(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            "number" => value.is_number(),
            "integer" => value.as_f64().is_some_and(|n| n.fract() == 0.0),
            _ => true,
        },
        _ => true,
    }
}

fn type_names(kind: &Value) -> String {
    match kind {
        Value::Array(kinds) => kinds.iter().map(type_names).collect::<Vec<_>>().join(" or "),
        Value::String(kind) => kind.clone(),
        other => other.to_string(),
    }
}

/// A short name for an option of `anyOf`/`oneOf`.
fn describe(schema: &Value) -> String {
    if let Some(kind) = schema.get("type") {
        return type_names(kind);
    }
    if let Some(target) = schema.get("$ref").and_then(Value::as_str) {
        return target.rsplit('/').next().unwrap_or(target).to_owned();
    }
    "another shape".to_owned()
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
        assert!(problems.iter().any(|p| p.starts_with("source: required")), "{problems:?}");
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

    #[test]
    fn nested_models_enums_bounds_and_tuples_are_checked() {
        let schema = json!({
            "type": "object",
            "properties": {
                "config": {"$ref": "#/definitions/Config"},
                "mode": {"enum": ["fast", "safe"]},
                "ratio": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.5},
                "pair": {"type": "array", "items": [{"type": "string"}, {"type": "integer"}], "default": ["a", 1]},
                "tree": {"$ref": "#/definitions/Node", "default": {}}
            },
            "required": ["config", "mode"],
            "definitions": {
                "Config": {"type": "object", "properties": {"retries": {"type": "integer", "minimum": 0}},
                           "required": ["retries"]},
                "Node": {"type": "object", "properties": {"child": {"$ref": "#/definitions/Node"}}}
            }
        });
        let check = |values: Value| problems(&schema, values.as_object().unwrap());
        assert_eq!(
            check(json!({"config": {"retries": 2}, "mode": "safe", "pair": ["x", 2],
                                "tree": {"child": {"child": {}}}})),
            Vec::<String>::new()
        );
        let found =
            check(json!({"config": {"retries": -1, "extra": true}, "mode": "slow", "ratio": 2, "pair": ["x", "y"]}));
        for expected in [
            "config.retries: expected a number at least 0",
            "mode: expected one of [\"fast\",\"safe\"]",
            "ratio: expected a number at most 1",
            "pair[1]: expected integer",
        ] {
            assert!(found.iter().any(|p| p.starts_with(expected)), "{expected}: {found:?}");
        }
        assert!(check(json!({"config": {}, "mode": "fast"})).iter().any(|p| p == "config.retries: required"));
        // A model that contains itself ends at the depth limit instead of recursing forever.
        let deep = (0..100).fold(json!({}), |inner, _| json!({"child": inner}));
        assert!(check(json!({"config": {"retries": 1}, "mode": "fast", "tree": deep})).is_empty());
    }
}
