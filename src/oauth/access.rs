//! The access check: what an `/mcp` bearer token means ([`authenticate`]),
//! and what a grant allows now. An operator grant allows what its static
//! token still allows ([`operator_scopes`], also applied at each refresh);
//! an own-key grant works with the user's Scale key, unsealed with the token
//! for this request only. The router gets an [`Identity`], never the
//! token's record, the grant or the sealed key.

use super::issued::{hash, old_access, ACCESS_CHECK, ACCESS_TTL, OPERATOR};
use super::record;
use super::resource::covers;
use super::seal::open_scale_key;
use super::server::{OAuth, Shape};
use super::step::{drive, Io, Randomness, Stop};
use crate::auth::{Identity, Keyring, Principal, Scope, Scopes};
use crate::callback_log::TenantLog;
use crate::config::{Config, Secret};
use crate::http::Request;
use crate::io::state::op;
use crate::io::{BoxFut, CallbackStore, Services};
use std::rc::Rc;

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
/// at most once per `issued::MEMO_MS` per isolate; expiry, audience and an
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
            Some(Shape::Checked) => {}
            Some(Shape::Older) => match o.old_shapes_since().await {
                Ok(t) if o.now() < t + ACCESS_TTL => {}
                Ok(_) => return Auth::Refused(UNKNOWN_ACCESS),
                Err(e) => return Auth::Unavailable(e),
            },
        }
        let check = |io: &Io| check_access(&o, io, token, resource);
        match drive(&o, req, Randomness::Unused, &check).await {
            Ok(Ok(g)) => Auth::Granted(Box::new(g.identity(&o, services, &req.self_origin))),
            Ok(Err(why)) => {
                // A grant its operator token no longer allows was ended.
                o.grants_ended().await;
                Auth::Refused(why)
            }
            Err(e) => Auth::Unavailable(e),
        }
    })
}

const UNKNOWN_ACCESS: &str =
    "The access token is unknown, expired or revoked. Refresh it or sign in again.";
pub(super) const REMOVED: &str =
    "The operator token this sign-in used has been removed. Sign in again.";
pub(super) const LOWERED: &str =
    "The operator token this sign-in used no longer allows any of its permissions. Sign in again.";

fn check_access(
    o: &OAuth<'_>,
    io: &Io,
    token: &str,
    resource: &str,
) -> Result<Result<Grant, &'static str>, Stop> {
    let a = io.access(format!("a:{}", hash(token)))?;
    if record::number(a, "expires") <= o.now() {
        return Ok(Err(UNKNOWN_ACCESS));
    }
    if !covers(record::text(a, "resource"), resource) {
        return Ok(Err(
            "This access token is for another resource (a narrower path) than this one.",
        ));
    }
    let op = record::text(a, "op");
    let mut scope = record::text(a, "scope").to_string();
    // A grant made with a static token has its hash; one made with the
    // user's own Scale key has the key, sealed.
    let own = if op.is_empty() {
        match open_scale_key(io, a, token)? {
            Some(k) => Some(OwnKey {
                tenant: record::text(a, "tenant").into(),
                key: Secret::new(k),
                billed: record::number(a, "billed") == 1,
            }),
            None => {
                return Ok(Err(
                    "This sign-in's Scale key cannot be opened with this token. Sign in again.",
                ))
            }
        }
    } else {
        match operator_scopes(o, op, &scope) {
            None => return Ok(Err(REMOVED)),
            Some(left) if left.is_empty() => {
                drop_grant(o, io, record::text(a, "id"))?;
                return Ok(Err(LOWERED));
            }
            Some(left) => scope = left,
        }
        None
    };
    let scopes: Vec<Scope> = scope.split(' ').filter_map(Scope::parse).collect();
    let label = format!(
        "oauth:{}:{}",
        record::text(a, "label"),
        record::text(a, "id")
    );
    Ok(Ok(Grant {
        principal: Principal::grant(label, Scopes::of(&scopes)),
        own,
    }))
}

/// Of the scopes `granted` (names, space-separated), those the static
/// token whose keyed hash is `op` allows now, by the rule sign-in used;
/// `None` when no configured token has that hash. So removing a token
/// from `MCP_AUTH_TOKEN` ends the operator grants made with it, and
/// lowering its scopes lowers theirs.
pub(super) fn operator_scopes(o: &OAuth<'_>, op: &str, granted: &str) -> Option<String> {
    let mut found = None;
    for t in o.tokens.tokens() {
        if o.mac_ok(OPERATOR, t.secret().expose().as_bytes(), op) {
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

/// Ends a grant: its row and its access tokens, here and in this
/// isolate's memo (other isolates stop within `issued::MEMO_MS`).
pub(super) fn drop_grant(o: &OAuth<'_>, io: &Io, id: &str) -> Result<(), Stop> {
    o.p.memo.forget("id", id);
    o.dropped.borrow_mut().push(id.to_string());
    io.store(vec![op("del", &format!("g:{id}"), id, "", 0)])
        .map(|_| ())
}

impl OAuth<'_> {
    /// Tells the jobs of the grants this request ended (once its writes
    /// succeeded) that they stop: a line for the log when that failed.
    pub(super) async fn grants_ended(&self) -> Option<String> {
        let jobs = self.jobs?;
        let mut failed = 0;
        // A grant told twice is told nothing new.
        for id in self.dropped.take() {
            failed += u32::from(
                crate::tools::bulk::job::grant_revoked(jobs, &id)
                    .await
                    .is_err(),
            );
        }
        (failed > 0).then(|| {
            format!("oauth: {failed} ended grants could not stop their jobs (the job store failed)")
        })
    }
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
    /// Their tenant id (see `tenant`).
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
