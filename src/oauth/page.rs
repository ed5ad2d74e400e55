//! The HTML the worker serves (the sign-in page, the grants page, error
//! pages) and the CSRF protection of their forms. Self-contained: one inline
//! stylesheet allowed by its hash, no script, no external asset, strict CSP
//! with `frame-ancestors 'none'`. Every outside value is escaped. Plain HTML
//! forms, so they work with a keyboard, a screen reader and on a phone.

use super::params::Params;
use super::server::OAuth;
use super::step::{Io, Stop};
use crate::http::{Request, Response};

const CSS: &str = ":root{color-scheme:light dark;--fg:#1b1f24;--mu:#59636e;--bg:#fff;--card:#f6f8fa;--line:#d1d9e0;--ac:#0a58ca;--err:#b42318}\
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--mu:#9198a1;--bg:#0d1117;--card:#161b22;--line:#3d444d;--ac:#4493f8;--err:#ff7b72}}\
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,sans-serif;color:var(--fg);background:var(--bg)}\
main{max-width:36rem;margin:0 auto;padding:1.5rem 1rem 3rem}h1{font-size:1.4rem;line-height:1.3}\
fieldset{border:1px solid var(--line);border-radius:.5rem;margin:0 0 1rem;padding:.75rem 1rem}legend{font-weight:600}\
label{display:block;margin:.6rem 0 .25rem}.opt{display:flex;gap:.6rem;align-items:flex-start}.opt label{margin:0}\
.opt input{margin-top:.3rem;width:1.15rem;height:1.15rem;flex:none}.sub{margin:0 0 .5rem 1.75rem}.muted,small{color:var(--mu)}\
input[type=password]{width:100%;font:inherit;padding:.6rem;border:1px solid var(--line);border-radius:.4rem;background:var(--bg);color:var(--fg)}\
button{font:inherit;font-weight:600;padding:.7rem 1.2rem;min-height:2.75rem;border-radius:.4rem;border:1px solid var(--ac);background:var(--ac);color:#fff;margin:1rem .75rem 0 0}\
button.secondary{background:transparent;color:var(--ac)}:focus-visible{outline:3px solid var(--ac);outline-offset:2px}\
.error{border:1px solid var(--err);color:var(--err);border-radius:.5rem;padding:.75rem 1rem}\
.card{background:var(--card);border:1px solid var(--line);border-radius:.5rem;padding:.75rem 1rem;margin:0 0 1rem;overflow-wrap:anywhere}\
code{font-family:ui-monospace,monospace;overflow-wrap:anywhere}ul{list-style:none;padding:0}.to{font-size:1.15rem;overflow-wrap:anywhere}";

/// The CSP source of [`CSS`]; a test recomputes it, so an edit to the
/// stylesheet that forgets this fails there, not in a browser.
pub(super) const STYLE_HASH: &str = "sha256-IMYgR4hbExUFy9/MQgMDB7qmfk6bTEd55Ib0oG6UaD4=";

/// Text for HTML element content and quoted attributes.
pub(super) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A page. `form_target` is the one other place a form may lead (a client's
/// redirect URI: browsers check `form-action` against where a submission is
/// redirected); `cookie` a `Set-Cookie` value.
#[inline(never)]
pub(super) fn doc(
    status: u16,
    title: &str,
    body: &str,
    form_target: Option<&str>,
    cookie: Option<String>,
) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{title}</title><style>{CSS}</style></head><body><main>{body}</main></body></html>"
    );
    let csp = format!(
        "default-src 'none'; style-src '{STYLE_HASH}'; form-action 'self'{}{}; frame-ancestors 'none'; base-uri 'none'",
        if form_target.is_some() { " " } else { "" },
        form_target.unwrap_or("")
    );
    let r = Response::new(status)
        .header("content-type", "text/html; charset=utf-8")
        .header("cache-control", "no-store")
        .header("content-security-policy", &csp)
        .header("x-frame-options", "DENY")
        .header("x-content-type-options", "nosniff")
        // Not `no-referrer`: under it browsers send `Origin: null` with the
        // page's own form posts, and the CSRF check refuses every sign-in.
        // `same-origin` still gives no other site the page's URL.
        .header("referrer-policy", "same-origin")
        .body(html.into_bytes());
    match cookie {
        Some(c) => r.header("set-cookie", &c),
        None => r,
    }
}

