//! What MCP tasks need of the two waits. A task handle follows the work of
//! `wait_for_task` or `wait_for_batch` (a Scale task, or a batch) between
//! calls; each look at it runs behind every check a call of that tool
//! passes (`super::follow_work`) and leaves that tool's audit line.
//!
//! A [`look`] is one Scale read, the first poll of the wait tool's wait (on
//! a connection confined to projects, the wait tool's lookup comes first;
//! a task still pending is read for its status and creation time only),
//! or for `tasks/result` the wait itself, as long as one call may wait: Scale's
//! status, whether it is one of Scale's own final states, a sentence on
//! where the work stands, and, once finished and when asked for, the result
//! the wait tool gives at that moment. The result's `waited_s` counts from
//! when the handle was made, and `polls` counts the reads of this answer.

use super::args::Int;
use super::error::{ErrorKind, ToolError};
use super::kernel::Out;
use super::waits::{self, Work, MAX_WAIT_S};
use crate::codec::iso_from_ms;
use crate::context::Ctx;
use crate::json::{thousands, RawFields};
use serde_json::{Map, Value};

/// What a requester needs from a look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum How {
    /// One read, for the status only (`tasks/get` on 2025-11-25, a task's
    /// creation).
    Status,
    /// One read, and the wait tool's result once the work is finished
    /// (`tasks/get` on 2026-07-28).
    Result,
    /// The wait tool's own wait, at most one call's (`tasks/result`).
    Wait,
}

/// What a look found.
#[derive(Debug)]
pub(crate) struct Look {
    /// The task's id or the batch's name the look was for.
    pub(crate) id: String,
    /// Whether Scale's status of it is one of its own final states: a task completed,
    /// in error or canceled; a batch completed. Nothing else is.
    pub(crate) finished: bool,
    /// Where the work stands, in one sentence.
    pub(crate) message: String,
    /// The wait tool's result (fitted, as every answer carries it), when
    /// finished and asked for.
    pub(crate) result: Option<Out>,
}

/// How a failed look reads to a requester of a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failed {
    /// The work is not there for this caller: Scale knows no such task or
    /// batch, it lies outside the connection's projects, or the
    /// connection's view does not offer the tool.
    Hidden,
    /// A later look may work: Scale answered 429 or 5xx, or did not answer
    /// in time, or the request's budget ran out, or this caller's rate
    /// limit (`Some` of its period in seconds) was reached.
    Busy(Option<u64>),
    /// The arguments are not the tool's (a creation's only).
    Invalid,
    /// Anything else, such as a Scale key Scale refused.
    Other,
}

/// Sorts a failed look, or a failed start of a job: a refusal by a view
/// rule hides the work, the rate limiter's (status 429) asks for a retry
/// after its period, and any other refusal (a guarded write, a job's rule)
/// is the tool's answer.
pub(crate) fn failed(e: &ToolError, rate_limit_period: u32) -> Failed {
    match (e.kind, e.status) {
        (_, Some(404)) => Failed::Hidden,
        (ErrorKind::Refused, _) if e.refusal.is_some() => Failed::Hidden,
        (ErrorKind::Refused, Some(429)) => Failed::Busy(Some(u64::from(rate_limit_period))),
        (ErrorKind::Timeout, _) | (ErrorKind::Scale, Some(429 | 500..=599) | None) => {
            Failed::Busy(None)
        }
        (ErrorKind::InvalidArguments, _) => Failed::Invalid,
        _ => Failed::Other,
    }
}

/// The work a call of `tool` with `args` (validated) follows.
fn work_of<'a>(tool: &str, args: &'a Map<String, Value>) -> Work<'a> {
    let arg = |k: &str| args.get(k).and_then(Value::as_str).unwrap_or("");
    match tool {
        "wait_for_batch" => Work::Batch(arg("name")),
        _ => Work::Task(arg("task_id")),
    }
}

