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
//!   unavailable, or the caller's [`Identity`] (the router never sees the
//!   grant's record, only who the token is for and on whose account);
//! - [`challenge`]: the `WWW-Authenticate` value of a 401.
//!
//! Written for a small upload (issue 14 caps it): the endpoints are plain
//! functions that ask for I/O through [`step::Io`] (see `step` for why);
//! hashes and MACs are synchronous (`codec`); stored records are
//! `serde_json::Value` objects read through [`s`] and [`n`] rather than
//! derived types (derived (de)serializers for them measured about 20 KiB of
//! the compressed upload on the first OAuth branch, and `Value` is linked
//! already). Token formats, stored rows and the sealing of a user's Scale key
//! are described in `docs/oauth.md`.

mod authorize;
mod client;
mod grants;
mod page;
mod step;
mod token;

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
pub(crate) mod tests;

use crate::auth::{Identity, Keyring, Principal, Scope, Scopes};
use crate::callback_log::TenantLog;
use crate::codec::{base64_decode, base64url, hmac_sha256, sha256};
use crate::config::{Config, Secret};
use crate::http::{Request, Response};
use crate::io::state::{cas, op};
use crate::io::{BoxFut, CallbackStore, OAuthPlatform, Services, Upstream};
use serde_json::Value;
use std::rc::Rc;
use step::{drive, Io, Stop};

/// The scopes of docs/permissions.md §2, in the order pages and metadata list
/// them.
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
/// How long an isolate remembers that a token or tenant id is absent from
/// the store (its negative cache; such a miss is for good).
const MISS_MS: u64 = ACCESS_TTL * 1000;

/// What the checks on access tokens, refresh tokens and tenant ids are made for.
const ACCESS_CHECK: &str = "access token";
const REFRESH_CHECK: &str = "refresh token";
const TENANT_ID: &str = "tenant id";

/// The tenant of grants made with an operator token.
const OPERATOR: &str = "operator";
const CODE: &str = "smcp_ac_";
const ACCESS: &str = "smcp_at_";
const REFRESH: &str = "smcp_rt_";
/// The length of the check on tokens and tenant ids (132 bits).
const TAG: usize = 22;

/// The largest body an OAuth endpoint reads (forms and registrations are small).
pub(crate) const MAX_BODY: usize = 64 * 1024;

/// Whether OAuth sign-in is on for this configuration.
pub(crate) fn enabled(cfg: &Config, tokens: &Keyring, services: &Services) -> bool {
    services.oauth.is_some() && (cfg.oauth_byok || !tokens.is_empty())
}

/// The OAuth server as one request sees it.
pub(crate) struct OAuth<'a> {
    cfg: &'a Config,
    /// The static tokens of `MCP_AUTH_TOKEN` (operator access).
    tokens: &'a Keyring,
    p: &'a OAuthPlatform,
    up: &'a dyn Upstream,
    /// `PUBLIC_URL`, else the origin the request came to.
    issuer: String,
    now_ms: u64,
    /// The server keys, newest first: `OAUTH_SECRET`, or the key generated
    /// once and kept in the store.
    keys: Vec<Vec<u8>>,
    /// Failed sign-ins from all addresses, when this request's crossed the
    /// alert threshold (logged with the answer; see `authorize`).
    alert: std::cell::Cell<Option<u64>>,
}

/// The issuer for a request: `PUBLIC_URL`, else the origin it came to.
pub(crate) fn issuer(cfg: &Config, self_origin: &str) -> String {
    cfg.public_url
        .clone()
        .unwrap_or_else(|| self_origin.to_string())
}

