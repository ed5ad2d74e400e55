//! The job store's rules on an in-memory table, and [`MemJobs`], the jobs
//! platform of the native tests: objects in memory and a queue that keeps
//! what was sent.

use super::*;
use crate::io::{BoxFut, Jobs};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

/// One object's table in memory.
#[derive(Default)]
pub(crate) struct MemRows {
    header: Option<(String, u64)>,
    items: BTreeMap<u32, (u32, Row)>,
}

impl MemRows {
    /// The header as stored.
    pub(crate) fn header_json(&self) -> String {
        self.header
            .as_ref()
            .map(|h| h.0.clone())
            .unwrap_or_default()
    }
}

impl Rows for MemRows {
    fn header(&mut self) -> Result<Option<String>, String> {
        Ok(self.header.as_ref().map(|h| h.0.clone()))
    }
    fn set_header(&mut self, json: &str, expires: u64) -> Result<(), String> {
        self.header = Some((json.to_string(), expires));
        Ok(())
    }
    fn insert(&mut self, rows: &[(u32, u32, &str, &str)]) -> Result<(), String> {
        for (line, chunk, uid, body) in rows {
            let row = Row {
                line: *line,
                unique_id: uid.to_string(),
                body: body.to_string(),
                ..Row::default()
            };
            self.items.insert(*line, (*chunk, row));
        }
        Ok(())
    }
    fn pending(&mut self, chunk: u32) -> Result<Vec<Row>, String> {
        Ok(self
            .items
            .values()
            .filter(|(c, r)| *c == chunk && r.outcome == PENDING)
            .map(|(_, r)| r.clone())
            .collect())
    }
    fn set(&mut self, row: &Row) -> Result<(), String> {
        if let Some((_, r)) = self.items.get_mut(&row.line) {
            *r = Row {
                body: r.body.clone(),
                ..row.clone()
            };
        }
        Ok(())
    }
    fn outcomes(&mut self, after: u32, limit: u32) -> Result<Vec<Row>, String> {
        Ok(self
            .items
            .range(after + 1..)
            .filter(|(_, (_, r))| r.outcome != PENDING)
            .take(limit as usize)
            .map(|(_, (_, r))| Row {
                body: String::new(),
                ..r.clone()
            })
            .collect())
    }
    fn drop_items(&mut self) -> Result<(), String> {
        self.items.clear();
        Ok(())
    }
    fn wipe(&mut self) -> Result<(), String> {
        *self = MemRows::default();
        Ok(())
    }
}

impl MemJobs {
    /// Every outcome recorded for job `id`, by line.
    pub(crate) fn outcomes(&self, id: &str) -> Vec<Row> {
        let mut objects = self.objects.borrow_mut();
        objects
            .get_mut(id)
            .map(|o| o.outcomes(0, u32::MAX).unwrap())
            .unwrap_or_default()
    }
}

/// The jobs platform in memory: one [`MemRows`] per job, run through
/// [`apply`] as the object runs it, and the messages sent, with their delay.
#[derive(Clone, Default)]
pub(crate) struct MemJobs {
    pub objects: Rc<RefCell<BTreeMap<String, MemRows>>>,
    pub sent: Rc<RefCell<Vec<(String, u32)>>>,
    /// The clock of the objects (ms).
    pub now: Rc<RefCell<u64>>,
    /// Calls of the object that fail (the next n).
    pub failing: Rc<RefCell<u32>>,
}

impl Jobs for MemJobs {
    fn call<'a>(&'a self, job: &'a str, op: String) -> BoxFut<'a, Result<String, String>> {
        Box::pin(async move {
            if *self.failing.borrow() > 0 {
                *self.failing.borrow_mut() -= 1;
                return Err("the object is unreachable".into());
            }
            let op = Op::from_json(&op).ok_or("not an operation")?;
            let mut objects = self.objects.borrow_mut();
            let rows = objects.entry(job.to_string()).or_default();
            let a = apply(rows, op, *self.now.borrow())?;
            Ok(a.to_json())
        })
    }
    fn send<'a>(&'a self, bodies: &'a [String], delay_s: u32) -> BoxFut<'a, Result<(), String>> {
        Box::pin(async move {
            assert!(bodies.len() <= 100, "one batch holds at most 100 messages");
            self.sent
                .borrow_mut()
                .extend(bodies.iter().map(|b| (b.clone(), delay_s)));
            Ok(())
        })
    }
}

