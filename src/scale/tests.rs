//! Native tests of the Scale client: encoding, request building, answer
//! interpretation, the retry policy (on a fake upstream with a virtual clock)
//! and the errors an agent sees.

use super::*;
use crate::config::Config;
use crate::io::fakes::{block_on, json_response, text_response, FakeUpstream};
use crate::io::{InResponse, Method, SendError};
use crate::scale::testing::{config, config_with, BASE, KEY, KEY_B64};
use crate::tools::ErrorKind;
use serde_json::json;

fn header<'a>(r: &'a OutRequest, name: &str) -> Option<&'a str> {
    crate::io::header_in(&r.headers, name)
}

fn with_retry_after(status: u16, body: Value, secs: &str) -> InResponse {
    let mut r = json_response(status, &body);
    r.headers.push(("retry-after".into(), secs.into()));
    r
}

fn err_body(status: u16, msg: &str) -> Value {
    json!({"status_code": status, "error": msg})
}

fn get_task_call() -> Call {
    Call::get().lit("task").seg("task_id", "t1").unwrap()
}

/// Sends `call` on a fresh client over `up`, returning the outcome.
fn send(cfg: &Config, up: &FakeUpstream, call: &Call, retry: Retry) -> Result<Value, ScaleError> {
    let sc = Scale::new(cfg, up);
    block_on(sc.send(call, retry))
}

fn http_status(r: &Result<Value, ScaleError>) -> Option<u16> {
    match r {
        Err(ScaleError::Http { status, .. }) => Some(*status),
        _ => None,
    }
}

// ---------------------------------------------------------------- encoding

#[test]
fn encode_keeps_unreserved_characters() {
    let unreserved = "ABCXYZabcxyz0123456789-_.~";
    assert_eq!(encode(unreserved), unreserved);
}

#[test]
fn encode_percent_encodes_everything_else() {
    let cases = [
        ("a/b", "a%2Fb"),
        ("a b", "a%20b"),
        ("a?b=c", "a%3Fb%3Dc"),
        ("a#b", "a%23b"),
        ("100%", "100%25"),
        ("%2F", "%252F"),
        ("a\\b", "a%5Cb"),
        ("a\nb\r\t\0", "a%0Ab%0D%09%00"),
        ("\u{7f}", "%7F"),
        ("é", "%C3%A9"),
        ("日本", "%E6%97%A5%E6%9C%AC"),
        ("😀", "%F0%9F%98%80"),
        ("a+b&c;d:e@f", "a%2Bb%26c%3Bd%3Ae%40f"),
        ("../projects", "..%2Fprojects"),
        ("", ""),
    ];
    for (input, want) in cases {
        assert_eq!(encode(input), want, "encode({input:?})");
    }
}

#[test]
fn check_segment_refuses_empty_dots_and_long_values() {
    let cases = [
        ("", "`task_id` must not be empty"),
        (".", "`task_id` cannot be `.`"),
        ("..", "`task_id` cannot be `..`"),
    ];
    for (v, want) in cases {
        let e = check_segment("task_id", v).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArguments);
        assert_eq!(e.message, want);
    }
    let long = "a".repeat(MAX_SEGMENT_LEN + 1);
    let e = check_segment("name", &long).unwrap_err();
    assert_eq!(e.message, "`name` is too long (1025 bytes; at most 1024)");
    // Length is counted in bytes: 342 three-byte characters are 1026 bytes.
    let e = check_segment("name", &"日".repeat(342)).unwrap_err();
    assert!(e.message.contains("1026 bytes"), "{}", e.message);
    // Accepted: the maximum, and values that only look like dot segments.
    for ok in [
        "a".repeat(MAX_SEGMENT_LEN),
        "...".into(),
        ".a".into(),
        "a.".into(),
        "%2e%2e".into(),
    ] {
        check_segment("name", &ok).unwrap();
    }
}

#[test]
fn seg_refuses_what_check_segment_refuses() {
    assert!(Call::get().lit("task").seg("task_id", "..").is_err());
    assert!(Call::get().lit("task").seg("task_id", "").is_err());
    let c = Call::get()
        .lit("task")
        .seg("task_id", "../projects")
        .unwrap();
    assert_eq!(c.path(), "/task/..%2Fprojects");
}

// ---------------------------------------------------------------- building

