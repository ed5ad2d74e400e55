//! Tenants: a user who signs in with their own Scale key works on their own
//! account, named by a tenant id (`u_…`, a keyed hash of the key, the same
//! at every sign-in, revealing nothing of it). Their row (`u:{id}`) holds
//! the hash of the callback auth key they gave, which deliveries to their
//! webhook (`/webhooks/scale/{id}`) are checked against.

use super::issued::{hash, old_tenant, MEMO_MS, MISS_MS, TENANT_ID};
use super::record;
use super::server::{mac_with, OAuth, Shape};
use super::step::{Io, Stop};
use crate::auth::Keyring;
use crate::config::Config;
use crate::io::state::op;
use crate::io::{BoxFut, Services};
use serde_json::Value;

/// The tenant ids a Scale key may have, one per server key (newest first),
/// and the stored tenant rows under them. Trying every server key keeps ids
/// across a rotation. Each comes in two shapes, the current one first: `u_`
/// and 22 characters with a check appended (see [`OAuth::shape`]), and the
/// older one without the check, so a user who signed in before checks
/// existed keeps their webhook URL.
pub(super) fn tenants<'a>(
    o: &OAuth<'_>,
    io: &Io<'a>,
    key: &str,
) -> Result<(Vec<String>, &'a [Value]), Stop> {
    let mut ids = Vec::new();
    for k in &o.keys {
        let old = format!("u_{}", &mac_with(k, "tenant", key.as_bytes())[..22]);
        ids.push(OAuth::tagged(k, TENANT_ID, old.clone()));
        ids.push(old);
    }
    let mut ops = Vec::new();
    for id in &ids {
        ops.push(op("get", &format!("u:{id}"), "", "", 0));
    }
    Ok((ids, io.store(ops)?.unwrap_or_default()))
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
        let Some(shape) = o.shape(TENANT_ID, tenant, old_tenant) else {
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
            if shape == Shape::Older {
                memo.miss(key, o.now_ms + MISS_MS);
            }
            return Ok(None);
        };
        let h = record::text(&record::parse(row), "callback_key_hash").to_string();
        memo.put(key, Value::String(h.clone()), o.now_ms + MEMO_MS);
        Ok(Some(h))
    })
}

/// Whether `given` is the callback auth key whose hash is `stored`.
pub(crate) fn callback_key_matches(stored: &str, given: &str) -> bool {
    !stored.is_empty() && crate::auth::ct_eq(hash(given).as_bytes(), stored.as_bytes())
}
