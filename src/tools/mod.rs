//! The tool registry and what every tool shares: the definition type, argument
//! validation against the tool's own schema, result shaping (structured
//! content plus the same JSON as text, trimmed when too large) and tool errors.
//! Each Scale area lives in its own file with its tools' schemas, descriptions,
//! request mapping and result shaping together.

pub mod batches;
pub mod callbacks;
pub mod files;
pub mod projects;
pub mod schema;
pub mod tasks;
pub mod team;

use crate::config::Config;
use crate::io::{BoxFut, CallbackStore, Upstream};
use crate::mcp::rpc::RpcError;
use crate::scale::{object_or_ok, Call, Retry, Scale, ScaleError};
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};
use std::borrow::Cow;
use std::sync::OnceLock;

/// What a tool call may use.
pub struct Ctx<'a> {
    pub config: &'a Config,
    pub upstream: &'a dyn Upstream,
    pub store: Option<&'a dyn CallbackStore>,
}

#[derive(Clone, Copy, Debug)]
pub struct Hints {
    pub read_only: bool,
    pub destructive: bool,
    pub idempotent: bool,
    pub open_world: bool,
}

/// A Scale read: safe to repeat, touches the outside world.
pub const READ: Hints = Hints {
    read_only: true,
    destructive: false,
    idempotent: true,
    open_world: true,
};
/// A Scale create: a repeat makes another resource.
pub const CREATE: Hints = Hints {
    read_only: false,
    destructive: false,
    idempotent: false,
    open_world: true,
};

/// A tool's structured result: a JSON value, or JSON text that is passed
/// through as it came from Scale (an object, already checked).
#[derive(Clone, Debug, PartialEq)]
pub enum Out {
    Json(Value),
    Raw(String),
}

impl From<Value> for Out {
    fn from(v: Value) -> Self {
        Out::Json(v)
    }
}

pub type ToolResult = Result<Out, ToolError>;
pub type RunFn = for<'a> fn(&'a Ctx<'a>, Map<String, Value>) -> BoxFut<'a, ToolResult>;

pub struct ToolDef {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub input_schema: fn() -> Value,
    pub output_schema: fn() -> Value,
    pub hints: Hints,
    pub run: RunFn,
}

/// A failed tool call, reported to the agent as a result with `isError`.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolError {
    pub kind: ErrorKind,
    /// Scale's HTTP status, when Scale answered.
    pub status: Option<u16>,
    pub message: String,
    /// For multi-step tools: the steps that were applied before the failure.
    pub applied: Option<Vec<String>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidArguments,
    Scale,
    Config,
    Store,
}

impl ToolError {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::InvalidArguments,
            status: None,
            message: message.into(),
            applied: None,
        }
    }
    pub fn scale(status: Option<u16>, message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Scale,
            status,
            message: message.into(),
            applied: None,
        }
    }
    pub fn config(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Config,
            status: None,
            message: message.into(),
            applied: None,
        }
    }
    pub fn store(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Store,
            status: None,
            message: message.into(),
            applied: None,
        }
    }
    pub fn with_applied(mut self, steps: Vec<String>) -> Self {
        self.applied = Some(steps);
        self
    }
    fn text(&self, tool: &str) -> String {
        let mut t = match self.kind {
            ErrorKind::InvalidArguments => format!(
                "Invalid arguments for {tool}: {}. No request was sent to Scale.",
                self.message
            ),
            _ => self.message.clone(),
        };
        if let Some(steps) = &self.applied {
            if steps.is_empty() {
                t.push_str("\nNo step was applied.");
            } else {
                t.push_str(&format!(
                    "\nSteps applied before the failure: {}.",
                    steps.join(", ")
                ));
            }
        }
        t
    }
}

/// Every tool, in the order `tools/list` shows them.
pub fn registry() -> &'static [ToolDef] {
    static ALL: OnceLock<Vec<ToolDef>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut v = Vec::new();
        v.extend(tasks::tools());
        v.extend(batches::tools());
        v.extend(projects::tools());
        v.extend(team::tools());
        v.extend(files::tools());
        v.extend(callbacks::tools());
        v
    })
}

