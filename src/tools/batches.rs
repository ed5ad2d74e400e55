//! Batch tools: create, get (with progress), list (optionally with progress),
//! finalize (optionally with priority).

use super::args::{args, d, date, enum_of, id, int, Args, Int};
use super::create::default_callback;
use super::error::ToolError;
use super::formats::query_dates;
use super::kernel::{tool, Hints, Out, ToolDef, ToolResult, CREATE, READ};
use super::run::{docs, object_or_ok, run_one, step_error, Session, Step};
use super::shape::{batch_progress, fit_items, out, value_items};
use crate::context::{join_all, Ctx};
use crate::io::BoxFut;
use crate::json::object;
use crate::scale::{check_segment, Call, Retry, ScaleError};
use serde_json::Value;

const BATCH_STATUSES: &[&str] = &["staging", "in_progress", "completed"];

pub const TOOLS: &[ToolDef] = &[
    tool! {
        name: "create_batch",
        title: "Create batch",
        description: "Creates a batch in a project: POST /batches. Batch names are unique per account (409 if taken). \
    Batches of Rapid and Studio projects start in `staging`: add tasks with create_task `batch`, then call finalize_batch to start the work; \
    other batches start `in_progress`. `callback` (a URL or e-mail; Scale's field name, not callback_url) is notified when the batch completes; \
    it defaults to the server's DEFAULT_CALLBACK_URL. Returns the batch.",
        args: CreateBatch,
        output: out::batch,
        hints: CREATE,
        scope: Write,
        untrusted: &["/metadata"],
        projects: Names("project"),
        run: create_batch,
    },
    tool! {
        name: "get_batch",
        title: "Get batch",
        description: "Fetches a batch and its progress: GET /batches/{name} then GET /batches/{name}/status. Returns the batch (status staging, in_progress or completed) \
    plus `progress`: counts of its tasks by status {pending, completed, error, canceled, total}.",
        args: BatchName,
        output: out::batch_with_progress,
        hints: READ,
        scope: Read,
        untrusted: &["/metadata"],
        projects: Batch,
        run: get_batch,
    },
    tool! {
        name: "list_batches",
        title: "List batches",
        description: "Lists batches, newest first: GET /batches. Returns {batches, total, has_more, next_offset}; pass `next_offset` as `offset` for the next page. \
    `limit` is 1-100 (default 10). `detailed` adds each batch's `progress` (one extra request per batch; within the per-request subrequest budget, \
    and the result says when some batches could not get progress).",
        args: ListBatches,
        output: || {
            out::schema(
                r#"{"type": "object", "required": ["batches", "has_more"], "properties": {
"batches": {"type": "array", "items": {"type": "object"}}, "total": {"type": ["integer", "null"]},
"has_more": {"type": "boolean"}, "next_offset": {"type": ["integer", "null"]},
"progress_incomplete": {"type": "object"}, "truncated": {"type": "object"}}}"#,
            )
        },
        hints: READ,
        scope: Read,
        untrusted: &["/batches"],
        projects: Filter,
        run: list_batches,
    },
    tool! {
        name: "finalize_batch",
        title: "Finalize batch",
        description: "Finalizes a batch so Scale starts work on it: POST /batches/{name}/finalize (staging -> in_progress). Needed for Rapid and Studio batches; \
    harmless for others. No tasks can be added afterwards. With `priority` (10-30) it then sets the batch's priority: POST /batches/{name}/prioritize. \
    Returns the batch; if prioritizing fails, the error says the batch was already finalized.",
        args: FinalizeBatch,
        output: out::batch,
        hints: Hints { read_only: false, destructive: false, idempotent: true, open_world: true },
        scope: Write,
        untrusted: &["/metadata"],
        projects: Batch,
        run: finalize_batch,
    },
];

