//! Fetching an OAuth client's metadata document: the URL is the caller's
//! choice, so it goes through [`crate::guarded_fetch`] (https to a public DNS
//! name, nothing of ours on the request), with the rules a document adds: a
//! document URL has a path ([`public_host`]), and [`get_json`] takes one
//! GET, no redirect followed, at most 32 KiB within 4 s, and says why it got
//! no document. How often an address may cause a fetch, and how long an
//! outcome is remembered, is the caller's rule.

use crate::guarded_fetch::{self, Failure, Get, Rules};

const TIMEOUT_MS: u32 = 4000;
const MAX_BYTES: usize = 32 * 1024;

/// The host of a client metadata document URL that may be fetched, or why
/// it may not: what [`guarded_fetch::allowed`] admits, with a path.
pub(super) fn public_host(url: &str) -> Result<&str, &'static str> {
    let host = guarded_fetch::allowed(url, &Rules::default())?;
    let rest = &url["https://".len()..];
    let path = rest[rest.find(['/', '?']).unwrap_or(rest.len())..]
        .split('?')
        .next()
        .unwrap_or("");
    if path.len() < 2 {
        return Err("it must have a path (a client id is a document URL, not a site)");
    }
    Ok(host)
}

/// The body of the JSON document at `url`, or why there is none. A URL
/// that [`public_host`] refuses is not fetched.
pub(super) async fn get_json(up: &dyn crate::io::Upstream, url: &str) -> Result<Vec<u8>, String> {
    if let Err(why) = public_host(url) {
        return Err(format!("its URL is not allowed ({why})"));
    }
    let g = Get {
        url,
        accept: "application/json",
        range: None,
        max_bytes: MAX_BYTES,
        timeout_ms: TIMEOUT_MS,
        redirects: 0,
        rules: Rules::default(),
    };
    match guarded_fetch::get(up, &g, &|| true).await {
        Ok(got) if got.status == 200 => Ok(got.body),
        Ok(got) => Err(format!("it answered HTTP {}", got.status)),
        Err(f) => Err(problem(f)),
    }
}

/// Why fetching a document gave nothing, in this server's words: the
/// platform's own error text can name its internals.
fn problem(f: Failure) -> String {
    match f {
        Failure::Redirect(status) => {
            format!("it answered HTTP {status}, a redirect, which is not followed")
        }
        Failure::Timeout => "it did not answer within 4 seconds".into(),
        Failure::TooLarge => "it is larger than 32 KiB".into(),
        Failure::Unreachable(host) => format!("it could not be fetched from {host}"),
        Failure::NotAllowed { why, .. } => format!("its URL is not allowed ({why})"),
        Failure::Spent => "it could not be fetched now".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_url_is_a_public_https_url_with_a_path() {
        assert_eq!(
            public_host("https://chatgpt.com/oauth/client.json"),
            Ok("chatgpt.com")
        );
        assert!(public_host("https://app.example.com:443/client?v=1").is_ok());
        for bad in [
            "https://example.com",
            "https://example.com/",
            "https://example.com?x=1",
            "https://127.0.0.1/c.json",
            "http://example.com/c.json",
        ] {
            assert!(public_host(bad).is_err(), "{bad} passed");
        }
    }
}
