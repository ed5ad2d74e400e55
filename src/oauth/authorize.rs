//! `/authorize`: the sign-in page and what happens when it is submitted.
//!
//! GET checks the authorization request and shows the page. Problems with
//! the client or its redirect URI are shown on a page and never sent
//! anywhere (an unchecked redirect would make this an open redirector);
//! other problems go back to the checked redirect URI as RFC 6749 errors,
//! with `state` and `iss` (RFC 9207).
//!
//! POST checks the request again, then the CSRF token, then the person's
//! choices: scopes (a subset of those asked for) and a sign-in method — their
//! own Scale key (checked with one Scale call before anything is stored) or
//! one of the operator's static tokens. Both are rate limited per address.
//! Only then is a single-use code stored and the browser sent back with
//! `code`, `state` and `iss`.

use super::page::{self, Form};
use super::{client, s, OAuth, Params, CODE, CODE_TTL, OPERATOR, SCOPES};
use crate::codec::{base64url, percent_encode};
use crate::http::{Request, Response};
use crate::scale::{Call, Retry, Scale, ScaleError};
use serde_json::{json, Value};

/// A checked authorization request.
struct Authz {
    client: Value,
    redirect: String,
    /// Whether the request named its redirect URI (then /token must too).
    given: bool,
    state: Option<String>,
    challenge: String,
    /// The scopes asked for, in [`SCOPES`] order.
    scopes: Vec<&'static str>,
    resource: String,
}

/// A 303 to the client's (checked) redirect URI with `pairs`, `state` and `iss` added.
#[inline(never)]
fn back(o: &OAuth<'_>, redirect: &str, state: Option<&str>, pairs: &[(&str, &str)]) -> Response {
    let mut url = redirect.to_string();
    let state = state.map(|st| ("state", st));
    for (k, v) in pairs
        .iter()
        .chain(&state)
        .chain(&[("iss", o.issuer.as_str())])
    {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(k);
        url.push('=');
        url.push_str(&percent_encode(v));
    }
    Response::new(303)
        .header("location", &url)
        .header("cache-control", "no-store")
        .header("referrer-policy", "no-referrer")
}

/// The checked request, or the answer to give instead.
async fn check(o: &OAuth<'_>, p: &Params) -> Result<Authz, Response> {
    let Some(client_id) = p.get("client_id") else {
        return Err(cannot(
            "The sign-in link names no app (client_id is missing).",
        ));
    };
    let client = match client::resolve(o, client_id).await {
        Ok(Ok(c)) => c,
        Ok(Err(m)) => return Err(cannot(&m)),
        Err(e) => return Err(page::down(e)),
    };
    let given = p.get("redirect_uri");
    let redirect = client::redirect_for(&client, given).map_err(cannot)?;
    let state = p.get("state");
    let fail = |error, why| {
        Err(back(
            o,
            &redirect,
            state,
            &[("error", error), ("error_description", why)],
        ))
    };
    if state.is_some_and(|st| st.len() > 2048) {
        return fail("invalid_request", "state is longer than 2048 characters");
    }
    match p.get("response_type") {
        Some("code") => {}
        None => return fail("invalid_request", "response_type is missing; use code"),
        Some(_) => {
            return fail(
                "unsupported_response_type",
                "only response_type=code is supported",
            )
        }
    }
    let challenge = p.get("code_challenge").unwrap_or("");
    if challenge.is_empty() {
        return fail(
            "invalid_request",
            "PKCE is required: send code_challenge with code_challenge_method=S256",
        );
    }
    if p.get("code_challenge_method") != Some("S256") {
        return fail(
            "invalid_request",
            "code_challenge_method must be S256 (plain is not accepted)",
        );
    }
    if !super::shaped(&format!("{CODE}{challenge}"), CODE) {
        return fail(
            "invalid_request",
            "code_challenge must be the 43-character base64url SHA-256 of the verifier",
        );
    }
    let resource = match p.get("resource") {
        None => format!("{}/mcp", o.issuer),
        Some(r) => match super::parse_resource(&o.issuer, r) {
            Some(r) => r,
            None => {
                return fail(
                    "invalid_target",
                    "resource must be an MCP URL of this server",
                )
            }
        },
    };
    // Unknown scopes are ignored; with none asked for, all are offered.
    let asked = p.get("scope");
    let scopes: Vec<&'static str> = SCOPES
        .into_iter()
        .filter(|sc| asked.is_none_or(|a| a.split(' ').any(|x| x == *sc)))
        .collect();
    if scopes.is_empty() {
        return fail("invalid_scope", "none of the requested scopes exists here; they are scale:read, scale:write and scale:team");
    }
    Ok(Authz {
        client,
        redirect,
        given: given.is_some(),
        state: state.map(str::to_string),
        challenge: challenge.to_string(),
        scopes,
        resource,
    })
}

