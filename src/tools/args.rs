//! Tool arguments declared once. [`args!`] writes a tool's argument struct
//! (what the tool reads) and its JSON Schema (what clients see, and what
//! [`super::schema::validate`] enforces) from one list of fields, and
//! [`Args::into_map`] gives back only the declared fields, so no undeclared
//! argument can reach Scale. Each field's JSON type comes from its Rust type
//! ([`ArgType`]); the declaration adds the description and the bounds.
//!
//! Also here: the checks the schema cannot express (ISO dates, task types).

use super::error::ToolError;
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::fmt;

/// A tool's argument struct: its schema, and its fields back as a JSON map.
pub trait Args: DeserializeOwned {
    /// The `inputSchema`: an object with exactly the declared properties.
    fn schema() -> Value;
    /// The given fields, by argument name (absent optional fields left out).
    fn into_map(self) -> Map<String, Value>;
}

/// An argument's Rust type: its JSON Schema type, and its value back as
/// JSON (moved, not copied: `params` and `metadata` can be large).
pub trait ArgType {
    fn schema() -> Value;
    fn into_value(self) -> Value;
}

impl ArgType for String {
    fn schema() -> Value {
        json!({"type": "string"})
    }
    fn into_value(self) -> Value {
        Value::String(self)
    }
}
impl ArgType for bool {
    fn schema() -> Value {
        json!({"type": "boolean"})
    }
    fn into_value(self) -> Value {
        Value::Bool(self)
    }
}
impl ArgType for Int {
    fn schema() -> Value {
        json!({"type": "integer"})
    }
    fn into_value(self) -> Value {
        Value::from(self.0)
    }
}
impl ArgType for Map<String, Value> {
    fn schema() -> Value {
        json!({"type": "object"})
    }
    fn into_value(self) -> Value {
        Value::Object(self)
    }
}
impl ArgType for Vec<String> {
    fn schema() -> Value {
        json!({"type": "array", "items": {"type": "string"}})
    }
    fn into_value(self) -> Value {
        Value::from(self)
    }
}
impl ArgType for Vec<Value> {
    fn schema() -> Value {
        json!({"type": "array"})
    }
    fn into_value(self) -> Value {
        Value::Array(self)
    }
}

