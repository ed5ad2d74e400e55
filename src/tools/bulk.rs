//! `create_tasks`: up to 100 tasks of one type in one call, safe to repeat.
//!
//! Every item gets a `unique_id` (its own, or `idempotency_key` plus a hash
//! of the item's content, so the order of the list does not matter). All
//! items are checked before anything is sent; one bad item refuses the call.
//! Then one lookup finds the items that already exist (a repeated call, or
//! one that stopped at the subrequest limit, costs one request for all of
//! them instead of a failed create each), and the rest are created at most
//! [`MAX_OPEN_CONNECTIONS`] at a time. A create answered 409 fetches the task
//! by its `unique_id` and checks it is the same task. When the request's
//! subrequests or time run out, the items not reached are reported as not
//! done, and the same call continues with them.

use super::args::{args, d, Decl};
use super::create::{merged_body, task_create_rules, TYPE_DECL};
use super::error::ToolError;
use super::formats::task_type;
use super::kernel::{tool, Hints, ToolDef, ToolResult};
use super::run::Session;
use super::shape::out;
use crate::auth::View;
use crate::codec::{fnv128_hex, percent_encode};
use crate::context::{join_bounded, Ctx, MAX_OPEN_CONNECTIONS};
use crate::io::BoxFut;
use crate::json::object;
use crate::scale::{Call, Retry, ScaleError};
use serde_json::{Map, Value};
use std::cell::Cell;

/// The most items one call takes.
pub(crate) const MAX_ITEMS: usize = 100;
/// Longest query one existence lookup sends (well under the 8 KiB of a
/// request line that HTTP servers commonly accept); more ids take more
/// lookups. 100 ids derived from a 20-character key take about 5.5 KB.
const LOOKUP_QUERY_BYTES: usize = 6000;

pub(crate) const TOOLS: &[ToolDef] = &[tool! {
    name: "create_tasks",
    title: "Create tasks in bulk",
    description: "Creates up to 100 Scale tasks of one `type` in one call: POST /task/{type} per item, several at a time \
(or up to 10,000 from a manifest at `items_url`, as an MCP task). \
`project`/`batch` apply to every item; each item of `items` holds its task's own fields (attachment, instruction, callback_url, metadata, tags, \
unique_id, and type-specific fields in `params`). Every task gets a unique_id: the item's own, or one derived from `idempotency_key` and the \
item's content, so the same call again never creates a duplicate: tasks that exist are reported as already_existed. Every item is checked \
before anything is sent; an invalid item refuses the whole call, naming its index. The result lists each item: created, already_existed, \
failed (with Scale's status and message) or not_done. One request may make only SUBREQUEST_LIMIT Scale requests (50 on the Workers free \
plan): when they or the time run out the call stops cleanly, and the same call again continues with the items not done. \
Afterwards: finalize_batch for a staging batch, then wait_for_batch.",
    args: CreateTasks,
    output: output_schema,
    hints: Hints { read_only: false, destructive: false, idempotent: true, open_world: true },
    scope: Write,
    untrusted: &[],
    projects: Create,
    progress: true,
    run: create_tasks,
}];

/// One item of `items`: what create_task takes, without the shared `type`,
/// `project` and `batch`. Kept as text (`json!` would compile it into code);
/// the validator checks every item against it, so the tool reads an item's
/// fields straight from its map.
const ITEM_SCHEMA: &str = r#"{"type": "object", "additionalProperties": false, "properties": {
"attachment": {"type": "string", "description": "The data to label: a URL, or a scaledata:// URL from import_file."},
"attachment_type": {"type": "string", "description": "For older task types, e.g. image, text."},
"unique_id": {"type": "string", "minLength": 1, "maxLength": 256, "description": "This task's idempotency key (else derived)."},
"instruction": {"type": "string", "description": "Instructions for labelers (markdown)."},
"callback_url": {"type": "string", "description": "URL or e-mail notified on completion (default: DEFAULT_CALLBACK_URL)."},
"metadata": {"type": "object", "description": "Your key/values, returned with the task (max 10 KB)."},
"tags": {"type": "array", "items": {"type": "string"}, "description": "Tags for filtering."},
"params": {"type": "object", "description": "Other type-specific fields (geometries, labels, ...), merged into the body."}}}"#;

