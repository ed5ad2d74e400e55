//! HTTP as the core sees it: a request the edge has read, the response the core
//! hands back, and the small URL and header helpers every layer above needs.
//! The lowest layer: it imports nothing from the crate.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

/// A boxed, non-`Send` future (the shape of `io::BoxFut`, which sits above this layer).
pub type LocalFut<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// Why a request body was not read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BodyError {
    /// More than the cap was declared or arrived; the rest was not read.
    TooLarge,
    /// The connection failed while the body was read.
    Failed(String),
}

/// Where a request's body comes from. The core asks for it only once the
/// rules that need no body (origin, credentials, method, declared size) have
/// passed, so a request it refuses is answered without its body being read.
pub trait BodySource {
    /// The whole body when it is at most `cap` bytes; past the cap the read
    /// stops with [`BodyError::TooLarge`].
    fn read(&self, cap: usize) -> LocalFut<'_, Result<Vec<u8>, BodyError>>;
}

/// A request body, not yet read (see [`BodySource`]).
#[derive(Clone)]
pub struct Body(Rc<dyn BodySource>);

impl Body {
    pub fn new(source: impl BodySource + 'static) -> Self {
        Body(Rc::new(source))
    }
    pub async fn read(&self, cap: usize) -> Result<Vec<u8>, BodyError> {
        self.0.read(cap).await
    }
}

/// A body already in memory (tests and tools that build requests).
struct InMemory(Vec<u8>);

impl BodySource for InMemory {
    fn read(&self, cap: usize) -> LocalFut<'_, Result<Vec<u8>, BodyError>> {
        let r = if self.0.len() > cap {
            Err(BodyError::TooLarge)
        } else {
            Ok(self.0.clone())
        };
        Box::pin(std::future::ready(r))
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Self {
        Body::new(InMemory(bytes))
    }
}

impl Default for Body {
    fn default() -> Self {
        Vec::new().into()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Body")
    }
}

/// An HTTP request: its head, and a body read only on demand. Header names
/// are lower-case.
#[derive(Clone, Debug, Default)]
pub struct Request {
    pub method: String,
    /// The raw (still percent-encoded) path.
    pub path: String,
    /// The raw query string, without `?` (only the OAuth sign-in page reads it).
    pub query: String,
    /// `scheme://host[:port]` of the URL the worker was called on.
    pub self_origin: String,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        header_in(&self.headers, name)
    }
    /// Reads the body, at most `cap` bytes: a declared Content-Length above
    /// the cap is refused without reading anything, and a body of unknown
    /// length stops at the cap.
    pub async fn read_body(&self, cap: usize) -> Result<Vec<u8>, BodyError> {
        let declared = self.header("content-length").map(str::trim);
        if declared
            .and_then(|v| v.parse::<usize>().ok())
            .is_some_and(|n| n > cap)
        {
            return Err(BodyError::TooLarge);
        }
        self.body.read(cap).await
    }
}

/// An HTTP response, plus lines for the worker log (never containing secrets).
#[derive(Debug, Default)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// When set, the body is produced by this as the client reads (and `body` is empty).
    pub stream: Option<Streamed>,
    /// Lines for the worker log: notes, appended to the request's one line,
    /// and audit lines (see [`is_audit_line`]), each printed on its own.
    pub logs: Vec<String>,
}

/// A body produced piece by piece while the work behind it runs, such as an
/// SSE answer that carries progress before its result. The edge polls it as
/// the client reads; dropping it abandons the work. Not `Send`: it owns the
/// request's single-threaded context.
pub trait BodyStream {
    /// The next chunk, or `None` once the body is complete.
    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Vec<u8>>>;
    /// Log lines noted while the body was produced; the edge takes them when
    /// the body has ended or was abandoned.
    fn take_logs(&mut self) -> Vec<String>;
}

/// A boxed [`BodyStream`].
pub struct Streamed(pub Box<dyn BodyStream>);

impl std::fmt::Debug for Streamed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Streamed")
    }
}

/// Whether a log line is an audit line: a JSON object, which the edge
/// prints with a console call of its own so Workers Logs indexes its
/// fields. Notes are plain text and never start with `{`.
pub fn is_audit_line(line: &str) -> bool {
    line.starts_with('{')
}

impl Response {
    pub fn new(status: u16) -> Self {
        Self {
            status,
            ..Default::default()
        }
    }
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.to_string(), v.to_string()));
        self
    }
    pub fn body(mut self, b: Vec<u8>) -> Self {
        self.body = b;
        self
    }
    /// A streamed body in place of `body`.
    pub fn stream(mut self, s: impl BodyStream + 'static) -> Self {
        self.stream = Some(Streamed(Box::new(s)));
        self
    }
    /// A JSON body from anything serde can write.
    pub fn json<T: serde::Serialize + ?Sized>(status: u16, v: &T) -> Self {
        Self::new(status)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(v).unwrap_or_default())
    }
    pub fn log(mut self, line: impl Into<String>) -> Self {
        self.logs.push(line.into());
        self
    }
    pub fn get_header(&self, name: &str) -> Option<&str> {
        header_in(&self.headers, name)
    }
}

/// The usual JSON error body of the worker's own (non-MCP) answers.
#[derive(serde::Serialize)]
pub(crate) struct ErrorBody<'a> {
    pub error: &'a str,
    pub message: &'a str,
}

