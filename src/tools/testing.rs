//! What the native tests of the tools share: running a tool on fakes,
//! reading its result, and checking the exact Scale requests it made.
//!
//! Every result goes through [`check_result`], which fails the test if the API
//! key (or its Basic encoding) appears anywhere, and checks that a success's
//! text block is exactly the JSON of its `structuredContent`.

use super::*;
use crate::config::Config;
use crate::io::fakes::services;
// What every area's tests use, so each test module needs only this one import.
pub use crate::io::fakes::{block_on, json_response, text_response, FakeUpstream, MemoryStore};
pub use crate::io::{Method, OutRequest, SendError};
pub use crate::scale::testing::{config, config_with, BASE, KEY, KEY_B64};
pub use serde_json::{json, Value};

pub const AUTH: &str = "Basic dGVzdF9rZXlfYWJjOg==";
pub const DEFAULT_CB: &str = "https://worker.example/webhooks/scale";

/// Checks what every result must satisfy, whatever the tool.
pub fn check_result(r: &Value) {
    let all = r.to_string();
    assert!(!all.contains(KEY), "API key leaked: {all}");
    assert!(!all.contains(KEY_B64), "API key (Basic) leaked: {all}");
    assert_eq!(r["content"].as_array().map(Vec::len), Some(1), "{r}");
    assert_eq!(r["content"][0]["type"], "text", "{r}");
    let text = r["content"][0]["text"].as_str().expect("a text block");
    if r.get("isError") == Some(&json!(true)) {
        assert!(r.get("structuredContent").is_none(), "{r}");
        assert!(!text.is_empty());
    } else {
        assert!(r.get("isError").is_none(), "{r}");
        let sc = &r["structuredContent"];
        assert!(sc.is_object(), "structuredContent must be an object: {r}");
        // The same JSON (passthrough text keeps Scale's key order, so compare values).
        assert_eq!(&serde_json::from_str::<Value>(text).unwrap(), sc);
    }
}

/// Runs `tool` and gives its outcome in the shape of an MCP `CallToolResult`
/// (the tests below were written against that shape; the MCP layer's own
/// tests check the real one).
pub fn exec(
    cfg: &Config,
    up: &FakeUpstream,
    store: Option<&MemoryStore>,
    tool: &str,
    args: Value,
) -> Value {
    let cx = Ctx::full_access(cfg.clone(), services(up, store));
    let args = args.as_object().cloned().expect("arguments are an object");
    let outcome = block_on(call(&cx, tool, args)).unwrap_or_else(|e| panic!("{tool}: {e:?}"));
    let r = match outcome {
        Ok(Out::Raw(raw)) => {
            json!({"content": [{"type": "text", "text": raw.get()}], "structuredContent": serde_json::from_str::<Value>(raw.get()).unwrap()})
        }
        Ok(Out::Json(v)) => {
            json!({"content": [{"type": "text", "text": v.to_string()}], "structuredContent": v})
        }
        Ok(Out::Split { .. }) => panic!("{tool}: its chunks are checked in attachments_tests.rs"),
        Err(e) => json!({"content": [{"type": "text", "text": e.text(tool)}], "isError": true}),
    };
    check_result(&r);
    r
}

/// Runs a tool with the default config against `up`.
pub fn run_on(up: &FakeUpstream, tool: &str, args: Value) -> Value {
    exec(&config(), up, None, tool, args)
}

/// Runs a tool against an upstream that answers every request 200 with `reply`.
pub fn run(tool: &str, args: Value, reply: Value) -> (Value, Vec<OutRequest>) {
    let up = FakeUpstream::new();
    up.respond_with(move |_| Ok(json_response(200, &reply)));
    let r = run_on(&up, tool, args);
    (r, up.sent())
}

/// Answers by (method, path after the base URL, query included).
pub fn route(up: &FakeUpstream, f: impl Fn(Method, &str) -> (u16, Value) + 'static) {
    up.respond_with(move |req| {
        let path = req.url.strip_prefix(BASE).expect("request to the base URL");
        let (status, body) = f(req.method, path);
        Ok(json_response(status, &body))
    });
}

