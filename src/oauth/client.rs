//! OAuth clients: who they are, where they may be sent back to, and how they
//! authenticate at the token endpoint. Neither kind needs a table:
//! - **Metadata-document clients** (CIMD): the `client_id` is an https URL
//!   whose JSON document names the client and its redirect URIs. It is
//!   fetched through the guard of [`document_host`] (no redirects, 32 KiB,
//!   4 s) and kept in the isolate's memo for 5 minutes; a failure is kept
//!   for a minute, and an address may cause only so many fetches. They are
//!   public clients (`none`).
//! - **Dynamically registered clients** (RFC 7591, kept for compatibility):
//!   the registration (name, redirect URIs, auth method, expiry; nothing
//!   secret) is carried in the `client_id` itself, signed with a server key
//!   so that it cannot be changed; the secret, when there is one, is a keyed
//!   hash of the id.
//!
//! A client is a JSON object: `id`, `name`, `redirects`, `auth` (`none`,
//! `client_secret_post` or `client_secret_basic`) and, for a document,
//! `host` (who published it).

use super::step::{Io, Stop};
use super::{oauth_error, s, OAuth, Params, CLIENT_TTL};
use crate::http::{Request, Response};
use crate::json::truncate;
use serde_json::Value;

const DCR: &str = "smcp_c_";
const DCR_SECRET: &str = "smcp_cs_";
/// Document fetches one address may cause, per window (seconds): the URL is
/// the caller's choice, so without a limit the worker would be a free relay.
const CIMD_FETCHES: (u64, u64) = (30, 600);
const AUTH_METHODS: [&str; 3] = ["none", "client_secret_post", "client_secret_basic"];

/// The host of a client id URL that may be fetched, or why it may not. The
/// URL is the caller's choice and the worker fetches it, so only https on
/// the default port naming a public DNS name passes: no IP literal in any
/// notation (WHATWG URL parsing reads a host whose last label is a number,
/// decimal or `0x` hex, as IPv4: `127.1`, `2130706433`, `0x7f.0.0.1`), no
/// loopback or private-use names, no credentials, fragment or dot segments.
/// A public name whose DNS points at a private address is not caught here;
/// Workers reach only the public Internet.
pub(super) fn document_host(url: &str) -> Result<&str, &'static str> {
    if url.len() > 2048 || url.bytes().any(|b| !b.is_ascii_graphic()) {
        return Err("it must be a plain ASCII URL of at most 2048 characters");
    }
    let rest = url
        .strip_prefix("https://")
        .ok_or("it must be an https URL")?;
    if url.contains('#') {
        return Err("it must not have a fragment");
    }
    let (authority, path) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    if authority.contains('@') {
        return Err("it must not carry credentials");
    }
    let host = match authority.split_once(':') {
        Some((h, "443")) => h,
        Some(_) if !authority.starts_with('[') => return Err("it must use the default https port"),
        _ => authority,
    };
    let labels: Vec<&str> = host.split('.').collect();
    let last = labels[labels.len() - 1];
    if host.starts_with('[')
        || last.bytes().all(|b| b.is_ascii_digit())
        || last
            .strip_prefix("0x")
            .is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err("its host must be a DNS name, not an IP address");
    }
    if host.len() > 253
        || labels.len() < 2
        || !labels.iter().all(|l| {
            (1..=63).contains(&l.len())
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
    {
        return Err("its host must be a public, lower-case DNS name");
    }
    if [
        "localhost",
        "local",
        "internal",
        "intranet",
        "lan",
        "home",
        "corp",
        "arpa",
        "onion",
    ]
    .contains(&last)
    {
        return Err("its host is not a public name");
    }
    let path = path.split('?').next().unwrap_or("");
    if path.len() < 2 {
        return Err("it must have a path (a client id is a document URL, not a site)");
    }
    if path.split('/').any(super::dot_segment) {
        return Err("it must not have dot segments");
    }
    Ok(host)
}

/// Why a redirect URI cannot be registered, if it cannot.
fn redirect_problem(u: &str) -> Option<&'static str> {
    if u.len() > 2000 || u.bytes().any(|b| !b.is_ascii_graphic()) {
        return Some("must be a plain ASCII URI of at most 2000 characters");
    }
    if u.contains('#') {
        return Some("must not have a fragment");
    }
    let Some((scheme, rest)) = u.split_once(':') else {
        return Some("must be an absolute URI");
    };
    if scheme.is_empty()
        || !scheme.starts_with(|c: char| c.is_ascii_lowercase())
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b))
    {
        return Some("must start with a lower-case scheme");
    }
    match scheme {
        "https" => {
            let authority = rest
                .strip_prefix("//")
                .unwrap_or("")
                .split(['/', '?'])
                .next()
                .unwrap_or("");
            (authority.is_empty() || authority.contains('@')).then_some("must name a host")
        }
        "http" => loopback(u)
            .is_none()
            .then_some("may use http only on a loopback host (127.0.0.1, [::1] or localhost)"),
        "javascript" | "data" | "file" | "vbscript" | "about" | "blob" | "ftp" | "ws" | "wss"
        | "mailto" | "tel" => Some("uses a scheme that cannot receive an authorization response"),
        _ => rest.is_empty().then_some("must be an absolute URI"),
    }
}

