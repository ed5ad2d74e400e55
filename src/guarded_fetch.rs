//! Fetching a URL that someone other than the operator chose (an OAuth
//! client's metadata document, a task's attachment), so that the worker
//! reaches nothing but public web servers with it and sends nothing of its
//! own: [`allowed`] admits only https on the default port to a public DNS
//! name that is not this worker's, and [`get`] fetches one with a plain GET
//! (no credentials, no cookies), following redirects by hand with every hop
//! checked again, within a size cap and a time limit the caller chooses, and
//! says why it got nothing in this server's words, never the platform's.
//!
//! Nothing here knows who asked or why: how often a caller may cause a
//! fetch, which statuses it accepts and how it words a refusal are the
//! caller's. Plain http is allowed only to a loopback host, and only when the
//! caller says so ([`Rules::loopback_http`]: the worker talks to a local
//! Scale, as in tests and local development).

use crate::http::{hostname_of, loopback_host, origin_of};
use crate::io::{Chunks, InResponse, Method, OutRequest, SendError, Upstream};

/// What may be fetched besides public https hosts, and what never may.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Rules<'a> {
    /// Plain http to a loopback host (`localhost`, `127.x.x.x`, `[::1]`, any
    /// port) passes too.
    pub loopback_http: bool,
    /// Lower-case origins never fetched (this worker's own): an https URL
    /// whose host is one of theirs, or a loopback URL with one's host and port.
    pub own: &'a [&'a str],
}

/// Why a URL may not be fetched, in words that follow "it …" or "because …".
pub(crate) type Why = &'static str;

/// `.` or `..`, also percent-encoded.
pub(crate) fn dot_segment(seg: &str) -> bool {
    matches!(
        seg.to_ascii_lowercase().as_str(),
        "." | ".." | "%2e" | "%2e%2e" | ".%2e" | "%2e."
    )
}

/// The host of a URL that may be fetched, or why it may not. Only https on
/// the default port naming a public DNS name passes: no IP literal in any
/// notation (WHATWG URL parsing reads a host whose last label is a number,
/// decimal or `0x` hex, as IPv4: `127.1`, `2130706433`, `0x7f.0.0.1`), no
/// loopback or private-use names, no credentials, fragment or dot segments,
/// not one of [`Rules::own`]; plain http to loopback when the rules allow
/// it. A public name whose DNS points at a private address is not caught
/// here; Workers reach only the public Internet.
pub(crate) fn allowed<'u>(url: &'u str, rules: &Rules<'_>) -> Result<&'u str, Why> {
    if url.len() > 2048 || url.bytes().any(|b| !b.is_ascii_graphic()) {
        return Err("it must be a plain ASCII URL of at most 2048 characters");
    }
    let plain = rules.loopback_http && url.starts_with("http://");
    let rest = match url.strip_prefix("https://") {
        Some(r) => r,
        None if plain => &url["http://".len()..],
        None => return Err("it must be an https URL"),
    };
    if url.contains('#') {
        return Err("it must not have a fragment");
    }
    let (authority, path) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    if authority.contains('@') {
        return Err("it must not carry credentials");
    }
    let path = path.split('?').next().unwrap_or("");
    if path.split('/').any(dot_segment) {
        return Err("it must not have dot segments");
    }
    // `own` are lower-case origins: on https the same host, on http the
    // same host and port.
    let own = |host: &str| {
        rules.own.iter().any(|o| {
            if plain {
                o.strip_prefix("http://") == Some(authority)
            } else {
                hostname_of(o) == host
            }
        })
    };
    if plain {
        let host = match authority.rfind(':') {
            Some(i) if authority[i + 1..].bytes().all(|b| b.is_ascii_digit()) => &authority[..i],
            _ => authority,
        };
        if !loopback_host(host) {
            return Err("plain http is allowed only to a loopback host here");
        }
        if own(host) {
            return Err("it must not be this server's own address");
        }
        return Ok(host);
    }
    let host = match authority.split_once(':') {
        Some((h, "443")) => h,
        Some(_) if !authority.starts_with('[') => return Err("it must use the default https port"),
        _ => authority,
    };
    let last = host.rsplit('.').next().unwrap_or(host);
    if host.starts_with('[')
        || last.bytes().all(|b| b.is_ascii_digit())
        || last
            .strip_prefix("0x")
            .is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err("its host must be a DNS name, not an IP address");
    }
    if host.len() > 253
        || !host.contains('.')
        || !host.split('.').all(|l| {
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
    if own(host) {
        return Err("it must not be this server's own address");
    }
    Ok(host)
}

/// One guarded GET.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Get<'a> {
    pub url: &'a str,
    /// The `Accept` header.
    pub accept: &'a str,
    /// `Range: bytes=<first>-<last>` (inclusive), asked of every hop.
    pub range: Option<(u64, u64)>,
    /// An answer body larger than this is not read (a declared length above
    /// it is refused unread; a streamed body is cut off).
    pub max_bytes: usize,
    /// For all hops together.
    pub timeout_ms: u32,
    /// Redirects followed at most (0: a redirect is a [`Failure`]).
    pub redirects: u8,
    pub rules: Rules<'a>,
}

