//! MCP tasks: Scale's human work as a durable handle a client polls,
//! across reconnects and restarts, in both protocol eras.
//!
//! - **2025-11-25** (the `tasks` utility): `initialize` declares
//!   `tasks.requests.tools.call`, `wait_for_task` and `wait_for_batch`
//!   carry `execution.taskSupport: "optional"`, and a `tools/call` of
//!   either with `params.task` answers a task at once. `tasks/get` gives
//!   its status; `tasks/result` the tool's result, after waiting as the
//!   tool does (at most one call's wait, then an error saying to keep
//!   polling: a request cannot be held for days). No `tasks/list` and no
//!   `tasks/cancel`: they would need state the handle does not have.
//! - **2026-07-28** with the `io.modelcontextprotocol/tasks` extension:
//!   `server/discover` lists the extension, and a `tools/call` of either
//!   wait tool whose request declares it answers a task. `tasks/get`
//!   carries the result once completed; `tasks/cancel` and `tasks/update`
//!   are acknowledged (nothing here stops Scale's work or asks for input).
//!
//! A task's id is the task ([`handle`]); every look at its work is one
//! Scale read behind the wait tool's own checks (`tools::follow`). Only
//! Scale's final states end a task; a Scale 429 or 5xx is an error of that
//! poll, never a status. Without a server key (no `OAUTH_SECRET` and no
//! OAuth store) nothing here is offered and the tools only block, as
//! before.

mod handle;
mod job;
mod wire;

pub use job::read_page as read_job_page;

use super::lane::{extension, Lane, META_CAPS};
use super::model::{Meta, RelatedTask};
use super::results::{step_up, tool_result, tool_result_with};
use super::rpc::{self, payload, Payload, RpcError};
use crate::auth::has_server_key;
use crate::codec::iso_from_ms;
use crate::context::Ctx;
use crate::io::BoxFut;
use crate::json::truncate;
use crate::tools::follow::{failed, Failed, How, Look};
use crate::tools::{self, ToolError};
use handle::{Follows, Handle, Unavailable};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::borrow::Cow;
use wire::{Ack, Task};

/// The extension a 2026-07-28 request declares to get tasks.
pub const EXTENSION: &str = "io.modelcontextprotocol/tasks";
/// The one initialize-era version with tasks.
const V1_VERSION: &str = "2025-11-25";
/// A task lives at least this long, whatever the client asks.
const MIN_TTL_MS: u64 = 60_000;
/// The poll interval of a 2025-11-25 task whose work was done when it was
/// made (it must still begin `working`): at most this.
const SHORT_POLL_MS: u64 = 1_000;

/// The two eras' wires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Era {
    /// 2025-11-25.
    V1,
    /// 2026-07-28 with the extension.
    V2,
}

fn era(lane: Lane) -> Option<Era> {
    match lane {
        Lane::Modern => Some(Era::V2),
        Lane::Legacy(V1_VERSION) => Some(Era::V1),
        Lane::Legacy(_) => None,
    }
}

/// Whether tasks are served on `lane`: 2025-11-25 or 2026-07-28, with a
/// server key.
pub fn served(lane: Lane, cx: &Ctx) -> bool {
    era(lane).is_some() && has_server_key(&cx.config, &cx.services)
}

/// Whether `tool` may run as a task (`create_tasks` only when `jobs` are on).
pub fn runs_as_task(tool: &str, jobs: bool) -> bool {
    match Follows::of_tool(tool) {
        Some(Follows::Job) => jobs,
        Some(_) => true,
        None => false,
    }
}

