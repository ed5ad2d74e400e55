//! Task tools: create (and evaluation tasks), get, list, cancel, update
//! (metadata, tags, unique_id) and resend_callback.

use super::{
    fit_items, parse_args, query_dates, run_one, run_steps, s, task_type, value_items, Ctx, Hints,
    Item, Out, Step, ToolDef, ToolError, ToolResult, CREATE, MAX_TEXT_BYTES, READ,
};
use crate::io::{BoxFut, Method};
use crate::scale::{object_or_ok, Call, Retry, Scale};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};
use std::borrow::Cow;

pub const TASK_TYPES_HINT: &str = "Common types: imageannotation, categorization, comparison, textcollection, documenttranscription, \
segmentannotation, polygonannotation, lineannotation, pointannotation, cuboidannotation, videoannotation, videoplaybackannotation, \
lidarannotation, lidarsegmentation, namedentityrecognition, transcription, chat, multichat.";

const STATUSES: &[&str] = &["pending", "completed", "canceled", "error"];
const REVIEW_STATUSES: &[&str] = &["pending", "fixed", "accepted", "rejected", "commented"];

pub fn tools() -> Vec<ToolDef> {
    vec![
        ToolDef {
            name: "create_task",
            title: "Create task",
            description: "Creates one Scale labeling task: POST /task/{type}. Give `project` (or a `batch`, which implies its project; Rapid projects need a batch), \
the data to label in `attachment` (a URL, or the scaledata:// URL from import_file), and any type-specific fields (geometries, labels, fields, ...) in `params`, \
which are merged into the request body. Set `unique_id` so a retry can never create a duplicate: Scale answers 409 for a reused unique_id. \
Scale POSTs the finished task to `callback_url` (defaults to the server's DEFAULT_CALLBACK_URL, else the account default). Returns the created task with its task_id. \
A 402 means the task type is not enabled for the account.",
            input_schema: create_task_schema,
            output_schema: s::task,
            hints: CREATE,
            run: create_task,
        },
        ToolDef {
            name: "create_evaluation_task",
            title: "Create evaluation task",
            description: "Creates a Scale Rapid evaluation (quality) task: POST /evaluation_tasks/{type}. Labelers' answers are scored against `expected_response`, \
which must have the same shape as a real task response for the project; `initial_response` makes it a review-phase evaluation task. \
Type-specific task fields go in `params`. Only Rapid projects support this. Returns the evaluation task (its id is `id`, not `task_id`).",
            input_schema: || {
                s::input(
                    json!({
                        "type": type_schema(),
                        "expected_response": s::object("The correct answer, shaped like a task response for this project."),
                        "initial_response": s::object("A pre-filled response for review-phase evaluation tasks."),
                        "project": s::string("Project name (a Rapid project)."),
                        "batch": s::string("Batch name."),
                        "params": s::object("Other task fields for this type (attachment, geometries, ...), merged into the request body."),
                    }),
                    &["type", "expected_response"],
                )
            },
            output_schema: || s::output(json!({"id": {"type": "string"}, "expected_response": {}, "initial_response": {}})),
            hints: CREATE,
            run: create_evaluation_task,
        },
        ToolDef {
            name: "get_task",
            title: "Get task",
            description: "Fetches one task by id: GET /task/{task_id}. Returns the full task: status (pending, completed, canceled, error), params, \
metadata, tags, and `response` (the labels) once completed. Use list_tasks to find tasks by project, batch or unique_id.",
            input_schema: || s::input(json!({"task_id": s::id("The task's id.")}), &["task_id"]),
            output_schema: s::task,
            hints: READ,
            run: get_task,
        },
        ToolDef {
            name: "list_tasks",
            title: "List tasks",
            description: "Lists tasks, newest first, with filters: GET /tasks. Returns {tasks, total, has_more, next_token}; pass `next_token` back to get the next page. \
`limit` is 1-100 (default 10). Use `limited_response` for lighter items (task_id, status, metadata, project) and `unique_id` to find the task created with that id. \
Dates are ISO 8601. Very large pages are trimmed (a `truncated` field says so); use get_task for a full task.",
            input_schema: || {
                s::input(
                    json!({
                        "project": s::string("Project name."),
                        "batch": s::string("Batch name."),
                        "status": s::enum_of(STATUSES, "Task status."),
                        "type": s::string("Task type, e.g. imageannotation."),
                        "tags": s::strings("Only tasks with these tags."),
                        "unique_id": s::string("The unique_id the task was created with."),
                        "customer_review_status": {"type": "array", "items": {"type": "string", "enum": REVIEW_STATUSES}, "description": "Audit statuses to match."},
                        "created_after": s::date("Created at or after this time."),
                        "created_before": s::date("Created at or before this time."),
                        "completed_after": s::date("Completed at or after this time."),
                        "completed_before": s::date("Completed at or before this time."),
                        "updated_after": s::date("Updated at or after this time."),
                        "updated_before": s::date("Updated at or before this time."),
                        "limit": s::int(1, 100, "Page size, 1-100 (default 10)."),
                        "next_token": s::string("The next_token of the previous page."),
                        "limited_response": s::boolean("Return only task_id, status, metadata and project for each task."),
                        "include_attachment_url": s::boolean("Include pre-signed attachment URLs."),
                    }),
                    &[],
                )
            },
            output_schema: || {
                json!({"type": "object", "required": ["tasks", "has_more"], "properties": {
                    "tasks": {"type": "array", "items": {"type": "object"}},
                    "total": {"type": ["integer", "null"]},
                    "has_more": {"type": "boolean"},
                    "next_token": {"type": ["string", "null"]},
                    "truncated": {"type": "object"},
                }})
            },
            hints: READ,
            run: list_tasks,
        },
        ToolDef {
            name: "cancel_task",
            title: "Cancel task",
            description: "Cancels a task: POST /task/{task_id}/cancel. Only pending tasks (work not started) can be canceled; Scale answers 400 for a completed task. \
Canceling an already canceled task is harmless. `clear_unique_id` also frees the task's unique_id so it can be reused. Returns the task.",
            input_schema: || {
                s::input(
                    json!({"task_id": s::id("The task's id."), "clear_unique_id": s::boolean("Also remove the task's unique_id so it can be reused.")}),
                    &["task_id"],
                )
            },
            output_schema: s::task,
            hints: Hints { read_only: false, destructive: true, idempotent: true, open_world: true },
            run: cancel_task,
        },
        ToolDef {
            name: "update_task",
            title: "Update task",
            description: "Changes a task's metadata, tags or unique_id. `metadata` REPLACES the whole metadata object (Scale v1 has no merge: get_task first and send the merged object). \
`set_tags` replaces all tags; `add_tags` and `remove_tags` change some (not together with set_tags). `unique_id` sets a new one; `clear_unique_id` removes it. \
Steps run in this order, only those asked: metadata, set_tags, add_tags, remove_tags, unique_id, clear_unique_id. Returns the task after the last step; \
if a step fails, the error says which steps were already applied.",
            input_schema: || {
                s::input(
                    json!({
                        "task_id": s::id("The task's id."),
                        "metadata": s::object("The new metadata; replaces the existing object."),
                        "set_tags": s::strings("Replace all tags with these."),
                        "add_tags": s::strings("Tags to add."),
                        "remove_tags": s::strings("Tags to remove."),
                        "unique_id": {"type": "string", "minLength": 1, "description": "A new unique_id (409 if another task has it)."},
                        "clear_unique_id": s::boolean("Remove the task's unique_id."),
                    }),
                    &["task_id"],
                )
            },
            output_schema: s::task,
            hints: Hints { read_only: false, destructive: true, idempotent: true, open_world: true },
            run: update_task,
        },
        ToolDef {
            name: "resend_callback",
            title: "Resend task callback",
            description: "Asks Scale to deliver a task's callback again: POST /task/{task_id}/send-callback. Works for completed or errored tasks that have a callback_url; \
useful when the receiver was down after Scale's retries (20 over 24 h) ran out. Returns Scale's answer.",
            input_schema: || s::input(json!({"task_id": s::id("The task's id.")}), &["task_id"]),
            output_schema: || s::output(json!({})),
            hints: Hints { read_only: false, destructive: false, idempotent: false, open_world: true },
            run: resend_callback,
        },
    ]
}

