//! The two steps of a job that the queue's consumer runs (docs/jobs.md §2),
//! each with a context for the job's principal on the connection that
//! started it: [`read`], the manifest read once as it arrives, every item
//! checked as a create of it would be and stored in the job's object; and
//! [`chunk`], the items of one chunk created at Scale. Every step may run
//! twice, late or after one that died: the object counts an item once,
//! every create carries the item's `unique_id`, and Scale's "already
//! exists" counts as done. A step answers `None` when its message is done,
//! or the seconds after which to deliver it again.

use super::job::{call, Msg, MAX_BYTES, MAX_ITEMS};
use super::manifest::{Format, Reader};
use super::store::{Job, Op, Row, State, CREATED, EXISTED, FAILED, PENDING};
use super::{check_item, existing, Item, Shared, ITEM_SCHEMA};
use crate::context::Ctx;
use crate::guarded_fetch::{open, Failure, Get};
use crate::io::Jobs;
use crate::json::{object, thousands, truncate};
use crate::scale::{Call, Retry, ScaleError};
use crate::tools::run::Session;
use crate::tools::ToolError;
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// Items stored per call of the job's object while reading.
const STORE_ROWS: usize = 500;
/// Bad lines named in a refusal.
const BAD_NAMED: usize = 5;
/// Transient failures (429, 5xx, no answer) after which an item fails.
pub(crate) const MAX_ATTEMPTS: u8 = 8;
/// How long the manifest's server has to answer (ms).
const FETCH_MS: u32 = 30_000;
/// Redirects followed to the manifest.
const REDIRECTS: u8 = 4;

/// What a step answers, in a `testing` build, to make its invocation fail
/// (a consumer that dies mid-chunk); never otherwise.
#[cfg(feature = "testing")]
pub const DIED: u32 = u32::MAX;

#[cfg(feature = "testing")]
thread_local! {
    /// Whether the next chunk dies, and whether that was armed already.
    static DEATH: std::cell::Cell<(bool, bool)> = const { std::cell::Cell::new((false, false)) };
}

/// `testing` builds: the first chunk after this call (once per isolate)
/// dies after its creates, before their outcomes are recorded, as a
/// consumer the platform stopped mid-chunk.
#[cfg(all(feature = "testing", feature = "jobs-worker"))]
pub fn arm_death_once() {
    DEATH.with(|d| {
        if !d.get().1 {
            d.set((true, true));
        }
    });
}

/// Logs a job's end: its audit line.
pub(crate) fn log_end(cx: &Ctx, j: &Job) {
    let outcome = match j.state {
        State::Completed => "completed",
        State::Cancelled => "cancelled",
        _ => "failed",
    };
    let items = object(vec![
        ("total", Value::from(j.total)),
        ("created", Value::from(j.created)),
        ("already_existed", Value::from(j.existed)),
        ("failed", Value::from(j.failed)),
    ]);
    let ms = cx.upstream().now_ms().saturating_sub(j.spec.created);
    crate::tools::guard::job_end(cx, &j.spec.id, outcome, items, ms);
}

/// Runs `op` and logs the job's end if it ended the job; `None` when the
/// object could not be reached (the message is tried again).
async fn apply(cx: &Ctx, jobs: &dyn Jobs, id: &str, op: &Op) -> Option<super::store::Answer> {
    match call(jobs, id, op).await {
        Ok(a) => {
            if a.ended {
                if let Some(j) = &a.job {
                    log_end(cx, j);
                }
            }
            Some(a)
        }
        Err(e) => {
            cx.note(format!("job {id}: {}", e.message));
            None
        }
    }
}

/// Ends job `id` as failed with `reason`.
pub(crate) async fn fail(cx: &Ctx, jobs: &dyn Jobs, id: &str, reason: String) -> Option<u32> {
    let op = Op::End {
        state: State::Failed,
        reason,
    };
    match apply(cx, jobs, id, &op).await {
        Some(_) => None,
        None => Some(RETRY_STORE_S),
    }
}

/// Seconds before a step the job's object failed is tried again.
const RETRY_STORE_S: u32 = 10;

/// Queues the chunk messages of a running job (all of them: a chunk with
/// nothing pending is a no-op, so a repeat is harmless).
async fn queue_chunks(cx: &Ctx, jobs: &dyn Jobs, j: &Job) -> Option<u32> {
    let bodies: Vec<String> = (0..j.chunks())
        .map(|n| {
            Msg {
                job: j.spec.id.clone(),
                chunk: Some(n),
            }
            .body()
        })
        .collect();
    for part in bodies.chunks(100) {
        if let Err(e) = jobs.send(part, 0).await {
            cx.note(format!(
                "job {}: queueing its chunks failed: {}",
                j.spec.id,
                truncate(&e, 200)
            ));
            return Some(RETRY_STORE_S);
        }
    }
    None
}

