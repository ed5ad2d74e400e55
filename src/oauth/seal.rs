//! The sealing of a user's own Scale key. It is sealed (AES-256-GCM) under a
//! random grant key, which is stored only sealed under a key derived from
//! each live token (HMAC of a fixed label under the token): so neither the
//! store nor the store plus the worker's secrets opens it; a token is needed.
//! The grant id is sealed with the Scale key, so a sealed key copied into
//! another grant does not open there.

use super::record;
use super::step::{Io, Stop};
use crate::codec::hmac_sha256;
use serde_json::Value;

/// The key a token's copy of the grant key is sealed under.
fn token_key(token: &str) -> [u8; 32] {
    hmac_sha256(token.as_bytes(), b"scale-mcp grant key")
}

/// The grant key sealed for `token`.
pub(super) fn wrap_key(io: &Io, token: &str, key: &[u8; 32]) -> Result<String, Stop> {
    io.seal(token_key(token), key.to_vec())
}

/// The grant key `token` unwraps from `wrapped` (made by [`wrap_key`]).
pub(super) fn unwrap_key(io: &Io, token: &str, wrapped: &str) -> Result<Option<[u8; 32]>, Stop> {
    Ok(io
        .open(token_key(token), wrapped)?
        .and_then(|k| k.try_into().ok()))
}

/// `scale_key` sealed for grant `grant` under a new grant key, and that
/// grant key wrapped for `code`: a record's `sealed` and `wrapped`.
pub(super) fn seal_scale_key(
    io: &Io,
    grant: &str,
    scale_key: &str,
    code: &str,
) -> Result<(String, String), Stop> {
    let k: [u8; 32] = io
        .random_bytes(32)?
        .try_into()
        .map_err(|_| Stop::Down("short key".into()))?;
    let sealed = io.seal(k, format!("{grant}\n{scale_key}").into_bytes())?;
    Ok((sealed, wrap_key(io, code, &k)?))
}

/// The Scale key of an own-key record (`sealed`, bound to the grant id),
/// opened with the grant key that `token` unwraps from the record's `wrapped`.
pub(super) fn open_scale_key(io: &Io, rec: &Value, token: &str) -> Result<Option<String>, Stop> {
    let Some(k) = unwrap_key(io, token, record::text(rec, "wrapped"))? else {
        return Ok(None);
    };
    let prefix = format!("{}\n", record::text(rec, "id"));
    Ok(io
        .open(k, record::text(rec, "sealed"))?
        .and_then(|p| std::str::from_utf8(p).ok())
        .and_then(|p| p.strip_prefix(&prefix))
        .map(str::to_string))
}
