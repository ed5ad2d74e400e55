//! `/mcp`'s admission, up to the request's context: the origin rule and
//! CORS, the preflight and method, the caller's identity from the bearer
//! token (a static token, else an OAuth access token when sign-in is on,
//! with the 401, 429 or 503 that refuses one), the connection's view from
//! its path and headers, and the request id its audit lines carry. Then the
//! protocol (`crate::mcp`) answers, and a signed-in user's missing scope
//! gets the challenge to sign in again.

use super::settings::{load, misconfigured};
use crate::auth::{bearer, mcp_path, origin_allowed, Identity, Keyring, View};
use crate::config::{Config, RawSettings};
use crate::context::Ctx;
use crate::http::{error_json, Request, Response};
use crate::io::{BoxFut, Services};
use crate::mcp::rpc::{RpcError, INVALID_REQUEST};
use crate::oauth::Auth;

/// The request headers a browser client may send to `/mcp`.
const CORS_ALLOW_HEADERS: &str =
    "Authorization, Content-Type, Accept, MCP-Protocol-Version, Mcp-Method, Mcp-Name, Mcp-Session-Id, Last-Event-ID, X-MCP-Readonly, X-MCP-Tools, X-MCP-Exclude-Tools, X-Scale-Project";
/// The challenge of a 401 when sign-in is off.
const REALM: &str = "Bearer realm=\"scale-mcp\"";

/// `/mcp`: the origin rule first (a refused origin gets no CORS headers),
/// then everything else with CORS headers for the allowed origin.
pub(super) async fn mcp(
    req: &Request,
    method: &str,
    raw: &RawSettings,
    services: Services,
) -> Response {
    let (cfg, keys) = match load(raw) {
        Ok(c) => c,
        Err(errs) => return misconfigured(req, raw, &errs),
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

/// `/mcp` for an allowed origin: preflight, method, the caller's identity
/// from the bearer token (a static token, else when sign-in is on an OAuth
/// access token, whose grant may bring the user's own Scale key and
/// account), then the connection's view from the path and headers.
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
    let oauth_on = crate::oauth::enabled(&cfg, keys, &services);
    if keys.is_empty() && !oauth_on {
        return error_json(
            503,
            "not_configured",
            "MCP_AUTH_TOKEN is not set, so this endpoint refuses every request. Set it with `wrangler secret put MCP_AUTH_TOKEN` (or in .dev.vars locally), then send `Authorization: Bearer <token>`.",
        )
        .log("mcp: refused a request because MCP_AUTH_TOKEN is not set");
    }
    let token = bearer(req.header("authorization"));
    let store = services.store.clone();
    let identity = match token.and_then(|t| keys.identity(t, &cfg, store, &req.self_origin)) {
        Some(id) => id,
        None => match signed_in(req, &cfg, keys, &services, token, oauth_on).await {
            Ok(id) => *id,
            Err(refused) => return refused,
        },
    };
    let path = match mcp_path(&req.path) {
        Some(Ok(p)) => p,
        Some(Err(m)) => return bad_view(&m),
        None => return error_json(404, "not_found", "Unknown MCP path."),
    };
    let known = |t: &str| crate::tools::find(t).is_some();
    let principal = identity.principal();
    let view = match View::new(principal, &cfg, keys, &path, &req.headers, &known) {
        Ok(v) => v,
        Err(m) => return bad_view(&m),
    };
    // Only a signed-in user's answer can need it (below).
    let issuer = principal
        .kind
        .steps_up()
        .then(|| crate::oauth::issuer(&cfg, &req.self_origin));
    let request_id = request_id(req, &services);
    let url = (&*req.self_origin, &*req.path);
    let mut cx = Ctx::new(cfg, services, identity, view, url, &request_id);
    cx.narrowing = crate::auth::view::narrowing(&req.headers).into();
    let out = crate::mcp::handle_post(req, &cx).await;
    // Only a signed-in user's missing scope is answered with 403
    // (docs/permissions.md §2): the challenge tells the client to sign in again
    // for every scope.
    if let (Some(issuer), 403) = (issuer, out.status) {
        let resource = format!("{issuer}{}", req.path);
        let www = crate::oauth::challenge(&issuer, &resource, None);
        return out.header(
            "www-authenticate",
            &format!("{www}, error=\"insufficient_scope\""),
        );
    }
    out
}

/// A connection asking for a narrowing that is malformed or outside what the
/// server allows: 400, never 403 (docs/permissions.md §2: signing in cannot
/// change it).
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

/// The caller an OAuth access token is for (when sign-in is on), or the
/// 401 or 503 to answer. Boxed, so `/mcp`'s future does not carry OAuth's.
fn signed_in<'a>(
    req: &'a Request,
    cfg: &'a Config,
    keys: &'a Keyring,
    services: &'a Services,
    token: Option<&'a str>,
    oauth_on: bool,
) -> BoxFut<'a, Result<Box<Identity>, Response>> {
    Box::pin(async move {
        let issuer = crate::oauth::issuer(cfg, &req.self_origin);
        let resource = format!("{issuer}{}", req.path);
        // With sign-in on, every 401 says where the OAuth metadata is.
        let www = |refused: Option<&str>| match (oauth_on, refused) {
            (true, _) => crate::oauth::challenge(&issuer, &resource, refused),
            (false, None) => REALM.to_string(),
            (false, Some(_)) => format!("{REALM}, error=\"invalid_token\""),
        };
        let Some(token) = token else {
            let how = if oauth_on {
                "Sign in with OAuth (see resource_metadata in WWW-Authenticate), or send `Authorization: Bearer <token>` with a token from MCP_AUTH_TOKEN."
            } else {
                "Send `Authorization: Bearer <token>` with a token from MCP_AUTH_TOKEN."
            };
            return Err(error_json(401, "unauthorized", how).header("www-authenticate", &www(None)));
        };
        let auth = match oauth_on {
            true => crate::oauth::authenticate(cfg, keys, services, req, token, &resource).await,
            false => Auth::NotOurs,
        };
        let why = match auth {
            Auth::Granted(g) => return Ok(g),
            Auth::NotOurs => "The bearer token is not valid for this server.",
            Auth::Refused(why) => why,
            Auth::Unavailable(e) => {
                return Err(error_json(
                    503,
                    "temporarily_unavailable",
                    "Sign-in state cannot be read right now; retry shortly.",
                )
                .header("retry-after", "5")
                .log(format!("mcp: OAuth unavailable: {e}")));
            }
        };
        // Only refused tokens are counted, so a valid one never waits for
        // the binding; past its limit an address gets 429 (a failing
        // binding counts nothing and refuses nothing).
        if let Some(limiter) = &services.auth_limiter {
            if matches!(
                limiter.allow(&crate::oauth::client_ip(req)).await,
                Ok(false)
            ) {
                return Err(error_json(
                    429,
                    "too_many_requests",
                    "Too many invalid bearer tokens from your network; retry in 60 seconds.",
                )
                .header("retry-after", "60")
                .log("mcp: too many invalid bearer tokens from this address (AUTH_LIMITER)"));
            }
        }
        Err(error_json(401, "invalid_token", why)
            .header("www-authenticate", &www(Some(why)))
            .log("mcp: refused a request with an invalid bearer token"))
    })
}
