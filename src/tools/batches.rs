//! Batch tools: create, get (with progress), list (optionally with progress),
//! finalize (optionally with priority).

use super::run_one;
use super::{
    fit_items, parse_args, query_dates, s, step_error, value_items, Ctx, Hints, Out, ToolDef,
    ToolError, ToolResult, CREATE, READ,
};
use crate::io::{join_all, BoxFut};
use crate::scale::{object_or_ok, Call, Retry, Scale, ScaleError};
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// Subrequests one Workers invocation may make on the free plan.
pub const SUBREQUEST_BUDGET: u32 = 50;

const BATCH_STATUSES: &[&str] = &["staging", "in_progress", "completed"];

fn progress_schema() -> Value {
    json!({"type": ["object", "null"], "properties": {
        "pending": {"type": "integer"}, "completed": {"type": "integer"}, "error": {"type": "integer"},
        "canceled": {"type": "integer"}, "total": {"type": "integer"}}})
}

pub fn tools() -> Vec<ToolDef> {
    vec![
        ToolDef {
            name: "create_batch",
            title: "Create batch",
            description: "Creates a batch in a project: POST /batches. Batch names are unique per account (409 if taken). \
Batches of Rapid and Studio projects start in `staging`: add tasks with create_task `batch`, then call finalize_batch to start the work; \
other batches start `in_progress`. `callback` (a URL or e-mail; Scale's field name, not callback_url) is notified when the batch completes; \
it defaults to the server's DEFAULT_CALLBACK_URL. Returns the batch.",
            input_schema: || {
                s::input(
                    json!({
                        "project": s::id("Project name."),
                        "name": s::id("New batch name, unique in the account."),
                        "callback": s::string("URL or e-mail notified when the batch completes."),
                        "calibration_batch": s::boolean("A calibration batch (Rapid/self-serve only)."),
                        "self_label_batch": s::boolean("A self-label batch (Rapid/self-serve only)."),
                        "metadata": s::object("Batch-level metadata."),
                    }),
                    &["project", "name"],
                )
            },
            output_schema: s::batch,
            hints: CREATE,
            run: create_batch,
        },
        ToolDef {
            name: "get_batch",
            title: "Get batch",
            description: "Fetches a batch and its progress: GET /batches/{name} then GET /batches/{name}/status. Returns the batch (status staging, in_progress or completed) \
plus `progress`: counts of its tasks by status {pending, completed, error, canceled, total}.",
            input_schema: || s::input(json!({"name": s::id("Batch name.")}), &["name"]),
            output_schema: || {
                let mut b = s::batch();
                b["properties"]["progress"] = progress_schema();
                b
            },
            hints: READ,
            run: get_batch,
        },
        ToolDef {
            name: "list_batches",
            title: "List batches",
            description: "Lists batches, newest first: GET /batches. Returns {batches, total, has_more, next_offset}; pass `next_offset` as `offset` for the next page. \
`limit` is 1-100 (default 10). `detailed` adds each batch's `progress` (one extra request per batch; within the per-request subrequest budget, \
and the result says when some batches could not get progress).",
            input_schema: || {
                s::input(
                    json!({
                        "project": s::string("Project name."),
                        "status": s::enum_of(BATCH_STATUSES, "Batch status."),
                        "created_after": s::date("Created at or after this time."),
                        "created_before": s::date("Created at or before this time."),
                        "completed_after": s::date("Completed at or after this time."),
                        "completed_before": s::date("Completed at or before this time."),
                        "limit": s::int(1, 100, "Page size, 1-100 (default 10)."),
                        "offset": s::int(0, 1_000_000_000, "How many batches to skip."),
                        "detailed": s::boolean("Add each batch's task counts as `progress`."),
                    }),
                    &[],
                )
            },
            output_schema: || {
                json!({"type": "object", "required": ["batches", "has_more"], "properties": {
                    "batches": {"type": "array", "items": {"type": "object"}},
                    "total": {"type": ["integer", "null"]},
                    "has_more": {"type": "boolean"},
                    "next_offset": {"type": ["integer", "null"]},
                    "progress_incomplete": {"type": "object"},
                    "truncated": {"type": "object"},
                }})
            },
            hints: READ,
            run: list_batches,
        },
        ToolDef {
            name: "finalize_batch",
            title: "Finalize batch",
            description: "Finalizes a batch so Scale starts work on it: POST /batches/{name}/finalize (staging -> in_progress). Needed for Rapid and Studio batches; \
harmless for others. No tasks can be added afterwards. With `priority` (10-30) it then sets the batch's priority: POST /batches/{name}/prioritize. \
Returns the batch; if prioritizing fails, the error says the batch was already finalized.",
            input_schema: || s::input(json!({"name": s::id("Batch name."), "priority": s::int(10, 30, "Priority from 10 to 30.")}), &["name"]),
            output_schema: s::batch,
            hints: Hints { read_only: false, destructive: false, idempotent: true, open_world: true },
            run: finalize_batch,
        },
    ]
}

