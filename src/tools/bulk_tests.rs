//! Native tests of `create_tasks`: derived unique ids, checks of every item
//! before anything is sent, existence lookups, 409s, failures per item, the
//! subrequest limit and continuing, and how many requests run at once.

use super::*;
use crate::codec::percent_encode;
use crate::context::Progress;
use crate::io::fakes::{block_on, json_response, services, FakeUpstream};
use crate::io::{InResponse, OutRequest, SendError, Upstream};
use crate::scale::testing::{config, config_with, BASE};
use crate::tools::testing::*;
use crate::tools::{call, Out};
use std::cell::RefCell;
use std::rc::Rc;

/// A small Scale for creates: tasks kept by unique_id; `POST /task/{type}`
/// creates one (409 when its unique_id is taken), `GET /tasks?unique_id=…`
/// finds them. `fail` answers a create whose attachment it names with that status.
#[derive(Clone, Default)]
struct Store {
    tasks: Rc<RefCell<Vec<Value>>>,
    fail: Rc<RefCell<Vec<(String, u16)>>>,
}

impl Store {
    fn serve(&self, up: &FakeUpstream) {
        let me = self.clone();
        up.respond_with(move |req| Ok(me.answer(req)));
    }
    fn answer(&self, req: &OutRequest) -> InResponse {
        let path = req.url.strip_prefix(BASE).unwrap();
        if let Some(query) = path.strip_prefix("/tasks?") {
            let ids: Vec<&str> = query
                .split('&')
                .filter_map(|kv| kv.strip_prefix("unique_id="))
                .collect();
            let docs: Vec<Value> = self
                .tasks
                .borrow()
                .iter()
                .filter(|t| {
                    ids.contains(&percent_encode(t["unique_id"].as_str().unwrap()).as_str())
                })
                .cloned()
                .collect();
            return json_response(200, &json!({"docs": docs}));
        }
        let ty = path.strip_prefix("/task/").unwrap();
        let body: Value = serde_json::from_str(req.body.as_deref().unwrap()).unwrap();
        let attachment = body["attachment"].as_str().unwrap_or("");
        if let Some((_, status)) = self.fail.borrow().iter().find(|(a, _)| a == attachment) {
            return json_response(
                *status,
                &json!({"status_code": status, "error": "simulated failure"}),
            );
        }
        let uid = body["unique_id"].as_str().unwrap();
        if self.tasks.borrow().iter().any(|t| t["unique_id"] == uid) {
            return json_response(
                409,
                &json!({"status_code": 409, "error": "unique_id already used"}),
            );
        }
        let n = self.tasks.borrow().len();
        let mut task = json!({"task_id": format!("t{n}"), "type": ty, "status": "pending",
            "params": {"attachment": attachment}, "unique_id": uid});
        for k in ["project", "batch", "metadata"] {
            if let Some(v) = body.get(k) {
                task[k] = v.clone();
            }
        }
        self.tasks.borrow_mut().push(task.clone());
        json_response(200, &task)
    }
}

fn items(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| json!({"attachment": format!("https://img.test/{i}.jpg"), "metadata": {"i": i}}))
        .collect()
}

fn args(n: usize) -> Value {
    json!({"type": "imageannotation", "project": "p", "idempotency_key": "run-1", "items": items(n)})
}

/// Runs create_tasks in a request of its own; also what it reported and logged.
fn run_in(
    cfg: &Config,
    up: &FakeUpstream,
    a: Value,
) -> (Value, Vec<crate::context::Report>, Vec<String>) {
    let mut cx = Ctx::full_access(cfg.clone(), services(up, None));
    let progress = Rc::new(Progress::default());
    cx.progress = Some(progress.clone());
    let outcome = block_on(call(&cx, "create_tasks", a.as_object().unwrap().clone())).unwrap();
    let v = match outcome {
        Ok(Out::Raw(r)) => serde_json::from_str(r.get()).unwrap(),
        Ok(Out::Json(v)) => v,
        Ok(Out::Split { .. }) => unreachable!("create_tasks answers JSON"),
        Err(e) => json!({"error": e.text("create_tasks")}),
    };
    (v, progress.take(), cx.take_audit())
}

use crate::config::Config;

