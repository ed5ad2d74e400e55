//! The OAuth 2.1 authorization server, so hosted agents (Claude.ai, ChatGPT)
//! can use `/mcp`: a user adds the URL, signs in on a page the worker serves,
//! and the connector works. Static bearer tokens keep working beside it.
//!
//! Pure: the platform is reached through `io` (WebCrypto, the consistent
//! store, the isolate's memo, upstream fetches), and every decision is made
//! here; the store only keeps rows (see `io::state`). What the router uses:
//! - [`enabled`]: OAuth is on when its store is bound and a sign-in method
//!   exists (static tokens for operator access, or `OAUTH_BYOK`);
//! - [`route`]: discovery (RFC 9728, RFC 8414), `/authorize`, `/token`,
//!   `/register`, `/revoke` and the grants page `/oauth/grants`;
//! - [`authenticate`]: an `/mcp` bearer token → not ours, refused,
//!   unavailable, or a [`GrantView`];
//! - [`challenge`]: the `WWW-Authenticate` value of a 401.
//!
//! Stored records are `serde_json::Value` objects read through [`s`] and
//! friends rather than derived types: derived (de)serializers for them cost
//! about 20 KiB of the compressed upload on the first OAuth branch, and
//! `Value` is linked already. Token formats, the stored rows and the sealing
//! of a user's Scale key are described in `docs/oauth.md`.

mod authorize;
mod client;
mod grants;
mod page;
mod token;

#[cfg(test)]
mod tests;

use crate::codec::{base64_decode, base64url};
use crate::config::{Config, Secret};
use crate::http::{Request, Response};
use crate::io::{BoxFut, OAuthPlatform, Services, Upstream};
use serde_json::{json, Value};

/// The scopes of AUTH.md part B, in the order pages and metadata list them.
pub(crate) const SCOPES: [&str; 3] = ["scale:read", "scale:write", "scale:team"];
const ALL_SCOPES: &str = "scale:read scale:write scale:team";

/// Lifetimes, in seconds.
const CODE_TTL: u64 = 300;
const ACCESS_TTL: u64 = 3600;
const REFRESH_TTL: u64 = 30 * 24 * 3600;
const CLIENT_TTL: u64 = 90 * 24 * 3600;
/// How long an isolate trusts what it read about an access token, so a
/// revoked grant is refused everywhere within this time.
const MEMO_MS: u64 = 60_000;

/// The tenant of grants made with an operator token.
const OPERATOR: &str = "operator";
const CODE: &str = "smcp_ac_";
const ACCESS: &str = "smcp_at_";
const REFRESH: &str = "smcp_rt_";

/// The largest body an OAuth endpoint reads (forms and registrations are small).
pub(crate) const MAX_BODY: usize = 64 * 1024;

/// Whether OAuth sign-in is on for this configuration.
pub(crate) fn enabled(cfg: &Config, services: &Services) -> bool {
    services.oauth.is_some() && (cfg.oauth_byok || !cfg.mcp_tokens.is_empty())
}

/// The OAuth server as one request sees it.
pub(crate) struct OAuth<'a> {
    cfg: &'a Config,
    p: &'a OAuthPlatform,
    up: &'a dyn Upstream,
    /// `PUBLIC_URL`, else the origin the request came to.
    issuer: String,
    now_ms: u64,
}

impl<'a> OAuth<'a> {
    /// `None` when the OAuth store is not bound.
    pub(crate) fn new(cfg: &'a Config, services: &'a Services, self_origin: &str) -> Option<Self> {
        Some(OAuth {
            cfg,
            p: services.oauth.as_ref()?,
            up: &*services.upstream,
            issuer: cfg.public_url.clone().unwrap_or_else(|| self_origin.to_string()),
            now_ms: services.upstream.now_ms(),
        })
    }

    fn now(&self) -> u64 {
        self.now_ms / 1000
    }

    /// `n` random bytes in URL-safe base64.
    fn random(&self, n: usize) -> Result<String, String> {
        let mut b = [0u8; 32];
        self.p.crypto.random(&mut b[..n])?;
        Ok(base64url(&b[..n]))
    }

    /// The id a token (or anything else) is stored under: its SHA-256.
    fn hash<'b>(&'b self, data: &'b str) -> BoxFut<'b, Result<String, String>> {
        Box::pin(async move { Ok(base64url(&self.p.crypto.digest(None, data.as_bytes()).await?)) })
    }