#[test]
fn url_encodes_path_segments_and_query() {
    let c = Call::post()
        .lit("task")
        .seg("task_id", "a/b?c#d")
        .unwrap()
        .lit("cancel")
        .query("clear_unique_id", "true")
        .query("tags", "x y")
        .query("tags", "a&b=c")
        .query_opt("none", None::<String>)
        .query_opt("some", Some("é"));
    assert_eq!(c.path(), "/task/a%2Fb%3Fc%23d/cancel");
    assert_eq!(
        c.url(BASE),
        "https://api.test/v1/task/a%2Fb%3Fc%23d/cancel?clear_unique_id=true&tags=x%20y&tags=a%26b%3Dc&some=%C3%A9"
    );
    assert_eq!(c.describe(), "POST /task/a%2Fb%3Fc%23d/cancel");
    assert_eq!(
        Call::get().lit("projects").url(BASE),
        "https://api.test/v1/projects"
    );
}

#[test]
fn build_sets_basic_auth_and_content_type_only_with_a_body() {
    assert_eq!(base64(b"test_key_abc:"), KEY_B64);
    let cfg = config();
    let up = FakeUpstream::new();
    let sc = Scale::new(&cfg, &up);

    let r = sc.build(&get_task_call()).unwrap();
    assert_eq!(r.method, Method::Get);
    assert_eq!(r.url, "https://api.test/v1/task/t1");
    assert_eq!(
        header(&r, "authorization"),
        Some("Basic dGVzdF9rZXlfYWJjOg==")
    );
    assert_eq!(header(&r, "accept"), Some("application/json"));
    assert_eq!(
        header(&r, "user-agent"),
        Some(format!("scale-mcp-worker/{}", crate::VERSION).as_str())
    );
    assert_eq!(header(&r, "content-type"), None);
    assert_eq!(r.body, None);

    let body = json!({"project": "p", "metadata": {"k": [1, 2]}, "tags": ["é"]});
    let r = sc
        .build(
            &Call::post()
                .lit("task")
                .lit("imageannotation")
                .body(body.clone()),
        )
        .unwrap();
    assert_eq!(r.method, Method::Post);
    assert_eq!(header(&r, "content-type"), Some("application/json"));
    let sent: Value = serde_json::from_str(r.body.as_deref().unwrap()).unwrap();
    assert_eq!(sent, body);

    // A bare array body (tags) is serialised as such.
    let r = sc
        .build(
            &Call::new(Method::Delete)
                .lit("task")
                .lit("t")
                .lit("tags")
                .body(json!(["a", "b"])),
        )
        .unwrap();
    assert_eq!(r.method, Method::Delete);
    assert_eq!(r.body.as_deref(), Some(r#"["a","b"]"#));
    assert!(up.requests.borrow().is_empty(), "build sends nothing");
}

#[test]
fn build_without_key_is_nokey_and_sends_nothing() {
    let cfg = config_with(&[("SCALE_API_KEY", "")]);
    assert!(cfg.scale_api_key.is_none());
    let up = FakeUpstream::new();
    let r = send(&cfg, &up, &get_task_call(), Retry::Idempotent);
    assert_eq!(r, Err(ScaleError::NoKey));
    assert!(up.requests.borrow().is_empty());
}

// ---------------------------------------------------------------- interpret

#[test]
fn interpret_2xx_answers() {
    assert_eq!(
        interpret(200, Some("application/json"), br#"{"a":1}"#, None),
        Ok(json!({"a": 1}))
    );
    assert_eq!(interpret(201, None, b"[1,2]", None), Ok(json!([1, 2])));
    assert_eq!(
        interpret(200, Some("text/plain"), b"OK", None),
        Ok(Value::Null)
    );
    assert_eq!(
        interpret(200, Some("text/plain"), b" ok\n", None),
        Ok(Value::Null)
    );
    assert_eq!(interpret(204, None, b"", None), Ok(Value::Null));
    assert_eq!(interpret(200, None, b"  \n", None), Ok(Value::Null));

    match interpret(200, Some("text/html"), b"<html>hello</html>", None) {
        Err(ScaleError::BadBody { status, detail }) => {
            assert_eq!(status, 200);
            assert!(detail.contains("not JSON (text/html)"), "{detail}");
            assert!(detail.contains("<html>hello</html>"), "{detail}");
        }
        other => panic!("expected BadBody, got {other:?}"),
    }
    match interpret(
        200,
        Some("application/json"),
        br#"{"task_id": "a", "sta"#,
        None,
    ) {
        Err(ScaleError::BadBody {
            status: 200,
            detail,
        }) => {
            assert!(detail.contains("application/json"), "{detail}")
        }
        other => panic!("expected BadBody, got {other:?}"),
    }
    match interpret(200, None, b"nope", None) {
        Err(ScaleError::BadBody { detail, .. }) => {
            assert!(detail.contains("no content type"), "{detail}")
        }
        other => panic!("expected BadBody, got {other:?}"),
    }
}

#[test]
fn interpret_error_bodies() {
    assert_eq!(
        interpret(
            404,
            Some("application/json"),
            br#"{"status_code": 404, "error": "Task with that ID not found."}"#,
            None
        ),
        Err(ScaleError::Http {
            status: 404,
            message: "Task with that ID not found.".into(),
            retry_after: None
        })
    );
    // `message` is the fallback key; a non-string error is quoted as JSON.
    assert_eq!(
        http_message(interpret(400, None, br#"{"message": "bad field"}"#, None)),
        "bad field"
    );
    assert_eq!(
        http_message(interpret(400, None, br#"{"error": {"field": "x"}}"#, None)),
        r#"{"field":"x"}"#
    );
    // Non-JSON bodies are quoted trimmed; long ones are cut.
    assert_eq!(
        http_message(interpret(
            502,
            Some("text/html"),
            b"  <h1>Bad gateway</h1>\n",
            None
        )),
        "<h1>Bad gateway</h1>"
    );
    let long = "x".repeat(1000);
    let m = http_message(interpret(500, None, long.as_bytes(), None));
    assert_eq!(m.chars().count(), 301);
    assert!(m.ends_with('…'));
    assert_eq!(http_message(interpret(503, None, b"", None)), "");
}

fn http_message(r: Result<Value, ScaleError>) -> String {
    match r {
        Err(ScaleError::Http { message, .. }) => message,
        other => panic!("expected Http error, got {other:?}"),
    }
}

#[test]
fn interpret_reads_retry_after_seconds() {
    let ra = |h: Option<&str>| match interpret(429, None, b"{}", h) {
        Err(ScaleError::Http { retry_after, .. }) => retry_after,
        other => panic!("{other:?}"),
    };
    assert_eq!(ra(Some("7")), Some(7));
    assert_eq!(ra(Some(" 12 ")), Some(12));
    assert_eq!(ra(Some("0")), Some(0));
    assert_eq!(ra(Some("Wed, 21 Oct 2015 07:28:00 GMT")), None);
    assert_eq!(ra(Some("-1")), None);
    assert_eq!(ra(Some("1.5")), None);
    assert_eq!(ra(None), None);
}

// ---------------------------------------------------------------- retries

#[test]
fn idempotent_retries_each_transient_status_twice_with_backoff() {
    for status in [429u16, 500, 502, 503, 504, 408] {
        let cfg = config();
        let up = FakeUpstream::new();
        for _ in 0..3 {
            up.push_json(status, err_body(status, "busy"));
        }
        let r = send(&cfg, &up, &get_task_call(), Retry::Idempotent);
        assert_eq!(http_status(&r), Some(status), "{status}");
        assert_eq!(up.requests.borrow().len(), 3, "{status}: 3 attempts");
        assert_eq!(*up.sleeps.borrow(), vec![500, 1000], "{status}");
        // Every attempt is the same request.
        let reqs = up.sent();
        assert!(reqs.iter().all(|r| r == &reqs[0]));
    }
}

#[test]
fn idempotent_retry_succeeds_on_a_later_attempt() {
    let cfg = config();
    let up = FakeUpstream::new();
    up.push_json(503, err_body(503, "queue"));
    up.push_json(200, json!({"task_id": "t1"}));
    let sc = Scale::new(&cfg, &up);
    let r = block_on(sc.send(&get_task_call(), Retry::Idempotent));
    assert_eq!(r, Ok(json!({"task_id": "t1"})));
    assert_eq!(sc.attempts(), 2);
    assert_eq!(*up.sleeps.borrow(), vec![500]);
    assert!(sc.uncertain.get(), "a 5xx leaves the outcome uncertain");
}

#[test]
fn network_errors_and_timeouts_are_retried() {
    let cfg = config_with(&[("SCALE_TIMEOUT_MS", "1000")]);
    let up = FakeUpstream::new();
    up.push(Err(SendError::Network("connection reset".into())));
    up.push(Err(SendError::Timeout(1000)));
    up.push_json(200, json!({"ok": 1}));
    let r = send(&cfg, &up, &get_task_call(), Retry::Idempotent);
    assert_eq!(r, Ok(json!({"ok": 1})));
    assert_eq!(up.requests.borrow().len(), 3);
    assert_eq!(*up.sleeps.borrow(), vec![500, 1000]);
    assert_eq!(*up.timeouts.borrow(), vec![1000, 1000, 1000]);

    let up = FakeUpstream::new();
    for _ in 0..3 {
        up.push(Err(SendError::Network("dns".into())));
    }
    let r = send(&cfg, &up, &get_task_call(), Retry::Idempotent);
    assert_eq!(r, Err(ScaleError::Network("dns".into())));
    assert_eq!(up.requests.borrow().len(), 3);
}

#[test]
fn client_errors_are_not_retried() {
    for status in [400u16, 401, 402, 403, 404, 409, 422] {
        let cfg = config();
        let up = FakeUpstream::new();
        up.push_json(status, err_body(status, "no"));
        up.push_json(200, json!({}));
        let r = send(&cfg, &up, &get_task_call(), Retry::Idempotent);
        assert_eq!(http_status(&r), Some(status));
        assert_eq!(up.requests.borrow().len(), 1, "{status}");
        assert!(up.sleeps.borrow().is_empty());
    }
}

#[test]
fn bad_2xx_bodies_are_not_retried() {
    let cfg = config();
    let up = FakeUpstream::new();
    up.push(Ok(text_response(200, "text/html", "<html>")));
    let r = send(&cfg, &up, &get_task_call(), Retry::Idempotent);
    assert!(
        matches!(r, Err(ScaleError::BadBody { status: 200, .. })),
        "{r:?}"
    );
    assert_eq!(up.requests.borrow().len(), 1);
}

#[test]
fn never_never_retries() {
    for reply in [
        Ok(json_response(503, &err_body(503, "x"))),
        Ok(json_response(429, &err_body(429, "x"))),
        Err(SendError::Network("reset".into())),
        Err(SendError::Timeout(25_000)),
    ] {
        let cfg = config();
        let up = FakeUpstream::new();
        up.push(reply.clone());
        up.push_json(200, json!({}));
        let r = send(
            &cfg,
            &up,
            &Call::post().lit("batches").body(json!({})),
            Retry::Never,
        );
        assert!(r.is_err(), "{reply:?}");
        assert_eq!(up.requests.borrow().len(), 1, "{reply:?}");
        assert!(up.sleeps.borrow().is_empty());
    }
}

#[test]
fn retry_after_is_honoured_when_larger_than_the_backoff() {
    let cfg = config();
    let up = FakeUpstream::new();
    up.push(Ok(with_retry_after(429, err_body(429, "slow"), "3")));
    up.push(Ok(with_retry_after(429, err_body(429, "slow"), "0")));
    up.push_json(200, json!({"done": true}));
    let r = send(&cfg, &up, &get_task_call(), Retry::Idempotent);
    assert_eq!(r, Ok(json!({"done": true})));
    // 3 s beats the 500 ms backoff; 0 s loses to the 1000 ms one.
    assert_eq!(*up.sleeps.borrow(), vec![3000, 1000]);
}

#[test]
fn no_retry_when_the_wait_does_not_fit_the_budget() {
    // Retry-After beyond the budget: answered at once with Scale's error.
    let cfg = config();
    let up = FakeUpstream::new();
    up.push(Ok(with_retry_after(503, err_body(503, "down"), "60")));
    up.push_json(200, json!({}));
    let r = send(&cfg, &up, &get_task_call(), Retry::Idempotent);
    assert_eq!(
        r,
        Err(ScaleError::Http {
            status: 503,
            message: "down".into(),
            retry_after: Some(60)
        })
    );
    assert_eq!(up.requests.borrow().len(), 1);
    assert!(up.sleeps.borrow().is_empty());

    // A slow first attempt leaves no room for the backoff plus another attempt.
    let cfg = config_with(&[("SCALE_TIMEOUT_MS", "49000")]);
    let up = FakeUpstream::new();
    up.push(Err(SendError::Timeout(49_000)));
    let r = send(&cfg, &up, &get_task_call(), Retry::Idempotent);
    assert_eq!(r, Err(ScaleError::Timeout(49_000)));
    assert_eq!(up.requests.borrow().len(), 1);
    assert!(up.sleeps.borrow().is_empty());
}

#[test]
fn attempt_timeout_is_the_setting_capped_by_the_remaining_budget() {
    let cfg = config_with(&[("SCALE_TIMEOUT_MS", "30000")]);
    let up = FakeUpstream::new();
    up.push(Err(SendError::Timeout(30_000)));
    up.push(Err(SendError::Timeout(0)));
    let r = send(&cfg, &up, &get_task_call(), Retry::Idempotent);
    // 30 000 + 500 ms spent: 19 500 ms remain for the second attempt, after
    // which no third attempt fits.
    assert_eq!(*up.timeouts.borrow(), vec![30_000, 19_500]);
    assert_eq!(*up.sleeps.borrow(), vec![500]);
    assert_eq!(r, Err(ScaleError::Timeout(19_500)));

    // The default is 25 s.
    let cfg = config();
    let up = FakeUpstream::new();
    up.push_json(200, json!({}));
    send(&cfg, &up, &get_task_call(), Retry::Never).unwrap();
    assert_eq!(*up.timeouts.borrow(), vec![25_000]);
}

#[test]
fn a_spent_budget_sends_nothing() {
    let cfg = config();
    let up = FakeUpstream::new();
    let sc = Scale::new(&cfg, &up);
    up.advance(CALL_BUDGET_MS - 10);
    let r = block_on(sc.send(&get_task_call(), Retry::Idempotent));
    assert_eq!(r, Err(ScaleError::Budget));
    assert!(up.requests.borrow().is_empty());
    let e = error_for("GET /task/t1", ScaleError::Budget, Some(KEY), &[]);
    assert!(e.message.contains("50 s"), "{}", e.message);
}

#[test]
fn create_unique_fetches_the_task_after_an_uncertain_attempt_and_a_409() {
    let cfg = config();
    let up = FakeUpstream::new();
    up.push_json(503, err_body(503, "timeout in queue"));
    up.push_json(409, err_body(409, "unique_id already used"));
    up.push_json(
        200,
        json!({"docs": [{"task_id": "found", "unique_id": "u 1"}], "total": 1}),
    );
    let call = Call::post()
        .lit("task")
        .lit("imageannotation")
        .body(json!({"unique_id": "u 1"}));
    let sc = Scale::new(&cfg, &up);
    let r = block_on(sc.create_unique(&call, "u 1"));
    assert_eq!(r, Ok(json!({"task_id": "found", "unique_id": "u 1"})));
    let reqs = up.sent();
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[0].method, Method::Post);
    assert_eq!(reqs[1], reqs[0]);
    assert_eq!(reqs[2].method, Method::Get);
    assert_eq!(
        reqs[2].url,
        "https://api.test/v1/tasks?unique_id=u%201&limit=1"
    );
    assert_eq!(reqs[2].body, None);
    assert_eq!(*up.sleeps.borrow(), vec![500]);
}

#[test]
fn create_unique_after_a_timeout_and_409_also_fetches() {
    let cfg = config();
    let up = FakeUpstream::new();
    up.push(Err(SendError::Timeout(25_000)));
    up.push_json(409, err_body(409, "dup"));
    up.push_json(200, json!({"docs": []}));
    let call = Call::post()
        .lit("task")
        .lit("categorization")
        .body(json!({}));
    let sc = Scale::new(&cfg, &up);
    let r = block_on(sc.create_unique(&call, "u"));
    // The task exists but the lookup found nothing: a clear 409.
    match r {
        Err(ScaleError::Http {
            status: 409,
            message,
            ..
        }) => {
            assert!(
                message.contains("unique_id `u` exists but could not be fetched"),
                "{message}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(up.requests.borrow().len(), 3);
}

#[test]
fn create_unique_plain_409_is_an_error_without_a_fetch() {
    let cfg = config();
    let up = FakeUpstream::new();
    up.push_json(409, err_body(409, "dup"));
    up.push_json(200, json!({"docs": [{"task_id": "x"}]}));
    let call = Call::post()
        .lit("task")
        .lit("categorization")
        .body(json!({}));
    let sc = Scale::new(&cfg, &up);
    let r = block_on(sc.create_unique(&call, "u"));
    assert_eq!(http_status(&r), Some(409));
    assert_eq!(up.requests.borrow().len(), 1);
    // 429 then 409: the 429 was not processed, so the 409 is a real duplicate.
    let up = FakeUpstream::new();
    up.push_json(429, err_body(429, "slow"));
    up.push_json(409, err_body(409, "dup"));
    let sc = Scale::new(&cfg, &up);
    let r = block_on(sc.create_unique(&call, "u"));
    assert_eq!(http_status(&r), Some(409));
    assert_eq!(up.requests.borrow().len(), 2);
}

#[test]
fn unique_id_creates_are_retried_like_reads() {
    let cfg = config();
    let up = FakeUpstream::new();
    up.push_json(502, err_body(502, "x"));
    up.push_json(200, json!({"task_id": "new"}));
    let call = Call::post()
        .lit("task")
        .lit("categorization")
        .body(json!({}));
    let sc = Scale::new(&cfg, &up);
    assert_eq!(
        block_on(sc.create_unique(&call, "u")),
        Ok(json!({"task_id": "new"}))
    );
    assert_eq!(up.requests.borrow().len(), 2);
}

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
    let e = error_for("GET /task/t1", http(418, "teapot"), None, &[]);
    assert_eq!(e.status, Some(418));
    assert_eq!(e.message, "Scale returned 418 for GET /task/t1: teapot");
    let e = error_for("GET /task/t1", http(530, "origin"), None, &[]);
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
        let t = error_for("GET /projects", e, Some(KEY), &[]);
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
fn tool_error_scrubs_with_the_configured_key() {
    let cfg = config();
    let up = FakeUpstream::new();
    let sc = Scale::new(&cfg, &up);
    let e = sc.tool_error(
        &get_task_call(),
        http(401, &format!("key {KEY} is invalid")),
    );
    assert_eq!(e.status, Some(401));
    assert!(
        e.message.starts_with(
            "Scale returned 401 Unauthorized for GET /task/t1: key [redacted] is invalid"
        ),
        "{}",
        e.message
    );
}

#[test]
fn error_for_other_failures() {
    let e = error_for("GET /task/t1", ScaleError::NoKey, Some(KEY), &[]);
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

    let e = error_for("POST /batches", ScaleError::Timeout(25_000), Some(KEY), &[]);
    assert_eq!(e.kind, ErrorKind::Scale);
    assert_eq!(e.status, None);
    assert!(e.message.contains("within 25000 ms"), "{}", e.message);
    assert!(e.message.contains("SCALE_TIMEOUT_MS"), "{}", e.message);
    assert!(e.message.contains("POST /batches"), "{}", e.message);

    let e = error_for(
        "GET /teams",
        ScaleError::Network("refused".into()),
        None,
        &[],
    );
    assert!(
        e.message
            .starts_with("Could not reach Scale for GET /teams: refused."),
        "{}",
        e.message
    );

    let e = error_for(
        "GET /teams",
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

// ---------------------------------------------------------------- helpers

#[test]
fn base64_matches_the_standard_alphabet_and_padding() {
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(base64(b"foob"), "Zm9vYg==");
    assert_eq!(base64(&[0xfb, 0xff, 0xfe]), "+//+");
}

#[test]
fn docs_and_object_or_ok() {
    assert_eq!(docs(json!({"docs": [1, 2]})), vec![json!(1), json!(2)]);
    assert!(docs(json!({"docs": "x"})).is_empty());
    assert!(docs(Value::Null).is_empty());
    assert_eq!(object_or_ok(json!({"a": 1})), json!({"a": 1}));
    assert_eq!(object_or_ok(Value::Null), json!({"ok": true}));
    assert_eq!(object_or_ok(json!([1])), json!({"result": [1]}));
    assert_eq!(object_or_ok(json!("OK")), json!({"result": "OK"}));
}

#[test]
fn a_call_hint_replaces_the_general_one_for_its_status_only() {
    let hints = [(409, "That name is taken.".to_string())];
    let e = error_for("POST /batches", http(409, "dup"), None, &hints);
    assert!(
        e.message.ends_with("dup\nHint: That name is taken."),
        "{}",
        e.message
    );
    let e = error_for("POST /batches", http(404, "no"), None, &hints);
    assert!(
        e.message.ends_with(&format!("no\nHint: {}", hint(404))),
        "{}",
        e.message
    );
}
