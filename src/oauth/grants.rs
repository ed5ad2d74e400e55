//! `/oauth/grants`: a person signs in again the way they connected (their
//! own Scale key, or an operator token) to see the access they gave and
//! revoke it.
//!
//! Nothing is stored for the page: after sign-in, each revoke form carries a
//! ticket signed with a server key that names the tenant (and, for operator
//! access, the token's keyed hashes) and expires after [`TICKET_TTL`].

use super::access::drop_grant;
use super::issued::{old_tenant, OPERATOR};
use super::page::{self, esc, Form, MethodsPage};
use super::params::{read_form, Params};
use super::record;
use super::server::OAuth;
use super::sign_in::{method_and_secret, Said};
use super::step::{Io, Stop};
use super::tenant::tenants;
use crate::http::{Request, Response};
use crate::io::state::op;
use serde_json::Value;

const TICKET_TTL: u64 = 15 * 60;
const PURPOSE: &str = "grants";

fn sign_in_page(
    o: &OAuth<'_>,
    req: &Request,
    io: &Io,
    p: &Params,
    error: Option<(u16, &str)>,
) -> Result<Response, Stop> {
    let (csrf, cookie) = page::csrf_issue(o, req, io, PURPOSE)?;
    let form = Form {
        action: "/oauth/grants",
        hidden: &[("csrf", &csrf), ("action", "sign_in")],
        methods: page::methods(o, p, MethodsPage::Grants),
        submit: "Show my connections",
        cancel: false,
    };
    let body = format!(
        "<h1>Your connections</h1>{}<p>Sign in the way you signed in when you connected an app, to see the access you gave and revoke it.</p>{}",
        page::alert(error.map(|e| e.1)),
        form.render("")
    );
    Ok(page::doc(
        error.map_or(200, |e| e.0),
        "Your connections",
        &body,
        None,
        cookie,
    ))
}

/// `GET /oauth/grants`.
pub(super) fn get(o: &OAuth<'_>, req: &Request, io: &Io) -> Result<Response, Stop> {
    sign_in_page(o, req, io, &Params(Vec::new()), None)
}

/// `POST /oauth/grants`: sign in, or revoke one grant.
pub(super) fn post(o: &OAuth<'_>, req: &Request, io: &Io) -> Result<Response, Stop> {
    let p = match read_form(req, io)? {
        Ok(p) => p,
        Err(m) => return Ok(page::error_page(400, "This form was not accepted", &m)),
    };
    if let Err(why) = page::csrf_check(o, req, PURPOSE, p.get("csrf")) {
        return Ok(page::error_page(403, "This form was not accepted", why)
            .log("oauth: grants form refused (CSRF)"));
    }
    let said = match p.get("action") {
        Some("revoke") => revoke(o, req, io, &p)?,
        _ => sign_in(o, req, io, &p)?,
    };
    match said {
        Ok(r) => Ok(r),
        Err((status, m)) => sign_in_page(o, req, io, &p, Some((status, &m))),
    }
}

fn sign_in(o: &OAuth<'_>, req: &Request, io: &Io, p: &Params) -> Result<Said<Response>, Stop> {
    let (secret, operator, ops) = match method_and_secret(o, req, io, p)? {
        Ok(v) => v,
        Err(e) => return Ok(Err(e)),
    };
    let ticket = if let Some(token) = operator {
        let label = token.label;
        let mut t = record::new(
            &[
                ("tenant", OPERATOR),
                ("label", &format!("operator token {label}")),
            ],
            &[],
        );
        t["ops"] = Value::from(ops);
        t
    } else {
        let (ids, found) = tenants(o, io, secret)?;
        let Some((id, _)) = ids.iter().zip(found).find(|(_, b)| b.is_string()) else {
            return Ok(Err((
                404,
                "No app has been connected with this Scale key.".into(),
            )));
        };
        record::new(&[("tenant", id), ("label", "your own Scale key")], &[])
    };
    Ok(Ok(list(o, req, io, ticket, None)?))
}