fn type_schema() -> Value {
    s::task_type(&format!(
        "The Scale task type (path segment). {TASK_TYPES_HINT}"
    ))
}

fn create_task_schema() -> Value {
    s::input(
        json!({
            "type": type_schema(),
            "project": s::string("Project name."),
            "batch": s::string("Batch name (required for Rapid projects; implies the project)."),
            "instruction": s::string("Instructions for labelers (markdown). Rapid projects inherit the project's when omitted."),
            "callback_url": s::string("URL (or e-mail) Scale notifies when the task completes."),
            "attachment": s::string("The data to label: a URL or a scaledata:// URL from import_file."),
            "attachment_type": s::string("Attachment kind for older task types, e.g. image, text, website."),
            "unique_id": s::string("Your idempotency key; Scale refuses a second task with the same one (409)."),
            "metadata": s::object("Your own key/values, returned with the task (max 10 KB)."),
            "tags": s::strings("Tags for filtering, e.g. [\"split:train\"]."),
            "params": s::object("Every other type-specific field (geometries, labels, fields, ...), merged into the body's top level."),
        }),
        &["type"],
    )
}

const CREATE_FIELDS: &[&str] = &[
    "project",
    "batch",
    "instruction",
    "callback_url",
    "attachment",
    "attachment_type",
    "unique_id",
    "metadata",
    "tags",
];

