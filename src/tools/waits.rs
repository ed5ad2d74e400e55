//! `wait_for_task` and `wait_for_batch`: one call that returns as soon as
//! the work is done, instead of an agent calling get_task over and over.
//!
//! Both poll Scale, the source of truth, with backoff ([`Waiter`]); every
//! poll is a Scale request counted against the request's time and
//! subrequest budget, and the wait ends early (still pending, saying so)
//! when a further poll would not fit. The callback log is not consulted: it
//! only knows what was delivered to this worker. A wait is at most
//! [`MAX_WAIT_S`], under the 60 s after which MCP clients give up on a
//! request (most ignore progress when timing out).

use super::args::{args, id, int, Decl, Int};
use super::error::ToolError;
use super::kernel::{tool, ToolDef, ToolResult, READ};
use super::run::{object_or_ok, Session};
use super::shape::{batch_progress, out};
use crate::context::Ctx;
use crate::json::object;
use crate::scale::{Call, Retry};
use serde_json::Value;

/// The longest a wait may be asked to last, in seconds.
pub(crate) const MAX_WAIT_S: i64 = 45;
/// How long a wait lasts when not told.
pub(crate) const DEFAULT_WAIT_S: i64 = 30;
/// The first pause between polls; each next one is twice as long, up to [`MAX_DELAY_MS`].
const FIRST_DELAY_MS: u64 = 500;
const MAX_DELAY_MS: u64 = 2_000;
/// Time kept for the last poll itself, which must fit in the request's budget.
const POLL_ROOM_MS: u64 = 2_000;

pub(crate) const TOOLS: &[ToolDef] = &[
    tool! {
        name: "wait_for_task",
        title: "Wait for task",
        description: "Waits until a task is no longer pending (completed, error or canceled) or `timeout_s` runs out (default 30, at most 45), \
    polling GET /task/{task_id} with backoff. Returns {task_id, status, done, waited_s, polls, next_step, task}: `done` is true once the task \
    left pending, `task` is the task as get_task returns it (labels in `task.response` when completed), `next_step` says what to do. \
    Still pending at the timeout is not an error: call wait_for_task again. Sends progress notifications when the client asks for them.",
        args: WaitForTask,
        output: || out::schema(TASK_WAIT_SCHEMA),
        hints: READ,
        scope: Read,
        untrusted: &["/task/response", "/task/metadata", "/task/audits"],
        // Looked up before the first poll: a task of another project
        // answers at once, exactly like a missing one.
        projects: Task,
        progress: true,
        ui: Opens,
        run: wait_for_task,
    },
    tool! {
        name: "wait_for_batch",
        title: "Wait for batch",
        description: "Waits until a batch is completed or `timeout_s` runs out (default 30, at most 45), polling GET /batches/{name}/status with backoff. \
    Returns {name, status, done, progress, waited_s, polls, next_step}, `progress` being its task counts {pending, completed, error, canceled, total}. \
    A batch still in `staging` answers at once: Scale starts no work before finalize_batch. Still in progress at the timeout is not an error: \
    call wait_for_batch again. Sends progress notifications (tasks finished of total) when the client asks for them.",
        args: WaitForBatch,
        output: || out::schema(BATCH_WAIT_SCHEMA),
        hints: READ,
        scope: Read,
        untrusted: &[],
        // The status endpoint does not say the project: the batch is
        // looked up first.
        projects: Batch,
        progress: true,
        run: wait_for_batch,
    },
];

const TIMEOUT_DECL: Decl = int(1, MAX_WAIT_S, "Longest wait in seconds, 1-45 (default 30).");

args! {
    pub(crate) struct WaitForTask {
        req task_id: String = id("The task's id."),
        opt timeout_s: Int = TIMEOUT_DECL,
    }
}

args! {
    pub(crate) struct WaitForBatch {
        req name: String = id("Batch name."),
        opt timeout_s: Int = TIMEOUT_DECL,
    }
}

