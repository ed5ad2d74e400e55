//! Native tests of `wait_for_task` and `wait_for_batch` on a fake clock:
//! answers at once, backoff, timeouts, the request's budget, and progress.

use super::*;
use crate::config::Config;
use crate::context::{Progress, Report};
use crate::io::fakes::{block_on, json_response, services, FakeUpstream};
use crate::scale::testing::{config, config_with};
use crate::tools::testing::*;
use crate::tools::{call, Out};
use serde_json::json;
use std::rc::Rc;

/// Runs `tool` in a request of its own that wants progress; `advance_first`
/// ms of the request's time are spent before the call.
fn wait(
    cfg: &Config,
    up: &FakeUpstream,
    tool: &str,
    a: Value,
    advance_first: u64,
) -> (Value, Vec<Report>) {
    let mut cx = Ctx::full_access(cfg.clone(), services(up, None));
    let progress = Rc::new(Progress::default());
    cx.progress = Some(progress.clone());
    up.advance(advance_first);
    let r = block_on(call(&cx, tool, a.as_object().unwrap().clone())).unwrap();
    let v = match r {
        Ok(Out::Raw(raw)) => serde_json::from_str(raw.get()).unwrap(),
        Ok(Out::Json(v)) => v,
        Ok(Out::Split { .. }) => unreachable!("the waits answer JSON"),
        Err(e) => json!({"error": e.text(tool)}),
    };
    (v, progress.take())
}

fn task(status: &str) -> Value {
    json!({"task_id": "t1", "status": status, "response": {"label": "cat"}})
}

#[test]
fn a_finished_task_answers_at_once() {
    for (status, says) in [
        ("completed", "labels are in `task.response`"),
        ("error", "Scale could not do the task"),
        ("canceled", "was canceled"),
    ] {
        let up = FakeUpstream::new();
        up.push_json(200, task(status));
        let (v, reports) = wait(&config(), &up, "wait_for_task", json!({"task_id": "t1"}), 0);
        assert_eq!(
            (
                v["status"].as_str(),
                v["done"].as_bool(),
                v["polls"].as_u64()
            ),
            (Some(status), Some(true), Some(1)),
            "{v}"
        );
        assert_eq!(v["task"], task(status));
        assert!(v["next_step"].as_str().unwrap().contains(says), "{v}");
        assert!(up.sleeps.borrow().is_empty() && reports.is_empty());
        assert_req(&up.sent()[0], "GET", "/task/t1", None);
    }
}

#[test]
fn polls_with_backoff_until_the_task_finishes() {
    let up = FakeUpstream::new();
    for s in ["pending", "pending", "pending", "pending", "completed"] {
        up.push_json(200, task(s));
    }
    let (v, reports) = wait(&config(), &up, "wait_for_task", json!({"task_id": "t1"}), 0);
    assert_eq!(
        (
            v["done"].as_bool(),
            v["polls"].as_u64(),
            v["waited_s"].as_f64()
        ),
        (Some(true), Some(5), Some(5.5)),
        "{v}"
    );
    assert_eq!(*up.sleeps.borrow(), vec![500, 1000, 2000, 2000]);
    // One report per pending poll, growing: the seconds waited so far.
    let p: Vec<f64> = reports.iter().map(|r| r.progress).collect();
    assert_eq!(p, [0.0, 0.5, 1.5, 3.5]);
    assert_eq!(reports[1].message, "task t1: still pending after 0.5 s");
    assert!(reports.iter().all(|r| r.total.is_none()));
}

#[test]
fn a_pending_task_at_the_timeout_says_to_wait_again() {
    let up = FakeUpstream::new();
    up.respond_with(|_| Ok(json_response(200, &task("pending"))));
    let (v, _) = wait(
        &config(),
        &up,
        "wait_for_task",
        json!({"task_id": "t1", "timeout_s": 5}),
        0,
    );
    // Polls at 0, 0.5, 1.5, 3.5 and, the last pause cut short, at 5 s.
    assert_eq!(*up.sleeps.borrow(), vec![500, 1000, 2000, 1500]);
    assert_eq!(
        (
            v["done"].as_bool(),
            v["status"].as_str(),
            v["polls"].as_u64()
        ),
        (Some(false), Some("pending"), Some(5))
    );
    assert_eq!(v["waited_s"], 5.0);
    assert_eq!(v["next_step"], "Still pending after 5 s. Call wait_for_task again to keep waiting (up to 45 s a call), or check back later.");
    // The default is 30 s.
    let up = FakeUpstream::new();
    up.respond_with(|_| Ok(json_response(200, &task("pending"))));
    let (v, _) = wait(&config(), &up, "wait_for_task", json!({"task_id": "t1"}), 0);
    assert_eq!(v["waited_s"], 30.0);
    assert_eq!(up.sleeps.borrow().iter().sum::<u32>(), 30_000);
}