/// Builds a body from the named fields and `params` merged at the top level;
/// a key given both ways (or `type`, the create tools' path argument) is
/// refused rather than silently picked.
pub(crate) fn merged_body(
    args: &Map<String, Value>,
    fields: &[&str],
) -> Result<Map<String, Value>, ToolError> {
    let mut body = Map::new();
    for f in fields {
        if let Some(v) = args.get(*f) {
            body.insert((*f).to_string(), v.clone());
        }
    }
    if let Some(Value::Object(p)) = args.get("params") {
        for (k, v) in p {
            if (k == "type" || fields.contains(&k.as_str())) && args.contains_key(k) {
                return Err(ToolError::invalid(format!(
                    "`params.{k}` duplicates the `{k}` argument; give it only once"
                )));
            }
            body.insert(k.clone(), v.clone());
        }
    }
    Ok(body)
}

fn create_task<'a>(cx: &'a Ctx<'a>, args: Map<String, Value>) -> BoxFut<'a, ToolResult> {
    Box::pin(async move {
        let ty = task_type(&args)?;
        let mut body = merged_body(&args, CREATE_FIELDS)?;
        if !body.contains_key("callback_url") {
            if let Some(u) = &cx.config.default_callback_url {
                body.insert("callback_url".into(), json!(u));
            }
        }
        let unique_id = body
            .get("unique_id")
            .and_then(Value::as_str)
            .map(str::to_string);
        let mut call = Call::post()
            .lit("task")
            .seg("type", &ty)?
            .body(Value::Object(body));
        if let Some(u) = &unique_id {
            call = call.hint(409, format!(
                "A task with unique_id `{u}` already exists: fetch it with list_tasks {{\"unique_id\": \"{u}\"}}. \
To reuse the id, cancel that task with clear_unique_id or remove its id with update_task clear_unique_id."
            ));
        }
        let sc = Scale::new(cx.config, cx.upstream);
        let result = match &unique_id {
            Some(u) => sc.create_unique(&call, u).await,
            None => sc.send(&call, Retry::Never).await,
        };
        result
            .map(|v| object_or_ok(v).into())
            .map_err(|e| sc.tool_error(&call, e))
    })
}

