//! Fuzzing of the pure core with proptest: hostile JSON-RPC bodies, headers,
//! tool arguments (with hostile upstream answers) and webhook bodies. A panic
//! would abort the wasm instance, so every input must get an answer.
//!
//! `FUZZ_CASES` sets the cases per target (default 300, the short run in
//! `npm test`); `fuzz/long.sh` runs 100,000+ per target in release mode.

#[cfg(not(feature = "testing"))]
compile_error!("the in-memory fakes need `--features testing` (npm test passes it)");

use proptest::prelude::*;
use proptest::test_runner::{Config as PtConfig, TestRunner};
use scale_mcp_worker::app::handle;
use scale_mcp_worker::config::RawSettings;
use scale_mcp_worker::http::{Request as Incoming, Response as Outgoing};
use scale_mcp_worker::io::fakes::{block_on, services, FakeUpstream, MemoryStore};
use scale_mcp_worker::io::{InResponse, SendError};
use serde_json::{json, Map, Value};

const TOKEN: &str = "fuzz-token-0123456789";
const CB_KEY: &str = "fuzz-callback-key-0123";

fn cases() -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

fn runner() -> TestRunner {
    TestRunner::new(PtConfig {
        cases: cases(),
        failure_persistence: None,
        ..PtConfig::default()
    })
}

fn settings() -> RawSettings {
    RawSettings::from_pairs(
        &[
            ("MCP_AUTH_TOKEN", TOKEN),
            ("SCALE_API_KEY", "test_fuzz_key"),
            ("SCALE_CALLBACK_AUTH_KEY", CB_KEY),
            ("SCALE_API_BASE", "https://scale.test/v1"),
            ("WEBHOOK_MAX_BYTES", "65536"),
        ],
        true,
    )
}

const WORDS: &[&str] = &[
    "jsonrpc",
    "2.0",
    "id",
    "method",
    "params",
    "name",
    "arguments",
    "_meta",
    "cursor",
    "uri",
    "protocolVersion",
    "io.modelcontextprotocol/protocolVersion",
    "io.modelcontextprotocol/clientCapabilities",
    "2026-07-28",
    "2025-03-26",
    "initialize",
    "ping",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "server/discover",
    "notifications/initialized",
    "task_id",
    "type",
    "project",
    "batch",
    "limit",
    "tags",
    "metadata",
    "params",
    "status",
    "unique_id",
    "response",
    "task",
    "stats",
    "..",
    "/",
    "%2F",
    "",
    "\u{0}",
    "é",
    "scale-callback://deliveries/1",
];

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(WORDS).prop_map(str::to_string),
        1 => any::<String>(),
        1 => "[a-z_/.]{0,12}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null)),
        word().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(word(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A JSON-RPC-shaped message with fuzzed parts.
fn rpc_message() -> impl Strategy<Value = Value> {
    (
        proptest::option::of(prop_oneof![Just(json!("2.0")), json_value()]),
        proptest::option::of(json_value()),
        proptest::option::of(prop_oneof![4 => proptest::sample::select(WORDS).prop_map(|w| json!(w)), 1 => json_value()]),
        proptest::option::of(json_value()),
        proptest::option::of(word()),
    )
        .prop_map(|(v, id, method, params, tool)| {
            let mut m = Map::new();
            if let Some(v) = v {
                m.insert("jsonrpc".into(), v);
            }
            if let Some(id) = id {
                m.insert("id".into(), id);
            }
            if let Some(me) = method {
                m.insert("method".into(), me);
            }
            let mut p = params.unwrap_or(json!({}));
            if let (Some(t), Some(o)) = (tool, p.as_object_mut()) {
                o.insert("name".into(), json!(t));
            }
            m.insert("params".into(), p);
            Value::Object(m)
        })
}

fn body_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => rpc_message().prop_map(|v| v.to_string().into_bytes()),
        1 => proptest::collection::vec(rpc_message(), 0..4).prop_map(|v| Value::Array(v).to_string().into_bytes()),
        1 => proptest::collection::vec(any::<u8>(), 0..256),
        1 => json_value().prop_map(|v| v.to_string().into_bytes()),
    ]
}

fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(&[
            "2026-07-28", "2025-03-26", "2025-11-25", "2024-11-05", "tools/call", "tools/list", "get_task",
            "application/json", "text/event-stream", "*/*", "=?base64?Z2V0X3Rhc2s=?=", "=?base64?!!?=", "null",
            "http://localhost:1", "https://evil.example", "Bearer fuzz-token-0123456789", "bearer x", "",
        ][..]).prop_map(str::to_string),
        1 => any::<String>(),
    ]
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    let names = proptest::sample::select(
        &[
            "mcp-protocol-version",
            "mcp-method",
            "mcp-name",
            "accept",
            "content-type",
            "origin",
            "authorization",
            "mcp-session-id",
        ][..],
    );
    proptest::collection::vec((names.prop_map(str::to_string), header_value()), 0..6)
}

/// Hostile upstream answers: any status, any bytes, timeouts, resets.
fn upstream_reply() -> impl Strategy<Value = Result<InResponse, SendError>> {
    prop_oneof![
        4 => (100u16..600, json_value()).prop_map(|(s, v)| Ok(InResponse { status: s, headers: vec![("content-type".into(), "application/json".into())], body: v.to_string().into_bytes() })),
        2 => (100u16..600, proptest::collection::vec(any::<u8>(), 0..64), proptest::option::of(header_value())).prop_map(|(s, b, ra)| {
            let mut headers = vec![];
            if let Some(r) = ra { headers.push(("retry-after".to_string(), r)); }
            Ok(InResponse { status: s, headers, body: b })
        }),
        1 => Just(Err(SendError::Timeout(25_000))),
        1 => any::<String>().prop_map(|m| Err(SendError::Network(m))),
    ]
}

/// Checks an answer; `input` is what the caller sent besides its credentials
/// (see [`input_text`]), since echoing the caller's own text back (e.g. an
/// unknown tool name) is not a leak, but echoing a credential is.
fn check_answer(o: &Outgoing, input: &str) -> Result<(), TestCaseError> {
    prop_assert!((200..600).contains(&o.status), "status {}", o.status);
    if !o.body.is_empty() {
        let text = std::str::from_utf8(&o.body).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let json_text = text
            .strip_prefix("event: message\ndata: ")
            .map(|t| t.split("\n\n").next().unwrap_or(""))
            .unwrap_or(text);
        prop_assert!(
            serde_json::from_str::<Value>(json_text).is_ok(),
            "answer is not JSON: {text}"
        );
        for secret in [TOKEN, "test_fuzz_key", CB_KEY] {
            prop_assert!(
                input.contains(secret) || !text.contains(secret),
                "secret in answer: {text}"
            );
        }
    }
    for line in &o.logs {
        for secret in [TOKEN, "test_fuzz_key", CB_KEY] {
            prop_assert!(!line.contains(secret), "secret in log: {line}");
        }
    }
    Ok(())
}

/// The caller's own text: the body and every header but the credential
/// headers, whose values (the bearer token, the callback key) must never come
/// back even though the caller sent them.
fn input_text(headers: &[(String, String)], body: &[u8]) -> String {
    let mut s: String = headers
        .iter()
        .filter(|(k, _)| {
            !k.eq_ignore_ascii_case("authorization")
                && !k.eq_ignore_ascii_case("scale-callback-auth")
        })
        .map(|(k, v)| format!("{k}:{v}\n"))
        .collect();
    s.push_str(&String::from_utf8_lossy(body));
    s
}

