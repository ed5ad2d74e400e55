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

/// Why an authorization request cannot go on.
enum Problem {
    /// Shown to the person; nothing is sent to the client.
    Page(String),
    /// The client's redirect URI (checked) with an RFC 6749 error.
    Back(String),
    Down(String),
}

/// The redirect URI with the authorization response added to its query.
fn response_url(redirect: &str, pairs: &[(&str, &str)]) -> String {
    let mut url = redirect.to_string();
    for (k, v) in pairs {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(k);
        url.push('=');
        url.push_str(&percent_encode(v));
    }
    url
}

/// The error answer for `redirect`, with `state` and `iss`.
fn back(o: &OAuth<'_>, redirect: &str, state: Option<&str>, error: &str, why: &str) -> Problem {
    let mut pairs = vec![("error", error), ("error_description", why)];
    if let Some(st) = state {
        pairs.push(("state", st));
    }
    pairs.push(("iss", &o.issuer));
    Problem::Back(response_url(redirect, &pairs))
}

async fn check(o: &OAuth<'_>, p: &Params) -> Result<Authz, Problem> {
    let Some(client_id) = p.get("client_id") else {
        return Err(Problem::Page("The sign-in link names no app (client_id is missing).".into()));
    };
    let client = match client::resolve(o, client_id).await {
        Ok(Ok(c)) => c,
        Ok(Err(m)) => return Err(Problem::Page(m)),
        Err(e) => return Err(Problem::Down(e)),
    };
    let given = p.get("redirect_uri");
    let redirect = client::redirect_for(&client, given).map_err(|m| Problem::Page(m.into()))?;
    let state = p.get("state");
    let fail = |error, why| Err(back(o, &redirect, state, error, why));
    if state.is_some_and(|st| st.len() > 2048) {
        return fail("invalid_request", "state is longer than 2048 characters");
    }
    match p.get("response_type") {
        Some("code") => {}
        None => return fail("invalid_request", "response_type is missing; use code"),
        Some(_) => return fail("unsupported_response_type", "only response_type=code is supported"),
    }
    let challenge = p.get("code_challenge").unwrap_or("");
    if challenge.is_empty() {
        return fail("invalid_request", "PKCE is required: send code_challenge with code_challenge_method=S256");
    }
    if p.get("code_challenge_method") != Some("S256") {
        return fail("invalid_request", "code_challenge_method must be S256 (plain is not accepted)");
    }
    if !super::shaped(&format!("{CODE}{challenge}"), CODE) {
        return fail("invalid_request", "code_challenge must be the 43-character base64url SHA-256 of the verifier");
    }
    let resource = match p.get("resource") {
        None => format!("{}/mcp", o.issuer),
        Some(r) => match super::parse_resource(&o.issuer, r) {
            Some(r) => r,
            None => return fail("invalid_target", "resource must be an MCP URL of this server"),
        },
    };
    // Unknown scopes are ignored; with none asked for, all are offered.
    let asked = p.get("scope");
    let scopes: Vec<&'static str> = SCOPES.into_iter().filter(|sc| asked.is_none_or(|a| a.split(' ').any(|x| x == *sc))).collect();
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

#[inline(never)]
fn answer(p: Problem, status: u16) -> Response {
    match p {
        Problem::Page(m) => page::error_page(400, "This app cannot sign in here", &m),
        Problem::Back(url) => Response::new(status)
            .header("location", &url)
            .header("cache-control", "no-store")
            .header("referrer-policy", "no-referrer"),
        Problem::Down(e) => page::down(e),
    }
}

/// What the CSRF token of a sign-in form is bound to.
fn purpose(a: &Authz) -> String {
    format!("authorize\n{}\n{}\n{}", s(&a.client, "id"), a.redirect, a.challenge)
}

/// The parameters the form carries back, as received.
const CARRIED: [&str; 8] = ["response_type", "client_id", "redirect_uri", "state", "code_challenge", "code_challenge_method", "scope", "resource"];

/// The sign-in page for `a`; `error` and `chosen` after a mistake.
async fn render(o: &OAuth<'_>, req: &Request, p: &Params, a: &Authz, error: Option<(u16, &str)>) -> Response {
    let mut hidden: Vec<(&str, &str)> = CARRIED.iter().filter_map(|k| Some((*k, p.get(k)?))).collect();
    let (csrf, cookie) = match page::csrf_issue(o, req, &purpose(a)).await {
        Ok(v) => v,
        Err(e) => return page::down(e),
    };
    hidden.push(("csrf", &csrf));
    let host = s(&a.client, "host");
    let who = if host.is_empty() {
        "It registered itself with this server; its name is its own claim.".to_string()
    } else {
        format!("Its identity is published at <code>{}</code> by <strong>{}</strong>.", page::esc(s(&a.client, "id")), page::esc(host))
    };
    let mut scopes = String::new();
    for sc in &a.scopes {
        // After a mistake, what the person chose; at first, everything asked for.
        let checked = error.is_none() || p.has("grant_scope", sc);
        scopes.push_str(&page::checkbox("grant_scope", sc, &page::scope_text(sc), checked));
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
    page::doc(error.map_or(200, |e| e.0), "Sign in to Scale MCP", &body, page::form_target(&a.redirect).as_deref(), cookie)
}

/// `GET /authorize`.
pub(super) async fn get(o: &OAuth<'_>, req: &Request) -> Response {
    let p = match Params::parse(&req.query) {
        Ok(p) => p,
        Err(m) => return page::error_page(400, "This sign-in link is malformed", &m),
    };
    match check(o, &p).await {
        Ok(a) => render(o, req, &p, &a, None).await,
        Err(problem) => answer(problem, 302),
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
        Err(problem) => return answer(problem, 303),
    };
    match page::csrf_check(o, req, &purpose(&a), p.get("csrf")).await {
        Ok(Ok(())) => {}
        Ok(Err(why)) => return page::error_page(403, "This form was not accepted", why).log("oauth: sign-in form refused (CSRF)"),
        Err(e) => return page::down(e),
    }
    if p.get("action") == Some("deny") {
        return answer(back(o, &a.redirect, a.state.as_deref(), "access_denied", "the user declined"), 303);
    }
    let chosen: Vec<&str> = a.scopes.iter().copied().filter(|sc| p.has("grant_scope", sc)).collect();
    let signed_in = match sign_in(o, req, &p, &chosen).await {
        Ok(r) => r,
        Err(e) => return page::down(e),
    };
    let who = match signed_in {
        Ok(w) => w,
        Err((status, msg)) => {
            return render(o, req, &p, &a, Some((status, &msg))).await.log(format!("oauth: sign-in not completed ({status})"));
        }
    };
    match issue_code(o, &a, who).await {
        Ok((code, grant)) => {
            let mut pairs = vec![("code", code.as_str())];
            if let Some(st) = a.state.as_deref() {
                pairs.push(("state", st));
            }
            pairs.push(("iss", &o.issuer));
            answer(Problem::Back(response_url(&a.redirect, &pairs)), 303).log(format!("oauth: code issued for grant {grant}"))
        }
        Err(e) => page::down(e),
    }
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

fn scale_key_shaped(k: &str) -> bool {
    (k.starts_with("live_") || k.starts_with("test_"))
        && (10..=200).contains(&k.len())
        && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The static token `given` is, if any: every one is compared, in constant time.
pub(super) fn static_token(o: &OAuth<'_>, given: &str) -> Option<usize> {
    let mut found = None;
    for (i, t) in o.cfg.mcp_tokens.iter().enumerate() {
        if crate::auth::ct_eq(t.expose().as_bytes(), given.as_bytes()) {
            found = Some(i);
        }
    }
    found
}

/// The first sign-in step both pages share: the method and its secret,
/// rate limited per address. `Ok(Err((status, message)))` for the person.
pub(super) async fn method_and_secret<'p>(o: &OAuth<'_>, req: &Request, p: &'p Params) -> Result<Result<(&'p str, &'p str), (u16, String)>, String> {
    let (method, field, ask) = match p.get("method") {
        Some("own_key") if o.cfg.oauth_byok => ("own_key", "scale_key", "Enter your Scale API key."),
        Some("operator") if !o.cfg.mcp_tokens.is_empty() => ("operator", "operator_token", "Enter an access token from this server's operator."),
        _ => return Ok(Err((400, "Choose how to sign in.".into()))),
    };
    let Some(secret) = p.get(field).map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(Err((400, ask.into())));
    };
    let bucket = format!("{}:{}", if method == "own_key" { "key" } else { "op" }, super::client_ip(req));
    if let Some(wait) = o.limited(bucket, 10, 600).await? {
        return Ok(Err((429, format!("Too many sign-in attempts from your network. Try again in {wait} seconds."))));
    }
    Ok(Ok((method, secret)))
}

/// The tenant ids a Scale key may have, one per server key (newest first).
/// The id is a keyed hash, the same at every sign-in, revealing nothing of
/// the key; trying every server key keeps ids across a rotation.
pub(super) async fn tenant_ids(o: &OAuth<'_>, key: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for k in o.keys().await? {
        out.push(format!("u_{}", &o.keyed(&k, "tenant", key.as_bytes()).await?[..22]));
    }
    Ok(out)
}

async fn sign_in(o: &OAuth<'_>, req: &Request, p: &Params, chosen: &[&'static str]) -> Result<Result<Who, (u16, String)>, String> {
    if chosen.is_empty() {
        return Ok(Err((400, "Choose at least one permission, or press Cancel.".into())));
    }
    let (method, secret) = match method_and_secret(o, req, p).await? {
        Ok(v) => v,
        Err(e) => return Ok(Err(e)),
    };
    if method == "operator" {
        let Some(i) = static_token(o, secret) else {
            return Ok(Err((401, "That is not one of this server's access tokens.".into())));
        };
        let op = o.keyed(&o.keys().await?[0], "operator", secret.as_bytes()).await?;
        return Ok(Ok(Who { tenant: OPERATOR.into(), label: format!("token-{}", i + 1), op: Some(op), scopes: chosen.to_vec(), key: None, billed: false }));
    }
    if !scale_key_shaped(secret) {
        return Ok(Err((400, "That does not look like a Scale API key: it starts with live_ or test_ and has no spaces.".into())));
    }
    let callback = p.get("callback_key").map(str::trim).filter(|v| !v.is_empty());
    if callback.is_some_and(|c| c.len() > 200 || !c.bytes().all(|b| b.is_ascii_graphic())) {
        return Ok(Err((400, "The callback auth key must be printable characters without spaces.".into())));
    }
    // One Scale call proves the key works before any grant exists.
    let mut cfg = o.cfg.clone();
    cfg.scale_api_key = Some(crate::config::Secret::new(secret));
    let budget = crate::io::Budget::new(o.now_ms, 15_000, 1);
    let call = Call::get().lit("tasks").query("limit", "1");
    match Scale::new(&cfg, o.up, &budget).send_raw(&call, Retry::Never).await {
        Ok(_) => {}
        Err(ScaleError::Http { status: status @ (401 | 403), .. }) => {
            return Ok(Err((400, format!("Scale did not accept this key (HTTP {status}). Check that you copied all of it."))));
        }
        Err(e) => {
            let why = match e {
                ScaleError::Http { status, .. } => format!("it answered HTTP {status}"),
                ScaleError::Timeout(_) => "it did not answer in time".into(),
                _ => "it could not be reached".into(),
            };
            return Ok(Err((502, format!("Scale could not check your key: {why}. Try again in a minute."))));
        }
    }
    let ids = tenant_ids(o, secret).await?;
    let ops: Vec<Value> = ids.iter().map(|id| json!(["get", format!("u:{id}")])).collect();
    let found = o.run(Value::Array(ops)).await?.unwrap_or_default();
    let (tenant, mut body) = match ids.iter().zip(&found).find(|(_, b)| b.is_string()) {
        Some((id, b)) => (id.clone(), super::parse(b.as_str().unwrap_or(""))),
        None => (ids[0].clone(), json!({"created": o.now()})),
    };
    if let Some(c) = callback {
        // Only a hash: deliveries to the tenant's webhook are checked against it.
        body["callback_key_hash"] = json!(o.hash(c).await?);
    }
    if callback.is_some() || !found.iter().any(Value::is_string) {
        o.run(json!([["put", format!("u:{tenant}"), "", body.to_string(), 0]])).await?;
    }
    Ok(Ok(Who {
        label: tenant.clone(),
        tenant,
        op: None,
        scopes: chosen.to_vec(),
        key: Some(secret.to_string()),
        billed: secret.starts_with("live_") && p.get("billed") == Some("yes"),
    }))
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
        sealed = json!(base64url(&o.p.crypto.seal(&k, format!("{grant}\n{key}").as_bytes()).await?));
        wrapped = json!(super::wrap_key(o, &code, &k).await?);
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
    let hash = o.hash(&code).await?;
    o.run(json!([["put", format!("c:{hash}"), "", rec.to_string(), o.now() + CODE_TTL]])).await?;
    Ok((code, grant))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_added_to_the_redirect_uri_encoded() {
        assert_eq!(response_url("https://a.example/cb", &[("code", "x y"), ("state", "s&t")]), "https://a.example/cb?code=x%20y&state=s%26t");
        assert_eq!(response_url("https://a.example/cb?k=1", &[("code", "c")]), "https://a.example/cb?k=1&code=c");
    }

    #[test]
    fn scale_key_shapes() {
        assert!(scale_key_shaped("live_abcdef0123456789"));
        assert!(scale_key_shaped("test_e2e_scale_key_7f3a9c"));
        assert!(!scale_key_shaped("sk-abcdef0123456789"));
        assert!(!scale_key_shaped("live_ab cd"));
        assert!(!scale_key_shaped("live_"));
    }
}