/// The output schemas, kept as text: `json!` would compile them into code.
const TASK_WAIT_SCHEMA: &str = r#"{"type": "object", "required": ["task_id", "status", "done", "next_step"], "properties": {
"task_id": {"type": "string"}, "status": {"type": "string"}, "done": {"type": "boolean"},
"waited_s": {"type": "number"}, "polls": {"type": "integer"}, "next_step": {"type": "string"},
"task": {"type": "object"}}}"#;
const BATCH_WAIT_SCHEMA: &str = r#"{"type": "object", "required": ["name", "status", "done", "next_step"], "properties": {
"name": {"type": "string"}, "status": {"type": "string"}, "done": {"type": "boolean"},
"progress": {"type": "object", "properties": {"pending": {"type": "integer"}, "completed": {"type": "integer"},
"error": {"type": "integer"}, "canceled": {"type": "integer"}, "total": {"type": "integer"}}},
"waited_s": {"type": "number"}, "polls": {"type": "integer"}, "next_step": {"type": "string"}}}"#;

/// What a wait follows: a Scale task by id, or a batch by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Work<'a> {
    Task(&'a str),
    Batch(&'a str),
}

impl<'a> Work<'a> {
    /// The tool that waits for it.
    pub(crate) fn tool(self) -> &'static str {
        match self {
            Work::Task(_) => "wait_for_task",
            Work::Batch(_) => "wait_for_batch",
        }
    }
    pub(crate) fn id(self) -> &'a str {
        match self {
            Work::Task(id) | Work::Batch(id) => id,
        }
    }
    /// The read of one poll: the task, or the batch's status.
    pub(crate) fn read(self) -> Result<Call, ToolError> {
        Ok(match self {
            Work::Task(id) => Call::get().lit("task").seg("task_id", id)?,
            Work::Batch(name) => Call::get().lit("batches").seg("name", name)?.lit("status"),
        })
    }
    /// Whether Scale's `status` says the work is still going, so a later
    /// poll may find it done.
    fn going(self, status: &str) -> bool {
        match self {
            Work::Task(_) => status == "pending",
            Work::Batch(_) => status == "in_progress",
        }
    }
}

/// Why a wait ended without the work being done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    Timeout,
    /// The request's time would run out during the next poll.
    RequestTime,
    /// The request has no subrequest left for another poll.
    Subrequests,
}

/// The pacing of a wait: polls with a growing pause between them, ending at
/// the caller's timeout or when the request's budget leaves no room for
/// another poll.
pub(crate) struct Waiter<'a> {
    cx: &'a Ctx,
    /// What `waited_s` counts from: the start of this wait, or when an MCP
    /// task that follows the work was made.
    since: u64,
    deadline: u64,
    delay: u64,
    pub polls: u32,
}

impl<'a> Waiter<'a> {
    /// A wait of `timeout_s` from now, its time waited counted from `since` (ms).
    pub(crate) fn new(cx: &'a Ctx, since: u64, timeout_s: Option<Int>) -> Self {
        let now = cx.upstream().now_ms();
        let secs = timeout_s
            .map_or(DEFAULT_WAIT_S, |t| t.0)
            .clamp(1, MAX_WAIT_S) as u64;
        Self {
            cx,
            since: since.min(now),
            deadline: now + secs * 1000,
            delay: FIRST_DELAY_MS,
            polls: 0,
        }
    }

    /// Seconds waited, to a tenth.
    pub(crate) fn waited_s(&self) -> f64 {
        let ms = self.cx.upstream().now_ms().saturating_sub(self.since);
        (ms / 100) as f64 / 10.0
    }