    /// HMAC-SHA-256 of `purpose`, a zero byte and `data` under `key`, so a
    /// value made for one purpose never matches another's.
    fn mac<'b>(&'b self, key: &'b [u8], purpose: &'b str, data: &'b [u8]) -> BoxFut<'b, Result<[u8; 32], String>> {
        Box::pin(async move {
            let msg = [purpose.as_bytes(), &[0], data].concat();
            self.p.crypto.digest(Some(key), &msg).await
        })
    }

    async fn keyed(&self, key: &[u8], purpose: &str, data: &[u8]) -> Result<String, String> {
        Ok(base64url(&self.mac(key, purpose, data).await?))
    }

    /// The server keys, newest first: `OAUTH_SECRET`, or a key generated once
    /// and kept in the store (read once per isolate).
    fn keys(&self) -> BoxFut<'_, Result<Vec<Vec<u8>>, String>> {
        Box::pin(async move {
            if !self.cfg.oauth_secrets.is_empty() {
                return Ok(self.cfg.oauth_secrets.iter().map(|s| s.expose().as_bytes().to_vec()).collect());
            }
            let key = match self.p.memo.get("server_key", 0) {
                Some(Value::String(k)) => k,
                _ => {
                    let candidate = json!(self.random(32)?);
                    let ops = json!([["cas", "m:key", null, "", candidate, 0]]);
                    let key = match self.run(ops).await? {
                        Some(_) => candidate,
                        None => self.run(json!([["get", "m:key"]])).await?.map(|mut r| r.remove(0)).unwrap_or_default(),
                    };
                    let key = key.as_str().ok_or("the store holds no server key")?.to_string();
                    self.p.memo.put("server_key".into(), json!(key), u64::MAX);
                    key
                }
            };
            Ok(vec![key.into_bytes()])
        })
    }

    /// `plain` sealed under the current server key's subkey for `purpose`.
    async fn seal(&self, purpose: &str, plain: &[u8]) -> Result<String, String> {
        let keys = self.keys().await?;
        let k = self.mac(&keys[0], purpose, b"key").await?;
        Ok(base64url(&self.p.crypto.seal(&k, plain).await?))
    }

    /// What [`OAuth::seal`] made for `purpose` under any server key.
    async fn unseal(&self, purpose: &str, text: &str) -> Result<Option<Vec<u8>>, String> {
        let Some(bytes) = base64_decode(text) else {
            return Ok(None);
        };
        for key in self.keys().await? {
            let k = self.mac(&key, purpose, b"key").await?;
            if let Some(plain) = self.p.crypto.open(&k, &bytes).await? {
                return Ok(Some(plain));
            }
        }
        Ok(None)
    }

    /// Runs store operations (`io::state`); `None` when a `cas` failed.
    fn run(&self, ops: Value) -> BoxFut<'_, Result<Option<Vec<Value>>, String>> {
        Box::pin(async move {
            match self.p.state.run(&ops).await.map_err(|e| format!("the OAuth store failed: {e}"))? {
                Value::Array(r) => Ok(Some(r)),
                _ => Ok(None),
            }
        })
    }

    /// One store read.
    async fn get(&self, key: &str) -> Result<Option<String>, String> {
        let r = self.run(json!([["get", key]])).await?.unwrap_or_default();
        Ok(r.first().and_then(Value::as_str).map(str::to_string))
    }

    /// Counts an attempt in `bucket`; `Some(seconds to wait)` when over `limit` per `window`.
    async fn limited(&self, bucket: String, limit: u64, window: u64) -> Result<Option<u64>, String> {
        let r = self.run(json!([["hit", format!("r:{bucket}"), window]])).await?.unwrap_or_default();
        let hit = r.first().cloned().unwrap_or_default();
        let (count, ends) = (hit[0].as_u64().unwrap_or(0), hit[1].as_u64().unwrap_or(0));
        Ok((count > limit).then(|| ends.saturating_sub(self.now()).max(1)))
    }

    /// Ends a grant: its row and its access tokens, here and in this
    /// isolate's memo (other isolates stop within [`MEMO_MS`]).
    async fn drop_grant(&self, id: &str) -> Result<(), String> {
        self.p.memo.forget("id", id);
        self.run(json!([["del", format!("g:{id}"), id]])).await.map(|_| ())
    }

    /// The keyed hashes of every configured static token under every server
    /// key, memoized per configuration (they are checked on every call of
    /// an operator grant).
    async fn operator_hashes(&self) -> Result<Vec<String>, String> {
        let keys = self.keys().await?;
        let mut fp = Vec::new();
        for t in &self.cfg.mcp_tokens {
            fp.extend_from_slice(t.expose().as_bytes());
            fp.push(0);
        }
        for k in &keys {
            fp.extend_from_slice(k);
            fp.push(1);
        }
        let memo_key = format!("ops:{:x}", crate::codec::fnv64(&fp));
        if let Some(Value::Array(h)) = self.p.memo.get(&memo_key, self.now_ms) {
            return Ok(h.iter().filter_map(|v| v.as_str().map(str::to_string)).collect());
        }
        let mut out = Vec::new();
        for t in &self.cfg.mcp_tokens {
            for k in &keys {
                out.push(self.keyed(k, "operator", t.expose().as_bytes()).await?);
            }
        }
        self.p.memo.put(memo_key, json!(out), self.now_ms + 3_600_000);
        Ok(out)
    }
}

