//! The Scale v1 client of the core: one request builder that percent-encodes
//! every path segment, HTTP Basic auth, the retry policy, and the mapping of
//! Scale's answers (JSON, plain `OK`, errors) to values and tool errors.

use crate::config::Config;
use crate::io::{InResponse, Method, OutRequest, SendError, Upstream};
use crate::tools::ToolError;
use serde_json::{json, Value};

/// The whole time one tool call may spend on Scale, retries and waits
/// included: below the 60 s default timeout of the MCP client libraries.
pub const CALL_BUDGET_MS: u64 = 50_000;
/// Attempts after the first for idempotent requests.
pub const MAX_RETRIES: u32 = 2;
/// First backoff; doubled for each further retry.
pub const BACKOFF_MS: u32 = 500;
/// A path argument longer than this cannot be a Scale id or name.
pub const MAX_SEGMENT_LEN: usize = 1024;

/// One Scale request before encoding.
#[derive(Clone, Debug, Default)]
pub struct Call {
    pub method: Method,
    segments: Vec<String>,
    pub query: Vec<(String, String)>,
    pub body: Option<Value>,
    /// What this call's tool knows about a status, in place of the general [`hint`].
    hints: Vec<(u16, String)>,
}

impl Call {
    pub fn new(method: Method) -> Self {
        Self {
            method,
            ..Default::default()
        }
    }
    pub fn get() -> Self {
        Self::new(Method::Get)
    }
    pub fn post() -> Self {
        Self::new(Method::Post)
    }
    /// A fixed path segment.
    pub fn lit(mut self, s: &str) -> Self {
        self.segments.push(s.to_string());
        self
    }
    /// A path segment taken from argument `name`: refused when empty, a dot
    /// segment or absurdly long; otherwise encoded as exactly one segment.
    pub fn seg(mut self, name: &str, value: &str) -> Result<Self, ToolError> {
        check_segment(name, value)?;
        self.segments.push(value.to_string());
        Ok(self)
    }
    /// The hint an agent gets when Scale answers `status`, instead of the general one.
    pub fn hint(mut self, status: u16, text: impl Into<String>) -> Self {
        self.hints.push((status, text.into()));
        self
    }
    pub fn query(mut self, k: &str, v: impl Into<String>) -> Self {
        self.query.push((k.to_string(), v.into()));
        self
    }
    pub fn query_opt(self, k: &str, v: Option<impl Into<String>>) -> Self {
        match v {
            Some(v) => self.query(k, v),
            None => self,
        }
    }
    pub fn body(mut self, v: Value) -> Self {
        self.body = Some(v);
        self
    }
    /// The path as sent, e.g. `/task/abc%2Fdef/cancel`.
    pub fn path(&self) -> String {
        self.segments
            .iter()
            .map(|s| format!("/{}", encode(s)))
            .collect()
    }
    /// A short description for messages, e.g. `POST /task/abc/cancel`.
    pub fn describe(&self) -> String {
        format!("{} {}", self.method.as_str(), self.path())
    }
    pub fn url(&self, base: &str) -> String {
        let mut u = format!("{}{}", base, self.path());
        for (i, (k, v)) in self.query.iter().enumerate() {
            u.push(if i == 0 { '?' } else { '&' });
            u.push_str(&encode(k));
            u.push('=');
            u.push_str(&encode(v));
        }
        u
    }
}

pub fn check_segment(name: &str, value: &str) -> Result<(), ToolError> {
    if value.is_empty() {
        return Err(ToolError::invalid(format!("`{name}` must not be empty")));
    }
    if value == "." || value == ".." {
        // URL parsers resolve dot segments (even encoded ones), which would
        // move the request to another endpoint.
        return Err(ToolError::invalid(format!("`{name}` cannot be `{value}`")));
    }
    if value.len() > MAX_SEGMENT_LEN {
        return Err(ToolError::invalid(format!(
            "`{name}` is too long ({} bytes; at most {MAX_SEGMENT_LEN})",
            value.len()
        )));
    }
    Ok(())
}

/// Percent-encodes everything but RFC 3986 unreserved characters, as Scale's
/// Python client does (`quote(s, safe="")`), so `/`, `?`, `#`, `%` and `\`
/// can never change the request's shape.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// How a request may be repeated after a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Reads: retried on 429, 5xx and network errors.
    Idempotent,
    /// Creates and other writes: sent once.
    Never,
}

/// Why a Scale call failed.
#[derive(Clone, Debug, PartialEq)]
pub enum ScaleError {
    NoKey,
    Http {
        status: u16,
        message: String,
        retry_after: Option<u32>,
    },
    Timeout(u32),
    Network(String),
    /// A 2xx whose body is not the JSON we need.
    BadBody {
        status: u16,
        detail: String,
    },
    /// The call budget ran out before an attempt could be made.
    Budget,
}