fn items_decl() -> Value {
    object(vec![
        ("minItems", Value::from(1)),
        ("maxItems", Value::from(MAX_ITEMS)),
        (
            "items",
            serde_json::from_str::<Value>(ITEM_SCHEMA).unwrap_or_default(),
        ),
        (
            "description",
            Value::from("The tasks to create (1-100), each with its own fields."),
        ),
    ])
}

args! {
    pub(crate) struct CreateTasks {
        req r#type: String = TYPE_DECL,
        opt items: Vec<Value> = Decl::Fn(items_decl),
        opt items_url: String = d("Instead of `items`: an https URL of a manifest of up to 10,000 items (JSONL, one item object a line; \
or CSV with a header row of item fields), created as one job that a task-aware client follows as an MCP task."),
        opt project: String = d("Project name, for every item."),
        opt batch: String = d("Batch name, for every item (required for Rapid projects; implies the project)."),
        opt idempotency_key: String = d("Names this set of tasks (1-100 characters): each item without a unique_id gets `<idempotency_key>:<hash of the item>`. \
Reuse it to repeat or continue the call; use a new one for new work. Required unless every item has a unique_id."),
    }
}

/// The output schema, kept as text: `json!` would compile it into code.
const OUTPUT_SCHEMA: &str = r#"{"type": "object", "required": ["complete", "total", "items"], "properties": {
"complete": {"type": "boolean"}, "total": {"type": "integer"}, "created": {"type": "integer"},
"already_existed": {"type": "integer"}, "failed": {"type": "integer"}, "not_done": {"type": "integer"},
"next_step": {"type": "string"}, "job": {"type": "string"}, "state": {"type": "string"},
"message": {"type": "string"}, "next_after": {"type": "integer"},
"items": {"type": "array", "items": {"type": "object", "required": ["unique_id", "outcome"], "properties": {
"index": {"type": "integer"}, "line": {"type": "integer"}, "unique_id": {"type": "string"},
"outcome": {"enum": ["created", "already_existed", "failed", "not_done"]},
"task_id": {"type": "string"}, "task_status": {"type": "string"}, "scale_status": {"type": "integer"},
"error": {"type": "string"}}}}}}"#;

fn output_schema() -> Value {
    out::schema(OUTPUT_SCHEMA)
}

/// Item fields that may be sent as `null` for "not given".
const ITEM_FIELDS: [&str; 8] = [
    "attachment",
    "attachment_type",
    "unique_id",
    "instruction",
    "callback_url",
    "metadata",
    "tags",
    "params",
];

/// One item, checked and ready to send.
#[derive(Debug)]
pub(crate) struct Item {
    pub index: usize,
    pub unique_id: String,
    /// The request body, `unique_id` and the create rules' fields included.
    pub body: Map<String, Value>,
}

/// What became of one item, as the result lists it: `index`, `unique_id`,
/// `outcome` (created, already_existed, failed, or not_done: not sent, or
/// its fate unknown, because the request's budget ran out) and, as they
/// apply, `task_id`, `task_status`, `scale_status` and `error`. Built as a
/// map: a serde type per row shape would cost the upload more code.
type Row = Map<String, Value>;

impl Item {
    fn row(&self, outcome: &str) -> Row {
        let mut r = Map::new();
        r.insert("index".into(), self.index.into());
        r.insert("unique_id".into(), self.unique_id.as_str().into());
        r.insert("outcome".into(), outcome.into());
        r
    }
    fn failed(&self, status: Option<u16>, message: String) -> Row {
        let mut r = self.row("failed");
        if let Some(s) = status {
            r.insert("scale_status".into(), s.into());
        }
        r.insert("error".into(), message.into());
        r
    }
    /// The row of an item whose task Scale just created: its `task_id`.
    fn created(&self, task: &Value) -> Row {
        self.with_task("created", task, &[("task_id", "task_id")])
    }
    /// The row of an item whose task existed: its `task_id` and status.
    fn already_existed(&self, task: &Value) -> Row {
        self.with_task(
            "already_existed",
            task,
            &[("task_id", "task_id"), ("status", "task_status")],
        )
    }
    /// A row naming the task `task`, with its `fields` (task field, row field).
    fn with_task(&self, outcome: &str, task: &Value, fields: &[(&str, &str)]) -> Row {
        let mut r = self.row(outcome);
        for (from, to) in fields {
            if let Some(v) = task.get(*from).filter(|v| v.is_string()) {
                r.insert(to.to_string(), v.clone());
            }
        }
        r
    }
}

