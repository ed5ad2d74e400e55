//! HTTP routing for the whole worker: CORS preflight, origin and bearer checks,
//! `/health`, `/mcp`, `/webhooks/scale` and the fixed answers for everything else.
//! Platform-free: the edge converts to and from [`Incoming`] / [`Outgoing`].

use crate::config::{matches_any, origin_of, Config, RawSettings};
use crate::io::{CallbackStore, Upstream};
use crate::tools::Ctx;
use serde_json::{json, Value};

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

/// An HTTP request as the core sees it. Header names are lower-case.
#[derive(Clone, Debug, Default)]
pub struct Incoming {
    pub method: String,
    /// The raw (still percent-encoded) path.
    pub path: String,
    /// `scheme://host[:port]` of the URL the worker was called on.
    pub self_origin: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The declared Content-Length, when the edge did not read an over-long body.
    pub declared_len: Option<u64>,
}

impl Incoming {
    pub fn header(&self, name: &str) -> Option<&str> {
        crate::io::header_in(&self.headers, name)
    }
    pub fn body_too_large(&self, limit: usize) -> bool {
        self.body.len() > limit || self.declared_len.is_some_and(|n| n > limit as u64)
    }
}

/// An HTTP response, plus lines for the worker log (never containing secrets).
#[derive(Clone, Debug, Default)]
pub struct Outgoing {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub logs: Vec<String>,
}

impl Outgoing {
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
    pub fn json(status: u16, v: &Value) -> Self {
        Self::new(status)
            .header("content-type", "application/json")
            .body(v.to_string().into_bytes())
    }
    pub fn log(mut self, line: impl Into<String>) -> Self {
        self.logs.push(line.into());
        self
    }
    pub fn get_header(&self, name: &str) -> Option<&str> {
        crate::io::header_in(&self.headers, name)
    }
}

/// The platform services one request may use.
pub struct Deps<'a> {
    pub upstream: &'a dyn Upstream,
    pub store: Option<&'a dyn CallbackStore>,
}

pub const CORS_ALLOW_HEADERS: &str =
    "Authorization, Content-Type, Accept, MCP-Protocol-Version, Mcp-Method, Mcp-Name, Mcp-Session-Id, Last-Event-ID";
const REALM: &str = "Bearer realm=\"scale-mcp\"";

fn error_json(status: u16, code: &str, message: &str) -> Outgoing {
    Outgoing::json(status, &json!({"error": code, "message": message}))
}

/// Routes one request.
pub async fn handle(req: &Incoming, raw: &RawSettings, deps: Deps<'_>) -> Outgoing {
    let path = req.path.as_str();
    let method = req.method.to_ascii_uppercase();
    match (method.as_str(), path) {
        ("GET" | "HEAD", "/health") => health(raw),
        (_, "/mcp") => mcp(req, &method, raw, deps).await,
        (_, "/webhooks/scale") => {
            if method != "POST" {
                return error_json(405, "method_not_allowed", "POST Scale callbacks to this URL").header("allow", "POST");
            }
            match Config::from_raw(raw) {
                Ok(cfg) => crate::webhook::receive(req, &cfg, deps.store, deps.upstream.now_ms()).await,
                // Scale retries 5xx, so a delivery that arrives during a bad deploy is not lost.
                Err(errs) => misconfigured(&errs),
            }
        }
        ("GET", "/sse") | ("POST", "/sse") | ("GET", "/mcp/sse") => Outgoing::json(
            410,
            &json!({
                "error": "gone",
                "message": "The HTTP+SSE transport is not served. Use Streamable HTTP: POST to the /mcp endpoint.",
                "mcp_endpoint": format!("{}/mcp", req.self_origin),
            }),
        ),
        (_, p) if p.starts_with("/.well-known/oauth-") => error_json(
            404,
            "not_found",
            "This server does not use OAuth. Send `Authorization: Bearer <token>` with a token from MCP_AUTH_TOKEN.",
        ),
        ("GET", "/") => Outgoing::json(
            200,
            &json!({
                "name": crate::mcp::methods::SERVER_NAME,
                "version": crate::VERSION,
                "mcp": format!("{}/mcp", req.self_origin),
                "webhook": format!("{}/webhooks/scale", req.self_origin),
                "health": format!("{}/health", req.self_origin),
            }),
        ),
        _ => error_json(404, "not_found", "Unknown path. The MCP endpoint is /mcp; Scale callbacks go to /webhooks/scale."),
    }
}

