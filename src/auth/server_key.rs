//! The server's own key: what the OAuth server signs and seals with, and
//! what task handles are sealed under, each use under a key of its own
//! derived from it ([`derive`]), so one purpose's values never pass for
//! another's.
//!
//! It is `OAUTH_SECRET` (comma-separated, newest first, so it can be
//! rotated), else a key generated once and kept in the OAuth store (row
//! `m:key`), read from the store once per isolate and then from its memo.
//! With neither (no `OAUTH_SECRET` and no `OAUTH` Durable Object bound) the
//! server has no key, and what needs one is off.

use crate::codec::{base64url, hmac_sha256};
use crate::config::Config;
use crate::io::state::kept;
use crate::io::Services;

/// Whether this deployment has a server key (no I/O: the generated one
/// needs only the store to be bound).
pub(crate) fn has_server_key(cfg: &Config, services: &Services) -> bool {
    !cfg.oauth_secrets.is_empty() || services.oauth.is_some()
}

/// The server keys, newest first; `None` without any. Reads the store the
/// first time an isolate needs the generated key.
pub(crate) async fn server_keys(
    cfg: &Config,
    services: &Services,
) -> Result<Option<Vec<Vec<u8>>>, String> {
    if !cfg.oauth_secrets.is_empty() {
        let keys = cfg.oauth_secrets.iter();
        return Ok(Some(keys.map(|s| s.expose().as_bytes().to_vec()).collect()));
    }
    let Some(p) = &services.oauth else {
        return Ok(None);
    };
    // What a generated key would be, drawn before the store is asked (the
    // first isolate to write one wins).
    let mut fresh = [0u8; 32];
    services.crypto.random(&mut fresh)?;
    let key = kept(&*p.state, &p.memo, "m:key", base64url(&fresh)).await?;
    Ok(Some(vec![key.into_bytes()]))
}

/// The 256-bit key for `purpose` under server key `key`.
pub(crate) fn derive(key: &[u8], purpose: &str) -> [u8; 32] {
    hmac_sha256(key, purpose.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RawSettings;
    use crate::io::fakes::{block_on, services, services_with_oauth, FakeOAuth, FakeUpstream};

    fn cfg(pairs: &[(&'static str, &str)]) -> Config {
        Config::from_raw(&RawSettings::from_pairs(pairs, true)).unwrap()
    }

    #[test]
    fn the_secret_setting_else_a_kept_generated_key_else_none() {
        let up = FakeUpstream::new();
        let secrets = "new-secret-0123456789abcdef0123456789,old-secret-0123456789abcdef0123456789";
        let c = cfg(&[("OAUTH_SECRET", secrets)]);
        let sv = services(&up, None);
        assert!(has_server_key(&c, &sv));
        let keys = block_on(server_keys(&c, &sv)).unwrap().unwrap();
        assert_eq!(keys.len(), 2);
        assert!(keys[0].starts_with(b"new-secret"));

        let none = cfg(&[]);
        assert!(!has_server_key(&none, &sv));
        assert_eq!(block_on(server_keys(&none, &sv)).unwrap(), None);

        // Generated once and kept: a second isolate (another memo) reads the same key.
        let oauth = FakeOAuth::new(&up);
        let sv = services_with_oauth(&up, None, &oauth);
        assert!(has_server_key(&none, &sv));
        let first = block_on(server_keys(&none, &sv)).unwrap().unwrap();
        assert_eq!(first[0].len(), 43);
        let other = FakeOAuth {
            memo: Default::default(),
            ..oauth.clone()
        };
        let sv2 = services_with_oauth(&up, None, &other);
        assert_eq!(block_on(server_keys(&none, &sv2)).unwrap().unwrap(), first);
    }

    #[test]
    fn purposes_get_keys_of_their_own() {
        assert_ne!(derive(b"k", "task handle"), derive(b"k", "other"));
        assert_ne!(derive(b"k", "task handle"), derive(b"j", "task handle"));
    }
}
