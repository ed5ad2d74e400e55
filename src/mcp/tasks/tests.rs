//! MCP tasks through the method dispatcher, on fakes: both eras' wire,
//! handles that only their maker can open, and looks that keep to the wait
//! tools' checks.

use super::super::lane::{check_modern, META_VERSION, MODERN_VERSION};
use super::super::methods::dispatch;

use super::*;
use crate::auth::{mcp_path, Identity, Keyring, Principal, Scopes, View};
use crate::config::{Config, RawSettings};
use crate::http::Request as HttpIn;
use crate::io::fakes::{
    block_on, json_response, services, text_response, FakeLimiter, FakeUpstream,
};
use crate::scale::testing::BASE;
use serde_json::json;
use std::rc::Rc;

const V1: Lane = Lane::Legacy("2025-11-25");
const SECRET: &str = "task-test-secret-0123456789abcdef0123";
const NOT_FOUND: &str = "Failed to retrieve task: Task not found";

fn cfg(extra: &[(&'static str, &str)]) -> Config {
    let mut pairs = vec![
        ("SCALE_API_KEY", "test_key_abc"),
        ("SCALE_API_BASE", BASE),
        ("OAUTH_SECRET", SECRET),
        ("TASK_POLL_MS", "200"),
    ];
    pairs.extend_from_slice(extra);
    Config::from_raw(&RawSettings::from_pairs(&pairs, true)).unwrap()
}

/// A context for `who` (a static token with every scope) on `path`, with
/// the view the configuration and the path give. Every request has its own
/// (so its own time budget): tests make one per request.
fn cx_as(cfg: &Config, up: &FakeUpstream, who: &str, path: &str) -> Ctx {
    let principal = Principal::full(who);
    let narrowing = mcp_path(path).expect("an MCP path").unwrap();
    let known = |t: &str| tools::find(t).is_some();
    let view = View::new(
        &principal,
        cfg,
        &Keyring::default(),
        &narrowing,
        &[],
        &known,
    )
    .unwrap();
    let sv = services(up, None);
    let origin = "https://worker.example";
    let id = Identity::operator(principal, cfg, None, origin);
    Ctx::new(cfg.clone(), sv, id, view, (origin, path), "req")
}

fn cx(cfg: &Config, up: &FakeUpstream) -> Ctx {
    cx_as(cfg, up, "ops", "/mcp")
}

fn with_meta(mut params: Value, extension: bool) -> Map<String, Value> {
    let caps = if extension {
        json!({"extensions": {EXTENSION: {}}})
    } else {
        json!({})
    };
    params["_meta"] = json!({META_VERSION: MODERN_VERSION, META_CAPS: caps});
    params.as_object().unwrap().clone()
}

/// Calls `method` on `lane`: the result, or the error.
fn call(cx: &Ctx, lane: Lane, method: &str, params: Value) -> Result<Value, RpcError> {
    let params = match lane {
        Lane::Modern => with_meta(params, true),
        _ => params.as_object().cloned().unwrap_or_default(),
    };
    block_on(dispatch(method, params, lane, cx)).map(|p| serde_json::from_str(p.get()).unwrap())
}

fn modern_plain(cx: &Ctx, method: &str, params: Value) -> Result<Value, RpcError> {
    block_on(dispatch(method, with_meta(params, false), Lane::Modern, cx))
        .map(|p| serde_json::from_str(p.get()).unwrap())
}

fn task(status: &str) -> Value {
    json!({"task_id": "t1", "status": status, "project": "p", "created_at": "2020-01-02T03:04:05.000Z",
           "response": {"label": "cat"}})
}

fn create_v1(cx: &Ctx, up: &FakeUpstream, status: &str) -> Value {
    up.push_json(200, task(status));
    call(
        cx,
        V1,
        "tools/call",
        json!({"name": "wait_for_task", "arguments": {"task_id": "t1"}, "task": {}}),
    )
    .unwrap()
}

#[test]
fn a_2025_11_25_task_is_created_working_polled_and_its_result_is_the_waits() {
    let (c, up) = (cfg(&[]), FakeUpstream::new());
    let cx = cx(&c, &up);
    let made = create_v1(&cx, &up, "pending");
    let t = &made["task"];
    assert_eq!(t["status"], "working", "{made}");
    assert_eq!(
        t["statusMessage"],
        "Waiting for labelers since 2020-01-02 03:04 UTC."
    );
    assert_eq!(t["ttl"], 30 * 86_400_000u64);
    assert_eq!(t["pollInterval"], 200);
    assert_eq!(t["createdAt"], t["lastUpdatedAt"]);
    assert!(
        made["_meta"]["io.modelcontextprotocol/model-immediate-response"]
            .as_str()
            .unwrap()
            .starts_with("Scale task t1 is now followed as a task")
    );
    let id = t["taskId"].as_str().unwrap();
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{id}"
    );
    assert!(!id.contains("t1") && !id.contains("ops"));
    // One Scale read made the task.
    assert_eq!(up.sent().len(), 1);
    assert!(up.sent()[0].url.ends_with("/task/t1"));

    up.push_json(200, task("pending"));
    let got = call(&cx, V1, "tasks/get", json!({"taskId": id})).unwrap();
    assert_eq!(
        (got["status"].as_str(), got["taskId"].as_str()),
        (Some("working"), Some(id))
    );
    assert!(
        got.get("result").is_none() && got.get("_meta").is_none(),
        "{got}"
    );

    // Scale ends it in error: the task is completed, its result says how.
    up.advance(180_000);
    let cx = self::cx(&c, &up);
    up.push_json(200, task("error"));
    let got = call(&cx, V1, "tasks/get", json!({"taskId": id})).unwrap();
    assert_eq!(got["status"], "completed");
    assert_eq!(
        got["statusMessage"],
        "Scale ended the task in error; the result says why."
    );
    assert_eq!(
        got["pollInterval"], 1_200,
        "six times TASK_POLL_MS after two minutes"
    );
    assert_ne!(got["lastUpdatedAt"], got["createdAt"]);

    up.push_json(200, task("error"));
    let r = call(&cx, V1, "tasks/result", json!({"taskId": id})).unwrap();
    assert_eq!(
        r["_meta"]["io.modelcontextprotocol/related-task"]["taskId"],
        id
    );
    assert_eq!(r["_meta"]["scale-mcp/untrusted"][0], "/task/response");
    let sc = &r["structuredContent"];
    assert_eq!(
        (
            sc["status"].as_str(),
            sc["done"].as_bool(),
            sc["polls"].as_u64(),
            sc["waited_s"].as_f64()
        ),
        (Some("error"), Some(true), Some(1), Some(180.0))
    );
    // What wait_for_task answers at that moment, but for the time waited.
    up.push_json(200, task("error"));
    let blocking = call(
        &cx,
        V1,
        "tools/call",
        json!({"name": "wait_for_task", "arguments": {"task_id": "t1"}}),
    )
    .unwrap();
    let mut same = blocking["structuredContent"].clone();
    same["waited_s"] = json!(180.0);
    assert_eq!(sc, &same);
    assert!(r.get("isError").is_none());
}

#[test]
fn a_pending_tasks_creation_time_reads_as_the_whole_answer_would() {
    let (c, up) = (cfg(&[]), FakeUpstream::new());
    let cx = cx(&c, &up);
    let made = create_v1(&cx, &up, "pending");
    let id = made["task"]["taskId"].clone();
    let poll = |body: &str| {
        up.push(Ok(text_response(200, "application/json", body)));
        let got = call(&cx, V1, "tasks/get", json!({"taskId": id})).unwrap();
        got["statusMessage"].as_str().unwrap().to_string()
    };
    // An escape in created_at: decoded, as a tree of the answer reads it.
    assert_eq!(
        poll(r#"{"status": "pending", "created_at": "2020-01-02T03:04:05\u002e000Z"}"#),
        "Waiting for labelers since 2020-01-02 03:04 UTC."
    );
    // Not ASCII (a cut inside a character would panic): when the handle was
    // made instead, as for a created_at missing or of another shape.
    for body in [
        r#"{"status": "pending", "created_at": "2020-01-02T03:0\u00e9:05.000Z"}"#,
        r#"{"status": "pending", "created_at": "2020-01-02T03:0é:05.000Z"}"#,
        r#"{"status": "pending"}"#,
    ] {
        assert_eq!(
            poll(body),
            "Waiting for labelers since 00:00 UTC.",
            "{body}"
        );
    }
}

#[test]
fn work_done_before_the_task_still_begins_working_on_2025_11_25_but_not_on_2026_07_28() {
    let (c, up) = (cfg(&[]), FakeUpstream::new());
    let cx = cx(&c, &up);
    let made = create_v1(&cx, &up, "completed");
    assert_eq!(made["task"]["status"], "working");
    assert_eq!(
        made["task"]["pollInterval"], 200,
        "at most 1 s, and never above TASK_POLL_MS"
    );
    assert!(made["task"]["statusMessage"]
        .as_str()
        .unwrap()
        .starts_with("Scale's work is already done. The task is completed"));

    up.push_json(200, task("completed"));
    let made = call(
        &cx,
        Lane::Modern,
        "tools/call",
        json!({"name": "wait_for_task", "arguments": {"task_id": "t1"}}),
    )
    .unwrap();
    assert_eq!(
        (made["resultType"].as_str(), made["status"].as_str()),
        (Some("task"), Some("completed"))
    );
    assert_eq!(made["ttlMs"], 30 * 86_400_000u64);
    assert!(
        made.get("ttl").is_none()
            && made.get("pollInterval").is_none()
            && made.get("task").is_none()
    );
    assert!(
        made.get("result").is_none()
            && made["_meta"]["io.modelcontextprotocol/serverInfo"].is_object()
    );
}

#[test]
fn a_2026_07_28_task_inlines_the_modern_result_once_completed() {
    let (c, up) = (cfg(&[]), FakeUpstream::new());
    let cx = cx(&c, &up);
    up.push_json(
        200,
        json!({"status": "in_progress", "pending": 999, "completed": 1}),
    );
    let made = call(
        &cx,
        Lane::Modern,
        "tools/call",
        json!({"name": "wait_for_batch", "arguments": {"name": "b"}}),
    )
    .unwrap();
    assert_eq!(made["status"], "working");
    assert_eq!(made["statusMessage"], "1 of 1,000 tasks done.");
    let id = made["taskId"].as_str().unwrap().to_string();

    up.push_json(
        200,
        json!({"status": "in_progress", "pending": 1, "completed": 999}),
    );
    let got = call(&cx, Lane::Modern, "tasks/get", json!({"taskId": id})).unwrap();
    assert_eq!(
        (got["resultType"].as_str(), got["status"].as_str()),
        (Some("complete"), Some("working"))
    );
    assert_eq!(got["statusMessage"], "999 of 1,000 tasks done.");
    assert!(got.get("result").is_none());

    up.push_json(
        200,
        json!({"status": "completed", "completed": 999, "error": 1}),
    );
    let got = call(&cx, Lane::Modern, "tasks/get", json!({"taskId": id})).unwrap();
    assert_eq!(got["status"], "completed");
    let r = &got["result"];
    assert_eq!(r["resultType"], "complete");
    assert!(
        r["_meta"]
            .get("io.modelcontextprotocol/related-task")
            .is_none(),
        "{r}"
    );
    assert_eq!(r["structuredContent"]["progress"]["total"], 1000);
    assert_eq!(r["structuredContent"]["done"], true);
    assert_eq!(
        r["content"][0]["text"]
            .as_str()
            .map(|t| serde_json::from_str::<Value>(t).unwrap()),
        Some(r["structuredContent"].clone())
    );

    // Cancel and update are acknowledged, and change nothing.
    for (m, p) in [
        ("tasks/cancel", json!({"taskId": id})),
        (
            "tasks/update",
            json!({"taskId": id, "inputResponses": {"k": {}}}),
        ),
    ] {
        let ack = call(&cx, Lane::Modern, m, p).unwrap();
        assert_eq!(ack["resultType"], "complete", "{m}");
        assert!(
            ack.get("taskId").is_none() && ack.get("status").is_none(),
            "{m}: {ack}"
        );
    }
    let e = call(&cx, Lane::Modern, "tasks/update", json!({"taskId": id})).unwrap_err();
    assert_eq!(e.code, rpc::INVALID_PARAMS);
}

#[test]
fn only_the_maker_on_its_url_opens_a_task_and_every_other_id_is_the_same_not_found() {
    let (c, up) = (cfg(&[]), FakeUpstream::new());
    let maker = cx(&c, &up);
    let id = create_v1(&maker, &up, "pending")["task"]["taskId"]
        .as_str()
        .unwrap()
        .to_string();
    let mut tampered = id.clone().into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let before = up.sent().len();
    let cases: Vec<(Ctx, String)> = vec![
        (cx_as(&c, &up, "other", "/mcp"), id.clone()),
        (cx_as(&c, &up, "ops", "/mcp/readonly"), id.clone()),
        (maker.clone(), tampered),
        (maker.clone(), "tasks-conformance-nonexistent-12345".into()),
        (maker.clone(), "=?base64?dDE=?=".into()),
        (maker.clone(), String::new()),
        (maker.clone(), "x".repeat(5000)),
    ];
    for (cx, id) in cases {
        for lane in [V1, Lane::Modern] {
            let e = call(&cx, lane, "tasks/get", json!({"taskId": id})).unwrap_err();
            assert_eq!(e.code, rpc::INVALID_PARAMS);
            assert!(e.message.starts_with(NOT_FOUND), "{}", e.message);
        }
    }
    // A grant of the same label, or the same token under another server key, cannot open it either.
    let grant = {
        let p = Principal::grant("ops".into(), Scopes::ALL);
        let view = View::full(&p);
        let identity = Identity::operator(p, &c, None, "https://worker.example");
        Ctx::new(
            c.clone(),
            services(&up, None),
            identity,
            view,
            ("https://worker.example", "/mcp"),
            "r",
        )
    };
    assert!(call(&grant, V1, "tasks/get", json!({"taskId": id}))
        .unwrap_err()
        .message
        .starts_with(NOT_FOUND));
    let rekeyed = cx(
        &cfg(&[("OAUTH_SECRET", "another-secret-0123456789abcdef012345")]),
        &up,
    );
    assert!(call(&rekeyed, V1, "tasks/get", json!({"taskId": id}))
        .unwrap_err()
        .message
        .starts_with(NOT_FOUND));
    // None of these reached Scale.
    assert_eq!(up.sent().len(), before);
    // After a rotation (the new key first, the old one kept) it still opens.
    let rotated = cx(
        &cfg(&[(
            "OAUTH_SECRET",
            &format!("another-secret-0123456789abcdef012345,{SECRET}"),
        )]),
        &up,
    );
    up.push_json(200, task("pending"));
    assert_eq!(
        call(&rotated, V1, "tasks/get", json!({"taskId": id})).unwrap()["status"],
        "working"
    );
    // Expired: past its ttl it is not found either.
    let short = create_short(&maker, &up);
    up.advance(60_001);
    let e = call(&maker, V1, "tasks/get", json!({"taskId": short})).unwrap_err();
    assert!(e.message.starts_with(NOT_FOUND), "{}", e.message);
}

fn create_short(cx: &Ctx, up: &FakeUpstream) -> String {
    up.push_json(200, task("pending"));
    let made = call(
        cx,
        V1,
        "tools/call",
        json!({"name": "wait_for_task", "arguments": {"task_id": "t1"}, "task": {"ttl": 1}}),
    )
    .unwrap();
    assert_eq!(made["task"]["ttl"], 60_000, "a ttl is at least a minute");
    made["task"]["taskId"].as_str().unwrap().to_string()
}

#[test]
fn creation_refuses_what_the_wait_tool_refuses_each_era_its_own_way() {
    let (c, up) = (cfg(&[]), FakeUpstream::new());
    let cx = cx(&c, &up);
    let missing = json!({"status_code": 404, "error": "Task with that ID not found."});
    up.push_json(404, missing.clone());
    let e = call(
        &cx,
        V1,
        "tools/call",
        json!({"name": "wait_for_task", "arguments": {"task_id": "nope"}, "task": {}}),
    )
    .unwrap_err();
    assert_eq!(e.code, rpc::INVALID_PARAMS);
    assert!(
        e.message
            .starts_with("Scale returned 404 Not Found for GET /task/nope"),
        "{}",
        e.message
    );
    up.push_json(404, missing);
    let r = call(
        &cx,
        Lane::Modern,
        "tools/call",
        json!({"name": "wait_for_task", "arguments": {"task_id": "nope"}}),
    )
    .unwrap();
    assert_eq!(
        (r["isError"].as_bool(), r["resultType"].as_str()),
        (Some(true), Some("complete"))
    );
    assert!(r["content"][0]["text"]
        .as_str()
        .unwrap()
        .starts_with("Scale returned 404"));
    // Invalid arguments: the tool's own words.
    let e = call(
        &cx,
        V1,
        "tools/call",
        json!({"name": "wait_for_task", "arguments": {"task_id": 7}, "task": {}}),
    )
    .unwrap_err();
    assert!(
        e.message.starts_with("Invalid arguments for wait_for_task"),
        "{}",
        e.message
    );
    // Scale busy: an error to retry, at creation and at a poll.
    for _ in 0..3 {
        up.push_json(503, json!({"error": "down"}));
    }
    let e = call(
        &cx,
        V1,
        "tools/call",
        json!({"name": "wait_for_task", "arguments": {"task_id": "t1"}, "task": {}}),
    )
    .unwrap_err();
    assert_eq!(e.code, rpc::INTERNAL_ERROR);
    assert!(
        e.message
            .ends_with("No task was made; try again after 1 s."),
        "{}",
        e.message
    );
    let id = create_v1(&cx, &up, "pending")["task"]["taskId"]
        .as_str()
        .unwrap()
        .to_string();
    for _ in 0..3 {
        up.push_json(429, json!({"error": "slow down"}));
    }
    let e = call(&cx, Lane::Modern, "tasks/get", json!({"taskId": id})).unwrap_err();
    assert_eq!(e.code, rpc::INTERNAL_ERROR);
    assert!(
        e.message.contains("429")
            && e.message
                .ends_with("The task is unchanged; try again after 1 s."),
        "{}",
        e.message
    );
}

#[test]
fn params_task_on_2025_11_25_only_and_only_for_the_waits() {
    let (c, up) = (cfg(&[]), FakeUpstream::new());
    let cx = cx(&c, &up);
    let e = call(
        &cx,
        V1,
        "tools/call",
        json!({"name": "get_task", "arguments": {"task_id": "t1"}, "task": {}}),
    )
    .unwrap_err();
    assert_eq!(e.code, rpc::METHOD_NOT_FOUND);
    assert!(e.message.starts_with("get_task does not run as a task"));
    for bad in [
        json!({"ttl": -1}),
        json!({"ttl": 1.5}),
        json!({"ttl": "1"}),
        json!(true),
    ] {
        let e = call(
            &cx,
            V1,
            "tools/call",
            json!({"name": "wait_for_task", "arguments": {"task_id": "t1"}, "task": bad}),
        )
        .unwrap_err();
        assert_eq!(e.code, rpc::INVALID_PARAMS, "{bad}");
    }
    // Older lanes, and the modern lane, ignore it: the tool blocks as before.
    for lane in [Lane::Legacy("2025-06-18"), Lane::Modern] {
        up.push_json(200, task("completed"));
        let r = call(
            &cx,
            lane,
            "tools/call",
            json!({"name": "get_task", "arguments": {"task_id": "t1"}, "task": {}}),
        )
        .unwrap();
        assert_eq!(r["structuredContent"]["task_id"], "t1", "{lane:?}");
    }
    up.push_json(200, task("completed"));
    let r = call(
        &cx,
        Lane::Legacy("2025-06-18"),
        "tools/call",
        json!({"name": "wait_for_task", "arguments": {"task_id": "t1"}, "task": {}}),
    )
    .unwrap();
    assert_eq!(r["structuredContent"]["done"], true);
    // The 2026-07-28 declaration means nothing on 2025-11-25.
    up.push_json(200, task("completed"));
    let mut p = with_meta(
        json!({"name": "wait_for_task", "arguments": {"task_id": "t1"}}),
        true,
    );
    p.remove("task");
    let r = block_on(dispatch("tools/call", p, V1, &cx)).unwrap();
    assert!(r.get().contains("\"structuredContent\""));
}

#[test]
fn the_2026_07_28_lane_needs_the_extension_on_each_request() {
    let (c, up) = (cfg(&[]), FakeUpstream::new());
    let cx = cx(&c, &up);
    up.push_json(200, task("completed"));
    let r = modern_plain(
        &cx,
        "tools/call",
        json!({"name": "wait_for_task", "arguments": {"task_id": "t1"}}),
    )
    .unwrap();
    assert!(
        r.get("taskId").is_none() && r["structuredContent"]["done"] == true,
        "blocking: {r}"
    );
    for m in ["tasks/get", "tasks/update", "tasks/cancel"] {
        let e =
            modern_plain(&cx, m, json!({"taskId": "gate-test", "inputResponses": {}})).unwrap_err();
        assert_eq!((e.code, e.http_status), (-32021, 400), "{m}");
        assert_eq!(
            e.data,
            Some(json!({"requiredCapabilities": {"extensions": {EXTENSION: {}}}}))
        );
    }
    for m in ["tasks/result", "tasks/list"] {
        let e = call(&cx, Lane::Modern, m, json!({"taskId": "x"})).unwrap_err();
        assert_eq!((e.code, e.http_status), (rpc::METHOD_NOT_FOUND, 404), "{m}");
    }
    for m in ["tasks/cancel", "tasks/list"] {
        let e = call(&cx, V1, m, json!({"taskId": "x"})).unwrap_err();
        assert_eq!((e.code, e.http_status), (rpc::METHOD_NOT_FOUND, 200), "{m}");
    }
    // Unknown methods under tasks/ stay unknown.
    let e = call(&cx, Lane::Modern, "tasks/other", json!({})).unwrap_err();
    assert_eq!((e.code, e.http_status), (rpc::METHOD_NOT_FOUND, 404));
    assert_eq!(
        e.message,
        "method `tasks/other` is not supported by this server"
    );
}

#[test]
fn the_task_id_is_the_mcp_name_of_a_2026_07_28_tasks_request() {
    let req = |name: Option<&str>| HttpIn {
        method: "POST".into(),
        path: "/mcp".into(),
        headers: [
            ("mcp-protocol-version", MODERN_VERSION),
            ("mcp-method", "tasks/get"),
        ]
        .into_iter()
        .chain(name.map(|n| ("mcp-name", n)))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        ..Default::default()
    };
    let params = with_meta(json!({"taskId": "abc"}), true);
    assert!(check_modern(&req(Some("abc")), "tasks/get", &params).is_ok());
    assert!(check_modern(&req(Some(" abc ")), "tasks/get", &params).is_ok());
    for bad in [None, Some("abd"), Some("ABC")] {
        let e = check_modern(&req(bad), "tasks/get", &params).unwrap_err();
        assert_eq!(
            (e.code, e.http_status),
            (rpc::HEADER_MISMATCH, 400),
            "{bad:?}"
        );
    }
}

#[test]
fn without_a_server_key_nothing_changes() {
    let c = Config::from_raw(&RawSettings::from_pairs(
        &[("SCALE_API_KEY", "test_key_abc"), ("SCALE_API_BASE", BASE)],
        true,
    ))
    .unwrap();
    let up = FakeUpstream::new();
    let cx = cx(&c, &up);
    let init = call(
        &cx,
        V1,
        "initialize",
        json!({"protocolVersion": "2025-11-25"}),
    )
    .unwrap();
    assert!(init["capabilities"].get("tasks").is_none());
    let discover = call(&cx, Lane::Modern, "server/discover", json!({})).unwrap();
    // Only the annotation view's extension is there.
    assert!(discover["capabilities"]["extensions"]
        .get(EXTENSION)
        .is_none());
    assert!(discover["capabilities"]["extensions"]["io.modelcontextprotocol/ui"].is_object());
    let list = call(&cx, V1, "tools/list", json!({})).unwrap();
    assert!(list["tools"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t.get("execution").is_none()));
    up.push_json(200, task("completed"));
    let r = call(
        &cx,
        V1,
        "tools/call",
        json!({"name": "wait_for_task", "arguments": {"task_id": "t1"}, "task": {}}),
    )
    .unwrap();
    assert_eq!(r["structuredContent"]["done"], true);
    for lane in [V1, Lane::Modern] {
        let e = call(&cx, lane, "tasks/get", json!({"taskId": "x"})).unwrap_err();
        assert_eq!(e.code, rpc::METHOD_NOT_FOUND);
    }
}

#[test]
fn each_era_declares_tasks_in_its_own_place() {
    let (c, up) = (cfg(&[]), FakeUpstream::new());
    let cx = cx(&c, &up);
    let init = call(
        &cx,
        Lane::Legacy("2025-03-26"),
        "initialize",
        json!({"protocolVersion": "2025-11-25"}),
    )
    .unwrap();
    assert_eq!(
        init["capabilities"]["tasks"],
        json!({"requests": {"tools": {"call": {}}}})
    );
    let old = call(
        &cx,
        Lane::Legacy("2025-03-26"),
        "initialize",
        json!({"protocolVersion": "2025-06-18"}),
    )
    .unwrap();
    assert!(old["capabilities"].get("tasks").is_none());
    let discover = call(&cx, Lane::Modern, "server/discover", json!({})).unwrap();
    assert_eq!(discover["capabilities"]["extensions"][EXTENSION], json!({}));
    assert!(discover["capabilities"]["extensions"]["io.modelcontextprotocol/ui"].is_object());
    assert!(discover["capabilities"].get("tasks").is_none());
    let marked = |lane: Lane| -> Vec<String> {
        let list = call(&cx, lane, "tools/list", json!({})).unwrap();
        list["tools"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["execution"] == json!({"taskSupport": "optional"}))
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(marked(V1), ["wait_for_task", "wait_for_batch"]);
    assert!(marked(Lane::Legacy("2025-06-18")).is_empty());
    assert!(marked(Lane::Modern).is_empty());
}

#[test]
fn a_look_keeps_to_the_connections_checks_and_leaves_an_audit_line() {
    // Confined to project `p`: a task of another project is not found, with no word of why.
    let c = cfg(&[("SCALE_PROJECTS", "p")]);
    let up = FakeUpstream::new();
    let cx = cx(&c, &up);
    let mut t = task("pending");
    t["project"] = json!("q");
    up.push_json(200, t.clone());
    let e = call(
        &cx,
        V1,
        "tools/call",
        json!({"name": "wait_for_task", "arguments": {"task_id": "t1"}, "task": {}}),
    )
    .unwrap_err();
    assert!(
        e.message.starts_with(
            "Scale returned 404 Not Found for GET /task/t1: Task with that ID not found."
        ),
        "{}",
        e.message
    );
    // In project p: made, then polled (the lookup first, as wait_for_task does).
    up.push_json(200, task("pending"));
    up.push_json(200, task("pending"));
    let made = call(
        &cx,
        V1,
        "tools/call",
        json!({"name": "wait_for_task", "arguments": {"task_id": "t1"}, "task": {}}),
    )
    .unwrap();
    let id = made["task"]["taskId"].as_str().unwrap();
    cx.take_audit();
    up.push_json(200, task("pending"));
    up.push_json(200, task("pending"));
    call(&cx, V1, "tasks/get", json!({"taskId": id})).unwrap();
    let audit = cx.take_audit();
    assert_eq!(audit.len(), 1);
    let line: Value = serde_json::from_str(&audit[0]).unwrap();
    assert_eq!(
        (
            line["tool"].as_str(),
            line["via"].as_str(),
            line["outcome"].as_str(),
            line["subrequests"].as_u64()
        ),
        (
            Some("wait_for_task"),
            Some("tasks/get"),
            Some("ok"),
            Some(2)
        )
    );
    // Another project's task by then: not found.
    up.push_json(200, t);
    let e = call(&cx, V1, "tasks/get", json!({"taskId": id})).unwrap_err();
    assert!(e.message.starts_with(NOT_FOUND));

    // The rate limit: an error to retry, never a status.
    let up = FakeUpstream::new();
    let mut limited = cx_as(&cfg(&[]), &up, "ops", "/mcp");
    let made = create_v1(&limited, &up, "pending");
    limited.services.limiter = Some(Rc::new(FakeLimiter::new(0)));
    let e = call(
        &limited,
        V1,
        "tasks/get",
        json!({"taskId": made["task"]["taskId"]}),
    )
    .unwrap_err();
    assert_eq!(e.code, rpc::INTERNAL_ERROR);
    assert!(
        e.message.starts_with("Too many tool calls")
            && e.message.ends_with("try again after 60 s."),
        "{}",
        e.message
    );
}

#[test]
fn tasks_result_waits_like_the_tool_then_says_to_keep_polling() {
    let (c, up) = (cfg(&[]), FakeUpstream::new());
    let cx = cx(&c, &up);
    let id = create_v1(&cx, &up, "pending")["task"]["taskId"]
        .as_str()
        .unwrap()
        .to_string();
    up.respond_with(|_| Ok(json_response(200, &task("pending"))));
    let e = call(&cx, V1, "tasks/result", json!({"taskId": id})).unwrap_err();
    assert_eq!(e.code, rpc::INTERNAL_ERROR);
    assert!(
        e.message
            .starts_with("The task is still working after this request waited 45 s"),
        "{}",
        e.message
    );
    assert!(
        e.message.contains("Keep polling tasks/get every 200 ms"),
        "{}",
        e.message
    );
}

#[test]
fn the_poll_interval_grows_with_the_tasks_age() {
    let (c, up) = (cfg(&[("TASK_POLL_MS", "5000")]), FakeUpstream::new());
    let cx = cx(&c, &up);
    let at = |min: u64| poll_interval(&cx, min * 60_000);
    assert_eq!(
        [
            at(0),
            at(1),
            at(2),
            at(29),
            at(30),
            at(359),
            at(360),
            at(10_000)
        ],
        [5_000, 5_000, 30_000, 30_000, 120_000, 120_000, 300_000, 300_000]
    );
}

/// The platform's crypto, counting how often it is asked to open.
struct CountingOpens(Rc<dyn crate::io::Crypto>, Rc<std::cell::Cell<u32>>);

impl crate::io::Crypto for CountingOpens {
    fn random(&self, buf: &mut [u8]) -> Result<(), String> {
        self.0.random(buf)
    }
    fn seal<'a>(
        &'a self,
        key: &'a [u8; 32],
        plain: &'a [u8],
    ) -> crate::io::BoxFut<'a, Result<Vec<u8>, String>> {
        self.0.seal(key, plain)
    }
    fn open<'a>(
        &'a self,
        key: &'a [u8; 32],
        sealed: &'a [u8],
    ) -> crate::io::BoxFut<'a, Result<Option<Vec<u8>>, String>> {
        self.1.set(self.1.get() + 1);
        self.0.open(key, sealed)
    }
}

#[test]
fn polls_of_one_handle_decrypt_it_once_and_still_check_the_caller() {
    let (c, up) = (cfg(&[]), FakeUpstream::new());
    let opens = Rc::new(std::cell::Cell::new(0));
    let counted = |who: &str| {
        let mut cx = cx_as(&c, &up, who, "/mcp");
        cx.services.crypto = Rc::new(CountingOpens(cx.services.crypto.clone(), opens.clone()));
        cx
    };
    let id = create_v1(&counted("ops"), &up, "pending")["task"]["taskId"]
        .as_str()
        .unwrap()
        .to_string();
    for _ in 0..3 {
        up.push_json(200, task("pending"));
        let polled = call(&counted("ops"), V1, "tasks/get", json!({"taskId": id})).unwrap();
        assert_eq!(polled["status"], "working");
    }
    assert_eq!(opens.get(), 1, "three polls, one decryption");
    // The remembered opening is still refused to another caller.
    let e = call(&counted("other"), V1, "tasks/get", json!({"taskId": id})).unwrap_err();
    assert!(e.message.starts_with(NOT_FOUND), "{}", e.message);
    assert_eq!(opens.get(), 1);
}