fn send(
    method: &str,
    path: &str,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    up: &FakeUpstream,
    store: &MemoryStore,
) -> Outgoing {
    let inc = Incoming {
        method: method.into(),
        path: path.into(),
        query: String::new(),
        self_origin: "https://w.example".into(),
        headers,
        body: body.into(),
    };
    block_on(handle(&inc, &settings(), services(up, Some(store))))
}

#[test]
fn fuzz_mcp_bodies_and_headers() {
    runner()
        .run(
            &(
                body_bytes(),
                headers(),
                proptest::collection::vec(upstream_reply(), 0..4),
            ),
            |(body, extra, replies)| {
                let up = FakeUpstream::new();
                for r in replies {
                    up.push(r);
                }
                let store = MemoryStore::new();
                let mut h = vec![
                    ("authorization".to_string(), format!("Bearer {TOKEN}")),
                    ("content-type".to_string(), "application/json".to_string()),
                ];
                for (k, v) in extra {
                    h.retain(|(n, _)| *n != k);
                    h.push((k, v));
                }
                let input = input_text(&h, &body);
                let o = send("POST", "/mcp", h, body, &up, &store);
                check_answer(&o, &input)
            },
        )
        .unwrap();
}

/// Argument values likely to hit edge cases in validation and request building.
fn arg_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => json_value(),
        2 => proptest::sample::select(&[
            "2026-01-31", "2026-01-31T", "2026-01-31T12:00:00Z", "2026-1-1", "", ".", "..", "a/b", "%2F", "x?y#z",
            "imageannotation", "Image Annotation", "list", "invite", "set_role", "member", "a@b.c", "https://x.test/a.jpg",
            "pending", "staging", "\u{0}", "ü", "10", "30",
        ][..]).prop_map(|s| json!(s)),
        1 => (-5i64..200).prop_map(|n| json!(n)),
        1 => proptest::collection::vec(word(), 0..4).prop_map(|v| json!(v)),
    ]
}

