//! The MCP task of a job (`create_tasks` with `items_url`, docs/jobs.md §4):
//! its polls read the job's object, never Scale. `working` while the
//! manifest is read and the items are created, with the counts in the
//! status message; `completed` once it has ended, its result the first page
//! of outcomes (a job that failed as a whole is a result with `isError`,
//! saying why); `cancelled` after `tasks/cancel` (2026-07-28). Further
//! pages are resources, [`URI`] followed by the task's id and `?after=`.

use super::handle::{self, Handle};
use super::wire::{Ack, Task};
use super::{not_found, poll_interval, task, v2_task, Era, Method, V1_VERSION};
use crate::codec::iso_from_ms;
use crate::context::Ctx;
use crate::mcp::lane::Lane;
use crate::mcp::model::{Meta, RelatedTask};
use crate::mcp::resources::{json_contents, JOB_URI as URI};
use crate::mcp::results::{tool_result, tool_result_with};
use crate::mcp::rpc::{self, payload, Payload, RpcError};
use crate::tools::bulk::job::{self, Seen};
use crate::tools::{self, Out, ToolError};

/// How long a 2025-11-25 `tasks/result` waits for a job to end (ms), as a
/// wait tool waits at most one call's wait.
const RESULT_WAIT_MS: u64 = 40_000;

fn store_error(e: ToolError) -> RpcError {
    RpcError::new(rpc::INTERNAL_ERROR, e.text("create_tasks"))
}

/// A poll of the job that `h` (task id `id`) follows.
pub(super) async fn poll(
    cx: &Ctx,
    era: Era,
    id: &str,
    h: &Handle,
    method: Method,
) -> Result<Payload, RpcError> {
    let ack = || {
        Ok(payload(&Ack {
            result_type: "complete",
            meta: Lane::Modern.result_fields().meta,
        }))
    };
    match method {
        Method::Acknowledge => return ack(),
        Method::Cancel => {
            // A write: only while the caller may still create tasks here.
            tools::may_create_tasks(cx).map_err(|_| not_found())?;
            if !job::cancel(cx, &h.id).await.map_err(store_error)? {
                return Err(not_found());
            }
            return ack();
        }
        Method::Get | Method::Result => {}
    }
    let uri = format!("{URI}{id}");
    let page = (era == Era::V2 || method == Method::Result).then_some(0);
    let started = cx.upstream().now_ms();
    let seen = loop {
        let seen = job::look(cx, &h.id, page, false, &uri)
            .await
            .map_err(store_error)?
            .ok_or_else(not_found)?;
        let waited = cx.upstream().now_ms().saturating_sub(started);
        if seen.status != "working" || method != Method::Result || waited >= RESULT_WAIT_MS {
            break seen;
        }
        let nap = poll_interval(cx, 0).clamp(500, 5_000);
        cx.upstream().sleep(nap as u32).await;
    };
    let now = cx.upstream().now_ms();
    let poll = poll_interval(cx, now.saturating_sub(h.created));
    let status: &'static str = match seen.status.as_str() {
        "cancelled" => "cancelled",
        "completed" => "completed",
        _ => "working",
    };
    let created = iso_from_ms(h.created);
    let updated = match status {
        "working" => created.clone(),
        _ => iso_from_ms(now),
    };
    let base = Task {
        status,
        ..task(id, &seen.message, &created, &updated)
    };
    match (era, method) {
        (Era::V1, Method::Result) => {
            if status == "cancelled" {
                return Err(RpcError::invalid_params(format!(
                    "The task was cancelled. {}",
                    seen.message
                )));
            }
            let Some(r) = outcome(&seen) else {
                return Err(RpcError::new(
                    rpc::INTERNAL_ERROR,
                    format!(
                        "The task is still working after this request waited {} s. Keep polling tasks/get every {poll} ms (its pollInterval), then call tasks/result once it says completed.",
                        RESULT_WAIT_MS / 1000
                    ),
                ));
            };
            let mut lane = Lane::Legacy(V1_VERSION).result_fields();
            lane.meta = Some(Meta {
                related_task: Some(RelatedTask {
                    task_id: id.to_string(),
                }),
                ..Meta::default()
            });
            Ok(tool_result_with("create_tasks", r, lane))
        }
        (Era::V1, _) => Ok(payload(&Task {
            ttl: Some(h.ttl),
            poll_interval: Some(poll),
            ..base
        })),
        (Era::V2, _) => {
            let result = match status {
                "completed" => outcome(&seen).map(|r| tool_result("create_tasks", r, Lane::Modern)),
                _ => None,
            };
            Ok(v2_task(h, poll, result.as_deref(), base))
        }
    }
}

/// The result of a job that has ended: its first page, or, for one that
/// failed as a whole, the tool's error saying why.
fn outcome(seen: &Seen) -> Option<Result<Out, ToolError>> {
    let page = seen.page.clone()?;
    Some(match seen.failed {
        true => Err(ToolError::refused(seen.message.clone(), None)),
        false => Ok(Out::Json(page)),
    })
}

/// `resources/read` of a job's page: `uri` is [`URI`], the task's id and
/// `?after=<line>`. `None` when `uri` is not a job's.
pub async fn read_page(cx: &Ctx, uri: &str, lane: Lane) -> Option<Result<Payload, RpcError>> {
    let rest = uri.strip_prefix(URI)?;
    let (id, query) = rest.split_once('?').unwrap_or((rest, ""));
    Some(
        page(cx, id, query)
            .await
            .map(|page| json_contents(uri, &page.to_string(), lane)),
    )
}

async fn page(cx: &Ctx, id: &str, query: &str) -> Result<serde_json::Value, RpcError> {
    let after = match query.strip_prefix("after=").map(str::parse::<u32>) {
        None if query.is_empty() => 0,
        Some(Ok(n)) => n,
        _ => {
            return Err(RpcError::invalid_params(
                "a job's outcomes URI ends with `?after=<line>` (a page's next_after), or nothing for the first page",
            ))
        }
    };
    let keys = handle::keys(cx).await.map_err(|_| not_found())?;
    let h = match handle::open(cx, &keys, id).await {
        Ok(Some(h)) if h.follows == handle::Follows::Job => h,
        _ => return Err(not_found()),
    };
    let uri = format!("{URI}{id}");
    job::look(cx, &h.id, Some(after), true, &uri)
        .await
        .map_err(store_error)?
        .and_then(|s| s.page)
        .ok_or_else(not_found)
}
