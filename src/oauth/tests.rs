//! Whole OAuth flows through [`super::serve`] and [`super::authenticate`],
//! on the in-memory platform: sign-in, tokens, refresh, revocation, and the
//! attacks issue 14 lists, each refused with nothing issued. The router's
//! part (`/mcp` with OAuth tokens, the 401 challenge) is tested in `app`,
//! with the same [`World`] (`testing`).

use super::issued::{hash, old_refresh, old_tenant, shaped, ACCESS, ACCESS_TTL, CODE_TTL};
use super::issued::{REFRESH, REFRESH_TTL, TAG};
use super::record;
use super::testing::*;
use super::*;
// The fixture below reads answers and stored records with these.
use super::record::parse;
use super::register::CLIENT_TTL;
use crate::auth::{Account, Identity};
use crate::codec::{base64url, percent_encode, sha256};
use crate::io::fakes::{block_on, json_response, services_with_oauth, Reply};
use crate::io::{SendError, Upstream};
use serde_json::{json, Value};

pub(crate) const OWN_B: [(&str, &str); 3] = [
    ("method", "own_key"),
    ("scale_key", KEY_B),
    ("grant_scope", "scale:read"),
];
const OPERATOR_READ: [(&str, &str); 3] = [
    ("method", "operator"),
    ("operator_token", OP_TOKEN),
    ("grant_scope", "scale:read"),
];

fn granted(a: Auth) -> Identity {
    match a {
        Auth::Granted(g) => *g,
        other => panic!("expected a grant, got {other:?}"),
    }
}

fn refused(a: Auth) -> &'static str {
    match a {
        Auth::Refused(m) => m,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// The user's own Scale key a caller works with, or "operator".
fn own(g: &Identity) -> &str {
    match g.account() {
        Account::Tenant(_) => g.scale_key().unwrap().expose(),
        Account::Operator => "operator",
    }
}

/// The id of the grant a caller signed in with (the end of its label).
fn grant_id(g: &Identity) -> String {
    g.principal().label.rsplit(':').next().unwrap().to_string()
}

/// The scopes a caller signed in with, by name.
fn scopes(g: &Identity) -> String {
    g.principal().scopes.names()
}

/// The stored record of access token `at`.
fn access_record(w: &World, at: &str) -> Value {
    parse(&w.oauth.state.body(&format!("a:{}", hash(at))).unwrap())
}

#[test]
fn discovery_documents_are_served_for_every_mcp_url() {
    let w = World::new();
    for (path, resource) in [
        (
            "/.well-known/oauth-protected-resource/mcp",
            "https://w.example.com/mcp",
        ),
        (
            "/.well-known/oauth-protected-resource/mcp/projects/p1",
            "https://w.example.com/mcp/projects/p1",
        ),
        ("/.well-known/oauth-protected-resource", ISS),
    ] {
        let r = w.send("GET", path, &[], "");
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.json()["resource"], resource);
        assert_eq!(r.json()["authorization_servers"], json!([ISS]));
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    }
    for path in [
        "/.well-known/oauth-protected-resource/admin",
        "/.well-known/oauth-protected-resource/mcp/../x",
        "/.well-known/oauth-authorization-server/mcp",
    ] {
        let r = w.send("GET", path, &[], "");
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.error(), "not_found");
    }
    let v = w
        .send("GET", "/.well-known/oauth-authorization-server", &[], "")
        .json();
    assert_eq!(v["issuer"], ISS);
    assert_eq!(v["token_endpoint"], format!("{ISS}/token"));
    assert_eq!(v["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(
        v["token_endpoint_auth_methods_supported"],
        json!(["none", "client_secret_post", "client_secret_basic"])
    );
    assert_eq!(v["client_id_metadata_document_supported"], true);
    assert_eq!(v["authorization_response_iss_parameter_supported"], true);
    assert_eq!(
        w.send("POST", "/.well-known/oauth-authorization-server", &[], "")
            .status,
        405
    );
    let cfg = Config::for_mcp(&w.raw()).unwrap();
    let services = services_with_oauth(&w.up, None, &w.oauth);
    let req = Request {
        method: "GET".into(),
        path: "/mcp".into(),
        ..Default::default()
    };
    assert!(
        block_on(serve(&req, &cfg, &w.keyring(), &services)).is_none(),
        "not an OAuth path"
    );
    assert_eq!(w.send("OPTIONS", "/token", &[], "").status, 204);
    // PUBLIC_URL fixes the issuer whatever host the request came to.
    let mut w = World::new();
    w.set("PUBLIC_URL", "https://mcp.example.org");
    assert_eq!(
        w.send("GET", "/.well-known/oauth-authorization-server", &[], "")
            .json()["issuer"],
        "https://mcp.example.org"
    );
}

#[test]
fn own_key_sign_in_issues_tokens_that_unseal_that_key_only() {
    let w = World::new();
    let client = w.register("client_secret_post");
    let code = w.code(&client.0, &OWN_A);
    let (at, rt) = tokens(&w.exchange(&client, &code, VERIFIER));
    let g = granted(w.auth(&at, "/mcp"));
    assert_eq!(own(&g), KEY_A);
    assert_eq!(scopes(&g), "scale:read, scale:write");
    let Account::Tenant(tenant) = g.account() else {
        panic!("{g:?}")
    };
    assert!(tenant.starts_with("u_"));
    let hook = format!("{ISS}/webhooks/scale/{tenant}");
    assert_eq!(g.webhook_url(), hook);
    assert_eq!(g.default_callback_url(), Some(hook.as_str()));
    assert!(!g.allows_billed_work());
    let label = &g.principal().label;
    assert!(label.starts_with(&format!("oauth:{tenant}:g_")), "{label}");
    let rec = access_record(&w, &at);
    assert_eq!(record::text(&rec, "id"), grant_id(&g));
    assert_eq!(record::text(&rec, "resource"), "https://w.example.com/mcp");
    assert_eq!(record::text(&rec, "name"), "Claude");
    assert_eq!(record::text(&rec, "op"), "");
    // Narrower paths are covered; no key or token is stored anywhere.
    granted(w.auth(&at, "/mcp/readonly"));
    let dump = w.oauth.state.dump();
    for secret in [KEY_A, &at, &rt, &code] {
        assert!(!dump.contains(secret));
    }
    // The same key signs in to the same tenant again.
    let (at2, _) = w.tokens_for(&client, &OWN_A);
    assert_eq!(granted(w.auth(&at2, "/mcp")).account(), g.account());
}

#[test]
fn user_a_token_never_reaches_user_b_key() {
    let w = World::new();
    let client = w.register("none");
    let (at_a, _) = w.tokens_for(&client, &OWN_A);
    let (at_b, _) = w.tokens_for(&client, &OWN_B);
    let (ga, gb) = (
        granted(w.auth(&at_a, "/mcp")),
        granted(w.auth(&at_b, "/mcp")),
    );
    assert_eq!((own(&ga), own(&gb)), (KEY_A, KEY_B));
    assert_ne!(ga.account(), gb.account());
    // Someone who can write storage copies B's sealed key into A's access
    // record: A's token cannot open it (B's grant key, B's grant id).
    {
        let mut rows = w.oauth.state.rows.borrow_mut();
        let sealed_b = rows
            .0
            .iter()
            .find(|(k, r)| k.starts_with("a:") && r.1.contains(&grant_id(&gb)))
            .map(|(_, r)| record::parse(&r.1)["sealed"].clone())
            .unwrap();
        let row_a = rows
            .0
            .iter_mut()
            .find(|(k, r)| k.starts_with("a:") && r.1.contains(&grant_id(&ga)))
            .unwrap()
            .1;
        let mut rec = record::parse(&row_a.1);
        rec["sealed"] = sealed_b;
        row_a.1 = rec.to_string();
    }
    let fresh = w.isolate();
    assert!(refused(w.auth_in(&fresh, &at_a, "/mcp")).contains("cannot be opened"));
    granted(w.auth_in(&fresh, &at_b, "/mcp"));
}

#[test]
fn operator_access_through_a_metadata_document_client() {
    let mut w = World::new();
    let client = (CIMD.to_string(), None);
    let page = w.send("GET", &authorize_url(CIMD, &[]), &[], "");
    assert!(
        page.text.contains("Example App") && page.text.contains("app.example.com"),
        "{}",
        page.text
    );
    let (at, rt) = w.tokens_for(&client, &OPERATOR_READ);
    let g = granted(w.auth(&at, "/mcp"));
    // The operator's account, as a static token has it.
    assert_eq!(g.account(), &Account::Operator);
    assert_eq!(g.scale_key().unwrap().expose(), "test_operator_key");
    assert_eq!(g.webhook_url(), format!("{ISS}/webhooks/scale"));
    assert_eq!(g.default_callback_url(), None);
    assert_eq!(scopes(&g), "scale:read");
    let label = &g.principal().label;
    assert!(label.starts_with("oauth:token-1:g_"), "{label}");
    assert!(!record::text(&access_record(&w, &at), "op").is_empty());
    let fetched = w.up.sent().iter().filter(|r| r.url == CIMD).count();
    assert_eq!(fetched, 1, "the document is cached");
    assert!(w.up.sent().iter().all(|r| r.url != CIMD || r.no_redirects));
    // Removing the static token ends the grant at once, refresh included.
    w.set("MCP_AUTH_TOKEN", "another-operator-token-999999");
    assert!(refused(w.auth(&at, "/mcp")).contains("removed"));
    assert_eq!(w.refresh(&client, &rt).error(), "invalid_grant");
}