/// A field of a stored record as text ("" when absent).
fn s<'v>(v: &'v Value, field: &str) -> &'v str {
    v.get(field).and_then(Value::as_str).unwrap_or("")
}

/// A field of a stored record as a number (0 when absent).
fn n(v: &Value, field: &str) -> u64 {
    v.get(field).and_then(Value::as_u64).unwrap_or(0)
}

/// A stored record's text, parsed.
fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_default()
}

/// Whether `t` is `prefix` then 32 bytes of URL-safe base64 (checked before hashing).
fn shaped(t: &str, prefix: &str) -> bool {
    t.strip_prefix(prefix)
        .is_some_and(|r| r.len() == 43 && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

/// Form or query parameters. Each may appear once (RFC 6749 §3.1), except
/// the sign-in page's `grant_scope` checkboxes; an empty value counts as absent.
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(s: &str) -> Result<Params, String> {
        let mut v: Vec<(String, String)> = Vec::new();
        for part in s.split('&').filter(|p| !p.is_empty()) {
            let (k, val) = part.split_once('=').unwrap_or((part, ""));
            let (Some(k), Some(val)) = (crate::codec::form_decode(k), crate::codec::form_decode(val)) else {
                return Err("The parameters contain a malformed %-escape or text that is not UTF-8.".into());
            };
            if k != "grant_scope" && v.iter().any(|(k2, _)| *k2 == k) {
                return Err(format!("The parameter `{}` appears more than once.", crate::json::truncate(&k, 40)));
            }
            v.push((k, val));
        }
        Ok(Params(v))
    }
    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, v)| k == name && !v.is_empty()).map(|(_, v)| v.as_str())
    }
    fn has(&self, name: &str, value: &str) -> bool {
        self.0.iter().any(|(k, v)| k == name && v == value)
    }
}

/// The caller's address as Cloudflare reports it, for rate limits.
fn client_ip(req: &Request) -> &str {
    req.header("cf-connecting-ip")
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 64)
        .unwrap_or("unknown")
}

/// `/mcp`, or a narrowed path under it: non-empty segments of URL characters,
/// no dot segments.
fn mcp_path_ok(path: &str) -> bool {
    path == "/mcp"
        || path.strip_prefix("/mcp/").is_some_and(|rest| {
            path.len() <= 512
                && rest.split('/').all(|seg| {
                    !seg.is_empty()
                        && !matches!(seg.to_ascii_lowercase().as_str(), "." | ".." | "%2e" | "%2e%2e" | ".%2e" | "%2e.")
                        && seg.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=:@".contains(&b))
                })
        })
}

/// The canonical form of a `resource` parameter (RFC 8707) naming this
/// server: its origin (case-insensitive), then nothing, `/` or an MCP path.
fn parse_resource(issuer: &str, value: &str) -> Option<String> {
    let (scheme, rest) = value.split_once("://")?;
    let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
    if format!("{scheme}://{authority}").to_ascii_lowercase() != issuer {
        return None;
    }
    match path {
        "" | "/" => Some(issuer.to_string()),
        p if mcp_path_ok(p) => Some(format!("{issuer}{p}")),
        _ => None,
    }
}

