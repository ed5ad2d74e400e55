//! Native tests of the task tools: the exact Scale request of each, default
//! callbacks and `params` collisions, retries and their limits, failed
//! update steps, and the shaping and trimming of task lists.

use super::*;
use crate::tools::testing::*;

#[test]
fn create_task_sends_every_field_with_params_merged() {
    let task = json!({"task_id": "t1", "status": "pending"});
    let (r, reqs) = run(
        "create_task",
        json!({
            "type": "imageannotation",
            "project": "proj",
            "batch": "b1",
            "instruction": "Draw boxes",
            "callback_url": "https://cb.test/x",
            "attachment": "https://img.test/1.jpg",
            "attachment_type": "image",
            "unique_id": "u-1",
            "metadata": {"k": "v", "n": [1, 2]},
            "tags": ["split:train", "x"],
            "params": {"geometries": {"box": {"objects_to_annotate": ["car"]}}, "context_attachments": [{"attachment": "a"}]},
        }),
        task.clone(),
    );
    assert_eq!(ok(&r), task);
    assert_eq!(reqs.len(), 1);
    assert_req(
        &reqs[0],
        "POST",
        "/task/imageannotation",
        Some(json!({
            "project": "proj",
            "batch": "b1",
            "instruction": "Draw boxes",
            "callback_url": "https://cb.test/x",
            "attachment": "https://img.test/1.jpg",
            "attachment_type": "image",
            "unique_id": "u-1",
            "metadata": {"k": "v", "n": [1, 2]},
            "tags": ["split:train", "x"],
            "geometries": {"box": {"objects_to_annotate": ["car"]}},
            "context_attachments": [{"attachment": "a"}],
        })),
    );
}

#[test]
fn create_task_minimal_and_nulls_are_not_sent() {
    let (r, reqs) = run(
        "create_task",
        json!({"type": "categorization", "project": null, "tags": null}),
        json!({"task_id": "t"}),
    );
    ok(&r);
    assert_eq!(reqs.len(), 1);
    assert_req(&reqs[0], "POST", "/task/categorization", Some(json!({})));
}

#[test]
fn create_task_uses_default_callback_url_only_when_none_given() {
    let cfg = config_with(&[("DEFAULT_CALLBACK_URL", DEFAULT_CB)]);
    let up = FakeUpstream::new();
    up.respond_with(|_| Ok(json_response(200, &json!({"task_id": "t"}))));
    ok(&exec(
        &cfg,
        &up,
        None,
        "create_task",
        json!({"type": "textcollection", "project": "p"}),
    ));
    ok(&exec(
        &cfg,
        &up,
        None,
        "create_task",
        json!({"type": "textcollection", "project": "p", "callback_url": "me@x.test"}),
    ));
    let reqs = up.sent();
    assert_req(
        &reqs[0],
        "POST",
        "/task/textcollection",
        Some(json!({"project": "p", "callback_url": DEFAULT_CB})),
    );
    assert_req(
        &reqs[1],
        "POST",
        "/task/textcollection",
        Some(json!({"project": "p", "callback_url": "me@x.test"})),
    );
    // Without the setting, nothing is added.
    let (_, reqs) = run("create_task", json!({"type": "textcollection"}), json!({}));
    assert_eq!(body_of(&reqs[0]), Some(json!({})));
}

#[test]
fn create_task_params_colliding_with_an_argument_are_refused() {
    invalid(
        "create_task",
        json!({"type": "imageannotation", "project": "p", "params": {"project": "q"}}),
        &["`params.project` duplicates the `project` argument"],
    );
    invalid(
        "create_task",
        json!({"type": "imageannotation", "params": {"type": "categorization"}}),
        &["`params.type` duplicates the `type` argument"],
    );
    invalid(
        "create_task",
        json!({"type": "imageannotation", "unique_id": "u", "params": {"unique_id": "v"}}),
        &["`params.unique_id`"],
    );
}