impl<'a> OAuth<'a> {
    /// `None` when the OAuth store is not bound. Without `OAUTH_SECRET`, the
    /// generated key is read from the store once per isolate.
    async fn new(
        cfg: &'a Config,
        tokens: &'a Keyring,
        services: &'a Services,
        self_origin: &str,
    ) -> Result<Option<OAuth<'a>>, String> {
        let Some(p) = services.oauth.as_ref() else {
            return Ok(None);
        };
        let mut o = OAuth {
            cfg,
            tokens,
            p,
            up: &*services.upstream,
            issuer: issuer(cfg, self_origin),
            now_ms: services.upstream.now_ms(),
            keys: cfg
                .oauth_secrets
                .iter()
                .map(|s| s.expose().as_bytes().to_vec())
                .collect(),
            alert: Default::default(),
        };
        if o.keys.is_empty() {
            let key = o.kept("m:key", o.random(32)?).await?;
            o.keys.push(key.into_bytes());
        }
        Ok(Some(o))
    }

    /// A value kept for good in store row `row`, read once per isolate and
    /// then pinned in the memo; when the row is absent, `fresh` is written
    /// (isolates may race to write it: the first write wins).
    fn kept<'b>(&'b self, row: &'b str, fresh: String) -> BoxFut<'b, Result<String, String>> {
        Box::pin(async move {
            if let Some(Value::String(v)) = self.p.memo.get(row, 0) {
                return Ok(v);
            }
            let v = loop {
                let stored = self
                    .run(&Value::Array(vec![op("get", row, "", "", 0)]))
                    .await?
                    .unwrap_or_default();
                if let Some(v) = stored.first().and_then(Value::as_str) {
                    break v.to_string();
                }
                if self
                    .run(&Value::Array(vec![cas(row, None, "", &fresh, 0)]))
                    .await?
                    .is_some()
                {
                    break fresh;
                }
            };
            // Kept until the end of time: the memo evicts it last of all.
            self.p
                .memo
                .put(row.into(), Value::String(v.clone()), u64::MAX);
            Ok(v)
        })
    }

    /// When this server first saw a token of the older, unchecked shape
    /// (Unix seconds; kept in row `m:old`). Every token of that shape was
    /// issued before then, so none is alive [`REFRESH_TTL`] after it (an
    /// access token, [`ACCESS_TTL`] after it).
    async fn old_shapes_since(&self) -> Result<u64, String> {
        let t = self.kept("m:old", self.now().to_string()).await?;
        Ok(t.parse().unwrap_or(0))
    }

    fn now(&self) -> u64 {
        self.now_ms / 1000
    }

    /// `n` (at most 32) random bytes in URL-safe base64 (for the server key).
    fn random(&self, n: usize) -> Result<String, String> {
        let mut b = [0u8; 32];
        self.p.crypto.random(&mut b[..n])?;
        Ok(base64url(&b[..n]))
    }

    /// A keyed hash of `data` for `purpose` under each server key, newest
    /// first. The purpose is part of the message, so a value made for one
    /// purpose never matches another's.
    fn macs(&self, purpose: &str, data: &[u8]) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| mac_with(k, purpose, data))
            .collect()
    }

    /// `body` with its check appended: `.` and the first [`TAG`] characters
    /// of its keyed hash for `purpose` under `key`. Tokens and tenant ids
    /// carry one, so junk is refused before any store read.
    fn tagged(key: &[u8], purpose: &str, body: String) -> String {
        let tag = mac_with(key, purpose, body.as_bytes());
        format!("{body}.{}", &tag[..TAG])
    }

    /// [`OAuth::tagged`] under the current key.
    fn tag(&self, purpose: &str, body: String) -> String {
        Self::tagged(&self.keys[0], purpose, body)
    }

    /// The shape of a presented token or tenant id, checked before any store
    /// read: `Some(true)` when it is `body.tag` with a body of the older
    /// shape (`old`) and a check made under a server key, `Some(false)` when
    /// it is of the older shape itself (no check: those still alive stay
    /// accepted), `None` otherwise.
    fn shape(&self, purpose: &str, t: &str, old: fn(&str) -> bool) -> Option<bool> {
        match t.rsplit_once('.') {
            Some((body, tag)) if tag.len() == TAG && old(body) => {
                let mut ok = false;
                for k in &self.keys {
                    let m = mac_with(k, purpose, body.as_bytes());
                    ok |= crate::auth::ct_eq(&m.as_bytes()[..TAG], tag.as_bytes());
                }
                ok.then_some(true)
            }
            _ => old(t).then_some(false),
        }
    }

    /// [`OAuth::macs`] under the current key.
    fn mac(&self, purpose: &str, data: &[u8]) -> String {
        self.macs(purpose, data).swap_remove(0)
    }

    /// Whether `given` is the keyed hash of `data` under any server key
    /// (every one is compared, in constant time).
    fn mac_ok(&self, purpose: &str, data: &[u8], given: &str) -> bool {
        self.macs(purpose, data).iter().fold(false, |ok, m| {
            ok | crate::auth::ct_eq(m.as_bytes(), given.as_bytes())
        })
    }

    /// `payload` (JSON with an `exp`) signed for `purpose`: readable, but
    /// not changeable without a server key. Client ids and page tickets.
    fn sign(&self, purpose: &str, payload: &Value) -> String {
        let text = base64url(payload.to_string().as_bytes());
        let mac = self.mac(purpose, text.as_bytes());
        format!("{text}.{mac}")
    }

    /// What [`OAuth::sign`] signed, if it is intact and not expired.
    fn verify(&self, purpose: &str, signed: &str) -> Option<Value> {
        let (text, mac) = signed.split_once('.')?;
        if !self.mac_ok(purpose, text.as_bytes(), mac) {
            return None;
        }
        let v = parse(&String::from_utf8(base64_decode(text)?).ok()?);
        (n(&v, "exp") > self.now()).then_some(v)
    }

    /// Of the scopes `granted` (names, space-separated), those the static
    /// token whose keyed hash is `op` allows now, by the rule sign-in used;
    /// `None` when no configured token has that hash. So removing a token
    /// from `MCP_AUTH_TOKEN` ends the operator grants made with it, and
    /// lowering its scopes lowers theirs.
    fn operator_scopes(&self, op: &str, granted: &str) -> Option<String> {
        let mut found = None;
        for t in self.tokens.tokens() {
            if self.mac_ok(OPERATOR, t.secret().expose().as_bytes(), op) {
                found = Some(t.scopes);
            }
        }
        let allowed = found?;
        let mut left = String::new();
        for x in granted.split(' ') {
            if Scope::parse(x).is_some_and(|sc| allowed.allows(sc)) {
                if !left.is_empty() {
                    left.push(' ');
                }
                left += x;
            }
        }
        Some(left)
    }

    /// Runs store operations (`io::state`); `None` when a `cas` failed.
    fn run<'b>(&'b self, ops: &'b Value) -> BoxFut<'b, Result<Option<Vec<Value>>, String>> {
        Box::pin(async move {
            match self
                .p
                .state
                .run(ops)
                .await
                .map_err(|e| format!("the OAuth store failed: {e}"))?
            {
                Value::Array(r) => Ok(Some(r)),
                _ => Ok(None),
            }
        })
    }

    /// Counts an attempt in each bucket; `Some(seconds to wait)` when one is
    /// over its limit. A bucket is `(name, limit, window in seconds)`.
    fn limited(&self, io: &Io, buckets: &[(String, u64, u64)]) -> Result<Option<u64>, Stop> {
        let ops: Vec<Value> = buckets
            .iter()
            .map(|(b, _, w)| op("hit", &format!("r:{b}"), "", "", *w))
            .collect();
        let hits = io.store(ops)?.unwrap_or_default();
        Ok(buckets
            .iter()
            .zip(hits)
            .filter(|((_, limit, _), hit)| hit[0].as_u64().unwrap_or(0) > *limit)
            .map(|(_, hit)| {
                hit[1]
                    .as_u64()
                    .unwrap_or(0)
                    .saturating_sub(self.now())
                    .max(1)
            })
            .max())
    }

    /// Ends a grant: its row and its access tokens, here and in this
    /// isolate's memo (other isolates stop within [`MEMO_MS`]).
    fn drop_grant(&self, io: &Io, id: &str) -> Result<(), Stop> {
        self.p.memo.forget("id", id);
        io.store(vec![op("del", &format!("g:{id}"), id, "", 0)])
            .map(|_| ())
    }
}

