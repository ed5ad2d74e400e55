//! The settings as the platform hands them over: every name the worker
//! reads ([`SETTINGS`]) and the string each was given, before any is
//! checked ([`RawSettings`]), plus which bindings are bound.

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

/// The raw strings as the platform gave them (absent settings are `None`).
#[derive(Clone, Default)]
pub struct RawSettings {
    pub values: Vec<(&'static str, Option<String>)>,
    /// Whether the `CALLBACKS` KV namespace is bound.
    pub kv_bound: bool,
    /// Whether the `RATE_LIMITER` rate limiting binding is bound.
    pub rate_limiter_bound: bool,
    /// [`RawSettings::compute_digest`] of these values, as the edge worked
    /// it out once per isolate (empty when nobody did: tests).
    pub digest: String,
}

impl RawSettings {
    /// Builds the raw settings by asking `lookup` for each known name.
    pub fn read(mut lookup: impl FnMut(&str) -> Option<String>, kv_bound: bool) -> Self {
        let values = SETTINGS.iter().map(|name| (*name, lookup(name))).collect();
        Self {
            values,
            kv_bound,
            rate_limiter_bound: false,
            digest: String::new(),
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
    /// 16 bytes of a SHA-256 over every setting's name and value (secrets
    /// included; an unset one differs from an empty one), as hex: equal for
    /// two workers given the same settings, and telling nothing of any value.
    pub fn compute_digest(&self) -> String {
        let mut all = Vec::new();
        for (name, value) in &self.values {
            for part in [Some(*name), value.as_deref()] {
                match part {
                    Some(p) => {
                        all.extend_from_slice(&(p.len() as u32).to_le_bytes());
                        all.extend_from_slice(p.as_bytes());
                    }
                    None => all.extend_from_slice(&u32::MAX.to_le_bytes()),
                }
            }
        }
        crate::codec::hex(&crate::codec::sha256(&all)[..16])
    }
    /// Present and not blank.
    pub fn present(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| !v.trim().is_empty())
    }
}