/// A look at the work a call of `tool` (a wait tool) with `args` (already
/// checked) follows, for a handle made at `since` (ms): the wait tool's own
/// wait, stopped after its first read unless `how` is [`How::Wait`].
pub(crate) async fn look(
    cx: &Ctx,
    tool: &str,
    args: &Map<String, Value>,
    since: u64,
    how: How,
) -> Result<Look, ToolError> {
    let work = work_of(tool, args);
    let mut seen = None;
    let mut quick = |text: &str| {
        seen = pending(work, text);
        seen.is_some()
    };
    let (timeout, once) = match how {
        How::Wait => (Some(Int(MAX_WAIT_S)), None),
        _ => (None, Some(&mut quick as &mut dyn FnMut(&str) -> bool)),
    };
    let Some(v) = waits::wait(cx, work, since, timeout, once).await? else {
        return Ok(Look {
            id: work.id().to_string(),
            finished: false,
            message: task_message(cx, "pending", seen.flatten().as_deref(), since),
            result: None,
        });
    };
    let status = v["status"].as_str().unwrap_or("");
    let finished = finished(work, status);
    let message = match work {
        Work::Task(_) => task_message(cx, status, v["task"]["created_at"].as_str(), since),
        Work::Batch(_) => {
            let n = |k: &str| v["progress"][k].as_u64().unwrap_or(0);
            batch_message(
                status,
                [n("completed"), n("error"), n("canceled"), n("total")],
            )
        }
    };
    Ok(Look {
        id: work.id().to_string(),
        finished,
        message,
        result: (finished && how != How::Status).then(|| Out::Json(v).fitted()),
    })
}

/// A Scale task's answer whose status is `pending`: its `created_at` (a
/// string, else `None`), read as a tree would read it (a repeated field's
/// last); a `created_at` with escapes is left to the tree. The poll a client
/// repeats while labelers work so costs no more than get_task, which passes
/// Scale's answer on without building a tree of it.
fn pending(work: Work, text: &str) -> Option<Option<String>> {
    if !matches!(work, Work::Task(_)) || !text.contains("\"pending\"") {
        return None;
    }
    let f: RawFields = serde_json::from_str(text).ok()?;
    let field = |k: &str| f.0.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.get());
    if field("status")? != "\"pending\"" {
        return None;
    }
    match field("created_at").and_then(|v| v.strip_prefix('"')) {
        Some(t) if t.contains('\\') => None,
        t => Some(t.map(|t| t[..t.len() - 1].to_string())),
    }
}

/// Whether Scale's `status` is one of its own final states for `work`.
fn finished(work: Work, status: &str) -> bool {
    match work {
        Work::Task(_) => matches!(status, "completed" | "error" | "canceled"),
        Work::Batch(_) => status == "completed",
    }
}

/// Where a task stands: labelers at work since it was created (as Scale
/// says, else since the handle was made), or how it ended.
fn task_message(cx: &Ctx, status: &str, created_at: Option<&str>, since: u64) -> String {
    match status {
        "pending" => {
            let now = iso_from_ms(cx.upstream().now_ms());
            let made;
            // ASCII, so the slices below fall on character boundaries.
            let at = match created_at.filter(|t| {
                t.len() >= 17 && t.is_ascii() && t.as_bytes()[10] == b'T' && t.ends_with('Z')
            }) {
                Some(t) => t,
                None => {
                    made = iso_from_ms(since);
                    &made
                }
            };
            let (day, time) = (&at[..10], &at[11..16]);
            if day == &now[..10] {
                format!("Waiting for labelers since {time} UTC.")
            } else {
                format!("Waiting for labelers since {day} {time} UTC.")
            }
        }
        "completed" => "The task is completed; its labels are in the result.".into(),
        "error" => "Scale ended the task in error; the result says why.".into(),
        "canceled" => "The task was canceled.".into(),
        other => format!(
            "Scale reports the task's status as `{}`.",
            crate::json::truncate(other, 40)
        ),
    }
}

/// Where a batch stands: its tasks done of all, or that it waits in staging.
fn batch_message(status: &str, [completed, error, canceled, total]: [u64; 4]) -> String {
    let done = completed + error + canceled;
    match status {
        "in_progress" => format!("{} of {} tasks done.", thousands(done), thousands(total)),
        "completed" => format!(
            "The batch is completed: {} tasks done ({} completed, {} error, {} canceled).",
            thousands(done),
            thousands(completed),
            thousands(error),
            thousands(canceled)
        ),
        "staging" => {
            "The batch is in staging: Scale starts no work on it until finalize_batch is called."
                .into()
        }
        other => format!(
            "Scale reports the batch's status as `{}`.",
            crate::json::truncate(other, 40)
        ),
    }
}

#[cfg(test)]
#[path = "follow_tests.rs"]
mod tests;