/// `{"error": code, "message": message}` with `status`.
pub(crate) fn error_json(status: u16, code: &str, message: &str) -> Response {
    Response::json(
        status,
        &ErrorBody {
            error: code,
            message,
        },
    )
}

/// The reason phrase of the statuses the worker names in messages, or "".
pub(crate) fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        409 => "Conflict",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

/// A header's value from name/value pairs, the name matched case-insensitively.
pub(crate) fn header_in<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Splits a request URL into its origin (`scheme://host[:port]`) and its raw
/// path (without query or fragment); a URL without a path has path `/`.
pub fn split_url(url: &str) -> (String, String) {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let path_start = url[after_scheme..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| after_scheme + i);
    let origin = url[..path_start].to_ascii_lowercase();
    let rest = &url[path_start..];
    let path = rest.split(['?', '#']).next().unwrap_or("");
    (
        origin,
        if path.is_empty() {
            "/".to_string()
        } else {
            path.to_string()
        },
    )
}

/// The raw query string of a request URL: after the first `?`, before any `#`.
pub fn query_of(url: &str) -> String {
    let q = url.split('#').next().unwrap_or("");
    q.split_once('?').map_or("", |(_, q)| q).to_string()
}

/// Whether `host` (no port) is a loopback name or address: `localhost`,
/// `[::1]` or `127.x.x.x`.
pub(crate) fn loopback_host(host: &str) -> bool {
    host == "localhost"
        || host == "[::1]"
        || host.strip_prefix("127.").is_some_and(|r| {
            let mut parts = 0;
            r.split('.').all(|p| {
                parts += 1;
                p.parse::<u8>().is_ok()
            }) && parts == 3
        })
}

/// `scheme://host[:port]` of an http(s) URL, lower-cased, or `None`.
///
/// Hand-written rather than the `url` crate: the worker only ever needs the
/// origin, and `url`'s IDNA tables would add far more to the upload than this.
pub(crate) fn origin_of(url: &str) -> Option<String> {
    let lower = url.trim().to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .map(|r| ("https", r))
        .or_else(|| lower.strip_prefix("http://").map(|r| ("http", r)))?;
    let authority = rest.1.split(['/', '?', '#']).next()?;
    // host[:port] only: a DNS name, an IPv4 address or a bracketed IPv6 one, and digits after the colon.
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (h, after) = v6.split_once(']')?;
            if h.is_empty()
                || !h
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
            {
                return None;
            }
            let port = match after {
                "" => "",
                p => p.strip_prefix(':')?,
            };
            (&authority[..h.len() + 2], port)
        }
        None => authority.split_once(':').unwrap_or((authority, "")),
    };
    let host_ok = host.starts_with('[')
        || (!host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'));
    if !host_ok || !port.chars().all(|c| c.is_ascii_digit()) || port.len() > 5 {
        return None;
    }
    Some(format!("{}://{}", rest.0, authority))
}

/// The host name of an origin from [`origin_of`], without port (IPv6 keeps its brackets).
pub(crate) fn hostname_of(origin: &str) -> &str {
    let host = origin.split("://").nth(1).unwrap_or("");
    if host.starts_with('[') {
        host.find(']').map_or(host, |i| &host[..=i])
    } else {
        host.split(':').next().unwrap_or("")
    }
}

/// An http(s) URL without whitespace or control characters.
pub(crate) fn is_http_url(v: &str) -> bool {
    origin_of(v).is_some() && !v.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_origin_and_raw_path() {
        let cases = [
            (
                "https://W.example.workers.dev/mcp?token=x",
                "https://w.example.workers.dev",
                "/mcp",
            ),
            (
                "http://127.0.0.1:8787/webhooks/scale",
                "http://127.0.0.1:8787",
                "/webhooks/scale",
            ),
            (
                "http://[::1]:8787/a%2Fb/c#f",
                "http://[::1]:8787",
                "/a%2Fb/c",
            ),
            ("http://localhost:8787", "http://localhost:8787", "/"),
            ("http://localhost:8787?x=/y", "http://localhost:8787", "/"),
        ];
        for (url, origin, path) in cases {
            assert_eq!(
                split_url(url),
                (origin.to_string(), path.to_string()),
                "{url}"
            );
        }
        assert_eq!(
            query_of("https://w.example/authorize?a=1&b=%2F#f"),
            "a=1&b=%2F"
        );
        assert_eq!(query_of("https://w.example/authorize#x?y"), "");
    }

    #[test]
    fn origins_are_scheme_host_and_digit_port_only() {
        assert_eq!(
            origin_of("http://localhost:3000").as_deref(),
            Some("http://localhost:3000")
        );
        assert_eq!(
            origin_of("HTTPS://App.Example.com/x").as_deref(),
            Some("https://app.example.com")
        );
        assert_eq!(
            origin_of("http://[::1]:8787").as_deref(),
            Some("http://[::1]:8787")
        );
        for bad in [
            "http://127.0.0.1:80.evil.example",
            "http://a@b",
            "http://",
            "ftp://x",
            "http://[zz]:1",
            "http://x:1:2",
            "http://ex ample",
            "null",
        ] {
            assert_eq!(origin_of(bad), None, "{bad}");
        }
    }

    #[test]
    fn host_names_of_origins() {
        assert_eq!(hostname_of("http://localhost:3000"), "localhost");
        assert_eq!(hostname_of("http://[::1]:8787"), "[::1]");
        assert_eq!(hostname_of("https://a.example"), "a.example");
    }
}