fn create_evaluation_task<'a>(cx: &'a Ctx<'a>, args: Map<String, Value>) -> BoxFut<'a, ToolResult> {
    Box::pin(async move {
        let ty = task_type(&args)?;
        let fields = ["expected_response", "initial_response", "project", "batch"];
        let body = merged_body(&args, &fields)?;
        let call = Call::post()
            .lit("evaluation_tasks")
            .seg("type", &ty)?
            .body(Value::Object(body));
        run_one(cx, call, Retry::Never).await
    })
}

#[derive(Deserialize)]
struct TaskId {
    task_id: String,
}

fn get_task<'a>(cx: &'a Ctx<'a>, args: Map<String, Value>) -> BoxFut<'a, ToolResult> {
    Box::pin(async move {
        let a: TaskId = parse_args(args)?;
        run_one(
            cx,
            Call::get().lit("task").seg("task_id", &a.task_id)?,
            Retry::Idempotent,
        )
        .await
    })
}

#[derive(Deserialize)]
struct ListArgs {
    project: Option<String>,
    batch: Option<String>,
    status: Option<String>,
    #[serde(rename = "type")]
    ty: Option<String>,
    tags: Option<Vec<String>>,
    unique_id: Option<String>,
    customer_review_status: Option<Vec<String>>,
    created_after: Option<String>,
    created_before: Option<String>,
    completed_after: Option<String>,
    completed_before: Option<String>,
    updated_after: Option<String>,
    updated_before: Option<String>,
    limit: Option<f64>,
    next_token: Option<String>,
    limited_response: Option<bool>,
    include_attachment_url: Option<bool>,
}

/// Builds `GET /tasks` from list_tasks arguments.
pub fn list_tasks_call(args: Map<String, Value>) -> Result<Call, ToolError> {
    let a: ListArgs = parse_args(args)?;
    let dates = [
        ("created_after", "start_time", &a.created_after),
        ("created_before", "end_time", &a.created_before),
        ("completed_after", "completed_after", &a.completed_after),
        ("completed_before", "completed_before", &a.completed_before),
        ("updated_after", "updated_after", &a.updated_after),
        ("updated_before", "updated_before", &a.updated_before),
    ];
    let mut call = Call::get()
        .lit("tasks")
        .query_opt("project", a.project)
        .query_opt("batch", a.batch)
        .query_opt("status", a.status)
        .query_opt("type", a.ty);
    for t in a.tags.unwrap_or_default() {
        call = call.query("tags", t);
    }
    call = call.query_opt("unique_id", a.unique_id);
    if let Some(r) = a.customer_review_status.filter(|r| !r.is_empty()) {
        call = call.query("customer_review_status", r.join(","));
    }
    call = query_dates(call, &dates)?
        .query("limit", (a.limit.unwrap_or(10.0) as i64).to_string())
        .query_opt("next_token", a.next_token)
        .query_opt(
            "limited_response",
            a.limited_response.map(|b| b.to_string()),
        )
        .query_opt(
            "include_attachment_url",
            a.include_attachment_url.map(|b| b.to_string()),
        );
    Ok(call)
}

const TASK_ID_FIELDS: &[&str] = &[
    "task_id",
    "status",
    "type",
    "project",
    "batch",
    "created_at",
    "completed_at",
    "unique_id",
    "metadata",
    "tags",
];
const TASK_HOW_TO_GET: &str =
    "call get_task with an item's task_id, or ask for fewer tasks with a smaller `limit` or `limited_response`";

