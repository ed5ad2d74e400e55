//! `create_tasks` with `items_url`: a job (docs/jobs.md). The call checks
//! what it can at once (the shared arguments, the URL, who is asking),
//! makes the job's object and queues the manifest's reading, and the MCP
//! task it answers with follows the job: [`look`] says where it stands,
//! [`page`] gives its outcomes, [`cancel`] stops it. The reading and the
//! creating run in the queue's consumer (`consume`).

use super::store::{Answer, Job, Op, Spec, State, FAILED};
use super::{CreateTasks, Shared};
use crate::context::Ctx;
use crate::guarded_fetch::{allowed, Rules};
use crate::io::Jobs;
use crate::json::{object, thousands, truncate};
use crate::tools::follow::Look;
use crate::tools::{Out, ToolError};
use serde_json::{Map, Value};
use std::fmt::Write as _;

/// The most items a manifest holds.
pub(crate) const MAX_ITEMS: u32 = 10_000;
/// The largest manifest read (bytes): 10,000 items of up to 3 KB.
pub(crate) const MAX_BYTES: u64 = 32 * 1024 * 1024;
/// The most chunk messages in one batch of the consumer (wrangler.toml's
/// `max_batch_size`): chunks are sized so that a whole batch stays within
/// `SUBREQUEST_LIMIT`.
pub(crate) const BATCH: u32 = 5;
/// The most items a chunk holds, on plans with many subrequests.
const MAX_CHUNK: u32 = 100;
/// The most bytes of outcomes one page carries (a result is capped near
/// 200 KB).
const PAGE_BYTES: usize = 190_000;
/// Outcomes asked of the object per page read.
const PAGE_ROWS: u32 = 2_000;

/// Why `items_url` was refused in an ordinary call.
pub(crate) const NEEDS_TASKS: &str = "`items_url` starts a job that runs longer than one call, so only a task-aware client can start it: call create_tasks as an MCP task \
(2025-11-25: `params.task`; 2026-07-28: the io.modelcontextprotocol/tasks extension), or pass up to 100 `items` instead.";

/// A message on the jobs queue: read the manifest of `job`, or create the
/// items of one of its chunks.
#[derive(Debug, PartialEq)]
pub(crate) struct Msg {
    pub job: String,
    pub chunk: Option<u32>,
}

impl Msg {
    /// `{"job": id}` or `{"job": id, "chunk": n}`.
    pub(crate) fn body(&self) -> String {
        let mut f = vec![("job", Value::from(self.job.as_str()))];
        if let Some(n) = self.chunk {
            f.push(("chunk", n.into()));
        }
        object(f).to_string()
    }
    pub(crate) fn parse(body: &str) -> Option<Msg> {
        let v: Value = serde_json::from_str(body).ok()?;
        let chunk = match v.get("chunk") {
            None => None,
            Some(n) => Some(u32::try_from(n.as_u64()?).ok()?),
        };
        Some(Msg {
            job: v.get("job")?.as_str()?.to_string(),
            chunk,
        })
    }
}

/// Items per chunk with `limit` subrequests an invocation: a batch of
/// [`BATCH`] chunks, each also reading and writing its object.
pub(crate) fn chunk_size(limit: u32) -> u32 {
    (limit / BATCH).saturating_sub(2).clamp(1, MAX_CHUNK)
}

