//! The OAuth 2.1 authorization server, so hosted agents (Claude.ai, ChatGPT)
//! can use `/mcp`: a user adds the URL, signs in on a page the worker serves,
//! and the connector works. Static bearer tokens keep working beside it.
//!
//! Pure: the platform is reached through `io` (AES-GCM and randomness, the
//! consistent store, the isolate's memo, upstream fetches) and every decision
//! is made here; the store only keeps rows (see `io::state`). What the router
//! uses:
//! - [`enabled`]: OAuth is on when its store is bound and a sign-in method
//!   exists (static tokens for operator access, or `OAUTH_BYOK`);
//! - [`serve`]: discovery (RFC 9728, RFC 8414), `/authorize`, `/token`,
//!   `/register`, `/revoke` and the grants page `/oauth/grants`;
//! - [`authenticate`]: an `/mcp` bearer token → not ours, refused,
//!   unavailable, or the caller's `Identity` (the router never sees the
//!   grant's record, only who the token is for and on whose account);
//! - [`challenge`]: the `WWW-Authenticate` value of a 401;
//! - [`tenant_callback_hash`] and [`callback_key_matches`]: a tenant's
//!   webhook and the check of its deliveries.
//!
//! This file is the router; each concern has a file of its own:
//! - the endpoints: `discovery`, `authorize`, `token` (and `/revoke`),
//!   `register`, `grants`; the pages' HTML (`page`) and the sign-in step
//!   both pages share (`sign_in`);
//! - the access check of `/mcp`: `access`, with `seal` (a user's Scale key,
//!   sealed) and `tenant` (own-key users' ids and webhooks);
//! - clients: `client` (which one an id names, client authentication),
//!   `metadata` (what a client says of itself), `redirect` (redirect URIs),
//!   and `fetch` (the guarded fetch of a URL a caller chose);
//! - what they share: `server` (the server as one request sees it, its keys
//!   and signatures), `step` (how an endpoint reaches the platform),
//!   `record` (stored records), `issued` (what is handed out, and for how
//!   long), `params`, `limit` (rate limits), `resource` (which URLs name
//!   `/mcp`), and `answer` (the JSON answers they share).
//!
//! Written for a small upload (issue 14 caps it): the endpoints are plain
//! functions that ask for I/O through `step::Io` (see `step` for why);
//! hashes and MACs are synchronous (`codec`); stored records are
//! `serde_json::Value` objects (see `record`). Token formats, stored rows
//! and the sealing of a user's Scale key are described in `docs/oauth.md`.

mod access;
mod answer;
mod authorize;
mod client;
mod discovery;
mod fetch;
mod grants;
mod issued;
mod limit;
mod metadata;
mod page;
mod params;
mod record;
mod redirect;
mod register;
mod resource;
mod seal;
mod server;
mod sign_in;
mod step;
mod tenant;
mod token;

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
pub(crate) mod tests;

pub(crate) use access::{authenticate, Auth};
pub(crate) use discovery::challenge;
pub(crate) use limit::client_ip;
pub(crate) use server::issuer;
pub(crate) use step::MAX_BODY;
pub(crate) use tenant::{callback_key_matches, tenant_callback_hash};

use crate::auth::Keyring;
use crate::config::Config;
use crate::http::{Request, Response};
use crate::io::{BoxFut, Services};
use answer::{oauth_error, preflight, unavailable};
use server::OAuth;
use step::{drive, Io, Randomness, Stop};

/// Whether OAuth sign-in is on for this configuration.
pub(crate) fn enabled(cfg: &Config, tokens: &Keyring, services: &Services) -> bool {
    services.oauth.is_some() && (cfg.oauth_byok || !tokens.is_empty())
}

/// Answers the OAuth endpoints; `None` when `req.path` is not one of them.
/// Each endpoint runs in its own boxed future, so none embeds the others.
pub(crate) fn serve<'a>(
    req: &'a Request,
    cfg: &'a Config,
    tokens: &'a Keyring,
    services: &'a Services,
) -> BoxFut<'a, Option<Response>> {
    Box::pin(async move {
        let m = req.method.to_ascii_uppercase();
        let path = req.path.as_str();
        if path.starts_with("/.well-known/") {
            let iss = server::issuer(cfg, &req.self_origin);
            return Some(discovery::serve(&m, path, &iss));
        }
        let page = matches!(path, "/authorize" | "/oauth/grants");
        if !page && !matches!(path, "/token" | "/register" | "/revoke") {
            return None;
        }
        let allowed = match (page, m.as_str()) {
            (true, "GET" | "HEAD" | "POST") | (false, "POST") => true,
            (false, "OPTIONS") => return Some(preflight()),
            _ => false,
        };
        if !allowed {
            return Some(if page {
                page::error_page(
                    405,
                    "Method not allowed",
                    "This page accepts GET and POST only.",
                )
                .header("allow", "GET, POST")
            } else {
                oauth_error(405, "invalid_request", "Use POST.").header("allow", "POST, OPTIONS")
            });
        }
        let o = match OAuth::new(cfg, tokens, services, &req.self_origin).await {
            Ok(Some(o)) => o,
            Ok(None) => return None,
            Err(e) => return Some(if page { page::down(e) } else { unavailable(e) }),
        };
        let post = m == "POST";
        let endpoint: &dyn Fn(&Io) -> Result<Response, Stop> = match path {
            "/authorize" if post => &|io| authorize::post(&o, req, io),
            "/authorize" => &|io| authorize::get(&o, req, io),
            "/oauth/grants" if post => &|io| grants::post(&o, req, io),
            "/oauth/grants" => &|io| grants::get(&o, req, io),
            "/token" => &|io| token::token(&o, req, io),
            "/revoke" => &|io| token::revoke(&o, req, io),
            _ => &|io| register::register(&o, req, io),
        };
        let out = match drive(&o, req, Randomness::Drawn, endpoint).await {
            Ok(r) => match o.grants_ended().await {
                Some(line) => r.log(line),
                None => r,
            },
            Err(e) if page => page::down(e),
            Err(e) => unavailable(e),
        };
        Some(match o.alert.get() {
            Some(n) => out.log(sign_in::alert_line(n)),
            None => out,
        })
    })
}