/// `(host, path and query)` of an `http://` URI on a loopback host.
fn loopback(u: &str) -> Option<(&str, &str)> {
    let rest = u.strip_prefix("http://")?;
    let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let origin = crate::http::origin_of(&format!("http://{authority}"))?;
    let host = crate::http::hostname_of(&origin);
    let host = &authority[..host.len().min(authority.len())];
    let ok = host == "localhost" || host == "[::1]" || {
        let parts: Vec<&str> = host.split('.').collect();
        parts.len() == 4 && parts[0] == "127" && parts.iter().all(|p| p.parse::<u8>().is_ok())
    };
    (ok && !authority.contains('@')).then_some((host, tail))
}

/// Exact match, except that a loopback redirect URI matches on any port
/// (RFC 8252 §7.3): native apps and `npm run dev` clients pick one.
fn redirect_matches(registered: &str, given: &str) -> bool {
    registered == given
        || matches!((loopback(registered), loopback(given)), (Some(a), Some(b)) if a == b)
}

/// The redirect URI for an authorization request: the one given if the
/// client registered it, or its only one when none is given.
pub(super) fn redirect_for(client: &Value, given: Option<&str>) -> Result<String, &'static str> {
    let uris = client["redirects"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    match given {
        Some(g) if uris.iter().any(|r| redirect_matches(r.as_str().unwrap_or(""), g)) => Ok(g.to_string()),
        Some(_) => Err("The redirect_uri is not one this app registered, so this server will not send anything there"),
        None if uris.len() == 1 => Ok(uris[0].as_str().unwrap_or("").to_string()),
        None => Err("The request has no redirect_uri, and this app registered several"),
    }
}

