//! Who is calling, and on whose Scale account: the one value authentication
//! makes of a bearer token ([`Keyring::identity`](super::Keyring::identity)
//! for a static token, `oauth::authenticate` for an access token) and the
//! rest of the worker only reads. It holds every fact that depends on the
//! caller rather than on the operator's settings: the principal, the Scale
//! key their calls use, whether they may create billed work, and their
//! account's callback log, webhook URL and default callback. `Config` stays
//! the operator's settings, the same for every caller.

use super::principal::Principal;
use crate::config::{Config, Secret};
use crate::io::CallbackStore;
use std::fmt;
use std::rc::Rc;

/// Whose Scale account a caller works on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Account {
    /// The operator's: `SCALE_API_KEY`, `LIVE_WRITES`, and the callback log
    /// Scale fills through `/webhooks/scale`. Static tokens, and grants made
    /// with one, work here.
    Operator,
    /// A user who signed in with their own Scale key. The id (`u_…`, the same
    /// at every sign-in) names their part of the callback log and their
    /// webhook, `/webhooks/scale/{id}`.
    Tenant(String),
}

/// A caller, as authentication found them. Built only by the constructors
/// below, and never changed after.
pub struct Identity {
    principal: Principal,
    account: Account,
    scale_key: Option<Secret>,
    billed_work: bool,
    callbacks: Option<Rc<dyn CallbackStore>>,
    webhook_url: String,
    default_callback_url: Option<String>,
}

impl Identity {
    /// `principal` on the operator's account: its Scale key and its answer on
    /// billed work (`LIVE_WRITES`), its callback log (`callbacks`, the
    /// `CALLBACKS` namespace) and webhook on the origin the request came to,
    /// and `DEFAULT_CALLBACK_URL`.
    pub(crate) fn operator(
        principal: Principal,
        cfg: &Config,
        callbacks: Option<Rc<dyn CallbackStore>>,
        self_origin: &str,
    ) -> Identity {
        Identity {
            principal,
            account: Account::Operator,
            scale_key: cfg.scale_api_key.clone(),
            billed_work: cfg.live_writes,
            callbacks,
            webhook_url: format!("{self_origin}/webhooks/scale"),
            default_callback_url: cfg.default_callback_url.clone(),
        }
    }

    /// `principal` on the account of user `tenant`, who signed in with their
    /// own `scale_key` and answered `billed_work` on the sign-in page. Their
    /// callbacks come to `webhook_url` and are kept in `callbacks` (their part
    /// of the log); creates that name no callback use that webhook.
    pub(crate) fn tenant(
        principal: Principal,
        tenant: String,
        scale_key: Secret,
        billed_work: bool,
        callbacks: Option<Rc<dyn CallbackStore>>,
        webhook_url: String,
    ) -> Identity {
        Identity {
            principal,
            account: Account::Tenant(tenant),
            scale_key: Some(scale_key),
            billed_work,
            callbacks,
            default_callback_url: Some(webhook_url.clone()),
            webhook_url,
        }
    }

    /// Who is calling: named in refusals and audit lines, with their scopes.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    pub fn account(&self) -> &Account {
        &self.account
    }

    /// The Scale key this caller's calls use; `None` when the operator's
    /// account has none.
    pub(crate) fn scale_key(&self) -> Option<&Secret> {
        self.scale_key.as_ref()
    }

    /// Whether work Scale bills may be created with a `live_` key: the
    /// operator's `LIVE_WRITES`, or the user's own answer for their key
    /// (docs/permissions.md §4).
    pub fn allows_billed_work(&self) -> bool {
        self.billed_work
    }

    /// This account's callback log; `None` when the `CALLBACKS` namespace is
    /// not bound.
    pub fn callbacks(&self) -> Option<&dyn CallbackStore> {
        self.callbacks.as_deref()
    }

    /// Where Scale delivers this account's callbacks into the log it reads.
    pub fn webhook_url(&self) -> &str {
        &self.webhook_url
    }

    /// The callback creates use when they name none.
    pub fn default_callback_url(&self) -> Option<&str> {
        self.default_callback_url.as_deref()
    }
}

/// Names the principal and the account only: the key stays out of logs.
impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("principal", &self.principal)
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RawSettings;

    fn cfg(pairs: &[(&'static str, &str)]) -> Config {
        Config::from_raw(&RawSettings::from_pairs(pairs, true)).unwrap()
    }

    #[test]
    fn the_operators_account_is_read_from_the_settings() {
        let c = cfg(&[
            ("SCALE_API_KEY", "live_operator_key_0001"),
            ("LIVE_WRITES", "true"),
            ("DEFAULT_CALLBACK_URL", "https://hooks.example.com/scale"),
        ]);
        let id = Identity::operator(Principal::full("ops"), &c, None, "https://w.example");
        assert_eq!(id.account(), &Account::Operator);
        assert_eq!(
            id.scale_key().map(Secret::expose),
            Some("live_operator_key_0001")
        );
        assert!(id.allows_billed_work());
        assert_eq!(id.webhook_url(), "https://w.example/webhooks/scale");
        assert_eq!(
            id.default_callback_url(),
            Some("https://hooks.example.com/scale")
        );
        assert!(id.callbacks().is_none());

        let bare = Identity::operator(Principal::full("ops"), &cfg(&[]), None, "http://x");
        assert!(bare.scale_key().is_none() && !bare.allows_billed_work());
        assert_eq!(bare.default_callback_url(), None);
    }

    #[test]
    fn a_tenant_uses_its_own_key_answer_and_webhook_whatever_the_settings() {
        let hook = "https://w.example/webhooks/scale/u_1".to_string();
        let id = Identity::tenant(
            Principal::full("oauth:u_1:g_1"),
            "u_1".into(),
            Secret::new("live_user_key_0002"),
            false,
            None,
            hook.clone(),
        );
        assert_eq!(id.account(), &Account::Tenant("u_1".into()));
        assert_eq!(
            id.scale_key().map(Secret::expose),
            Some("live_user_key_0002")
        );
        assert!(!id.allows_billed_work());
        assert_eq!(id.webhook_url(), hook);
        assert_eq!(id.default_callback_url(), Some(hook.as_str()));
        let shown = format!("{id:?}");
        assert!(
            shown.contains("u_1") && !shown.contains("live_user_key"),
            "{shown}"
        );
    }
}
