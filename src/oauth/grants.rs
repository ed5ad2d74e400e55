//! `/oauth/grants`: a person signs in again the way they connected (their
//! own Scale key, or an operator token) to see the access they gave and
//! revoke it.
//!
//! Nothing is stored for the page: after sign-in, each revoke form carries a
//! ticket signed with a server key that names the tenant (and, for operator
//! access, the token's keyed hashes) and expires after [`TICKET_TTL`].

use super::authorize::{method_and_secret, tenants, Stop};
use super::page::{self, esc, Form};
use super::{parse, s, OAuth, Params, OPERATOR};
use crate::http::{Request, Response};
use serde_json::{json, Value};

const TICKET_TTL: u64 = 15 * 60;
const PURPOSE: &str = "grants";

fn sign_in_page(o: &OAuth<'_>, req: &Request, p: &Params, error: Option<(u16, &str)>) -> Response {
    let (csrf, cookie) = match page::csrf_issue(o, req, PURPOSE) {
        Ok(v) => v,
        Err(e) => return page::down(e),
    };
    let form = Form {
        action: "/oauth/grants",
        hidden: &[("csrf", &csrf), ("action", "sign_in")],
        methods: page::methods(o, p, false),
        submit: "Show my connections",
        cancel: false,
    };
    let body = format!(
        "<h1>Your connections</h1>{}<p>Sign in the way you signed in when you connected an app, to see the access you gave and revoke it.</p>{}",
        page::alert(error.map(|e| e.1)),
        form.render("")
    );
    page::doc(
        error.map_or(200, |e| e.0),
        "Your connections",
        &body,
        None,
        cookie,
    )
}

/// `GET /oauth/grants`.
pub(super) async fn get(o: &OAuth<'_>, req: &Request) -> Response {
    sign_in_page(o, req, &Params(Vec::new()), None)
}

/// `POST /oauth/grants`: sign in, or revoke one grant.
pub(super) async fn post(o: &OAuth<'_>, req: &Request) -> Response {
    let p = match super::read_form(req).await {
        Ok(p) => p,
        Err(m) => return page::error_page(400, "This form was not accepted", &m),
    };
    if let Err(why) = page::csrf_check(o, req, PURPOSE, p.get("csrf")) {
        return page::error_page(403, "This form was not accepted", why)
            .log("oauth: grants form refused (CSRF)");
    }
    let r = match p.get("action") {
        Some("revoke") => revoke(o, req, &p).await,
        _ => sign_in(o, req, &p).await,
    };
    match r {
        Ok(r) => r,
        Err(Stop::Say(status, m)) => sign_in_page(o, req, &p, Some((status, &m))),
        Err(Stop::Down(e)) => page::down(e),
    }
}

async fn sign_in(o: &OAuth<'_>, req: &Request, p: &Params) -> Result<Response, Stop> {
    let (secret, label, ops) = method_and_secret(o, req, p).await?;
    let ticket = if !label.is_empty() {
        json!({"tenant": OPERATOR, "ops": ops, "label": format!("operator token {label}")})
    } else {
        let (ids, found) = tenants(o, secret).await?;
        let Some((id, _)) = ids.iter().zip(&found).find(|(_, b)| b.is_string()) else {
            return Err(Stop::Say(
                404,
                "No app has been connected with this Scale key.".into(),
            ));
        };
        json!({"tenant": id, "label": "your own Scale key"})
    };
    Ok(list(o, req, ticket, None).await?)
}

/// The grants `ticket` may see: its tenant's, and for operator access only
/// those made with the same static token.
async fn grants_of(o: &OAuth<'_>, ticket: &Value) -> Result<Vec<Value>, String> {
    let rows = o
        .run(json!([["list", s(ticket, "tenant")]]))
        .await?
        .unwrap_or_default();
    let rows = rows
        .first()
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    Ok(rows
        .iter()
        .map(|row| parse(row[1].as_str().unwrap_or("")))
        .filter(|g| {
            let op = s(g, "op");
            match ticket["ops"].as_array() {
                Some(hashes) => !op.is_empty() && hashes.iter().any(|h| h == op),
                None => op.is_empty(),
            }
        })
        .collect())
}

async fn list(
    o: &OAuth<'_>,
    req: &Request,
    mut ticket: Value,
    notice: Option<&str>,
) -> Result<Response, String> {
    let grants = grants_of(o, &ticket).await?;
    ticket["exp"] = json!(o.now() + TICKET_TTL);
    let signed = o.sign("grants", &ticket);
    let (csrf, cookie) = page::csrf_issue(o, req, PURPOSE)?;
    let tenant = s(&ticket, "tenant");
    let mut body = format!(
        "<h1>Your connections</h1><p>Signed in with {}.</p>",
        esc(s(&ticket, "label"))
    );
    if tenant != OPERATOR {
        body += &format!(
            "<div class=\"card\"><p>Scale callbacks for your account go to <code>{}/webhooks/scale/{}</code>.</p></div>",
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
            ("grant", s(g, "id")),
        ];
        let submit = format!("Revoke access for {}", esc(s(g, "name")));
        let form = Form {
            action: "/oauth/grants",
            hidden: &hidden,
            methods: String::new(),
            submit: &submit,
            cancel: false,
        };
        body += &format!(
            "<li class=\"card\"><p><strong>{}</strong> — <code>{}</code></p><p class=\"muted\">Sends back to <code>{}</code>. For <code>{}</code>. Connected {}, last refreshed {}.</p>{}</li>",
            esc(s(g, "name")),
            esc(s(g, "scope")),
            esc(s(g, "redirect")),
            esc(s(g, "resource")),
            page::utc(super::n(g, "created")),
            page::utc(super::n(g, "refreshed")),
            form.render("")
        );
    }
    body += "</ul>";
    Ok(page::doc(200, "Your connections", &body, None, cookie))
}

async fn revoke(o: &OAuth<'_>, req: &Request, p: &Params) -> Result<Response, Stop> {
    let Some(ticket) = o.verify("grants", p.get("ticket").unwrap_or("")) else {
        return Err(Stop::Say(
            403,
            "Your sign-in on this page has expired. Sign in again.".into(),
        ));
    };
    let id = p.get("grant").unwrap_or("");
    // Only a grant this sign-in may see can be revoked through it.
    let Some(g) = grants_of(o, &ticket)
        .await?
        .into_iter()
        .find(|g| s(g, "id") == id)
    else {
        return Ok(list(
            o,
            req,
            ticket,
            Some("That connection is not yours or was already revoked."),
        )
        .await?);
    };
    o.drop_grant(id).await?;
    let notice = format!("Access for {} was revoked.", s(&g, "name"));
    Ok(list(o, req, ticket, Some(&notice))
        .await?
        .log(format!("oauth: grant {id} revoked on the grants page")))
}