#[test]
fn create_evaluation_task_request() {
    let (r, reqs) = run(
        "create_evaluation_task",
        json!({
            "type": "imageannotation",
            "expected_response": {"annotations": [{"label": "car"}]},
            "initial_response": {"annotations": []},
            "project": "rapid-p",
            "batch": "b",
            "params": {"attachment": "https://img.test/1.jpg", "geometries": {}},
        }),
        json!({"id": "ev1"}),
    );
    assert_eq!(ok(&r), json!({"id": "ev1"}));
    assert_eq!(reqs.len(), 1);
    assert_req(
        &reqs[0],
        "POST",
        "/evaluation_tasks/imageannotation",
        Some(json!({
            "expected_response": {"annotations": [{"label": "car"}]},
            "initial_response": {"annotations": []},
            "project": "rapid-p",
            "batch": "b",
            "attachment": "https://img.test/1.jpg",
            "geometries": {},
        })),
    );
    // No default callback is added to evaluation tasks.
    let cfg = config_with(&[("DEFAULT_CALLBACK_URL", DEFAULT_CB)]);
    let up = FakeUpstream::new();
    up.respond_with(|_| Ok(json_response(200, &json!({"id": "e"}))));
    ok(&exec(
        &cfg,
        &up,
        None,
        "create_evaluation_task",
        json!({"type": "textcollection", "expected_response": {}}),
    ));
    assert_req(
        &up.sent()[0],
        "POST",
        "/evaluation_tasks/textcollection",
        Some(json!({"expected_response": {}})),
    );
    invalid(
        "create_evaluation_task",
        json!({"type": "imageannotation", "expected_response": {}, "params": {"expected_response": {}}}),
        &["`params.expected_response` duplicates"],
    );
    invalid(
        "create_evaluation_task",
        json!({"type": "imageannotation", "expected_response": {}, "batch": "b", "params": {"batch": "c"}}),
        &["`params.batch` duplicates"],
    );
}

#[test]
fn get_task_request() {
    let (r, reqs) = run(
        "get_task",
        json!({"task_id": "5f1e2d"}),
        json!({"task_id": "5f1e2d", "status": "completed", "response": {"x": 1}}),
    );
    assert_eq!(
        ok(&r),
        json!({"task_id": "5f1e2d", "status": "completed", "response": {"x": 1}})
    );
    assert_eq!(reqs.len(), 1);
    assert_req(&reqs[0], "GET", "/task/5f1e2d", None);
}

#[test]
fn list_tasks_default_sends_limit_10() {
    let (r, reqs) = run("list_tasks", json!({}), json!({"docs": []}));
    ok(&r);
    assert_eq!(reqs.len(), 1);
    assert_req(&reqs[0], "GET", "/tasks?limit=10", None);
}

#[test]
fn list_tasks_maps_every_argument() {
    let (r, reqs) = run(
        "list_tasks",
        json!({
            "project": "my project",
            "batch": "b/1",
            "status": "completed",
            "type": "imageannotation",
            "tags": ["a", "b c", "k:v"],
            "unique_id": "u&1",
            "customer_review_status": ["accepted", "fixed"],
            "created_after": "2026-01-01",
            "created_before": "2026-01-31T12:00:00Z",
            "completed_after": "2026-01-02",
            "completed_before": "2026-01-03T00:00:00+02:00",
            "updated_after": "2026-01-04",
            "updated_before": "2026-01-05",
            "limit": 100,
            "next_token": "tok=1",
            "limited_response": true,
            "include_attachment_url": false,
        }),
        json!({"docs": []}),
    );
    ok(&r);
    assert_eq!(reqs.len(), 1);
    assert_req(
        &reqs[0],
        "GET",
        "/tasks?project=my%20project&batch=b%2F1&status=completed&type=imageannotation\
&tags=a&tags=b%20c&tags=k%3Av&unique_id=u%261&customer_review_status=accepted%2Cfixed\
&start_time=2026-01-01&end_time=2026-01-31T12%3A00%3A00Z\
&completed_after=2026-01-02&completed_before=2026-01-03T00%3A00%3A00%2B02%3A00\
&updated_after=2026-01-04&updated_before=2026-01-05\
&limit=100&next_token=tok%3D1&limited_response=true&include_attachment_url=false",
        None,
    );
}

#[test]
fn list_tasks_small_variants() {
    let (_, reqs) = run(
        "list_tasks",
        json!({"customer_review_status": ["pending"], "limit": 1, "tags": []}),
        json!({}),
    );
    assert_req(
        &reqs[0],
        "GET",
        "/tasks?customer_review_status=pending&limit=1",
        None,
    );
    // An integral float is an integer.
    let (_, reqs) = run("list_tasks", json!({"limit": 25.0}), json!({}));
    assert_req(&reqs[0], "GET", "/tasks?limit=25", None);
}

