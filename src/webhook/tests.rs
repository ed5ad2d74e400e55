//! Native tests of the receiver and of what it stores: the key layout, TTLs,
//! deduplication, KV failures, refusals, and listing what was stored.

use super::*;
use crate::callback_log::{
    get, key_name, list, metadata, new_id, subject_key, Delivery, ListError, LogQuery,
};
use crate::config::RawSettings;
use crate::config::MAX_WEBHOOK_MAX_BYTES;
use crate::http::Request;
use crate::io::fakes::{block_on, MemoryStore};
use serde_json::{json, Value};

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
        body: body.to_vec().into(),
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

fn entry_of(store: &MemoryStore, id: &str) -> Value {
    serde_json::from_str(&block_on(get(store, id)).unwrap().unwrap()).unwrap()
}

#[test]
fn stores_with_the_documented_key_layout_metadata_and_ttl() {
    let store = MemoryStore::new();
    store.set_now(NOW);
    let c = cfg(&[]);
    let mut body = task_body("t1", "completed", Some("b:1"));
    body["task"]["project"] = json!("p/1");
    let out = deliver(&store, &c, Some(KEY), body.to_string().as_bytes(), NOW);
    assert_eq!(out.status, 200);
    let id = json_of(&out)["id"].as_str().unwrap().to_string();
    let fp = classify_value(&body).fingerprint;
    assert_eq!(id, new_id(NOW, &fp));
    assert_eq!(store.writes(), 3, "a task in a batch costs three writes");
    assert_eq!(store.lists.get(), 0, "and no list");
    let entries = store.entries.borrow();
    let keys: Vec<&String> = entries.keys().collect();
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert!(entries.contains_key(&format!("log:{id}")));
    // The task's key follows from the content, and its value is the id.
    assert_eq!(entries[&format!("t:t1:{fp}")].value, id);
    // The `:` in the batch name is encoded, so it cannot collide with another prefix.
    assert!(entries.contains_key(&format!("b:b%3A1:{id}")));
    for (k, e) in entries.iter() {
        assert!(k.len() <= 512);
        assert!(e.metadata.to_string().len() <= 1024);
        assert_eq!(
            e.metadata,
            json!({"id": id, "kind": "task", "task_id": "t1", "batch": "b:1", "status": "completed",
                "project": "p/1", "received_at": "2026-01-01T00:00:00.000Z"}),
            "{k}"
        );
        assert_eq!(e.expires_at_ms, NOW + 30 * 86_400_000);
    }
    let stored: Value = serde_json::from_str(&entries[&format!("log:{id}")].value).unwrap();
    assert_eq!(stored["body"], body);
    assert_eq!(stored["kind"], "task");
}

#[test]
fn kv_writes_per_delivery_are_at_most_three_and_a_repeat_costs_none() {
    let c = cfg(&[]);
    let cases = [
        (task_body("t1", "completed", Some("b1")), 3),
        (task_body("t2", "completed", None), 2),
        (
            json!({"batch": "b1", "status": "completed", "stats": {"completed": 3}}),
            3,
        ),
        (json!({"hello": "world"}), 2),
    ];
    for (body, writes) in cases {
        let store = MemoryStore::new();
        let text = body.to_string();
        assert_eq!(
            json_of(&deliver(&store, &c, Some(KEY), text.as_bytes(), NOW))["stored"],
            true
        );
        assert_eq!(store.writes(), writes, "{body}");
        assert_eq!(store.lists.get(), 0, "{body}");
        assert_eq!(store.gets.get(), 1, "one read to look for a repeat: {body}");
        let again = deliver(&store, &c, Some(KEY), text.as_bytes(), NOW + 60_000);
        assert_eq!(json_of(&again)["stored"], false, "{body}");
        assert_eq!(store.writes(), writes, "a repeat writes nothing: {body}");
        assert_eq!(store.lists.get(), 0, "{body}");
    }
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
    // Any change to the body is a delivery of its own, bookkeeping fields included.
    let mut retried = task_body("t1", "completed", None);
    retried["task"]["callback_succeeded"] = json!(false);
    let retried = deliver(
        &store,
        &c,
        Some(KEY),
        retried.to_string().as_bytes(),
        NOW + 20_000,
    );
    assert_eq!(json_of(&retried)["stored"], true);
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
    assert_eq!(
        statuses,
        vec!["completed", "pending", "completed"],
        "newest first"
    );
}