args! {
    pub struct CreateBatch {
        req project: String = id("Project name."),
        req name: String = id("New batch name, unique in the account."),
        opt callback: String = d("URL or e-mail notified when the batch completes."),
        opt calibration_batch: bool = d("A calibration batch (Rapid/self-serve only)."),
        opt self_label_batch: bool = d("A self-label batch (Rapid/self-serve only)."),
        opt metadata: serde_json::Map<String, Value> = d("Batch-level metadata."),
    }
}

async fn create_batch(cx: &Ctx, a: CreateBatch) -> ToolResult {
    check_segment("name", &a.name)?;
    let mut body = a.into_map();
    default_callback(cx, &mut body, "callback");
    let call = Call::post().lit("batches").body(Value::Object(body));
    let hints = [(
        409,
        "A batch with that name already exists; get_batch shows it, or choose another name.",
    )];
    run_one(cx, call, Retry::Never, &hints).await
}

args! {
    pub struct BatchName {
        req name: String = id("Batch name."),
    }
}

async fn get_batch(cx: &Ctx, a: BatchName) -> ToolResult {
    let s = Session::new(cx);
    let get = Call::get().lit("batches").seg("name", &a.name)?;
    let status = Call::get()
        .lit("batches")
        .seg("name", &a.name)?
        .lit("status");
    let mut batch = object_or_ok(s.send(&get, Retry::Idempotent, &[]).await?);
    let st = s
        .send(&status, Retry::Idempotent, &[])
        .await
        .map_err(|mut err| {
            err.message = format!(
                "The batch was found, but its progress could not be read. {}",
                err.message
            );
            err
        })?;
    batch["progress"] = batch_progress(&st);
    Ok(batch.into())
}

args! {
    pub struct ListBatches {
        opt project: String = d("Project name."),
        opt status: String = enum_of(BATCH_STATUSES, "Batch status."),
        opt created_after: String = date("Created at or after this time."),
        opt created_before: String = date("Created at or before this time."),
        opt completed_after: String = date("Completed at or after this time."),
        opt completed_before: String = date("Completed at or before this time."),
        opt limit: Int = int(1, 100, "Page size, 1-100 (default 10)."),
        opt offset: Int = int(0, 1_000_000_000, "How many batches to skip."),
        opt detailed: bool = d("Add each batch's task counts as `progress`."),
    }
}

/// Builds `GET /batches`; also whether progress is wanted and the offset.
pub fn list_batches_call(a: ListBatches) -> Result<(Call, bool, u64), ToolError> {
    let mut call = Call::get()
        .lit("batches")
        .query_opt("project", a.project)
        .query_opt("status", a.status);
    call = query_dates(
        call,
        [
            ("created_after", "start_time", a.created_after),
            ("created_before", "end_time", a.created_before),
            ("completed_after", "completed_after", a.completed_after),
            ("completed_before", "completed_before", a.completed_before),
        ],
    )?;
    let offset = a.offset.map(|o| o.0 as u64);
    call = call
        .query("limit", a.limit.map_or(10, |l| l.0).to_string())
        .query_opt("offset", offset.map(|o| o.to_string()));
    Ok((call, a.detailed == Some(true), offset.unwrap_or(0)))
}