/// Why a [`get`] ended without an answer.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Failure {
    /// The URL (`hop` 0) or a redirect's target may not be fetched.
    NotAllowed { hop: u8, why: Why },
    /// A redirect (this status) that was not followed: none are allowed,
    /// there were too many, or it named no target.
    Redirect(u16),
    /// No answer within the time given.
    Timeout,
    /// The answer was larger than `max_bytes`.
    TooLarge,
    /// The connection failed: the host it was to, for a message.
    Unreachable(String),
    /// The caller's `take` allowed no more fetches (its request's subrequests).
    Spent,
}

/// The target of a `Location` header: absolute, or an absolute path on the
/// host of `base` (the forms image hosts and CDNs send); `None` otherwise.
fn resolve(base: &str, location: &str) -> Option<String> {
    if location.contains("://") {
        return Some(location.to_string());
    }
    if !location.starts_with('/') {
        return None;
    }
    let origin = origin_of(base)?;
    // `//host/path` keeps the scheme, `/path` the origin.
    let keep = if location.starts_with("//") {
        origin.find("//")?
    } else {
        origin.len()
    };
    Some(format!("{}{location}", &origin[..keep]))
}

/// Fetches `g.url` with a GET that carries only `Accept` (and `Range`), no
/// credentials of this worker's, following redirects by hand: each target
/// is checked by [`allowed`] before it is asked. `take` is asked before
/// every hop and may refuse it (the request's subrequest budget).
pub(crate) async fn get(
    up: &dyn Upstream,
    g: &Get<'_>,
    take: &dyn Fn() -> bool,
) -> Result<InResponse, Failure> {
    Ok(hops::<false>(up, g, take).await?.0)
}

/// [`get`], with the final answer's body left to read chunk by chunk
/// (`max_bytes` then only refuses a larger declared length).
pub(crate) async fn open<'u>(
    up: &'u dyn Upstream,
    g: &Get<'_>,
    take: &dyn Fn() -> bool,
) -> Result<(InResponse, Box<dyn Chunks + 'u>), Failure> {
    let (r, body) = hops::<true>(up, g, take).await?;
    Ok((r, body.expect("an opened answer has its body")))
}

