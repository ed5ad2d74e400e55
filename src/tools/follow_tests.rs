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
        failed(&ToolError::refused("too many", None), 10),
        Failed::Busy(Some(10))
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
