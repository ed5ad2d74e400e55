//! Native tests of the batch tools: their Scale requests, default callbacks,
//! progress (with `detailed` lists kept within the subrequest budget), what a
//! failed finalize says was applied, and trimmed lists.

use super::*;
use crate::tools::shape::MAX_TEXT_BYTES;
use crate::tools::testing::*;

#[test]
fn create_batch_request() {
    let batch = json!({"name": "b1", "project": "p", "status": "staging"});
    let (r, reqs) = run(
        "create_batch",
        json!({
            "project": "p",
            "name": "b1",
            "callback": "ops@example.com",
            "calibration_batch": false,
            "self_label_batch": true,
            "metadata": {"owner": "me"},
        }),
        batch.clone(),
    );
    assert_eq!(ok(&r), batch);
    assert_eq!(reqs.len(), 1);
    assert_req(
        &reqs[0],
        "POST",
        "/batches",
        Some(json!({
            "project": "p",
            "name": "b1",
            "callback": "ops@example.com",
            "calibration_batch": false,
            "self_label_batch": true,
            "metadata": {"owner": "me"},
        })),
    );
    let (_, reqs) = run(
        "create_batch",
        json!({"project": "p", "name": "b/2"}),
        json!({}),
    );
    assert_req(
        &reqs[0],
        "POST",
        "/batches",
        Some(json!({"project": "p", "name": "b/2"})),
    );
}

#[test]
fn create_batch_default_callback_is_sent_as_callback() {
    let cfg = config_with(&[("DEFAULT_CALLBACK_URL", DEFAULT_CB)]);
    let up = FakeUpstream::new();
    up.respond_with(|_| Ok(json_response(200, &json!({"name": "b"}))));
    ok(&exec(
        &cfg,
        &up,
        None,
        "create_batch",
        json!({"project": "p", "name": "b"}),
    ));
    ok(&exec(
        &cfg,
        &up,
        None,
        "create_batch",
        json!({"project": "p", "name": "b", "callback": "https://mine.test/cb"}),
    ));
    let reqs = up.sent();
    assert_req(
        &reqs[0],
        "POST",
        "/batches",
        Some(json!({"project": "p", "name": "b", "callback": DEFAULT_CB})),
    );
    assert_req(
        &reqs[1],
        "POST",
        "/batches",
        Some(json!({"project": "p", "name": "b", "callback": "https://mine.test/cb"})),
    );
    assert!(body_of(&reqs[0]).unwrap().get("callback_url").is_none());
}

#[test]
fn create_batch_409_explains() {
    let up = FakeUpstream::new();
    up.respond_with(|_| {
        Ok(json_response(
            409,
            &json!({"status_code": 409, "error": "Batch name taken"}),
        ))
    });
    let t = err(&run_on(
        &up,
        "create_batch",
        json!({"project": "p", "name": "b"}),
    ));
    assert!(
        t.contains("Scale returned 409 Conflict for POST /batches: Batch name taken"),
        "{t}"
    );
    assert!(t.contains("get_batch shows it"), "{t}");
    assert_eq!(up.requests.borrow().len(), 1);
}

#[test]
fn get_batch_adds_progress_with_missing_counts_as_zero() {
    let up = FakeUpstream::new();
    route(&up, |m, path| {
        assert_eq!(m, Method::Get);
        match path {
            "/batches/my%20batch" => (
                200,
                json!({"name": "my batch", "status": "in_progress", "project": "p"}),
            ),
            "/batches/my%20batch/status" => (
                200,
                json!({"status": "in_progress", "completed": 3, "pending": 2}),
            ),
            _ => panic!("unexpected {path}"),
        }
    });
    let r = run_on(&up, "get_batch", json!({"name": "my batch"}));
    assert_eq!(
        ok(&r),
        json!({
            "name": "my batch", "status": "in_progress", "project": "p",
            "progress": {"pending": 2, "completed": 3, "error": 0, "canceled": 0, "total": 5},
        })
    );
    let reqs = up.sent();
    assert_eq!(reqs.len(), 2);
    assert_req(&reqs[0], "GET", "/batches/my%20batch", None);
    assert_req(&reqs[1], "GET", "/batches/my%20batch/status", None);

    // An empty status answer gives all zeros.
    let up = FakeUpstream::new();
    route(&up, |_, path| match path {
        "/batches/b" => (200, json!({"name": "b"})),
        _ => (200, json!({"status": "staging"})),
    });
    let r = run_on(&up, "get_batch", json!({"name": "b"}));
    assert_eq!(
        ok(&r)["progress"],
        json!({"pending": 0, "completed": 0, "error": 0, "canceled": 0, "total": 0})
    );
}

