//! The state of one job (docs/jobs.md §3), as its Durable Object keeps it:
//! one header ([`Job`]: what was asked, where it stands, the counts) and one
//! row per manifest item ([`Row`]). Every change is one [`Op`] applied in
//! one synchronous step by [`apply`], so nothing runs between reading a
//! row and writing it: an item counts once whatever the queue delivers
//! twice. The object implements [`Rows`] with SQLite; the tests with maps.
// The object is the jobs worker's: the MCP worker's build uses only the
// spec it starts a job with.
#![cfg_attr(not(any(test, feature = "jobs-worker")), allow(dead_code))]

use crate::json::object;
use serde_json::{Map, Value};

/// Where a job stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
#[derive(Clone, Debug, PartialEq)]
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
    /// The digest of the settings it was started under (`Config`'s).
    pub settings: String,
    /// A grant's scopes when it started (names, space-separated); a static
    /// token's are read again at each step.
    pub scopes: String,
}

/// A job's header: its spec, where it stands and its counts.
#[derive(Clone, Debug, PartialEq)]
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
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Row {
    pub line: u32,
    pub unique_id: String,
    /// The create's body as JSON text (empty in answers that do not need it).
    pub body: String,
    pub outcome: u8,
    /// Transient failures so far.
    pub attempts: u8,
    pub task_id: String,
    /// Scale's status of a failure, when it answered.
    pub status: Option<u16>,
    pub error: String,
}

/// The table of a job's object, synchronous (SQL inside the object).
// The object is the edge's (wasm32); natively only the tests use it.
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

/// One change or look at a job, sent to its object as JSON (see [`wire`]).
#[derive(Debug)]
pub(crate) enum Op {
    /// Makes the job (once; a repeat changes nothing).
    Start { spec: Box<Spec> },
    /// Where the job stands for its MCP task, as [`look`] writes it into
    /// [`Answer::text`], with a page of outcomes after line `after` (for a
    /// job that has ended, unless `any`) that names `uri` for the next.
    Look {
        after: Option<u32>,
        any: bool,
        uri: String,
    },
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
    /// For the object of a signed-in user's grant (`grant:<id>`): the
    /// grant was revoked, so the jobs it started stop.
    Revoke,
    /// Whether that grant was revoked ([`Answer::ended`]).
    Revoked,
}

/// What an [`Op`] answers: the header after it (none for a job that does
/// not exist), whether this op ended the job (so its end is logged once),
/// and the rows asked for.
#[derive(Debug, Default)]
pub(crate) struct Answer {
    pub job: Option<Job>,
    /// [`Op::Look`]'s answer, as JSON.
    pub text: Option<String>,
    pub ended: bool,
    pub rows: Vec<Row>,
}

/// Applies `op` at `now` (ms).
pub(crate) fn apply(db: &mut dyn Rows, op: Op, now: u64) -> Result<Answer, String> {
    // A grant's object holds no job, only this mark, for as long as a job
    // may live.
    match op {
        Op::Revoke => {
            db.set_header(REVOKED, now.saturating_add(REVOKED_KEPT_MS))?;
            return Ok(Answer {
                ended: true,
                ..Answer::default()
            });
        }
        Op::Revoked => {
            let ended = db.header()?.as_deref() == Some(REVOKED);
            return Ok(Answer {
                ended,
                ..Answer::default()
            });
        }
        _ => {}
    }
    let mut job: Option<Job> = match db.header()? {
        Some(text) => Some(Job::from_json(&text).ok_or("the job's header is unreadable")?),
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
        if let Op::Start { spec } = op {
            let job = Job::new(*spec);
            let expires = job.spec.created.saturating_add(job.spec.ttl);
            db.set_header(&job.to_json(), expires)?;
            out.job = Some(job);
        }
        return Ok(out);
    };
    let before = j.clone();
    match op {
        Op::Start { .. } | Op::Get | Op::Revoke | Op::Revoked => {}
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
        Op::Look { after, any, uri } => {
            let page = match after {
                Some(after) if any || j.state.ended() => Some(page(db, &j, after, &uri)?),
                _ => None,
            };
            out.text = Some(look(&j, page).to_string());
        }
    }
    if j.state == State::Running && j.done() >= j.total {
        j.state = State::Completed;
    }
    if j != before {
        j.updated = now;
        let expires = j.spec.created.saturating_add(j.spec.ttl);
        db.set_header(&j.to_json(), expires)?;
    }
    out.ended = j.state.ended() && !before.state.ended();
    out.job = Some(j);
    Ok(out)
}

