//! Native tests of the log's pure parts: classifying deliveries and reading
//! entries by id. Storing and listing through the receiver are tested with
//! the receiver (`webhook`).

use super::*;
use crate::io::fakes::{block_on, MemoryStore};
use serde_json::json;

fn task_body(id: &str, status: &str, batch: Option<&str>) -> Value {
    json!({
        "task": {"task_id": id, "status": status, "batch": batch, "completed_at": "2026-01-01T00:00:00Z", "audits": []},
        "response": {"annotations": [{"label": "car"}]},
        "task_id": id,
    })
}

/// Classifies a body given as a value, as the receiver would its text.
fn classify_value(v: &Value) -> Delivery {
    classify(&scan::scan(v.to_string().as_bytes()).unwrap())
}

#[test]
fn classifies_task_batch_and_other_deliveries() {
    let d = classify_value(&task_body("t1", "completed", Some("b1")));
    assert_eq!(
        (
            d.kind,
            d.task_id.as_deref(),
            d.batch.as_deref(),
            d.status.as_deref()
        ),
        ("task", Some("t1"), Some("b1"), Some("completed"))
    );
    let b =
        classify_value(&json!({"batch": "b1", "status": "completed", "stats": {"completed": 3}}));
    assert_eq!(
        (b.kind, b.batch.as_deref(), b.task_id),
        ("batch", Some("b1"), None)
    );
    assert_eq!(classify_value(&json!({"hello": 1})).kind, "other");
    // The fingerprint covers the whole body, values not layout.
    let compact =
        r#"{"task_id":"t2","task":{"status":"completed","audits":[]},"response":{"a":[1,2.5]}}"#;
    let reordered = "{ \"response\": { \"a\": [ 1, 2.5 ] },\n  \"task\": { \"audits\": [], \"status\": \"complet\\u0065d\" }, \"task_id\": \"t2\" }";
    assert_eq!(
        classify(&scan::scan(reordered.as_bytes()).unwrap()),
        classify(&scan::scan(compact.as_bytes()).unwrap())
    );
    // Any change does, bookkeeping fields included.
    let mut retry = task_body("t1", "completed", Some("b1"));
    retry["task"]["callback_succeeded"] = json!(false);
    assert_ne!(classify_value(&retry).fingerprint, d.fingerprint);
    let mut audited = task_body("t1", "completed", Some("b1"));
    audited["task"]["customer_review_status"] = json!("accepted");
    assert_ne!(classify_value(&audited).fingerprint, d.fingerprint);
    assert_ne!(
        classify_value(&task_body("t1", "pending", Some("b1"))).fingerprint,
        d.fingerprint
    );
    // The project of a task, or of a batch.
    let mut with_project = task_body("t1", "completed", None);
    with_project["task"]["project"] = json!("p1");
    assert_eq!(classify_value(&with_project).project.as_deref(), Some("p1"));
    assert_eq!(
        classify_value(&json!({"batch": "b", "project": "p2"}))
            .project
            .as_deref(),
        Some("p2")
    );
}

#[test]
fn get_refuses_ids_that_are_not_ids() {
    let store = MemoryStore::new();
    for bad in ["", "../x", "a:b", &"1".repeat(65)] {
        assert_eq!(block_on(get(&store, bad)).unwrap(), None);
    }
}