fn create_batch<'a>(cx: &'a Ctx<'a>, args: Map<String, Value>) -> BoxFut<'a, ToolResult> {
    Box::pin(async move {
        let name = args.get("name").and_then(Value::as_str).unwrap_or_default();
        crate::scale::check_segment("name", name)?;
        let mut body = args;
        if !body.contains_key("callback") {
            if let Some(u) = &cx.config.default_callback_url {
                body.insert("callback".into(), json!(u));
            }
        }
        let call = Call::post().lit("batches").body(Value::Object(body)).hint(
            409,
            "A batch with that name already exists; get_batch shows it, or choose another name.",
        );
        run_one(cx, call, Retry::Never).await
    })
}

#[derive(Deserialize)]
struct Name {
    name: String,
}

/// `progress` from a `/status` answer; Scale leaves out zero counts.
pub fn progress(status: &Value) -> Value {
    let n = |k: &str| status.get(k).and_then(Value::as_u64).unwrap_or(0);
    let (p, c, e, x) = (n("pending"), n("completed"), n("error"), n("canceled"));
    json!({"pending": p, "completed": c, "error": e, "canceled": x, "total": p + c + e + x})
}

fn get_batch<'a>(cx: &'a Ctx<'a>, args: Map<String, Value>) -> BoxFut<'a, ToolResult> {
    Box::pin(async move {
        let a: Name = parse_args(args)?;
        let sc = Scale::new(cx.config, cx.upstream);
        let get = Call::get().lit("batches").seg("name", &a.name)?;
        let status = Call::get()
            .lit("batches")
            .seg("name", &a.name)?
            .lit("status");
        let mut batch = object_or_ok(
            sc.send(&get, Retry::Idempotent)
                .await
                .map_err(|e| sc.tool_error(&get, e))?,
        );
        let st = sc.send(&status, Retry::Idempotent).await.map_err(|e| {
            let mut err = sc.tool_error(&status, e);
            err.message = format!(
                "The batch was found, but its progress could not be read. {}",
                err.message
            );
            err
        })?;
        batch["progress"] = progress(&st);
        Ok(batch.into())
    })
}

#[derive(Deserialize)]
struct ListArgs {
    project: Option<String>,
    status: Option<String>,
    created_after: Option<String>,
    created_before: Option<String>,
    completed_after: Option<String>,
    completed_before: Option<String>,
    limit: Option<f64>,
    offset: Option<f64>,
    detailed: Option<bool>,
}

pub fn list_batches_call(args: Map<String, Value>) -> Result<(Call, bool, u64), ToolError> {
    let a: ListArgs = parse_args(args)?;
    let mut call = Call::get()
        .lit("batches")
        .query_opt("project", a.project)
        .query_opt("status", a.status);
    call = query_dates(
        call,
        &[
            ("created_after", "start_time", &a.created_after),
            ("created_before", "end_time", &a.created_before),
            ("completed_after", "completed_after", &a.completed_after),
            ("completed_before", "completed_before", &a.completed_before),
        ],
    )?;
    let offset = a.offset.map(|o| o as u64);
    call = call
        .query("limit", (a.limit.unwrap_or(10.0) as u64).to_string())
        .query_opt("offset", offset.map(|o| o.to_string()));
    Ok((call, a.detailed == Some(true), offset.unwrap_or(0)))
}

