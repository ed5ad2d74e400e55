//! The router: which route a request is for, and the rules applied around
//! the routes, once each — the configuration check (of the settings that
//! route uses), the browser-origin rule, the CORS preflight and headers, and
//! for `/mcp` the bearer token, its principal and the connection's view
//! (AUTH.md B); the callback key for `/webhooks/scale` is the receiver's own.
//! Every rule that needs only the request's head runs before its body is
//! read. Platform-free: the edge builds the [`Request`] and writes back the
//! [`Response`].

use crate::auth::{bearer, mcp_path, origin_allowed, Keyring, View};
use crate::config::{Config, ConfigError, RawSettings, SETTINGS};
use crate::http::{error_json, Request, Response};
use crate::io::{Caller, Ctx, Services};
use crate::mcp::methods::SERVER_NAME;
use crate::mcp::rpc::{RpcError, INVALID_REQUEST};
use serde::Serialize;
use serde_json::{Map, Value};

pub(crate) const CORS_ALLOW_HEADERS: &str =
    "Authorization, Content-Type, Accept, MCP-Protocol-Version, Mcp-Method, Mcp-Name, Mcp-Session-Id, Last-Event-ID, X-MCP-Readonly, X-MCP-Tools, X-MCP-Exclude-Tools, X-Scale-Project";
const REALM: &str = "Bearer realm=\"scale-mcp\"";

/// The routes of the worker.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Health,
    Mcp,
    Webhook,
    /// The retired HTTP+SSE transport.
    Sse,
    OAuthDiscovery,
    Root,
    NotFound,
}

fn route(method: &str, path: &str) -> Route {
    match (method, path) {
        ("GET" | "HEAD", "/health") => Route::Health,
        (_, "/webhooks/scale") => Route::Webhook,
        ("GET", "/sse") | ("POST", "/sse") | ("GET", "/mcp/sse") => Route::Sse,
        // `/mcp`, and the narrowing paths `/mcp/readonly`, `/mcp/projects/{name}`.
        (_, p) if mcp_path(p).is_some() => Route::Mcp,
        (_, p) if p.starts_with("/.well-known/oauth-") => Route::OAuthDiscovery,
        ("GET", "/") => Route::Root,
        _ => Route::NotFound,
    }
}

/// Answers one request.
pub async fn handle(req: &Request, raw: &RawSettings, services: Services) -> Response {
    let method = req.method.to_ascii_uppercase();
    match route(&method, &req.path) {
        Route::Health => health(req, raw),
        Route::Mcp => mcp(req, &method, raw, services).await,
        Route::Webhook => {
            if method != "POST" {
                return error_json(405, "method_not_allowed", "POST Scale callbacks to this URL")
                    .header("allow", "POST");
            }
            match Config::checked(raw, true) {
                Ok(cfg) => {
                    let now = services.upstream.now_ms();
                    crate::webhook::receive(req, &cfg, services.store.as_deref(), now).await
                }
                // Scale retries 5xx, so a delivery that arrives during a bad deploy is not lost.
                Err(errs) => misconfigured(&errs),
            }
        }
        Route::Sse => Response::json(
            410,
            &Gone {
                error: "gone",
                message: "The HTTP+SSE transport is not served. Use Streamable HTTP: POST to the /mcp endpoint.",
                mcp_endpoint: format!("{}/mcp", req.self_origin),
            },
        ),
        Route::OAuthDiscovery => error_json(
            404,
            "not_found",
            "This server does not use OAuth. Send `Authorization: Bearer <token>` with a token from MCP_AUTH_TOKEN.",
        ),
        Route::Root => Response::json(
            200,
            &Index {
                name: SERVER_NAME,
                version: crate::VERSION,
                mcp: format!("{}/mcp", req.self_origin),
                webhook: format!("{}/webhooks/scale", req.self_origin),
                health: format!("{}/health", req.self_origin),
            },
        ),
        Route::NotFound => error_json(
            404,
            "not_found",
            "Unknown path. The MCP endpoint is /mcp; Scale callbacks go to /webhooks/scale.",
        ),
    }
}

#[derive(Serialize)]
struct Gone {
    error: &'static str,
    message: &'static str,
    mcp_endpoint: String,
}

#[derive(Serialize)]
struct Index {
    name: &'static str,
    version: &'static str,
    mcp: String,
    webhook: String,
    health: String,
}