fn spec(chunk: u32) -> Spec {
    Spec {
        id: "j1".into(),
        created: 1_000,
        ttl: 60_000,
        items_url: "https://bucket.example/m.jsonl".into(),
        args: Map::new(),
        label: "ci".into(),
        kind: "token".into(),
        origin: "https://worker.example".into(),
        path: "/mcp".into(),
        headers: vec![],
        chunk,
        settings: "d1".into(),
        scopes: "scale:read".into(),
    }
}

fn row(line: u32) -> Row {
    Row {
        line,
        unique_id: format!("k:{line}"),
        body: format!("{{\"n\":{line}}}"),
        ..Row::default()
    }
}

fn done(line: u32, outcome: u8) -> Row {
    Row {
        line,
        outcome,
        task_id: format!("t{line}"),
        ..Row::default()
    }
}

/// A running job of `n` items in chunks of 3.
fn running(db: &mut MemRows, n: u32) {
    apply(
        db,
        Op::Start {
            spec: Box::new(spec(3)),
        },
        2_000,
    )
    .unwrap();
    let rows = (1..=n).map(row).collect();
    apply(
        db,
        Op::Items {
            first: true,
            read: n,
            rows,
        },
        2_000,
    )
    .unwrap();
    let a = apply(
        db,
        Op::Read {
            total: n,
            bad: String::new(),
        },
        2_000,
    )
    .unwrap();
    assert_eq!(a.job.unwrap().state, State::Running);
}

#[test]
fn an_item_counts_once_however_often_its_outcome_arrives() {
    let mut db = MemRows::default();
    running(&mut db, 7);
    let claim = apply(&mut db, Op::Claim { chunk: 1 }, 3_000).unwrap();
    let lines: Vec<u32> = claim.rows.iter().map(|r| r.line).collect();
    assert_eq!(lines, [4, 5, 6]);
    assert_eq!(claim.rows[0].body, "{\"n\":4}");
    for _ in 0..3 {
        apply(
            &mut db,
            Op::Record {
                rows: vec![done(4, CREATED), done(5, EXISTED)],
            },
            3_000,
        )
        .unwrap();
    }
    let j = apply(&mut db, Op::Get, 3_000).unwrap().job.unwrap();
    assert_eq!((j.created, j.existed, j.failed), (1, 1, 0));
    // Only what is still pending is claimed again.
    let again = apply(&mut db, Op::Claim { chunk: 1 }, 3_000).unwrap();
    assert_eq!(again.rows.len(), 1);
    assert_eq!(again.rows[0].line, 6);
}

#[test]
fn a_transient_failure_keeps_the_item_pending_with_its_attempts() {
    let mut db = MemRows::default();
    running(&mut db, 2);
    let mut r = row(1);
    r.attempts = 1;
    r.body.clear();
    apply(&mut db, Op::Record { rows: vec![r] }, 3_000).unwrap();
    let claim = apply(&mut db, Op::Claim { chunk: 0 }, 3_000).unwrap();
    assert_eq!(claim.rows[0].attempts, 1);
    assert_eq!(
        claim.rows[0].body, "{\"n\":1}",
        "the body stays for the next attempt"
    );
    let j = claim.job.unwrap();
    assert_eq!(j.done(), 0);
}

#[test]
fn the_job_ends_once_and_says_so_once() {
    let mut db = MemRows::default();
    running(&mut db, 2);
    let a = apply(
        &mut db,
        Op::Record {
            rows: vec![done(1, CREATED)],
        },
        3_000,
    )
    .unwrap();
    assert!(!a.ended);
    let mut failed = done(2, FAILED);
    failed.error = "bad attachment".into();
    failed.status = Some(400);
    let a = apply(
        &mut db,
        Op::Record {
            rows: vec![failed.clone()],
        },
        4_000,
    )
    .unwrap();
    assert!(a.ended);
    let j = a.job.unwrap();
    assert_eq!(
        (j.state, j.created, j.failed, j.updated),
        (State::Completed, 1, 1, 4_000)
    );
    let a = apply(&mut db, Op::Record { rows: vec![failed] }, 5_000).unwrap();
    assert!(!a.ended);
    let page = db.outcomes(0, 10).unwrap();
    assert_eq!(page.len(), 2);
    assert_eq!(
        (page[1].line, page[1].status, page[1].error.as_str()),
        (2, Some(400), "bad attachment")
    );
    assert!(page[0].body.is_empty(), "pages carry no bodies");
}

