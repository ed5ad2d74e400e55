//! Shaping results: list pages trimmed to the size hosted clients accept
//! (field by field, without parsing field values: each stays the `RawValue`
//! it was read as), the same limit for every other result, and the output
//! schemas of Scale's objects.

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::{to_raw_value, RawValue};
use serde_json::Value;
use std::borrow::Cow;

/// Text above this many bytes is trimmed (hosted clients cap tool output).
pub const MAX_TEXT_BYTES: usize = 200 * 1024;

/// One list item as (field, JSON) pairs, so a list can be trimmed without
/// parsing the fields' values.
pub type Item<'a> = Vec<(Cow<'a, str>, Cow<'a, RawValue>)>;

/// The fields a list item keeps at each trimming stage, in order: everything;
/// without the heavy `response` and `params`; only the identifying fields;
/// only short identifying fields (metadata, tags and progress can be large too).
const STAGES: [&[&str]; 4] = [
    &[],
    &["response", "params"],
    &["all fields but the identifying ones"],
    &["all fields but short identifying ones (metadata and tags too)"],
];

fn keep(stage: usize, id_fields: &[&str], key: &str, value: &RawValue) -> bool {
    match stage {
        0 => true,
        1 => !matches!(key, "response" | "params"),
        2 => id_fields.contains(&key),
        _ => {
            id_fields.contains(&key)
                && !matches!(key, "metadata" | "tags" | "progress")
                && value.get().len() <= 1024
        }
    }
}

fn item_len(stage: usize, id_fields: &[&str], item: &Item) -> usize {
    let fields: usize = item
        .iter()
        .filter(|(k, v)| keep(stage, id_fields, k, v))
        .map(|(k, v)| k.len() + v.get().len() + 4)
        .sum();
    fields + 2
}

/// A page of items at one trimming stage, written by serde around the
/// items' raw field values.
struct Page<'x, 'a> {
    list_key: &'x str,
    items: &'x [Item<'a>],
    rest: &'x [(&'x str, Value)],
    id_fields: &'x [&'x str],
    stage: usize,
    truncated: Option<Truncated<'x>>,
}

#[derive(Serialize)]
struct Truncated<'a> {
    dropped: &'a [&'a str],
    reason: String,
    how_to_get_full_items: &'a str,
}

struct Items<'x, 'a>(&'x Page<'x, 'a>);
struct Kept<'x, 'a>(&'x Item<'a>, &'x Page<'x, 'a>);

impl Serialize for Page<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry(self.list_key, &Items(self))?;
        for (k, v) in self.rest {
            m.serialize_entry(k, v)?;
        }
        if let Some(t) = &self.truncated {
            m.serialize_entry("truncated", t)?;
        }
        m.end()
    }
}

impl Serialize for Items<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.items.len()))?;
        for it in self.0.items {
            seq.serialize_element(&Kept(it, self.0))?;
        }
        seq.end()
    }
}

impl Serialize for Kept<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let p = self.1;
        let mut m = s.serialize_map(None)?;
        for (k, v) in self.0 {
            if keep(p.stage, p.id_fields, k, v) {
                m.serialize_entry(k, &**v)?;
            }
        }
        m.end()
    }
}

/// Writes `{"<list_key>":[items],<rest>}` within [`MAX_TEXT_BYTES`], trimming
/// the items at the first stage that fits and saying so in a `truncated`
/// field.
pub fn fit_items(
    list_key: &str,
    items: &[Item],
    rest: &[(&str, Value)],
    id_fields: &[&str],
    how_to_get: &str,
) -> Box<RawValue> {
    let rest_len: usize = rest
        .iter()
        .map(|(k, v)| k.len() + v.to_string().len() + 4)
        .sum();
    let budget = MAX_TEXT_BYTES.saturating_sub(rest_len + 512);
    let stage = (0..STAGES.len())
        .find(|&st| {
            items
                .iter()
                .map(|it| item_len(st, id_fields, it))
                .sum::<usize>()
                <= budget
        })
        .unwrap_or(STAGES.len() - 1);
    let page = Page {
        list_key,
        items,
        rest,
        id_fields,
        stage,
        truncated: (stage > 0).then(|| Truncated {
            dropped: STAGES[stage],
            reason: format!(
                "the full result is larger than {} KB",
                MAX_TEXT_BYTES / 1024
            ),
            how_to_get_full_items: how_to_get,
        }),
    };
    raw(&page)
}

/// An object's fields as (name, raw JSON), in their order, values unparsed.
pub struct RawFields<'a>(pub Item<'a>);

impl<'de: 'a, 'a> Deserialize<'de> for RawFields<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = RawFields<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = map.next_key_seed(crate::json::KeySeed)? {
                    let v: &'de RawValue = map.next_value()?;
                    out.push((k, Cow::Borrowed(v)));
                }
                Ok(RawFields(out))
            }
        }
        d.deserialize_map(Fields)
    }
}

