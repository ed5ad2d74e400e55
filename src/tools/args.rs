//! Tool arguments declared once. [`args!`] writes a tool's argument struct
//! (what the tool reads) and a table of its fields, [`Args::FIELDS`], from
//! which its JSON Schema (what clients see, and what
//! [`super::schema::validate`] enforces) is built, so the two cannot
//! disagree; [`Args::into_map`] gives back only the declared fields, so no
//! undeclared argument can reach Scale. Each field's JSON type comes from its
//! Rust type ([`ArgType`]); the declaration ([`Decl`]) adds the description
//! and the bounds. The formats a schema cannot check (ISO dates, task
//! types) are [`super::formats`]'s.

use super::error::ToolError;
use crate::json::truncate;
use serde_json::{Map, Value};

/// A tool's argument struct: its fields, reading it from validated
/// arguments, and its fields back as a JSON map.
///
/// Reading and the schema work from the one table of fields rather than
/// code generated per field: a derived `Deserialize` per tool cost about
/// 1 KiB of the compressed upload each, and a reader and schema builder
/// expanded per field still cost several KiB in all.
pub trait Args: Sized {
    /// Every declared field, in declaration order.
    const FIELDS: &'static [Field];
    /// The `inputSchema`: an object with exactly the declared properties.
    fn schema() -> Value {
        object_schema(Self::FIELDS)
    }
    /// Takes the declared fields out of arguments; anything left over,
    /// missing or of another type is refused.
    fn from_map(m: Map<String, Value>) -> Result<Self, ToolError>;
    /// The given fields, by argument name (absent optional fields left out).
    fn into_map(self) -> Map<String, Value>;
}

/// An argument's JSON type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    Str,
    Bool,
    /// An integral number (JSON clients may send `5.0` for 5).
    Int,
    Obj,
    /// An array of strings.
    Strs,
    /// An array of anything.
    Arr,
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::Str => "string",
            Ty::Bool => "boolean",
            Ty::Int => "integer",
            Ty::Obj => "object",
            Ty::Strs | Ty::Arr => "array",
        }
    }

    /// Whether `v` is of this type, exactly as [`ArgType::from_value`] reads it.
    fn fits(self, v: &Value) -> bool {
        match (self, v) {
            (Ty::Str, Value::String(_))
            | (Ty::Bool, Value::Bool(_))
            | (Ty::Obj, Value::Object(_))
            | (Ty::Arr, Value::Array(_)) => true,
            (Ty::Int, Value::Number(n)) => int_of(n).is_some(),
            (Ty::Strs, Value::Array(a)) => a.iter().all(Value::is_string),
            _ => false,
        }
    }
}

fn int_of(n: &serde_json::Number) -> Option<i64> {
    n.as_i64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 9e15)
            .map(|f| f as i64)
    })
}

/// An argument's Rust type: its JSON type, and its value from and back to
/// JSON (moved, not copied: `params` and `metadata` can be large).
pub trait ArgType: Sized + Default {
    const TY: Ty;
    /// The value, if `v` has the type ([`Ty::fits`]).
    fn from_value(v: Value) -> Option<Self>;
    fn into_value(self) -> Value;
}