/// Reads job `j`'s manifest (see the module doc).
pub(crate) async fn read(cx: &Ctx, jobs: &dyn Jobs, j: &Job) -> Option<u32> {
    match j.state {
        State::Ingesting => {}
        // Read already: its chunks may not all have been queued.
        State::Running => return queue_chunks(cx, jobs, j).await,
        _ => return None,
    }
    let id = j.spec.id.as_str();
    let arg = |k: &str| {
        j.spec
            .args
            .get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let sh = Shared {
        ty: arg("type").unwrap_or_default(),
        project: arg("project"),
        batch: arg("batch"),
        key: arg("idempotency_key"),
    };
    let public_url = cx.config.public_url.clone().unwrap_or_default();
    let own = [j.spec.origin.as_str(), public_url.as_str()];
    let g = Get {
        url: &j.spec.items_url,
        accept: "application/x-ndjson, application/jsonl, text/csv, text/plain, */*",
        range: None,
        max_bytes: MAX_BYTES as usize,
        timeout_ms: FETCH_MS,
        redirects: REDIRECTS,
        rules: super::job::rules(cx, &own),
    };
    let (head, mut body) = match open(cx.upstream(), &g, &|| true).await {
        Ok(r) => r,
        Err(f) => {
            let (why, again) = fetch_failure(&f);
            return match again {
                true => {
                    cx.note(format!(
                        "job {id}: the manifest could not be fetched: {why}"
                    ));
                    Some(60)
                }
                false => fail(cx, jobs, id, format!("the manifest was not read: {why}")).await,
            };
        }
    };
    if head.status != 200 {
        let why = format!("its URL answered HTTP {}", head.status);
        if head.status == 429 || head.status >= 500 {
            cx.note(format!(
                "job {id}: the manifest could not be fetched: {why}"
            ));
            return Some(60);
        }
        return fail(cx, jobs, id, format!("the manifest was not read: {why}")).await;
    }
    let format = Format::of(&j.spec.items_url, head.header("content-type").unwrap_or(""));
    let mut reader = Reader::new(format);
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let (mut rows, mut bad, mut bad_count) = (Vec::new(), Vec::new(), 0u32);
    let (mut total, mut bytes, mut first, mut lines) = (0u32, 0u64, true, 0u32);
    let mut too_many = false;
    let schema = item_schema();
    loop {
        let records = match body.next().await {
            Ok(Some(piece)) => {
                bytes += piece.len() as u64;
                if bytes > MAX_BYTES {
                    let why = format!("it is larger than {} MiB", MAX_BYTES >> 20);
                    return fail(cx, jobs, id, format!("the manifest was not read: {why}")).await;
                }
                reader.push(&piece)
            }
            Ok(None) => {
                let last = reader.finish();
                if last.is_empty() {
                    break;
                }
                last
            }
            Err(e) => {
                cx.note(format!(
                    "job {id}: the manifest's connection broke: {}",
                    truncate(&e, 200)
                ));
                return Some(60);
            }
        };
        for (line, item) in records {
            lines = line;
            let checked = item.and_then(|m| {
                crate::tools::schema::validate(&schema, &m)?;
                check_item(cx, &sh, m).map_err(|e| e.message)
            });
            match checked {
                Ok((uid, b)) if seen.insert(uid.clone()) => {
                    total += 1;
                    if total > MAX_ITEMS {
                        too_many = true;
                        break;
                    }
                    if bad_count == 0 {
                        rows.push(Row {
                            line,
                            unique_id: uid,
                            body: Value::Object(b).to_string(),
                            ..Row::default()
                        });
                    }
                }
                Ok((uid, _)) => {
                    bad_count += 1;
                    if bad.len() < BAD_NAMED {
                        bad.push(format!("line {line}: its unique_id `{}` is another line's too (identical items derive the same one)", truncate(&uid, 80)));
                    }
                }
                Err(e) => {
                    bad_count += 1;
                    if bad.len() < BAD_NAMED {
                        bad.push(format!("line {line}: {}", truncate(&e, 300)));
                    }
                }
            }
        }
        if too_many {
            break;
        }
        if bad_count == 0 && rows.len() >= STORE_ROWS {
            let rows = std::mem::take(&mut rows);
            if let Some(stop) = store(cx, jobs, id, std::mem::take(&mut first), lines, rows).await {
                return stop;
            }
        }
    }
    if too_many {
        let why = format!(
            "it holds more than {} items; split it into several jobs",
            thousands(MAX_ITEMS.into())
        );
        return fail(cx, jobs, id, format!("the manifest was not read: {why}")).await;
    }
    let bad = match bad_count {
        0 if total == 0 => "the manifest holds no items".to_string(),
        0 => String::new(),
        n => format!(
            "{} bad line{} in the manifest, so nothing was created ({}): {}",
            thousands(n.into()),
            if n == 1 { "" } else { "s" },
            if n as usize > BAD_NAMED {
                "the first shown"
            } else {
                "each shown"
            },
            bad.join("; ")
        ),
    };
    if bad.is_empty() && !rows.is_empty() {
        if let Some(stop) = store(cx, jobs, id, first, lines, rows).await {
            return stop;
        }
    }
    let Some(a) = apply(cx, jobs, id, &Op::Read { total, bad }).await else {
        return Some(RETRY_STORE_S);
    };
    match a.job {
        Some(j) if j.state == State::Running => queue_chunks(cx, jobs, &j).await,
        _ => None,
    }
}

/// Stores items read from the manifest (`first`: the read began again);
/// `Some(the step's answer)` when the read is to stop: the job is no longer
/// being read (cancelled), or its object could not be reached.
async fn store(
    cx: &Ctx,
    jobs: &dyn Jobs,
    id: &str,
    first: bool,
    read: u32,
    rows: Vec<Row>,
) -> Option<Option<u32>> {
    match apply(cx, jobs, id, &Op::Items { first, read, rows }).await {
        Some(a) if a.job.as_ref().is_some_and(|j| j.state == State::Ingesting) => None,
        Some(_) => Some(None),
        None => Some(Some(RETRY_STORE_S)),
    }
}

fn text(m: &Map<String, Value>, k: &str) -> String {
    m.get(k).and_then(Value::as_str).unwrap_or("").to_string()
}

fn item_schema() -> Value {
    serde_json::from_str(ITEM_SCHEMA).unwrap_or_default()
}

/// Why the manifest could not be fetched, and whether trying again later
/// may help.
fn fetch_failure(f: &Failure) -> (String, bool) {
    match f {
        Failure::NotAllowed { hop: 0, why } => (format!("its URL is refused: {why}"), false),
        Failure::NotAllowed { why, .. } => (format!("it redirects to a URL that is refused: {why}"), false),
        Failure::Redirect(s) => (format!("it answered a redirect ({s}) that was not followed (more than {REDIRECTS}, or without a target)"), false),
        Failure::TooLarge => (format!("it is larger than {} MiB", MAX_BYTES >> 20), false),
        Failure::Timeout => ("its server did not answer in time".into(), true),
        Failure::Unreachable(host) => (format!("{} could not be reached", truncate(host, 100)), true),
        Failure::Spent => ("this step ran out of subrequests".into(), true),
    }
}

/// Creates the pending items `rows` of a chunk of job `j`, as its claim
/// gave them (see the module doc).
pub(crate) async fn chunk(cx: &Ctx, jobs: &dyn Jobs, j: &Job, rows: Vec<Row>) -> Option<u32> {
    if rows.is_empty() {
        return None;
    }
    let id = j.spec.id.as_str();
    let ty = text(&j.spec.args, "type");
    let s = Session::new(cx);
    let futs: Vec<crate::io::BoxFut<'_, (Row, Option<u32>)>> = rows
        .into_iter()
        .map(|r| {
            let (s, ty) = (&s, ty.as_str());
            Box::pin(create(s, ty, r)) as crate::io::BoxFut<'_, (Row, Option<u32>)>
        })
        .collect();
    let done = crate::context::join_bounded(futs, crate::context::MAX_OPEN_CONNECTIONS).await;
    #[cfg(feature = "testing")]
    if DEATH.with(|d| {
        let (armed, once) = d.get();
        d.set((false, once));
        armed
    }) {
        cx.note(format!(
            "job {id}: testing hook: the consumer dies after {} creates",
            done.len()
        ));
        return Some(DIED);
    }
    let mut again: Option<u32> = None;
    let mut rows = Vec::with_capacity(done.len());
    for (row, wait) in done {
        if let Some(w) = wait {
            again = Some(again.map_or(w, |a| a.max(w)));
        }
        rows.push(row);
    }
    if apply(cx, jobs, id, &Op::Record { rows }).await.is_none() {
        return Some(RETRY_STORE_S);
    }
    again
}

/// Creates one item: its row with the outcome, and when it is still
/// pending, the seconds to wait before it is tried again.
async fn create(s: &Session<'_>, ty: &str, mut r: Row) -> (Row, Option<u32>) {
    let body: Map<String, Value> = serde_json::from_str(&r.body).unwrap_or_default();
    r.body = String::new();
    let call = Call::post()
        .lit("task")
        .lit(ty)
        .body(Value::Object(body.clone()));
    // Sent once: the queue's delay is the retry, so a Scale that is down
    // costs no subrequests now.
    let e = match s.sc.send(&call, Retry::Never).await {
        Ok(v) => {
            r.outcome = CREATED;
            r.task_id = v
                .get("task_id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            return (r, None);
        }
        Err(e) => e,
    };
    let e = match e {
        ScaleError::Http { status: 409, .. } => {
            match s.sc.tasks_by_unique_id(&[&r.unique_id]).await {
                Ok(tasks) => {
                    let item = Item {
                        index: 0,
                        unique_id: r.unique_id.clone(),
                        body,
                    };
                    let found = match tasks.first() {
                    Some(t) => existing(s.cx.view(), t, ty, &item),
                    None => item.failed(Some(409), "Scale answered 409 (unique_id in use) but no task with it could be found".into()),
                };
                    match found.get("outcome").and_then(Value::as_str) {
                        Some("already_existed") => {
                            r.outcome = EXISTED;
                            r.task_id = text(&found, "task_id");
                        }
                        _ => {
                            r.outcome = FAILED;
                            r.status = Some(409);
                            r.error = text(&found, "error");
                        }
                    }
                    return (r, None);
                }
                Err(e) => e,
            }
        }
        e => e,
    };
    match e {
        // Not tried: this invocation's subrequests or time ran out.
        ScaleError::Budget | ScaleError::SubrequestLimit(_) => (r, Some(1)),
        ScaleError::Http {
            status,
            retry_after,
            ..
        } if status == 429 || status >= 500 => transient(
            s,
            &call,
            r,
            ScaleError::Http {
                status,
                message: String::new(),
                retry_after,
            },
            retry_after,
        ),
        e @ (ScaleError::Timeout(_) | ScaleError::Network(_)) => transient(s, &call, r, e, None),
        e => {
            let err: ToolError = s.error(&call, e, &[]);
            r.outcome = FAILED;
            r.status = err.status;
            r.error = err.message;
            (r, None)
        }
    }
}

/// An attempt that may work later: counted, and failed once there were
/// [`MAX_ATTEMPTS`]; the wait grows with the attempts (and is at least
/// Scale's `Retry-After`).
fn transient(
    s: &Session<'_>,
    call: &Call,
    mut r: Row,
    e: ScaleError,
    retry_after: Option<u32>,
) -> (Row, Option<u32>) {
    r.attempts = r.attempts.saturating_add(1);
    if r.attempts >= MAX_ATTEMPTS {
        let err = s.error(call, e, &[]);
        r.outcome = FAILED;
        r.status = err.status;
        r.error = format!("failed {MAX_ATTEMPTS} times: {}", err.message);
        return (r, None);
    }
    r.outcome = PENDING;
    let backoff = 2u32 << r.attempts.min(6);
    (r, Some(backoff.max(retry_after.unwrap_or(0)).min(900)))
}

/// The queue gave up on `msg` (its dead-letter queue delivered it): a
/// chunk's pending items fail, a read fails the job.
pub(crate) async fn dead(cx: &Ctx, jobs: &dyn Jobs, msg: &Msg) -> Option<u32> {
    let reason = "the queue gave up delivering this item's work after its retries (Scale kept failing, the consumer kept dying, or the jobs worker's settings differ from the MCP worker's: its log says which)".to_string();
    let op = match msg.chunk {
        Some(chunk) => Op::Dead { chunk, reason },
        None => Op::End {
            state: State::Failed,
            reason: "the queue gave up on reading the manifest after its retries (its server kept failing, or the jobs worker's settings differ from the MCP worker's: its log says which)".into(),
        },
    };
    match apply(cx, jobs, &msg.job, &op).await {
        Some(_) => None,
        None => Some(RETRY_STORE_S),
    }
}

#[cfg(test)]
#[path = "consume_tests.rs"]
mod tests;