/// The keyed hash of `data` for `purpose` under `key`, in URL-safe base64.
fn mac_with(key: &[u8], purpose: &str, data: &[u8]) -> String {
    base64url(&hmac_sha256(
        key,
        &[purpose.as_bytes(), &[0], data].concat(),
    ))
}

/// A stored record: a JSON object of text fields, then number fields (a
/// flag is 0 or 1; an absent text is ""). Not `json!`, whose every field
/// costs a few hundred bytes of wasm.
#[inline(never)]
fn record(text: &[(&str, &str)], nums: &[(&str, u64)]) -> Value {
    let mut m = serde_json::Map::new();
    for (k, v) in text {
        m.insert((*k).into(), Value::String((*v).into()));
    }
    for (k, v) in nums {
        m.insert((*k).into(), Value::from(*v));
    }
    Value::Object(m)
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

/// What a token is stored under: its SHA-256, in URL-safe base64.
fn hash(token: &str) -> String {
    base64url(&sha256(token.as_bytes()))
}

/// Whether `t` is `prefix` then 32 bytes of URL-safe base64 (checked before hashing).
fn shaped(t: &str, prefix: &str) -> bool {
    t.strip_prefix(prefix).is_some_and(|r| b64(r, 43))
}

/// Whether `r` is `len` characters of URL-safe base64.
fn b64(r: &str, len: usize) -> bool {
    r.len() == len
        && r.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// An access token of the older shape: the prefix and 32 random bytes.
fn old_access(t: &str) -> bool {
    shaped(t, ACCESS)
}

/// A refresh token of the older shape: the prefix, the grant id, `.` and
/// 32 random bytes.
fn old_refresh(t: &str) -> bool {
    t.strip_prefix(REFRESH)
        .and_then(|r| r.split_once('.'))
        .is_some_and(|(id, secret)| id.len() == 24 && id.starts_with("g_") && b64(secret, 43))
}

/// A tenant id of the older shape: `u_` and 22 characters of a keyed hash.
fn old_tenant(t: &str) -> bool {
    t.strip_prefix("u_").is_some_and(|r| b64(r, 22))
}

/// Form or query parameters. Each may appear once (RFC 6749 §3.1), except
/// the sign-in page's `grant_scope` checkboxes; an empty value counts as absent.
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(s: &str) -> Result<Params, String> {
        let mut v: Vec<(String, String)> = Vec::new();
        for part in s.split('&').filter(|p| !p.is_empty()) {
            let (k, val) = part.split_once('=').unwrap_or((part, ""));
            let (Some(k), Some(val)) =
                (crate::codec::form_decode(k), crate::codec::form_decode(val))
            else {
                return Err(
                    "The parameters contain a malformed %-escape or text that is not UTF-8.".into(),
                );
            };
            if k != "grant_scope" && v.iter().any(|(k2, _)| *k2 == k) {
                return Err(format!(
                    "The parameter `{}` appears more than once.",
                    crate::json::truncate(&k, 40)
                ));
            }
            v.push((k, val));
        }
        Ok(Params(v))
    }
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }
    fn has(&self, name: &str, value: &str) -> bool {
        self.0.iter().any(|(k, v)| k == name && v == value)
    }
}

