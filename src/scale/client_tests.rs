//! The client's retries, budgets and errors against a scripted upstream:
//! what is repeated and what is sent once, backoff and `Retry-After`, the
//! call's and the request's budgets, size limits and unique-id recovery.

use super::*;
use crate::codec::base64;
use crate::io::fakes::{block_on, json_response, text_response, FakeUpstream};
use crate::io::{InResponse, Method, SendError};
use crate::scale::testing::{config, config_with, KEY_B64};
use serde_json::json;

/// A request budget that never runs out before the call's own.
fn roomy() -> Budget {
    Budget::new(0, u64::MAX / 2, 1000)
}

fn header<'a>(r: &'a OutRequest, name: &str) -> Option<&'a str> {
    crate::http::header_in(&r.headers, name)
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
    let budget = roomy();
    let sc = Scale::new(cfg, cfg.scale_api_key.as_ref(), up, &budget);
    block_on(sc.send(call, retry))
}

fn http_status(r: &Result<Value, ScaleError>) -> Option<u16> {
    match r {
        Err(ScaleError::Http { status, .. }) => Some(*status),
        _ => None,
    }
}

#[test]
fn build_sets_basic_auth_and_content_type_only_with_a_body() {
    assert_eq!(base64(b"test_key_abc:"), KEY_B64);
    let cfg = config();
    let up = FakeUpstream::new();
    let budget = roomy();
    let sc = Scale::new(&cfg, cfg.scale_api_key.as_ref(), &up, &budget);

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
    let budget = roomy();
    let sc = Scale::new(&cfg, cfg.scale_api_key.as_ref(), &up, &budget);
    let r = block_on(sc.send(&get_task_call(), Retry::Idempotent));
    assert_eq!(r, Ok(json!({"task_id": "t1"})));
    assert_eq!(up.requests.borrow().len(), 2);
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
    let budget = roomy();
    let sc = Scale::new(&cfg, cfg.scale_api_key.as_ref(), &up, &budget);
    up.advance(CALL_BUDGET_MS - 10);
    let r = block_on(sc.send(&get_task_call(), Retry::Idempotent));
    assert_eq!(r, Err(ScaleError::Budget));
    assert!(up.requests.borrow().is_empty());
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
    let budget = roomy();
    let sc = Scale::new(&cfg, cfg.scale_api_key.as_ref(), &up, &budget);
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
    let budget = roomy();
    let sc = Scale::new(&cfg, cfg.scale_api_key.as_ref(), &up, &budget);
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
    let budget = roomy();
    let sc = Scale::new(&cfg, cfg.scale_api_key.as_ref(), &up, &budget);
    let r = block_on(sc.create_unique(&call, "u"));
    assert_eq!(http_status(&r), Some(409));
    assert_eq!(up.requests.borrow().len(), 1);
    // 429 then 409: the 429 was not processed, so the 409 is a real duplicate.
    let up = FakeUpstream::new();
    up.push_json(429, err_body(429, "slow"));
    up.push_json(409, err_body(409, "dup"));
    let budget = roomy();
    let sc = Scale::new(&cfg, cfg.scale_api_key.as_ref(), &up, &budget);
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
    let budget = roomy();
    let sc = Scale::new(&cfg, cfg.scale_api_key.as_ref(), &up, &budget);
    assert_eq!(
        block_on(sc.create_unique(&call, "u")),
        Ok(json!({"task_id": "new"}))
    );
    assert_eq!(up.requests.borrow().len(), 2);
}

#[test]
fn the_request_budget_caps_subrequests_across_calls_and_is_never_retried_past() {
    let cfg = config();
    let up = FakeUpstream::new();
    up.respond_with(|_| Ok(json_response(503, &err_body(503, "busy"))));
    let budget = Budget::new(0, u64::MAX / 2, 4);
    // One call retries twice (three attempts); the next has one subrequest left.
    let first = Scale::new(&cfg, cfg.scale_api_key.as_ref(), &up, &budget);
    let r = block_on(first.send(&get_task_call(), Retry::Idempotent));
    assert!(
        matches!(r, Err(ScaleError::Http { status: 503, .. })),
        "{r:?}"
    );
    let second = Scale::new(&cfg, cfg.scale_api_key.as_ref(), &up, &budget);
    let r = block_on(second.send(&get_task_call(), Retry::Idempotent));
    assert_eq!(r, Err(ScaleError::SubrequestLimit(4)));
    assert_eq!(up.requests.borrow().len(), 4, "never more than the limit");
    assert_eq!(budget.subrequests_left(), 0);
    // Nothing further is sent at all.
    let third = Scale::new(&cfg, cfg.scale_api_key.as_ref(), &up, &budget);
    assert_eq!(
        block_on(third.send(&get_task_call(), Retry::Never)),
        Err(ScaleError::SubrequestLimit(4))
    );
    assert_eq!(up.requests.borrow().len(), 4);
}

#[test]
fn the_request_deadline_bounds_every_call() {
    let cfg = config();
    let up = FakeUpstream::new();
    let budget = Budget::new(up.now_ms(), 10_000, 50);
    up.advance(9_990);
    let sc = Scale::new(&cfg, cfg.scale_api_key.as_ref(), &up, &budget);
    assert_eq!(
        block_on(sc.send(&get_task_call(), Retry::Idempotent)),
        Err(ScaleError::Budget)
    );
    assert!(up.requests.borrow().is_empty());
}
