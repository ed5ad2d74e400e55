//! What each route is checked against, and the answer when a setting is
//! malformed. `/mcp` and the OAuth routes run with [`Config::for_mcp`] and
//! the tokens ([`load`]), `/health` reports every mistake, and which setting
//! is wrong is told only to a caller holding a static token
//! ([`misconfigured`]): it tells an attacker what to aim at.

use crate::auth::{bearer, Keyring};
use crate::config::{Config, ConfigError, RawSettings};
use crate::http::{error_json, Request, Response};

/// What `/mcp` runs with: the configuration of its settings and the tokens.
pub(super) fn load(raw: &RawSettings) -> Result<(Config, Keyring), Vec<ConfigError>> {
    let cfg = Config::for_mcp(raw);
    let keys = Keyring::from_raw(raw);
    let errors = match &cfg {
        Ok(c) => mcp_errors(c, &keys),
        Err(e) => e
            .iter()
            .chain(keys.as_ref().err().into_iter().flatten())
            .cloned()
            .collect(),
    };
    match (cfg, keys) {
        (Ok(c), Ok(k)) if errors.is_empty() => Ok((c, k)),
        _ => Err(errors),
    }
}

/// The mistakes `/mcp` finds beyond [`Config`]'s own: in the tokens, and
/// names in `TOOLS` and `EXCLUDE_TOOLS` that are not tools of this server (a
/// misspelt exclusion would otherwise leave a tool offered).
pub(super) fn mcp_errors(
    cfg: &Config,
    keys: &Result<Keyring, Vec<ConfigError>>,
) -> Vec<ConfigError> {
    let mut errors: Vec<ConfigError> = keys.as_ref().err().into_iter().flatten().cloned().collect();
    for (name, list) in [
        ("TOOLS", cfg.tools.as_deref().unwrap_or(&[])),
        ("EXCLUDE_TOOLS", &cfg.exclude_tools[..]),
    ] {
        if let Some(bad) = list.iter().find(|t| crate::tools::find(t).is_none()) {
            errors.push(ConfigError::new(
                name,
                format!(
                    "names `{}`, which is not a tool of this server",
                    crate::json::truncate(bad, 64)
                ),
            ));
        }
    }
    errors
}

/// Whether the request carries one of the static tokens of `MCP_AUTH_TOKEN`
/// (nobody does when that setting is itself malformed).
pub(super) fn holds_static_token(req: &Request, keys: &Result<Keyring, Vec<ConfigError>>) -> bool {
    bearer(req.header("authorization"))
        .is_some_and(|t| keys.as_ref().is_ok_and(|k| k.identify(t).is_some()))
}

/// A malformed setting: 500. Which setting and what is wrong with it (never
/// its value) is told only to a caller holding a static token, as it tells
/// an attacker what to aim at; everyone else is pointed at the log, which
/// always has it.
pub(super) fn misconfigured(req: &Request, raw: &RawSettings, errs: &[ConfigError]) -> Response {
    let msg: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    let msg = msg.join("; ");
    let shown = if holds_static_token(req, &Keyring::from_raw(raw)) {
        format!("The worker's configuration is invalid: {msg}")
    } else {
        "The server is misconfigured; its operator can see why in the log.".into()
    };
    error_json(500, "misconfigured", &shown).log(format!("configuration invalid: {msg}"))
}