/// A page that explains a problem and what to do; it never redirects.
#[inline(never)]
pub(super) fn error_page(status: u16, title: &str, message: &str) -> Response {
    let body = format!(
        "<h1>{}</h1>{}<p class=\"muted\">Go back to the app you were connecting and start again.</p>",
        esc(title),
        alert(Some(message))
    );
    doc(status, &esc(title), &body, None, None)
}

/// 503 for a platform failure (logged, never shown).
#[inline(never)]
pub(super) fn down(e: String) -> Response {
    error_page(
        503,
        "Sign-in is unavailable",
        "The server cannot complete this right now. Try again in a minute.",
    )
    .header("retry-after", "5")
    .log(format!("oauth: {e}"))
}

pub(super) fn alert(error: Option<&str>) -> String {
    error.map_or(String::new(), |e| {
        format!(
            "<div class=\"error\" role=\"alert\" id=\"problem\">{}</div>",
            esc(e)
        )
    })
}

pub(super) fn checkbox(name: &str, value: &str, label: &str, checked: bool) -> String {
    let id = format!("{name}_{}", value.replace(':', "_"));
    format!(
        "<div class=\"opt\"><input type=\"checkbox\" name=\"{name}\" id=\"{id}\" value=\"{value}\"{}><label for=\"{id}\">{label}</label></div>",
        if checked { " checked" } else { "" }
    )
}

/// What a scope lets an app do, for the person granting it.
pub(super) fn scope_text(scope: &str) -> String {
    let what = match scope {
        "scale:read" => "Read tasks, batches, projects, teammates and callback deliveries",
        "scale:write" => "Create, change and cancel tasks, batches and projects (includes reading)",
        _ => "Invite teammates and change their roles (includes reading)",
    };
    format!("<code>{scope}</code> — {what}")
}

fn password(id: &str, label: &str, help: &str) -> String {
    format!(
        "<label for=\"{id}\">{label}</label><input type=\"password\" id=\"{id}\" name=\"{id}\" autocomplete=\"off\" spellcheck=\"false\" autocapitalize=\"off\"><small>{help}</small>"
    )
}

/// The page the sign-in methods are shown on.
pub(super) enum MethodsPage {
    /// The sign-in page, which also asks an own-key user for a callback
    /// auth key and whether billed work is allowed.
    SignIn,
    /// The grants page, which asks only how to sign in.
    Grants,
}

/// The sign-in methods the operator enabled, for `on`. What the person
/// chose before a mistake stays.
pub(super) fn methods(o: &OAuth<'_>, p: &Params, on: MethodsPage) -> String {
    let (own, op) = (o.cfg.oauth_byok, !o.tokens.is_empty());
    let chosen = p
        .get("method")
        .unwrap_or(if own { "own_key" } else { "operator" });
    let choice = |value: &str, label: &str| {
        if own && op {
            format!(
                "<div class=\"opt\"><input type=\"radio\" name=\"method\" id=\"m_{value}\" value=\"{value}\"{}><label for=\"m_{value}\"><strong>{label}</strong></label></div>",
                if chosen == value { " checked" } else { "" }
            )
        } else {
            format!("<input type=\"hidden\" name=\"method\" value=\"{value}\"><p><strong>{label}</strong></p>")
        }
    };
    let mut out = String::from("<fieldset><legend>Sign in with</legend>");
    if own {
        out += &choice("own_key", "Your own Scale API key");
        out += "<div class=\"sub\">";
        out += &password("scale_key", "Scale API key (<code>live_…</code> or <code>test_…</code>)", "Checked with one call to Scale, then stored encrypted so that only this connection's tokens can open it.");
        if let MethodsPage::SignIn = on {
            out += &password(
                "callback_key",
                "Scale callback auth key (optional)",
                "Kept only as a hash, to check Scale's callbacks for your account.",
            );
            out += &checkbox("billed", "yes", "With a <code>live_</code> key, allow billed work: creating tasks and finalizing batches. Leave unchecked to allow only reads and free changes.", p.get("billed") == Some("yes"));
        }
        out += "</div>";
    }
    if op {
        out += &choice("operator", "Operator access");
        out += "<div class=\"sub\">";
        out += &password(
            "operator_token",
            "An access token from this server's operator",
            "Uses the operator's Scale account, with that token's permissions.",
        );
        out += "</div>";
    }
    out + "</fieldset>"
}