/// The fields besides `tasks`, as JSON text.
fn task_list_rest(
    total: Option<u64>,
    has_more: Option<bool>,
    next: Option<String>,
) -> [(&'static str, String); 3] {
    let next = next.filter(|t| !t.is_empty());
    let has_more = has_more.unwrap_or(next.is_some());
    [
        ("total", total.map_or("null".into(), |t| t.to_string())),
        ("has_more", has_more.to_string()),
        ("next_token", Value::from(next).to_string()),
    ]
}

/// Shapes Scale's `/tasks` answer text into `{tasks, total, has_more,
/// next_token}` without parsing the tasks' contents: each task's JSON is
/// copied as it came, or field by field when the page must be trimmed.
/// `None` when the text is not JSON at all.
pub fn task_list_text(text: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Page<D> {
        docs: Vec<D>,
        total: Option<u64>,
        has_more: Option<bool>,
        next_token: Option<String>,
    }
    // An answer much larger than the limit cannot fit whole: skip the copy-through attempt.
    let fast = text.len() <= MAX_TEXT_BYTES + MAX_TEXT_BYTES / 4;
    if let Some(p) = fast
        .then(|| serde_json::from_str::<Page<&RawValue>>(text).ok())
        .flatten()
    {
        let size: usize = p.docs.iter().map(|d| d.get().len() + 1).sum();
        if size + 512 <= MAX_TEXT_BYTES {
            let mut out = String::with_capacity(size + 128);
            out.push_str("{\"tasks\":[");
            for (i, d) in p.docs.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(d.get());
            }
            out.push(']');
            for (k, v) in task_list_rest(p.total, p.has_more, p.next_token) {
                out.push_str(&format!(",\"{k}\":{v}"));
            }
            out.push('}');
            return Some(out);
        }
    }
    if let Ok(p) = serde_json::from_str::<Page<RawFields>>(text) {
        let items: Vec<Item> = p.docs.into_iter().map(|f| f.0).collect();
        return Some(fit_items(
            "tasks",
            &items,
            &task_list_rest(p.total, p.has_more, p.next_token),
            TASK_ID_FIELDS,
            TASK_HOW_TO_GET,
        ));
    }
    // Not the usual shape: take what can be used and leave the rest.
    let v: Value = serde_json::from_str(text).ok()?;
    let docs = v
        .get("docs")
        .and_then(Value::as_array)
        .map(|d| value_items(d))
        .unwrap_or_default();
    let rest = task_list_rest(
        v.get("total").and_then(Value::as_u64),
        v.get("has_more").and_then(Value::as_bool),
        v.get("next_token")
            .and_then(Value::as_str)
            .map(str::to_string),
    );
    Some(fit_items(
        "tasks",
        &docs,
        &rest,
        TASK_ID_FIELDS,
        TASK_HOW_TO_GET,
    ))
}

/// An object's fields as (name, JSON text), in Scale's order, values unparsed.
struct RawFields<'a>(Item<'a>);

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
                    out.push((k, Cow::Borrowed(v.get())));
                }
                Ok(RawFields(out))
            }
        }
        d.deserialize_map(Fields)
    }
}

fn list_tasks<'a>(cx: &'a Ctx<'a>, args: Map<String, Value>) -> BoxFut<'a, ToolResult> {
    Box::pin(async move {
        let call = list_tasks_call(args)?;
        let sc = Scale::new(cx.config, cx.upstream);
        let text = sc
            .send_raw(&call, Retry::Idempotent)
            .await
            .map_err(|e| sc.tool_error(&call, e))?
            .unwrap_or_else(|| "{}".into());
        task_list_text(&text)
            .map(Out::Raw)
            .ok_or_else(|| sc.tool_error(&call, crate::scale::not_json(&text)))
    })
}

#[derive(Deserialize)]
struct CancelArgs {
    task_id: String,
    clear_unique_id: Option<bool>,
}

fn cancel_task<'a>(cx: &'a Ctx<'a>, args: Map<String, Value>) -> BoxFut<'a, ToolResult> {
    Box::pin(async move {
        let a: CancelArgs = parse_args(args)?;
        let mut call = Call::post()
            .lit("task")
            .seg("task_id", &a.task_id)?
            .lit("cancel");
        if a.clear_unique_id == Some(true) {
            call = call.query("clear_unique_id", "true");
        }
        // Not retried: a cancel is cheap to repeat by hand, and a repeat after an
        // unseen success would report a confusing 400 for a task canceled by us.
        let call = call.hint(
            400,
            "Only pending tasks can be canceled; get_task shows the task's status.",
        );
        run_one(cx, call, Retry::Never).await
    })
}

