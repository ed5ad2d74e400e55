//! `/authorize`: the sign-in page and what happens when it is submitted.
//!
//! GET checks the authorization request and shows the page. Every problem
//! with the request is shown on a page that names the app, and nothing is
//! sent to its redirect URI: anyone can register one, so an error redirect
//! made without a person would make this an open redirector. The browser
//! goes back there, with `state` and `iss` (RFC 9207), only once the person
//! has answered: a code, or `access_denied` for Cancel.
//!
//! POST checks the request again, then the CSRF token, then the person's
//! choices: scopes (a subset of those asked for) and a sign-in method — their
//! own Scale key (checked with one Scale call before anything is stored) or
//! one of the operator's static tokens, both rate limited per address
//! (`sign_in`, the step the grants page shares). Only then is a single-use
//! code stored and the browser sent back with `code`, `state` and `iss`.

use super::client;
use super::issued::{hash, shaped, CODE, CODE_TTL, OPERATOR, SCOPES};
use super::page::{self, Form, MethodsPage};
use super::params::{read_form, Params};
use super::record;
use super::redirect::redirect_for;
use super::resource::parse_resource;
use super::seal::seal_scale_key;
use super::server::OAuth;
use super::sign_in::{bucket, failed, method_and_secret, say, Said};
use super::step::{Io, Stop};
use super::tenant::tenants;
use crate::auth::Scope;
use crate::codec::percent_encode;
use crate::http::{Request, Response};
use crate::io::state::op;
use crate::scale::ScaleError;
use serde_json::Value;

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
fn check(
    o: &OAuth<'_>,
    req: &Request,
    io: &Io,
    p: &Params,
) -> Result<Result<Authz, Response>, Stop> {
    let Some(client_id) = p.get("client_id") else {
        return Ok(Err(cannot(
            "The sign-in link names no app (client_id is missing).",
        )));
    };
    Ok(match client::resolve(o, req, io, client_id)? {
        Ok(client) => check_request(o, client, p),
        Err(m) => Err(cannot(&m)),
    })
}

