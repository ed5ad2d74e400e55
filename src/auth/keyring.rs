//! The static tokens of `MCP_AUTH_TOKEN` ([`Keyring`]): which principal a
//! bearer token is, and the identity it acts as.
//!
//! `MCP_AUTH_TOKEN` has two forms. Comma-separated tokens (the original
//! form, for rotation) are labelled `token-1`, `token-2`, ... in order and
//! have every scope. A value starting with `[` is a JSON array of
//! `{"label", "token", "scopes"}` objects: tokens may then contain `,` or
//! `=`, and `scopes` (optional, default all) narrows a token. Errors name
//! the setting and the entry's position, never a token, label or key text.

use super::identity::Identity;
use super::principal::{Principal, PrincipalKind, Scope, Scopes};
use crate::codec::ct_eq;
use crate::config::{secret_list, Config, ConfigError, RawSettings, Secret, MIN_TOKEN_LEN};
use crate::io::CallbackStore;
use crate::json::parse_strict;
use serde_json::Value;
use std::rc::Rc;

/// One configured static token.
#[derive(Clone, Debug)]
pub struct StaticToken {
    pub label: String,
    token: Secret,
    pub scopes: Scopes,
}

impl StaticToken {
    /// The token itself: OAuth keeps a keyed hash of it in the grants made
    /// with it, so that removing the token ends them.
    pub(crate) fn secret(&self) -> &Secret {
        &self.token
    }
}

/// The static tokens of `MCP_AUTH_TOKEN`.
#[derive(Clone, Debug, Default)]
pub struct Keyring {
    tokens: Vec<StaticToken>,
}

const SETTING: &str = "MCP_AUTH_TOKEN";
const MAX_LABEL: usize = 64;

impl Keyring {
    /// Reads `MCP_AUTH_TOKEN` (unset or blank: no tokens).
    pub(crate) fn from_raw(raw: &RawSettings) -> Result<Keyring, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let value = raw.get(SETTING).map(str::trim).unwrap_or("");
        let tokens = if value.starts_with('[') {
            json_tokens(value, &mut errors)
        } else {
            secret_list(raw, SETTING, &mut errors)
                .into_iter()
                .enumerate()
                .map(|(i, token)| StaticToken {
                    label: format!("token-{}", i + 1),
                    token,
                    scopes: Scopes::ALL,
                })
                .collect()
        };
        for (i, t) in tokens.iter().enumerate() {
            if tokens[..i]
                .iter()
                .any(|o| ct_eq(o.token.expose().as_bytes(), t.token.expose().as_bytes()))
            {
                errors.push(ConfigError::new(
                    SETTING,
                    format!("entry {} repeats the token of an earlier entry", i + 1),
                ));
            }
        }
        if errors.is_empty() {
            Ok(Keyring { tokens })
        } else {
            errors.dedup();
            Err(errors)
        }
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    pub fn tokens(&self) -> &[StaticToken] {
        &self.tokens
    }

    /// The principal whose token `candidate` is. Every token is compared in
    /// full, so the time taken does not tell which one matched.
    pub fn identify(&self, candidate: &str) -> Option<Principal> {
        let mut found = None;
        for t in &self.tokens {
            if ct_eq(candidate.as_bytes(), t.token.expose().as_bytes()) && found.is_none() {
                found = Some(t);
            }
        }
        found.map(|t| Principal {
            label: t.label.clone(),
            kind: PrincipalKind::StaticToken,
            scopes: t.scopes,
        })
    }

    /// The identity of the static token `candidate`: its principal, on the
    /// operator's account (see [`Identity::operator`]).
    pub(crate) fn identity(
        &self,
        candidate: &str,
        cfg: &Config,
        callbacks: Option<Rc<dyn CallbackStore>>,
        self_origin: &str,
    ) -> Option<Identity> {
        let principal = self.identify(candidate)?;
        Some(Identity::operator(principal, cfg, callbacks, self_origin))
    }

    /// Whether every token has every scope: then what a client is offered
    /// does not depend on which token it holds.
    pub fn uniform(&self) -> bool {
        self.tokens.iter().all(|t| t.scopes == Scopes::ALL)
    }
}