#[test]
fn cancel_task_requests() {
    let (r, reqs) = run(
        "cancel_task",
        json!({"task_id": "t1"}),
        json!({"task_id": "t1", "status": "canceled"}),
    );
    assert_eq!(ok(&r)["status"], "canceled");
    assert_req(&reqs[0], "POST", "/task/t1/cancel", None);
    let (_, reqs) = run(
        "cancel_task",
        json!({"task_id": "t1", "clear_unique_id": true}),
        json!({}),
    );
    assert_req(
        &reqs[0],
        "POST",
        "/task/t1/cancel?clear_unique_id=true",
        None,
    );
    let (_, reqs) = run(
        "cancel_task",
        json!({"task_id": "t1", "clear_unique_id": false}),
        json!({}),
    );
    assert_req(&reqs[0], "POST", "/task/t1/cancel", None);
}

#[test]
fn cancel_task_400_explains_pending_only_and_is_not_retried() {
    let up = FakeUpstream::new();
    up.respond_with(|_| {
        Ok(json_response(
            400,
            &json!({"status_code": 400, "error": "Task is not pending"}),
        ))
    });
    let t = err(&run_on(&up, "cancel_task", json!({"task_id": "t1"})));
    assert!(
        t.contains("Scale returned 400 Bad Request for POST /task/t1/cancel: Task is not pending"),
        "{t}"
    );
    assert!(t.contains("Only pending tasks can be canceled"), "{t}");
    // The tool's hint replaces the general one for the status.
    assert_eq!(t.matches("Hint: ").count(), 1, "{t}");
    assert!(!t.contains(crate::tools::error::hint(400)), "{t}");
    assert_eq!(up.requests.borrow().len(), 1);
    // Cancels are sent once, even on a 503.
    let up = FakeUpstream::new();
    up.respond_with(|_| Ok(json_response(503, &json!({"error": "x"}))));
    err(&run_on(&up, "cancel_task", json!({"task_id": "t1"})));
    assert_eq!(up.requests.borrow().len(), 1);
}

#[test]
fn update_task_runs_every_step_in_order() {
    let up = FakeUpstream::new();
    up.respond_with(|req| {
        Ok(json_response(
            200,
            &json!({"task_id": "t1", "step": format!("{} {}", req.method.as_str(), req.url)}),
        ))
    });
    let r = run_on(
        &up,
        "update_task",
        json!({
            "task_id": "t1",
            "unique_id": "new-u",
            "remove_tags": ["old"],
            "add_tags": ["a", "b"],
            "metadata": {"k": {"nested": true}},
        }),
    );
    let reqs = up.sent();
    assert_eq!(reqs.len(), 4);
    assert_req(
        &reqs[0],
        "POST",
        "/task/t1/setMetadata",
        Some(json!({"k": {"nested": true}})),
    );
    assert_req(&reqs[1], "PUT", "/task/t1/tags", Some(json!(["a", "b"])));
    assert_req(&reqs[2], "DELETE", "/task/t1/tags", Some(json!(["old"])));
    assert_req(
        &reqs[3],
        "POST",
        "/task/t1/unique_id",
        Some(json!({"unique_id": "new-u"})),
    );
    // The result is the answer of the last step.
    assert_eq!(
        ok(&r),
        json!({"task_id": "t1", "step": "POST https://api.test/v1/task/t1/unique_id"})
    );

    let (r, reqs) = run(
        "update_task",
        json!({"task_id": "t1", "set_tags": ["x"], "clear_unique_id": true}),
        json!({"task_id": "t1"}),
    );
    ok(&r);
    assert_eq!(reqs.len(), 2);
    assert_req(&reqs[0], "POST", "/task/t1/tags", Some(json!(["x"])));
    assert_req(&reqs[1], "DELETE", "/task/t1/unique_id", None);

    // An empty metadata object is a valid replacement; an empty tag list too.
    let (_, reqs) = run(
        "update_task",
        json!({"task_id": "t1", "metadata": {}, "set_tags": []}),
        json!({}),
    );
    assert_req(&reqs[0], "POST", "/task/t1/setMetadata", Some(json!({})));
    assert_req(&reqs[1], "POST", "/task/t1/tags", Some(json!([])));
}

