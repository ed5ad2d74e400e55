//! `create_tasks` with `items_url`: a job (docs/jobs.md). The call checks
//! what it can at once (the shared arguments, the URL, who is asking),
//! makes the job's object and queues the manifest's reading, and the MCP
//! task it answers with follows the job: [`look`] says where it stands,
//! [`page`] gives its outcomes, [`cancel`] stops it. The reading and the
//! creating run in the queue's consumer (`consume`).

use super::store::{Answer, Op, Spec};
use super::Shared;
use crate::context::Ctx;
use crate::guarded_fetch::{allowed, Rules};
use crate::io::Jobs;
use crate::json::{object, truncate};
use crate::tools::ToolError;
use serde_json::{Map, Value};

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

/// Why `items_url` was refused in an ordinary call.
pub(crate) const NEEDS_TASKS: &str = "`items_url` starts a job, which only a task-aware client can follow: call create_tasks as an MCP task \
(2025-11-25: `params.task`; 2026-07-28: the io.modelcontextprotocol/tasks extension), or pass up to 100 `items`.";

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
    let out = reach(jobs, id, op.to_json()).await?;
    Answer::from_json(&out).ok_or_else(unreadable)
}

/// Sends `op` (JSON) to job `id`'s object: its answer's text.
async fn reach(jobs: &dyn Jobs, id: &str, op: String) -> Result<String, ToolError> {
    jobs.call(id, op).await.map_err(|e| {
        ToolError::store(format!(
            "The job store could not be reached: {}",
            truncate(&e, 200)
        ))
    })
}

fn unreadable() -> ToolError {
    ToolError::store("The job store answered something unreadable.")
}

/// Starts a job for the arguments `a` (behind create_tasks's checks, its
/// schema's among them), living `ttl` ms: its id. The arguments are read
/// from the map: their struct's reader is the tool's, and a second copy of
/// it measured 0.3 KiB of the compressed upload.
pub(crate) async fn start(cx: &Ctx, a: &Map<String, Value>, ttl: u64) -> Result<String, ToolError> {
    let arg = |k: &str| a.get(k).and_then(Value::as_str).map(str::to_string);
    let jobs = jobs(cx)?;
    if let crate::auth::Account::Tenant(_) = cx.identity().account() {
        return Err(ToolError::refused(
            "Jobs run with the operator's Scale key, and this sign-in uses your own key, which the job's workers cannot open without you; pass up to 100 `items` per call instead.",
            None,
        ));
    }
    if a.contains_key("items") {
        return Err(ToolError::invalid(
            "give either `items` or `items_url`, not both",
        ));
    }
    let url = arg("items_url").unwrap_or_default();
    let public_url = cx.config.public_url.clone().unwrap_or_default();
    let own = [&*cx.self_origin, public_url.as_str()];
    if let Err(why) = allowed(&url, &rules(cx, &own)) {
        return Err(ToolError::invalid(format!("`items_url` is refused: {why}")));
    }
    let sh = Shared::checked(
        arg("type").unwrap_or_default(),
        arg("project"),
        arg("batch"),
        arg("idempotency_key"),
    )?;
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
        scopes: p.scopes.names(),
    };
    // Written out here: the MCP worker never reads a job's structure (the
    // jobs worker's object does), so it links none of its JSON.
    let start = object(vec![("op", "start".into()), ("spec", spec.to_value())]);
    ask(jobs, &id, start).await?;
    let read = Msg {
        job: id.clone(),
        chunk: None,
    }
    .body();
    if let Err(e) = jobs.send(&[read], 0).await {
        let _ = ask(jobs, &id, end("failed", "its reading could not be queued")).await;
        return Err(ToolError::store(format!(
            "The job could not be queued, so nothing will be created: {}",
            truncate(&e, 200)
        )));
    }
    Ok(id)
}

/// The `end` operation: the job ends `state` with `reason` unless it has.
fn end(state: &str, reason: &str) -> Value {
    object(vec![
        ("op", "end".into()),
        ("state", state.into()),
        ("reason", reason.into()),
    ])
}

/// Tells the jobs of grant `id` that it was revoked (they stop before their
/// next step; docs/jobs.md §5). A failure is logged by the caller.
pub(crate) async fn grant_revoked(jobs: &dyn Jobs, id: &str) -> Result<(), String> {
    jobs.call(&format!("grant:{id}"), r#"{"op":"revoke"}"#.into())
        .await
        .map(|_| ())
}

/// Runs the operation `op` in job `id`'s object: its answer as JSON, `None`
/// when there is no such job (its ttl ran out).
async fn ask(jobs: &dyn Jobs, id: &str, op: Value) -> Result<Option<Value>, ToolError> {
    let out = reach(jobs, id, op.to_string()).await?;
    let v: Value = serde_json::from_str(&out).map_err(|_| unreadable())?;
    Ok(v.get("job").is_some().then_some(v))
}

/// What a job's MCP task says: `working`, `completed` or `cancelled`;
/// whether the job failed as a whole; its message; and a page of outcomes
/// when one was asked for.
pub(crate) struct Seen {
    pub status: String,
    pub failed: bool,
    pub message: String,
    pub page: Option<Value>,
}

/// Where job `id` stands (`None`: gone), with the page of its outcomes
/// after line `after` when given, once it has ended (or at any time with
/// `any`); `uri` names further pages.
pub(crate) async fn look(
    cx: &Ctx,
    id: &str,
    after: Option<u32>,
    any: bool,
    uri: &str,
) -> Result<Option<Seen>, ToolError> {
    let mut op = vec![
        ("op", "look".into()),
        ("any", any.into()),
        ("uri", uri.into()),
    ];
    if let Some(a) = after {
        op.push(("after", a.into()));
    }
    let Some(v) = ask(jobs(cx)?, id, object(op)).await? else {
        return Ok(None);
    };
    let mut seen: Value = v
        .get("text")
        .and_then(Value::as_str)
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_default();
    let text = |k: &str| {
        seen.get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    Ok(Some(Seen {
        status: text("status"),
        message: text("message"),
        failed: seen.get("failed").and_then(Value::as_bool).unwrap_or(false),
        page: seen.get_mut("page").map(Value::take),
    }))
}

/// Cancels job `id` if it has not ended (what is left is skipped), and
/// logs its end; `false` when there is no such job.
pub(crate) async fn cancel(cx: &Ctx, id: &str) -> Result<bool, ToolError> {
    let Some(a) = ask(
        jobs(cx)?,
        id,
        end("cancelled", "cancelled by its requester"),
    )
    .await?
    else {
        return Ok(false);
    };
    if a.get("ended").and_then(Value::as_bool) == Some(true) {
        let j = &a["job"];
        let n = |k: &str| j.get(k).cloned().unwrap_or_default();
        let items = object(vec![
            ("total", n("total")),
            ("created", n("created")),
            ("already_existed", n("existed")),
            ("failed", n("failed")),
        ]);
        let started = j["spec"]["created"].as_u64().unwrap_or(0);
        let ms = cx.upstream().now_ms().saturating_sub(started);
        crate::tools::guard::job_end(cx, id, "cancelled", items, ms);
    }
    Ok(true)
}