/// A form posted back to this worker.
pub(super) struct Form<'a> {
    pub action: &'a str,
    pub hidden: &'a [(&'a str, &'a str)],
    pub methods: String,
    pub submit: &'a str,
    /// A Cancel button (`action=deny`) after the submit button, which is
    /// what Enter presses.
    pub cancel: bool,
}

impl Form<'_> {
    /// The form with `fields` before the sign-in methods.
    pub(super) fn render(&self, fields: &str) -> String {
        let mut out = format!("<form method=\"post\" action=\"{}\">", self.action);
        for (k, v) in self.hidden {
            out += &hidden(k, v);
        }
        out += fields;
        out += &self.methods;
        // A browser sends the pressed button's name with the form. Only a form
        // with Cancel needs it; the others say what they do in a hidden
        // `action`, and a second `action` would make the form a duplicate
        // parameter, refused.
        let name = if self.cancel {
            " name=\"action\" value=\"approve\""
        } else {
            ""
        };
        out += &format!("<button type=\"submit\"{name}>{}</button>", self.submit);
        if self.cancel {
            out += "<button type=\"submit\" name=\"action\" value=\"deny\" class=\"secondary\">Cancel</button>";
        }
        out + "</form>"
    }
}

pub(super) fn hidden(name: &str, value: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
        esc(name),
        esc(value)
    )
}

/// The `form-action` source for a redirect URI: its origin, or its scheme
/// for an app's own scheme; `None` if it cannot be written safely.
pub(super) fn form_target(redirect: &str) -> Option<String> {
    let (scheme, rest) = redirect.split_once(':')?;
    if scheme == "http" || scheme == "https" {
        let authority = rest.strip_prefix("//")?.split(['/', '?']).next()?;
        let ok = !authority.is_empty()
            && authority
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
        return ok.then(|| format!("{scheme}://{authority}"));
    }
    scheme
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        .then(|| format!("{scheme}:"))
}

/// Where a redirect URI leads, as a person would judge it: the host (and
/// port) of an https URI, else the scheme and authority (`http://127.0.0.1:3000`,
/// `cursor://anysphere.cursor-retrieval`, `com.example.app:`).
pub(super) fn redirect_host(u: &str) -> &str {
    let end = match u.split_once("://") {
        Some((s, r)) => s.len() + 3 + r.find(['/', '?']).unwrap_or(r.len()),
        None => u.find(':').map_or(u.len(), |i| i + 1),
    };
    let shown = &u[..end];
    shown.strip_prefix("https://").unwrap_or(shown)
}

/// `YYYY-MM-DD HH:MM UTC` for Unix seconds.
pub(super) fn utc(secs: u64) -> String {
    let iso = crate::codec::iso_from_ms(secs * 1000);
    format!("{} {} UTC", &iso[..10], &iso[11..16])
}

// CSRF: signed double submit. The page sets a random cookie (`HttpOnly`,
// `SameSite=Lax`; `__Host-` and `Secure` on https) and puts in the form a
// MAC, under a server key, of that cookie, the time and what the form is for
// (the authorization request it answers). A submission is accepted only with
// the same cookie, a fresh time and a matching MAC, and never from a page of
// another site (`Origin`, `Sec-Fetch-Site`). `Lax`, not `Strict`: the page is
// opened by a navigation from the client's site, and a `Strict` cookie would
// not come back on it, so a second sign-in tab would replace the first's.

/// How long a rendered form can be submitted.
const FORM_TTL: u64 = 3600;

fn cookie_name(req: &Request) -> &'static str {
    if req.self_origin.starts_with("https://") {
        "__Host-smcp_csrf"
    } else {
        "smcp_csrf"
    }
}

