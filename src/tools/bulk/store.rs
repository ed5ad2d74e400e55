//! The state of one job (docs/jobs.md §3), as its Durable Object keeps it:
//! one header ([`Job`]: what was asked, where it stands, the counts) and one
//! row per manifest item ([`Row`]). Every change is one [`Op`] applied in
//! one synchronous step by [`apply`], so nothing runs between reading a
//! row and writing it: an item counts once whatever the queue delivers
//! twice. The object implements [`Rows`] with SQLite; the tests with maps.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Where a job stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum State {
    /// Reading and checking the manifest.
    Ingesting,
    /// Creating the items at Scale.
    Running,
    /// Every item created, found existing, or failed.
    Completed,
    /// Nothing (more) will be created: a bad manifest, the principal gone,
    /// or the queue gave up on its reading.
    Failed,
    /// Cancelled by its requester.
    Cancelled,
}

impl State {
    pub(crate) fn ended(self) -> bool {
        !matches!(self, State::Ingesting | State::Running)
    }
}

/// What a job was asked to do, and by whom: fixed when it starts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Spec {
    /// The job's id (hex), which names its object.
    pub id: String,
    /// When it started and how long its rows live (ms).
    pub created: u64,
    pub ttl: u64,
    pub items_url: String,
    /// `create_tasks`' shared arguments: `type`, `project`, `batch`,
    /// `idempotency_key`.
    pub args: Map<String, Value>,
    /// Who started it: the principal's label and kind (`token`, `grant`),
    /// the origin and MCP path it came to, and the request's narrowing
    /// headers, so each step sees the connection the call saw.
    pub label: String,
    pub kind: String,
    pub origin: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// Items per chunk message.
    pub chunk: u32,
}

/// A job's header: its spec, where it stands and its counts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Job {
    pub spec: Spec,
    pub state: State,
    /// Manifest lines read so far (while ingesting).
    pub read: u32,
    /// Items to create (once read).
    pub total: u32,
    pub created: u32,
    pub existed: u32,
    pub failed: u32,
    /// The first bad lines of a refused manifest, or why the job failed or
    /// was cancelled.
    pub reason: String,
    /// When it last changed (ms).
    pub updated: u64,
}

impl Job {
    pub(crate) fn new(spec: Spec) -> Job {
        Job {
            updated: spec.created,
            spec,
            state: State::Ingesting,
            read: 0,
            total: 0,
            created: 0,
            existed: 0,
            failed: 0,
            reason: String::new(),
        }
    }
    /// Items with an outcome.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn done(&self) -> u32 {
        self.created + self.existed + self.failed
    }
    /// The chunk messages the items make.
    pub(crate) fn chunks(&self) -> u32 {
        self.total.div_ceil(self.spec.chunk.max(1))
    }
}

/// An item's outcome, as its row keeps it.
pub(crate) const PENDING: u8 = 0;
pub(crate) const CREATED: u8 = 1;
pub(crate) const EXISTED: u8 = 2;
pub(crate) const FAILED: u8 = 3;

/// One manifest item: its line, the request body checked when it was read,
/// and what became of it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Row {
    pub line: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub unique_id: String,
    /// The create's body as JSON text (empty in answers that do not need it).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub body: String,
    #[serde(default)]
    pub outcome: u8,
    /// Transient failures so far.
    #[serde(default)]
    pub attempts: u8,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub task_id: String,
    /// Scale's status of a failure, when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error: String,
}

/// The table of a job's object, synchronous (SQL inside the object).
// The object is the edge's (wasm32); natively only the tests use it.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(crate) trait Rows {
    fn header(&mut self) -> Result<Option<String>, String>;
    fn set_header(&mut self, json: &str, expires: u64) -> Result<(), String>;
    /// Adds rows as pending items of `chunk` (by line; a line read again
    /// replaces its row).
    fn insert(&mut self, rows: &[(u32, u32, &str, &str)]) -> Result<(), String>;
    /// The rows of chunk `chunk` still pending.
    fn pending(&mut self, chunk: u32) -> Result<Vec<Row>, String>;
    /// The outcome of one row (line, outcome, attempts, task id, status, error).
    fn set(&mut self, row: &Row) -> Result<(), String>;
    /// The rows with an outcome after line `after`, by line, at most `limit`.
    fn outcomes(&mut self, after: u32, limit: u32) -> Result<Vec<Row>, String>;
    /// Drops every item row (the header stays).
    fn drop_items(&mut self) -> Result<(), String>;
    /// Drops everything.
    fn wipe(&mut self) -> Result<(), String>;
}

