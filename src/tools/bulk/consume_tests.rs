//! The consumer's steps natively: a manifest read once into the job's
//! object (good, bad, refused, redirected), chunks created exactly once
//! whatever the queue repeats, Scale's transient failures retried with the
//! queue's delay, and the dead-letter queue ending a job.

use super::super::job::{chunk_size, Msg};
use super::super::store::tests::MemJobs;
use super::super::store::{Job, Op, Spec, State, CREATED, EXISTED, FAILED};
use super::*;
use crate::io::fakes::{block_on, json_response, services, text_response, FakeUpstream};
use crate::io::{InResponse, OutRequest};
use crate::scale::testing::{config_with, BASE};
use serde_json::json;
use std::cell::RefCell;
use std::rc::Rc;

/// A status to answer a create with, and its Retry-After.
type Fault = (u16, Option<&'static str>);

const MANIFEST: &str = "https://bucket.example/m.jsonl";

/// Scale's creates (409 for a unique_id taken) and the manifest's server;
/// `faults` answers the next creates with these statuses.
#[derive(Clone, Default)]
struct World {
    tasks: Rc<RefCell<Vec<Value>>>,
    files: Rc<RefCell<Vec<(String, InResponse)>>>,
    faults: Rc<RefCell<Vec<Fault>>>,
    creates: Rc<RefCell<u32>>,
}

impl World {
    fn serve(&self, up: &FakeUpstream) {
        let me = self.clone();
        up.respond_with(move |req| Ok(me.answer(req)));
    }
    fn file(&self, url: &str, r: InResponse) {
        self.files.borrow_mut().push((url.to_string(), r));
    }
    fn answer(&self, req: &OutRequest) -> InResponse {
        if let Some((_, r)) = self.files.borrow().iter().find(|(u, _)| *u == req.url) {
            return r.clone();
        }
        let path = req.url.strip_prefix(BASE).expect("a Scale URL");
        if let Some(q) = path.strip_prefix("/tasks?") {
            let first = q
                .split('&')
                .find_map(|kv| kv.strip_prefix("unique_id="))
                .unwrap();
            let uid = crate::tools::testing::percent_decode(first);
            let uid = String::from_utf8(uid).unwrap();
            let docs: Vec<Value> = self
                .tasks
                .borrow()
                .iter()
                .filter(|t| t["unique_id"] == uid.as_str())
                .cloned()
                .collect();
            return json_response(200, &json!({ "docs": docs }));
        }
        *self.creates.borrow_mut() += 1;
        if !self.faults.borrow().is_empty() {
            let (status, retry_after) = self.faults.borrow_mut().remove(0);
            let mut r = json_response(
                status,
                &json!({"status_code": status, "error": "simulated"}),
            );
            if let Some(s) = retry_after {
                r.headers.push(("retry-after".into(), s.into()));
            }
            return r;
        }
        let body: Value = serde_json::from_str(req.body.as_deref().unwrap()).unwrap();
        if body["attachment"]
            .as_str()
            .unwrap_or("")
            .contains("refuse-me")
        {
            return json_response(
                400,
                &json!({"status_code": 400, "error": "Invalid attachment"}),
            );
        }
        let uid = body["unique_id"].as_str().unwrap().to_string();
        if self
            .tasks
            .borrow()
            .iter()
            .any(|t| t["unique_id"] == uid.as_str())
        {
            return json_response(
                409,
                &json!({"status_code": 409, "error": "unique_id already used"}),
            );
        }
        let n = self.tasks.borrow().len();
        let mut task = body.clone();
        task["task_id"] = json!(format!("task-{n}"));
        task["type"] = json!(path.strip_prefix("/task/").unwrap());
        task["params"] = json!({"attachment": body["attachment"]});
        self.tasks.borrow_mut().push(task.clone());
        json_response(200, &task)
    }
}

struct Bench {
    up: FakeUpstream,
    world: World,
    jobs: MemJobs,
    cx: Ctx,
}

fn bench() -> Bench {
    let up = FakeUpstream::new();
    let world = World::default();
    world.serve(&up);
    let jobs = MemJobs::default();
    let mut sv = services(&up, None);
    sv.jobs = Some(Rc::new(jobs.clone()));
    let cx = Ctx::full_access(config_with(&[("SUBREQUEST_LIMIT", "50")]), sv);
    Bench {
        up,
        world,
        jobs,
        cx,
    }
}

impl Bench {
    /// A job of `manifest`, made as `start` makes one.
    fn job(&self, url: &str) -> Job {
        let mut args = Map::new();
        args.insert("type".into(), json!("imageannotation"));
        args.insert("project".into(), json!("p"));
        args.insert("idempotency_key".into(), json!("run1"));
        let spec = Spec {
            id: "job1".into(),
            created: 0,
            ttl: 86_400_000,
            items_url: url.into(),
            args,
            label: "test".into(),
            kind: "token".into(),
            origin: "https://worker.example".into(),
            path: "/mcp".into(),
            headers: vec![],
            chunk: chunk_size(50),
            settings: String::new(),
            scopes: String::new(),
        };
        let a = block_on(call(
            &self.jobs,
            "job1",
            &Op::Start {
                spec: Box::new(spec),
            },
        ))
        .unwrap();
        a.job.unwrap()
    }
    /// A job of a JSONL manifest of `lines` items, served.
    fn served(&self, lines: u32) -> Job {
        self.world.file(
            MANIFEST,
            text_response(200, "application/x-ndjson", &manifest(lines)),
        );
        self.job(MANIFEST)
    }
    fn get(&self) -> Job {
        block_on(call(&self.jobs, "job1", &Op::Get))
            .unwrap()
            .job
            .unwrap()
    }
    fn sent(&self) -> Vec<Msg> {
        self.jobs
            .sent
            .borrow()
            .iter()
            .map(|(b, _)| Msg::parse(b).unwrap())
            .collect()
    }
    /// Runs every chunk message sent so far (once each), answering the
    /// longest wait any asked for.
    fn run_chunks(&self) -> Option<u32> {
        let msgs = self.sent();
        let mut wait = None;
        for m in msgs.iter().filter_map(|m| m.chunk) {
            let claimed = block_on(call(&self.jobs, "job1", &Op::Claim { chunk: m })).unwrap();
            let Some(j) = claimed.job else { continue };
            if let Some(w) = block_on(chunk(&self.cx, &self.jobs, &j, claimed.rows)) {
                wait = Some(wait.map_or(w, |x: u32| x.max(w)));
            }
        }
        wait
    }
}

fn manifest(lines: u32) -> String {
    (1..=lines)
        .map(|i| {
            format!(
                "{{\"attachment\":\"https://img.example/{i}.png\",\"metadata\":{{\"n\":{i}}}}}\n"
            )
        })
        .collect()
}

#[test]
fn a_manifest_is_read_once_and_its_chunks_queued() {
    let b = bench();
    let j = b.served(25);
    assert_eq!(block_on(read(&b.cx, &b.jobs, &j)), None);
    let j = b.get();
    assert_eq!((j.state, j.total), (State::Running, 25));
    // 8 items a chunk at SUBREQUEST_LIMIT 50: 4 chunks, each queued once.
    let chunks: Vec<Option<u32>> = b.sent().into_iter().map(|m| m.chunk).collect();
    assert_eq!(chunks, [Some(0), Some(1), Some(2), Some(3)]);
    assert_eq!(
        *b.world.creates.borrow(),
        0,
        "nothing is created while reading"
    );
    // The manifest is asked for with no credentials of ours.
    let fetch = b.up.sent().into_iter().find(|r| r.url == MANIFEST).unwrap();
    assert!(
        fetch.headers.iter().all(|(k, _)| k == "accept"),
        "{:?}",
        fetch.headers
    );
    assert_eq!(b.run_chunks(), None);
    assert_eq!(b.world.tasks.borrow().len(), 25);
    let j = b.get();
    assert_eq!((j.state, j.created), (State::Completed, 25));
    // The queue delivering everything again creates nothing more.
    assert_eq!(b.run_chunks(), None);
    assert_eq!(b.world.tasks.borrow().len(), 25);
    assert_eq!(b.get().created, 25);
    let audit = b.cx.take_audit();
    assert_eq!(audit.len(), 1, "one end line: {audit:?}");
    let line: Value = serde_json::from_str(&audit[0]).unwrap();
    assert_eq!(
        (line["event"].as_str(), line["outcome"].as_str()),
        (Some("job_end"), Some("completed"))
    );
    assert_eq!(line["items"]["created"], 25);
}

#[test]
fn a_manifest_with_bad_lines_creates_nothing_and_names_them() {
    let b = bench();
    let mut text = manifest(6);
    text.push_str("{\"attachment\": 5}\n[]\n{\"colour\":\"red\"}\n");
    text.push_str(&manifest(1));
    b.world
        .file(MANIFEST, text_response(200, "application/x-ndjson", &text));
    let j = b.job(MANIFEST);
    assert_eq!(block_on(read(&b.cx, &b.jobs, &j)), None);
    let j = b.get();
    assert_eq!(j.state, State::Failed);
    for needle in [
        "4 bad lines",
        "line 7: ",
        "line 8: ",
        "line 9: ",
        "`colour`",
        "line 10: its unique_id",
    ] {
        assert!(j.reason.contains(needle), "{needle} in {}", j.reason);
    }
    assert!(b.sent().is_empty());
    assert_eq!(*b.world.creates.borrow(), 0);
}

#[test]
fn a_csv_manifest_reads_as_its_jsonl_twin() {
    let b = bench();
    let url = "https://bucket.example/m.csv";
    b.world.file(
        url,
        text_response(
            200,
            "text/csv",
            "attachment,metadata\nhttps://img.example/1.png,\"{\"\"n\"\":1}\"\n",
        ),
    );
    let j = b.job(url);
    block_on(read(&b.cx, &b.jobs, &j));
    b.run_chunks();
    let tasks = b.world.tasks.borrow();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["metadata"], json!({"n": 1}));
    assert_eq!(tasks[0]["project"], "p");
    assert!(tasks[0]["unique_id"].as_str().unwrap().starts_with("run1:"));
}

