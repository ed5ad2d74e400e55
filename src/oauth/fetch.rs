//! Fetching a URL that a caller chose, guarded so that the worker reaches
//! nothing but public web servers with it and relays little: [`public_host`]
//! admits only an https URL on the default port that names a public DNS
//! name, and [`get_json`] fetches one (GET, no redirect followed, at most
//! 32 KiB, 4 s) and says why it got no document in this server's words,
//! never the platform's. Nothing here knows OAuth (today's caller is the
//! client metadata document); how often an address may cause a fetch, and
//! how long an outcome is remembered, is the caller's rule.

use super::resource::dot_segment;
use crate::io::{InResponse, Method, OutRequest, SendError, Upstream};

const TIMEOUT_MS: u32 = 4000;
const MAX_BYTES: usize = 32 * 1024;

/// The host of a URL that may be fetched, or why it may not. The URL is
/// the caller's choice and the worker fetches it, so only https on the
/// default port naming a public DNS name passes: no IP literal in any
/// notation (WHATWG URL parsing reads a host whose last label is a number,
/// decimal or `0x` hex, as IPv4: `127.1`, `2130706433`, `0x7f.0.0.1`), no
/// loopback or private-use names, no credentials, fragment or dot segments.
/// A public name whose DNS points at a private address is not caught here;
/// Workers reach only the public Internet.
pub(super) fn public_host(url: &str) -> Result<&str, &'static str> {
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
    if path.split('/').any(dot_segment) {
        return Err("it must not have dot segments");
    }
    Ok(host)
}

/// The body of the JSON document at `url`, or why there is none. A URL
/// that [`public_host`] refuses is not fetched.
pub(super) async fn get_json(up: &dyn Upstream, url: &str) -> Result<Vec<u8>, String> {
    if let Err(why) = public_host(url) {
        return Err(format!("its URL is not allowed ({why})"));
    }
    let out = OutRequest {
        method: Method::Get,
        url: url.to_string(),
        headers: vec![("accept".into(), "application/json".into())],
        body: None,
        max_response_bytes: MAX_BYTES,
        no_redirects: true,
    };
    match up.send(&out, TIMEOUT_MS).await {
        Ok(InResponse {
            status: 200, body, ..
        }) => Ok(body),
        r => Err(problem(url, &r)),
    }
}

/// Why fetching `url` gave no document, in this server's words: the
/// platform's own error text can name its internals.
fn problem(url: &str, r: &Result<InResponse, SendError>) -> String {
    match r {
        Ok(InResponse { status, .. }) if (300..400).contains(status) => {
            format!("it answered HTTP {status}, a redirect, which is not followed")
        }
        Ok(InResponse { status, .. }) => format!("it answered HTTP {status}"),
        Err(SendError::Timeout(_)) => "it did not answer within 4 seconds".into(),
        Err(SendError::TooLarge(_)) => "it is larger than 32 KiB".into(),
        Err(_) => {
            let host = url
                .strip_prefix("https://")
                .unwrap_or(url)
                .split(['/', '?', ':'])
                .next();
            format!("it could not be fetched from {}", host.unwrap_or(""))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_urls_naming_public_dns_hosts_pass() {
        for ok in [
            "https://chatgpt.com/oauth/client.json",
            "https://claude.ai/oauth/mcp-oauth-client-metadata",
            "https://app.example.com:443/client?v=1",
            "https://xn--bcher-kva.example/c.json",
        ] {
            assert!(public_host(ok).is_ok(), "{ok}");
        }
        assert_eq!(public_host("https://chatgpt.com/x"), Ok("chatgpt.com"));
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
            assert!(public_host(bad).is_err(), "{bad} passed");
        }
    }
}