/// The item counts of the call's one audit line.
fn counts(audit: &[String]) -> Value {
    assert_eq!(audit.len(), 1, "{audit:?}");
    let line: Value = serde_json::from_str(&audit[0]).unwrap();
    assert_eq!(line["tool"], "create_tasks");
    line["items"].clone()
}

fn outcomes(v: &Value) -> Vec<&str> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["outcome"].as_str().unwrap())
        .collect()
}

#[test]
fn derived_ids_depend_on_content_only_not_order_or_server_defaults() {
    let body = |v: Value| v.as_object().unwrap().clone();
    let a = derived_unique_id(
        "k",
        "imageannotation",
        &body(json!({"attachment": "x", "metadata": {"a": 1, "b": 2}})),
    );
    let b = derived_unique_id(
        "k",
        "imageannotation",
        &body(json!({"metadata": {"b": 2, "a": 1}, "attachment": "x"})),
    );
    assert_eq!(a, b, "key order is not content");
    assert!(a.starts_with("k:") && a.len() == 2 + 32, "{a}");
    for other in [
        derived_unique_id(
            "k2",
            "imageannotation",
            &body(json!({"attachment": "x", "metadata": {"a": 1, "b": 2}})),
        ),
        derived_unique_id(
            "k",
            "categorization",
            &body(json!({"attachment": "x", "metadata": {"a": 1, "b": 2}})),
        ),
        derived_unique_id(
            "k",
            "imageannotation",
            &body(json!({"attachment": "y", "metadata": {"a": 1, "b": 2}})),
        ),
        derived_unique_id(
            "k",
            "imageannotation",
            &body(json!({"attachment": "x", "metadata": {"a": 1, "b": 3}})),
        ),
    ] {
        assert_ne!(a, other);
    }
    // Reordering the list gives every item the same id; the server's
    // default callback is not part of it; a given unique_id is kept.
    let ids = |cfg: &Config, list: Vec<Value>| -> Vec<String> {
        let up = FakeUpstream::new();
        let cx = Ctx::full_access(cfg.clone(), services(&up, None));
        let Ok(a) = <CreateTasks as crate::tools::args::Args>::from_map(
            json!({"type": "imageannotation", "idempotency_key": "k", "items": list})
                .as_object()
                .unwrap()
                .clone(),
        ) else {
            panic!("valid arguments")
        };
        let (_, items) = prepare(&cx, a).unwrap();
        let mut v: Vec<String> = items.into_iter().map(|i| i.unique_id).collect();
        v.sort();
        v
    };
    let forward = items(5);
    let mut backward = items(5);
    backward.reverse();
    let with_default = config_with(&[("DEFAULT_CALLBACK_URL", DEFAULT_CB)]);
    assert_eq!(ids(&config(), forward.clone()), ids(&config(), backward));
    assert_eq!(ids(&config(), forward.clone()), ids(&with_default, forward));
    let given = vec![json!({"attachment": "a", "unique_id": "mine-1"})];
    assert_eq!(ids(&config(), given), vec!["mine-1".to_string()]);
}