/// The JSON array form. Messages say what is wrong with which entry and
/// never quote the text, which may be (or contain) a token.
fn json_tokens(value: &str, errors: &mut Vec<ConfigError>) -> Vec<StaticToken> {
    let items = match parse_strict(value.as_bytes()) {
        Ok(Value::Array(items)) if !items.is_empty() => items,
        _ => {
            errors.push(ConfigError::new(
                SETTING,
                "starts with `[`, so it must be a non-empty JSON array of {\"label\", \"token\", \"scopes\"} objects (strict JSON, no repeated keys)",
            ));
            return Vec::new();
        }
    };
    let mut out: Vec<StaticToken> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let problem = match json_token(item) {
            Ok(t) if out.iter().any(|o| o.label == t.label) => {
                "repeats the label of an earlier entry"
            }
            Ok(t) => {
                out.push(t);
                continue;
            }
            Err(m) => m,
        };
        errors.push(ConfigError::new(
            SETTING,
            format!("entry {} {problem}", i + 1),
        ));
    }
    out
}

/// One entry of the JSON form, or what is wrong with it.
fn json_token(item: &Value) -> Result<StaticToken, &'static str> {
    let obj = item
        .as_object()
        .filter(|o| {
            o.keys()
                .all(|k| matches!(k.as_str(), "label" | "token" | "scopes"))
        })
        .ok_or("must be an object with only `label`, `token` and optionally `scopes`")?;
    let label = obj
        .get("label")
        .and_then(Value::as_str)
        .filter(|l| {
            !l.is_empty()
                && l.len() <= MAX_LABEL
                && l.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"._-".contains(&c))
        })
        .ok_or(
            "needs a `label` of 1-64 letters, digits, `.`, `_` or `-` (it names the token in logs)",
        )?;
    let token = obj
        .get("token")
        .and_then(Value::as_str)
        .filter(|t| t.len() >= MIN_TOKEN_LEN && t.bytes().all(|c| c.is_ascii_graphic()))
        .ok_or("needs a `token` of at least 16 printable ASCII characters without spaces")?;
    let scopes = match obj.get("scopes") {
        None => Scopes::ALL,
        Some(Value::Array(names)) if !names.is_empty() => {
            let mut list = Vec::new();
            for n in names {
                list.push(n.as_str().and_then(Scope::parse).ok_or(
                    "has a scope that is not scale:read, scale:write or scale:team",
                )?);
            }
            Scopes::of(&list)
        }
        Some(_) => {
            return Err("needs `scopes` as a non-empty array of scale:read, scale:write, scale:team (leave it out for all three)")
        }
    };
    Ok(StaticToken {
        label: label.to_string(),
        token: Secret::new(token),
        scopes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring(v: &str) -> Result<Keyring, Vec<ConfigError>> {
        Keyring::from_raw(&RawSettings::from_pairs(&[(SETTING, v)], false))
    }

    #[test]
    fn scopes_follow_the_hierarchy() {
        let w = Scopes::of(&[Scope::Write]);
        assert!(w.allows(Scope::Read) && w.allows(Scope::Write) && !w.allows(Scope::Team));
        let t = Scopes::of(&[Scope::Team]);
        assert!(t.allows(Scope::Read) && !t.allows(Scope::Write) && t.allows(Scope::Team));
        let r = Scopes::of(&[Scope::Read]);
        assert_eq!(r.names(), "scale:read");
        assert_eq!(w.intersect(t), r);
        assert_eq!(Scopes::of(&Scope::ALL), Scopes::ALL);
        assert!(!Scopes::NONE.allows(Scope::Read));
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.name()), Some(s));
        }
        assert_eq!(Scope::parse("scale:admin"), None);
    }

    #[test]
    fn comma_separated_tokens_are_labelled_in_order_with_every_scope() {
        let k = keyring(" aaaaaaaaaaaaaaaa , bbbbbbbbbbbbbbbbbb ,").unwrap();
        assert_eq!(k.tokens().len(), 2);
        let p = k.identify("bbbbbbbbbbbbbbbbbb").unwrap();
        assert_eq!(p.label, "token-2");
        assert_eq!(p.scopes, Scopes::ALL);
        assert_eq!(p.kind, PrincipalKind::StaticToken);
        assert!(!p.kind.steps_up());
        assert_eq!(k.identify("aaaaaaaaaaaaaaaa").unwrap().label, "token-1");
        assert!(k.identify("aaaaaaaaaaaaaaa").is_none());
        assert!(k.uniform());
        assert!(keyring("").unwrap().is_empty());
    }

    #[test]
    fn the_json_form_carries_labels_scopes_and_any_token_text() {
        let k = keyring(
            r#"[{"label": "analyst", "token": "ro-token=with,comma-0001", "scopes": ["scale:read"]},
                {"label": "ops.bot", "token": "ops-token-000000000002", "scopes": ["scale:write"]},
                {"label": "admin", "token": "admin-token-0000000003"}]"#,
        )
        .unwrap();
        let ro = k.identify("ro-token=with,comma-0001").unwrap();
        assert_eq!(
            (ro.label.as_str(), ro.scopes.names().as_str()),
            ("analyst", "scale:read")
        );
        let ops = k.identify("ops-token-000000000002").unwrap();
        assert_eq!(ops.scopes.names(), "scale:read, scale:write");
        assert_eq!(ops.rate_key(), "token:ops.bot");
        assert_eq!(
            k.identify("admin-token-0000000003").unwrap().scopes,
            Scopes::ALL
        );
        assert!(!k.uniform());
    }

    #[test]
    fn a_grant_steps_up_and_is_counted_by_its_own_label() {
        let g = Principal::grant("oauth:analyst:g_1".into(), Scopes::of(&[Scope::Read]));
        assert!(g.kind.steps_up());
        assert_eq!(g.describe(), "the sign-in `oauth:analyst:g_1`");
        assert_eq!(g.rate_key(), "grant:oauth:analyst:g_1");
        let other = Principal::grant("oauth:analyst:g_2".into(), Scopes::ALL);
        assert_ne!(g.rate_key(), other.rate_key());
        assert_ne!(g.rate_key(), Principal::full("analyst").rate_key());
    }

    #[test]
    fn malformed_values_are_named_by_entry_and_never_quoted() {
        let secret = "s3cret-token-value-0001";
        let cases = [
            (format!("[{{\"label\": \"a\", \"token\": \"{secret}\""), "JSON array"),
            ("[]".to_string(), "non-empty JSON array"),
            (format!("[\"{secret}\"]"), "entry 1 must be an object"),
            (format!("[{{\"label\": \"a\", \"tokn\": \"{secret}\"}}]"), "entry 1 must be an object with only"),
            (format!("[{{\"{secret}\": 1}}]"), "entry 1 must be an object with only"),
            (format!("[{{\"label\": \"a b\", \"token\": \"{secret}\"}}]"), "entry 1 needs a `label`"),
            ("[{\"label\": \"a\", \"token\": \"short\"}]".to_string(), "entry 1 needs a `token`"),
            (format!("[{{\"label\": \"a\", \"token\": \"{secret} x\"}}]"), "entry 1 needs a `token`"),
            (format!("[{{\"label\": \"a\", \"token\": \"{secret}\", \"scopes\": [\"{secret}\"]}}]"), "entry 1 has a scope"),
            (format!("[{{\"label\": \"a\", \"token\": \"{secret}\", \"scopes\": []}}]"), "entry 1 needs `scopes`"),
            (format!("[{{\"label\": \"a\", \"token\": \"{secret}\", \"scopes\": \"scale:read\"}}]"), "entry 1 needs `scopes`"),
            (
                format!("[{{\"label\": \"a\", \"token\": \"{secret}\"}}, {{\"label\": \"a\", \"token\": \"other-token-000000002\"}}]"),
                "entry 2 repeats the label",
            ),
            (
                format!("[{{\"label\": \"a\", \"token\": \"{secret}\"}}, {{\"label\": \"b\", \"token\": \"{secret}\"}}]"),
                "entry 2 repeats the token",
            ),
            (format!("{secret},{secret}"), "entry 2 repeats the token"),
            ("short-secret".to_string(), "at least 16 characters"),
        ];
        for (value, want) in cases {
            let errs = keyring(&value).unwrap_err();
            let text: String = errs.iter().map(|e| e.to_string()).collect();
            assert!(errs.iter().all(|e| e.name == SETTING), "{text}");
            assert!(text.contains(want), "{value}: {text}");
            assert!(
                !text.contains(secret) && !text.contains("short-secret"),
                "{text}"
            );
        }
    }
}