#[test]
fn an_operator_grant_takes_the_tokens_label_and_at_most_its_scopes() {
    let tokens = format!(r#"[{{"label":"reader","token":"{OP_TOKEN}","scopes":["scale:read"]}}]"#);
    let w = World::with(&[("MCP_AUTH_TOKEN", &tokens)]);
    let client = w.register("none");
    let all = [
        ("method", "operator"),
        ("operator_token", OP_TOKEN),
        ("grant_scope", "scale:read"),
        ("grant_scope", "scale:write"),
    ];
    let (at, _) = w.tokens_for(&client, &all);
    let g = granted(w.auth(&at, "/mcp"));
    assert_eq!(
        scopes(&g),
        "scale:read",
        "the token's scopes bound the grant"
    );
    let label = &g.principal().label;
    assert!(label.starts_with("oauth:reader:g_"), "{label}");
    let r = w.submit(
        &w.open_page(&client.0, &[]),
        &[
            ("method", "operator"),
            ("operator_token", OP_TOKEN),
            ("grant_scope", "scale:team"),
        ],
    );
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.text.contains("allows none of the permissions"));
    assert_eq!(w.rows("c:"), 1, "only the first sign-in made a code");
}

/// An operator grant holds at most what its static token allows *now*:
/// lowering the token's scopes lowers every call and every refresh of the
/// grants made with it, and a grant left with nothing ends.
#[test]
fn lowering_a_static_tokens_scopes_lowers_its_grants() {
    let mut w = World::new();
    let client = w.register("none");
    let choose = |scopes: &[&'static str]| {
        let mut c = vec![("method", "operator"), ("operator_token", OP_TOKEN)];
        c.extend(scopes.iter().map(|s| ("grant_scope", *s)));
        c
    };
    let (at, rt) = w.tokens_for(&client, &choose(&["scale:read", "scale:write"]));
    let (team_at, team_rt) = w.tokens_for(&client, &choose(&["scale:team"]));
    assert_eq!(
        scopes(&granted(w.auth(&at, "/mcp"))),
        "scale:read, scale:write"
    );
    w.set(
        "MCP_AUTH_TOKEN",
        &format!(r#"[{{"label":"token-1","token":"{OP_TOKEN}","scopes":["scale:read"]}}]"#),
    );
    // At once, in an isolate that had the token's record in its memo.
    let g = granted(w.auth(&at, "/mcp"));
    assert_eq!(scopes(&g), "scale:read");
    assert!(!g.principal().scopes.allows(crate::auth::Scope::Write));
    let r = w.refresh(&client, &rt);
    assert_eq!(r.json()["scope"], "scale:read", "{}", r.text);
    let (at2, rt2) = tokens(&r);
    assert_eq!(scopes(&granted(w.auth(&at2, "/mcp"))), "scale:read");
    // A refresh cannot ask for what the token no longer allows.
    let r = w.post(
        "/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt2),
            ("client_id", &client.0),
            ("scope", "scale:write"),
        ],
        &[],
    );
    assert_eq!(r.error(), "invalid_scope", "{}", r.text);
    // Nothing left of the team grant: it ends, on /mcp and at /token.
    let why = refused(w.auth(&team_at, "/mcp"));
    assert!(why.contains("no longer allows"), "{why}");
    let team_grant = w.oauth.state.dump().matches("scale:team").count();
    assert_eq!(team_grant, 0, "the grant's rows are gone");
    assert_eq!(w.refresh(&client, &team_rt).error(), "invalid_grant");
    // The refresh path ends such a grant too, before any /mcp call.
    w.set("MCP_AUTH_TOKEN", OP_TOKEN);
    let (_, team_rt) = w.tokens_for(&client, &choose(&["scale:team"]));
    w.set(
        "MCP_AUTH_TOKEN",
        &format!(r#"[{{"label":"token-1","token":"{OP_TOKEN}","scopes":["scale:write"]}}]"#),
    );
    let r = w.refresh(&client, &team_rt);
    assert_eq!(r.error(), "invalid_grant");
    assert!(r.text.contains("no longer allows"), "{}", r.text);
    assert_eq!(w.oauth.state.dump().matches("scale:team").count(), 0);
    // The other grant lives on with what is left.
    granted(w.auth(&at2, "/mcp"));
}

#[test]
fn the_page_offers_only_enabled_methods_and_explains_every_mistake() {
    let only_keys = World::with(&[("MCP_AUTH_TOKEN", "")]);
    let t = only_keys
        .send("GET", &authorize_url(CIMD, &[]), &[], "")
        .text;
    assert!(
        t.contains("Example App")
            && t.contains(REDIRECT)
            && t.contains("scale_key")
            && !t.contains("operator_token")
    );
    let r = only_keys.submit(&only_keys.open_page(CIMD, &[]), &OPERATOR_READ);
    assert!(r.text.contains("not offered"), "{}", r.text);
    let only_op = World::with(&[("OAUTH_BYOK", "false")]);
    let t = only_op.send("GET", &authorize_url(CIMD, &[]), &[], "").text;
    assert!(t.contains("operator_token") && !t.contains("scale_key"));
    let w = World::new();
    let page = w.open_page(CIMD, &[]);
    type Case<'a> = (Vec<(&'a str, &'a str)>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![("method", "own_key"), ("scale_key", KEY_A)],
            400,
            "Choose at least one permission",
        ),
        (
            vec![("grant_scope", "scale:read"), ("method", "")],
            400,
            "Choose how to sign in",
        ),
        (
            vec![("method", "own_key"), ("grant_scope", "scale:read")],
            400,
            "Enter your Scale API key",
        ),
        (
            vec![
                ("method", "own_key"),
                ("scale_key", "sk-nope"),
                ("grant_scope", "scale:read"),
            ],
            400,
            "does not look like a Scale API key",
        ),
        (
            vec![
                ("method", "own_key"),
                ("scale_key", "test_wrong_key_0000"),
                ("grant_scope", "scale:read"),
            ],
            400,
            "Scale did not accept this key",
        ),
        (
            vec![
                ("method", "own_key"),
                ("scale_key", KEY_A),
                ("callback_key", "has space"),
                ("grant_scope", "scale:read"),
            ],
            400,
            "callback auth key",
        ),
        (
            vec![("method", "operator"), ("grant_scope", "scale:read")],
            400,
            "Enter an access token",
        ),
        (
            vec![("method", "operator"), ("operator_token", OP_TOKEN)],
            400,
            "Choose at least one permission",
        ),
    ];
    for (choices, status, text) in cases {
        let r = w.submit(&page, &choices);
        assert_eq!(r.status, status, "{choices:?}: {}", r.text);
        assert!(r.text.contains(text), "{choices:?}: {}", r.text);
        assert!(r.text.contains("role=\"alert\""));
        assert!(
            !r.text.contains("test_wrong_key"),
            "a key is never shown again"
        );
    }
    assert_eq!(w.rows("c:"), 0, "no code was stored");
    // Scale unreachable while checking a key: a 502 that says so.
    w.up.push(Err(SendError::Timeout(15_000)));
    let r = w.submit(
        &page,
        &[
            ("method", "own_key"),
            ("scale_key", KEY_A),
            ("grant_scope", "scale:read"),
        ],
    );
    assert_eq!(r.status, 502, "{}", r.text);
    assert!(r.text.contains("did not answer in time"));
}

#[test]
fn the_page_is_self_contained_and_strict() {
    let w = World::new();
    let r = w.send("GET", &authorize_url(CIMD, &[]), &[], "");
    let csp = r.header("content-security-policy").unwrap();
    assert!(
        csp.starts_with("default-src 'none'; style-src 'sha256-"),
        "{csp}"
    );
    assert!(
        csp.contains("frame-ancestors 'none'")
            && csp.contains("form-action 'self' https://app.example.com"),
        "{csp}"
    );
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert!(
        !r.text.contains("<script") && !r.text.contains("src="),
        "no script, no external asset"
    );
    assert!(r.text.contains("<meta name=\"viewport\""));
    let cookie = r.header("set-cookie").unwrap();
    assert!(
        cookie.starts_with("__Host-smcp_csrf=")
            && cookie.contains("HttpOnly")
            && cookie.contains("Secure"),
        "{cookie}"
    );
    // Outside values are escaped.
    let w = World::new();
    *w.doc.borrow_mut() = Some(Ok(json_response(
        200,
        &json!({"client_id": CIMD, "client_name": "<script>x</script>", "redirect_uris": [REDIRECT]}),
    )));
    let t = w.send("GET", &authorize_url(CIMD, &[]), &[], "").text;
    assert!(
        t.contains("&lt;script&gt;x&lt;/script&gt;") && !t.contains("<script>x"),
        "{t}"
    );
}