#[test]
fn one_bad_item_refuses_the_call_with_its_index_and_sends_nothing() {
    let mut bad = items(40);
    bad[36] = json!({"attachment": 5});
    invalid(
        "create_tasks",
        json!({"type": "imageannotation", "idempotency_key": "k", "items": bad}),
        &["in `items[36]`: `attachment` must be a string (got integer)"],
    );
    let mut bad = items(3);
    bad[2]["colour"] = json!("red");
    invalid(
        "create_tasks",
        json!({"type": "imageannotation", "idempotency_key": "k", "items": bad}),
        &["in `items[2]`: unknown argument `colour`"],
    );
    // A field given both in params and as a shared argument.
    let mut bad = items(3);
    bad[1]["params"] = json!({"project": "other"});
    invalid(
        "create_tasks",
        json!({"type": "imageannotation", "project": "p", "idempotency_key": "k", "items": bad}),
        &["`items[1]`: `params.project` duplicates the `project` argument"],
    );
    // No unique_id and no idempotency_key to derive one.
    let list = vec![
        json!({"attachment": "a", "unique_id": "u"}),
        json!({"attachment": "b"}),
    ];
    invalid(
        "create_tasks",
        json!({"type": "imageannotation", "items": list}),
        &["`items[1]`: no unique_id; give every item a string `unique_id`, or give the call an `idempotency_key`"],
    );
    // The same task twice.
    let list = vec![
        json!({"attachment": "a"}),
        json!({"attachment": "b"}),
        json!({"attachment": "a"}),
    ];
    invalid(
        "create_tasks",
        json!({"type": "imageannotation", "idempotency_key": "k", "items": list}),
        &["`items[0]` and `items[2]` have the same unique_id"],
    );
    let list = vec![json!({"unique_id": "u"}), json!({"unique_id": "u"})];
    invalid(
        "create_tasks",
        json!({"type": "imageannotation", "items": list}),
        &["`items[0]` and `items[1]` have the same unique_id `u`"],
    );
    // Bounds and the task type.
    invalid(
        "create_tasks",
        json!({"type": "imageannotation", "idempotency_key": "k", "items": items(101)}),
        &["`items` must have at most 100 items (got 101)"],
    );
    invalid(
        "create_tasks",
        json!({"type": "imageannotation", "idempotency_key": "k", "items": []}),
        &["`items` must have at least 1 item"],
    );
    invalid(
        "create_tasks",
        json!({"type": "Image/..", "idempotency_key": "k", "items": items(1)}),
        &["`type` must be a Scale task type"],
    );
    invalid(
        "create_tasks",
        json!({"type": "imageannotation", "idempotency_key": "k", "items": [7]}),
        &["`items[0]` must be an object"],
    );
}

#[test]
fn keys_are_bounded_and_null_fields_are_not_sent() {
    let long = "k".repeat(101);
    invalid(
        "create_tasks",
        json!({"type": "imageannotation", "idempotency_key": long, "items": items(1)}),
        &["`idempotency_key` must be 1 to 100 bytes long"],
    );
    let up = FakeUpstream::new();
    let store = Store::default();
    store.serve(&up);
    let list = vec![
        json!({"attachment": "a", "unique_id": "u", "metadata": null, "params": null, "tags": null}),
    ];
    let (v, _, _) = run_in(
        &config(),
        &up,
        json!({"type": "imageannotation", "items": list}),
    );
    assert_eq!(v["created"], 1, "{v}");
    assert_eq!(
        body_of(&up.sent()[1]),
        Some(json!({"attachment": "a", "unique_id": "u"}))
    );
}

#[test]
fn long_unique_ids_take_several_lookups_each_within_bounds() {
    let up = FakeUpstream::new();
    let store = Store::default();
    store.serve(&up);
    let list: Vec<Value> = (0..100)
        .map(|i| json!({"attachment": format!("a{i}"), "unique_id": format!("{i:03}/{}", "u".repeat(200))}))
        .collect();
    let a = json!({"type": "categorization", "items": list});
    let cfg = config_with(&[("SUBREQUEST_LIMIT", "1000")]);
    let (v, _, _) = run_in(&cfg, &up, a.clone());
    assert_eq!(v["created"], 100);
    let lookups: Vec<String> = up
        .sent()
        .iter()
        .filter(|r| r.method.as_str() == "GET")
        .map(|r| r.url.clone())
        .collect();
    assert_eq!(
        lookups.len(),
        4,
        "about 21 KB of ids in lookups of at most 6000 bytes"
    );
    for u in &lookups {
        let query = u.split_once('?').unwrap().1;
        assert!(
            query.len() <= LOOKUP_QUERY_BYTES + "limit=100".len(),
            "{}",
            query.len()
        );
    }
    // Again: every item is found by those lookups.
    let (v, _, _) = run_in(&cfg, &up, a);
    assert_eq!(v["already_existed"], 100);
}