/// A page saying the app cannot sign in here (nothing is sent to it).
#[inline(never)]
fn cannot(m: &str) -> Response {
    page::error_page(400, "This app cannot sign in here", m)
}

/// What the CSRF token of a sign-in form is bound to.
fn purpose(a: &Authz) -> String {
    format!(
        "authorize\n{}\n{}\n{}",
        s(&a.client, "id"),
        a.redirect,
        a.challenge
    )
}

/// The parameters the form carries back, as received.
const CARRIED: [&str; 8] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "state",
    "code_challenge",
    "code_challenge_method",
    "scope",
    "resource",
];

/// The sign-in page for `a`; `error` after a mistake.
fn render(
    o: &OAuth<'_>,
    req: &Request,
    p: &Params,
    a: &Authz,
    error: Option<(u16, &str)>,
) -> Response {
    let (csrf, cookie) = match page::csrf_issue(o, req, &purpose(a)) {
        Ok(v) => v,
        Err(e) => return page::down(e),
    };
    let mut hidden: Vec<(&str, &str)> = CARRIED
        .iter()
        .filter_map(|k| Some((*k, p.get(k)?)))
        .collect();
    hidden.push(("csrf", &csrf));
    let host = s(&a.client, "host");
    let who = if host.is_empty() {
        "It registered itself with this server; its name is its own claim.".to_string()
    } else {
        format!(
            "Its identity is published at <code>{}</code> by <strong>{}</strong>.",
            page::esc(s(&a.client, "id")),
            page::esc(host)
        )
    };
    let mut scopes = String::new();
    for sc in &a.scopes {
        // After a mistake, what the person chose; at first, everything asked for.
        let checked = error.is_none() || p.has("grant_scope", sc);
        scopes += &page::checkbox("grant_scope", sc, &page::scope_text(sc), checked);
    }
    let form = Form {
        action: "/authorize",
        hidden: &hidden,
        methods: page::methods(o, p, true),
        submit: "Allow access",
        cancel: true,
    };
    let body = format!(
        "<h1>Allow <strong>{}</strong> to use Scale through this server?</h1>{}<div class=\"card\"><p>{who}</p>\
<p>After you answer, your browser goes back to <code>{}</code>.</p><p class=\"muted\">Access is for <code>{}</code>.</p></div>{}\
<p class=\"muted\">See and revoke the access you gave at <a href=\"/oauth/grants\">/oauth/grants</a>.</p>",
        page::esc(s(&a.client, "name")),
        page::alert(error.map(|e| e.1)),
        page::esc(&a.redirect),
        page::esc(&a.resource),
        form.render(&format!("<fieldset><legend>Permissions</legend>{scopes}<small>Uncheck what this app should not be able to do.</small></fieldset>")),
    );
    page::doc(
        error.map_or(200, |e| e.0),
        "Sign in to Scale MCP",
        &body,
        page::form_target(&a.redirect).as_deref(),
        cookie,
    )
}

/// `GET /authorize`.
pub(super) async fn get(o: &OAuth<'_>, req: &Request) -> Response {
    let p = match Params::parse(&req.query) {
        Ok(p) => p,
        Err(m) => return page::error_page(400, "This sign-in link is malformed", &m),
    };
    match check(o, &p).await {
        Ok(a) => render(o, req, &p, &a, None),
        Err(r) => r,
    }
}

/// `POST /authorize`.
pub(super) async fn post(o: &OAuth<'_>, req: &Request) -> Response {
    let p = match super::read_form(req).await {
        Ok(p) => p,
        Err(m) => return page::error_page(400, "This form was not accepted", &m),
    };
    let a = match check(o, &p).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    if let Err(why) = page::csrf_check(o, req, &purpose(&a), p.get("csrf")) {
        return page::error_page(403, "This form was not accepted", why)
            .log("oauth: sign-in form refused (CSRF)");
    }
    if p.get("action") == Some("deny") {
        return back(
            o,
            &a.redirect,
            a.state.as_deref(),
            &[
                ("error", "access_denied"),
                ("error_description", "the user declined"),
            ],
        );
    }
    let chosen: Vec<&'static str> = a
        .scopes
        .iter()
        .copied()
        .filter(|sc| p.has("grant_scope", sc))
        .collect();
    let who = match sign_in(o, req, &p, chosen).await {
        Ok(w) => w,
        Err(Stop::Say(status, msg)) => {
            return render(o, req, &p, &a, Some((status, &msg)))
                .log(format!("oauth: sign-in not completed ({status})"))
        }
        Err(Stop::Down(e)) => return page::down(e),
    };
    match issue_code(o, &a, who).await {
        Ok((code, grant)) => back(o, &a.redirect, a.state.as_deref(), &[("code", &code)])
            .log(format!("oauth: code issued for grant {grant}")),
        Err(e) => page::down(e),
    }
}

