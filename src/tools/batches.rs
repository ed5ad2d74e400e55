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
use crate::scale::{check_segment, Call, Retry, ScaleError};
use serde_json::{json, Value};

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
        json!(offset + batches.len() as u64)
    } else {
        Value::Null
    };
    let mut out =
        json!({"batches": [], "total": total, "has_more": has_more, "next_offset": next_offset});
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
            out["progress_incomplete"] = json!({
                "batches_without_progress": missing,
                "reason": match (batches.len() > n, missing.len() > batches.len() - n) {
                    (true, true) => format!("one request may make at most {limit} calls to Scale, so progress was read only for the first {n} batches, and Scale did not return the status of some of those"),
                    (true, false) => format!("one request may make at most {limit} calls to Scale, so progress was read for the first {n} batches"),
                    _ => "Scale did not return the status of some batches".to_string(),
                },
                "how_to_get": "call get_batch for each of these batches, or list again with a smaller limit",
            });
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
            .body(json!({"priority": p.0})),
        retry: Retry::Idempotent,
        hints: &[],
    };
    match s.sc.send(&pri.call, pri.retry).await {
        // Scale answers with the batch; anything else keeps finalize's batch.
        Ok(v) if v.get("name").is_some() => Ok(v.into()),
        Ok(_) => {
            let mut b = object_or_ok(batch);
            b["priority"] = json!(p.0);
            Ok(b.into())
        }
        Err(e) => Err(step_error(&s, &pri, e, vec!["finalize".into()])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::shape::MAX_TEXT_BYTES;
    use crate::tools::testing::*;

    #[test]
    fn create_batch_request() {
        let batch = json!({"name": "b1", "project": "p", "status": "staging"});
        let (r, reqs) = run(
            "create_batch",
            json!({
                "project": "p",
                "name": "b1",
                "callback": "ops@example.com",
                "calibration_batch": false,
                "self_label_batch": true,
                "metadata": {"owner": "me"},
            }),
            batch.clone(),
        );
        assert_eq!(ok(&r), batch);
        assert_eq!(reqs.len(), 1);
        assert_req(
            &reqs[0],
            "POST",
            "/batches",
            Some(json!({
                "project": "p",
                "name": "b1",
                "callback": "ops@example.com",
                "calibration_batch": false,
                "self_label_batch": true,
                "metadata": {"owner": "me"},
            })),
        );
        let (_, reqs) = run(
            "create_batch",
            json!({"project": "p", "name": "b/2"}),
            json!({}),
        );
        assert_req(
            &reqs[0],
            "POST",
            "/batches",
            Some(json!({"project": "p", "name": "b/2"})),
        );
    }

    #[test]
    fn create_batch_default_callback_is_sent_as_callback() {
        let cfg = config_with(&[("DEFAULT_CALLBACK_URL", DEFAULT_CB)]);
        let up = FakeUpstream::new();
        up.respond_with(|_| Ok(json_response(200, &json!({"name": "b"}))));
        ok(&exec(
            &cfg,
            &up,
            None,
            "create_batch",
            json!({"project": "p", "name": "b"}),
        ));
        ok(&exec(
            &cfg,
            &up,
            None,
            "create_batch",
            json!({"project": "p", "name": "b", "callback": "https://mine.test/cb"}),
        ));
        let reqs = up.sent();
        assert_req(
            &reqs[0],
            "POST",
            "/batches",
            Some(json!({"project": "p", "name": "b", "callback": DEFAULT_CB})),
        );
        assert_req(
            &reqs[1],
            "POST",
            "/batches",
            Some(json!({"project": "p", "name": "b", "callback": "https://mine.test/cb"})),
        );
        assert!(body_of(&reqs[0]).unwrap().get("callback_url").is_none());
    }

    #[test]
    fn create_batch_409_explains() {
        let up = FakeUpstream::new();
        up.respond_with(|_| {
            Ok(json_response(
                409,
                &json!({"status_code": 409, "error": "Batch name taken"}),
            ))
        });
        let t = err(&run_on(
            &up,
            "create_batch",
            json!({"project": "p", "name": "b"}),
        ));
        assert!(
            t.contains("Scale returned 409 Conflict for POST /batches: Batch name taken"),
            "{t}"
        );
        assert!(t.contains("get_batch shows it"), "{t}");
        assert_eq!(up.requests.borrow().len(), 1);
    }

    #[test]
    fn get_batch_adds_progress_with_missing_counts_as_zero() {
        let up = FakeUpstream::new();
        route(&up, |m, path| {
            assert_eq!(m, Method::Get);
            match path {
                "/batches/my%20batch" => (
                    200,
                    json!({"name": "my batch", "status": "in_progress", "project": "p"}),
                ),
                "/batches/my%20batch/status" => (
                    200,
                    json!({"status": "in_progress", "completed": 3, "pending": 2}),
                ),
                _ => panic!("unexpected {path}"),
            }
        });
        let r = run_on(&up, "get_batch", json!({"name": "my batch"}));
        assert_eq!(
            ok(&r),
            json!({
                "name": "my batch", "status": "in_progress", "project": "p",
                "progress": {"pending": 2, "completed": 3, "error": 0, "canceled": 0, "total": 5},
            })
        );
        let reqs = up.sent();
        assert_eq!(reqs.len(), 2);
        assert_req(&reqs[0], "GET", "/batches/my%20batch", None);
        assert_req(&reqs[1], "GET", "/batches/my%20batch/status", None);

        // An empty status answer gives all zeros.
        let up = FakeUpstream::new();
        route(&up, |_, path| match path {
            "/batches/b" => (200, json!({"name": "b"})),
            _ => (200, json!({"status": "staging"})),
        });
        let r = run_on(&up, "get_batch", json!({"name": "b"}));
        assert_eq!(
            ok(&r)["progress"],
            json!({"pending": 0, "completed": 0, "error": 0, "canceled": 0, "total": 0})
        );
    }

    #[test]
    fn get_batch_failures() {
        // The batch itself is missing: no status call.
        let up = FakeUpstream::new();
        up.respond_with(|_| {
            Ok(json_response(
                404,
                &json!({"status_code": 404, "error": "Batch not found"}),
            ))
        });
        let t = err(&run_on(&up, "get_batch", json!({"name": "b"})));
        assert!(
            t.starts_with("Scale returned 404 Not Found for GET /batches/b: Batch not found"),
            "{t}"
        );
        assert_eq!(up.requests.borrow().len(), 1);

        // The status call fails.
        let up = FakeUpstream::new();
        route(&up, |_, path| match path {
            "/batches/b" => (200, json!({"name": "b"})),
            _ => (404, json!({"status_code": 404, "error": "no status"})),
        });
        let t = err(&run_on(&up, "get_batch", json!({"name": "b"})));
        assert!(t.starts_with("The batch was found, but its progress could not be read. Scale returned 404 Not Found for GET /batches/b/status: no status"), "{t}");
        assert_eq!(up.requests.borrow().len(), 2);
    }

    #[test]
    fn list_batches_requests() {
        let (r, reqs) = run("list_batches", json!({}), json!({"docs": []}));
        assert_eq!(
            ok(&r),
            json!({"batches": [], "total": null, "has_more": false, "next_offset": null})
        );
        assert_req(&reqs[0], "GET", "/batches?limit=10", None);

        let (_, reqs) = run(
            "list_batches",
            json!({
                "project": "p q",
                "status": "in_progress",
                "created_after": "2026-01-01",
                "created_before": "2026-02-01T00:00:00Z",
                "completed_after": "2026-01-15",
                "completed_before": "2026-01-20",
                "limit": 50,
                "offset": 100,
                "detailed": false,
            }),
            json!({"docs": []}),
        );
        assert_eq!(reqs.len(), 1);
        assert_req(
            &reqs[0],
            "GET",
            "/batches?project=p%20q&status=in_progress&start_time=2026-01-01&end_time=2026-02-01T00%3A00%3A00Z\
    &completed_after=2026-01-15&completed_before=2026-01-20&limit=50&offset=100",
            None,
        );
    }

    #[test]
    fn list_batches_shapes_total_and_next_offset() {
        let docs: Vec<Value> = (0..3).map(|i| json!({"name": format!("b{i}")})).collect();
        let (r, _) = run(
            "list_batches",
            json!({"offset": 20, "limit": 3}),
            json!({"docs": docs, "totalDocs": 57, "has_more": true, "limit": 3, "offset": 20}),
        );
        assert_eq!(
            ok(&r),
            json!({"batches": docs, "total": 57, "has_more": true, "next_offset": 23})
        );
        let (r, _) = run(
            "list_batches",
            json!({}),
            json!({"docs": docs, "total": 3, "has_more": false}),
        );
        assert_eq!(
            ok(&r),
            json!({"batches": docs, "total": 3, "has_more": false, "next_offset": null})
        );
    }

    #[test]
    fn list_batches_detailed_adds_progress() {
        let up = FakeUpstream::new();
        route(&up, |_, path| {
            if path.starts_with("/batches?") {
                return (
                    200,
                    json!({"docs": [{"name": "a"}, {"name": "b/c"}, {"name": "gone"}, {"status": "x"}], "total": 4}),
                );
            }
            match path {
                "/batches/a/status" => (200, json!({"completed": 1, "error": 2})),
                "/batches/b%2Fc/status" => (200, json!({"pending": 4})),
                _ => (404, json!({"error": "not found"})),
            }
        });
        let r = run_on(&up, "list_batches", json!({"detailed": true}));
        let s = ok(&r);
        assert_eq!(
            s["batches"],
            json!([
                {"name": "a", "progress": {"pending": 0, "completed": 1, "error": 2, "canceled": 0, "total": 3}},
                {"name": "b/c", "progress": {"pending": 4, "completed": 0, "error": 0, "canceled": 0, "total": 4}},
                {"name": "gone"},
                {"status": "x"},
            ])
        );
        assert_eq!(
            s["progress_incomplete"]["batches_without_progress"],
            json!(["gone", null])
        );
        assert_eq!(
            s["progress_incomplete"]["reason"],
            "Scale did not return the status of some batches"
        );
        let reqs = up.sent();
        // The list, then one status call per named batch, sent once each.
        assert_eq!(reqs.len(), 4);
        assert_req(&reqs[0], "GET", "/batches?limit=10", None);
        assert_req(&reqs[1], "GET", "/batches/a/status", None);
        assert_req(&reqs[2], "GET", "/batches/b%2Fc/status", None);
        assert_req(&reqs[3], "GET", "/batches/gone/status", None);
    }

    #[test]
    fn list_batches_detailed_stays_within_the_subrequest_budget() {
        let up = FakeUpstream::new();
        route(&up, |_, path| {
            if path.starts_with("/batches?") {
                let docs: Vec<Value> = (0..100)
                    .map(|i| json!({"name": format!("batch-{i:03}")}))
                    .collect();
                (200, json!({"docs": docs, "total": 250, "has_more": true}))
            } else {
                (200, json!({"completed": 1}))
            }
        });
        let r = run_on(&up, "list_batches", json!({"detailed": true, "limit": 100}));
        let s = ok(&r);
        let reqs = up.sent();
        assert_eq!(reqs.len(), 49, "1 list + 48 status calls");
        assert!(reqs.len() as u32 <= crate::config::DEFAULT_SUBREQUEST_LIMIT);
        let batches = s["batches"].as_array().unwrap();
        assert_eq!(batches.len(), 100);
        for (i, b) in batches.iter().enumerate() {
            assert_eq!(b.get("progress").is_some(), i < 48, "batch {i}");
        }
        let missing: Vec<Value> = (48..100).map(|i| json!(format!("batch-{i:03}"))).collect();
        assert_eq!(
            s["progress_incomplete"]["batches_without_progress"],
            Value::Array(missing)
        );
        assert!(s["progress_incomplete"]["reason"]
            .as_str()
            .unwrap()
            .contains("progress was read for the first 48 batches"));
        assert_eq!(s["next_offset"], 100);
        assert_eq!(s["total"], 250);
    }

    #[test]
    fn list_batches_detailed_budget_accounts_for_list_retries() {
        let up = FakeUpstream::new();
        up.push_json(503, json!({"error": "busy"}));
        up.push_json(503, json!({"error": "busy"}));
        route(&up, |_, path| {
            if path.starts_with("/batches?") {
                let docs: Vec<Value> = (0..100).map(|i| json!({"name": format!("b{i}")})).collect();
                (200, json!({"docs": docs}))
            } else {
                (200, json!({}))
            }
        });
        let r = run_on(&up, "list_batches", json!({"detailed": true, "limit": 100}));
        ok(&r);
        let n = up.requests.borrow().len();
        assert_eq!(n, 3 + 46);
        assert!(n as u32 <= crate::config::DEFAULT_SUBREQUEST_LIMIT);
    }

    #[test]
    fn finalize_batch_requests() {
        let (r, reqs) = run(
            "finalize_batch",
            json!({"name": "b 1"}),
            json!({"name": "b 1", "status": "in_progress"}),
        );
        assert_eq!(ok(&r), json!({"name": "b 1", "status": "in_progress"}));
        assert_eq!(reqs.len(), 1);
        assert_req(&reqs[0], "POST", "/batches/b%201/finalize", None);

        let up = FakeUpstream::new();
        route(&up, |_, path| match path {
            "/batches/b/finalize" => (200, json!({"name": "b", "status": "in_progress"})),
            "/batches/b/prioritize" => (
                200,
                json!({"name": "b", "status": "in_progress", "priority": 20}),
            ),
            _ => panic!("{path}"),
        });
        let r = run_on(&up, "finalize_batch", json!({"name": "b", "priority": 20}));
        assert_eq!(
            ok(&r),
            json!({"name": "b", "status": "in_progress", "priority": 20})
        );
        let reqs = up.sent();
        assert_eq!(reqs.len(), 2);
        assert_req(&reqs[0], "POST", "/batches/b/finalize", None);
        assert_req(
            &reqs[1],
            "POST",
            "/batches/b/prioritize",
            Some(json!({"priority": 20})),
        );

        // A plain OK from prioritize: the finalized batch with its priority.
        let up = FakeUpstream::new();
        up.push_json(200, json!({"name": "b", "status": "in_progress"}));
        up.push(Ok(text_response(200, "text/plain", "OK")));
        let r = run_on(&up, "finalize_batch", json!({"name": "b", "priority": 30}));
        assert_eq!(
            ok(&r),
            json!({"name": "b", "status": "in_progress", "priority": 30})
        );
    }

    #[test]
    fn finalize_batch_failures_say_what_was_applied() {
        let up = FakeUpstream::new();
        route(&up, |_, path| match path {
            "/batches/b/finalize" => (200, json!({"name": "b"})),
            _ => (
                400,
                json!({"status_code": 400, "error": "priority not allowed"}),
            ),
        });
        let t = err(&run_on(
            &up,
            "finalize_batch",
            json!({"name": "b", "priority": 15}),
        ));
        assert!(t.starts_with("Step `prioritize` failed. Scale returned 400 Bad Request for POST /batches/b/prioritize: priority not allowed"), "{t}");
        assert!(
            t.ends_with("\nSteps applied before the failure: finalize."),
            "{t}"
        );
        assert_eq!(up.requests.borrow().len(), 2);

        let up = FakeUpstream::new();
        up.respond_with(|_| Ok(json_response(404, &json!({"error": "Batch not found"}))));
        let t = err(&run_on(
            &up,
            "finalize_batch",
            json!({"name": "b", "priority": 15}),
        ));
        assert!(
            t.contains(
                "Scale returned 404 Not Found for POST /batches/b/finalize: Batch not found"
            ),
            "{t}"
        );
        assert!(t.ends_with("\nNo step was applied."), "{t}");
        assert_eq!(up.requests.borrow().len(), 1, "prioritize not sent");
    }

    #[test]
    fn large_batch_lists_are_trimmed() {
        let big = "m".repeat(3000);
        let docs: Vec<Value> = (0..100)
            .map(|i| json!({"name": format!("b{i}"), "project": "p", "status": "completed", "metadata": {"blob": big}, "callback": "x"}))
            .collect();
        let (r, _) = run(
            "list_batches",
            json!({"limit": 100}),
            json!({"docs": docs, "total": 100}),
        );
        let s = ok(&r);
        assert!(r["content"][0]["text"].as_str().unwrap().len() <= MAX_TEXT_BYTES);
        assert_eq!(
            s["batches"][7],
            json!({"name": "b7", "project": "p", "status": "completed"})
        );
        assert!(s["truncated"]["how_to_get_full_items"]
            .as_str()
            .unwrap()
            .contains("get_batch"));
    }
}
