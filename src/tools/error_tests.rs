//! Native tests of tool errors: Scale's status, message and advice, the key
//! scrubbed from every text, and the other kinds of failure.

use super::*;
use crate::scale::testing::{KEY, KEY_B64};

// ---------------------------------------------------------------- errors

fn http(status: u16, message: &str) -> ScaleError {
    ScaleError::Http {
        status,
        message: message.into(),
        retry_after: None,
    }
}

#[test]
fn error_for_gives_status_message_and_hint() {
    let cases: &[(u16, &str, &str)] = &[
        (400, "Bad Request", "fix the arguments"),
        (401, "Unauthorized", "SCALE_API_KEY"),
        (402, "Payment Required", "task type is not enabled"),
        (403, "Forbidden", "may not do this"),
        (404, "Not Found", "live and test keys see separate data"),
        (409, "Conflict", "already exists"),
        (429, "Too Many Requests", "rate limiting"),
        (
            500,
            "Internal Server Error",
            "Scale had a problem on its side",
        ),
        (502, "Bad Gateway", "Scale had a problem on its side"),
        (
            503,
            "Service Unavailable",
            "Scale had a problem on its side",
        ),
        (504, "Gateway Timeout", "Scale had a problem on its side"),
    ];
    for (status, reason, hint_part) in cases {
        let e = error_for(
            "GET /task/t1",
            "api.test",
            http(*status, "Scale says no"),
            Some(KEY),
            &[],
        );
        assert_eq!(e.kind, ErrorKind::Scale);
        assert_eq!(e.status, Some(*status));
        let want_start =
            format!("Scale returned {status} {reason} for GET /task/t1: Scale says no\nHint: ");
        assert!(
            e.message.starts_with(&want_start),
            "{status}: {}",
            e.message
        );
        assert!(e.message.contains(hint_part), "{status}: {}", e.message);
        assert!(!hint(*status).is_empty());
    }
    let e = error_for(
        "GET /tasks",
        "api.test",
        ScaleError::Http {
            status: 429,
            message: "slow down".into(),
            retry_after: Some(90),
        },
        None,
        &[],
    );
    assert!(
        e.message.ends_with("Scale asked to retry after 90 s."),
        "{}",
        e.message
    );
}

#[test]
fn error_for_unnamed_statuses_have_no_reason_phrase() {
    let e = error_for("GET /task/t1", "api.test", http(418, "teapot"), None, &[]);
    assert_eq!(e.status, Some(418));
    assert_eq!(e.message, "Scale returned 418 for GET /task/t1: teapot");
    let e = error_for("GET /task/t1", "api.test", http(530, "origin"), None, &[]);
    assert!(
        e.message
            .starts_with("Scale returned 530 for GET /task/t1: origin\nHint: Scale had a problem"),
        "{}",
        e.message
    );
}

#[test]
fn error_for_scrubs_the_key_and_its_basic_encoding() {
    let echoed = format!("bad key {KEY} (Authorization: Basic {KEY_B64})");
    for e in [
        http(401, &echoed),
        ScaleError::Network(echoed.clone()),
        ScaleError::BadBody {
            status: 200,
            detail: echoed.clone(),
        },
    ] {
        let t = error_for("GET /projects", "api.test", e, Some(KEY), &[]);
        assert!(!t.message.contains(KEY), "{}", t.message);
        assert!(!t.message.contains(KEY_B64), "{}", t.message);
        assert!(
            t.message
                .contains("bad key [redacted] (Authorization: Basic [redacted])"),
            "{}",
            t.message
        );
    }
    assert_eq!(scrub("x test_key_abc y", Some(KEY)), "x [redacted] y");
    assert_eq!(scrub("nothing", None), "nothing");
    assert_eq!(scrub("nothing", Some("")), "nothing");
}

#[test]
fn error_for_other_failures() {
    let e = error_for(
        "GET /task/t1",
        "api.test",
        ScaleError::NoKey,
        Some(KEY),
        &[],
    );
    assert_eq!(e.kind, ErrorKind::Config);
    assert_eq!(e.status, None);
    assert!(
        e.message.contains("SCALE_API_KEY is not set"),
        "{}",
        e.message
    );
    assert!(
        e.message.contains("`wrangler secret put SCALE_API_KEY`"),
        "{}",
        e.message
    );

    let e = error_for(
        "POST /batches",
        "api.test",
        ScaleError::Timeout(25_000),
        Some(KEY),
        &[],
    );
    assert_eq!(e.kind, ErrorKind::Timeout);
    assert_eq!(e.status, None);
    assert!(e.message.contains("within 25000 ms"), "{}", e.message);
    assert!(e.message.contains("SCALE_TIMEOUT_MS"), "{}", e.message);
    assert!(e.message.contains("POST /batches"), "{}", e.message);

    let e = error_for(
        "GET /teams",
        "api.test",
        ScaleError::Network("refused".into()),
        None,
        &[],
    );
    assert!(
        e.message.starts_with(
            "Could not reach Scale at api.test for GET /teams: the connection was refused."
        ),
        "{}",
        e.message
    );
    // workerd's opaque messages become what the worker knows.
    for (platform, cause) in [
        (
            "internal error; reference = 7gq2x9",
            "DNS lookup or the TLS handshake failed",
        ),
        ("Network connection lost.", "refused or dropped"),
    ] {
        let e = error_for(
            "GET /teams",
            "api.test",
            ScaleError::Network(platform.into()),
            None,
            &[],
        );
        assert!(e.message.contains(cause), "{}", e.message);
        assert!(!e.message.contains("reference ="), "{}", e.message);
    }
    let e = error_for(
        "GET /tasks",
        "api.test",
        ScaleError::TooLarge {
            status: 200,
            limit: 8_388_608,
        },
        None,
        &[],
    );
    assert_eq!(e.status, Some(200));
    for part in [
        "larger than 8388608 bytes",
        "SCALE_MAX_RESPONSE_BYTES",
        "smaller `limit`",
        "limited_response",
    ] {
        assert!(e.message.contains(part), "{part}: {}", e.message);
    }

    let e = error_for(
        "GET /teams",
        "api.test",
        ScaleError::BadBody {
            status: 200,
            detail: "weird".into(),
        },
        None,
        &[],
    );
    assert_eq!(e.status, Some(200));
    assert_eq!(e.message, "weird (for GET /teams)");
}

#[test]
fn a_call_hint_replaces_the_general_one_for_its_status_only() {
    let hints = [(409, "That name is taken.")];
    let e = error_for("POST /batches", "api.test", http(409, "dup"), None, &hints);
    assert!(
        e.message.ends_with("dup\nHint: That name is taken."),
        "{}",
        e.message
    );
    let e = error_for("POST /batches", "api.test", http(404, "no"), None, &hints);
    assert!(
        e.message.ends_with(&format!("no\nHint: {}", hint(404))),
        "{}",
        e.message
    );
}
