//! Native tests of the callback-log tools on an in-memory store: listing,
//! filters and paging, reading one delivery (cut at the result limit when
//! large), and what they say without a store or a Scale key.

use crate::tools::testing::*;

const T0: u64 = 1_767_225_600_000;

const TTL: u64 = 30 * 86_400;

fn deliver(store: &MemoryStore, body: Value, ms: u64) -> String {
    match block_on(crate::callback_log::store_delivery(
        store,
        &body.to_string(),
        ms,
        TTL,
    ))
    .unwrap()
    {
        crate::callback_log::Stored::New(id) => id,
        other => panic!("{other:?}"),
    }
}

fn task_cb(task_id: &str, status: &str, batch: Option<&str>) -> Value {
    let mut task = json!({"task_id": task_id, "status": status});
    if let Some(b) = batch {
        task["batch"] = json!(b);
    }
    json!({"task_id": task_id, "status": status, "task": task, "response": {"r": task_id}})
}

/// Five deliveries, one second apart; returns their ids oldest first.
fn populated() -> (MemoryStore, Vec<String>) {
    let store = MemoryStore::new();
    let ids = vec![
        deliver(&store, task_cb("t1", "completed", Some("b1")), T0 + 1000),
        deliver(&store, task_cb("t2", "completed", Some("b1")), T0 + 2000),
        deliver(&store, task_cb("t1", "error", Some("b1")), T0 + 3000),
        deliver(
            &store,
            json!({"batch": "b1", "status": "completed", "stats": {"completed": 2}}),
            T0 + 4000,
        ),
        deliver(&store, task_cb("t3", "pending", None), T0 + 5000),
    ];
    (store, ids)
}

fn list_cb(store: Option<&MemoryStore>, args: Value) -> Value {
    let up = FakeUpstream::new();
    let r = exec(&config(), &up, store, "list_callbacks", args);
    assert!(
        up.requests.borrow().is_empty(),
        "the log tools never call Scale"
    );
    r
}

fn get_cb(store: &MemoryStore, up: &FakeUpstream, id: &str) -> Value {
    exec(
        &config(),
        up,
        Some(store),
        "get_callback",
        json!({"id": id}),
    )
}