    /// After a poll that found the work still going: pauses until the next
    /// poll, or says why there is none. The last pause is cut short so that
    /// one poll lands on the deadline.
    pub(crate) async fn pause(&mut self) -> Result<(), Stop> {
        let now = self.cx.upstream().now_ms();
        if now >= self.deadline {
            return Err(Stop::Timeout);
        }
        if self.cx.budget.subrequests_left() == 0 {
            return Err(Stop::Subrequests);
        }
        let delay = self.delay.min(self.deadline - now);
        if self.cx.budget.remaining_ms(now) < delay + POLL_ROOM_MS {
            return Err(Stop::RequestTime);
        }
        self.cx.upstream().sleep(delay as u32).await;
        self.delay = (self.delay * 2).min(MAX_DELAY_MS);
        Ok(())
    }

    /// What to tell the agent when the wait ended with the work still going.
    fn again(&self, stop: Stop, tool: &str, what: &str) -> String {
        let waited = self.waited_s();
        let why = match stop {
            Stop::Timeout => {
                return format!(
                    "Still {what} after {waited} s. Call {tool} again to keep waiting (up to {MAX_WAIT_S} s a call), or check back later."
                )
            }
            Stop::RequestTime => "this request's time for Scale ran out".to_string(),
            Stop::Subrequests => format!(
                "this request had made its {} Scale requests (SUBREQUEST_LIMIT)",
                self.cx.budget.subrequest_limit()
            ),
        };
        format!("Still {what} after {waited} s, when {why}. Call {tool} again to keep waiting.")
    }
}

async fn wait_for_task(cx: &Ctx, a: WaitForTask) -> ToolResult {
    let since = cx.upstream().now_ms();
    Ok(wait(cx, Work::Task(&a.task_id), since, a.timeout_s, None)
        .await?
        .unwrap_or_default()
        .into())
}

async fn wait_for_batch(cx: &Ctx, a: WaitForBatch) -> ToolResult {
    let since = cx.upstream().now_ms();
    Ok(wait(cx, Work::Batch(&a.name), since, a.timeout_s, None)
        .await?
        .unwrap_or_default()
        .into())
}

/// What one poll read: Scale's answer, its status, and for a batch its
/// task counts.
pub(crate) struct Reading {
    pub(crate) got: Value,
    pub(crate) status: String,
    /// A batch's `progress` counts, and the sentence that says them.
    counts: Option<(Value, String)>,
}

impl Reading {
    pub(crate) fn of(work: Work, got: Value) -> Reading {
        let status = got["status"].as_str().unwrap_or("").to_string();
        let counts = matches!(work, Work::Batch(_)).then(|| {
            let c = batch_progress(&got);
            let n = |k: &str| c[k].as_u64().unwrap_or(0);
            let counted = format!(
                "{} of {} tasks finished ({} completed, {} error, {} canceled)",
                n("completed") + n("error") + n("canceled"),
                n("total"),
                n("completed"),
                n("error"),
                n("canceled")
            );
            (c, counted)
        });
        Reading {
            got,
            status,
            counts,
        }
    }

    /// A batch's count of `key` (completed, error, canceled, total, …).
    pub(crate) fn count(&self, key: &str) -> u64 {
        self.counts
            .as_ref()
            .map_or(0, |(c, _)| c[key].as_u64().unwrap_or(0))
    }

    /// What waiting longer cannot change: why the wait ended.
    fn finished_step(&self, work: Work) -> String {
        let counted = self.counts.as_ref().map_or("", |(_, t)| t.as_str());
        match (work, self.status.as_str()) {
            (Work::Task(_), "completed") => "The task is completed: its labels are in `task.response`.".into(),
            (Work::Task(_), "error") => "Scale could not do the task (status error); see `task` for why, then create it again with corrected input.".into(),
            (Work::Task(_), "canceled") => "The task was canceled; create a new task if the work is still needed.".into(),
            (Work::Batch(id), "completed") => format!(
                "The batch is completed: {counted}. Read the results with list_tasks {{\"batch\": \"{id}\", \"status\": \"completed\"}}."
            ),
            (Work::Batch(id), "staging") => format!(
                "The batch is in staging: Scale starts no work on it until it is finalized. Call finalize_batch {{\"name\": \"{id}\"}}, then wait_for_batch again."
            ),
            (_, other) => format!("The status is `{other}`, which waiting will not change."),
        }
    }