/// An integer argument. JSON clients may send `5.0` for 5 (the validator
/// accepts integral numbers), so this reads any integral number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Int(pub i64);

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Int;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an integer")
            }
            fn visit_i64<E>(self, v: i64) -> Result<Int, E> {
                Ok(Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Int, E> {
                i64::try_from(v)
                    .map(Int)
                    .map_err(|_| E::custom("integer out of range"))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Int, E> {
                if v.fract() == 0.0 && v.abs() < 9e15 {
                    Ok(Int(v as i64))
                } else {
                    Err(E::custom("expected an integer"))
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// One property's schema: the type from `T`, then the declaration's keys.
pub fn prop<T: ArgType>(decl: Value) -> Value {
    let mut p = T::schema();
    if let (Some(m), Value::Object(d)) = (p.as_object_mut(), decl) {
        m.extend(d);
    }
    p
}

/// An object schema with exactly `props` (name, schema, required).
pub fn object_schema(props: Vec<(&str, Value, bool)>) -> Value {
    let required: Vec<&str> = props.iter().filter(|p| p.2).map(|p| p.0).collect();
    let properties: Map<String, Value> = props
        .into_iter()
        .map(|(n, s, _)| (n.to_string(), s))
        .collect();
    let mut v = json!({"type": "object", "properties": properties, "additionalProperties": false});
    if !required.is_empty() {
        v["required"] = json!(required);
    }
    v
}

/// An argument's name: its field name, without the `r#` of a raw identifier.
pub fn arg_name(field: &'static str) -> &'static str {
    field.strip_prefix("r#").unwrap_or(field)
}

/// Declares a tool's arguments: `req name: Type = decl` for a required
/// argument, `opt name: Type = decl` for an optional one (read as
/// `Option<Type>`), where `decl` is the property's schema without its type
/// (description and bounds, from the helpers below).
macro_rules! args {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $kind:ident $field:ident : $ty:ty = $decl:expr ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        $vis struct $name {
            $( pub $field: $crate::tools::args::arg_ty!($kind $ty), )*
        }
        impl $crate::tools::args::Args for $name {
            fn schema() -> serde_json::Value {
                $crate::tools::args::object_schema(vec![$((
                    $crate::tools::args::arg_name(stringify!($field)),
                    $crate::tools::args::prop::<$ty>($decl),
                    $crate::tools::args::arg_required!($kind),
                )),*])
            }
            #[allow(unused_mut)]
            fn into_map(self) -> serde_json::Map<String, serde_json::Value> {
                let mut m = serde_json::Map::new();
                $( $crate::tools::args::arg_put!(
                    $kind, m, $crate::tools::args::arg_name(stringify!($field)), self.$field
                ); )*
                m
            }
        }
    };
}

macro_rules! arg_ty {
    (req $t:ty) => { $t };
    (opt $t:ty) => { Option<$t> };
}

macro_rules! arg_required {
    (req) => {
        true
    };
    (opt) => {
        false
    };
}

macro_rules! arg_put {
    (req, $m:ident, $name:expr, $v:expr) => {
        $m.insert(
            $name.to_string(),
            $crate::tools::args::ArgType::into_value($v),
        );
    };
    (opt, $m:ident, $name:expr, $v:expr) => {
        if let Some(v) = $v {
            $m.insert(
                $name.to_string(),
                $crate::tools::args::ArgType::into_value(v),
            );
        }
    };
}

pub(crate) use {arg_put, arg_required, arg_ty, args};

// Property declarations (the type comes from the field's Rust type).

/// Just a description.
pub fn d(desc: &str) -> Value {
    json!({ "description": desc })
}
/// A string that becomes a path segment: never empty.
pub fn id(desc: &str) -> Value {
    json!({"minLength": 1, "maxLength": 1024, "description": desc})
}
pub fn enum_of(values: &[&str], desc: &str) -> Value {
    json!({"enum": values, "description": desc})
}
pub fn int(min: i64, max: i64, desc: &str) -> Value {
    json!({"minimum": min, "maximum": max, "description": desc})
}
pub fn date(desc: &str) -> Value {
    json!({"description": format!("{desc} ISO 8601 date or date-time, e.g. 2026-01-31 or 2026-01-31T12:00:00Z.")})
}
/// A Scale task type, as [`task_type`] checks it.
pub fn task_type_decl(desc: &str) -> Value {
    json!({"minLength": 1, "maxLength": 64, "pattern": "^[a-z0-9]+$", "description": desc})
}

/// Deserialises validated arguments into a tool's struct.
pub fn parse_args<T: DeserializeOwned>(args: Map<String, Value>) -> Result<T, ToolError> {
    serde_json::from_value(Value::Object(args)).map_err(|e| ToolError::invalid(e.to_string()))
}

/// An ISO 8601 date or date-time, as Scale's time filters take.
pub fn check_iso_date(name: &str, v: &str) -> Result<(), ToolError> {
    let b = v.as_bytes();
    let date_ok = b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
        && b[8..10].iter().all(u8::is_ascii_digit);
    // Only looked at when the date part is there: shorter values must not index past the end.
    let rest_ok = date_ok
        && (b.len() == 10
            || (matches!(b[10], b'T' | b't' | b' ')
                && b.len() > 11
                && b[11..]
                    .iter()
                    .all(|c| c.is_ascii_alphanumeric() || b":.+-".contains(c))));
    if date_ok && rest_ok && b.len() <= 40 {
        Ok(())
    } else {
        Err(ToolError::invalid(format!("`{name}` must be an ISO 8601 date or date-time, e.g. 2026-01-31 or 2026-01-31T12:00:00Z")))
    }
}

/// A Scale task type: one path segment of lower-case letters and digits (the
/// schema's `pattern` says the same to clients; the validator leaves
/// patterns to this check).
pub fn task_type(name: &str, v: &str) -> Result<(), ToolError> {
    if v.is_empty()
        || v.len() > 64
        || !v
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    {
        return Err(ToolError::invalid(format!(
            "`{name}` must be a Scale task type of lower-case letters and digits, e.g. imageannotation, categorization, textcollection"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    args! {
        struct Sample {
            req r#type: String = d("A type."),
            opt limit: Int = int(1, 100, "How many."),
            opt tags: Vec<String> = d("Tags."),
            opt meta: Map<String, Value> = d("Meta."),
            opt flag: bool = d("A flag."),
        }
    }

    #[test]
    fn one_declaration_gives_the_schema_and_the_struct() {
        assert_eq!(
            Sample::schema(),
            json!({"type": "object", "additionalProperties": false, "required": ["type"], "properties": {
                "type": {"type": "string", "description": "A type."},
                "limit": {"type": "integer", "minimum": 1, "maximum": 100, "description": "How many."},
                "tags": {"type": "array", "items": {"type": "string"}, "description": "Tags."},
                "meta": {"type": "object", "description": "Meta."},
                "flag": {"type": "boolean", "description": "A flag."},
            }})
        );
        let a: Sample = parse_args(
            json!({"type": "x", "limit": 5.0, "flag": true})
                .as_object()
                .unwrap()
                .clone(),
        )
        .unwrap();
        assert_eq!(a.r#type, "x");
        assert_eq!(a.limit, Some(Int(5)));
        assert_eq!(
            Value::Object(a.into_map()),
            json!({"type": "x", "limit": 5, "flag": true})
        );
    }

    #[test]
    fn undeclared_fields_never_come_back() {
        let e = parse_args::<Sample>(
            json!({"type": "x", "extra": 1})
                .as_object()
                .unwrap()
                .clone(),
        )
        .unwrap_err();
        assert!(e.message.contains("unknown field `extra`"), "{}", e.message);
        assert!(parse_args::<Sample>(
            json!({"type": "x", "limit": 1.5})
                .as_object()
                .unwrap()
                .clone()
        )
        .is_err());
    }
}