#[test]
fn get_batch_failures() {
    // The batch itself is missing: no status call.
    let up = FakeUpstream::new();
    up.respond_with(|_| {
        Ok(json_response(
            404,
            &json!({"status_code": 404, "error": "Batch not found"}),
        ))
    });
    let t = err(&run_on(&up, "get_batch", json!({"name": "b"})));
    assert!(
        t.starts_with("Scale returned 404 Not Found for GET /batches/b: Batch not found"),
        "{t}"
    );
    assert_eq!(up.requests.borrow().len(), 1);

    // The status call fails.
    let up = FakeUpstream::new();
    route(&up, |_, path| match path {
        "/batches/b" => (200, json!({"name": "b"})),
        _ => (404, json!({"status_code": 404, "error": "no status"})),
    });
    let t = err(&run_on(&up, "get_batch", json!({"name": "b"})));
    assert!(t.starts_with("The batch was found, but its progress could not be read. Scale returned 404 Not Found for GET /batches/b/status: no status"), "{t}");
    assert_eq!(up.requests.borrow().len(), 2);
}

#[test]
fn list_batches_requests() {
    let (r, reqs) = run("list_batches", json!({}), json!({"docs": []}));
    assert_eq!(
        ok(&r),
        json!({"batches": [], "total": null, "has_more": false, "next_offset": null})
    );
    assert_req(&reqs[0], "GET", "/batches?limit=10", None);

    let (_, reqs) = run(
        "list_batches",
        json!({
            "project": "p q",
            "status": "in_progress",
            "created_after": "2026-01-01",
            "created_before": "2026-02-01T00:00:00Z",
            "completed_after": "2026-01-15",
            "completed_before": "2026-01-20",
            "limit": 50,
            "offset": 100,
            "detailed": false,
        }),
        json!({"docs": []}),
    );
    assert_eq!(reqs.len(), 1);
    assert_req(
        &reqs[0],
        "GET",
        "/batches?project=p%20q&status=in_progress&start_time=2026-01-01&end_time=2026-02-01T00%3A00%3A00Z\
&completed_after=2026-01-15&completed_before=2026-01-20&limit=50&offset=100",
        None,
    );
}

#[test]
fn list_batches_shapes_total_and_next_offset() {
    let docs: Vec<Value> = (0..3).map(|i| json!({"name": format!("b{i}")})).collect();
    let (r, _) = run(
        "list_batches",
        json!({"offset": 20, "limit": 3}),
        json!({"docs": docs, "totalDocs": 57, "has_more": true, "limit": 3, "offset": 20}),
    );
    assert_eq!(
        ok(&r),
        json!({"batches": docs, "total": 57, "has_more": true, "next_offset": 23})
    );
    let (r, _) = run(
        "list_batches",
        json!({}),
        json!({"docs": docs, "total": 3, "has_more": false}),
    );
    assert_eq!(
        ok(&r),
        json!({"batches": docs, "total": 3, "has_more": false, "next_offset": null})
    );
}