fn ids_of(v: &Value) -> Vec<String> {
    v["callbacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn list_callbacks_newest_first_with_metadata() {
    let (store, ids) = populated();
    let s = ok(&list_cb(Some(&store), json!({})));
    assert_eq!(s["next_cursor"], Value::Null);
    let cbs = s["callbacks"].as_array().unwrap();
    assert_eq!(cbs.len(), 5);
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(ids_of(&s), newest_first);
    assert_eq!(
        cbs[0],
        json!({"id": ids[4], "kind": "task", "task_id": "t3", "status": "pending", "received_at": "2026-01-01T00:00:05.000Z"})
    );
    assert_eq!(
        cbs[1],
        json!({"id": ids[3], "kind": "batch", "batch": "b1", "status": "completed", "received_at": "2026-01-01T00:00:04.000Z"})
    );
    assert_eq!(
        cbs[4],
        json!({"id": ids[0], "kind": "task", "task_id": "t1", "batch": "b1", "status": "completed", "received_at": "2026-01-01T00:00:01.000Z"})
    );
}

#[test]
fn list_callbacks_filters() {
    let (store, ids) = populated();
    let by = |args: Value| ids_of(&ok(&list_cb(Some(&store), args)));
    assert_eq!(
        by(json!({"task_id": "t1"})),
        vec![ids[2].clone(), ids[0].clone()]
    );
    assert_eq!(
        by(json!({"batch": "b1"})),
        vec![
            ids[3].clone(),
            ids[2].clone(),
            ids[1].clone(),
            ids[0].clone()
        ]
    );
    assert_eq!(
        by(json!({"status": "completed"})),
        vec![ids[3].clone(), ids[1].clone(), ids[0].clone()]
    );
    assert_eq!(
        by(json!({"task_id": "t1", "status": "error"})),
        vec![ids[2].clone()]
    );
    assert_eq!(
        by(json!({"task_id": "t1", "batch": "b1"})),
        vec![ids[2].clone(), ids[0].clone()]
    );
    assert_eq!(
        by(json!({"task_id": "t1", "batch": "other"})),
        Vec::<String>::new()
    );
    assert_eq!(
        by(json!({"task_id": "t"})),
        Vec::<String>::new(),
        "no prefix match across tasks"
    );
    assert_eq!(by(json!({"batch": "b"})), Vec::<String>::new());
    assert_eq!(by(json!({"status": "canceled"})), Vec::<String>::new());
}

#[test]
fn list_callbacks_limit_and_cursor_paging() {
    let (store, ids) = populated();
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut args = json!({"limit": 2});
        if let Some(c) = &cursor {
            args["cursor"] = json!(c);
        }
        let s = ok(&list_cb(Some(&store), args));
        let page = ids_of(&s);
        assert!(page.len() <= 2);
        seen.extend(page);
        pages += 1;
        match s["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
        assert!(pages < 10, "paging does not end");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, newest_first);
    // Exactly one page's worth: limit 5 returns everything.
    let s = ok(&list_cb(Some(&store), json!({"limit": 5})));
    assert_eq!(ids_of(&s), newest_first);
    // Default limit is 20.
    let store = MemoryStore::new();
    for i in 0..25 {
        deliver(
            &store,
            task_cb(&format!("t{i}"), "completed", None),
            T0 + i * 1000,
        );
    }
    let s = ok(&list_cb(Some(&store), json!({})));
    assert_eq!(s["callbacks"].as_array().unwrap().len(), 20);
    assert!(s["next_cursor"].is_string());
}

#[test]
fn list_callbacks_bad_cursor_and_store_failures() {
    let (store, _) = populated();
    let t = err(&list_cb(Some(&store), json!({"cursor": "garbage!"})));
    assert!(
        t.contains("`cursor` is not a next_cursor this tool returned"),
        "{t}"
    );
    store.fail_reads.set(true);
    let t = err(&list_cb(Some(&store), json!({})));
    assert!(
        t.starts_with("The callback log could not be read: KV list failed"),
        "{t}"
    );
}

#[test]
fn get_callback_returns_the_stored_delivery() {
    let (store, ids) = populated();
    let up = FakeUpstream::new();
    let r = get_cb(&store, &up, &ids[3]);
    assert_eq!(
        ok(&r),
        json!({
            "id": ids[3],
            "received_at": "2026-01-01T00:00:04.000Z",
            "kind": "batch",
            "body": {"batch": "b1", "status": "completed", "stats": {"completed": 2}},
        })
    );
    let r = get_cb(&store, &up, &ids[0]);
    assert_eq!(ok(&r)["body"], task_cb("t1", "completed", Some("b1")));
    for missing in ["0000000000000-0000000000000000", "../log", "log:x"] {
        let t = err(&get_cb(&store, &up, missing));
        assert!(t.contains("no callback with id"), "{t}");
    }
    store.fail_reads.set(true);
    let t = err(&get_cb(&store, &up, &ids[0]));
    assert!(t.starts_with("The callback log could not be read"), "{t}");
    assert!(up.requests.borrow().is_empty());
}

#[test]
fn a_large_delivery_is_cut_at_the_result_limit_and_says_so() {
    let store = MemoryStore::new();
    let mut body = task_cb("t1", "completed", None);
    // Quotes and control characters take more room once escaped.
    body["response"] = json!({"annotations": "\"\u{1}x".repeat(200_000)});
    let id = deliver(&store, body.clone(), T0);
    let up = FakeUpstream::new();
    let r = get_cb(&store, &up, &id);
    let text = r["content"][0]["text"].as_str().unwrap();
    assert!(
        text.len() <= crate::tools::shape::MAX_TEXT_BYTES,
        "{}",
        text.len()
    );
    assert!(
        text.len() > crate::tools::shape::MAX_TEXT_BYTES - 1024,
        "cut near the limit: {}",
        text.len()
    );
    let s = ok(&r);
    assert_eq!(
        (s["id"].as_str(), s["kind"].as_str()),
        (Some(id.as_str()), Some("task"))
    );
    assert_eq!(s["received_at"], "2026-01-01T00:00:00.000Z");
    let head = s["body"].as_str().unwrap();
    assert!(
        body.to_string().starts_with(head),
        "the body's text, from its start"
    );
    assert_eq!(s["truncated"]["dropped"], json!(["body"]));
    let reason = s["truncated"]["reason"].as_str().unwrap();
    assert!(reason.contains("200 KB"), "{reason}");
    let how = s["truncated"]["how_to_get_full_items"].as_str().unwrap();
    assert!(
        how.contains("`body` is the beginning") && how.contains("get_task"),
        "{how}"
    );
    // A small one is passed through as stored.
    let small = deliver(&store, task_cb("t2", "completed", None), T0 + 1);
    let stored = store.entries.borrow()[&format!("log:{small}")]
        .value
        .clone();
    let r = get_cb(&store, &up, &small);
    assert_eq!(r["content"][0]["text"].as_str(), Some(stored.as_str()));
}

#[test]
fn callback_tools_without_a_store_name_callbacks() {
    let t = err(&list_cb(None, json!({})));
    assert!(t.contains("CALLBACKS KV namespace is not bound"), "{t}");
    let up = FakeUpstream::new();
    let t = err(&exec(
        &config(),
        &up,
        None,
        "get_callback",
        json!({"id": "x"}),
    ));
    assert!(t.contains("CALLBACKS"), "{t}");
    assert!(up.requests.borrow().is_empty());
}

#[test]
fn callback_tools_work_without_a_scale_key() {
    let (store, ids) = populated();
    let cfg = config_with(&[("SCALE_API_KEY", "")]);
    let up = FakeUpstream::new();
    let r = exec(
        &cfg,
        &up,
        Some(&store),
        "list_callbacks",
        json!({"limit": 1}),
    );
    assert_eq!(ids_of(&ok(&r)), vec![ids[4].clone()]);
}
