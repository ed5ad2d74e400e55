//! Native tests of the HTTP and MCP protocol core through `app::handle`, with
//! the in-memory fakes: routing, authentication, origin rules, both protocol
//! lanes and every JSON-RPC error path.

#[cfg(not(feature = "testing"))]
compile_error!("the in-memory fakes need `--features testing` (npm test passes it)");

use scale_mcp_worker::app::handle;
use scale_mcp_worker::config::RawSettings;
use scale_mcp_worker::http::{Request as Incoming, Response as Outgoing};
use scale_mcp_worker::io::fakes::{block_on, services, FakeBody, FakeUpstream, MemoryStore};
use serde_json::{json, Value};

const TOKEN: &str = "tok-0123456789abcdef";
const TOKEN2: &str = "tok-new-0123456789abcdef";

fn raw(pairs: &[(&'static str, &str)]) -> RawSettings {
    let tokens = format!("{TOKEN},{TOKEN2}");
    let mut all = vec![
        ("MCP_AUTH_TOKEN", tokens.as_str()),
        ("SCALE_API_KEY", "test_native_key"),
        ("SCALE_API_BASE", "https://scale.test/v1"),
    ];
    all.extend_from_slice(pairs);
    RawSettings::from_pairs(&all, true)
}

struct Req {
    method: &'static str,
    path: &'static str,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn post(body: impl Into<Vec<u8>>) -> Req {
    Req {
        method: "POST",
        path: "/mcp",
        headers: vec![
            ("authorization".into(), format!("Bearer {TOKEN}")),
            ("content-type".into(), "application/json".into()),
            (
                "accept".into(),
                "application/json, text/event-stream".into(),
            ),
        ],
        body: body.into(),
    }
}

impl Req {
    fn h(mut self, k: &str, v: &str) -> Self {
        self.headers.retain(|(n, _)| n != k);
        self.headers.push((k.to_string(), v.to_string()));
        self
    }
    fn without(mut self, k: &str) -> Self {
        self.headers.retain(|(n, _)| n != k);
        self
    }
    fn send_with(self, settings: &RawSettings, up: &FakeUpstream) -> Outgoing {
        self.send_counting(settings, up).0
    }
    /// Sends, and says how many times the core read the body.
    fn send_counting(self, settings: &RawSettings, up: &FakeUpstream) -> (Outgoing, u32) {
        let store = MemoryStore::new();
        let body = FakeBody::new(self.body);
        let inc = Incoming {
            method: self.method.into(),
            path: self.path.into(),
            query: String::new(),
            self_origin: "https://scale-mcp.example.workers.dev".into(),
            headers: self.headers,
            body: body.body(),
        };
        let out = block_on(handle(&inc, settings, services(up, Some(&store))));
        (out, body.reads())
    }
    fn send(self) -> Outgoing {
        self.send_with(&raw(&[]), &FakeUpstream::new())
    }
}

fn get(path: &'static str) -> Req {
    Req {
        method: "GET",
        path,
        headers: vec![],
        body: vec![],
    }
}

fn body(o: &Outgoing) -> Value {
    serde_json::from_slice(&o.body).unwrap_or(Value::Null)
}

fn rpc(id: Value, method: &str, params: Value) -> Vec<u8> {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
        .to_string()
        .into_bytes()
}

fn modern(method: &str, mut params: Value) -> Req {
    // Added to any `_meta` the test gave (a progressToken).
    let meta = params
        .as_object_mut()
        .unwrap()
        .entry("_meta")
        .or_insert(json!({}));
    meta["io.modelcontextprotocol/protocolVersion"] = json!("2026-07-28");
    meta["io.modelcontextprotocol/clientCapabilities"] = json!({});
    let name = params
        .get("name")
        .or_else(|| params.get("uri"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut r = post(rpc(json!(1), method, params))
        .h("mcp-protocol-version", "2026-07-28")
        .h("mcp-method", method);
    if let Some(n) = name {
        r = r.h("mcp-name", &n);
    }
    r
}

#[test]
fn health_reports_presence_never_values_and_only_to_a_token_holder() {
    let o = get("/health").send();
    assert_eq!(o.status, 200);
    // Without a token: the status and nothing else.
    assert_eq!(body(&o), json!({"status": "ok"}));
    let wrong = get("/health")
        .h("authorization", "Bearer not-the-token-000")
        .send();
    assert_eq!(body(&wrong), json!({"status": "ok"}));
    let o = get("/health")
        .h("authorization", &format!("Bearer {TOKEN}"))
        .send();
    let b = body(&o);
    assert_eq!(b["status"], "ok");
    assert_eq!(b["settings"]["MCP_AUTH_TOKEN"], true);
    assert_eq!(b["settings"]["SCALE_CALLBACK_AUTH_KEY"], false);
    assert_eq!(b["settings"]["CALLBACKS"], true);
    let text = String::from_utf8(o.body).unwrap();
    assert!(!text.contains(TOKEN) && !text.contains("test_native_key"));
    let broken = raw(&[("SCALE_TIMEOUT_MS", "fast")]);
    let bad = get("/health").send_with(&broken, &FakeUpstream::new());
    assert_eq!(
        (bad.status, body(&bad)),
        (500, json!({"status": "misconfigured"}))
    );
    let bad = get("/health")
        .h("authorization", &format!("Bearer {TOKEN}"))
        .send_with(&broken, &FakeUpstream::new());
    assert_eq!(bad.status, 500);
    assert!(body(&bad)["errors"][0]
        .as_str()
        .unwrap()
        .starts_with("SCALE_TIMEOUT_MS:"));
}

#[test]
fn each_route_checks_only_the_settings_it_uses() {
    let key = "callback-key-0123456789";
    let delivery = || Req {
        method: "POST",
        path: "/webhooks/scale",
        headers: vec![("scale-callback-auth".into(), key.into())],
        body: br#"{"task_id":"t1","status":"completed"}"#.to_vec(),
    };
    // A typo in an /mcp setting: the webhook still stores deliveries, /mcp names the setting.
    for (name, value) in [
        ("ALLOWED_ORIGINS", "https://app.example.com/path"),
        ("SCALE_API_BASE", "not a url"),
        ("SCALE_TIMEOUT_MS", "soon"),
    ] {
        let settings = raw(&[(name, value), ("SCALE_CALLBACK_AUTH_KEY", key)]);
        let o = delivery().send_with(&settings, &FakeUpstream::new());
        assert_eq!(
            o.status,
            200,
            "{name}: {}",
            String::from_utf8_lossy(&o.body)
        );
        let m = post(rpc(json!(1), "ping", json!({}))).send_with(&settings, &FakeUpstream::new());
        assert_eq!(m.status, 500, "{name}");
        assert!(body(&m)["message"].as_str().unwrap().contains(name));
    }
    // A mistake in the receiver's settings leaves /mcp working.
    let settings = raw(&[
        ("SCALE_CALLBACK_AUTH_KEY", "short"),
        ("WEBHOOK_MAX_BYTES", "x"),
    ]);
    let m = post(rpc(json!(1), "ping", json!({}))).send_with(&settings, &FakeUpstream::new());
    assert_eq!(m.status, 200);
    let o = delivery().send_with(&settings, &FakeUpstream::new());
    assert_eq!(o.status, 500);
    // Scale holds no static token: the settings are named in the log only.
    let msg = body(&o)["message"].as_str().unwrap().to_string();
    assert!(!msg.contains("SCALE_CALLBACK_AUTH_KEY"), "{msg}");
    let log = o.logs.join("\n");
    assert!(
        log.contains("SCALE_CALLBACK_AUTH_KEY") && log.contains("WEBHOOK_MAX_BYTES"),
        "{log}"
    );
    assert!(!msg.contains("short") && !log.contains("short"));
}

#[test]
fn refused_requests_are_answered_without_reading_the_body() {
    let key = "callback-key-0123456789";
    let hook = |headers: Vec<(&str, &str)>| Req {
        method: "POST",
        path: "/webhooks/scale",
        headers: headers
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: br#"{"task_id":"t1","status":"completed"}"#.to_vec(),
    };
    let with_key = raw(&[("SCALE_CALLBACK_AUTH_KEY", key)]);
    let up = FakeUpstream::new();
    let ping = || rpc(json!(1), "ping", json!({}));
    let refused: Vec<(&str, Req, RawSettings, u16)> = vec![
        ("webhook without a key", hook(vec![]), with_key.clone(), 401),
        (
            "webhook with a wrong key",
            hook(vec![("scale-callback-auth", "wrong-key-0123456789")]),
            with_key.clone(),
            401,
        ),
        (
            "webhook not configured",
            hook(vec![("scale-callback-auth", key)]),
            raw(&[]),
            503,
        ),
        (
            "webhook declared too large",
            hook(vec![
                ("scale-callback-auth", key),
                ("content-length", "99999999"),
            ]),
            with_key.clone(),
            413,
        ),
        (
            "webhook GET",
            Req {
                method: "GET",
                ..hook(vec![("scale-callback-auth", key)])
            },
            with_key.clone(),
            405,
        ),
        (
            "mcp without a token",
            post(ping()).without("authorization"),
            raw(&[]),
            401,
        ),
        (
            "mcp with a wrong token",
            post(ping()).h("authorization", "Bearer wrong-token-0123456789"),
            raw(&[]),
            401,
        ),
        (
            "mcp from a refused origin",
            post(ping()).h("origin", "https://evil.example"),
            raw(&[]),
            403,
        ),
        (
            "mcp without MCP_AUTH_TOKEN",
            post(ping()),
            raw(&[("MCP_AUTH_TOKEN", "")]),
            503,
        ),
        (
            "mcp declared too large",
            post(ping()).h("content-length", "2000000"),
            raw(&[]),
            413,
        ),
        (
            "mcp with a wrong content type",
            post(ping()).h("content-type", "text/plain"),
            raw(&[]),
            415,
        ),
        (
            "mcp misconfigured",
            post(ping()),
            raw(&[("ALLOWED_ORIGINS", "x")]),
            500,
        ),
    ];
    for (what, req, settings, status) in refused {
        let (o, reads) = req.send_counting(&settings, &up);
        assert_eq!(o.status, status, "{what}");
        assert_eq!(reads, 0, "{what}: the body was read");
    }
    // Accepted requests read it once.
    let (o, reads) = hook(vec![("scale-callback-auth", key)]).send_counting(&with_key, &up);
    assert_eq!((o.status, reads), (200, 1));
    let (o, reads) = post(ping()).send_counting(&raw(&[]), &up);
    assert_eq!((o.status, reads), (200, 1));
    // A body longer than it was declared (or of unknown length) is capped as it is read.
    let big = post(vec![b' '; 1024 * 1024 + 1]).send();
    assert_eq!(big.status, 413);
}

#[test]
fn fixed_routes() {
    assert_eq!(get("/nope").send().status, 404);
    let sse = get("/sse").send();
    assert_eq!(sse.status, 410);
    assert_eq!(
        body(&sse)["mcp_endpoint"],
        "https://scale-mcp.example.workers.dev/mcp"
    );
    for p in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-authorization-server",
        "/.well-known/oauth-protected-resource/mcp",
    ] {
        let o = Req {
            method: "GET",
            path: p,
            headers: vec![],
            body: vec![],
        }
        .send();
        assert_eq!(o.status, 404);
        assert_eq!(o.get_header("content-type"), Some("application/json"));
    }
    let wh = get("/webhooks/scale").send();
    assert_eq!(wh.status, 405);
}

#[test]
fn authentication() {
    let ping = || rpc(json!(1), "ping", json!({}));
    assert_eq!(post(ping()).send().status, 200);
    assert_eq!(
        post(ping())
            .h("authorization", &format!("Bearer {TOKEN2}"))
            .send()
            .status,
        200,
        "rotated token"
    );
    assert_eq!(
        post(ping())
            .h("authorization", &format!("bearer {TOKEN}"))
            .send()
            .status,
        200,
        "scheme is case-insensitive"
    );
    let missing = post(ping()).without("authorization").send();
    assert_eq!(missing.status, 401);
    assert_eq!(
        missing.get_header("www-authenticate"),
        Some("Bearer realm=\"scale-mcp\"")
    );
    for bad in [
        format!("Bearer {}", &TOKEN[..TOKEN.len() - 1]),
        format!("Bearer {TOKEN}x"),
        format!("Basic {TOKEN}"),
        format!("Bearer {TOKEN}, Bearer {TOKEN2}"),
        "Bearer".to_string(),
        TOKEN.to_string(),
    ] {
        let o = post(ping()).h("authorization", &bad).send();
        assert_eq!(o.status, 401, "{bad}");
        if bad.starts_with("Bearer ") && bad.len() > 7 {
            assert_eq!(
                o.get_header("www-authenticate"),
                Some("Bearer realm=\"scale-mcp\", error=\"invalid_token\""),
                "{bad}"
            );
        }
    }
    let unset = post(ping()).send_with(&raw(&[("MCP_AUTH_TOKEN", "")]), &FakeUpstream::new());
    assert_eq!(unset.status, 503);
    assert!(body(&unset)["message"]
        .as_str()
        .unwrap()
        .contains("wrangler secret put MCP_AUTH_TOKEN"));
}

#[test]
fn origin_rules_and_cors() {
    let ping = || rpc(json!(1), "ping", json!({}));
    for ok in [
        "http://localhost:3000",
        "http://127.0.0.1:6274",
        "https://scale-mcp.example.workers.dev",
        "http://[::1]:8080",
    ] {
        let o = post(ping()).h("origin", ok).send();
        assert_eq!(o.status, 200, "{ok}");
        assert_eq!(o.get_header("access-control-allow-origin"), Some(ok));
    }
    for bad in [
        "https://evil.example",
        "null",
        "http://localhost.evil.example",
        "https://scale-mcp.example.workers.dev.evil",
        "file://x",
    ] {
        assert_eq!(post(ping()).h("origin", bad).send().status, 403, "{bad}");
    }
    let allowed = raw(&[("ALLOWED_ORIGINS", "https://app.example.com")]);
    assert_eq!(
        post(ping())
            .h("origin", "https://app.example.com")
            .send_with(&allowed, &FakeUpstream::new())
            .status,
        200
    );

    let pre = Req {
        method: "OPTIONS",
        path: "/mcp",
        headers: vec![("origin".into(), "http://localhost:5173".into())],
        body: vec![],
    }
    .send();
    assert_eq!(pre.status, 204, "preflight needs no token");
    let allow = pre.get_header("access-control-allow-headers").unwrap();
    for h in [
        "Authorization",
        "Content-Type",
        "Accept",
        "MCP-Protocol-Version",
        "Mcp-Method",
        "Mcp-Name",
        "Mcp-Session-Id",
        "Last-Event-ID",
    ] {
        assert!(allow.contains(h), "{h}");
    }
    let hostile = Req {
        method: "OPTIONS",
        path: "/mcp",
        headers: vec![("origin".into(), "https://evil.example".into())],
        body: vec![],
    }
    .send();
    assert_eq!(hostile.status, 403);
    for m in ["GET", "DELETE"] {
        let o = Req {
            method: m,
            path: "/mcp",
            headers: vec![],
            body: vec![],
        }
        .send();
        assert_eq!(o.status, 405);
        assert_eq!(o.get_header("allow"), Some("POST, OPTIONS"));
    }
}

#[test]
fn legacy_lane() {
    for v in ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"] {
        let o = post(rpc(json!(1), "initialize", json!({"protocolVersion": v, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}))).send();
        let b = body(&o);
        assert_eq!(b["result"]["protocolVersion"], v);
        assert_eq!(b["result"]["serverInfo"]["name"], "scale-mcp-worker");
        assert!(
            b["result"]["serverInfo"]["title"].is_string()
                && b["result"]["instructions"].is_string()
        );
        assert!(o.get_header("mcp-session-id").is_none());
    }
    let o = post(rpc(
        json!(1),
        "initialize",
        json!({"protocolVersion": "1999-01-01", "capabilities": {}}),
    ))
    .send();
    assert_eq!(body(&o)["result"]["protocolVersion"], "2025-11-25");
    let n = post(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string())
        .h("mcp-session-id", "abc")
        .send();
    assert_eq!((n.status, n.body.len()), (202, 0));
    assert_eq!(
        body(&post(rpc(json!("p"), "ping", json!({}))).send()),
        json!({"jsonrpc": "2.0", "id": "p", "result": {}})
    );
    let bad_version = post(rpc(json!(1), "ping", json!({})))
        .h("mcp-protocol-version", "2030-01-01")
        .send();
    assert_eq!(bad_version.status, 400);
    assert_eq!(
        body(&bad_version)["error"]["data"]["requested"],
        "2030-01-01"
    );
    assert_eq!(body(&bad_version)["id"], 1);
    let unknown = post(rpc(json!(1), "sampling/createMessage", json!({}))).send();
    assert_eq!(
        (unknown.status, body(&unknown)["error"]["code"].as_i64()),
        (200, Some(-32601))
    );
}

#[test]
fn protocol_version_errors() {
    let meta = |v: &str| json!({"_meta": {"io.modelcontextprotocol/protocolVersion": v, "io.modelcontextprotocol/clientCapabilities": {}}});
    let discover = |id: Value, header: &str, body_version: &str| {
        post(rpc(id, "server/discover", meta(body_version)))
            .h("mcp-protocol-version", header)
            .h("mcp-method", "server/discover")
            .send()
    };
    // Header and body agree on a version we do not support: -32022, to this request's id.
    let o = discover(json!(301), "v999.0.0", "v999.0.0");
    let b = body(&o);
    assert_eq!((o.status, b["error"]["code"].as_i64()), (400, Some(-32022)));
    assert_eq!(b["id"], 301);
    assert_eq!(b["error"]["data"]["requested"], "v999.0.0");
    // They disagree: a header mismatch, compared before either version is judged.
    for (id, header, body_version) in [
        (json!(302), "2026-07-28", "v999.0.0"),
        (json!("s"), "v999.0.0", "2026-07-28"),
        (json!(304), "2025-11-25", "2026-07-28"),
    ] {
        let o = discover(id.clone(), header, body_version);
        let b = body(&o);
        assert_eq!(
            (o.status, b["error"]["code"].as_i64()),
            (400, Some(-32020)),
            "{header} vs {body_version}"
        );
        assert_eq!(b["id"], id, "{header} vs {body_version}");
    }
    // No usable id in the body: null, as for a body that does not parse.
    for raw in [
        r#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
    ] {
        let o = post(raw).h("mcp-protocol-version", "v999.0.0").send();
        let b = body(&o);
        assert_eq!(
            (o.status, b["error"]["code"].as_i64()),
            (400, Some(-32022)),
            "{raw}"
        );
        assert_eq!(b["id"], Value::Null, "{raw}");
    }
}

#[test]
fn batches_only_under_2025_03_26() {
    let batch = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "ping"},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": "b", "method": "nope"}
    ])
    .to_string();
    for header in [None, Some("2025-03-26")] {
        let mut r = post(batch.clone());
        if let Some(h) = header {
            r = r.h("mcp-protocol-version", h);
        }
        let b = body(&r.send());
        assert_eq!(b.as_array().map(Vec::len), Some(2));
        assert_eq!(b[0]["id"], 1);
        assert_eq!(b[1]["error"]["code"], -32601);
    }
    // At most 20 messages: each may be a tool call sharing the request's budget.
    let ping = |i: usize| json!({"jsonrpc": "2.0", "id": i, "method": "ping"});
    let twenty: Vec<Value> = (0..20).map(ping).collect();
    let o = post(json!(twenty).to_string()).send();
    assert_eq!(body(&o).as_array().map(Vec::len), Some(20));
    let too_many: Vec<Value> = (0..21).map(ping).collect();
    let o = post(json!(too_many).to_string()).send();
    assert_eq!(o.status, 400);
    assert_eq!(body(&o)["error"]["code"], -32600);
    let m = body(&o)["error"]["message"].as_str().unwrap().to_string();
    assert!(m.contains("at most 20 messages") && m.contains("21"), "{m}");
    let only_notes =
        post(json!([{"jsonrpc": "2.0", "method": "notifications/initialized"}]).to_string()).send();
    assert_eq!(only_notes.status, 202);
    assert_eq!(body(&post("[]").send())["error"]["code"], -32600);
    for v in ["2025-06-18", "2025-11-25", "2026-07-28"] {
        let o = post(batch.clone()).h("mcp-protocol-version", v).send();
        assert_eq!(
            (o.status, body(&o)["error"]["code"].as_i64()),
            (400, Some(-32600)),
            "{v}"
        );
    }
}