#[test]
fn update_task_plain_ok_answer_becomes_an_object() {
    let up = FakeUpstream::new();
    up.respond_with(|_| Ok(text_response(200, "text/plain", "OK")));
    let r = run_on(
        &up,
        "update_task",
        json!({"task_id": "t1", "clear_unique_id": true}),
    );
    assert_eq!(ok(&r), json!({"ok": true}));
}

#[test]
fn resend_callback_request_and_plain_ok() {
    let up = FakeUpstream::new();
    up.respond_with(|_| Ok(text_response(200, "text/plain; charset=utf-8", "OK")));
    let r = run_on(&up, "resend_callback", json!({"task_id": "t1"}));
    assert_eq!(ok(&r), json!({"ok": true}));
    let reqs = up.sent();
    assert_eq!(reqs.len(), 1);
    assert_req(&reqs[0], "POST", "/task/t1/send-callback", None);

    let (r, _) = run(
        "resend_callback",
        json!({"task_id": "t1"}),
        json!({"sent": true}),
    );
    assert_eq!(ok(&r), json!({"sent": true}));

    let up = FakeUpstream::new();
    up.respond_with(|_| Ok(json_response(400, &json!({"error": "no callback_url"}))));
    let t = err(&run_on(&up, "resend_callback", json!({"task_id": "t1"})));
    assert!(t.contains("no callback_url"), "{t}");
    assert!(t.contains("only for completed or errored tasks"), "{t}");
    assert_eq!(up.requests.borrow().len(), 1);
}

fn task(i: usize, extra: Value) -> Value {
    let mut t = json!({
        "task_id": format!("task-{i:03}"),
        "status": "completed",
        "type": "imageannotation",
        "project": "p",
        "metadata": {"i": i},
        "tags": ["x"],
        "params": {"attachment": format!("https://img.test/{i}.jpg")},
    });
    for (k, v) in extra.as_object().unwrap() {
        t[k] = v.clone();
    }
    t
}

#[test]
fn list_tasks_shape() {
    let docs: Vec<Value> = (0..3).map(|i| task(i, json!({}))).collect();
    let (r, _) = run(
        "list_tasks",
        json!({}),
        json!({"docs": docs, "total": 42, "has_more": true, "next_token": "nt", "limit": 3, "offset": 0}),
    );
    assert_eq!(
        ok(&r),
        json!({"tasks": docs, "total": 42, "has_more": true, "next_token": "nt"})
    );
    // Without has_more, the token decides; an empty token is none.
    let (r, _) = run(
        "list_tasks",
        json!({}),
        json!({"docs": [], "next_token": "x"}),
    );
    assert_eq!(
        ok(&r),
        json!({"tasks": [], "total": null, "has_more": true, "next_token": "x"})
    );
    let (r, _) = run(
        "list_tasks",
        json!({}),
        json!({"docs": [], "next_token": "", "total": "many"}),
    );
    assert_eq!(
        ok(&r),
        json!({"tasks": [], "total": null, "has_more": false, "next_token": null})
    );
    // A plain OK (no body) is an empty page.
    let up = FakeUpstream::new();
    up.respond_with(|_| Ok(text_response(200, "text/plain", "")));
    assert_eq!(
        ok(&run_on(&up, "list_tasks", json!({}))),
        json!({"tasks": [], "total": null, "has_more": false, "next_token": null})
    );
}