/// Whom a per-address rate limit counts: the caller's IPv4 address as
/// Cloudflare reports it, or the /64 of an IPv6 one. A /64 is what one
/// subscriber gets, so rotating addresses inside it gains nothing.
#[inline(never)]
pub(crate) fn client_ip(req: &Request) -> String {
    let ip = req
        .header("cf-connecting-ip")
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 64)
        .unwrap_or("unknown");
    if !ip.contains(':') {
        return ip.to_string();
    }
    // One pass over the bytes rather than a parser (for the upload's size):
    // Cloudflare reports a well-formed address (an IPv4 caller in dotted
    // form), and only the same /64 must give the same key. `groups[..n]` are
    // the hex groups; `gap` is where `::` stands.
    let (mut groups, mut n, mut gap, mut empty) = ([0u16; 9], 0, 9, true);
    for &c in ip.as_bytes().iter().chain(b":") {
        if c != b':' {
            if n < 9 {
                groups[n] = groups[n] << 4 | (c as char).to_digit(16).unwrap_or(0) as u16;
            }
            empty = false;
        } else if !empty {
            n += 1;
            empty = true;
        } else if gap == 9 {
            gap = n;
        }
    }
    let zeros = if gap < 9 { 8usize.saturating_sub(n) } else { 0 };
    let net = (0..4).fold(0u64, |net, i| {
        let g = match i {
            i if i < gap => groups[i],
            i if i < gap + zeros => 0,
            i => groups[i - zeros],
        };
        net << 16 | u64::from(g)
    });
    format!("{net:x}/64")
}