    /// The wait's result: `waited_s` seconds and `polls` polls, `next` to do.
    pub(crate) fn result(self, work: Work, waited_s: f64, polls: u32, next: String) -> Value {
        let done = match work {
            Work::Batch(_) => self.status == "completed",
            Work::Task(_) => !work.going(&self.status),
        };
        // Built as a map: a serde type would cost the upload more code.
        let mut fields = vec![
            ("status", Value::String(self.status)),
            ("done", Value::Bool(done)),
            ("waited_s", Value::from(waited_s)),
            ("polls", Value::from(polls)),
            ("next_step", Value::String(next)),
        ];
        match (work, self.counts) {
            (Work::Batch(id), Some((c, _))) => {
                fields.push(("name", Value::from(id)));
                fields.push(("progress", c));
            }
            _ => {
                fields.push(("task_id", Value::from(work.id())));
                fields.push(("task", self.got));
            }
        }
        object(fields)
    }

    /// The wait's result for work that waiting will not change.
    pub(crate) fn finished(self, work: Work, waited_s: f64, polls: u32) -> Value {
        let next = self.finished_step(work);
        self.result(work, waited_s, polls, next)
    }

    pub(crate) fn going(&self, work: Work) -> bool {
        work.going(&self.status)
    }
}

/// Polls `work` until it is no longer going, the timeout runs out or the
/// budget leaves no room; the time waited counts from `since`. With `once`
/// (an MCP task's look), the first poll ends it, and an answer whose text
/// `once` has read all it needs of (true) comes back unparsed, as `None`.
pub(crate) async fn wait(
    cx: &Ctx,
    work: Work<'_>,
    since: u64,
    timeout_s: Option<Int>,
    once: Option<&mut dyn FnMut(&str) -> bool>,
) -> Result<Option<Value>, ToolError> {
    let call = work.read()?;
    let s = Session::new(cx);
    let mut w = Waiter::new(cx, since, timeout_s);
    let mut reported: Option<f64> = None;
    let single = once.is_some();
    let mut never = |_: &str| false;
    let quick: &mut dyn FnMut(&str) -> bool = once.unwrap_or(&mut never);
    loop {
        let got = match s.sc.send_or(&call, Retry::Idempotent, &mut *quick).await {
            Ok(Some(v)) => object_or_ok(v),
            Ok(None) => return Ok(None),
            Err(e) => return Err(s.error(&call, e, &[])),
        };
        w.polls += 1;
        let r = Reading::of(work, got);
        if !r.going(work) {
            return Ok(Some(r.finished(work, w.waited_s(), w.polls)));
        }
        if single {
            return Ok(Some(r.result(work, w.waited_s(), w.polls, String::new())));
        }
        // What the wait has to show: seconds waited for a task, tasks finished of a batch.
        let (progress, total, counted) = match &r.counts {
            Some((_, counted)) => (
                (r.count("completed") + r.count("error") + r.count("canceled")) as f64,
                Some(r.count("total") as f64),
                counted.clone(),
            ),
            None => {
                let waited = w.waited_s();
                (waited, None, format!("still pending after {waited} s"))
            }
        };
        // Progress must grow from one notification to the next.
        if reported.is_none_or(|p| progress > p) {
            reported = Some(progress);
            let what = match work {
                Work::Batch(_) => "batch",
                Work::Task(_) => "task",
            };
            cx.report(progress, total, format!("{what} {}: {counted}", work.id()));
        }
        if let Err(stop) = w.pause().await {
            let next = match work {
                Work::Batch(_) => {
                    w.again(stop, work.tool(), &format!("in progress with {counted}"))
                }
                Work::Task(_) => w.again(stop, work.tool(), "pending"),
            };
            return Ok(Some(r.result(work, w.waited_s(), w.polls, next)));
        }
    }
}

#[cfg(test)]
#[path = "waits_tests.rs"]
mod tests;
