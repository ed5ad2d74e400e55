//! Configuration: the secrets, vars and bindings of README's Configuration
//! table, read once per request into one typed [`Config`]. A missing or
//! malformed value becomes a [`ConfigError`] that names the setting and never
//! quotes a secret.

use crate::http::{hostname_of, is_http_url, origin_of};
use std::fmt;

pub(crate) const DEFAULT_API_BASE: &str = "https://api.scale.com/v1";
pub(crate) const DEFAULT_TIMEOUT_MS: u32 = 25_000;
pub(crate) const DEFAULT_WEBHOOK_MAX_BYTES: usize = 10 * 1024 * 1024;
/// Workers KV refuses values above 25 MiB.
pub(crate) const KV_MAX_VALUE_BYTES: usize = 25 * 1024 * 1024;
/// What a stored callback entry adds around the body (`{"id":…,"received_at":…,
/// "kind":…,"body":` and `}` take about 100 bytes; the rest is headroom).
pub(crate) const ENTRY_OVERHEAD_BYTES: usize = 1024;
/// The largest `WEBHOOK_MAX_BYTES`: a body at the limit must still fit in a KV value.
pub(crate) const MAX_WEBHOOK_MAX_BYTES: usize = KV_MAX_VALUE_BYTES - ENTRY_OVERHEAD_BYTES;
/// Scale answers larger than this are not read (an isolate has 128 MB in all).
pub(crate) const DEFAULT_MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;
pub(crate) const MAX_MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;
pub(crate) const DEFAULT_CALLBACK_TTL_DAYS: u32 = 30;
/// The first poll interval a task handle suggests (later ones grow from it).
pub(crate) const DEFAULT_TASK_POLL_MS: u32 = 5_000;
/// The Workers free plan's subrequests per request (paid plans: 10,000).
pub(crate) const DEFAULT_SUBREQUEST_LIMIT: u32 = 50;
/// Tokens shorter than this are refused: the endpoint is on the open internet.
pub(crate) const MIN_TOKEN_LEN: usize = 16;
/// The rate limiting binding counts over 10 or 60 seconds; 60 unless told.
pub(crate) const DEFAULT_RATE_LIMIT_PERIOD: u32 = 60;
/// Each `OAUTH_SECRET` value keys MACs and encryption: at least 256 bits of hex.
pub(crate) const MIN_OAUTH_SECRET_LEN: usize = 32;

/// Every setting the worker reads (the first three are secrets; /health
/// reports each only as present or not).
pub(crate) const SETTINGS: &[&str] = &[
    "SCALE_API_KEY",
    "MCP_AUTH_TOKEN",
    "SCALE_CALLBACK_AUTH_KEY",
    "SCALE_API_BASE",
    "SCALE_TIMEOUT_MS",
    "SUBREQUEST_LIMIT",
    "ALLOWED_ORIGINS",
    "DEFAULT_CALLBACK_URL",
    "WEBHOOK_MAX_BYTES",
    "CALLBACK_TTL_DAYS",
    "TASK_POLL_MS",
    "SCALE_MAX_RESPONSE_BYTES",
    "READ_ONLY",
    "TOOLS",
    "EXCLUDE_TOOLS",
    "SCALE_PROJECTS",
    "CALLBACK_HOSTS",
    "CALLBACK_EMAILS",
    "LIVE_WRITES",
    "TEAM_INVITE_DOMAINS",
    "RATE_LIMIT_PERIOD",
    "PUBLIC_URL",
    "OAUTH_BYOK",
    "OAUTH_SECRET",
];

/// The settings `/webhooks/scale` uses: a mistake elsewhere (say in
/// `ALLOWED_ORIGINS`) must not make it answer 5xx, or deliveries are lost
/// once Scale's retries run out.
pub(crate) const WEBHOOK_SETTINGS: &[&str] = &[
    "SCALE_CALLBACK_AUTH_KEY",
    "WEBHOOK_MAX_BYTES",
    "CALLBACK_TTL_DAYS",
];

// `/mcp` uses every other setting.