#[test]
fn list_batches_detailed_adds_progress() {
    let up = FakeUpstream::new();
    route(&up, |_, path| {
        if path.starts_with("/batches?") {
            return (
                200,
                json!({"docs": [{"name": "a"}, {"name": "b/c"}, {"name": "gone"}, {"status": "x"}], "total": 4}),
            );
        }
        match path {
            "/batches/a/status" => (200, json!({"completed": 1, "error": 2})),
            "/batches/b%2Fc/status" => (200, json!({"pending": 4})),
            _ => (404, json!({"error": "not found"})),
        }
    });
    let r = run_on(&up, "list_batches", json!({"detailed": true}));
    let s = ok(&r);
    assert_eq!(
        s["batches"],
        json!([
            {"name": "a", "progress": {"pending": 0, "completed": 1, "error": 2, "canceled": 0, "total": 3}},
            {"name": "b/c", "progress": {"pending": 4, "completed": 0, "error": 0, "canceled": 0, "total": 4}},
            {"name": "gone"},
            {"status": "x"},
        ])
    );
    assert_eq!(
        s["progress_incomplete"]["batches_without_progress"],
        json!(["gone", null])
    );
    assert_eq!(
        s["progress_incomplete"]["reason"],
        "Scale did not return the status of some batches"
    );
    let reqs = up.sent();
    // The list, then one status call per named batch, sent once each.
    assert_eq!(reqs.len(), 4);
    assert_req(&reqs[0], "GET", "/batches?limit=10", None);
    assert_req(&reqs[1], "GET", "/batches/a/status", None);
    assert_req(&reqs[2], "GET", "/batches/b%2Fc/status", None);
    assert_req(&reqs[3], "GET", "/batches/gone/status", None);
}

#[test]
fn list_batches_detailed_stays_within_the_subrequest_budget() {
    let up = FakeUpstream::new();
    route(&up, |_, path| {
        if path.starts_with("/batches?") {
            let docs: Vec<Value> = (0..100)
                .map(|i| json!({"name": format!("batch-{i:03}")}))
                .collect();
            (200, json!({"docs": docs, "total": 250, "has_more": true}))
        } else {
            (200, json!({"completed": 1}))
        }
    });
    let r = run_on(&up, "list_batches", json!({"detailed": true, "limit": 100}));
    let s = ok(&r);
    let reqs = up.sent();
    assert_eq!(reqs.len(), 49, "1 list + 48 status calls");
    assert!(reqs.len() as u32 <= crate::config::DEFAULT_SUBREQUEST_LIMIT);
    let batches = s["batches"].as_array().unwrap();
    assert_eq!(batches.len(), 100);
    for (i, b) in batches.iter().enumerate() {
        assert_eq!(b.get("progress").is_some(), i < 48, "batch {i}");
    }
    let missing: Vec<Value> = (48..100).map(|i| json!(format!("batch-{i:03}"))).collect();
    assert_eq!(
        s["progress_incomplete"]["batches_without_progress"],
        Value::Array(missing)
    );
    assert!(s["progress_incomplete"]["reason"]
        .as_str()
        .unwrap()
        .contains("progress was read for the first 48 batches"));
    assert_eq!(s["next_offset"], 100);
    assert_eq!(s["total"], 250);
}

#[test]
fn list_batches_detailed_budget_accounts_for_list_retries() {
    let up = FakeUpstream::new();
    up.push_json(503, json!({"error": "busy"}));
    up.push_json(503, json!({"error": "busy"}));
    route(&up, |_, path| {
        if path.starts_with("/batches?") {
            let docs: Vec<Value> = (0..100).map(|i| json!({"name": format!("b{i}")})).collect();
            (200, json!({"docs": docs}))
        } else {
            (200, json!({}))
        }
    });
    let r = run_on(&up, "list_batches", json!({"detailed": true, "limit": 100}));
    ok(&r);
    let n = up.requests.borrow().len();
    assert_eq!(n, 3 + 46);
    assert!(n as u32 <= crate::config::DEFAULT_SUBREQUEST_LIMIT);
}