#[test]
fn a_cancelled_job_gives_no_more_work_but_counts_what_was_done() {
    let mut db = MemRows::default();
    running(&mut db, 6);
    let a = apply(
        &mut db,
        Op::End {
            state: State::Cancelled,
            reason: "cancelled".into(),
        },
        3_000,
    )
    .unwrap();
    assert!(a.ended);
    assert!(apply(&mut db, Op::Claim { chunk: 0 }, 3_000)
        .unwrap()
        .rows
        .is_empty());
    // A chunk in flight when it was cancelled still reports its tasks.
    let a = apply(
        &mut db,
        Op::Record {
            rows: vec![done(1, CREATED)],
        },
        3_000,
    )
    .unwrap();
    let j = a.job.unwrap();
    assert_eq!((j.state, j.created), (State::Cancelled, 1));
    // Ending again changes nothing.
    let a = apply(
        &mut db,
        Op::End {
            state: State::Failed,
            reason: "x".into(),
        },
        3_000,
    )
    .unwrap();
    assert!(!a.ended);
    assert_eq!(a.job.unwrap().state, State::Cancelled);
}

#[test]
fn a_bad_manifest_fails_the_job_and_drops_its_items() {
    let mut db = MemRows::default();
    apply(
        &mut db,
        Op::Start {
            spec: Box::new(spec(3)),
        },
        2_000,
    )
    .unwrap();
    apply(
        &mut db,
        Op::Items {
            first: true,
            read: 3,
            rows: vec![row(1), row(2)],
        },
        2_000,
    )
    .unwrap();
    let a = apply(
        &mut db,
        Op::Read {
            total: 2,
            bad: "line 3: no".into(),
        },
        2_000,
    )
    .unwrap();
    assert!(a.ended);
    let j = a.job.unwrap();
    assert_eq!((j.state, j.reason.as_str()), (State::Failed, "line 3: no"));
    assert!(db.items.is_empty());
}

#[test]
fn a_read_begun_again_replaces_the_rows_of_the_broken_one() {
    let mut db = MemRows::default();
    apply(
        &mut db,
        Op::Start {
            spec: Box::new(spec(3)),
        },
        2_000,
    )
    .unwrap();
    apply(
        &mut db,
        Op::Items {
            first: true,
            read: 3,
            rows: vec![row(1), row(2), row(3)],
        },
        2_000,
    )
    .unwrap();
    apply(
        &mut db,
        Op::Items {
            first: true,
            read: 1,
            rows: vec![row(1)],
        },
        2_000,
    )
    .unwrap();
    assert_eq!(db.items.len(), 1);
}

#[test]
fn a_dead_chunk_fails_its_pending_items_and_the_job_still_ends() {
    let mut db = MemRows::default();
    running(&mut db, 4);
    apply(
        &mut db,
        Op::Record {
            rows: vec![done(1, CREATED), done(4, CREATED)],
        },
        3_000,
    )
    .unwrap();
    let a = apply(
        &mut db,
        Op::Dead {
            chunk: 0,
            reason: "gave up".into(),
        },
        3_000,
    )
    .unwrap();
    assert!(a.ended);
    let j = a.job.unwrap();
    assert_eq!((j.state, j.created, j.failed), (State::Completed, 2, 2));
}

#[test]
fn a_job_past_its_ttl_is_gone() {
    let mut db = MemRows::default();
    running(&mut db, 2);
    assert!(apply(&mut db, Op::Get, 60_999).unwrap().job.is_some());
    assert!(apply(&mut db, Op::Get, 61_000).unwrap().job.is_none());
    assert!(db.items.is_empty() && db.header.is_none());
    // Nothing but a start makes a job.
    assert!(apply(&mut db, Op::Claim { chunk: 0 }, 61_000)
        .unwrap()
        .job
        .is_none());
}