/// Why a sign-in did not complete: something to tell the person (with the
/// status of the page that says it), or a platform failure.
pub(super) enum Stop {
    Say(u16, String),
    Down(String),
}

impl From<String> for Stop {
    fn from(e: String) -> Self {
        Stop::Down(e)
    }
}

#[inline(never)]
fn say(status: u16, m: &str) -> Stop {
    Stop::Say(status, m.to_string())
}

/// How a person signed in.
struct Who {
    tenant: String,
    /// For logs and the grants page: the static token's label, or the tenant.
    label: String,
    /// Operator access: the keyed hash of the static token.
    op: Option<String>,
    scopes: Vec<&'static str>,
    /// Their own Scale key.
    key: Option<String>,
    billed: bool,
}

/// The sign-in step both pages share: the method and its secret, rate
/// limited per address. For operator access, the static token's label
/// (`token-N`, its place in `MCP_AUTH_TOKEN`) and `op` its keyed hash
/// under every server key; for a user's own key, `op` is empty.
pub(super) async fn method_and_secret<'p>(
    o: &OAuth<'_>,
    req: &Request,
    p: &'p Params,
) -> Result<(&'p str, String, Vec<String>), Stop> {
    let (method, field, ask) = match p.get("method") {
        Some("own_key") if o.cfg.oauth_byok => {
            ("own_key", "scale_key", "Enter your Scale API key.")
        }
        Some("operator") if !o.cfg.mcp_tokens.is_empty() => (
            "operator",
            "operator_token",
            "Enter an access token from this server's operator.",
        ),
        Some("own_key" | "operator") => {
            return Err(say(
                400,
                "That sign-in method is not offered by this server.",
            ))
        }
        _ => return Err(say(400, "Choose how to sign in.")),
    };
    let Some(secret) = p.get(field).map(str::trim).filter(|v| !v.is_empty()) else {
        return Err(say(400, ask));
    };
    let bucket = format!(
        "{}:{}",
        if method == "own_key" { "key" } else { "op" },
        super::client_ip(req)
    );
    if let Some(wait) = o.limited(&[(bucket, 10, 600)]).await? {
        return Err(Stop::Say(
            429,
            format!("Too many sign-in attempts from your network. Try again in {wait} seconds."),
        ));
    }
    if method == "own_key" {
        return Ok((secret, String::new(), Vec::new()));
    }
    // Every static token is compared, in constant time.
    let mut found = None;
    for (i, t) in o.cfg.mcp_tokens.iter().enumerate() {
        if crate::auth::ct_eq(t.expose().as_bytes(), secret.as_bytes()) {
            found = Some(i);
        }
    }
    match found {
        Some(i) => Ok((
            secret,
            format!("token-{}", i + 1),
            o.macs(OPERATOR, secret.as_bytes()),
        )),
        None => Err(say(401, "That is not one of this server's access tokens.")),
    }
}

/// The tenant ids a Scale key may have, one per server key (newest first),
/// and the stored tenant rows under them. The id is a keyed hash, the same
/// at every sign-in, revealing nothing of the key; trying every server key
/// keeps ids across a rotation.
pub(super) async fn tenants(o: &OAuth<'_>, key: &str) -> Result<(Vec<String>, Vec<Value>), String> {
    let ids: Vec<String> = o
        .macs("tenant", key.as_bytes())
        .into_iter()
        .map(|h| format!("u_{}", &h[..22]))
        .collect();
    let ops: Vec<Value> = ids
        .iter()
        .map(|id| json!(["get", format!("u:{id}")]))
        .collect();
    let found = o.run(Value::Array(ops)).await?.unwrap_or_default();
    Ok((ids, found))
}