/// The `tasks` capability of an `initialize` answered with `version`.
pub fn v1_capability(version: &str, cx: &Ctx) -> Option<Box<RawValue>> {
    (version == V1_VERSION && has_server_key(&cx.config, &cx.services))
        .then(|| fixed(r#"{"requests":{"tools":{"call":{}}}}"#))
}

/// The extensions of `server/discover`.
pub fn v2_capability(cx: &Ctx) -> Option<Box<RawValue>> {
    has_server_key(&cx.config, &cx.services)
        .then(|| fixed(r#"{"io.modelcontextprotocol/tasks":{}}"#))
}

/// The `execution` of a tool that may run as a task (2025-11-25).
pub fn optional() -> Box<RawValue> {
    fixed(r#"{"taskSupport":"optional"}"#)
}

fn fixed(json: &str) -> Box<RawValue> {
    RawValue::from_string(json.into()).expect("valid JSON")
}

/// Whether the request declared the extension in its own capabilities.
fn declared(params: &Map<String, Value>) -> bool {
    extension(params, EXTENSION).is_some_and(Value::is_object)
}

/// What a request asks of MCP tasks, decided before anything is read.
pub struct Job {
    era: Era,
    what: What,
}

enum What {
    /// Make a task of a wait tool's work (`tools/call`).
    Create {
        follows: Follows,
        args: Map<String, Value>,
        ttl: Option<u64>,
    },
    /// A look at the task `id` names.
    Poll { id: String, method: Method },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    /// 2025-11-25's `tasks/result`.
    Result,
    /// 2026-07-28's `tasks/cancel`: a job stops; other tasks are only
    /// acknowledged.
    Cancel,
    /// 2026-07-28's `tasks/update`.
    Acknowledge,
}

/// A `tools/call` to answer as a task, or refused as one; `None` when it is
/// an ordinary call: not on a lane with tasks, no task asked for (on
/// 2025-11-25 `params.task`, on 2026-07-28 the request's extension), or on
/// 2026-07-28 a tool that does not run as one.
pub fn asked(params: &Map<String, Value>, lane: Lane, cx: &Ctx) -> Option<Result<Job, RpcError>> {
    let era = era(lane).filter(|_| served(lane, cx))?;
    let name = params.get("name")?.as_str()?;
    let jobs = cx.services.jobs.is_some();
    let follows = Follows::of_tool(name).filter(|f| *f != Follows::Job || jobs);
    let manifest = follows == Some(Follows::Job)
        && params
            .get("arguments")
            .and_then(|a| a.get("items_url"))
            .is_some_and(|u| !u.is_null());
    let ttl =
        match era {
            Era::V1 => match params.get("task")? {
                Value::Null => return None,
                Value::Object(t) => match t.get("ttl") {
                    None | Some(Value::Null) => None,
                    Some(v) => match v.as_u64() {
                        Some(ms) => Some(ms),
                        None => return Some(Err(RpcError::invalid_params(
                            "params.task.ttl must be a whole number of milliseconds (or left out)",
                        ))),
                    },
                },
                _ => {
                    return Some(Err(RpcError::invalid_params(
                        "params.task must be an object, {} or {\"ttl\": milliseconds}",
                    )))
                }
            },
            // The legacy `params.task` means nothing on this lane.
            Era::V2 if declared(params) => None,
            Era::V2 if manifest => {
                return Some(Err(RpcError::missing_capability(
                    format!("create_tasks with items_url starts a job that only a task can follow: declare the {EXTENSION} extension in this request's _meta[\"{META_CAPS}\"].extensions, or pass up to 100 `items` instead"),
                    REQUIRED,
                )))
            }
            Era::V2 => return None,
        };
    if follows == Some(Follows::Job) && !manifest {
        // Inline items are one call's work: never a task.
        return match era {
            Era::V2 => None,
            Era::V1 => Some(Err(RpcError::invalid_params(
                "create_tasks runs as a task only with `items_url` (a manifest); call it without params.task for inline `items`",
            ))),
        };
    }
    let Some(follows) = follows else {
        // On 2025-11-25 a tool without `execution.taskSupport` must not be
        // called as a task; 2026-07-28 leaves the choice to the server.
        return (era == Era::V1 && tools::find(name).is_some()).then(|| {
            Err(RpcError::new(
                rpc::METHOD_NOT_FOUND,
                format!(
                    "{} does not run as a task: call it without params.task (wait_for_task and wait_for_batch run as tasks)",
                    truncate(name, 64)
                ),
            ))
        });
    };
    let args = match params.get("arguments") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        // The ordinary call refuses it, saying why.
        Some(_) => return None,
    };
    Some(Ok(Job {
        era,
        what: What::Create { follows, args, ttl },
    }))
}

/// Answers a [`Job`]: the one path every task request takes, so each await
/// (opening an id, the look at Scale, sealing a new id) has one site.
pub fn run<'a>(cx: &'a Ctx, job: Job) -> BoxFut<'a, Result<Payload, RpcError>> {
    Box::pin(async move {
        let now = cx.upstream().now_ms();
        let keys = handle::keys(cx).await.map_err(|e| unavailable(cx, e))?;
        let Job { era, what } = job;
        let (h, id, method, args) = match what {
            What::Create { follows, args, ttl } => {
                let max_ttl = u64::from(cx.config.callback_ttl_days) * 86_400_000;
                let ttl = ttl.map_or(max_ttl, |t| t.clamp(MIN_TTL_MS, max_ttl));
                let h = Handle {
                    follows,
                    id: String::new(),
                    created: now,
                    ttl,
                };
                if follows == Follows::Job {
                    let started = tools::start_job(cx, args, ttl).await.map(|id| {
                        Look {
                            id,
                            finished: false,
                            message: "Reading and checking the manifest; nothing is created until every item passed.".into(),
                            result: None,
                        }
                    });
                    return created(cx, &keys, era, h, started).await;
                }
                (h, None, None, args)
            }
            What::Poll { id, method } => {
                let h = match handle::open(cx, &keys, &id).await {
                    Ok(Some(h)) => h,
                    Ok(None) => return Err(not_found()),
                    Err(e) => return Err(unavailable(cx, e)),
                };
                if h.follows == Follows::Job {
                    return job::poll(cx, era, &id, &h, method).await;
                }
                let (tool, args) = h.call();
                if matches!(method, Method::Acknowledge | Method::Cancel) {
                    // Acknowledged for a task this caller may still see;
                    // nothing here stops Scale's work, and these tasks never
                    // ask for input.
                    let (_, def) = tools::find(tool).ok_or_else(not_found)?;
                    tools::guard::admit(cx, def).map_err(|_| not_found())?;
                    return Ok(payload(&Ack {
                        result_type: "complete",
                        meta: Lane::Modern.result_fields().meta,
                    }));
                }
                (h, Some(id), Some(method), args)
            }
        };
        let (tool, _) = h.follows.tool();
        let (how, via) = match (method, era) {
            (None, _) => (How::Status, "tools/call"),
            (Some(Method::Result), _) => (How::Wait, "tasks/result"),
            (_, Era::V1) => (How::Status, "tasks/get"),
            (_, Era::V2) => (How::Result, "tasks/get"),
        };
        let looked = tools::follow_work(cx, tool, args, h.created, how, via).await;
        let Some(id) = id else {
            return created(cx, &keys, era, h, looked).await;
        };
        let look = looked.map_err(|e| poll_error(cx, &e, tool, &h))?;
        match method {
            Some(Method::Result) => result(cx, &id, &h, look, now),
            _ => Ok(get(cx, era, &id, &h, look)),
        }
    })
}

/// A new task of the wait tool's work, once one look proved the task or
/// batch exists and this caller may see it; else the refusal, each era its
/// own way.
async fn created(
    cx: &Ctx,
    keys: &[Vec<u8>],
    era: Era,
    mut h: Handle,
    looked: Result<Look, ToolError>,
) -> Result<Payload, RpcError> {
    let (tool, _) = h.follows.tool();
    let poll = poll_interval(cx, 0);
    let look = match looked {
        Ok(look) => look,
        Err(e) => {
            if let Some(refused) = step_up(cx, &e) {
                return Err(refused);
            }
            return match (era, failed(&e, cx.config.rate_limit_period)) {
                (_, Failed::Busy(wait)) => Err(busy(&e, tool, wait, poll, "No task was made")),
                // The server decides per request: the tool's own answer.
                (Era::V2, _) => Ok(tool_result(tool, Err(e), Lane::Modern)),
                (Era::V1, Failed::Other) => Err(RpcError::new(rpc::INTERNAL_ERROR, e.text(tool))),
                (Era::V1, _) => Err(RpcError::invalid_params(e.text(tool))),
            };
        }
    };
    h.id = look.id.clone();
    let task_id = handle::seal(cx, keys, &h)
        .await
        .map_err(|e| unavailable(cx, e))?;
    let created = iso_from_ms(h.created);
    if era == Era::V2 {
        return Ok(payload(&Task {
            result_type: Some("task"),
            status: status_of(&look),
            poll_interval_ms: Some(poll),
            ttl_ms: Some(h.ttl),
            meta: Lane::Modern.result_fields().meta,
            ..task(&task_id, &look.message, &created, &created)
        }));
    }
    // 2025-11-25: a task begins `working` even when Scale's work is done
    // already; its first poll, soon, says `completed`.
    let (message, poll) = match look.finished {
        true => (
            format!("Scale's work is already done. {}", look.message),
            SHORT_POLL_MS.min(poll),
        ),
        false => (look.message.clone(), poll),
    };
    let (what, takes) = match h.follows {
        Follows::Task => ("Scale task", "labeling may take minutes to days"),
        Follows::Batch => ("Scale batch", "labeling may take minutes to days"),
        Follows::Job => (
            "The job reading the manifest and creating its tasks,",
            "it may take minutes",
        ),
    };
    let immediate = format!(
        "{what} {} is now followed as a task: {takes}; go on with other work meanwhile.",
        truncate(&look.id, 80)
    );
    let task = payload(&Task {
        ttl: Some(h.ttl),
        poll_interval: Some(poll),
        ..task(&task_id, &message, &created, &created)
    });
    // 2025-11-25's `CreateTaskResult`: the task, and a sentence the client
    // may give its model while the work goes on. Written out: two fields
    // around JSON made already need no types of their own (two serde types
    // measured 0.42 KiB of the compressed upload).
    Ok(Cow::Owned(fixed(&format!(
        r#"{{"task":{},"_meta":{{"io.modelcontextprotocol/model-immediate-response":{}}}}}"#,
        task.get(),
        Value::from(immediate)
    ))))
}

/// A task's fields common to both eras, the era's own left out.
fn task<'a>(id: &'a str, message: &'a str, created: &'a str, updated: &'a str) -> Task<'a> {
    Task {
        result_type: None,
        task_id: id,
        status: "working",
        status_message: message,
        created_at: created,
        last_updated_at: updated,
        ttl: None,
        poll_interval: None,
        ttl_ms: None,
        poll_interval_ms: None,
        result: None,
        meta: None,
    }
}

/// A task's status: `completed` once Scale's work is in one of its final
/// states (however it ended: the result says), else `working`.
fn status_of(look: &Look) -> &'static str {
    if look.finished {
        "completed"
    } else {
        "working"
    }
}

/// The poll interval for a task `age_ms` old: `TASK_POLL_MS` for its first
/// two minutes, six times that until half an hour, 24 times until six
/// hours, then 60 times (5 s, 30 s, 2 min, 5 min by default): human work
/// rarely ends within seconds and may take days.
fn poll_interval(cx: &Ctx, age_ms: u64) -> u64 {
    const MINUTE: u64 = 60_000;
    let base = u64::from(cx.config.task_poll_ms);
    base * match age_ms {
        a if a < 2 * MINUTE => 1,
        a if a < 30 * MINUTE => 6,
        a if a < 360 * MINUTE => 24,
        _ => 60,
    }
}

/// The methods under `tasks/` answered here on `lane` (the rest are
/// unknown methods, as before tasks).
pub fn handles(method: &str, lane: Lane) -> bool {
    let v2 = match era(lane) {
        Some(era) => era == Era::V2,
        None => return false,
    };
    matches!(
        method,
        "tasks/get" | "tasks/result" | "tasks/list" | "tasks/cancel"
    ) || (v2 && method == "tasks/update")
}

/// The [`Job`] of a `tasks/*` method of [`handles`] on a lane that serves
/// tasks, or its refusal.
pub fn job(method: &str, params: &Map<String, Value>, lane: Lane) -> Result<Job, RpcError> {
    let era = era(lane).unwrap_or(Era::V1);
    let missing = |m: &str| {
        let e = RpcError::new(rpc::METHOD_NOT_FOUND, m);
        if era == Era::V2 {
            e.with_status(404)
        } else {
            e
        }
    };
    let method = match (era, method) {
        (_, "tasks/list") => return Err(missing(
            "tasks/list is not supported: this server keeps no list of tasks; poll each taskId with tasks/get.",
        )),
        (Era::V1, "tasks/cancel") => return Err(missing(
            "tasks/cancel is not supported: these tasks follow Scale's work and cannot stop it (cancel_task cancels a pending Scale task).",
        )),
        (Era::V2, "tasks/result") => return Err(missing(
            "tasks/result does not exist in protocol 2026-07-28: tasks/get carries the result once the task is completed.",
        )),
        _ if era == Era::V2 && !declared(params) => {
            return Err(RpcError::missing_capability(
                format!(
                    "{method} needs the {EXTENSION} extension declared in this request's _meta[\"{META_CAPS}\"].extensions"
                ),
                REQUIRED,
            ))
        }
        (_, "tasks/get") => Method::Get,
        (Era::V1, _) => Method::Result,
        (Era::V2, "tasks/cancel") => Method::Cancel,
        (Era::V2, m) => {
            if m == "tasks/update" && !params.get("inputResponses").is_some_and(Value::is_object) {
                return Err(RpcError::invalid_params(
                    "params.inputResponses must be an object",
                ));
            }
            Method::Acknowledge
        }
    };
    let Some(id) = params.get("taskId").and_then(Value::as_str) else {
        return Err(RpcError::invalid_params(
            "params.taskId must be a string: the taskId a tools/call answered with",
        ));
    };
    Ok(Job {
        era,
        what: What::Poll {
            id: id.to_string(),
            method,
        },
    })
}

/// The capability a 2026-07-28 `tasks/*` request lacked, as its error's
/// `data` says it.
const REQUIRED: &str =
    r#"{"requiredCapabilities":{"extensions":{"io.modelcontextprotocol/tasks":{}}}}"#;

/// The one answer for every id that does not name a live task of this
/// caller on this URL: it says nothing about which of those it was.
fn not_found() -> RpcError {
    RpcError::invalid_params(
        "Failed to retrieve task: Task not found. A taskId works only for the caller and the MCP URL that made it, until its ttl runs out.",
    )
}

fn unavailable(cx: &Ctx, e: Unavailable) -> RpcError {
    if let Unavailable::Failed(why) = &e {
        cx.note(format!(
            "tasks: the server key or crypto failed: {}",
            truncate(why, 200)
        ));
    }
    RpcError::new(
        rpc::INTERNAL_ERROR,
        "Task ids cannot be made or read right now (the server key is unavailable); try again shortly.",
    )
}

/// A look that Scale (or this caller's rate limit) could not answer now:
/// nothing changes, and the client tries again.
fn busy(e: &ToolError, tool: &str, wait: Option<u64>, poll_ms: u64, what: &str) -> RpcError {
    let secs = wait.unwrap_or(poll_ms.div_ceil(1000)).max(1);
    RpcError::new(
        rpc::INTERNAL_ERROR,
        format!("{} {what}; try again after {secs} s.", e.text(tool)),
    )
}

/// A failed look at a task's work, as the poll's error.
fn poll_error(cx: &Ctx, e: &ToolError, tool: &str, h: &Handle) -> RpcError {
    let poll = poll_interval(cx, cx.upstream().now_ms().saturating_sub(h.created));
    match failed(e, cx.config.rate_limit_period) {
        Failed::Hidden | Failed::Invalid => not_found(),
        Failed::Busy(wait) => busy(e, tool, wait, poll, "The task is unchanged"),
        Failed::Other => RpcError::new(rpc::INTERNAL_ERROR, e.text(tool)),
    }
}

/// `tasks/get`: the look's status; on 2026-07-28 the result once completed.
fn get(cx: &Ctx, era: Era, id: &str, h: &Handle, look: Look) -> Payload {
    let (tool, _) = h.follows.tool();
    let now = cx.upstream().now_ms();
    let poll = poll_interval(cx, now.saturating_sub(h.created));
    let created = iso_from_ms(h.created);
    // Working since it was made; finished when this look saw it so.
    let updated = if look.finished {
        iso_from_ms(now)
    } else {
        created.clone()
    };
    let base = Task {
        status: status_of(&look),
        ..task(id, &look.message, &created, &updated)
    };
    if era == Era::V1 {
        return payload(&Task {
            ttl: Some(h.ttl),
            poll_interval: Some(poll),
            ..base
        });
    }
    let result = look
        .result
        .map(|out| tool_result(tool, Ok(out), Lane::Modern));
    v2_task(h, poll, result.as_deref(), base)
}

/// 2026-07-28's `tasks/get` answer: `base` with its durations and, once
/// completed, the `result`.
fn v2_task(h: &Handle, poll: u64, result: Option<&RawValue>, base: Task<'_>) -> Payload {
    payload(&Task {
        result_type: Some("complete"),
        ttl_ms: Some(h.ttl),
        poll_interval_ms: Some(poll),
        result,
        meta: Lane::Modern.result_fields().meta,
        ..base
    })
}

/// 2025-11-25's `tasks/result`: the tool's result once Scale's work is
/// finished (the look waited for it as the tool does, from `started`);
/// still working after that, an error that says to keep polling.
fn result(cx: &Ctx, id: &str, h: &Handle, look: Look, started: u64) -> Result<Payload, RpcError> {
    let (tool, _) = h.follows.tool();
    match look.result {
        Some(out) if look.finished => {
            let meta = Meta {
                related_task: Some(RelatedTask {
                    task_id: id.to_string(),
                }),
                ..Meta::default()
            };
            let mut lane = Lane::Legacy(V1_VERSION).result_fields();
            lane.meta = Some(meta);
            Ok(tool_result_with(tool, Ok(out), lane))
        }
        _ => {
            let now = cx.upstream().now_ms();
            let waited = now.saturating_sub(started) / 1000;
            let poll = poll_interval(cx, now.saturating_sub(h.created));
            Err(RpcError::new(
                rpc::INTERNAL_ERROR,
                format!(
                    "The task is still working after this request waited {waited} s ({}). Keep polling tasks/get every {poll} ms (its pollInterval), then call tasks/result once it says completed.",
                    look.message
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests;
