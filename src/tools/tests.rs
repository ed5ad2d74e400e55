//! Native tests of every tool through `tools::call`: the registry, the exact
//! Scale requests each argument set produces, hostile path values, argument
//! validation, result shapes, multi-step failures, Scale errors and retries,
//! and the callback-log tools over an in-memory store.
//!
//! Every result goes through [`check_result`], which fails the test if the API
//! key (or its Basic encoding) appears anywhere, and checks that a success's
//! text block is exactly the JSON of its `structuredContent`.

use super::*;
use crate::config::Config;
use crate::io::fakes::{block_on, json_response, text_response, FakeUpstream, MemoryStore};
use crate::io::{CallbackStore, Method, OutRequest, SendError};
use crate::scale::testing::{config, config_with, BASE, KEY, KEY_B64};
use serde_json::{json, Value};
use std::collections::BTreeSet;

const AUTH: &str = "Basic dGVzdF9rZXlfYWJjOg==";
const DEFAULT_CB: &str = "https://worker.example/webhooks/scale";

// ================================================================ helpers

/// Checks what every result must satisfy, whatever the tool.
fn check_result(r: &Value) {
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

fn exec(
    cfg: &Config,
    up: &FakeUpstream,
    store: Option<&MemoryStore>,
    tool: &str,
    args: Value,
) -> Value {
    let cx = Ctx {
        config: cfg,
        upstream: up,
        store: store.map(|s| s as &dyn CallbackStore),
    };
    let args = args.as_object().cloned().expect("arguments are an object");
    let r = block_on(call(&cx, tool, args)).unwrap_or_else(|e| panic!("{tool}: {e:?}"));
    check_result(&r);
    r
}

/// Runs a tool with the default config against `up`.
fn run_on(up: &FakeUpstream, tool: &str, args: Value) -> Value {
    exec(&config(), up, None, tool, args)
}

/// Runs a tool against an upstream that answers every request 200 with `reply`.
fn run(tool: &str, args: Value, reply: Value) -> (Value, Vec<OutRequest>) {
    let up = FakeUpstream::new();
    up.respond_with(move |_| Ok(json_response(200, &reply)));
    let r = run_on(&up, tool, args);
    (r, up.sent())
}

/// Answers by (method, path after the base URL, query included).
fn route(up: &FakeUpstream, f: impl Fn(Method, &str) -> (u16, Value) + 'static) {
    up.respond_with(move |req| {
        let path = req.url.strip_prefix(BASE).expect("request to the base URL");
        let (status, body) = f(req.method, path);
        Ok(json_response(status, &body))
    });
}

fn ok(r: &Value) -> Value {
    assert_ne!(
        r.get("isError"),
        Some(&json!(true)),
        "expected success: {r}"
    );
    r["structuredContent"].clone()
}

fn err(r: &Value) -> String {
    assert_eq!(
        r.get("isError"),
        Some(&json!(true)),
        "expected an error: {r}"
    );
    r["content"][0]["text"].as_str().unwrap().to_string()
}

fn header<'a>(r: &'a OutRequest, name: &str) -> Option<&'a str> {
    crate::io::header_in(&r.headers, name)
}

fn body_of(r: &OutRequest) -> Option<Value> {
    r.body
        .as_deref()
        .map(|b| serde_json::from_str(b).expect("body is JSON"))
}