/// Input schemas, built once (they are also the validation rules).
fn input_schemas() -> &'static [Value] {
    static S: OnceLock<Vec<Value>> = OnceLock::new();
    S.get_or_init(|| registry().iter().map(|t| (t.input_schema)()).collect())
}

pub fn find(name: &str) -> Option<(usize, &'static ToolDef)> {
    registry().iter().enumerate().find(|(_, t)| t.name == name)
}

/// The `tools` array of `tools/list`.
pub fn list_values() -> Vec<Value> {
    registry()
        .iter()
        .zip(input_schemas())
        .map(|(t, input)| {
            json!({
                "name": t.name,
                "title": t.title,
                "description": t.description,
                "inputSchema": input,
                "outputSchema": (t.output_schema)(),
                "annotations": {
                    "title": t.title,
                    "readOnlyHint": t.hints.read_only,
                    "destructiveHint": t.hints.destructive,
                    "idempotentHint": t.hints.idempotent,
                    "openWorldHint": t.hints.open_world,
                },
            })
        })
        .collect()
}

/// Runs a tool and returns the serialised `CallToolResult`: an unknown name
/// is a protocol error; everything else, including invalid arguments, is a
/// tool result.
pub async fn call_text(
    cx: &Ctx<'_>,
    name: &str,
    args: Map<String, Value>,
) -> Result<String, RpcError> {
    let Some((i, tool)) = find(name) else {
        return Err(RpcError::invalid_params(format!(
            "unknown tool `{}`; call tools/list for the available tools",
            crate::json::truncate(name, 64)
        )));
    };
    let outcome = match schema::validate(&input_schemas()[i], &args) {
        Err(m) => Err(ToolError::invalid(m)),
        Ok(()) => {
            // Explicit nulls mean "not given"; dropping them keeps them off the wire.
            let args: Map<String, Value> = args.into_iter().filter(|(_, v)| !v.is_null()).collect();
            (tool.run)(cx, args).await
        }
    };
    Ok(match outcome {
        Ok(Out::Raw(text)) => success(&text),
        Ok(Out::Json(v)) => success(&v.to_string()),
        Err(e) => json!({"content": [{"type": "text", "text": e.text(name)}], "isError": true})
            .to_string(),
    })
}

/// [`call_text`], parsed (for tests, which look at the result's parts).
#[cfg(test)]
pub(crate) async fn call(
    cx: &Ctx<'_>,
    name: &str,
    args: Map<String, Value>,
) -> Result<Value, RpcError> {
    let text = call_text(cx, name, args).await?;
    serde_json::from_str(&text)
        .map_err(|e| RpcError::new(crate::mcp::rpc::INTERNAL_ERROR, e.to_string()))
}

/// Text above this many bytes is trimmed (hosted clients cap tool output).
pub const MAX_TEXT_BYTES: usize = 200 * 1024;

/// The result: the structured JSON, and the same JSON as a text block.
fn success(structured: &str) -> String {
    // One buffer, sized up front: the text block is the structured JSON escaped.
    let mut out = Vec::with_capacity(2 * structured.len() + structured.len() / 4 + 64);
    out.extend_from_slice(b"{\"content\":[{\"type\":\"text\",\"text\":");
    let _ = serde_json::to_writer(&mut out, structured);
    out.extend_from_slice(b"}],\"structuredContent\":");
    out.extend_from_slice(structured.as_bytes());
    out.push(b'}');
    // Only valid UTF-8 went in, so this cannot fail.
    String::from_utf8(out).unwrap_or_default()
}

/// Appends `s` as a JSON string. Names taken unescaped from JSON text need no
/// escaping, so the common case is a plain copy.
fn push_json_str(out: &mut String, s: &str) {
    if s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        out.push_str(&Value::from(s).to_string());
    } else {
        out.push('"');
        out.push_str(s);
        out.push('"');
    }
}

/// One list item as (field, JSON text) pairs, so a list can be trimmed
/// without parsing the fields' values.
pub type Item<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

/// The fields a list item keeps at each trimming stage, in order: everything;
/// without the heavy `response` and `params`; only the identifying fields;
/// only short identifying fields (metadata, tags and progress can be large too).
const STAGES: [&[&str]; 4] = [
    &[],
    &["response", "params"],
    &["all fields but the identifying ones"],
    &["all fields but short identifying ones (metadata and tags too)"],
];

