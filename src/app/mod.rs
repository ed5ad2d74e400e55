//! The router: which route a request is for, and the rules applied around the
//! routes, once each — the configuration check (of the settings that route
//! uses), the browser-origin rule, the CORS preflight and headers, and for
//! `/mcp` the bearer token (a static token, or an OAuth access token when
//! sign-in is on) made into the caller's identity, and the connection's view
//! (docs/permissions.md), from which it builds the request's context; the
//! callback key for `/webhooks/scale` is the receiver's own. Every rule that
//! needs only the request's head runs before its body is read.
//! Platform-free: the edge builds the [`Request`] and writes back the
//! [`Response`].
//!
//! Here: the routes, [`handle`], and the glue of the OAuth routes. Beside it,
//! one file per concern: `admission` (`/mcp` up to the request's context),
//! `webhooks` (the operator's receiver and each tenant's), `health`, and
//! `settings` (what each route is checked against, and the answer to a
//! malformed setting).

mod admission;
mod health;
pub mod jobs;
mod settings;
mod webhooks;
#[cfg(test)]
mod tests;

use crate::auth::{mcp_path, Keyring};
use crate::config::{Config, RawSettings};
use crate::http::{error_json, Request, Response};
use crate::io::Services;
use crate::mcp::lane::SERVER_NAME;
use serde::Serialize;
use settings::{load, misconfigured};

/// The routes of the worker.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Health,
    Mcp,
    Webhook,
    /// `/webhooks/scale/{tenant}`: a signed-in user's own Scale account.
    TenantWebhook,
    /// The retired HTTP+SSE transport.
    Sse,
    /// Discovery, sign-in and tokens (`crate::oauth`).
    OAuth,
    Root,
    NotFound,
}

fn route(method: &str, path: &str) -> Route {
    match (method, path) {
        ("GET" | "HEAD", "/health") => Route::Health,
        (_, "/webhooks/scale") => Route::Webhook,
        (_, p) if p.starts_with("/webhooks/scale/") => Route::TenantWebhook,
        ("GET", "/sse") | ("POST", "/sse") | ("GET", "/mcp/sse") => Route::Sse,
        (_, "/authorize" | "/token" | "/register" | "/revoke" | "/oauth/grants") => Route::OAuth,
        (_, p) if p.starts_with("/.well-known/oauth-") || p.starts_with("/.well-known/openid-") => {
            Route::OAuth
        }
        // `/mcp`, and the narrowing paths `/mcp/readonly`, `/mcp/projects/{name}`.
        (_, p) if mcp_path(p).is_some() => Route::Mcp,
        ("GET", "/") => Route::Root,
        _ => Route::NotFound,
    }
}

/// Answers one request.
pub async fn handle(req: &Request, raw: &RawSettings, services: Services) -> Response {
    let method = req.method.to_ascii_uppercase();
    match route(&method, &req.path) {
        Route::Health => health::health(req, raw),
        Route::Mcp => admission::mcp(req, &method, raw, services).await,
        Route::Webhook => webhooks::operator(req, &method, raw, &services).await,
        Route::TenantWebhook => webhooks::tenant(req, &method, raw, &services).await,
        Route::Sse => Response::json(
            410,
            &Gone {
                error: "gone",
                message: "The HTTP+SSE transport is not served. Use Streamable HTTP: POST to the /mcp endpoint.",
                mcp_endpoint: format!("{}/mcp", req.self_origin),
            },
        ),
        Route::OAuth => oauth(req, raw, &services).await,
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

/// The OAuth endpoints when sign-in is on; else what they answered before
/// OAuth existed (JSON 404s that point at bearer tokens).
async fn oauth(req: &Request, raw: &RawSettings, services: &Services) -> Response {
    let (cfg, keys) = match load(raw) {
        Ok(c) => c,
        Err(errs) if services.oauth.is_some() => return misconfigured(req, raw, &errs),
        Err(_) => (Config::read(raw).0, Keyring::default()),
    };
    if crate::oauth::enabled(&cfg, &keys, services) {
        let declared = req
            .header("content-length")
            .and_then(|v| v.trim().parse::<usize>().ok());
        if declared.is_some_and(|n| n > crate::oauth::MAX_BODY) {
            return error_json(413, "too_large", "OAuth requests are at most 64 KiB.");
        }
        if let Some(out) = crate::oauth::serve(req, &cfg, &keys, services).await {
            return out;
        }
    }
    if req.path.starts_with("/.well-known/") {
        return error_json(
            404,
            "not_found",
            "This server does not use OAuth here. Send `Authorization: Bearer <token>` with a token from MCP_AUTH_TOKEN.",
        );
    }
    error_json(
        404,
        "not_found",
        "Unknown path. The MCP endpoint is /mcp; Scale callbacks go to /webhooks/scale.",
    )
}