/// The Unicode format characters (general category Cf, Unicode 16), as
/// inclusive ranges. Invisible, and some reorder or hide the text around
/// them: a right-to-left override makes "edualC" read "Claude".
const FORMAT: [(u32, u32); 21] = [
    (0xAD, 0xAD),
    (0x600, 0x605),
    (0x61C, 0x61C),
    (0x6DD, 0x6DD),
    (0x70F, 0x70F),
    (0x890, 0x891),
    (0x8E2, 0x8E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
];

/// A client name fit to show: no control or format characters, at most 80
/// characters.
#[inline(never)]
fn display_name(raw: Option<&str>, fallback: &str) -> String {
    let clean: String = raw
        .unwrap_or("")
        .chars()
        .filter(|&c| {
            let c32 = c as u32;
            !c.is_control() && !FORMAT.iter().any(|&(lo, hi)| (lo..=hi).contains(&c32))
        })
        .take(80)
        .collect();
    let clean = clean.trim();
    if clean.is_empty() { fallback } else { clean }.to_string()
}

/// The checked `redirect_uris` of a document or registration.
fn redirect_uris(v: &Value) -> Result<Value, String> {
    let uris = v
        .get("redirect_uris")
        .and_then(Value::as_array)
        .ok_or("`redirect_uris` must be a list of URIs")?;
    if uris.is_empty() || uris.len() > 10 {
        return Err("`redirect_uris` must list 1 to 10 URIs".into());
    }
    for u in uris {
        let u = u.as_str().ok_or("`redirect_uris` must list strings")?;
        if let Some(p) = redirect_problem(u) {
            return Err(format!("redirect URI `{}` {p}", truncate(u, 100)));
        }
    }
    Ok(Value::Array(uris.clone()))
}

/// Finds the client a `client_id` names: `Ok(Err(message))` when it cannot
/// be used (shown to the person, or an `invalid_client` answer). A document
/// not remembered is fetched, counted against the caller's address.
pub(super) fn resolve(
    o: &OAuth<'_>,
    req: &Request,
    io: &Io,
    id: &str,
) -> Result<Result<Value, String>, Stop> {
    if let Some(signed) = id.strip_prefix(DCR) {
        return Ok(match o.verify("dcr", signed) {
            Some(mut r) => {
                r["id"] = Value::from(id);
                // Ids signed before format characters were stripped carry names with them.
                r["name"] = display_name(r["name"].as_str(), "Unnamed app").into();
                Ok(r)
            }
            None => Err("This client_id was not issued by this server, has expired, or was signed with a key that was rotated out; the app must register again.".into()),
        });
    }
    if !id.contains("://") {
        return Ok(Err("Unknown client_id: it is neither a client metadata document URL (https) nor one this server registered.".into()));
    }
    let why = match document_host(id) {
        Ok(host) => {
            let got = match io.document(id, false)? {
                Some(got) => got,
                None => {
                    let (limit, window) = CIMD_FETCHES;
                    let bucket = format!("doc:{}", super::client_ip(req));
                    if let Some(wait) = o.limited(io, &[(bucket, limit, window)])? {
                        return Ok(Err(format!("Too many app metadata documents were fetched for your network. Try again in {wait} seconds.")));
                    }
                    io.document(id, true)?
                        .ok_or_else(super::step::out_of_step)?
                }
            };
            match got {
                Ok(body) => match document(id, host, body) {
                    Ok(c) => return Ok(Ok(c)),
                    Err(why) => why,
                },
                Err(why) => why.clone(),
            }
        }
        Err(why) => format!("the client_id URL is not allowed ({why})"),
    };
    Ok(Err(format!(
        "The app's metadata document at {} cannot be used: {why}.",
        truncate(id, 200)
    )))
}

/// The client a fetched metadata document describes, or why it cannot be used.
fn document(id: &str, host: &str, body: &[u8]) -> Result<Value, String> {
    let doc = match crate::json::parse_strict(body) {
        Ok(v) if v.is_object() => v,
        Ok(_) => return Err("it is not a JSON object".into()),
        Err(e) => return Err(format!("it is not valid JSON ({e})")),
    };
    if doc["client_id"] != id {
        return Err("its `client_id` is not exactly the URL it was fetched from".into());
    }
    if doc.get("client_secret").is_some() {
        return Err("it contains a client secret, which a metadata document must not".into());
    }
    let redirects = redirect_uris(&doc)?;
    // One method or, as ChatGPT's does, several by preference: with no
    // secret shared, the one usable here is `none` (PKCE).
    let method = &doc["token_endpoint_auth_method"];
    let none_ok = method.is_null()
        || *method == "none"
        || method
            .as_array()
            .is_some_and(|a| a.iter().any(|m| m == "none"));
    if !none_ok {
        return Err("it does not list the token endpoint auth method `none`, the only one a metadata-document client can use here".into());
    }
    let name = display_name(doc["client_name"].as_str(), host);
    let mut client = super::record(
        &[
            ("id", id),
            ("name", &name),
            ("auth", "none"),
            ("host", host),
        ],
        &[],
    );
    client["redirects"] = redirects;
    Ok(client)
}

#[derive(serde::Serialize)]
struct Registered<'a> {
    client_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
    client_id_issued_at: u64,
    client_secret_expires_at: u64,
    client_name: &'a str,
    redirect_uris: &'a Value,
    grant_types: [&'static str; 2],
    response_types: [&'static str; 1],
    token_endpoint_auth_method: &'a str,
}

/// `POST /register` (RFC 7591): rate limited per address and overall,
/// expires after [`CLIENT_TTL`], nothing stored.
pub(super) fn register(o: &OAuth<'_>, req: &Request, io: &Io) -> Result<Response, Stop> {
    let invalid = |m: &str| Ok(oauth_error(400, "invalid_client_metadata", m));
    let json = req
        .header("content-type")
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return invalid("Send the registration as application/json.");
    }
    let Some(body) = io.body()? else {
        return invalid("The registration is larger than 64 KiB or could not be read.");
    };
    let v = match crate::json::parse_strict(body) {
        Ok(v) if v.is_object() => v,
        Ok(_) => return invalid("The registration must be a JSON object."),
        Err(e) => return invalid(&format!("The registration is not valid JSON: {e}")),
    };
    let redirects = match redirect_uris(&v) {
        Ok(r) => r,
        Err(e) => {
            return Ok(oauth_error(
                400,
                "invalid_redirect_uri",
                &format!("The registration cannot be accepted: {e}."),
            ))
        }
    };
    let auth = match &v["token_endpoint_auth_method"] {
        Value::Null => "client_secret_basic",
        Value::String(m) if AUTH_METHODS.contains(&m.as_str()) => m.as_str(),
        _ => return invalid("token_endpoint_auth_method must be one of none, client_secret_post and client_secret_basic."),
    };
    if !v["client_name"].is_null() && !v["client_name"].is_string() {
        return invalid("client_name must be a string.");
    }
    let name = display_name(v["client_name"].as_str(), "Unnamed app");
    // The address's own bucket first: a refused registration must not
    // count against the global one, or one network could drain it.
    let mut wait = o.limited(io, &[(format!("dcr:{}", super::client_ip(req)), 30, 3600)])?;
    if wait.is_none() {
        wait = o.limited(io, &[("dcr:*".into(), 2000, 3600)])?;
    }
    if let Some(wait) = wait {
        return Ok(oauth_error(
            429,
            "invalid_request",
            &format!("Too many registrations; try again in {wait} seconds."),
        )
        .header("retry-after", &wait.to_string()));
    }
    let now = o.now();
    // A random nonce: two registrations of the same metadata are two
    // clients, with two secrets.
    let nonce = io.random(12)?;
    let mut reg = super::record(
        &[("name", &name), ("auth", auth), ("n", &nonce)],
        &[("exp", now + CLIENT_TTL)],
    );
    reg["redirects"] = redirects.clone();
    let client_id = format!("{DCR}{}", o.sign("dcr", &reg));
    let client_secret = (auth != "none")
        .then(|| format!("{DCR_SECRET}{}", o.mac("dcr-secret", client_id.as_bytes())));
    let body = Registered {
        client_id: &client_id,
        client_secret_expires_at: if client_secret.is_some() {
            now + CLIENT_TTL
        } else {
            0
        },
        client_secret,
        client_id_issued_at: now,
        client_name: &name,
        redirect_uris: &redirects,
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
        token_endpoint_auth_method: auth,
    };
    Ok(Response::json(201, &body)
        .header("cache-control", "no-store")
        .header("access-control-allow-origin", "*")
        .log(format!("oauth: registered a client ({auth})")))
}

/// Authenticates the client of a token or revocation request: HTTP Basic,
/// `client_secret` in the body, or none for public clients. A failure is
/// `401 invalid_client`, which makes Claude register again.
pub(super) fn authenticate(
    o: &OAuth<'_>,
    req: &Request,
    io: &Io,
    form: &Params,
) -> Result<Result<Value, Response>, Stop> {
    let basic = req.header("authorization").is_some();
    let invalid = |m: &str| {
        let r = oauth_error(401, "invalid_client", m);
        Ok(Err(if basic {
            r.header("www-authenticate", "Basic realm=\"scale-mcp\"")
        } else {
            r
        }))
    };
    let mut id = form.get("client_id").map(str::to_string);
    let mut secret = form.get("client_secret").map(str::to_string);
    if let Some(h) = req.header("authorization") {
        // RFC 6749 §2.3.1: both halves are form-encoded before Basic encoding.
        let pair = h
            .trim()
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
            .and_then(|(_, cred)| crate::codec::base64_decode(cred.trim()))
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|d| {
                let (i, s) = d.split_once(':')?;
                Some((crate::codec::form_decode(i)?, crate::codec::form_decode(s)?))
            });
        let Some((i, s)) = pair else {
            return invalid("The Authorization header is not valid HTTP Basic client credentials.");
        };
        if secret.is_some() || id.as_ref().is_some_and(|b| *b != i) {
            return invalid("Use one client authentication method, not two.");
        }
        id = Some(i);
        secret = Some(s);
    }
    let Some(id) = id else {
        return invalid("The request names no client (client_id).");
    };
    let client = match resolve(o, req, io, &id)? {
        Ok(c) => c,
        Err(m) => return invalid(&m),
    };
    match (s(&client, "auth"), secret) {
        ("none", None) => Ok(Ok(client)),
        ("none", Some(_)) => invalid("This client is public (none) and has no secret to send."),
        (_, None) => invalid("This client must authenticate with its client_secret."),
        (_, Some(given))
            if given
                .strip_prefix(DCR_SECRET)
                .is_some_and(|m| o.mac_ok("dcr-secret", id.as_bytes(), m)) =>
        {
            Ok(Ok(client))
        }
        (_, Some(_)) => invalid("The client secret is wrong."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn document_urls_must_name_public_dns_hosts_over_https() {
        for ok in [
            "https://chatgpt.com/oauth/client.json",
            "https://claude.ai/oauth/mcp-oauth-client-metadata",
            "https://app.example.com:443/client?v=1",
            "https://xn--bcher-kva.example/c.json",
        ] {
            assert!(document_host(ok).is_ok(), "{ok}");
        }
        assert_eq!(document_host("https://chatgpt.com/x"), Ok("chatgpt.com"));
        for bad in [
            "https://127.0.0.1/c.json",
            "https://127.1/c.json",
            "https://2130706433/c.json",
            "https://0x7f000001/c.json",
            "https://0x7f.0.0.1/c.json",
            "https://017700000001/c.json",
            "https://10.0.0.5/c.json",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/c.json",
            "https://[::ffff:127.0.0.1]:443/c.json",
            "https://localhost/c.json",
            "https://api.localhost/c.json",
            "https://printer.local/c.json",
            "https://metadata.google.internal/c.json",
            "https://intranet/c.json",
            "https://1.0.0.127.in-addr.arpa/c.json",
            "http://example.com/c.json",
            "HTTPS://example.com/c.json",
            "https://example.com",
            "https://example.com/",
            "https://example.com:8443/c.json",
            "https://user:pw@example.com/c.json",
            "https://example.com/c.json#x",
            "https://example.com/a/../c.json",
            "https://example.com/a/%2E%2e/c.json",
            "https://Example.com/c.json",
            "https://exa mple.com/c.json",
            "https://example.com./c.json",
            "https://-x.example.com/c.json",
        ] {
            assert!(document_host(bad).is_err(), "{bad} passed");
        }
    }

    #[test]
    fn redirect_uris_that_can_be_registered() {
        for ok in [
            "https://claude.ai/api/mcp/auth_callback",
            "http://127.0.0.1:33418/callback",
            "http://localhost:3000/cb?x=1",
            "http://[::1]/cb",
            "cursor://anysphere.cursor-retrieval/oauth/cb",
            "com.example.app:/oauth2redirect",
        ] {
            assert_eq!(redirect_problem(ok), None, "{ok}");
        }
        for bad in [
            "http://example.com/cb",
            "http://127.0.0.1.evil.example/cb",
            "http://user@127.0.0.1/cb",
            "https://claude.ai/cb#frag",
            "javascript:alert(1)",
            "data:text/html,x",
            "https:///nohost",
            "HTTPS://claude.ai/cb",
            "/relative",
            "https://claude.ai/a b",
            "nocolon",
        ] {
            assert!(redirect_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn redirects_match_exactly_except_loopback_ports() {
        let m = redirect_matches;
        assert!(m(
            "https://claude.ai/api/mcp/auth_callback",
            "https://claude.ai/api/mcp/auth_callback"
        ));
        assert!(!m("https://claude.ai/cb", "https://claude.ai/cb/"));
        assert!(!m("https://claude.ai/cb", "https://claude.ai/cb?x=1"));
        assert!(!m("https://claude.ai:443/cb", "https://claude.ai:8443/cb"));
        assert!(m(
            "http://127.0.0.1/callback",
            "http://127.0.0.1:51234/callback"
        ));
        assert!(m("http://localhost:3000/cb", "http://localhost:4000/cb"));
        assert!(m("http://[::1]:3000/cb", "http://[::1]:4000/cb"));
        assert!(!m(
            "http://127.0.0.1/callback",
            "http://127.0.0.1:51234/other"
        ));
        assert!(!m(
            "http://127.0.0.1/callback",
            "http://localhost:51234/callback"
        ));
        assert!(!m(
            "http://127.0.0.1/cb",
            "http://127.0.0.1.evil.example/cb"
        ));
        let c = json!({"redirects": ["https://a.example/cb"]});
        assert_eq!(redirect_for(&c, None).unwrap(), "https://a.example/cb");
        assert!(redirect_for(&c, Some("https://evil.example/cb")).is_err());
        assert!(redirect_for(
            &json!({"redirects": ["https://a.example/1", "https://a.example/2"]}),
            None
        )
        .is_err());
    }

    #[test]
    fn display_names_are_cleaned_and_bounded() {
        assert_eq!(display_name(Some("  A\u{0}B\n "), "h"), "AB");
        assert_eq!(display_name(None, "host.example"), "host.example");
        assert_eq!(display_name(Some(&"x".repeat(500)), "h").len(), 80);
        // Format characters (Cf) go too, at the edges of each of their
        // ranges, and their neighbours stay.
        assert_eq!(
            display_name(Some("Pay\u{200B}Pal\u{202E}\u{2066} Inc\u{FEFF}"), "h"),
            "PayPal Inc"
        );
        for c in [
            '\u{AD}',
            '\u{600}',
            '\u{605}',
            '\u{61C}',
            '\u{6DD}',
            '\u{70F}',
            '\u{890}',
            '\u{891}',
            '\u{8E2}',
            '\u{180E}',
            '\u{200B}',
            '\u{200F}',
            '\u{202A}',
            '\u{202E}',
            '\u{2060}',
            '\u{2064}',
            '\u{2066}',
            '\u{206F}',
            '\u{FEFF}',
            '\u{FFF9}',
            '\u{FFFB}',
            '\u{110BD}',
            '\u{110CD}',
            '\u{13430}',
            '\u{1343F}',
            '\u{1BCA0}',
            '\u{1BCA3}',
            '\u{1D173}',
            '\u{1D17A}',
            '\u{E0001}',
            '\u{E0020}',
            '\u{E007F}',
        ] {
            assert_eq!(
                display_name(Some(&format!("a{c}b")), "h"),
                "ab",
                "U+{:X}",
                c as u32
            );
        }
        for c in [
            '\u{AC}',
            '\u{AE}',
            '\u{606}',
            '\u{2010}',
            '\u{2065}',
            '\u{2070}',
            '\u{FFFC}',
            '\u{13440}',
            '\u{1D17B}',
            '\u{E0080}',
            'é',
            '名',
        ] {
            let kept = format!("a{c}b");
            assert_eq!(display_name(Some(&kept), "h"), kept, "U+{:X}", c as u32);
        }
    }
}