#[test]
fn a_body_that_differs_from_the_stored_one_is_never_dropped() {
    let c = cfg(&[]);
    let body = task_body("t1", "completed", Some("b1"));
    let d = classify_value(&body);
    // Another body already stored under the same subject key: a hash collision.
    let store = MemoryStore::new();
    let other = new_id(NOW - 1000, &d.fingerprint);
    let m = metadata(&d, &other, NOW - 1000);
    block_on(store.put(&subject_key(&d), &other, 3600, &m)).unwrap();
    let forged = json!({"id": other, "kind": "task", "received_at": "x", "body": {"task_id": "t1", "forged": true}});
    block_on(store.put(&format!("log:{other}"), &forged.to_string(), 3600, &m)).unwrap();
    let out = deliver(&store, &c, Some(KEY), body.to_string().as_bytes(), NOW);
    assert_eq!(json_of(&out)["stored"], true, "{}", json_of(&out));
    let id = json_of(&out)["id"].as_str().unwrap().to_string();
    assert_ne!(id, other);
    assert_eq!(entry_of(&store, &id)["body"], body);
    // Listed by its task and batch next to the other one.
    for q in [
        LogQuery {
            task_id: Some("t1".into()),
            limit: 10,
            ..Default::default()
        },
        LogQuery {
            batch: Some("b1".into()),
            limit: 10,
            ..Default::default()
        },
    ] {
        let ids: Vec<Value> = block_on(list(&store, &q))
            .unwrap()
            .items
            .into_iter()
            .map(|i| i["id"].clone())
            .collect();
        assert!(ids.contains(&json!(id)), "{q:?}: {ids:?}");
    }
    // The same content laid out differently is stored too: only the same bytes are a repeat.
    let store = MemoryStore::new();
    let compact = r#"{"task_id":"t2","status":"completed","response":{"a":[1,2]}}"#;
    let spaced =
        "{ \"task_id\": \"t2\", \"status\": \"completed\", \"response\": {\"a\": [1, 2]} }";
    assert_eq!(
        json_of(&deliver(&store, &c, Some(KEY), compact.as_bytes(), NOW))["stored"],
        true
    );
    assert_eq!(
        json_of(&deliver(&store, &c, Some(KEY), spaced.as_bytes(), NOW + 1))["stored"],
        true
    );
    assert_eq!(
        json_of(&deliver(&store, &c, Some(KEY), spaced.as_bytes(), NOW + 2))["stored"],
        false
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
        body: b"{}".to_vec().into(),
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

#[test]
fn metadata_is_budgeted_by_serialised_bytes() {
    let store = MemoryStore::new();
    let c = cfg(&[]);
    // 180 control characters serialise to 1080 bytes: more than KV's 1024 alone.
    let odd = "\u{1}".repeat(180);
    let quotes = "\"".repeat(300);
    let mut body = task_body(&quotes, "\u{2}".repeat(100).as_str(), Some(&odd));
    body["task"]["project"] = json!("é".repeat(400));
    let out = deliver(&store, &c, Some(KEY), body.to_string().as_bytes(), NOW);
    assert_eq!(out.status, 200, "{}", json_of(&out));
    for (k, e) in store.entries.borrow().iter() {
        let m = serde_json::to_string(&e.metadata).unwrap();
        assert!(m.len() <= 1024, "{k}: {} bytes", m.len());
        assert!(k.len() <= 512, "{k}");
    }
    let batch = block_on(list(
        &store,
        &LogQuery {
            batch: Some(odd.clone()),
            limit: 5,
            ..Default::default()
        },
    ))
    .unwrap();
    assert_eq!(batch.items.len(), 1);
    assert!(batch.items[0]["batch"].as_str().unwrap().ends_with('…'));
    let by_task = block_on(list(
        &store,
        &LogQuery {
            task_id: Some(quotes),
            batch: Some(odd),
            limit: 5,
            ..Default::default()
        },
    ))
    .unwrap();
    assert_eq!(by_task.items.len(), 1);
}

#[test]
fn webhook_max_bytes_leaves_room_for_the_entry_in_a_kv_value() {
    use crate::config::KV_MAX_VALUE_BYTES;
    let raw = |v: &str| RawSettings::from_pairs(&[("WEBHOOK_MAX_BYTES", v)], true);
    assert!(Config::from_raw(&raw(&KV_MAX_VALUE_BYTES.to_string())).is_err());
    let c = Config::from_raw(&raw(&MAX_WEBHOOK_MAX_BYTES.to_string())).unwrap();
    assert_eq!(c.webhook_max_bytes, MAX_WEBHOOK_MAX_BYTES);
    // A body exactly at the largest limit is stored (the store refuses values over 25 MiB, as KV does).
    let c = cfg(&[("WEBHOOK_MAX_BYTES", &MAX_WEBHOOK_MAX_BYTES.to_string())]);
    let head = r#"{"batch":"b","pad":""#;
    let pad = MAX_WEBHOOK_MAX_BYTES - head.len() - 2;
    let body = format!("{head}{}\"}}", "p".repeat(pad));
    assert_eq!(body.len(), MAX_WEBHOOK_MAX_BYTES);
    let store = MemoryStore::new();
    let out = deliver(&store, &c, Some(KEY), body.as_bytes(), NOW);
    assert_eq!(out.status, 200, "{}", json_of(&out));
    let id = json_of(&out)["id"].as_str().unwrap().to_string();
    let len = store.entries.borrow()[&format!("log:{id}")].value.len();
    assert!(len <= KV_MAX_VALUE_BYTES, "{len}");
}

#[test]
fn long_names_use_a_marker_no_real_name_encodes_to_and_listings_check_the_full_name() {
    let long = "n".repeat(5000);
    let marked = key_name(&long);
    assert!(marked.starts_with('*') && marked.len() == 17, "{marked}");
    // A batch literally named like a marker is encoded, so it cannot share the prefix.
    assert_eq!(key_name(&marked), format!("%2A{}", &marked[1..]));
    assert_eq!(key_name("~0123456789abcdef"), "~0123456789abcdef");
    let store = MemoryStore::new();
    let c = cfg(&[]);
    deliver(
        &store,
        &c,
        Some(KEY),
        task_body("t1", "completed", Some(&long))
            .to_string()
            .as_bytes(),
        NOW,
    );
    // Another batch's key under the same prefix (as a hash collision would put it) is not listed.
    let other = classify_value(&task_body("t2", "completed", Some("other")));
    let m = metadata(&other, "0000000000001-0000000000000000", NOW);
    block_on(store.put(
        &format!("b:{marked}:0000000000001-0000000000000000"),
        "",
        3600,
        &m,
    ))
    .unwrap();
    let page = block_on(list(
        &store,
        &LogQuery {
            batch: Some(long.clone()),
            limit: 10,
            ..Default::default()
        },
    ))
    .unwrap();
    assert_eq!(page.items.len(), 1, "{:?}", page.items);
    assert_eq!(page.items[0]["task_id"], "t1");
    // A name that differs only after the part kept in the metadata is not the same name.
    let longer = format!("{long}x");
    let page = block_on(list(
        &store,
        &LogQuery {
            batch: Some(longer),
            limit: 10,
            ..Default::default()
        },
    ))
    .unwrap();
    assert!(page.items.is_empty());
}

#[test]
fn entries_of_the_old_layout_are_read_during_the_changeover() {
    let store = MemoryStore::new();
    let c = cfg(&[]);
    // The old layout: log:, t:{task}:{id}, b:{batch}:{id}, d: markers; long names as ~{fnv64}.
    let long = "L".repeat(300);
    let fnv = format!("{:016x}", crate::codec::fnv64(long.as_bytes()));
    let old = |id: &str, task: &str, batch: &str, batch_key: &str, ms: u64| {
        let meta = json!({"id": id, "kind": "task", "task_id": task, "batch": crate::json::truncate(batch, 180), "status": "completed", "received_at": crate::codec::iso_from_ms(ms)});
        let entry = json!({"id": id, "received_at": crate::codec::iso_from_ms(ms), "kind": "task", "body": {"task_id": task}});
        block_on(store.put(&format!("log:{id}"), &entry.to_string(), 3600, &meta)).unwrap();
        block_on(store.put(&format!("t:{task}:{id}"), "", 3600, &meta)).unwrap();
        block_on(store.put(&format!("b:{batch_key}:{id}"), "", 3600, &meta)).unwrap();
        block_on(store.put(&format!("d:t{task}:{}", &id[14..]), id, 3600, &meta)).unwrap();
    };
    let id_a = new_id(NOW - 5000, "00000000000000aa");
    let id_b = new_id(NOW - 4000, "00000000000000bb");
    old(&id_a, "t1", "b1", "b1", NOW - 5000);
    old(&id_b, "t1", &long, &format!("~{fnv}"), NOW - 4000);
    // New deliveries of the same task and batches.
    let n1 = json_of(&deliver(
        &store,
        &c,
        Some(KEY),
        task_body("t1", "completed", Some("b1"))
            .to_string()
            .as_bytes(),
        NOW,
    ))["id"]
        .clone();
    let n2 = json_of(&deliver(
        &store,
        &c,
        Some(KEY),
        task_body("t1", "error", Some(&long)).to_string().as_bytes(),
        NOW + 1000,
    ))["id"]
        .clone();
    let ids = |q: LogQuery| -> Vec<Value> {
        block_on(list(&store, &q))
            .unwrap()
            .items
            .into_iter()
            .map(|i| i["id"].clone())
            .collect()
    };
    let q = |task: Option<&str>, batch: Option<&str>| LogQuery {
        task_id: task.map(str::to_string),
        batch: batch.map(str::to_string),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(
        ids(q(None, None)),
        vec![n2.clone(), n1.clone(), json!(id_b), json!(id_a)]
    );
    assert_eq!(
        ids(q(Some("t1"), None)),
        vec![n2.clone(), n1.clone(), json!(id_b), json!(id_a)]
    );
    assert_eq!(ids(q(None, Some("b1"))), vec![n1.clone(), json!(id_a)]);
    assert_eq!(ids(q(None, Some(&long))), vec![n2.clone(), json!(id_b)]);
    assert_eq!(ids(q(Some("t1"), Some(&long))), vec![n2, json!(id_b)]);
    assert!(block_on(get(&store, &id_a)).unwrap().is_some());
    // Paging walks the new prefix, then the old one.
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = block_on(list(
            &store,
            &LogQuery {
                batch: Some(long.clone()),
                limit: 1,
                cursor: cursor.clone(),
                ..Default::default()
            },
        ))
        .unwrap();
        seen.extend(page.items.into_iter().map(|i| i["id"].clone()));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen.len(), 2);
}
