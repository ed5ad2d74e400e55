//! The router: which route a request is for, and the rules applied around
//! the routes, once each — the configuration check (of the settings that
//! route uses), the browser-origin rule, the CORS preflight and headers, and
//! for `/mcp` the bearer token (a static token, or an OAuth access token when
//! sign-in is on), its principal and the connection's view (AUTH.md B); the
//! callback key for `/webhooks/scale` is the receiver's own. Every rule that
//! needs only the request's head runs before its body is read. Platform-free:
//! the edge builds the [`Request`] and writes back the [`Response`].

use crate::auth::{
    bearer, mcp_path, origin_allowed, Keyring, Principal, PrincipalKind, Scope, Scopes, View,
};
use crate::config::{Config, ConfigError, RawSettings, SETTINGS};
use crate::http::{error_json, Request, Response};
use crate::io::{BoxFut, Caller, Ctx, Services};
use crate::mcp::methods::SERVER_NAME;
use crate::mcp::rpc::{RpcError, INVALID_REQUEST};
use crate::oauth::{Auth, GrantView, ScaleKey};
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
    /// Discovery, sign-in and tokens (`crate::oauth`).
    OAuth,
    Root,
    NotFound,
}

fn route(method: &str, path: &str) -> Route {
    match (method, path) {
        ("GET" | "HEAD", "/health") => Route::Health,
        (_, "/webhooks/scale") => Route::Webhook,
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

/// The OAuth endpoints when sign-in is on; else what they answered before
/// OAuth existed (JSON 404s that point at bearer tokens).
async fn oauth(req: &Request, raw: &RawSettings, services: &Services) -> Response {
    let (cfg, keys) = match load(raw) {
        Ok(c) => c,
        Err(errs) if services.oauth.is_some() => return misconfigured(&errs),
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

/// `/mcp` for an allowed origin: preflight, method, the bearer token (a
/// static token, else when sign-in is on an OAuth access token, whose grant
/// may bring the user's own Scale key) and its principal, then the
/// connection's view from the path and headers.
async fn mcp_allowed(
    req: &Request,
    method: &str,
    mut cfg: Config,
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
    let (principal, signed) = match token.and_then(|t| keys.identify(t)) {
        Some(p) => (p, false),
        None => match signed_in(req, &cfg, keys, &services, token, oauth_on).await {
            Ok(g) => {
                if let ScaleKey::Own(k) = &g.scale_key {
                    cfg.scale_api_key = Some(k.clone());
                }
                (grant_principal(&g), true)
            }
            Err(refused) => return refused,
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
        !keys.uniform() || signed,
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

/// The principal an OAuth grant acts as, until grants have a principal kind
/// of their own (the least-privilege integration: a kind that steps up with
/// 403 `insufficient_scope`, per-tenant callback logs): the grant's label
/// and the scopes the user granted.
fn grant_principal(g: &GrantView) -> Principal {
    let scopes: Vec<Scope> = g.scopes.iter().filter_map(|s| Scope::parse(s)).collect();
    Principal {
        label: g.label.clone(),
        kind: PrincipalKind::StaticToken,
        scopes: Scopes::of(&scopes),
    }
}

/// The grant of an OAuth access token (when sign-in is on), or the 401 or
/// 503 to answer. Boxed, so `/mcp`'s future does not carry OAuth's.
fn signed_in<'a>(
    req: &'a Request,
    cfg: &'a Config,
    keys: &'a Keyring,
    services: &'a Services,
    token: Option<&'a str>,
    oauth_on: bool,
) -> BoxFut<'a, Result<Box<GrantView>, Response>> {
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
        Err(error_json(401, "invalid_token", why)
            .header("www-authenticate", &www(Some(why)))
            .log("mcp: refused a request with an invalid bearer token"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::fakes::{block_on, services_with_oauth};
    use crate::oauth::tests::{World, ISS, KEY_A, OP_TOKEN, OWN_A};

    /// A request through the router with `w`'s settings and platform.
    fn send(w: &World, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Response {
        let req = Request {
            method: method.into(),
            path: path.into(),
            self_origin: ISS.into(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec().into(),
            ..Default::default()
        };
        block_on(handle(
            &req,
            &w.raw(),
            services_with_oauth(&w.up, None, &w.oauth),
        ))
    }

    fn list_projects(w: &World, token: &str) -> Response {
        let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_projects","arguments":{}}}"#;
        let auth = format!("Bearer {token}");
        let headers = [
            ("authorization", auth.as_str()),
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
            ("mcp-protocol-version", "2025-06-18"),
        ];
        send(w, "POST", "/mcp", &headers, body)
    }

    fn basic(key: &str) -> String {
        format!(
            "Basic {}",
            crate::codec::base64(format!("{key}:").as_bytes())
        )
    }

    #[test]
    fn mcp_calls_with_an_oauth_token_use_the_grants_scale_key() {
        let w = World::new();
        let client = w.register("none");
        let (at, _) = w.tokens_for(&client, &OWN_A);
        let r = list_projects(&w, &at);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let last = w.up.sent().pop().unwrap();
        assert!(
            last.headers.iter().any(|(_, v)| *v == basic(KEY_A)),
            "the user's own key"
        );
        // The audit line names the grant by its label, never by a token.
        assert!(
            r.logs
                .iter()
                .any(|l| l.contains(r#""principal":"oauth:u_"#)),
            "{:?}",
            r.logs
        );
        assert!(!r.logs.iter().any(|l| l.contains("smcp_")), "{:?}", r.logs);
        // Static tokens work beside OAuth and use the operator's key.
        assert_eq!(list_projects(&w, OP_TOKEN).status, 200);
        let last = w.up.sent().pop().unwrap();
        assert!(last
            .headers
            .iter()
            .any(|(_, v)| *v == basic("test_operator_key")));
        // A refused token gets the challenge that points at the metadata.
        let r = list_projects(&w, "smcp_at_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        assert_eq!(r.status, 401);
        let www = r.get_header("www-authenticate").unwrap();
        assert!(www.starts_with(r#"Bearer realm="scale-mcp", resource_metadata="https://w.example.com/.well-known/oauth-protected-resource/mcp", scope="scale:read scale:write scale:team", error="invalid_token", error_description="The access token is unknown"#), "{www}");
        let r = send(
            &w,
            "POST",
            "/mcp",
            &[("content-type", "application/json")],
            "{}",
        );
        assert_eq!(r.status, 401);
        assert!(r
            .get_header("www-authenticate")
            .unwrap()
            .ends_with(r#"scope="scale:read scale:write scale:team""#));
        // The store failing is a 503, so the client keeps its token.
        w.oauth.state.fail.set(true);
        w.advance(61);
        let r = list_projects(&w, &at);
        assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.get_header("retry-after"), Some("5"));
        assert_eq!(
            list_projects(&w, OP_TOKEN).status,
            200,
            "static tokens need no store"
        );
    }

    #[test]
    fn an_oauth_grant_can_do_only_what_the_user_granted() {
        let w = World::new();
        let client = w.register("none");
        let read_only = [
            ("method", "own_key"),
            ("scale_key", KEY_A),
            ("grant_scope", "scale:read"),
        ];
        let (at, _) = w.tokens_for(&client, &read_only);
        assert_eq!(list_projects(&w, &at).status, 200);
        let body = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"create_project","arguments":{"name":"p","type":"textcollection"}}}"#;
        let auth = format!("Bearer {at}");
        let headers = [
            ("authorization", auth.as_str()),
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
            ("mcp-protocol-version", "2025-06-18"),
        ];
        let sent = w.up.sent().len();
        let r = send(&w, "POST", "/mcp", &headers, body);
        let text = String::from_utf8_lossy(&r.body);
        assert_eq!(r.status, 200, "{text}");
        assert!(
            text.contains(r#""isError":true"#) && text.contains("scale:write"),
            "{text}"
        );
        assert_eq!(w.up.sent().len(), sent, "nothing reached Scale");
    }

    #[test]
    fn oauth_paths_are_json_404s_without_a_sign_in_method_and_bodies_are_capped() {
        let mut w = World::new();
        let big = (crate::oauth::MAX_BODY + 1).to_string();
        let r = send(&w, "POST", "/token", &[("content-length", &big)], "");
        assert_eq!(r.status, 413);
        assert_eq!(
            send(&w, "GET", "/.well-known/openid-configuration", &[], "").status,
            404
        );
        w.set("MCP_AUTH_TOKEN", "");
        w.set("OAUTH_BYOK", "false");
        for path in [
            "/.well-known/oauth-authorization-server",
            "/.well-known/oauth-protected-resource/mcp",
            "/authorize",
            "/token",
        ] {
            let r = send(&w, "GET", path, &[], "");
            assert_eq!(r.status, 404, "{path}");
            assert!(r
                .get_header("content-type")
                .unwrap()
                .starts_with("application/json"));
        }
        // Without sign-in, /mcp's 401 is the plain realm and a malformed
        // OAuth setting names itself.
        w.set("MCP_AUTH_TOKEN", OP_TOKEN);
        w.set("PUBLIC_URL", "http://not-https.example");
        let r = send(
            &w,
            "GET",
            "/.well-known/oauth-authorization-server",
            &[],
            "",
        );
        assert_eq!(r.status, 500);
        assert!(String::from_utf8_lossy(&r.body).contains("PUBLIC_URL"));
    }

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
            Route::OAuth
        );
        assert_eq!(route("POST", "/token"), Route::OAuth);
        assert_eq!(route("GET", "/oauth/grants"), Route::OAuth);
        assert_eq!(route("GET", "/"), Route::Root);
        assert_eq!(route("POST", "/"), Route::NotFound);
    }
}