/// Whether a token bound to `audience` may be used at `resource`: the same
/// URL or a path under it, never above it.
fn covers(audience: &str, resource: &str) -> bool {
    resource.strip_prefix(audience).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The `WWW-Authenticate` value of a 401 for `resource` (`{issuer}{path}`):
/// where its metadata is (RFC 9728 §5.1, path inserted), every scope (some
/// clients ask for what the 401 names and never step up later), and an
/// `invalid_token` error with its reason when a token was refused.
pub(crate) fn challenge(issuer: &str, resource: &str, refused: Option<&str>) -> String {
    let path = resource.strip_prefix(issuer).unwrap_or("");
    let mut v = format!(
        "Bearer realm=\"scale-mcp\", resource_metadata=\"{issuer}/.well-known/oauth-protected-resource{path}\", scope=\"{ALL_SCOPES}\""
    );
    if let Some(why) = refused {
        // A quoted-string: no quote, backslash or control character.
        let why: String = why.chars().filter(|c| *c != '"' && *c != '\\' && !c.is_control()).collect();
        v.push_str(&format!(", error=\"invalid_token\", error_description=\"{why}\""));
    }
    v
}

/// Whose Scale account a grant uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Tenant {
    /// The operator's account and callback log.
    Operator,
    /// A user's own account; its id is the same at every sign-in.
    User(String),
}

/// The Scale key a grant's calls use.
#[derive(Clone, Debug)]
pub(crate) enum ScaleKey {
    /// The operator's `SCALE_API_KEY`.
    Operator,
    /// The user's own key, unsealed for this request only.
    Own(Secret),
}

/// A signed-in user, as the rest of the worker sees them. Today the router
/// reads the label and the Scale key; the rest is for mapping a grant to a
/// principal with scopes (least privilege), which comes next.
#[derive(Clone, Debug)]
#[allow(dead_code)]
pub(crate) struct GrantView {
    pub grant_id: String,
    /// For logs: `oauth:<token label or tenant id>:<grant id>`; never a secret.
    pub label: String,
    pub client_name: String,
    pub scopes: Vec<String>,
    /// The resource (audience) the token is bound to.
    pub resource: String,
    pub tenant: Tenant,
    pub scale_key: ScaleKey,
    /// The user's answer to "allow billed work" for their own `live_` key.
    pub billed_allowed: bool,
    /// Operator access: the keyed hash of the static token it came from.
    pub operator_token_hash: Option<String>,
}