async fn list_batches(cx: &Ctx, a: ListBatches) -> ToolResult {
    let (call, detailed, offset) = list_batches_call(a)?;
    let s = Session::new(cx);
    let v = s.send(&call, Retry::Idempotent, &[]).await?;
    let total = v
        .get("total")
        .or_else(|| v.get("totalDocs"))
        .filter(|t| t.is_u64())
        .cloned()
        .unwrap_or(Value::Null);
    let has_more = v.get("has_more").and_then(Value::as_bool).unwrap_or(false);
    let mut batches = docs(v);
    let next_offset = if has_more {
        Value::from(offset + batches.len() as u64)
    } else {
        Value::Null
    };
    let mut out = object(vec![
        ("batches", Value::Array(Vec::new())),
        ("total", total),
        ("has_more", Value::Bool(has_more)),
        ("next_offset", next_offset),
    ]);
    if detailed {
        // Keep one subrequest spare for whatever else this request does.
        let room = cx.budget.subrequests_left().saturating_sub(1) as usize;
        let limit = cx.budget.subrequest_limit();
        let n = batches.len().min(room);
        let calls: Vec<Option<Call>> = batches[..n]
            .iter()
            .map(|b| {
                b.get("name")
                    .and_then(Value::as_str)
                    .and_then(|name| Call::get().lit("batches").seg("name", name).ok())
                    .map(|c| c.lit("status"))
            })
            .collect();
        let futs = calls.iter().map(|c| {
            let sc = &s.sc;
            Box::pin(async move {
                match c {
                    // One attempt each: retries would spend the budget other batches need.
                    Some(c) => sc.send(c, Retry::Never).await.map_err(Some),
                    None => Err(None),
                }
            }) as BoxFut<'_, Result<Value, Option<ScaleError>>>
        });
        let results = join_all(futs.collect()).await;
        let mut missing = Vec::new();
        for (b, r) in batches.iter_mut().zip(results) {
            match r {
                Ok(st) => b["progress"] = batch_progress(&st),
                Err(_) => missing.push(b.get("name").cloned().unwrap_or(Value::Null)),
            }
        }
        for b in batches.iter().skip(n) {
            missing.push(b.get("name").cloned().unwrap_or(Value::Null));
        }
        if !missing.is_empty() {
            let reason = match (batches.len() > n, missing.len() > batches.len() - n) {
                (true, true) => format!("one request may make at most {limit} calls to Scale, so progress was read only for the first {n} batches, and Scale did not return the status of some of those"),
                (true, false) => format!("one request may make at most {limit} calls to Scale, so progress was read for the first {n} batches"),
                _ => "Scale did not return the status of some batches".to_string(),
            };
            out["progress_incomplete"] = object(vec![
                ("batches_without_progress", Value::Array(missing)),
                ("reason", Value::String(reason)),
                (
                    "how_to_get",
                    Value::from("call get_batch for each of these batches, or list again with a smaller limit"),
                ),
            ]);
        }
    }
    let rest: Vec<(&str, Value)> = out
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| *k != "batches")
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    Ok(Out::Raw(fit_items(
        "batches",
        &value_items(&batches),
        &rest,
        &["name", "project", "status", "created_at", "progress"],
        "call get_batch with a batch's name",
    )))
}

args! {
    pub struct FinalizeBatch {
        req name: String = id("Batch name."),
        opt priority: Int = int(10, 30, "Priority from 10 to 30."),
    }
}

async fn finalize_batch(cx: &Ctx, a: FinalizeBatch) -> ToolResult {
    let s = Session::new(cx);
    let fin = Call::post()
        .lit("batches")
        .seg("name", &a.name)?
        .lit("finalize");
    let batch = s
        .send(&fin, Retry::Idempotent, &[])
        .await
        .map_err(|e| e.with_applied(vec![]))?;
    let Some(p) = a.priority else {
        return Ok(object_or_ok(batch).into());
    };
    let pri = Step {
        name: "prioritize",
        call: Call::post()
            .lit("batches")
            .seg("name", &a.name)?
            .lit("prioritize")
            .body(object(vec![("priority", Value::from(p.0))])),
        retry: Retry::Idempotent,
        hints: &[],
    };
    match s.sc.send(&pri.call, pri.retry).await {
        // Scale answers with the batch; anything else keeps finalize's batch.
        Ok(v) if v.get("name").is_some() => Ok(v.into()),
        Ok(_) => {
            let mut b = object_or_ok(batch);
            b["priority"] = Value::from(p.0);
            Ok(b.into())
        }
        Err(e) => Err(step_error(&s, &pri, e, vec!["finalize".into()])),
    }
}

#[cfg(test)]
#[path = "batches_tests.rs"]
mod tests;