/// One change or look at a job, sent to its object as JSON.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub(crate) enum Op {
    /// Makes the job (once; a repeat changes nothing).
    Start { job: Job },
    /// The header.
    Get,
    /// Items read from the manifest (`first`: the read began again, so rows
    /// of an earlier, broken read go) and how many lines were read.
    Items {
        first: bool,
        read: u32,
        rows: Vec<Row>,
    },
    /// The manifest was read: `bad` (the first bad lines) refuses the job,
    /// else it runs with `total` items.
    Read { total: u32, bad: String },
    /// The pending items of a chunk, for the consumer to create.
    Claim { chunk: u32 },
    /// What became of some items (a pending row keeps `PENDING` with its
    /// attempts counted).
    Record { rows: Vec<Row> },
    /// Ends a job that has not ended: cancelled or failed, with why.
    End { state: State, reason: String },
    /// The queue gave up on a chunk: its pending items fail with `reason`.
    Dead { chunk: u32, reason: String },
    /// Outcomes after line `after`, at most `limit`.
    Page { after: u32, limit: u32 },
}

/// What an [`Op`] answers: the header after it (none for a job that does
/// not exist), whether this op ended the job (so its end is logged once),
/// and the rows asked for.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Answer {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<Job>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ended: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rows: Vec<Row>,
}

/// Applies `op` at `now` (ms).
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(crate) fn apply(db: &mut dyn Rows, op: Op, now: u64) -> Result<Answer, String> {
    let mut job: Option<Job> = match db.header()? {
        Some(text) => Some(serde_json::from_str(&text).map_err(|e| e.to_string())?),
        None => None,
    };
    // A job past its ttl is gone, whether or not the alarm has run.
    if job
        .as_ref()
        .is_some_and(|j| now >= j.spec.created.saturating_add(j.spec.ttl))
    {
        db.wipe()?;
        job = None;
    }
    let mut out = Answer::default();
    let Some(mut j) = job else {
        if let Op::Start { job } = op {
            let expires = job.spec.created.saturating_add(job.spec.ttl);
            db.set_header(
                &serde_json::to_string(&job).map_err(|e| e.to_string())?,
                expires,
            )?;
            out.job = Some(job);
        }
        return Ok(out);
    };
    let before = j.clone();
    match op {
        Op::Start { .. } | Op::Get => {}
        Op::Items { first, read, rows } => {
            if j.state == State::Ingesting {
                if first {
                    db.drop_items()?;
                }
                let chunk = j.spec.chunk.max(1);
                let items: Vec<(u32, u32, &str, &str)> = rows
                    .iter()
                    .map(|r| {
                        (
                            r.line,
                            (r.line - 1) / chunk,
                            r.unique_id.as_str(),
                            r.body.as_str(),
                        )
                    })
                    .collect();
                db.insert(&items)?;
                j.read = read;
            }
        }
        Op::Read { total, bad } => {
            if j.state == State::Ingesting {
                if bad.is_empty() {
                    j.state = State::Running;
                    j.total = total;
                } else {
                    db.drop_items()?;
                    j.state = State::Failed;
                    j.reason = bad;
                }
            }
        }
        Op::Claim { chunk } => {
            if j.state == State::Running {
                out.rows = db.pending(chunk)?;
            }
        }
        Op::Record { rows } => {
            // Outcomes arriving after a cancel still count: those tasks exist.
            record(db, &mut j, rows)?;
        }
        Op::End { state, reason } => {
            if !j.state.ended() {
                j.state = state;
                j.reason = reason;
            }
        }
        Op::Dead { chunk, reason } => {
            let rows = db.pending(chunk)?.into_iter().map(|r| Row {
                outcome: FAILED,
                error: reason.clone(),
                ..r
            });
            record(db, &mut j, rows.collect())?;
        }
        Op::Page { after, limit } => {
            out.rows = db.outcomes(after, limit)?;
        }
    }
    if j.state == State::Running && j.done() >= j.total {
        j.state = State::Completed;
    }
    if j != before {
        j.updated = now;
        let expires = j.spec.created.saturating_add(j.spec.ttl);
        db.set_header(
            &serde_json::to_string(&j).map_err(|e| e.to_string())?,
            expires,
        )?;
    }
    out.ended = j.state.ended() && !before.state.ended();
    out.job = Some(j);
    Ok(out)
}

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
/// Records the outcomes of `rows` whose items are still pending, each
/// counted once; a row for an item already done (a repeat delivery) is
/// ignored.
fn record(db: &mut dyn Rows, j: &mut Job, rows: Vec<Row>) -> Result<(), String> {
    let size = j.spec.chunk.max(1);
    let mut pending = std::collections::BTreeMap::new();
    let mut chunks = Vec::new();
    for r in &rows {
        let c = (r.line.max(1) - 1) / size;
        if !chunks.contains(&c) {
            chunks.push(c);
            pending.extend(db.pending(c)?.into_iter().map(|p| (p.line, p)));
        }
    }
    for r in rows {
        let Some(mut have) = pending.remove(&r.line) else {
            continue;
        };
        have.outcome = r.outcome;
        have.attempts = r.attempts;
        have.task_id = r.task_id;
        have.status = r.status;
        have.error = r.error;
        match r.outcome {
            CREATED => j.created += 1,
            EXISTED => j.existed += 1,
            FAILED => j.failed += 1,
            _ => {}
        }
        db.set(&have)?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "store_tests.rs"]
pub(crate) mod tests;