/// A Scale client bound to one tool call (its budget starts at creation).
pub struct Scale<'a> {
    cfg: &'a Config,
    up: &'a dyn Upstream,
    started: u64,
    /// Whether some attempt may have reached Scale without an answer.
    pub(crate) uncertain: std::cell::Cell<bool>,
    attempts: std::cell::Cell<u32>,
}

impl<'a> Scale<'a> {
    pub fn new(cfg: &'a Config, up: &'a dyn Upstream) -> Self {
        Self {
            cfg,
            up,
            started: up.now_ms(),
            uncertain: std::cell::Cell::new(false),
            attempts: std::cell::Cell::new(0),
        }
    }

    fn build(&self, call: &Call) -> Result<OutRequest, ScaleError> {
        let key = self.cfg.scale_api_key.as_ref().ok_or(ScaleError::NoKey)?;
        let mut headers = vec![
            (
                "authorization".to_string(),
                format!("Basic {}", base64(format!("{}:", key.expose()).as_bytes())),
            ),
            ("accept".to_string(), "application/json".to_string()),
            (
                "user-agent".to_string(),
                format!("scale-mcp-worker/{}", crate::VERSION),
            ),
        ];
        if call.body.is_some() {
            headers.push(("content-type".to_string(), "application/json".to_string()));
        }
        Ok(OutRequest {
            method: call.method,
            url: call.url(&self.cfg.api_base),
            headers,
            body: call.body.as_ref().map(|b| b.to_string()),
        })
    }

    /// Upstream requests made so far (each counts against the subrequest limit).
    pub fn attempts(&self) -> u32 {
        self.attempts.get()
    }

    /// Sends `call` under `retry`, returning Scale's JSON (`Value::Null` for a
    /// plain-text `OK`).
    pub async fn send(&self, call: &Call, retry: Retry) -> Result<Value, ScaleError> {
        self.send_with(call, retry, |r| {
            interpret(
                r.status,
                r.header("content-type"),
                &r.body,
                r.header("retry-after"),
            )
        })
        .await
    }

    /// Like [`Scale::send`], but a 2xx answer comes back as its text, not
    /// parsed, so passthrough results are not rebuilt (`None` for a plain `OK`
    /// or empty answer). The caller checks the text is the JSON it needs.
    pub async fn send_raw(&self, call: &Call, retry: Retry) -> Result<Option<String>, ScaleError> {
        self.send_with(call, retry, interpret_raw).await
    }

