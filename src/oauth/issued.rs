//! What the server hands out and for how long: the scopes a grant may carry;
//! codes, access and refresh tokens and tenant ids, with their prefixes,
//! lifetimes and older shapes; the hash a token is stored under; and how
//! long an isolate trusts what it read about one.
//!
//! A token or tenant id of the current shape ends in a check made under a
//! server key (`OAuth::tagged` and `OAuth::shape` in `server`), so junk is
//! refused before any store read. The older shapes have no check; those
//! still alive stay accepted.

use crate::codec::{base64url, sha256};

/// The scopes of docs/permissions.md §2, in the order pages and metadata list
/// them.
pub(super) const SCOPES: [&str; 3] = ["scale:read", "scale:write", "scale:team"];
pub(super) const ALL_SCOPES: &str = "scale:read scale:write scale:team";

/// Lifetimes, in seconds.
pub(super) const CODE_TTL: u64 = 300;
pub(super) const ACCESS_TTL: u64 = 3600;
pub(super) const REFRESH_TTL: u64 = 30 * 24 * 3600;
/// How long an isolate trusts what it read about an access token, so a
/// revoked grant is refused everywhere within this time.
pub(super) const MEMO_MS: u64 = 60_000;
/// How long an isolate remembers that a token or tenant id is absent from
/// the store (its negative cache; such a miss is for good).
pub(super) const MISS_MS: u64 = ACCESS_TTL * 1000;

/// What the checks on access tokens, refresh tokens and tenant ids are made for.
pub(super) const ACCESS_CHECK: &str = "access token";
pub(super) const REFRESH_CHECK: &str = "refresh token";
pub(super) const TENANT_ID: &str = "tenant id";

/// The tenant of grants made with an operator token.
pub(super) const OPERATOR: &str = "operator";
pub(super) const CODE: &str = "smcp_ac_";
pub(super) const ACCESS: &str = "smcp_at_";
pub(super) const REFRESH: &str = "smcp_rt_";
/// The length of the check on tokens and tenant ids (132 bits).
pub(super) const TAG: usize = 22;

/// What a token is stored under: its SHA-256, in URL-safe base64.
pub(super) fn hash(token: &str) -> String {
    base64url(&sha256(token.as_bytes()))
}

/// Whether `t` is `prefix` then 32 bytes of URL-safe base64 (checked before hashing).
pub(super) fn shaped(t: &str, prefix: &str) -> bool {
    t.strip_prefix(prefix).is_some_and(|r| b64(r, 43))
}

/// Whether `r` is `len` characters of URL-safe base64.
fn b64(r: &str, len: usize) -> bool {
    r.len() == len
        && r.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// An access token of the older shape: the prefix and 32 random bytes.
pub(super) fn old_access(t: &str) -> bool {
    shaped(t, ACCESS)
}

/// A refresh token of the older shape: the prefix, the grant id, `.` and
/// 32 random bytes.
pub(super) fn old_refresh(t: &str) -> bool {
    t.strip_prefix(REFRESH)
        .and_then(|r| r.split_once('.'))
        .is_some_and(|(id, secret)| id.len() == 24 && id.starts_with("g_") && b64(secret, 43))
}

/// A tenant id of the older shape: `u_` and 22 characters of a keyed hash.
pub(super) fn old_tenant(t: &str) -> bool {
    t.strip_prefix("u_").is_some_and(|r| b64(r, 22))
}
