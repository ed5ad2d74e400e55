//! Native tests of the receiver and of what it stores: the key layout, TTLs,
//! deduplication, KV failures, refusals, and listing what was stored.

use super::*;
use crate::callback_log::{dedupe_key, get, key_name, list, new_id, Delivery, ListError, LogQuery};
use crate::config::RawSettings;
use crate::http::Request;
use crate::io::fakes::{block_on, MemoryStore};

const NOW: u64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const KEY: &str = "callback-key-0123456789";

fn cfg(extra: &[(&'static str, &str)]) -> Config {
    let mut pairs = vec![("SCALE_CALLBACK_AUTH_KEY", KEY)];
    pairs.extend_from_slice(extra);
    Config::from_raw(&RawSettings::from_pairs(&pairs, true)).unwrap()
}

fn task_body(id: &str, status: &str, batch: Option<&str>) -> Value {
    json!({
        "task": {"task_id": id, "status": status, "batch": batch, "completed_at": "2026-01-01T00:00:00Z", "audits": []},
        "response": {"annotations": [{"label": "car"}]},
        "task_id": id,
    })
}

fn deliver(
    store: &MemoryStore,
    cfg: &Config,
    key: Option<&str>,
    body: &[u8],
    now: u64,
) -> Response {
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    if let Some(k) = key {
        headers.push(("scale-callback-auth".to_string(), k.to_string()));
    }
    let req = Request {
        method: "POST".into(),
        path: "/webhooks/scale".into(),
        headers,
        body: body.to_vec(),
        ..Default::default()
    };
    block_on(receive(&req, cfg, Some(store), now))
}

/// Classifies a body given as a value, as the receiver would its text.
fn classify_value(v: &Value) -> Delivery {
    classify(&scan::scan(v.to_string().as_bytes()).unwrap())
}

fn json_of(o: &Response) -> Value {
    serde_json::from_slice(&o.body).unwrap()
}

#[test]
fn stores_with_the_documented_key_layout_metadata_and_ttl() {
    let store = MemoryStore::new();
    store.set_now(NOW);
    let c = cfg(&[]);
    let out = deliver(
        &store,
        &c,
        Some(KEY),
        task_body("t1", "completed", Some("b:1"))
            .to_string()
            .as_bytes(),
        NOW,
    );
    assert_eq!(out.status, 200);
    let id = json_of(&out)["id"].as_str().unwrap().to_string();
    assert_eq!(
        id,
        new_id(
            NOW,
            &classify_value(&task_body("t1", "completed", None)).fingerprint
        )
    );
    let entries = store.entries.borrow();
    let keys: Vec<&String> = entries.keys().collect();
    assert_eq!(keys.len(), 4, "{keys:?}");
    assert!(entries.contains_key(&format!("log:{id}")));
    assert!(entries.contains_key(&format!("t:t1:{id}")));
    // The `:` in the batch name is encoded, so it cannot collide with another prefix.
    assert!(entries.contains_key(&format!("b:b%3A1:{id}")));
    assert!(keys.iter().any(|k| k.starts_with("d:tt1:")));
    for (k, e) in entries.iter() {
        assert!(k.len() <= 512);
        assert!(e.metadata.to_string().len() <= 1024);
        assert_eq!(e.metadata["kind"], "task", "{k}");
        assert_eq!(e.metadata["task_id"], "t1");
        assert_eq!(e.metadata["status"], "completed");
        assert_eq!(e.metadata["received_at"], "2026-01-01T00:00:00.000Z");
        assert_eq!(e.expires_at_ms, NOW + 30 * 86_400_000);
    }
    let stored: Value = serde_json::from_str(&entries[&format!("log:{id}")].value).unwrap();
    assert_eq!(stored["body"], task_body("t1", "completed", Some("b:1")));
    assert_eq!(stored["kind"], "task");
}

#[test]
fn ttl_follows_callback_ttl_days_and_entries_expire() {
    let store = MemoryStore::new();
    store.set_now(NOW);
    let c = cfg(&[("CALLBACK_TTL_DAYS", "2")]);
    let out = deliver(
        &store,
        &c,
        Some(KEY),
        br#"{"batch":"b","status":"completed","stats":{}}"#,
        NOW,
    );
    let id = json_of(&out)["id"].as_str().unwrap().to_string();
    assert!(store
        .entries
        .borrow()
        .values()
        .all(|e| e.expires_at_ms == NOW + 2 * 86_400_000));
    assert!(block_on(get(&store, &id)).unwrap().is_some());
    store.set_now(NOW + 2 * 86_400_000 + 1);
    assert!(block_on(get(&store, &id)).unwrap().is_none());
    assert!(block_on(list(
        &store,
        &LogQuery {
            limit: 10,
            ..Default::default()
        }
    ))
    .unwrap()
    .items
    .is_empty());
}

#[test]
fn the_same_delivery_is_stored_once_and_real_changes_are_new() {
    let store = MemoryStore::new();
    let c = cfg(&[]);
    let body = task_body("t1", "completed", None).to_string();
    let first = deliver(&store, &c, Some(KEY), body.as_bytes(), NOW);
    let again = deliver(&store, &c, Some(KEY), body.as_bytes(), NOW + 5_000);
    assert_eq!(again.status, 200);
    assert_eq!(json_of(&again)["stored"], false);
    assert_eq!(json_of(&again)["duplicate_of"], json_of(&first)["id"]);
    let puts = store.puts.get();
    let recalled = deliver(
        &store,
        &c,
        Some(KEY),
        task_body("t1", "pending", None).to_string().as_bytes(),
        NOW + 10_000,
    );
    assert_eq!(json_of(&recalled)["stored"], true);
    assert!(store.puts.get() > puts);
    let page = block_on(list(
        &store,
        &LogQuery {
            task_id: Some("t1".into()),
            limit: 10,
            ..Default::default()
        },
    ))
    .unwrap();
    let statuses: Vec<&str> = page
        .items
        .iter()
        .map(|i| i["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["pending", "completed"], "newest first");
}

#[test]
fn kv_failure_answers_5xx_and_a_retry_stores_exactly_once() {
    let store = MemoryStore::new();
    let c = cfg(&[]);
    let body = task_body("t9", "completed", Some("b9")).to_string();
    store.fail_puts.set(true);
    let failed = deliver(&store, &c, Some(KEY), body.as_bytes(), NOW);
    assert_eq!(failed.status, 503);
    assert_eq!(failed.get_header("retry-after"), Some("30"));
    assert!(store.entries.borrow().is_empty(), "nothing written");
    assert!(failed.logs.iter().any(|l| l.contains("KV write failed")));

    // A failure part-way (after the dedupe marker) is finished by Scale's retry with the same id.
    store.fail_puts.set(false);
    let d = classify(&scan::scan(body.as_bytes()).unwrap());
    let id = new_id(NOW, &d.fingerprint);
    block_on(store.put(&dedupe_key(&d), &id, 3600, &json!({}))).unwrap();
    let retried = deliver(&store, &c, Some(KEY), body.as_bytes(), NOW + 60_000);
    assert_eq!(json_of(&retried), json!({"stored": true, "id": id}));
    let entry = block_on(get(&store, &id)).unwrap().unwrap();
    assert_eq!(
        entry["received_at"], "2026-01-01T00:00:00.000Z",
        "keeps the first arrival time"
    );
    let again = deliver(&store, &c, Some(KEY), body.as_bytes(), NOW + 120_000);
    assert_eq!(json_of(&again)["stored"], false);
    assert_eq!(
        store
            .entries
            .borrow()
            .keys()
            .filter(|k| k.starts_with("log:"))
            .count(),
        1
    );
}

#[test]
fn refuses_unauthenticated_oversized_and_malformed_deliveries_without_storing() {
    let store = MemoryStore::new();
    let c = cfg(&[("WEBHOOK_MAX_BYTES", "2048")]);
    let ok = task_body("t1", "completed", None).to_string();
    assert_eq!(deliver(&store, &c, None, ok.as_bytes(), NOW).status, 401);
    assert_eq!(
        deliver(&store, &c, Some("wrong-key-0123456789"), ok.as_bytes(), NOW).status,
        401
    );
    assert_eq!(
        deliver(&store, &c, Some(&KEY[..KEY.len() - 1]), ok.as_bytes(), NOW).status,
        401
    );
    assert_eq!(
        deliver(&store, &c, Some(&format!("{KEY}x")), ok.as_bytes(), NOW).status,
        401
    );
    let big = json!({"task_id": "t", "pad": "x".repeat(3000)}).to_string();
    assert_eq!(
        deliver(&store, &c, Some(KEY), big.as_bytes(), NOW).status,
        413
    );
    for bad in [
        &b"not json"[..],
        b"",
        b"[1,2]",
        b"\xff",
        br#"{"a":1,"a":2}"#,
    ] {
        assert_eq!(
            deliver(&store, &c, Some(KEY), bad, NOW).status,
            400,
            "{bad:?}"
        );
    }
    assert!(store.entries.borrow().is_empty());
    // Rotation: either key works.
    let c2 = cfg(&[(
        "SCALE_CALLBACK_AUTH_KEY",
        "old-key-0123456789abc, new-key-0123456789abc",
    )]);
    assert_eq!(
        deliver(
            &store,
            &c2,
            Some("new-key-0123456789abc"),
            ok.as_bytes(),
            NOW
        )
        .status,
        200
    );
}

#[test]
fn without_a_key_or_store_the_receiver_refuses_and_says_why_in_the_log() {
    let raw = RawSettings::read(|_| None, true);
    let c = Config::from_raw(&raw).unwrap();
    let store = MemoryStore::new();
    let out = deliver(&store, &c, Some("anything-at-all-123"), b"{}", NOW);
    assert_eq!(out.status, 503);
    assert!(out
        .logs
        .iter()
        .any(|l| l.contains("wrangler secret put SCALE_CALLBACK_AUTH_KEY")));
    let req = Request {
        method: "POST".into(),
        path: "/webhooks/scale".into(),
        headers: vec![("scale-callback-auth".into(), KEY.into())],
        body: b"{}".to_vec(),
        ..Default::default()
    };
    let out = block_on(receive(&req, &cfg(&[]), None, NOW));
    assert_eq!(out.status, 503);
    assert!(out.logs.iter().any(|l| l.contains("CALLBACKS")));
}

#[test]
fn listing_pages_filters_and_rejects_bad_cursors() {
    let store = MemoryStore::new();
    let c = cfg(&[]);
    for i in 0..25u64 {
        let status = if i % 2 == 0 { "completed" } else { "error" };
        let batch = if i < 10 { "alpha" } else { "beta" };
        deliver(
            &store,
            &c,
            Some(KEY),
            task_body(&format!("t{i:02}"), status, Some(batch))
                .to_string()
                .as_bytes(),
            NOW + i * 1000,
        );
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = block_on(list(
            &store,
            &LogQuery {
                limit: 7,
                cursor: cursor.clone(),
                ..Default::default()
            },
        ))
        .unwrap();
        seen.extend(
            page.items
                .iter()
                .map(|i| i["task_id"].as_str().unwrap().to_string()),
        );
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let want: Vec<String> = (0..25).rev().map(|i| format!("t{i:02}")).collect();
    assert_eq!(seen, want, "every entry once, newest first");

    let errors = block_on(list(
        &store,
        &LogQuery {
            status: Some("error".into()),
            limit: 100,
            ..Default::default()
        },
    ))
    .unwrap();
    assert_eq!(errors.items.len(), 12);
    let alpha = block_on(list(
        &store,
        &LogQuery {
            batch: Some("alpha".into()),
            limit: 100,
            ..Default::default()
        },
    ))
    .unwrap();
    assert_eq!(alpha.items.len(), 10);
    assert!(alpha.items.iter().all(|i| i["batch"] == "alpha"));
    let one = block_on(list(
        &store,
        &LogQuery {
            task_id: Some("t03".into()),
            limit: 5,
            ..Default::default()
        },
    ))
    .unwrap();
    assert_eq!(one.items.len(), 1);
    assert_eq!(one.items[0]["id"].as_str().map(|s| s.len()), Some(30));

    assert_eq!(
        block_on(list(
            &store,
            &LogQuery {
                limit: 5,
                cursor: Some("garbage!".into()),
                ..Default::default()
            }
        )),
        Err(ListError::BadCursor)
    );
    store.fail_reads.set(true);
    assert!(matches!(
        block_on(list(
            &store,
            &LogQuery {
                limit: 5,
                ..Default::default()
            }
        )),
        Err(ListError::Store(_))
    ));
}

#[test]
fn long_names_are_hashed_to_fit_kv_key_limits() {
    let long = "n".repeat(5000);
    assert!(key_name(&long).len() < 40);
    let store = MemoryStore::new();
    let c = cfg(&[]);
    let out = deliver(
        &store,
        &c,
        Some(KEY),
        task_body(&long, "completed", Some(&long))
            .to_string()
            .as_bytes(),
        NOW,
    );
    assert_eq!(out.status, 200);
    for (k, e) in store.entries.borrow().iter() {
        assert!(k.len() <= 512, "{}", k.len());
        assert!(e.metadata.to_string().len() <= 1024);
    }
    let page = block_on(list(
        &store,
        &LogQuery {
            task_id: Some(long),
            limit: 5,
            ..Default::default()
        },
    ))
    .unwrap();
    assert_eq!(page.items.len(), 1);
}
