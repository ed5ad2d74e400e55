//! Validates tool arguments against the tool's own `inputSchema`, so the schema
//! a client sees is the rule that is enforced. Covers the JSON Schema subset the
//! tools use: type, properties, required, additionalProperties, enum, bounds on
//! numbers, strings and arrays, and items. The one `pattern` (task types) is
//! checked by [`super::formats::task_type`].

use crate::json::truncate;
use serde_json::{Map, Value};

/// Checks `args` against an object schema; the error names the argument and
/// what is allowed.
pub fn validate(schema: &Value, args: &Map<String, Value>) -> Result<(), String> {
    let props = schema.get("properties").and_then(Value::as_object);
    if schema.get("additionalProperties") == Some(&Value::Bool(false)) {
        for k in args.keys() {
            if !props.is_some_and(|p| p.contains_key(k)) {
                let allowed: Vec<&str> = props
                    .map(|p| p.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                return Err(format!(
                    "unknown argument `{}`; this tool takes: {}",
                    truncate(k, 64),
                    if allowed.is_empty() {
                        "no arguments".to_string()
                    } else {
                        allowed.join(", ")
                    }
                ));
            }
        }
    }
    if let Some(req) = schema.get("required").and_then(Value::as_array) {
        for r in req.iter().filter_map(Value::as_str) {
            if args.get(r).is_none_or(Value::is_null) {
                return Err(format!("missing required argument `{r}`"));
            }
        }
    }
    if let Some(p) = props {
        for (k, v) in args {
            if let Some(s) = p.get(k) {
                // An explicit null means "not given", as clients often send it for optional fields.
                if !v.is_null() {
                    check(s, v, k)?;
                }
            }
        }
    }
    Ok(())
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_ok(want: &str, v: &Value) -> bool {
    match want {
        "integer" => {
            v.as_i64().is_some()
                || v.as_u64().is_some()
                || v.as_f64()
                    .is_some_and(|f| f.fract() == 0.0 && f.abs() < 9e15)
        }
        "number" => v.is_number(),
        other => type_name(v) == other,
    }
}

fn check(schema: &Value, v: &Value, path: &str) -> Result<(), String> {
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !types.is_empty() && !types.iter().any(|t| type_ok(t, v)) {
            return Err(format!(
                "`{path}` must be {} (got {})",
                article(&types.join(" or ")),
                type_name(v)
            ));
        }
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array) {
        if !e.contains(v) {
            let opts: Vec<String> = e
                .iter()
                .map(|x| {
                    x.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| x.to_string())
                })
                .collect();
            return Err(format!(
                "`{path}` must be one of: {} (got {})",
                opts.join(", "),
                truncate(&v.to_string(), 60)
            ));
        }
    }
    if let Some(n) = v.as_f64() {
        let bound = |k: &str| schema.get(k).filter(|b| b.is_number());
        let (min, max) = (bound("minimum"), bound("maximum"));
        let below = min.and_then(Value::as_f64).is_some_and(|m| n < m);
        let above = max.and_then(Value::as_f64).is_some_and(|m| n > m);
        // Bounds are printed as the schema's JSON numbers (no float formatting code).
        if below || above {
            return Err(match (min, max) {
                (Some(a), Some(b)) => format!("`{path}` must be from {a} to {b} (got {v})"),
                (Some(a), None) => format!("`{path}` must be at least {a} (got {v})"),
                (None, Some(b)) => format!("`{path}` must be at most {b} (got {v})"),
                _ => unreachable!(),
            });
        }
    }
    if let Some(s) = v.as_str() {
        let len = s.chars().count() as u64;
        if let Some(m) = schema.get("minLength").and_then(Value::as_u64) {
            if len < m {
                return Err(if m == 1 {
                    format!("`{path}` must not be empty")
                } else {
                    format!("`{path}` must be at least {m} characters")
                });
            }
        }
        if let Some(m) = schema.get("maxLength").and_then(Value::as_u64) {
            if len > m {
                return Err(format!(
                    "`{path}` must be at most {m} characters (got {len})"
                ));
            }
        }
    }
    if let Some(a) = v.as_array() {
        if let Some(m) = schema.get("minItems").and_then(Value::as_u64) {
            if (a.len() as u64) < m {
                return Err(format!(
                    "`{path}` must have at least {m} item{}",
                    if m == 1 { "" } else { "s" }
                ));
            }
        }
        if let Some(m) = schema.get("maxItems").and_then(Value::as_u64) {
            if a.len() as u64 > m {
                return Err(format!(
                    "`{path}` must have at most {m} items (got {})",
                    a.len()
                ));
            }
        }
        if let Some(items) = schema.get("items") {
            for (i, x) in a.iter().enumerate() {
                check(items, x, &format!("{path}[{i}]"))?;
            }
        }
    }
    if let Some(o) = v.as_object() {
        if schema.get("properties").is_some() || schema.get("required").is_some() {
            validate(schema, o).map_err(|e| format!("in `{path}`: {e}"))?;
        }
    }
    Ok(())
}

fn article(t: &str) -> String {
    match t {
        "integer" | "object" | "array" => format!("an {t}"),
        _ => format!("a {t}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object", "additionalProperties": false, "required": ["id"],
            "properties": {
                "id": {"type": "string", "minLength": 1, "maxLength": 5},
                "limit": {"type": "integer", "minimum": 1, "maximum": 100},
                "status": {"type": "string", "enum": ["a", "b"]},
                "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                "meta": {"type": "object"},
                "flag": {"type": "boolean"}
            }
        })
    }

    fn run(v: Value) -> Result<(), String> {
        validate(&schema(), v.as_object().unwrap())
    }

    #[test]
    fn accepts_valid_and_null_optionals() {
        run(json!({"id": "x", "limit": 5, "status": "a", "tags": ["t"], "meta": {}, "flag": true}))
            .unwrap();
        run(json!({"id": "x", "limit": null})).unwrap();
        run(json!({"id": "x", "limit": 5.0})).unwrap();
    }

    #[test]
    fn errors_name_the_argument() {
        let cases = [
            (json!({}), "missing required argument `id`"),
            (json!({"id": null}), "missing required argument `id`"),
            (json!({"id": "x", "nope": 1}), "unknown argument `nope`"),
            (json!({"id": ""}), "`id` must not be empty"),
            (
                json!({"id": "toolong"}),
                "`id` must be at most 5 characters",
            ),
            (json!({"id": 5}), "`id` must be a string (got integer)"),
            (
                json!({"id": "x", "limit": 0}),
                "`limit` must be from 1 to 100",
            ),
            (
                json!({"id": "x", "limit": 2.5}),
                "`limit` must be an integer (got number)",
            ),
            (
                json!({"id": "x", "limit": "5"}),
                "`limit` must be an integer (got string)",
            ),
            (
                json!({"id": "x", "status": "c"}),
                "`status` must be one of: a, b",
            ),
            (
                json!({"id": "x", "tags": []}),
                "`tags` must have at least 1 item",
            ),
            (
                json!({"id": "x", "tags": [1]}),
                "`tags[0]` must be a string",
            ),
            (
                json!({"id": "x", "meta": []}),
                "`meta` must be an object (got array)",
            ),
            (
                json!({"id": "x", "flag": "true"}),
                "`flag` must be a boolean (got string)",
            ),
        ];
        for (args, want) in cases {
            let e = run(args.clone()).unwrap_err();
            assert!(e.contains(want), "{args}: {e}");
        }
    }
}