/// The raw strings as the platform gave them (absent settings are `None`).
#[derive(Clone, Default)]
pub struct RawSettings {
    pub values: Vec<(&'static str, Option<String>)>,
    /// Whether the `CALLBACKS` KV namespace is bound.
    pub kv_bound: bool,
    /// Whether the `RATE_LIMITER` rate limiting binding is bound.
    pub rate_limiter_bound: bool,
}

impl RawSettings {
    /// Builds the raw settings by asking `lookup` for each known name.
    pub fn read(mut lookup: impl FnMut(&str) -> Option<String>, kv_bound: bool) -> Self {
        let values = SETTINGS.iter().map(|name| (*name, lookup(name))).collect();
        Self {
            values,
            kv_bound,
            rate_limiter_bound: false,
        }
    }
    /// Settings from name/value pairs; later pairs override earlier ones and
    /// an empty value means unset (for tests and tools that build settings).
    pub fn from_pairs(pairs: &[(&str, &str)], kv_bound: bool) -> Self {
        Self::read(
            |n| {
                pairs
                    .iter()
                    .rev()
                    .find(|(k, _)| *k == n)
                    .map(|(_, v)| v.to_string())
                    .filter(|v| !v.is_empty())
            },
            kv_bound,
        )
    }
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| v.as_deref())
    }
    /// Present and not blank.
    pub fn present(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| !v.trim().is_empty())
    }
}

/// A secret string that cannot be printed by accident.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(String);

impl Secret {
    /// A secret from elsewhere than the settings: a signed-in user's own Scale key.
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

/// The configuration every route reads. The MCP tokens are not here: who may
/// call, and with which scopes, is the `auth` layer's (`auth::Keyring`).
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub scale_api_key: Option<Secret>,
    pub callback_keys: Vec<Secret>,
    /// Without a trailing slash.
    pub api_base: String,
    /// The host of `api_base`, for messages.
    pub api_host: String,
    pub timeout_ms: u32,
    /// Upstream requests one HTTP request may make (the Workers plan's limit).
    pub subrequest_limit: u32,
    /// Lower-case `scheme://host[:port]` entries.
    pub allowed_origins: Vec<String>,
    pub default_callback_url: Option<String>,
    pub webhook_max_bytes: usize,
    pub callback_ttl_days: u32,
    /// `TASK_POLL_MS`: the poll interval MCP task handles suggest at first.
    pub task_poll_ms: u32,
    /// Scale answers above this are refused unread.
    pub max_response_bytes: usize,
    /// Narrowing for every connection (docs/permissions.md §3): `READ_ONLY`,
    /// the `TOOLS` allow-list, `EXCLUDE_TOOLS` and the `SCALE_PROJECTS`
    /// allow-list.
    pub read_only: bool,
    pub tools: Option<Vec<String>>,
    pub exclude_tools: Vec<String>,
    pub scale_projects: Option<Vec<String>>,
    /// Guards on writes (docs/permissions.md §4): callback hosts (lower-case
    /// host names), e-mail callbacks, billed work on a live key, invite
    /// domains.
    pub callback_hosts: Vec<String>,
    pub callback_emails: bool,
    pub live_writes: bool,
    pub team_invite_domains: Option<Vec<String>>,
    /// The `RATE_LIMITER` binding's period in seconds (10 or 60): the binding
    /// cannot tell it, and refusals say within how long to retry.
    pub rate_limit_period: u32,
    /// `PUBLIC_URL`: the worker's public origin, the OAuth issuer when set.
    pub public_url: Option<String>,
    /// `OAUTH_BYOK`: the sign-in page offers "bring your own Scale key".
    pub oauth_byok: bool,
    /// `OAUTH_SECRET`: the OAuth server's keys, newest first (empty: the
    /// key the OAuth store generates and keeps).
    pub oauth_secrets: Vec<Secret>,
}

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

fn err(name: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::new(name, message)
}