    async fn send_with<T>(
        &self,
        call: &Call,
        retry: Retry,
        read: impl Fn(InResponse) -> Result<T, ScaleError>,
    ) -> Result<T, ScaleError> {
        let req = self.build(call)?;
        let mut attempt = 0u32;
        loop {
            let elapsed = self.up.now_ms().saturating_sub(self.started);
            let remaining = CALL_BUDGET_MS.saturating_sub(elapsed);
            if remaining < 50 {
                return Err(ScaleError::Budget);
            }
            let timeout = (self.cfg.timeout_ms as u64).min(remaining) as u32;
            self.attempts.set(self.attempts.get() + 1);
            let outcome = match self.up.send(&req, timeout).await {
                Ok(resp) => read(resp),
                Err(SendError::Timeout(ms)) => Err(ScaleError::Timeout(ms)),
                Err(SendError::Network(m)) => Err(ScaleError::Network(m)),
            };
            let err = match outcome {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            if matches!(err, ScaleError::Timeout(_) | ScaleError::Network(_))
                || matches!(
                    err,
                    ScaleError::Http {
                        status: 500..=599,
                        ..
                    }
                )
            {
                self.uncertain.set(true);
            }
            let retryable = match (&err, retry) {
                (_, Retry::Never) => false,
                (ScaleError::Http { status, .. }, _) => {
                    *status == 429 || *status == 408 || (500..=599).contains(status)
                }
                (ScaleError::Timeout(_) | ScaleError::Network(_), _) => true,
                _ => false,
            };
            if !retryable || attempt >= MAX_RETRIES {
                return Err(err);
            }
            let backoff = BACKOFF_MS << attempt;
            let wait = match &err {
                ScaleError::Http {
                    retry_after: Some(s),
                    ..
                } => (*s as u64 * 1000).max(backoff as u64),
                _ => backoff as u64,
            };
            let elapsed = self.up.now_ms().saturating_sub(self.started);
            // Waiting only makes sense if an attempt still fits afterwards.
            if elapsed + wait + 1000 > CALL_BUDGET_MS {
                return Err(err);
            }
            self.up.sleep(wait as u32).await;
            attempt += 1;
        }
    }

    /// `create_task` with a `unique_id`: retried like a read; a 409 after an
    /// attempt whose fate is unknown means that attempt created the task, so
    /// the task is fetched by its `unique_id` (as Scale's Python client does).
    pub async fn create_unique(&self, call: &Call, unique_id: &str) -> Result<Value, ScaleError> {
        // Retried like a read: Scale refuses a second task with the same
        // unique_id, so a repeat cannot duplicate work.
        match self.send(call, Retry::Idempotent).await {
            Err(ScaleError::Http { status: 409, .. }) if self.uncertain.get() => {
                let find = Call::get()
                    .lit("tasks")
                    .query("unique_id", unique_id)
                    .query("limit", "1");
                let found = self.send(&find, Retry::Idempotent).await?;
                found
                    .get("docs")
                    .and_then(Value::as_array)
                    .and_then(|d| d.first())
                    .cloned()
                    .ok_or_else(|| ScaleError::Http {
                        status: 409,
                        message: format!(
                            "a task with unique_id `{unique_id}` exists but could not be fetched"
                        ),
                        retry_after: None,
                    })
            }
            other => other,
        }
    }

    /// Turns a failure into the tool error an agent sees.
    pub fn tool_error(&self, call: &Call, e: ScaleError) -> ToolError {
        let key = self
            .cfg
            .scale_api_key
            .as_ref()
            .map(|k| k.expose().to_string());
        let unknown_write = matches!(
            e,
            ScaleError::Http {
                status: 500..=599,
                ..
            }
        ) && call.method != Method::Get;
        let mut err = error_for(&call.describe(), e, key.as_deref(), &call.hints);
        if unknown_write {
            // A 5xx does not say whether the write happened, and writes are not retried blindly.
            err.message.push_str(" A write may still have been applied; check (e.g. with a get or list tool) before repeating it.");
        }
        err
    }
}

/// Reads one answer for [`Scale::send_raw`]: a 2xx body that is valid JSON is
/// returned as text after a syntax check; errors are read as [`interpret`] does.
pub fn interpret_raw(resp: InResponse) -> Result<Option<String>, ScaleError> {
    if !(200..300).contains(&resp.status) {
        return interpret(
            resp.status,
            resp.header("content-type"),
            &resp.body,
            resp.header("retry-after"),
        )
        .map(|_| None);
    }
    let ct = resp.header("content-type").map(str::to_string);
    match String::from_utf8(resp.body) {
        // Plain `OK` and empty answers are read as interpret does; the rest is the
        // caller's to check, since it parses the text anyway.
        Ok(text)
            if text
                .trim_start()
                .starts_with(|c: char| "{[\"-0123456789tfn".contains(c)) =>
        {
            Ok(Some(text))
        }
        Ok(text) => interpret(resp.status, ct.as_deref(), text.as_bytes(), None).map(|_| None),
        Err(e) => interpret(resp.status, ct.as_deref(), e.as_bytes(), None).map(|_| None),
    }
}

/// The error for a 2xx answer whose text is not the JSON expected (its
/// callers have already failed to read it).
pub fn not_json(text: &str) -> ScaleError {
    ScaleError::BadBody {
        status: 200,
        detail: format!(
            "Scale answered 200 with JSON of an unexpected shape: {}",
            crate::json::truncate(text.trim(), 200)
        ),
    }
}

/// Reads one HTTP answer from Scale.
pub fn interpret(
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
    retry_after: Option<&str>,
) -> Result<Value, ScaleError> {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    // Only needed for messages, so an ordinary JSON answer is not copied for it.
    let text = || String::from_utf8_lossy(body);
    if (200..300).contains(&status) {
        let text = text();
        return match parsed {
            Some(v) => Ok(v),
            None if text.trim().eq_ignore_ascii_case("ok") || text.trim().is_empty() => {
                Ok(Value::Null)
            }
            None => Err(ScaleError::BadBody {
                status,
                detail: format!(
                    "Scale answered {status} with a body that is not JSON ({}): {}",
                    content_type.unwrap_or("no content type"),
                    crate::json::truncate(text.trim(), 200)
                ),
            }),
        };
    }
    let text = text();
    let message = match &parsed {
        Some(Value::Object(o)) => o
            .get("error")
            .or_else(|| o.get("message"))
            .map(|e| {
                e.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| e.to_string())
            })
            .unwrap_or_else(|| crate::json::truncate(&text, 300)),
        _ => crate::json::truncate(text.trim(), 300),
    };
    let retry_after = retry_after.and_then(|r| r.trim().parse::<u32>().ok());
    Err(ScaleError::Http {
        status,
        message,
        retry_after,
    })
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        409 => "Conflict",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

/// What an agent should do about a Scale status.
pub fn hint(status: u16) -> &'static str {
    match status {
        400 => "Scale rejected the request's parameters; fix the arguments named in the message.",
        401 => "Scale did not accept the API key: check the worker's SCALE_API_KEY secret (live_... or test_...).",
        402 => "This task type is not enabled for the Scale account; ask Scale to enable it.",
        403 => "The API key's account may not do this.",
        404 => "Nothing with that id or name exists for this API key (live and test keys see separate data).",
        409 => "A resource with that unique_id or name already exists.",
        429 => "Scale is rate limiting this account; wait before trying again.",
        500..=599 => "Scale had a problem on its side; try again later.",
        _ => "",
    }
}