/// The CSRF cookie of the request, if it is there exactly once and well formed.
fn cookie(req: &Request) -> Option<&str> {
    let name = cookie_name(req);
    let mut found = req
        .header("cookie")
        .unwrap_or("")
        .split(';')
        .filter_map(|part| {
            part.trim()
                .split_once('=')
                .filter(|(k, _)| *k == name)
                .map(|(_, v)| v)
        });
    let v = found.next().filter(|_| found.next().is_none())?;
    (v.len() == 22
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    .then_some(v)
}

fn csrf_data(nonce: &str, ts: u64, purpose: &str) -> Vec<u8> {
    format!("{nonce}\n{ts}\n{purpose}").into_bytes()
}

/// A form token for `purpose`, and the `Set-Cookie` value when the browser
/// has no cookie yet.
pub(super) fn csrf_issue(
    o: &OAuth<'_>,
    req: &Request,
    io: &Io,
    purpose: &str,
) -> Result<(String, Option<String>), Stop> {
    let (nonce, set) = match cookie(req) {
        Some(n) => (n.to_string(), None),
        None => {
            let n = io.random(16)?;
            let secure = if cookie_name(req).starts_with("__Host-") {
                "; Secure"
            } else {
                ""
            };
            let set = format!(
                "{}={n}; Path=/; HttpOnly; SameSite=Lax; Max-Age={FORM_TTL}{secure}",
                cookie_name(req)
            );
            (n, Some(set))
        }
    };
    let ts = o.now();
    Ok((
        format!("{ts}.{}", o.mac("csrf", &csrf_data(&nonce, ts, purpose))),
        set,
    ))
}

/// Checks a submitted form token; `Err(why)` is shown to the person.
pub(super) fn csrf_check(
    o: &OAuth<'_>,
    req: &Request,
    purpose: &str,
    token: Option<&str>,
) -> Result<(), &'static str> {
    let site_ok = req
        .header("sec-fetch-site")
        .is_none_or(|v| matches!(v.trim(), "same-origin" | "none"));
    let origin_ok = req.header("origin").is_none_or(|v| {
        let v = v.trim().to_ascii_lowercase();
        v == req.self_origin || v == o.issuer
    });
    if !site_ok || !origin_ok {
        return Err("This form was sent from another site, so it was not accepted.");
    }
    let Some(nonce) = cookie(req) else {
        return Err("Your browser did not send this page's cookie back. Allow cookies for this site, then open the sign-in link again.");
    };
    let Some((ts, mac)) = token
        .and_then(|t| t.split_once('.'))
        .and_then(|(ts, mac)| Some((ts.parse::<u64>().ok()?, mac)))
    else {
        return Err(FOREIGN);
    };
    if ts + FORM_TTL < o.now() || ts > o.now() + 60 {
        return Err("This page is more than an hour old. Open the sign-in link again.");
    }
    if o.mac_ok("csrf", &csrf_data(nonce, ts, purpose), mac) {
        Ok(())
    } else {
        Err(FOREIGN)
    }
}

const FOREIGN: &str =
    "This form does not belong to this sign-in request. Open the sign-in link again.";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::sha256;

    #[test]
    fn the_style_hash_is_the_stylesheets() {
        assert_eq!(
            STYLE_HASH,
            format!("sha256-{}", crate::codec::base64(&sha256(CSS.as_bytes())))
        );
    }

    #[test]
    fn a_forms_buttons_never_repeat_a_hidden_field() {
        // What a browser sends: the hidden fields and the pressed button.
        for (hidden, cancel) in [(&[("action", "revoke")][..], false), (&[][..], true)] {
            let html = Form {
                action: "/x",
                hidden,
                methods: String::new(),
                submit: "Go",
                cancel,
            }
            .render("");
            for button in html.split("<button").skip(1) {
                let tag = button.split('>').next().unwrap();
                for (k, _) in hidden {
                    assert!(!tag.contains(&format!("name=\"{k}\"")), "{html}");
                }
            }
            assert_eq!(html.contains("value=\"deny\""), cancel);
        }
    }

    #[test]
    fn escaping_and_form_targets() {
        assert_eq!(
            esc(r#"<a href="x" onclick='y'>&</a>"#),
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
        assert_eq!(
            form_target("https://claude.ai/api/mcp/auth_callback").as_deref(),
            Some("https://claude.ai")
        );
        assert_eq!(
            form_target("http://127.0.0.1:5173/cb").as_deref(),
            Some("http://127.0.0.1:5173")
        );
        assert_eq!(
            form_target("cursor://anysphere/cb").as_deref(),
            Some("cursor:")
        );
        assert_eq!(form_target("https://a;b/cb"), None);
        for (uri, host) in [
            ("https://claude.ai/api/mcp/auth_callback", "claude.ai"),
            ("https://evil.example:8443?x=/y", "evil.example:8443"),
            ("http://127.0.0.1:5173/cb", "http://127.0.0.1:5173"),
            (
                "cursor://anysphere.cursor-retrieval/oauth/cb",
                "cursor://anysphere.cursor-retrieval",
            ),
            ("com.example.app:/oauth2redirect", "com.example.app:"),
        ] {
            assert_eq!(redirect_host(uri), host);
        }
        assert_eq!(utc(1_767_225_600 + 3_723), "2026-01-01 01:02 UTC");
    }
}