/// Any tool result within [`MAX_TEXT_BYTES`]: a larger one loses its
/// largest top-level fields, largest first, until it fits, and names them in
/// a `truncated` field (lists are trimmed more finely before this, by
/// [`fit_items`]).
pub fn fit_result(result: Box<RawValue>) -> Box<RawValue> {
    if result.get().len() <= MAX_TEXT_BYTES {
        return result;
    }
    let fields = match serde_json::from_str::<RawFields>(result.get()) {
        Ok(f) => f.0,
        Err(_) => Vec::new(),
    };
    let size = |(k, v): &(Cow<str>, Cow<RawValue>)| k.len() + v.get().len() + 4;
    let mut order: Vec<usize> = (0..fields.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(size(&fields[i])));
    let mut total: usize = fields.iter().map(size).sum();
    let mut dropped = vec![false; fields.len()];
    for i in order {
        // Room for the note, which names what was dropped.
        if total + 1024 <= MAX_TEXT_BYTES {
            break;
        }
        total -= size(&fields[i]);
        dropped[i] = true;
    }
    let names: Vec<&str> = fields
        .iter()
        .zip(&dropped)
        .filter(|(_, d)| **d)
        .map(|((k, _), _)| k.as_ref())
        .collect();
    let trimmed = Trimmed {
        fields: &fields,
        dropped: &dropped,
        truncated: Truncated {
            dropped: &names,
            reason: format!(
                "the full result is larger than {} KB",
                MAX_TEXT_BYTES / 1024
            ),
            how_to_get_full_items: "Ask for less: a smaller `limit`, `limited_response: true` where the tool has it, or one item by its id.",
        },
    };
    raw(&trimmed)
}

/// A result object without some of its fields, and the note saying which.
struct Trimmed<'x, 'a> {
    fields: &'x Item<'a>,
    dropped: &'x [bool],
    truncated: Truncated<'x>,
}

impl Serialize for Trimmed<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        for ((k, v), d) in self.fields.iter().zip(self.dropped) {
            // An earlier note (a trimmed list's) gives way to this one.
            if !d && k != "truncated" {
                m.serialize_entry(k, &**v)?;
            }
        }
        m.serialize_entry("truncated", &self.truncated)?;
        m.end()
    }
}

/// Serialises a result built here (our own types cannot fail to serialise).
pub fn raw<T: Serialize + ?Sized>(v: &T) -> Box<RawValue> {
    to_raw_value(v).unwrap_or_else(|_| raw_null())
}

fn raw_null() -> Box<RawValue> {
    RawValue::from_string("null".into()).expect("valid JSON")
}

/// List items held as values, as (field, JSON) pairs for [`fit_items`].
pub fn value_items(items: &[Value]) -> Vec<Item<'static>> {
    items
        .iter()
        .map(|it| match it {
            Value::Object(m) => m
                .iter()
                .map(|(k, v)| (Cow::Owned(k.clone()), Cow::Owned(raw(v))))
                .collect(),
            // Scale's list items are objects; anything else would become `{}`.
            _ => Vec::new(),
        })
        .collect()
}

/// Output schemas of the objects Scale returns.
pub mod out {
    use serde_json::{json, Value};

    /// An open object (Scale adds fields over time). Scale's objects may carry
    /// `null` for any field it has no value for, so every typed property also
    /// admits null: a client that validates results must not reject them.
    pub fn output(mut props: Value) -> Value {
        if let Some(m) = props.as_object_mut() {
            for p in m.values_mut() {
                if let Some(Value::String(t)) = p.get("type").cloned() {
                    p["type"] = json!([t, "null"]);
                }
            }
        }
        json!({"type": "object", "properties": props, "additionalProperties": true})
    }
    /// The task object as Scale returns it.
    pub fn task() -> Value {
        output(json!({
            "task_id": {"type": "string"},
            "type": {"type": "string"},
            "status": {"type": "string"},
            "project": {"type": "string"},
            "batch": {"type": "string"},
            "created_at": {"type": "string"},
            "completed_at": {"type": "string"},
            "metadata": {"type": "object"},
            "tags": {"type": "array"},
            "params": {"type": "object"},
            "response": {},
        }))
    }
    pub fn batch() -> Value {
        output(json!({
            "name": {"type": "string"},
            "project": {"type": "string"},
            "status": {"type": "string"},
            "callback": {"type": "string"},
            "created_at": {"type": "string"},
            "metadata": {"type": "object"},
        }))
    }
    pub fn project() -> Value {
        output(json!({
            "name": {"type": "string"},
            "type": {"type": "string"},
            "param_history": {"type": "array"},
            "created_at": {"type": "string"},
        }))
    }
}
