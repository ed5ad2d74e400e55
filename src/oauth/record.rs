//! The records of the OAuth server: what it keeps in the store (codes,
//! grants, access tokens' records, tenants) and what it signs into client ids
//! and page tickets. Each is a JSON object of text fields and number fields
//! (a flag is 0 or 1), built by [`new`] and read by [`text`] and [`number`],
//! which take an absent or mistyped field as "" or 0.
//!
//! Kept as `serde_json::Value` on purpose, not as derived types: derived
//! (de)serializers for them measured about 20 KiB of the compressed upload on
//! the first OAuth branch, and `Value` is linked already.

use serde_json::Value;

/// A record of the `text` fields, then the `nums` fields. Not `json!`,
/// whose every field costs a few hundred bytes of wasm.
#[inline(never)]
pub(super) fn new(text: &[(&str, &str)], nums: &[(&str, u64)]) -> Value {
    let mut m = serde_json::Map::new();
    for (k, v) in text {
        m.insert((*k).into(), Value::String((*v).into()));
    }
    for (k, v) in nums {
        m.insert((*k).into(), Value::from(*v));
    }
    Value::Object(m)
}

/// A stored record's text, parsed (`Null` when it is not JSON).
pub(super) fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_default()
}

/// A text field of a record ("" when absent).
pub(super) fn text<'v>(v: &'v Value, field: &str) -> &'v str {
    v.get(field).and_then(Value::as_str).unwrap_or("")
}

/// A number field of a record (0 when absent).
pub(super) fn number(v: &Value, field: &str) -> u64 {
    v.get(field).and_then(Value::as_u64).unwrap_or(0)
}