impl ArgType for String {
    const TY: Ty = Ty::Str;
    fn from_value(v: Value) -> Option<Self> {
        match v {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
    fn into_value(self) -> Value {
        Value::String(self)
    }
}
impl ArgType for bool {
    const TY: Ty = Ty::Bool;
    fn from_value(v: Value) -> Option<Self> {
        v.as_bool()
    }
    fn into_value(self) -> Value {
        Value::Bool(self)
    }
}
impl ArgType for Int {
    const TY: Ty = Ty::Int;
    fn from_value(v: Value) -> Option<Self> {
        int_of(v.as_number()?).map(Int)
    }
    fn into_value(self) -> Value {
        Value::from(self.0)
    }
}
impl ArgType for Map<String, Value> {
    const TY: Ty = Ty::Obj;
    fn from_value(v: Value) -> Option<Self> {
        match v {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }
    fn into_value(self) -> Value {
        Value::Object(self)
    }
}
impl ArgType for Vec<String> {
    const TY: Ty = Ty::Strs;
    fn from_value(v: Value) -> Option<Self> {
        match v {
            Value::Array(a) => a.into_iter().map(String::from_value).collect(),
            _ => None,
        }
    }
    fn into_value(self) -> Value {
        Value::from(self)
    }
}
impl ArgType for Vec<Value> {
    const TY: Ty = Ty::Arr;
    fn from_value(v: Value) -> Option<Self> {
        match v {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
    fn into_value(self) -> Value {
        Value::Array(self)
    }
}

/// An integer argument.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Int(pub i64);

/// One declared argument.
#[derive(Debug)]
pub struct Field {
    /// The field's name as written (`r#type` for `type`; see [`Field::name`]).
    pub ident: &'static str,
    pub required: bool,
    pub ty: Ty,
    pub decl: Decl,
}

impl Field {
    /// The argument's name: the field's, without the `r#` of a raw identifier.
    pub fn name(&self) -> &'static str {
        arg_name(self.ident)
    }
}

/// A property's schema besides its type: the description and the bounds.
#[derive(Debug)]
pub enum Decl {
    /// Just a description.
    D(&'static str),
    /// A string that becomes a path segment: never empty, at most 1024 characters.
    Id(&'static str),
    /// One of these strings.
    Enum(&'static [&'static str], &'static str),
    /// An integer from `min` to `max`.
    Int(i64, i64, &'static str),
    /// An ISO 8601 date or date-time (the description says so).
    Date(&'static str),
    /// A Scale task type, as [`super::formats::task_type`] checks it.
    TaskType(&'static str),
    /// Any other keys, as JSON text (kept as text: `json!` would compile
    /// each into code).
    Json(&'static str),
    /// Keys computed once, when the schemas are built.
    Fn(fn() -> Value),
}

// Schemas are built by inserting keys one by one rather than with `json!`,
// which compiles each key and each value's conversion into code.

fn set(m: &mut Map<String, Value>, key: &str, v: Value) {
    m.insert(key.to_string(), v);
}

impl Decl {
    /// Adds the declaration's keys to a property's schema.
    fn add_to(&self, m: &mut Map<String, Value>) {
        let desc = match *self {
            Decl::D(d) => d,
            Decl::Id(d) => {
                set(m, "minLength", 1.into());
                set(m, "maxLength", 1024.into());
                d
            }
            Decl::Enum(values, d) => {
                set(m, "enum", values.into());
                d
            }
            Decl::Int(min, max, d) => {
                set(m, "minimum", min.into());
                set(m, "maximum", max.into());
                d
            }
            Decl::Date(d) => {
                let d = format!(
                    "{d} ISO 8601 date or date-time, e.g. 2026-01-31 or 2026-01-31T12:00:00Z."
                );
                return set(m, "description", d.into());
            }
            Decl::TaskType(d) => return add_task_type_keys(m, d),
            Decl::Json(text) => {
                if let Ok(Value::Object(keys)) = serde_json::from_str(text) {
                    m.extend(keys);
                }
                return;
            }
            Decl::Fn(f) => {
                if let Value::Object(keys) = f() {
                    m.extend(keys);
                }
                return;
            }
        };
        set(m, "description", desc.into());
    }
}

fn add_task_type_keys(m: &mut Map<String, Value>, desc: &str) {
    set(m, "minLength", 1.into());
    set(m, "maxLength", 64.into());
    set(m, "pattern", "^[a-z0-9]+$".into());
    set(m, "description", desc.into());
}

/// The schema keys of a Scale task type argument.
pub fn task_type_keys(desc: &str) -> Value {
    let mut m = Map::new();
    add_task_type_keys(&mut m, desc);
    Value::Object(m)
}

/// One property's schema: the type, then the declaration's keys.
fn prop(f: &Field) -> Value {
    let mut m = Map::new();
    set(&mut m, "type", f.ty.name().into());
    if f.ty == Ty::Strs {
        let mut items = Map::new();
        set(&mut items, "type", "string".into());
        set(&mut m, "items", Value::Object(items));
    }
    f.decl.add_to(&mut m);
    Value::Object(m)
}

/// An object schema with exactly the properties `fields`.
pub fn object_schema(fields: &[Field]) -> Value {
    let required: Vec<&str> = fields
        .iter()
        .filter(|f| f.required)
        .map(Field::name)
        .collect();
    let mut properties = Map::new();
    for f in fields {
        properties.insert(f.name().to_string(), prop(f));
    }
    let mut v = Map::new();
    set(&mut v, "type", "object".into());
    set(&mut v, "properties", Value::Object(properties));
    set(&mut v, "additionalProperties", false.into());
    if !required.is_empty() {
        set(&mut v, "required", required.into());
    }
    Value::Object(v)
}

/// Checks arguments against a table of fields, in declaration order, then
/// refuses any undeclared one; after it, every field is read without fail.
pub fn check(m: &Map<String, Value>, fields: &[Field]) -> Result<(), ToolError> {
    for f in fields {
        let name = f.name();
        match m.get(name) {
            None | Some(Value::Null) if f.required => {
                return Err(ToolError::invalid(format!(
                    "missing required argument `{name}`"
                )))
            }
            None | Some(Value::Null) => {}
            Some(v) if !f.ty.fits(v) => {
                return Err(ToolError::invalid(format!(
                    "`{name}` has the wrong type; see the tool's inputSchema"
                )))
            }
            Some(_) => {}
        }
    }
    match m
        .keys()
        .find(|k| !fields.iter().any(|f| f.name() == k.as_str()))
    {
        None => Ok(()),
        Some(k) => Err(ToolError::invalid(format!(
            "unknown argument `{}`",
            truncate(k, 64)
        ))),
    }
}

// The helpers the macro calls per field are kept out of line: inlined into
// every field of every tool they cost several KiB of the upload.

/// Takes a checked optional argument out of `m` (null counts as not given).
#[inline(never)]
pub fn take<T: ArgType>(m: &mut Map<String, Value>, name: &str) -> Option<T> {
    m.remove(name).and_then(T::from_value)
}

/// Takes a checked required argument out of `m`. [`check`] has made sure it
/// is there; the default only stands in for a value that cannot be missing.
#[inline(never)]
pub fn take_req<T: ArgType>(m: &mut Map<String, Value>, name: &str) -> T {
    take(m, name).unwrap_or_default()
}

/// Puts a given argument back into a map.
#[inline(never)]
pub fn put<T: ArgType>(m: &mut Map<String, Value>, name: &str, v: Option<T>) {
    if let Some(v) = v {
        m.insert(name.to_string(), v.into_value());
    }
}

/// An argument's name: its field name, without the `r#` of a raw identifier.
pub fn arg_name(field: &'static str) -> &'static str {
    field.strip_prefix("r#").unwrap_or(field)
}

/// Declares a tool's arguments: `req name: Type = decl` for a required
/// argument, `opt name: Type = decl` for an optional one (read as
/// `Option<Type>`), where `decl` is a [`Decl`]: the property's schema
/// without its type (description and bounds, from the helpers below).
macro_rules! args {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $kind:ident $field:ident : $ty:ty = $decl:expr ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $( pub $field: $crate::tools::args::arg_ty!($kind $ty), )*
        }
        impl $crate::tools::args::Args for $name {
            const FIELDS: &'static [$crate::tools::args::Field] = &[$(
                $crate::tools::args::Field {
                    ident: stringify!($field),
                    required: $crate::tools::args::arg_required!($kind),
                    ty: <$ty as $crate::tools::args::ArgType>::TY,
                    decl: $decl,
                }
            ),*];
            fn from_map(
                mut m: serde_json::Map<String, serde_json::Value>,
            ) -> Result<Self, $crate::tools::error::ToolError> {
                $crate::tools::args::check(&m, Self::FIELDS)?;
                Ok(Self {
                    $( $field: $crate::tools::args::arg_take!(
                        $kind, m, $crate::tools::args::arg_name(stringify!($field))
                    ), )*
                })
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

macro_rules! arg_take {
    (req, $m:ident, $name:expr) => {
        $crate::tools::args::take_req(&mut $m, $name)
    };
    (opt, $m:ident, $name:expr) => {
        $crate::tools::args::take(&mut $m, $name)
    };
}

macro_rules! arg_put {
    (req, $m:ident, $name:expr, $v:expr) => {
        $crate::tools::args::put(&mut $m, $name, Some($v))
    };
    (opt, $m:ident, $name:expr, $v:expr) => {
        $crate::tools::args::put(&mut $m, $name, $v)
    };
}

pub(crate) use {arg_put, arg_required, arg_take, arg_ty, args};

// Property declarations (the type comes from the field's Rust type).

/// Just a description.
pub const fn d(desc: &'static str) -> Decl {
    Decl::D(desc)
}
/// A string that becomes a path segment: never empty.
pub const fn id(desc: &'static str) -> Decl {
    Decl::Id(desc)
}
pub const fn enum_of(values: &'static [&'static str], desc: &'static str) -> Decl {
    Decl::Enum(values, desc)
}
pub const fn int(min: i64, max: i64, desc: &'static str) -> Decl {
    Decl::Int(min, max, desc)
}
pub const fn date(desc: &'static str) -> Decl {
    Decl::Date(desc)
}
/// A Scale task type, as [`super::formats::task_type`] checks it.
pub const fn task_type_decl(desc: &'static str) -> Decl {
    Decl::TaskType(desc)
}
/// Other keys, as JSON text.
pub const fn keys(json: &'static str) -> Decl {
    Decl::Json(json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
        let a = Sample::from_map(
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
    fn the_type_check_and_the_reader_agree() {
        fn agree<T: ArgType>(v: &Value) -> bool {
            T::TY.fits(v) == T::from_value(v.clone()).is_some()
        }
        let samples = [
            json!(null),
            json!(true),
            json!(1),
            json!(-3),
            json!(5.0),
            json!(1.5),
            json!(1e300),
            json!(u64::MAX),
            json!("s"),
            json!([]),
            json!(["a"]),
            json!(["a", 1]),
            json!([{}]),
            json!({}),
        ];
        for v in &samples {
            assert!(agree::<String>(v), "String {v}");
            assert!(agree::<bool>(v), "bool {v}");
            assert!(agree::<Int>(v), "Int {v}");
            assert!(agree::<Map<String, Value>>(v), "Map {v}");
            assert!(agree::<Vec<String>>(v), "Vec<String> {v}");
            assert!(agree::<Vec<Value>>(v), "Vec<Value> {v}");
        }
    }

    #[test]
    fn missing_and_mistyped_arguments_are_refused() {
        let take = |v: Value| {
            Sample::from_map(v.as_object().unwrap().clone())
                .err()
                .map(|e| e.message)
        };
        assert_eq!(
            take(json!({})).as_deref(),
            Some("missing required argument `type`")
        );
        assert!(take(json!({"type": 1}))
            .unwrap()
            .contains("`type` has the wrong type"));
        assert!(take(json!({"type": "x", "tags": ["a", 2]}))
            .unwrap()
            .contains("`tags`"));
        assert!(
            take(json!({"type": "x", "flag": null})).is_none(),
            "null is not given"
        );
    }

    #[test]
    fn undeclared_fields_never_come_back() {
        let Err(e) = Sample::from_map(
            json!({"type": "x", "extra": 1})
                .as_object()
                .unwrap()
                .clone(),
        ) else {
            panic!("an undeclared argument was accepted")
        };
        assert!(
            e.message.contains("unknown argument `extra`"),
            "{}",
            e.message
        );
        assert!(Sample::from_map(
            json!({"type": "x", "limit": 1.5})
                .as_object()
                .unwrap()
                .clone()
        )
        .is_err());
    }
}
