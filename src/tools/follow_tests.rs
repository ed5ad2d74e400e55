use super::*;
use crate::auth::{Refusal, Scope};

#[test]
fn a_failed_look_is_hidden_busy_invalid_or_other() {
    let hidden = [
        ToolError::scale(Some(404), "Task with that ID not found."),
        ToolError::refused("not offered", Some(Refusal::MissingScope(Scope::Read))),
    ];
    for e in &hidden {
        assert_eq!(failed(e, 60), Failed::Hidden, "{e:?}");
    }
    // The rate limiter's refusal has no view rule: retry after its period.
    assert_eq!(
        failed(&ToolError::rate_limited("too many"), 10),
        Failed::Busy(Some(10))
    );
    // Any other refusal without a view rule (a guarded write, a job's rule)
    // is the tool's answer, not a reason to retry.
    assert_eq!(
        failed(&ToolError::refused("own key", None), 10),
        Failed::Other
    );
    for status in [Some(429), Some(500), Some(503), None] {
        assert_eq!(
            failed(&ToolError::scale(status, "x"), 60),
            Failed::Busy(None)
        );
    }
    assert_eq!(
        failed(&ToolError::invalid("task_id must be a string"), 60),
        Failed::Invalid
    );
    for e in [
        ToolError::scale(Some(401), "bad key"),
        ToolError::scale(Some(400), "bad request"),
        ToolError::config("no key"),
    ] {
        assert_eq!(failed(&e, 60), Failed::Other, "{e:?}");
    }
}

#[test]
fn only_scales_final_states_finish_the_work() {
    for s in ["completed", "error", "canceled"] {
        assert!(finished(Work::Task("t"), s), "{s}");
    }
    for s in ["pending", "", "in_progress", "whatever"] {
        assert!(!finished(Work::Task("t"), s), "{s}");
    }
    assert!(finished(Work::Batch("b"), "completed"));
    for s in ["in_progress", "staging", "error", ""] {
        assert!(!finished(Work::Batch("b"), s), "{s}");
    }
}

#[test]
fn a_batch_says_its_tasks_done_of_all_in_one_sentence() {
    assert_eq!(
        batch_message("in_progress", [400, 10, 2, 1000]),
        "412 of 1,000 tasks done."
    );
    assert_eq!(
        batch_message("completed", [1_234_000, 1, 0, 1_234_001]),
        "The batch is completed: 1,234,001 tasks done (1,234,000 completed, 1 error, 0 canceled)."
    );
    assert!(batch_message("staging", [0, 0, 0, 5]).contains("finalize_batch"));
    assert_eq!(
        batch_message("x\"y", [0, 0, 0, 0]),
        "Scale reports the batch's status as `x\"y`."
    );
    assert_eq!(thousands(0), "0");
    assert_eq!(thousands(999), "999");
    assert_eq!(thousands(1000), "1,000");
}

#[test]
fn a_pending_task_is_read_from_its_text_as_the_tree_reads_it() {
    let t = Work::Task("t");
    // What the tree reads of a pending task: `created_at` when a string.
    let read = |text: &str| {
        let v: Value = serde_json::from_str(text).unwrap();
        let pending = v["status"] == "pending";
        pending.then(|| v["created_at"].as_str().map(str::to_string))
    };
    for text in [
        r#"{"task_id": "t", "status": "pending", "created_at": "2026-12-07T06:00:00.000Z", "params": {"x": [1, {"status": "completed"}]}}"#,
        r#"{"status":"pending"}"#,
        r#"{"status": "pending", "created_at": 12}"#,
        r#"{"status": "completed", "status": "pending", "created_at": "a", "created_at": "b"}"#,
    ] {
        assert_eq!(pending(t, text), read(text), "{text}");
    }
    // Left to the tree: another status (however "pending" appears in the
    // text), a repeated status whose last is not pending, escapes in
    // `created_at`, text that is not one JSON object, and batches.
    for text in [
        r#"{"status": "completed", "audits": [{"status": "pending"}]}"#,
        r#"{"status": "pending", "status": "canceled"}"#,
        r#"{"status": "pending", "created_at": "2026-12-07T06:00:00\u002e000Z"}"#,
        r#"{"status": "pending"} trailing"#,
        r#"{"status": "pending", "x": [}"#,
        r#"["status", "pending"]"#,
    ] {
        assert_eq!(pending(t, text), None, "{text}");
    }
    assert_eq!(pending(Work::Batch("b"), r#"{"status": "pending"}"#), None);
}