#[test]
fn fuzz_tool_arguments_with_hostile_upstream() {
    let tools: Vec<(&'static str, Vec<String>)> = scale_mcp_worker::tools::registry()
        .iter()
        .map(|t| {
            let schema = (t.input_schema)();
            let props = schema["properties"]
                .as_object()
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default();
            (t.name, props)
        })
        .collect();
    // Mostly the tool's own argument names, so validation and request building are reached.
    let call = proptest::sample::select(tools).prop_flat_map(|(name, props)| {
        let key = prop_oneof![5 => proptest::sample::select(props), 1 => word()];
        (
            Just(name),
            proptest::collection::btree_map(key, arg_value(), 0..8),
        )
    });
    runner()
        .run(&(call, proptest::collection::vec(upstream_reply(), 0..6)), |((tool, args), replies)| {
            let up = FakeUpstream::new();
            for r in replies {
                up.push(r);
            }
            let store = MemoryStore::new();
            let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": args}});
            let h = vec![("authorization".to_string(), format!("Bearer {TOKEN}")), ("content-type".to_string(), "application/json".to_string())];
            let input = body.to_string();
            let o = send("POST", "/mcp", h, body.to_string().into_bytes(), &up, &store);
            check_answer(&o, &input)?;
            let v: Value = serde_json::from_slice(&o.body).unwrap();
            let result = &v["result"];
            prop_assert!(result.is_object(), "tools/call must give a result: {v}");
            if result["isError"] != json!(true) {
                prop_assert!(result["structuredContent"].is_object());
            }
            // Every URL stays under the base with no dot segments.
            for r in up.sent() {
                prop_assert!(r.url.starts_with("https://scale.test/v1/"), "{}", r.url);
                let path = r.url.split('?').next().unwrap();
                prop_assert!(!path.split('/').any(|s| s == ".." || s == "." || s.eq_ignore_ascii_case("%2e%2e")), "{}", r.url);
            }
            Ok(())
        })
        .unwrap();
}

/// The webhook's tree-free scan must accept and refuse exactly what
/// `parse_strict` does, with the same message, and its hash must not depend on
/// layout: the same value written compactly or pretty hashes alike.
#[test]
fn fuzz_webhook_scan_agrees_with_parse_strict() {
    use scale_mcp_worker::callback_log::scan::scan;
    use scale_mcp_worker::json::parse_strict;
    let texts = prop_oneof![
        3 => json_value().prop_map(|v| v.to_string().into_bytes()),
        // Near-JSON: a valid text with one byte changed, dropped or repeated.
        3 => (json_value(), any::<prop::sample::Index>(), any::<u8>(), 0..3u8).prop_map(|(v, at, b, how)| {
            let mut t = v.to_string().into_bytes();
            let i = at.index(t.len());
            match how {
                0 => t[i] = b,
                1 => { t.remove(i); }
                _ => { let c = t[i]; t.insert(i, c); }
            }
            t
        }),
        1 => proptest::collection::vec(any::<u8>(), 0..64),
    ];
    runner()
        .run(&texts, |t| {
            let strict = parse_strict(&t);
            let scanned = scan(&t);
            match (&strict, &scanned) {
                (Err(a), Err(b)) => prop_assert_eq!(a, b),
                (Ok(v), Ok(n)) => {
                    let pretty = serde_json::to_string_pretty(v).unwrap();
                    prop_assert_eq!(scan(pretty.as_bytes()).unwrap().hash(), n.hash());
                }
                _ => prop_assert!(
                    false,
                    "parse_strict {:?} but scan {:?}",
                    strict.as_ref().err(),
                    scanned.as_ref().err()
                ),
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn fuzz_webhook_bodies() {
    let bodies = prop_oneof![
        3 => json_value().prop_map(|v| v.to_string().into_bytes()),
        2 => (word(), word(), json_value()).prop_map(|(id, st, r)| json!({"task": {"task_id": id, "status": st, "batch": st}, "response": r, "task_id": id}).to_string().into_bytes()),
        1 => proptest::collection::vec(any::<u8>(), 0..128),
    ];
    let key = prop_oneof![3 => Just(Some(CB_KEY.to_string())), 1 => proptest::option::of(any::<String>())];
    runner()
        .run(&(bodies, key, any::<bool>()), |(body, key, kv_down)| {
            let up = FakeUpstream::new();
            let store = MemoryStore::new();
            store.fail_puts.set(kv_down);
            let mut h = vec![("content-type".to_string(), "application/json".to_string())];
            if let Some(k) = key {
                h.push(("scale-callback-auth".to_string(), k));
            }
            let input = input_text(&h, &body);
            let o = send("POST", "/webhooks/scale", h, body, &up, &store);
            check_answer(&o, &input)?;
            prop_assert!(
                [200, 400, 401, 413, 503].contains(&o.status),
                "status {}",
                o.status
            );
            if o.status != 200 {
                prop_assert!(
                    store
                        .entries
                        .borrow()
                        .keys()
                        .all(|k| !k.starts_with("log:")),
                    "stored on {}",
                    o.status
                );
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn fuzz_routes_methods_and_auth_headers() {
    let methods = proptest::sample::select(
        &[
            "GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD", "PATCH", "get", "",
        ][..],
    );
    let paths = prop_oneof![
        3 => proptest::sample::select(&["/mcp", "/health", "/webhooks/scale", "/sse", "/", "/.well-known/oauth-protected-resource", "/mcp/", "//mcp"][..]).prop_map(str::to_string),
        1 => any::<String>(),
    ];
    runner()
        .run(
            &(methods, paths, headers(), body_bytes()),
            |(m, p, h, b)| {
                let up = FakeUpstream::new();
                let store = MemoryStore::new();
                let input = input_text(&h, &b) + &p;
                let o = send(m, &p, h, b, &up, &store);
                check_answer(&o, &input)
            },
        )
        .unwrap();
}