/// `/mcp`, or a narrowed path under it: non-empty segments of URL characters,
/// no dot segments.
fn mcp_path_ok(path: &str) -> bool {
    path == "/mcp"
        || path.strip_prefix("/mcp/").is_some_and(|rest| {
            path.len() <= 512
                && rest.split('/').all(|seg| {
                    !seg.is_empty()
                        && !dot_segment(seg)
                        && seg.bytes().all(|b| {
                            b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=:@".contains(&b)
                        })
                })
        })
}

/// `.` or `..`, also percent-encoded.
fn dot_segment(seg: &str) -> bool {
    matches!(
        seg.to_ascii_lowercase().as_str(),
        "." | ".." | "%2e" | "%2e%2e" | ".%2e" | "%2e."
    )
}

/// The canonical form of a `resource` parameter (RFC 8707) naming this
/// server: its origin (case-insensitive), then nothing, `/` or an MCP path.
fn parse_resource(issuer: &str, value: &str) -> Option<String> {
    let (scheme, rest) = value.split_once("://")?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if !format!("{scheme}://{authority}").eq_ignore_ascii_case(issuer) {
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
    resource
        .strip_prefix(audience)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
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
        // The reasons are this module's own texts: no quote or backslash.
        v = format!("{v}, error=\"invalid_token\", error_description=\"{why}\"");
    }
    v
}

/// What a live access token's grant says of its caller, as [`check_access`]
/// reads it; [`authenticate`] makes the caller's [`Identity`] of it.
struct Grant {
    /// The principal: labelled `oauth:<token label or tenant id>:<grant id>`
    /// (never a secret), with the scopes granted (for operator access, those
    /// its static token still allows).
    principal: Principal,
    /// `None` for operator access, which works on the operator's account.
    own: Option<OwnKey>,
}

/// A grant made with the user's own Scale key.
struct OwnKey {
    /// Their tenant id (`u_…`, a keyed hash of the key, the same at every
    /// sign-in).
    tenant: String,
    /// The key, unsealed for this request only.
    key: Secret,
    /// Their answer to "allow billed work" for a `live_` key.
    billed: bool,
}

impl Grant {
    /// The caller this grant makes: on the operator's account, or on the
    /// user's own with their key, their part of the callback log and their
    /// webhook (`{issuer}/webhooks/scale/{tenant}`).
    fn identity(self, o: &OAuth<'_>, services: &Services, self_origin: &str) -> Identity {
        let store = services.store.clone();
        let Some(own) = self.own else {
            return Identity::operator(self.principal, o.cfg, store, self_origin);
        };
        let log = store.map(|s| Rc::new(TenantLog::new(s, &own.tenant)) as Rc<dyn CallbackStore>);
        let webhook = format!("{}/webhooks/scale/{}", o.issuer, own.tenant);
        Identity::tenant(
            self.principal,
            own.tenant,
            own.key,
            own.billed,
            log,
            webhook,
        )
    }
}