/// Issue 19: a name that reads as another app's, built from Unicode format
/// characters (a right-to-left override, zero-width ones, tags), is shown
/// without them; where the person will be sent stands right under it.
#[test]
fn the_page_shows_names_without_format_characters_and_the_redirect_host_under_them() {
    let spoofed = "\u{202E}edualC\u{202C}\u{200B} Off\u{2066}icial\u{FEFF}\u{E0041}\u{AD}\u{61C}";
    let w = World::new();
    *w.doc.borrow_mut() = Some(Ok(json_response(
        200,
        &json!({"client_id": CIMD, "client_name": spoofed, "redirect_uris": [REDIRECT]}),
    )));
    let dcr = json!({"client_name": spoofed, "redirect_uris": ["https://evil.example/landing"], "token_endpoint_auth_method": "none"});
    let r = w.send(
        "POST",
        "/register",
        &[("content-type", "application/json")],
        &dcr.to_string(),
    );
    assert_eq!(r.json()["client_name"], "edualC Official");
    let id = record::text(&r.json(), "client_id").to_string();
    for (client, redirect, host) in [
        (CIMD, REDIRECT, "app.example.com"),
        (id.as_str(), "https://evil.example/landing", "evil.example"),
    ] {
        let r = w.send(
            "GET",
            &authorize_url(client, &[("redirect_uri", redirect)]),
            &[],
            "",
        );
        assert_eq!(r.status, 200, "{}", r.text);
        let (head, rest) = r.text.split_once("</h1>").unwrap();
        assert!(
            head.ends_with("<strong>edualC Official</strong> to use Scale through this server?"),
            "{head}"
        );
        let next = rest.split("</p>").next().unwrap();
        assert_eq!(
            next,
            format!("<p class=\"to\">It will send you back to <strong>{host}</strong>")
        );
        assert!(
            !r.text.chars().any(|c| matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}' | '\u{AD}' | '\u{61C}' | '\u{E0000}'..='\u{E007F}')),
            "a format character reached the page"
        );
    }
}

/// Issue 19: the metadata-document fetch is no free relay. Fetches are
/// counted per address; a failure is remembered for a minute (apart from the
/// memo that holds tokens); the page says what happened in words of its own,
/// never the platform's error text.
#[test]
fn document_fetches_are_metered_failures_remembered_and_described_in_our_words() {
    let w = World::new();
    *w.doc.borrow_mut() = Some(Err(SendError::Network(
        "internal error; reference = 7hq2x9".into(),
    )));
    let url = authorize_url(CIMD, &[]);
    for _ in 0..2 {
        let r = w.send("GET", &url, &[], "");
        assert_eq!(r.status, 400);
        assert!(
            r.text.contains("could not be fetched from app.example.com"),
            "{}",
            r.text
        );
        assert!(!r.text.contains("internal error") && !r.text.contains("7hq2x9"));
    }
    assert_eq!(w.up.sent().len(), 1, "the failure was remembered");
    let now = crate::io::Upstream::now_ms(&w.up);
    assert!(
        w.oauth.memo.get(&format!("doc:{CIMD}"), now).is_none(),
        "not in the memo that holds tokens"
    );
    w.advance(61);
    assert_eq!(
        w.send("GET", &url, &[], "").status,
        200,
        "tried again after a minute"
    );
    assert_eq!(w.up.sent().len(), 2);
    // An HTTP error is named by its status.
    *w.doc.borrow_mut() = Some(Ok(json_response(503, &json!({"error": "upstream text"}))));
    w.advance(301);
    let r = w.send("GET", &url, &[], "");
    assert!(
        r.text.contains("HTTP 503") && !r.text.contains("upstream text"),
        "{}",
        r.text
    );

    // Thirty fetches per address in ten minutes; then none, with a wait.
    let w = World::new();
    let from = |ip| [("cf-connecting-ip", ip)];
    for i in 0..30 {
        let r = w.send(
            "GET",
            &authorize_url(&format!("{CIMD}?n={i}"), &[]),
            &from("198.51.100.7"),
            "",
        );
        assert!(r.text.contains("could not be fetched"), "{i}: {}", r.text);
    }
    let r = w.send(
        "GET",
        &authorize_url(&format!("{CIMD}?n=x"), &[]),
        &from("198.51.100.7"),
        "",
    );
    assert_eq!(r.status, 400);
    assert!(r.text.contains("Try again in"), "{}", r.text);
    assert_eq!(w.up.sent().len(), 30, "the 31st was not fetched");
    // A document already fetched is not counted again; another address is not limited.
    let r = w.send(
        "GET",
        &authorize_url(&format!("{CIMD}?n=1"), &[]),
        &from("198.51.100.7"),
        "",
    );
    assert!(r.text.contains("could not be fetched"), "{}", r.text);
    let r = w.send(
        "GET",
        &authorize_url(&format!("{CIMD}?n=x"), &[]),
        &from("203.0.113.5"),
        "",
    );
    assert!(r.text.contains("could not be fetched"), "{}", r.text);
    assert_eq!(w.up.sent().len(), 31);
    w.advance(601);
    let r = w.send("GET", &authorize_url(CIMD, &[]), &from("198.51.100.7"), "");
    assert_eq!(r.status, 200, "{}", r.text);
}

#[test]
fn billed_work_is_asked_only_for_live_keys() {
    let w = World::new();
    let client = w.register("none");
    let (at, _) = w.tokens_for(
        &client,
        &[
            ("method", "own_key"),
            ("scale_key", LIVE),
            ("grant_scope", "scale:write"),
            ("billed", "yes"),
        ],
    );
    assert!(granted(w.auth(&at, "/mcp")).allows_billed_work());
    let (at, _) = w.tokens_for(
        &client,
        &[
            ("method", "own_key"),
            ("scale_key", LIVE),
            ("grant_scope", "scale:write"),
        ],
    );
    assert!(!granted(w.auth(&at, "/mcp")).allows_billed_work());
    let (at, _) = w.tokens_for(
        &client,
        &[
            ("method", "own_key"),
            ("scale_key", KEY_A),
            ("grant_scope", "scale:write"),
            ("billed", "yes"),
        ],
    );
    assert!(
        !granted(w.auth(&at, "/mcp")).allows_billed_work(),
        "test_ keys are never billed"
    );
}

#[test]
fn pkce_is_required_as_s256_and_checked() {
    let w = World::new();
    let client = w.register("none");
    for (changes, want) in [
        (vec![("code_challenge", "")], "PKCE is required"),
        (vec![("code_challenge_method", "plain")], "S256"),
        (vec![("code_challenge_method", "")], "S256"),
        (vec![("code_challenge", "too-short")], "43-character"),
    ] {
        let r = w.send("GET", &authorize_url(&client.0, &changes), &[], "");
        assert_eq!(r.status, 400);
        assert_eq!(r.header("location"), None);
        assert!(r.text.contains(want), "{}", r.text);
    }
    let code = w.code(&client.0, &OWN_A);
    let wrong = "x".repeat(43);
    for (verifier, why) in [
        (wrong.as_str(), "does not match"),
        (CHALLENGE, "does not match"),
        ("", "missing"),
    ] {
        let r = w.exchange(&client, &code, verifier);
        assert_eq!(r.error(), "invalid_grant", "{}", r.text);
        assert!(r.text.contains(why), "{}", r.text);
    }
    assert_eq!(w.rows("a:"), 0, "nothing issued");
    tokens(&w.exchange(&client, &code, VERIFIER));
}

#[test]
fn a_reused_code_is_refused_and_revokes_what_it_gave() {
    let w = World::new();
    let client = w.register("none");
    let code = w.code(&client.0, &OWN_A);
    let (at, rt) = tokens(&w.exchange(&client, &code, VERIFIER));
    let r = w.exchange(&client, &code, VERIFIER);
    assert_eq!(r.error(), "invalid_grant");
    assert!(r.text.contains("already used"));
    assert_eq!(w.rows("a:"), 0);
    assert_eq!(w.rows("g:"), 0);
    refused(w.auth(&at, "/mcp"));
    assert_eq!(w.refresh(&client, &rt).error(), "invalid_grant");
}

#[test]
fn codes_are_bound_to_client_redirect_uri_and_time() {
    let w = World::new();
    let client = w.register("none");
    let other = w.register("none");
    let code = w.code(&client.0, &OWN_A);
    assert_eq!(w.exchange(&other, &code, VERIFIER).error(), "invalid_grant");
    let r = w.post(
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", VERIFIER),
            ("redirect_uri", "https://app.example.com/other"),
            ("client_id", &client.0),
        ],
        &[],
    );
    assert_eq!(r.error(), "invalid_grant");
    w.advance(CODE_TTL + 1);
    assert_eq!(
        w.exchange(&client, &code, VERIFIER).error(),
        "invalid_grant"
    );
    assert_eq!(w.rows("a:"), 0);
}

