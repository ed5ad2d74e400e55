//! Configuration: the secrets, vars and bindings of README's Configuration
//! table, read once per request into one typed [`Config`]. A missing or
//! malformed value becomes a [`ConfigError`] that names the setting and never
//! quotes a secret.
//!
//! Here: the limits and defaults, [`Config`] and how it is read, and which
//! settings each route is checked against ([`Config::for_webhooks`],
//! [`Config::for_mcp`]). `raw` holds the settings as the platform gave them;
//! `parse` reads each kind of value and holds [`Secret`].

mod parse;
mod raw;
#[cfg(test)]
mod tests;

pub(crate) use parse::{host_name, secret_list, ConfigError, Secret, MIN_TOKEN_LEN};
pub use raw::RawSettings;
pub(crate) use raw::SETTINGS;

use crate::http::{is_http_url, origin_of};
use parse::{err, host_of, is_loopback, name_list, parse_bool, parse_num};
use parse::{DOMAINS, HOSTS, PROJECT_NAMES, TOOL_NAMES};

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
/// The rate limiting binding counts over 10 or 60 seconds; 60 unless told.
pub(crate) const DEFAULT_RATE_LIMIT_PERIOD: u32 = 60;
/// Each `OAUTH_SECRET` value keys MACs and encryption: at least 256 bits of hex.
pub(crate) const MIN_OAUTH_SECRET_LEN: usize = 32;

/// The settings the webhook receivers use: a mistake elsewhere (say in
/// `ALLOWED_ORIGINS`) must not make it answer 5xx, or deliveries are lost
/// once Scale's retries run out.
pub(crate) const WEBHOOK_SETTINGS: &[&str] = &[
    "SCALE_CALLBACK_AUTH_KEY",
    "WEBHOOK_MAX_BYTES",
    "CALLBACK_TTL_DAYS",
];

// `/mcp` uses every other setting.

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
    /// A digest of every setting as given ([`RawSettings::digest`]): a job
    /// keeps its MCP worker's, and the jobs worker runs it only under the
    /// same (docs/jobs.md §9).
    pub settings_digest: String,
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

    /// The configuration for the webhook receivers (`/webhooks/scale` and a
    /// tenant's), when none of [`WEBHOOK_SETTINGS`] is malformed; mistakes in
    /// the other settings are left to the routes that use them.
    pub(crate) fn for_webhooks(raw: &RawSettings) -> Result<Config, Vec<ConfigError>> {
        Self::checked(raw, |name| WEBHOOK_SETTINGS.contains(&name))
    }

    /// The configuration for `/mcp` and the OAuth routes that sign its
    /// callers in, when none of the settings outside [`WEBHOOK_SETTINGS`] is
    /// malformed; mistakes in those are left to the webhook receivers.
    pub(crate) fn for_mcp(raw: &RawSettings) -> Result<Config, Vec<ConfigError>> {
        Self::checked(raw, |name| !WEBHOOK_SETTINGS.contains(&name))
    }

    /// The configuration, unless one of the settings `used` names is malformed.
    fn checked(raw: &RawSettings, used: impl Fn(&str) -> bool) -> Result<Config, Vec<ConfigError>> {
        let (cfg, errors) = Self::read(raw);
        let errors: Vec<ConfigError> = errors.into_iter().filter(|e| used(e.name)).collect();
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
            Some(k) => Some(Secret::new(k)),
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
                oauth_secrets.push(Secret::new(part));
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
            settings_digest: raw.digest.clone(),
        };
        (cfg, errors)
    }
}