#[derive(Deserialize)]
struct UpdateArgs {
    task_id: String,
    metadata: Option<Map<String, Value>>,
    set_tags: Option<Vec<String>>,
    add_tags: Option<Vec<String>>,
    remove_tags: Option<Vec<String>>,
    unique_id: Option<String>,
    clear_unique_id: Option<bool>,
}

/// The steps of update_task, in order, as (name, call).
pub fn update_task_steps(args: Map<String, Value>) -> Result<Vec<Step>, ToolError> {
    let a: UpdateArgs = parse_args(args)?;
    if a.set_tags.is_some() && (a.add_tags.is_some() || a.remove_tags.is_some()) {
        return Err(ToolError::invalid("`set_tags` replaces all tags, so it cannot be combined with `add_tags` or `remove_tags`"));
    }
    let clear = a.clear_unique_id == Some(true);
    if a.unique_id.is_some() && clear {
        return Err(ToolError::invalid(
            "`unique_id` and `clear_unique_id` exclude each other",
        ));
    }
    let task = |m| Call::new(m).lit("task").seg("task_id", &a.task_id);
    // Metadata and tag steps set state (replace, add, remove), so a repeat is
    // harmless; a unique_id set by an unseen success would answer 409 on a
    // repeat, so that step is sent once.
    let once = Retry::Never;
    let again = Retry::Idempotent;
    let mut steps = Vec::new();
    if let Some(m) = a.metadata {
        steps.push((
            "metadata",
            task(Method::Post)?
                .lit("setMetadata")
                .body(Value::Object(m)),
            again,
        ));
    }
    if let Some(t) = a.set_tags {
        steps.push((
            "set_tags",
            task(Method::Post)?.lit("tags").body(json!(t)),
            again,
        ));
    }
    if let Some(t) = a.add_tags {
        steps.push((
            "add_tags",
            task(Method::Put)?.lit("tags").body(json!(t)),
            again,
        ));
    }
    if let Some(t) = a.remove_tags {
        steps.push((
            "remove_tags",
            task(Method::Delete)?.lit("tags").body(json!(t)),
            again,
        ));
    }
    if let Some(u) = a.unique_id {
        steps.push((
            "unique_id",
            task(Method::Post)?
                .lit("unique_id")
                .body(json!({"unique_id": u})),
            once,
        ));
    }
    if clear {
        steps.push((
            "clear_unique_id",
            task(Method::Delete)?.lit("unique_id"),
            again,
        ));
    }
    if steps.is_empty() {
        return Err(ToolError::invalid(
            "nothing to update: give at least one of metadata, set_tags, add_tags, remove_tags, unique_id, clear_unique_id (true)",
        ));
    }
    Ok(steps)
}

fn update_task<'a>(cx: &'a Ctx<'a>, args: Map<String, Value>) -> BoxFut<'a, ToolResult> {
    Box::pin(async move {
        let steps = update_task_steps(args)?;
        let sc = Scale::new(cx.config, cx.upstream);
        let mut done = run_steps(&sc, steps).await?;
        let last = done.pop().map_or(Value::Null, |(_, v)| v);
        Ok(object_or_ok(last).into())
    })
}

fn resend_callback<'a>(cx: &'a Ctx<'a>, args: Map<String, Value>) -> BoxFut<'a, ToolResult> {
    Box::pin(async move {
        let a: TaskId = parse_args(args)?;
        let call = Call::post()
            .lit("task")
            .seg("task_id", &a.task_id)?
            .lit("send-callback")
            .hint(400, "Scale resends callbacks only for completed or errored tasks that have a callback_url.");
        run_one(cx, call, Retry::Never).await
    })
}