/// The rules a manifest URL passes: public https, or plain http to loopback
/// when Scale itself is local (tests, local development); never this
/// worker.
pub(crate) fn rules<'a>(cx: &Ctx, own: &'a [&'a str]) -> Rules<'a> {
    Rules {
        loopback_http: cx.config.api_base.starts_with("http://"),
        own,
    }
}

/// The jobs platform, or the error saying jobs are off.
pub(crate) fn jobs(cx: &Ctx) -> Result<&dyn Jobs, ToolError> {
    cx.services.jobs.as_deref().ok_or_else(|| {
        ToolError::config(
            "Jobs are off on this server (its JOBS queue or JOBS_STATE object is not bound), so `items_url` cannot be used; pass up to 100 `items` per call instead.",
        )
    })
}

/// Runs `op` in job `id`'s object.
pub(crate) async fn call(jobs: &dyn Jobs, id: &str, op: &Op) -> Result<Answer, ToolError> {
    let out = jobs.call(id, op.to_json()).await.map_err(|e| {
        ToolError::store(format!(
            "The job store could not be reached: {}",
            truncate(&e, 200)
        ))
    })?;
    Answer::from_json(&out)
        .ok_or_else(|| ToolError::store("The job store answered something unreadable."))
}

/// Starts a job for the checked arguments `a` (behind create_tasks's checks),
/// living `ttl` ms: its id.
pub(crate) async fn start(cx: &Ctx, a: CreateTasks, ttl: u64) -> Result<String, ToolError> {
    let jobs = jobs(cx)?;
    if let crate::auth::Account::Tenant(_) = cx.identity().account() {
        return Err(ToolError::refused(
            "Jobs run with the operator's Scale key, and this sign-in uses your own key, which the job's workers cannot open without you; pass up to 100 `items` per call instead.",
            None,
        ));
    }
    if a.items.is_some() {
        return Err(ToolError::invalid(
            "give either `items` or `items_url`, not both",
        ));
    }
    let url = a.items_url.unwrap_or_default();
    let public_url = cx.config.public_url.clone().unwrap_or_default();
    let own = [&*cx.self_origin, public_url.as_str()];
    if let Err(why) = allowed(&url, &rules(cx, &own)) {
        return Err(ToolError::invalid(format!("`items_url` is refused: {why}")));
    }
    let sh = Shared::checked(a.r#type, a.project, a.batch, a.idempotency_key)?;
    let mut random = [0u8; 16];
    cx.services
        .crypto
        .random(&mut random)
        .map_err(|e| ToolError::store(format!("No job id could be made: {}", truncate(&e, 200))))?;
    let id = crate::codec::hex(&random);
    let p = cx.identity().principal();
    let mut args = Map::new();
    for (k, v) in [
        ("type", Some(sh.ty)),
        ("project", sh.project),
        ("batch", sh.batch),
        ("idempotency_key", sh.key),
    ] {
        if let Some(v) = v {
            args.insert(k.into(), Value::String(v));
        }
    }
    let spec = Spec {
        id: id.clone(),
        created: cx.upstream().now_ms(),
        ttl,
        items_url: url,
        args,
        label: p.label.clone(),
        kind: match p.kind {
            crate::auth::PrincipalKind::StaticToken => "token",
            crate::auth::PrincipalKind::Grant => "grant",
        }
        .into(),
        origin: cx.self_origin.to_string(),
        path: cx.path.to_string(),
        headers: cx.narrowing.to_vec(),
        chunk: chunk_size(cx.config.subrequest_limit),
        settings: cx.config.settings_digest.clone(),
    };
    call(
        jobs,
        &id,
        &Op::Start {
            job: Box::new(Job::new(spec)),
        },
    )
    .await?;
    let read = Msg {
        job: id.clone(),
        chunk: None,
    }
    .body();
    if let Err(e) = jobs.send(&[read], 0).await {
        let end = Op::End {
            state: State::Failed,
            reason: "its reading could not be queued".into(),
        };
        let _ = call(jobs, &id, &end).await;
        return Err(ToolError::store(format!(
            "The job could not be queued, so nothing will be created: {}",
            truncate(&e, 200)
        )));
    }
    Ok(id)
}

/// Where job `id` stands, for its MCP task: `None` when it is gone (its
/// ttl ran out). Once it has ended, and when `result` gives the URI of its
/// further pages, the result: its first page.
pub(crate) async fn look(
    cx: &Ctx,
    id: &str,
    result: Option<&str>,
) -> Result<Option<(State, Look)>, ToolError> {
    let jobs = jobs(cx)?;
    let Some(job) = call(jobs, id, &Op::Get).await?.job else {
        return Ok(None);
    };
    let out = match (result, job.state.ended()) {
        (Some(uri), true) => Some(page_of(jobs, &job, 0, uri).await?),
        _ => None,
    };
    Ok(Some((
        job.state,
        Look {
            id: id.to_string(),
            finished: job.state.ended(),
            message: message(&job),
            result: out,
        },
    )))
}

/// Outcomes of job `id` after line `after` (a page's `next_after`); `uri`
/// names the pages.
pub(crate) async fn page(
    cx: &Ctx,
    id: &str,
    after: u32,
    uri: &str,
) -> Result<Option<Out>, ToolError> {
    let jobs = jobs(cx)?;
    let Some(job) = call(jobs, id, &Op::Get).await?.job else {
        return Ok(None);
    };
    Ok(Some(page_of(jobs, &job, after, uri).await?))
}

/// Cancels job `id` if it has not ended: what is left is skipped.
pub(crate) async fn cancel(cx: &Ctx, id: &str) -> Result<Option<Job>, ToolError> {
    let jobs = jobs(cx)?;
    let end = Op::End {
        state: State::Cancelled,
        reason: "cancelled by its requester".into(),
    };
    let a = call(jobs, id, &end).await?;
    if a.ended {
        if let Some(j) = &a.job {
            super::consume::log_end(cx, j);
        }
    }
    Ok(a.job)
}

/// Where a job stands, in one sentence: "4,200 of 10,000 created, 3 failed."
pub(crate) fn message(j: &Job) -> String {
    let counts = || {
        let mut s = format!(
            "{} of {} created",
            thousands(u64::from(j.created + j.existed)),
            thousands(u64::from(j.total))
        );
        if j.existed > 0 {
            let _ = write!(s, " ({} already existed)", thousands(u64::from(j.existed)));
        }
        let _ = write!(s, ", {} failed", thousands(u64::from(j.failed)));
        s
    };
    match j.state {
        State::Ingesting => format!(
            "Reading and checking the manifest: {} lines read; nothing is created until every item passed.",
            thousands(u64::from(j.read))
        ),
        State::Running => format!("{}.", counts()),
        State::Completed => format!("Done: {}.", counts()),
        State::Cancelled => format!("Cancelled: {}; nothing more will be created.", counts()),
        State::Failed if j.total == 0 => format!("Failed, nothing was created: {}", j.reason),
        State::Failed => format!("Failed ({}): {}", counts(), j.reason),
    }
}

/// One page of a job's result: the counts, then the outcomes after line
/// `after`, as many as fit [`PAGE_BYTES`], and where the next page starts.
async fn page_of(jobs: &dyn Jobs, j: &Job, after: u32, uri: &str) -> Result<Out, ToolError> {
    let rows = call(
        jobs,
        &j.spec.id,
        &Op::Page {
            after,
            limit: PAGE_ROWS,
        },
    )
    .await?
    .rows;
    let mut items = Vec::new();
    let (mut bytes, mut last) = (0, after);
    let mut more = rows.len() == PAGE_ROWS as usize;
    for r in rows {
        let mut m = Map::new();
        m.insert("line".into(), r.line.into());
        m.insert("unique_id".into(), r.unique_id.into());
        let outcome = match r.outcome {
            super::store::CREATED => "created",
            super::store::EXISTED => "already_existed",
            _ => "failed",
        };
        m.insert("outcome".into(), outcome.into());
        if !r.task_id.is_empty() {
            m.insert("task_id".into(), r.task_id.into());
        }
        if let Some(s) = r.status {
            m.insert("scale_status".into(), s.into());
        }
        if r.outcome == FAILED {
            m.insert("error".into(), r.error.into());
        }
        let v = Value::Object(m);
        bytes += v.to_string().len() + 1;
        if bytes > PAGE_BYTES {
            more = true;
            break;
        }
        last = r.line;
        items.push(v);
    }
    let mut fields = vec![
        (
            "complete",
            Value::Bool(j.state == State::Completed && j.failed == 0),
        ),
        ("job", Value::from(j.spec.id.as_str())),
        ("state", j.state.name().into()),
        ("total", Value::from(j.total)),
        ("created", Value::from(j.created)),
        ("already_existed", Value::from(j.existed)),
        ("failed", Value::from(j.failed)),
        ("message", Value::from(message(j))),
        ("items", Value::Array(items)),
    ];
    if more {
        fields.push(("next_after", Value::from(last)));
        fields.push(("next_step", Value::from(format!(
            "More outcomes follow line {last}: read the resource `{uri}?after={last}` (resources/read), and so on until a page has no next_after."
        ))));
    }
    Ok(Out::Json(object(fields)))
}