/// Builds the tool error for a failed call; `key` is scrubbed from any text.
/// A status in `hints` gets that hint instead of the general one.
pub fn error_for(
    what: &str,
    e: ScaleError,
    key: Option<&str>,
    hints: &[(u16, String)],
) -> ToolError {
    let (status, msg) = match e {
        ScaleError::NoKey => {
            return ToolError::config("SCALE_API_KEY is not set, so no Scale request was sent. Set it with `wrangler secret put SCALE_API_KEY` (or in .dev.vars locally).")
        }
        ScaleError::Http { status, message, retry_after } => {
            let r = reason(status);
            let sep = if r.is_empty() { "" } else { " " };
            let mut m = format!("Scale returned {status}{sep}{r} for {what}: {message}");
            let h = hints
                .iter()
                .find(|(s, _)| *s == status)
                .map_or(hint(status), |(_, h)| h.as_str());
            if !h.is_empty() {
                m.push_str("\nHint: ");
                m.push_str(h);
            }
            if let Some(s) = retry_after {
                m.push_str(&format!(" Scale asked to retry after {s} s."));
            }
            (Some(status), m)
        }
        ScaleError::Timeout(ms) => (None, format!("Scale did not answer {what} within {ms} ms, so the call was aborted (the timeout is the SCALE_TIMEOUT_MS var). A write may still have been applied; check before repeating it.")),
        ScaleError::Network(m) => (None, format!("Could not reach Scale for {what}: {m}. A write may still have been applied; check before repeating it.")),
        ScaleError::BadBody { status, detail } => (Some(status), format!("{detail} (for {what})")),
        ScaleError::Budget => (None, format!("The time budget for this call ({} s) ran out before {what} could be sent.", CALL_BUDGET_MS / 1000)),
    };
    ToolError::scale(status, scrub(&msg, key))
}

/// Removes the API key and its Basic-auth encoding from a text.
pub fn scrub(text: &str, key: Option<&str>) -> String {
    let Some(k) = key.filter(|k| !k.is_empty()) else {
        return text.to_string();
    };
    text.replace(k, "[redacted]")
        .replace(&base64(format!("{k}:").as_bytes()), "[redacted]")
}

/// Standard or URL-safe base64, padding optional; `None` on other characters.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut buf = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            _ => return None,
        };
        buf = (buf << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    Some(out)
}

pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// The `docs` array of a Scale list answer (empty when absent).
pub fn docs(mut v: Value) -> Vec<Value> {
    match v.get_mut("docs").map(Value::take) {
        Some(Value::Array(d)) => d,
        _ => Vec::new(),
    }
}

/// Scale's JSON for a 2xx that must be an object.
pub fn object_or_ok(v: Value) -> Value {
    match v {
        Value::Object(_) => v,
        Value::Null => json!({"ok": true}),
        other => json!({"result": other}),
    }
}

/// What the native tests of the Scale client and the tools share: a key,
/// its Basic encoding, a base URL and a configuration built from them.
#[cfg(test)]
pub(crate) mod testing {
    use crate::config::{Config, RawSettings};

    pub const KEY: &str = "test_key_abc";
    pub const KEY_B64: &str = "dGVzdF9rZXlfYWJjOg==";
    pub const BASE: &str = "https://api.test/v1";

    pub fn config_with(extra: &[(&'static str, &str)]) -> Config {
        let mut pairs = vec![("SCALE_API_KEY", KEY), ("SCALE_API_BASE", BASE)];
        pairs.extend_from_slice(extra);
        Config::from_raw(&RawSettings::from_pairs(&pairs, true)).expect("test config is valid")
    }

    pub fn config() -> Config {
        config_with(&[])
    }
}

#[cfg(test)]
mod tests;