/// The tenant a `/webhooks/scale/{tenant}` delivery is for, and what its
/// `scale-callback-auth` header is checked against: `Ok(None)` when no
/// user with their own Scale key has that id, else the SHA-256 of the
/// callback auth key they gave at sign-in ("" when they gave none). An id
/// whose check fails costs no store read; a found row is kept in the memo
/// for [`MEMO_MS`], and an id of the older shape found absent in the
/// negative cache.
pub(crate) fn tenant_callback_hash<'a>(
    cfg: &'a Config,
    services: &'a Services,
    tenant: &'a str,
) -> BoxFut<'a, Result<Option<String>, String>> {
    Box::pin(async move {
        if !tenant.starts_with("u_") {
            return Ok(None);
        }
        let none = Keyring::default();
        let Some(o) = OAuth::new(cfg, &none, services, "").await? else {
            return Ok(None);
        };
        let Some(checked) = o.shape(TENANT_ID, tenant, old_tenant) else {
            return Ok(None);
        };
        let key = format!("u:{tenant}");
        let memo = &o.p.memo;
        if let Some(Value::String(h)) = memo.get(&key, o.now_ms) {
            return Ok(Some(h));
        }
        if memo.missed(&key, o.now_ms) {
            return Ok(None);
        }
        let ops = Value::Array(vec![op("get", &key, "", "", 0)]);
        let reply = o.run(&ops).await?.unwrap_or_default();
        let Some(row) = reply.first().and_then(Value::as_str) else {
            // Rows are never made for ids of the older shape any more.
            if !checked {
                memo.miss(key, o.now_ms + MISS_MS);
            }
            return Ok(None);
        };
        let h = s(&parse(row), "callback_key_hash").to_string();
        memo.put(key, Value::String(h.clone()), o.now_ms + MEMO_MS);
        Ok(Some(h))
    })
}

/// Whether `given` is the callback auth key whose hash is `stored`.
pub(crate) fn callback_key_matches(stored: &str, given: &str) -> bool {
    !stored.is_empty() && crate::auth::ct_eq(hash(given).as_bytes(), stored.as_bytes())
}

/// What an `/mcp` bearer token means.
#[derive(Debug)]
pub(crate) enum Auth {
    /// Not an OAuth token of this server: check it as a static token.
    NotOurs,
    /// Ours, but not usable here; the text is the 401's `error_description`.
    Refused(&'static str),
    /// Storage or crypto failed: 503, so a client keeps its good token.
    Unavailable(String),
    Granted(Box<Identity>),
}

/// What `token` sent to `resource` (`{issuer}{path}`) means: for a live
/// token, the caller's identity. The token's record is read from the store
/// at most once per [`MEMO_MS`] per isolate; expiry, audience and an
/// operator grant's static token are checked on every call, and a user's own
/// Scale key is unsealed with the token itself.
pub(crate) fn authenticate<'a>(
    cfg: &'a Config,
    tokens: &'a Keyring,
    services: &'a Services,
    req: &'a Request,
    token: &'a str,
    resource: &'a str,
) -> BoxFut<'a, Auth> {
    Box::pin(async move {
        if !token.starts_with("smcp_") {
            return Auth::NotOurs;
        }
        let o = match OAuth::new(cfg, tokens, services, &req.self_origin).await {
            Ok(Some(o)) => o,
            Ok(None) => return Auth::NotOurs,
            Err(e) => return Auth::Unavailable(e),
        };
        match o.shape(ACCESS_CHECK, token, old_access) {
            None => return Auth::Refused("This is not an access token of this server (a refresh token or code cannot be used as one)."),
            Some(true) => {}
            Some(false) => match o.old_shapes_since().await {
                Ok(t) if o.now() < t + ACCESS_TTL => {}
                Ok(_) => return Auth::Refused(UNKNOWN_ACCESS),
                Err(e) => return Auth::Unavailable(e),
            },
        }
        match drive(&o, req, false, &|io| check_access(&o, io, token, resource)).await {
            Ok(Ok(g)) => Auth::Granted(Box::new(g.identity(&o, services, &req.self_origin))),
            Ok(Err(why)) => Auth::Refused(why),
            Err(e) => Auth::Unavailable(e),
        }
    })
}