/// A revoked grant's object's header, kept this long (ms): longer than any
/// job lives (`CALLBACK_TTL_DAYS` is at most 365).
const REVOKED: &str = "revoked";
const REVOKED_KEPT_MS: u64 = 366 * 86_400_000;

/// The most bytes of outcomes one page carries (a result is capped near
/// 200 KB).
const PAGE_BYTES: usize = 190_000;
/// Outcomes read per page.
const PAGE_ROWS: u32 = 2_000;

/// Where a job stands, in one sentence: "4,200 of 10,000 created, 3 failed."
pub(crate) fn message(j: &Job) -> String {
    use crate::json::thousands;
    use std::fmt::Write as _;
    let n = |x: u32| thousands(u64::from(x));
    let counts = || {
        let mut s = format!("{} of {} created", n(j.created + j.existed), n(j.total));
        if j.existed > 0 {
            let _ = write!(s, " ({} already existed)", n(j.existed));
        }
        let _ = write!(s, ", {} failed", n(j.failed));
        s
    };
    match j.state {
        State::Ingesting => format!(
            "Reading and checking the manifest: {} lines read; nothing is created until every item passed.",
            n(j.read)
        ),
        State::Running => format!("{}.", counts()),
        State::Completed => format!("Done: {}.", counts()),
        State::Cancelled => format!("Cancelled: {}; nothing more will be created.", counts()),
        State::Failed if j.total == 0 => format!("Failed, nothing was created: {}", j.reason),
        State::Failed => format!("Failed ({}): {}", counts(), j.reason),
    }
}

/// A job's MCP task in a word (`working`, `completed`, `cancelled`), whether
/// it failed as a whole, its message and, when asked, a page of outcomes.
fn look(j: &Job, page: Option<Value>) -> Value {
    let status = match j.state {
        State::Cancelled => "cancelled",
        s if s.ended() => "completed",
        _ => "working",
    };
    let mut f = vec![
        ("status", Value::from(status)),
        ("failed", Value::from(j.state == State::Failed)),
        ("message", Value::from(message(j))),
    ];
    if let Some(p) = page {
        f.push(("page", p));
    }
    object(f)
}