/// RFC 6749 §4.1.3: when the authorization request named `redirect_uri`,
/// the token request must name the same one; when it did not, it may omit it.
#[test]
fn a_code_needs_the_redirect_uri_its_request_named() {
    let w = World::new();
    let client = w.register("none");
    let without = |code: &str| {
        w.post(
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("code_verifier", VERIFIER),
                ("client_id", &client.0),
            ],
            &[],
        )
    };
    let code = w.code(&client.0, &OWN_A);
    let r = without(&code);
    assert_eq!(r.error(), "invalid_grant", "{}", r.text);
    assert!(r.text.contains("redirect_uri"), "{}", r.text);
    assert_eq!(w.rows("a:"), 0, "nothing issued");
    tokens(&w.exchange(&client, &code, VERIFIER));
    // The request did not name it (the client has one): /token need not either.
    let r = w.submit(&w.open_page(&client.0, &[("redirect_uri", "")]), &OWN_A);
    assert_eq!(r.status, 303, "{}", r.text);
    tokens(&without(&param(r.location(), "code").unwrap()));
}

/// Issue 19: anyone can register a client whose redirect URI is their own
/// site, so a malformed request answered with a redirect would be a phishing
/// link on this server's domain (RFC 9700 §4.11.2). Every problem with the
/// request is shown here, naming it and the app; only the person's answer
/// (Cancel) goes back with an `error`.
#[test]
fn malformed_requests_get_a_page_naming_the_problem_and_the_app_never_a_redirect() {
    let w = World::new();
    let evil = "https://evil.example/landing";
    let reg = json!({"client_name": "Evil Landing", "redirect_uris": [evil], "token_endpoint_auth_method": "none"});
    let r = w.send(
        "POST",
        "/register",
        &[("content-type", "application/json")],
        &reg.to_string(),
    );
    let id = record::text(&r.json(), "client_id").to_string();
    let long = "s".repeat(2049);
    for (change, why) in [
        (("code_challenge", ""), "PKCE is required"),
        (("code_challenge_method", "plain"), "must be S256"),
        (("code_challenge", "too-short"), "43-character"),
        (("response_type", ""), "response_type is missing"),
        (("response_type", "token"), "response_type must be code"),
        (("state", long.as_str()), "longer than 2048"),
        (
            ("resource", "https://other.example/mcp"),
            "resource must be",
        ),
        (("scope", "admin"), "of the requested scopes exists"),
    ] {
        let url = authorize_url(&id, &[("redirect_uri", evil), change]);
        let form = url.split_once('?').unwrap().1;
        let ctype = [("content-type", "application/x-www-form-urlencoded")];
        // The link itself, and the same request posted as a form.
        for r in [
            w.send("GET", &url, &[], ""),
            w.send("POST", "/authorize", &ctype, form),
        ] {
            assert_eq!(r.status, 400, "{why}: {}", r.text);
            assert_eq!(r.header("location"), None, "{why}");
            assert!(r.header("content-type").unwrap().starts_with("text/html"));
            assert!(r.text.contains(why), "{why}: {}", r.text);
            assert!(r.text.contains("“Evil Landing”"), "{}", r.text);
            assert!(!r.text.contains("<form"), "nothing to submit: {why}");
        }
    }
    assert_eq!(w.rows("c:"), 0);
}

#[test]
fn unregistered_redirects_and_unknown_clients_get_a_page_never_a_redirect() {
    let w = World::new();
    let client = w.register("none");
    let tampered = format!("{}x", client.0);
    for url in [
        authorize_url(&client.0, &[("redirect_uri", "https://evil.example/steal")]),
        authorize_url(
            &client.0,
            &[("redirect_uri", "https://app.example.com/callback/../x")],
        ),
        authorize_url("not-a-client", &[]),
        authorize_url(&tampered, &[]),
        authorize_url("", &[]),
    ] {
        let r = w.send("GET", &url, &[], "");
        assert_eq!(r.status, 400, "{url}");
        assert!(r.header("location").is_none());
        assert!(r.header("content-type").unwrap().starts_with("text/html"));
    }
    let r = w.send(
        "GET",
        &format!("{}&state=again", authorize_url(&client.0, &[])),
        &[],
        "",
    );
    assert_eq!(r.status, 400, "a parameter given twice");
    assert!(r.text.contains("more than once"));
}

#[test]
fn audiences_are_enforced() {
    let w = World::new();
    let client = w.register("none");
    let narrow = [("resource", "https://w.example.com/mcp/readonly")];
    let r = w.submit(&w.open_page(&client.0, &narrow), &OWN_A);
    let (at, _) = tokens(&w.exchange(&client, &param(r.location(), "code").unwrap(), VERIFIER));
    granted(w.auth(&at, "/mcp/readonly"));
    granted(w.auth(&at, "/mcp/readonly/more"));
    assert!(refused(w.auth(&at, "/mcp")).contains("another resource"));
    let r = w.send(
        "GET",
        &authorize_url(&client.0, &[("resource", "https://other.example.com/mcp")]),
        &[],
        "",
    );
    assert_eq!(r.status, 400);
    assert!(r
        .text
        .contains("resource must be an MCP URL of this server"));
    // A token request cannot widen the audience either.
    let code = param(
        w.submit(&w.open_page(&client.0, &narrow), &OWN_A)
            .location(),
        "code",
    )
    .unwrap();
    let r = w.post(
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", VERIFIER),
            ("client_id", &client.0),
            ("redirect_uri", REDIRECT),
            ("resource", "https://w.example.com/"),
        ],
        &[],
    );
    assert_eq!(r.error(), "invalid_target");
}

#[test]
fn tokens_expire_and_unknown_ones_are_refused() {
    let w = World::new();
    let client = w.register("none");
    let (at, rt) = w.tokens_for(&client, &OWN_A);
    w.advance(ACCESS_TTL - 5);
    granted(w.auth(&at, "/mcp"));
    w.advance(10);
    assert!(refused(w.auth(&at, "/mcp")).contains("expired"));
    assert!(matches!(
        w.auth("a-static-token-value-1234", "/mcp"),
        Auth::NotOurs
    ));
    refused(w.auth(&format!("smcp_at_{}", "A".repeat(43)), "/mcp"));
    refused(w.auth("smcp_at_short", "/mcp"));
    assert!(refused(w.auth(&rt, "/mcp")).contains("refresh token"));
}

#[test]
fn refresh_rotates_with_a_grace_for_the_previous_token_and_detects_reuse() {
    let w = World::new();
    let client = w.register("client_secret_post");
    let (at1, r1) = w.tokens_for(&client, &OWN_A);
    let (at2, r2) = tokens(&w.refresh(&client, &r1));
    assert_ne!(r1, r2);
    granted(w.auth(&at1, "/mcp"));
    assert_eq!(
        own(&granted(w.auth(&at2, "/mcp"))),
        KEY_A,
        "the new tokens unwrap the same grant key"
    );
    // The client lost the answer: r1 still works while r2 is unused (after
    // the replay window; within it the same answer would come back).
    w.advance(31);
    let (_, r3) = tokens(&w.refresh(&client, &r1));
    assert_ne!(r3, r2);
    // Using r3 retires r1 (and r2, never used).
    let (_, r4) = tokens(&w.refresh(&client, &r3));
    w.advance(31);
    let r = w.refresh(&client, &r1);
    assert_eq!(r.error(), "invalid_grant");
    assert!(r.text.contains("revoked"), "{}", r.text);
    assert_eq!(w.rows("a:"), 0, "the grant's tokens are gone");
    assert_eq!(w.refresh(&client, &r4).error(), "invalid_grant");
    // Another client cannot use this client's refresh token.
    let (_, r5) = w.tokens_for(&client, &OWN_A);
    let other = w.register("none");
    assert_eq!(w.refresh(&other, &r5).error(), "invalid_grant");
    // Refresh may narrow scopes, never widen them.
    let secret = client.1.clone().unwrap();
    let mut pairs = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", r5.as_str()),
        ("client_id", client.0.as_str()),
        ("client_secret", &secret),
        ("scope", "scale:team"),
    ];
    assert_eq!(w.post("/token", &pairs, &[]).error(), "invalid_scope");
    pairs[4] = ("scope", "scale:read");
    let (at6, _) = tokens(&w.post("/token", &pairs, &[]));
    assert_eq!(scopes(&granted(w.auth(&at6, "/mcp"))), "scale:read");
}

/// Two refreshes with one refresh token within 30 s of its first use (a
/// client racing itself, or a retry) get the same answer, so whichever
/// answer a client keeps, its tokens go on working; after the window the
/// rules of rotation apply again.
#[test]
fn refreshes_with_the_same_token_within_the_window_get_the_same_answer() {
    let w = World::new();
    let client = w.register("none");
    let (_, r1) = w.tokens_for(&client, &OWN_A);
    let first = w.refresh(&client, &r1);
    w.advance(20);
    let second = w.refresh(&client, &r1);
    assert_eq!(second.status, 200, "{}", second.text);
    assert_eq!(first.json(), second.json(), "the same pair");
    assert_eq!(second.header("cache-control"), Some("no-store"));
    let (at2, r2) = tokens(&first);
    assert_eq!(own(&granted(w.auth(&at2, "/mcp"))), KEY_A);
    // Both racers refresh with what they were given: both go on.
    let (at3, r3) = tokens(&w.refresh(&client, &r2));
    let again = w.refresh(&client, &r2);
    assert_eq!(tokens(&again), (at3.clone(), r3.clone()));
    granted(w.auth(&at3, "/mcp"));
    // Nothing of the answer is kept in the clear, and it is gone after the window.
    let dump = w.oauth.state.dump();
    assert!(!dump.contains(&at3) && !dump.contains(&r3));
    assert_eq!(w.rows("x:"), 2);
    w.advance(31);
    assert_eq!(w.rows("x:"), 0);
    // Outside the window, a token whose successor was used ends the grant.
    let r = w.refresh(&client, &r1);
    assert!(r.text.contains("revoked"), "{}", r.text);
    refused(w.auth(&at3, "/mcp"));
    assert_eq!(w.refresh(&client, &r3).error(), "invalid_grant");
}