/// A boolean var: `true`/`false` (also `1`/`0`, `yes`/`no`); unset is false.
fn parse_bool(raw: &RawSettings, name: &'static str, errors: &mut Vec<ConfigError>) -> bool {
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
fn name_list(
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
const HOSTS: (fn(&str) -> bool, &str) = (
    host_name,
    "lower-case host names such as hooks.example.com, comma-separated (no scheme, port or path)",
);
const DOMAINS: (fn(&str) -> bool, &str) = (
    host_name,
    "lower-case e-mail domains such as example.com, comma-separated",
);
fn tool_name(s: &str) -> bool {
    s.bytes().all(|c| c.is_ascii_lowercase() || c == b'_')
}
fn project_name(s: &str) -> bool {
    s.len() <= 1024
}
const TOOL_NAMES: (fn(&str) -> bool, &str) =
    (tool_name, "tool names such as get_task, comma-separated");
const PROJECT_NAMES: (fn(&str) -> bool, &str) = (
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

fn parse_num<T: std::str::FromStr + PartialOrd + fmt::Display + Copy>(
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
fn host_of(url: &str) -> String {
    origin_of(url)
        .map(|o| hostname_of(&o).to_string())
        .unwrap_or_default()
}

/// Whether plain http may carry the Scale key to this URL: only when it
/// never leaves the machine (the simulator, a local proxy).
fn is_loopback(url: &str) -> bool {
    let host = host_of(url);
    let host = host.as_str();
    host == "localhost"
        || host == "[::1]"
        || host.strip_prefix("127.").is_some_and(|r| {
            r.split('.').count() == 3 && r.split('.').all(|p| p.parse::<u8>().is_ok())
        })
}

impl Config {
    /// Every setting checked: an error in any of them.
    #[cfg(test)]
    pub(crate) fn from_raw(raw: &RawSettings) -> Result<Config, Vec<ConfigError>> {
        match Self::read(raw) {
            (cfg, errors) if errors.is_empty() => Ok(cfg),
            (_, errors) => Err(errors),
        }
    }

    /// The configuration for `/webhooks/scale` (`webhook`) or `/mcp`, when
    /// none of the settings that route uses is malformed; mistakes in the
    /// others are left to the route that uses them.
    pub(crate) fn checked(raw: &RawSettings, webhook: bool) -> Result<Config, Vec<ConfigError>> {
        let (cfg, errors) = Self::read(raw);
        let errors: Vec<ConfigError> = errors
            .into_iter()
            .filter(|e| WEBHOOK_SETTINGS.contains(&e.name) == webhook)
            .collect();
        if errors.is_empty() {
            Ok(cfg)
        } else {
            Err(errors)
        }
    }

    /// Reads every setting; a malformed one keeps its default and is reported.
    pub(crate) fn read(raw: &RawSettings) -> (Config, Vec<ConfigError>) {
        let mut errors = Vec::new();
        let scale_api_key = match raw.get("SCALE_API_KEY").map(str::trim) {
            None | Some("") => None,
            Some(k)
                if k.chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == ':' || !c.is_ascii()) =>
            {
                errors.push(err("SCALE_API_KEY", "must be a Scale API key (live_... or test_...) without spaces, colons or control characters"));
                None
            }
            Some(k) => Some(Secret(k.to_string())),
        };
        let callback_keys = secret_list(raw, "SCALE_CALLBACK_AUTH_KEY", &mut errors);
        let api_base = match raw
            .get("SCALE_API_BASE")
            .map(str::trim)
            .filter(|v| !v.is_empty())
        {
            None => DEFAULT_API_BASE.to_string(),
            Some(v)
                if is_http_url(v)
                    && !v.contains(['?', '#'])
                    && (v.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("https:"))
                        || is_loopback(v)) =>
            {
                v.trim_end_matches('/').to_string()
            }
            Some(_) => {
                // Plain http would send the Scale key in clear text.
                errors.push(err("SCALE_API_BASE", "must be an https URL without query or fragment, e.g. https://api.scale.com/v1 (plain http only to localhost or 127.0.0.1)"));
                DEFAULT_API_BASE.to_string()
            }
        };
        let timeout_ms = parse_num(
            raw,
            "SCALE_TIMEOUT_MS",
            DEFAULT_TIMEOUT_MS,
            100,
            120_000,
            &mut errors,
        );
        let subrequest_limit = parse_num(
            raw,
            "SUBREQUEST_LIMIT",
            DEFAULT_SUBREQUEST_LIMIT,
            2,
            100_000,
            &mut errors,
        );
        // Read as u32 like the others (one parser), used as sizes.
        let webhook_max_bytes = parse_num(
            raw,
            "WEBHOOK_MAX_BYTES",
            DEFAULT_WEBHOOK_MAX_BYTES as u32,
            1024,
            MAX_WEBHOOK_MAX_BYTES as u32,
            &mut errors,
        ) as usize;
        let max_response_bytes = parse_num(
            raw,
            "SCALE_MAX_RESPONSE_BYTES",
            DEFAULT_MAX_RESPONSE_BYTES as u32,
            64 * 1024,
            MAX_MAX_RESPONSE_BYTES as u32,
            &mut errors,
        ) as usize;
        let callback_ttl_days = parse_num(
            raw,
            "CALLBACK_TTL_DAYS",
            DEFAULT_CALLBACK_TTL_DAYS,
            1,
            365,
            &mut errors,
        );
        let task_poll_ms = parse_num(
            raw,
            "TASK_POLL_MS",
            DEFAULT_TASK_POLL_MS,
            100,
            600_000,
            &mut errors,
        );
        let mut allowed_origins = Vec::new();
        for part in raw
            .get("ALLOWED_ORIGINS")
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            match origin_of(part) {
                Some(o) if o.len() == part.trim_end_matches('/').len() => allowed_origins.push(o),
                _ => errors.push(err("ALLOWED_ORIGINS", "must be comma-separated origins like https://app.example.com (scheme and host, no path)")),
            }
        }
        let default_callback_url = match raw
            .get("DEFAULT_CALLBACK_URL")
            .map(str::trim)
            .filter(|v| !v.is_empty())
        {
            None => None,
            Some(v) if is_http_url(v) => Some(v.to_string()),
            Some(_) => {
                errors.push(err(
                    "DEFAULT_CALLBACK_URL",
                    "must be an http(s) URL, e.g. https://<worker>/webhooks/scale",
                ));
                None
            }
        };
        let read_only = parse_bool(raw, "READ_ONLY", &mut errors);
        let tools = name_list(raw, "TOOLS", TOOL_NAMES, &mut errors);
        let exclude_tools =
            name_list(raw, "EXCLUDE_TOOLS", TOOL_NAMES, &mut errors).unwrap_or_default();
        let scale_projects = name_list(raw, "SCALE_PROJECTS", PROJECT_NAMES, &mut errors);
        let callback_hosts =
            name_list(raw, "CALLBACK_HOSTS", HOSTS, &mut errors).unwrap_or_default();
        let callback_emails = parse_bool(raw, "CALLBACK_EMAILS", &mut errors);
        let live_writes = parse_bool(raw, "LIVE_WRITES", &mut errors);
        let team_invite_domains = name_list(raw, "TEAM_INVITE_DOMAINS", DOMAINS, &mut errors);
        let rate_limit_period = parse_num(
            raw,
            "RATE_LIMIT_PERIOD",
            DEFAULT_RATE_LIMIT_PERIOD,
            10,
            60,
            &mut errors,
        );
        if rate_limit_period != 10 && rate_limit_period != 60 {
            errors.push(err(
                "RATE_LIMIT_PERIOD",
                "must be 10 or 60, the period of the RATE_LIMITER binding in wrangler.toml",
            ));
        }
        let public_url = match raw
            .get("PUBLIC_URL")
            .map(str::trim)
            .filter(|v| !v.is_empty())
        {
            None => None,
            Some(v) => match origin_of(v) {
                Some(o)
                    if o.len() == v.trim_end_matches('/').len()
                        && (o.starts_with("https://") || is_loopback(&o)) =>
                {
                    Some(o)
                }
                _ => {
                    errors.push(err("PUBLIC_URL", "must be the worker's public origin, like https://mcp.example.com (https, or http on a loopback host; no path)"));
                    None
                }
            },
        };
        let oauth_byok = parse_bool(raw, "OAUTH_BYOK", &mut errors);
        let mut oauth_secrets = Vec::new();
        for part in raw
            .get("OAUTH_SECRET")
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            if part.len() < MIN_OAUTH_SECRET_LEN || !part.bytes().all(|b| b.is_ascii_graphic()) {
                errors.push(err("OAUTH_SECRET", format!("each comma-separated value must be at least {MIN_OAUTH_SECRET_LEN} printable characters without spaces (e.g. `openssl rand -hex 32`)")));
            } else {
                oauth_secrets.push(Secret(part.to_string()));
            }
        }
        errors.dedup();
        let cfg = Config {
            api_host: host_of(&api_base),
            scale_api_key,
            callback_keys,
            api_base,
            timeout_ms,
            subrequest_limit,
            allowed_origins,
            default_callback_url,
            webhook_max_bytes,
            callback_ttl_days,
            task_poll_ms,
            max_response_bytes,
            read_only,
            tools,
            exclude_tools,
            scale_projects,
            callback_hosts,
            callback_emails,
            live_writes,
            team_invite_domains,
            rate_limit_period,
            public_url,
            oauth_byok,
            oauth_secrets,
        };
        (cfg, errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&'static str, &str)]) -> RawSettings {
        RawSettings::from_pairs(pairs, true)
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let c = Config::from_raw(&raw(&[])).unwrap();
        assert_eq!(c.api_base, DEFAULT_API_BASE);
        assert_eq!(c.timeout_ms, 25_000);
        assert_eq!(c.webhook_max_bytes, 10 * 1024 * 1024);
        assert_eq!(c.callback_ttl_days, 30);
        assert_eq!(c.task_poll_ms, 5_000);
        assert!(c.scale_api_key.is_none() && c.callback_keys.is_empty());
        assert!(!c.read_only && c.tools.is_none() && c.exclude_tools.is_empty());
        assert!(c.scale_projects.is_none() && c.callback_hosts.is_empty());
        assert!(!c.callback_emails && !c.live_writes && c.team_invite_domains.is_none());
        assert_eq!(c.rate_limit_period, 60);
    }

    #[test]
    fn lists_are_split_and_trimmed() {
        let c = Config::from_raw(&raw(&[
            (
                "SCALE_CALLBACK_AUTH_KEY",
                " aaaaaaaaaaaaaaaa , bbbbbbbbbbbbbbbbbb ,",
            ),
            (
                "ALLOWED_ORIGINS",
                "https://A.example.com, http://localhost:3000/",
            ),
            ("SCALE_API_BASE", "http://127.0.0.1:9/v1/"),
        ]))
        .unwrap();
        assert_eq!(c.callback_keys.len(), 2);
        assert_eq!(
            c.allowed_origins,
            vec!["https://a.example.com", "http://localhost:3000"]
        );
        assert_eq!(c.api_base, "http://127.0.0.1:9/v1");
    }

    #[test]
    fn malformed_values_name_the_setting_and_hide_the_value() {
        let errs = Config::from_raw(&raw(&[
            ("SCALE_API_BASE", "ftp://x"),
            ("SCALE_TIMEOUT_MS", "soon"),
            ("SUBREQUEST_LIMIT", "1"),
            ("SCALE_CALLBACK_AUTH_KEY", "short-secret"),
            ("WEBHOOK_MAX_BYTES", "99999999999"),
            ("CALLBACK_TTL_DAYS", "0"),
            ("TASK_POLL_MS", "50"),
            ("ALLOWED_ORIGINS", "https://x.com/path"),
            ("DEFAULT_CALLBACK_URL", "mailto:x"),
            ("SCALE_API_KEY", "live key"),
        ]))
        .unwrap_err();
        let names: Vec<_> = errs.iter().map(|e| e.name).collect();
        for n in [
            "SCALE_API_BASE",
            "SCALE_TIMEOUT_MS",
            "SUBREQUEST_LIMIT",
            "SCALE_CALLBACK_AUTH_KEY",
            "WEBHOOK_MAX_BYTES",
            "CALLBACK_TTL_DAYS",
            "TASK_POLL_MS",
            "ALLOWED_ORIGINS",
            "DEFAULT_CALLBACK_URL",
            "SCALE_API_KEY",
        ] {
            assert!(names.contains(&n), "{n} missing from {names:?}");
        }
        let text: String = errs.iter().map(|e| e.to_string()).collect();
        assert!(!text.contains("short-secret") && !text.contains("live key"));
    }

    #[test]
    fn scale_api_base_is_https_except_to_loopback() {
        for ok in [
            "https://api.scale.com/v1",
            "HTTPS://proxy.example/v1",
            "http://127.0.0.1:9/v1",
            "http://127.8.0.1/v1",
            "http://localhost:8080/v1",
            "http://[::1]:9/v1",
        ] {
            let c = Config::from_raw(&raw(&[("SCALE_API_BASE", ok)]));
            assert!(c.is_ok(), "{ok}");
        }
        for bad in [
            "http://api.scale.com/v1",
            "http://10.0.0.1/v1",
            "http://127.0.0.1.evil.example/v1",
            "http://localhost.evil.example/v1",
            "http://128.0.0.1/v1",
        ] {
            let errs = Config::from_raw(&raw(&[("SCALE_API_BASE", bad)])).unwrap_err();
            assert_eq!(errs[0].name, "SCALE_API_BASE", "{bad}");
            assert!(errs[0].message.contains("https"), "{bad}");
        }
        let c = Config::from_raw(&raw(&[(
            "SCALE_API_BASE",
            "https://Api.Scale.example:8443/v1",
        )]))
        .unwrap();
        assert_eq!(c.api_host, "api.scale.example");
    }

    #[test]
    fn narrowing_and_guard_settings() {
        let c = Config::from_raw(&raw(&[
            ("READ_ONLY", "TRUE"),
            ("TOOLS", "get_task, list_tasks,"),
            ("EXCLUDE_TOOLS", "list_tasks"),
            ("SCALE_PROJECTS", r#"["a,b", " c "]"#),
            ("CALLBACK_HOSTS", "hooks.example.com,b.example.org"),
            ("CALLBACK_EMAILS", "1"),
            ("LIVE_WRITES", "yes"),
            ("TEAM_INVITE_DOMAINS", "example.com"),
            ("RATE_LIMIT_PERIOD", "10"),
        ]))
        .unwrap();
        assert!(c.read_only && c.callback_emails && c.live_writes);
        assert_eq!(
            c.tools.as_deref(),
            Some(&["get_task".to_string(), "list_tasks".into()][..])
        );
        assert_eq!(c.exclude_tools, vec!["list_tasks"]);
        assert_eq!(c.scale_projects, Some(vec!["a,b".to_string(), "c".into()]));
        assert_eq!(c.callback_hosts, vec!["hooks.example.com", "b.example.org"]);
        assert_eq!(c.team_invite_domains, Some(vec!["example.com".to_string()]));
        assert_eq!(c.rate_limit_period, 10);
        let c = Config::from_raw(&raw(&[("SCALE_PROJECTS", "p1, p2")])).unwrap();
        assert_eq!(c.scale_projects, Some(vec!["p1".to_string(), "p2".into()]));

        let errs = Config::from_raw(&raw(&[
            ("READ_ONLY", "sometimes"),
            ("TOOLS", " , "),
            ("EXCLUDE_TOOLS", "Get-Task"),
            ("SCALE_PROJECTS", "[1]"),
            ("CALLBACK_HOSTS", "https://hooks.example.com/x"),
            ("CALLBACK_EMAILS", "2"),
            ("LIVE_WRITES", "on"),
            ("TEAM_INVITE_DOMAINS", "@example.com"),
            ("RATE_LIMIT_PERIOD", "30"),
        ]))
        .unwrap_err();
        let names: Vec<_> = errs.iter().map(|e| e.name).collect();
        assert_eq!(
            names,
            [
                "READ_ONLY",
                "TOOLS",
                "EXCLUDE_TOOLS",
                "SCALE_PROJECTS",
                "CALLBACK_HOSTS",
                "CALLBACK_EMAILS",
                "LIVE_WRITES",
                "TEAM_INVITE_DOMAINS",
                "RATE_LIMIT_PERIOD"
            ]
        );
        for e in &errs {
            for quoted in ["https://hooks", "@example", "sometimes", "Get-Task", "30"] {
                assert!(!e.message.contains(quoted), "{e}");
            }
        }
    }

    #[test]
    fn oauth_settings() {
        let c = Config::from_raw(&raw(&[
            ("PUBLIC_URL", "https://MCP.example.com/"),
            ("OAUTH_BYOK", "True"),
            (
                "OAUTH_SECRET",
                &format!("{}, {}", "a".repeat(32), "b".repeat(40)),
            ),
        ]))
        .unwrap();
        assert_eq!(c.public_url.as_deref(), Some("https://mcp.example.com"));
        assert!(c.oauth_byok);
        assert_eq!(c.oauth_secrets.len(), 2);
        let c = Config::from_raw(&raw(&[("PUBLIC_URL", "http://127.0.0.1:8787")])).unwrap();
        assert_eq!(c.public_url.as_deref(), Some("http://127.0.0.1:8787"));
        for (name, bad) in [
            ("PUBLIC_URL", "http://mcp.example.com"),
            ("PUBLIC_URL", "https://mcp.example.com/mcp"),
            ("OAUTH_BYOK", "maybe"),
            ("OAUTH_SECRET", "too-short-secret-value"),
        ] {
            let errs = Config::from_raw(&raw(&[(name, bad)])).unwrap_err();
            assert_eq!(errs[0].name, name, "{bad}");
            assert!(!errs[0].to_string().contains(bad), "{bad}");
        }
    }

    #[test]
    fn secrets_do_not_debug_print() {
        let c = Config::from_raw(&raw(&[("SCALE_API_KEY", "live_abcdef")])).unwrap();
        assert!(!format!("{c:?}").contains("live_abcdef"));
    }
}