/// What `/mcp` runs with: the configuration of its settings and the tokens.
fn load(raw: &RawSettings) -> Result<(Config, Keyring), Vec<ConfigError>> {
    let cfg = Config::checked(raw, false);
    let keys = Keyring::from_raw(raw);
    let errors = match &cfg {
        Ok(c) => mcp_errors(c, &keys),
        Err(e) => e
            .iter()
            .chain(keys.as_ref().err().into_iter().flatten())
            .cloned()
            .collect(),
    };
    match (cfg, keys) {
        (Ok(c), Ok(k)) if errors.is_empty() => Ok((c, k)),
        _ => Err(errors),
    }
}

/// The mistakes `/mcp` finds beyond [`Config`]'s own: in the tokens, and
/// names in `TOOLS` and `EXCLUDE_TOOLS` that are not tools of this server (a
/// misspelt exclusion would otherwise leave a tool offered).
fn mcp_errors(cfg: &Config, keys: &Result<Keyring, Vec<ConfigError>>) -> Vec<ConfigError> {
    let mut errors: Vec<ConfigError> = keys.as_ref().err().into_iter().flatten().cloned().collect();
    for (name, list) in [
        ("TOOLS", cfg.tools.as_deref().unwrap_or(&[])),
        ("EXCLUDE_TOOLS", &cfg.exclude_tools[..]),
    ] {
        if let Some(bad) = list.iter().find(|t| crate::tools::find(t).is_none()) {
            errors.push(ConfigError::new(
                name,
                format!(
                    "names `{}`, which is not a tool of this server",
                    crate::json::truncate(bad, 64)
                ),
            ));
        }
    }
    errors
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    /// The rest only for a caller with a valid bearer token: which settings
    /// are set (never their values) tells an attacker what to aim at.
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    settings: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<String>,
}

fn health(req: &Request, raw: &RawSettings) -> Response {
    let (cfg, mut errs) = Config::read(raw);
    let keys = Keyring::from_raw(raw);
    errs.extend(mcp_errors(&cfg, &keys));
    let status = if errs.is_empty() {
        "ok"
    } else {
        "misconfigured"
    };
    let authenticated = bearer(req.header("authorization"))
        .is_some_and(|t| keys.as_ref().is_ok_and(|k| k.identify(t).is_some()));
    let body = if authenticated {
        let mut settings = Map::new();
        for name in SETTINGS {
            settings.insert(name.to_string(), Value::Bool(raw.present(name)));
        }
        settings.insert("CALLBACKS".into(), Value::Bool(raw.kv_bound));
        settings.insert("RATE_LIMITER".into(), Value::Bool(raw.rate_limiter_bound));
        Health {
            status,
            version: Some(crate::VERSION),
            settings: Some(settings),
            errors: errs.iter().map(|e| e.to_string()).collect(),
        }
    } else {
        Health {
            status,
            version: None,
            settings: None,
            errors: Vec::new(),
        }
    };
    Response::json(if errs.is_empty() { 200 } else { 500 }, &body)
        .header("cache-control", "no-store")
}

fn misconfigured(errs: &[ConfigError]) -> Response {
    let msg: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    error_json(
        500,
        "misconfigured",
        &format!("The worker's configuration is invalid: {}", msg.join("; ")),
    )
    .log(format!("configuration invalid: {}", msg.join("; ")))
}

/// `/mcp`: the origin rule first (a refused origin gets no CORS headers),
/// then everything else with CORS headers for the allowed origin.
async fn mcp(req: &Request, method: &str, raw: &RawSettings, services: Services) -> Response {
    let (cfg, keys) = match load(raw) {
        Ok(c) => c,
        Err(errs) => return misconfigured(&errs),
    };
    let origin = req.header("origin").map(str::trim);
    if let Some(o) = origin {
        if !origin_allowed(o, &req.self_origin, &cfg) {
            return crate::mcp::error_reply(
                RpcError::new(
                    INVALID_REQUEST,
                    "Origin not allowed; add it to ALLOWED_ORIGINS",
                )
                .with_status(403),
                false,
            )
            .log("mcp: refused a request from a disallowed Origin");
        }
    }
    let out = mcp_allowed(req, method, cfg, &keys, services).await;
    match origin {
        Some(o) => out
            .header("access-control-allow-origin", o)
            .header("vary", "Origin")
            .header(
                "access-control-expose-headers",
                "WWW-Authenticate, Mcp-Session-Id",
            ),
        None => out,
    }
}