/// The window is per token: a retry after it, while the successor is
/// unused, is the lost-answer grace (a new pair) as before.
#[test]
fn after_the_window_a_retry_rotates_again() {
    let w = World::new();
    let client = w.register("none");
    let (_, r1) = w.tokens_for(&client, &OPERATOR_READ);
    let (_, r2) = tokens(&w.refresh(&client, &r1));
    w.advance(31);
    let (at3, r3) = tokens(&w.refresh(&client, &r1));
    assert_ne!(r3, r2);
    granted(w.auth(&at3, "/mcp"));
    // Someone else presenting it within the window gets the answer only
    // as the client it was issued to.
    let other = w.register("none");
    assert_eq!(w.refresh(&other, &r1).error(), "invalid_grant");
    tokens(&w.refresh(&client, &r3));
}

impl World {
    /// What `/webhooks/scale/{tenant}` checks a delivery's key against.
    fn tenant_hash(&self, tenant: &str) -> Option<String> {
        let cfg = Config::for_webhooks(&self.raw()).unwrap();
        let services = services_with_oauth(&self.up, None, &self.oauth);
        block_on(tenant_callback_hash(&cfg, &services, tenant)).unwrap()
    }
    /// Store calls made so far.
    fn calls(&self) -> u32 {
        self.oauth.state.calls.get()
    }
    /// Rewrites the stored row `key` with `change`.
    fn edit_row(&self, key: &str, change: impl FnOnce(&mut Value)) {
        let mut rows = self.oauth.state.rows.borrow_mut();
        let row = rows.0.get_mut(key).expect("the row");
        let mut v = parse(&row.1);
        change(&mut v);
        row.1 = v.to_string();
    }
}

/// `n` characters of URL-safe base64 made from `seed`, as random as a token's.
fn noise(seed: usize, n: usize) -> String {
    let mut out = String::new();
    while out.len() < n {
        out += &base64url(&sha256(format!("{seed}/{}", out.len()).as_bytes()));
    }
    out.truncate(n);
    out
}

/// Access and refresh tokens and tenant ids carry a check under the server
/// key, so junk of their shapes is refused before any store read: a flood
/// of it costs the Durable Object nothing.
#[test]
fn junk_tokens_and_tenant_ids_of_the_current_shapes_cost_no_store_read() {
    let w = World::new();
    let client = w.register("none");
    let signed = [
        ("method", "own_key"),
        ("scale_key", KEY_A),
        ("callback_key", "cb-key-of-user-a-123"),
        ("grant_scope", "scale:read"),
    ];
    let (at, rt) = w.tokens_for(&client, &signed);
    let g = granted(w.auth(&at, "/mcp"));
    let Account::Tenant(tenant) = g.account().clone() else {
        panic!()
    };
    // The shapes: a check of 22 characters after a dot.
    let (at_body, _) = at.rsplit_once('.').unwrap();
    assert!(shaped(at_body, ACCESS) && at.len() == ACCESS.len() + 43 + 1 + TAG);
    assert!(old_refresh(rt.rsplit_once('.').unwrap().0));
    assert!(old_tenant(tenant.split_once('.').unwrap().0) && tenant.len() == 2 + 22 + 1 + TAG);
    assert_eq!(w.tenant_hash(&tenant), Some(hash("cb-key-of-user-a-123")));

    let before = w.calls();
    for i in 0..1000 {
        let junk = format!("{ACCESS}{}.{}", noise(i, 43), noise(i + 7, TAG));
        assert!(refused(w.auth(&junk, "/mcp")).contains("not an access token"));
        // The right body with a wrong check, or a check made for a refresh token.
        let forged = format!("{at_body}.{}", noise(i, TAG));
        refused(w.auth(&forged, "/mcp"));
        let junk_rt = format!(
            "{REFRESH}g_{}.{}.{}",
            noise(i, 22),
            noise(i + 1, 43),
            noise(i + 2, TAG)
        );
        assert_eq!(w.refresh(&client, &junk_rt).error(), "invalid_grant");
        let junk_tenant = format!("u_{}.{}", noise(i, 22), noise(i + 3, TAG));
        assert_eq!(w.tenant_hash(&junk_tenant), None);
        let forged_tenant = format!("{}.{}", tenant.split_once('.').unwrap().0, noise(i, TAG));
        assert_eq!(w.tenant_hash(&forged_tenant), None);
    }
    let swapped = format!(
        "{}.{}",
        rt.rsplit_once('.').unwrap().0,
        at.rsplit_once('.').unwrap().1
    );
    assert_eq!(w.refresh(&client, &swapped).error(), "invalid_grant");
    assert_eq!(w.calls(), before, "not one store read");
    // The real ones still work, from the memo.
    granted(w.auth(&at, "/mcp"));
    assert_eq!(w.tenant_hash(&tenant), Some(hash("cb-key-of-user-a-123")));
    assert_eq!(w.calls(), before);
    tokens(&w.refresh(&client, &rt));

    // Without OAUTH_SECRET the generated key is read once per isolate and
    // never evicted, so junk costs nothing after that either.
    let w = World::with(&[("OAUTH_SECRET", "")]);
    let client = w.register("none");
    let (at, _) = w.tokens_for(&client, &OWN_A);
    let fresh = World {
        oauth: w.isolate(),
        up: w.up.clone(),
        settings: w.settings.clone(),
        doc: w.doc.clone(),
    };
    let before = fresh.calls();
    for i in 0..3000 {
        let junk = format!("{ACCESS}{}.{}", noise(i, 43), noise(i + 7, TAG));
        refused(fresh.auth(&junk, "/mcp"));
        assert_eq!(
            fresh.tenant_hash(&format!("u_{}.{}", noise(i, 22), noise(i, TAG))),
            None
        );
    }
    assert_eq!(fresh.calls(), before + 1, "the server key, once");
    granted(fresh.auth(&at, "/mcp"));
}

