//! Strict JSON input: what callers send (MCP bodies, webhook deliveries) is
//! parsed here so every malformed input gets the same clear message. Also
//! [`object`], how the code above builds a JSON object from values it holds.

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;

/// Parses `bytes` as one JSON value. Refuses invalid UTF-8, nesting deeper
/// than serde_json's limit, numbers it cannot represent, and objects that
/// repeat a key (which parsers resolve differently, so the meaning is unclear).
pub fn parse_strict(bytes: &[u8]) -> Result<Value, String> {
    read_strict(bytes, StrictValue)
}

/// Runs `seed` over `bytes` as one JSON value, with the UTF-8, emptiness and
/// trailing-data checks of [`parse_strict`] and its messages. The seed must
/// refuse repeated keys itself (see [`Keys`]).
pub(crate) fn read_strict<'a, S: DeserializeSeed<'a>>(
    bytes: &'a [u8],
    seed: S,
) -> Result<S::Value, String> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| format!("body is not valid UTF-8 (at byte {})", e.valid_up_to()))?;
    if text.trim().is_empty() {
        return Err("body is empty; send one JSON value".into());
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let v = seed
        .deserialize(&mut de)
        .map_err(|e| format!("invalid JSON: {e}"))?;
    de.end().map_err(|e| format!("invalid JSON: {e}"))?;
    Ok(v)
}

/// A JSON object of `fields`. Not `json!`, which compiles each field's value
/// through `to_value(..).unwrap()`: a conversion and a panic path apiece, for
/// values that are JSON already.
pub fn object(fields: Vec<(&str, Value)>) -> Value {
    // Inserted one by one: collecting would link the map's bulk build (a sort).
    let mut m = Map::new();
    for (k, v) in fields {
        m.insert(k.into(), v);
    }
    Value::Object(m)
}

fn duplicate<E: de::Error>(k: &str) -> E {
    E::custom(format!("duplicate key `{}`", truncate(k, 64)))
}

/// The keys of one object as they are read, to refuse a repeated one without
/// building the object. The first few are kept in place (no allocation for
/// the many small objects of a task response); past them a sorted set keeps a
/// hostile object of many keys from costing n² compares.
#[derive(Default)]
pub(crate) struct Keys<'a> {
    few: [std::borrow::Cow<'a, str>; FEW_KEYS],
    n: usize,
    many: std::collections::BTreeSet<std::borrow::Cow<'a, str>>,
}

const FEW_KEYS: usize = 12;

impl<'a> Keys<'a> {
    pub(crate) fn add<E: de::Error>(&mut self, k: std::borrow::Cow<'a, str>) -> Result<(), E> {
        if self.n < FEW_KEYS {
            if self.few[..self.n].contains(&k) {
                return Err(duplicate(&k));
            }
            self.few[self.n] = k;
            self.n += 1;
            return Ok(());
        }
        if self.few.contains(&k) || self.many.contains(&k) {
            return Err(duplicate(&k));
        }
        self.many.insert(k);
        Ok(())
    }
}

/// An object's fields as (name, raw JSON), in their order, values unparsed:
/// how results and stored entries are taken apart without building a tree.
pub struct RawFields<'a>(pub Vec<(Cow<'a, str>, Cow<'a, RawValue>)>);

impl<'a> RawFields<'a> {
    /// The raw value of field `name`.
    pub fn get(&self, name: &str) -> Option<&RawValue> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| &**v)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for RawFields<'a> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = RawFields<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = map.next_key_seed(KeySeed)? {
                    let v: &'de RawValue = map.next_value()?;
                    out.push((k, Cow::Borrowed(v)));
                }
                Ok(RawFields(out))
            }
        }
        d.deserialize_map(Fields)
    }
}

/// An object key, borrowed from the input unless it had escapes.
pub(crate) struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = std::borrow::Cow<'de, str>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(KeySeed)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = std::borrow::Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string key")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(std::borrow::Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(std::borrow::Cow::Owned(v.to_owned()))
    }
}

struct StrictValue;

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number out of range"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(StrictValue)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            if out.contains_key(&k) {
                return Err(duplicate(&k));
            }
            let v = map.next_value_seed(StrictValue)?;
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
}

/// The longest prefix of `s` whose JSON string form, quotes excluded, takes
/// at most `max` bytes (control characters take six, `"` and `\\` two), so a
/// text can be cut to a byte budget measured after serialisation.
pub(crate) fn json_prefix(s: &str, max: usize) -> &str {
    let mut n = 0;
    for (i, c) in s.char_indices() {
        n += match c {
            '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
            c if (c as u32) < 0x20 => 6,
            c => c.len_utf8(),
        };
        if n > max {
            return &s[..i];
        }
    }
    s
}

/// Shortens `s` to at most `max` characters for quoting in messages.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

/// `n` with a comma between thousands (1,000).
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_prefixes_are_measured_as_serialised() {
        for s in ["plain text", "q\"uo\\te", "\u{1}\u{2}\n\t", "é€😀", ""] {
            for max in 0..40 {
                let p = json_prefix(s, max);
                assert!(s.starts_with(p));
                let len = serde_json::to_string(p).unwrap().len() - 2;
                assert!(len <= max, "{s:?} {max}: {len}");
                if p.len() < s.len() {
                    let next = &s[..p.len() + s[p.len()..].chars().next().unwrap().len_utf8()];
                    assert!(serde_json::to_string(next).unwrap().len() - 2 > max);
                }
            }
        }
    }

    #[test]
    fn accepts_ordinary_json() {
        assert_eq!(
            parse_strict(br#" {"a":[1,2.5,"x",null,true]} "#).unwrap()["a"][2],
            "x"
        );
    }

    #[test]
    fn refuses_bad_inputs_with_reasons() {
        assert!(parse_strict(b"").unwrap_err().contains("empty"));
        assert!(parse_strict(b"  ").unwrap_err().contains("empty"));
        assert!(parse_strict(b"\xff\xfe").unwrap_err().contains("UTF-8"));
        assert!(parse_strict(br#"{"a":1,"a":2}"#)
            .unwrap_err()
            .contains("duplicate key `a`"));
        assert!(parse_strict(b"1e999").unwrap_err().contains("invalid JSON"));
        assert!(parse_strict(b"{} {}").unwrap_err().contains("invalid JSON"));
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        assert!(parse_strict(deep.as_bytes())
            .unwrap_err()
            .contains("invalid JSON"));
    }

    #[test]
    fn big_integers_survive() {
        assert_eq!(
            parse_strict(b"18446744073709551615").unwrap(),
            Value::from(u64::MAX)
        );
    }
}