/// `/mcp` for an allowed origin: preflight, method, the bearer token and its
/// principal, then the connection's view from the path and headers.
async fn mcp_allowed(
    req: &Request,
    method: &str,
    cfg: Config,
    keys: &Keyring,
    services: Services,
) -> Response {
    if method == "OPTIONS" {
        return Response::new(204)
            .header("access-control-allow-methods", "POST, OPTIONS")
            .header("access-control-allow-headers", CORS_ALLOW_HEADERS)
            .header("access-control-max-age", "86400");
    }
    if method != "POST" {
        return error_json(405, "method_not_allowed", "This MCP endpoint is stateless: POST JSON-RPC messages; there is no GET stream and no session to delete.")
            .header("allow", "POST, OPTIONS");
    }
    if keys.is_empty() {
        return error_json(
            503,
            "not_configured",
            "MCP_AUTH_TOKEN is not set, so this endpoint refuses every request. Set it with `wrangler secret put MCP_AUTH_TOKEN` (or in .dev.vars locally), then send `Authorization: Bearer <token>`.",
        )
        .log("mcp: refused a request because MCP_AUTH_TOKEN is not set");
    }
    let principal = match bearer(req.header("authorization")) {
        None => {
            return error_json(
                401,
                "unauthorized",
                "Send `Authorization: Bearer <token>` with a token from MCP_AUTH_TOKEN.",
            )
            .header("www-authenticate", REALM)
        }
        Some(t) => match keys.identify(t) {
            Some(p) => p,
            None => {
                return error_json(
                    401,
                    "invalid_token",
                    "The bearer token is not valid for this server.",
                )
                .header(
                    "www-authenticate",
                    &format!("{REALM}, error=\"invalid_token\""),
                )
                .log("mcp: refused a request with an invalid bearer token")
            }
        },
    };
    let path = match mcp_path(&req.path) {
        Some(Ok(p)) => p,
        Some(Err(m)) => return bad_view(&m),
        None => return error_json(404, "not_found", "Unknown MCP path."),
    };
    let known = |t: &str| crate::tools::find(t).is_some();
    let view = match View::new(
        principal,
        &cfg,
        &path,
        &req.headers,
        &known,
        !keys.uniform(),
    ) {
        Ok(v) => v,
        Err(m) => return bad_view(&m),
    };
    let caller = Caller::new(view, &req.self_origin, &request_id(req, &services));
    crate::mcp::handle_post(req, &Ctx::for_caller(cfg, services, caller)).await
}

/// A connection asking for a narrowing that is malformed or outside what
/// the server allows: 400, never 403 (B.2: signing in cannot change it).
fn bad_view(message: &str) -> Response {
    crate::mcp::error_reply(
        RpcError::new(INVALID_REQUEST, message).with_status(400),
        false,
    )
}

/// The id audit lines carry: Cloudflare's `cf-ray` for the request when it
/// is there (Workers Logs shows it too), else one made from the clock.
fn request_id(req: &Request, services: &Services) -> String {
    let ray = req.header("cf-ray").map(str::trim).filter(|r| {
        !r.is_empty() && r.len() <= 64 && r.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
    });
    match ray {
        Some(r) => r.to_string(),
        None => {
            thread_local!(static SEQ: std::cell::Cell<u32> = const { std::cell::Cell::new(0) });
            let n = SEQ.with(|s| {
                s.set(s.get().wrapping_add(1));
                s.get()
            });
            format!("{:x}-{n:x}", services.upstream.now_ms())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(route("GET", "/health"), Route::Health);
        assert_eq!(route("HEAD", "/health"), Route::Health);
        assert_eq!(route("POST", "/health"), Route::NotFound);
        assert_eq!(route("DELETE", "/mcp"), Route::Mcp);
        assert_eq!(route("POST", "/mcp/readonly"), Route::Mcp);
        assert_eq!(route("POST", "/mcp/projects/a%20b/readonly"), Route::Mcp);
        assert_eq!(route("POST", "/mcp/projects"), Route::NotFound);
        assert_eq!(route("GET", "/webhooks/scale"), Route::Webhook);
        assert_eq!(route("GET", "/mcp/sse"), Route::Sse);
        assert_eq!(
            route("GET", "/.well-known/oauth-protected-resource/mcp"),
            Route::OAuthDiscovery
        );
        assert_eq!(route("GET", "/"), Route::Root);
        assert_eq!(route("POST", "/"), Route::NotFound);
    }
}