/// Tokens made before checks existed keep working while they can be alive,
/// each costing one store read (then remembered, apart from the records
/// found); tenant ids of that shape keep working for good.
#[test]
fn tokens_and_tenant_ids_of_the_older_shape_keep_working() {
    let w = World::new();
    let client = w.register("none");
    let (at, _) = w.tokens_for(&client, &OPERATOR_READ);
    let g = granted(w.auth(&at, "/mcp"));
    // A token pair of the older shape for this grant (operator grants seal
    // nothing, so a copied record is all a token needs).
    let old_at = format!("{ACCESS}{}", noise(1, 43));
    let old_rt = format!("{REFRESH}{}.{}", grant_id(&g), noise(2, 43));
    let record = w.oauth.state.body(&format!("a:{}", hash(&at))).unwrap();
    w.oauth.state.rows.borrow_mut().0.insert(
        format!("a:{}", hash(&old_at)),
        (grant_id(&g), record, w.up.now_ms() / 1000 + 3000),
    );
    w.edit_row(&format!("g:{}", grant_id(&g)), |v| {
        v["cur"] = Value::from(hash(&old_rt));
    });
    assert_eq!(grant_id(&granted(w.auth(&old_at, "/mcp"))), grant_id(&g));
    assert_eq!(w.rows("m:old"), 1, "when the older shape was first seen");
    // Junk of that shape: one read each, then remembered; the records
    // found stay in the memo however much junk comes.
    let before = w.calls();
    for i in 0..600 {
        refused(w.auth(&format!("{ACCESS}{}", noise(100 + i, 43)), "/mcp"));
    }
    assert_eq!(w.calls(), before + 600);
    refused(w.auth(&format!("{ACCESS}{}", noise(699, 43)), "/mcp"));
    granted(w.auth(&old_at, "/mcp"));
    granted(w.auth(&at, "/mcp"));
    assert_eq!(w.calls(), before + 600);
    // The old refresh token rotates into tokens of the current shape.
    let (at2, rt2) = tokens(&w.refresh(&client, &old_rt));
    assert!(at2.contains('.') && rt2.matches('.').count() == 2);
    granted(w.auth(&at2, "/mcp"));
    // An hour after the older shape was first seen, no access token of it
    // can be alive: refused without a store read. After 30 days, refresh
    // tokens of it too, even one a grant still names.
    w.advance(ACCESS_TTL);
    let before = w.calls();
    assert!(refused(w.auth(&old_at, "/mcp")).contains("unknown"));
    refused(w.auth(&format!("{ACCESS}{}", noise(5, 43)), "/mcp"));
    assert_eq!(w.calls(), before);
    w.advance(REFRESH_TTL);
    let (_, rt3) = w.tokens_for(&client, &OPERATOR_READ);
    let g3 = &rt3[REFRESH.len()..REFRESH.len() + 24];
    let stale_rt = format!("{REFRESH}{g3}.{}", noise(3, 43));
    w.edit_row(&format!("g:{g3}"), |v| {
        v["cur"] = Value::from(hash(&stale_rt));
    });
    assert_eq!(w.refresh(&client, &stale_rt).error(), "invalid_grant");

    // A tenant id of the older shape (a user who signed in before checks
    // existed) is kept for good: deliveries find it, signing in again keeps
    // it, and the grants page says so.
    let w = World::new();
    let with_cb = [
        ("method", "own_key"),
        ("scale_key", KEY_A),
        ("callback_key", "cb-key-of-user-a-123"),
        ("grant_scope", "scale:read"),
    ];
    let (at, _) = w.tokens_for(&client, &with_cb);
    let Account::Tenant(tenant) = granted(w.auth(&at, "/mcp")).account().clone() else {
        panic!()
    };
    let old = tenant.split_once('.').unwrap().0.to_string();
    {
        let mut rows = w.oauth.state.rows.borrow_mut();
        let row = rows.0.remove(&format!("u:{tenant}")).unwrap();
        rows.0.insert(format!("u:{old}"), row);
    }
    assert_eq!(w.tenant_hash(&old), Some(hash("cb-key-of-user-a-123")));
    assert_eq!(w.tenant_hash(&tenant), None);
    let (at, _) = w.tokens_for(&client, &OWN_A);
    assert_eq!(
        granted(w.auth(&at, "/mcp")).account(),
        &Account::Tenant(old.clone())
    );
    assert_eq!(w.rows("u:"), 1, "no second tenant");
    let page = page_of(&w.send("GET", "/oauth/grants", &[], ""));
    let mut pairs: Vec<(&str, &str)> = page
        .fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    pairs.extend([("method", "own_key"), ("scale_key", KEY_A)]);
    let listed = w
        .post("/oauth/grants", &pairs, &[("cookie", &page.cookie)])
        .text;
    assert!(
        listed.contains(&format!("/webhooks/scale/{old}</code>")),
        "{listed}"
    );
    assert!(listed.contains("earlier form"), "{listed}");
    // Old-shaped ids nobody has: one read each, then remembered.
    let before = w.calls();
    for _ in 0..3 {
        assert_eq!(w.tenant_hash(&format!("u_{}", noise(9, 22))), None);
    }
    assert_eq!(w.calls(), before + 1);
}

#[test]
fn revocation_ends_a_grant_within_the_cache_time() {
    let w = World::new();
    let client = w.register("client_secret_basic");
    let (at, rt) = w.tokens_for(&client, &OWN_A);
    let other = w.isolate();
    granted(w.auth(&at, "/mcp"));
    granted(w.auth_in(&other, &at, "/mcp"));
    let basic = format!(
        "Basic {}",
        crate::codec::base64(
            format!(
                "{}:{}",
                percent_encode(&client.0),
                percent_encode(client.1.as_ref().unwrap())
            )
            .as_bytes()
        )
    );
    // Revocation needs the client's own credentials.
    let r = w.post(
        "/revoke",
        &[
            ("token", &rt),
            ("client_id", &client.0),
            ("client_secret", "smcp_cs_wrong"),
        ],
        &[],
    );
    assert_eq!(r.status, 401);
    assert_eq!(r.error(), "invalid_client");
    let r = w.post("/revoke", &[("token", &rt)], &[("authorization", &basic)]);
    assert_eq!(r.status, 200, "{}", r.text);
    refused(w.auth(&at, "/mcp"));
    granted(w.auth_in(&other, &at, "/mcp"));
    w.advance(61);
    refused(w.auth_in(&other, &at, "/mcp"));
    assert_eq!(w.refresh(&client, &rt).error(), "invalid_grant");
    // Unknown tokens get 200 too (RFC 7009).
    assert_eq!(
        w.post(
            "/revoke",
            &[("token", "whatever")],
            &[("authorization", &basic)]
        )
        .status,
        200
    );
}

#[test]
fn the_hot_path_reads_storage_once_per_cache_period() {
    let w = World::new();
    let client = w.register("none");
    let (at, _) = w.tokens_for(&client, &OPERATOR_READ);
    let calls = || w.oauth.state.calls.get();
    granted(w.auth(&at, "/mcp"));
    let before = calls();
    for _ in 0..5 {
        granted(w.auth(&at, "/mcp"));
    }
    assert_eq!(calls(), before, "served from the isolate's memo");
    w.advance(61);
    granted(w.auth(&at, "/mcp"));
    assert_eq!(calls(), before + 1);
}

#[test]
fn csrf_and_cross_site_submissions_are_refused_with_nothing_issued() {
    let w = World::new();
    let client = w.register("none");
    let page = w.open_page(&client.0, &[]);
    let pairs: Vec<(&str, &str)> = page
        .fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(OWN_A)
        .collect();
    let without_csrf: Vec<(&str, &str)> = pairs
        .iter()
        .filter(|(k, _)| *k != "csrf")
        .cloned()
        .collect();
    let cookie = page.cookie.as_str();
    type Case<'a> = (&'a [(&'a str, &'a str)], Vec<(&'a str, &'a str)>);
    let cases: Vec<Case> = vec![
        (&pairs, vec![]),
        (
            &pairs,
            vec![("cookie", "__Host-smcp_csrf=AAAAAAAAAAAAAAAAAAAAAA")],
        ),
        (&without_csrf, vec![("cookie", cookie)]),
        (
            &pairs,
            vec![("cookie", cookie), ("origin", "https://evil.example")],
        ),
        (
            &pairs,
            vec![("cookie", cookie), ("sec-fetch-site", "cross-site")],
        ),
    ];
    for (body, headers) in cases {
        let r = w.post("/authorize", body, &headers);
        assert_eq!(r.status, 403, "{headers:?}: {}", r.text);
        assert!(r.header("location").is_none());
    }
    // A form made for another client's request does not carry over.
    let other = w.register("none");
    let swapped: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| {
            if *k == "client_id" {
                (*k, other.0.as_str())
            } else {
                (*k, *v)
            }
        })
        .collect();
    assert_eq!(
        w.post("/authorize", &swapped, &[("cookie", cookie)]).status,
        403
    );
    w.advance(3601);
    assert_eq!(
        w.post("/authorize", &pairs, &[("cookie", cookie)]).status,
        403,
        "stale"
    );
    assert_eq!(w.rows("c:"), 0);
}