fn list_batches<'a>(cx: &'a Ctx<'a>, args: Map<String, Value>) -> BoxFut<'a, ToolResult> {
    Box::pin(async move {
        let (call, detailed, offset) = list_batches_call(args)?;
        let sc = Scale::new(cx.config, cx.upstream);
        let v = sc
            .send(&call, Retry::Idempotent)
            .await
            .map_err(|e| sc.tool_error(&call, e))?;
        let total = v
            .get("total")
            .or_else(|| v.get("totalDocs"))
            .filter(|t| t.is_u64())
            .cloned()
            .unwrap_or(Value::Null);
        let has_more = v.get("has_more").and_then(Value::as_bool).unwrap_or(false);
        let mut batches = crate::scale::docs(v);
        let next_offset = if has_more {
            json!(offset + batches.len() as u64)
        } else {
            Value::Null
        };
        let mut out = json!({"batches": [], "total": total, "has_more": has_more, "next_offset": next_offset});
        if detailed {
            // Keep one subrequest spare; retries of the list call used some already.
            let room = SUBREQUEST_BUDGET.saturating_sub(sc.attempts() + 1) as usize;
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
                let sc = &sc;
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
                    Ok(st) => b["progress"] = progress(&st),
                    Err(_) => missing.push(b.get("name").cloned().unwrap_or(Value::Null)),
                }
            }
            for b in batches.iter().skip(n) {
                missing.push(b.get("name").cloned().unwrap_or(Value::Null));
            }
            if !missing.is_empty() {
                out["progress_incomplete"] = json!({
                    "batches_without_progress": missing,
                    "reason": match (batches.len() > n, missing.len() > batches.len() - n) {
                        (true, true) => format!("one request may make at most {SUBREQUEST_BUDGET} calls to Scale, so progress was read only for the first {n} batches, and Scale did not return the status of some of those"),
                        (true, false) => format!("one request may make at most {SUBREQUEST_BUDGET} calls to Scale, so progress was read for the first {n} batches"),
                        _ => "Scale did not return the status of some batches".to_string(),
                    },
                    "how_to_get": "call get_batch for each of these batches, or list again with a smaller limit",
                });
            }
        }
        let rest: Vec<(&str, String)> = out
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| *k != "batches")
            .map(|(k, v)| (k.as_str(), v.to_string()))
            .collect();
        Ok(Out::Raw(fit_items(
            "batches",
            &value_items(&batches),
            &rest,
            &["name", "project", "status", "created_at", "progress"],
            "call get_batch with a batch's name",
        )))
    })
}

#[derive(Deserialize)]
struct FinalizeArgs {
    name: String,
    priority: Option<f64>,
}

fn finalize_batch<'a>(cx: &'a Ctx<'a>, args: Map<String, Value>) -> BoxFut<'a, ToolResult> {
    Box::pin(async move {
        let a: FinalizeArgs = parse_args(args)?;
        let sc = Scale::new(cx.config, cx.upstream);
        let fin = Call::post()
            .lit("batches")
            .seg("name", &a.name)?
            .lit("finalize");
        let batch = sc
            .send(&fin, Retry::Idempotent)
            .await
            .map_err(|e| sc.tool_error(&fin, e).with_applied(vec![]))?;
        let Some(p) = a.priority else {
            return Ok(object_or_ok(batch).into());
        };
        let pri = Call::post()
            .lit("batches")
            .seg("name", &a.name)?
            .lit("prioritize")
            .body(json!({"priority": p as i64}));
        match sc.send(&pri, Retry::Idempotent).await {
            // Scale answers with the batch; anything else keeps finalize's batch.
            Ok(v) if v.get("name").is_some() => Ok(v.into()),
            Ok(_) => {
                let mut b = object_or_ok(batch);
                b["priority"] = json!(p as i64);
                Ok(b.into())
            }
            Err(e) => Err(step_error(
                &sc,
                "prioritize",
                &pri,
                e,
                vec!["finalize".into()],
            )),
        }
    })
}