/// One page of a job's result: the counts, then the outcomes after line
/// `after`, as many as fit [`PAGE_BYTES`], and where the next page starts
/// (the resource `uri` with `?after=`).
fn page(db: &mut dyn Rows, j: &Job, after: u32, uri: &str) -> Result<Value, String> {
    let rows = db.outcomes(after, PAGE_ROWS)?;
    let mut items = Vec::new();
    let (mut bytes, mut last) = (0, after);
    let mut more = rows.len() == PAGE_ROWS as usize;
    for r in rows {
        let mut m = Map::new();
        m.insert("line".into(), r.line.into());
        m.insert("unique_id".into(), r.unique_id.into());
        let outcome = match r.outcome {
            CREATED => "created",
            EXISTED => "already_existed",
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
    Ok(object(fields))
}

/// Records the outcomes of `rows` whose items are still pending, each
/// counted once; a row for an item already done (a repeat delivery) is
/// ignored.
fn record(db: &mut dyn Rows, j: &mut Job, rows: Vec<Row>) -> Result<(), String> {
    let size = j.spec.chunk.max(1);
    let mut pending: Vec<Row> = Vec::new();
    let mut chunks = Vec::new();
    for r in &rows {
        let c = (r.line.max(1) - 1) / size;
        if !chunks.contains(&c) {
            chunks.push(c);
            pending.extend(db.pending(c)?);
        }
    }
    for r in rows {
        let Some(at) = pending.iter().position(|p| p.line == r.line) else {
            continue;
        };
        let mut have = pending.swap_remove(at);
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

/// The JSON of the messages to and from the object, and of the header it
/// keeps. Written out rather than derived: serde's derived deserializers of
/// these types measured 10 KiB of the compressed upload; the worker reads
/// JSON into `Value` anyway, so each field here is one lookup.
mod wire {
    use super::*;

    fn num(v: &Value, k: &str) -> u64 {
        v.get(k).and_then(Value::as_u64).unwrap_or(0)
    }
    fn n32(v: &Value, k: &str) -> u32 {
        num(v, k).min(u64::from(u32::MAX)) as u32
    }
    fn text(v: &Value, k: &str) -> String {
        v.get(k).and_then(Value::as_str).unwrap_or("").to_string()
    }

    impl State {
        pub(crate) fn name(self) -> &'static str {
            match self {
                State::Ingesting => "ingesting",
                State::Running => "running",
                State::Completed => "completed",
                State::Failed => "failed",
                State::Cancelled => "cancelled",
            }
        }
        fn parse(s: &str) -> Option<State> {
            [
                State::Ingesting,
                State::Running,
                State::Completed,
                State::Failed,
                State::Cancelled,
            ]
            .into_iter()
            .find(|st| st.name() == s)
        }
    }

    impl Spec {
        pub(crate) fn to_value(&self) -> Value {
            let headers = self
                .headers
                .iter()
                .map(|(k, v)| Value::from(vec![k.as_str(), v.as_str()]))
                .collect();
            object(vec![
                ("id", self.id.as_str().into()),
                ("created", self.created.into()),
                ("ttl", self.ttl.into()),
                ("items_url", self.items_url.as_str().into()),
                ("args", Value::Object(self.args.clone())),
                ("label", self.label.as_str().into()),
                ("kind", self.kind.as_str().into()),
                ("origin", self.origin.as_str().into()),
                ("path", self.path.as_str().into()),
                ("headers", Value::Array(headers)),
                ("chunk", self.chunk.into()),
                ("settings", self.settings.as_str().into()),
                ("scopes", self.scopes.as_str().into()),
            ])
        }
        fn from_value(v: &Value) -> Option<Spec> {
            let pair = |p: &Value| {
                Some((
                    p.get(0)?.as_str()?.to_string(),
                    p.get(1)?.as_str()?.to_string(),
                ))
            };
            Some(Spec {
                id: text(v, "id"),
                created: num(v, "created"),
                ttl: num(v, "ttl"),
                items_url: text(v, "items_url"),
                args: v.get("args")?.as_object()?.clone(),
                label: text(v, "label"),
                kind: text(v, "kind"),
                origin: text(v, "origin"),
                path: text(v, "path"),
                headers: v
                    .get("headers")?
                    .as_array()?
                    .iter()
                    .filter_map(pair)
                    .collect(),
                chunk: n32(v, "chunk"),
                settings: text(v, "settings"),
                scopes: text(v, "scopes"),
            })
        }
    }

    impl Job {
        fn to_value(&self) -> Value {
            object(vec![
                ("spec", self.spec.to_value()),
                ("state", self.state.name().into()),
                ("read", self.read.into()),
                ("total", self.total.into()),
                ("created", self.created.into()),
                ("existed", self.existed.into()),
                ("failed", self.failed.into()),
                ("reason", self.reason.as_str().into()),
                ("updated", self.updated.into()),
            ])
        }
        fn from_value(v: &Value) -> Option<Job> {
            Some(Job {
                spec: Spec::from_value(v.get("spec")?)?,
                state: State::parse(v.get("state")?.as_str()?)?,
                read: n32(v, "read"),
                total: n32(v, "total"),
                created: n32(v, "created"),
                existed: n32(v, "existed"),
                failed: n32(v, "failed"),
                reason: text(v, "reason"),
                updated: num(v, "updated"),
            })
        }
        pub(crate) fn to_json(&self) -> String {
            self.to_value().to_string()
        }
        pub(crate) fn from_json(json: &str) -> Option<Job> {
            Job::from_value(&serde_json::from_str(json).ok()?)
        }
    }

    impl Row {
        fn to_value(&self) -> Value {
            let mut m = Map::new();
            m.insert("line".into(), self.line.into());
            for (k, v) in [
                ("unique_id", &self.unique_id),
                ("body", &self.body),
                ("task_id", &self.task_id),
                ("error", &self.error),
            ] {
                if !v.is_empty() {
                    m.insert(k.into(), v.as_str().into());
                }
            }
            m.insert("outcome".into(), self.outcome.into());
            m.insert("attempts".into(), self.attempts.into());
            if let Some(s) = self.status {
                m.insert("status".into(), s.into());
            }
            Value::Object(m)
        }
        fn from_value(v: &Value) -> Row {
            Row {
                line: n32(v, "line"),
                unique_id: text(v, "unique_id"),
                body: text(v, "body"),
                outcome: num(v, "outcome").min(255) as u8,
                attempts: num(v, "attempts").min(255) as u8,
                task_id: text(v, "task_id"),
                status: v
                    .get("status")
                    .and_then(Value::as_u64)
                    .map(|s| s.min(999) as u16),
                error: text(v, "error"),
            }
        }
    }

    fn rows(v: &Value) -> Vec<Row> {
        v.get("rows")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(Row::from_value).collect())
            .unwrap_or_default()
    }

    fn row_values(rows: &[Row]) -> Value {
        Value::Array(rows.iter().map(Row::to_value).collect())
    }

    impl Op {
        /// `{"op": name, ...its fields}`.
        pub(crate) fn to_json(&self) -> String {
            let mut f: Vec<(&str, Value)> = Vec::new();
            let name = match self {
                Op::Start { spec } => {
                    f.push(("spec", spec.to_value()));
                    "start"
                }
                Op::Look { after, any, uri } => {
                    if let Some(a) = after {
                        f.push(("after", (*a).into()));
                    }
                    f.push(("any", (*any).into()));
                    f.push(("uri", uri.as_str().into()));
                    "look"
                }
                Op::Get => "get",
                Op::Items { first, read, rows } => {
                    f.push(("first", (*first).into()));
                    f.push(("read", (*read).into()));
                    f.push(("rows", row_values(rows)));
                    "items"
                }
                Op::Read { total, bad } => {
                    f.push(("total", (*total).into()));
                    f.push(("bad", bad.as_str().into()));
                    "read"
                }
                Op::Claim { chunk } => {
                    f.push(("chunk", (*chunk).into()));
                    "claim"
                }
                Op::Record { rows } => {
                    f.push(("rows", row_values(rows)));
                    "record"
                }
                Op::End { state, reason } => {
                    f.push(("state", state.name().into()));
                    f.push(("reason", reason.as_str().into()));
                    "end"
                }
                Op::Dead { chunk, reason } => {
                    f.push(("chunk", (*chunk).into()));
                    f.push(("reason", reason.as_str().into()));
                    "dead"
                }
                Op::Revoke => "revoke",
                Op::Revoked => "revoked",
            };
            f.push(("op", name.into()));
            object(f).to_string()
        }
        pub(crate) fn from_json(json: &str) -> Option<Op> {
            let v: Value = serde_json::from_str(json).ok()?;
            Some(match v.get("op")?.as_str()? {
                "start" => Op::Start {
                    spec: Box::new(Spec::from_value(v.get("spec")?)?),
                },
                "look" => Op::Look {
                    after: v
                        .get("after")
                        .and_then(Value::as_u64)
                        .map(|a| a.min(u64::from(u32::MAX)) as u32),
                    any: v.get("any").and_then(Value::as_bool).unwrap_or(false),
                    uri: text(&v, "uri"),
                },
                "get" => Op::Get,
                "items" => Op::Items {
                    first: v.get("first")?.as_bool()?,
                    read: n32(&v, "read"),
                    rows: rows(&v),
                },
                "read" => Op::Read {
                    total: n32(&v, "total"),
                    bad: text(&v, "bad"),
                },
                "claim" => Op::Claim {
                    chunk: n32(&v, "chunk"),
                },
                "record" => Op::Record { rows: rows(&v) },
                "end" => Op::End {
                    state: State::parse(v.get("state")?.as_str()?)?,
                    reason: text(&v, "reason"),
                },
                "dead" => Op::Dead {
                    chunk: n32(&v, "chunk"),
                    reason: text(&v, "reason"),
                },
                "revoke" => Op::Revoke,
                "revoked" => Op::Revoked,
                _ => return None,
            })
        }
    }

    impl Answer {
        pub(crate) fn to_json(&self) -> String {
            let mut f = vec![
                ("ended", self.ended.into()),
                ("rows", row_values(&self.rows)),
            ];
            if let Some(j) = &self.job {
                f.push(("job", j.to_value()));
            }
            if let Some(t) = &self.text {
                f.push(("text", t.as_str().into()));
            }
            object(f).to_string()
        }
        pub(crate) fn from_json(json: &str) -> Option<Answer> {
            let v: Value = serde_json::from_str(json).ok()?;
            Some(Answer {
                job: match v.get("job") {
                    Some(j) => Some(Job::from_value(j)?),
                    None => None,
                },
                ended: v.get("ended").and_then(Value::as_bool).unwrap_or(false),
                rows: rows(&v),
                text: v.get("text").and_then(Value::as_str).map(str::to_string),
            })
        }
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
pub(crate) mod tests;