fn keep(stage: usize, id_fields: &[&str], key: &str, value: &str) -> bool {
    match stage {
        0 => true,
        1 => !matches!(key, "response" | "params"),
        2 => id_fields.contains(&key),
        _ => {
            id_fields.contains(&key)
                && !matches!(key, "metadata" | "tags" | "progress")
                && value.len() <= 1024
        }
    }
}

fn item_len(stage: usize, id_fields: &[&str], item: &Item) -> usize {
    let fields: usize = item
        .iter()
        .filter(|(k, v)| keep(stage, id_fields, k, v))
        .map(|(k, v)| k.len() + v.len() + 4)
        .sum();
    fields + 2
}

/// Writes `{"<list_key>":[items],<rest>}` within [`MAX_TEXT_BYTES`], trimming
/// the items at the first stage that fits and saying so in a `truncated`
/// field. `rest` holds the other fields as (name, JSON text).
pub fn fit_items(
    list_key: &str,
    items: &[Item],
    rest: &[(&str, String)],
    id_fields: &[&str],
    how_to_get: &str,
) -> String {
    let budget = MAX_TEXT_BYTES.saturating_sub(
        rest.iter()
            .map(|(k, v)| k.len() + v.len() + 4)
            .sum::<usize>()
            + 512,
    );
    let stage = (0..STAGES.len())
        .find(|&st| {
            items
                .iter()
                .map(|it| item_len(st, id_fields, it))
                .sum::<usize>()
                <= budget
        })
        .unwrap_or(STAGES.len() - 1);
    let mut out = String::with_capacity(budget.min(MAX_TEXT_BYTES) + 256);
    out.push('{');
    push_json_str(&mut out, list_key);
    out.push_str(":[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('{');
        let mut first = true;
        for (k, v) in item.iter().filter(|(k, v)| keep(stage, id_fields, k, v)) {
            if !first {
                out.push(',');
            }
            first = false;
            push_json_str(&mut out, k);
            out.push(':');
            out.push_str(v);
        }
        out.push('}');
    }
    out.push(']');
    for (k, v) in rest {
        out.push(',');
        push_json_str(&mut out, k);
        out.push(':');
        out.push_str(v);
    }
    if stage > 0 {
        let note = json!({
            "dropped": STAGES[stage],
            "reason": format!("the full result is larger than {} KB", MAX_TEXT_BYTES / 1024),
            "how_to_get_full_items": how_to_get,
        });
        out.push_str(&format!(",\"truncated\":{note}"));
    }
    out.push('}');
    out
}

/// List items held as values, as (field, JSON text) pairs for [`fit_items`].
pub fn value_items(items: &[Value]) -> Vec<Item<'static>> {
    items
        .iter()
        .map(|it| match it {
            Value::Object(m) => m
                .iter()
                .map(|(k, v)| (Cow::Owned(k.clone()), Cow::Owned(v.to_string())))
                .collect(),
            // Scale's list items are objects; anything else would become `{}`.
            _ => Vec::new(),
        })
        .collect()
}

/// Deserialises validated arguments into a tool's typed struct.
pub fn parse_args<T: DeserializeOwned>(args: Map<String, Value>) -> Result<T, ToolError> {
    serde_json::from_value(Value::Object(args)).map_err(|e| ToolError::invalid(e.to_string()))
}