/// What an `/mcp` bearer token means.
#[derive(Debug)]
pub(crate) enum Auth {
    /// Not an OAuth token of this server: check it as a static token.
    NotOAuth,
    /// Ours, but not usable here; the text is the 401's `error_description`.
    Refused(&'static str),
    /// Storage or crypto failed: 503, so a client keeps its good token.
    Unavailable(String),
    Granted(Box<GrantView>),
}

/// What `token` sent to `resource` (`{issuer}{path}`) means. The token's
/// record is read from the store at most once per [`MEMO_MS`] per isolate;
/// expiry, audience and an operator grant's static token are checked on
/// every call, and a user's own Scale key is unsealed with the token itself.
pub(crate) async fn authenticate(o: &OAuth<'_>, token: &str, resource: &str) -> Auth {
    if !token.starts_with("smcp_") {
        return Auth::NotOAuth;
    }
    match check_access(o, token, resource).await {
        Ok(Ok(g)) => Auth::Granted(Box::new(g)),
        Ok(Err(why)) => Auth::Refused(why),
        Err(e) => Auth::Unavailable(e),
    }
}

async fn check_access(o: &OAuth<'_>, token: &str, resource: &str) -> Result<Result<GrantView, &'static str>, String> {
    if !shaped(token, ACCESS) {
        return Ok(Err("This is not an access token of this server (a refresh token or code cannot be used as one)."));
    }
    let hash = o.hash(token).await?;
    let memo_key = format!("a:{hash}");
    let a = match o.p.memo.get(&memo_key, o.now_ms) {
        Some(a) => a,
        None => {
            let a = o.get(&memo_key).await?.map_or(Value::Null, |t| parse(&t));
            o.p.memo.put(memo_key, a.clone(), o.now_ms + MEMO_MS);
            a
        }
    };
    if a.is_null() || n(&a, "expires") <= o.now() {
        return Ok(Err("The access token is unknown, expired or revoked. Refresh it or sign in again."));
    }
    if !covers(s(&a, "resource"), resource) {
        return Ok(Err("This access token is for another resource (a narrower path) than this one."));
    }
    let op = s(&a, "op");
    let scale_key = if op.is_empty() {
        match open_scale_key(o, &a, token).await? {
            Some(k) => ScaleKey::Own(Secret::new(k)),
            None => return Ok(Err("This sign-in's Scale key cannot be opened with this token. Sign in again.")),
        }
    } else {
        if !o.operator_hashes().await?.iter().any(|h| h == op) {
            return Ok(Err("The operator token this sign-in used has been removed. Sign in again."));
        }
        ScaleKey::Operator
    };
    let tenant = match s(&a, "tenant") {
        OPERATOR => Tenant::Operator,
        t => Tenant::User(t.to_string()),
    };
    Ok(Ok(GrantView {
        grant_id: s(&a, "id").to_string(),
        label: format!("oauth:{}:{}", s(&a, "label"), s(&a, "id")),
        client_name: s(&a, "name").to_string(),
        scopes: s(&a, "scope").split(' ').map(str::to_string).collect(),
        resource: s(&a, "resource").to_string(),
        tenant,
        scale_key,
        billed_allowed: a["billed"] == true,
        operator_token_hash: (!op.is_empty()).then(|| op.to_string()),
    }))
}

/// A user's Scale key is sealed under a random grant key, which is stored
/// only wrapped (sealed) under a key derived from each live token: so
/// neither the store nor the store plus the worker's secrets opens it.
/// `wrapped` is the grant key sealed for `token`; `None` if it does not open.
async fn unwrap_key(o: &OAuth<'_>, token: &str, wrapped: &str) -> Result<Option<[u8; 32]>, String> {
    let kek = o.mac(token.as_bytes(), "wrap", b"").await?;
    let plain = match base64_decode(wrapped) {
        Some(b) => o.p.crypto.open(&kek, &b).await?,
        None => None,
    };
    Ok(plain.and_then(|p| p.try_into().ok()))
}

/// The grant key sealed for `token`.
async fn wrap_key(o: &OAuth<'_>, token: &str, key: &[u8; 32]) -> Result<String, String> {
    let kek = o.mac(token.as_bytes(), "wrap", b"").await?;
    Ok(base64url(&o.p.crypto.seal(&kek, key).await?))
}

/// The Scale key of an own-key record (`sealed`, bound to the grant id),
/// opened with the grant key that `token` unwraps from `wrapped`.
async fn open_scale_key(o: &OAuth<'_>, rec: &Value, token: &str) -> Result<Option<String>, String> {
    let Some(k) = unwrap_key(o, token, s(rec, "wrapped")).await? else {
        return Ok(None);
    };
    let plain = match base64_decode(s(rec, "sealed")) {
        Some(b) => o.p.crypto.open(&k, &b).await?,
        None => None,
    };
    // The grant id is sealed with the key, so a sealed key copied into
    // another grant does not open there.
    Ok(plain
        .and_then(|p| String::from_utf8(p).ok())
        .and_then(|p| p.strip_prefix(&format!("{}\n", s(rec, "id"))).map(str::to_string)))
}

/// Answers the OAuth endpoints; `None` when `req.path` is not one of them.
/// Each endpoint runs in its own boxed future, so none embeds the others.
pub(crate) async fn route(o: &OAuth<'_>, req: &Request) -> Option<Response> {
    const PRM: &str = "/.well-known/oauth-protected-resource";
    let method = req.method.to_ascii_uppercase();
    let m = method.as_str();
    let path = req.path.as_str();
    let fut: BoxFut<'_, Response> = match path {
        "/.well-known/oauth-authorization-server" => return Some(discovery(m, authorization_server(&o.issuer))),
        p if p.starts_with(PRM) => {
            let rest = &p[PRM.len()..];
            return Some(if rest.is_empty() || mcp_path_ok(rest) {
                discovery(m, protected_resource(&o.issuer, rest))
            } else if rest.starts_with('/') {
                oauth_error(404, "not_found", "No MCP endpoint is served at this path; its metadata is at /.well-known/oauth-protected-resource/mcp.")
            } else {
                return None;
            });
        }
        p if p.starts_with("/.well-known/oauth-authorization-server/") || p.starts_with("/.well-known/openid-configuration") => {
            return Some(oauth_error(404, "not_found", "The authorization server's metadata is at /.well-known/oauth-authorization-server (its issuer has no path)."))
        }
        "/authorize" => match m {
            "GET" | "HEAD" => Box::pin(authorize::get(o, req)),
            "POST" => Box::pin(authorize::post(o, req)),
            _ => return Some(page::method_not_allowed()),
        },
        "/oauth/grants" => match m {
            "GET" | "HEAD" => Box::pin(grants::get(o, req)),
            "POST" => Box::pin(grants::post(o, req)),
            _ => return Some(page::method_not_allowed()),
        },
        "/token" | "/register" | "/revoke" => match m {
            "OPTIONS" => return Some(preflight()),
            "POST" if path == "/token" => Box::pin(token::token(o, req)),
            "POST" if path == "/revoke" => Box::pin(token::revoke(o, req)),
            "POST" => Box::pin(client::register(o, req)),
            _ => return Some(oauth_error(405, "invalid_request", "Use POST.").header("allow", "POST, OPTIONS")),
        },
        _ => return None,
    };
    Some(fut.await)
}

/// RFC 8414 metadata: S256 only; `none` for metadata-document clients.
fn authorization_server(issuer: &str) -> String {
    const DOC: &str = r#"{"issuer":"@","authorization_endpoint":"@/authorize","token_endpoint":"@/token","registration_endpoint":"@/register","revocation_endpoint":"@/revoke","scopes_supported":["scale:read","scale:write","scale:team"],"response_types_supported":["code"],"response_modes_supported":["query"],"grant_types_supported":["authorization_code","refresh_token"],"token_endpoint_auth_methods_supported":["none","client_secret_post","client_secret_basic"],"revocation_endpoint_auth_methods_supported":["none","client_secret_post","client_secret_basic"],"code_challenge_methods_supported":["S256"],"client_id_metadata_document_supported":true,"authorization_response_iss_parameter_supported":true,"service_documentation":"@/oauth/grants"}"#;
    // The issuer is a checked origin: no character in it needs escaping.
    DOC.replace('@', issuer)
}

/// RFC 9728 metadata of the resource at `path` (the root, `/mcp` or under it).
fn protected_resource(issuer: &str, path: &str) -> String {
    format!(
        r#"{{"resource":"{issuer}{path}","authorization_servers":["{issuer}"],"scopes_supported":["scale:read","scale:write","scale:team"],"bearer_methods_supported":["header"],"resource_name":"Scale AI (MCP)"}}"#
    )
}

/// A discovery document: public, cacheable, readable from any origin.
fn discovery(method: &str, doc: String) -> Response {
    match method {
        "GET" | "HEAD" => Response::new(200)
            .header("content-type", "application/json")
            .header("cache-control", "public, max-age=300")
            .header("access-control-allow-origin", "*")
            .body(doc.into_bytes()),
        "OPTIONS" => preflight(),
        _ => oauth_error(405, "invalid_request", "Use GET.").header("allow", "GET, HEAD, OPTIONS"),
    }
}

fn preflight() -> Response {
    Response::new(204)
        .header("access-control-allow-origin", "*")
        .header("access-control-allow-methods", "GET, POST, OPTIONS")
        .header("access-control-allow-headers", "Authorization, Content-Type, MCP-Protocol-Version")
        .header("access-control-max-age", "86400")
}

#[derive(serde::Serialize)]
struct OAuthError<'a> {
    error: &'a str,
    error_description: &'a str,
}