#[test]
fn a_redirect_to_a_refused_host_fails_the_job_unread() {
    let b = bench();
    let mut r = text_response(302, "text/plain", "");
    r.headers
        .push(("location".into(), "https://localhost/m.jsonl".into()));
    b.world.file(MANIFEST, r);
    let j = b.job(MANIFEST);
    assert_eq!(block_on(read(&b.cx, &b.jobs, &j)), None);
    let j = b.get();
    assert_eq!(j.state, State::Failed);
    assert!(
        j.reason.contains("redirects to a URL that is refused"),
        "{}",
        j.reason
    );
}

#[test]
fn a_manifest_server_that_fails_is_tried_again_later() {
    let b = bench();
    b.world
        .file(MANIFEST, text_response(503, "text/plain", "busy"));
    let j = b.job(MANIFEST);
    assert_eq!(block_on(read(&b.cx, &b.jobs, &j)), Some(60));
    assert_eq!(b.get().state, State::Ingesting);
    b.world
        .file(MANIFEST, text_response(404, "text/plain", "gone"));
    b.world.files.borrow_mut().remove(0);
    assert_eq!(block_on(read(&b.cx, &b.jobs, &j)), None);
    let j = b.get();
    assert!(j.reason.contains("HTTP 404"), "{}", j.reason);
}

