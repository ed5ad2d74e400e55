//! Shaping results: list pages trimmed to the size hosted clients accept
//! (field by field, without parsing field values: each stays the `RawValue`
//! it was read as), the same limit for every other result, a batch's
//! progress counts, and the output schemas of Scale's objects.

pub use crate::json::RawFields;
use crate::json::{json_prefix, object};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::value::{to_raw_value, RawValue};
use serde_json::Value;
use std::borrow::Cow;

/// Text above this many bytes is trimmed (hosted clients cap tool output).
pub const MAX_TEXT_BYTES: usize = 200 * 1024;
/// Why a result was trimmed (the limit above, in words).
const TOO_LARGE: &str = "the full result is larger than 200 KB";

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
    reason: &'static str,
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
            reason: TOO_LARGE,
            how_to_get_full_items: how_to_get,
        }),
    };
    raw(&page)
}

/// Any tool result within [`MAX_TEXT_BYTES`]: a larger one loses its
/// largest top-level fields, largest first, until it fits, and names them in
/// a `truncated` field (lists are trimmed more finely before this, by
/// [`fit_items`]).
pub fn fit_result(result: Box<RawValue>) -> Box<RawValue> {
    fit_result_keeping(result, "", GET_LESS)
}

const GET_LESS: &str = "Ask for less: a smaller `limit`, `limited_response: true` where the tool has it, or one item by its id.";

/// [`fit_result`], except that field `text` (a stored callback's `body`,
/// say), when it is the one too large, is kept as the beginning of its JSON
/// text, as a string, rather than dropped.
pub fn fit_result_keeping(result: Box<RawValue>, text: &str, how_to: &str) -> Box<RawValue> {
    if result.get().len() <= MAX_TEXT_BYTES {
        return result;
    }
    let fields = match serde_json::from_str::<RawFields>(result.get()) {
        Ok(f) => f.0,
        Err(_) => Vec::new(),
    };
    let size = |(k, v): &(Cow<str>, Cow<RawValue>)| k.len() + v.get().len() + 4;
    let mut total: usize = fields.iter().map(size).sum();
    let mut dropped: Vec<usize> = Vec::new();
    let mut cut = None;
    // Room for the note, which names what was dropped. A result has a few
    // dozen fields at most, so the largest is simply looked for each time.
    while total + 1024 > MAX_TEXT_BYTES {
        let Some(i) = (0..fields.len())
            .filter(|i| !dropped.contains(i))
            .max_by_key(|&i| size(&fields[i]))
        else {
            break;
        };
        total -= size(&fields[i]);
        dropped.push(i);
        if fields[i].0 == text {
            // As much of its text as fits, measured escaped.
            let room = MAX_TEXT_BYTES.saturating_sub(total + 1024 + text.len() + 6);
            let head = json_prefix(fields[i].1.get(), room);
            total += head.len();
            cut = Some((i, head));
        }
    }
    let names: Vec<&str> = dropped.iter().map(|&i| fields[i].0.as_ref()).collect();
    let trimmed = Trimmed {
        fields: &fields,
        dropped: &dropped,
        cut,
        truncated: Truncated {
            dropped: &names,
            reason: TOO_LARGE,
            how_to_get_full_items: if cut.is_some() { how_to } else { GET_LESS },
        },
    };
    raw(&trimmed)
}

/// A result object without some of its fields (or with one cut to the
/// beginning of its text), and the note saying which.
struct Trimmed<'x, 'a> {
    fields: &'x Item<'a>,
    dropped: &'x [usize],
    cut: Option<(usize, &'x str)>,
    truncated: Truncated<'x>,
}

impl Serialize for Trimmed<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        for (i, (k, v)) in self.fields.iter().enumerate() {
            match self.cut {
                Some((c, head)) if c == i => m.serialize_entry(k, head)?,
                // An earlier note (a trimmed list's) gives way to this one.
                _ if self.dropped.contains(&i) || k == "truncated" => {}
                _ => m.serialize_entry(k, &**v)?,
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

/// A batch's `progress`, from Scale's `/batches/{name}/status` answer: its
/// tasks counted by status, and the total (Scale leaves out zero counts).
pub fn batch_progress(status: &Value) -> Value {
    let n = |k: &str| status.get(k).and_then(Value::as_u64).unwrap_or(0);
    let (p, c, e, x) = (n("pending"), n("completed"), n("error"), n("canceled"));
    object(vec![
        ("pending", Value::from(p)),
        ("completed", Value::from(c)),
        ("error", Value::from(e)),
        ("canceled", Value::from(x)),
        ("total", Value::from(p + c + e + x)),
    ])
}

/// Output schemas: of the objects Scale returns, and each tool's, kept as
/// JSON text (`json!` would compile each into code) and parsed when the
/// tool list is built.
pub mod out {
    use serde_json::Value;

    /// A schema written as JSON text (the tools' tests check each parses).
    pub fn schema(text: &str) -> Value {
        serde_json::from_str(text).unwrap_or_default()
    }

    /// An open object (Scale adds fields over time) with the properties in
    /// `props` (JSON text). Scale's objects may carry `null` for any field it
    /// has no value for, so every typed property also admits null: a client
    /// that validates results must not reject them.
    pub fn output(props: &str) -> Value {
        let mut props = schema(props);
        if let Some(m) = props.as_object_mut() {
            for p in m.values_mut() {
                if let Some(Value::String(t)) = p.get("type").cloned() {
                    p["type"] = Value::from(vec![t, "null".to_string()]);
                }
            }
        }
        let mut o = serde_json::Map::new();
        o.insert("type".into(), "object".into());
        o.insert("properties".into(), props);
        o.insert("additionalProperties".into(), true.into());
        Value::Object(o)
    }
    /// The task object as Scale returns it.
    pub fn task() -> Value {
        output(
            r#"{"task_id": {"type": "string"}, "type": {"type": "string"}, "status": {"type": "string"},
"project": {"type": "string"}, "batch": {"type": "string"}, "created_at": {"type": "string"},
"completed_at": {"type": "string"}, "metadata": {"type": "object"}, "tags": {"type": "array"},
"params": {"type": "object"}, "response": {}}"#,
        )
    }
    // The fields of a batch and of a project, as text shared by the schemas below.
    macro_rules! batch_props {
        () => {
            r#""name": {"type": "string"}, "project": {"type": "string"}, "status": {"type": "string"},
"callback": {"type": "string"}, "created_at": {"type": "string"}, "metadata": {"type": "object"}"#
        };
    }
    macro_rules! project_props {
        () => {
            r#""name": {"type": "string"}, "type": {"type": "string"},
"param_history": {"type": "array"}, "created_at": {"type": "string"}"#
        };
    }
    pub fn batch() -> Value {
        output(concat!("{", batch_props!(), "}"))
    }
    /// A batch with its `progress` (get_batch).
    pub fn batch_with_progress() -> Value {
        output(concat!(
            "{",
            batch_props!(),
            r#", "progress": {"type": ["object", "null"], "properties": {
"pending": {"type": "integer"}, "completed": {"type": "integer"}, "error": {"type": "integer"},
"canceled": {"type": "integer"}, "total": {"type": "integer"}}}}"#
        ))
    }
    pub fn project() -> Value {
        output(concat!("{", project_props!(), "}"))
    }
    /// A project and Scale's answer to setOntology (update_project).
    pub fn project_update() -> Value {
        output(concat!(
            "{",
            project_props!(),
            r#", "ontology_update": {"description": "Scale's answer to setOntology"}}"#
        ))
    }
}