#[test]
fn creates_every_item_once_with_its_shared_and_own_fields() {
    let cfg = config_with(&[("DEFAULT_CALLBACK_URL", DEFAULT_CB)]);
    let up = FakeUpstream::new();
    let store = Store::default();
    store.serve(&up);
    let mut list = items(3);
    list[1]["callback_url"] = json!("https://mine.test/cb");
    list[2]["params"] = json!({"geometries": {"box": {}}});
    list[0]["instruction"] = json!("Box the cars.");
    let a = json!({"type": "imageannotation", "project": "p", "batch": "b", "idempotency_key": "k", "items": list});
    let (v, _, notes) = run_in(&cfg, &up, a);
    assert_eq!(v["complete"], true, "{v}");
    assert_eq!(
        (
            v["total"].as_u64(),
            v["created"].as_u64(),
            v["already_existed"].as_u64()
        ),
        (Some(3), Some(3), Some(0))
    );
    assert_eq!(outcomes(&v), ["created"; 3]);
    assert!(
        v["next_step"].as_str().unwrap().contains("finalize_batch"),
        "{v}"
    );
    let reqs = up.sent();
    assert_eq!(reqs.len(), 4, "one lookup, three creates");
    assert_eq!(reqs[0].method.as_str(), "GET");
    let ids: Vec<String> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["unique_id"].as_str().unwrap().to_string())
        .collect();
    let want_lookup = format!(
        "{BASE}/tasks?{}&limit=100",
        ids.iter()
            .map(|u| format!("unique_id={}", percent_encode(u)))
            .collect::<Vec<_>>()
            .join("&")
    );
    assert_eq!(reqs[0].url, want_lookup);
    let bodies: Vec<Value> = reqs[1..].iter().map(|r| body_of(r).unwrap()).collect();
    assert_eq!(
        bodies[0],
        json!({"project": "p", "batch": "b", "instruction": "Box the cars.", "attachment": "https://img.test/0.jpg",
               "metadata": {"i": 0}, "unique_id": ids[0], "callback_url": DEFAULT_CB})
    );
    assert_eq!(
        bodies[1]["callback_url"], "https://mine.test/cb",
        "an item's own callback wins"
    );
    assert_eq!(
        bodies[2]["geometries"],
        json!({"box": {}}),
        "params merge into the body"
    );
    for r in &reqs[1..] {
        assert_req(r, "POST", "/task/imageannotation", body_of(r));
    }
    assert_eq!(
        counts(&notes),
        json!({"total": 3, "created": 3, "already_existed": 0, "failed": 0, "not_done": 0})
    );
}

#[test]
fn a_repeated_call_finds_every_item_and_creates_none() {
    let cfg = config();
    let up = FakeUpstream::new();
    let store = Store::default();
    store.serve(&up);
    let (first, _, _) = run_in(&cfg, &up, args(30));
    assert_eq!(first["created"], 30);
    let before = up.requests.borrow().len();
    let (again, reports, _) = run_in(&cfg, &up, args(30));
    assert_eq!(again["complete"], true);
    assert_eq!(
        (again["created"].as_u64(), again["already_existed"].as_u64()),
        (Some(0), Some(30))
    );
    assert_eq!(outcomes(&again), ["already_existed"; 30]);
    for (a, b) in first["items"]
        .as_array()
        .unwrap()
        .iter()
        .zip(again["items"].as_array().unwrap())
    {
        assert_eq!(a["task_id"], b["task_id"]);
        assert_eq!(b["task_status"], "pending");
    }
    assert_eq!(
        up.requests.borrow().len() - before,
        1,
        "one lookup and no create"
    );
    assert_eq!(store.tasks.borrow().len(), 30);
    assert_eq!(reports.len(), 1);
    assert_eq!((reports[0].progress, reports[0].total), (30.0, Some(30.0)));
    // The same items in another order are the same tasks.
    let mut reordered = args(30);
    reordered["items"].as_array_mut().unwrap().reverse();
    let (v, _, _) = run_in(&cfg, &up, reordered);
    assert_eq!(v["already_existed"], 30);
    assert_eq!(store.tasks.borrow().len(), 30);
}