#[test]
fn json_rpc_error_paths() {
    let cases: Vec<(Req, u16, i64)> = vec![
        (post(""), 400, -32700),
        (post("{"), 400, -32700),
        (post(b"\xff\xfe".to_vec()), 400, -32700),
        (
            post(r#"{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}"#),
            400,
            -32700,
        ),
        (
            post(format!("{}1{}", "[".repeat(200), "]".repeat(200))),
            400,
            -32700,
        ),
        (
            post(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#).h("content-type", "text/plain"),
            415,
            -32600,
        ),
        (post(r#"{"id":1,"method":"ping"}"#), 400, -32600),
        (
            post(r#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#),
            400,
            -32600,
        ),
        (
            post(format!(
                r#"{{"jsonrpc":"2.0","id":"{}","method":"ping"}}"#,
                "x".repeat(300)
            )),
            400,
            -32600,
        ),
        (
            post(r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":[1]}"#),
            200,
            -32602,
        ),
        (
            post(rpc(json!(1), "tools/call", json!({"name": "no_such_tool"}))),
            200,
            -32602,
        ),
        (
            post(rpc(
                json!(1),
                "tools/call",
                json!({"name": "get_task", "arguments": [1]}),
            )),
            200,
            -32602,
        ),
        (
            post(rpc(json!(1), "tools/list", json!({"cursor": "x"}))),
            200,
            -32602,
        ),
        (post(vec![b' '; 1024 * 1024 + 1]), 413, -32600),
    ];
    for (i, (req, status, code)) in cases.into_iter().enumerate() {
        let o = req.send();
        assert_eq!(o.status, status, "case {i}");
        assert_eq!(
            body(&o)["error"]["code"].as_i64(),
            Some(code),
            "case {i}: {}",
            String::from_utf8_lossy(&o.body)
        );
    }
    let big = post(rpc(json!(u64::MAX), "ping", json!({}))).send();
    assert!(String::from_utf8(big.body)
        .unwrap()
        .contains("\"id\":18446744073709551615"));
}

#[test]
fn responses_follow_accept() {
    let ping = || rpc(json!(1), "ping", json!({}));
    let sse = post(ping()).h("accept", "text/event-stream").send();
    assert_eq!(sse.get_header("content-type"), Some("text/event-stream"));
    let text = String::from_utf8(sse.body).unwrap();
    assert!(
        text.starts_with("event: message\ndata: {") && text.ends_with("\n\n"),
        "{text}"
    );
    // A batch (2025-03-26) over SSE: one event per answer, with the same headers.
    let batch = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "ping"},
        {"jsonrpc": "2.0", "id": 2, "method": "ping"}
    ]);
    let b = post(batch.to_string())
        .h("mcp-protocol-version", "2025-03-26")
        .h("accept", "text/event-stream")
        .send();
    assert_eq!(b.get_header("content-type"), Some("text/event-stream"));
    assert_eq!(b.get_header("cache-control"), Some("no-cache"));
    assert_eq!(b.get_header("x-accel-buffering"), Some("no"));
    let text = String::from_utf8(b.body).unwrap();
    assert_eq!(text.matches("event: message\ndata: ").count(), 2, "{text}");
    for a in [None, Some("*/*"), Some("application/json")] {
        let r = match a {
            Some(a) => post(ping()).h("accept", a),
            None => post(ping()).without("accept"),
        };
        assert_eq!(
            r.send().get_header("content-type"),
            Some("application/json")
        );
    }
}

#[test]
fn modern_lane() {
    let d = modern("server/discover", json!({})).send();
    assert_eq!(d.status, 200);
    let r = &body(&d)["result"];
    assert_eq!(r["resultType"], "complete");
    assert!(r["supportedVersions"]
        .as_array()
        .unwrap()
        .contains(&json!("2026-07-28")));
    assert!(r["ttlMs"].is_number() && r["cacheScope"] == "public");
    assert_eq!(
        r["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "scale-mcp-worker"
    );

    let list = body(&modern("tools/list", json!({})).send());
    assert_eq!(list["result"]["resultType"], "complete");
    assert_eq!(list["result"]["cacheScope"], "public");
    // Without the MCP Apps extension declared: all but the view's own tool.
    assert_eq!(
        list["result"]["tools"].as_array().unwrap().len(),
        scale_mcp_worker::tools::registry().len() - 1
    );
    assert_eq!(
        list,
        body(&modern("tools/list", json!({})).send()),
        "deterministic"
    );

    let unknown = modern("nope/nope", json!({})).send();
    assert_eq!(
        (unknown.status, body(&unknown)["error"]["code"].as_i64()),
        (404, Some(-32601))
    );
    let no_meta = post(rpc(json!(1), "tools/list", json!({})))
        .h("mcp-protocol-version", "2026-07-28")
        .h("mcp-method", "tools/list")
        .send();
    assert_eq!(
        (no_meta.status, body(&no_meta)["error"]["code"].as_i64()),
        (400, Some(-32602))
    );
    let mismatch: Vec<Req> = vec![
        modern("tools/list", json!({})).without("mcp-method"),
        modern("tools/list", json!({})).h("mcp-method", "tools/call"),
        modern(
            "tools/call",
            json!({"name": "get_task", "arguments": {"task_id": "x"}}),
        )
        .without("mcp-name"),
        modern(
            "tools/call",
            json!({"name": "get_task", "arguments": {"task_id": "x"}}),
        )
        .h("mcp-name", "list_tasks"),
    ];
    for (i, r) in mismatch.into_iter().enumerate() {
        let o = r.send();
        assert_eq!(
            (o.status, body(&o)["error"]["code"].as_i64()),
            (400, Some(-32020)),
            "case {i}"
        );
    }
    let up = FakeUpstream::new();
    up.push_json(200, json!({"task_id": "x", "status": "pending"}));
    let encoded = modern(
        "tools/call",
        json!({"name": "get_task", "arguments": {"task_id": "x"}}),
    )
    .h("mcp-name", "=?base64?Z2V0X3Rhc2s=?=");
    let o = body(&encoded.send_with(&raw(&[]), &up));
    assert_eq!(o["result"]["structuredContent"]["task_id"], "x");
    assert_eq!(o["result"]["resultType"], "complete");
    let initialize = modern("initialize", json!({"protocolVersion": "2025-11-25"})).send();
    assert_eq!(initialize.status, 404);
}

#[test]
fn tool_calls_reach_upstream_and_errors_are_results() {
    let up = FakeUpstream::new();
    up.push_json(
        404,
        json!({"status_code": 404, "error": "Task with that ID not found."}),
    );
    let o = post(rpc(
        json!(3),
        "tools/call",
        json!({"name": "get_task", "arguments": {"task_id": "a/b"}}),
    ))
    .send_with(&raw(&[]), &up);
    let b = body(&o);
    assert_eq!(b["result"]["isError"], true);
    let text = b["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("404") && text.contains("Task with that ID not found."),
        "{text}"
    );
    let sent = up.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].url, "https://scale.test/v1/task/a%2Fb");
    let invalid = body(
        &post(rpc(
            json!(4),
            "tools/call",
            json!({"name": "get_task", "arguments": {}}),
        ))
        .send(),
    );
    assert_eq!(invalid["result"]["isError"], true);
    assert!(invalid["result"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .contains("task_id"));
}

#[test]
fn misconfiguration_is_named() {
    let o = post(rpc(json!(1), "ping", json!({}))).send_with(
        &raw(&[("SCALE_API_BASE", "not a url")]),
        &FakeUpstream::new(),
    );
    assert_eq!(o.status, 500);
    assert!(body(&o)["message"]
        .as_str()
        .unwrap()
        .contains("SCALE_API_BASE"));
    let no_key = post(rpc(
        json!(1),
        "tools/call",
        json!({"name": "get_task", "arguments": {"task_id": "t"}}),
    ))
    .send_with(&raw(&[("SCALE_API_KEY", "")]), &FakeUpstream::new());
    assert!(body(&no_key)["result"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .contains("SCALE_API_KEY is not set"));
}

/// A streamed answer read to its end: its SSE events as JSON, and the log
/// lines the work behind it left.
fn drain(o: Outgoing) -> (Vec<Value>, Vec<String>) {
    use std::task::{Context, Poll, Waker};
    assert!(o.body.is_empty(), "a streamed answer has no fixed body");
    let mut s = o.stream.expect("a streamed answer").0;
    let mut cx = Context::from_waker(Waker::noop());
    let mut text = Vec::new();
    loop {
        match s.poll_chunk(&mut cx) {
            Poll::Ready(Some(c)) => text.extend(c),
            Poll::Ready(None) => break,
            Poll::Pending => panic!("the fakes never wait"),
        }
    }
    let text = String::from_utf8(text).unwrap();
    let events = text
        .split_terminator("\n\n")
        .map(|e| {
            let data = e
                .strip_prefix("event: message\ndata: ")
                .unwrap_or_else(|| panic!("not an event: {e:?}"));
            serde_json::from_str(data).unwrap()
        })
        .collect();
    (events, s.take_logs())
}

fn pending_then(status: &str) -> FakeUpstream {
    let up = FakeUpstream::new();
    for s in ["pending", "pending", status] {
        up.push_json(200, json!({"task_id": "t1", "status": s}));
    }
    up
}

#[test]
fn long_tools_stream_progress_before_their_result_when_asked() {
    let call = |meta: Value| {
        rpc(
            json!(9),
            "tools/call",
            json!({"name": "wait_for_task", "arguments": {"task_id": "t1"}, "_meta": meta}),
        )
    };
    let o = post(call(json!({"progressToken": "tok-1"})))
        .send_with(&raw(&[]), &pending_then("completed"));
    assert_eq!(o.status, 200);
    assert_eq!(o.get_header("content-type"), Some("text/event-stream"));
    assert_eq!(o.get_header("x-accel-buffering"), Some("no"));
    let (events, _) = drain(o);
    assert_eq!(events.len(), 3, "{events:?}");
    for (e, p) in events[..2].iter().zip([0.0, 0.5]) {
        assert_eq!(e["method"], "notifications/progress");
        assert!(e.get("id").is_none(), "a notification has no id");
        assert_eq!(e["params"]["progressToken"], "tok-1");
        assert_eq!(e["params"]["progress"], p);
    }
    assert_eq!(
        events[1]["params"]["message"],
        "task t1: still pending after 0.5 s"
    );
    let last = &events[2];
    assert_eq!(last["id"], 9);
    assert_eq!(last["result"]["structuredContent"]["done"], true);
    assert_eq!(last["result"]["structuredContent"]["polls"], 3);

    // Answered whole: no token, a token of the wrong type, a client that
    // reads no SSE, and a tool that reports no progress.
    for r in [
        post(call(json!({}))),
        post(call(json!({"progressToken": {"a": 1}}))),
        post(call(json!({"progressToken": 1}))).h("accept", "application/json"),
        post(rpc(
            json!(9),
            "tools/call",
            json!({"name": "get_task", "arguments": {"task_id": "t1"}, "_meta": {"progressToken": 1}}),
        )),
    ] {
        let o = r.send_with(&raw(&[]), &pending_then("completed"));
        assert!(o.stream.is_none());
        assert_eq!(o.get_header("content-type"), Some("application/json"));
        assert!(
            body(&o)["result"]["structuredContent"].is_object(),
            "{}",
            body(&o)
        );
    }
}

#[test]
fn the_modern_lane_streams_too_after_its_checks() {
    let up = FakeUpstream::new();
    up.push_json(200, json!({"docs": []}));
    up.respond_with(|r| {
        let b: Value = serde_json::from_str(r.body.as_deref().unwrap()).unwrap();
        Ok(scale_mcp_worker::io::fakes::json_response(
            200,
            &json!({"task_id": format!("t-{}", b["attachment"].as_str().unwrap()), "status": "pending"}),
        ))
    });
    let params = json!({"name": "create_tasks", "_meta": {"progressToken": 7}, "arguments": {
        "type": "imageannotation", "project": "p", "idempotency_key": "k",
        "items": [{"attachment": "a"}, {"attachment": "b"}]}});
    let (events, logs) = drain(modern("tools/call", params.clone()).send_with(&raw(&[]), &up));
    let progress: Vec<(f64, f64)> = events[..3]
        .iter()
        .map(|e| {
            assert_eq!(e["params"]["progressToken"], 7);
            (
                e["params"]["progress"].as_f64().unwrap(),
                e["params"]["total"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(progress, [(0.0, 2.0), (1.0, 2.0), (2.0, 2.0)]);
    let result = &events[3]["result"];
    assert_eq!(result["resultType"], "complete");
    assert_eq!(result["structuredContent"]["created"], 2);
    assert_eq!(
        audit_items(&logs),
        json!({"total": 2, "created": 2, "already_existed": 0, "failed": 0, "not_done": 0})
    );
    // The modern checks come first: a header mismatch is answered whole.
    let o = modern("tools/call", params)
        .h("mcp-name", "get_task")
        .send();
    assert!(o.stream.is_none());
    assert_eq!(
        (o.status, body(&o)["error"]["code"].as_i64()),
        (400, Some(-32020))
    );
}

#[test]
fn a_tools_audit_line_reaches_the_response() {
    let up = FakeUpstream::new();
    up.push_json(200, json!({"docs": []}));
    up.push_json(200, json!({"task_id": "t0"}));
    let o = post(rpc(
        json!(1),
        "tools/call",
        json!({"name": "create_tasks", "arguments": {"type": "categorization", "items": [{"unique_id": "u"}]}}),
    ))
    .send_with(&raw(&[]), &up);
    assert!(o.stream.is_none());
    assert_eq!(
        audit_items(&o.logs),
        json!({"total": 1, "created": 1, "already_existed": 0, "failed": 0, "not_done": 0})
    );
}

/// The item counts in the one audit line a create_tasks call leaves.
fn audit_items(logs: &[String]) -> Value {
    assert_eq!(logs.len(), 1, "{logs:?}");
    let line: Value = serde_json::from_str(&logs[0]).unwrap();
    assert_eq!(
        (&line["event"], &line["tool"]),
        (&json!("tool_call"), &json!("create_tasks"))
    );
    line["items"].clone()
}

/// A modern request that declares the MCP Apps extension (`caps` replaces
/// the client capabilities `modern` sends).
fn modern_with(method: &str, params: Value, caps: Value) -> Req {
    let mut params = params;
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": caps,
    });
    let name = params
        .get("name")
        .or_else(|| params.get("uri"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut r = post(rpc(json!(1), method, params))
        .h("mcp-protocol-version", "2026-07-28")
        .h("mcp-method", method);
    if let Some(n) = name {
        r = r.h("mcp-name", &n);
    }
    r
}

const VIEW: &str = "ui://scale-mcp/task-annotations";

fn ui_caps() -> Value {
    json!({"extensions": {"io.modelcontextprotocol/ui": {"mimeTypes": ["text/html;profile=mcp-app"]}}})
}

/// The listed tools by name, with their `_meta` (null when absent).
fn metas(list: &Value) -> Vec<(String, Value)> {
    list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap().to_string(), t["_meta"].clone()))
        .collect()
}

#[test]
fn the_annotation_view_goes_to_requests_that_declare_mcp_apps() {
    let opens = json!({"ui": {"resourceUri": VIEW}, "ui/resourceUri": VIEW});
    let app_only = json!({"ui": {"resourceUri": VIEW, "visibility": ["app"]}});
    let check_with_view = |list: &Value| {
        let m = metas(list);
        assert_eq!(m.len(), scale_mcp_worker::tools::registry().len());
        for (name, meta) in &m {
            let want = match name.as_str() {
                "get_task" | "wait_for_task" => opens.clone(),
                "get_task_attachment" => app_only.clone(),
                _ => Value::Null,
            };
            assert_eq!(meta, &want, "{name}");
        }
    };
    // The legacy lane carries no capabilities: every client gets the view.
    check_with_view(&body(&post(rpc(json!(1), "tools/list", json!({}))).send()));
    // 2026-07-28: only a request that declares the extension with the view's type.
    let with = body(&modern_with("tools/list", json!({}), ui_caps()).send());
    check_with_view(&with);
    for caps in [
        json!({}),
        json!({"extensions": {}}),
        json!({"extensions": {"io.modelcontextprotocol/ui": {}}}),
        json!({"extensions": {"io.modelcontextprotocol/ui": {"mimeTypes": ["text/html"]}}}),
        json!({"experimental": {"io.modelcontextprotocol/ui": {"mimeTypes": ["text/html;profile=mcp-app"]}}}),
    ] {
        let without = body(&modern_with("tools/list", json!({}), caps.clone()).send());
        let m = metas(&without);
        assert_eq!(
            m.len(),
            scale_mcp_worker::tools::registry().len() - 1,
            "{caps}"
        );
        assert!(
            m.iter()
                .all(|(n, meta)| n != "get_task_attachment" && meta.is_null()),
            "{caps}"
        );
        // The rest of the list is the same either way.
        let mut trimmed = with["result"]["tools"].as_array().unwrap().clone();
        trimmed.retain(|t| t["name"] != "get_task_attachment");
        for t in &mut trimmed {
            t.as_object_mut().unwrap().remove("_meta");
        }
        assert_eq!(
            &Value::Array(trimmed),
            &without["result"]["tools"],
            "{caps}"
        );
    }
    // The cache key holds the declaration: alternating requests never get each other's list.
    for _ in 0..2 {
        check_with_view(&body(
            &modern_with("tools/list", json!({}), ui_caps()).send(),
        ));
        assert_eq!(
            metas(&body(&modern("tools/list", json!({})).send())).len(),
            scale_mcp_worker::tools::registry().len() - 1
        );
    }

    // server/discover and initialize advertise the extension.
    let d = body(&modern("server/discover", json!({})).send());
    assert_eq!(
        d["result"]["capabilities"]["extensions"]["io.modelcontextprotocol/ui"],
        json!({"mimeTypes": ["text/html;profile=mcp-app"]})
    );
    let i = body(&post(rpc(json!(1), "initialize", json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}))).send());
    assert_eq!(
        i["result"]["capabilities"]["extensions"]["io.modelcontextprotocol/ui"]["mimeTypes"],
        json!(["text/html;profile=mcp-app"])
    );

    // The view's own tool, called without the declaration on 2026-07-28: the
    // missing capability, named (HTTP 400, -32021), and nothing sent to Scale.
    let up = FakeUpstream::new();
    let r = modern(
        "tools/call",
        json!({"name": "get_task_attachment", "arguments": {"task_id": "t1"}}),
    )
    .send_with(&raw(&[]), &up);
    let e = &body(&r)["error"];
    assert_eq!((r.status, e["code"].as_i64()), (400, Some(-32021)), "{e}");
    assert_eq!(
        e["data"]["requiredCapabilities"]["extensions"]["io.modelcontextprotocol/ui"]["mimeTypes"],
        json!(["text/html;profile=mcp-app"])
    );
    assert!(up.sent().is_empty());
}

#[test]
fn the_view_is_a_ui_resource_with_its_csp_and_results_keep_their_content() {
    // Listed first, to a connection offered get_task (legacy lane, and modern with the extension).
    let legacy = body(&post(rpc(json!(1), "resources/list", json!({}))).send());
    assert_eq!(
        legacy["result"]["resources"][0],
        json!({"uri": VIEW, "name": "task_annotations", "title": "Scale task annotations", "mimeType": "text/html;profile=mcp-app"})
    );
    let with = body(&modern_with("resources/list", json!({}), ui_caps()).send());
    assert_eq!(with["result"]["resources"][0]["uri"], VIEW);
    let without = body(&modern("resources/list", json!({})).send());
    assert!(without["result"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["uri"] != VIEW));
    // Not to a connection whose tools do not open it.
    let narrowed = body(
        &post(rpc(json!(1), "resources/list", json!({})))
            .h("x-mcp-tools", "list_projects")
            .send(),
    );
    assert!(narrowed["result"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["uri"] != VIEW));

    // Read on either lane: the document, with the CSP that declares no outside domain.
    for r in [
        post(rpc(json!(1), "resources/read", json!({"uri": VIEW}))).send(),
        modern_with("resources/read", json!({"uri": VIEW}), ui_caps()).send(),
    ] {
        let v = body(&r);
        let c = &v["result"]["contents"];
        assert_eq!(c.as_array().unwrap().len(), 1);
        assert_eq!(c[0]["uri"], VIEW);
        assert_eq!(c[0]["mimeType"], "text/html;profile=mcp-app");
        assert_eq!(
            c[0]["_meta"],
            json!({"ui": {"csp": {"connectDomains": [], "resourceDomains": []}, "prefersBorder": true}})
        );
        let html = c[0]["text"].as_str().unwrap();
        assert!(
            html.starts_with("<!doctype html>") || html.starts_with("<!DOCTYPE html>"),
            "{}",
            &html[..40]
        );
        assert_eq!(html, include_str!("../src/view/annotations.html"));
    }

    // get_task's result is what it was: the task as text and as structuredContent, no _meta of the view.
    let up = FakeUpstream::new();
    up.push_json(
        200,
        json!({"task_id": "t1", "project": "p", "status": "completed"}),
    );
    let r = body(
        &post(rpc(
            json!(1),
            "tools/call",
            json!({"name": "get_task", "arguments": {"task_id": "t1"}}),
        ))
        .send_with(&raw(&[]), &up),
    );
    let result = &r["result"];
    assert_eq!(result["structuredContent"]["task_id"], "t1");
    assert_eq!(
        serde_json::from_str::<Value>(result["content"][0]["text"].as_str().unwrap()).unwrap(),
        result["structuredContent"]
    );
    assert!(result["_meta"].get("ui").is_none());
}
