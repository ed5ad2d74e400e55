//! `/health`: `ok` or `misconfigured` for everyone; for a caller holding a
//! static token, also the version, which settings and bindings are present
//! (never their values) and what is wrong with any of them.

use super::settings::{holds_static_token, mcp_errors};
use crate::auth::Keyring;
use crate::config::{Config, RawSettings, SETTINGS};
use crate::http::{Request, Response};
use serde::Serialize;
use serde_json::{Map, Value};

#[derive(Serialize)]
struct Health {
    status: &'static str,
    /// The rest only for a caller with a valid bearer token: which settings
    /// are set (never their values) tells an attacker what to aim at.
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    settings: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<String>,
}

pub(super) fn health(req: &Request, raw: &RawSettings) -> Response {
    let (cfg, mut errs) = Config::read(raw);
    let keys = Keyring::from_raw(raw);
    errs.extend(mcp_errors(&cfg, &keys));
    let status = if errs.is_empty() {
        "ok"
    } else {
        "misconfigured"
    };
    let body = if holds_static_token(req, &keys) {
        let mut settings = Map::new();
        for name in SETTINGS {
            settings.insert(name.to_string(), Value::Bool(raw.present(name)));
        }
        settings.insert("CALLBACKS".into(), Value::Bool(raw.kv_bound));
        settings.insert("RATE_LIMITER".into(), Value::Bool(raw.rate_limiter_bound));
        Health {
            status,
            version: Some(crate::VERSION),
            settings: Some(settings),
            errors: errs.iter().map(|e| e.to_string()).collect(),
        }
    } else {
        Health {
            status,
            version: None,
            settings: None,
            errors: Vec::new(),
        }
    };
    Response::json(if errs.is_empty() { 200 } else { 500 }, &body)
        .header("cache-control", "no-store")
}