#[test]
fn a_409_fetches_the_task_and_checks_it_is_the_same() {
    let cfg = config();
    let up = FakeUpstream::new();
    let store = Store::default();
    store.serve(&up);
    // Created by another call between this call's lookup and its create:
    // the lookup misses it, the create gets 409, the fetch finds it.
    let (_, items) = {
        let cx = Ctx::full_access(cfg.clone(), services(&up, None));
        let Ok(a) = <CreateTasks as crate::tools::args::Args>::from_map(
            args(2).as_object().unwrap().clone(),
        ) else {
            panic!("valid arguments")
        };
        prepare(&cx, a).unwrap()
    };
    let same = json!({"task_id": "raced", "type": "imageannotation", "project": "p", "status": "pending",
        "params": {"attachment": "https://img.test/0.jpg"}, "metadata": {"i": 0}, "unique_id": items[0].unique_id});
    let other = json!({"task_id": "stranger", "type": "imageannotation", "project": "elsewhere", "status": "completed",
        "params": {"attachment": "https://img.test/9.jpg"}, "metadata": {"i": 1}, "unique_id": items[1].unique_id});
    up.push_json(200, json!({"docs": []}));
    store.tasks.borrow_mut().extend([same, other]);
    let (v, _, _) = run_in(&cfg, &up, args(2));
    assert_eq!(outcomes(&v), ["already_existed", "failed"], "{v}");
    assert_eq!(v["items"][0]["task_id"], "raced");
    assert_eq!(v["items"][1]["scale_status"], 409);
    let e = v["items"][1]["error"].as_str().unwrap();
    assert!(
        e.contains("belongs to task stranger, which differs from this item (project, attachment)"),
        "{e}"
    );
    assert_eq!(v["complete"], false);
    assert!(
        v["next_step"]
            .as_str()
            .unwrap()
            .starts_with("1 items failed"),
        "{v}"
    );
    let reqs = up.sent();
    assert_eq!(
        reqs.len(),
        1 + 2 * 2,
        "lookup, then a create and a fetch per item"
    );
    let fetches: Vec<&str> = reqs
        .iter()
        .filter(|r| r.url.ends_with("&limit=1"))
        .map(|r| r.url.as_str())
        .collect();
    assert_eq!(fetches.len(), 2);
    // Found by the lookup but different: failed without a create.
    let up = FakeUpstream::new();
    let store = Store::default();
    store.serve(&up);
    let mut changed = args(1);
    changed["items"][0]["unique_id"] = json!("taken");
    store
        .tasks
        .borrow_mut()
        .push(json!({"task_id": "x", "type": "categorization", "unique_id": "taken"}));
    let (v, _, _) = run_in(&cfg, &up, changed);
    assert_eq!(outcomes(&v), ["failed"]);
    assert!(
        v["items"][0]["error"].as_str().unwrap().contains("(type)"),
        "{v}"
    );
    assert_eq!(up.requests.borrow().len(), 1);
}

#[test]
fn failures_are_reported_per_item_with_scales_status_and_message() {
    let cfg = config();
    let up = FakeUpstream::new();
    let store = Store::default();
    store
        .fail
        .borrow_mut()
        .push(("https://img.test/37.jpg".into(), 400));
    store
        .fail
        .borrow_mut()
        .push(("https://img.test/5.jpg".into(), 503));
    store.serve(&up);
    let (v, _, notes) = run_in(&cfg, &up, args(40));
    assert_eq!(
        (v["created"].as_u64(), v["failed"].as_u64()),
        (Some(38), Some(2)),
        "{v}"
    );
    let item = &v["items"][37];
    assert_eq!(
        (item["outcome"].as_str(), item["scale_status"].as_u64()),
        (Some("failed"), Some(400))
    );
    assert!(
        item["error"].as_str().unwrap().starts_with(
            "Scale returned 400 Bad Request for POST /task/imageannotation: simulated failure"
        ),
        "{item}"
    );
    assert_eq!(v["items"][5]["scale_status"], 503);
    // A 503 is retried (the unique_id makes a repeat harmless), a 400 is not.
    let creates_of = |n: &str| {
        up.sent()
            .iter()
            .filter(|r| r.body.as_deref().is_some_and(|b| b.contains(n)))
            .count()
    };
    assert_eq!((creates_of("/37.jpg"), creates_of("/5.jpg")), (1, 3));
    assert_eq!(
        counts(&notes),
        json!({"total": 40, "created": 38, "already_existed": 0, "failed": 2, "not_done": 0})
    );
}