#[test]
fn transient_failures_wait_for_the_queue_and_count_attempts() {
    let b = bench();
    let j = b.served(3);
    block_on(read(&b.cx, &b.jobs, &j));
    b.world
        .faults
        .borrow_mut()
        .extend([(429, Some("7")), (503, None)]);
    // One create refused for now (Retry-After 7), one 503 (4 s after one attempt): the longer.
    assert_eq!(b.run_chunks(), Some(7));
    let j = b.get();
    assert_eq!((j.created, j.failed), (1, 0));
    let pending = block_on(call(&b.jobs, "job1", &Op::Claim { chunk: 0 }))
        .unwrap()
        .rows;
    assert!(pending.iter().all(|r| r.attempts == 1), "{pending:?}");
    assert_eq!(b.run_chunks(), None);
    assert_eq!(b.get().created, 3);
    assert_eq!(b.world.tasks.borrow().len(), 3);
}

#[test]
fn an_item_that_keeps_failing_fails_with_scales_message() {
    let b = bench();
    let j = b.served(1);
    block_on(read(&b.cx, &b.jobs, &j));
    for n in 1..MAX_ATTEMPTS {
        b.world.faults.borrow_mut().push((500, None));
        assert!(b.run_chunks().is_some(), "attempt {n} waits for the queue");
    }
    b.world.faults.borrow_mut().push((500, None));
    assert_eq!(b.run_chunks(), None);
    let page = b.jobs.outcomes("job1");
    assert_eq!((page[0].outcome, page[0].status), (FAILED, Some(500)));
    assert!(
        page[0].error.starts_with("failed 8 times"),
        "{}",
        page[0].error
    );
    assert_eq!(b.get().state, State::Completed);
}