/// The grants `ticket` may see: its tenant's, and for operator access only
/// those made with the same static token.
fn grants_of(io: &Io, ticket: &Value) -> Result<Vec<Value>, Stop> {
    let rows = io
        .store(vec![op("list", record::text(ticket, "tenant"), "", "", 0)])?
        .unwrap_or_default();
    let rows = rows
        .first()
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    Ok(rows
        .iter()
        .map(|row| record::parse(row[1].as_str().unwrap_or("")))
        .filter(|g| {
            let op = record::text(g, "op");
            match ticket["ops"].as_array() {
                Some(hashes) => !op.is_empty() && hashes.iter().any(|h| h == op),
                None => op.is_empty(),
            }
        })
        .collect())
}

fn list(
    o: &OAuth<'_>,
    req: &Request,
    io: &Io,
    mut ticket: Value,
    notice: Option<&str>,
) -> Result<Response, Stop> {
    let grants = grants_of(io, &ticket)?;
    ticket["exp"] = Value::from(o.now() + TICKET_TTL);
    let signed = o.sign("grants", &ticket);
    let (csrf, cookie) = page::csrf_issue(o, req, io, PURPOSE)?;
    let tenant = record::text(&ticket, "tenant");
    let mut body = format!(
        "<h1>Your connections</h1><p>Signed in with {}.</p>",
        esc(record::text(&ticket, "label"))
    );
    if tenant != OPERATOR {
        // Ids of the older shape (no check part) are kept for good, so a
        // callback URL already set at Scale never has to change.
        let kept = if old_tenant(tenant) {
            " It has the earlier form, which keeps working for good: signing in again keeps it."
        } else {
            ""
        };
        body += &format!(
            "<div class=\"card\"><p>Scale callbacks for your account go to <code>{}/webhooks/scale/{}</code>.{kept}</p></div>",
            esc(&o.issuer),
            esc(tenant)
        );
    }
    if let Some(n) = notice {
        body += &format!("<div class=\"card\" role=\"status\">{}</div>", esc(n));
    }
    if grants.is_empty() {
        body += "<p>No app has access.</p>";
    }
    body += "<ul>";
    for g in &grants {
        let hidden = [
            ("csrf", csrf.as_str()),
            ("ticket", &signed),
            ("action", "revoke"),
            ("grant", record::text(g, "id")),
        ];
        let submit = format!("Revoke access for {}", esc(record::text(g, "name")));
        let form = Form {
            action: "/oauth/grants",
            hidden: &hidden,
            methods: String::new(),
            submit: &submit,
            cancel: false,
        };
        body += &format!(
            "<li class=\"card\"><p><strong>{}</strong> — <code>{}</code></p><p class=\"muted\">Sends back to <code>{}</code>. For <code>{}</code>. Connected {}, last refreshed {}.</p>{}</li>",
            esc(record::text(g, "name")),
            esc(record::text(g, "scope")),
            esc(record::text(g, "redirect")),
            esc(record::text(g, "resource")),
            page::utc(record::number(g, "created")),
            page::utc(record::number(g, "refreshed")),
            form.render("")
        );
    }
    body += "</ul>";
    Ok(page::doc(200, "Your connections", &body, None, cookie))
}

fn revoke(o: &OAuth<'_>, req: &Request, io: &Io, p: &Params) -> Result<Said<Response>, Stop> {
    let Some(ticket) = o.verify("grants", p.get("ticket").unwrap_or("")) else {
        return Ok(Err((
            403,
            "Your sign-in on this page has expired. Sign in again.".into(),
        )));
    };
    let id = p.get("grant").unwrap_or("");
    // Only a grant this sign-in may see can be revoked through it.
    let Some(g) = grants_of(io, &ticket)?
        .into_iter()
        .find(|g| record::text(g, "id") == id)
    else {
        return Ok(Ok(list(
            o,
            req,
            io,
            ticket,
            Some("That connection is not yours or was already revoked."),
        )?));
    };
    drop_grant(o, io, id)?;
    let notice = format!("Access for {} was revoked.", record::text(&g, "name"));
    Ok(Ok(list(o, req, io, ticket, Some(&notice))?.log(format!(
        "oauth: grant {id} revoked on the grants page"
    ))))
}