fn health(raw: &RawSettings) -> Outgoing {
    let mut settings = serde_json::Map::new();
    for name in crate::config::SETTINGS {
        settings.insert(name.to_string(), json!(raw.present(name)));
    }
    settings.insert("CALLBACKS".into(), json!(raw.kv_bound));
    let (status, errors) = match Config::from_raw(raw) {
        Ok(_) => ("ok", Vec::new()),
        Err(errs) => (
            "misconfigured",
            errs.iter().map(|e| e.to_string()).collect(),
        ),
    };
    let mut body = json!({"status": status, "version": crate::VERSION, "settings": settings});
    if !errors.is_empty() {
        body["errors"] = json!(errors);
    }
    Outgoing::json(if status == "ok" { 200 } else { 500 }, &body)
        .header("cache-control", "no-store")
}

fn misconfigured(errs: &[crate::config::ConfigError]) -> Outgoing {
    let msg: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    error_json(
        500,
        "misconfigured",
        &format!("The worker's configuration is invalid: {}", msg.join("; ")),
    )
    .log(format!("configuration invalid: {}", msg.join("; ")))
}

/// Whether a present `Origin` may call `/mcp`: loopback origins, the worker's
/// own origin when it is `https`, and those listed in `ALLOWED_ORIGINS`.
///
/// DNS rebinding: the worker's own origin is derived from the request's Host,
/// which the caller controls. On a plain-http dev server (`wrangler dev` on
/// 127.0.0.1:8787) a page at `http://evil.example:8787`, rebound to 127.0.0.1,
/// sends `Host: evil.example:8787` and `Origin: http://evil.example:8787`;
/// matching those two would let it in. Such an attack cannot use `https`: the
/// browser would need the local server to present a valid certificate for the
/// attacker's name. So the self-origin rule only counts for `https` origins,
/// which is what production has (`https://<name>.workers.dev` or a custom
/// domain, routed by Cloudflare only for hostnames we own). Server-side agents
/// send no Origin and are not affected; a plain-http non-loopback origin must
/// be listed in `ALLOWED_ORIGINS`.
pub fn origin_allowed(origin: &str, self_origin: &str, cfg: &Config) -> bool {
    let Some(o) = origin_of(origin) else {
        return false;
    };
    if o.len() != origin.trim().len() {
        return false; // a path or other trailing parts: not an origin
    }
    let host = o.split("://").nth(1).unwrap_or("");
    let hostname = if host.starts_with('[') {
        host.split(']')
            .next()
            .map(|h| format!("{h}]"))
            .unwrap_or_default()
    } else {
        host.split(':').next().unwrap_or("").to_string()
    };
    if matches!(hostname.as_str(), "localhost" | "127.0.0.1" | "[::1]") {
        return true;
    }
    let is_self = o.starts_with("https://") && o == self_origin.to_ascii_lowercase();
    is_self || cfg.allowed_origins.contains(&o)
}

fn cors_headers(mut out: Outgoing, origin: Option<&str>) -> Outgoing {
    if let Some(o) = origin {
        out = out
            .header("access-control-allow-origin", o)
            .header("vary", "Origin")
            .header(
                "access-control-expose-headers",
                "WWW-Authenticate, Mcp-Session-Id",
            );
    }
    out
}

