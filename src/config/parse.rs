//! How each kind of setting is read: booleans, lists of names, numbers in a
//! range, comma-separated secrets (as [`Secret`], which never prints its
//! value) and the hosts of URLs. Each reader reports a malformed value as a
//! [`ConfigError`] that names the setting and says what it must be, never
//! quoting the value.

use super::raw::RawSettings;
use crate::http::{hostname_of, loopback_host, origin_of};
use std::fmt;

/// Tokens shorter than this are refused: the endpoint is on the open internet.
pub(crate) const MIN_TOKEN_LEN: usize = 16;

/// A secret string that cannot be printed by accident.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(String);

impl Secret {
    /// A secret: a setting's value, or a signed-in user's own Scale key.
    pub(crate) fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// A malformed setting: its name, and what its value must be (never the value).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ConfigError {
    pub name: &'static str,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.message)
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    pub(crate) fn new(name: &'static str, message: impl Into<String>) -> Self {
        ConfigError {
            name,
            message: message.into(),
        }
    }
}

/// Shorthand for [`ConfigError::new`].
pub(super) fn err(name: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::new(name, message)
}

/// A boolean var: `true`/`false` (also `1`/`0`, `yes`/`no`); unset is false.
pub(super) fn parse_bool(
    raw: &RawSettings,
    name: &'static str,
    errors: &mut Vec<ConfigError>,
) -> bool {
    match raw
        .get(name)
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("" | "false" | "0" | "no") => false,
        Some("true" | "1" | "yes") => true,
        Some(_) => {
            errors.push(err(name, "must be true or false"));
            false
        }
    }
}

/// A list var: comma-separated, or a JSON array of strings when it starts
/// with `[` (for names that contain commas). Unset or blank is `None`; each
/// entry is trimmed and must pass `check`, which says what an entry must be.
pub(super) fn name_list(
    raw: &RawSettings,
    name: &'static str,
    check: (fn(&str) -> bool, &str),
    errors: &mut Vec<ConfigError>,
) -> Option<Vec<String>> {
    let v = raw.get(name).map(str::trim).filter(|v| !v.is_empty())?;
    let mut items: Vec<String> = Vec::new();
    let mut ok = true;
    if v.starts_with('[') {
        match crate::json::parse_strict(v.as_bytes()) {
            Ok(serde_json::Value::Array(a)) => {
                for i in &a {
                    match i.as_str() {
                        Some(s) => items.push(s.trim().to_string()),
                        None => ok = false,
                    }
                }
            }
            _ => ok = false,
        }
    } else {
        for p in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            items.push(p.to_string());
        }
    }
    if !ok || items.is_empty() || !items.iter().all(|i| !i.is_empty() && (check.0)(i)) {
        errors.push(err(name, format!("must list {}", check.1)));
        return None;
    }
    Some(items)
}

/// Host names and e-mail domains: lower-case letters, digits, `-` and `.`.
pub(crate) fn host_name(s: &str) -> bool {
    s.len() <= 253
        && s.contains('.')
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.')
}
pub(super) const HOSTS: (fn(&str) -> bool, &str) = (
    host_name,
    "lower-case host names such as hooks.example.com, comma-separated (no scheme, port or path)",
);
pub(super) const DOMAINS: (fn(&str) -> bool, &str) = (
    host_name,
    "lower-case e-mail domains such as example.com, comma-separated",
);
fn tool_name(s: &str) -> bool {
    s.bytes().all(|c| c.is_ascii_lowercase() || c == b'_')
}
fn project_name(s: &str) -> bool {
    s.len() <= 1024
}
pub(super) const TOOL_NAMES: (fn(&str) -> bool, &str) =
    (tool_name, "tool names such as get_task, comma-separated");
pub(super) const PROJECT_NAMES: (fn(&str) -> bool, &str) = (
    project_name,
    "Scale project names, comma-separated (or a JSON array of names)",
);

/// A comma-separated list of secrets, each at least [`MIN_TOKEN_LEN`]
/// printable ASCII characters; errors name the setting, never a value.
pub(crate) fn secret_list(
    raw: &RawSettings,
    name: &'static str,
    errors: &mut Vec<ConfigError>,
) -> Vec<Secret> {
    let Some(v) = raw.get(name) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if part.len() < MIN_TOKEN_LEN {
            errors.push(err(
                name,
                format!(
                    "each comma-separated value must be at least {MIN_TOKEN_LEN} characters long"
                ),
            ));
        } else if part
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || !c.is_ascii())
        {
            errors.push(err(name, "values must be printable ASCII without spaces"));
        } else {
            out.push(Secret(part.to_string()));
        }
    }
    out
}

pub(super) fn parse_num<T: std::str::FromStr + PartialOrd + fmt::Display + Copy>(
    raw: &RawSettings,
    name: &'static str,
    default: T,
    min: T,
    max: T,
    errors: &mut Vec<ConfigError>,
) -> T {
    match raw.get(name).map(str::trim).filter(|v| !v.is_empty()) {
        None => default,
        Some(v) => match v.parse::<T>() {
            Ok(n) if n >= min && n <= max => n,
            _ => {
                errors.push(err(
                    name,
                    format!("must be a whole number from {min} to {max}"),
                ));
                default
            }
        },
    }
}

/// The host of an http(s) URL, without port.
pub(super) fn host_of(url: &str) -> String {
    origin_of(url)
        .map(|o| hostname_of(&o).to_string())
        .unwrap_or_default()
}

/// Whether plain http may carry the Scale key to this URL: only when it
/// never leaves the machine (the simulator, a local proxy).
pub(super) fn is_loopback(url: &str) -> bool {
    loopback_host(&host_of(url))
}