#[test]
fn large_task_lists_drop_heavy_fields() {
    let big = "r".repeat(3000);
    let docs: Vec<Value> = (0..100)
        .map(|i| task(i, json!({"response": {"annotations": [big.clone()]}})))
        .collect();
    let (r, _) = run(
        "list_tasks",
        json!({"limit": 100}),
        json!({"docs": docs, "total": 100, "has_more": false}),
    );
    let s = ok(&r);
    let text = r["content"][0]["text"].as_str().unwrap();
    assert!(text.len() <= MAX_TEXT_BYTES, "{}", text.len());
    let tasks = s["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 100);
    for (i, t) in tasks.iter().enumerate() {
        assert_eq!(
            *t,
            json!({"task_id": format!("task-{i:03}"), "status": "completed", "type": "imageannotation",
                   "project": "p", "metadata": {"i": i}, "tags": ["x"]})
        );
    }
    assert_eq!(s["truncated"]["dropped"], json!(["response", "params"]));
    assert!(s["truncated"]["how_to_get_full_items"]
        .as_str()
        .unwrap()
        .contains("get_task"));
    assert_eq!(s["total"], 100);
}

#[test]
fn very_large_task_lists_keep_only_identifying_fields() {
    let big = "i".repeat(3000);
    let docs: Vec<Value> = (0..100)
        .map(|i| {
            task(
                i,
                json!({"instruction": big.clone(), "callback_url": "https://cb.test"}),
            )
        })
        .collect();
    let (r, _) = run("list_tasks", json!({"limit": 100}), json!({"docs": docs}));
    let s = ok(&r);
    assert!(r["content"][0]["text"].as_str().unwrap().len() <= MAX_TEXT_BYTES);
    for (i, t) in s["tasks"].as_array().unwrap().iter().enumerate() {
        assert_eq!(
            *t,
            json!({"task_id": format!("task-{i:03}"), "status": "completed", "type": "imageannotation",
                   "project": "p", "metadata": {"i": i}, "tags": ["x"]})
        );
    }
    assert_eq!(
        s["truncated"]["dropped"],
        json!(["all fields but the identifying ones"])
    );
}

#[test]
fn small_lists_are_not_trimmed() {
    let docs: Vec<Value> = (0..10)
        .map(|i| task(i, json!({"response": {"x": "y"}})))
        .collect();
    let (r, _) = run("list_tasks", json!({}), json!({"docs": docs.clone()}));
    let s = ok(&r);
    assert!(s.get("truncated").is_none());
    assert_eq!(s["tasks"], Value::Array(docs));
}

#[test]
fn create_task_409_with_unique_id_points_to_list_tasks() {
    let up = FakeUpstream::new();
    up.respond_with(|_| {
        Ok(json_response(
            409,
            &json!({"status_code": 409, "error": "The unique_id is already used"}),
        ))
    });
    let t = err(&run_on(
        &up,
        "create_task",
        json!({"type": "imageannotation", "unique_id": "img-42"}),
    ));
    assert!(t.starts_with("Scale returned 409 Conflict for POST /task/imageannotation: The unique_id is already used"), "{t}");
    assert!(
        t.contains("fetch it with list_tasks {\"unique_id\": \"img-42\"}"),
        "{t}"
    );
    assert!(t.contains("clear_unique_id"), "{t}");
    assert_eq!(up.requests.borrow().len(), 1, "no fetch after a plain 409");

    // Without unique_id a 409 gets no such advice.
    let up = FakeUpstream::new();
    up.respond_with(|_| Ok(json_response(409, &json!({"error": "dup"}))));
    let t = err(&run_on(
        &up,
        "create_task",
        json!({"type": "imageannotation"}),
    ));
    assert!(!t.contains("list_tasks"), "{t}");
}

#[test]
fn create_task_402_says_the_type_is_not_enabled() {
    let up = FakeUpstream::new();
    up.respond_with(|_| {
        Ok(json_response(
            402,
            &json!({"status_code": 402, "error": "Task type lidarannotation not enabled"}),
        ))
    });
    let t = err(&run_on(
        &up,
        "create_task",
        json!({"type": "lidarannotation"}),
    ));
    assert!(t.contains("402 Payment Required for POST /task/lidarannotation: Task type lidarannotation not enabled"), "{t}");
    assert!(t.contains("not enabled for the Scale account"), "{t}");
}

#[test]
fn get_task_is_retried_on_503() {
    let up = FakeUpstream::new();
    up.push_json(503, json!({"status_code": 503, "error": "queue timeout"}));
    up.push_json(200, json!({"task_id": "t1"}));
    let r = run_on(&up, "get_task", json!({"task_id": "t1"}));
    assert_eq!(ok(&r), json!({"task_id": "t1"}));
    let reqs = up.sent();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0], reqs[1]);
    assert_eq!(*up.sleeps.borrow(), vec![500]);
}

#[test]
fn get_task_timeouts_stop_at_the_call_budget() {
    let up = FakeUpstream::new();
    up.respond_with(|_| Err(SendError::Timeout(25_000)));
    let t = err(&run_on(&up, "get_task", json!({"task_id": "t1"})));
    // 25 s + 0.5 s + 24.5 s uses the whole 50 s budget: two attempts.
    assert_eq!(*up.timeouts.borrow(), vec![25_000, 24_500]);
    assert!(
        t.contains("did not answer GET /task/t1 within 24500 ms"),
        "{t}"
    );
    assert!(t.contains("SCALE_TIMEOUT_MS"), "{t}");
}