/// Asserts one upstream request exactly: method, URL, auth, body.
fn assert_req(r: &OutRequest, method: &str, path: &str, body: Option<Value>) {
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
fn invalid(tool: &str, args: Value, needles: &[&str]) {
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

fn percent_decode(s: &str) -> Vec<u8> {
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
fn valid_calls() -> Vec<(&'static str, Value)> {
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
    ]
}

// ================================================================ registry

#[test]
fn registry_names_are_unique_and_well_formed() {
    let names: Vec<&str> = registry().iter().map(|t| t.name).collect();
    assert_eq!(
        names,
        [
            "create_task",
            "create_evaluation_task",
            "get_task",
            "list_tasks",
            "cancel_task",
            "update_task",
            "resend_callback",
            "create_batch",
            "get_batch",
            "list_batches",
            "finalize_batch",
            "list_projects",
            "get_project",
            "create_project",
            "update_project",
            "manage_team",
            "import_file",
            "list_callbacks",
            "get_callback",
        ]
    );
    let unique: BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(unique.len(), names.len());
    for n in &names {
        assert!(n.len() <= 64 && !n.is_empty(), "{n}");
        assert!(
            n.bytes().all(|c| c.is_ascii_lowercase() || c == b'_'),
            "{n}"
        );
        assert_eq!(find(n).map(|(_, t)| t.name), Some(*n));
    }
    assert!(find("nope").is_none());
}

#[test]
fn every_tool_is_documented_with_valid_schemas() {
    let listed = list_values();
    assert_eq!(listed.len(), 19);
    for t in &listed {
        let name = t["name"].as_str().unwrap();
        assert!(
            t["title"].as_str().is_some_and(|s| !s.trim().is_empty()),
            "{name}"
        );
        assert_eq!(t["annotations"]["title"], t["title"], "{name}");
        let d = t["description"].as_str().unwrap();
        assert!(d.len() > 80, "{name}: description too short");
        let input = &t["inputSchema"];
        assert_eq!(input["type"], "object", "{name}");
        assert_eq!(input["additionalProperties"], false, "{name}");
        let props = input["properties"].as_object().expect("properties");
        for r in input["required"].as_array().into_iter().flatten() {
            assert!(props.contains_key(r.as_str().unwrap()), "{name}: {r}");
        }
        for (k, p) in props {
            assert!(
                p["description"].as_str().is_some_and(|s| !s.is_empty()),
                "{name}.{k} has no description"
            );
            assert!(p.get("type").is_some(), "{name}.{k} has no type");
        }
        assert_eq!(t["outputSchema"]["type"], "object", "{name}");
        for h in [
            "readOnlyHint",
            "destructiveHint",
            "idempotentHint",
            "openWorldHint",
        ] {
            assert!(t["annotations"][h].is_boolean(), "{name}: {h}");
        }
    }
}

#[test]
fn arguments_match_the_contract() {
    let want: &[(&str, &[&str], &[&str])] = &[
        (
            "create_task",
            &[
                "type",
                "project",
                "batch",
                "instruction",
                "callback_url",
                "attachment",
                "attachment_type",
                "unique_id",
                "metadata",
                "tags",
                "params",
            ],
            &["type"],
        ),
        (
            "create_evaluation_task",
            &[
                "type",
                "expected_response",
                "initial_response",
                "project",
                "batch",
                "params",
            ],
            &["type", "expected_response"],
        ),
        ("get_task", &["task_id"], &["task_id"]),
        (
            "list_tasks",
            &[
                "project",
                "batch",
                "status",
                "type",
                "tags",
                "unique_id",
                "customer_review_status",
                "created_after",
                "created_before",
                "completed_after",
                "completed_before",
                "updated_after",
                "updated_before",
                "limit",
                "next_token",
                "limited_response",
                "include_attachment_url",
            ],
            &[],
        ),
        ("cancel_task", &["task_id", "clear_unique_id"], &["task_id"]),
        (
            "update_task",
            &[
                "task_id",
                "metadata",
                "set_tags",
                "add_tags",
                "remove_tags",
                "unique_id",
                "clear_unique_id",
            ],
            &["task_id"],
        ),
        ("resend_callback", &["task_id"], &["task_id"]),
        (
            "create_batch",
            &[
                "project",
                "name",
                "callback",
                "calibration_batch",
                "self_label_batch",
                "metadata",
            ],
            &["project", "name"],
        ),
        ("get_batch", &["name"], &["name"]),
        (
            "list_batches",
            &[
                "project",
                "status",
                "created_after",
                "created_before",
                "completed_after",
                "completed_before",
                "limit",
                "offset",
                "detailed",
            ],
            &[],
        ),
        ("finalize_batch", &["name", "priority"], &["name"]),
        ("list_projects", &["archived"], &[]),
        ("get_project", &["name"], &["name"]),
        (
            "create_project",
            &[
                "type",
                "name",
                "params",
                "rapid",
                "studio",
                "pipeline",
                "consensus_attempts",
            ],
            &["type", "name"],
        ),
        (
            "update_project",
            &[
                "name",
                "instruction",
                "params",
                "ontology",
                "patch",
                "ontology_name",
            ],
            &["name"],
        ),
        ("manage_team", &["action", "emails", "role"], &["action"]),
        ("import_file", &["file_url", "project_name"], &["file_url"]),
        (
            "list_callbacks",
            &["task_id", "batch", "status", "limit", "cursor"],
            &[],
        ),
        ("get_callback", &["id"], &["id"]),
    ];
    let listed = list_values();
    assert_eq!(listed.len(), want.len());
    for (name, props, required) in want {
        let t = listed.iter().find(|t| t["name"] == *name).unwrap();
        let got: BTreeSet<&str> = t["inputSchema"]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(got, props.iter().copied().collect(), "{name}");
        let req: Vec<&str> = t["inputSchema"]["required"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap()).collect())
            .unwrap_or_default();
        assert_eq!(req, *required, "{name}");
    }
    // Enums and bounds.
    let prop = |tool: &str, p: &str| -> Value {
        listed.iter().find(|t| t["name"] == tool).unwrap()["inputSchema"]["properties"][p].clone()
    };
    assert_eq!(
        prop("list_tasks", "status")["enum"],
        json!(["pending", "completed", "canceled", "error"])
    );
    assert_eq!(
        prop("list_batches", "status")["enum"],
        json!(["staging", "in_progress", "completed"])
    );
    assert_eq!(
        prop("manage_team", "action")["enum"],
        json!(["list", "invite", "set_role"])
    );
    assert_eq!(
        prop("manage_team", "role")["enum"],
        json!(["labeler", "member", "manager"])
    );
    assert_eq!(
        prop("create_project", "pipeline")["enum"],
        json!(["standard_task", "consensus_task"])
    );
    for (tool, p, min, max) in [
        ("list_tasks", "limit", 1, 100),
        ("list_batches", "limit", 1, 100),
        ("list_callbacks", "limit", 1, 100),
        ("finalize_batch", "priority", 10, 30),
    ] {
        let s = prop(tool, p);
        assert_eq!(s["type"], "integer", "{tool}.{p}");
        assert_eq!(
            (s["minimum"].as_i64(), s["maximum"].as_i64()),
            (Some(min), Some(max)),
            "{tool}.{p}"
        );
    }
}

#[test]
fn hints_are_exactly_as_specified() {
    // (name, readOnly, destructive, idempotent, openWorld)
    let want: &[(&str, bool, bool, bool, bool)] = &[
        ("create_task", false, false, false, true),
        ("create_evaluation_task", false, false, false, true),
        ("get_task", true, false, true, true),
        ("list_tasks", true, false, true, true),
        ("cancel_task", false, true, true, true),
        ("update_task", false, true, true, true),
        ("resend_callback", false, false, false, true),
        ("create_batch", false, false, false, true),
        ("get_batch", true, false, true, true),
        ("list_batches", true, false, true, true),
        ("finalize_batch", false, false, true, true),
        ("list_projects", true, false, true, true),
        ("get_project", true, false, true, true),
        ("create_project", false, false, false, true),
        ("update_project", false, false, false, true),
        ("manage_team", false, true, false, true),
        ("import_file", false, false, false, true),
        ("list_callbacks", true, false, true, false),
        ("get_callback", true, false, true, false),
    ];
    let listed = list_values();
    assert_eq!(listed.len(), want.len());
    for (t, (name, ro, d, i, ow)) in listed.iter().zip(want) {
        assert_eq!(t["name"], *name);
        let a = &t["annotations"];
        assert_eq!(
            (
                a["readOnlyHint"].as_bool(),
                a["destructiveHint"].as_bool(),
                a["idempotentHint"].as_bool(),
                a["openWorldHint"].as_bool()
            ),
            (Some(*ro), Some(*d), Some(*i), Some(*ow)),
            "{name}"
        );
    }
}

#[test]
fn unknown_tool_is_a_protocol_error() {
    let cfg = config();
    let up = FakeUpstream::new();
    let cx = Ctx {
        config: &cfg,
        upstream: &up,
        store: None,
    };
    let e = block_on(call(&cx, "delete_everything", Map::new())).unwrap_err();
    assert_eq!(e.code, crate::mcp::rpc::INVALID_PARAMS);
    assert!(
        e.message.contains("unknown tool `delete_everything`"),
        "{}",
        e.message
    );
    assert!(up.requests.borrow().is_empty());
}

// ================================================================ requests: tasks

#[test]
fn create_task_sends_every_field_with_params_merged() {
    let task = json!({"task_id": "t1", "status": "pending"});
    let (r, reqs) = run(
        "create_task",
        json!({
            "type": "imageannotation",
            "project": "proj",
            "batch": "b1",
            "instruction": "Draw boxes",
            "callback_url": "https://cb.test/x",
            "attachment": "https://img.test/1.jpg",
            "attachment_type": "image",
            "unique_id": "u-1",
            "metadata": {"k": "v", "n": [1, 2]},
            "tags": ["split:train", "x"],
            "params": {"geometries": {"box": {"objects_to_annotate": ["car"]}}, "context_attachments": [{"attachment": "a"}]},
        }),
        task.clone(),
    );
    assert_eq!(ok(&r), task);
    assert_eq!(reqs.len(), 1);
    assert_req(
        &reqs[0],
        "POST",
        "/task/imageannotation",
        Some(json!({
            "project": "proj",
            "batch": "b1",
            "instruction": "Draw boxes",
            "callback_url": "https://cb.test/x",
            "attachment": "https://img.test/1.jpg",
            "attachment_type": "image",
            "unique_id": "u-1",
            "metadata": {"k": "v", "n": [1, 2]},
            "tags": ["split:train", "x"],
            "geometries": {"box": {"objects_to_annotate": ["car"]}},
            "context_attachments": [{"attachment": "a"}],
        })),
    );
}

#[test]
fn create_task_minimal_and_nulls_are_not_sent() {
    let (r, reqs) = run(
        "create_task",
        json!({"type": "categorization", "project": null, "tags": null}),
        json!({"task_id": "t"}),
    );
    ok(&r);
    assert_eq!(reqs.len(), 1);
    assert_req(&reqs[0], "POST", "/task/categorization", Some(json!({})));
}

#[test]
fn create_task_uses_default_callback_url_only_when_none_given() {
    let cfg = config_with(&[("DEFAULT_CALLBACK_URL", DEFAULT_CB)]);
    let up = FakeUpstream::new();
    up.respond_with(|_| Ok(json_response(200, &json!({"task_id": "t"}))));
    ok(&exec(
        &cfg,
        &up,
        None,
        "create_task",
        json!({"type": "textcollection", "project": "p"}),
    ));
    ok(&exec(
        &cfg,
        &up,
        None,
        "create_task",
        json!({"type": "textcollection", "project": "p", "callback_url": "mailto:me@x.test"}),
    ));
    let reqs = up.sent();
    assert_req(
        &reqs[0],
        "POST",
        "/task/textcollection",
        Some(json!({"project": "p", "callback_url": DEFAULT_CB})),
    );
    assert_req(
        &reqs[1],
        "POST",
        "/task/textcollection",
        Some(json!({"project": "p", "callback_url": "mailto:me@x.test"})),
    );
    // Without the setting, nothing is added.
    let (_, reqs) = run("create_task", json!({"type": "textcollection"}), json!({}));
    assert_eq!(body_of(&reqs[0]), Some(json!({})));
}

#[test]
fn create_task_params_colliding_with_an_argument_are_refused() {
    invalid(
        "create_task",
        json!({"type": "imageannotation", "project": "p", "params": {"project": "q"}}),
        &["`params.project` duplicates the `project` argument"],
    );
    invalid(
        "create_task",
        json!({"type": "imageannotation", "params": {"type": "categorization"}}),
        &["`params.type` duplicates the `type` argument"],
    );
    invalid(
        "create_task",
        json!({"type": "imageannotation", "unique_id": "u", "params": {"unique_id": "v"}}),
        &["`params.unique_id`"],
    );
}

#[test]
fn create_evaluation_task_request() {
    let (r, reqs) = run(
        "create_evaluation_task",
        json!({
            "type": "imageannotation",
            "expected_response": {"annotations": [{"label": "car"}]},
            "initial_response": {"annotations": []},
            "project": "rapid-p",
            "batch": "b",
            "params": {"attachment": "https://img.test/1.jpg", "geometries": {}},
        }),
        json!({"id": "ev1"}),
    );
    assert_eq!(ok(&r), json!({"id": "ev1"}));
    assert_eq!(reqs.len(), 1);
    assert_req(
        &reqs[0],
        "POST",
        "/evaluation_tasks/imageannotation",
        Some(json!({
            "expected_response": {"annotations": [{"label": "car"}]},
            "initial_response": {"annotations": []},
            "project": "rapid-p",
            "batch": "b",
            "attachment": "https://img.test/1.jpg",
            "geometries": {},
        })),
    );
    // No default callback is added to evaluation tasks.
    let cfg = config_with(&[("DEFAULT_CALLBACK_URL", DEFAULT_CB)]);
    let up = FakeUpstream::new();
    up.respond_with(|_| Ok(json_response(200, &json!({"id": "e"}))));
    ok(&exec(
        &cfg,
        &up,
        None,
        "create_evaluation_task",
        json!({"type": "textcollection", "expected_response": {}}),
    ));
    assert_req(
        &up.sent()[0],
        "POST",
        "/evaluation_tasks/textcollection",
        Some(json!({"expected_response": {}})),
    );
    invalid(
        "create_evaluation_task",
        json!({"type": "imageannotation", "expected_response": {}, "params": {"expected_response": {}}}),
        &["`params.expected_response` duplicates"],
    );
    invalid(
        "create_evaluation_task",
        json!({"type": "imageannotation", "expected_response": {}, "batch": "b", "params": {"batch": "c"}}),
        &["`params.batch` duplicates"],
    );
}

#[test]
fn get_task_request() {
    let (r, reqs) = run(
        "get_task",
        json!({"task_id": "5f1e2d"}),
        json!({"task_id": "5f1e2d", "status": "completed", "response": {"x": 1}}),
    );
    assert_eq!(
        ok(&r),
        json!({"task_id": "5f1e2d", "status": "completed", "response": {"x": 1}})
    );
    assert_eq!(reqs.len(), 1);
    assert_req(&reqs[0], "GET", "/task/5f1e2d", None);
}

#[test]
fn list_tasks_default_sends_limit_10() {
    let (r, reqs) = run("list_tasks", json!({}), json!({"docs": []}));
    ok(&r);
    assert_eq!(reqs.len(), 1);
    assert_req(&reqs[0], "GET", "/tasks?limit=10", None);
}

#[test]
fn list_tasks_maps_every_argument() {
    let (r, reqs) = run(
        "list_tasks",
        json!({
            "project": "my project",
            "batch": "b/1",
            "status": "completed",
            "type": "imageannotation",
            "tags": ["a", "b c", "k:v"],
            "unique_id": "u&1",
            "customer_review_status": ["accepted", "fixed"],
            "created_after": "2026-01-01",
            "created_before": "2026-01-31T12:00:00Z",
            "completed_after": "2026-01-02",
            "completed_before": "2026-01-03T00:00:00+02:00",
            "updated_after": "2026-01-04",
            "updated_before": "2026-01-05",
            "limit": 100,
            "next_token": "tok=1",
            "limited_response": true,
            "include_attachment_url": false,
        }),
        json!({"docs": []}),
    );
    ok(&r);
    assert_eq!(reqs.len(), 1);
    assert_req(
        &reqs[0],
        "GET",
        "/tasks?project=my%20project&batch=b%2F1&status=completed&type=imageannotation\
&tags=a&tags=b%20c&tags=k%3Av&unique_id=u%261&customer_review_status=accepted%2Cfixed\
&start_time=2026-01-01&end_time=2026-01-31T12%3A00%3A00Z\
&completed_after=2026-01-02&completed_before=2026-01-03T00%3A00%3A00%2B02%3A00\
&updated_after=2026-01-04&updated_before=2026-01-05\
&limit=100&next_token=tok%3D1&limited_response=true&include_attachment_url=false",
        None,
    );
}

#[test]
fn list_tasks_small_variants() {
    let (_, reqs) = run(
        "list_tasks",
        json!({"customer_review_status": ["pending"], "limit": 1, "tags": []}),
        json!({}),
    );
    assert_req(
        &reqs[0],
        "GET",
        "/tasks?customer_review_status=pending&limit=1",
        None,
    );
    // An integral float is an integer.
    let (_, reqs) = run("list_tasks", json!({"limit": 25.0}), json!({}));
    assert_req(&reqs[0], "GET", "/tasks?limit=25", None);
}

#[test]
fn cancel_task_requests() {
    let (r, reqs) = run(
        "cancel_task",
        json!({"task_id": "t1"}),
        json!({"task_id": "t1", "status": "canceled"}),
    );
    assert_eq!(ok(&r)["status"], "canceled");
    assert_req(&reqs[0], "POST", "/task/t1/cancel", None);
    let (_, reqs) = run(
        "cancel_task",
        json!({"task_id": "t1", "clear_unique_id": true}),
        json!({}),
    );
    assert_req(
        &reqs[0],
        "POST",
        "/task/t1/cancel?clear_unique_id=true",
        None,
    );
    let (_, reqs) = run(
        "cancel_task",
        json!({"task_id": "t1", "clear_unique_id": false}),
        json!({}),
    );
    assert_req(&reqs[0], "POST", "/task/t1/cancel", None);
}

#[test]
fn cancel_task_400_explains_pending_only_and_is_not_retried() {
    let up = FakeUpstream::new();
    up.respond_with(|_| {
        Ok(json_response(
            400,
            &json!({"status_code": 400, "error": "Task is not pending"}),
        ))
    });
    let t = err(&run_on(&up, "cancel_task", json!({"task_id": "t1"})));
    assert!(
        t.contains("Scale returned 400 Bad Request for POST /task/t1/cancel: Task is not pending"),
        "{t}"
    );
    assert!(t.contains("Only pending tasks can be canceled"), "{t}");
    // The tool's hint replaces the general one for the status.
    assert_eq!(t.matches("Hint: ").count(), 1, "{t}");
    assert!(!t.contains(crate::scale::hint(400)), "{t}");
    assert_eq!(up.requests.borrow().len(), 1);
    // Cancels are sent once, even on a 503.
    let up = FakeUpstream::new();
    up.respond_with(|_| Ok(json_response(503, &json!({"error": "x"}))));
    err(&run_on(&up, "cancel_task", json!({"task_id": "t1"})));
    assert_eq!(up.requests.borrow().len(), 1);
}

#[test]
fn update_task_runs_every_step_in_order() {
    let up = FakeUpstream::new();
    up.respond_with(|req| {
        Ok(json_response(
            200,
            &json!({"task_id": "t1", "step": format!("{} {}", req.method.as_str(), req.url)}),
        ))
    });
    let r = run_on(
        &up,
        "update_task",
        json!({
            "task_id": "t1",
            "unique_id": "new-u",
            "remove_tags": ["old"],
            "add_tags": ["a", "b"],
            "metadata": {"k": {"nested": true}},
        }),
    );
    let reqs = up.sent();
    assert_eq!(reqs.len(), 4);
    assert_req(
        &reqs[0],
        "POST",
        "/task/t1/setMetadata",
        Some(json!({"k": {"nested": true}})),
    );
    assert_req(&reqs[1], "PUT", "/task/t1/tags", Some(json!(["a", "b"])));
    assert_req(&reqs[2], "DELETE", "/task/t1/tags", Some(json!(["old"])));
    assert_req(
        &reqs[3],
        "POST",
        "/task/t1/unique_id",
        Some(json!({"unique_id": "new-u"})),
    );
    // The result is the answer of the last step.
    assert_eq!(
        ok(&r),
        json!({"task_id": "t1", "step": "POST https://api.test/v1/task/t1/unique_id"})
    );

    let (r, reqs) = run(
        "update_task",
        json!({"task_id": "t1", "set_tags": ["x"], "clear_unique_id": true}),
        json!({"task_id": "t1"}),
    );
    ok(&r);
    assert_eq!(reqs.len(), 2);
    assert_req(&reqs[0], "POST", "/task/t1/tags", Some(json!(["x"])));
    assert_req(&reqs[1], "DELETE", "/task/t1/unique_id", None);

    // An empty metadata object is a valid replacement; an empty tag list too.
    let (_, reqs) = run(
        "update_task",
        json!({"task_id": "t1", "metadata": {}, "set_tags": []}),
        json!({}),
    );
    assert_req(&reqs[0], "POST", "/task/t1/setMetadata", Some(json!({})));
    assert_req(&reqs[1], "POST", "/task/t1/tags", Some(json!([])));
}

#[test]
fn update_task_plain_ok_answer_becomes_an_object() {
    let up = FakeUpstream::new();
    up.respond_with(|_| Ok(text_response(200, "text/plain", "OK")));
    let r = run_on(
        &up,
        "update_task",
        json!({"task_id": "t1", "clear_unique_id": true}),
    );
    assert_eq!(ok(&r), json!({"ok": true}));
}

#[test]
fn resend_callback_request_and_plain_ok() {
    let up = FakeUpstream::new();
    up.respond_with(|_| Ok(text_response(200, "text/plain; charset=utf-8", "OK")));
    let r = run_on(&up, "resend_callback", json!({"task_id": "t1"}));
    assert_eq!(ok(&r), json!({"ok": true}));
    let reqs = up.sent();
    assert_eq!(reqs.len(), 1);
    assert_req(&reqs[0], "POST", "/task/t1/send-callback", None);

    let (r, _) = run(
        "resend_callback",
        json!({"task_id": "t1"}),
        json!({"sent": true}),
    );
    assert_eq!(ok(&r), json!({"sent": true}));

    let up = FakeUpstream::new();
    up.respond_with(|_| Ok(json_response(400, &json!({"error": "no callback_url"}))));
    let t = err(&run_on(&up, "resend_callback", json!({"task_id": "t1"})));
    assert!(t.contains("no callback_url"), "{t}");
    assert!(t.contains("only for completed or errored tasks"), "{t}");
    assert_eq!(up.requests.borrow().len(), 1);
}

// ================================================================ requests: batches

#[test]
fn create_batch_request() {
    let batch = json!({"name": "b1", "project": "p", "status": "staging"});
    let (r, reqs) = run(
        "create_batch",
        json!({
            "project": "p",
            "name": "b1",
            "callback": "ops@example.com",
            "calibration_batch": false,
            "self_label_batch": true,
            "metadata": {"owner": "me"},
        }),
        batch.clone(),
    );
    assert_eq!(ok(&r), batch);
    assert_eq!(reqs.len(), 1);
    assert_req(
        &reqs[0],
        "POST",
        "/batches",
        Some(json!({
            "project": "p",
            "name": "b1",
            "callback": "ops@example.com",
            "calibration_batch": false,
            "self_label_batch": true,
            "metadata": {"owner": "me"},
        })),
    );
    let (_, reqs) = run(
        "create_batch",
        json!({"project": "p", "name": "b/2"}),
        json!({}),
    );
    assert_req(
        &reqs[0],
        "POST",
        "/batches",
        Some(json!({"project": "p", "name": "b/2"})),
    );
}

#[test]
fn create_batch_default_callback_is_sent_as_callback() {
    let cfg = config_with(&[("DEFAULT_CALLBACK_URL", DEFAULT_CB)]);
    let up = FakeUpstream::new();
    up.respond_with(|_| Ok(json_response(200, &json!({"name": "b"}))));
    ok(&exec(
        &cfg,
        &up,
        None,
        "create_batch",
        json!({"project": "p", "name": "b"}),
    ));
    ok(&exec(
        &cfg,
        &up,
        None,
        "create_batch",
        json!({"project": "p", "name": "b", "callback": "https://mine.test/cb"}),
    ));
    let reqs = up.sent();
    assert_req(
        &reqs[0],
        "POST",
        "/batches",
        Some(json!({"project": "p", "name": "b", "callback": DEFAULT_CB})),
    );
    assert_req(
        &reqs[1],
        "POST",
        "/batches",
        Some(json!({"project": "p", "name": "b", "callback": "https://mine.test/cb"})),
    );
    assert!(body_of(&reqs[0]).unwrap().get("callback_url").is_none());
}

#[test]
fn create_batch_409_explains() {
    let up = FakeUpstream::new();
    up.respond_with(|_| {
        Ok(json_response(
            409,
            &json!({"status_code": 409, "error": "Batch name taken"}),
        ))
    });
    let t = err(&run_on(
        &up,
        "create_batch",
        json!({"project": "p", "name": "b"}),
    ));
    assert!(
        t.contains("Scale returned 409 Conflict for POST /batches: Batch name taken"),
        "{t}"
    );
    assert!(t.contains("get_batch shows it"), "{t}");
    assert_eq!(up.requests.borrow().len(), 1);
}

#[test]
fn get_batch_adds_progress_with_missing_counts_as_zero() {
    let up = FakeUpstream::new();
    route(&up, |m, path| {
        assert_eq!(m, Method::Get);
        match path {
            "/batches/my%20batch" => (
                200,
                json!({"name": "my batch", "status": "in_progress", "project": "p"}),
            ),
            "/batches/my%20batch/status" => (
                200,
                json!({"status": "in_progress", "completed": 3, "pending": 2}),
            ),
            _ => panic!("unexpected {path}"),
        }
    });
    let r = run_on(&up, "get_batch", json!({"name": "my batch"}));
    assert_eq!(
        ok(&r),
        json!({
            "name": "my batch", "status": "in_progress", "project": "p",
            "progress": {"pending": 2, "completed": 3, "error": 0, "canceled": 0, "total": 5},
        })
    );
    let reqs = up.sent();
    assert_eq!(reqs.len(), 2);
    assert_req(&reqs[0], "GET", "/batches/my%20batch", None);
    assert_req(&reqs[1], "GET", "/batches/my%20batch/status", None);

    // An empty status answer gives all zeros.
    let up = FakeUpstream::new();
    route(&up, |_, path| match path {
        "/batches/b" => (200, json!({"name": "b"})),
        _ => (200, json!({"status": "staging"})),
    });
    let r = run_on(&up, "get_batch", json!({"name": "b"}));
    assert_eq!(
        ok(&r)["progress"],
        json!({"pending": 0, "completed": 0, "error": 0, "canceled": 0, "total": 0})
    );
}

#[test]
fn get_batch_failures() {
    // The batch itself is missing: no status call.
    let up = FakeUpstream::new();
    up.respond_with(|_| {
        Ok(json_response(
            404,
            &json!({"status_code": 404, "error": "Batch not found"}),
        ))
    });
    let t = err(&run_on(&up, "get_batch", json!({"name": "b"})));
    assert!(
        t.starts_with("Scale returned 404 Not Found for GET /batches/b: Batch not found"),
        "{t}"
    );
    assert_eq!(up.requests.borrow().len(), 1);

    // The status call fails.
    let up = FakeUpstream::new();
    route(&up, |_, path| match path {
        "/batches/b" => (200, json!({"name": "b"})),
        _ => (404, json!({"status_code": 404, "error": "no status"})),
    });
    let t = err(&run_on(&up, "get_batch", json!({"name": "b"})));
    assert!(t.starts_with("The batch was found, but its progress could not be read. Scale returned 404 Not Found for GET /batches/b/status: no status"), "{t}");
    assert_eq!(up.requests.borrow().len(), 2);
}

#[test]
fn list_batches_requests() {
    let (r, reqs) = run("list_batches", json!({}), json!({"docs": []}));
    assert_eq!(
        ok(&r),
        json!({"batches": [], "total": null, "has_more": false, "next_offset": null})
    );
    assert_req(&reqs[0], "GET", "/batches?limit=10", None);

    let (_, reqs) = run(
        "list_batches",
        json!({
            "project": "p q",
            "status": "in_progress",
            "created_after": "2026-01-01",
            "created_before": "2026-02-01T00:00:00Z",
            "completed_after": "2026-01-15",
            "completed_before": "2026-01-20",
            "limit": 50,
            "offset": 100,
            "detailed": false,
        }),
        json!({"docs": []}),
    );
    assert_eq!(reqs.len(), 1);
    assert_req(
        &reqs[0],
        "GET",
        "/batches?project=p%20q&status=in_progress&start_time=2026-01-01&end_time=2026-02-01T00%3A00%3A00Z\
&completed_after=2026-01-15&completed_before=2026-01-20&limit=50&offset=100",
        None,
    );
}

#[test]
fn list_batches_shapes_total_and_next_offset() {
    let docs: Vec<Value> = (0..3).map(|i| json!({"name": format!("b{i}")})).collect();
    let (r, _) = run(
        "list_batches",
        json!({"offset": 20, "limit": 3}),
        json!({"docs": docs, "totalDocs": 57, "has_more": true, "limit": 3, "offset": 20}),
    );
    assert_eq!(
        ok(&r),
        json!({"batches": docs, "total": 57, "has_more": true, "next_offset": 23})
    );
    let (r, _) = run(
        "list_batches",
        json!({}),
        json!({"docs": docs, "total": 3, "has_more": false}),
    );
    assert_eq!(
        ok(&r),
        json!({"batches": docs, "total": 3, "has_more": false, "next_offset": null})
    );
}

#[test]
fn list_batches_detailed_adds_progress() {
    let up = FakeUpstream::new();
    route(&up, |_, path| {
        if path.starts_with("/batches?") {
            return (
                200,
                json!({"docs": [{"name": "a"}, {"name": "b/c"}, {"name": "gone"}, {"status": "x"}], "total": 4}),
            );
        }
        match path {
            "/batches/a/status" => (200, json!({"completed": 1, "error": 2})),
            "/batches/b%2Fc/status" => (200, json!({"pending": 4})),
            _ => (404, json!({"error": "not found"})),
        }
    });
    let r = run_on(&up, "list_batches", json!({"detailed": true}));
    let s = ok(&r);
    assert_eq!(
        s["batches"],
        json!([
            {"name": "a", "progress": {"pending": 0, "completed": 1, "error": 2, "canceled": 0, "total": 3}},
            {"name": "b/c", "progress": {"pending": 4, "completed": 0, "error": 0, "canceled": 0, "total": 4}},
            {"name": "gone"},
            {"status": "x"},
        ])
    );
    assert_eq!(
        s["progress_incomplete"]["batches_without_progress"],
        json!(["gone", null])
    );
    assert_eq!(
        s["progress_incomplete"]["reason"],
        "Scale did not return the status of some batches"
    );
    let reqs = up.sent();
    // The list, then one status call per named batch, sent once each.
    assert_eq!(reqs.len(), 4);
    assert_req(&reqs[0], "GET", "/batches?limit=10", None);
    assert_req(&reqs[1], "GET", "/batches/a/status", None);
    assert_req(&reqs[2], "GET", "/batches/b%2Fc/status", None);
    assert_req(&reqs[3], "GET", "/batches/gone/status", None);
}

#[test]
fn list_batches_detailed_stays_within_the_subrequest_budget() {
    let up = FakeUpstream::new();
    route(&up, |_, path| {
        if path.starts_with("/batches?") {
            let docs: Vec<Value> = (0..100)
                .map(|i| json!({"name": format!("batch-{i:03}")}))
                .collect();
            (200, json!({"docs": docs, "total": 250, "has_more": true}))
        } else {
            (200, json!({"completed": 1}))
        }
    });
    let r = run_on(&up, "list_batches", json!({"detailed": true, "limit": 100}));
    let s = ok(&r);
    let reqs = up.sent();
    assert_eq!(reqs.len(), 49, "1 list + 48 status calls");
    assert!(reqs.len() as u32 <= batches::SUBREQUEST_BUDGET);
    let batches = s["batches"].as_array().unwrap();
    assert_eq!(batches.len(), 100);
    for (i, b) in batches.iter().enumerate() {
        assert_eq!(b.get("progress").is_some(), i < 48, "batch {i}");
    }
    let missing: Vec<Value> = (48..100).map(|i| json!(format!("batch-{i:03}"))).collect();
    assert_eq!(
        s["progress_incomplete"]["batches_without_progress"],
        Value::Array(missing)
    );
    assert!(s["progress_incomplete"]["reason"]
        .as_str()
        .unwrap()
        .contains("progress was read for the first 48 batches"));
    assert_eq!(s["next_offset"], 100);
    assert_eq!(s["total"], 250);
}

#[test]
fn list_batches_detailed_budget_accounts_for_list_retries() {
    let up = FakeUpstream::new();
    up.push_json(503, json!({"error": "busy"}));
    up.push_json(503, json!({"error": "busy"}));
    route(&up, |_, path| {
        if path.starts_with("/batches?") {
            let docs: Vec<Value> = (0..100).map(|i| json!({"name": format!("b{i}")})).collect();
            (200, json!({"docs": docs}))
        } else {
            (200, json!({}))
        }
    });
    let r = run_on(&up, "list_batches", json!({"detailed": true, "limit": 100}));
    ok(&r);
    let n = up.requests.borrow().len();
    assert_eq!(n, 3 + 46);
    assert!(n as u32 <= batches::SUBREQUEST_BUDGET);
}

#[test]
fn finalize_batch_requests() {
    let (r, reqs) = run(
        "finalize_batch",
        json!({"name": "b 1"}),
        json!({"name": "b 1", "status": "in_progress"}),
    );
    assert_eq!(ok(&r), json!({"name": "b 1", "status": "in_progress"}));
    assert_eq!(reqs.len(), 1);
    assert_req(&reqs[0], "POST", "/batches/b%201/finalize", None);

    let up = FakeUpstream::new();
    route(&up, |_, path| match path {
        "/batches/b/finalize" => (200, json!({"name": "b", "status": "in_progress"})),
        "/batches/b/prioritize" => (
            200,
            json!({"name": "b", "status": "in_progress", "priority": 20}),
        ),
        _ => panic!("{path}"),
    });
    let r = run_on(&up, "finalize_batch", json!({"name": "b", "priority": 20}));
    assert_eq!(
        ok(&r),
        json!({"name": "b", "status": "in_progress", "priority": 20})
    );
    let reqs = up.sent();
    assert_eq!(reqs.len(), 2);
    assert_req(&reqs[0], "POST", "/batches/b/finalize", None);
    assert_req(
        &reqs[1],
        "POST",
        "/batches/b/prioritize",
        Some(json!({"priority": 20})),
    );

    // A plain OK from prioritize: the finalized batch with its priority.
    let up = FakeUpstream::new();
    up.push_json(200, json!({"name": "b", "status": "in_progress"}));
    up.push(Ok(text_response(200, "text/plain", "OK")));
    let r = run_on(&up, "finalize_batch", json!({"name": "b", "priority": 30}));
    assert_eq!(
        ok(&r),
        json!({"name": "b", "status": "in_progress", "priority": 30})
    );
}

#[test]
fn finalize_batch_failures_say_what_was_applied() {
    let up = FakeUpstream::new();
    route(&up, |_, path| match path {
        "/batches/b/finalize" => (200, json!({"name": "b"})),
        _ => (
            400,
            json!({"status_code": 400, "error": "priority not allowed"}),
        ),
    });
    let t = err(&run_on(
        &up,
        "finalize_batch",
        json!({"name": "b", "priority": 15}),
    ));
    assert!(t.starts_with("Step `prioritize` failed. Scale returned 400 Bad Request for POST /batches/b/prioritize: priority not allowed"), "{t}");
    assert!(
        t.ends_with("\nSteps applied before the failure: finalize."),
        "{t}"
    );
    assert_eq!(up.requests.borrow().len(), 2);

    let up = FakeUpstream::new();
    up.respond_with(|_| Ok(json_response(404, &json!({"error": "Batch not found"}))));
    let t = err(&run_on(
        &up,
        "finalize_batch",
        json!({"name": "b", "priority": 15}),
    ));
    assert!(
        t.contains("Scale returned 404 Not Found for POST /batches/b/finalize: Batch not found"),
        "{t}"
    );
    assert!(t.ends_with("\nNo step was applied."), "{t}");
    assert_eq!(up.requests.borrow().len(), 1, "prioritize not sent");
}

// ================================================================ requests: projects, team, files

#[test]
fn list_projects_requests_and_shape() {
    let projects = json!([{"name": "a", "type": "imageannotation"}, {"name": "b"}]);
    let (r, reqs) = run("list_projects", json!({}), projects.clone());
    assert_eq!(ok(&r), json!({"projects": projects}));
    assert_req(&reqs[0], "GET", "/projects", None);
    let (_, reqs) = run("list_projects", json!({"archived": true}), json!([]));
    assert_req(&reqs[0], "GET", "/projects?archived=true", None);
    let (r, reqs) = run("list_projects", json!({"archived": false}), json!([]));
    assert_req(&reqs[0], "GET", "/projects?archived=false", None);
    assert_eq!(ok(&r), json!({"projects": []}));
    // A paged shape is unwrapped.
    let (r, _) = run("list_projects", json!({}), json!({"docs": [{"name": "z"}]}));
    assert_eq!(ok(&r), json!({"projects": [{"name": "z"}]}));
}

#[test]
fn get_project_request() {
    let p = json!({"name": "My Project", "type": "categorization", "param_history": []});
    let (r, reqs) = run("get_project", json!({"name": "My Project"}), p.clone());
    assert_eq!(ok(&r), p);
    assert_req(&reqs[0], "GET", "/projects/My%20Project", None);
}

#[test]
fn create_project_request() {
    let (r, reqs) = run(
        "create_project",
        json!({
            "type": "imageannotation",
            "name": "proj",
            "params": {"instruction": "Boxes", "geometries": {"box": {}}},
            "studio": true,
            "rapid": false,
            "pipeline": "consensus_task",
            "consensus_attempts": 3,
        }),
        json!({"name": "proj"}),
    );
    assert_eq!(ok(&r), json!({"name": "proj"}));
    assert_req(
        &reqs[0],
        "POST",
        "/projects",
        Some(json!({
            "type": "imageannotation",
            "name": "proj",
            "params": {"instruction": "Boxes", "geometries": {"box": {}}},
            "studio": true,
            "rapid": false,
            "pipeline": "consensus_task",
            "consensus_attempts": 3,
        })),
    );
    let (_, reqs) = run(
        "create_project",
        json!({"type": "chat", "name": "c"}),
        json!({}),
    );
    assert_req(
        &reqs[0],
        "POST",
        "/projects",
        Some(json!({"type": "chat", "name": "c"})),
    );
    let up = FakeUpstream::new();
    up.respond_with(|_| Ok(json_response(409, &json!({"error": "Project name taken"}))));
    let t = err(&run_on(
        &up,
        "create_project",
        json!({"type": "chat", "name": "c"}),
    ));
    assert!(
        t.contains("409 Conflict for POST /projects: Project name taken"),
        "{t}"
    );
    assert!(t.contains("get_project shows it"), "{t}");
    assert_eq!(up.requests.borrow().len(), 1);
}

#[test]
fn update_project_set_params_body() {
    let (r, reqs) = run(
        "update_project",
        json!({"name": "p 1", "instruction": "New", "params": {"geometries": {"box": {}}}, "patch": true}),
        json!({"name": "p 1", "param_history": [{"version": 2}]}),
    );
    assert_eq!(
        ok(&r),
        json!({"name": "p 1", "param_history": [{"version": 2}]})
    );
    assert_eq!(reqs.len(), 1);
    assert_req(
        &reqs[0],
        "POST",
        "/projects/p%201/setParams",
        Some(json!({"geometries": {"box": {}}, "instruction": "New", "patch": true})),
    );
    let (_, reqs) = run(
        "update_project",
        json!({"name": "p", "instruction": "Only this"}),
        json!({}),
    );
    assert_req(
        &reqs[0],
        "POST",
        "/projects/p/setParams",
        Some(json!({"instruction": "Only this"})),
    );
    let (_, reqs) = run(
        "update_project",
        json!({"name": "p", "params": {"instruction": "via params"}, "patch": false}),
        json!({}),
    );
    assert_req(
        &reqs[0],
        "POST",
        "/projects/p/setParams",
        Some(json!({"instruction": "via params", "patch": false})),
    );
}

#[test]
fn update_project_ontology_and_both_steps() {
    let up = FakeUpstream::new();
    route(&up, |_, path| match path {
        "/projects/p/setParams" => (200, json!({"name": "p", "type": "categorization"})),
        "/projects/p/setOntology" => (200, json!({"ontology": ["a"]})),
        _ => panic!("{path}"),
    });
    let r = run_on(
        &up,
        "update_project",
        json!({"name": "p", "instruction": "I", "ontology": ["cat", {"choice": "dog", "subchoices": ["big"]}], "ontology_name": "v2"}),
    );
    assert_eq!(
        ok(&r),
        json!({"name": "p", "type": "categorization", "ontology_update": {"ontology": ["a"]}})
    );
    let reqs = up.sent();
    assert_eq!(reqs.len(), 2);
    assert_req(
        &reqs[0],
        "POST",
        "/projects/p/setParams",
        Some(json!({"instruction": "I"})),
    );
    assert_req(
        &reqs[1],
        "POST",
        "/projects/p/setOntology",
        Some(json!({"ontology": ["cat", {"choice": "dog", "subchoices": ["big"]}], "name": "v2"})),
    );

    // Ontology alone, with a plain OK answer.
    let up = FakeUpstream::new();
    up.respond_with(|_| Ok(text_response(200, "text/plain", "OK")));
    let r = run_on(
        &up,
        "update_project",
        json!({"name": "p", "ontology": ["x"]}),
    );
    assert_eq!(
        ok(&r),
        json!({"name": "p", "ontology_update": {"ok": true}})
    );
    let reqs = up.sent();
    assert_eq!(reqs.len(), 1);
    assert_req(
        &reqs[0],
        "POST",
        "/projects/p/setOntology",
        Some(json!({"ontology": ["x"]})),
    );
}

#[test]
fn update_project_ontology_failure_after_set_params() {
    let up = FakeUpstream::new();
    route(&up, |_, path| match path {
        "/projects/p/setParams" => (200, json!({"name": "p"})),
        _ => (404, json!({"status_code": 404, "error": "Not found"})),
    });
    let t = err(&run_on(
        &up,
        "update_project",
        json!({"name": "p", "params": {"x": 1}, "ontology": ["a"]}),
    ));
    assert!(t.starts_with("Step `setOntology` failed. Scale returned 404 Not Found for POST /projects/p/setOntology: Not found"), "{t}");
    assert!(t.contains("edit the taxonomy in Scale's dashboard"), "{t}");
    assert!(
        t.ends_with("\nSteps applied before the failure: setParams."),
        "{t}"
    );
    assert_eq!(up.requests.borrow().len(), 2);

    // setParams failing stops before setOntology; it is not retried.
    let up = FakeUpstream::new();
    up.respond_with(|_| Ok(json_response(500, &json!({"error": "oops"}))));
    let t = err(&run_on(
        &up,
        "update_project",
        json!({"name": "p", "params": {"x": 1}, "ontology": ["a"]}),
    ));
    assert!(
        t.starts_with("Step `setParams` failed. Scale returned 500"),
        "{t}"
    );
    assert!(t.ends_with("\nNo step was applied."), "{t}");
    assert_eq!(up.requests.borrow().len(), 1);
}

#[test]
fn manage_team_requests() {
    let mates = json!([{"email": "a@x.test", "role": "member"}]);
    let (r, reqs) = run("manage_team", json!({"action": "list"}), mates.clone());
    assert_eq!(ok(&r), json!({"teammates": mates}));
    assert_req(&reqs[0], "GET", "/teams", None);

    let (r, reqs) = run(
        "manage_team",
        json!({"action": "invite", "emails": ["a@x.test", "b@x.test"], "role": "labeler"}),
        mates.clone(),
    );
    assert_eq!(ok(&r), json!({"teammates": mates}));
    assert_req(
        &reqs[0],
        "POST",
        "/teams/invite",
        Some(json!({"emails": ["a@x.test", "b@x.test"], "team_role": "labeler"})),
    );
    let (r, reqs) = run(
        "manage_team",
        json!({"action": "set_role", "emails": ["a@x.test"], "role": "manager"}),
        json!({"teammates": mates}),
    );
    assert_eq!(ok(&r), json!({"teammates": mates}));
    assert_req(
        &reqs[0],
        "POST",
        "/teams/set_role",
        Some(json!({"emails": ["a@x.test"], "team_role": "manager"})),
    );
    // Invites are sent once; lists are retried.
    let up = FakeUpstream::new();
    up.respond_with(|_| Ok(json_response(503, &json!({"error": "x"}))));
    err(&run_on(
        &up,
        "manage_team",
        json!({"action": "invite", "emails": ["a@x.test"], "role": "member"}),
    ));
    assert_eq!(up.requests.borrow().len(), 1);
    let up = FakeUpstream::new();
    up.push_json(503, json!({"error": "x"}));
    up.push_json(200, json!([]));
    let r = run_on(&up, "manage_team", json!({"action": "list"}));
    assert_eq!(ok(&r), json!({"teammates": []}));
    assert_eq!(up.requests.borrow().len(), 2);
}

#[test]
fn import_file_request() {
    let file =
        json!({"id": "f1", "attachment_url": "scaledata://123/abc", "mime_type": "image/jpeg"});
    let (r, reqs) = run(
        "import_file",
        json!({"file_url": "https://x.test/a.jpg?sig=1&e=2", "project_name": "p"}),
        file.clone(),
    );
    assert_eq!(ok(&r), file);
    assert_req(
        &reqs[0],
        "POST",
        "/files/import",
        Some(json!({"file_url": "https://x.test/a.jpg?sig=1&e=2", "project_name": "p"})),
    );
    let (_, reqs) = run("import_file", json!({"file_url": "s3://bucket/key"}), file);
    assert_req(
        &reqs[0],
        "POST",
        "/files/import",
        Some(json!({"file_url": "s3://bucket/key"})),
    );
}

// ================================================================ hostile path values

/// A tool with one path argument: how to build its arguments, and the
/// request paths it makes, with `{}` for the encoded argument.
struct PathTool {
    tool: &'static str,
    args: fn(&str) -> Value,
    paths: &'static [&'static [&'static str]],
}

fn path_tools() -> Vec<PathTool> {
    vec![
        PathTool {
            tool: "get_task",
            args: |v| json!({"task_id": v}),
            paths: &[&["task", "{}"]],
        },
        PathTool {
            tool: "cancel_task",
            args: |v| json!({"task_id": v}),
            paths: &[&["task", "{}", "cancel"]],
        },
        PathTool {
            tool: "update_task",
            args: |v| json!({"task_id": v, "metadata": {"a": 1}, "add_tags": ["t"]}),
            paths: &[&["task", "{}", "setMetadata"], &["task", "{}", "tags"]],
        },
        PathTool {
            tool: "resend_callback",
            args: |v| json!({"task_id": v}),
            paths: &[&["task", "{}", "send-callback"]],
        },
        PathTool {
            tool: "get_batch",
            args: |v| json!({"name": v}),
            paths: &[&["batches", "{}"], &["batches", "{}", "status"]],
        },
        PathTool {
            tool: "finalize_batch",
            args: |v| json!({"name": v, "priority": 12}),
            paths: &[
                &["batches", "{}", "finalize"],
                &["batches", "{}", "prioritize"],
            ],
        },
        PathTool {
            tool: "get_project",
            args: |v| json!({"name": v}),
            paths: &[&["projects", "{}"]],
        },
        PathTool {
            tool: "update_project",
            args: |v| json!({"name": v, "instruction": "x", "ontology": ["a"]}),
            paths: &[
                &["projects", "{}", "setParams"],
                &["projects", "{}", "setOntology"],
            ],
        },
    ]
}

#[test]
fn hostile_path_values_stay_one_segment() {
    let accepted: Vec<String> = vec![
        "../projects".into(),
        "../../v2/tasks".into(),
        "a/b".into(),
        "/".into(),
        "a?b=c".into(),
        "a#b".into(),
        "a\\b".into(),
        "..\\..".into(),
        "%2F".into(),
        "%2e%2e".into(),
        "a%00b".into(),
        "a\nb\r\u{0}\u{7f}".into(),
        "é日😀".into(),
        " ".into(),
        "...".into(),
        ".a".into(),
        "a".repeat(1024),
    ];
    for pt in path_tools() {
        for v in &accepted {
            let (r, reqs) = run(pt.tool, (pt.args)(v), json!({"name": "x"}));
            ok(&r);
            assert_eq!(reqs.len(), pt.paths.len(), "{} {v:?}", pt.tool);
            for (req, template) in reqs.iter().zip(pt.paths) {
                let path = req.url.strip_prefix(BASE).expect("base URL kept");
                assert!(
                    !path.contains(['?', '#']),
                    "{} {v:?}: query or fragment in {path}",
                    pt.tool
                );
                let segs: Vec<&str> = path.strip_prefix('/').unwrap().split('/').collect();
                assert_eq!(segs.len(), template.len(), "{} {v:?}: {path}", pt.tool);
                for (s, t) in segs.iter().zip(template.iter()) {
                    if *t == "{}" {
                        assert_eq!(percent_decode(s), v.as_bytes(), "{} {v:?}", pt.tool);
                        assert!(
                            s.bytes()
                                .all(|c| c.is_ascii_alphanumeric() || b"-_.~%".contains(&c)),
                            "{} {v:?}: {s}",
                            pt.tool
                        );
                        assert!(*s != "." && *s != "..");
                    } else {
                        assert_eq!(s, t, "{} {v:?}", pt.tool);
                    }
                }
            }
        }
    }
}

#[test]
fn hostile_path_values_that_cannot_be_a_segment_are_refused() {
    let refused: &[(String, &str)] = &[
        ("".into(), "must not be empty"),
        (".".into(), "cannot be `.`"),
        ("..".into(), "cannot be `..`"),
        ("a".repeat(1025), "at most 1024 characters"),
        // 400 characters but 1200 bytes.
        ("日".repeat(400), "too long (1200 bytes"),
    ];
    for pt in path_tools() {
        for (v, why) in refused {
            let arg = if (pt.args)("x").get("task_id").is_some() {
                "task_id"
            } else {
                "name"
            };
            invalid(pt.tool, (pt.args)(v), &[&format!("`{arg}`"), why]);
        }
    }
}

#[test]
fn exact_encodings_of_hostile_values() {
    let cases = [
        ("../projects", "/task/..%2Fprojects"),
        ("a/b", "/task/a%2Fb"),
        ("a?b=c", "/task/a%3Fb%3Dc"),
        ("a#b", "/task/a%23b"),
        ("a\\b", "/task/a%5Cb"),
        ("%2F", "/task/%252F"),
        ("a\u{1}b\n", "/task/a%01b%0A"),
        ("é", "/task/%C3%A9"),
    ];
    for (v, path) in cases {
        let (r, reqs) = run("get_task", json!({"task_id": v}), json!({}));
        ok(&r);
        assert_req(&reqs[0], "GET", path, None);
    }
}

#[test]
fn task_types_must_be_one_plain_segment() {
    for tool in ["create_task", "create_evaluation_task", "create_project"] {
        for bad in [
            "Image Annotation",
            "a/b",
            "../task",
            "image_annotation",
            "ImageAnnotation",
            "é",
            "a.b",
            "a%2Fb",
        ] {
            let args = json!({"type": bad, "name": "n", "expected_response": {}});
            let mut args = args.as_object().unwrap().clone();
            if tool == "create_task" {
                args.remove("name");
                args.remove("expected_response");
            } else if tool == "create_evaluation_task" {
                args.remove("name");
            } else {
                args.remove("expected_response");
            }
            invalid(
                tool,
                Value::Object(args),
                &["`type` must be a Scale task type"],
            );
        }
    }
    invalid(
        "create_task",
        json!({"type": ""}),
        &["`type` must not be empty"],
    );
    invalid(
        "create_task",
        json!({"type": "a".repeat(65)}),
        &["`type` must be at most 64 characters"],
    );
    // New types Scale adds work without a code change.
    let (r, reqs) = run("create_task", json!({"type": "newtype2027"}), json!({}));
    ok(&r);
    assert_req(&reqs[0], "POST", "/task/newtype2027", Some(json!({})));
}

#[test]
fn query_values_are_encoded_not_interpreted() {
    let (_, reqs) = run(
        "list_tasks",
        json!({"project": "a&limit=1000#x", "batch": "../b", "next_token": "%2F?"}),
        json!({}),
    );
    assert_req(
        &reqs[0],
        "GET",
        "/tasks?project=a%26limit%3D1000%23x&batch=..%2Fb&limit=10&next_token=%252F%3F",
        None,
    );
}

// ================================================================ validation

#[test]
fn missing_unknown_and_mistyped_arguments() {
    let cases: Vec<(&str, Value, &str)> = vec![
        ("create_task", json!({}), "missing required argument `type`"),
        (
            "create_task",
            json!({"type": null}),
            "missing required argument `type`",
        ),
        (
            "create_evaluation_task",
            json!({"type": "x"}),
            "missing required argument `expected_response`",
        ),
        ("get_task", json!({}), "missing required argument `task_id`"),
        (
            "cancel_task",
            json!({}),
            "missing required argument `task_id`",
        ),
        (
            "update_task",
            json!({"metadata": {}}),
            "missing required argument `task_id`",
        ),
        (
            "resend_callback",
            json!({}),
            "missing required argument `task_id`",
        ),
        (
            "create_batch",
            json!({"project": "p"}),
            "missing required argument `name`",
        ),
        (
            "create_batch",
            json!({"name": "b"}),
            "missing required argument `project`",
        ),
        ("get_batch", json!({}), "missing required argument `name`"),
        (
            "finalize_batch",
            json!({}),
            "missing required argument `name`",
        ),
        ("get_project", json!({}), "missing required argument `name`"),
        (
            "create_project",
            json!({"type": "x"}),
            "missing required argument `name`",
        ),
        (
            "update_project",
            json!({"instruction": "x"}),
            "missing required argument `name`",
        ),
        (
            "manage_team",
            json!({}),
            "missing required argument `action`",
        ),
        (
            "import_file",
            json!({}),
            "missing required argument `file_url`",
        ),
        ("get_callback", json!({}), "missing required argument `id`"),
        (
            "get_task",
            json!({"task_id": "t", "taskId": "t"}),
            "unknown argument `taskId`",
        ),
        ("list_tasks", json!({"page": 2}), "unknown argument `page`"),
        (
            "create_batch",
            json!({"project": "p", "name": "b", "callback_url": "x"}),
            "unknown argument `callback_url`",
        ),
        (
            "list_tasks",
            json!({"start_time": "2026-01-01"}),
            "unknown argument `start_time`",
        ),
        (
            "get_task",
            json!({"task_id": 5}),
            "`task_id` must be a string (got integer)",
        ),
        (
            "get_task",
            json!({"task_id": ["t"]}),
            "`task_id` must be a string (got array)",
        ),
        (
            "create_task",
            json!({"type": "x", "metadata": "m"}),
            "`metadata` must be an object (got string)",
        ),
        (
            "create_task",
            json!({"type": "x", "params": []}),
            "`params` must be an object (got array)",
        ),
        (
            "create_task",
            json!({"type": "x", "tags": "a"}),
            "`tags` must be an array (got string)",
        ),
        (
            "create_task",
            json!({"type": "x", "tags": [1]}),
            "`tags[0]` must be a string (got integer)",
        ),
        (
            "list_tasks",
            json!({"limited_response": "true"}),
            "`limited_response` must be a boolean (got string)",
        ),
        (
            "list_tasks",
            json!({"limit": "10"}),
            "`limit` must be an integer (got string)",
        ),
        (
            "list_tasks",
            json!({"limit": 2.5}),
            "`limit` must be an integer (got number)",
        ),
        (
            "cancel_task",
            json!({"task_id": "t", "clear_unique_id": 1}),
            "`clear_unique_id` must be a boolean",
        ),
        (
            "list_batches",
            json!({"detailed": "yes"}),
            "`detailed` must be a boolean",
        ),
        (
            "finalize_batch",
            json!({"name": "b", "priority": "20"}),
            "`priority` must be an integer",
        ),
        (
            "list_projects",
            json!({"archived": "no"}),
            "`archived` must be a boolean",
        ),
        (
            "update_project",
            json!({"name": "p", "ontology": "a"}),
            "`ontology` must be an array",
        ),
        (
            "update_project",
            json!({"name": "p", "ontology": [1]}),
            "`ontology[0]` must be a string or object",
        ),
        (
            "update_task",
            json!({"task_id": "t", "metadata": [1]}),
            "`metadata` must be an object",
        ),
        (
            "update_task",
            json!({"task_id": "t", "unique_id": ""}),
            "`unique_id` must not be empty",
        ),
        (
            "manage_team",
            json!({"action": "invite", "emails": "a@x.test", "role": "member"}),
            "`emails` must be an array",
        ),
        (
            "import_file",
            json!({"file_url": ""}),
            "`file_url` must not be empty",
        ),
        ("get_callback", json!({"id": ""}), "`id` must not be empty"),
        (
            "list_callbacks",
            json!({"task_id": 3}),
            "`task_id` must be a string",
        ),
    ];
    for (tool, args, needle) in cases {
        invalid(tool, args, &[needle]);
    }
}

#[test]
fn enum_and_bound_violations() {
    let cases: Vec<(&str, Value, &str)> = vec![
        ("list_tasks", json!({"status": "done"}), "`status` must be one of: pending, completed, canceled, error"),
        ("list_tasks", json!({"customer_review_status": ["approved"]}), "`customer_review_status[0]` must be one of: pending, fixed, accepted, rejected, commented"),
        ("list_batches", json!({"status": "paused"}), "`status` must be one of: staging, in_progress, completed"),
        ("create_project", json!({"type": "x", "name": "n", "pipeline": "fast"}), "`pipeline` must be one of: standard_task, consensus_task"),
        ("manage_team", json!({"action": "delete"}), "`action` must be one of: list, invite, set_role"),
        ("manage_team", json!({"action": "invite", "emails": ["a@x.test"], "role": "admin"}), "`role` must be one of: labeler, member, manager"),
        ("list_tasks", json!({"limit": 0}), "`limit` must be from 1 to 100 (got 0)"),
        ("list_tasks", json!({"limit": 101}), "`limit` must be from 1 to 100 (got 101)"),
        ("list_tasks", json!({"limit": -5}), "`limit` must be from 1 to 100"),
        ("list_batches", json!({"limit": 0}), "`limit` must be from 1 to 100"),
        ("list_batches", json!({"limit": 101}), "`limit` must be from 1 to 100"),
        ("list_batches", json!({"offset": -1}), "`offset` must be from 0 to 1000000000"),
        ("list_callbacks", json!({"limit": 0}), "`limit` must be from 1 to 100"),
        ("list_callbacks", json!({"limit": 101}), "`limit` must be from 1 to 100"),
        ("finalize_batch", json!({"name": "b", "priority": 9}), "`priority` must be from 10 to 30 (got 9)"),
        ("finalize_batch", json!({"name": "b", "priority": 31}), "`priority` must be from 10 to 30 (got 31)"),
        ("create_project", json!({"type": "x", "name": "n", "consensus_attempts": 0}), "`consensus_attempts` must be from 1 to 100"),
        ("update_project", json!({"name": "p", "ontology": []}), "`ontology` must have at least 1 item"),
        ("manage_team", json!({"action": "invite", "emails": [], "role": "member"}), "`emails` must have at least 1 item"),
        ("manage_team", json!({"action": "invite", "emails": ["ab"], "role": "member"}), "`emails[0]` must be at least 3 characters"),
        ("get_callback", json!({"id": "x".repeat(65)}), "`id` must be at most 64 characters"),
    ];
    for (tool, args, needle) in cases {
        invalid(tool, args, &[needle]);
    }
}

#[test]
fn exclusive_and_dependent_arguments() {
    let cases: Vec<(&str, Value, &str)> = vec![
        ("update_task", json!({"task_id": "t", "set_tags": ["a"], "add_tags": ["b"]}), "`set_tags` replaces all tags, so it cannot be combined with `add_tags` or `remove_tags`"),
        ("update_task", json!({"task_id": "t", "set_tags": ["a"], "remove_tags": ["b"]}), "cannot be combined with `add_tags` or `remove_tags`"),
        ("update_task", json!({"task_id": "t", "unique_id": "u", "clear_unique_id": true}), "`unique_id` and `clear_unique_id` exclude each other"),
        ("update_task", json!({"task_id": "t"}), "nothing to update"),
        ("update_task", json!({"task_id": "t", "clear_unique_id": false}), "nothing to update"),
        ("update_task", json!({"task_id": "t", "metadata": null}), "nothing to update"),
        ("create_project", json!({"type": "x", "name": "n", "rapid": true, "studio": true}), "`rapid` and `studio` exclude each other"),
        ("manage_team", json!({"action": "invite"}), "`emails` and `role` are required for action `invite`"),
        ("manage_team", json!({"action": "invite", "emails": ["a@x.test"]}), "`emails` and `role` are required for action `invite`"),
        ("manage_team", json!({"action": "invite", "role": "member"}), "`emails` and `role` are required for action `invite`"),
        ("manage_team", json!({"action": "set_role", "emails": ["a@x.test"]}), "`emails` and `role` are required for action `set_role`"),
        ("manage_team", json!({"action": "list", "emails": ["a@x.test"]}), "`emails` and `role` are only for the invite and set_role actions"),
        ("manage_team", json!({"action": "list", "role": "member"}), "only for the invite and set_role actions"),
        ("manage_team", json!({"action": "invite", "emails": ["not-an-email"], "role": "member"}), "`emails` must hold e-mail addresses (got `not-an-email`)"),
        ("manage_team", json!({"action": "set_role", "emails": ["a b@x.test"], "role": "member"}), "`emails` must hold e-mail addresses"),
        ("update_project", json!({"name": "p"}), "nothing to update: give at least one of instruction, params, ontology"),
        ("update_project", json!({"name": "p", "patch": true}), "`patch` applies to `params`/`instruction`"),
        ("update_project", json!({"name": "p", "patch": true, "ontology": ["a"]}), "`patch` applies to `params`/`instruction`"),
        ("update_project", json!({"name": "p", "ontology_name": "v"}), "`ontology_name` names an `ontology`"),
        ("update_project", json!({"name": "p", "instruction": "x", "ontology_name": "v"}), "`ontology_name` names an `ontology`"),
        ("update_project", json!({"name": "p", "instruction": "x", "params": {"instruction": "y"}}), "`params.instruction` duplicates the `instruction` argument"),
        ("update_project", json!({"name": "p", "params": {"patch": true}, "patch": false}), "`params.patch` duplicates the `patch` argument"),
        ("import_file", json!({"file_url": "example.com/a.jpg"}), "`file_url` must be a URL"),
        ("import_file", json!({"file_url": "https://x.test/a b.jpg"}), "`file_url` must be a URL"),
        ("create_batch", json!({"project": "p", "name": ".."}), "`name` cannot be `..`"),
        ("create_batch", json!({"project": "p", "name": ""}), "`name` must not be empty"),
    ];
    for (tool, args, needle) in cases {
        invalid(tool, args, &[needle]);
    }
}

#[test]
fn bad_dates_are_refused() {
    for bad in [
        "yesterday",
        "",
        "2026",
        "2026-01",
        "2026-1-01",
        "2026/01/01",
        "01-01-2026",
        "2026-01-01Tnoon!",
        "2026-01-01 12:00; DROP",
        "2026-01-01x",
    ] {
        for arg in [
            "created_after",
            "created_before",
            "completed_after",
            "completed_before",
            "updated_after",
            "updated_before",
        ] {
            invalid(
                "list_tasks",
                json!({ arg: bad }),
                &[&format!("`{arg}` must be an ISO 8601 date or date-time")],
            );
        }
        for arg in [
            "created_after",
            "created_before",
            "completed_after",
            "completed_before",
        ] {
            invalid(
                "list_batches",
                json!({ arg: bad }),
                &[&format!("`{arg}` must be an ISO 8601 date or date-time")],
            );
        }
    }
    for good in [
        "2026-01-31",
        "2026-01-31T12:00:00Z",
        "2026-01-31T12:00:00.123+05:30",
        "2026-01-31 12:00",
    ] {
        let (r, _) = run("list_tasks", json!({"updated_after": good}), json!({}));
        ok(&r);
    }
}

// ================================================================ results

fn task(i: usize, extra: Value) -> Value {
    let mut t = json!({
        "task_id": format!("task-{i:03}"),
        "status": "completed",
        "type": "imageannotation",
        "project": "p",
        "metadata": {"i": i},
        "tags": ["x"],
        "params": {"attachment": format!("https://img.test/{i}.jpg")},
    });
    for (k, v) in extra.as_object().unwrap() {
        t[k] = v.clone();
    }
    t
}

#[test]
fn list_tasks_shape() {
    let docs: Vec<Value> = (0..3).map(|i| task(i, json!({}))).collect();
    let (r, _) = run(
        "list_tasks",
        json!({}),
        json!({"docs": docs, "total": 42, "has_more": true, "next_token": "nt", "limit": 3, "offset": 0}),
    );
    assert_eq!(
        ok(&r),
        json!({"tasks": docs, "total": 42, "has_more": true, "next_token": "nt"})
    );
    // Without has_more, the token decides; an empty token is none.
    let (r, _) = run(
        "list_tasks",
        json!({}),
        json!({"docs": [], "next_token": "x"}),
    );
    assert_eq!(
        ok(&r),
        json!({"tasks": [], "total": null, "has_more": true, "next_token": "x"})
    );
    let (r, _) = run(
        "list_tasks",
        json!({}),
        json!({"docs": [], "next_token": "", "total": "many"}),
    );
    assert_eq!(
        ok(&r),
        json!({"tasks": [], "total": null, "has_more": false, "next_token": null})
    );
    // A plain OK (no body) is an empty page.
    let up = FakeUpstream::new();
    up.respond_with(|_| Ok(text_response(200, "text/plain", "")));
    assert_eq!(
        ok(&run_on(&up, "list_tasks", json!({}))),
        json!({"tasks": [], "total": null, "has_more": false, "next_token": null})
    );
}

#[test]
fn large_task_lists_drop_heavy_fields() {
    let big = "r".repeat(3000);
    let docs: Vec<Value> = (0..100)
        .map(|i| task(i, json!({"response": {"annotations": [big.clone()]}})))
        .collect();
    let (r, _) = run(
        "list_tasks",
        json!({"limit": 100}),
        json!({"docs": docs, "total": 100, "has_more": false}),
    );
    let s = ok(&r);
    let text = r["content"][0]["text"].as_str().unwrap();
    assert!(text.len() <= MAX_TEXT_BYTES, "{}", text.len());
    let tasks = s["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 100);
    for (i, t) in tasks.iter().enumerate() {
        assert_eq!(
            *t,
            json!({"task_id": format!("task-{i:03}"), "status": "completed", "type": "imageannotation",
                   "project": "p", "metadata": {"i": i}, "tags": ["x"]})
        );
    }
    assert_eq!(s["truncated"]["dropped"], json!(["response", "params"]));
    assert!(s["truncated"]["how_to_get_full_items"]
        .as_str()
        .unwrap()
        .contains("get_task"));
    assert_eq!(s["total"], 100);
}

#[test]
fn very_large_task_lists_keep_only_identifying_fields() {
    let big = "i".repeat(3000);
    let docs: Vec<Value> = (0..100)
        .map(|i| {
            task(
                i,
                json!({"instruction": big.clone(), "callback_url": "https://cb.test"}),
            )
        })
        .collect();
    let (r, _) = run("list_tasks", json!({"limit": 100}), json!({"docs": docs}));
    let s = ok(&r);
    assert!(r["content"][0]["text"].as_str().unwrap().len() <= MAX_TEXT_BYTES);
    for (i, t) in s["tasks"].as_array().unwrap().iter().enumerate() {
        assert_eq!(
            *t,
            json!({"task_id": format!("task-{i:03}"), "status": "completed", "type": "imageannotation",
                   "project": "p", "metadata": {"i": i}, "tags": ["x"]})
        );
    }
    assert_eq!(
        s["truncated"]["dropped"],
        json!(["all fields but the identifying ones"])
    );
}

#[test]
fn small_lists_are_not_trimmed() {
    let docs: Vec<Value> = (0..10)
        .map(|i| task(i, json!({"response": {"x": "y"}})))
        .collect();
    let (r, _) = run("list_tasks", json!({}), json!({"docs": docs.clone()}));
    let s = ok(&r);
    assert!(s.get("truncated").is_none());
    assert_eq!(s["tasks"], Value::Array(docs));
}

#[test]
fn large_batch_lists_are_trimmed() {
    let big = "m".repeat(3000);
    let docs: Vec<Value> = (0..100)
        .map(|i| json!({"name": format!("b{i}"), "project": "p", "status": "completed", "metadata": {"blob": big}, "callback": "x"}))
        .collect();
    let (r, _) = run(
        "list_batches",
        json!({"limit": 100}),
        json!({"docs": docs, "total": 100}),
    );
    let s = ok(&r);
    assert!(r["content"][0]["text"].as_str().unwrap().len() <= MAX_TEXT_BYTES);
    assert_eq!(
        s["batches"][7],
        json!({"name": "b7", "project": "p", "status": "completed"})
    );
    assert!(s["truncated"]["how_to_get_full_items"]
        .as_str()
        .unwrap()
        .contains("get_batch"));
}

#[test]
fn non_object_answers_are_wrapped() {
    let (r, _) = run("get_task", json!({"task_id": "t"}), json!(["odd"]));
    assert_eq!(ok(&r), json!({"result": ["odd"]}));
    let (r, _) = run("get_project", json!({"name": "p"}), json!("OK"));
    assert_eq!(ok(&r), json!({"result": "OK"}));
}

#[test]
fn non_json_2xx_is_an_error_naming_the_call() {
    let up = FakeUpstream::new();
    up.respond_with(|_| Ok(text_response(200, "text/html", "<html>login</html>")));
    let t = err(&run_on(&up, "get_task", json!({"task_id": "t1"})));
    assert!(
        t.contains(
            "Scale answered 200 with a body that is not JSON (text/html): <html>login</html>"
        ),
        "{t}"
    );
    assert!(t.ends_with("(for GET /task/t1)"), "{t}");
    assert_eq!(up.requests.borrow().len(), 1);
}

// ================================================================ Scale errors

#[test]
fn scale_errors_carry_status_message_and_hint() {
    let cases: &[(u16, &str, &str)] = &[
        (400, "Bad Request", "fix the arguments"),
        (401, "Unauthorized", "SCALE_API_KEY"),
        (402, "Payment Required", "task type is not enabled"),
        (404, "Not Found", "live and test keys see separate data"),
        (409, "Conflict", "already exists"),
        (429, "Too Many Requests", "rate limiting"),
        (500, "Internal Server Error", "try again later"),
    ];
    for (status, reason, hint) in cases {
        let up = FakeUpstream::new();
        let s = *status;
        up.respond_with(move |_| {
            Ok(json_response(
                s,
                &json!({"status_code": s, "error": format!("Scale error text {s}")}),
            ))
        });
        let t = err(&run_on(&up, "get_task", json!({"task_id": "abc"})));
        assert!(
            t.starts_with(&format!(
                "Scale returned {status} {reason} for GET /task/abc: Scale error text {status}\nHint: "
            )),
            "{t}"
        );
        assert!(t.contains(hint), "{status}: {t}");
        let attempts = if matches!(status, 429 | 500) { 3 } else { 1 };
        assert_eq!(up.requests.borrow().len(), attempts, "{status}");
    }
}

#[test]
fn every_scale_tool_reports_scale_errors() {
    for (tool, args) in valid_calls() {
        let up = FakeUpstream::new();
        up.respond_with(|_| {
            Ok(json_response(
                404,
                &json!({"status_code": 404, "error": "Nothing here"}),
            ))
        });
        let t = err(&run_on(&up, tool, args));
        assert!(
            t.contains("Scale returned 404 Not Found for "),
            "{tool}: {t}"
        );
        assert!(
            t.contains(": Nothing here\nHint: Nothing with that id or name exists"),
            "{tool}: {t}"
        );
        assert_eq!(up.requests.borrow().len(), 1, "{tool}: 404 is not retried");
    }
}

#[test]
fn every_scale_tool_succeeds_on_valid_arguments() {
    for (tool, args) in valid_calls() {
        let (r, reqs) = run(tool, args, json!({"name": "x", "docs": []}));
        ok(&r);
        assert!(!reqs.is_empty(), "{tool}");
        for req in &reqs {
            assert!(req.url.starts_with(BASE), "{tool}");
            assert_eq!(header(req, "authorization"), Some(AUTH), "{tool}");
        }
    }
}

#[test]
fn the_key_is_scrubbed_when_scale_echoes_it() {
    let up = FakeUpstream::new();
    up.respond_with(|_| {
        Ok(json_response(
            401,
            &json!({"status_code": 401, "error": format!("Invalid key {KEY} ({KEY_B64})")}),
        ))
    });
    // check_result fails the test if the key shows.
    let t = err(&run_on(&up, "list_projects", json!({})));
    assert!(t.contains("Invalid key [redacted] ([redacted])"), "{t}");
    let up = FakeUpstream::new();
    up.respond_with(|_| Err(SendError::Network(format!("proxy refused Basic {KEY_B64}"))));
    let t = err(&run_on(&up, "get_task", json!({"task_id": "t"})));
    assert!(
        t.contains("Could not reach Scale for GET /task/t: proxy refused Basic [redacted]"),
        "{t}"
    );
    let up = FakeUpstream::new();
    up.respond_with(|_| Ok(text_response(200, "text/plain", &format!("key={KEY}"))));
    let t = err(&run_on(&up, "get_project", json!({"name": "p"})));
    assert!(t.contains("key=[redacted]"), "{t}");
}

#[test]
fn create_task_409_with_unique_id_points_to_list_tasks() {
    let up = FakeUpstream::new();
    up.respond_with(|_| {
        Ok(json_response(
            409,
            &json!({"status_code": 409, "error": "The unique_id is already used"}),
        ))
    });
    let t = err(&run_on(
        &up,
        "create_task",
        json!({"type": "imageannotation", "unique_id": "img-42"}),
    ));
    assert!(t.starts_with("Scale returned 409 Conflict for POST /task/imageannotation: The unique_id is already used"), "{t}");
    assert!(
        t.contains("fetch it with list_tasks {\"unique_id\": \"img-42\"}"),
        "{t}"
    );
    assert!(t.contains("clear_unique_id"), "{t}");
    assert_eq!(up.requests.borrow().len(), 1, "no fetch after a plain 409");

    // Without unique_id a 409 gets no such advice.
    let up = FakeUpstream::new();
    up.respond_with(|_| Ok(json_response(409, &json!({"error": "dup"}))));
    let t = err(&run_on(
        &up,
        "create_task",
        json!({"type": "imageannotation"}),
    ));
    assert!(!t.contains("list_tasks"), "{t}");
}

#[test]
fn create_task_402_says_the_type_is_not_enabled() {
    let up = FakeUpstream::new();
    up.respond_with(|_| {
        Ok(json_response(
            402,
            &json!({"status_code": 402, "error": "Task type lidarannotation not enabled"}),
        ))
    });
    let t = err(&run_on(
        &up,
        "create_task",
        json!({"type": "lidarannotation"}),
    ));
    assert!(t.contains("402 Payment Required for POST /task/lidarannotation: Task type lidarannotation not enabled"), "{t}");
    assert!(t.contains("not enabled for the Scale account"), "{t}");
}

// ================================================================ retries through tools

#[test]
fn get_task_is_retried_on_503() {
    let up = FakeUpstream::new();
    up.push_json(503, json!({"status_code": 503, "error": "queue timeout"}));
    up.push_json(200, json!({"task_id": "t1"}));
    let r = run_on(&up, "get_task", json!({"task_id": "t1"}));
    assert_eq!(ok(&r), json!({"task_id": "t1"}));
    let reqs = up.sent();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0], reqs[1]);
    assert_eq!(*up.sleeps.borrow(), vec![500]);
}

#[test]
fn get_task_timeouts_stop_at_the_call_budget() {
    let up = FakeUpstream::new();
    up.respond_with(|_| Err(SendError::Timeout(25_000)));
    let t = err(&run_on(&up, "get_task", json!({"task_id": "t1"})));
    // 25 s + 0.5 s + 24.5 s uses the whole 50 s budget: two attempts.
    assert_eq!(*up.timeouts.borrow(), vec![25_000, 24_500]);
    assert!(
        t.contains("did not answer GET /task/t1 within 24500 ms"),
        "{t}"
    );
    assert!(t.contains("SCALE_TIMEOUT_MS"), "{t}");
}

#[test]
fn create_task_without_unique_id_is_sent_once() {
    let up = FakeUpstream::new();
    up.push_json(503, json!({"status_code": 503, "error": "busy"}));
    up.push_json(200, json!({"task_id": "dup"}));
    let t = err(&run_on(
        &up,
        "create_task",
        json!({"type": "imageannotation", "project": "p"}),
    ));
    assert!(
        t.starts_with(
            "Scale returned 503 Service Unavailable for POST /task/imageannotation: busy"
        ),
        "{t}"
    );
    assert_eq!(up.requests.borrow().len(), 1);
    assert!(up.sleeps.borrow().is_empty());
    // Nor after a timeout or a network error.
    for e in [
        SendError::Timeout(25_000),
        SendError::Network("reset".into()),
    ] {
        let up = FakeUpstream::new();
        up.push(Err(e));
        let t = err(&run_on(
            &up,
            "create_task",
            json!({"type": "imageannotation"}),
        ));
        assert!(t.contains("A write may still have been applied"), "{t}");
        assert_eq!(up.requests.borrow().len(), 1);
    }
}

#[test]
fn create_task_with_unique_id_recovers_after_503_then_409() {
    let found = json!({"task_id": "t-found", "unique_id": "u/1", "status": "pending"});
    let up = FakeUpstream::new();
    up.push_json(503, json!({"status_code": 503, "error": "busy"}));
    up.push_json(
        409,
        json!({"status_code": 409, "error": "unique_id already exists"}),
    );
    up.push_json(
        200,
        json!({"docs": [found.clone()], "total": 1, "has_more": false}),
    );
    let r = run_on(
        &up,
        "create_task",
        json!({"type": "categorization", "unique_id": "u/1", "project": "p"}),
    );
    assert_eq!(ok(&r), found);
    let reqs = up.sent();
    assert_eq!(reqs.len(), 3);
    let body = json!({"unique_id": "u/1", "project": "p"});
    assert_req(&reqs[0], "POST", "/task/categorization", Some(body.clone()));
    assert_req(&reqs[1], "POST", "/task/categorization", Some(body));
    assert_req(&reqs[2], "GET", "/tasks?unique_id=u%2F1&limit=1", None);
}

#[test]
fn create_task_with_unique_id_retries_503_to_success() {
    let up = FakeUpstream::new();
    up.push_json(502, json!({"error": "bad gateway"}));
    up.push_json(200, json!({"task_id": "t"}));
    let r = run_on(
        &up,
        "create_task",
        json!({"type": "categorization", "unique_id": "u"}),
    );
    assert_eq!(ok(&r), json!({"task_id": "t"}));
    assert_eq!(up.requests.borrow().len(), 2);
}

// ================================================================ multi-step failures

#[test]
fn update_task_failure_lists_applied_steps_and_stops() {
    let up = FakeUpstream::new();
    route(&up, |m, path| match (m, path) {
        (Method::Post, "/task/t1/setMetadata") => (200, json!({"task_id": "t1"})),
        (Method::Post, "/task/t1/tags") => (
            400,
            json!({"status_code": 400, "error": "tags must be strings"}),
        ),
        _ => panic!("step after the failure was sent: {path}"),
    });
    let t = err(&run_on(
        &up,
        "update_task",
        json!({"task_id": "t1", "metadata": {"a": 1}, "set_tags": ["x"], "unique_id": "u"}),
    ));
    assert!(t.starts_with("Step `set_tags` failed. Scale returned 400 Bad Request for POST /task/t1/tags: tags must be strings"), "{t}");
    assert!(
        t.ends_with("\nSteps applied before the failure: metadata."),
        "{t}"
    );
    assert_eq!(up.requests.borrow().len(), 2);
}

#[test]
fn update_task_failure_after_retries_and_on_first_step() {
    let up = FakeUpstream::new();
    route(&up, |m, path| match (m, path) {
        (Method::Post, "/task/t1/setMetadata") => (200, json!({})),
        (Method::Put, "/task/t1/tags") => (200, json!({})),
        (Method::Delete, "/task/t1/tags") => (503, json!({"error": "down"})),
        _ => panic!("unexpected {path}"),
    });
    let t = err(&run_on(
        &up,
        "update_task",
        json!({"task_id": "t1", "metadata": {}, "add_tags": ["a"], "remove_tags": ["b"], "clear_unique_id": true}),
    ));
    assert!(
        t.starts_with("Step `remove_tags` failed. Scale returned 503"),
        "{t}"
    );
    assert!(
        t.ends_with("\nSteps applied before the failure: metadata, add_tags."),
        "{t}"
    );
    // Steps are idempotent: the failing one was tried three times.
    assert_eq!(up.requests.borrow().len(), 2 + 3);

    let up = FakeUpstream::new();
    up.respond_with(|_| Ok(json_response(404, &json!({"error": "Task not found"}))));
    let t = err(&run_on(
        &up,
        "update_task",
        json!({"task_id": "t9", "unique_id": "u", "add_tags": ["a"]}),
    ));
    assert!(t.starts_with("Step `add_tags` failed. Scale returned 404 Not Found for PUT /task/t9/tags: Task not found"), "{t}");
    assert!(t.ends_with("\nNo step was applied."), "{t}");
    assert_eq!(up.requests.borrow().len(), 1);

    // Setting a unique_id is sent once: a repeat after an unseen success would be a 409.
    let up = FakeUpstream::new();
    up.respond_with(|_| Ok(json_response(503, &json!({"error": "down"}))));
    let t = err(&run_on(
        &up,
        "update_task",
        json!({"task_id": "t9", "unique_id": "u"}),
    ));
    assert!(
        t.starts_with("Step `unique_id` failed. Scale returned 503"),
        "{t}"
    );
    assert_eq!(up.requests.borrow().len(), 1);
}

// ================================================================ configuration

#[test]
fn missing_key_refuses_every_scale_tool_without_a_request() {
    let cfg = config_with(&[("SCALE_API_KEY", "")]);
    for (tool, args) in valid_calls() {
        let up = FakeUpstream::new();
        up.respond_with(|_| Ok(json_response(200, &json!({}))));
        let t = err(&exec(&cfg, &up, None, tool, args));
        assert!(t.contains("SCALE_API_KEY is not set"), "{tool}: {t}");
        assert!(
            t.contains("wrangler secret put SCALE_API_KEY"),
            "{tool}: {t}"
        );
        assert!(up.requests.borrow().is_empty(), "{tool}");
    }
}

#[test]
fn api_base_is_the_configured_one() {
    let cfg = config_with(&[("SCALE_API_BASE", "http://127.0.0.1:8787/v1/")]);
    let up = FakeUpstream::new();
    up.respond_with(|_| Ok(json_response(200, &json!({}))));
    ok(&exec(&cfg, &up, None, "get_task", json!({"task_id": "t"})));
    assert_eq!(up.sent()[0].url, "http://127.0.0.1:8787/v1/task/t");
}

// ================================================================ callback log

const T0: u64 = 1_767_225_600_000;
const TTL: u64 = 30 * 86_400;

fn deliver(store: &MemoryStore, body: Value, ms: u64) -> String {
    match block_on(crate::webhook::store_delivery(
        store,
        &body.to_string(),
        ms,
        TTL,
    ))
    .unwrap()
    {
        crate::webhook::Stored::New(id) => id,
        other => panic!("{other:?}"),
    }
}

fn task_cb(task_id: &str, status: &str, batch: Option<&str>) -> Value {
    let mut task = json!({"task_id": task_id, "status": status});
    if let Some(b) = batch {
        task["batch"] = json!(b);
    }
    json!({"task_id": task_id, "status": status, "task": task, "response": {"r": task_id}})
}

/// Five deliveries, one second apart; returns their ids oldest first.
fn populated() -> (MemoryStore, Vec<String>) {
    let store = MemoryStore::new();
    let ids = vec![
        deliver(&store, task_cb("t1", "completed", Some("b1")), T0 + 1000),
        deliver(&store, task_cb("t2", "completed", Some("b1")), T0 + 2000),
        deliver(&store, task_cb("t1", "error", Some("b1")), T0 + 3000),
        deliver(
            &store,
            json!({"batch": "b1", "status": "completed", "stats": {"completed": 2}}),
            T0 + 4000,
        ),
        deliver(&store, task_cb("t3", "pending", None), T0 + 5000),
    ];
    (store, ids)
}

fn list_cb(store: Option<&MemoryStore>, args: Value) -> Value {
    let up = FakeUpstream::new();
    let r = exec(&config(), &up, store, "list_callbacks", args);
    assert!(
        up.requests.borrow().is_empty(),
        "the log tools never call Scale"
    );
    r
}

fn ids_of(v: &Value) -> Vec<String> {
    v["callbacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn list_callbacks_newest_first_with_metadata() {
    let (store, ids) = populated();
    let s = ok(&list_cb(Some(&store), json!({})));
    assert_eq!(s["next_cursor"], Value::Null);
    let cbs = s["callbacks"].as_array().unwrap();
    assert_eq!(cbs.len(), 5);
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(ids_of(&s), newest_first);
    assert_eq!(
        cbs[0],
        json!({"id": ids[4], "kind": "task", "task_id": "t3", "status": "pending", "received_at": "2026-01-01T00:00:05.000Z"})
    );
    assert_eq!(
        cbs[1],
        json!({"id": ids[3], "kind": "batch", "batch": "b1", "status": "completed", "received_at": "2026-01-01T00:00:04.000Z"})
    );
    assert_eq!(
        cbs[4],
        json!({"id": ids[0], "kind": "task", "task_id": "t1", "batch": "b1", "status": "completed", "received_at": "2026-01-01T00:00:01.000Z"})
    );
}

#[test]
fn list_callbacks_filters() {
    let (store, ids) = populated();
    let by = |args: Value| ids_of(&ok(&list_cb(Some(&store), args)));
    assert_eq!(
        by(json!({"task_id": "t1"})),
        vec![ids[2].clone(), ids[0].clone()]
    );
    assert_eq!(
        by(json!({"batch": "b1"})),
        vec![
            ids[3].clone(),
            ids[2].clone(),
            ids[1].clone(),
            ids[0].clone()
        ]
    );
    assert_eq!(
        by(json!({"status": "completed"})),
        vec![ids[3].clone(), ids[1].clone(), ids[0].clone()]
    );
    assert_eq!(
        by(json!({"task_id": "t1", "status": "error"})),
        vec![ids[2].clone()]
    );
    assert_eq!(
        by(json!({"task_id": "t1", "batch": "b1"})),
        vec![ids[2].clone(), ids[0].clone()]
    );
    assert_eq!(
        by(json!({"task_id": "t1", "batch": "other"})),
        Vec::<String>::new()
    );
    assert_eq!(
        by(json!({"task_id": "t"})),
        Vec::<String>::new(),
        "no prefix match across tasks"
    );
    assert_eq!(by(json!({"batch": "b"})), Vec::<String>::new());
    assert_eq!(by(json!({"status": "canceled"})), Vec::<String>::new());
}

#[test]
fn list_callbacks_limit_and_cursor_paging() {
    let (store, ids) = populated();
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut args = json!({"limit": 2});
        if let Some(c) = &cursor {
            args["cursor"] = json!(c);
        }
        let s = ok(&list_cb(Some(&store), args));
        let page = ids_of(&s);
        assert!(page.len() <= 2);
        seen.extend(page);
        pages += 1;
        match s["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
        assert!(pages < 10, "paging does not end");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, newest_first);
    // Exactly one page's worth: limit 5 returns everything.
    let s = ok(&list_cb(Some(&store), json!({"limit": 5})));
    assert_eq!(ids_of(&s), newest_first);
    // Default limit is 20.
    let store = MemoryStore::new();
    for i in 0..25 {
        deliver(
            &store,
            task_cb(&format!("t{i}"), "completed", None),
            T0 + i * 1000,
        );
    }
    let s = ok(&list_cb(Some(&store), json!({})));
    assert_eq!(s["callbacks"].as_array().unwrap().len(), 20);
    assert!(s["next_cursor"].is_string());
}

#[test]
fn list_callbacks_bad_cursor_and_store_failures() {
    let (store, _) = populated();
    let t = err(&list_cb(Some(&store), json!({"cursor": "garbage!"})));
    assert!(
        t.contains("`cursor` is not a next_cursor this tool returned"),
        "{t}"
    );
    store.fail_reads.set(true);
    let t = err(&list_cb(Some(&store), json!({})));
    assert!(
        t.starts_with("The callback log could not be read: KV list failed"),
        "{t}"
    );
}

#[test]
fn get_callback_returns_the_stored_delivery() {
    let (store, ids) = populated();
    let up = FakeUpstream::new();
    let r = exec(
        &config(),
        &up,
        Some(&store),
        "get_callback",
        json!({"id": ids[3]}),
    );
    assert_eq!(
        ok(&r),
        json!({
            "id": ids[3],
            "received_at": "2026-01-01T00:00:04.000Z",
            "kind": "batch",
            "body": {"batch": "b1", "status": "completed", "stats": {"completed": 2}},
        })
    );
    let r = exec(
        &config(),
        &up,
        Some(&store),
        "get_callback",
        json!({"id": ids[0]}),
    );
    assert_eq!(ok(&r)["body"], task_cb("t1", "completed", Some("b1")));
    for missing in ["0000000000000-0000000000000000", "../log", "log:x"] {
        let t = err(&exec(
            &config(),
            &up,
            Some(&store),
            "get_callback",
            json!({"id": missing}),
        ));
        assert!(t.contains("no callback with id"), "{t}");
    }
    store.fail_reads.set(true);
    let t = err(&exec(
        &config(),
        &up,
        Some(&store),
        "get_callback",
        json!({"id": ids[0]}),
    ));
    assert!(t.starts_with("The callback log could not be read"), "{t}");
    assert!(up.requests.borrow().is_empty());
}

#[test]
fn callback_tools_without_a_store_name_callbacks() {
    let t = err(&list_cb(None, json!({})));
    assert!(t.contains("CALLBACKS KV namespace is not bound"), "{t}");
    let up = FakeUpstream::new();
    let t = err(&exec(
        &config(),
        &up,
        None,
        "get_callback",
        json!({"id": "x"}),
    ));
    assert!(t.contains("CALLBACKS"), "{t}");
    assert!(up.requests.borrow().is_empty());
}

#[test]
fn callback_tools_work_without_a_scale_key() {
    let (store, ids) = populated();
    let cfg = config_with(&[("SCALE_API_KEY", "")]);
    let up = FakeUpstream::new();
    let r = exec(
        &cfg,
        &up,
        Some(&store),
        "list_callbacks",
        json!({"limit": 1}),
    );
    assert_eq!(ids_of(&ok(&r)), vec![ids[4].clone()]);
}

#[test]
fn task_lists_pass_tasks_through_untouched() {
    use super::tasks::task_list_text;
    for (body, want) in [
        (
            r#"{"docs": [{"task_id": "a", "z": 1}, {"task_id": "b"}], "total": 2, "has_more": true, "next_token": "n", "limit": 2}"#,
            json!({"tasks": [{"task_id": "a", "z": 1}, {"task_id": "b"}], "total": 2, "has_more": true, "next_token": "n"}),
        ),
        (
            r#"{"docs": [], "next_token": ""}"#,
            json!({"tasks": [], "total": null, "has_more": false, "next_token": null}),
        ),
        (
            r#"{"docs": [{"task_id": "a"}], "next_token": "t"}"#,
            json!({"tasks": [{"task_id": "a"}], "total": null, "has_more": true, "next_token": "t"}),
        ),
        (
            r#"{"docs": {}}"#,
            json!({"tasks": [], "total": null, "has_more": false, "next_token": null}),
        ),
        (
            "[]",
            json!({"tasks": [], "total": null, "has_more": false, "next_token": null}),
        ),
    ] {
        assert_eq!(
            serde_json::from_str::<Value>(&task_list_text(body).unwrap()).unwrap(),
            want,
            "{body}"
        );
    }
    // Numbers keep Scale's exact digits, on the fast path and when trimming.
    let lon = "-122.33460583334325";
    let small = format!(r#"{{"docs": [{{"task_id": "a", "metadata": {{"lon": {lon}}}}}]}}"#);
    assert!(task_list_text(&small).unwrap().contains(lon));
    assert_eq!(task_list_text("{\"docs\": [1,"), None, "not JSON");
    let big_docs: Vec<String> = (0..100)
        .map(|i| {
            format!(
                r#"{{"task_id": "t{i}", "metadata": {{"lon": {lon}}}, "response": "{}"}}"#,
                "x".repeat(3000)
            )
        })
        .collect();
    let big = format!(r#"{{"docs": [{}], "total": 100}}"#, big_docs.join(","));
    let out = task_list_text(&big).unwrap();
    assert!(out.len() <= super::MAX_TEXT_BYTES && out.contains(lon));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["truncated"]["dropped"], json!(["response", "params"]));
    // The same answer re-serialised (keys reordered, spacing gone) shapes alike.
    let reserialised = serde_json::from_str::<Value>(&big).unwrap().to_string();
    assert_eq!(
        v,
        serde_json::from_str::<Value>(&task_list_text(&reserialised).unwrap()).unwrap()
    );
}