fn check_request(o: &OAuth<'_>, client: Value, p: &Params) -> Result<Authz, Response> {
    // Every problem is shown here, naming the app: the client's redirect URI
    // is whatever its registrant chose, and a redirect made before the person
    // answers would turn a crafted link into a phishing one (RFC 9700 §4.11.2).
    let fail = |why: &str| {
        let host = record::text(&client, "host");
        // A document's publisher, or nothing to go by but the app's own word.
        let from = if host.is_empty() {
            "self-registered here".into()
        } else {
            format!("published by {host}")
        };
        cannot(&format!(
            "{why}. The request came from the app “{}” ({from}); nothing was sent back to it.",
            record::text(&client, "name")
        ))
    };
    let given = p.get("redirect_uri");
    let redirect = redirect_for(&client, given).map_err(fail)?;
    let state = p.get("state");
    if state.is_some_and(|st| st.len() > 2048) {
        return Err(fail("The state is longer than 2048 characters"));
    }
    match p.get("response_type") {
        Some("code") => {}
        None => return Err(fail("The response_type is missing; use code")),
        Some(_) => {
            return Err(fail(
                "The response_type must be code, the only one supported",
            ))
        }
    }
    let challenge = p.get("code_challenge").unwrap_or("");
    if challenge.is_empty() {
        return Err(fail(
            "PKCE is required: send code_challenge with code_challenge_method=S256",
        ));
    }
    if p.get("code_challenge_method") != Some("S256") {
        return Err(fail(
            "The code_challenge_method must be S256 (plain is not accepted)",
        ));
    }
    if !shaped(&format!("{CODE}{challenge}"), CODE) {
        return Err(fail(
            "The code_challenge must be the 43-character base64url SHA-256 of the verifier",
        ));
    }
    let resource = match p.get("resource") {
        None => format!("{}/mcp", o.issuer),
        Some(r) => parse_resource(&o.issuer, r)
            .ok_or_else(|| fail("The resource must be an MCP URL of this server"))?,
    };
    // Unknown scopes are ignored; with none asked for, all are offered.
    let asked = p.get("scope");
    let scopes: Vec<&'static str> = SCOPES
        .into_iter()
        .filter(|sc| asked.is_none_or(|a| a.split(' ').any(|x| x == *sc)))
        .collect();
    if scopes.is_empty() {
        return Err(fail("None of the requested scopes exists here; they are scale:read, scale:write and scale:team"));
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
        record::text(&a.client, "id"),
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
    io: &Io,
    p: &Params,
    a: &Authz,
    error: Option<(u16, &str)>,
) -> Result<Response, Stop> {
    let (csrf, cookie) = page::csrf_issue(o, req, io, &purpose(a))?;
    let mut hidden: Vec<(&str, &str)> = CARRIED
        .iter()
        .filter_map(|k| Some((*k, p.get(k)?)))
        .collect();
    hidden.push(("csrf", &csrf));
    let host = record::text(&a.client, "host");
    let who = if host.is_empty() {
        "It registered itself with this server; its name is its own claim.".to_string()
    } else {
        format!(
            "Its identity is published at <code>{}</code> by <strong>{}</strong>.",
            page::esc(record::text(&a.client, "id")),
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
        methods: page::methods(o, p, MethodsPage::SignIn),
        submit: "Allow access",
        cancel: true,
    };
    let body = format!(
        "<h1>Allow <strong>{}</strong> to use Scale through this server?</h1><p class=\"to\">It will send you back to <strong>{}</strong></p>{}<div class=\"card\"><p>{who}</p>\
<p>After you answer, your browser goes back to <code>{}</code>.</p><p class=\"muted\">Access is for <code>{}</code>.</p></div>{}\
<p class=\"muted\">See and revoke the access you gave at <a href=\"/oauth/grants\">/oauth/grants</a>.</p>",
        page::esc(record::text(&a.client, "name")),
        page::esc(page::redirect_host(&a.redirect)),
        page::alert(error.map(|e| e.1)),
        page::esc(&a.redirect),
        page::esc(&a.resource),
        form.render(&format!("<fieldset><legend>Permissions</legend>{scopes}<small>Uncheck what this app should not be able to do.</small></fieldset>")),
    );
    Ok(page::doc(
        error.map_or(200, |e| e.0),
        "Sign in to Scale MCP",
        &body,
        page::form_target(&a.redirect).as_deref(),
        cookie,
    ))
}

/// `GET /authorize`.
pub(super) fn get(o: &OAuth<'_>, req: &Request, io: &Io) -> Result<Response, Stop> {
    let p = match Params::parse(&req.query) {
        Ok(p) => p,
        Err(m) => return Ok(page::error_page(400, "This sign-in link is malformed", &m)),
    };
    match check(o, req, io, &p)? {
        Ok(a) => render(o, req, io, &p, &a, None),
        Err(r) => Ok(r),
    }
}

/// `POST /authorize`.
pub(super) fn post(o: &OAuth<'_>, req: &Request, io: &Io) -> Result<Response, Stop> {
    let p = match read_form(req, io)? {
        Ok(p) => p,
        Err(m) => return Ok(page::error_page(400, "This form was not accepted", &m)),
    };
    let a = match check(o, req, io, &p)? {
        Ok(a) => a,
        Err(r) => return Ok(r),
    };
    if let Err(why) = page::csrf_check(o, req, &purpose(&a), p.get("csrf")) {
        return Ok(page::error_page(403, "This form was not accepted", why)
            .log("oauth: sign-in form refused (CSRF)"));
    }
    if p.get("action") == Some("deny") {
        return Ok(back(
            o,
            &a.redirect,
            a.state.as_deref(),
            &[
                ("error", "access_denied"),
                ("error_description", "the user declined"),
            ],
        ));
    }
    let chosen: Vec<&'static str> = a
        .scopes
        .iter()
        .copied()
        .filter(|sc| p.has("grant_scope", sc))
        .collect();
    let who = match sign_in(o, req, io, &p, chosen)? {
        Ok(w) => w,
        Err((status, msg)) => {
            return Ok(render(o, req, io, &p, &a, Some((status, &msg)))?
                .log(format!("oauth: sign-in not completed ({status})")))
        }
    };
    let (code, grant) = issue_code(o, io, &a, who)?;
    Ok(back(o, &a.redirect, a.state.as_deref(), &[("code", &code)])
        .log(format!("oauth: code issued for grant {grant}")))
}

/// How a person signed in.
struct Who {
    tenant: String,
    /// For logs and the grants page: the static token's label, or the tenant.
    label: String,
    /// Operator access: the keyed hash of the static token ("" for a user's own key).
    op: String,
    scopes: Vec<&'static str>,
    /// Their own Scale key.
    key: Option<String>,
    billed: bool,
}

fn sign_in(
    o: &OAuth<'_>,
    req: &Request,
    io: &Io,
    p: &Params,
    scopes: Vec<&'static str>,
) -> Result<Said<Who>, Stop> {
    if scopes.is_empty() {
        return say(400, "Choose at least one permission, or press Cancel.");
    }
    let (secret, operator, hashes) = match method_and_secret(o, req, io, p)? {
        Ok(v) => v,
        Err(e) => return Ok(Err(e)),
    };
    if let Some(token) = operator {
        // The grant inherits the static token's label and, at most, its scopes.
        let scopes: Vec<&'static str> = scopes
            .into_iter()
            .filter(|s| Scope::parse(s).is_some_and(|sc| token.scopes.allows(sc)))
            .collect();
        if scopes.is_empty() {
            return say(
                403,
                "That access token allows none of the permissions you chose.",
            );
        }
        return Ok(Ok(Who {
            tenant: OPERATOR.into(),
            label: token.label,
            op: hashes.into_iter().next().unwrap_or_default(),
            scopes,
            key: None,
            billed: false,
        }));
    }
    let shaped = (secret.starts_with("live_") || secret.starts_with("test_"))
        && (10..=200).contains(&secret.len())
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !shaped {
        return say(400, "That does not look like a Scale API key: it starts with live_ or test_ and has no spaces.");
    }
    let callback = p
        .get("callback_key")
        .map(str::trim)
        .filter(|v| !v.is_empty());
    if callback.is_some_and(|c| c.len() > 200 || !c.bytes().all(|b| b.is_ascii_graphic())) {
        return say(
            400,
            "The callback auth key must be printable characters without spaces.",
        );
    }
    // One Scale call proves the key works before any grant exists.
    let why = match io.scale(secret)? {
        Ok(()) => None,
        Err(ScaleError::Http {
            status: status @ (401 | 403),
            ..
        }) => {
            failed(o, io, &bucket("own_key", req))?;
            return Ok(Err((
                400,
                format!(
                "Scale did not accept this key (HTTP {status}). Check that you copied all of it."
            ),
            )));
        }
        Err(ScaleError::Http { status, .. }) => Some(format!("it answered HTTP {status}")),
        Err(ScaleError::Timeout(_)) => Some("it did not answer in time".into()),
        Err(_) => Some("it could not be reached".into()),
    };
    if let Some(why) = why {
        return Ok(Err((
            502,
            format!("Scale could not check your key: {why}. Try again in a minute."),
        )));
    }
    let (ids, found) = tenants(o, io, secret)?;
    let existing = ids.iter().zip(found).find(|(_, b)| b.is_string());
    let (tenant, mut body) = match existing {
        Some((id, b)) => (id.clone(), record::parse(b.as_str().unwrap_or(""))),
        None => (ids[0].clone(), record::new(&[], &[("created", o.now())])),
    };
    if let Some(c) = callback {
        // Only a hash: deliveries to the tenant's webhook are checked against it.
        body["callback_key_hash"] = Value::String(hash(c));
    }
    if callback.is_some() || existing.is_none() {
        io.store(vec![op(
            "put",
            &format!("u:{tenant}"),
            "",
            &body.to_string(),
            0,
        )])?;
    }
    Ok(Ok(Who {
        label: tenant.clone(),
        tenant,
        op: String::new(),
        scopes,
        key: Some(secret.to_string()),
        billed: secret.starts_with("live_") && p.get("billed") == Some("yes"),
    }))
}

/// Stores a single-use code for the grant `who` signs in to; returns the
/// code and the grant id. A user's Scale key is sealed under a new grant key
/// that only the code (and later each token) unwraps.
fn issue_code(o: &OAuth<'_>, io: &Io, a: &Authz, who: Who) -> Result<(String, String), Stop> {
    let grant = format!("g_{}", io.random(16)?);
    let code = format!("{CODE}{}", io.random(32)?);
    let (sealed, wrapped) = match &who.key {
        Some(key) => seal_scale_key(io, &grant, key, &code)?,
        None => Default::default(),
    };
    let rec = record::new(
        &[
            ("id", &grant),
            ("client", record::text(&a.client, "id")),
            ("name", record::text(&a.client, "name")),
            ("redirect", &a.redirect),
            ("challenge", &a.challenge),
            ("scope", &who.scopes.join(" ")),
            ("resource", &a.resource),
            ("tenant", &who.tenant),
            ("label", &who.label),
            ("op", &who.op),
            ("sealed", &sealed),
            ("wrapped", &wrapped),
        ],
        &[
            ("redirect_given", a.given as u64),
            ("billed", who.billed as u64),
            ("created", o.now()),
        ],
    );
    io.store(vec![op(
        "put",
        &format!("c:{}", hash(&code)),
        "",
        &rec.to_string(),
        o.now() + CODE_TTL,
    )])?;
    Ok((code, grant))
}
