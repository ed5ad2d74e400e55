//! Redirect URIs: which a client may register ([`redirect_uris`], for a
//! metadata document and a registration alike), and which registered one an
//! authorization request is sent back to ([`redirect_for`]): exactly the one
//! it names, except that a loopback URI matches on any port.

use crate::json::truncate;
use serde_json::Value;

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

/// The checked `redirect_uris` of a document or registration.
pub(super) fn redirect_uris(v: &Value) -> Result<Value, String> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
}