#[test]
fn every_poll_counts_against_the_requests_budget() {
    // Subrequests: three polls, then the wait stops and says why.
    let up = FakeUpstream::new();
    up.respond_with(|_| Ok(json_response(200, &task("pending"))));
    let cfg = config_with(&[("SUBREQUEST_LIMIT", "3")]);
    let (v, _) = wait(
        &cfg,
        &up,
        "wait_for_task",
        json!({"task_id": "t1", "timeout_s": 45}),
        0,
    );
    assert_eq!(up.requests.borrow().len(), 3);
    assert_eq!(
        (v["done"].as_bool(), v["polls"].as_u64()),
        (Some(false), Some(3))
    );
    let next = v["next_step"].as_str().unwrap();
    assert!(
        next.contains("had made its 3 Scale requests (SUBREQUEST_LIMIT). Call wait_for_task again"),
        "{next}"
    );
    // Time: 44 s of the request's 50 are gone, so polls stop while one still fits.
    let up = FakeUpstream::new();
    up.respond_with(|_| Ok(json_response(200, &task("pending"))));
    let (v, _) = wait(
        &config(),
        &up,
        "wait_for_task",
        json!({"task_id": "t1", "timeout_s": 45}),
        44_000,
    );
    assert_eq!(*up.sleeps.borrow(), vec![500, 1000, 2000]);
    assert!(
        v["next_step"]
            .as_str()
            .unwrap()
            .contains("when this request's time for Scale ran out"),
        "{v}"
    );
    assert_eq!(v["waited_s"], 3.5);
    // A failed poll is the tool's error, with Scale's status.
    let up = FakeUpstream::new();
    up.push_json(
        404,
        json!({"status_code": 404, "error": "Task with that ID not found."}),
    );
    let (v, _) = wait(
        &config(),
        &up,
        "wait_for_task",
        json!({"task_id": "nope"}),
        0,
    );
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .starts_with("Scale returned 404 Not Found for GET /task/nope"),
        "{v}"
    );
}

#[test]
fn a_batch_in_staging_answers_at_once_and_says_to_finalize() {
    let up = FakeUpstream::new();
    up.push_json(200, json!({"status": "staging", "pending": 3}));
    let (v, reports) = wait(&config(), &up, "wait_for_batch", json!({"name": "b 1"}), 0);
    assert_eq!(
        (
            v["done"].as_bool(),
            v["status"].as_str(),
            v["polls"].as_u64()
        ),
        (Some(false), Some("staging"), Some(1))
    );
    assert!(
        v["next_step"]
            .as_str()
            .unwrap()
            .contains("Call finalize_batch {\"name\": \"b 1\"}"),
        "{v}"
    );
    assert_eq!(
        v["progress"],
        json!({"pending": 3, "completed": 0, "error": 0, "canceled": 0, "total": 3})
    );
    assert!(up.sleeps.borrow().is_empty() && reports.is_empty());
    assert_req(&up.sent()[0], "GET", "/batches/b%201/status", None);
}

#[test]
fn a_batch_is_waited_for_until_completed_with_growing_progress() {
    let up = FakeUpstream::new();
    for st in [
        json!({"status": "in_progress", "pending": 4}),
        json!({"status": "in_progress", "pending": 4}),
        json!({"status": "in_progress", "pending": 2, "completed": 2}),
        json!({"status": "in_progress", "pending": 1, "completed": 2, "error": 1}),
        json!({"status": "completed", "completed": 3, "error": 1}),
    ] {
        up.push_json(200, st);
    }
    let (v, reports) = wait(&config(), &up, "wait_for_batch", json!({"name": "b"}), 0);
    assert_eq!(
        (
            v["done"].as_bool(),
            v["status"].as_str(),
            v["polls"].as_u64()
        ),
        (Some(true), Some("completed"), Some(5))
    );
    assert!(
        v["next_step"].as_str().unwrap().starts_with(
            "The batch is completed: 4 of 4 tasks finished (3 completed, 1 error, 0 canceled)"
        ),
        "{v}"
    );
    // A report when the count of finished tasks grows, never the same twice.
    let p: Vec<(f64, Option<f64>)> = reports.iter().map(|r| (r.progress, r.total)).collect();
    assert_eq!(p, [(0.0, Some(4.0)), (2.0, Some(4.0)), (3.0, Some(4.0))]);
    assert_eq!(
        reports[2].message,
        "batch b: 3 of 4 tasks finished (2 completed, 1 error, 0 canceled)"
    );
}

#[test]
fn a_batch_still_in_progress_at_the_timeout() {
    let up = FakeUpstream::new();
    up.respond_with(|_| {
        Ok(json_response(
            200,
            &json!({"status": "in_progress", "pending": 1, "completed": 1}),
        ))
    });
    let (v, _) = wait(
        &config(),
        &up,
        "wait_for_batch",
        json!({"name": "b", "timeout_s": 1}),
        0,
    );
    assert_eq!(
        (v["done"].as_bool(), v["polls"].as_u64()),
        (Some(false), Some(3))
    );
    assert_eq!(v["next_step"], "Still in progress with 1 of 2 tasks finished (1 completed, 0 error, 0 canceled) after 1 s. Call wait_for_batch again to keep waiting (up to 45 s a call), or check back later.");
}