#[test]
fn starting_twice_keeps_the_first() {
    let mut db = MemRows::default();
    running(&mut db, 2);
    let mut other = Job::new(spec(3));
    other.spec.label = "someone else".into();
    let a = apply(
        &mut db,
        Op::Start {
            spec: Box::new(other.spec),
        },
        3_000,
    )
    .unwrap();
    assert_eq!(a.job.unwrap().spec.label, "ci");
}

#[test]
fn every_operation_and_answer_reads_back_as_written() {
    let mut r = row(4);
    r.outcome = FAILED;
    r.attempts = 3;
    r.status = Some(503);
    r.error = "busy \"now\"".into();
    let mut job = Job::new(spec(8));
    job.spec.headers = vec![("x-mcp-readonly".into(), "false".into())];
    job.spec
        .args
        .insert("type".into(), Value::from("imageannotation"));
    job.state = State::Cancelled;
    job.reason = "by its requester".into();
    let ops = [
        Op::Start {
            spec: Box::new(job.spec.clone()),
        },
        Op::Get,
        Op::Look {
            after: Some(7),
            any: true,
            uri: "scale-job://outcomes/t".into(),
        },
        Op::Look {
            after: None,
            any: false,
            uri: String::new(),
        },
        Op::Items {
            first: true,
            read: 9,
            rows: vec![row(1), r.clone()],
        },
        Op::Read {
            total: 7,
            bad: "line 2: no".into(),
        },
        Op::Claim { chunk: 3 },
        Op::Record {
            rows: vec![r.clone()],
        },
        Op::End {
            state: State::Failed,
            reason: "gone".into(),
        },
        Op::Dead {
            chunk: 1,
            reason: "gave up".into(),
        },
    ];
    for op in ops {
        let back = Op::from_json(&op.to_json()).unwrap_or_else(|| panic!("{op:?}"));
        assert_eq!(format!("{back:?}"), format!("{op:?}"));
    }
    let a = Answer {
        job: Some(job.clone()),
        ended: true,
        rows: vec![r],
        text: Some("{\"status\":\"working\"}".into()),
    };
    let back = Answer::from_json(&a.to_json()).unwrap();
    assert_eq!(format!("{back:?}"), format!("{a:?}"));
    assert_eq!(Job::from_json(&job.to_json()), Some(job));
    for junk in [
        "",
        "[]",
        "{\"op\":\"drop\"}",
        "{\"op\":\"end\",\"state\":\"gone\"}",
        "{\"op\":\"start\"}",
    ] {
        assert!(Op::from_json(junk).is_none(), "{junk}");
    }
}

#[test]
fn the_mcp_workers_start_reads_as_the_object_reads_it() {
    // The MCP worker writes the start itself (job.rs); the object parses it.
    let sp = spec(8);
    let text = object(vec![("op", "start".into()), ("spec", sp.to_value())]).to_string();
    match Op::from_json(&text) {
        Some(Op::Start { spec }) => assert_eq!(*spec, sp),
        other => panic!("{other:?}"),
    }
}

/// The look of a job: what its MCP task shows.
fn look(db: &mut MemRows, after: Option<u32>, any: bool) -> Value {
    let a = apply(
        db,
        Op::Look {
            after,
            any,
            uri: "scale-job://outcomes/t1".into(),
        },
        3_000,
    )
    .unwrap();
    serde_json::from_str(&a.text.unwrap()).unwrap()
}

