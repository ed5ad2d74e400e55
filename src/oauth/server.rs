//! The OAuth server as one request sees it ([`OAuth`]): the operator's
//! settings and static tokens, the platform, the issuer, the clock, and the
//! server keys with what is made under them: keyed hashes, the checks that
//! end tokens and tenant ids, and signed payloads (client ids, page
//! tickets). Also the store call made outside an endpoint's steps (`m:old`;
//! the generated server key is `auth::server_key`'s).

use super::issued::TAG;
use super::record;
use crate::auth::Keyring;
use crate::codec::{base64_decode, base64url, hmac_sha256};
use crate::config::Config;
use crate::io::{BoxFut, Crypto, OAuthPlatform, Services, Upstream};
use serde_json::Value;

/// The OAuth server as one request sees it.
pub(crate) struct OAuth<'a> {
    pub(super) cfg: &'a Config,
    /// The static tokens of `MCP_AUTH_TOKEN` (operator access).
    pub(super) tokens: &'a Keyring,
    pub(super) p: &'a OAuthPlatform,
    /// The platform's encryption and randomness.
    pub(super) crypto: &'a dyn Crypto,
    pub(super) up: &'a dyn Upstream,
    /// `PUBLIC_URL`, else the origin the request came to.
    pub(super) issuer: String,
    pub(super) now_ms: u64,
    /// The server keys, newest first: `OAUTH_SECRET`, or the key generated
    /// once and kept in the store.
    pub(super) keys: Vec<Vec<u8>>,
    /// Failed sign-ins from all addresses, when this request's crossed the
    /// alert threshold (logged with the answer; see `authorize`).
    pub(super) alert: std::cell::Cell<Option<u64>>,
    /// The grants this request ended, whose jobs are told once it succeeded
    /// ([`OAuth::grants_ended`]).
    pub(super) dropped: std::cell::RefCell<Vec<String>>,
    pub(super) jobs: Option<&'a dyn crate::io::Jobs>,
}

/// The issuer for a request: `PUBLIC_URL`, else the origin it came to.
pub(crate) fn issuer(cfg: &Config, self_origin: &str) -> String {
    cfg.public_url
        .clone()
        .unwrap_or_else(|| self_origin.to_string())
}

/// The shape of a presented token or tenant id (see [`OAuth::shape`]).
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Shape {
    /// The current shape: a body of the older shape, `.`, and its check,
    /// made under a server key.
    Checked,
    /// The older shape itself, with no check.
    Older,
}