/// The hops of [`get`] and [`open`]; `STREAM` (a constant, so that a
/// build which never streams links no streaming) says which.
async fn hops<'u, const STREAM: bool>(
    up: &'u dyn Upstream,
    g: &Get<'_>,
    take: &dyn Fn() -> bool,
) -> Result<(InResponse, Option<Box<dyn Chunks + 'u>>), Failure> {
    let started = up.now_ms();
    let mut url = g.url.to_string();
    let mut hop = 0u8;
    loop {
        let host = allowed(&url, &g.rules).map_err(|why| Failure::NotAllowed { hop, why })?;
        let left = u64::from(g.timeout_ms).saturating_sub(up.now_ms().saturating_sub(started));
        if left == 0 {
            return Err(Failure::Timeout);
        }
        if !take() {
            return Err(Failure::Spent);
        }
        let mut headers = vec![("accept".to_string(), g.accept.to_string())];
        if let Some((a, b)) = g.range {
            headers.push(("range".into(), format!("bytes={a}-{b}")));
        }
        let out = OutRequest {
            method: Method::Get,
            url: url.clone(),
            headers,
            body: None,
            max_response_bytes: g.max_bytes,
            no_redirects: true,
        };
        let sent = match STREAM {
            true => up.open(out, left as u32).await.map(|(r, b)| (r, Some(b))),
            false => up.send(&out, left as u32).await.map(|r| (r, None)),
        };
        let (r, body) = match sent {
            Ok(r) => r,
            Err(SendError::Timeout(_)) => return Err(Failure::Timeout),
            Err(SendError::TooLarge(_)) => return Err(Failure::TooLarge),
            Err(SendError::SubrequestLimit) => return Err(Failure::Spent),
            Err(SendError::Network(_)) => return Err(Failure::Unreachable(host.to_string())),
        };
        if !(300..400).contains(&r.status) {
            return Ok((r, body));
        }
        match r.header("location").and_then(|l| resolve(&url, l)) {
            Some(next) if hop < g.redirects => {
                url = next;
                hop += 1;
            }
            _ => return Err(Failure::Redirect(r.status)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::fakes::{block_on, FakeUpstream};

    fn answer(up: &FakeUpstream, status: u16, headers: &[(&str, &str)], body: &[u8]) {
        let headers = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        up.push(Ok(InResponse {
            status,
            headers,
            body: body.to_vec(),
        }));
    }

    const PUBLIC: Rules<'static> = Rules {
        loopback_http: false,
        own: &[],
    };

    #[test]
    fn only_https_urls_naming_public_dns_hosts_pass() {
        for ok in [
            "https://chatgpt.com/oauth/client.json",
            "https://claude.ai/oauth/mcp-oauth-client-metadata",
            "https://app.example.com:443/client?v=1",
            "https://xn--bcher-kva.example/c.json",
            "https://example.com",
        ] {
            assert!(allowed(ok, &PUBLIC).is_ok(), "{ok}");
        }
        assert_eq!(allowed("https://chatgpt.com/x", &PUBLIC), Ok("chatgpt.com"));
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
            "http://127.0.0.1:8080/c.json",
            "HTTPS://example.com/c.json",
            "https://example.com:8443/c.json",
            "https://user:pw@example.com/c.json",
            "https://example.com/c.json#x",
            "https://example.com/a/../c.json",
            "https://example.com/a/%2E%2e/c.json",
            "https://Example.com/c.json",
            "https://exa mple.com/c.json",
            "https://example.com./c.json",
            "https://-x.example.com/c.json",
            "scaledata://abc/def",
            "ftp://example.com/x",
        ] {
            assert!(allowed(bad, &PUBLIC).is_err(), "{bad} passed");
        }
    }

    #[test]
    fn the_workers_own_host_and_plain_http_only_as_the_rules_say() {
        let own = ["https://mcp.example.com", "http://127.0.0.1:8787"];
        let rules = Rules {
            loopback_http: false,
            own: &own,
        };
        assert!(allowed("https://mcp.example.com/mcp", &rules).is_err());
        assert!(allowed("https://mcp.example.com:443/x.png", &rules).is_err());
        assert!(allowed("https://img.example.com/x.png", &rules).is_ok());
        let local = Rules {
            loopback_http: true,
            own: &own,
        };
        assert_eq!(
            allowed("http://127.0.0.1:9000/files/a.png", &local),
            Ok("127.0.0.1")
        );
        assert!(allowed("http://localhost:9000/a.png", &local).is_ok());
        assert!(allowed("http://[::1]:9000/a.png", &local).is_ok());
        for bad in [
            "http://127.0.0.1:8787/mcp",
            "http://example.com/a.png",
            "http://10.0.0.1/a.png",
            "http://127.0.0.1.example.com/a.png",
            "http://u@127.0.0.1:9000/a.png",
        ] {
            assert!(allowed(bad, &local).is_err(), "{bad} passed");
        }
    }

    #[test]
    fn redirect_targets_resolve_against_the_url_they_came_from() {
        let base = "https://a.example/x/y/z.png?q=1";
        for (loc, want) in [
            ("https://b.example/p", "https://b.example/p"),
            ("//c.example/p", "https://c.example/p"),
            ("/root.png", "https://a.example/root.png"),
        ] {
            assert_eq!(resolve(base, loc).as_deref(), Some(want), "{loc}");
        }
        // Relative paths are not followed (a redirect answer, not an address).
        assert_eq!(resolve(base, "other.png"), None);
    }

    fn fetch(up: &FakeUpstream, url: &str, redirects: u8) -> Result<InResponse, Failure> {
        let g = Get {
            url,
            accept: "image/*",
            range: Some((0, 9)),
            max_bytes: 1024,
            timeout_ms: 4000,
            redirects,
            rules: PUBLIC,
        };
        block_on(get(up, &g, &|| true))
    }

    #[test]
    fn redirects_are_followed_by_hand_and_every_hop_is_checked() {
        let up = FakeUpstream::new();
        answer(&up, 302, &[("location", "/b.png")], b"");
        answer(&up, 307, &[("location", "https://cdn.example/c.png")], b"");
        answer(
            &up,
            206,
            &[("content-range", "bytes 0-9/20")],
            b"0123456789",
        );
        let got = fetch(&up, "https://img.example/a.png", 3).unwrap();
        assert_eq!((got.status, &got.body[..]), (206, &b"0123456789"[..]));
        let sent = up.sent();
        let urls: Vec<&str> = sent.iter().map(|r| r.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "https://img.example/a.png",
                "https://img.example/b.png",
                "https://cdn.example/c.png"
            ]
        );
        for r in &sent {
            assert!(r.no_redirects);
            let names: Vec<&str> = r.headers.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(names, ["accept", "range"], "no credentials, no cookies");
        }
        // A hop to a disallowed address is refused before it is asked.
        let up = FakeUpstream::new();
        answer(&up, 301, &[("location", "https://169.254.169.254/x")], b"");
        assert_eq!(
            fetch(&up, "https://img.example/a.png", 3).unwrap_err(),
            Failure::NotAllowed {
                hop: 1,
                why: "its host must be a DNS name, not an IP address"
            }
        );
        assert_eq!(up.sent().len(), 1);
        // Too many, or none allowed.
        let up = FakeUpstream::new();
        answer(&up, 302, &[("location", "/b")], b"");
        assert_eq!(
            fetch(&up, "https://img.example/a", 0).unwrap_err(),
            Failure::Redirect(302)
        );
    }

    #[test]
    fn failures_are_named_not_passed_through() {
        let up = FakeUpstream::new();
        up.push(Err(SendError::Timeout(4000)));
        assert_eq!(
            fetch(&up, "https://img.example/a", 0).unwrap_err(),
            Failure::Timeout
        );
        up.push(Err(SendError::Network("internal detail".into())));
        assert_eq!(
            fetch(&up, "https://img.example/a", 0).unwrap_err(),
            Failure::Unreachable("img.example".into())
        );
        up.push(Err(SendError::TooLarge(200)));
        assert_eq!(
            fetch(&up, "https://img.example/a", 0).unwrap_err(),
            Failure::TooLarge
        );
        let g = Get {
            url: "https://img.example/a",
            accept: "*/*",
            range: None,
            max_bytes: 10,
            timeout_ms: 100,
            redirects: 0,
            rules: PUBLIC,
        };
        assert_eq!(
            block_on(get(&up, &g, &|| false)).unwrap_err(),
            Failure::Spent
        );
    }
}