#[test]
fn finalize_batch_requests() {
    let (r, reqs) = run(
        "finalize_batch",
        json!({"name": "b 1"}),
        json!({"name": "b 1", "status": "in_progress"}),
    );
    assert_eq!(ok(&r), json!({"name": "b 1", "status": "in_progress"}));
    assert_eq!(reqs.len(), 1);
    assert_req(&reqs[0], "POST", "/batches/b%201/finalize", None);

    let up = FakeUpstream::new();
    route(&up, |_, path| match path {
        "/batches/b/finalize" => (200, json!({"name": "b", "status": "in_progress"})),
        "/batches/b/prioritize" => (
            200,
            json!({"name": "b", "status": "in_progress", "priority": 20}),
        ),
        _ => panic!("{path}"),
    });
    let r = run_on(&up, "finalize_batch", json!({"name": "b", "priority": 20}));
    assert_eq!(
        ok(&r),
        json!({"name": "b", "status": "in_progress", "priority": 20})
    );
    let reqs = up.sent();
    assert_eq!(reqs.len(), 2);
    assert_req(&reqs[0], "POST", "/batches/b/finalize", None);
    assert_req(
        &reqs[1],
        "POST",
        "/batches/b/prioritize",
        Some(json!({"priority": 20})),
    );

    // A plain OK from prioritize: the finalized batch with its priority.
    let up = FakeUpstream::new();
    up.push_json(200, json!({"name": "b", "status": "in_progress"}));
    up.push(Ok(text_response(200, "text/plain", "OK")));
    let r = run_on(&up, "finalize_batch", json!({"name": "b", "priority": 30}));
    assert_eq!(
        ok(&r),
        json!({"name": "b", "status": "in_progress", "priority": 30})
    );
}

#[test]
fn finalize_batch_failures_say_what_was_applied() {
    let up = FakeUpstream::new();
    route(&up, |_, path| match path {
        "/batches/b/finalize" => (200, json!({"name": "b"})),
        _ => (
            400,
            json!({"status_code": 400, "error": "priority not allowed"}),
        ),
    });
    let t = err(&run_on(
        &up,
        "finalize_batch",
        json!({"name": "b", "priority": 15}),
    ));
    assert!(t.starts_with("Step `prioritize` failed. Scale returned 400 Bad Request for POST /batches/b/prioritize: priority not allowed"), "{t}");
    assert!(
        t.ends_with("\nSteps applied before the failure: finalize."),
        "{t}"
    );
    assert_eq!(up.requests.borrow().len(), 2);

    let up = FakeUpstream::new();
    up.respond_with(|_| Ok(json_response(404, &json!({"error": "Batch not found"}))));
    let t = err(&run_on(
        &up,
        "finalize_batch",
        json!({"name": "b", "priority": 15}),
    ));
    assert!(
        t.contains("Scale returned 404 Not Found for POST /batches/b/finalize: Batch not found"),
        "{t}"
    );
    assert!(t.ends_with("\nNo step was applied."), "{t}");
    assert_eq!(up.requests.borrow().len(), 1, "prioritize not sent");
}

#[test]
fn large_batch_lists_are_trimmed() {
    let big = "m".repeat(3000);
    let docs: Vec<Value> = (0..100)
        .map(|i| json!({"name": format!("b{i}"), "project": "p", "status": "completed", "metadata": {"blob": big}, "callback": "x"}))
        .collect();
    let (r, _) = run(
        "list_batches",
        json!({"limit": 100}),
        json!({"docs": docs, "total": 100}),
    );
    let s = ok(&r);
    assert!(r["content"][0]["text"].as_str().unwrap().len() <= MAX_TEXT_BYTES);
    assert_eq!(
        s["batches"][7],
        json!({"name": "b7", "project": "p", "status": "completed"})
    );
    assert!(s["truncated"]["how_to_get_full_items"]
        .as_str()
        .unwrap()
        .contains("get_batch"));
}