fn outcome(r: &Row) -> &str {
    r.get("outcome").and_then(Value::as_str).unwrap_or("")
}

/// What every item of a call shares: the task type, `project`, `batch`
/// and `idempotency_key`.
#[derive(Clone, Debug)]
pub(crate) struct Shared {
    pub ty: String,
    pub project: Option<String>,
    pub batch: Option<String>,
    pub key: Option<String>,
}

impl Shared {
    /// The shared arguments, checked.
    pub(crate) fn checked(
        ty: String,
        project: Option<String>,
        batch: Option<String>,
        key: Option<String>,
    ) -> Result<Shared, ToolError> {
        task_type("type", &ty)?;
        if key.as_ref().is_some_and(|k| k.is_empty() || k.len() > 100) {
            return Err(ToolError::invalid(
                "`idempotency_key` must be 1 to 100 bytes long",
            ));
        }
        Ok(Shared {
            ty,
            project,
            batch,
            key,
        })
    }
}

/// Checks one item (an object of [`ITEM_SCHEMA`]'s fields) as a create of
/// it would be checked, and builds its body and `unique_id`.
pub(crate) fn check_item(
    cx: &Ctx,
    sh: &Shared,
    mut given: Map<String, Value>,
) -> Result<(String, Map<String, Value>), ToolError> {
    for k in ITEM_FIELDS {
        if given.get(k).is_some_and(Value::is_null) {
            given.remove(k);
        }
    }
    let params = match given.remove("params") {
        Some(Value::Object(p)) => Some(p),
        _ => None,
    };
    for (k, v) in [("project", &sh.project), ("batch", &sh.batch)] {
        if let Some(v) = v {
            given.insert(k.into(), Value::String(v.clone()));
        }
    }
    let mut body = merged_body(given, params, Some("type"))?;
    scoped_item(cx, &sh.batch, &body)?;
    let unique_id = match (body.get("unique_id"), &sh.key) {
        (Some(Value::String(u)), _) => u.clone(),
        (None, Some(key)) => {
            let u = derived_unique_id(key, &sh.ty, &body);
            body.insert("unique_id".into(), Value::String(u.clone()));
            u
        }
        _ => return Err(ToolError::invalid(
            "no unique_id; give every item a string `unique_id`, or give the call an `idempotency_key` to derive them from",
        )),
    };
    task_create_rules(cx, &mut body)?;
    Ok((unique_id, body))
}