#[test]
fn a_look_gives_the_status_message_and_once_ended_the_first_page() {
    let mut db = MemRows::default();
    running(&mut db, 3);
    apply(
        &mut db,
        Op::Record {
            rows: vec![done(1, CREATED)],
        },
        3_000,
    )
    .unwrap();
    let v = look(&mut db, Some(0), false);
    assert_eq!(v["status"], "working");
    assert_eq!(v["message"], "1 of 3 created, 0 failed.");
    assert!(v.get("page").is_none(), "no page before the end");
    // A resource read gives the outcomes so far.
    let v = look(&mut db, Some(0), true);
    assert_eq!(v["page"]["items"].as_array().unwrap().len(), 1);
    let mut f = done(3, FAILED);
    f.error = "refused".into();
    f.status = Some(400);
    apply(
        &mut db,
        Op::Record {
            rows: vec![done(2, EXISTED), f],
        },
        3_000,
    )
    .unwrap();
    let v = look(&mut db, Some(0), false);
    assert_eq!(
        (v["status"].as_str(), v["failed"].as_bool()),
        (Some("completed"), Some(false))
    );
    assert_eq!(
        v["message"],
        "Done: 2 of 3 created (1 already existed), 1 failed."
    );
    let page = &v["page"];
    assert_eq!(
        (
            page["created"].as_u64(),
            page["already_existed"].as_u64(),
            page["failed"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );
    assert_eq!(page["complete"], false);
    assert_eq!(
        page["items"][2],
        serde_json::json!({"line": 3, "unique_id": "k:3", "outcome": "failed", "task_id": "t3", "scale_status": 400, "error": "refused"})
    );
    assert!(page.get("next_after").is_none());
    // After a line: the rest.
    let v = look(&mut db, Some(2), false);
    assert_eq!(v["page"]["items"].as_array().unwrap().len(), 1);
}

#[test]
fn pages_stop_near_190_kb_and_name_the_next() {
    let mut db = MemRows::default();
    running(&mut db, 3_000);
    let rows = (1..=3_000)
        .map(|l| {
            let mut r = done(l, FAILED);
            r.error = "x".repeat(200);
            r
        })
        .collect();
    apply(&mut db, Op::Record { rows }, 3_000).unwrap();
    let (mut after, mut seen) = (0, 0);
    loop {
        let v = look(&mut db, Some(after), false);
        let page = &v["page"];
        assert!(page.to_string().len() < 200_000);
        seen += page["items"].as_array().unwrap().len();
        match page.get("next_after").and_then(Value::as_u64) {
            Some(n) => {
                assert!(page["next_step"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("scale-job://outcomes/t1?after={n}")));
                after = n as u32;
            }
            None => break,
        }
    }
    assert_eq!(seen, 3_000);
}

#[test]
fn a_job_that_failed_as_a_whole_says_so() {
    let mut db = MemRows::default();
    apply(
        &mut db,
        Op::Start {
            spec: Box::new(spec(3)),
        },
        2_000,
    )
    .unwrap();
    apply(
        &mut db,
        Op::Read {
            total: 0,
            bad: "line 2: no".into(),
        },
        2_000,
    )
    .unwrap();
    let v = look(&mut db, Some(0), false);
    assert_eq!(
        (v["status"].as_str(), v["failed"].as_bool()),
        (Some("completed"), Some(true))
    );
    assert_eq!(v["message"], "Failed, nothing was created: line 2: no");
    let v = {
        apply(&mut db, Op::Get, 2_000).unwrap();
        let mut db2 = MemRows::default();
        running(&mut db2, 2);
        apply(
            &mut db2,
            Op::End {
                state: State::Cancelled,
                reason: "by its requester".into(),
            },
            3_000,
        )
        .unwrap();
        look(&mut db2, Some(0), false)
    };
    assert_eq!(v["status"], "cancelled");
}

#[test]
fn a_page_is_what_create_tasks_declares_it_answers() {
    let schema: Value = serde_json::from_str(super::super::OUTPUT_SCHEMA).unwrap();
    let mut db = MemRows::default();
    running(&mut db, 2_500);
    let rows = (1..=2_500)
        .map(|l| {
            let mut r = done(l, if l % 7 == 0 { FAILED } else { CREATED });
            r.error = "x".repeat(100);
            r.status = Some(400);
            r
        })
        .collect();
    apply(&mut db, Op::Record { rows }, 3_000).unwrap();
    for after in [0, 1_000] {
        let v = look(&mut db, Some(after), false);
        let page = v["page"].as_object().unwrap();
        crate::tools::schema::validate(&schema, page).unwrap_or_else(|e| panic!("{e}"));
    }
}