/// Adds the time filters that are given, each checked by [`check_iso_date`]
/// and sent under its wire name: `(argument, wire name, value)`.
pub fn query_dates(
    mut call: Call,
    filters: &[(&str, &str, &Option<String>)],
) -> Result<Call, ToolError> {
    for (arg, wire, v) in filters {
        if let Some(v) = v {
            check_iso_date(arg, v)?;
            call = call.query(wire, v.clone());
        }
    }
    Ok(call)
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

/// A Scale task type: one path segment of lower-case letters and digits.
pub fn check_task_type(name: &str, v: &str) -> Result<(), ToolError> {
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

/// Runs one Scale call and shapes a 2xx into an object.
pub(crate) async fn run_one(cx: &Ctx<'_>, call: Call, retry: Retry) -> ToolResult {
    let sc = Scale::new(cx.config, cx.upstream);
    match sc.send_raw(&call, retry).await {
        // An object passes through as Scale sent it: checked, not parsed into a tree or rebuilt.
        Ok(Some(text))
            if text.trim_start().starts_with('{')
                && serde_json::from_str::<&RawValue>(&text).is_ok() =>
        {
            Ok(Out::Raw(text))
        }
        Ok(Some(text)) => match serde_json::from_str::<Value>(&text) {
            Ok(v) => Ok(object_or_ok(v).into()),
            Err(_) => Err(sc.tool_error(&call, crate::scale::not_json(&text))),
        },
        Ok(None) => Ok(object_or_ok(Value::Null).into()),
        Err(e) => Err(sc.tool_error(&call, e)),
    }
}

/// A step of a multi-request tool: its name (as errors report it), the call
/// and how it may be retried.
pub(crate) type Step = (&'static str, Call, Retry);

/// Sends `steps` in order and stops at the first failure (see [`step_error`]).
/// Returns each step's answer.
pub(crate) async fn run_steps(
    sc: &Scale<'_>,
    steps: Vec<Step>,
) -> Result<Vec<(&'static str, Value)>, ToolError> {
    let mut done: Vec<(&'static str, Value)> = Vec::new();
    for (name, call, retry) in steps {
        match sc.send(&call, retry).await {
            Ok(v) => done.push((name, v)),
            Err(e) => {
                let applied = done.iter().map(|(n, _)| n.to_string()).collect();
                return Err(step_error(sc, name, &call, e, applied));
            }
        }
    }
    Ok(done)
}

/// The error of a failed step: which step, Scale's error, and the steps
/// applied before it (writes are not rolled back, so the agent must know).
pub(crate) fn step_error(
    sc: &Scale<'_>,
    step: &str,
    call: &Call,
    e: ScaleError,
    applied: Vec<String>,
) -> ToolError {
    let mut err = sc.tool_error(call, e);
    err.message = format!("Step `{step}` failed. {}", err.message);
    err.with_applied(applied)
}

/// The validated task type in argument `type` (the schema's `pattern` says
/// the same to clients; the validator leaves patterns to this check).
pub fn task_type(args: &Map<String, Value>) -> Result<String, ToolError> {
    let ty = args.get("type").and_then(Value::as_str).unwrap_or_default();
    check_task_type("type", ty)?;
    Ok(ty.to_string())
}

/// Common schema fragments.
pub mod s {
    use serde_json::{json, Value};

    /// A Scale task type, as [`super::task_type`] checks it.
    pub fn task_type(desc: &str) -> Value {
        json!({"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[a-z0-9]+$", "description": desc})
    }

    pub fn string(desc: &str) -> Value {
        json!({"type": "string", "description": desc})
    }
    /// A string that becomes a path segment: never empty.
    pub fn id(desc: &str) -> Value {
        json!({"type": "string", "minLength": 1, "maxLength": 1024, "description": desc})
    }
    pub fn boolean(desc: &str) -> Value {
        json!({"type": "boolean", "description": desc})
    }
    pub fn object(desc: &str) -> Value {
        json!({"type": "object", "description": desc})
    }
    pub fn strings(desc: &str) -> Value {
        json!({"type": "array", "items": {"type": "string"}, "description": desc})
    }
    pub fn enum_of(values: &[&str], desc: &str) -> Value {
        json!({"type": "string", "enum": values, "description": desc})
    }
    pub fn int(min: i64, max: i64, desc: &str) -> Value {
        json!({"type": "integer", "minimum": min, "maximum": max, "description": desc})
    }
    pub fn date(desc: &str) -> Value {
        json!({"type": "string", "description": format!("{desc} ISO 8601 date or date-time, e.g. 2026-01-31 or 2026-01-31T12:00:00Z.")})
    }
    /// An object schema with `additionalProperties: false`.
    pub fn input(props: Value, required: &[&str]) -> Value {
        let mut v = json!({"type": "object", "properties": props, "additionalProperties": false});
        if !required.is_empty() {
            v["required"] = json!(required);
        }
        v
    }
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

#[cfg(test)]
mod tests;