const UNKNOWN_ACCESS: &str =
    "The access token is unknown, expired or revoked. Refresh it or sign in again.";
const REMOVED: &str = "The operator token this sign-in used has been removed. Sign in again.";
const LOWERED: &str =
    "The operator token this sign-in used no longer allows any of its permissions. Sign in again.";

fn check_access(
    o: &OAuth<'_>,
    io: &Io,
    token: &str,
    resource: &str,
) -> Result<Result<Grant, &'static str>, Stop> {
    let a = io.access(format!("a:{}", hash(token)))?;
    if n(a, "expires") <= o.now() {
        return Ok(Err(UNKNOWN_ACCESS));
    }
    if !covers(s(a, "resource"), resource) {
        return Ok(Err(
            "This access token is for another resource (a narrower path) than this one.",
        ));
    }
    let op = s(a, "op");
    let mut scope = s(a, "scope").to_string();
    // A grant made with a static token has its hash; one made with the
    // user's own Scale key has the key, sealed.
    let own = if op.is_empty() {
        match open_scale_key(io, a, token)? {
            Some(k) => Some(OwnKey {
                tenant: s(a, "tenant").into(),
                key: Secret::new(k),
                billed: n(a, "billed") == 1,
            }),
            None => {
                return Ok(Err(
                    "This sign-in's Scale key cannot be opened with this token. Sign in again.",
                ))
            }
        }
    } else {
        match o.operator_scopes(op, &scope) {
            None => return Ok(Err(REMOVED)),
            Some(left) if left.is_empty() => {
                o.drop_grant(io, s(a, "id"))?;
                return Ok(Err(LOWERED));
            }
            Some(left) => scope = left,
        }
        None
    };
    let scopes: Vec<Scope> = scope.split(' ').filter_map(Scope::parse).collect();
    let label = format!("oauth:{}:{}", s(a, "label"), s(a, "id"));
    Ok(Ok(Grant {
        principal: Principal::grant(label, Scopes::of(&scopes)),
        own,
    }))
}

// A user's Scale key is sealed (AES-256-GCM) under a random grant key, which
// is stored only sealed under a key derived from each live token (HMAC of a
// fixed label under the token): so neither the store nor the store plus the
// worker's secrets opens it; a token is needed.

/// The key a token's copy of the grant key is sealed under.
fn token_key(token: &str) -> [u8; 32] {
    hmac_sha256(token.as_bytes(), b"scale-mcp grant key")
}

/// The grant key sealed for `token`.
fn wrap_key(io: &Io, token: &str, key: &[u8; 32]) -> Result<String, Stop> {
    io.seal(token_key(token), key.to_vec())
}

/// The grant key `token` unwraps from `wrapped` (made by [`wrap_key`]).
fn unwrap_key(io: &Io, token: &str, wrapped: &str) -> Result<Option<[u8; 32]>, Stop> {
    Ok(io
        .open(token_key(token), wrapped)?
        .and_then(|k| k.try_into().ok()))
}