async fn sign_in(
    o: &OAuth<'_>,
    req: &Request,
    p: &Params,
    scopes: Vec<&'static str>,
) -> Result<Who, Stop> {
    if scopes.is_empty() {
        return Err(say(400, "Choose at least one permission, or press Cancel."));
    }
    let (secret, label, op) = method_and_secret(o, req, p).await?;
    if !label.is_empty() {
        return Ok(Who {
            tenant: OPERATOR.into(),
            label,
            op: op.into_iter().next(),
            scopes,
            key: None,
            billed: false,
        });
    }
    let shaped = (secret.starts_with("live_") || secret.starts_with("test_"))
        && (10..=200).contains(&secret.len())
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !shaped {
        return Err(say(400, "That does not look like a Scale API key: it starts with live_ or test_ and has no spaces."));
    }
    let callback = p
        .get("callback_key")
        .map(str::trim)
        .filter(|v| !v.is_empty());
    if callback.is_some_and(|c| c.len() > 200 || !c.bytes().all(|b| b.is_ascii_graphic())) {
        return Err(say(
            400,
            "The callback auth key must be printable characters without spaces.",
        ));
    }
    // One Scale call proves the key works before any grant exists.
    let mut cfg = o.cfg.clone();
    cfg.scale_api_key = Some(crate::config::Secret::new(secret));
    let budget = crate::io::Budget::new(o.now_ms, 15_000, 1);
    let call = Call::get().lit("tasks").query("limit", "1");
    if let Err(e) = Scale::new(&cfg, o.up, &budget)
        .send_raw(&call, Retry::Never)
        .await
    {
        return Err(Stop::Say(
            if matches!(e, ScaleError::Http { status: 401 | 403, .. }) { 400 } else { 502 },
            match e {
                ScaleError::Http { status: status @ (401 | 403), .. } => {
                    format!("Scale did not accept this key (HTTP {status}). Check that you copied all of it.")
                }
                ScaleError::Http { status, .. } => format!("Scale could not check your key: it answered HTTP {status}. Try again in a minute."),
                ScaleError::Timeout(_) => "Scale could not check your key: it did not answer in time. Try again in a minute.".into(),
                _ => "Scale could not check your key: it could not be reached. Try again in a minute.".into(),
            },
        ));
    }
    let (ids, found) = tenants(o, secret).await?;
    let existing = ids.iter().zip(&found).find(|(_, b)| b.is_string());
    let (tenant, mut body) = match existing {
        Some((id, b)) => (id.clone(), super::parse(b.as_str().unwrap_or(""))),
        None => (ids[0].clone(), json!({"created": o.now()})),
    };
    if let Some(c) = callback {
        // Only a hash: deliveries to the tenant's webhook are checked against it.
        body["callback_key_hash"] = json!(super::hash(c));
    }
    if callback.is_some() || existing.is_none() {
        o.run(json!([[
            "put",
            format!("u:{tenant}"),
            "",
            body.to_string(),
            0
        ]]))
        .await?;
    }
    Ok(Who {
        label: tenant.clone(),
        tenant,
        op: None,
        scopes,
        key: Some(secret.to_string()),
        billed: secret.starts_with("live_") && p.get("billed") == Some("yes"),
    })
}

/// Stores a single-use code for the grant `who` signs in to; returns the
/// code and the grant id. A user's Scale key is sealed under a new grant key
/// that only the code (and later each token) unwraps.
async fn issue_code(o: &OAuth<'_>, a: &Authz, who: Who) -> Result<(String, String), String> {
    let grant = format!("g_{}", o.random(16)?);
    let code = format!("{CODE}{}", o.random(32)?);
    let (mut sealed, mut wrapped) = (Value::Null, Value::Null);
    if let Some(key) = &who.key {
        let mut k = [0u8; 32];
        o.p.crypto.random(&mut k)?;
        sealed = json!(base64url(
            &o.p.crypto
                .seal(&k, format!("{grant}\n{key}").as_bytes())
                .await?
        ));
        wrapped = super::wrap_key(o, &code, &k).await?;
    }
    let rec = json!({
        "id": grant,
        "client": s(&a.client, "id"),
        "name": s(&a.client, "name"),
        "redirect": a.redirect,
        "redirect_given": a.given,
        "challenge": a.challenge,
        "scope": who.scopes.join(" "),
        "resource": a.resource,
        "tenant": who.tenant,
        "label": who.label,
        "op": who.op,
        "billed": who.billed,
        "sealed": sealed,
        "wrapped": wrapped,
        "created": o.now(),
    });
    o.run(json!([[
        "put",
        format!("c:{}", super::hash(&code)),
        "",
        rec.to_string(),
        o.now() + CODE_TTL
    ]]))
    .await?;
    Ok((code, grant))
}