#[test]
fn create_task_without_unique_id_is_sent_once() {
    let up = FakeUpstream::new();
    up.push_json(503, json!({"status_code": 503, "error": "busy"}));
    up.push_json(200, json!({"task_id": "dup"}));
    let t = err(&run_on(
        &up,
        "create_task",
        json!({"type": "imageannotation", "project": "p"}),
    ));
    assert!(
        t.starts_with(
            "Scale returned 503 Service Unavailable for POST /task/imageannotation: busy"
        ),
        "{t}"
    );
    assert_eq!(up.requests.borrow().len(), 1);
    assert!(up.sleeps.borrow().is_empty());
    // Nor after a timeout or a network error.
    for e in [
        SendError::Timeout(25_000),
        SendError::Network("reset".into()),
    ] {
        let up = FakeUpstream::new();
        up.push(Err(e));
        let t = err(&run_on(
            &up,
            "create_task",
            json!({"type": "imageannotation"}),
        ));
        assert!(t.contains("A write may still have been applied"), "{t}");
        assert_eq!(up.requests.borrow().len(), 1);
    }
}

#[test]
fn create_task_with_unique_id_recovers_after_503_then_409() {
    let found = json!({"task_id": "t-found", "unique_id": "u/1", "status": "pending"});
    let up = FakeUpstream::new();
    up.push_json(503, json!({"status_code": 503, "error": "busy"}));
    up.push_json(
        409,
        json!({"status_code": 409, "error": "unique_id already exists"}),
    );
    up.push_json(
        200,
        json!({"docs": [found.clone()], "total": 1, "has_more": false}),
    );
    let r = run_on(
        &up,
        "create_task",
        json!({"type": "categorization", "unique_id": "u/1", "project": "p"}),
    );
    assert_eq!(ok(&r), found);
    let reqs = up.sent();
    assert_eq!(reqs.len(), 3);
    let body = json!({"unique_id": "u/1", "project": "p"});
    assert_req(&reqs[0], "POST", "/task/categorization", Some(body.clone()));
    assert_req(&reqs[1], "POST", "/task/categorization", Some(body));
    assert_req(&reqs[2], "GET", "/tasks?unique_id=u%2F1&limit=1", None);
}

#[test]
fn create_task_with_unique_id_retries_503_to_success() {
    let up = FakeUpstream::new();
    up.push_json(502, json!({"error": "bad gateway"}));
    up.push_json(200, json!({"task_id": "t"}));
    let r = run_on(
        &up,
        "create_task",
        json!({"type": "categorization", "unique_id": "u"}),
    );
    assert_eq!(ok(&r), json!({"task_id": "t"}));
    assert_eq!(up.requests.borrow().len(), 2);
}

#[test]
fn update_task_failure_lists_applied_steps_and_stops() {
    let up = FakeUpstream::new();
    route(&up, |m, path| match (m, path) {
        (Method::Post, "/task/t1/setMetadata") => (200, json!({"task_id": "t1"})),
        (Method::Post, "/task/t1/tags") => (
            400,
            json!({"status_code": 400, "error": "tags must be strings"}),
        ),
        _ => panic!("step after the failure was sent: {path}"),
    });
    let t = err(&run_on(
        &up,
        "update_task",
        json!({"task_id": "t1", "metadata": {"a": 1}, "set_tags": ["x"], "unique_id": "u"}),
    ));
    assert!(t.starts_with("Step `set_tags` failed. Scale returned 400 Bad Request for POST /task/t1/tags: tags must be strings"), "{t}");
    assert!(
        t.ends_with("\nSteps applied before the failure: metadata."),
        "{t}"
    );
    assert_eq!(up.requests.borrow().len(), 2);
}

