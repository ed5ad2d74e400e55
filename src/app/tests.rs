//! The router through [`handle`], on the OAuth tests' world: `/mcp` with
//! OAuth tokens beside static ones (the grant's Scale key, the step-up 403,
//! billed work), tenants' webhooks and callback logs kept apart, the OAuth
//! routes without a sign-in method, the per-address limit on refused
//! tokens, who is told which setting is malformed, and the route table.

use super::*;
use crate::io::fakes::{block_on, services_with_oauth, MemoryStore};
use crate::oauth::testing::{World, ISS, KEY_A, KEY_B, LIVE, OP_TOKEN, OWN_A};
use serde_json::Value;

/// A request through the router with `w`'s settings and platform.
fn send(w: &World, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Response {
    send_with(w, None, method, path, headers, body)
}

/// [`send`], with `store` as the callback log when given.
fn send_with(
    w: &World,
    store: Option<&MemoryStore>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Response {
    let req = Request {
        method: method.into(),
        path: path.into(),
        self_origin: ISS.into(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: body.as_bytes().to_vec().into(),
        ..Default::default()
    };
    block_on(handle(
        &req,
        &w.raw(),
        services_with_oauth(&w.up, store, &w.oauth),
    ))
}

fn list_projects(w: &World, token: &str) -> Response {
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_projects","arguments":{}}}"#;
    let auth = format!("Bearer {token}");
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
        ("mcp-protocol-version", "2025-06-18"),
    ];
    send(w, "POST", "/mcp", &headers, body)
}

fn basic(key: &str) -> String {
    format!(
        "Basic {}",
        crate::codec::base64(format!("{key}:").as_bytes())
    )
}

#[test]
fn mcp_calls_with_an_oauth_token_use_the_grants_scale_key() {
    let w = World::new();
    let client = w.register("none");
    let (at, _) = w.tokens_for(&client, &OWN_A);
    let r = list_projects(&w, &at);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let last = w.up.sent().pop().unwrap();
    assert!(
        last.headers.iter().any(|(_, v)| *v == basic(KEY_A)),
        "the user's own key"
    );
    // The audit line names the grant by its label, never by a token.
    assert!(
        r.logs
            .iter()
            .any(|l| l.contains(r#""principal":"oauth:u_"#)),
        "{:?}",
        r.logs
    );
    assert!(!r.logs.iter().any(|l| l.contains("smcp_")), "{:?}", r.logs);
    // Static tokens work beside OAuth and use the operator's key.
    assert_eq!(list_projects(&w, OP_TOKEN).status, 200);
    let last = w.up.sent().pop().unwrap();
    assert!(last
        .headers
        .iter()
        .any(|(_, v)| *v == basic("test_operator_key")));
    // A refused token gets the challenge that points at the metadata.
    let r = list_projects(&w, "smcp_at_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    assert_eq!(r.status, 401);
    let www = r.get_header("www-authenticate").unwrap();
    assert!(www.starts_with(r#"Bearer realm="scale-mcp", resource_metadata="https://w.example.com/.well-known/oauth-protected-resource/mcp", scope="scale:read scale:write scale:team", error="invalid_token", error_description="The access token is unknown"#), "{www}");
    let r = send(
        &w,
        "POST",
        "/mcp",
        &[("content-type", "application/json")],
        "{}",
    );
    assert_eq!(r.status, 401);
    assert!(r
        .get_header("www-authenticate")
        .unwrap()
        .ends_with(r#"scope="scale:read scale:write scale:team""#));
    // The store failing is a 503, so the client keeps its token.
    w.oauth.state.fail.set(true);
    w.advance(61);
    let r = list_projects(&w, &at);
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.get_header("retry-after"), Some("5"));
    assert_eq!(
        list_projects(&w, OP_TOKEN).status,
        200,
        "static tokens need no store"
    );
}

/// A request with `store` as the callback log.
fn send_in(
    w: &World,
    store: &MemoryStore,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Response {
    send_with(w, Some(store), method, path, headers, body)
}

/// One MCP message (or batch) `body` to `path` with `token`.
fn mcp_in(w: &World, store: &MemoryStore, token: &str, path: &str, body: &str) -> Response {
    let auth = format!("Bearer {token}");
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
    ];
    send_in(w, store, "POST", path, &headers, body)
}

fn call(tool: &str, args: Value) -> String {
    serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": args}}).to_string()
}

/// A tool call's result (or error) as JSON.
fn result_of(r: &Response) -> Value {
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    v.get("result").cloned().unwrap_or(v)
}

#[test]
fn a_signed_in_user_missing_a_scope_gets_the_step_up_403_only_for_a_single_message() {
    let w = World::new();
    let store = MemoryStore::new();
    let client = w.register("none");
    let read_only = [
        ("method", "own_key"),
        ("scale_key", KEY_A),
        ("grant_scope", "scale:read"),
    ];
    let (at, _) = w.tokens_for(&client, &read_only);
    assert_eq!(list_projects(&w, &at).status, 200);
    let create = call(
        "create_project",
        serde_json::json!({"name": "p", "type": "textcollection"}),
    );
    let sent = w.up.sent().len();
    let r = mcp_in(&w, &store, &at, "/mcp", &create);
    let text = String::from_utf8_lossy(&r.body).to_string();
    assert_eq!(r.status, 403, "{text}");
    assert_eq!(
        r.get_header("www-authenticate"),
        Some(
            r#"Bearer realm="scale-mcp", resource_metadata="https://w.example.com/.well-known/oauth-protected-resource/mcp", scope="scale:read scale:write scale:team", error="insufficient_scope""#
        )
    );
    assert!(
        text.contains("scale:write") && text.contains("the sign-in `oauth:u_"),
        "{text}"
    );
    // On a narrowed path the challenge names that path's metadata.
    let r = mcp_in(&w, &store, &at, "/mcp/projects/p", &create);
    assert_eq!(r.status, 403);
    assert!(r
        .get_header("www-authenticate")
        .unwrap()
        .contains("oauth-protected-resource/mcp/projects/p\""));
    // Inside a batch: a tool error naming the scope.
    let batch = format!("[{create}]");
    let r = mcp_in(&w, &store, &at, "/mcp", &batch);
    let text = String::from_utf8_lossy(&r.body).to_string();
    assert_eq!(r.status, 200, "{text}");
    assert!(r.get_header("www-authenticate").is_none());
    assert!(
        text.contains(r#""isError":true"#) && text.contains("scale:write"),
        "{text}"
    );
    // Refused by a narrowing the client chose: a tool error, never a 403.
    let r = mcp_in(&w, &store, &at, "/mcp/readonly", &create);
    let text = String::from_utf8_lossy(&r.body).to_string();
    assert_eq!(r.status, 200, "{text}");
    assert!(
        text.contains(r#""isError":true"#) && text.contains("read-only"),
        "{text}"
    );
    // A progress-reporting write the grant lacks the scope for is not
    // streamed: it gets the 403 too.
    let with_progress = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "create_tasks", "arguments": {"tasks": []}, "_meta": {"progressToken": "t"}}}).to_string();
    assert_eq!(mcp_in(&w, &store, &at, "/mcp", &with_progress).status, 403);
    assert_eq!(w.up.sent().len(), sent, "nothing reached Scale");
    // An operator grant is a signed-in user too; a static token with
    // the same scopes is not (its missing scope is a tool error).
    let (op_at, _) = w.tokens_for(
        &client,
        &[
            ("method", "operator"),
            ("operator_token", OP_TOKEN),
            ("grant_scope", "scale:read"),
        ],
    );
    assert_eq!(mcp_in(&w, &store, &op_at, "/mcp", &create).status, 403);
    let mut w = w;
    w.set(
        "MCP_AUTH_TOKEN",
        r#"[{"label": "ro", "token": "read-only-static-token-01", "scopes": ["scale:read"]}]"#,
    );
    let r = mcp_in(&w, &store, "read-only-static-token-01", "/mcp", &create);
    assert_eq!(r.status, 200);
    assert!(String::from_utf8_lossy(&r.body).contains("token `ro`"));
}

#[test]
fn billed_work_follows_the_users_answer_for_an_own_key_and_live_writes_otherwise() {
    let mut w = World::new();
    w.set("SCALE_API_KEY", LIVE);
    let store = MemoryStore::new();
    let client = w.register("none");
    let own = |billed: &'static str| {
        [
            ("method", "own_key"),
            ("scale_key", LIVE),
            ("grant_scope", "scale:write"),
            ("billed", billed),
        ]
    };
    let (allowed, _) = w.tokens_for(&client, &own("yes"));
    let (not_allowed, _) = w.tokens_for(&client, &own("no"));
    let (operator, _) = w.tokens_for(
        &client,
        &[
            ("method", "operator"),
            ("operator_token", OP_TOKEN),
            ("grant_scope", "scale:write"),
        ],
    );
    let create = call(
        "create_task",
        serde_json::json!({"type": "textcollection", "project": "p", "instruction": "x", "params": {}}),
    );
    // The refusal's text, or `None` when the create reached Scale.
    let refused = |token: &str, w: &World| {
        let sent = w.up.sent().len();
        let r = mcp_in(w, &store, token, "/mcp", &create);
        let t = String::from_utf8_lossy(&r.body).to_string();
        assert_eq!(r.status, 200, "{t}");
        let reached = w.up.sent().len() > sent;
        assert_eq!(reached, !t.contains("creates billed work"), "{t}");
        (!reached).then_some(t)
    };
    for live_writes in ["false", "true"] {
        w.set("LIVE_WRITES", live_writes);
        // The user's answer decides for their own key, whatever LIVE_WRITES says.
        assert!(refused(&allowed, &w).is_none(), "LIVE_WRITES={live_writes}");
        let t = refused(&not_allowed, &w).expect("refused");
        assert!(
            t.contains("sign in again") && !t.contains("LIVE_WRITES"),
            "{t}"
        );
        // An operator grant uses the operator's key and LIVE_WRITES.
        let op = refused(&operator, &w);
        assert_eq!(op.is_some(), live_writes == "false");
        assert!(op.is_none_or(|t| t.contains("LIVE_WRITES")));
    }
}

#[test]
fn each_tenant_has_its_own_callback_log_webhook_and_default_callback() {
    let mut w = World::new();
    w.set("SCALE_CALLBACK_AUTH_KEY", "operator-callback-key-0001");
    let store = MemoryStore::new();
    let client = w.register("none");
    let signed = |key: &'static str, cb: &'static str| {
        let mut c = vec![
            ("method", "own_key"),
            ("scale_key", key),
            ("grant_scope", "scale:write"),
        ];
        if !cb.is_empty() {
            c.push(("callback_key", cb));
        }
        w.tokens_for(&client, &c).0
    };
    let (a, b, b_again) = (
        signed(KEY_A, "cb-key-a-0001"),
        signed(KEY_B, ""),
        signed(KEY_B, ""),
    );
    // What list_callbacks shows `token`.
    let log_of = |token: &str| {
        let r = mcp_in(
            &w,
            &store,
            token,
            "/mcp",
            &call("list_callbacks", serde_json::json!({})),
        );
        result_of(&r)["structuredContent"].clone()
    };
    let webhook_of = |token: &str| log_of(token)["webhook_url"].as_str().unwrap().to_string();
    let (hook_a, hook_b) = (webhook_of(&a), webhook_of(&b));
    assert!(
        hook_a.starts_with(&format!("{ISS}/webhooks/scale/u_")),
        "{hook_a}"
    );
    assert_ne!(hook_a, hook_b);
    assert_eq!(webhook_of(&b_again), hook_b, "a tenant's id is stable");
    assert_eq!(webhook_of(OP_TOKEN), format!("{ISS}/webhooks/scale"));

    let deliver = |url: &str, key: &str, task: &str| {
        let path = url.strip_prefix(ISS).unwrap();
        let body =
            serde_json::json!({"task_id": task, "status": "completed", "task": {"task_id": task}})
                .to_string();
        let headers = [
            ("content-type", "application/json"),
            ("scale-callback-auth", key),
        ];
        send_in(&w, &store, "POST", path, &headers, &body).status
    };
    assert_eq!(
        deliver(
            &format!("{ISS}/webhooks/scale"),
            "operator-callback-key-0001",
            "t_op"
        ),
        200
    );
    let operator_keys: Vec<String> = store.entries.borrow().keys().cloned().collect();
    // Wrong keys are refused with nothing stored: the operator's key
    // and another tenant's are wrong here.
    let before = store.entries.borrow().len();
    assert_eq!(deliver(&hook_a, "operator-callback-key-0001", "t_x"), 401);
    assert_eq!(deliver(&hook_a, "wrong", "t_x"), 401);
    assert_eq!(
        deliver(&hook_b, "cb-key-a-0001", "t_x"),
        401,
        "B gave no callback key"
    );
    assert_eq!(
        deliver(
            &format!("{ISS}/webhooks/scale/u_AAAAAAAAAAAAAAAAAAAAAA"),
            "cb-key-a-0001",
            "t_x"
        ),
        404
    );
    assert_eq!(
        deliver(
            &format!("{ISS}/webhooks/scale/../scale"),
            "cb-key-a-0001",
            "t_x"
        ),
        404
    );
    assert_eq!(
        deliver(&format!("{ISS}/webhooks/scale"), "cb-key-a-0001", "t_x"),
        401
    );
    assert_eq!(store.entries.borrow().len(), before, "nothing stored");
    assert_eq!(deliver(&hook_a, "cb-key-a-0001", "t_a"), 200);
    // The operator's log is as it was; A's keys are all behind A's prefix.
    let tenant_a = hook_a.rsplit('/').next().unwrap();
    for k in store.entries.borrow().keys() {
        assert!(
            operator_keys.contains(k) || k.starts_with(&format!("@{tenant_a}/")),
            "{k}"
        );
    }

    let listed = |token: &str| {
        log_of(token)["callbacks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["task_id"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(listed(&a), ["t_a"]);
    assert!(listed(&b).is_empty());
    assert_eq!(listed(OP_TOKEN), ["t_op"]);
    // By id too: B and the operator cannot read A's delivery, A not theirs.
    let id_of = |token: &str| {
        log_of(token)["callbacks"][0]["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (id_a, id_op) = (id_of(&a), id_of(OP_TOKEN));
    let get = |token: &str, id: &str| {
        let r = mcp_in(
            &w,
            &store,
            token,
            "/mcp",
            &call("get_callback", serde_json::json!({"id": id})),
        );
        result_of(&r).get("isError").is_none()
    };
    assert!(get(&a, &id_a) && get(OP_TOKEN, &id_op));
    assert!(!get(&b, &id_a) && !get(OP_TOKEN, &id_a) && !get(&a, &id_op));
    let resources = |token: &str| {
        let body = r#"{"jsonrpc":"2.0","id":1,"method":"resources/list"}"#;
        String::from_utf8_lossy(&mcp_in(&w, &store, token, "/mcp", body).body).to_string()
    };
    assert!(resources(&a).contains(&id_a) && !resources(&a).contains(&id_op));
    assert!(!resources(&b).contains(&id_a) && !resources(OP_TOKEN).contains(&id_a));
    let read = |token: &str, id: &str| {
        let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "resources/read", "params": {"uri": format!("scale-callback://deliveries/{id}")}}).to_string();
        String::from_utf8_lossy(&mcp_in(&w, &store, token, "/mcp", &body).body).contains("t_a")
    };
    assert!(read(&a, &id_a) && !read(&b, &id_a));

    // A tenant's creates default to its webhook, which the callback
    // policy accepts; the operator's webhook is not a tenant's own.
    let create = |token: &str, args: Value| {
        let sent = w.up.sent().len();
        let r = mcp_in(&w, &store, token, "/mcp", &call("create_task", args));
        let out = w.up.sent().get(sent).and_then(|s| s.body.clone());
        (String::from_utf8_lossy(&r.body).to_string(), out)
    };
    let task = serde_json::json!({"type": "textcollection", "project": "p", "instruction": "x", "params": {}});
    let (_, body) = create(&a, task.clone());
    assert!(body.unwrap().contains(&hook_a));
    let mut with = task.clone();
    with["callback_url"] = Value::String(hook_a.clone());
    assert!(create(&a, with.clone()).1.is_some());
    assert!(create(&b, with.clone()).1.is_none(), "not B's webhook");
    with["callback_url"] = Value::String(format!("{ISS}/webhooks/scale"));
    let (text, sent) = create(&a, with.clone());
    assert!(sent.is_none() && text.contains(&hook_a), "{text}");
    assert!(create(OP_TOKEN, with).1.is_some());
}

#[test]
fn oauth_paths_are_json_404s_without_a_sign_in_method_and_bodies_are_capped() {
    let mut w = World::new();
    let big = (crate::oauth::MAX_BODY + 1).to_string();
    let r = send(&w, "POST", "/token", &[("content-length", &big)], "");
    assert_eq!(r.status, 413);
    assert_eq!(
        send(&w, "GET", "/.well-known/openid-configuration", &[], "").status,
        404
    );
    w.set("MCP_AUTH_TOKEN", "");
    w.set("OAUTH_BYOK", "false");
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/oauth-protected-resource/mcp",
        "/authorize",
        "/token",
    ] {
        let r = send(&w, "GET", path, &[], "");
        assert_eq!(r.status, 404, "{path}");
        assert!(r
            .get_header("content-type")
            .unwrap()
            .starts_with("application/json"));
    }
    // A malformed OAuth setting makes the OAuth routes answer 500.
    w.set("MCP_AUTH_TOKEN", OP_TOKEN);
    w.set("PUBLIC_URL", "http://not-https.example");
    let r = send(
        &w,
        "GET",
        "/.well-known/oauth-authorization-server",
        &[],
        "",
    );
    assert_eq!(r.status, 500);
    assert!(r.logs.iter().any(|l| l.contains("PUBLIC_URL")));
}

#[test]
fn failed_bearer_attempts_are_limited_per_address_and_valid_tokens_never_counted() {
    let w = World::new();
    let client = w.register("none");
    let (at, _) = w.tokens_for(&client, &OWN_A);
    let limiter = crate::io::fakes::FakeLimiter::new(3);
    let send_as = |token: Option<&str>, ip: &str| {
        let mut headers = vec![
            ("content-type".to_string(), "application/json".to_string()),
            ("cf-connecting-ip".to_string(), ip.to_string()),
        ];
        if let Some(t) = token {
            headers.push(("authorization".into(), format!("Bearer {t}")));
        }
        let req = Request {
            method: "POST".into(),
            path: "/mcp".into(),
            self_origin: ISS.into(),
            headers,
            body: br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#.to_vec().into(),
            ..Default::default()
        };
        let mut services = services_with_oauth(&w.up, None, &w.oauth);
        services.auth_limiter = Some(std::rc::Rc::new(limiter.clone()));
        block_on(handle(&req, &w.raw(), services))
    };
    let junk = "smcp_at_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    for i in 0..3 {
        let token = if i == 0 {
            junk
        } else {
            "wrong-token-0123456789"
        };
        let r = send_as(Some(token), &format!("2001:db8:5:5::{i}"));
        assert_eq!(r.status, 401);
    }
    // The fourth refused token from the same /64 is over the limit.
    let r = send_as(Some("wrong-token-0123456789"), "2001:db8:5:5:ffff::1");
    assert_eq!(r.status, 429, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.get_header("retry-after"), Some("60"));
    // Valid tokens from that network are served, and never counted;
    // nor is a request without a token (an OAuth client's first).
    let counted = limiter.calls.borrow().len();
    assert_eq!(send_as(Some(OP_TOKEN), "2001:db8:5:5::7").status, 200);
    assert_eq!(send_as(Some(&at), "2001:db8:5:5::7").status, 200);
    assert_eq!(send_as(None, "2001:db8:5:5::7").status, 401);
    assert_eq!(limiter.calls.borrow().len(), counted);
    assert!(limiter
        .calls
        .borrow()
        .iter()
        .all(|k| k == "20010db800050005/64"));
    // Another address is not limited.
    assert_eq!(
        send_as(Some("wrong-token-0123456789"), "198.51.100.1").status,
        401
    );
    // A failing binding refuses nothing: the refusal stays a 401.
    limiter.fail.set(true);
    let r = send_as(Some("wrong-token-0123456789"), "2001:db8:5:5::8");
    assert_eq!(r.status, 401);
}

#[test]
fn which_setting_is_malformed_is_told_only_to_static_token_holders() {
    let mut w = World::new();
    let client = w.register("none");
    let (at, _) = w.tokens_for(&client, &OWN_A);
    w.set("ALLOWED_ORIGINS", "https://app.example.com/oops");
    w.set("PUBLIC_URL", "http://not-https.example");
    w.set("WEBHOOK_MAX_BYTES", "lots");
    let static_auth = format!("Bearer {OP_TOKEN}");
    let oauth_auth = format!("Bearer {at}");
    let routes = [
        ("POST", "/mcp", "ALLOWED_ORIGINS"),
        (
            "GET",
            "/.well-known/oauth-authorization-server",
            "PUBLIC_URL",
        ),
        ("POST", "/token", "PUBLIC_URL"),
        ("POST", "/webhooks/scale", "WEBHOOK_MAX_BYTES"),
        (
            "POST",
            "/webhooks/scale/u_AAAAAAAAAAAAAAAAAAAAAA",
            "WEBHOOK_MAX_BYTES",
        ),
    ];
    let generic = "The server is misconfigured; its operator can see why in the log.";
    for (method, path, setting) in routes {
        for auth in [
            None,
            Some("Bearer wrong-token-0123456789"),
            Some(oauth_auth.as_str()),
            Some(static_auth.as_str()),
        ] {
            let headers: Vec<(&str, &str)> =
                auth.map(|a| ("authorization", a)).into_iter().collect();
            let r = send(&w, method, path, &headers, "{}");
            let text = String::from_utf8_lossy(&r.body).to_string();
            assert_eq!(r.status, 500, "{path}: {text}");
            let trusted = auth == Some(static_auth.as_str());
            assert_eq!(text.contains(setting), trusted, "{path} {auth:?}: {text}");
            assert_eq!(text.contains(generic), !trusted, "{path} {auth:?}: {text}");
            assert!(
                r.logs.iter().any(|l| l.contains(setting)),
                "{path}: {:?}",
                r.logs
            );
        }
    }
    // A malformed MCP_AUTH_TOKEN authenticates nobody: its name is in the log only.
    w.set("ALLOWED_ORIGINS", "");
    w.set("PUBLIC_URL", "");
    w.set("MCP_AUTH_TOKEN", &format!("{OP_TOKEN},short"));
    for token in [OP_TOKEN, "short"] {
        let auth = format!("Bearer {token}");
        let r = send(&w, "POST", "/mcp", &[("authorization", &auth)], "{}");
        let text = String::from_utf8_lossy(&r.body).to_string();
        assert_eq!(r.status, 500);
        assert!(
            text.contains(generic) && !text.contains("MCP_AUTH_TOKEN"),
            "{text}"
        );
        assert!(r.logs.iter().any(|l| l.contains("MCP_AUTH_TOKEN")));
    }
    // An unset MCP_AUTH_TOKEN keeps its setup hint.
    w.set("MCP_AUTH_TOKEN", "");
    w.set("OAUTH_BYOK", "false");
    let r = send(&w, "POST", "/mcp", &[], "{}");
    assert_eq!(r.status, 503);
    assert!(String::from_utf8_lossy(&r.body).contains("MCP_AUTH_TOKEN is not set"));
}

#[test]
fn routes() {
    assert_eq!(route("GET", "/health"), Route::Health);
    assert_eq!(route("HEAD", "/health"), Route::Health);
    assert_eq!(route("POST", "/health"), Route::NotFound);
    assert_eq!(route("DELETE", "/mcp"), Route::Mcp);
    assert_eq!(route("POST", "/mcp/readonly"), Route::Mcp);
    assert_eq!(route("POST", "/mcp/projects/a%20b/readonly"), Route::Mcp);
    assert_eq!(route("POST", "/mcp/projects"), Route::NotFound);
    assert_eq!(route("GET", "/webhooks/scale"), Route::Webhook);
    assert_eq!(route("POST", "/webhooks/scale/u_x"), Route::TenantWebhook);
    assert_eq!(route("POST", "/webhooks/scalex"), Route::NotFound);
    assert_eq!(route("GET", "/mcp/sse"), Route::Sse);
    assert_eq!(
        route("GET", "/.well-known/oauth-protected-resource/mcp"),
        Route::OAuth
    );
    assert_eq!(route("POST", "/token"), Route::OAuth);
    assert_eq!(route("GET", "/oauth/grants"), Route::OAuth);
    assert_eq!(route("GET", "/"), Route::Root);
    assert_eq!(route("POST", "/"), Route::NotFound);
}