/// The Scale key of an own-key record (`sealed`, bound to the grant id),
/// opened with the grant key that `token` unwraps from the record's `wrapped`.
fn open_scale_key(io: &Io, rec: &Value, token: &str) -> Result<Option<String>, Stop> {
    let Some(k) = unwrap_key(io, token, s(rec, "wrapped"))? else {
        return Ok(None);
    };
    // The grant id is sealed with the key, so a sealed key copied into
    // another grant does not open there.
    let prefix = format!("{}\n", s(rec, "id"));
    Ok(io
        .open(k, s(rec, "sealed"))?
        .and_then(|p| std::str::from_utf8(p).ok())
        .and_then(|p| p.strip_prefix(&prefix))
        .map(str::to_string))
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
        const PRM: &str = "/.well-known/oauth-protected-resource";
        let m = req.method.to_ascii_uppercase();
        let path = req.path.as_str();
        let iss = issuer(cfg, &req.self_origin);
        if path == "/.well-known/oauth-authorization-server" {
            const DOC: &str = r#"{"issuer":"@","authorization_endpoint":"@/authorize","token_endpoint":"@/token","registration_endpoint":"@/register","revocation_endpoint":"@/revoke","scopes_supported":["scale:read","scale:write","scale:team"],"response_types_supported":["code"],"response_modes_supported":["query"],"grant_types_supported":["authorization_code","refresh_token"],"token_endpoint_auth_methods_supported":["none","client_secret_post","client_secret_basic"],"revocation_endpoint_auth_methods_supported":["none","client_secret_post","client_secret_basic"],"code_challenge_methods_supported":["S256"],"client_id_metadata_document_supported":true,"authorization_response_iss_parameter_supported":true,"service_documentation":"@/oauth/grants"}"#;
            // The issuer is a checked origin: no character in it needs escaping.
            return Some(discovery(&m, DOC.replace('@', &iss)));
        }
        if let Some(rest) = path.strip_prefix(PRM) {
            return Some(if rest.is_empty() || mcp_path_ok(rest) {
                discovery(
                    &m,
                    format!(
                        r#"{{"resource":"{iss}{rest}","authorization_servers":["{iss}"],"scopes_supported":["scale:read","scale:write","scale:team"],"bearer_methods_supported":["header"],"resource_name":"Scale AI (MCP)"}}"#
                    ),
                )
            } else {
                oauth_error(404, "not_found", "No MCP endpoint is served at this path; its metadata is at /.well-known/oauth-protected-resource/mcp.")
            });
        }
        if path.starts_with("/.well-known/") {
            return Some(oauth_error(404, "not_found", "The authorization server's metadata is at /.well-known/oauth-authorization-server (its issuer has no path)."));
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
            _ => &|io| client::register(&o, req, io),
        };
        let out = match drive(&o, req, true, endpoint).await {
            Ok(r) => r,
            Err(e) if page => page::down(e),
            Err(e) => unavailable(e),
        };
        Some(match o.alert.get() {
            Some(n) => out.log(authorize::alert_line(n)),
            None => out,
        })
    })
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
        .header(
            "access-control-allow-headers",
            "Authorization, Content-Type, MCP-Protocol-Version",
        )
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
    Response::json(
        status,
        &OAuthError {
            error: code,
            error_description: description,
        },
    )
    .header("cache-control", "no-store")
    .header("access-control-allow-origin", "*")
}

/// 503 for a platform failure (logged, never shown).
#[inline(never)]
fn unavailable(e: String) -> Response {
    oauth_error(
        503,
        "temporarily_unavailable",
        "The sign-in service is unavailable right now; try again shortly.",
    )
    .header("retry-after", "5")
    .log(format!("oauth: {e}"))
}

/// The body of a form post, as parameters; `Ok(Err(_))` is what to tell the caller.
fn read_form(req: &Request, io: &Io) -> Result<Result<Params, String>, Stop> {
    let form = req
        .header("content-type")
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form {
        return Ok(Err(
            "Send the request as application/x-www-form-urlencoded.".into(),
        ));
    }
    let Some(body) = io.body()? else {
        return Ok(Err(
            "The body is larger than 64 KiB or could not be read.".into()
        ));
    };
    Ok(match std::str::from_utf8(body) {
        Ok(text) => Params::parse(text),
        Err(_) => Err("The body is not UTF-8.".into()),
    })
}