/// An RFC 6749 §5.2 error answer (also for discovery and registration).
#[inline(never)]
fn oauth_error(status: u16, code: &str, description: &str) -> Response {
    Response::json(status, &OAuthError { error: code, error_description: description })
        .header("cache-control", "no-store")
        .header("access-control-allow-origin", "*")
}

/// 503 for a platform failure (logged, never shown).
#[inline(never)]
fn unavailable(e: String) -> Response {
    oauth_error(503, "temporarily_unavailable", "The sign-in service is unavailable right now; try again shortly.")
        .header("retry-after", "5")
        .log(format!("oauth: {e}"))
}

/// Whether the request's content type is `want`.
fn content_type_is(req: &Request, want: &str) -> bool {
    req.header("content-type")
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(want))
}

/// The body of a form post, as parameters; `Err` is the answer.
async fn read_form(req: &Request) -> Result<Params, String> {
    if !content_type_is(req, "application/x-www-form-urlencoded") {
        return Err("Send the request as application/x-www-form-urlencoded.".into());
    }
    let body = req.read_body(MAX_BODY).await.map_err(|_| format!("The body is larger than {} KiB or could not be read.", MAX_BODY / 1024))?;
    Params::parse(std::str::from_utf8(&body).map_err(|_| "The body is not UTF-8.")?)
}