impl<'a> OAuth<'a> {
    /// `None` when the OAuth store is not bound. The server keys are
    /// `auth::server_keys` (without `OAUTH_SECRET`, the generated key is
    /// read from the store once per isolate).
    pub(super) async fn new(
        cfg: &'a Config,
        tokens: &'a Keyring,
        services: &'a Services,
        self_origin: &str,
    ) -> Result<Option<OAuth<'a>>, String> {
        let Some(p) = services.oauth.as_ref() else {
            return Ok(None);
        };
        Ok(Some(OAuth {
            cfg,
            tokens,
            p,
            crypto: &*services.crypto,
            up: &*services.upstream,
            issuer: issuer(cfg, self_origin),
            now_ms: services.upstream.now_ms(),
            keys: crate::auth::server_keys(cfg, services)
                .await?
                .unwrap_or_default(),
            alert: Default::default(),
            dropped: Default::default(),
            jobs: services.jobs.as_deref(),
        }))
    }

    /// A value kept for good in store row `row` (see `io::state::kept`).
    fn kept<'b>(&'b self, row: &'b str, fresh: String) -> BoxFut<'b, Result<String, String>> {
        crate::io::state::kept(&*self.p.state, &self.p.memo, row, fresh)
    }

    /// When this server first saw a token of the older, unchecked shape
    /// (Unix seconds; kept in row `m:old`). Every token of that shape was
    /// issued before then, so none is alive `REFRESH_TTL` after it (an
    /// access token, `ACCESS_TTL` after it).
    pub(super) async fn old_shapes_since(&self) -> Result<u64, String> {
        let t = self.kept("m:old", self.now().to_string()).await?;
        Ok(t.parse().unwrap_or(0))
    }

    pub(super) fn now(&self) -> u64 {
        self.now_ms / 1000
    }

    /// A keyed hash of `data` for `purpose` under each server key, newest
    /// first. The purpose is part of the message, so a value made for one
    /// purpose never matches another's.
    pub(super) fn macs(&self, purpose: &str, data: &[u8]) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| mac_with(k, purpose, data))
            .collect()
    }

    /// `body` with its check appended: `.` and the first [`TAG`] characters
    /// of its keyed hash for `purpose` under `key`. Tokens and tenant ids
    /// carry one, so junk is refused before any store read.
    pub(super) fn tagged(key: &[u8], purpose: &str, body: String) -> String {
        let tag = mac_with(key, purpose, body.as_bytes());
        format!("{body}.{}", &tag[..TAG])
    }

    /// [`OAuth::tagged`] under the current key.
    pub(super) fn tag(&self, purpose: &str, body: String) -> String {
        Self::tagged(&self.keys[0], purpose, body)
    }

    /// The shape of a presented token or tenant id, checked before any store
    /// read: [`Shape::Checked`] when it is `body.tag` with a body of the
    /// older shape (`old`) and a check made under a server key,
    /// [`Shape::Older`] when it is of the older shape itself (no check: those
    /// still alive stay accepted), `None` otherwise.
    pub(super) fn shape(&self, purpose: &str, t: &str, old: fn(&str) -> bool) -> Option<Shape> {
        match t.rsplit_once('.') {
            Some((body, tag)) if tag.len() == TAG && old(body) => {
                let mut ok = false;
                for k in &self.keys {
                    let m = mac_with(k, purpose, body.as_bytes());
                    ok |= crate::auth::ct_eq(&m.as_bytes()[..TAG], tag.as_bytes());
                }
                ok.then_some(Shape::Checked)
            }
            _ => old(t).then_some(Shape::Older),
        }
    }

    /// [`OAuth::macs`] under the current key.
    pub(super) fn mac(&self, purpose: &str, data: &[u8]) -> String {
        self.macs(purpose, data).swap_remove(0)
    }

    /// Whether `given` is the keyed hash of `data` under any server key
    /// (every one is compared, in constant time).
    pub(super) fn mac_ok(&self, purpose: &str, data: &[u8], given: &str) -> bool {
        self.macs(purpose, data).iter().fold(false, |ok, m| {
            ok | crate::auth::ct_eq(m.as_bytes(), given.as_bytes())
        })
    }

    /// `payload` (JSON with an `exp`) signed for `purpose`: readable, but
    /// not changeable without a server key. Client ids and page tickets.
    pub(super) fn sign(&self, purpose: &str, payload: &Value) -> String {
        let text = base64url(payload.to_string().as_bytes());
        let mac = self.mac(purpose, text.as_bytes());
        format!("{text}.{mac}")
    }

    /// What [`OAuth::sign`] signed, if it is intact and not expired.
    pub(super) fn verify(&self, purpose: &str, signed: &str) -> Option<Value> {
        let (text, mac) = signed.split_once('.')?;
        if !self.mac_ok(purpose, text.as_bytes(), mac) {
            return None;
        }
        let v = record::parse(&String::from_utf8(base64_decode(text)?).ok()?);
        (record::number(&v, "exp") > self.now()).then_some(v)
    }

    /// Runs store operations (`io::state`); `None` when a `cas` failed.
    pub(super) fn run<'b>(
        &'b self,
        ops: &'b Value,
    ) -> BoxFut<'b, Result<Option<Vec<Value>>, String>> {
        crate::io::state::rows(&*self.p.state, ops)
    }
}

/// The keyed hash of `data` for `purpose` under `key`, in URL-safe base64.
pub(super) fn mac_with(key: &[u8], purpose: &str, data: &[u8]) -> String {
    base64url(&hmac_sha256(
        key,
        &[purpose.as_bytes(), &[0], data].concat(),
    ))
}