#[test]
fn the_subrequest_limit_stops_cleanly_and_the_same_call_continues() {
    let cfg = config_with(&[("SUBREQUEST_LIMIT", "10")]);
    let up = FakeUpstream::new();
    let store = Store::default();
    store.serve(&up);
    let (v, reports, notes) = run_in(&cfg, &up, args(25));
    assert_eq!(up.requests.borrow().len(), 10, "never past the limit");
    assert_eq!(
        (v["created"].as_u64(), v["not_done"].as_u64()),
        (Some(9), Some(16)),
        "{v}"
    );
    assert_eq!(v["complete"], false);
    let next = v["next_step"].as_str().unwrap();
    assert!(next.contains("16 of 25 items not done: this request may make at most 10 Scale requests (SUBREQUEST_LIMIT)"), "{next}");
    assert!(
        next.contains("Call create_tasks again with the same arguments"),
        "{next}"
    );
    assert_eq!(
        counts(&notes),
        json!({"total": 25, "created": 9, "already_existed": 0, "failed": 0, "not_done": 16})
    );
    // Progress grows by one per finished item; items not done report nothing.
    let p: Vec<f64> = reports.iter().map(|r| r.progress).collect();
    assert_eq!(p, (0..=9).map(|n| n as f64).collect::<Vec<_>>());
    // Two more calls, each in a request of its own, finish the rest.
    let (v, _, _) = run_in(&cfg, &up, args(25));
    assert_eq!(
        (
            v["already_existed"].as_u64(),
            v["created"].as_u64(),
            v["not_done"].as_u64()
        ),
        (Some(9), Some(9), Some(7))
    );
    let (v, _, _) = run_in(&cfg, &up, args(25));
    assert_eq!(
        (
            v["already_existed"].as_u64(),
            v["created"].as_u64(),
            v["complete"].as_bool()
        ),
        (Some(18), Some(7), Some(true))
    );
    assert_eq!(store.tasks.borrow().len(), 25, "each task once");
}

#[test]
fn a_spent_request_budget_refuses_before_the_lookup() {
    let cfg = config();
    let up = FakeUpstream::new();
    let cx = Ctx::full_access(cfg, services(&up, None));
    up.advance(60_000);
    let r = block_on(call(
        &cx,
        "create_tasks",
        args(2).as_object().unwrap().clone(),
    ))
    .unwrap();
    let e = r.unwrap_err();
    assert!(
        e.message
            .starts_with("Could not check which tasks already exist, so none was created."),
        "{}",
        e.message
    );
    assert!(up.requests.borrow().is_empty());
}

/// An upstream whose answers take a few polls, counting requests open at once.
struct Slow {
    inner: FakeUpstream,
    open: Rc<Cell<usize>>,
    most: Rc<Cell<usize>>,
}

impl Upstream for Slow {
    fn send<'a>(
        &'a self,
        req: &'a OutRequest,
        t: u32,
    ) -> BoxFut<'a, Result<InResponse, SendError>> {
        Box::pin(async move {
            self.open.set(self.open.get() + 1);
            self.most.set(self.most.get().max(self.open.get()));
            for _ in 0..3 {
                let mut yielded = false;
                std::future::poll_fn(|cx| {
                    if yielded {
                        std::task::Poll::Ready(())
                    } else {
                        yielded = true;
                        cx.waker().wake_by_ref();
                        std::task::Poll::Pending
                    }
                })
                .await;
            }
            let r = self.inner.send(req, t).await;
            self.open.set(self.open.get() - 1);
            r
        })
    }
    fn sleep(&self, ms: u32) -> BoxFut<'_, ()> {
        self.inner.sleep(ms)
    }
    fn now_ms(&self) -> u64 {
        self.inner.now_ms()
    }
}

#[test]
fn never_more_than_six_requests_at_once() {
    let up = FakeUpstream::new();
    let store = Store::default();
    store.serve(&up);
    let slow = Slow {
        inner: up.clone(),
        open: Rc::default(),
        most: Rc::default(),
    };
    let most = slow.most.clone();
    let sv = crate::io::Services {
        upstream: Rc::new(slow),
        store: None,
        limiter: None,
        auth_limiter: None,
        oauth: None,
        crypto: Rc::new(crate::io::fakes::FakeCrypto::default()),
        jobs: None,
    };
    let cx = Ctx::full_access(config(), sv);
    let r = block_on(call(
        &cx,
        "create_tasks",
        args(40).as_object().unwrap().clone(),
    ))
    .unwrap();
    assert!(r.is_ok());
    assert_eq!(store.tasks.borrow().len(), 40);
    assert_eq!(most.get(), MAX_OPEN_CONNECTIONS, "six at a time, no more");
}
