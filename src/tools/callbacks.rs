//! Callback-log tools: list the deliveries Scale made to /webhooks/scale and
//! read one. They read Workers KV only; no Scale request is made.

use super::{parse_args, s, Ctx, Hints, ToolDef, ToolError, ToolResult};
use crate::io::BoxFut;
use crate::webhook::{self, ListError, LogQuery};
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// Read-only and idempotent, but closed-world: only this server's own log.
const LOG_READ: Hints = Hints {
    read_only: true,
    destructive: false,
    idempotent: true,
    open_world: false,
};

pub fn tools() -> Vec<ToolDef> {
    vec![
        ToolDef {
            name: "list_callbacks",
            title: "List received callbacks",
            description: "Lists the callbacks Scale delivered to this server's /webhooks/scale, newest first (kept for CALLBACK_TTL_DAYS, default 30). \
This is how to learn that tasks or batches finished without polling. Filter by `task_id` or `batch` (both use an index) and `status`. \
Returns {callbacks: [{id, received_at, kind, task_id, batch, status}], next_cursor}; pass next_cursor back for more, and get_callback for a delivery's body.",
            input_schema: || {
                s::input(
                    json!({
                        "task_id": {"type": "string", "minLength": 1, "maxLength": 1024, "description": "Only this task's deliveries."},
                        "batch": {"type": "string", "minLength": 1, "maxLength": 1024, "description": "Only deliveries about this batch (batch callbacks and its tasks' callbacks)."},
                        "status": s::string("Only deliveries with this status, e.g. completed."),
                        "limit": s::int(1, 100, "How many, 1-100 (default 20)."),
                        "cursor": s::string("The next_cursor of the previous page."),
                    }),
                    &[],
                )
            },
            output_schema: || {
                json!({"type": "object", "required": ["callbacks"], "properties": {
                    "callbacks": {"type": "array", "items": {"type": "object", "properties": {
                        "id": {"type": "string"}, "received_at": {"type": "string"}, "kind": {"type": "string"},
                        "task_id": {"type": "string"}, "batch": {"type": "string"}, "status": {"type": "string"}}}},
                    "next_cursor": {"type": ["string", "null"]},
                }})
            },
            hints: LOG_READ,
            run: list_callbacks,
        },
        ToolDef {
            name: "get_callback",
            title: "Get received callback",
            description: "Reads one callback delivery logged by this server, by the id from list_callbacks. Returns {id, received_at, kind, body}; \
for task callbacks the body is Scale's {task, response, task_id}, for batch callbacks {batch, status, stats}.",
            input_schema: || s::input(json!({"id": {"type": "string", "minLength": 1, "maxLength": 64, "description": "The delivery id."}}), &["id"]),
            output_schema: || {
                json!({"type": "object", "required": ["id", "kind", "body"], "properties": {
                    "id": {"type": "string"}, "received_at": {"type": "string"}, "kind": {"type": "string"}, "body": {}}})
            },
            hints: LOG_READ,
            run: get_callback,
        },
    ]
}

fn no_store() -> ToolError {
    ToolError::config("The CALLBACKS KV namespace is not bound to the worker, so there is no callback log. Create one with `wrangler kv namespace create CALLBACKS` and add its id to wrangler.toml.")
}

#[derive(Deserialize)]
struct ListArgs {
    task_id: Option<String>,
    batch: Option<String>,
    status: Option<String>,
    limit: Option<f64>,
    cursor: Option<String>,
}

fn list_callbacks<'a>(cx: &'a Ctx<'a>, args: Map<String, Value>) -> BoxFut<'a, ToolResult> {
    Box::pin(async move {
        let a: ListArgs = parse_args(args)?;
        let store = cx.store.ok_or_else(no_store)?;
        let q = LogQuery {
            task_id: a.task_id,
            batch: a.batch,
            status: a.status,
            limit: a.limit.unwrap_or(20.0) as usize,
            cursor: a.cursor,
        };
        match webhook::list(store, &q).await {
            Ok(p) => Ok(json!({"callbacks": p.items, "next_cursor": p.next_cursor}).into()),
            Err(ListError::BadCursor) => Err(ToolError::invalid(
                "`cursor` is not a next_cursor this tool returned",
            )),
            Err(ListError::Store(e)) => Err(ToolError::store(format!(
                "The callback log could not be read: {}",
                crate::json::truncate(&e, 200)
            ))),
        }
    })
}

#[derive(Deserialize)]
struct GetArgs {
    id: String,
}

fn get_callback<'a>(cx: &'a Ctx<'a>, args: Map<String, Value>) -> BoxFut<'a, ToolResult> {
    Box::pin(async move {
        let a: GetArgs = parse_args(args)?;
        let store = cx.store.ok_or_else(no_store)?;
        match webhook::get(store, &a.id).await {
            Ok(Some(v)) => Ok(v.into()),
            Ok(None) => Err(ToolError::invalid(format!(
                "no callback with id `{}` is in the log (ids come from list_callbacks; entries expire after CALLBACK_TTL_DAYS)",
                crate::json::truncate(&a.id, 64)
            ))),
            Err(e) => Err(ToolError::store(format!("The callback log could not be read: {}", crate::json::truncate(&e, 200)))),
        }
    })
}