#[test]
fn a_create_answered_5xx_after_it_happened_counts_as_existing() {
    let b = bench();
    let j = b.served(1);
    block_on(read(&b.cx, &b.jobs, &j));
    // Created, then the answer lost: the next attempt meets a 409.
    let body = block_on(call(&b.jobs, "job1", &Op::Claim { chunk: 0 }))
        .unwrap()
        .rows[0]
        .body
        .clone();
    let mut task: Value = serde_json::from_str(&body).unwrap();
    task["task_id"] = json!("task-early");
    task["type"] = json!("imageannotation");
    task["params"] = json!({"attachment": task["attachment"]});
    b.world.tasks.borrow_mut().push(task);
    assert_eq!(b.run_chunks(), None);
    let page = b.jobs.outcomes("job1");
    assert_eq!(
        (page[0].outcome, page[0].task_id.as_str()),
        (EXISTED, "task-early")
    );
    assert_eq!(b.world.tasks.borrow().len(), 1);
}

#[test]
fn refused_items_fail_by_line_and_the_rest_are_created() {
    let b = bench();
    let text = "{\"attachment\":\"https://img.example/1.png\"}\n{\"attachment\":\"https://img.example/refuse-me.png\"}\n";
    b.world
        .file(MANIFEST, text_response(200, "application/x-ndjson", text));
    let j = b.job(MANIFEST);
    block_on(read(&b.cx, &b.jobs, &j));
    assert_eq!(b.run_chunks(), None);
    let j = b.get();
    assert_eq!((j.state, j.created, j.failed), (State::Completed, 1, 1));
    let page = b.jobs.outcomes("job1");
    assert_eq!(
        (page[0].outcome, page[1].outcome, page[1].line),
        (CREATED, FAILED, 2)
    );
    assert_eq!(page[1].status, Some(400));
    assert!(
        page[1].error.contains("Invalid attachment"),
        "{}",
        page[1].error
    );
}

#[test]
fn the_dead_letter_queue_ends_what_the_queue_gave_up_on() {
    let b = bench();
    let j = b.served(3);
    block_on(read(&b.cx, &b.jobs, &j));
    let msg = Msg {
        job: "job1".into(),
        chunk: Some(0),
    };
    assert_eq!(block_on(dead(&b.cx, &b.jobs, &msg)), None);
    let j = b.get();
    assert_eq!((j.state, j.failed), (State::Completed, 3));
    let b = bench();
    b.job(MANIFEST);
    let msg = Msg {
        job: "job1".into(),
        chunk: None,
    };
    block_on(dead(&b.cx, &b.jobs, &msg));
    let j = b.get();
    assert_eq!(j.state, State::Failed);
    assert!(j.reason.contains("reading the manifest"), "{}", j.reason);
}

#[test]
fn a_job_store_that_fails_leaves_the_message_for_later() {
    let b = bench();
    let j = b.served(2);
    *b.jobs.failing.borrow_mut() = 1;
    assert_eq!(block_on(read(&b.cx, &b.jobs, &j)), Some(10));
    assert_eq!(b.get().state, State::Ingesting);
    assert_eq!(block_on(read(&b.cx, &b.jobs, &j)), None);
    assert_eq!(b.get().state, State::Running);
}