/// Checks every item and builds its body and `unique_id`; the first
/// problem refuses the call with the item's index.
pub(crate) fn prepare(cx: &Ctx, a: CreateTasks) -> Result<(String, Vec<Item>), ToolError> {
    let sh = Shared::checked(a.r#type, a.project, a.batch, a.idempotency_key)?;
    // A refusal stays a refusal (for the audit line), with the item named.
    let at = |i: usize, mut e: ToolError| {
        e.message = format!("`items[{i}]`: {}", e.message);
        e
    };
    let given = a.items.unwrap_or_default();
    if given.is_empty() {
        return Err(ToolError::invalid(
            "give `items` (1-100 tasks), or `items_url` (a manifest of up to 10,000) from a task-aware client",
        ));
    }
    let mut items: Vec<Item> = Vec::with_capacity(given.len());
    for (index, raw) in given.into_iter().enumerate() {
        // The validator has checked every item against ITEM_SCHEMA.
        let Value::Object(raw) = raw else {
            return Err(at(index, ToolError::invalid("must be an object")));
        };
        let (unique_id, body) = check_item(cx, &sh, raw).map_err(|e| at(index, e))?;
        if let Some(first) = items.iter().find(|it| it.unique_id == unique_id) {
            return Err(ToolError::invalid(format!(
                "`items[{}]` and `items[{index}]` have the same unique_id `{unique_id}` (identical items derive the same one); each task needs its own",
                first.index
            )));
        }
        items.push(Item {
            index,
            unique_id,
            body,
        });
    }
    Ok((sh.ty, items))
}

/// On a connection confined to projects, the checks around the call cover
/// its shared `project` and `batch`: an item may not name others in `params`.
fn scoped_item(
    cx: &Ctx,
    batch: &Option<String>,
    body: &Map<String, Value>,
) -> Result<(), ToolError> {
    let view = cx.view();
    if view.projects().is_none() {
        return Ok(());
    }
    let text = |k: &str| body.get(k).map(|v| v.as_str().unwrap_or(""));
    if text("project").is_some_and(|p| !view.allows_project(p)) {
        return Err(ToolError::refused(
            "`params.project` names a project outside this connection's projects, so no task was created.",
            None,
        ));
    }
    if text("batch").is_some_and(|b| Some(b) != batch.as_deref()) {
        return Err(ToolError::refused(
            "on a connection confined to projects, every item goes to the call's own `batch`; leave `batch` out of the item's `params`. No task was created.",
            None,
        ));
    }
    Ok(())
}

/// `<key>:<hash>` of the task type and the item's body as the caller gave
/// it (before server defaults such as DEFAULT_CALLBACK_URL, which may change
/// between calls). serde_json's map is ordered by key here (its
/// `preserve_order` feature is off), so the text depends on content only.
pub(crate) fn derived_unique_id(key: &str, ty: &str, body: &Map<String, Value>) -> String {
    let text = format!("{ty}\n{}", Value::Object(body.clone()));
    format!("{key}:{}", fnv128_hex(text.as_bytes()))
}

/// The row of an item whose unique_id `task` holds: already_existed when
/// the task is the one the item describes, else failed, naming what differs.
/// On a connection confined to projects, a task outside them is not shown
/// (unique ids are per account, so it may be another project's).
fn existing(view: &View, task: &Value, ty: &str, item: &Item) -> Row {
    let text = |k: &str| task.get(k).and_then(Value::as_str).map(str::to_string);
    if view.projects().is_some() && !text("project").is_some_and(|p| view.allows_project(&p)) {
        return item.failed(
            Some(409),
            "a task with this unique_id already exists outside this connection's projects, so none was created; give the item another unique_id (or the call another idempotency_key)".into(),
        );
    }
    let mut diffs = Vec::new();
    if text("type").is_some_and(|t| t != ty) {
        diffs.push("type");
    }
    let attachment = task.get("params").and_then(|p| p.get("attachment"));
    for (k, have) in [
        ("project", task.get("project")),
        ("batch", task.get("batch")),
        ("metadata", task.get("metadata")),
        ("attachment", attachment),
    ] {
        if let (Some(want), Some(have)) = (item.body.get(k), have) {
            if want != have {
                diffs.push(k);
            }
        }
    }
    if !diffs.is_empty() {
        return item.failed(Some(409), format!(
            "its unique_id belongs to task {}, which differs from this item ({}); give the item another unique_id (or the call another idempotency_key)",
            text("task_id").unwrap_or_default(),
            diffs.join(", ")
        ));
    }
    item.already_existed(task)
}

/// Whether a failure only means the request's budget ran out.
fn out_of_budget(e: &ScaleError) -> bool {
    matches!(e, ScaleError::Budget | ScaleError::SubrequestLimit(_))
}

/// Finds the items that already exist, a few lookups for all of them.
async fn lookup(s: &Session<'_>, items: &[Item]) -> Result<Map<String, Value>, ToolError> {
    let mut found = Map::new();
    let mut start = 0;
    while start < items.len() {
        // As many ids as fit the query (at least one), each `unique_id=<encoded>&`.
        let (mut end, mut bytes) = (start, 0);
        while end < items.len() {
            bytes += percent_encode(&items[end].unique_id).len() + 11;
            if end > start && bytes > LOOKUP_QUERY_BYTES {
                break;
            }
            end += 1;
        }
        let ids: Vec<&str> = items[start..end]
            .iter()
            .map(|i| i.unique_id.as_str())
            .collect();
        let tasks = s.sc.tasks_by_unique_id(&ids).await.map_err(|e| {
            let mut err = s.error(&Call::get().lit("tasks"), e, &[]);
            err.message = format!(
                "Could not check which tasks already exist, so none was created. {}",
                err.message
            );
            err
        })?;
        for t in tasks {
            if let Some(u) = t.get("unique_id").and_then(Value::as_str) {
                found.insert(u.to_string(), t);
            }
        }
        start = end;
    }
    Ok(found)
}

/// Creates one item; a 409 fetches the task holding its unique_id.
async fn create_one(s: &Session<'_>, ty: &str, item: &Item) -> Row {
    // The type was checked to be lower-case letters and digits: one plain segment.
    let call = Call::post()
        .lit("task")
        .lit(ty)
        .body(Value::Object(item.body.clone()));
    // Retried like a read: a repeat of a create with a unique_id cannot duplicate it.
    let e = match s.sc.send(&call, Retry::Idempotent).await {
        Ok(v) => return item.created(&v),
        Err(e) => e,
    };
    let e = match e {
        ScaleError::Http { status: 409, .. } => {
            match s.sc.tasks_by_unique_id(&[&item.unique_id]).await {
                Ok(tasks) => match tasks.first() {
                    Some(t) => return existing(s.cx.view(), t, ty, item),
                    None => {
                        return item.failed(
                            Some(409),
                            "Scale answered 409 (unique_id in use) but no task with it could be found; call again".into(),
                        )
                    }
                },
                Err(e) => e,
            }
        }
        e => e,
    };
    if out_of_budget(&e) {
        return item.row("not_done");
    }
    let err = s.error(&call, e, &[]);
    item.failed(err.status, err.message)
}

async fn create_tasks(cx: &Ctx, a: CreateTasks) -> ToolResult {
    if a.items_url.is_some() {
        job::jobs(cx)?;
        return Err(ToolError::invalid(job::NEEDS_TASKS));
    }
    let (ty, items) = prepare(cx, a)?;
    let total = items.len();
    let s = Session::new(cx);
    let existing_tasks = lookup(&s, &items).await?;
    let mut rows: Vec<Option<Row>> = items
        .iter()
        .map(|i| {
            existing_tasks
                .get(&i.unique_id)
                .map(|t| existing(cx.view(), t, &ty, i))
        })
        .collect();
    let done = Cell::new(rows.iter().flatten().count());
    let report = |message: String| cx.report(done.get() as f64, Some(total as f64), message);
    report(format!("{} of {total} items already exist", done.get()));
    let futs: Vec<BoxFut<'_, Row>> = items
        .iter()
        .zip(&rows)
        .filter(|(_, r)| r.is_none())
        .map(|(item, _)| {
            let (s, ty, done, report) = (&s, ty.as_str(), &done, &report);
            Box::pin(async move {
                let row = create_one(s, ty, item).await;
                if outcome(&row) != "not_done" {
                    done.set(done.get() + 1);
                    report(format!("item {}: {}", item.index, outcome(&row)));
                }
                row
            }) as BoxFut<'_, Row>
        })
        .collect();
    let mut created = join_bounded(futs, MAX_OPEN_CONNECTIONS).await.into_iter();
    for r in rows.iter_mut().filter(|r| r.is_none()) {
        *r = created.next();
    }
    let rows: Vec<Row> = rows.into_iter().flatten().collect();
    let count = |o: &str| rows.iter().filter(|r| outcome(r) == o).count();
    let (created, existed, failed, not_done) = (
        count("created"),
        count("already_existed"),
        count("failed"),
        count("not_done"),
    );
    let next_step = if not_done > 0 {
        let why = match cx.budget.subrequests_left() {
            0 => format!(
                "this request may make at most {} Scale requests (SUBREQUEST_LIMIT)",
                cx.budget.subrequest_limit()
            ),
            _ => "the request's time ran out".into(),
        };
        format!(
            "Stopped with {not_done} of {total} items not done: {why}. Call create_tasks again with the same arguments \
to continue; the tasks that exist are recognised by their unique_id and not created again."
        )
    } else if failed > 0 {
        format!(
            "{failed} items failed (see each item's error). Fix them and call create_tasks again with the same \
idempotency_key: the tasks that exist are not created again."
        )
    } else {
        "All tasks exist. Next: finalize_batch if the batch is in staging, then wait_for_batch."
            .to_string()
    };
    Ok(object(vec![
        ("complete", Value::Bool(failed + not_done == 0)),
        ("total", Value::from(total)),
        ("created", Value::from(created)),
        ("already_existed", Value::from(existed)),
        ("failed", Value::from(failed)),
        ("not_done", Value::from(not_done)),
        ("next_step", Value::String(next_step)),
        (
            "items",
            Value::Array(rows.into_iter().map(Value::Object).collect()),
        ),
    ])
    .into())
}

pub(crate) mod consume;
pub(crate) mod job;
mod manifest;
pub(crate) mod store;

#[cfg(test)]
#[path = "bulk_tests.rs"]
mod tests;