#[test]
fn cancel_sends_access_denied_back() {
    let w = World::new();
    let client = w.register("none");
    let r = w.submit(&w.open_page(&client.0, &[]), &[("action", "deny")]);
    assert_eq!(r.status, 303);
    assert_eq!(
        param(r.location(), "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(param(r.location(), "state").as_deref(), Some("st-1"));
    assert_eq!(w.rows("c:"), 0);
}

#[test]
fn sign_in_attempts_are_rate_limited_and_wrong_tokens_are_refused() {
    let w = World::new();
    let page = w.open_page(CIMD, &[]);
    let wrong = [
        ("method", "operator"),
        ("operator_token", "not-the-token-at-all-000"),
        ("grant_scope", "scale:read"),
    ];
    for _ in 0..10 {
        let r = w.submit(&page, &wrong);
        assert_eq!(r.status, 401);
        assert!(r.text.contains("not one of this server"));
    }
    let r = w.submit(&page, &OPERATOR_READ);
    assert_eq!(r.status, 429, "{}", r.text);
    assert!(r.text.contains("Try again in"));
    // Another address is not limited; own-key attempts count separately.
    let other = w.post(
        "/authorize",
        &page
            .fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(OPERATOR_READ)
            .collect::<Vec<_>>(),
        &[
            ("cookie", &page.cookie),
            ("cf-connecting-ip", "203.0.113.9"),
        ],
    );
    assert_eq!(other.status, 303, "{}", other.text);
    assert_eq!(w.submit(&page, &OWN_A).status, 303);
    w.advance(601);
    assert_eq!(w.submit(&page, &OPERATOR_READ).status, 303);
}

#[test]
fn metadata_documents_at_unsafe_or_misbehaving_urls_are_refused() {
    for url in [
        "https://127.0.0.1/c.json",
        "https://localhost/c.json",
        "https://10.0.0.8/c.json",
        "https://[::1]/c.json",
        "http://app.example.com/c.json",
    ] {
        let w = World::new();
        let r = w.send("GET", &authorize_url(url, &[]), &[], "");
        assert_eq!(r.status, 400, "{url}");
        assert!(r.text.contains("not allowed"), "{url}: {}", r.text);
        assert!(w.up.sent().is_empty(), "{url} was fetched");
    }
    let mut redirect = json_response(302, &json!({}));
    redirect
        .headers
        .push(("location".into(), "https://127.0.0.1/".into()));
    let cases: Vec<(Reply, &str)> = vec![
        (Ok(redirect), "redirect"),
        (Err(SendError::TooLarge(200)), "larger than"),
        (Err(SendError::Timeout(4000)), "did not answer"),
        (Ok(json_response(404, &json!({}))), "HTTP 404"),
        (
            Ok(crate::io::fakes::text_response(
                200,
                "application/json",
                "not json",
            )),
            "not valid JSON",
        ),
        (
            Ok(json_response(
                200,
                &json!({"client_id": "https://other.example/c.json", "redirect_uris": [REDIRECT]}),
            )),
            "not exactly the URL",
        ),
        (
            Ok(json_response(
                200,
                &json!({"client_id": CIMD, "redirect_uris": [REDIRECT], "client_secret": "x"}),
            )),
            "client secret",
        ),
        (
            Ok(json_response(
                200,
                &json!({"client_id": CIMD, "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "private_key_jwt"}),
            )),
            "`none`",
        ),
        (
            Ok(json_response(
                200,
                &json!({"client_id": CIMD, "redirect_uris": ["javascript:alert(1)"]}),
            )),
            "redirect URI",
        ),
    ];
    for (answer, why) in cases {
        let w = World::new();
        *w.doc.borrow_mut() = Some(answer);
        let r = w.send("GET", &authorize_url(CIMD, &[]), &[], "");
        assert_eq!(r.status, 400, "{why}");
        assert!(r.text.contains(why), "{why}: {}", r.text);
        assert!(r.header("location").is_none());
        let sent = w.up.sent();
        assert!(
            sent.iter()
                .all(|r| r.url == CIMD && r.no_redirects && r.max_response_bytes == 32 * 1024),
            "only the document, unredirected"
        );
        assert_eq!(*w.up.timeouts.borrow(), vec![4000]);
    }
}

#[test]
fn registration_validates_and_clients_expire() {
    let w = World::new();
    for (body, err) in [
        (
            r#"{"redirect_uris":["http://evil.example/cb"]}"#,
            "invalid_redirect_uri",
        ),
        (r#"{"redirect_uris":[]}"#, "invalid_redirect_uri"),
        (
            r#"{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"private_key_jwt"}"#,
            "invalid_client_metadata",
        ),
        (
            r#"{"redirect_uris":["https://a.example/cb"],"client_name":5}"#,
            "invalid_client_metadata",
        ),
        (r#"["x"]"#, "invalid_client_metadata"),
        ("{", "invalid_client_metadata"),
    ] {
        let r = w.send(
            "POST",
            "/register",
            &[("content-type", "application/json")],
            body,
        );
        assert_eq!(r.status, 400, "{body}");
        assert_eq!(r.error(), err, "{body}");
    }
    assert_eq!(
        w.send("POST", "/register", &[("content-type", "text/plain")], "{}")
            .error(),
        "invalid_client_metadata"
    );
    let client = w.register("client_secret_post");
    assert!(client.0.starts_with("smcp_c_") && client.1.as_ref().unwrap().starts_with("smcp_cs_"));
    assert_eq!(w.register("none").1, None);
    let code = w.code(&client.0, &OWN_A);
    // Wrong secret, no secret, tampered id: invalid_client (401).
    assert_eq!(
        w.exchange(
            &(client.0.clone(), Some("smcp_cs_bad".into())),
            &code,
            VERIFIER
        )
        .status,
        401
    );
    assert_eq!(
        w.exchange(&(client.0.clone(), None), &code, VERIFIER)
            .status,
        401
    );
    let mut bad = client.0.clone();
    let last = bad.pop().unwrap();
    bad.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(
        w.exchange(&(bad, client.1.clone()), &code, VERIFIER).status,
        401
    );
    w.advance(CLIENT_TTL + 1);
    let r = w.exchange(&client, &code, VERIFIER);
    assert_eq!(r.status, 401);
    assert!(r.text.contains("expired"));
}

#[test]
fn registrations_are_rate_limited() {
    let w = World::new();
    for _ in 0..30 {
        w.register("none");
    }
    let r = w.send(
        "POST",
        "/register",
        &[("content-type", "application/json")],
        &format!(r#"{{"redirect_uris":["{REDIRECT}"]}}"#),
    );
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").is_some());
}

#[test]
fn a_rotated_oauth_secret_keeps_clients_and_tenants() {
    let mut w = World::new();
    let client = w.register("client_secret_post");
    let (at, _) = w.tokens_for(&client, &OWN_A);
    let tenant = granted(w.auth(&at, "/mcp")).account().clone();
    w.set(
        "OAUTH_SECRET",
        "second-secret-0123456789abcdef012345678,first-secret-0123456789abcdef0123456789",
    );
    let (at2, _) = w.tokens_for(&client, &OWN_A);
    assert_eq!(granted(w.auth(&at2, "/mcp")).account(), &tenant);
    w.set("OAUTH_SECRET", "second-secret-0123456789abcdef012345678");
    assert_eq!(
        w.send("GET", &authorize_url(&client.0, &[]), &[], "")
            .status,
        400,
        "ids signed with a dropped key are refused"
    );
}

#[test]
fn without_oauth_secret_a_generated_key_is_kept_in_the_store() {
    let w = World::with(&[("OAUTH_SECRET", "")]);
    let client = w.register("client_secret_basic");
    assert_eq!(w.rows("m:key"), 1);
    // Another isolate reads the same key: the client id it signed still works.
    let other = World {
        oauth: w.isolate(),
        up: w.up.clone(),
        settings: w.settings.clone(),
        doc: w.doc.clone(),
    };
    assert_eq!(
        other
            .send("GET", &authorize_url(&client.0, &[]), &[], "")
            .status,
        200
    );
    assert!(!w
        .oauth
        .memo
        .get("m:key", 0)
        .unwrap()
        .as_str()
        .unwrap()
        .is_empty());
}

#[test]
fn storage_failures_are_unavailable_not_refusals() {
    let w = World::new();
    let client = w.register("none");
    let (at, _) = w.tokens_for(&client, &OWN_A);
    w.oauth.state.fail.set(true);
    w.advance(61);
    assert!(matches!(w.auth(&at, "/mcp"), Auth::Unavailable(_)));
    let r = w.exchange(
        &client,
        "smcp_ac_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        VERIFIER,
    );
    assert_eq!(r.status, 503);
    assert_eq!(r.error(), "temporarily_unavailable");
    assert!(r.logs.iter().any(|l| l.contains("simulated")));
    let r = w.submit(&w.open_page(&client.0, &[]), &OWN_A);
    assert_eq!(r.status, 503);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
}

#[test]
fn the_grants_page_lists_and_revokes_only_ones_own_grants() {
    let w = World::new();
    let client = w.register("none");
    let with_cb = [
        ("method", "own_key"),
        ("scale_key", KEY_A),
        ("callback_key", "cb-key-of-user-a-123"),
        ("grant_scope", "scale:read"),
    ];
    let (at_a, _) = w.tokens_for(&client, &with_cb);
    let (at_b, _) = w.tokens_for(&client, &OWN_B);
    let (at_op, _) = w.tokens_for(&client, &OPERATOR_READ);
    let ga = granted(w.auth(&at_a, "/mcp"));
    let (g_a, g_b, g_op) = (
        grant_id(&ga),
        grant_id(&granted(w.auth(&at_b, "/mcp"))),
        grant_id(&granted(w.auth(&at_op, "/mcp"))),
    );
    // Only a hash of the callback key is kept, and signing in again keeps it.
    assert!(!w.oauth.state.dump().contains("cb-key-of-user-a-123"));
    let Account::Tenant(tenant) = ga.account() else {
        panic!()
    };
    let row = record::parse(&w.oauth.state.body(&format!("u:{tenant}")).unwrap());
    assert_eq!(
        record::text(&row, "callback_key_hash"),
        hash("cb-key-of-user-a-123")
    );
    w.tokens_for(&client, &OWN_A);
    assert_eq!(
        record::text(
            &record::parse(&w.oauth.state.body(&format!("u:{tenant}")).unwrap()),
            "callback_key_hash"
        ),
        hash("cb-key-of-user-a-123")
    );

    let page = page_of(&w.send("GET", "/oauth/grants", &[], ""));
    let sign_in = |choices: &[(&str, &str)]| {
        let mut pairs: Vec<(&str, &str)> = page
            .fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        pairs.extend_from_slice(choices);
        w.post("/oauth/grants", &pairs, &[("cookie", &page.cookie)])
    };
    let listed = sign_in(&[("method", "own_key"), ("scale_key", KEY_A)]);
    let t = &listed.text;
    assert!(
        t.contains(&g_a) && !t.contains(&g_b) && !t.contains(&g_op),
        "{t}"
    );
    assert!(t.contains(&format!("{ISS}/webhooks/scale/{tenant}")));
    assert!(!t.contains(KEY_A));
    let listed_op = sign_in(&[("method", "operator"), ("operator_token", OP_TOKEN)]).text;
    assert!(
        listed_op.contains(&g_op) && !listed_op.contains(&g_a),
        "{listed_op}"
    );
    // Revoke B's grant with A's ticket: refused. Revoke A's: done.
    let listed = page_of(&listed);
    let field = |name: &str| {
        listed
            .fields
            .iter()
            .find(|(k, _)| k == name)
            .unwrap()
            .1
            .clone()
    };
    let (ticket, csrf) = (field("ticket"), field("csrf"));
    let revoke = |grant: &str, ticket: &str| {
        w.post(
            "/oauth/grants",
            &[
                ("csrf", &csrf),
                ("ticket", ticket),
                ("action", "revoke"),
                ("grant", grant),
            ],
            &[("cookie", &page.cookie)],
        )
    };
    assert!(revoke(&g_b, &ticket).text.contains("not yours"));
    granted(w.auth(&at_b, "/mcp"));
    let mut forged = ticket.clone();
    forged.insert(3, 'x');
    assert!(revoke(&g_a, &forged).text.contains("expired"));
    assert!(revoke(&g_a, &ticket).text.contains("was revoked"));
    refused(w.auth(&at_a, "/mcp"));
    assert!(sign_in(&[
        ("method", "own_key"),
        ("scale_key", "test_never_used_key_999")
    ])
    .text
    .contains("No app has been connected"));
    w.advance(16 * 60);
    assert!(revoke(&g_b, &ticket).text.contains("expired"));
}

/// Whatever arrives at an OAuth endpoint gets an answer: a panic would abort
/// the wasm instance. Methods, paths, queries, bodies, cookies and
/// authorization headers are drawn at random, with fragments of real
/// parameters mixed in so the checks past parsing are reached too.
#[test]
fn every_input_to_the_oauth_endpoints_gets_an_answer() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config as RunnerConfig, TestRunner};
    let cases = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let mut runner = TestRunner::new(RunnerConfig {
        cases,
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    let pieces = prop::sample::select(vec![
        "response_type=code",
        "client_id=https%3A%2F%2Fapp.example.com%2Foauth%2Fclient.json",
        "client_id=smcp_c_AAAA.BBBB",
        "redirect_uri=https%3A%2F%2Fapp.example.com%2Fcallback",
        "code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method=S256",
        "grant_type=authorization_code",
        "grant_type=refresh_token",
        "code=smcp_ac_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "refresh_token=smcp_rt_g_AAAAAAAAAAAAAAAAAAAAAA.%F0%9F%92%A5",
        "resource=https%3A%2F%2Fw.example.com%2Fmcp%2F..",
        "scope=scale%3Aread+x",
        "csrf=1.x",
        "method=own_key",
        "method=operator",
        "scale_key=test_%00",
        "grant_scope=scale%3Aread",
        "action=revoke",
        "ticket=%25",
        "%",
        "=&=",
    ]);
    let strategy = (
        prop::sample::select(vec!["GET", "POST", "HEAD", "OPTIONS", "DELETE"]),
        prop::sample::select(vec![
            "/authorize",
            "/token",
            "/register",
            "/revoke",
            "/oauth/grants",
            "/.well-known/oauth-authorization-server",
            "/.well-known/oauth-protected-resource/mcp/%2e%2e",
            "/.well-known/oauth-protected-resource/mcp/projects/\u{1F4A5}",
        ]),
        prop::collection::vec(
            prop::strategy::Union::new(vec![
                pieces.prop_map(str::to_string).boxed(),
                ".{0,40}".boxed(),
            ]),
            0..8,
        ),
        ".{0,60}",
        prop::sample::select(vec![
            "application/x-www-form-urlencoded",
            "application/json",
            "text/plain",
            "",
        ]),
        prop::option::of(".{0,80}"),
    );
    let w = World::new();
    runner
        .run(&strategy, |(method, path, parts, cookie, ctype, auth)| {
            let joined = parts.join("&");
            let mut headers = vec![("content-type", ctype), ("cookie", cookie.as_str())];
            if let Some(a) = auth.as_deref() {
                headers.push(("authorization", a));
            }
            let r = w.send(method, &format!("{path}?{joined}"), &headers, &joined);
            prop_assert!((200..600).contains(&r.status));
            Ok(())
        })
        .unwrap();
}

/// Submits the sign-in form of `page` with `choices`, from address `ip`.
fn submit_from(w: &World, page: &Page, choices: &[(&str, &str)], ip: &str) -> Out {
    let mut pairs: Vec<(&str, &str)> = page
        .fields
        .iter()
        .filter(|(k, _)| !choices.iter().any(|(c, _)| c == k))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    pairs.extend_from_slice(choices);
    w.post(
        "/authorize",
        &pairs,
        &[("cookie", &page.cookie), ("cf-connecting-ip", ip)],
    )
}

#[test]
fn per_address_limits_key_ipv4_addresses_and_ipv6_64s() {
    let ip = |v: &str| {
        client_ip(&Request {
            headers: vec![("cf-connecting-ip".into(), v.into())],
            ..Default::default()
        })
    };
    assert_eq!(ip("203.0.113.9"), "203.0.113.9");
    assert_eq!(ip("2001:db8:1:2:3:4:5:6"), "20010db800010002/64");
    assert_eq!(ip("2001:DB8:1:2:ffff::9"), "20010db800010002/64");
    assert_eq!(ip("2001:db8::1"), "20010db800000000/64");
    assert_eq!(ip("::1"), "0/64");
    assert_eq!(client_ip(&Request::default()), "unknown");

    // Sign-in attempts: rotating addresses inside one /64 is one address.
    let w = World::new();
    let page = w.open_page(CIMD, &[]);
    let wrong_key = [
        ("method", "own_key"),
        ("scale_key", "test_stolen_key_0000000"),
        ("grant_scope", "scale:read"),
    ];
    for i in 0..10 {
        let r = submit_from(&w, &page, &wrong_key, &format!("2001:db8:7:7::{i:x}"));
        assert_eq!(r.status, 400, "{}", r.text);
    }
    let scale_calls = w.up.sent().len();
    let r = submit_from(&w, &page, &wrong_key, "2001:db8:7:7:abcd::1");
    assert_eq!(r.status, 429, "{}", r.text);
    assert_eq!(
        w.up.sent().len(),
        scale_calls,
        "no more keys checked at Scale"
    );
    let r = submit_from(&w, &page, &OWN_A, "2001:db8:7:8::1");
    assert_eq!(r.status, 303, "another /64: {}", r.text);

    // Registrations: 30 per /64 an hour, and refusals never reach the
    // global bucket, so one network cannot drain it.
    let reg = |ip: &str| {
        w.send(
            "POST",
            "/register",
            &[
                ("content-type", "application/json"),
                ("cf-connecting-ip", ip),
            ],
            &format!(r#"{{"redirect_uris":["{REDIRECT}"]}}"#),
        )
        .status
    };
    for i in 0..30 {
        assert_eq!(reg(&format!("2001:db8:9:9::{i:x}")), 201);
    }
    for i in 0..50 {
        assert_eq!(reg(&format!("2001:db8:9:9:{i:x}::1")), 429);
    }
    let global = w.oauth.state.rows.borrow().0["r:dcr:*"].1.clone();
    assert!(global.ends_with(" 30"), "{global}");
    assert_eq!(reg("198.51.100.7"), 201);
}

#[test]
fn many_failed_sign_ins_log_an_alert_and_tighten_each_address_without_locking_anyone_out() {
    let w = World::new();
    let page = w.open_page(CIMD, &[]);
    let wrong = [
        ("method", "operator"),
        ("operator_token", "not-the-token-at-all-000"),
        ("grant_scope", "scale:read"),
    ];
    let mut alerts = Vec::new();
    for i in 0..=100 {
        let r = submit_from(&w, &page, &wrong, &format!("198.51.100.{i}"));
        assert_eq!(r.status, 401, "{}", r.text);
        alerts.extend(r.logs.into_iter().filter(|l| l.contains("ALERT")));
    }
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(
        alerts[0].contains("ALERT: 101 failed sign-ins"),
        "{}",
        alerts[0]
    );
    // Each failing address now gets 3 failures per window instead of 10...
    for _ in 0..3 {
        assert_eq!(submit_from(&w, &page, &wrong, "192.0.2.1").status, 401);
    }
    let r = submit_from(&w, &page, &OPERATOR_READ, "192.0.2.1");
    assert_eq!(r.status, 429, "{}", r.text);
    // ...and anyone else still signs in.
    let r = submit_from(&w, &page, &OPERATOR_READ, "192.0.2.2");
    assert_eq!(r.status, 303, "{}", r.text);
    // Failures 102 to 200 log nothing more; the 201st does.
    let mut more = 0;
    for i in 0..100 {
        let r = submit_from(&w, &page, &wrong, &format!("203.0.113.{i}"));
        more += r.logs.iter().filter(|l| l.contains("ALERT")).count();
    }
    assert_eq!(more, 1);
    // After the window, the usual 10 attempts.
    w.advance(601);
    let page = w.open_page(CIMD, &[]);
    for _ in 0..10 {
        assert_eq!(submit_from(&w, &page, &wrong, "192.0.2.1").status, 401);
    }
    assert_eq!(submit_from(&w, &page, &wrong, "192.0.2.1").status, 429);
}
