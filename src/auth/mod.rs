//! Who may call, and what they may do: constant-time secret comparison, the
//! bearer token of a request, the browser-origin rule for `/mcp`, the
//! principals and scopes of [`principal`] (docs/permissions.md §1-§2), the
//! [`Identity`] authentication makes of a caller (principal, Scale key and
//! account) and the per-connection narrowing of [`view`] (§3).

pub mod identity;
pub mod keyring;
pub mod principal;
pub mod view;

pub use crate::codec::ct_eq;
pub use identity::{Account, Identity};
pub use keyring::Keyring;
pub use principal::{Principal, PrincipalKind, Scope, Scopes};
pub use view::{mcp_path, PathNarrowing, ProjectScope, Refusal, Source, View};

use crate::config::{Config, Secret};
use crate::http::{hostname_of, origin_of};

/// True when `candidate` equals any of `secrets`; every secret is compared,
/// so the time does not reveal which one matched.
pub(crate) fn matches_any(candidate: &str, secrets: &[Secret]) -> bool {
    let mut found = false;
    for s in secrets {
        found |= ct_eq(candidate.as_bytes(), s.expose().as_bytes());
    }
    found
}

/// The token of an `Authorization: Bearer <token>` header. The scheme is
/// case-insensitive (RFC 9110); the token is one run of token68 characters.
pub(crate) fn bearer(h: Option<&str>) -> Option<&str> {
    let h = h?.trim();
    let (scheme, rest) = h.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let t = rest.trim();
    (!t.is_empty()).then_some(t)
}

/// Whether a present `Origin` may call `/mcp`: loopback origins, the worker's
/// own origin when it is `https`, and those listed in `ALLOWED_ORIGINS`.
///
/// DNS rebinding: the worker's own origin is derived from the request's Host,
/// which the caller controls. On a plain-http dev server (`wrangler dev` on
/// 127.0.0.1:8787) a page at `http://evil.example:8787`, rebound to 127.0.0.1,
/// sends `Host: evil.example:8787` and `Origin: http://evil.example:8787`;
/// matching those two would let it in. Such an attack cannot use `https`: the
/// browser would need the local server to present a valid certificate for the
/// attacker's name. So the self-origin rule only counts for `https` origins,
/// which is what production has (`https://<name>.workers.dev` or a custom
/// domain, routed by Cloudflare only for hostnames we own). Server-side agents
/// send no Origin and are not affected; a plain-http non-loopback origin must
/// be listed in `ALLOWED_ORIGINS`.
pub(crate) fn origin_allowed(origin: &str, self_origin: &str, cfg: &Config) -> bool {
    let Some(o) = origin_of(origin) else {
        return false;
    };
    if o.len() != origin.trim().len() {
        return false; // a path or other trailing parts: not an origin
    }
    if matches!(hostname_of(&o), "localhost" | "127.0.0.1" | "[::1]") {
        return true;
    }
    let is_self = o.starts_with("https://") && o == self_origin.to_ascii_lowercase();
    is_self || cfg.allowed_origins.contains(&o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RawSettings;

    fn cfg(allowed: &str) -> Config {
        let raw = RawSettings::from_pairs(
            &[
                ("MCP_AUTH_TOKEN", "0123456789abcdef-token"),
                ("ALLOWED_ORIGINS", allowed),
            ],
            false,
        );
        Config::from_raw(&raw).expect("valid config")
    }

    #[test]
    fn origins() {
        let c = cfg("http://app.example:3000");
        let prod = "https://scale-mcp.example.workers.dev";
        assert!(origin_allowed(prod, prod, &c));
        assert!(origin_allowed("http://localhost:6274", prod, &c));
        assert!(origin_allowed(
            "http://127.0.0.1:8787",
            "http://127.0.0.1:8787",
            &c
        ));
        assert!(origin_allowed(
            "http://[::1]:8787",
            "http://127.0.0.1:8787",
            &c
        ));
        assert!(origin_allowed("http://app.example:3000", prod, &c));
        assert!(!origin_allowed("https://evil.example", prod, &c));
        assert!(!origin_allowed("null", prod, &c));
        assert!(!origin_allowed("http://localhost.evil.example", prod, &c));
        assert!(!origin_allowed(&format!("{prod}/path"), prod, &c));
        // DNS rebinding against a plain-http dev server: Host and Origin both
        // name the attacker's domain, so "own origin" must not let it in.
        assert!(!origin_allowed(
            "http://evil.example:8787",
            "http://evil.example:8787",
            &c
        ));
    }

    #[test]
    fn constant_time_compare() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"abcd"));
        assert!(!ct_eq(b"", b"a"));
        let toks = vec![Secret::new("x".repeat(16)), Secret::new("y".repeat(16))];
        assert!(matches_any(&"y".repeat(16), &toks));
        assert!(!matches_any(&"y".repeat(15), &toks));
    }

    #[test]
    fn bearer_tokens() {
        assert_eq!(bearer(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer(Some("bearer   abc ")), Some("abc"));
        assert_eq!(bearer(Some("Basic abc")), None);
        assert_eq!(bearer(Some("Bearer ")), None);
        assert_eq!(bearer(None), None);
    }
}