#[test]
fn update_task_failure_after_retries_and_on_first_step() {
    let up = FakeUpstream::new();
    route(&up, |m, path| match (m, path) {
        (Method::Post, "/task/t1/setMetadata") => (200, json!({})),
        (Method::Put, "/task/t1/tags") => (200, json!({})),
        (Method::Delete, "/task/t1/tags") => (503, json!({"error": "down"})),
        _ => panic!("unexpected {path}"),
    });
    let t = err(&run_on(
        &up,
        "update_task",
        json!({"task_id": "t1", "metadata": {}, "add_tags": ["a"], "remove_tags": ["b"], "clear_unique_id": true}),
    ));
    assert!(
        t.starts_with("Step `remove_tags` failed. Scale returned 503"),
        "{t}"
    );
    assert!(
        t.ends_with("\nSteps applied before the failure: metadata, add_tags."),
        "{t}"
    );
    // Steps are idempotent: the failing one was tried three times.
    assert_eq!(up.requests.borrow().len(), 2 + 3);

    let up = FakeUpstream::new();
    up.respond_with(|_| Ok(json_response(404, &json!({"error": "Task not found"}))));
    let t = err(&run_on(
        &up,
        "update_task",
        json!({"task_id": "t9", "unique_id": "u", "add_tags": ["a"]}),
    ));
    assert!(t.starts_with("Step `add_tags` failed. Scale returned 404 Not Found for PUT /task/t9/tags: Task not found"), "{t}");
    assert!(t.ends_with("\nNo step was applied."), "{t}");
    assert_eq!(up.requests.borrow().len(), 1);

    // Setting a unique_id is sent once: a repeat after an unseen success would be a 409.
    let up = FakeUpstream::new();
    up.respond_with(|_| Ok(json_response(503, &json!({"error": "down"}))));
    let t = err(&run_on(
        &up,
        "update_task",
        json!({"task_id": "t9", "unique_id": "u"}),
    ));
    assert!(
        t.starts_with("Step `unique_id` failed. Scale returned 503"),
        "{t}"
    );
    assert_eq!(up.requests.borrow().len(), 1);
}

#[test]
fn task_lists_pass_tasks_through_untouched() {
    for (body, want) in [
        (
            r#"{"docs": [{"task_id": "a", "z": 1}, {"task_id": "b"}], "total": 2, "has_more": true, "next_token": "n", "limit": 2}"#,
            json!({"tasks": [{"task_id": "a", "z": 1}, {"task_id": "b"}], "total": 2, "has_more": true, "next_token": "n"}),
        ),
        (
            r#"{"docs": [], "next_token": ""}"#,
            json!({"tasks": [], "total": null, "has_more": false, "next_token": null}),
        ),
        (
            r#"{"docs": [{"task_id": "a"}], "next_token": "t"}"#,
            json!({"tasks": [{"task_id": "a"}], "total": null, "has_more": true, "next_token": "t"}),
        ),
        (
            r#"{"docs": {}}"#,
            json!({"tasks": [], "total": null, "has_more": false, "next_token": null}),
        ),
        (
            "[]",
            json!({"tasks": [], "total": null, "has_more": false, "next_token": null}),
        ),
    ] {
        assert_eq!(
            serde_json::from_str::<Value>(task_list_text(body).unwrap().get()).unwrap(),
            want,
            "{body}"
        );
    }
    // Numbers keep Scale's exact digits, on the fast path and when trimming.
    let lon = "-122.33460583334325";
    let small = format!(r#"{{"docs": [{{"task_id": "a", "metadata": {{"lon": {lon}}}}}]}}"#);
    assert!(task_list_text(&small).unwrap().get().contains(lon));
    assert!(task_list_text("{\"docs\": [1,").is_none(), "not JSON");
    let big_docs: Vec<String> = (0..100)
        .map(|i| {
            format!(
                r#"{{"task_id": "t{i}", "metadata": {{"lon": {lon}}}, "response": "{}"}}"#,
                "x".repeat(3000)
            )
        })
        .collect();
    let big = format!(r#"{{"docs": [{}], "total": 100}}"#, big_docs.join(","));
    let out = task_list_text(&big).unwrap().get().to_string();
    assert!(out.len() <= MAX_TEXT_BYTES && out.contains(lon));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["truncated"]["dropped"], json!(["response", "params"]));
    // The same answer re-serialised (keys reordered, spacing gone) shapes alike.
    let reserialised = serde_json::from_str::<Value>(&big).unwrap().to_string();
    assert_eq!(
        v,
        serde_json::from_str::<Value>(task_list_text(&reserialised).unwrap().get()).unwrap()
    );
}