pub fn ok(r: &Value) -> Value {
    assert_ne!(
        r.get("isError"),
        Some(&json!(true)),
        "expected success: {r}"
    );
    r["structuredContent"].clone()
}

pub fn err(r: &Value) -> String {
    assert_eq!(
        r.get("isError"),
        Some(&json!(true)),
        "expected an error: {r}"
    );
    r["content"][0]["text"].as_str().unwrap().to_string()
}

pub fn header<'a>(r: &'a OutRequest, name: &str) -> Option<&'a str> {
    crate::http::header_in(&r.headers, name)
}

pub fn body_of(r: &OutRequest) -> Option<Value> {
    r.body
        .as_deref()
        .map(|b| serde_json::from_str(b).expect("body is JSON"))
}

/// Asserts one upstream request exactly: method, URL, auth, body.
pub fn assert_req(r: &OutRequest, method: &str, path: &str, body: Option<Value>) {
    assert_eq!(r.method.as_str(), method, "{r:?}");
    assert_eq!(r.url, format!("{BASE}{path}"));
    assert_eq!(header(r, "authorization"), Some(AUTH), "{r:?}");
    assert_eq!(body_of(r), body, "body of {method} {path}");
    assert_eq!(
        header(r, "content-type"),
        r.body.as_ref().map(|_| "application/json"),
        "content-type only with a body: {r:?}"
    );
}

/// Asserts the call is refused as invalid arguments, naming `needles`, with no request.
pub fn invalid(tool: &str, args: Value, needles: &[&str]) {
    let up = FakeUpstream::new();
    up.respond_with(|_| Ok(json_response(200, &json!({}))));
    let store = MemoryStore::new();
    let r = exec(&config(), &up, Some(&store), tool, args.clone());
    let t = err(&r);
    assert!(
        t.starts_with(&format!("Invalid arguments for {tool}: ")),
        "{tool} {args}: {t}"
    );
    assert!(
        t.ends_with("No request was sent to Scale."),
        "{tool} {args}: {t}"
    );
    for n in needles {
        assert!(t.contains(n), "{tool} {args}: `{n}` not in: {t}");
    }
    assert!(
        up.requests.borrow().is_empty(),
        "{tool} {args}: a request was sent"
    );
}

pub fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// Valid arguments for each Scale tool, and the request(s) they make.
pub fn valid_calls() -> Vec<(&'static str, Value)> {
    vec![
        (
            "create_task",
            json!({"type": "imageannotation", "project": "p"}),
        ),
        (
            "create_evaluation_task",
            json!({"type": "imageannotation", "expected_response": {"a": 1}}),
        ),
        ("get_task", json!({"task_id": "t1"})),
        ("list_tasks", json!({})),
        ("cancel_task", json!({"task_id": "t1"})),
        ("update_task", json!({"task_id": "t1", "add_tags": ["x"]})),
        ("resend_callback", json!({"task_id": "t1"})),
        ("create_batch", json!({"project": "p", "name": "b"})),
        ("get_batch", json!({"name": "b"})),
        ("list_batches", json!({})),
        ("finalize_batch", json!({"name": "b"})),
        ("list_projects", json!({})),
        ("get_project", json!({"name": "p"})),
        (
            "create_project",
            json!({"type": "imageannotation", "name": "p"}),
        ),
        ("update_project", json!({"name": "p", "instruction": "x"})),
        ("manage_team", json!({"action": "list"})),
        ("import_file", json!({"file_url": "https://x.test/a.jpg"})),
        (
            "create_tasks",
            json!({"type": "imageannotation", "project": "p", "items": [{"attachment": "https://x.test/a.jpg", "unique_id": "u1"}]}),
        ),
        ("wait_for_task", json!({"task_id": "t1"})),
        ("wait_for_batch", json!({"name": "b"})),
        ("get_task_attachment", json!({"task_id": "t1"})),
    ]
}