async fn mcp(req: &Incoming, method: &str, raw: &RawSettings, deps: Deps<'_>) -> Outgoing {
    let cfg = match Config::from_raw(raw) {
        Ok(c) => c,
        Err(errs) => return misconfigured(&errs),
    };
    let origin = req.header("origin").map(str::trim);
    if let Some(o) = origin {
        if !origin_allowed(o, &req.self_origin, &cfg) {
            return crate::mcp::error_reply(
                crate::mcp::rpc::RpcError::new(
                    crate::mcp::rpc::INVALID_REQUEST,
                    "Origin not allowed; add it to ALLOWED_ORIGINS",
                )
                .with_status(403),
                false,
            )
            .log("mcp: refused a request from a disallowed Origin");
        }
    }
    if method == "OPTIONS" {
        let out = Outgoing::new(204)
            .header("access-control-allow-methods", "POST, OPTIONS")
            .header("access-control-allow-headers", CORS_ALLOW_HEADERS)
            .header("access-control-max-age", "86400");
        return cors_headers(out, origin);
    }
    if method != "POST" {
        let out = error_json(405, "method_not_allowed", "This MCP endpoint is stateless: POST JSON-RPC messages; there is no GET stream and no session to delete.")
            .header("allow", "POST, OPTIONS");
        return cors_headers(out, origin);
    }
    if cfg.mcp_tokens.is_empty() {
        let out = error_json(
            503,
            "not_configured",
            "MCP_AUTH_TOKEN is not set, so this endpoint refuses every request. Set it with `wrangler secret put MCP_AUTH_TOKEN` (or in .dev.vars locally), then send `Authorization: Bearer <token>`.",
        )
        .log("mcp: refused a request because MCP_AUTH_TOKEN is not set");
        return cors_headers(out, origin);
    }
    match bearer(req.header("authorization")) {
        None => {
            let out = error_json(
                401,
                "unauthorized",
                "Send `Authorization: Bearer <token>` with a token from MCP_AUTH_TOKEN.",
            )
            .header("www-authenticate", REALM);
            return cors_headers(out, origin);
        }
        Some(t) if !matches_any(t, &cfg.mcp_tokens) => {
            let out = error_json(
                401,
                "invalid_token",
                "The bearer token is not valid for this server.",
            )
            .header(
                "www-authenticate",
                &format!("{REALM}, error=\"invalid_token\""),
            )
            .log("mcp: refused a request with an invalid bearer token");
            return cors_headers(out, origin);
        }
        Some(_) => {}
    }
    let cx = Ctx {
        config: &cfg,
        upstream: deps.upstream,
        store: deps.store,
    };
    let out = crate::mcp::handle_post(req, &cx).await;
    cors_headers(out, origin)
}

/// The token of an `Authorization: Bearer <token>` header. The scheme is
/// case-insensitive (RFC 9110); the token is one run of token68 characters.
fn bearer(h: Option<&str>) -> Option<&str> {
    let h = h?.trim();
    let (scheme, rest) = h.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let t = rest.trim();
    (!t.is_empty()).then_some(t)
}

/// How many body bytes the edge should read for a request; more than this is
/// refused with 413 without reading it.
pub fn body_limit(method: &str, path: &str, raw: &RawSettings) -> usize {
    if !method.eq_ignore_ascii_case("POST") {
        return 0;
    }
    match path {
        "/mcp" => crate::mcp::MAX_BODY_BYTES,
        "/webhooks/scale" => crate::config::webhook_max_bytes(raw, &mut Vec::new()),
        _ => 0,
    }
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
    }

    fn cfg(allowed: &str) -> Config {
        let raw = RawSettings::read(
            |n| match n {
                "MCP_AUTH_TOKEN" => Some("0123456789abcdef-token".into()),
                "ALLOWED_ORIGINS" => Some(allowed.into()),
                _ => None,
            },
            false,
        );
        Config::from_raw(&raw).expect("valid config")
    }

    #[test]
    fn origins() {
        let c = cfg("http://app.example:3000");
        let prod = "https://scale-mcp.example.workers.dev";
        assert!(origin_allowed(prod, prod, &c));
        assert!(origin_allowed("http://localhost:6274", prod, &c));
        assert!(origin_allowed(
            "http://127.0.0.1:8787",
            "http://127.0.0.1:8787",
            &c
        ));
        assert!(origin_allowed(
            "http://[::1]:8787",
            "http://127.0.0.1:8787",
            &c
        ));
        assert!(origin_allowed("http://app.example:3000", prod, &c));
        assert!(!origin_allowed("https://evil.example", prod, &c));
        assert!(!origin_allowed("null", prod, &c));
        assert!(!origin_allowed("http://localhost.evil.example", prod, &c));
        assert!(!origin_allowed(&format!("{prod}/path"), prod, &c));
        // DNS rebinding against a plain-http dev server: Host and Origin both
        // name the attacker's domain, so "own origin" must not let it in.
        assert!(!origin_allowed(
            "http://evil.example:8787",
            "http://evil.example:8787",
            &c
        ));
    }
}
